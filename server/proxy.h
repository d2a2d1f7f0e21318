/*
 * proxy.h - forwarding a request to an upstream and relaying the answer.
 */
#ifndef GH_PROXY_H
#define GH_PROXY_H

#include "server/conn.h"

struct gh_req;

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

#endif
