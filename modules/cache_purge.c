/*
 * cache_purge.c - see cache_purge.h.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "modules/cache_purge.h"
#include "modules/cache_rfc.h"

/* RFC 3986 reg-name, IP-literal and port characters (':' and the brackets
 * are checked again for the port). */
static bool host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || strchr("-._~%!$&'()*+,;=:[]", c) != NULL;
}

/* Is host[0..n) a host with an optional numeric port? */
static bool host_ok(const char *host, size_t n)
{
    size_t i = 0, end = n;

    if (n == 0)
        return false;
    for (size_t k = 0; k < n; k++)
        if (!host_char((unsigned char)host[k]) || host[k] == '\0')
            return false;
    if (host[0] == '[') {
        const char *rb = memchr(host, ']', n);
        if (rb == NULL)
            return false;
        i = (size_t)(rb - host) + 1;
        if (i < n && host[i] != ':')
            return false;
    } else {
        while (i < n && host[i] != ':')
            i++;
        if (i == 0)
            return false;
    }
    if (i < n) {                        /* ":port" */
        if (i + 1 == end)
            return false;
        for (size_t k = i + 1; k < end; k++)
            if (host[k] < '0' || host[k] > '9')
                return false;
    }
    return true;
}

ssize_t gh_cache_purge_name(const char *url, size_t len, bool prefix, char *out, size_t outsz,
                            const char **why)
{
    bool https;
    size_t skip;

    if (len >= 7 && strncasecmp(url, "http://", 7) == 0) {
        https = false;
        skip = 7;
    } else if (len >= 8 && strncasecmp(url, "https://", 8) == 0) {
        https = true;
        skip = 8;
    } else {
        *why = "not an absolute http:// or https:// URL";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c == 0x7f) {
            *why = "a space or a control character in the URL";
            return -1;
        }
    }
    const char *hash = memchr(url, '#', len);
    if (hash != NULL)
        len = (size_t)(hash - url);
    const char *host = url + skip;
    size_t rest = len - skip, hlen = 0;
    while (hlen < rest && host[hlen] != '/' && host[hlen] != '?')
        hlen++;
    if (memchr(host, '@', hlen) != NULL) {
        *why = "userinfo (user@) in the URL";
        return -1;
    }
    if (!host_ok(host, hlen)) {
        *why = "no host, or a bad host or port in the URL";
        return -1;
    }
    /* The target: "/" for an empty path; room for it and the sentinel. */
    const char *path = host + hlen;
    size_t plen = rest - hlen;
    char *target = malloc(plen + 3);
    if (target == NULL) {
        *why = "out of memory";
        return -1;
    }
    size_t tlen = 0;
    if (plen == 0 || path[0] == '?')
        target[tlen++] = '/';
    memcpy(target + tlen, path, plen);
    tlen += plen;
    /* A path prefix (no query) ends in a partial segment that must not be
     * normalized as a whole one ("/a/." is not "/a/"): a sentinel 'x' makes
     * it a plain segment for the normalizer, and comes off again. */
    bool sentinel = prefix && memchr(target, '?', tlen) == NULL;
    if (sentinel)
        target[tlen++] = 'x';
    ssize_t n = gh_cache_primary_key("GET", 3, https, host, hlen, target, tlen, out, outsz);
    free(target);
    if (n < 0) {
        *why = "a bad %-escape, %00 or \"..\" above the root in the path, or a URL too long";
        return -1;
    }
    if (sentinel)
        n--;                            /* the normalizer copies a plain 'x' last, as is */
    return n;
}
