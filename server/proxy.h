/*
 * proxy.h - forwarding a request to an upstream and relaying the answer.
 */
#ifndef GH_PROXY_H
#define GH_PROXY_H

#include "common/time.h"
#include "server/conn.h"

struct gh_req;
struct gh_resp_head;

/* Per-worker state: upstream connection pools, balancer cursors. 0 or -1. */
int gh_proxy_worker_init(struct gh_worker *w);
void gh_proxy_worker_exit(struct gh_worker *w);

/* Take over request r (its head parsed and routed to upstream index
 * `upstream`): connect, forward, relay. The proxy owns the client socket's
 * events until it calls gh_http1_finish or closes the connection. */
void gh_proxy_start(struct gh_req *r, int upstream);
/* Client socket event while the proxy owns the request. */
void gh_proxy_client_event(struct gh_req *r, uint32_t revents);
/* The connection timer fired while the proxy owns the request. */
void gh_proxy_client_timeout(struct gh_req *r);
/* The client connection is closing: release the upstream side. */
void gh_proxy_abort(struct gh_req *r);
/* The request's connection is a WebSocket tunnel now (after the 101). */
bool gh_proxy_tunnelling(const struct gh_req *r);

/* A response made here rather than upstream (a cache hit, or a request
 * waiting for an object another request is fetching), streamed to the
 * client by the proxy's pump: the same sink, backpressure, timeouts and
 * reset as a proxied response. The source's state is the caller's (in
 * r->mod_ctx). Every call gets wait_ms (0 on entry): with GH_AGAIN, the
 * pump tries again after that long (0: only when gh_proxy_wake says). */
#define GH_SOURCE_SPANS 16              /* spans a source may give at once */

struct gh_resp_source {
    /* The head, in r->pool, header filters run: 0; GH_AGAIN: not yet;
     * GH_ERROR: give up, the request goes upstream (nothing was sent). */
    int (*head)(struct gh_req *r, struct gh_resp_head *h, gh_msec_t *wait_ms);
    /* The next body bytes as at most *niov spans (GH_SOURCE_SPANS on
     * entry; set to the number used), valid until the next call (only
     * called once what it gave was written): their number (> 0), GH_DONE,
     * GH_AGAIN, or GH_ERROR (the client connection or stream is reset). */
    ssize_t (*next)(struct gh_req *r, struct iovec *iov, int *niov, gh_msec_t *wait_ms);
    /* The request is done with the source (answered, failed or gone, or
     * gone upstream after GH_DECLINED). */
    void (*close)(struct gh_req *r);
};

/* A copy of request r (a GET or HEAD without a body; a HEAD becomes a
 * GET) that goes upstream without a client (proxy_detach.c): its answer
 * goes only to the modules' hooks (the cache stores it). NULL when out of
 * memory or not such a request. The caller sets the copy's mod_ctx, then
 * starts it (gh_proxy_detach_start) or drops it (gh_proxy_detach_abort).
 * done(copy) runs when it ends, however it ends. */
struct gh_req *gh_proxy_detach(struct gh_req *r, void (*done)(struct gh_req *r));
void gh_proxy_detach_start(struct gh_req *copy);
void gh_proxy_detach_abort(struct gh_req *copy);
/* Worker exit: abort the copies still running. */
void gh_proxy_detached_exit(void);

/* Take over request r (routed, no body) and answer it from src. */
void gh_proxy_serve(struct gh_req *r, const struct gh_resp_source *src);
/* Run r's pump soon (from a timer, not from inside the caller): what its
 * source waits for may have come. No-op when r is not the proxy's. */
void gh_proxy_wake(struct gh_req *r);

#endif
