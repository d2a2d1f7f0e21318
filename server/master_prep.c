/*
 * master_prep.c - the files and limits the master prepares for its children
 * (server/master_prep.h), at start and at every reload.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/nofile.h"
#include "server/listen.h"
#include "server/master_prep.h"
#include "server/process.h"
#include "server/worker.h"

_Static_assert(GH_NOFILE_SLOTS == GH_MAX_WORKERS && GH_NOFILE_SLOTS == GH_LISTEN_MAX_SLOTS,
               "a worker holds one socket per slot of every listener");

/* Create a log file the children write (when missing) and give it to the
 * user they run as, so that they can reopen it on USR1 (compare
 * ngx_reopen_files). Only when we are root and `user` is set. */
static void own_log_file(const struct gh_master_user *u, const char *path)
{
    if (!u->drop || path == NULL || path[0] == '\0' || strcmp(path, "stderr") == 0)
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        gh_log(GH_LOG_ERROR, errno, "open(\"%s\") failed", path);
        return;
    }
    struct stat st;
    /* Only regular files: not /dev/stdout or a pipe. */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if (st.st_uid != u->uid && fchown(fd, u->uid, (gid_t)-1) == -1)
            gh_log(GH_LOG_ERROR, errno, "chown(\"%s\", %d) failed", path, (int)u->uid);
        if ((st.st_mode & S_IWUSR) == 0 && fchmod(fd, st.st_mode | S_IWUSR | S_IRUSR) == -1)
            gh_log(GH_LOG_ERROR, errno, "chmod(\"%s\") failed", path);
    }
    close(fd);
}

int gh_master_prep_access_log(const struct gh_conf *conf)
{
    const char *path = conf->access_log.path;
    if (conf->access_log.format == GH_ALOG_OFF || path == NULL || path[0] == '\0'
        || strcmp(path, "off") == 0)
        return 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        gh_log(GH_LOG_ERROR, errno, "cannot open the access log \"%s\"", path);
        return -1;
    }
    close(fd);
    return 0;
}

int gh_master_prep_user(const struct gh_conf *conf, struct gh_master_user *u)
{
    u->drop = false;
    if (conf->user == NULL || conf->user[0] == '\0' || geteuid() != 0)
        return 0;
    if (gh_user_lookup(conf->user, &u->uid, &u->gid) == -1) {
        gh_log_error("unknown user \"%s\"", conf->user);
        return -1;
    }
    u->drop = true;
    own_log_file(u, conf->error_log.path);
    if (conf->access_log.format != GH_ALOG_OFF)
        own_log_file(u, conf->access_log.path);
    return 0;
}

void gh_master_prep_nofile(const struct gh_conf *conf)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
        gh_log(GH_LOG_WARN, errno, "getrlimit(RLIMIT_NOFILE) failed");
        return;
    }
    rlim_t need = (rlim_t)gh_nofile_need(conf->limits.max_connections, conf->nlistens);
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    rlim_t want = need;
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
        want = rl.rlim_max;
    if (want > rl.rlim_cur) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
            gh_log(GH_LOG_WARN, errno, "setrlimit(RLIMIT_NOFILE, %llu) failed",
                   (unsigned long long)want);
            return;
        }
        gh_log_notice("raised the open files limit (RLIMIT_NOFILE) from %llu to %llu",
                      (unsigned long long)old, (unsigned long long)want);
    }
    if (want >= need)
        return;
    /* A derived max_connections misses only under a hard limit too small for
     * even one connection (gh_nofile_max_connections gives 1): not the
     * user's doing, so not a warning. */
    gh_log(conf->limits.max_connections_auto ? GH_LOG_NOTICE : GH_LOG_WARN, 0,
           "max_connections %d needs about %llu open files per worker; the limit is %llu",
           conf->limits.max_connections, (unsigned long long)need, (unsigned long long)want);
}
