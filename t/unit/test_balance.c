/*
 * test_balance.c - modules/balance_*.c and the picking rules of
 * server/upstream.c: each algorithm's distribution, consistent-hash
 * remapping, backup, max_conns, slow_start, passive health, drain.
 * Servers keep private state here (no shared region).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/time.h"
#include "modules/balance.h"
#include "modules/upstream_state.h"
#include "balance_fixture.h"

static struct fx_up fx;

static void start(int balance, int n)
{
    fx_up_init(&fx, "app", balance, 1, n);
}

static void build(void)
{
    ck_assert_int_eq(gh_upstream_rt_init(&fx.rt, &fx.c, NULL, -1), 0);
}

static void teardown(void)
{
    gh_upstream_rt_free(&fx.rt);
}

static struct gh_server_rt *pick(uint64_t tried)
{
    return gh_upstream_pick(&fx.rt, tried, NULL);
}

START_TEST(round_robin_weights)
{
    start(GH_BALANCE_ROUND_ROBIN, 3);
    fx.srv[0].weight = 1;
    fx.srv[1].weight = 2;
    fx.srv[2].weight = 3;
    build();
    int n[3] = { 0 };
    for (int i = 0; i < 600; i++)
        n[pick(0)->index]++;
    ck_assert_int_eq(n[0], 100);
    ck_assert_int_eq(n[1], 200);
    ck_assert_int_eq(n[2], 300);
    /* Smooth: server 2 never gets more than two in a row out of 6. */
    int run = 0, last = -1;
    for (int i = 0; i < 60; i++) {
        int k = pick(0)->index;
        run = k == last ? run + 1 : 1;
        last = k;
        ck_assert_int_le(run, 2);
    }
}
END_TEST

START_TEST(tried_servers_skipped)
{
    start(GH_BALANCE_ROUND_ROBIN, 3);
    build();
    for (int i = 0; i < 30; i++)
        ck_assert_int_eq(pick(UINT64_C(1) | UINT64_C(4))->index, 1);
    ck_assert_ptr_null(pick(7));
}
END_TEST

START_TEST(least_conn_prefers_idle)
{
    start(GH_BALANCE_LEAST_CONN, 3);
    build();
    atomic_store(&fx.rt.servers[0].st->active, 5);
    atomic_store(&fx.rt.servers[1].st->active, 1);
    atomic_store(&fx.rt.servers[2].st->active, 0);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(pick(0)->index, 2);
    /* Equal load: spread evenly by weight. */
    atomic_store(&fx.rt.servers[0].st->active, 0);
    atomic_store(&fx.rt.servers[1].st->active, 0);
    int n[3] = { 0 };
    for (int i = 0; i < 300; i++)
        n[pick(0)->index]++;
    ck_assert_int_eq(n[0], 100);
    ck_assert_int_eq(n[1], 100);
    ck_assert_int_eq(n[2], 100);
}
END_TEST

START_TEST(least_conn_weighted)
{
    start(GH_BALANCE_LEAST_CONN, 2);
    fx.srv[1].weight = 4;
    build();
    /* 3 active on weight 4 is less loaded than 1 active on weight 1. */
    atomic_store(&fx.rt.servers[0].st->active, 1);
    atomic_store(&fx.rt.servers[1].st->active, 3);
    ck_assert_int_eq(pick(0)->index, 1);
}
END_TEST

START_TEST(random2_distribution)
{
    start(GH_BALANCE_RANDOM2, 4);
    build();
    int n[4] = { 0 };
    for (int i = 0; i < 4000; i++)
        n[pick(0)->index]++;
    for (int k = 0; k < 4; k++) {
        ck_assert_int_gt(n[k], 800);
        ck_assert_int_lt(n[k], 1200);
    }
    /* The busiest server loses every comparison. */
    atomic_store(&fx.rt.servers[3].st->active, 10);
    for (int i = 0; i < 500; i++)
        ck_assert_int_ne(pick(0)->index, 3);
}
END_TEST

static int ring_owner(struct gh_upstream_rt *up, int key)
{
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "client-%d", key);
    struct gh_server_rt *s = gh_balance_ring_pick(up, 0, gh_balance_hash64(buf, (size_t)len));
    return s ? s->index : -1;
}

START_TEST(consistent_hash_remap)
{
    enum { N = 10, KEYS = 20000 };
    static struct fx_up small;
    start(GH_BALANCE_HASH, N);
    build();
    /* The same upstream without its 4th server. */
    fx_up_init(&small, "app", GH_BALANCE_HASH, 1, N);
    for (int i = 3; i < N - 1; i++) {
        small.srv[i] = small.srv[i + 1];
        memcpy(small.addr[i], small.addr[i + 1], sizeof(small.addr[i]));
        small.srv[i].addr.text = small.addr[i];
    }
    small.c.nservers = N - 1;
    ck_assert_int_eq(gh_upstream_rt_init(&small.rt, &small.c, NULL, -1), 0);
    int moved = 0, count[N] = { 0 };
    for (int k = 0; k < KEYS; k++) {
        int a = ring_owner(&fx.rt, k), b = ring_owner(&small.rt, k);
        ck_assert_int_ge(a, 0);
        count[a]++;
        const char *aa = fx.addr[a], *bb = small.addr[b];
        if (strcmp(aa, bb) != 0) {
            moved++;
            /* Only keys of the removed server move. */
            ck_assert_int_eq(a, 3);
        }
    }
    /* About 1/n of the keys move (those that were on the removed server). */
    ck_assert_int_gt(moved, KEYS / N / 2);
    ck_assert_int_lt(moved, KEYS * 3 / N / 2);
    for (int i = 0; i < N; i++) {
        ck_assert_int_gt(count[i], KEYS / N / 2);
        ck_assert_int_lt(count[i], KEYS * 3 / N / 2);
    }
    gh_upstream_rt_free(&small.rt);
}
END_TEST

START_TEST(consistent_hash_skips_down)
{
    enum { N = 5, KEYS = 2000 };
    start(GH_BALANCE_IP_HASH, N);
    build();
    int before[KEYS];
    for (int k = 0; k < KEYS; k++)
        before[k] = ring_owner(&fx.rt, k);
    atomic_store(&fx.rt.servers[2].st->down, 1);
    for (int k = 0; k < KEYS; k++) {
        int now = ring_owner(&fx.rt, k);
        ck_assert_int_ne(now, 2);
        if (before[k] != 2)
            ck_assert_int_eq(now, before[k]);
    }
}
END_TEST

START_TEST(backup_only_when_no_primary)
{
    start(GH_BALANCE_ROUND_ROBIN, 3);
    fx.srv[2].backup = true;
    build();
    for (int i = 0; i < 20; i++)
        ck_assert_int_ne(pick(0)->index, 2);
    atomic_store(&fx.rt.servers[0].st->down, 1);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(pick(0)->index, 1);
    atomic_store(&fx.rt.servers[1].st->drained, 1);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(pick(0)->index, 2);
    /* A primary tried already counts as unavailable for the retry. */
    atomic_store(&fx.rt.servers[1].st->drained, 0);
    ck_assert_int_eq(pick(UINT64_C(2))->index, 2);
    atomic_store(&fx.rt.servers[2].st->down, 1);
    ck_assert_ptr_null(pick(UINT64_C(2)));
}
END_TEST

START_TEST(max_conns_limit)
{
    start(GH_BALANCE_ROUND_ROBIN, 2);
    fx.srv[0].max_conns = 2;
    build();
    atomic_store(&fx.rt.servers[0].st->active, 2);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(pick(0)->index, 1);
    atomic_store(&fx.rt.servers[1].st->active, 100);
    ck_assert_int_eq(pick(0)->index, 1);       /* no max_conns there */
    fx.srv[1].max_conns = 100;
    ck_assert_ptr_null(pick(0));                /* every server full: 503 */
}
END_TEST

START_TEST(slow_start_ramp)
{
    start(GH_BALANCE_ROUND_ROBIN, 2);
    fx.c.slow_start = 10000;
    fx.srv[0].weight = 4;
    build();
    struct gh_server_rt *s = &fx.rt.servers[0];
    gh_now_ms = 1000000;
    ck_assert_int_eq(gh_upstream_weight(&fx.rt, s), 400);       /* up since start */
    atomic_store(&s->st->up_since, gh_now_ms);
    ck_assert_int_eq(gh_upstream_weight(&fx.rt, s), 1);
    int64_t prev = 0;
    for (int t = 0; t <= 10000; t += 1000) {
        gh_now_ms = 1000000 + t;
        int64_t w = gh_upstream_weight(&fx.rt, s);
        ck_assert_int_ge(w, prev);
        if (t > 0)
            ck_assert_int_eq(w, 400 * t / 10000);
        prev = w;
    }
    gh_now_ms = 1000000 + 5000;
    int n[2] = { 0 };
    for (int i = 0; i < 300; i++)
        n[pick(0)->index]++;
    ck_assert_int_eq(n[0], 200);        /* weight 200 vs 100 halfway through */
    /* Back from a passive-health pause: ramps from the pause's end. */
    gh_now_ms = 2000000;
    atomic_store(&s->st->down_until, gh_now_ms - 2500);
    ck_assert_int_eq(gh_upstream_weight(&fx.rt, s), 100);
}
END_TEST

START_TEST(passive_health)
{
    start(GH_BALANCE_ROUND_ROBIN, 2);
    fx.c.max_fails = 3;
    fx.c.fail_timeout = 1000;
    build();
    struct gh_server_rt *s = &fx.rt.servers[0];
    gh_now_ms = 500000;
    gh_upstream_fail(&fx.rt, s);
    gh_upstream_fail(&fx.rt, s);
    ck_assert(gh_upstream_available(&fx.rt, s));
    gh_upstream_ok(s);                          /* a success resets the count */
    gh_upstream_fail(&fx.rt, s);
    gh_upstream_fail(&fx.rt, s);
    ck_assert(gh_upstream_available(&fx.rt, s));
    gh_upstream_fail(&fx.rt, s);
    ck_assert(!gh_upstream_available(&fx.rt, s));
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(pick(0)->index, 1);
    gh_now_ms += 1001;
    ck_assert(gh_upstream_available(&fx.rt, s));
    /* One failure right after the pause pauses it again. */
    gh_upstream_fail(&fx.rt, s);
    ck_assert(!gh_upstream_available(&fx.rt, s));
    gh_now_ms += 1001;
    gh_upstream_done(&fx.rt, s, 200, 5);
    gh_upstream_fail(&fx.rt, s);
    ck_assert(gh_upstream_available(&fx.rt, s));
    /* Failures spread beyond fail_timeout do not add up. */
    gh_now_ms += 5000;
    gh_upstream_fail(&fx.rt, s);
    gh_now_ms += 1500;
    gh_upstream_fail(&fx.rt, s);
    gh_upstream_fail(&fx.rt, s);
    ck_assert(gh_upstream_available(&fx.rt, s));
}
END_TEST

START_TEST(all_down_is_null)
{
    start(GH_BALANCE_LEAST_CONN, 3);
    build();
    for (int i = 0; i < 3; i++)
        atomic_store(&fx.rt.servers[i].st->down, 1);
    ck_assert_ptr_null(pick(0));
}
END_TEST

START_TEST(counters)
{
    start(GH_BALANCE_ROUND_ROBIN, 1);
    build();
    struct gh_server_rt *s = &fx.rt.servers[0];
    gh_upstream_done(&fx.rt, s, 200, 10);
    gh_upstream_done(&fx.rt, s, 503, 30);
    gh_upstream_fail(&fx.rt, s);
    ck_assert_uint_eq(atomic_load(&s->pc->requests), 2);
    ck_assert_uint_eq(atomic_load(&s->pc->errors), 2);
    ck_assert_uint_eq(atomic_load(&s->pc->lat_sum), 40);
    ck_assert_uint_eq(atomic_load(&s->pc->lat_count), 2);
}
END_TEST

START_TEST(hash_key_fallback)
{
    /* Without a request the key is empty: spread by round robin. */
    start(GH_BALANCE_HASH, 2);
    build();
    int n[2] = { 0 };
    for (int i = 0; i < 10; i++)
        n[pick(0)->index]++;
    ck_assert_int_eq(n[0], 5);
}
END_TEST

int main(void)
{
    /* Logging refreshes the cached clock, which these tests set by hand. */
    gh_log_set_level(GH_LOG_ERROR);
    Suite *s = suite_create("balance");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, round_robin_weights);
    tcase_add_test(tc, tried_servers_skipped);
    tcase_add_test(tc, least_conn_prefers_idle);
    tcase_add_test(tc, least_conn_weighted);
    tcase_add_test(tc, random2_distribution);
    tcase_add_test(tc, consistent_hash_remap);
    tcase_add_test(tc, consistent_hash_skips_down);
    tcase_add_test(tc, backup_only_when_no_primary);
    tcase_add_test(tc, max_conns_limit);
    tcase_add_test(tc, slow_start_ramp);
    tcase_add_test(tc, passive_health);
    tcase_add_test(tc, all_down_is_null);
    tcase_add_test(tc, counters);
    tcase_add_test(tc, hash_key_fallback);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
