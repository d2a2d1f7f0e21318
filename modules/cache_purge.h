/*
 * cache_purge.h - the store name a purge (POST /cache/purge on the admin
 * API) looks for, built from the URL the operator gives. Pure: no store,
 * no I/O, so the rules are unit-tested on their own.
 *
 * Objects are named by the cache's primary key text (modules/cache_rfc.h
 * gh_cache_primary_key: "GET scheme://host normalized-path?query"), every
 * variant of a URL under the same name; a purge builds that text from the
 * URL with the same function, so "http://Example.COM:80/a/../b" names the
 * object a request for "/b" with "Host: example.com" stored.
 */
#ifndef GH_CACHE_PURGE_H
#define GH_CACHE_PURGE_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * The name (exact) or name prefix (prefix) of url[0..len): an absolute
 * "http://" or "https://" URL (scheme case-insensitive), no userinfo, a
 * non-empty host with an optional numeric port, then the target; an empty
 * path is "/" and a "#fragment" is dropped (a request never carries one).
 *
 * exact: the primary key text of the URL.
 * prefix: the scheme and host are normalized the same way; with a '?' the
 * path is complete (normalized as for exact) and the query is a prefix as
 * given; without one, the path is a string prefix of normalized paths:
 * escapes of unreserved characters are decoded (as they are in every
 * stored name), dot-segments are resolved in the complete segments (up to
 * the last '/'), and the last, partial segment is kept as a string
 * ("/a/." matches "/a/.well-known", not all of "/a/").
 *
 * Writes the text to out (outsz bytes; no NUL) and returns its length, or
 * -1 with *why set to a static reason (not absolute http(s), a control
 * character or space, userinfo, a bad host or port, a bad %-escape, %00,
 * ".." above the root, or too long).
 */
ssize_t gh_cache_purge_name(const char *url, size_t len, bool prefix, char *out, size_t outsz,
                            const char **why);

#endif
