/*
 * proxy_headers.h - rewriting heads between client and upstream (SPEC
 * section 5): X-Forwarded-*, Forwarded, Via, X-Request-ID, hop-by-hop
 * removal, set/remove lists, hiding the upstream's identity.
 */
#ifndef GH_PROXY_HEADERS_H
#define GH_PROXY_HEADERS_H

#include "server/http1.h"

/* Build the request head sent upstream, in r->pool. chunked: the body is
 * sent with our own chunked framing. websocket: ask the upstream to upgrade. 0 or -1 (out of memory). */
int gh_proxy_build_request(struct gh_req *r, const struct gh_conf_upstream *up, bool chunked,
                           bool websocket, char **head, size_t *len);
/* Build the response head for the client, in r->pool. 0 or -1. */
int gh_proxy_build_response(struct gh_req *r, const struct gh_http1_response *resp,
                            bool chunked_out, char **head, size_t *len);
/* Copy the parsed request head out of the connection buffer into the pool
 * and re-point every string at the copy. 0 or -1. */
int gh_proxy_keep_head(struct gh_req *r);

#endif
