/*
 * log.c - the error log. Each line is formatted in a stack buffer and
 * written with a single write(2) on an O_APPEND descriptor, so lines from
 * several processes sharing the file never interleave. Writing is best
 * effort: a failed or short write is not retried (there is nowhere to
 * report it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/log.h"
#include "common/str.h"
#include "common/time.h"

#define LOG_LINE_MAX 2048               /* longer lines are truncated */
#define LOG_ERR_MAX 160                 /* room kept for " (errno: strerror)" */

int gh_log_level = GH_LOG_INFO;
static int log_fd = STDERR_FILENO;
static char *log_path;                  /* NULL while the log is stderr */

static const char *const level_names[] = {
    [GH_LOG_ALERT] = "alert", [GH_LOG_ERROR] = "error", [GH_LOG_WARN] = "warn",
    [GH_LOG_NOTICE] = "notice", [GH_LOG_INFO] = "info", [GH_LOG_DEBUG] = "debug",
};

int gh_log_level_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < GH_ARRAY_LEN(level_names); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *gh_log_level_name(int level)
{
    if (level < 0 || (size_t)level >= GH_ARRAY_LEN(level_names))
        return "unknown";
    return level_names[level];
}

static int open_file(const char *path)
{
    int fd;

    do
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    while (fd == -1 && errno == EINTR);
    return fd;
}

int gh_log_open(const char *path, int level)
{
    int fd = STDERR_FILENO;
    char *copy = NULL;

    if (path != NULL && strcmp(path, "stderr") != 0) {
        fd = open_file(path);
        if (fd == -1) {
            int err = errno;
            fprintf(stderr, "gatehouse: [alert] cannot open the error log \"%s\" (%d: %s)\n",
                    path, err, strerror(err));
            if (log_fd != STDERR_FILENO)    /* say it in the log still in use, too */
                gh_log_write(GH_LOG_ALERT, err, "cannot open the error log \"%s\"", path);
            return -1;
        }
        copy = strdup(path);
        if (copy == NULL) {
            close(fd);
            fprintf(stderr, "gatehouse: [alert] out of memory opening the error log\n");
            return -1;
        }
    }
    int old = log_fd;
    free(log_path);
    log_path = copy;
    log_fd = fd;
    if (old != STDERR_FILENO && old != fd)
        close(old);
    gh_log_set_level(level);
    return 0;
}

/* Does fd 2 write to the same file as fd? (A daemon dup2()ed it there.) */
static bool stderr_is(int fd)
{
    struct stat a, b;

    if (fstat(STDERR_FILENO, &a) == -1 || fstat(fd, &b) == -1)
        return false;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int gh_log_reopen(void)
{
    if (log_path == NULL)
        return 0;                       /* stderr: nothing to reopen */
    int fd = open_file(log_path);
    if (fd == -1) {
        gh_log(GH_LOG_ALERT, errno, "reopening the error log \"%s\" failed", log_path);
        return -1;
    }
    int old = log_fd;
    if (old == STDERR_FILENO || stderr_is(old)) {
        /* Keep stray stderr output going to the current file too. */
        if (dup2(fd, STDERR_FILENO) == -1)
            gh_log(GH_LOG_ALERT, errno, "dup2() of the reopened error log failed");
    }
    if (old == STDERR_FILENO) {
        close(fd);                      /* fd 2 now is the new file */
        return 0;
    }
    log_fd = fd;
    close(old);
    return 0;
}

int gh_log_fd(void)
{
    return log_fd;
}

void gh_log_set_level(int level)
{
    if (level < GH_LOG_ALERT)
        level = GH_LOG_ALERT;
    if (level > GH_LOG_DEBUG)
        level = GH_LOG_DEBUG;
    gh_log_level = level;
}

void gh_log_write(int level, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    gh_log_vwrite(level, err, fmt, ap);
    va_end(ap);
}

void gh_log_vwrite(int level, int err, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    char suffix[LOG_ERR_MAX];
    size_t slen = 0, len, room;
    int saved_errno = errno;

    /* The master has no loop refreshing the clock: keep the stamp honest. */
    if (time(NULL) != gh_now_sec)
        gh_time_update();
    if (err != 0) {
        char ebuf[128];
        const char *es = strerror_r(err, ebuf, sizeof(ebuf));
        slen = gh_snprintf(suffix, sizeof(suffix), " (%d: %s)", err, es);
    }
    /* [0, len) header and message, then the suffix and '\n' always fit. */
    room = sizeof(line) - slen - 1;
    len = gh_snprintf(line, room, "%s [%s] %d: ", gh_time_err_date(),
                      gh_log_level_name(level), (int)getpid());
    int n = vsnprintf(line + len, room - len, fmt, ap);
    if (n > 0 && (size_t)n >= room - len) {
        len = room - 1;                 /* truncated: mark it */
        if (len >= 3)
            memcpy(line + len - 3, "...", 3);
    } else if (n > 0) {
        len += (size_t)n;
    }
    memcpy(line + len, suffix, slen);
    len += slen;
    line[len++] = '\n';
    ssize_t w;
    do
        w = write(log_fd, line, len);
    while (w == -1 && errno == EINTR);
    errno = saved_errno;
}
