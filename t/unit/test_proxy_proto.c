/*
 * test_proxy_proto.c - the PROXY protocol parser (server/proxy_proto.c):
 * v1 and v2, good headers, every byte split, and malformed ones.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>

#include "server/proxy_proto.h"

static int parse(const char *s, size_t len, struct gh_pp_result *r)
{
    memset(r, 0x55, sizeof(*r));
    return gh_pp_parse((const uint8_t *)s, len, r);
}

/* Every proper prefix needs more; the whole is the verdict `want`. */
static void all_prefixes(const char *s, size_t len, int want)
{
    struct gh_pp_result r;
    for (size_t i = 0; i < len; i++)
        ck_assert_msg(parse(s, i, &r) == GH_PP_NEED_MORE, "prefix %zu of %zu", i, len);
    ck_assert_int_eq(parse(s, len, &r), want);
}

static void src_is(const struct gh_pp_result *r, int af, const char *ip, int port)
{
    char buf[INET6_ADDRSTRLEN];
    ck_assert_int_eq(r->family, af);
    ck_assert_int_eq(r->src.ss_family, af);
    if (af == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&r->src;
        inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
        ck_assert_int_eq(ntohs(sin->sin_port), port);
    } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&r->src;
        inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
        ck_assert_int_eq(ntohs(sin6->sin6_port), port);
    }
    ck_assert_str_eq(buf, ip);
}

START_TEST(test_v1_good)
{
    struct gh_pp_result r;
    static const char a[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
    ck_assert_int_eq(parse(a, sizeof(a) - 1, &r), GH_PP_DONE);
    ck_assert_uint_eq(r.consumed, strlen("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"));
    ck_assert_int_eq(r.version, 1);
    src_is(&r, AF_INET, "192.0.2.1", 56324);

    static const char b[] = "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n";
    all_prefixes(b, sizeof(b) - 1, GH_PP_DONE);
    ck_assert_int_eq(parse(b, sizeof(b) - 1, &r), GH_PP_DONE);
    src_is(&r, AF_INET6, "2001:db8::1", 65535);

    static const char c[] = "PROXY UNKNOWN\r\n";
    ck_assert_int_eq(parse(c, sizeof(c) - 1, &r), GH_PP_DONE);
    ck_assert_int_eq(r.family, AF_UNSPEC);
    ck_assert_uint_eq(r.consumed, sizeof(c) - 1);
    static const char d[] = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
    ck_assert_int_eq(parse(d, sizeof(d) - 1, &r), GH_PP_DONE);
    ck_assert_int_eq(r.family, AF_UNSPEC);

    /* The longest line: 107 bytes with CRLF. */
    static const char e[] = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    ck_assert_uint_eq(sizeof(e) - 1, GH_PP_V1_MAX);
    ck_assert_int_eq(parse(e, sizeof(e) - 1, &r), GH_PP_DONE);
    ck_assert_uint_eq(r.consumed, GH_PP_V1_MAX);
}
END_TEST

START_TEST(test_v1_bad)
{
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n",
        "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",                  /* a field missing */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",              /* one too many */
        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",               /* two spaces */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",               /* trailing space */
        "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
        "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",               /* leading zero */
        "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",                    /* family mismatch */
        "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
        "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",                  /* bare LF */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",                 /* bare CR */
        "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
        "PROXY\r\n",
        "PROXY \r\n",
        "PROXY UNKNOWNX\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0\r\n",
    };
    struct gh_pp_result r;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = strlen(bad[i]);
        if (i == sizeof(bad) / sizeof(bad[0]) - 1)
            len = sizeof("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0\r\n") - 1;
        ck_assert_msg(parse(bad[i], len, &r) == GH_PP_ERROR, "bad[%zu] %s", i, bad[i]);
    }
    /* Refused at the first wrong byte, without waiting for the end. */
    ck_assert_int_eq(parse("G", 1, &r), GH_PP_ERROR);
    ck_assert_int_eq(parse("PROXX", 5, &r), GH_PP_ERROR);
    ck_assert_int_eq(parse("PROXY TCP4 1.2\x01", 15, &r), GH_PP_ERROR);
    ck_assert_int_eq(parse("", 0, &r), GH_PP_NEED_MORE);
    ck_assert_int_eq(parse("PROX", 4, &r), GH_PP_NEED_MORE);

    /* Too long: 108 bytes without a CRLF in the first 107. */
    char lng[200];
    memset(lng, 'A', sizeof(lng));
    memcpy(lng, "PROXY UNKNOWN ", 14);
    ck_assert_int_eq(parse(lng, GH_PP_V1_MAX - 1, &r), GH_PP_NEED_MORE);
    ck_assert_int_eq(parse(lng, GH_PP_V1_MAX, &r), GH_PP_ERROR);
    ck_assert_int_eq(parse(lng, sizeof(lng), &r), GH_PP_ERROR);
    /* CR as byte 107: the LF would be the 108th. */
    lng[GH_PP_V1_MAX - 1] = '\r';
    lng[GH_PP_V1_MAX] = '\n';
    ck_assert_int_eq(parse(lng, GH_PP_V1_MAX + 1, &r), GH_PP_ERROR);
    /* CR as byte 106, LF 107: fits. */
    lng[GH_PP_V1_MAX - 2] = '\r';
    lng[GH_PP_V1_MAX - 1] = '\n';
    ck_assert_int_eq(parse(lng, GH_PP_V1_MAX, &r), GH_PP_DONE);
}
END_TEST

static const uint8_t sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

/* A v2 header: command, family byte, then alen bytes of addr. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const void *addr, size_t alen)
{
    memcpy(out, sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(alen >> 8);
    out[15] = (uint8_t)alen;
    if (alen > 0)
        memcpy(out + 16, addr, alen);
    return 16 + alen;
}

START_TEST(test_v2_good)
{
    uint8_t buf[8192], a[256];
    struct gh_pp_result r;
    memset(a, 0, sizeof(a));

    /* TCP over IPv4: src 192.0.2.7:4242, then a TLV that is skipped. */
    inet_pton(AF_INET, "192.0.2.7", a);
    inet_pton(AF_INET, "10.0.0.1", a + 4);
    a[8] = 4242 >> 8; a[9] = 4242 & 0xff; a[10] = 0; a[11] = 80;
    a[12] = 0x04; a[13] = 0; a[14] = 3; a[15] = 'a'; a[16] = 'b'; a[17] = 'c';   /* PP2_TYPE_NOOP */
    size_t n = v2(buf, 0x21, 0x11, a, 18);
    memcpy(buf + n, "GET /", 5);
    all_prefixes((const char *)buf, n, GH_PP_DONE);
    ck_assert_int_eq(parse((const char *)buf, n + 5, &r), GH_PP_DONE);
    ck_assert_uint_eq(r.consumed, n);
    ck_assert_int_eq(r.version, 2);
    src_is(&r, AF_INET, "192.0.2.7", 4242);
    ck_assert(!r.ssl);

    /* PP2_TYPE_SSL: the client bit says TLS; clear, or a TLV overrunning the
     * block (the walk stops, the addresses stand), it does not. */
    uint8_t ssl[] = { 0x20, 0, 5, 0x01, 0, 0, 0, 0 };
    memcpy(a + 18, ssl, sizeof(ssl));
    n = v2(buf, 0x21, 0x11, a, 18 + sizeof(ssl));
    ck_assert_int_eq(parse((const char *)buf, n, &r), GH_PP_DONE);
    ck_assert(r.ssl);
    a[21] = 0x00;
    n = v2(buf, 0x21, 0x11, a, 18 + sizeof(ssl));
    ck_assert_int_eq(parse((const char *)buf, n, &r), GH_PP_DONE);
    ck_assert(!r.ssl);
    a[21] = 0x01;
    a[20] = 9;                          /* value length past the block */
    n = v2(buf, 0x21, 0x11, a, 18 + sizeof(ssl));
    ck_assert_int_eq(parse((const char *)buf, n, &r), GH_PP_DONE);
    ck_assert(!r.ssl);
    src_is(&r, AF_INET, "192.0.2.7", 4242);

    /* TCP over IPv6. */
    memset(a, 0, sizeof(a));
    inet_pton(AF_INET6, "2001:db8::42", a);
    inet_pton(AF_INET6, "::1", a + 16);
    a[32] = 0x1f; a[33] = 0x90; a[34] = 0; a[35] = 80;
    n = v2(buf, 0x21, 0x21, a, 36);
    all_prefixes((const char *)buf, n, GH_PP_DONE);
    ck_assert_int_eq(parse((const char *)buf, n, &r), GH_PP_DONE);
    src_is(&r, AF_INET6, "2001:db8::42", 8080);

    /* LOCAL: keep the peer, whatever the family byte says. */
    n = v2(buf, 0x20, 0x00, NULL, 0);
    ck_assert_int_eq(parse((const char *)buf, n, &r), GH_PP_DONE);
    ck_assert_int_eq(r.family, AF_UNSPEC);
    ck_assert_uint_eq(r.consumed, 16);
    n = v2(buf, 0x20, 0xff, a, 7);
    ck_assert_int_eq(parse((const char *)buf, n, &r), GH_PP_DONE);
    ck_assert_int_eq(r.family, AF_UNSPEC);
    ck_assert_uint_eq(r.consumed, 23);

    /* PROXY with UNSPEC, or AF_UNIX: accepted, the peer is kept. */
    n = v2(buf, 0x21, 0x00, NULL, 0);
    ck_assert_int_eq(parse((const char *)buf, n, &r), GH_PP_DONE);
    ck_assert_int_eq(r.family, AF_UNSPEC);
    n = v2(buf, 0x21, 0x31, a, 216);
    ck_assert_int_eq(parse((const char *)buf, n, &r), GH_PP_DONE);
    ck_assert_int_eq(r.family, AF_UNSPEC);
    ck_assert_uint_eq(r.consumed, 232);
    n = v2(buf, 0x21, 0x10, a, 12);     /* INET over an unspecified transport */
    ck_assert_int_eq(parse((const char *)buf, n, &r), GH_PP_DONE);
    ck_assert_int_eq(r.family, AF_UNSPEC);

    /* The largest header taken. */
    static uint8_t big[GH_PP_V2_MAX];
    memset(big, 0, sizeof(big));
    n = v2(buf, 0x21, 0x11, big, GH_PP_V2_MAX - 16);
    ck_assert_int_eq(parse((const char *)buf, n, &r), GH_PP_DONE);
    ck_assert_uint_eq(r.consumed, GH_PP_V2_MAX);
}
END_TEST

START_TEST(test_v2_bad)
{
    uint8_t buf[8192], a[64];
    struct gh_pp_result r;
    memset(a, 0, sizeof(a));

    size_t n = v2(buf, 0x21, 0x11, a, 12);
    for (size_t i = 0; i < 12; i++) {    /* each byte of the signature */
        buf[i] ^= 0x40;
        ck_assert_int_eq(parse((const char *)buf, n, &r), GH_PP_ERROR);
        ck_assert_int_eq(parse((const char *)buf, i + 1, &r), GH_PP_ERROR);
        buf[i] ^= 0x40;
    }
    static const uint8_t vc[] = { 0x11, 0x31, 0x22, 0x2f, 0x01 };
    for (size_t i = 0; i < sizeof(vc); i++) {
        n = v2(buf, vc[i], 0x11, a, 12);
        ck_assert_int_eq(parse((const char *)buf, 13, &r), GH_PP_ERROR);
    }
    static const uint8_t fam[] = { 0x41, 0x12, 0x22, 0x13, 0xf1 };
    for (size_t i = 0; i < sizeof(fam); i++) {
        n = v2(buf, 0x21, fam[i], a, 36);
        ck_assert_msg(parse((const char *)buf, n, &r) == GH_PP_ERROR, "family 0x%02x", fam[i]);
    }
    n = v2(buf, 0x21, 0x11, a, 11);     /* too short for IPv4 */
    ck_assert_int_eq(parse((const char *)buf, n, &r), GH_PP_ERROR);
    n = v2(buf, 0x21, 0x21, a, 35);     /* too short for IPv6 */
    ck_assert_int_eq(parse((const char *)buf, n, &r), GH_PP_ERROR);
    /* Too long: refused as soon as the length is known. */
    n = v2(buf, 0x21, 0x11, a, 12);
    buf[14] = 0xff;
    buf[15] = 0xff;
    ck_assert_int_eq(parse((const char *)buf, 16, &r), GH_PP_ERROR);
    buf[14] = (GH_PP_V2_MAX - 15) >> 8;
    buf[15] = (GH_PP_V2_MAX - 15) & 0xff;
    ck_assert_int_eq(parse((const char *)buf, 16, &r), GH_PP_ERROR);
    /* Truncated: needs more, never done. */
    n = v2(buf, 0x21, 0x11, a, 12);
    ck_assert_int_eq(parse((const char *)buf, n - 1, &r), GH_PP_NEED_MORE);
}
END_TEST

static Suite *pp_suite(void)
{
    Suite *s = suite_create("proxy_proto");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_v1_good);
    tcase_add_test(tc, test_v1_bad);
    tcase_add_test(tc, test_v2_good);
    tcase_add_test(tc, test_v2_bad);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
