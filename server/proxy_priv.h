/*
 * proxy_priv.h - the proxy's private state, shared by proxy.c (the pump and
 * its steps, upstream choice, retries), proxy_response.c (the upstream's
 * head and body spans), proxy_rate.c (limits.min_client_rate) and
 * proxy_tunnel.c (WebSocket). Not for other files: they use server/proxy.h.
 */
#ifndef GH_PROXY_PRIV_H
#define GH_PROXY_PRIV_H

#include "common/minrate.h"
#include "common/outq.h"
#include "server/conn.h"
#include "server/http1_parse.h"

struct gh_upstream_rt;
struct gh_uconn;
struct gh_filter_chain;

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_EOF };

/* Results of one step of the pump. */
enum {
    STEP_WAIT = 0,                      /* nothing more can be done now */
    STEP_PROGRESS = 1,                  /* something moved: run again */
    STEP_DONE = 2,                      /* the whole exchange is over */
    STEP_STOP = 3,                      /* the request was answered or closed: p is gone */
};

struct gh_proxy {
    struct gh_req *r;
    struct gh_conn *c;
    struct gh_worker *w;
    struct gh_upstream_rt *up;
    struct gh_uconn *uc;
    struct gh_timer utimer;             /* upstream connect/send/read gaps */
    struct gh_timer kick;               /* resume a pump that yielded after its budget */
    uint64_t tried;                     /* servers tried (bit per index) */
    int tries_left;
    bool retryable;                     /* idempotent, and its body (if any) kept */
    bool running;                       /* inside proxy_run */
    bool ws;                            /* the client asked for a WebSocket upgrade */
    bool tunnel;                        /* after the 101: bytes both ways */
    bool t_client_eof, t_upstream_eof;  /* tunnel halves closed */
    char *hold;                         /* copy of a body up to retry_buffer, for retries */
    size_t hold_len;                    /* bytes copied so far */
    uint64_t body_total;                /* request body bytes read so far */

    /* request -> upstream */
    char *head;
    size_t head_len;
    struct gh_outq uq;
    bool req_chunked;                   /* the body's length is unknown: chunked upstream */
    bool req_span;                      /* uq holds a span of the body source */
    bool req_term_queued;
    bool req_body_read;
    bool req_sent;
    bool upload_stopped;
    char chunk_hdr[24];

    /* upstream -> client (through the request's sink, r->io) */
    struct gh_buf *rbuf;
    struct gh_http1_parser rparser;
    struct gh_http1_response resp;
    bool out_queued;                    /* the sink holds bytes not yet sent */
    bool u_rd_more;
    bool u_hup;                         /* the upstream's half-close was signalled */
    bool got_any;
    bool resp_head_done;
    bool resp_started;
    enum body_mode resp_mode;
    uint64_t resp_left;
    struct gh_chunked_decoder resp_dec;
    bool resp_body_read;
    bool resp_term_queued;
    bool upstream_reusable;
    char *resp_after;
    bool resp_span;
    struct gh_filter_chain *filters;    /* response body filters, or NULL (zero copy) */
    bool filter_out;                    /* the sink holds the chain's output */
    bool filters_flushed;               /* the chain saw the end of the body */
    bool filters_more;                  /* a stage holds more output: run again first */
    bool filters_dirty;                 /* input went in since the last flush */
    int filters_flush;                  /* enum gh_filter_flush of the last run */
    struct gh_outq tq;                  /* the tunnel's bytes to the client (HTTP/1 only) */
    char *chead;                        /* the tunnel's 101 head */
    size_t chead_len;
    gh_msec_t u_start;                  /* when this try began (latency) */
    const struct gh_resp_source *src;   /* answered from here (a cache hit), not upstream */

    /* limits.min_client_rate (update_timers in proxy.c) */
    struct gh_minrate rate;             /* time spent waiting on the client */
    gh_msec_t rate_grace;               /* grace of the current phase */
    gh_msec_t gap_due;                  /* when the gap timeout of the current wait expires */
    uint64_t acked_base;                /* bytes out of the socket then (SIOCOUTQ) */
    uint64_t acked;                     /* bytes out of the socket since then, when measured */
    bool send_blocked;                  /* a write to the client has blocked */
    uint64_t gap_out;                   /* bytes out of the socket at the last send-gap check */
    bool rate_armed;                    /* c->timer is at the min_client_rate deadline */
};

/* Arm the upstream timer (connect/send/read gaps, the tunnel's idle time). */
static inline void gh_proxy_set_utimer(struct gh_proxy *p, gh_msec_t ms)
{
    gh_loop_timer_set(&p->w->loop, &p->utimer, ms);
}

/* In proxy.c. */
/* Answer with an error status, or close when part of the answer is out.
 * Frees p. */
void gh_proxy_fail(struct gh_proxy *p, int status);
/* Someone else answers r (the cache, after a 304 revalidated its object):
 * release the upstream (to the pool when it can be reused) and let go of r,
 * whose response has not started. */
void gh_proxy_handover(struct gh_proxy *p);
/* The upstream failed before answering: retry on another server when SPEC
 * section 5 allows it (may_retry), else answer `status`. p is gone unless
 * a retry started. */
void gh_proxy_upstream_failed(struct gh_proxy *p, int status, bool may_retry);

/* In proxy_response.c. */
/* Parse what the upstream sent so far (p->rbuf) as a response head and
 * queue it for the client, with the body bytes that came along. STEP_WAIT
 * (incomplete), STEP_PROGRESS, or STEP_STOP (answered or closed: p is
 * gone). */
int gh_proxy_response_head(struct gh_proxy *p);
/* Queue the next span of response body bytes from p->rbuf for the client.
 * STEP_WAIT, STEP_PROGRESS, or -1 on a malformed body (logged). */
int gh_proxy_response_span(struct gh_proxy *p);

/* In proxy_rate.c (limits.min_client_rate). */
/* Arm the client timer for a wait on the client (sending: a response it
 * does not take; else a body we want to read): the gap timeout `gap`, or
 * earlier when the client would fall below min_client_rate. */
void gh_proxy_rate_arm(struct gh_proxy *p, gh_msec_t gap, bool sending);
/* The pump no longer waits on the client: stop its clock. */
void gh_proxy_rate_stop(struct gh_proxy *p);
/* The client timer fired at the rate deadline (p->rate_armed): true when
 * the client is too slow (logged at info), false when a fresh measure of
 * what left the socket shows it in time (the timer is re-armed). */
bool gh_proxy_rate_due(struct gh_proxy *p);
/* The send gap timeout fired while a response waits on the client: true
 * (timer re-armed for another gap) when at least 16 KB left the socket
 * since the last check, since the kernel wakes a writer only once a third of a big
 * send buffer drained, which a client reading steadily but slowly can take
 * longer than the gap to do. One ioctl per expiry. */
bool gh_proxy_send_moving(struct gh_proxy *p);

/* In proxy_response.c: the response body ended; flush the filter chain
 * into the sink. 0, or -1 (logged). */
int gh_proxy_filters_flush(struct gh_proxy *p);
/* A filter stage holds more output (p->filters_more) and the last was
 * written: run the chain again without input. 0 or -1. */
int gh_proxy_filters_resume(struct gh_proxy *p);
/* The upstream has nothing more for now: have the chain put out all it
 * took (a compressor's sync flush), so a stream of events is not held
 * back. 0 or -1. */
int gh_proxy_filters_sync(struct gh_proxy *p);

/* In proxy_source.c: one step of a response from p->src. STEP_WAIT,
 * STEP_PROGRESS or STEP_STOP (p is gone). */
int gh_proxy_source_step(struct gh_proxy *p);

/* In proxy.c: the upstream failed with `status` before anything of the
 * answer was queued (all_down: no server could be reached). When the
 * cache has a stale object for it, p answers that instead: true (the
 * upstream side is let go, the pump resumes by timer); else false. */
bool gh_proxy_try_stale(struct gh_proxy *p, int status, bool all_down);

/* In proxy.c: the source declined before the head: forward the request
 * upstream instead. 0 (p goes on), or -1 (answered or closed: p is gone). */
int gh_proxy_go_upstream(struct gh_proxy *p);

/* In proxy_tunnel.c. */
/* The upstream answered 101: queue the head and switch to tunnelling. */
void gh_proxy_tunnel_start(struct gh_proxy *p);
/* One step of the tunnel both ways. STEP_PROGRESS, STEP_WAIT, STEP_DONE
 * (both halves closed) or GH_ERROR. */
int gh_proxy_tunnel_step(struct gh_proxy *p);

#endif
