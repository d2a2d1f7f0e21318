/*
 * cache_rfc.h - the HTTP caching rules of RFC 9111 (and RFC 5861's
 * stale-while-revalidate / stale-if-error) as pure functions: no I/O, no
 * clock (every time is passed in, in seconds since the epoch), no shared
 * state. The pipeline gathers a request's and a response's header fields
 * into the structures below and asks.
 *
 * Choices where the RFC leaves room (the README's "Cache" section repeats
 * them):
 *  - This is a shared cache: `private` and `s-maxage` apply, and so does
 *    `proxy-revalidate` (like `must-revalidate`).
 *  - `no-cache="field"` and `private="field"` are treated as unqualified
 *    (RFC 9111 5.2.2.4 and 5.2.2.7 allow it): no-cache stores but always
 *    revalidates; private is never stored.
 *  - A duplicated directive keeps its first value; an invalid delta-seconds
 *    (not a number) makes max-age / s-maxage 0 (stale, RFC 9111 4.2.1) and
 *    the request directives absent; values beyond 2^31 are 2^31 (1.2.2).
 *  - A response with Set-Cookie is stored only with an explicit `public`;
 *    the stored copy then drops Set-Cookie (only the client whose request
 *    filled the cache gets the cookie).
 *  - A request with Authorization is stored only when the response says
 *    `public`, `s-maxage` or `must-revalidate` (RFC 9111 3.5).
 *  - Status codes that are not cacheable by default (RFC 9110 15.1) need
 *    explicit freshness from the response (max-age, s-maxage, Expires);
 *    the route's ttl never makes them cacheable.
 *  - The route's cache.ttl is the heuristic freshness (RFC 9111 4.2.2)
 *    when the response gives none; with cache.override it wins over the
 *    response's freshness (never over no-store, private or no-cache).
 *  - stale-if-error and stale-while-revalidate never override
 *    must-revalidate, proxy-revalidate or s-maxage.
 */
#ifndef GH_CACHE_RFC_H
#define GH_CACHE_RFC_H

#include "common/gh.h"

#define GH_CC_DELTA_MAX INT64_C(2147483648) /* RFC 9111 1.2.2 */

enum {
    GH_CC_NO_STORE = 1u << 0,
    GH_CC_NO_CACHE = 1u << 1,
    GH_CC_PRIVATE = 1u << 2,
    GH_CC_PUBLIC = 1u << 3,
    GH_CC_MUST_REVALIDATE = 1u << 4,
    GH_CC_PROXY_REVALIDATE = 1u << 5,
    GH_CC_ONLY_IF_CACHED = 1u << 6,
    GH_CC_NO_TRANSFORM = 1u << 7,
    GH_CC_IMMUTABLE = 1u << 8,
};

/* Cache-Control, request or response. Delta values are seconds, -1 when
 * absent; max_stale is GH_CC_DELTA_MAX for a bare "max-stale". */
struct gh_cc {
    uint32_t flags;
    int64_t max_age, s_maxage, max_stale, min_fresh;
    int64_t stale_while_revalidate, stale_if_error;
};

/* Start an empty Cache-Control (every delta absent). */
void gh_cc_init(struct gh_cc *cc);
/* Parse one Cache-Control field line into cc, adding to what earlier lines
 * gave (call it for each line, in order). Never fails: unknown directives
 * and garbage are skipped up to the next comma outside a quoted string. */
void gh_cc_parse(struct gh_cc *cc, const char *s, size_t len);

/* Parse an HTTP-date (IMF-fixdate, RFC 850 or asctime, RFC 9110 5.6.7):
 * seconds since the epoch, or -1 when it is not one. */
int64_t gh_http_date_parse(const char *s, size_t len);

/* What the cache needs to know about a request. */
struct gh_cache_req {
    bool get_or_head;
    bool authorization;
    bool pragma_no_cache;               /* Pragma: no-cache and no Cache-Control */
    struct gh_cc cc;
};

/* ... and about a response. Times in seconds since the epoch, -1 absent;
 * expires is 0 when the field is present but invalid (already expired);
 * date is the Date field or, without one, the time the response was
 * received (RFC 9110 6.6.1), so that Expires - Date is always defined. */
struct gh_cache_resp {
    int status;
    struct gh_cc cc;
    int64_t date, expires, age, last_modified;
    bool set_cookie, vary_star, etag;
};

/* Where a freshness lifetime came from. */
enum gh_cache_fresh_src {
    GH_FRESH_NONE = 0,                  /* none: not storable for most statuses */
    GH_FRESH_S_MAXAGE,
    GH_FRESH_MAX_AGE,
    GH_FRESH_EXPIRES,
    GH_FRESH_TTL,                       /* the route's cache.ttl (heuristic) */
    GH_FRESH_OVERRIDE,                  /* the route's cache.ttl, cache.override */
};

/* The route's policy: ttl (seconds, -1 = no heuristic) and override. */
struct gh_cache_policy {
    int64_t ttl;
    bool override;
};

/* Is status cacheable by default (RFC 9110 15.1)? */
bool gh_cache_status_default(int status);
/* The freshness lifetime of resp in seconds (>= 0), and its source. */
int64_t gh_cache_lifetime(const struct gh_cache_resp *resp, const struct gh_cache_policy *pol,
                          enum gh_cache_fresh_src *src);

/* May resp to req be stored? NULL when yes, else a short reason (for the
 * debug log). *strip_set_cookie says the stored copy must drop Set-Cookie. */
const char *gh_cache_storable(const struct gh_cache_req *req, const struct gh_cache_resp *resp,
                              const struct gh_cache_policy *pol, bool *strip_set_cookie);

/* The corrected initial age of a response (RFC 9111 4.2.3), from its Age
 * and Date and the times the request was sent and the response received.
 * Store it; the current age is then initial + (now - response_time). */
int64_t gh_cache_initial_age(const struct gh_cache_resp *resp, int64_t request_time,
                             int64_t response_time);

/* What to do with a stored response for a request. */
enum gh_cache_use {
    GH_USE_FRESH = 0,                   /* serve it (HIT) */
    GH_USE_STALE,                       /* serve it stale: the client allows (max-stale) */
    GH_USE_STALE_REVALIDATE,            /* serve it stale and refresh it (stale-while-revalidate) */
    GH_USE_VALIDATE,                    /* ask the origin (conditional if it has a validator) */
    GH_USE_GATEWAY_TIMEOUT,             /* only-if-cached and nothing usable: 504 */
};

/* Decide for a stored response whose lifetime and current age are given
 * (seconds), with its own Cache-Control, and the request's. */
enum gh_cache_use gh_cache_use(const struct gh_cache_req *req, const struct gh_cc *stored,
                               int64_t lifetime, int64_t age);
/* When the origin failed (5xx or unreachable): may the stale stored
 * response be served anyway (stale-if-error, from it or the request)? */
bool gh_cache_stale_if_error(const struct gh_cache_req *req, const struct gh_cc *stored,
                             int64_t lifetime, int64_t age);

/* The secondary key for Vary: for each header the Vary value names
 * (case-insensitive, deduplicated, in sorted order) "name:value\n" with
 * the request's lines of that header joined with ',', blanks around
 * commas and at the ends removed, runs of blanks made one space, and
 * lower-cased for the Accept* headers; "name!\n" when the request has no
 * such header. get(ctx, name, nlen, i, &v, &vlen) gives the i-th line of a
 * header (false past the last). Returns the key's length (0 with no
 * Vary), or -1 for "Vary: *", a key longer than outsz, or more than 16
 * names. */
typedef bool gh_cache_hdr_fn(void *ctx, const char *name, size_t nlen, size_t i, const char **v,
                             size_t *vlen);
ssize_t gh_cache_vary_key(const char *vary, size_t vlen, gh_cache_hdr_fn *get, void *ctx,
                          char *out, size_t outsz);

/* The primary key text: "METHOD scheme://host target" with the host
 * lower-cased and without a default port or trailing dot, and the target's
 * path normalized (modules/route_path.c rules; the query kept as sent).
 * Returns the length, or -1 when it does not fit or the path is invalid. */
ssize_t gh_cache_primary_key(const char *method, size_t mlen, bool https, const char *host,
                             size_t hlen, const char *target, size_t tlen, char *out,
                             size_t outsz);

#endif
