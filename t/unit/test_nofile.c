/*
 * test_nofile.c - common/nofile.c: the descriptors a worker needs and the
 * max_connections derived from the hard RLIMIT_NOFILE when the
 * configuration does not set it (common/conf.c, -T in common/conf_dump.c).
 */
#include "conf_fixture.h"

#include "common/nofile.h"

START_TEST(test_need)
{
    /* The figure of issue 17: 10,000 connections and one listener. */
    ck_assert_uint_eq(gh_nofile_need(10000, 1), 20128);
    ck_assert_uint_eq(gh_nofile_need(10000, 2), 20192);
    ck_assert_uint_eq(gh_nofile_need(0, 1), 128);
    ck_assert_uint_eq(gh_nofile_need(1, 0), 66);
}
END_TEST

START_TEST(test_derive)
{
    ck_assert_int_eq(gh_nofile_max_connections(RLIM_INFINITY, 1), 10000);
    ck_assert_int_eq(gh_nofile_max_connections(1048576, 1), 10000);
    ck_assert_int_eq(gh_nofile_max_connections(20128, 1), 10000);   /* just fits */
    ck_assert_int_eq(gh_nofile_max_connections(20127, 1), 9999);
    ck_assert_int_eq(gh_nofile_max_connections(20000, 1), 9936);    /* (20000 - 128) / 2 */
    ck_assert_int_eq(gh_nofile_max_connections(20000, 3), 9872);
    ck_assert_int_eq(gh_nofile_max_connections(1024, 1), 448);
    /* Too few for even one: one, never 0 or negative. */
    ck_assert_int_eq(gh_nofile_max_connections(130, 1), 1);
    ck_assert_int_eq(gh_nofile_max_connections(64, 1), 1);
    ck_assert_int_eq(gh_nofile_max_connections(0, 1), 1);
    ck_assert_int_eq(gh_nofile_max_connections(20000, 400), 1);
}
END_TEST

/* Whatever the limit, the derived value's need fits it (above the floor). */
START_TEST(test_derived_fits)
{
    for (rlim_t lim = 131; lim < 40000; lim += 7) {
        for (size_t nl = 1; nl <= 4; nl++) {
            int n = gh_nofile_max_connections(lim, nl);
            if (gh_nofile_need(1, nl) > lim)
                continue;
            ck_assert_uint_le(gh_nofile_need(n, nl), lim);
            ck_assert(n == 10000 || gh_nofile_need(n + 1, nl) > lim);
        }
    }
}
END_TEST

/* Runs in its own process (CK_FORK): lower the hard limit to 20,000. */
static void lower_hard_limit(rlim_t hard)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < hard)
        hard = rl.rlim_max;
    rl.rlim_max = hard;
    if (rl.rlim_cur > hard)
        rl.rlim_cur = hard;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

START_TEST(test_conf_default_derived)
{
    lower_hard_limit(20000);
    rlim_t hard = gh_nofile_hard_limit();
    struct gh_conf *c = load(LISTEN);
    ck_assert_msg(c != NULL, "%s", errbuf);
    ck_assert(c->limits.max_connections_auto);
    ck_assert_int_eq(c->limits.max_connections, gh_nofile_max_connections(hard, 1));
    if (hard == 20000)
        ck_assert_int_eq(c->limits.max_connections, 9936);
    gh_conf_free(c);

    /* Listeners count; "auto" written out is the same as absent. */
    c = load("listen = ( { address = \"127.0.0.1:0\"; }, { address = \"127.0.0.1:0\"; } );\n"
             "limits = { max_connections = \"auto\"; };\n");
    ck_assert_msg(c != NULL, "%s", errbuf);
    ck_assert(c->limits.max_connections_auto);
    ck_assert_int_eq(c->limits.max_connections, gh_nofile_max_connections(hard, 2));
    gh_conf_free(c);

    /* A value that is set is kept as set, fitting or not (the master warns). */
    c = load(LISTEN "limits = { max_connections = 10000; };\n");
    ck_assert_msg(c != NULL, "%s", errbuf);
    ck_assert(!c->limits.max_connections_auto);
    ck_assert_int_eq(c->limits.max_connections, 10000);
    gh_conf_free(c);
}
END_TEST

/* -T output of a configuration (malloc'd). */
static char *dump(const char *text)
{
    char *out = NULL;
    size_t len;
    struct gh_conf *c = load(text);
    ck_assert_msg(c != NULL, "%s", errbuf);
    FILE *f = open_memstream(&out, &len);
    ck_assert_ptr_nonnull(f);
    gh_conf_dump(c, f);
    ck_assert_int_eq(fclose(f), 0);
    gh_conf_free(c);
    return out;
}

START_TEST(test_conf_dump_shows_derived)
{
    char want[128];

    lower_hard_limit(20000);
    char *out = dump(LISTEN);
    snprintf(want, sizeof(want), "\n  max_connections = \"auto\";   # %d here",
             gh_nofile_max_connections(gh_nofile_hard_limit(), 1));
    ck_assert_msg(strstr(out, want) != NULL, "%s not in\n%s", want, out);
    free(out);

    out = dump(LISTEN "limits = { max_connections = 500; };\n");
    ck_assert_ptr_nonnull(strstr(out, "\n  max_connections = 500;\n"));
    free(out);
}
END_TEST

START_TEST(test_conf_errors)
{
    EXPECT(LISTEN "limits = { max_connections = \"many\"; };\n",
           "2: 'limits.max_connections' must be a number from 1 to 10000000, or \"auto\"");
    EXPECT(LISTEN "limits = { max_connections = true; };\n",
           "2: 'limits.max_connections' must be a number from 1 to 10000000, or \"auto\"");
    EXPECT(LISTEN "limits = { max_connections = 0; };\n",
           "2: 'limits.max_connections' must be between 1 and 10000000");
}
END_TEST

static Suite *nofile_suite(void)
{
    Suite *s = suite_create("nofile");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_need);
    tcase_add_test(tc, test_derive);
    tcase_add_test(tc, test_derived_fits);
    suite_add_tcase(s, tc);
    tc = tcase_create("conf");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_conf_default_derived);
    tcase_add_test(tc, test_conf_dump_shows_derived);
    tcase_add_test(tc, test_conf_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(nofile_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
