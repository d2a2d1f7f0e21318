/*
 * test_admin_rate.c - server/admin_rate.c: requests/s and errors/s from the
 * helper's samples: unknown before a sample is 250 ms old, over the oldest
 * sample within 5 s after that, the newest when the samples are late, and
 * only for the configuration the ring was made for.
 */
#include <check.h>
#include <string.h>

#include "common/log.h"
#include "common/shm.h"
#include "server/admin_rate.h"
#include "balance_fixture.h"

static struct gh_shm shm;
static struct fx_up a, b;
static struct gh_conf conf;
static struct gh_conf_upstream ups[2];

static void add(struct gh_us_region *reg, const char *up, const char *addr, uint64_t requests,
                uint64_t errors)
{
    struct gh_us_pctr *c = gh_us_pctr(reg, 2, gh_us_find(reg, up, addr));
    gh_us_pctr_add(&c->requests, requests);
    gh_us_pctr_add(&c->errors, errors);
}

static bool rate(struct gh_us_region *reg, size_t u, size_t k, gh_msec_t now, struct gh_rate *r)
{
    struct gh_us_totals t;
    gh_us_read(reg, gh_us_find(reg, ups[u].name, ups[u].servers[k].addr.text), &t);
    return gh_rate_get(&conf, u, k, &t, now, r);
}

START_TEST(rates_from_samples)
{
    gh_log_set_level(GH_LOG_ERROR);
    ck_assert_int_eq(gh_shm_create(&shm, 8u << 20), 0);
    fx_up_init(&a, "a", 0, 1, 2);
    fx_up_init(&b, "b", 0, 3, 1);
    ups[0] = a.c;
    ups[1] = b.c;
    conf.upstreams = ups;
    conf.nupstreams = 2;
    ck_assert_int_eq(gh_us_reserve(&shm, &conf, 1), 0);
    struct gh_us_region *reg = gh_us_region();
    add(reg, "b", "10.0.0.3:80", 100, 0);              /* before the ring: not a rate */
    ck_assert_int_eq(gh_rate_start(&conf, reg, 10000), 0);
    struct gh_rate r;
    ck_assert(!rate(reg, 1, 0, 10100, &r));             /* 100 ms: too soon */
    add(reg, "b", "10.0.0.3:80", 50, 5);
    ck_assert(rate(reg, 1, 0, 10500, &r));
    ck_assert_double_eq_tol(r.requests_per_s, 100.0, 1e-9);
    ck_assert_double_eq_tol(r.errors_per_s, 10.0, 1e-9);
    ck_assert_double_eq_tol(r.window_s, 0.5, 1e-9);
    ck_assert(rate(reg, 0, 1, 10500, &r));
    ck_assert_double_eq(r.requests_per_s, 0);
    /* One sample a second: the rate is over the oldest one within 5 s. */
    for (gh_msec_t t = 11000; t <= 20000; t += 1000) {
        add(reg, "a", "10.0.0.2:80", 10, 0);
        gh_rate_sample(t);
    }
    ck_assert(rate(reg, 0, 1, 20000, &r));
    ck_assert_double_eq_tol(r.window_s, 5.0, 1e-9);
    ck_assert_double_eq_tol(r.requests_per_s, 10.0, 1e-9);   /* 50 in the 5 samples since */
    ck_assert(rate(reg, 0, 1, 20400, &r));
    ck_assert_double_eq_tol(r.window_s, 4.4, 1e-9);
    /* The helper's loop was late: the newest sample, over a longer span. */
    ck_assert(rate(reg, 0, 1, 30000, &r));
    ck_assert_double_eq_tol(r.window_s, 10.0, 1e-9);
    ck_assert_double_eq(r.requests_per_s, 0);
    /* Another configuration (a unit test, a fuzzer): unknown. */
    struct gh_conf other = conf;
    struct gh_us_totals t = { 0 };
    ck_assert(!gh_rate_get(&other, 0, 0, &t, 20000, &r));
    ck_assert(!gh_rate_get(&conf, 2, 0, &t, 20000, &r));
    ck_assert(!gh_rate_get(&conf, 1, 1, &t, 20000, &r));
    gh_rate_stop();
    ck_assert(!gh_rate_get(&conf, 0, 0, &t, 20000, &r));
    gh_shm_detach(&shm);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("admin_rate");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, rates_from_samples);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
