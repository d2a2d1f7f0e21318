/*
 * test_realip.c - real_ip (modules/realip.c): parsing one forwarded
 * address, and the walk from the right over trusted proxies.
 */
#include <check.h>
#include <string.h>

#include "modules/realip.h"

static struct gh_acl trusted;

static void trust(const char *cidr)
{
    struct gh_conf_cidr c;
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(gh_parse_cidr(cidr, &c), 0);
    ck_assert_int_eq(gh_acl_add_conf(&trusted, &c, 1), 0);
}

static void setup(void)
{
    gh_acl_init(&trusted);
    trust("10.0.0.0/8");
    trust("127.0.0.1/32");
    trust("2001:db8:cafe::/48");
}

static void teardown(void)
{
    gh_acl_free(&trusted);
}

static const char *parsed(const char *s)
{
    static struct gh_client c;
    memset(&c, 0, sizeof(c));
    if (gh_realip_parse(gh_str_make(s, strlen(s)), &c) == -1)
        return NULL;
    ck_assert(c.has_key);
    return c.text;
}

START_TEST(test_parse)
{
    ck_assert_str_eq(parsed("1.2.3.4"), "1.2.3.4");
    ck_assert_str_eq(parsed("  1.2.3.4\t"), "1.2.3.4");
    ck_assert_str_eq(parsed("1.2.3.4:8080"), "1.2.3.4");
    ck_assert_str_eq(parsed("2001:db8::1"), "2001:db8::1");
    ck_assert_str_eq(parsed("2001:DB8:0::1"), "2001:db8::1");
    ck_assert_str_eq(parsed("[2001:db8::1]"), "2001:db8::1");
    ck_assert_str_eq(parsed("[2001:db8::1]:443"), "2001:db8::1");
    ck_assert_str_eq(parsed("::ffff:1.2.3.4"), "1.2.3.4");   /* the same client as 1.2.3.4 */
    static const char *const bad[] = {
        "", " ", "unknown", "1.2.3", "1.2.3.256", "01.2.3.4", "1.2.3.4:", "1.2.3.4:65536",
        "1.2.3.4:x", "1.2.3.4 5.6.7.8", "[1.2.3.4]", "[::1", "[::1]x", "[::1]:", "::1]",
        "fe80::1%eth0", "_hidden", "1.2.3.4;", "\"1.2.3.4\"",
        "1111:2222:3333:4444:5555:6666:7777:8888:9999",
        "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255.1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(parsed(bad[i]) == NULL, "accepted '%s'", bad[i]);
}
END_TEST

#define H(n, v) { { n, sizeof(n) - 1 }, { v, sizeof(v) - 1 } }

static const char *walk(const struct gh_http_header *h, size_t n, const char *name)
{
    static struct gh_client c;
    memset(&c, 0, sizeof(c));
    if (!gh_realip_walk(&trusted, h, n, gh_str_make(name, strlen(name)), &c))
        return NULL;
    return c.text;
}

START_TEST(test_walk)
{
    const struct gh_http_header a[] = { H("X-Forwarded-For", "1.2.3.4, 10.0.0.5") };
    ck_assert_str_eq(walk(a, 1, "X-Forwarded-For"), "1.2.3.4");
    ck_assert_str_eq(walk(a, 1, "x-forwarded-for"), "1.2.3.4");
    ck_assert_ptr_null(walk(a, 1, "X-Real-IP"));

    /* The client's own (forged) entries on the left are never reached. */
    const struct gh_http_header b[] = { H("X-Forwarded-For", "6.6.6.6, 5.5.5.5,1.2.3.4") };
    ck_assert_str_eq(walk(b, 1, "X-Forwarded-For"), "1.2.3.4");

    /* Several lines are one list, in order. */
    const struct gh_http_header c[] = {
        H("X-Forwarded-For", "6.6.6.6"), H("Host", "x"),
        H("X-Forwarded-For", "9.9.9.9, 10.1.1.1"), H("X-Forwarded-For", "127.0.0.1"),
    };
    ck_assert_str_eq(walk(c, 4, "X-Forwarded-For"), "9.9.9.9");
    const struct gh_http_header d[] = {
        H("X-Forwarded-For", "6.6.6.6"), H("X-Forwarded-For", "10.1.1.1"),
    };
    ck_assert_str_eq(walk(d, 2, "X-Forwarded-For"), "6.6.6.6");

    /* Every entry trusted: the leftmost. */
    const struct gh_http_header e[] = { H("X-Forwarded-For", "10.9.9.9, 10.0.0.1") };
    ck_assert_str_eq(walk(e, 1, "X-Forwarded-For"), "10.9.9.9");

    /* Garbage stops the walk: the last good (trusted) address, or none. */
    const struct gh_http_header f[] = { H("X-Forwarded-For", "1.2.3.4, evil, 10.0.0.2") };
    ck_assert_str_eq(walk(f, 1, "X-Forwarded-For"), "10.0.0.2");
    const struct gh_http_header g[] = { H("X-Forwarded-For", "1.2.3.4, <script>") };
    ck_assert_ptr_null(walk(g, 1, "X-Forwarded-For"));
    const struct gh_http_header g2[] = { H("X-Forwarded-For", "1.2.3.4,") };
    ck_assert_ptr_null(walk(g2, 1, "X-Forwarded-For"));
    const struct gh_http_header g3[] = { H("X-Forwarded-For", "") };
    ck_assert_ptr_null(walk(g3, 1, "X-Forwarded-For"));

    /* An untrusted entry stops it even with more on the left. */
    const struct gh_http_header h[] = { H("X-Forwarded-For", "junk, 8.8.8.8, 10.0.0.3") };
    ck_assert_str_eq(walk(h, 1, "X-Forwarded-For"), "8.8.8.8");

    /* IPv6, brackets, ports; v4-mapped trusted like IPv4. */
    const struct gh_http_header i[] = {
        H("X-Forwarded-For", "[2001:db8::7]:1234, 2001:db8:cafe::1, ::ffff:10.2.3.4, 10.0.0.1:80"),
    };
    ck_assert_str_eq(walk(i, 1, "X-Forwarded-For"), "2001:db8::7");

    /* X-Real-IP: one value. */
    const struct gh_http_header j[] = { H("X-Real-IP", "203.0.113.9") };
    ck_assert_str_eq(walk(j, 1, "X-Real-IP"), "203.0.113.9");
}
END_TEST

static Suite *realip_suite(void)
{
    Suite *s = suite_create("realip");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_walk);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(realip_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
