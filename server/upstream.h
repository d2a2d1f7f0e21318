/*
 * upstream.h - the worker's view of the upstreams: servers with their
 * balancing and passive-health state, and the keep-alive pool of idle
 * upstream connections (reused newest first, compare
 * nginx:src/http/modules/ngx_http_upstream_keepalive_module.c).
 */
#ifndef GH_UPSTREAM_H
#define GH_UPSTREAM_H

#include "server/conn.h"

struct gh_req;

struct gh_proxy;

struct gh_server_rt {
    const struct gh_conf_upstream_server *conf;
    int cur_weight;                     /* smooth weighted round robin */
    int fails;                          /* failures in the current window */
    gh_msec_t fail_window_start;
    gh_msec_t down_until;               /* passive health: skipped until then */
    int active;                         /* requests in flight from this worker */
};

struct gh_upstream_rt {
    const struct gh_conf_upstream *conf;
    struct gh_server_rt *servers;
    size_t nservers;
    struct gh_link idle;                /* idle connections, newest first */
    int nidle;
};

/* A connection to an upstream server. */
struct gh_uconn {
    struct gh_io io;
    struct gh_worker *w;
    struct gh_upstream_rt *up;
    struct gh_server_rt *srv;
    struct gh_link link;                /* in up->idle while idle */
    struct gh_timer timer;
    struct gh_proxy *px;                /* the request using it; NULL when idle */
    struct gh_loop_deferred deferred;
    uint32_t nrequests;
    bool connecting;
    bool reused;                        /* taken from the idle pool */
    bool freed;
};

int gh_upstreams_init(struct gh_worker *w);
void gh_upstreams_exit(struct gh_worker *w);
struct gh_upstream_rt *gh_upstream_get(struct gh_worker *w, int idx);

/* Pick a server for request r, not in `tried` (bit i = server i; for more
 * than 64 servers, the rest are never excluded). Backup servers only when
 * no primary is available. NULL when none is available (503). The picker
 * may set r->extra_resp_headers (e.g. a sticky cookie), allocated from
 * r->pool. */
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
/* Close and free (after this loop iteration). */
void gh_uconn_close(struct gh_uconn *uc);
/* "127.0.0.1:9001" as configured. */
static inline const char *gh_server_name(const struct gh_server_rt *s) { return s->conf->addr.text; }

#endif
