/*
 * test_str.c - string helpers (common/str.c).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "common/str.h"

START_TEST(test_eq_caseeq)
{
    ck_assert(gh_str_eq(GH_STR("abc"), GH_STR("abc")));
    ck_assert(!gh_str_eq(GH_STR("abc"), GH_STR("abd")));
    ck_assert(!gh_str_eq(GH_STR("abc"), GH_STR("ab")));
    ck_assert(gh_str_eq(gh_str_make(NULL, 0), GH_STR("")));
    ck_assert(gh_str_caseeq(GH_STR("Content-Length"), GH_STR("content-length")));
    ck_assert(!gh_str_caseeq(GH_STR("Content-Length"), GH_STR("content-lengt")));
    ck_assert(!gh_str_caseeq(GH_STR("a["), GH_STR("A{")));   /* not a bit trick */
    ck_assert(gh_str_caseeq_lit(GH_STR("HOST"), "host"));
    ck_assert_int_eq(gh_lower('Z'), 'z');
    ck_assert_int_eq(gh_lower('@'), '@');
    ck_assert_int_eq(gh_lower('['), '[');
}
END_TEST

START_TEST(test_trim)
{
    struct gh_str s = gh_str_trim(GH_STR(" \t value \t"));
    ck_assert(gh_str_eq(s, GH_STR("value")));
    s = gh_str_trim(GH_STR(" \t "));
    ck_assert_uint_eq(s.len, 0);
    s = gh_str_trim(GH_STR("a b"));
    ck_assert(gh_str_eq(s, GH_STR("a b")));
    s = gh_str_trim(gh_str_make(NULL, 0));
    ck_assert_uint_eq(s.len, 0);
}
END_TEST

START_TEST(test_to_u63)
{
    ck_assert_int_eq(gh_str_to_u63(GH_STR("0")), 0);
    ck_assert_int_eq(gh_str_to_u63(GH_STR("12345")), 12345);
    ck_assert_int_eq(gh_str_to_u63(GH_STR("007")), 7);
    ck_assert_int_eq(gh_str_to_u63(GH_STR("9223372036854775807")), INT64_MAX);
    ck_assert_int_eq(gh_str_to_u63(GH_STR("9223372036854775808")), -1);
    ck_assert_int_eq(gh_str_to_u63(GH_STR("99999999999999999999")), -1);
    ck_assert_int_eq(gh_str_to_u63(GH_STR("")), -1);
    ck_assert_int_eq(gh_str_to_u63(GH_STR("-1")), -1);
    ck_assert_int_eq(gh_str_to_u63(GH_STR("+1")), -1);
    ck_assert_int_eq(gh_str_to_u63(GH_STR(" 1")), -1);
    ck_assert_int_eq(gh_str_to_u63(GH_STR("1 ")), -1);
    ck_assert_int_eq(gh_str_to_u63(GH_STR("0x10")), -1);
    ck_assert_int_eq(gh_str_to_u63(gh_str_make("123", 2)), 12);    /* length, not NUL */
}
END_TEST

START_TEST(test_list_has)
{
    ck_assert(gh_str_list_has(GH_STR("keep-alive, Upgrade"), "upgrade"));
    ck_assert(gh_str_list_has(GH_STR("keep-alive, Upgrade"), "KEEP-ALIVE"));
    ck_assert(gh_str_list_has(GH_STR("close"), "close"));
    ck_assert(gh_str_list_has(GH_STR(" ,, \tclose\t ,"), "close"));
    ck_assert(!gh_str_list_has(GH_STR("closed"), "close"));
    ck_assert(!gh_str_list_has(GH_STR("keep-alive, upgrade-x"), "upgrade"));
    ck_assert(!gh_str_list_has(GH_STR(""), "close"));
    ck_assert(!gh_str_list_has(GH_STR("a,,b"), ""));
    ck_assert(!gh_str_list_has(gh_str_make(NULL, 0), "close"));
}
END_TEST

START_TEST(test_pct_decode)
{
    char out[16];
    ck_assert_int_eq(gh_str_pct_decode(GH_STR("10.0.0.0%2F8"), out, sizeof(out)), 0);
    ck_assert_str_eq(out, "10.0.0.0/8");
    ck_assert_int_eq(gh_str_pct_decode(GH_STR("%5b%3A%3a1%5D"), out, sizeof(out)), 0);
    ck_assert_str_eq(out, "[::1]");
    ck_assert_int_eq(gh_str_pct_decode(GH_STR("a%2"), out, sizeof(out)), -1);     /* short */
    ck_assert_int_eq(gh_str_pct_decode(GH_STR("a%zz"), out, sizeof(out)), -1);    /* not hex */
    ck_assert_int_eq(gh_str_pct_decode(GH_STR("a%00b"), out, sizeof(out)), -1);   /* NUL */
    ck_assert_int_eq(gh_str_pct_decode(GH_STR("0123456789abcdef"), out, sizeof(out)), -1);
    ck_assert_int_eq(gh_str_pct_decode(GH_STR(""), out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_snprintf)
{
    char buf[8];

    ck_assert_uint_eq(gh_snprintf(buf, sizeof(buf), "%d", 42), 2);
    ck_assert_str_eq(buf, "42");
    ck_assert_uint_eq(gh_snprintf(buf, sizeof(buf), "%s", "0123456789"), 7);
    ck_assert_str_eq(buf, "0123456");
    ck_assert_uint_eq(gh_snprintf(buf, 1, "%s", "abc"), 0);
    ck_assert_str_eq(buf, "");
    ck_assert_uint_eq(gh_snprintf(buf, sizeof(buf), "%s", ""), 0);
}
END_TEST

START_TEST(test_u64)
{
    static const uint64_t v[] = { 0, 7, 10, 99, 403, 65535, 1000000007, UINT64_MAX };
    char buf[24], want[24];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t n = gh_str_u64(buf, v[i]);
        buf[n] = '\0';
        ck_assert_uint_eq(n, (size_t)snprintf(want, sizeof(want), "%llu", (unsigned long long)v[i]));
        ck_assert_str_eq(buf, want);
    }
}
END_TEST

START_TEST(test_hex64)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 2000; i++) {
        uint64_t v = i == 0 ? 0 : i == 1 ? UINT64_MAX : i == 2 ? 0x0123456789abcdefULL : x;
        char got[16], want[16];
        gh_str_hex64(got, v);
        for (int k = 0; k < 16; k++)
            want[k] = hex[(v >> (k * 4)) & 15];
        ck_assert_msg(memcmp(got, want, 16) == 0, "%016llx: %.16s", (unsigned long long)v, got);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    }
}
END_TEST

static Suite *str_suite(void)
{
    Suite *s = suite_create("str");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_eq_caseeq);
    tcase_add_test(tc, test_trim);
    tcase_add_test(tc, test_to_u63);
    tcase_add_test(tc, test_list_has);
    tcase_add_test(tc, test_snprintf);
    tcase_add_test(tc, test_u64);
    tcase_add_test(tc, test_hex64);
    tcase_add_test(tc, test_pct_decode);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(str_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
