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

/* Build the lookup structures for conf (compiling regexes once, with JIT
 * when available). The router points into conf, which must outlive it.
 * Checks: server names are exact, "*.suffix" or "default" and unique;
 * exact and prefix routes are unique within a server; regexes compile.
 * On error prints every "FILE:LINE: message" line to errs and returns NULL.
 * The router holds one pcre2 match data reused by every match: use it from
 * one thread at a time (each worker builds its own after fork). Free with
 * gh_router_free (NULL is fine). */
struct gh_router *gh_router_build(const struct gh_conf *conf, FILE *errs);
void gh_router_free(struct gh_router *r);

/*
 * Normalize a request path for matching (SPEC section 4): percent-decode
 * unreserved characters, remove dot-segments, keep %2F encoded. Writes to
 * out (at least path.len + 1 bytes; a NUL follows the result; out may be
 * path.p itself), returns the normalized length, or -1 when the path is
 * invalid (%00, bad escape, ".." above the root, a raw NUL, or a path that
 * does not start with '/', the empty one included): 400. Escapes that stay
 * get upper-case hex ("%2f" -> "%2F"); "//" is kept.
 */
ssize_t gh_path_normalize(struct gh_str path, char *out);

/* Find the server for `host` (the Host header or SNI; port and trailing dot
 * ignored, case-insensitive; "[::1]:8080" is the name "[::1]") and the
 * route for the normalized path. Exact names, then the longest "*." wildcard
 * (any depth, never the bare suffix), then the server named "default"; no
 * "default": vserver NULL. Returns 0, with NULL members in out when nothing
 * matches; -1 when a regular expression could not run to completion (its
 * match limit): 500. Allocates nothing. */
int gh_router_match(const struct gh_router *r, struct gh_str host, struct gh_str norm_path,
                    struct gh_route_match *out);

/* Choose a split of route by weight: with have_key, stably for key_hash
 * (any 64-bit hash of the key; it is mixed again here); otherwise from rnd
 * (a random 64-bit value). A weight of 0 is never chosen; a weight change
 * moves only the keys whose range shifts. Returns the chosen split's
 * upstream_idx (an index into conf->upstreams), or -1 when the route has no
 * split of positive weight. */
int gh_route_split(const struct gh_conf_route *route, bool have_key, uint64_t key_hash,
                   uint64_t rnd);

/* For tests: the literals gh_router_build derives from a regular expression
 * to skip it cheaply on paths it cannot match, written to buf as
 * "pre=PREFIX suf=SUFFIX has=SUBSTRING" (lower-case when caseless; empty
 * when none). Returns 0, or -1 when the pattern has constructs the literal
 * parser does not handle (then all are empty). */
int gh_route_regex_literals(const char *pattern, bool caseless, char *buf, size_t size);

#endif
