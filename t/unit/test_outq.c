/*
 * test_outq.c - writev queues (common/outq.h).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/outq.h"

START_TEST(test_push_consume_partial)
{
    struct gh_outq q = { 0 };
    ck_assert(gh_outq_empty(&q));
    ck_assert_int_eq(gh_outq_push(&q, "abc", 3), 0);
    ck_assert_int_eq(gh_outq_push(&q, "", 0), 0);          /* empty pieces are skipped */
    ck_assert_int_eq(gh_outq_push(&q, "defgh", 5), 0);
    ck_assert_int_eq(q.n, 2);
    gh_outq_consume(&q, 4);                               /* all of the first, 1 of the second */
    ck_assert_int_eq(q.n, 1);
    ck_assert_uint_eq(q.v[q.first].iov_len, 4);
    ck_assert(memcmp(q.v[q.first].iov_base, "efgh", 4) == 0);
    gh_outq_consume(&q, 4);
    ck_assert(gh_outq_empty(&q));
    /* After draining, pushing starts from the front again. */
    ck_assert_int_eq(gh_outq_push(&q, "x", 1), 0);
    ck_assert_int_eq(q.first, 0);
}
END_TEST

START_TEST(test_full)
{
    struct gh_outq q = { 0 };
    for (int i = 0; i < GH_OUTQ_MAX; i++)
        ck_assert_int_eq(gh_outq_push(&q, "a", 1), 0);
    ck_assert(!q.overflow);
    ck_assert_int_eq(gh_outq_push(&q, "b", 1), -1);
    /* A lost piece poisons the queue: its write fails rather than send a
     * stream with a hole in it. */
    ck_assert(q.overflow);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    errno = 0;
    ck_assert_int_eq(gh_outq_write(&q, fds[1]), GH_ERROR);
    ck_assert_int_eq(errno, ENOBUFS);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(test_write_to_pipe)
{
    int fds[2];
    char buf[64];
    struct gh_outq q = { 0 };

    ck_assert_int_eq(pipe2(fds, O_NONBLOCK), 0);
    gh_outq_push(&q, "HTTP/1.1 200 OK\r\n\r\n", 19);
    gh_outq_push(&q, "body", 4);
    ck_assert_int_eq(gh_outq_write(&q, fds[1]), 23);
    ck_assert(gh_outq_empty(&q));
    ck_assert_int_eq(read(fds[0], buf, sizeof(buf)), 23);
    ck_assert(memcmp(buf + 19, "body", 4) == 0);
    ck_assert_int_eq(gh_outq_write(&q, fds[1]), 0);        /* nothing queued */

    /* A full pipe gives GH_AGAIN and keeps the queue. */
    static char big[1 << 20];
    gh_outq_push(&q, big, sizeof(big));
    ssize_t n = gh_outq_write(&q, fds[1]);
    ck_assert(n > 0 && (size_t)n < sizeof(big));
    ck_assert_int_eq(gh_outq_write(&q, fds[1]), GH_AGAIN);
    ck_assert(!gh_outq_empty(&q));
    close(fds[0]);
    ck_assert_int_eq(gh_outq_write(&q, fds[1]), GH_ERROR); /* EPIPE: SIGPIPE ignored below */
    close(fds[1]);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("outq");
    TCase *tc = tcase_create("outq");
    tcase_add_test(tc, test_push_consume_partial);
    tcase_add_test(tc, test_full);
    tcase_add_test(tc, test_write_to_pipe);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
