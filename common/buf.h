/*
 * buf.h - fixed-size I/O buffers from a per-worker free list
 * (nginx:src/core/ngx_buf.h). A connection takes a buffer only while it has
 * data and gives it back when idle, so 10,000 idle keep-alive clients hold
 * no buffers.
 *
 *   start <= pos <= last <= end;  unread data is [pos, last).
 */
#ifndef GH_BUF_H
#define GH_BUF_H

#include "common/gh.h"

struct gh_buf {
    char *start, *end;       /* the storage */
    char *pos, *last;        /* the data */
    struct gh_buf *next;     /* chain link, or free-list link */
};

struct gh_buf_pool {
    size_t buf_size;         /* bytes of storage per buffer */
    size_t max_free;         /* free buffers kept for reuse; more are freed */
    size_t nfree;
    size_t nused;            /* handed out and not yet returned */
    struct gh_buf *free;
};

/* An empty pool handing out buffers of buf_size bytes, keeping at most
 * max_free of them for reuse. Allocates nothing. */
void gh_buf_pool_init(struct gh_buf_pool *bp, size_t buf_size, size_t max_free);
/* Free every buffer on the free list (buffers still in use are the caller's). */
void gh_buf_pool_destroy(struct gh_buf_pool *bp);

/* An empty buffer (pos == last == start), or NULL when out of memory.
 * Header and storage are one allocation. */
struct gh_buf *gh_buf_get(struct gh_buf_pool *bp);
/* Give a buffer back (to the free list, or to free() when max_free are
 * already kept). NULL is ignored. */
void gh_buf_put(struct gh_buf_pool *bp, struct gh_buf *b);

static inline size_t gh_buf_len(const struct gh_buf *b) { return (size_t)(b->last - b->pos); }
static inline size_t gh_buf_room(const struct gh_buf *b) { return (size_t)(b->end - b->last); }
static inline size_t gh_buf_size(const struct gh_buf *b) { return (size_t)(b->end - b->start); }
static inline bool gh_buf_empty(const struct gh_buf *b) { return b->pos == b->last; }
static inline void gh_buf_reset(struct gh_buf *b) { b->pos = b->last = b->start; }

/* Move unread data to the start of the storage to make room at the end. */
void gh_buf_compact(struct gh_buf *b);
/* Append up to len bytes; returns how many fit. */
size_t gh_buf_append(struct gh_buf *b, const void *data, size_t len);

/* read(2)/write(2) on a buffer, retrying on EINTR. gh_buf_read fills
 * [last, end) and returns bytes read (> 0), GH_DONE on EOF, GH_AGAIN, or
 * GH_ERROR (errno set; ENOBUFS when the buffer has no room, since a read of
 * 0 bytes would look like EOF). gh_buf_write drains [pos, last) the same
 * way: bytes written (0 when the buffer is empty), GH_AGAIN or GH_ERROR.
 * Neither logs; neither moves data (use gh_buf_compact/gh_buf_reset). */
ssize_t gh_buf_read(struct gh_buf *b, int fd);
ssize_t gh_buf_write(struct gh_buf *b, int fd);

#endif
