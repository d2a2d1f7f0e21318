/*
 * cache_cond.c - conditional requests and Range for the cache, pure (see
 * cache_cond.h for the choices made).
 */
#include <string.h>

#include "modules/cache_cond.h"
#include "common/str.h"
#include "modules/cache_rfc.h"

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/* An entity-tag at s[*i..len): its bounds (the W/ prefix and quotes
 * included) and whether it is weak. false when none is there. */
static bool etag_at(const char *s, size_t len, size_t *i, size_t *start, size_t *end, bool *weak)
{
    size_t k = *i;
    *weak = false;
    *start = k;
    if (k + 1 < len && s[k] == 'W' && s[k + 1] == '/') {
        *weak = true;
        k += 2;
    }
    if (k >= len || s[k] != '"')
        return false;
    for (k++; k < len && s[k] != '"'; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c < 0x21 || c == 0x7f)
            return false;               /* etagc: no controls, no blanks */
    }
    if (k >= len)
        return false;
    *end = ++k;
    *i = k;
    return true;
}

/* The opaque-tag of a whole entity-tag (quotes included), and its weakness. */
static bool opaque(const char *t, size_t n, const char **o, size_t *on, bool *weak)
{
    size_t i = 0, s, e;
    if (n == 0 || !etag_at(t, n, &i, &s, &e, weak) || i != n)
        return false;
    *o = *weak ? t + 2 : t;
    *on = *weak ? n - 2 : n;
    return true;
}

bool gh_cache_inm_match(const char *list, size_t len, const char *etag, size_t elen)
{
    const char *so;
    size_t son, i = 0;
    bool sweak, any = false, match = false;
    bool have = opaque(etag, elen, &so, &son, &sweak);

    while (i < len) {
        while (i < len && (ows(list[i]) || list[i] == ','))
            i++;
        if (i >= len)
            break;
        if (list[i] == '*') {
            i++;
            match = true;               /* any current representation */
        } else {
            size_t s, e;
            bool w;
            if (!etag_at(list, len, &i, &s, &e, &w))
                return false;
            size_t off = w ? 2 : 0;
            if (have && e - s - off == son && memcmp(list + s + off, so, son) == 0)
                match = true;
        }
        any = true;
        while (i < len && ows(list[i]))
            i++;
        if (i < len && list[i] != ',')
            return false;
    }
    return any && match;
}

bool gh_cache_etag_strong_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    const char *ao, *bo;
    size_t an, bn;
    bool aw, bw;
    return opaque(a, alen, &ao, &an, &aw) && opaque(b, blen, &bo, &bn, &bw) && !aw && !bw
           && an == bn && memcmp(ao, bo, an) == 0;
}

bool gh_cache_if_range(const char *v, size_t len, const char *etag, size_t elen,
                       int64_t last_modified)
{
    while (len > 0 && ows(v[0]))
        v++, len--;
    while (len > 0 && ows(v[len - 1]))
        len--;
    if (len > 0 && (v[0] == '"' || v[0] == 'W'))
        return gh_cache_etag_strong_eq(v, len, etag, elen);
    int64_t t = gh_http_date_parse(v, len);
    return t >= 0 && last_modified >= 0 && t == last_modified;
}

/* Digits at s[*i..len), saturating at UINT64_MAX. false when none. */
static bool number(const char *s, size_t len, size_t *i, uint64_t *out)
{
    size_t k = *i;
    uint64_t v = 0;
    while (k < len && s[k] >= '0' && s[k] <= '9') {
        unsigned d = (unsigned)(s[k] - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
        k++;
    }
    if (k == *i)
        return false;
    *i = k;
    *out = v;
    return true;
}

enum gh_range_rc gh_cache_range_parse(const char *v, size_t len, uint64_t total,
                                      uint64_t *first, uint64_t *last)
{
    size_t i = 0;
    while (i < len && ows(v[i]))
        i++;
    if (len - i < 6 || !gh_str_caseeq_lit(gh_str_make(v + i, 5), "bytes") || v[i + 5] != '=')
        return GH_RANGE_WHOLE;
    i += 6;
    int n = 0;
    bool sat = false;
    uint64_t f = 0, l = 0;
    while (i < len) {
        while (i < len && (ows(v[i]) || v[i] == ','))
            i++;                        /* empty list elements are allowed (RFC 9110 5.6.1) */
        if (i >= len)
            break;
        uint64_t a = 0, b = UINT64_MAX;
        if (v[i] == '-') {
            i++;
            uint64_t suffix;
            if (!number(v, len, &i, &suffix))
                return GH_RANGE_WHOLE;
            if (suffix > 0 && total > 0) {
                a = suffix >= total ? 0 : total - suffix;
                b = total - 1;
                sat = true;
            }
        } else {
            if (!number(v, len, &i, &a) || i >= len || v[i] != '-')
                return GH_RANGE_WHOLE;
            i++;
            bool has_last = number(v, len, &i, &b);
            if (has_last && b < a)
                return GH_RANGE_WHOLE;  /* invalid: the whole field is ignored */
            if (a < total) {
                b = GH_MIN(b, total - 1);
                sat = true;
            }
        }
        f = a;
        l = b;
        n++;
        while (i < len && ows(v[i]))
            i++;
        if (i < len && v[i] != ',')
            return GH_RANGE_WHOLE;
    }
    if (n != 1 || total == 0)
        return GH_RANGE_WHOLE;          /* none, several, or nothing to cut */
    if (!sat)
        return GH_RANGE_UNSATISFIABLE;
    *first = f;
    *last = l;
    return GH_RANGE_PART;
}
