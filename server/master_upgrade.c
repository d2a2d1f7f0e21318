/*
 * master_upgrade.c - USR2: exec the binary again with the sockets and the
 * segment (server/master_upgrade.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "server/helper.h"
#include "server/master_upgrade.h"
#include "server/process.h"

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s != NULL) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

int gh_upgrade_init(struct gh_upgrade *u, const char *pid_file)
{
    *u = (struct gh_upgrade){ 0 };
    u->pid_path = strdup(pid_file);
    u->oldbin_path = concat(pid_file, ".oldbin");
    return u->pid_path == NULL || u->oldbin_path == NULL ? -1 : 0;
}

/* Take the pid file back from PIDFILE.oldbin. */
static void unrename(struct gh_upgrade *u)
{
    if (rename(u->oldbin_path, u->pid_path) == 0)
        u->pid_renamed = false;
    else
        gh_log(GH_LOG_ERROR, errno, "rename(\"%s\", \"%s\") failed", u->oldbin_path,
               u->pid_path);
}

/* In the child: let the sockets and the segment cross exec (nothing else
 * does: every other descriptor is close-on-exec), then exec. */
static void __attribute__((noreturn))
exec_new(const struct gh_listeners *ls, int shm_fd, const char *env, const char *binary,
         char *const *argv)
{
    gh_signals_reset_child();
    for (size_t i = 0; i < ls->n; i++)
        for (int s = 0; s < ls->v[i].nslots; s++)
            if (ls->v[i].fds[s] != -1 && fcntl(ls->v[i].fds[s], F_SETFD, 0) == -1)
                gh_log(GH_LOG_ERROR, errno, "fcntl(F_SETFD) on a listening socket failed");
    if (fcntl(shm_fd, F_SETFD, 0) == -1)
        gh_log(GH_LOG_ERROR, errno, "fcntl(F_SETFD) on the shared segment failed");
    gh_helper_exec_prepare();
    if (setenv("GATEHOUSE_INHERIT", env, 1) == -1) {
        gh_log(GH_LOG_ERROR, errno, "setenv(GATEHOUSE_INHERIT) failed");
        _exit(2);
    }
    execv(binary, argv);
    gh_log(GH_LOG_ERROR, errno, "execv(\"%s\") failed", binary);
    _exit(2);
}

void gh_upgrade_start(struct gh_upgrade *u, const struct gh_listeners *ls, int shm_fd,
                      const char *binary, char *const *argv)
{
    if (u->pid != 0) {
        gh_log_warn("a binary upgrade (pid %d) is already running", (int)u->pid);
        return;
    }
    if (u->pid_renamed) {
        gh_log_warn("this master was already upgraded; send it QUIT");
        return;
    }
    char *env = gh_listeners_inherit_env(ls, shm_fd);
    if (env == NULL) {
        gh_log_error("binary upgrade failed: out of memory");
        return;
    }
    if (rename(u->pid_path, u->oldbin_path) == -1) {
        gh_log(GH_LOG_ERROR, errno, "rename(\"%s\", \"%s\") failed", u->pid_path,
               u->oldbin_path);
        free(env);
        return;
    }
    u->pid_renamed = true;
    pid_t pid = fork();
    if (pid == -1) {
        gh_log(GH_LOG_ERROR, errno, "fork() for the binary upgrade failed");
        unrename(u);
        free(env);
        return;
    }
    if (pid == 0)
        exec_new(ls, shm_fd, env, binary, argv);
    free(env);
    u->pid = pid;
    gh_log_notice("binary upgrade: started new master %d", (int)pid);
}

void gh_upgrade_failed(struct gh_upgrade *u, int status)
{
    if (WIFSIGNALED(status))
        gh_log_error("new binary %d exited: killed by signal %d (%s); this master keeps "
                     "serving", (int)u->pid, WTERMSIG(status), gh_signal_name(WTERMSIG(status)));
    else
        gh_log(WEXITSTATUS(status) == 0 ? GH_LOG_NOTICE : GH_LOG_ERROR, 0,
               "new binary %d exited with code %d; this master keeps serving", (int)u->pid,
               WEXITSTATUS(status));
    u->pid = 0;
    if (u->pid_renamed)
        unrename(u);
}

void gh_upgrade_cleanup(struct gh_upgrade *u)
{
    if (u->pid_renamed)
        unlink(u->oldbin_path);
    else if (u->pid_path != NULL)
        unlink(u->pid_path);
    free(u->pid_path);
    free(u->oldbin_path);
    u->pid_path = u->oldbin_path = NULL;
}
