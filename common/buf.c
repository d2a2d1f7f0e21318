/*
 * buf.c - fixed-size I/O buffers and their per-worker free list.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "common/buf.h"

void gh_buf_pool_init(struct gh_buf_pool *bp, size_t buf_size, size_t max_free)
{
    bp->buf_size = buf_size;
    bp->max_free = max_free;
    bp->nfree = 0;
    bp->nused = 0;
    bp->free = NULL;
}

void gh_buf_pool_destroy(struct gh_buf_pool *bp)
{
    while (bp->free != NULL) {
        struct gh_buf *b = bp->free;
        bp->free = b->next;
        free(b);
    }
    bp->nfree = 0;
}

struct gh_buf *gh_buf_get(struct gh_buf_pool *bp)
{
    struct gh_buf *b = bp->free;

    if (b != NULL) {
        bp->free = b->next;
        bp->nfree--;
    } else {
        if (bp->buf_size > SIZE_MAX - sizeof(*b))
            return NULL;
        b = malloc(sizeof(*b) + bp->buf_size);
        if (b == NULL)
            return NULL;
        b->start = (char *)(b + 1);
        b->end = b->start + bp->buf_size;
    }
    b->next = NULL;
    gh_buf_reset(b);
    bp->nused++;
    return b;
}

void gh_buf_put(struct gh_buf_pool *bp, struct gh_buf *b)
{
    if (b == NULL)
        return;
    GH_ASSERT(bp->nused > 0);
    GH_ASSERT(gh_buf_size(b) == bp->buf_size);
    bp->nused--;
    if (bp->nfree >= bp->max_free) {
        free(b);
        return;
    }
    b->next = bp->free;
    bp->free = b;
    bp->nfree++;
}

void gh_buf_compact(struct gh_buf *b)
{
    size_t len = gh_buf_len(b);

    if (b->pos == b->start)
        return;
    if (len > 0)
        memmove(b->start, b->pos, len);
    b->pos = b->start;
    b->last = b->start + len;
}

size_t gh_buf_append(struct gh_buf *b, const void *data, size_t len)
{
    size_t n = GH_MIN(len, gh_buf_room(b));

    if (n > 0) {
        memcpy(b->last, data, n);
        b->last += n;
    }
    return n;
}

ssize_t gh_buf_read(struct gh_buf *b, int fd)
{
    if (gh_buf_room(b) == 0) {
        errno = ENOBUFS;                /* a read of 0 bytes would look like EOF */
        return GH_ERROR;
    }
    for (;;) {
        ssize_t n = read(fd, b->last, gh_buf_room(b));
        if (n > 0) {
            b->last += n;
            return n;
        }
        if (n == 0)
            return GH_DONE;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return GH_AGAIN;
        return GH_ERROR;
    }
}

ssize_t gh_buf_write(struct gh_buf *b, int fd)
{
    if (gh_buf_empty(b))
        return 0;
    for (;;) {
        ssize_t n = write(fd, b->pos, gh_buf_len(b));
        if (n >= 0) {
            b->pos += n;
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return GH_AGAIN;
        return GH_ERROR;
    }
}
