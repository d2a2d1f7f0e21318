/*
 * upstream.h - the worker's view of the upstreams: servers with their
 * balancing and passive-health state, and the keep-alive pool of idle
 * upstream connections (reused newest first, compare
 * nginx:src/http/modules/ngx_http_upstream_keepalive_module.c).
 */
#ifndef GH_UPSTREAM_H
#define GH_UPSTREAM_H

#include "common/conf.h"
#include "common/list.h"
#include "common/loop.h"
#include "server/transport.h"

struct gh_worker;

struct gh_us_region;

struct gh_req;

struct gh_proxy;

struct gh_balance_ops;
struct gh_tls_client;
struct gh_us_slot;
struct gh_us_pctr;

struct gh_server_rt {
    const struct gh_conf_upstream_server *conf;
    struct gh_us_slot *st;              /* shared state (modules/upstream_state.h), or
                                           private when the segment had no slot for it */
    struct gh_us_pctr *pc;              /* this process's counters for the server */
    int64_t cur_weight;                 /* smooth weighted round robin (per worker) */
    int index;                          /* in up->servers */
    char sticky_id[17];                 /* opaque id for the sticky cookie (16 hex) */
};

struct gh_upstream_rt {
    const struct gh_conf_upstream *conf;
    struct gh_server_rt *servers;
    size_t nservers;
    const struct gh_balance_ops *bal;
    void *bal_data;                     /* the balancer's tables (hash ring) */
    void *priv;                         /* private state of servers without a shared slot */
    uint64_t rng;                       /* xorshift state (random2) */
    size_t rr_next;                     /* round_robin with equal weights: the cursor */
    bool rr_equal;                      /* every server has the same weight, no slow_start */
    struct gh_link idle;                /* idle connections, newest first */
    int nidle;
    struct gh_tls_client *tls;          /* tls.enable: the client side; NULL = plain */
};
/* A connection to an upstream server. */
struct gh_uconn {
    struct gh_io io;                    /* epoll registration (io.fd is tp.fd while registered) */
    struct gh_transport tp;             /* every read, write and close goes here */
    struct gh_worker *w;
    struct gh_upstream_rt *up;
    struct gh_server_rt *srv;
    struct gh_link link;                /* in up->idle while idle */
    struct gh_timer timer;
    struct gh_proxy *px;                /* the request using it; NULL when idle */
    struct gh_loop_deferred deferred;
    uint32_t nrequests;
    bool connecting;                    /* not usable yet: TCP connect or TLS handshake */
    bool handshaking;                   /* TCP connected; the TLS handshake runs */
    bool reused;                        /* taken from the idle pool */
    bool freed;
};

int gh_upstreams_init(struct gh_worker *w);
void gh_upstreams_exit(struct gh_worker *w);
struct gh_upstream_rt *gh_upstream_get(struct gh_worker *w, int idx);

/* Pick a server for request r, not in `tried` (bit i = server i; for more
 * than 64 servers, the rest are never excluded). Backup servers only when
 * no primary is available. NULL when none is available (503). The picker
 * may set r->set_cookie (the sticky cookie), allocated from r->pool. */
struct gh_server_rt *gh_upstream_pick(struct gh_upstream_rt *up, uint64_t tried, struct gh_req *r);
/* The exchange with srv ended: status is the upstream's status (0 when it
 * failed before answering), latency from connect to the response head. */
void gh_upstream_done(struct gh_upstream_rt *up, struct gh_server_rt *srv, int status,
                      gh_msec_t latency);
/* Count a failure (passive health: max_fails within fail_timeout). */
void gh_upstream_fail(struct gh_upstream_rt *up, struct gh_server_rt *srv);
void gh_upstream_ok(struct gh_server_rt *srv);

/* An idle pooled connection to srv (newest first), or a new one being
 * connected (uc->connecting). NULL with errno on immediate failure. The
 * connection's io callback is cb with data px. */
struct gh_uconn *gh_uconn_get(struct gh_worker *w, struct gh_upstream_rt *up,
                              struct gh_server_rt *srv, struct gh_proxy *px, gh_io_fn *cb);
/* Return a connection to the idle pool (or close it when the pool is
 * full or the connection has served keepalive_requests). */
void gh_uconn_release(struct gh_uconn *uc);
/* Close a busy connection that cannot be reused. */
void gh_uconn_discard(struct gh_uconn *uc);
/* A connection being connected (uc->connecting) got the socket events
 * revents: finish the TCP connect, then run the TLS handshake when the
 * upstream has tls.enable. GH_OK when it is usable (connecting cleared),
 * GH_AGAIN to wait for the next event, GH_ERROR when the connect or the
 * handshake failed (logged, with the reason of a failed certificate
 * check). */
int gh_uconn_connect_step(struct gh_uconn *uc, uint32_t revents);
/* Close and free (after this loop iteration). */
void gh_uconn_close(struct gh_uconn *uc);
/* Set up (free) one upstream's runtime view on the shared region reg (NULL:
 * private state only), with this process's counter block proc (-1: the
 * shared overflow block). Used by gh_upstreams_init and by unit tests.
 * 0, or -1 when out of memory. */
int gh_upstream_rt_init(struct gh_upstream_rt *up, const struct gh_conf_upstream *c,
                        struct gh_us_region *reg, int proc);
void gh_upstream_rt_free(struct gh_upstream_rt *up);
/* May srv take a new request now (not down by health or passive checks,
 * not drained, under max_conns)? Reads the shared slot; lock-free. */
bool gh_upstream_available(const struct gh_upstream_rt *up, const struct gh_server_rt *srv);
/* The weight balancers use, times 100: the configured weight ramped
 * linearly over slow_start since the server came (back) up; at least 1. */
int64_t gh_upstream_weight(const struct gh_upstream_rt *up, const struct gh_server_rt *srv);
/* Requests in flight to srv from every process. */
int32_t gh_upstream_active(const struct gh_server_rt *srv);

/* "127.0.0.1:9001" as configured. */
static inline const char *gh_server_name(const struct gh_server_rt *s) { return s->conf->addr.text; }

#endif
