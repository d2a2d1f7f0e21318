/*
 * route.c - virtual server and route selection (SPEC section 4, nginx's
 * order) and weighted splits.
 *
 * Layout of a router, built once per worker from a gh_conf that must
 * outlive it:
 *   - server names: one hash table of exact names, one of leading
 *     wildcards keyed by their suffix (".example.com"); a host is looked up
 *     exactly, then by each of its suffixes from the longest down;
 *   - per server: a hash table of exact routes; the prefix routes sorted
 *     byte-wise with, for each, the index of its longest proper prefix in
 *     the table (binary search + parent links find the longest match); the
 *     regular expressions in file order, compiled once (JIT when available);
 *   - one pcre2 match data and match context, reused by every match, so a
 *     match allocates nothing. That makes a router usable by one thread at a
 *     time: each worker builds its own after fork.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "modules/route.h"
#include "modules/route_priv.h"

/* Longest host name looked up; longer ones go to the default server. DNS
 * names are at most 253 bytes, bracketed IPv6 literals far less. */
#define GH_ROUTE_HOST_MAX 255

/* Bound on the work of one regular expression match (pcre2 match_limit),
 * so a pathological pattern cannot stall a worker; hitting it makes
 * gh_router_match fail (500). */
#define GH_ROUTE_MATCH_LIMIT 1000000

/* ---------------------------------------------------------------------- */
/* A small open-addressing hash table: byte string -> int. */

struct route_hent {
    uint64_t hash;
    const char *key;                    /* NULL: empty slot */
    size_t len;
    int val;
};

struct route_htab {
    struct route_hent *ents;
    size_t mask;                        /* capacity - 1 (capacity a power of 2) */
    size_t n;
    size_t minlen, maxlen;              /* of the keys: cheap rejection */
};

/* A word-at-a-time hash of short keys (host names, exact paths): 8 bytes at
 * a time, the last word overlapping the one before it. */
static inline uint64_t route_hmix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

static inline uint64_t route_hash(const char *p, size_t len)
{
    uint64_t h = len * 0xff51afd7ed558ccdULL;
    if (len >= 8) {
        for (size_t i = 0; i + 8 < len; i += 8)
            h = route_hmix(h, route_load64(p + i));
        return route_hmix(h, route_load64(p + len - 8));
    }
    if (len >= 4)
        return route_hmix(h, route_load32(p) | (uint64_t)route_load32(p + len - 4) << 32);
    uint64_t w = 0;
    for (size_t i = 0; i < len; i++)
        w = w << 8 | (unsigned char)p[i];
    return route_hmix(h, w);
}

static int route_htab_init(struct route_htab *t, size_t nkeys)
{
    size_t cap = 8;
    while (cap < nkeys * 2)
        cap <<= 1;
    t->ents = calloc(cap, sizeof(*t->ents));
    if (t->ents == NULL)
        return -1;
    t->mask = cap - 1;
    t->n = 0;
    t->minlen = SIZE_MAX;
    t->maxlen = 0;
    return 0;
}

/* Look key up with its hash h (route_hash(key, len)) already computed. */
static inline const struct route_hent *route_htab_find_h(const struct route_htab *t,
                                                         const char *key, size_t len, uint64_t h)
{
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const struct route_hent *e = &t->ents[i];
        if (e->key == NULL)
            return NULL;
        if (e->hash == h && e->len == len && route_eq(e->key, key, len))
            return e;
    }
}

static const struct route_hent *route_htab_find(const struct route_htab *t, const char *key,
                                                size_t len)
{
    if (t->n == 0 || len < t->minlen || len > t->maxlen)
        return NULL;
    return route_htab_find_h(t, key, len, route_hash(key, len));
}

/* Insert key (not copied: it must outlive the table). Returns 1 when added,
 * 0 when the key was already there (the first value stays). The table was
 * sized for every key by route_htab_init. */
static int route_htab_add(struct route_htab *t, const char *key, size_t len, int val)
{
    uint64_t h = route_hash(key, len);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        struct route_hent *e = &t->ents[i];
        if (e->key == NULL) {
            *e = (struct route_hent){ h, key, len, val };
            t->n++;
            t->minlen = GH_MIN(t->minlen, len);
            t->maxlen = GH_MAX(t->maxlen, len);
            return 1;
        }
        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
            return 0;
    }
}

/* ---------------------------------------------------------------------- */

struct route_prefix {
    uint64_t head;                      /* the first 8 bytes, big-endian, 0-padded */
    uint64_t mask;                      /* of the bytes of head that are the prefix's */
    const char *p;
    size_t len;
    int parent;                         /* longest proper prefix in the table, or -1 */
    const struct gh_conf_route *route;
};

struct route_regex {
    pcre2_code *code;
    bool jit;
    bool filtered;                      /* any of the literals below is set */
    bool pre8, suf8;                    /* pre, suf: case-sensitive, <= 8 bytes */
    uint64_t pre_head, pre_mask;        /* pre as a route_head, the mask of its bytes */
    uint64_t suf_tail, suf_mask;        /* suf as a route_tail, the mask of its bytes */
    size_t minlen;                      /* PCRE2_INFO_MINLENGTH */
    bool last_known;                    /* every match ends with a byte of last_set or '\n' */
    uint8_t last_set[32];
    struct route_lits lits;
    const struct gh_conf_route *route;
};

struct route_vs {
    const struct gh_conf_vserver *conf;
    struct route_htab exact;            /* pattern -> index into conf->routes */
    struct route_prefix *prefixes;      /* sorted byte-wise */
    size_t nprefixes;
    uint32_t by2[257];                  /* [c, c + 1): the prefixes starting "/c" */
    struct route_regex *regexes;        /* file order */
    size_t nregexes;
    /* Of the first 64 regexes, those that can match a path whose second
     * byte (by2nd) or last byte (bylast) is c: one AND skips most regexes
     * before their own prefilters run. Built from the literal prefix and
     * suffix; NULL when there are no regexes. */
    uint64_t *rx_by2nd, *rx_bylast;
};

struct gh_router {
    struct route_vs *vs;
    size_t nvs;
    struct route_htab names;            /* "a.example.com" -> server index */
    struct route_htab wild;             /* ".example.com" (from "*.example.com") -> index */
    int default_vs;                     /* the server named "default", or -1 */
    char *names_buf;                    /* the lower-cased keys of names and wild */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;         /* NULL: pcre2's default 32k on the C stack */
};


/* s[0..l->len) is the literal (caselessly when l->fold; l->s is lower-case
 * then). */
static inline bool route_lit_eq(const struct route_lit *l, const char *s)
{
    if (!l->fold)
        return route_eq(l->s, s, l->len);
    for (size_t i = 0; i < l->len; i++)
        if (gh_lower(s[i]) != l->s[i])
            return false;
    return true;
}

/* Whether p[0..len) contains the literal. */
static bool route_lit_find(const struct route_lit *l, const char *p, size_t len)
{
    if (len < l->len)
        return false;
    size_t a = l->anchor, last = len - l->len;  /* last start position */
    char c = l->s[a];
    if (l->fold && route_is_alpha((unsigned char)c)) {
        for (size_t i = 0; i <= last; i++)
            if (gh_lower(p[i + a]) == c && route_lit_eq(l, p + i))
                return true;
        return false;
    }
    const char *q = p + a, *end = p + last + a + 1;    /* where the anchor may be */
#ifdef __SSE2__
    if (len >= 16) {
        /* 16 bytes at a time (the last load moved back to stay within p):
         * cheaper than calls to memchr on the short subjects seen here */
        const __m128i cv = _mm_set1_epi8(c);
        for (const char *w = q; w < end;) {
            const char *ld = w + 16 <= p + len ? w : p + len - 16;
            const char *stop = GH_MIN(end, ld + 16);
            unsigned m = (unsigned)_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)ld), cv));
            m >>= w - ld;                       /* bit i: w[i] == c */
            if (stop - w < 16)
                m &= (1u << (stop - w)) - 1;
            for (; m != 0; m &= m - 1)
                if (route_lit_eq(l, w + __builtin_ctz(m) - a))
                    return true;
            w = ld + 16;
        }
        return false;
    }
#endif
    while (q < end && (q = memchr(q, c, (size_t)(end - q))) != NULL) {
        if (route_lit_eq(l, q - a))
            return true;
        q++;
    }
    return false;
}

/* Whether the subject may match rx, by its prefilters; ph and pt are the
 * subject's route_head and route_tail. */
static inline bool route_rx_may_match(const struct route_regex *rx, const char *p, size_t len,
                                      uint64_t ph, uint64_t pt)
{
    if (len < rx->minlen)
        return false;
    if (!rx->filtered)
        return true;
    const struct route_lits *ls = &rx->lits;
    if (rx->pre8) {
        if (len < ls->pre.len || ((ph ^ rx->pre_head) & rx->pre_mask) != 0)
            return false;
    } else if (ls->pre.len > 0 && (len < ls->pre.len || !route_lit_eq(&ls->pre, p))) {
        return false;
    }
    if (rx->suf8) {
        if (len < ls->suf.len)
            return false;
        if (((pt ^ rx->suf_tail) & rx->suf_mask) != 0 &&
            !(p[len - 1] == '\n' && len - 1 >= ls->suf.len &&
              route_lit_eq(&ls->suf, p + len - 1 - ls->suf.len)))
            return false;
    } else if (ls->suf.len > 0) {
        size_t n = ls->suf.len;
        if (len < n)
            return false;
        if (!route_lit_eq(&ls->suf, p + len - n) &&
            !(p[len - 1] == '\n' && len - 1 >= n && route_lit_eq(&ls->suf, p + len - 1 - n)))
            return false;
    }
    if (ls->has.len > 0 && !route_lit_find(&ls->has, p, len))
        return false;
    return true;
}

/* ---------------------------------------------------------------------- */
/* Building */


static struct route_prefix route_prefix_make(const char *p, size_t len,
                                             const struct gh_conf_route *rt)
{
    size_t n = GH_MIN(len, 8);
    uint64_t mask = n == 0 ? 0 : ~0ULL << (8 * (8 - n));
    return (struct route_prefix){ route_head(p, len), mask, p, len, -1, rt };
}

static int route_prefix_cmp(const void *a, const void *b)
{
    const struct route_prefix *x = a, *y = b;
    int c = memcmp(x->p, y->p, GH_MIN(x->len, y->len));
    if (c != 0)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

static inline bool route_is_prefix(const char *p, size_t plen, const char *s, size_t slen)
{
    return plen <= slen && memcmp(p, s, plen) == 0;
}

/* Sort the prefixes and link each to its longest proper prefix. In sorted
 * order every prefix of an entry comes before it, and the prefixes of
 * entry i are entry i-1 (if a prefix of it) or among the parents of i-1. */
static int route_link_prefixes(const struct gh_conf *conf, struct route_vs *v, FILE *errs)
{
    int err = 0;

    qsort(v->prefixes, v->nprefixes, sizeof(*v->prefixes), route_prefix_cmp);
    for (size_t i = 0; i < v->nprefixes; i++) {
        struct route_prefix *e = &v->prefixes[i];
        e->parent = -1;
        if (i == 0)
            continue;
        const struct route_prefix *prev = &v->prefixes[i - 1];
        if (prev->len == e->len && memcmp(prev->p, e->p, e->len) == 0) {
            fprintf(errs, "%s:%d: duplicate route '%s' (first at line %d)\n", conf->file,
                    e->route->line, e->route->path_spec ? e->route->path_spec : e->p,
                    prev->route->line);
            err = -1;
            e->parent = prev->parent;
            continue;
        }
        for (int k = (int)i - 1; k >= 0; k = v->prefixes[k].parent) {
            if (route_is_prefix(v->prefixes[k].p, v->prefixes[k].len, e->p, e->len)) {
                e->parent = k;
                break;
            }
        }
    }
    /* by2[c]: the number of entries < "/c" (c = 256: < "0", the byte after '/') */
    for (size_t c = 0, i = 0; c <= 256; c++) {
        char key[2] = { c < 256 ? '/' : '0', c < 256 ? (char)c : '\0' };
        size_t klen = c < 256 ? 2 : 1;
        while (i < v->nprefixes) {
            const struct route_prefix *e = &v->prefixes[i];
            int d = memcmp(e->p, key, GH_MIN(e->len, klen));
            if (d > 0 || (d == 0 && e->len >= klen))
                break;
            i++;
        }
        v->by2[c] = (uint32_t)i;
    }
    return err;
}

static int route_compile(const struct gh_conf *conf, const struct gh_conf_route *rt,
                         struct route_regex *rx, FILE *errs)
{
    int errcode;
    PCRE2_SIZE erroff;
    uint32_t opts = rt->kind == GH_ROUTE_REGEX_CASELESS ? PCRE2_CASELESS : 0;

    rx->route = rt;
    rx->code = pcre2_compile((PCRE2_SPTR)rt->pattern, PCRE2_ZERO_TERMINATED, opts, &errcode,
                             &erroff, NULL);
    if (rx->code == NULL) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
            strcpy((char *)msg, "unknown error");
        fprintf(errs, "%s:%d: invalid regular expression '%s': %s at offset %zu\n",
                conf->file, rt->line, rt->pattern, (char *)msg, (size_t)erroff);
        return -1;
    }
    /* No JIT (not built in, or no executable memory): interpret, silently. */
    rx->jit = pcre2_jit_compile(rx->code, PCRE2_JIT_COMPLETE) == 0;

    /* Prefilters: pcre2's minimum subject length (pcre2_match rejects
     * shorter subjects with it too) and the literals of the pattern. */
    uint32_t minlen = 0, nl = 0;
    if (pcre2_pattern_info(rx->code, PCRE2_INFO_MINLENGTH, &minlen) != 0)
        minlen = 0;
    rx->minlen = minlen;
    route_rx_literals(rt->pattern, opts & PCRE2_CASELESS, &rx->lits);
    bool nl_lf = pcre2_pattern_info(rx->code, PCRE2_INFO_NEWLINE, &nl) == 0 && nl == PCRE2_NEWLINE_LF;
    rx->last_known = nl_lf && route_rx_last_bytes(rt->pattern, opts & PCRE2_CASELESS, rx->last_set);
    if (rx->lits.suf.len > 0 && !nl_lf) {
        /* '$' may match before other line endings: keep it as a substring */
        if (rx->lits.suf.len > rx->lits.has.len) {
            rx->lits.has = rx->lits.suf;
            route_lit_set_anchor(&rx->lits.has);
        }
        rx->lits.suf.len = 0;
    }
    rx->filtered = rx->lits.pre.len > 0 || rx->lits.suf.len > 0 || rx->lits.has.len > 0;
    const struct route_lit *pre = &rx->lits.pre, *suf = &rx->lits.suf;
    if (pre->len > 0 && pre->len <= 8 && !pre->fold) {
        rx->pre8 = true;
        rx->pre_head = route_head(pre->s, pre->len);
        rx->pre_mask = ~0ULL << (8 * (8 - pre->len));
    }
    if (suf->len > 0 && suf->len <= 8 && !suf->fold) {
        rx->suf8 = true;
        rx->suf_tail = route_tail(suf->s, suf->len);
        rx->suf_mask = ~0ULL >> (8 * (8 - suf->len));
    }
    return 0;
}

static bool route_byte_is(const struct route_lit *l, size_t i, int c)
{
    char want = l->s[i];
    return l->fold ? gh_lower((char)c) == gh_lower(want) : (char)c == want;
}

static int route_build_rx_masks(struct route_vs *v)
{
    v->rx_by2nd = calloc(256, sizeof(uint64_t));
    v->rx_bylast = calloc(256, sizeof(uint64_t));
    if (v->rx_by2nd == NULL || v->rx_bylast == NULL)
        return -1;
    for (size_t i = 0; i < v->nregexes && i < 64; i++) {
        const struct route_regex *rx = &v->regexes[i];
        const struct route_lits *ls = &rx->lits;
        uint64_t bit = UINT64_C(1) << i;
        for (int c = 0; c < 256; c++) {
            if (ls->pre.len < 2 || route_byte_is(&ls->pre, 1, c))
                v->rx_by2nd[c] |= bit;
            /* '$' also matches before a final newline. */
            bool last_ok = ls->suf.len > 0 ? route_byte_is(&ls->suf, ls->suf.len - 1, c)
                           : rx->last_known ? (rx->last_set[c >> 3] >> (c & 7)) & 1
                                            : true;
            if (last_ok || c == '\n')
                v->rx_bylast[c] |= bit;
        }
    }
    return 0;
}

static int route_build_vs(const struct gh_conf *conf, const struct gh_conf_vserver *cv,
                          struct route_vs *v, FILE *errs)
{
    size_t nexact = 0, nprefix = 0, nregex = 0;
    int err = 0;

    v->conf = cv;
    for (size_t i = 0; i < cv->nroutes; i++) {
        switch (cv->routes[i].kind) {
        case GH_ROUTE_EXACT: nexact++; break;
        case GH_ROUTE_PREFIX:
        case GH_ROUTE_PREFIX_STOP: nprefix++; break;
        case GH_ROUTE_REGEX:
        case GH_ROUTE_REGEX_CASELESS: nregex++; break;
        }
    }
    if (route_htab_init(&v->exact, nexact) == -1)
        return -1;
    v->prefixes = calloc(nprefix ? nprefix : 1, sizeof(*v->prefixes));
    v->regexes = calloc(nregex ? nregex : 1, sizeof(*v->regexes));
    if (v->prefixes == NULL || v->regexes == NULL)
        return -1;

    for (size_t i = 0; i < cv->nroutes; i++) {
        const struct gh_conf_route *rt = &cv->routes[i];
        const char *pat = rt->pattern ? rt->pattern : "";
        size_t len = strlen(pat);
        switch (rt->kind) {
        case GH_ROUTE_EXACT:
            if (route_htab_add(&v->exact, pat, len, (int)i) == 0) {
                const struct route_hent *e = route_htab_find(&v->exact, pat, len);
                fprintf(errs, "%s:%d: duplicate route '= %s' (first at line %d)\n",
                        conf->file, rt->line, pat, cv->routes[e->val].line);
                err = -1;
            }
            break;
        case GH_ROUTE_PREFIX:
        case GH_ROUTE_PREFIX_STOP:
            v->prefixes[v->nprefixes++] = route_prefix_make(pat, len, rt);
            break;
        case GH_ROUTE_REGEX:
        case GH_ROUTE_REGEX_CASELESS:
            if (route_compile(conf, rt, &v->regexes[v->nregexes], errs) == -1)
                err = -1;
            else
                v->nregexes++;
            break;
        }
    }
    if (route_link_prefixes(conf, v, errs) == -1)
        err = -1;
    if (err == 0 && v->nregexes > 0 && route_build_rx_masks(v) == -1)
        return -1;
    return err;
}


/* Copy a configured server name lower-cased, without a trailing dot, into
 * buf. Returns its length, or -1 (with a message) when it is not one of
 * the forms SPEC section 4 allows: exact, "*.suffix" or "default". */
static ssize_t route_name_copy(const struct gh_conf *conf, const struct gh_conf_vserver *cv,
                               const char *name, char *buf, FILE *errs)
{
    size_t len = strlen(name);
    if (len > 0 && name[len - 1] == '.')
        len--;
    const char *star = memchr(name, '*', len);
    bool bad_star = star != NULL && (star != name || len < 3 || name[1] != '.' ||
                                     memchr(name + 1, '*', len - 1) != NULL);
    if (len == 0 || len > GH_ROUTE_HOST_MAX || bad_star) {
        fprintf(errs, "%s:%d: invalid server name '%s': %s\n", conf->file, cv->line, name,
                bad_star ? "only a leading \"*.\" wildcard is allowed"
                         : len == 0 ? "empty" : "too long");
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        buf[i] = gh_lower(name[i]);
    buf[len] = '\0';
    return (ssize_t)len;
}

static int route_build_names(const struct gh_conf *conf, struct gh_router *r, FILE *errs)
{
    size_t nnames = 0, bytes = 0;
    int err = 0;

    for (size_t i = 0; i < conf->nservers; i++) {
        nnames += conf->servers[i].nnames;
        for (size_t k = 0; k < conf->servers[i].nnames; k++)
            bytes += strlen(conf->servers[i].names[k]) + 1;
    }
    r->names_buf = malloc(bytes ? bytes : 1);
    if (r->names_buf == NULL || route_htab_init(&r->names, nnames) == -1 ||
        route_htab_init(&r->wild, nnames) == -1)
        return -1;

    char *buf = r->names_buf;
    for (size_t i = 0; i < conf->nservers; i++) {
        const struct gh_conf_vserver *cv = &conf->servers[i];
        for (size_t k = 0; k < cv->nnames; k++) {
            ssize_t len = route_name_copy(conf, cv, cv->names[k], buf, errs);
            if (len == -1) {
                err = -1;
                continue;
            }
            int added;
            if (strcmp(buf, "default") == 0) {
                added = r->default_vs == -1;
                if (added)
                    r->default_vs = (int)i;
            } else if (buf[0] == '*') {
                added = route_htab_add(&r->wild, buf + 1, (size_t)len - 1, (int)i);
            } else {
                added = route_htab_add(&r->names, buf, (size_t)len, (int)i);
            }
            if (!added) {
                fprintf(errs, "%s:%d: duplicate server name '%s'\n", conf->file, cv->line,
                        cv->names[k]);
                err = -1;
            }
            buf += len + 1;
        }
    }
    return err;
}

struct gh_router *gh_router_build(const struct gh_conf *conf, FILE *errs)
{
    struct gh_router *r = calloc(1, sizeof(*r));
    int err = 0;

    if (r == NULL)
        goto nomem;
    r->default_vs = -1;
    r->nvs = conf->nservers;
    r->vs = calloc(r->nvs ? r->nvs : 1, sizeof(*r->vs));
    if (r->vs == NULL)
        goto nomem;
    if (route_build_names(conf, r, errs) == -1) {
        if (r->names.ents == NULL || r->wild.ents == NULL)
            goto nomem;
        err = -1;
    }
    for (size_t i = 0; i < r->nvs; i++) {
        struct route_vs *v = &r->vs[i];
        if (route_build_vs(conf, &conf->servers[i], v, errs) == -1) {
            if (v->exact.ents == NULL || v->prefixes == NULL || v->regexes == NULL)
                goto nomem;
            err = -1;
        }
    }
    if (err == -1)
        goto fail;
    r->md = pcre2_match_data_create(1, NULL);
    r->mctx = pcre2_match_context_create(NULL);
    if (r->md == NULL || r->mctx == NULL)
        goto nomem;
    pcre2_set_match_limit(r->mctx, GH_ROUTE_MATCH_LIMIT);
    /* A larger JIT stack for deep patterns; without it, pcre2's default. */
    r->jit_stack = pcre2_jit_stack_create(32 * 1024, 512 * 1024, NULL);
    if (r->jit_stack != NULL)
        pcre2_jit_stack_assign(r->mctx, NULL, r->jit_stack);
    return r;

nomem:
    fprintf(errs, "%s: out of memory building the router\n", conf->file);
fail:
    gh_router_free(r);
    return NULL;
}

void gh_router_free(struct gh_router *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nvs && r->vs != NULL; i++) {
        struct route_vs *v = &r->vs[i];
        for (size_t k = 0; k < v->nregexes; k++)
            pcre2_code_free(v->regexes[k].code);
        free(v->regexes);
        free(v->rx_by2nd);
        free(v->rx_bylast);
        free(v->prefixes);
        free(v->exact.ents);
    }
    free(r->vs);
    free(r->names.ents);
    free(r->wild.ents);
    free(r->names_buf);
    pcre2_match_data_free(r->md);
    pcre2_match_context_free(r->mctx);
    pcre2_jit_stack_free(r->jit_stack);
    free(r);
}

/* ---------------------------------------------------------------------- */
/* Matching */

/* ASCII lower-case of 8 bytes at once: 0x20 added to each byte in 'A'..'Z'. */
static inline uint64_t route_lower64(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t low7 = x & ~high;
    uint64_t ge_a = low7 + ones * (0x80 - 'A');        /* high bit: low7 >= 'A' */
    uint64_t gt_z = low7 + ones * (0x80 - 'Z' - 1);    /* high bit: low7 > 'Z' */
    uint64_t upper = ge_a & ~gt_z & ~x & high;
    return x | upper >> 2;
}

/* dst[0..len) = lower-case of src[0..len) */
static inline void route_lower_copy(char *dst, const char *src, size_t len)
{
    if (len >= 8) {
        for (size_t i = 0; i + 8 < len; i += 8) {
            uint64_t w = route_lower64(route_load64(src + i));
            memcpy(dst + i, &w, 8);
        }
        uint64_t w = route_lower64(route_load64(src + len - 8));
        memcpy(dst + len - 8, &w, 8);
        return;
    }
    for (size_t i = 0; i < len; i++)
        dst[i] = gh_lower(src[i]);
}

/* Server index for a Host value, or r->default_vs. */
static int route_find_vs(const struct gh_router *r, struct gh_str host)
{
    const char *p = host.p;
    size_t len = host.len;
    /* slack: route_lower_copy's 8-byte stores, which -O3 vectorizes in
     * pairs, stay in bounds as far as the compiler can tell */
    char buf[GH_ROUTE_HOST_MAX + 16];

    if (len > 0 && p[0] == '[') {
        /* IPv6 literal: "[::1]" or "[::1]:8080"; the brackets are the name */
        const char *end = memchr(p, ']', len);
        if (end == NULL)
            return r->default_vs;
        size_t n = (size_t)(end - p) + 1;
        if (n < len && p[n] != ':')
            return r->default_vs;
        len = n;
    } else {
        const char *colon = memchr(p, ':', len);
        /* one colon: a port; more: an unbracketed IPv6 address, kept whole */
        if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon - p) - 1) == NULL)
            len = (size_t)(colon - p);
    }
    if (len > 0 && p[len - 1] == '.')
        len--;
    if (len == 0 || len > GH_ROUTE_HOST_MAX)
        return r->default_vs;
    route_lower_copy(buf, p, len);

    /* exact names first: one hash; then the suffixes from each '.' but the
     * first byte's, longest first */
    if (r->names.n > 0 && len >= r->names.minlen && len <= r->names.maxlen) {
        const struct route_hent *e = route_htab_find_h(&r->names, buf, len, route_hash(buf, len));
        if (e != NULL)
            return e->val;
    }
    if (r->wild.n > 0) {
        for (const char *d = memchr(buf + 1, '.', len - 1); d != NULL;
             d = memchr(d + 1, '.', len - (size_t)(d + 1 - buf))) {
            const struct route_hent *e = route_htab_find(&r->wild, d, len - (size_t)(d - buf));
            if (e != NULL)
                return e->val;
        }
    }
    return r->default_vs;
}

/* Whether prefix e is a prefix of path, whose head (route_head) is ph. */
static inline bool route_prefix_of(const struct route_prefix *e, uint64_t ph, const char *path,
                                   size_t len)
{
    if (e->len > len || ((e->head ^ ph) & e->mask) != 0)
        return false;
    return e->len <= 8 || route_eq(e->p + 8, path + 8, e->len - 8);
}

/* Index of the longest prefix route that is a prefix of path, or -1. */
static int route_find_prefix(const struct route_vs *v, const char *path, size_t len, uint64_t ph)
{
    size_t lo = 0, hi = v->nprefixes;
    if (len >= 2 && path[0] == '/') {
        /* only the entries starting with path's first 2 bytes can be the last
         * entry <= path; when none is, the one before them is */
        lo = v->by2[(unsigned char)path[1]];
        hi = v->by2[(unsigned char)path[1] + 1];
    }
    /* k: the last entry <= path; any prefix of path is k or one of its parents */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct route_prefix *e = &v->prefixes[mid];
        bool le;
        if (e->head != ph) {
            le = e->head < ph;
        } else {
            /* the first min(8, lengths) bytes are equal */
            size_t n = GH_MIN(e->len, len), i = 8;
            while (i < n && e->p[i] == path[i])
                i++;
            le = i < n ? (unsigned char)e->p[i] < (unsigned char)path[i] : e->len <= len;
        }
        if (le)
            lo = mid + 1;
        else
            hi = mid;
    }
    int k = (int)lo - 1;
    while (k >= 0 && !route_prefix_of(&v->prefixes[k], ph, path, len))
        k = v->prefixes[k].parent;
    return k;
}

int gh_router_match(const struct gh_router *r, struct gh_str host, struct gh_str norm_path,
                    struct gh_route_match *out)
{
    out->vserver = NULL;
    out->route = NULL;
    out->prefix_len = 0;
    if (host.p == NULL)
        host = GH_STR("");
    if (norm_path.p == NULL)
        norm_path = GH_STR("");

    int vi = route_find_vs(r, host);
    if (vi < 0)
        return 0;
    const struct route_vs *v = &r->vs[vi];
    out->vserver = v->conf;

    const struct route_hent *e = route_htab_find(&v->exact, norm_path.p, norm_path.len);
    if (e != NULL) {
        out->route = &v->conf->routes[e->val];
        return 0;
    }
    uint64_t ph = route_head(norm_path.p, norm_path.len);
    int k = route_find_prefix(v, norm_path.p, norm_path.len, ph);
    if (k >= 0 && v->prefixes[k].route->kind == GH_ROUTE_PREFIX_STOP)
        goto prefix;
    uint64_t pt = v->nregexes > 0 ? route_tail(norm_path.p, norm_path.len) : 0;
    uint64_t cand = ~UINT64_C(0);
    if (v->rx_by2nd != NULL && norm_path.len >= 2)
        cand = v->rx_by2nd[(unsigned char)norm_path.p[1]]
               & v->rx_bylast[(unsigned char)norm_path.p[norm_path.len - 1]];
    for (size_t i = 0; i < v->nregexes; i++) {
        if (i < 64) {
            /* Jump to the next candidate among the first 64 (file order). */
            uint64_t rest = cand & (~UINT64_C(0) << i);
            if (rest == 0) {
                i = 63;
                continue;
            }
            i = (size_t)__builtin_ctzll(rest);
            if (i >= v->nregexes)
                break;
        }
        const struct route_regex *rx = &v->regexes[i];
        if (!route_rx_may_match(rx, norm_path.p, norm_path.len, ph, pt))
            continue;
        PCRE2_SPTR subj = (PCRE2_SPTR)norm_path.p;
        int rc = rx->jit ? pcre2_jit_match(rx->code, subj, norm_path.len, 0, 0, r->md, r->mctx)
                         : pcre2_match(rx->code, subj, norm_path.len, 0, 0, r->md, r->mctx);
        if (rc >= 0) {
            out->route = rx->route;
            return 0;
        }
        if (rc != PCRE2_ERROR_NOMATCH)
            return -1;                  /* match limit, JIT stack: 500 */
    }
    if (k < 0)
        return 0;
prefix:
    out->route = v->prefixes[k].route;
    out->prefix_len = v->prefixes[k].len;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Splits */

/* splitmix64's finalizer: spreads a key hash of any quality over 64 bits. */
static inline uint64_t route_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

int gh_route_split(const struct gh_conf_route *route, bool have_key, uint64_t key_hash,
                   uint64_t rnd)
{
    uint64_t total = 0;
    for (size_t i = 0; i < route->nsplits; i++)
        total += route->splits[i].weight > 0 ? (uint64_t)route->splits[i].weight : 0;
    if (total == 0)
        return -1;

    /* x in [0, total): the high bits of h * total, monotone in h, so a weight
     * change moves only the keys on the boundaries that shift. */
    uint64_t h = have_key ? route_mix(key_hash) : rnd;
    uint64_t x = (uint64_t)(((unsigned __int128)h * total) >> 64);
    uint64_t cum = 0;
    for (size_t i = 0; i < route->nsplits; i++) {
        if (route->splits[i].weight <= 0)
            continue;
        cum += (uint64_t)route->splits[i].weight;
        if (x < cum)
            return route->splits[i].upstream_idx;
    }
    return -1;                          /* not reached */
}
