/*
 * outq.h - a short queue of byte ranges to write with one writev(2): a
 * head, a chunk-size line, body bytes, a CRLF. Pieces are not copied; the
 * caller keeps them alive until written.
 */
#ifndef GH_OUTQ_H
#define GH_OUTQ_H

#include <errno.h>
#include <sys/uio.h>
#include "common/gh.h"

/* A head, a chunk-size line, a source's GH_SOURCE_SPANS (server/proxy.h)
 * and the CRLF after them, with room to spare. */
#define GH_OUTQ_MAX 20

struct gh_outq {
    struct iovec v[GH_OUTQ_MAX];
    int first, n;                       /* pending pieces are v[first .. first+n) */
    bool overflow;                      /* a push did not fit: the queue is poisoned */
};

static inline bool gh_outq_empty(const struct gh_outq *q) { return q->n == 0; }

/* Append a piece; empty ones are skipped. Returns 0, or -1 when full.
 * The pump never queues more than GH_OUTQ_MAX pieces before writing (a
 * head, a chunk line, its data, a CRLF, the last chunk), so callers need
 * not check: a push that does not fit poisons the queue, and its next
 * write fails (GH_ERROR, ENOBUFS), which closes the connection rather than
 * send a stream with a piece missing. */
static inline int gh_outq_push(struct gh_outq *q, const void *p, size_t len)
{
    if (len == 0)
        return 0;
    if (q->n == 0)
        q->first = 0;
    if (q->first + q->n >= GH_OUTQ_MAX) {
        q->overflow = true;
        return -1;
    }
    q->v[q->first + q->n] = (struct iovec){ (void *)p, len };
    q->n++;
    return 0;
}

/* Mark `done` bytes written. */
static inline void gh_outq_consume(struct gh_outq *q, size_t done)
{
    while (q->n > 0 && done > 0) {
        struct iovec *v = &q->v[q->first];
        if (done < v->iov_len) {
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
            return;
        }
        done -= v->iov_len;
        q->first++;
        q->n--;
    }
}

/* writev the queue to fd. Returns bytes written (>= 0), GH_AGAIN or
 * GH_ERROR (errno set; ENOBUFS for a poisoned queue). */
ssize_t gh_outq_write(struct gh_outq *q, int fd);

#endif
