/*
 * test_conf_units.c - the value syntaxes of common/conf_units.c:
 * durations, sizes, socket addresses and CIDRs.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "common/conf.h"

START_TEST(test_duration_good)
{
    static const struct { const char *s; gh_msec_t ms; } t[] = {
        { "500ms", 500 }, { "10s", 10000 }, { "2m", 120000 }, { "1h", 3600000 },
        { "1d", 86400000 }, { "0", 0 }, { "0s", 0 }, { "30", 30000 },
        { "1.5", 1500 }, { "0.25s", 250 }, { "1.5m", 90000 }, { "007s", 7000 },
        { "0ms", 0 },
    };
    size_t i;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        gh_msec_t v = -1;
        ck_assert_msg(gh_parse_duration(t[i].s, &v) == 0, "%s", t[i].s);
        ck_assert_msg(v == t[i].ms, "%s -> %lld", t[i].s, (long long)v);
    }
}
END_TEST

START_TEST(test_duration_bad)
{
    static const char *const t[] = {
        "10x", "-1s", "", "1.5.2s", "s", ".5s", "1.s", " 1s", "1s ", "1 s", "+1s",
        "1e3", "0x10", "inf", "nan", "10S", "1sec", "99999999999999999999999h",
        "1000000000000000000000000000000000000000000000000000000000000000000000d",
    };
    size_t i;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        gh_msec_t v = 42;
        ck_assert_msg(gh_parse_duration(t[i], &v) == -1, "'%s' accepted", t[i]);
        ck_assert_int_eq(v, 42);
    }
    ck_assert_int_eq(gh_parse_duration(NULL, &(gh_msec_t){ 0 }), -1);
}
END_TEST

START_TEST(test_size_good)
{
    static const struct { const char *s; size_t v; } t[] = {
        { "0", 0 }, { "1024", 1024 }, { "16k", 16384 }, { "16K", 16384 },
        { "10M", 10485760 }, { "10m", 10485760 }, { "1G", 1073741824 },
        { "1g", 1073741824 }, { "0k", 0 },
    };
    size_t i;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t v = 1;
        ck_assert_msg(gh_parse_size(t[i].s, &v) == 0, "%s", t[i].s);
        ck_assert_msg(v == t[i].v, "%s -> %zu", t[i].s, v);
    }
}
END_TEST

START_TEST(test_size_bad)
{
    static const char *const t[] = {
        "10x", "-1", "", "1.5k", "k", "16kb", " 16k", "16 k", "1T",
        "99999999999999999999999", "18446744073709551615k", "17179869184G",
    };
    size_t i;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t v = 42;
        ck_assert_msg(gh_parse_size(t[i], &v) == -1, "'%s' accepted", t[i]);
        ck_assert_uint_eq(v, 42);
    }
}
END_TEST

START_TEST(test_addr_v4)
{
    struct gh_conf_addr a;
    struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;
    char err[128];

    ck_assert_int_eq(gh_parse_addr("0.0.0.0:8080", false, &a, err, sizeof(err)), 0);
    ck_assert_int_eq(a.kind, GH_ADDR_INET);
    ck_assert_int_eq(sin->sin_family, AF_INET);
    ck_assert_int_eq(ntohs(sin->sin_port), 8080);
    ck_assert_int_eq(a.port, 8080);
    ck_assert_uint_eq(a.salen, sizeof(struct sockaddr_in));
    ck_assert_str_eq(a.text, "0.0.0.0:8080");
    ck_assert_ptr_null(a.host);
    gh_conf_addr_release(&a);
    ck_assert_ptr_null(a.text);

    ck_assert_int_eq(gh_parse_addr("127.0.0.1:0", false, &a, err, sizeof(err)), 0);
    ck_assert_int_eq(a.port, 0);
    ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0x7f000001);
    gh_conf_addr_release(&a);
}
END_TEST

START_TEST(test_addr_v6)
{
    struct gh_conf_addr a;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.sa;
    char err[128];

    ck_assert_int_eq(gh_parse_addr("[::]:8443", false, &a, err, sizeof(err)), 0);
    ck_assert_int_eq(sin6->sin6_family, AF_INET6);
    ck_assert_int_eq(ntohs(sin6->sin6_port), 8443);
    ck_assert(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
    ck_assert_uint_eq(a.salen, sizeof(struct sockaddr_in6));
    gh_conf_addr_release(&a);
    ck_assert_int_eq(gh_parse_addr("[::1]:1", false, &a, err, sizeof(err)), 0);
    ck_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
    gh_conf_addr_release(&a);
}
END_TEST

START_TEST(test_addr_unix)
{
    struct gh_conf_addr a;
    struct sockaddr_un *sun = (struct sockaddr_un *)&a.sa;
    char err[128], longp[200];

    ck_assert_int_eq(gh_parse_addr("unix:/run/app.sock", false, &a, err, sizeof(err)), 0);
    ck_assert_int_eq(a.kind, GH_ADDR_UNIX);
    ck_assert_int_eq(sun->sun_family, AF_UNIX);
    ck_assert_str_eq(sun->sun_path, "/run/app.sock");
    ck_assert_int_eq(a.port, 0);
    gh_conf_addr_release(&a);

    ck_assert_int_eq(gh_parse_addr("unix:run/app.sock", false, &a, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "unix socket path must be absolute");
    memset(longp, 'a', sizeof(longp));
    memcpy(longp, "unix:/", 6);
    longp[sizeof(longp) - 1] = '\0';
    ck_assert_int_eq(gh_parse_addr(longp, false, &a, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "unix socket path is too long");
}
END_TEST

START_TEST(test_addr_name)
{
    struct gh_conf_addr a;
    char err[160];

    ck_assert_int_eq(gh_parse_addr("localhost:8080", false, &a, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "'localhost' is not an IP address (host names are not allowed here)");
    ck_assert_int_eq(gh_parse_addr("localhost:8080", true, &a, err, sizeof(err)), 0);
    ck_assert_int_eq(a.kind, GH_ADDR_NAME);
    ck_assert_str_eq(a.host, "localhost");
    ck_assert_int_eq(a.port, 8080);
    ck_assert(a.sa.ss_family == AF_INET || a.sa.ss_family == AF_INET6);
    gh_conf_addr_release(&a);

    ck_assert_int_eq(gh_parse_addr("no-such-host.invalid:80", true, &a, err, sizeof(err)), -1);
    ck_assert_msg(strncmp(err, "cannot resolve 'no-such-host.invalid': ", 39) == 0, "%s", err);
    ck_assert_int_eq(gh_parse_addr("bad/name:80", true, &a, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "bad host name in 'bad/name:80'");
}
END_TEST

START_TEST(test_addr_bad)
{
    static const struct { const char *s, *err; } t[] = {
        { "", "empty address" },
        { "127.0.0.1", "missing port in '127.0.0.1'" },
        { "127.0.0.1:", "bad port in '127.0.0.1:'" },
        { "127.0.0.1:65536", "bad port in '127.0.0.1:65536'" },
        { "127.0.0.1:123456", "bad port in '127.0.0.1:123456'" },
        { "127.0.0.1:-1", "bad port in '127.0.0.1:-1'" },
        { "127.0.0.1:80x", "bad port in '127.0.0.1:80x'" },
        { ":80", "missing host in ':80'" },
        { "::1:80", "IPv6 address needs brackets in '::1:80' (e.g. \"[::1]:8080\")" },
        { "[::1]", "missing port in '[::1]'" },
        { "[::1:80", "missing ']' in '[::1:80'" },
        { "[1.2.3.4]:80", "bad IPv6 address in '[1.2.3.4]:80'" },
        { "1.2.3.256:80", "'1.2.3.256' is not an IP address (host names are not allowed here)" },
    };
    struct gh_conf_addr a;
    char err[160];
    size_t i;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        ck_assert_msg(gh_parse_addr(t[i].s, false, &a, err, sizeof(err)) == -1, "%s", t[i].s);
        ck_assert_str_eq(err, t[i].err);
        ck_assert_ptr_null(a.text);
    }
}
END_TEST

static void check_cidr(const char *s, int rc, int family, int plen, const char *net)
{
    struct gh_conf_cidr c;
    char buf[INET6_ADDRSTRLEN];

    memset(&c, 0, sizeof(c));
    ck_assert_msg(gh_parse_cidr(s, &c) == rc, "%s", s);
    if (rc == -1)
        return;
    ck_assert_int_eq(c.family, family);
    ck_assert_int_eq(c.prefix_len, plen);
    ck_assert_ptr_nonnull(inet_ntop(family, c.addr, buf, sizeof(buf)));
    ck_assert_str_eq(buf, net);
}

START_TEST(test_cidr)
{
    check_cidr("10.0.0.0/8", 0, AF_INET, 8, "10.0.0.0");
    check_cidr("192.168.1.7", 0, AF_INET, 32, "192.168.1.7");
    check_cidr("192.168.1.7/32", 0, AF_INET, 32, "192.168.1.7");
    check_cidr("0.0.0.0/0", 0, AF_INET, 0, "0.0.0.0");
    check_cidr("::/0", 0, AF_INET6, 0, "::");
    check_cidr("::1", 0, AF_INET6, 128, "::1");
    check_cidr("::1/128", 0, AF_INET6, 128, "::1");
    check_cidr("2001:db8::/32", 0, AF_INET6, 32, "2001:db8::");
    check_cidr("10.1.2.0/23", 0, AF_INET, 23, "10.1.2.0");
    check_cidr("10.1.3.0/23", -2, AF_INET, 23, "10.1.2.0");
    /* host bits set: -2, and the normalized network is filled in */
    check_cidr("10.0.0.1/8", -2, AF_INET, 8, "10.0.0.0");
    check_cidr("1.2.3.4/0", -2, AF_INET, 0, "0.0.0.0");
    check_cidr("2001:db8::1/32", -2, AF_INET6, 32, "2001:db8::");
    check_cidr("10.0.0.0/33", -1, 0, 0, NULL);
    check_cidr("::/129", -1, 0, 0, NULL);
    check_cidr("10.0.0.0/", -1, 0, 0, NULL);
    check_cidr("10.0.0.0/-1", -1, 0, 0, NULL);
    check_cidr("10.0.0.0/08", -1, 0, 0, NULL);
    check_cidr("10.0.0.0/8x", -1, 0, 0, NULL);
    check_cidr("10.0.0/8", -1, 0, 0, NULL);
    check_cidr("/8", -1, 0, 0, NULL);
    check_cidr("", -1, 0, 0, NULL);
    check_cidr("example.com/8", -1, 0, 0, NULL);
}
END_TEST

static Suite *units_suite(void)
{
    Suite *s = suite_create("conf_units");
    TCase *tc = tcase_create("units");

    tcase_add_test(tc, test_duration_good);
    tcase_add_test(tc, test_duration_bad);
    tcase_add_test(tc, test_size_good);
    tcase_add_test(tc, test_size_bad);
    tcase_add_test(tc, test_addr_v4);
    tcase_add_test(tc, test_addr_v6);
    tcase_add_test(tc, test_addr_unix);
    tcase_add_test(tc, test_addr_name);
    tcase_add_test(tc, test_addr_bad);
    tcase_add_test(tc, test_cidr);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(units_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
