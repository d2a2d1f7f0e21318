/*
 * test_upstream_state.c - modules/upstream_state.c: slots keyed by
 * (upstream, address) surviving a "reload" that adds and removes servers,
 * per-process counters summed on read and folded when a process dies, and
 * idempotent process-slot claims; workers' views (server/upstream.c) on the
 * shared region see each other's active counts.
 */
#include <check.h>
#include <string.h>

#include "common/log.h"
#include "common/shm.h"
#include "modules/upstream_state.h"
#include "balance_fixture.h"

static struct gh_shm shm;
static struct fx_up a, b;
static struct gh_conf conf;
static struct gh_conf_upstream ups[2];

static void setup(void)
{
    gh_log_set_level(GH_LOG_ERROR);
    ck_assert_int_eq(gh_shm_create(&shm, 8u << 20), 0);
}

static void teardown(void)
{
    gh_shm_detach(&shm);
}

/* conf = upstreams "a" (servers a_first.. a_n) and "b" (2 servers). */
static void make_conf(int a_first, int a_n)
{
    fx_up_init(&a, "a", GH_BALANCE_LEAST_CONN, a_first, a_n);
    fx_up_init(&b, "b", GH_BALANCE_ROUND_ROBIN, 1, 2);
    ups[0] = a.c;
    ups[1] = b.c;
    memset(&conf, 0, sizeof(conf));
    conf.upstreams = ups;
    conf.nupstreams = 2;
}

START_TEST(keys_survive_reload)
{
    make_conf(1, 3);                            /* a: .1 .2 .3 */
    ck_assert_int_eq(gh_us_reserve(&shm, &conf, 1), 0);
    struct gh_us_region *reg = gh_us_region();
    ck_assert_ptr_nonnull(reg);
    ck_assert_uint_ge(reg->capacity, GH_US_MIN_SLOTS);
    int s2 = gh_us_find(reg, "a", "10.0.0.2:80");
    int s3 = gh_us_find(reg, "a", "10.0.0.3:80");
    int b1 = gh_us_find(reg, "b", "10.0.0.1:80");
    ck_assert_int_ge(s2, 0);
    ck_assert_int_ge(b1, 0);
    ck_assert_int_ne(gh_us_find(reg, "a", "10.0.0.1:80"), b1);   /* keyed by upstream too */
    atomic_store(&gh_us_slot(reg, s2)->drained, 1);
    atomic_store(&gh_us_slot(reg, s3)->down, 1);
    atomic_store(&gh_us_slot(reg, s3)->hc_fail, 3);
    gh_us_pctr_add(&gh_us_pctr(reg, 5, s2)->requests, 7);

    make_conf(2, 3);                            /* reload: a: .2 .3 .4 (.1 removed) */
    a.srv[1].weight = 5;
    ups[0].health.enabled = true;
    ck_assert_int_eq(gh_us_reserve(&shm, &conf, 2), 0);
    ck_assert_ptr_eq(gh_us_region(), reg);      /* same region, nothing moved */
    ck_assert_int_eq(gh_us_find(reg, "a", "10.0.0.2:80"), s2);
    ck_assert_int_eq(gh_us_find(reg, "a", "10.0.0.3:80"), s3);
    ck_assert_int_eq(atomic_load(&gh_us_slot(reg, s2)->drained), 1);
    ck_assert_int_eq(atomic_load(&gh_us_slot(reg, s3)->down), 1);
    struct gh_us_totals t;
    gh_us_read(reg, s2, &t);
    ck_assert_uint_eq(t.requests, 7);
    int s4 = gh_us_find(reg, "a", "10.0.0.4:80");
    ck_assert_int_ge(s4, 0);
    ck_assert_int_eq(atomic_load(&gh_us_slot(reg, s4)->down), 0);      /* new: up */
    ck_assert_int_eq(atomic_load(&gh_us_slot(reg, s4)->drained), 0);

    /* A reload dropping the health block cannot leave a server down. */
    ups[0].health.enabled = false;
    ck_assert_int_eq(gh_us_reserve(&shm, &conf, 3), 0);
    ck_assert_int_eq(atomic_load(&gh_us_slot(reg, s3)->down), 0);
}
END_TEST

START_TEST(fold_dead_process)
{
    make_conf(1, 2);
    ck_assert_int_eq(gh_us_reserve(&shm, &conf, 1), 0);
    struct gh_us_region *reg = gh_us_region();
    int s = gh_us_find(reg, "a", "10.0.0.1:80");
    /* Two workers (process slots 3 and 4) serve through their own views. */
    struct gh_upstream_rt w3, w4;
    ck_assert_int_eq(gh_upstream_rt_init(&w3, &ups[0], reg, 3), 0);
    ck_assert_int_eq(gh_upstream_rt_init(&w4, &ups[0], reg, 4), 0);
    ck_assert_ptr_eq(w3.servers[0].st, w4.servers[0].st);
    ck_assert_ptr_ne(w3.servers[0].pc, w4.servers[0].pc);
    atomic_fetch_add(&w3.servers[0].st->active, 2);
    atomic_store(&w3.servers[0].pc->active, 2);
    atomic_fetch_add(&w4.servers[0].st->active, 1);
    atomic_store(&w4.servers[0].pc->active, 1);
    for (int i = 0; i < 5; i++)
        gh_upstream_done(&w3, &w3.servers[0], 200, 4);
    gh_upstream_done(&w4, &w4.servers[0], 502, 8);
    /* least_conn in one worker sees the other's load. */
    ck_assert_int_eq(gh_upstream_pick(&w4, 0, NULL)->index, 1);
    struct gh_us_totals t;
    gh_us_read(reg, s, &t);
    ck_assert_int_eq(t.active, 3);
    ck_assert_uint_eq(t.requests, 6);
    ck_assert_uint_eq(t.errors, 1);
    ck_assert_uint_eq(t.lat_sum, 28);
    ck_assert_uint_eq(t.lat_count, 6);

    /* Worker 3 dies: its gauge goes, its counters stay (retired). */
    gh_us_fold(reg, 3);
    gh_us_read(reg, s, &t);
    ck_assert_int_eq(t.active, 1);
    ck_assert_uint_eq(t.requests, 6);
    ck_assert_uint_eq(t.errors, 1);
    ck_assert_uint_eq(t.lat_sum, 28);
    ck_assert_int_eq(atomic_load(&gh_us_pctr(reg, 3, s)->active), 0);
    ck_assert_uint_eq(atomic_load(&gh_us_pctr(reg, 3, s)->requests), 0);
    /* The next process in slot 3 starts from zero; totals keep growing. */
    gh_upstream_done(&w3, &w3.servers[0], 200, 1);
    gh_us_read(reg, s, &t);
    ck_assert_uint_eq(t.requests, 7);
    gh_upstream_rt_free(&w3);
    gh_upstream_rt_free(&w4);
}
END_TEST

/* Latency buckets: counted per process, summed, folded at a death with
 * the other counters; quantiles estimated from them. */
START_TEST(latency_buckets)
{
    make_conf(1, 1);
    ck_assert_int_eq(gh_us_reserve(&shm, &conf, 1), 0);
    struct gh_us_region *reg = gh_us_region();
    int s = gh_us_find(reg, "a", "10.0.0.1:80");
    struct gh_upstream_rt w3, w4;
    ck_assert_int_eq(gh_upstream_rt_init(&w3, &ups[0], reg, 3), 0);
    ck_assert_int_eq(gh_upstream_rt_init(&w4, &ups[0], reg, 4), 0);
    /* 90 samples of 0-1 ms, 9 of 7 ms (le 10), 1 of 20 s (over the top). */
    for (int i = 0; i < 90; i++)
        gh_upstream_done(&w3, &w3.servers[0], 200, i % 2);
    for (int i = 0; i < 9; i++)
        gh_upstream_done(&w4, &w4.servers[0], 200, 7);
    gh_upstream_done(&w4, &w4.servers[0], 504, 20000);
    gh_upstream_done(&w4, &w4.servers[0], 0, 3);      /* no answer: no latency */
    struct gh_us_totals t;
    gh_us_read(reg, s, &t);
    ck_assert_uint_eq(t.lat_count, 100);
    ck_assert_uint_eq(t.lat_bucket[0], 90);             /* le 1 */
    ck_assert_uint_eq(t.lat_bucket[3], 9);              /* le 10 */
    uint64_t in = 0;
    for (int b = 0; b < GH_US_LAT_BUCKETS; b++)
        in += t.lat_bucket[b];
    ck_assert_uint_eq(in, 99);
    /* p50: rank 50 of 90 in [0, 1] ms; p99: rank 99, the last of le 10 (5-10 ms). */
    ck_assert_double_eq_tol(gh_us_latency_quantile(&t, 0.5), 50.0 / 90.0, 1e-9);
    ck_assert_double_eq_tol(gh_us_latency_quantile(&t, 0.99), 10.0, 1e-9);
    ck_assert_double_eq_tol(gh_us_latency_quantile(&t, 0.995), 10000.0, 1e-9);
    gh_us_fold(reg, 3);
    gh_us_read(reg, s, &t);
    ck_assert_uint_eq(t.lat_bucket[0], 90);
    ck_assert_uint_eq(atomic_load(&gh_us_pctr(reg, 3, s)->lat_bucket[0]), 0);
    ck_assert_uint_eq(atomic_load(&gh_us_slot(reg, s)->retired_lat_bucket[0]), 90);
    struct gh_us_totals none = { 0 };
    ck_assert_double_eq(gh_us_latency_quantile(&none, 0.5), -1);
    gh_upstream_rt_free(&w3);
    gh_upstream_rt_free(&w4);
}
END_TEST

START_TEST(proc_exit_by_pid)
{
    make_conf(1, 1);
    ck_assert_int_eq(gh_us_reserve(&shm, &conf, 1), 0);
    struct gh_us_region *reg = gh_us_region();
    int p = gh_shm_proc_claim(&shm, 4242, 1, 0);
    ck_assert_int_ge(p, 0);
    /* Claiming is idempotent: the worker may claim its own slot too. */
    ck_assert_int_eq(gh_shm_proc_claim(&shm, 4242, 1, 0), p);
    ck_assert_int_ne(gh_shm_proc_claim(&shm, 4243, 1, 1), p);
    int s = gh_us_find(reg, "a", "10.0.0.1:80");
    atomic_store(&gh_us_pctr(reg, p, s)->active, 4);
    atomic_store(&gh_us_slot(reg, s)->active, 4);
    gh_us_pctr_add(&gh_us_pctr(reg, p, s)->requests, 9);
    gh_us_proc_exit(&shm, 4242);
    struct gh_us_totals t;
    gh_us_read(reg, s, &t);
    ck_assert_int_eq(t.active, 0);
    ck_assert_uint_eq(t.requests, 9);
    ck_assert_uint_eq(atomic_load(&gh_us_slot(reg, s)->retired_requests), 9);
}
END_TEST

START_TEST(full_table_reclaims_old_slots)
{
    /* A region of GH_US_MIN_SLOTS slots filled by successive generations:
     * slots no recent generation names are reused. */
    static struct fx_up big;
    static struct gh_conf_upstream one;
    struct gh_conf c = { 0 };
    c.upstreams = &one;
    c.nupstreams = 1;
    for (uint32_t gen = 1; gen <= 8; gen++) {
        fx_up_init(&big, "x", 0, (int)gen * 60, 60);
        one = big.c;
        int missing = -1;
        if (gen == 1) {
            ck_assert_int_eq(gh_us_reserve(&shm, &c, gen), 0);
            missing = 0;
        } else {
            missing = gh_us_map_conf(gh_us_region(), &c, gen);
        }
        ck_assert_int_eq(missing, 0);
        ck_assert_int_ge(gh_us_find(gh_us_region(), "x", big.addr[59]), 0);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("upstream_state");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, keys_survive_reload);
    tcase_add_test(tc, fold_dead_process);
    tcase_add_test(tc, latency_buckets);
    tcase_add_test(tc, proc_exit_by_pid);
    tcase_add_test(tc, full_table_reclaims_old_slots);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
