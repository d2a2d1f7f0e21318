/*
 * test_cache_cond.c - the conditions the cache answers itself
 * (modules/cache_cond.c): If-None-Match, strong ETag comparison, If-Range
 * and the Range parser.
 */
#include <check.h>
#include <string.h>

#include "modules/cache_cond.h"

static bool inm(const char *list, const char *etag)
{
    return gh_cache_inm_match(list, strlen(list), etag, strlen(etag));
}

START_TEST(test_if_none_match)
{
    ck_assert(inm("\"a\"", "\"a\""));
    ck_assert(!inm("\"a\"", "\"b\""));
    /* weak comparison: W/ on either side does not matter */
    ck_assert(inm("W/\"a\"", "\"a\""));
    ck_assert(inm("\"a\"", "W/\"a\""));
    ck_assert(inm("W/\"a\"", "W/\"a\""));
    /* lists, blanks, empty elements */
    ck_assert(inm("\"x\", \"y\" ,\"a\"", "\"a\""));
    ck_assert(inm(" ,\"x\",, W/\"a\" ", "\"a\""));
    ck_assert(!inm("\"x\", \"y\"", "\"a\""));
    /* "*" matches any stored response, even one without an ETag */
    ck_assert(inm("*", "\"a\""));
    ck_assert(inm("*", ""));
    ck_assert(!inm("\"a\"", ""));
    /* garbage matches nothing */
    ck_assert(!inm("a", "a"));
    ck_assert(!inm("\"a", "\"a\""));
    ck_assert(!inm("\"a\" x", "\"a\""));
    ck_assert(!inm("\"a b\"", "\"a b\""));
    ck_assert(!inm("", "\"a\""));
    ck_assert(!inm("\"a\"", "bogus"));
    /* the opaque tag is compared byte for byte */
    ck_assert(!inm("\"A\"", "\"a\""));
}
END_TEST

START_TEST(test_strong_eq)
{
    ck_assert(gh_cache_etag_strong_eq("\"a\"", 3, "\"a\"", 3));
    ck_assert(!gh_cache_etag_strong_eq("W/\"a\"", 5, "\"a\"", 3));
    ck_assert(!gh_cache_etag_strong_eq("\"a\"", 3, "W/\"a\"", 5));
    ck_assert(!gh_cache_etag_strong_eq("\"a\"", 3, "\"b\"", 3));
    ck_assert(!gh_cache_etag_strong_eq("", 0, "", 0));
}
END_TEST

START_TEST(test_if_range)
{
    const char *lm = "Sun, 06 Nov 1994 08:49:37 GMT";
    int64_t t = 784111777;
    ck_assert(gh_cache_if_range("\"a\"", 3, "\"a\"", 3, -1));
    ck_assert(!gh_cache_if_range("W/\"a\"", 5, "W/\"a\"", 5, -1));
    ck_assert(!gh_cache_if_range("\"a\"", 3, "\"b\"", 3, t));
    ck_assert(gh_cache_if_range(lm, strlen(lm), "", 0, t));
    ck_assert(!gh_cache_if_range(lm, strlen(lm), "", 0, t + 1));
    ck_assert(!gh_cache_if_range(lm, strlen(lm), "", 0, -1));
    ck_assert(!gh_cache_if_range("junk", 4, "\"a\"", 3, t));
}
END_TEST

static enum gh_range_rc rng(const char *v, uint64_t total, uint64_t *f, uint64_t *l)
{
    *f = *l = 12345;
    return gh_cache_range_parse(v, strlen(v), total, f, l);
}

START_TEST(test_range)
{
    uint64_t f, l;
    ck_assert_int_eq(rng("bytes=0-9", 100, &f, &l), GH_RANGE_PART);
    ck_assert_uint_eq(f, 0);
    ck_assert_uint_eq(l, 9);
    ck_assert_int_eq(rng("bytes=90-", 100, &f, &l), GH_RANGE_PART);
    ck_assert_uint_eq(f, 90);
    ck_assert_uint_eq(l, 99);
    ck_assert_int_eq(rng("bytes=-10", 100, &f, &l), GH_RANGE_PART);
    ck_assert_uint_eq(f, 90);
    ck_assert_uint_eq(l, 99);
    /* last past the end is clamped; a suffix longer than the body is all of it */
    ck_assert_int_eq(rng("BYTES=50-1000", 100, &f, &l), GH_RANGE_PART);
    ck_assert_uint_eq(f, 50);
    ck_assert_uint_eq(l, 99);
    ck_assert_int_eq(rng("bytes=-1000", 100, &f, &l), GH_RANGE_PART);
    ck_assert_uint_eq(f, 0);
    ck_assert_uint_eq(l, 99);
    ck_assert_int_eq(rng("bytes= 5-5 ,", 100, &f, &l), GH_RANGE_PART);
    ck_assert_uint_eq(f, 5);
    ck_assert_uint_eq(l, 5);
    ck_assert_int_eq(rng("bytes=99999999999999999999999-", 100, &f, &l),
                     GH_RANGE_UNSATISFIABLE);
    ck_assert_int_eq(rng("bytes=0-99999999999999999999999", 100, &f, &l), GH_RANGE_PART);
    ck_assert_uint_eq(l, 99);
    /* unsatisfiable */
    ck_assert_int_eq(rng("bytes=100-", 100, &f, &l), GH_RANGE_UNSATISFIABLE);
    ck_assert_int_eq(rng("bytes=200-300", 100, &f, &l), GH_RANGE_UNSATISFIABLE);
    ck_assert_int_eq(rng("bytes=-0", 100, &f, &l), GH_RANGE_UNSATISFIABLE);
    /* ignored: other units, bad syntax, several ranges, an empty body */
    ck_assert_int_eq(rng("items=0-1", 100, &f, &l), GH_RANGE_WHOLE);
    ck_assert_int_eq(rng("bytes=5-1", 100, &f, &l), GH_RANGE_WHOLE);
    ck_assert_int_eq(rng("bytes=a-b", 100, &f, &l), GH_RANGE_WHOLE);
    ck_assert_int_eq(rng("bytes=", 100, &f, &l), GH_RANGE_WHOLE);
    ck_assert_int_eq(rng("bytes=-", 100, &f, &l), GH_RANGE_WHOLE);
    ck_assert_int_eq(rng("bytes=1-2 3", 100, &f, &l), GH_RANGE_WHOLE);
    ck_assert_int_eq(rng("bytes 0-1", 100, &f, &l), GH_RANGE_WHOLE);
    ck_assert_int_eq(rng("bytes=0-1,5-6", 100, &f, &l), GH_RANGE_WHOLE);
    ck_assert_int_eq(rng("bytes=200-,300-", 100, &f, &l), GH_RANGE_WHOLE);
    ck_assert_int_eq(rng("bytes=0-1", 0, &f, &l), GH_RANGE_WHOLE);
    ck_assert_int_eq(rng("", 100, &f, &l), GH_RANGE_WHOLE);
    ck_assert_uint_eq(f, 12345);        /* untouched unless PART */
}
END_TEST

static Suite *cache_cond_suite(void)
{
    Suite *s = suite_create("cache_cond");
    TCase *tc = tcase_create("cond");

    tcase_add_test(tc, test_if_none_match);
    tcase_add_test(tc, test_strong_eq);
    tcase_add_test(tc, test_if_range);
    tcase_add_test(tc, test_range);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cache_cond_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
