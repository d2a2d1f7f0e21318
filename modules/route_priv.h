/*
 * route_priv.h - what route.c (building and matching) and route_rx.c (the
 * literal prefilters of regular expressions) share: byte helpers inlined on
 * the matching path, and the literal prefilters themselves.
 */
#ifndef GH_ROUTE_PRIV_H
#define GH_ROUTE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>


static inline uint64_t route_load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint32_t route_load32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* a[0..len) == b[0..len), inline: the keys compared here are short, and a
 * call to memcmp costs more than the comparison itself. */
static inline bool route_eq(const char *a, const char *b, size_t len)
{
    if (len >= 8) {
        for (size_t i = 0; i + 8 < len; i += 8)
            if (route_load64(a + i) != route_load64(b + i))
                return false;
        return route_load64(a + len - 8) == route_load64(b + len - 8);
    }
    if (len >= 4)
        return route_load32(a) == route_load32(b) &&
               route_load32(a + len - 4) == route_load32(b + len - 4);
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

/* The first 8 bytes of p, big-endian, 0-padded: comparing two heads as
 * integers orders the strings as memcmp then length would, except when the
 * heads are equal (then compare the whole strings). */
static inline uint64_t route_head(const char *p, size_t len)
{
    if (len >= 8)
        return __builtin_bswap64(route_load64(p));
    uint64_t h = 0;
    for (size_t i = 0; i < 8; i++)
        h = h << 8 | (i < len ? (unsigned char)p[i] : 0);
    return h;
}

/* The last 8 bytes of p, big-endian (the last byte lowest), 0-padded on the
 * left. */
static inline uint64_t route_tail(const char *p, size_t len)
{
    if (len >= 8)
        return __builtin_bswap64(route_load64(p + len - 8));
    uint64_t t = 0;
    for (size_t i = 0; i < len; i++)
        t = t << 8 | (unsigned char)p[i];
    return t;
}

static inline bool route_is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static inline bool route_is_alpha(unsigned char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/*
 * Prefilters of a regular expression: literals that every subject it
 * matches must have (derived from the pattern by route_rx_literals), and
 * pcre2's own minimum subject length. They only ever skip a pattern that
 * cannot match. Caseless literals are stored lower-case (fold).
 */
#define ROUTE_LIT_MAX 32

struct route_lit {
    uint8_t len;                        /* 0: none */
    uint8_t anchor;                     /* has: the byte looked for with memchr */
    bool fold;                          /* compare ASCII letters caselessly */
    char s[ROUTE_LIT_MAX];
};

struct route_lits {
    struct route_lit pre;               /* "^lit...": the subject starts with it */
    struct route_lit suf;               /* "...lit$": it ends with it (or with it + "\n") */
    struct route_lit has;               /* "...lit...": it contains it */
};

/* Fill out with the literals of pat (see route_rx.c); all empty, and -1,
 * when pat uses syntax the parser does not follow. */
int route_rx_literals(const char *pat, bool caseless, struct route_lits *out);
/* Choose the byte of a "has" literal to look for first (the rarest). */
void route_lit_set_anchor(struct route_lit *l);
/* When every match of pat ends with one of a known set of bytes, or with
 * '\n' ('$' matches before a final newline): set (a 256-bit set) holds
 * those bytes but '\n', and true. Understands patterns that end with a
 * group of alternatives each ending in an unquantified literal, such as
 * "\.(png|jpe?g|gif)$" (a single literal before '$' is route_rx_literals'
 * suffix). */
bool route_rx_last_bytes(const char *pat, bool caseless, uint8_t set[32]);

#endif
