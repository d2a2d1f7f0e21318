/*
 * test_minrate.c - the min_client_rate clock (common/minrate.h): stretches
 * add up, a stopped clock does not run, the deadline moves with the bytes,
 * and huge byte counts saturate instead of overflowing.
 */
#include <check.h>
#include <stdlib.h>

#include "common/minrate.h"

START_TEST(test_stretches)
{
    struct gh_minrate m = { 0 };
    ck_assert_int_eq(gh_minrate_waited(&m, 1000), 0);
    gh_minrate_start(&m, 1000);
    gh_minrate_start(&m, 1500);                 /* already running: no restart */
    ck_assert_int_eq(gh_minrate_waited(&m, 1700), 700);
    gh_minrate_stop(&m, 2000);
    gh_minrate_stop(&m, 2500);                  /* already stopped: nothing */
    ck_assert_int_eq(gh_minrate_waited(&m, 9000), 1000);   /* the upstream's time */
    gh_minrate_start(&m, 9000);
    ck_assert_int_eq(gh_minrate_waited(&m, 9400), 1400);
}
END_TEST

START_TEST(test_deadline)
{
    struct gh_minrate m = { 0 };
    gh_minrate_start(&m, 10000);
    /* No bytes: the grace alone. */
    ck_assert_int_eq(gh_minrate_deadline(&m, 5000, 0, 1024), 15000);
    /* 1024 bytes at 1024 B/s buy one more second. */
    ck_assert_int_eq(gh_minrate_deadline(&m, 5000, 1024, 1024), 16000);
    /* Earlier stretches are used up from the allowance. */
    gh_minrate_stop(&m, 12000);
    gh_minrate_start(&m, 20000);
    ck_assert_int_eq(gh_minrate_deadline(&m, 5000, 1024, 1024), 24000);
    /* A client far behind: a deadline in the past (fires at once). */
    gh_minrate_stop(&m, 40000);
    gh_minrate_start(&m, 40000);
    ck_assert_int_lt(gh_minrate_deadline(&m, 5000, 100, 1024), 40000);
}
END_TEST

START_TEST(test_trickle)
{
    /* 100 B/s against 1k/s with a 5 s grace: behind after 5 / 0.9 s. */
    struct gh_minrate m = { 0 };
    gh_minrate_start(&m, 0);
    gh_msec_t now = 0;
    uint64_t bytes = 0;
    while (gh_minrate_deadline(&m, 5000, bytes, 1000) > now) {
        now += 500;
        bytes += 50;
    }
    ck_assert_int_ge(now, 5500);
    ck_assert_int_le(now, 6000);
}
END_TEST

START_TEST(test_saturates)
{
    struct gh_minrate m = { 0 };
    gh_minrate_start(&m, 1);
    gh_msec_t d = gh_minrate_deadline(&m, 5000, UINT64_MAX, 1);
    ck_assert_int_gt(d, (gh_msec_t)1 << 39);
    d = gh_minrate_deadline(&m, 5000, UINT64_MAX / 999, 1000);
    ck_assert_int_gt(d, (gh_msec_t)1 << 39);
}
END_TEST

static Suite *minrate_suite(void)
{
    Suite *s = suite_create("minrate");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_stretches);
    tcase_add_test(tc, test_deadline);
    tcase_add_test(tc, test_trickle);
    tcase_add_test(tc, test_saturates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(minrate_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
