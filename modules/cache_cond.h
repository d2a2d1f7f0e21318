/*
 * cache_cond.h - the request conditions a cache answers itself (RFC 9110
 * 13 and 14) as pure functions: If-None-Match and If-Modified-Since
 * against a stored response's validators, If-Range, and a Range header's
 * single byte range. No I/O, no clock; dates are seconds since the epoch.
 *
 * Choices (the README's "Cache" section repeats them):
 *  - If-None-Match uses the weak comparison (RFC 9110 13.1.2); "*" matches
 *    any stored response. An element that is not an entity-tag makes the
 *    whole field match nothing (the request is answered in full).
 *  - If-Range compares strongly: a weak tag on either side never matches;
 *    a date matches only a Last-Modified equal to it.
 *  - Range: only "bytes" and only one range; several ranges (even
 *    overlapping or all unsatisfiable) are answered with the whole
 *    response, which RFC 9110 14.2 allows. A syntax error anywhere means
 *    the field is ignored (14.2: a server MAY ignore Range).
 */
#ifndef GH_CACHE_COND_H
#define GH_CACHE_COND_H

#include "common/gh.h"

/* Does the If-None-Match value match a stored ETag (etag, elen; elen 0:
 * the response has none, which only "*" matches)? */
bool gh_cache_inm_match(const char *list, size_t len, const char *etag, size_t elen);

/* Is an entity-tag strong and byte-equal to another (RFC 9110 8.8.3.2)? */
bool gh_cache_etag_strong_eq(const char *a, size_t alen, const char *b, size_t blen);

/* Does an If-Range value allow the range: an entity-tag strongly equal to
 * the stored ETag, or an HTTP-date equal to the stored Last-Modified
 * (last_modified -1: none)? */
bool gh_cache_if_range(const char *v, size_t len, const char *etag, size_t elen,
                       int64_t last_modified);

enum gh_range_rc {
    GH_RANGE_WHOLE = 0,                 /* ignore the field: answer 200 with everything */
    GH_RANGE_PART,                      /* answer 206 with bytes first..last */
    GH_RANGE_UNSATISFIABLE,             /* answer 416, Content-Range: bytes STAR/total */
};

/* Parse a Range value against a representation of total bytes: one
 * first-last, first- or -suffix range. On GH_RANGE_PART, [*first, *last]
 * is inside [0, total), last clamped to the end. An empty representation
 * is always answered whole. */
enum gh_range_rc gh_cache_range_parse(const char *v, size_t len, uint64_t total,
                                      uint64_t *first, uint64_t *last);

#endif
