/*
 * test_listen.c - address text (server/listen.c): gh_sockaddr_host formats
 * IPv4 by hand, so it is checked against inet_ntop.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/listen.h"

START_TEST(test_host_ipv4_as_inet_ntop)
{
    static const uint32_t fixed[] = { 0, 0xffffffffu, 0x7f000001u, 0x0a00ff09u, 0x01020304u,
                                      0xc0a80064u, 0x646464ffu };
    unsigned seed = 7;
    char got[48], want[INET_ADDRSTRLEN];

    for (int i = 0; i < 100000; i++) {
        struct sockaddr_storage ss;
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        memset(&ss, 0, sizeof(ss));
        sin->sin_family = AF_INET;
        uint32_t a = i < 7 ? fixed[i] : (uint32_t)rand_r(&seed) << 16 ^ (uint32_t)rand_r(&seed);
        sin->sin_addr.s_addr = htonl(a);
        ck_assert_ptr_eq(gh_sockaddr_host(&ss, got, sizeof(got)), got);
        ck_assert_ptr_nonnull(inet_ntop(AF_INET, &sin->sin_addr, want, sizeof(want)));
        ck_assert_str_eq(got, want);
    }
}
END_TEST

START_TEST(test_host_ipv6_and_unix)
{
    struct sockaddr_storage ss;
    char got[48];

    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::1", &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
    ck_assert_str_eq(gh_sockaddr_host(&ss, got, sizeof(got)), "2001:db8::1");
    ss.ss_family = AF_UNIX;
    ck_assert_str_eq(gh_sockaddr_host(&ss, got, sizeof(got)), "unix:");
}
END_TEST

static Suite *listen_suite(void)
{
    Suite *s = suite_create("listen");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);      /* 100,000 addresses under ASan on a loaded machine */
    tcase_add_test(tc, test_host_ipv4_as_inet_ntop);
    tcase_add_test(tc, test_host_ipv6_and_unix);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(listen_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
