/*
 * test_compress_accept.c - the Accept-Encoding parser and the choice of a
 * coding (modules/compress_accept.c).
 */
#include <check.h>
#include <string.h>

#include "modules/compress.h"

#define ALL ((1u << GH_CODING_ZSTD) | (1u << GH_CODING_BR) | (1u << GH_CODING_GZIP))
#define GZ (1u << GH_CODING_GZIP)
#define BR (1u << GH_CODING_BR)

static struct gh_accept_encoding parse(const char *s)
{
    struct gh_accept_encoding ae;
    gh_accept_encoding_init(&ae);
    gh_accept_encoding_parse(&ae, s, strlen(s));
    return ae;
}

START_TEST(test_weights)
{
    struct gh_accept_encoding ae = parse("gzip;q=0.5, br ; Q=0.25 ,zstd;q=1.000, identity;q=0");
    ck_assert_int_eq(ae.q[GH_CODING_GZIP], 500);
    ck_assert_int_eq(ae.q[GH_CODING_BR], 250);
    ck_assert_int_eq(ae.q[GH_CODING_ZSTD], 1000);
    ck_assert_int_eq(ae.q[GH_CODING_IDENTITY], 0);
    ck_assert_int_eq(ae.q[GH_CODING_ANY], -1);
    ae = parse("x-gzip;q=0.001, *;q=0.9, deflate");
    ck_assert_int_eq(ae.q[GH_CODING_GZIP], 1);
    ck_assert_int_eq(ae.q[GH_CODING_ANY], 900);
    /* named twice: the lower weight */
    ae = parse("gzip, gzip;q=0.3, gzip;q=0.7");
    ck_assert_int_eq(ae.q[GH_CODING_GZIP], 300);
    /* bad qvalues and elements are ignored */
    static const char *const bad[] = { "gzip;q=1.1", "gzip;q=2", "gzip;q=0.1234", "gzip;q=",
        "gzip;q=.5", "gzip;q=-0", "gzip;q=0.5x", "gzip x", "gzip;;q=0.5 y", "gzipx", "gz ip",
        "gzip;q=0,5" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ae = parse(bad[i]);
        ck_assert_msg(ae.q[GH_CODING_GZIP] == -1 || strcmp(bad[i], "gzip;q=0,5") == 0,
                      "%s gave %d", bad[i], ae.q[GH_CODING_GZIP]);
    }
    ck_assert_int_eq(parse("gzip;q=0,5").q[GH_CODING_GZIP], 0);
    /* other parameters are ignored; q may come after them */
    ck_assert_int_eq(parse("br;level=4;q=0.6").q[GH_CODING_BR], 600);
    ck_assert_int_eq(parse(" , ,, br,").q[GH_CODING_BR], 1000);
}
END_TEST

START_TEST(test_choose)
{
    static const struct {
        const char *ae;
        unsigned enabled;
        int want;
    } cases[] = {
        { "gzip, br, zstd", ALL, GH_CODING_ZSTD },
        { "gzip, br", ALL, GH_CODING_BR },
        { "gzip, br, zstd", GZ | BR, GH_CODING_BR },
        { "zstd", GZ | BR, -1 },
        { "*", ALL, GH_CODING_ZSTD },
        { "*", GZ, GH_CODING_GZIP },
        { "*;q=0", ALL, -1 },
        { "gzip;q=0, *", GZ, -1 },
        { "gzip;q=0.9, *;q=0.5", ALL, GH_CODING_GZIP },
        { "zstd;q=0.5, br;q=0.8, gzip", ALL, GH_CODING_GZIP },
        { "gzip;q=0.2, identity;q=0.3", ALL, -1 },
        { "gzip;q=0.2, identity;q=0.2", ALL, GH_CODING_GZIP },
        { "gzip;q=0.2", ALL, GH_CODING_GZIP },      /* identity unnamed: no preference */
        { "gzip;q=0.2, *;q=0.5", GZ, -1 },          /* * names identity 0.5 */
        { "", ALL, -1 },
        { "identity", ALL, -1 },
        { "gzip", 0, -1 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gh_accept_encoding ae = parse(cases[i].ae);
        ck_assert_msg(gh_accept_encoding_choose(&ae, cases[i].enabled) == cases[i].want,
                      "'%s' (enabled %x): got %d, want %d", cases[i].ae, cases[i].enabled,
                      gh_accept_encoding_choose(&ae, cases[i].enabled), cases[i].want);
    }
}
END_TEST

START_TEST(test_fields_combine)
{
    struct gh_accept_encoding ae;
    gh_accept_encoding_init(&ae);
    gh_accept_encoding_parse(&ae, "gzip;q=0.5", 10);
    gh_accept_encoding_parse(&ae, "br;q=0.7, gzip;q=0.9", 20);
    ck_assert_int_eq(ae.q[GH_CODING_GZIP], 500);
    ck_assert_int_eq(gh_accept_encoding_choose(&ae, ALL), GH_CODING_BR);
    /* a length that cuts the value: nothing beyond it is read */
    gh_accept_encoding_init(&ae);
    gh_accept_encoding_parse(&ae, "zstd;q=0.5", 7);
    ck_assert_int_eq(ae.q[GH_CODING_ZSTD], -1);    /* "zstd;q=": a bad qvalue */
    gh_accept_encoding_parse(&ae, "br;q=0.5", 6);
    ck_assert_int_eq(ae.q[GH_CODING_BR], 0);       /* "br;q=0." is a qvalue (0) */
}
END_TEST

static Suite *accept_suite(void)
{
    Suite *s = suite_create("compress_accept");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_weights);
    tcase_add_test(tc, test_choose);
    tcase_add_test(tc, test_fields_combine);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(accept_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
