/*
 * test_lock.c - robust process-shared mutexes (common/lock.c).
 *
 * The key test (STYLE.md): a child takes the lock in the shared segment,
 * writes half of an update and SIGKILLs itself; the parent must get the
 * lock within 100 ms with GH_LOCK_RECOVERED, repair, mark it consistent,
 * and then lock normally.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/lock.h"
#include "common/shm.h"

/* Protected by m: the invariant is a == b. */
struct pair {
    pthread_mutex_t m;
    uint64_t a, b;
};

static struct gh_shm shm;

static int64_t now_us(void)
{
    struct timespec ts;

    ck_assert_int_ne(clock_gettime(CLOCK_MONOTONIC, &ts), -1);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *region(const char *name, size_t size)
{
    bool fresh = false;
    void *p = gh_shm_region(&shm, name, 1, size, &fresh);

    ck_assert_ptr_nonnull(p);
    ck_assert(fresh);
    return p;
}

static struct pair *pair_new(void)
{
    struct pair *p = region("pair", sizeof(*p));

    ck_assert_int_eq(gh_mutex_init_shared(&p->m), 0);
    ck_assert_int_eq(gh_mutex_lock(&p->m), GH_LOCK_OK);
    p->a = p->b = 5;
    gh_mutex_unlock(&p->m);
    return p;
}

static void setup(void)
{
    ck_assert_int_eq(gh_shm_create(&shm, 1 << 20), 0);
}

static void teardown(void)
{
    gh_shm_detach(&shm);
}

/* Wait for pid; return its raw wait status. */
static int reap(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) == -1)
        ck_assert_int_eq(errno, EINTR);
    return status;
}

/* Child: lock, write half of an update, tell the parent, die by SIGKILL. */
static pid_t fork_dying_owner(struct pair *p, int notify_fd)
{
    pid_t pid = fork();

    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        if (gh_mutex_lock(&p->m) != GH_LOCK_OK)
            _exit(1);
        p->a++;                                 /* half of the update */
        if (write(notify_fd, "x", 1) != 1)
            _exit(2);
        raise(SIGKILL);
        _exit(3);
    }
    return pid;
}

START_TEST(test_owner_killed_parent_recovers)
{
    struct pair *p = pair_new();
    int64_t t0, elapsed;
    int fds[2], status, rc;
    char c;
    pid_t pid;

    ck_assert_int_ne(pipe(fds), -1);
    pid = fork_dying_owner(p, fds[1]);
    ck_assert_int_eq(read(fds[0], &c, 1), 1);   /* child holds it, dying */

    t0 = now_us();
    rc = gh_mutex_lock(&p->m);
    elapsed = now_us() - t0;
    ck_assert_int_eq(rc, GH_LOCK_RECOVERED);
    ck_assert_msg(elapsed < 100000, "lock took %lld us", (long long)elapsed);

    /* The half-written update is visible: repair it, then mark consistent. */
    ck_assert_uint_eq(p->a, 6);
    ck_assert_uint_eq(p->b, 5);
    p->b = p->a;
    gh_mutex_consistent(&p->m);
    gh_mutex_unlock(&p->m);

    status = reap(pid);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGKILL);

    ck_assert_int_eq(gh_mutex_lock(&p->m), GH_LOCK_OK);
    ck_assert_uint_eq(p->a, p->b);
    gh_mutex_unlock(&p->m);
    ck_assert_int_eq(gh_mutex_trylock(&p->m), GH_LOCK_OK);
    gh_mutex_unlock(&p->m);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* Owner already reaped: trylock reports the dead owner too. */
START_TEST(test_owner_killed_trylock_recovers)
{
    struct pair *p = pair_new();
    int fds[2], status;
    char c;
    pid_t pid;

    ck_assert_int_ne(pipe(fds), -1);
    pid = fork_dying_owner(p, fds[1]);
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    status = reap(pid);
    ck_assert(WIFSIGNALED(status));

    ck_assert_int_eq(gh_mutex_trylock(&p->m), GH_LOCK_RECOVERED);
    p->b = p->a;
    gh_mutex_consistent(&p->m);
    gh_mutex_unlock(&p->m);
    ck_assert_int_eq(gh_mutex_lock(&p->m), GH_LOCK_OK);
    ck_assert_uint_eq(p->a, p->b);
    gh_mutex_unlock(&p->m);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* Recovering without marking consistent poisons the mutex: -1 after. */
START_TEST(test_not_consistent_is_unrecoverable)
{
    struct pair *p = pair_new();
    int fds[2];
    char c;
    pid_t pid;

    ck_assert_int_ne(pipe(fds), -1);
    pid = fork_dying_owner(p, fds[1]);
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    reap(pid);
    ck_assert_int_eq(gh_mutex_lock(&p->m), GH_LOCK_RECOVERED);
    gh_mutex_unlock(&p->m);
    ck_assert_int_eq(gh_mutex_lock(&p->m), -1);
    ck_assert_int_eq(gh_mutex_trylock(&p->m), -1);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(test_trylock_busy)
{
    struct pair *p = pair_new();
    int held[2], go[2], status;
    char c;
    pid_t pid;

    ck_assert_int_ne(pipe(held), -1);
    ck_assert_int_ne(pipe(go), -1);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        if (gh_mutex_lock(&p->m) != GH_LOCK_OK)
            _exit(1);
        if (write(held[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(2);
        gh_mutex_unlock(&p->m);
        _exit(0);
    }
    ck_assert_int_eq(read(held[0], &c, 1), 1);
    ck_assert_int_eq(gh_mutex_trylock(&p->m), GH_AGAIN);
    ck_assert_int_eq(gh_mutex_trylock(&p->m), GH_AGAIN);
    ck_assert_int_eq(write(go[1], "x", 1), 1);
    ck_assert_int_eq(gh_mutex_lock(&p->m), GH_LOCK_OK);
    gh_mutex_unlock(&p->m);
    status = reap(pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

#define NCHILD 4
#define NINCR 10000

START_TEST(test_many_processes_exact_total)
{
    struct pair *p = pair_new();
    pid_t pids[NCHILD];
    int i, status;

    p->a = p->b = 0;
    for (i = 0; i < NCHILD; i++) {
        pids[i] = fork();
        ck_assert_int_ne(pids[i], -1);
        if (pids[i] == 0) {
            for (int n = 0; n < NINCR; n++) {
                if (gh_mutex_lock(&p->m) != GH_LOCK_OK)
                    _exit(1);
                p->a++;                 /* non-atomic on purpose */
                p->b = p->a;
                gh_mutex_unlock(&p->m);
            }
            _exit(0);
        }
    }
    for (i = 0; i < NCHILD; i++) {
        status = reap(pids[i]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
    ck_assert_uint_eq(p->a, (uint64_t)NCHILD * NINCR);
    ck_assert_uint_eq(p->b, (uint64_t)NCHILD * NINCR);
}
END_TEST

/* Workers keep counting while other processes die holding the lock: each
 * recovery repairs (b = a), and no increment is lost. */
START_TEST(test_counting_through_deaths)
{
    struct pair *p = pair_new();
    pid_t pids[NCHILD];
    int i, status, fds[2];
    char c;

    ck_assert_int_ne(pipe(fds), -1);
    p->a = p->b = 0;
    for (i = 0; i < NCHILD; i++) {
        pids[i] = fork();
        ck_assert_int_ne(pids[i], -1);
        if (pids[i] == 0) {
            for (int n = 0; n < NINCR / 4; n++) {
                int rc = gh_mutex_lock(&p->m);

                if (rc == -1)
                    _exit(1);
                if (rc == GH_LOCK_RECOVERED) {
                    p->a = p->b;        /* roll back the dead owner's half */
                    gh_mutex_consistent(&p->m);
                }
                if (p->a != p->b)
                    _exit(2);
                p->a++;
                p->b = p->a;
                gh_mutex_unlock(&p->m);
            }
            _exit(0);
        }
    }
    for (i = 0; i < 5; i++) {
        pid_t pid = fork();

        ck_assert_int_ne(pid, -1);
        if (pid == 0) {
            int rc = gh_mutex_lock(&p->m);

            if (rc == -1)
                _exit(1);
            if (rc == GH_LOCK_RECOVERED) {
                p->a = p->b;
                gh_mutex_consistent(&p->m);
            }
            p->a += 1000;               /* half, never completed */
            if (write(fds[1], "x", 1) != 1)
                _exit(2);
            raise(SIGKILL);
            _exit(3);
        }
        ck_assert_int_eq(read(fds[0], &c, 1), 1);
        status = reap(pid);
        ck_assert(WIFSIGNALED(status));
    }
    for (i = 0; i < NCHILD; i++) {
        status = reap(pids[i]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
    if (gh_mutex_lock(&p->m) == GH_LOCK_RECOVERED) {
        p->a = p->b;
        gh_mutex_consistent(&p->m);
    }
    ck_assert_uint_eq(p->b, (uint64_t)NCHILD * (NINCR / 4));
    ck_assert_uint_eq(p->a, p->b);
    gh_mutex_unlock(&p->m);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(test_stripes)
{
    struct gh_stripes *s = region("stripes", gh_stripes_size(8));
    struct gh_stripes *bad = region("bad", gh_stripes_size(8));

    ck_assert_int_eq(gh_stripes_init(s, 8), 0);
    ck_assert_uint_eq(s->n, 8);
    ck_assert_ptr_eq(gh_stripe_for(s, 0), &s->locks[0]);
    ck_assert_ptr_eq(gh_stripe_for(s, 9), &s->locks[1]);
    ck_assert_ptr_eq(gh_stripe_for(s, UINT64_MAX), &s->locks[7]);
    for (uint32_t i = 0; i < 8; i++) {
        ck_assert_int_eq(gh_mutex_lock(&s->locks[i]), GH_LOCK_OK);
        /* another stripe is independent */
        ck_assert_int_eq(gh_mutex_trylock(&s->locks[(i + 1) % 8]), GH_LOCK_OK);
        gh_mutex_unlock(&s->locks[(i + 1) % 8]);
        gh_mutex_unlock(&s->locks[i]);
    }
    ck_assert_int_eq(gh_stripes_init(bad, 0), -1);
    ck_assert_int_eq(gh_stripes_init(bad, 6), -1);
    ck_assert_int_eq(gh_stripes_init(bad, 1), 0);
    ck_assert_ptr_eq(gh_stripe_for(bad, 12345), &bad->locks[0]);
}
END_TEST

/* A stripe held by a process that dies is recovered, others unaffected. */
START_TEST(test_stripe_owner_killed)
{
    struct gh_stripes *s = region("stripes", gh_stripes_size(4));
    int fds[2];
    char c;
    pid_t pid;

    ck_assert_int_eq(gh_stripes_init(s, 4), 0);
    ck_assert_int_ne(pipe(fds), -1);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        if (gh_mutex_lock(gh_stripe_for(s, 2)) != GH_LOCK_OK)
            _exit(1);
        if (write(fds[1], "x", 1) != 1)
            _exit(2);
        raise(SIGKILL);
        _exit(3);
    }
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    reap(pid);
    ck_assert_int_eq(gh_mutex_trylock(gh_stripe_for(s, 1)), GH_LOCK_OK);
    gh_mutex_unlock(gh_stripe_for(s, 1));
    ck_assert_int_eq(gh_mutex_lock(gh_stripe_for(s, 6)), GH_LOCK_RECOVERED);
    gh_mutex_consistent(gh_stripe_for(s, 6));
    gh_mutex_unlock(gh_stripe_for(s, 6));
    ck_assert_int_eq(gh_mutex_lock(gh_stripe_for(s, 2)), GH_LOCK_OK);
    gh_mutex_unlock(gh_stripe_for(s, 2));
    close(fds[0]);
    close(fds[1]);
}
END_TEST

static Suite *lock_suite(void)
{
    Suite *s = suite_create("lock");
    TCase *tc = tcase_create("robust");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_owner_killed_parent_recovers);
    tcase_add_test(tc, test_owner_killed_trylock_recovers);
    tcase_add_test(tc, test_not_consistent_is_unrecoverable);
    tcase_add_test(tc, test_trylock_busy);
    tcase_add_test(tc, test_many_processes_exact_total);
    tcase_add_test(tc, test_counting_through_deaths);
    tcase_add_test(tc, test_stripes);
    tcase_add_test(tc, test_stripe_owner_killed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lock_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
