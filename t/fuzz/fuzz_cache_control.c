/*
 * fuzz_cache_control.c - libFuzzer harness for the cache's header parsers
 * (modules/cache_rfc.c): Cache-Control, HTTP-date and the Vary key.
 *
 * Input: the bytes are a Cache-Control value (and, as they are, an
 * HTTP-date and a Vary value). Invariants:
 *  - every delta is -1 or in [0, 2^31], and only known flags are set;
 *  - parsing the same line again changes nothing (flags accumulate, the
 *    first value of a delta wins);
 *  - a canonical rendering of the result parses back to the same result;
 *  - "no-store, " before the input always sets no-store, and the input
 *    after "max-age=7, " always leaves max-age 7;
 *  - a date is -1 or within years 0..9999;
 *  - the Vary key fits its buffer, ends each entry with '\n', and does not
 *    depend on the case of the names.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "modules/cache_rfc.h"
#include "fuzz.h"

#define ALL_FLAGS 0x1ffu

static void check_cc(const struct gh_cc *cc)
{
    const int64_t d[] = { cc->max_age, cc->s_maxage, cc->max_stale, cc->min_fresh,
                          cc->stale_while_revalidate, cc->stale_if_error };
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
        CHECK(d[i] == -1 || (d[i] >= 0 && d[i] <= GH_CC_DELTA_MAX));
    CHECK((cc->flags & ~ALL_FLAGS) == 0);
}

static bool cc_eq(const struct gh_cc *a, const struct gh_cc *b)
{
    return a->flags == b->flags && a->max_age == b->max_age && a->s_maxage == b->s_maxage
           && a->max_stale == b->max_stale && a->min_fresh == b->min_fresh
           && a->stale_while_revalidate == b->stale_while_revalidate
           && a->stale_if_error == b->stale_if_error;
}

static size_t render(const struct gh_cc *cc, char *out, size_t size)
{
    static const char *const flags[] = { "no-store", "no-cache", "private", "public",
        "must-revalidate", "proxy-revalidate", "only-if-cached", "no-transform", "immutable" };
    const char *names[] = { "max-age", "s-maxage", "max-stale", "min-fresh",
                            "stale-while-revalidate", "stale-if-error" };
    const int64_t d[] = { cc->max_age, cc->s_maxage, cc->max_stale, cc->min_fresh,
                          cc->stale_while_revalidate, cc->stale_if_error };
    size_t o = 0;
    for (int i = 0; i < 9; i++)
        if (cc->flags & (1u << i))
            o += (size_t)snprintf(out + o, size - o, "%s, ", flags[i]);
    for (int i = 0; i < 6; i++)
        if (d[i] >= 0)
            o += (size_t)snprintf(out + o, size - o, "%s=%lld, ", names[i], (long long)d[i]);
    return o;
}

static bool get_none(void *ctx, const char *name, size_t nlen, size_t i, const char **v,
                     size_t *vlen)
{
    (void)ctx;
    if (i > 0 || nlen == 0)
        return false;
    /* a header for every name starting with 'a': its value is its name */
    if ((name[0] | 0x20) != 'a')
        return false;
    *v = name;
    *vlen = nlen;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct gh_cc a, b, c;
    char buf[512];

    gh_cc_init(&a);
    gh_cc_parse(&a, s, size);
    check_cc(&a);
    b = a;
    gh_cc_parse(&b, s, size);
    CHECK(cc_eq(&a, &b));
    size_t n = render(&a, buf, sizeof(buf));
    gh_cc_init(&c);
    gh_cc_parse(&c, buf, n);
    CHECK(cc_eq(&a, &c));

    gh_cc_init(&b);
    gh_cc_parse(&b, "no-store, ", 10);
    gh_cc_parse(&b, s, size);
    CHECK(b.flags & GH_CC_NO_STORE);
    gh_cc_init(&b);
    gh_cc_parse(&b, "max-age=7, ", 11);
    gh_cc_parse(&b, s, size);
    CHECK(b.max_age == 7);

    int64_t t = gh_http_date_parse(s, size);
    CHECK(t == -1 || (t >= -62167219200LL && t <= 253402300799LL));

    char k1[256], k2[256], *upper = malloc(size ? size : 1);
    CHECK(upper != NULL);
    for (size_t i = 0; i < size; i++)
        upper[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32) : s[i];
    ssize_t l1 = gh_cache_vary_key(s, size, get_none, NULL, k1, sizeof(k1));
    ssize_t l2 = gh_cache_vary_key(upper, size, get_none, NULL, k2, sizeof(k2));
    CHECK(l1 >= -1 && l1 <= (ssize_t)sizeof(k1));
    if (l1 > 0)
        CHECK(k1[l1 - 1] == '\n');
    /* the names' case does not matter (the values, here the names as
     * written, have the same lengths) */
    CHECK((l1 < 0) == (l2 < 0));
    free(upper);
    return 0;
}
