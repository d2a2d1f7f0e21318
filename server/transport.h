/*
 * transport.h - what lies under every client and upstream connection: a
 * byte stream that can be read, written, half-closed and closed. The plain
 * socket is one implementation (transport.c); TLS is another. The request
 * path never touches a connection's descriptor except through here.
 *
 * Results follow common/gh.h: reads return bytes (> 0), GH_AGAIN, GH_DONE
 * (EOF) or GH_ERROR (errno set); writes return bytes (>= 0), GH_AGAIN or
 * GH_ERROR.
 */
#ifndef GH_TRANSPORT_H
#define GH_TRANSPORT_H

#include <errno.h>
#include <sys/uio.h>

#include "common/buf.h"
#include "common/gh.h"
#include "common/outq.h"

struct gh_transport;

struct gh_transport_ops {
    const char *name;
    ssize_t (*read)(struct gh_transport *t, void *buf, size_t len);
    ssize_t (*writev)(struct gh_transport *t, const struct iovec *iov, int iovcnt);
    /* As writev, for the last bytes before the stream is closed or shut
     * down: a short tail may be held to leave with the FIN, in one segment
     * (plain: MSG_MORE; close and shutdown push it). NULL: writev. */
    ssize_t (*writev_last)(struct gh_transport *t, const struct iovec *iov, int iovcnt);
    /* Half-close the sending side (TCP FIN; TLS close_notify then FIN).
     * 0 or -1. */
    int (*shutdown)(struct gh_transport *t);
    /* Bytes may be readable without a new event from the kernel: a read
     * that came back shorter than asked does not prove the stream drained
     * (TLS holds decrypted records, SSL_pending). */
    bool (*pending)(const struct gh_transport *t);
    /* Bytes accepted by writev that the peer has not acknowledged yet (of
     * what the caller wrote, not of the wire's framing), or -1 when
     * unknown. */
    int64_t (*unacked)(const struct gh_transport *t);
    /* Release everything and close the descriptor. */
    void (*close)(struct gh_transport *t);
};

struct gh_transport {
    const struct gh_transport_ops *ops;
    int fd;
    unsigned flags;                     /* the implementation's (TLS: a fatal error seen) */
    void *ctx;                          /* the implementation's state (an SSL *) */
};

extern const struct gh_transport_ops gh_transport_plain;

/* A plain socket transport over fd (already non-blocking). */
static inline void gh_transport_init_plain(struct gh_transport *t, int fd)
{
    t->ops = &gh_transport_plain;
    t->fd = fd;
    t->flags = 0;
    t->ctx = NULL;
}

static inline ssize_t gh_transport_read(struct gh_transport *t, void *buf, size_t len)
{
    return t->ops->read(t, buf, len);
}

static inline ssize_t gh_transport_writev(struct gh_transport *t, const struct iovec *iov,
                                          int iovcnt)
{
    return t->ops->writev(t, iov, iovcnt);
}

static inline int gh_transport_shutdown(struct gh_transport *t)
{
    return t->ops->shutdown(t);
}

static inline int64_t gh_transport_unacked(const struct gh_transport *t)
{
    return t->ops->unacked(t);
}

/* Close (idempotent: a transport without a descriptor is left alone). */
static inline void gh_transport_close(struct gh_transport *t)
{
    if (t->ops != NULL && t->fd != -1)
        t->ops->close(t);
    t->fd = -1;
}

/* Read into b's free room. Sets *more to whether the stream may hold more
 * bytes without a new event (the read filled the room, or the transport
 * has some pending): with edge-triggered epoll a read that drained the
 * socket needs no second read to see EAGAIN. Returns as the read op, and
 * ENOBUFS (GH_ERROR) when b is full. */
static inline ssize_t gh_transport_read_buf(struct gh_transport *t, struct gh_buf *b, bool *more)
{
    size_t room = gh_buf_room(b);
    if (room == 0) {
        *more = true;
        errno = ENOBUFS;                /* a read of 0 bytes would look like EOF */
        return GH_ERROR;
    }
    ssize_t n = t->ops->read(t, b->last, room);
    if (n > 0) {
        b->last += n;
        *more = (size_t)n == room || t->ops->pending(t);
    } else {
        *more = false;
    }
    return n;
}

/* Write what q holds with one writev and consume what was written. With
 * last, q ends what will be written before close or shutdown (the
 * writev_last op). Returns as the writev op (0 for an empty queue;
 * GH_ERROR for a poisoned one). */
static inline ssize_t gh_transport_write_outq_as(struct gh_transport *t, struct gh_outq *q,
                                                 bool last)
{
    if (GH_UNLIKELY(q->overflow)) {
        errno = ENOBUFS;                /* a piece was lost (see gh_outq_push) */
        return GH_ERROR;
    }
    if (gh_outq_empty(q))
        return 0;
    ssize_t n = last && t->ops->writev_last != NULL
                    ? t->ops->writev_last(t, &q->v[q->first], q->n)
                    : t->ops->writev(t, &q->v[q->first], q->n);
    if (n > 0)
        gh_outq_consume(q, (size_t)n);
    return n;
}

static inline ssize_t gh_transport_write_outq(struct gh_transport *t, struct gh_outq *q)
{
    return gh_transport_write_outq_as(t, q, false);
}

#endif
