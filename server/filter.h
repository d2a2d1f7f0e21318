/*
 * filter.h - response filters: header filters, which edit a response head
 * (struct gh_resp_head, server/request.h) before the protocol's sink writes
 * it, and body filters, stages between the upstream's body and the client
 * that may change the bytes (compression, and in debug builds a test
 * filter).
 *
 * A response goes: the body filters' start (each may join the chain and
 * edit the head, e.g. Content-Encoding), then every header filter in list
 * order, then the sink (r->io->resp_head). A new filter is an entry in
 * gh_header_filters[] or gh_body_filters[] (filter.c).
 *
 * Body filters: A response whose chain is empty keeps the zero-copy path:
 * spans of the upstream buffer go to the client as they are; one with
 * filters has its body copied through them into buffer chains from the
 * worker's pool, whose length the head no longer promises (chunked to
 * HTTP/1.1 clients, close-delimited to HTTP/1.0 ones).
 *
 * Backpressure is the pump's: the next span of body is filtered only once
 * the previous output was written, so memory per response is bounded by
 * GH_FILTER_OUT_MAX buffers per stage. A stage whose output is full before
 * it took all of its input (a compressor flushing a block) keeps the rest
 * (at most one run's input) and says so (GH_FILTER_MORE); the pump then
 * runs the chain again without new input once the output was written,
 * until no stage has more, and only then reads on.
 */
#ifndef GH_FILTER_H
#define GH_FILTER_H

#include <sys/uio.h>

#include "common/buf.h"
#include "server/request.h"

#define GH_FILTER_OUT_MAX 2             /* output buffers per stage and span */
#define GH_FILTER_MAX 4                 /* stages per response */
#define GH_FILTER_HEAD_ADDS 3           /* fields the body filters may add to a head */
#define GH_FILTER_MORE 1                /* body(): out is full, more output is held */

/* What a run asks of the stages besides taking its input. */
enum gh_filter_flush {
    GH_FLUSH_NONE = 0,                  /* keep what helps the output (a compressor's window) */
    GH_FLUSH_SYNC,                      /* the upstream paused: put out all input so far */
    GH_FLUSH_END,                       /* the body ended: put out everything, finish */
};

/* Where a stage writes: buffers taken from the worker's pool on demand. */
struct gh_filter_out {
    struct gh_buf_pool *pool;
    struct gh_buf *bufs[GH_FILTER_OUT_MAX];
    int n;
};

/* Room for at least one byte at the end of out (a new buffer when the last
 * is full): *room bytes at the returned pointer, or NULL when out already
 * holds GH_FILTER_OUT_MAX full buffers or the pool is empty. Then
 * gh_filter_out_commit the bytes written. */
char *gh_filter_out_room(struct gh_filter_out *out, size_t *room);
static inline void gh_filter_out_commit(struct gh_filter_out *out, size_t n)
{
    out->bufs[out->n - 1]->last += n;
}

struct gh_body_filter {
    const char *name;
    /* The response head is known: does this filter join the response's
     * chain? Its state (pool memory), or NULL for no. */
    void *(*start)(struct gh_req *r, struct gh_resp_head *h);
    /* Transform in[0..len) into out, then flush as asked (GH_FLUSH_*).
     * All of the input is taken (kept when it cannot be transformed now:
     * at most one run's input, GH_FILTER_OUT_MAX buffers of the stage
     * before or one span). 0; GH_FILTER_MORE when out filled up and the
     * filter holds more (the chain then calls it with no input, in ==
     * NULL, once out was drained, and gives it no new input until it
     * returns 0); -1 on failure (the connection closes). */
    int (*body)(void *ctx, struct gh_filter_out *out, const char *in, size_t len,
                enum gh_filter_flush flush);
    /* The response is over or abandoned: release the state (NULL: none). */
    void (*end)(void *ctx);
};

struct gh_filter_chain;

/* The body filters, in chain order, NULL-terminated (filter.c). */
extern const struct gh_body_filter *const gh_body_filters[];

/* Is any body filter built in? When not, a response costs one test. */
static inline bool gh_filters_any(void)
{
    return gh_body_filters[0] != NULL;
}

/* The chain of filters that join r's response (in the order of the filter
 * list), allocated from r->pool, in *chp; NULL when none does. 0, or -1
 * when out of memory (the head may already be edited: fail the request). */
int gh_filter_chain_start(struct gh_req *r, struct gh_resp_head *h, struct gh_buf_pool *pool,
                          struct gh_filter_chain **chp);
/* Run in[0..len) (all of it is taken) through every stage, then flush as
 * asked (a stage is asked once the stage before holds nothing back).
 * The final output is left in iov[0..*niov) (at most GH_FILTER_OUT_MAX
 * pieces), *out_len bytes in all, valid until gh_filter_chain_drained. 0;
 * GH_FILTER_MORE when a stage holds more output: once this output was
 * written, run again with no input (NULL, 0, the same flush) before any
 * new input; or -1. A stage that holds more resumes first (the highest
 * such), the stages before it wait. */
int gh_filter_chain_run(struct gh_filter_chain *ch, const char *in, size_t len,
                        enum gh_filter_flush flush,
                        struct iovec *iov, int *niov, size_t *out_len);
/* The final output of the last run was written: give its buffers back. */
void gh_filter_chain_drained(struct gh_filter_chain *ch);
/* Give every buffer back and end every stage (the response is over or
 * abandoned). */
void gh_filter_chain_free(struct gh_filter_chain *ch);

/* ---- header filters ---- */

struct gh_header_filter {
    const char *name;
    /* Edit h: drop upstream fields (gh_resp_head_drop), add fields
     * (gh_resp_head_add). 0, or -1 (out of memory: the request fails). */
    int (*head)(struct gh_req *r, struct gh_resp_head *h);
};

/* The header filters, in order, NULL-terminated (filter.c). */
extern const struct gh_header_filter *const gh_header_filters[];

/* A head for the upstream's response resp, every field kept, room for
 * add_max added fields (r->pool). 0 or -1. */
int gh_resp_head_init(struct gh_req *r, struct gh_resp_head *h,
                      const struct gh_http1_response *resp, size_t add_max);
static inline void gh_resp_head_drop(struct gh_resp_head *h, size_t i)
{
    h->drop[i] = 1;
}
/* Add a field (name and value kept alive by the caller: static, the
 * configuration or r->pool). 0, or -1 when add_max are taken. */
static inline int gh_resp_head_add(struct gh_resp_head *h, struct gh_str name, struct gh_str value)
{
    if (h->nadd == h->add_max)
        return -1;
    h->add[h->nadd++] = (struct gh_http_header){ name, value };
    h->bytes += name.len + value.len + 4;
    return 0;
}
/* Run every header filter over h. 0 or -1. */
int gh_header_filters_run(struct gh_req *r, struct gh_resp_head *h);

#endif
