/*
 * http2_priv.h - an HTTP/2 session and its streams, as http2.c (the
 * session, nghttp2's callbacks, the streams' life) and http2_io.c (a
 * stream's head, body source and response sink) share them. Not for other
 * files: they see struct gh_req and r->io.
 */
#ifndef GH_HTTP2_PRIV_H
#define GH_HTTP2_PRIV_H

#include <nghttp2/nghttp2.h>

#include "common/list.h"
#include "common/outq.h"
#include "server/http2.h"
#include "server/request.h"

/* Request body bytes a stream may hold: its flow-control window (65,535,
 * the default) in buffers from the worker's pool, the first one partly
 * consumed. */
#define H2_BODY_BUFS 8

/* A stream: the protocol-neutral request and what only HTTP/2 needs to
 * carry it. r is its first member; the object lives in r.pool's first
 * allocation. */
struct h2_stream {
    struct gh_req r;
    struct gh_http2_session *s;
    int32_t id;
    struct gh_link link;                /* in s->streams */
    struct gh_link ready_link;          /* in s->ready while it has work queued */
    struct gh_timer timer;              /* r.timer: the proxy's client-side timer */

    /* the head, as HEADERS brings it (http2_io.c) */
    size_t list_size;                   /* header list size so far (RFC 9113 6.5.2) */
    struct gh_str authority, host_hdr;
    char *cookie;                       /* the crumbs joined with "; " (pool) */
    size_t cookie_len, cookie_cap;
    int refuse;                         /* a status to answer once the head is in (400, 414,
                                           431), or 0 */
    bool malformed;                     /* reset with PROTOCOL_ERROR: never started */

    /* what the session has to do for it (http2.c's ready list) */
    bool need_start;                    /* the head is complete: run the pipeline */
    bool kick;                          /* body bytes came or output went: resume the proxy */
    bool own_done;                      /* an answer made here was sent: finish */
    bool in_ready;

    bool started;                       /* the pipeline ran */
    bool finished;                      /* finished or reset (logged); the proxy is gone */
    bool closed;                        /* nghttp2 closed the stream */
    bool rst_sent;                      /* we reset it */

    /* request body: DATA bytes not yet consumed (the flow-control window
     * is given back only for what the proxy sent on) */
    struct gh_buf *bq[H2_BODY_BUFS];
    int bq_first, bq_n;
    size_t span;                        /* handed out by body_next, not yet consumed */
    uint64_t body_recv;                 /* DATA bytes received */
    bool body_eof;                      /* END_STREAM received */
    bool body_over;                     /* over max_body_size */

    /* response: the spans resp_data queued, pulled by the data provider */
    struct gh_outq out;
    bool resp_submitted;                /* HEADERS submitted */
    bool resp_eof;                      /* the body ends after `out` */
    bool eof_sent;                      /* the provider returned EOF (or no body) */
    bool deferred;                      /* the provider is deferred: resume on new data */
    uint64_t pulled;                    /* body bytes the provider gave nghttp2 */
    bool in_send;                       /* inside its resp_send: no kick for what it pulls */
    bool own;                           /* the answer is made here (own_body) */
    const char *own_body;
    size_t own_len, own_off;
    char status[4];
};

static inline struct h2_stream *h2s(struct gh_req *r)
{
    return GH_CONTAINER_OF(r, struct h2_stream, r);
}

/* nghttp2's large blocks of one session, each in pages of its own
 * (http2_mem.c). */
#define H2_MEM_BIG 8
struct h2_big {
    void *p;
    size_t size, len;                   /* asked for; mapped (whole pages) */
};
struct gh_h2_mem {
    struct h2_big big[H2_MEM_BIG];
    int nbig;
    void *framebuf;                     /* nghttp2's outbound frame buffer, or NULL */
    bool in_new;                        /* inside nghttp2_session_server_new3 */
};

/* The session of one connection. */
struct gh_http2_session {
    nghttp2_session *ng;
    struct gh_h2_mem mem;               /* nghttp2's allocator for this session */
    struct gh_conn *c;
    struct gh_link streams;             /* every stream object */
    struct gh_link ready;               /* streams with work queued, in order */
    uint32_t nstreams;
    struct gh_buf *out;                 /* small frames copied, waiting for the transport */
    const uint8_t *pend;                /* a frame of nghttp2's not copied (valid until the
                                           next mem_send) */
    size_t pend_len;
    struct gh_timer kick;               /* resume reading after the budget */
    struct gh_loop_deferred run_node;   /* session_run at the end of this loop iteration */
    struct gh_loop_deferred free_node;
    bool run_queued;
    bool rd_more;                       /* the transport may hold bytes without a new edge */
    bool running;                       /* inside session_run: no re-entry */
    bool again;                         /* more to do after this round */
    bool blocked;                       /* the transport would block with output queued */
    bool failed;                        /* close the connection at the end of the run */
    bool goaway;                        /* GOAWAY submitted */
    bool error_counted;                 /* counted in GH_EDGE_H2_SESSION_ERRORS */
    bool dead;                          /* the connection closed: the object awaits its free */
};

/* ---- http2.c ---- */
/* Have session_run called soon (after the current callback or event):
 * frames were submitted, or a stream has work queued. */
void gh_h2_schedule(struct gh_http2_session *s);
/* Queue stream work for the session's next run. */
void gh_h2_ready(struct h2_stream *st);
/* The request is done with (finished or reset): the object is freed once
 * nghttp2 closed the stream too. */
void gh_h2_stream_done(struct h2_stream *st);
/* Have nghttp2 make its frames (not from inside its callbacks): the DATA
 * providers pull what the streams queued. Frames that fit the session's
 * buffer wait for its run at the end of the loop iteration; larger ones
 * are written now. 0, or -1 (the connection failed). */
int gh_h2_flush(struct gh_http2_session *s);
/* Reset the stream (RST_STREAM with `code`), once. */
void gh_h2_reset(struct h2_stream *st, uint32_t code);

/* ---- http2_mem.c ---- */
/* An allocator for nghttp2_session_server_new3 that keeps m's records. */
void gh_h2_mem_init(struct gh_h2_mem *m, nghttp2_mem *out);
/* The session is idle: give back the pages of its large blocks that hold
 * nothing (all zero), and those of the frame buffer when frames_dead (nothing
 * is being sent or waits in it). Returns the bytes given back. */
size_t gh_h2_mem_trim(struct gh_h2_mem *m, bool frames_dead);

/* ---- http2_io.c ---- */
extern const struct gh_req_io gh_http2_req_io;
/* nghttp2's on_header_callback for a request's HEADERS: fill the head. */
int gh_h2_on_header(struct h2_stream *st, const uint8_t *name, size_t namelen,
                    const uint8_t *value, size_t valuelen);
/* The head is complete (END_HEADERS): check it (RFC 9113 8.3) and fill
 * what is derived (path, query, Host, cookie, framing). 0, or -1 when it
 * is malformed (the caller resets the stream). */
int gh_h2_head_done(struct h2_stream *st, bool end_stream);
/* Run a complete head through the pipeline (after gh_h2_head_done). */
void gh_h2_start_request(struct h2_stream *st);
/* DATA for the stream: keep it for the body source. 0, or -1 when it does
 * not fit (a peer over its window: the caller resets). */
int gh_h2_body_in(struct h2_stream *st, const uint8_t *data, size_t len);
/* Give back to the connection window (and release) what the stream holds. */
void gh_h2_body_drop(struct h2_stream *st);
/* The data provider's read callback (nghttp2_data_source_read_callback). */
ssize_t gh_h2_read_data(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                        uint32_t *flags, nghttp2_data_source *src, void *user);

#endif
