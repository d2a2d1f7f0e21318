/*
 * outq.c - writing a gh_outq.
 */
#include <errno.h>
#include "common/outq.h"

ssize_t gh_outq_write(struct gh_outq *q, int fd)
{
    if (q->overflow) {
        errno = ENOBUFS;
        return GH_ERROR;
    }
    for (;;) {
        if (q->n == 0)
            return 0;
        ssize_t w = writev(fd, &q->v[q->first], q->n);
        if (w >= 0) {
            gh_outq_consume(q, (size_t)w);
            return w;
        }
        if (errno == EINTR)
            continue;
        return errno == EAGAIN ? GH_AGAIN : GH_ERROR;
    }
}
