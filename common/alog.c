/*
 * alog.c - buffered access-log writer (see alog.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "common/alog.h"
#include "common/log.h"
#include "common/time.h"

static bool path_disabled(const char *path)
{
    return path == NULL || path[0] == '\0' || strcmp(path, "off") == 0;
}

static int open_file(const char *path)
{
    int fd;

    do
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    while (fd == -1 && errno == EINTR);
    if (fd == -1)
        gh_log(GH_LOG_ERROR, errno, "open() of the access log \"%s\" failed", path);
    return fd;
}

/* Log a write failure, at most once a second. */
static void write_failed(struct gh_alog *a, int err, size_t want, ssize_t got)
{
    time_t now = time(NULL);

    if (now == a->last_error)
        return;
    a->last_error = now;
    if (got == -1)
        gh_log(GH_LOG_ERROR, err, "write() to the access log \"%s\" failed", a->path);
    else
        gh_log(GH_LOG_ERROR, 0, "short write() to the access log \"%s\": %zd of %zu bytes",
               a->path, got, want);
}

/* One writev(2), retried only on EINTR; failures are logged, not retried. */
static int write_all(struct gh_alog *a, const struct iovec *iov, int iovcnt)
{
    size_t want = 0;
    ssize_t n;

    for (int i = 0; i < iovcnt; i++)
        want += iov[i].iov_len;
    do
        n = writev(a->fd, iov, iovcnt);
    while (n == -1 && errno == EINTR);
    if (n == -1 || (size_t)n != want) {
        write_failed(a, errno, want, n);
        return -1;
    }
    return 0;
}

int gh_alog_flush(struct gh_alog *a)
{
    if (a->path == NULL || a->len == 0)
        return 0;
    struct iovec iov = { a->buf, a->len };
    a->len = 0;
    return write_all(a, &iov, 1);
}

static void release(struct gh_alog *a)
{
    if (a->path != NULL && a->fd != -1)
        close(a->fd);
    free(a->path);
    free(a->buf);
    memset(a, 0, sizeof(*a));
    a->fd = -1;
}

void gh_alog_close(struct gh_alog *a)
{
    gh_alog_flush(a);
    release(a);
}

int gh_alog_open(struct gh_alog *a, const char *path)
{
    struct gh_alog n = { .fd = -1 };

    if (path_disabled(path)) {
        gh_alog_close(a);
        return 0;
    }
    n.path = strdup(path);
    n.buf = malloc(GH_ALOG_BUF_SIZE);
    if (n.path == NULL || n.buf == NULL) {
        gh_log_error("out of memory opening the access log \"%s\"", path);
        goto fail;
    }
    n.cap = GH_ALOG_BUF_SIZE;
    n.fd = open_file(path);
    if (n.fd == -1)
        goto fail;
    gh_alog_close(a);
    *a = n;
    return 0;

fail:
    free(n.path);
    free(n.buf);
    return -1;
}

int gh_alog_reopen(struct gh_alog *a)
{
    if (a->path == NULL)
        return 0;
    gh_alog_flush(a);
    int fd = open_file(a->path);
    if (fd == -1)
        return -1;
    close(a->fd);
    a->fd = fd;
    return 0;
}

void gh_alog_append(struct gh_alog *a, const char *line, size_t len)
{
    bool add_nl = len == 0 || line[len - 1] != '\n';
    size_t need = len + (add_nl ? 1 : 0);

    if (a->path == NULL || len == 0)
        return;
    if (need > a->cap - a->len)
        gh_alog_flush(a);
    if (need > a->cap) {
        struct iovec iov[2] = { { (void *)line, len }, { "\n", 1 } };
        write_all(a, iov, add_nl ? 2 : 1);
        return;
    }
    memcpy(a->buf + a->len, line, len);
    a->len += len;
    if (add_nl)
        a->buf[a->len++] = '\n';
}
