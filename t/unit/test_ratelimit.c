/*
 * test_ratelimit.c - GCRA rate limits in the shared segment
 * (modules/ratelimit.c): burst and Retry-After, refill, exactness across
 * processes hammering one key, independence of keys and limits, reloads,
 * a full table, and a process killed while holding a stripe lock.
 *
 * Time is simulated: every call passes now_ms explicitly.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/lock.h"
#include "common/shm.h"
#include "modules/ratelimit.h"

#define SEG_SIZE (1u << 20)              /* -> the smallest table: 1,024 entries */
#define T0 1000000                              /* ms; any monotonic-looking start */

static struct gh_shm shm;
static struct gh_conf conf;
static struct gh_conf_rate_limit limits[4];

static void set_limit(int i, const char *name, double rate, int burst)
{
    limits[i].name = (char *)name;
    limits[i].key = (char *)"$remote_addr";
    limits[i].rate = rate;
    limits[i].burst = burst;
}

static void setup(void)
{
    memset(&conf, 0, sizeof(conf));
    memset(limits, 0, sizeof(limits));
    ck_assert_int_eq(gh_shm_create(&shm, SEG_SIZE), 0);
    conf.shm_size = SEG_SIZE;
    conf.rate_limits = limits;
    set_limit(0, "per_ip", 10.0, 5);
    set_limit(1, "strict", 1.0, 0);
    conf.nrate_limits = 2;
    ck_assert_int_eq(gh_ratelimit_shm_setup(&shm, &conf), 0);
}

static void teardown(void)
{
    gh_shm_detach(&shm);
}

static int check(int idx, const char *key, int64_t now)
{
    return gh_ratelimit_check(idx, key, strlen(key), now);
}

static int reap(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) == -1)
        ck_assert_int_eq(errno, EINTR);
    return status;
}

START_TEST(test_burst_then_reject)
{
    /* rate 10/s, burst 5: 6 at once, then the 7th waits 100 ms -> 1 s */
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(check(0, "10.0.0.1", T0), 0);
    ck_assert_int_eq(check(0, "10.0.0.1", T0), 1);
    ck_assert_int_eq(check(0, "10.0.0.1", T0), 1);
    ck_assert_uint_eq(gh_ratelimit_rejected(0), 2);
    ck_assert_uint_eq(gh_ratelimit_rejected(1), 0);

    /* rate 1/s, burst 0: one, then Retry-After 1 */
    ck_assert_int_eq(check(1, "10.0.0.1", T0), 0);
    ck_assert_int_eq(check(1, "10.0.0.1", T0), 1);

    /* a slow limit reports whole seconds, rounded up */
    set_limit(2, "slow", 0.1, 0);               /* one per 10 s */
    conf.nrate_limits = 3;
    ck_assert_int_eq(gh_ratelimit_shm_setup(&shm, &conf), 0);
    ck_assert_int_eq(check(2, "a", T0), 0);
    ck_assert_int_eq(check(2, "a", T0), 10);
    ck_assert_int_eq(check(2, "a", T0 + 500), 10);   /* 9.5 s -> 10 */
    ck_assert_int_eq(check(2, "a", T0 + 9001), 1);
    ck_assert_int_eq(check(2, "a", T0 + 10000), 0);
}
END_TEST

START_TEST(test_refill_at_rate)
{
    int admitted = 0;

    /* burst used up at T0, then exactly one per 100 ms */
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(check(0, "k", T0), 0);
    ck_assert_int_ne(check(0, "k", T0 + 99), 0);
    ck_assert_int_eq(check(0, "k", T0 + 100), 0);
    ck_assert_int_ne(check(0, "k", T0 + 100), 0);
    for (int64_t t = T0 + 101; t <= T0 + 10100; t++)
        admitted += check(0, "k", t) == 0;
    ck_assert_int_eq(admitted, 100);            /* 10 s at 10/s */

    /* idle long enough: the full burst again, no more */
    admitted = 0;
    for (int i = 0; i < 20; i++)
        admitted += check(0, "k", T0 + 60000) == 0;
    ck_assert_int_eq(admitted, 6);
}
END_TEST

START_TEST(test_rejected_consume_nothing)
{
    ck_assert_int_eq(check(1, "x", T0), 0);
    for (int64_t t = T0; t < T0 + 1000; t++)
        ck_assert_int_eq(check(1, "x", t), 1);
    ck_assert_uint_eq(gh_ratelimit_rejected(1), 1000);
    ck_assert_int_eq(check(1, "x", T0 + 1000), 0);  /* exactly one T later */
    ck_assert_int_eq(check(1, "x", T0 + 1000), 1);
}
END_TEST

START_TEST(test_keys_and_limits_independent)
{
    char a[200], b[200];

    ck_assert_int_eq(check(1, "one", T0), 0);
    ck_assert_int_eq(check(1, "one", T0), 1);
    ck_assert_int_eq(check(1, "two", T0), 0);   /* other key */
    ck_assert_int_eq(check(1, "onE", T0), 0);
    ck_assert_int_eq(check(1, "one1", T0), 0);  /* a longer key is another key */
    ck_assert_int_eq(check(0, "one", T0), 0);   /* other limit, same key */
    ck_assert_int_eq(gh_ratelimit_check(1, "", 0, T0), 0);   /* empty key is a key */
    ck_assert_int_eq(gh_ratelimit_check(1, "", 0, T0), 1);

    /* keys longer than GH_RL_KEY_MAX are identified by their hash */
    memset(a, 'a', sizeof(a));
    memcpy(b, a, sizeof(b));
    b[sizeof(b) - 1] = 'b';
    ck_assert_int_eq(gh_ratelimit_check(1, a, sizeof(a), T0), 0);
    ck_assert_int_eq(gh_ratelimit_check(1, a, sizeof(a), T0), 1);
    ck_assert_int_eq(gh_ratelimit_check(1, b, sizeof(b), T0), 0);
    ck_assert_int_eq(gh_ratelimit_check(1, b, sizeof(b), T0), 1);
    /* exactly GH_RL_KEY_MAX bytes is still stored */
    ck_assert_int_eq(gh_ratelimit_check(1, a, GH_RL_KEY_MAX, T0), 0);
    ck_assert_int_eq(gh_ratelimit_check(1, a, GH_RL_KEY_MAX, T0), 1);
    ck_assert_int_eq(gh_ratelimit_check(1, a, GH_RL_KEY_MAX - 1, T0), 0);
    ck_assert_uint_eq(gh_ratelimit_table_full(), 0);
}
END_TEST

/* gh_ratelimit_hash + gh_ratelimit_check_hashed is gh_ratelimit_check: the
 * same bucket for every key length (the hash reads padded words for keys
 * that are stored, bytes for longer ones). */
START_TEST(test_hashed_is_check)
{
    char k[GH_RL_KEY_MAX + 20];

    memset(k, 'x', sizeof(k));
    for (size_t len = 0; len <= sizeof(k); len++) {
        k[0] = (char)('A' + len % 26);
        k[len > 1 ? len - 1 : 0] = (char)('a' + len % 23);
        uint64_t h = gh_ratelimit_hash(1, k, len);
        ck_assert_uint_eq(h, gh_ratelimit_hash(1, k, len));
        ck_assert_int_eq(gh_ratelimit_check(1, k, len, T0), 0);
        ck_assert_int_eq(gh_ratelimit_check_hashed(1, k, len, h, T0), 1);
        ck_assert_int_eq(gh_ratelimit_check(1, k, len, T0), 1);
        ck_assert_int_eq(gh_ratelimit_check_hashed(0, k, len, gh_ratelimit_hash(0, k, len), T0), 0);
    }
    ck_assert_uint_eq(gh_ratelimit_table_full(), 0);
}
END_TEST

/* 4 processes hammer one key over 2 simulated seconds. They start
 * together and draw the time from a shared tick counter, so their requests
 * interleave; each process's clock still lags the others' by the time
 * between drawing a tick and charging, as workers' cached clocks do. */
#define NPROC 4
#define ITER 250000
#define SPAN_MS 2000

START_TEST(test_exact_across_processes)
{
    uint64_t *counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                            -1, 0);
    _Atomic uint64_t *tick = (_Atomic uint64_t *)&counts[NPROC];
    _Atomic uint64_t *ready = (_Atomic uint64_t *)&counts[NPROC + 1];
    pid_t pids[NPROC];
    uint64_t admitted = 0, bound;

    ck_assert_ptr_ne(counts, MAP_FAILED);
    set_limit(0, "per_ip", 100.0, 50);
    ck_assert_int_eq(gh_ratelimit_shm_setup(&shm, &conf), 0);
    for (int p = 0; p < NPROC; p++) {
        pids[p] = fork();
        ck_assert_int_ne(pids[p], -1);
        if (pids[p] == 0) {
            uint64_t n = 0, i;
            atomic_fetch_add(ready, 1);
            while (atomic_load(ready) < NPROC)
                ;
            while ((i = atomic_fetch_add(tick, 1)) <= (uint64_t)NPROC * ITER) {
                int64_t now = T0 + (int64_t)(i * SPAN_MS / ((uint64_t)NPROC * ITER));
                int rc = check(0, "203.0.113.9", now);
                if (rc == 0)
                    n++;
                else if (rc < 1)
                    _exit(2);
            }
            counts[p] = n;
            _exit(0);
        }
    }
    for (int p = 0; p < NPROC; p++) {
        int status = reap(pids[p]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        admitted += counts[p];
    }
    bound = 1 + 50 + 100 * SPAN_MS / 1000;      /* 1 + b + r*S = 251 */
    fprintf(stderr, "exactness: %llu admitted of %d, bound %llu (per process %llu %llu %llu "
            "%llu)\n",
            (unsigned long long)admitted, NPROC * ITER + 1, (unsigned long long)bound,
            (unsigned long long)counts[0], (unsigned long long)counts[1],
            (unsigned long long)counts[2], (unsigned long long)counts[3]);
    ck_assert_uint_le(admitted, bound);
    ck_assert_uint_ge(admitted, bound - 3);
    /* every other request was counted as rejected, by whichever process */
    ck_assert_uint_eq(gh_ratelimit_rejected(0), (uint64_t)NPROC * ITER + 1 - admitted);
    ck_assert_uint_eq(gh_ratelimit_table_full(), 0);
    munmap(counts, 4096);
}
END_TEST

START_TEST(test_reload_keeps_buckets)
{
    bool fresh = false;

    ck_assert_int_eq(check(1, "ip", T0), 0);
    ck_assert_int_eq(check(1, "ip", T0), 1);
    ck_assert_uint_eq(gh_ratelimit_rejected(1), 1);

    /* same configuration */
    ck_assert_int_eq(gh_ratelimit_shm_setup(&shm, &conf), 0);
    ck_assert_int_eq(gh_ratelimit_worker_init(&shm, &conf), 0);
    ck_assert_int_eq(check(1, "ip", T0 + 1), 1);
    ck_assert_uint_eq(gh_ratelimit_rejected(1), 2);

    /* reordered, a limit added, and shm_size changed (the segment is not
     * resized on reload): keyed by name, the table keeps its size */
    set_limit(2, "per_ip", 10.0, 5);
    set_limit(0, "new", 5.0, 1);
    conf.nrate_limits = 3;
    conf.shm_size = 64u << 20;
    ck_assert_int_eq(gh_ratelimit_shm_setup(&shm, &conf), 0);
    ck_assert_int_eq(check(1, "ip", T0 + 2), 1);     /* "strict" is still index 1 */
    ck_assert_uint_eq(gh_ratelimit_rejected(1), 3);
    ck_assert_int_eq(check(0, "ip", T0 + 2), 0);     /* "new" starts empty */
    ck_assert_uint_eq(gh_ratelimit_rejected(0), 0);

    /* a region of another layout (an older binary's): starts fresh */
    ck_assert_ptr_nonnull(gh_shm_region(&shm, GH_RL_REGION, GH_RL_LAYOUT + 1, 4096, &fresh));
    ck_assert(fresh);
    ck_assert_int_eq(gh_ratelimit_shm_setup(&shm, &conf), 0);
    ck_assert_int_eq(check(1, "ip", T0 + 3), 0);
    ck_assert_uint_eq(gh_ratelimit_rejected(1), 0);
}
END_TEST

START_TEST(test_worker_init)
{
    struct gh_shm none;

    ck_assert_int_eq(check(1, "w", T0), 0);
    /* a child maps the same region and sees the same bucket */
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        if (gh_ratelimit_worker_init(&shm, &conf) != 0)
            _exit(1);
        _exit(check(1, "w", T0) == 1 ? 0 : 3);
    }
    int status = reap(pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_uint_eq(gh_ratelimit_rejected(1), 1);

    /* a limit the region does not know, or no region at all */
    set_limit(2, "unknown", 1.0, 0);
    conf.nrate_limits = 3;
    ck_assert_int_eq(gh_ratelimit_worker_init(&shm, &conf), -1);
    ck_assert_int_eq(gh_shm_create(&none, SEG_SIZE), 0);
    ck_assert_int_eq(gh_ratelimit_worker_init(&none, &conf), -1);
    gh_shm_detach(&none);
}
END_TEST

START_TEST(test_table_full_evicts_idle)
{
    char key[32];
    uint64_t full;

    /* 2,000 live keys into 1,024 entries: non-idle evictions, counted */
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "old-%d", i);
        ck_assert_int_eq(check(1, key, T0), 0);
    }
    full = gh_ratelimit_table_full();
    ck_assert_uint_ge(full, 2000 - 1024);
    ck_assert_uint_lt(full, 2000);

    /* 10 s later every entry is idle: new keys (few enough that no bucket
     * gets more than 8 of them) take idle entries, nothing
     * is counted, and the new buckets hold their state */
    for (int i = 0; i < 64; i++) {
        snprintf(key, sizeof(key), "new-%d", i);
        ck_assert_int_eq(check(1, key, T0 + 10000), 0);
    }
    ck_assert_uint_eq(gh_ratelimit_table_full(), full);
    for (int i = 0; i < 64; i++) {
        snprintf(key, sizeof(key), "new-%d", i);
        ck_assert_int_eq(check(1, key, T0 + 10000), 1);
    }

    /* a busy key is not evicted by idle churn: refreshed at T0 + 20 s
     * with a long Retry-After, then 2,000 keys at a later time whose
     * entries are idle again */
    set_limit(2, "slow", 0.01, 0);              /* one per 100 s */
    conf.nrate_limits = 3;
    ck_assert_int_eq(gh_ratelimit_shm_setup(&shm, &conf), 0);
    ck_assert_int_eq(check(2, "busy", T0 + 20000), 0);
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "churn-%d", i);
        ck_assert_int_eq(check(1, key, T0 + 30000 + i * 20), 0);
    }
    ck_assert_int_eq(check(2, "busy", T0 + 70000), 50);
}
END_TEST

/* A child takes the stripe lock of a key and is SIGKILLed holding it. While
 * it holds it, existing keys of that stripe are still served (lock-free);
 * after its death the parent inserts under the recovered lock. */
START_TEST(test_killed_holder_blocks_nobody)
{
    pthread_mutex_t *m = gh_ratelimit_test_stripe(1, "fresh", 5);
    char key[32];
    int fds[2], i;
    pid_t pid;
    char c;

    ck_assert_ptr_nonnull(m);
    /* an existing key that shares the stripe */
    for (i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "same-%d", i);
        if (gh_ratelimit_test_stripe(1, key, strlen(key)) == m)
            break;
    }
    ck_assert_int_lt(i, 100000);
    ck_assert_int_eq(check(1, key, T0), 0);

    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        if (gh_mutex_lock(m) != GH_LOCK_OK)
            _exit(1);
        if (write(fds[1], "L", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    ck_assert_int_eq(gh_mutex_trylock(m), GH_AGAIN);      /* really held */

    /* lock-free while held */
    ck_assert_int_eq(check(1, key, T0), 1);
    ck_assert_int_eq(check(1, key, T0 + 1000), 0);

    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    reap(pid);
    ck_assert_int_eq(check(1, "fresh", T0), 0);            /* insert: recovers */
    ck_assert_int_eq(check(1, "fresh", T0), 1);
    ck_assert_uint_eq(gh_ratelimit_recovered(), 1);
    ck_assert_int_eq(gh_mutex_trylock(m), GH_LOCK_OK);     /* consistent again */
    gh_mutex_unlock(m);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* A child dies in the middle of inserting a key (stripe held, entry taken,
 * half the key written): the entry is left empty, the stripe is recovered,
 * and the key's next request starts its bucket cleanly, exactly once. */
START_TEST(test_killed_mid_insert)
{
    pid_t pid;
    int status;

    ck_assert_int_eq(check(1, "before", T0), 0);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        gh_ratelimit_test_die_in_insert(true);
        check(1, "a-key-long-enough-to-span-several-words-of-the-entry", T0);
        _exit(0);                                /* not reached */
    }
    status = reap(pid);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGKILL);

    ck_assert_int_eq(check(1, "a-key-long-enough-to-span-several-words-of-the-entry", T0), 0);
    ck_assert_int_eq(check(1, "a-key-long-enough-to-span-several-words-of-the-entry", T0), 1);
    ck_assert_int_eq(check(1, "before", T0), 1);              /* untouched */
    ck_assert_uint_eq(gh_ratelimit_recovered(), 1);          /* same key, same stripe */
    ck_assert_uint_eq(gh_ratelimit_table_full(), 0);
}
END_TEST

START_TEST(test_bad_index_admits)
{
    ck_assert_uint_eq(gh_ratelimit_rejected(-1), 0);
    ck_assert_uint_eq(gh_ratelimit_rejected(9), 0);
    ck_assert_ptr_null(gh_ratelimit_test_stripe(9, "x", 1));
}
END_TEST

static Suite *ratelimit_suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_burst_then_reject);
    tcase_add_test(tc, test_refill_at_rate);
    tcase_add_test(tc, test_rejected_consume_nothing);
    tcase_add_test(tc, test_keys_and_limits_independent);
    tcase_add_test(tc, test_hashed_is_check);
    tcase_add_test(tc, test_exact_across_processes);
    tcase_add_test(tc, test_reload_keeps_buckets);
    tcase_add_test(tc, test_worker_init);
    tcase_add_test(tc, test_table_full_evicts_idle);
    tcase_add_test(tc, test_killed_holder_blocks_nobody);
    tcase_add_test(tc, test_killed_mid_insert);
    tcase_add_test(tc, test_bad_index_admits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ratelimit_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
