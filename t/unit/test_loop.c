/*
 * test_loop.c - the event loop (common/loop.c): I/O dispatch, timers,
 * deferred callbacks, and watchers stopped while their events are pending.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/loop.h"
#include "common/time.h"

static struct gh_loop loop;

static void setup(void)
{
    ck_assert_int_eq(gh_loop_init(&loop, 64), 0);
}

static void teardown(void)
{
    gh_loop_free(&loop);
}

/* A pipe watched by an io; freed through the deferred list. */
struct watched {
    struct gh_io io;
    struct gh_loop_deferred deferred;
    int rfd, wfd;
    int calls;
    uint32_t revents;
    struct watched *other;      /* stopped by this one's callback */
    int restart_fd;             /* other is restarted on this fd, if != -1 */
    bool free_other_now;        /* free `other` right after stopping it */
};

static int total_calls;
static int calls_at_deferred;
static int deferred_runs;

static struct watched *watched_new(gh_io_fn *cb)
{
    struct watched *w = calloc(1, sizeof(*w));
    int p[2];

    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    w->rfd = p[0];
    w->wfd = p[1];
    w->restart_fd = -1;
    gh_io_init(&w->io, cb, w);
    ck_assert_int_eq(gh_io_start(&loop, &w->io, w->rfd, EPOLLIN), 0);
    ck_assert_int_eq(w->io.fd, w->rfd);
    return w;
}

static void watched_release(void *arg)
{
    struct watched *w = arg;
    calls_at_deferred = total_calls;
    deferred_runs++;
    close(w->rfd);
    close(w->wfd);
    free(w);
}

/* Close: stop the io, then queue the free. */
static void watched_close(struct watched *w)
{
    gh_io_stop(&loop, &w->io);
    ck_assert_int_eq(w->io.fd, -1);
    gh_loop_defer(&loop, &w->deferred, watched_release, w);
}

static void on_read(struct gh_io *io, uint32_t revents)
{
    struct watched *w = io->data;
    char buf[64];

    ck_assert_ptr_eq(io, &w->io);
    w->calls++;
    w->revents = revents;
    total_calls++;
    while (read(io->fd, buf, sizeof(buf)) > 0)
        ;
    if (w->other != NULL) {
        struct watched *o = w->other;
        w->other = NULL;
        o->other = NULL;
        if (w->restart_fd != -1) {
            gh_io_stop(&loop, &o->io);
            ck_assert_int_eq(gh_io_start(&loop, &o->io, w->restart_fd, EPOLLIN), 0);
        } else if (w->free_other_now) {
            gh_io_stop(&loop, &o->io);
            close(o->rfd);
            close(o->wfd);
            free(o);
        } else {
            watched_close(o);
        }
    }
}

static void reset_counts(void)
{
    total_calls = 0;
    calls_at_deferred = -1;
    deferred_runs = 0;
}

START_TEST(test_pipe_readable)
{
    struct watched *w = watched_new(on_read);

    ck_assert_int_eq(gh_loop_run_once(&loop, 0), 0);        /* nothing yet */
    ck_assert_int_eq(w->calls, 0);
    ck_assert_int_eq(write(w->wfd, "x", 1), 1);
    ck_assert_int_eq(gh_loop_run_once(&loop, 1000), 1);
    ck_assert_int_eq(w->calls, 1);
    ck_assert(w->revents & EPOLLIN);
    ck_assert_int_eq(gh_loop_run_once(&loop, 0), 0);        /* drained */

    /* Interest changes. */
    ck_assert_int_eq(gh_io_modify(&loop, &w->io, EPOLLIN), 0);    /* unchanged */
    ck_assert_int_eq(gh_io_modify(&loop, &w->io, EPOLLIN | EPOLLRDHUP), 0);
    ck_assert_uint_eq(w->io.events, EPOLLIN | EPOLLRDHUP);
    gh_io_stop(&loop, &w->io);
    gh_io_stop(&loop, &w->io);          /* harmless twice */
    ck_assert_int_eq(write(w->wfd, "x", 1), 1);
    ck_assert_int_eq(gh_loop_run_once(&loop, 0), 0);
    ck_assert_int_eq(w->calls, 1);
    errno = 0;
    ck_assert_int_eq(gh_io_modify(&loop, &w->io, EPOLLIN), -1);
    ck_assert_int_eq(errno, EBADF);
    close(w->rfd);
    close(w->wfd);
    free(w);
}
END_TEST

START_TEST(test_start_errors)
{
    struct gh_io io;
    int p[2];

    gh_io_init(&io, on_read, NULL);
    errno = 0;
    ck_assert_int_eq(gh_io_start(&loop, &io, 1000, EPOLLIN), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(io.fd, -1);
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(gh_io_start(&loop, &io, p[0], EPOLLIN), 0);
    struct gh_io io2;
    gh_io_init(&io2, on_read, NULL);
    ck_assert_int_eq(gh_io_start(&loop, &io2, p[0], EPOLLIN), -1);
    ck_assert_int_eq(errno, EEXIST);
    gh_io_stop(&loop, &io);
    close(p[0]);
    close(p[1]);
}
END_TEST

static int timer_fired;
static gh_msec_t timer_fired_at;

static void on_timer(struct gh_timer *t)
{
    GH_UNUSED(t);
    timer_fired++;
    timer_fired_at = gh_now_ms;
}

START_TEST(test_timer_fires)
{
    struct gh_timer t;
    gh_msec_t start = gh_time_monotonic_ms();

    timer_fired = 0;
    gh_timer_init(&t, on_timer, NULL);
    ck_assert_int_eq(gh_loop_timer_set(&loop, &t, 30), 0);
    for (int i = 0; i < 100 && timer_fired == 0; i++)
        ck_assert_int_ge(gh_loop_run_once(&loop, -1), 0);
    ck_assert_int_eq(timer_fired, 1);
    ck_assert_int_ge(timer_fired_at - start, 30);
    ck_assert_int_lt(gh_time_monotonic_ms() - start, 1000);
    ck_assert(!gh_timer_armed(&t));

    /* A cancelled timer does not fire; max_wait_ms bounds the wait. */
    gh_loop_timer_set(&loop, &t, 10);
    gh_loop_timer_cancel(&loop, &t);
    start = gh_time_monotonic_ms();
    ck_assert_int_eq(gh_loop_run_once(&loop, 50), 0);
    ck_assert_int_ge(gh_time_monotonic_ms() - start, 49);
    ck_assert_int_eq(timer_fired, 1);
}
END_TEST

/* A wave of due timers does not hold back ready I/O: one iteration runs at
 * most GH_LOOP_TIMER_BATCH of them after dispatching the events, and the
 * next iterations do not wait (the rest are due) until all have fired. */
START_TEST(test_timer_batch)
{
    enum { N = 3 * GH_LOOP_TIMER_BATCH + 5 };
    static struct gh_timer t[N];
    struct watched *w = watched_new(on_read);

    timer_fired = 0;
    for (int i = 0; i < N; i++) {
        gh_timer_init(&t[i], on_timer, NULL);
        ck_assert_int_eq(gh_loop_timer_set(&loop, &t[i], 0), 0);
    }
    ck_assert_int_eq(write(w->wfd, "x", 1), 1);
    ck_assert_int_eq(gh_loop_run_once(&loop, 1000), 1);
    ck_assert_int_eq(w->calls, 1);
    ck_assert_int_eq(timer_fired, GH_LOOP_TIMER_BATCH);
    gh_msec_t start = gh_time_monotonic_ms();
    for (int i = 0; i < 10 && timer_fired < N; i++)
        ck_assert_int_eq(gh_loop_run_once(&loop, 5000), 0);
    ck_assert_int_eq(timer_fired, N);
    ck_assert_int_lt(gh_time_monotonic_ms() - start, 1000);   /* never waited */
    for (int i = 0; i < N; i++)
        ck_assert(!gh_timer_armed(&t[i]));
    gh_io_stop(&loop, &w->io);
    close(w->rfd);
    close(w->wfd);
    free(w);
}
END_TEST

static void on_alarm(int sig)
{
    GH_UNUSED(sig);
}

START_TEST(test_eintr)
{
    struct sigaction sa;
    struct itimerval it = { .it_value = { 0, 20000 } };

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
    ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
    gh_msec_t start = gh_time_monotonic_ms();
    ck_assert_int_eq(gh_loop_run_once(&loop, 5000), 0);
    ck_assert_int_lt(gh_time_monotonic_ms() - start, 4000);
}
END_TEST

static void mark_deferred(void *arg)
{
    int *flag = arg;
    (*flag)++;
    calls_at_deferred = total_calls;
}

static void defer_from_callback(struct gh_io *io, uint32_t revents)
{
    struct watched *w = io->data;
    on_read(io, revents);
    watched_close(w);                   /* frees itself, deferred */
    ck_assert_int_eq(deferred_runs, 0); /* not yet */
}

START_TEST(test_deferred_after_dispatch)
{
    struct watched *a, *b;

    reset_counts();
    a = watched_new(defer_from_callback);
    b = watched_new(defer_from_callback);
    ck_assert_int_eq(write(a->wfd, "x", 1), 1);
    ck_assert_int_eq(write(b->wfd, "x", 1), 1);
    ck_assert_int_eq(gh_loop_run_once(&loop, 1000), 2);
    /* Both released, after both callbacks ran. */
    ck_assert_int_eq(deferred_runs, 2);
    ck_assert_int_eq(calls_at_deferred, 2);

    /* Deferred outside the loop: run on the next iteration, or on demand. */
    int flag = 0;
    struct gh_loop_deferred d1, d2;
    gh_loop_defer(&loop, &d1, mark_deferred, &flag);
    gh_loop_defer(&loop, &d2, mark_deferred, &flag);
    ck_assert_int_eq(flag, 0);
    gh_loop_run_once(&loop, 0);
    ck_assert_int_eq(flag, 2);
    gh_loop_defer(&loop, &d1, mark_deferred, &flag);        /* node reused */
    gh_loop_run_deferred(&loop);
    ck_assert_int_eq(flag, 3);
    gh_loop_run_deferred(&loop);
    ck_assert_int_eq(flag, 3);
}
END_TEST

/* Two readable pipes in one batch; whichever runs first stops the other. */
static void run_stop_other(bool free_now, bool restart)
{
    struct watched *a, *b;
    int p[2] = { -1, -1 };

    reset_counts();
    a = watched_new(on_read);
    b = watched_new(on_read);
    a->other = b;
    b->other = a;
    a->free_other_now = b->free_other_now = free_now;
    if (restart) {
        ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
        a->restart_fd = b->restart_fd = p[0];
    }
    ck_assert_int_eq(write(a->wfd, "x", 1), 1);
    ck_assert_int_eq(write(b->wfd, "x", 1), 1);
    ck_assert_int_eq(gh_loop_run_once(&loop, 1000), 1);
    ck_assert_int_eq(total_calls, 1);
    if (free_now)
        ck_assert_int_eq(deferred_runs, 0);
    else if (!restart)
        ck_assert_int_eq(deferred_runs, 1);
    if (restart) {
        /* The restarted watcher works on its new fd. */
        struct watched *o = a->calls == 1 ? b : a;
        ck_assert_int_eq(o->io.fd, p[0]);
        ck_assert_int_eq(write(p[1], "y", 1), 1);
        ck_assert_int_eq(gh_loop_run_once(&loop, 1000), 1);
        ck_assert_int_eq(o->calls, 1);
        gh_io_stop(&loop, &o->io);
        close(p[0]);
        close(p[1]);
        close(a->rfd);
        close(a->wfd);
        close(b->rfd);
        close(b->wfd);
        free(a);
        free(b);
        return;
    }
    struct watched *survivor = a->calls == 1 ? a : b;
    gh_io_stop(&loop, &survivor->io);
    close(survivor->rfd);
    close(survivor->wfd);
    free(survivor);
}

START_TEST(test_stop_other_pending)
{
    run_stop_other(false, false);
}
END_TEST

START_TEST(test_stop_and_free_other_pending)
{
    /* Freed at once after gh_io_stop: ASan would catch a dispatch. */
    run_stop_other(true, false);
}
END_TEST

START_TEST(test_stop_and_restart_other_pending)
{
    run_stop_other(false, true);
}
END_TEST

static Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_pipe_readable);
    tcase_add_test(tc, test_start_errors);
    tcase_add_test(tc, test_timer_fires);
    tcase_add_test(tc, test_timer_batch);
    tcase_add_test(tc, test_eintr);
    tcase_add_test(tc, test_deferred_after_dispatch);
    tcase_add_test(tc, test_stop_other_pending);
    tcase_add_test(tc, test_stop_and_free_other_pending);
    tcase_add_test(tc, test_stop_and_restart_other_pending);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loop_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
