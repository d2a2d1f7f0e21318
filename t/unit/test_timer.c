/*
 * test_timer.c - the timer heap (common/timer.c): ordering, cancel, moving
 * an armed timer, re-arming and cancelling from callbacks, and 10,000
 * random timers.
 */
#include <check.h>
#include <stdlib.h>

#include "common/timer.h"

static struct gh_timer_heap heap;
static int order[16];
static int norder;

static void setup(void)
{
    ck_assert_int_eq(gh_timer_heap_init(&heap), 0);
    norder = 0;
}

static void teardown(void)
{
    gh_timer_heap_free(&heap);
}

static void record(struct gh_timer *t)
{
    if (norder < (int)GH_ARRAY_LEN(order))
        order[norder++] = (int)(intptr_t)t->data;
}

START_TEST(test_order)
{
    struct gh_timer t[5];
    const gh_msec_t when[5] = { 50, 10, 40, 20, 30 };

    for (int i = 0; i < 5; i++) {
        gh_timer_init(&t[i], record, (void *)(intptr_t)i);
        ck_assert(!gh_timer_armed(&t[i]));
        ck_assert_int_eq(gh_timer_set(&heap, &t[i], when[i]), 0);
        ck_assert(gh_timer_armed(&t[i]));
    }
    ck_assert_int_eq(gh_timer_next(&heap, 0), 10);
    ck_assert_int_eq(gh_timer_next(&heap, 15), 0);
    ck_assert_uint_eq(gh_timer_run(&heap, 9), 0);
    ck_assert_uint_eq(gh_timer_run(&heap, 30), 3);
    ck_assert_int_eq(norder, 3);
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(order[1], 3);
    ck_assert_int_eq(order[2], 4);
    ck_assert(!gh_timer_armed(&t[1]));
    ck_assert(gh_timer_armed(&t[0]));
    ck_assert_uint_eq(gh_timer_run(&heap, 1000), 2);
    ck_assert_int_eq(order[3], 2);
    ck_assert_int_eq(order[4], 0);
    ck_assert_int_eq(gh_timer_next(&heap, 0), -1);
}
END_TEST

/* gh_timer_run_max: at most max callbacks, earliest first; the rest stay
 * armed and due, and fire on the next calls. */
START_TEST(test_run_max)
{
    struct gh_timer t[5];
    const gh_msec_t when[5] = { 50, 10, 40, 20, 30 };

    for (int i = 0; i < 5; i++) {
        gh_timer_init(&t[i], record, (void *)(intptr_t)i);
        ck_assert_int_eq(gh_timer_set(&heap, &t[i], when[i]), 0);
    }
    ck_assert_uint_eq(gh_timer_run_max(&heap, 100, 2), 2);
    ck_assert_int_eq(norder, 2);
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(order[1], 3);
    ck_assert_int_eq(gh_timer_next(&heap, 100), 0);     /* still due */
    ck_assert(gh_timer_armed(&t[4]));
    ck_assert_uint_eq(gh_timer_run_max(&heap, 100, 0), 0);
    ck_assert_uint_eq(gh_timer_run_max(&heap, 100, 2), 2);
    ck_assert_int_eq(order[2], 4);
    ck_assert_int_eq(order[3], 2);
    ck_assert_uint_eq(gh_timer_run_max(&heap, 100, 2), 1);
    ck_assert_int_eq(order[4], 0);
    ck_assert_int_eq(gh_timer_next(&heap, 100), -1);
}
END_TEST

START_TEST(test_cancel_and_move)
{
    struct gh_timer t[4];

    for (int i = 0; i < 4; i++) {
        gh_timer_init(&t[i], record, (void *)(intptr_t)i);
        ck_assert_int_eq(gh_timer_set(&heap, &t[i], 10 * (i + 1)), 0);
    }
    gh_timer_cancel(&heap, &t[0]);
    gh_timer_cancel(&heap, &t[0]);      /* harmless twice */
    ck_assert(!gh_timer_armed(&t[0]));
    ck_assert_int_eq(gh_timer_set(&heap, &t[3], 5), 0);   /* earlier */
    ck_assert_int_eq(gh_timer_set(&heap, &t[1], 100), 0); /* later */
    ck_assert_uint_eq(heap.n, 3);
    ck_assert_uint_eq(gh_timer_run(&heap, 1000), 3);
    ck_assert_int_eq(norder, 3);
    ck_assert_int_eq(order[0], 3);
    ck_assert_int_eq(order[1], 2);
    ck_assert_int_eq(order[2], 1);
}
END_TEST

static int rearm_count;

static void rearm_self(struct gh_timer *t)
{
    rearm_count++;
    if (rearm_count < 3)
        ck_assert_int_eq(gh_timer_set(&heap, t, t->when + 10), 0);
}

START_TEST(test_rearm_in_callback)
{
    struct gh_timer t;

    rearm_count = 0;
    gh_timer_init(&t, rearm_self, NULL);
    gh_timer_set(&heap, &t, 10);
    ck_assert_uint_eq(gh_timer_run(&heap, 10), 1);
    ck_assert(gh_timer_armed(&t));
    ck_assert_int_eq(t.when, 20);
    ck_assert_uint_eq(gh_timer_run(&heap, 100), 1);     /* 20; the re-arm at 30 waits */
    ck_assert_uint_eq(gh_timer_run(&heap, 100), 1);     /* 30 */
    ck_assert_int_eq(rearm_count, 3);
    ck_assert(!gh_timer_armed(&t));
}
END_TEST

static void rearm_now(struct gh_timer *t)
{
    rearm_count++;
    gh_timer_set(&heap, t, 0);
}

START_TEST(test_rearm_due_does_not_spin)
{
    struct gh_timer t;

    rearm_count = 0;
    gh_timer_init(&t, rearm_now, NULL);
    gh_timer_set(&heap, &t, 0);
    ck_assert_uint_eq(gh_timer_run(&heap, 5), 1);
    ck_assert_uint_eq(gh_timer_run(&heap, 5), 1);
    ck_assert_int_eq(rearm_count, 2);
    gh_timer_cancel(&heap, &t);
}
END_TEST

static struct gh_timer victims[3];

static void cancel_others(struct gh_timer *t)
{
    record(t);
    gh_timer_cancel(&heap, &victims[1]);
    gh_timer_cancel(&heap, &victims[2]);
}

START_TEST(test_cancel_other_in_callback)
{
    struct gh_timer killer, later;

    gh_timer_init(&killer, cancel_others, (void *)(intptr_t)9);
    gh_timer_init(&later, record, (void *)(intptr_t)7);
    for (int i = 0; i < 3; i++)
        gh_timer_init(&victims[i], record, (void *)(intptr_t)i);
    gh_timer_set(&heap, &victims[0], 5);
    gh_timer_set(&heap, &killer, 10);
    gh_timer_set(&heap, &victims[1], 10);   /* same deadline as the killer */
    gh_timer_set(&heap, &victims[2], 15);
    gh_timer_set(&heap, &later, 20);
    /* victims[1] may run before the killer (equal deadlines): move it
     * off the tie for a deterministic check. */
    gh_timer_set(&heap, &victims[1], 11);
    ck_assert_uint_eq(gh_timer_run(&heap, 100), 3);
    ck_assert_int_eq(norder, 3);
    ck_assert_int_eq(order[0], 0);
    ck_assert_int_eq(order[1], 9);
    ck_assert_int_eq(order[2], 7);
    ck_assert(!gh_timer_armed(&victims[1]));
    ck_assert(!gh_timer_armed(&victims[2]));
    ck_assert_uint_eq(heap.n, 0);
}
END_TEST

#define NRANDOM 10000
static gh_msec_t last_fired;
static size_t nfired;

static void check_order(struct gh_timer *t)
{
    ck_assert_int_ge(t->when, last_fired);
    last_fired = t->when;
    nfired++;
}

START_TEST(test_random_10000)
{
    struct gh_timer *t = calloc(NRANDOM, sizeof(*t));

    ck_assert_ptr_nonnull(t);
    srandom(42);
    for (size_t i = 0; i < NRANDOM; i++) {
        gh_timer_init(&t[i], check_order, NULL);
        ck_assert_int_eq(gh_timer_set(&heap, &t[i], random() % 100000), 0);
    }
    /* Move some, cancel some. */
    size_t cancelled = 0;
    for (size_t i = 0; i < NRANDOM; i += 7)
        gh_timer_set(&heap, &t[i], random() % 100000);
    for (size_t i = 3; i < NRANDOM; i += 11) {
        gh_timer_cancel(&heap, &t[i]);
        cancelled++;
    }
    for (size_t i = 0; i < heap.n; i++) {
        ck_assert_uint_eq(heap.v[i]->heap_idx, i);
        if (i > 0)
            ck_assert_int_le(heap.v[(i - 1) / 2]->when, heap.v[i]->when);
    }
    last_fired = -1;
    nfired = 0;
    for (gh_msec_t now = 0; now <= 100000; now += 997)
        gh_timer_run(&heap, now);
    gh_timer_run(&heap, 100000);
    ck_assert_uint_eq(nfired, NRANDOM - cancelled);
    ck_assert_uint_eq(heap.n, 0);
    free(t);
}
END_TEST

static Suite *timer_suite(void)
{
    Suite *s = suite_create("timer");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_order);
    tcase_add_test(tc, test_run_max);
    tcase_add_test(tc, test_cancel_and_move);
    tcase_add_test(tc, test_rearm_in_callback);
    tcase_add_test(tc, test_rearm_due_does_not_spin);
    tcase_add_test(tc, test_cancel_other_in_callback);
    tcase_add_test(tc, test_random_10000);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(timer_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
