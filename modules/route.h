/*
 * route.h - choosing the virtual server and the route for a request
 * (SPEC section 4, nginx's order), and the split of a route between
 * upstreams.
 */
#ifndef GH_ROUTE_H
#define GH_ROUTE_H

#include "common/conf.h"
#include "common/str.h"

struct gh_router;

struct gh_route_match {
    const struct gh_conf_vserver *vserver;  /* NULL: no server matches -> 404 */
    const struct gh_conf_route *route;      /* NULL: no route matches -> 404 */
    size_t prefix_len;                      /* matched prefix length (for strip_prefix) */
};

/* Build the lookup structures for conf (compiling regexes once). On error
 * prints "FILE:LINE: message" lines to errs and returns NULL. */
struct gh_router *gh_router_build(const struct gh_conf *conf, FILE *errs);
void gh_router_free(struct gh_router *r);

/*
 * Normalize a request path for matching (SPEC section 4): percent-decode
 * unreserved characters, remove dot-segments, keep %2F encoded. Writes to
 * out (at least path.len + 1 bytes), returns the normalized length, or -1
 * when the path is invalid (%00, bad escape, ".." above the root): 400.
 */
ssize_t gh_path_normalize(struct gh_str path, char *out);

/* Find the server for `host` (the Host header or SNI; port and trailing dot
 * ignored, case-insensitive) and the route for the normalized path.
 * Returns 0, with NULL members in out when nothing matches. */
int gh_router_match(const struct gh_router *r, struct gh_str host, struct gh_str norm_path,
                    struct gh_route_match *out);

/* Choose a split of route by weight: with have_key, stably for key_hash;
 * otherwise from rnd (a random 64-bit value). Returns the upstream index. */
int gh_route_split(const struct gh_conf_route *route, bool have_key, uint64_t key_hash,
                   uint64_t rnd);

#endif
