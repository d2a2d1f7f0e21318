/*
 * proxy_headers.h - rewriting heads between client and upstream (SPEC
 * section 5): X-Forwarded-*, Forwarded, Via, X-Request-ID, hop-by-hop
 * removal, set/remove lists, hiding the upstream's identity.
 */
#ifndef GH_PROXY_HEADERS_H
#define GH_PROXY_HEADERS_H

#include "common/wbuf.h"
#include "server/http1.h"

/* Build the request head sent upstream, in r->pool. chunked: the body is
 * sent with our own chunked framing. websocket: ask the upstream to upgrade. 0 or -1 (out of memory). */
/* Bytes the "Name: value\r\n" lines of a headers set-list take. Inline:
 * most lists are empty, and a call per list costs every request. */
static inline size_t gh_headers_set_size(const struct gh_conf_headers *h)
{
    size_t n = 0;
    for (size_t i = 0; h != NULL && i < h->nset; i++)
        n += strlen(h->set[i].name) + strlen(h->set[i].value) + 4;
    return n;
}

/* Write a headers set-list (the route's or server's request_headers or
 * response_headers) as "Name: value\r\n" lines. */
static inline void gh_headers_put_set(struct gh_wbuf *w, const struct gh_conf_headers *h)
{
    for (size_t i = 0; h != NULL && i < h->nset; i++) {
        gh_wbuf_puts(w, h->set[i].name);
        gh_wbuf_put(w, ": ", 2);
        gh_wbuf_puts(w, h->set[i].value);
        gh_wbuf_put(w, "\r\n", 2);
    }
}

int gh_proxy_build_request(struct gh_req *r, const struct gh_conf_upstream *up, bool chunked,
                           bool websocket, char **head, size_t *len);
/* The proxy's response header filter (server/filter.h's list). */
struct gh_header_filter;
extern const struct gh_header_filter gh_proxy_header_filter;
/* How many fields the header filters may add to r's response head. */
size_t gh_proxy_head_adds(const struct gh_req *r);

#endif
