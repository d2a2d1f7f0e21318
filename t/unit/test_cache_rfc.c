/*
 * test_cache_rfc.c - RFC 9111 / 5861 rules (modules/cache_rfc.c): the
 * Cache-Control parser, HTTP-dates, storability, freshness lifetime, age,
 * request directives, stale serving, Vary keys and the primary key.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "modules/cache_rfc.h"

static struct gh_cc cc_of(const char *s)
{
    struct gh_cc cc;

    gh_cc_init(&cc);
    gh_cc_parse(&cc, s, strlen(s));
    return cc;
}

START_TEST(test_cc_parse)
{
    struct gh_cc cc = cc_of("public, max-age=60, S-MAXAGE = \"120\" ,no-transform");
    ck_assert_uint_eq(cc.flags, GH_CC_PUBLIC | GH_CC_NO_TRANSFORM);
    ck_assert_int_eq(cc.max_age, 60);
    ck_assert_int_eq(cc.s_maxage, 120);
    ck_assert_int_eq(cc.max_stale, -1);

    cc = cc_of("max-age=10, max-age=99");              /* first wins */
    ck_assert_int_eq(cc.max_age, 10);
    cc = cc_of("max-age=abc");                          /* invalid: stale */
    ck_assert_int_eq(cc.max_age, 0);
    cc = cc_of("max-age=99999999999999999999999");      /* clamped */
    ck_assert_int_eq(cc.max_age, GH_CC_DELTA_MAX);
    cc = cc_of("max-stale");
    ck_assert_int_eq(cc.max_stale, GH_CC_DELTA_MAX);
    cc = cc_of("max-stale=5, min-fresh=7, only-if-cached, no-cache=\"Set-Cookie, X\"");
    ck_assert_int_eq(cc.max_stale, 5);
    ck_assert_int_eq(cc.min_fresh, 7);
    ck_assert_uint_eq(cc.flags, GH_CC_ONLY_IF_CACHED | GH_CC_NO_CACHE);
    cc = cc_of("private=\"a,b\", stale-while-revalidate=30,stale-if-error=600");
    ck_assert_uint_eq(cc.flags, GH_CC_PRIVATE);
    ck_assert_int_eq(cc.stale_while_revalidate, 30);
    ck_assert_int_eq(cc.stale_if_error, 600);
    /* garbage is skipped to the next comma outside quotes */
    cc = cc_of("foo=\"x,no-store\", @@bad@@, no-store x, must-revalidate,,,");
    ck_assert_uint_eq(cc.flags, GH_CC_MUST_REVALIDATE);
    cc = cc_of("max-age=\"60");                         /* unterminated */
    ck_assert_int_eq(cc.max_age, -1);
    cc = cc_of("max-age=-1");
    ck_assert_int_eq(cc.max_age, 0);
    /* two lines add up */
    gh_cc_init(&cc);
    gh_cc_parse(&cc, "no-cache", 8);
    gh_cc_parse(&cc, "max-age=3", 9);
    ck_assert_uint_eq(cc.flags, GH_CC_NO_CACHE);
    ck_assert_int_eq(cc.max_age, 3);
}
END_TEST

START_TEST(test_http_date)
{
    ck_assert_int_eq(gh_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", 29), 784111777);
    ck_assert_int_eq(gh_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", 30), 784111777);
    ck_assert_int_eq(gh_http_date_parse("Sun Nov  6 08:49:37 1994", 24), 784111777);
    ck_assert_int_eq(gh_http_date_parse(" Thu, 01 Jan 1970 00:00:00 GMT ", 31), 0);
    ck_assert_int_eq(gh_http_date_parse("Mon, 29 Feb 2016 12:00:00 GMT", 29), 1456747200);
    ck_assert_int_eq(gh_http_date_parse("0", 1), -1);
    ck_assert_int_eq(gh_http_date_parse("Sun, 06 Xyz 1994 08:49:37 GMT", 29), -1);
    ck_assert_int_eq(gh_http_date_parse("Sun, 06 Nov 1994 25:49:37 GMT", 29), -1);
    ck_assert_int_eq(gh_http_date_parse("Sun, 06 Nov 1994 08:49:37 UTC", 29), -1);
}
END_TEST

static struct gh_cache_req req_get(void)
{
    struct gh_cache_req r = { .get_or_head = true };

    gh_cc_init(&r.cc);
    return r;
}

static struct gh_cache_resp resp_of(int status, const char *cc)
{
    struct gh_cache_resp r = { .status = status, .date = 1000, .expires = -1, .age = -1,
                               .last_modified = -1 };

    r.cc = cc_of(cc);
    return r;
}

static const struct gh_cache_policy ttl60 = { 60, false };
static const struct gh_cache_policy nottl = { -1, false };

static const char *storable(const struct gh_cache_req *q, const struct gh_cache_resp *r,
                            const struct gh_cache_policy *p)
{
    bool strip;

    return gh_cache_storable(q, r, p, &strip);
}

START_TEST(test_storable)
{
    struct gh_cache_req q = req_get();
    struct gh_cache_resp r = resp_of(200, "");
    bool strip;

    ck_assert_ptr_null(storable(&q, &r, &ttl60));
    ck_assert_str_eq(storable(&q, &r, &nottl), "no freshness");
    int defaults[] = { 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501 };
    for (size_t i = 0; i < GH_ARRAY_LEN(defaults); i++) {
        r = resp_of(defaults[i], "");
        ck_assert_ptr_null(storable(&q, &r, &ttl60));
    }
    int others[] = { 201, 302, 307, 400, 403, 500, 502, 503 };
    for (size_t i = 0; i < GH_ARRAY_LEN(others); i++) {
        r = resp_of(others[i], "");
        ck_assert_ptr_nonnull(storable(&q, &r, &ttl60));      /* the ttl is not enough */
        r = resp_of(others[i], "max-age=5");
        ck_assert_ptr_null(storable(&q, &r, &ttl60));
        r = resp_of(others[i], "");
        r.expires = 2000;
        ck_assert_ptr_null(storable(&q, &r, &nottl));
    }
    r = resp_of(304, "max-age=5");
    ck_assert_ptr_nonnull(storable(&q, &r, &ttl60));
    r = resp_of(100, "max-age=5");
    ck_assert_ptr_nonnull(storable(&q, &r, &ttl60));

    r = resp_of(200, "max-age=60, no-store");
    ck_assert_str_eq(storable(&q, &r, &ttl60), "no-store");
    r = resp_of(200, "private, max-age=60");
    ck_assert_str_eq(storable(&q, &r, &ttl60), "private");
    r = resp_of(200, "no-cache");                      /* stored, always revalidated */
    ck_assert_ptr_null(storable(&q, &r, &nottl));
    struct gh_cache_req qn = req_get();
    qn.cc = cc_of("no-store");
    r = resp_of(200, "max-age=60");
    ck_assert_str_eq(storable(&qn, &r, &ttl60), "no-store");
    struct gh_cache_req post = req_get();
    post.get_or_head = false;
    ck_assert_str_eq(storable(&post, &r, &ttl60), "method");

    /* Authorization: only public, s-maxage or must-revalidate */
    struct gh_cache_req qa = req_get();
    qa.authorization = true;
    r = resp_of(200, "max-age=60");
    ck_assert_str_eq(storable(&qa, &r, &ttl60), "Authorization");
    const char *allow[] = { "public", "s-maxage=5", "must-revalidate, max-age=5" };
    for (size_t i = 0; i < GH_ARRAY_LEN(allow); i++) {
        r = resp_of(200, allow[i]);
        ck_assert_ptr_null(storable(&qa, &r, &ttl60));
    }

    /* Set-Cookie: only with public, and the copy drops it */
    r = resp_of(200, "max-age=60");
    r.set_cookie = true;
    ck_assert_str_eq(storable(&q, &r, &ttl60), "Set-Cookie");
    r = resp_of(200, "public, max-age=60");
    r.set_cookie = true;
    ck_assert_ptr_null(gh_cache_storable(&q, &r, &ttl60, &strip));
    ck_assert(strip);

    r = resp_of(200, "max-age=60");
    r.vary_star = true;
    ck_assert_str_eq(storable(&q, &r, &ttl60), "Vary: *");
}
END_TEST

START_TEST(test_lifetime)
{
    enum gh_cache_fresh_src src;
    struct gh_cache_resp r = resp_of(200, "max-age=10, s-maxage=20");
    r.expires = 1300;

    ck_assert_int_eq(gh_cache_lifetime(&r, &ttl60, &src), 20);
    ck_assert_int_eq(src, GH_FRESH_S_MAXAGE);
    r.cc = cc_of("max-age=10");
    ck_assert_int_eq(gh_cache_lifetime(&r, &ttl60, &src), 10);
    ck_assert_int_eq(src, GH_FRESH_MAX_AGE);
    r.cc = cc_of("");
    ck_assert_int_eq(gh_cache_lifetime(&r, &ttl60, &src), 300);      /* Expires - Date */
    ck_assert_int_eq(src, GH_FRESH_EXPIRES);
    r.expires = 0;                                                   /* invalid */
    ck_assert_int_eq(gh_cache_lifetime(&r, &ttl60, &src), 0);
    r.expires = 900;                                                 /* before Date */
    ck_assert_int_eq(gh_cache_lifetime(&r, &ttl60, &src), 0);
    r.expires = -1;
    ck_assert_int_eq(gh_cache_lifetime(&r, &ttl60, &src), 60);
    ck_assert_int_eq(src, GH_FRESH_TTL);
    ck_assert_int_eq(gh_cache_lifetime(&r, &nottl, &src), 0);
    ck_assert_int_eq(src, GH_FRESH_NONE);
    struct gh_cache_policy ov = { 5, true };
    r.cc = cc_of("max-age=1000");
    ck_assert_int_eq(gh_cache_lifetime(&r, &ov, &src), 5);
    ck_assert_int_eq(src, GH_FRESH_OVERRIDE);
    r.cc = cc_of("no-store");                           /* override never stores it */
    ck_assert_ptr_nonnull(storable(&(struct gh_cache_req){ .get_or_head = true,
                                                           .cc = cc_of("") }, &r, &ov));
}
END_TEST

START_TEST(test_age)
{
    struct gh_cache_resp r = resp_of(200, "");

    /* RFC 9111 4.2.3: sent at 1000, received at 1002, Date 995, Age 3 */
    r.date = 995;
    r.age = 3;
    ck_assert_int_eq(gh_cache_initial_age(&r, 1000, 1002), 7);   /* apparent 7 > 3 + 2 */
    r.age = 10;
    ck_assert_int_eq(gh_cache_initial_age(&r, 1000, 1002), 12);  /* 10 + delay 2 */
    r.date = 1005;                                                /* clock ahead */
    r.age = -1;
    ck_assert_int_eq(gh_cache_initial_age(&r, 1000, 1002), 2);
    r.age = INT64_MAX;
    ck_assert_int_eq(gh_cache_initial_age(&r, 1000, 1002), GH_CC_DELTA_MAX + 2);
}
END_TEST

START_TEST(test_use)
{
    struct gh_cache_req q = req_get();
    struct gh_cc st = cc_of("max-age=60");

    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 10), GH_USE_FRESH);
    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 60), GH_USE_VALIDATE);
    q.cc = cc_of("max-age=5");
    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 10), GH_USE_VALIDATE);
    q.cc = cc_of("min-fresh=55");
    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 10), GH_USE_VALIDATE);
    q.cc = cc_of("min-fresh=50");
    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 10), GH_USE_FRESH);
    q.cc = cc_of("no-cache");
    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 10), GH_USE_VALIDATE);
    q = req_get();
    q.pragma_no_cache = true;
    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 10), GH_USE_VALIDATE);
    q = req_get();
    q.cc = cc_of("max-stale=20");
    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 80), GH_USE_STALE);
    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 81), GH_USE_VALIDATE);
    q.cc = cc_of("max-stale");
    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 100000), GH_USE_STALE);
    q.cc = cc_of("only-if-cached");
    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 10), GH_USE_FRESH);
    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 70), GH_USE_GATEWAY_TIMEOUT);
    q = req_get();
    st = cc_of("max-age=60, no-cache");
    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 0), GH_USE_VALIDATE);
    /* stale-while-revalidate, and what forbids stale */
    st = cc_of("max-age=60, stale-while-revalidate=30");
    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 90), GH_USE_STALE_REVALIDATE);
    ck_assert_int_eq(gh_cache_use(&q, &st, 60, 91), GH_USE_VALIDATE);
    const char *strict[] = { "max-age=60, stale-while-revalidate=30, must-revalidate",
                             "max-age=60, stale-while-revalidate=30, proxy-revalidate",
                             "s-maxage=60, stale-while-revalidate=30" };
    for (size_t i = 0; i < GH_ARRAY_LEN(strict); i++) {
        st = cc_of(strict[i]);
        ck_assert_int_eq(gh_cache_use(&q, &st, 60, 70), GH_USE_VALIDATE);
        q.cc = cc_of("max-stale");
        ck_assert_int_eq(gh_cache_use(&q, &st, 60, 70), GH_USE_VALIDATE);
        q = req_get();
    }
}
END_TEST

START_TEST(test_stale_if_error)
{
    struct gh_cache_req q = req_get();
    struct gh_cc st = cc_of("max-age=60, stale-if-error=100");

    ck_assert(gh_cache_stale_if_error(&q, &st, 60, 160));
    ck_assert(!gh_cache_stale_if_error(&q, &st, 60, 161));
    st = cc_of("max-age=60");
    ck_assert(!gh_cache_stale_if_error(&q, &st, 60, 61));
    ck_assert(gh_cache_stale_if_error(&q, &st, 60, 59));   /* still fresh */
    q.cc = cc_of("stale-if-error=10");
    ck_assert(gh_cache_stale_if_error(&q, &st, 60, 70));
    ck_assert(!gh_cache_stale_if_error(&q, &st, 60, 71));
    st = cc_of("max-age=60, stale-if-error=100, must-revalidate");
    ck_assert(!gh_cache_stale_if_error(&q, &st, 60, 61));
}
END_TEST

/* Request headers for the Vary tests: "name: value" lines. */
static const char *const *g_hdrs;

static bool get_hdr(void *ctx, const char *name, size_t nlen, size_t i, const char **v,
                    size_t *vlen)
{
    GH_UNUSED(ctx);
    for (size_t k = 0; g_hdrs[k] != NULL; k++) {
        const char *h = g_hdrs[k], *c = strchr(h, ':');
        if ((size_t)(c - h) != nlen || strncasecmp(h, name, nlen) != 0)
            continue;
        if (i-- == 0) {
            *v = c + 1;
            *vlen = strlen(c + 1);
            return true;
        }
    }
    return false;
}

static const char *vary(const char *v, const char *const *hdrs)
{
    static char out[256];

    g_hdrs = hdrs;
    ssize_t n = gh_cache_vary_key(v, strlen(v), get_hdr, NULL, out, sizeof(out));
    if (n < 0)
        return NULL;
    out[n] = '\0';
    return out;
}

START_TEST(test_vary)
{
    const char *h1[] = { "Accept-Encoding: GZIP ,  br", "Accept-Language:  en-US  fr", NULL };
    const char *h2[] = { "accept-encoding:gzip,br", "accept-language: en-us fr ", NULL };
    const char *h3[] = { "Accept-Encoding: gzip", "Accept-Encoding: br", "X-A:  Mixed   Case ",
                         NULL };
    const char *none[] = { NULL };

    ck_assert_str_eq(vary("", h1), "");
    ck_assert_str_eq(vary("Accept-Encoding", h1), "accept-encoding:gzip,br\n");
    ck_assert_str_eq(vary("accept-language, ACCEPT-ENCODING", h1),
                     "accept-encoding:gzip,br\naccept-language:en-us fr\n");
    /* one variant per normalized value: order of names, case, blanks */
    char first[256];
    snprintf(first, sizeof(first), "%s",
             vary("Accept-Encoding,Accept-Language,accept-encoding", h2));
    ck_assert_str_eq(first, vary("accept-language, ACCEPT-ENCODING", h1));
    ck_assert_str_eq(vary("Accept-Encoding, X-A", h3),
                     "accept-encoding:gzip,br\nx-a:Mixed Case\n");     /* lines joined */
    ck_assert_str_eq(vary("X-A", none), "x-a!\n");                      /* absent */
    ck_assert_ptr_null(vary("Accept, *", h1));
    ck_assert_ptr_null(vary("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", h1));  /* 17 names */
}
END_TEST

START_TEST(test_primary_key)
{
    char out[128];
    ssize_t n;

    n = gh_cache_primary_key("GET", 3, false, "Example.COM:80", 14, "/a/./b/../c%7e?x=1&y", 20,
                             out, sizeof(out));
    ck_assert_int_gt(n, 0);
    out[n] = '\0';
    ck_assert_str_eq(out, "GET http://example.com/a/c~?x=1&y");
    n = gh_cache_primary_key("HEAD", 4, true, "h.example.:443", 14, "/", 1, out, sizeof(out));
    out[n] = '\0';
    ck_assert_str_eq(out, "HEAD https://h.example/");
    n = gh_cache_primary_key("GET", 3, true, "h:80", 4, "/", 1, out, sizeof(out));
    out[n] = '\0';
    ck_assert_str_eq(out, "GET https://h:80/");
    ck_assert_int_eq(gh_cache_primary_key("GET", 3, false, "h", 1, "/../x", 5, out, sizeof(out)),
                     -1);
    ck_assert_int_eq(gh_cache_primary_key("GET", 3, false, "h", 1, "/abc", 4, out, 12), -1);
}
END_TEST

static Suite *cache_rfc_suite(void)
{
    Suite *s = suite_create("cache_rfc");
    TCase *tc = tcase_create("rfc9111");

    tcase_add_test(tc, test_cc_parse);
    tcase_add_test(tc, test_http_date);
    tcase_add_test(tc, test_storable);
    tcase_add_test(tc, test_lifetime);
    tcase_add_test(tc, test_age);
    tcase_add_test(tc, test_use);
    tcase_add_test(tc, test_stale_if_error);
    tcase_add_test(tc, test_vary);
    tcase_add_test(tc, test_primary_key);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cache_rfc_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
