/*
 * transport.c - the plain socket transport (see transport.h).
 */
#include <errno.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/transport.h"

static ssize_t plain_read(struct gh_transport *t, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(t->fd, buf, len);
        if (n > 0)
            return n;
        if (n == 0)
            return GH_DONE;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? GH_AGAIN : GH_ERROR;
    }
}

static ssize_t plain_writev(struct gh_transport *t, const struct iovec *iov, int iovcnt)
{
    for (;;) {
        ssize_t n = writev(t->fd, iov, iovcnt);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? GH_AGAIN : GH_ERROR;
    }
}

/* MSG_MORE: a tail shorter than a segment waits in the socket (even with
 * TCP_NODELAY) until the close or shutdown that the caller does next,
 * whose FIN then rides on it (tcp_send_fin): one segment, one wake-up of
 * the client, where a write and then a close send two. */
static ssize_t plain_writev_last(struct gh_transport *t, const struct iovec *iov, int iovcnt)
{
    struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
    for (;;) {
        ssize_t n = sendmsg(t->fd, &m, MSG_MORE | MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? GH_AGAIN : GH_ERROR;
    }
}

static int plain_shutdown(struct gh_transport *t)
{
    return shutdown(t->fd, SHUT_WR);
}

static bool plain_pending(const struct gh_transport *t)
{
    GH_UNUSED(t);
    return false;                       /* the kernel raises an edge for new bytes */
}

static int64_t plain_unacked(const struct gh_transport *t)
{
    int queued;
    if (ioctl(t->fd, SIOCOUTQ, &queued) == -1 || queued < 0)
        return -1;
    return queued;
}

static void plain_close(struct gh_transport *t)
{
    close(t->fd);
    t->fd = -1;
}

const struct gh_transport_ops gh_transport_plain = {
    .name = "plain",
    .read = plain_read,
    .writev = plain_writev,
    .writev_last = plain_writev_last,
    .shutdown = plain_shutdown,
    .pending = plain_pending,
    .unacked = plain_unacked,
    .close = plain_close,
};
