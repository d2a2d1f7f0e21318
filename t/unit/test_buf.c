/*
 * test_buf.c - I/O buffers and their free list (common/buf.c).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"

START_TEST(test_pool_reuse_and_limit)
{
    struct gh_buf_pool bp;
    struct gh_buf *b[4];

    gh_buf_pool_init(&bp, 1024, 2);
    for (int i = 0; i < 4; i++) {
        b[i] = gh_buf_get(&bp);
        ck_assert_ptr_nonnull(b[i]);
        ck_assert_uint_eq(gh_buf_size(b[i]), 1024);
        ck_assert(gh_buf_empty(b[i]));
        ck_assert_uint_eq(gh_buf_room(b[i]), 1024);
        ck_assert_ptr_eq(b[i]->start, (char *)(b[i] + 1));   /* one allocation */
    }
    ck_assert_uint_eq(bp.nused, 4);
    for (int i = 0; i < 4; i++)
        gh_buf_put(&bp, b[i]);
    gh_buf_put(&bp, NULL);
    ck_assert_uint_eq(bp.nused, 0);
    ck_assert_uint_eq(bp.nfree, 2);     /* two kept, two freed */

    struct gh_buf *r = gh_buf_get(&bp);
    ck_assert(r == b[1] || r == b[0]);
    ck_assert(gh_buf_empty(r));
    ck_assert_ptr_null(r->next);
    ck_assert_uint_eq(bp.nfree, 1);
    gh_buf_put(&bp, r);
    gh_buf_pool_destroy(&bp);
    ck_assert_uint_eq(bp.nfree, 0);
    ck_assert_ptr_null(bp.free);
}
END_TEST

START_TEST(test_append_and_compact)
{
    struct gh_buf_pool bp;

    gh_buf_pool_init(&bp, 8, 1);
    struct gh_buf *b = gh_buf_get(&bp);
    ck_assert_uint_eq(gh_buf_append(b, "hello", 5), 5);
    ck_assert_uint_eq(gh_buf_append(b, "world", 5), 3);   /* only 3 fit */
    ck_assert_uint_eq(gh_buf_len(b), 8);
    ck_assert_uint_eq(gh_buf_room(b), 0);
    ck_assert_int_eq(memcmp(b->pos, "hellowor", 8), 0);
    b->pos += 5;
    gh_buf_compact(b);
    ck_assert_ptr_eq(b->pos, b->start);
    ck_assert_uint_eq(gh_buf_len(b), 3);
    ck_assert_int_eq(memcmp(b->pos, "wor", 3), 0);
    ck_assert_uint_eq(gh_buf_room(b), 5);
    b->pos = b->last;
    gh_buf_compact(b);
    ck_assert(gh_buf_empty(b));
    ck_assert_uint_eq(gh_buf_room(b), 8);
    gh_buf_put(&bp, b);
    gh_buf_pool_destroy(&bp);
}
END_TEST

START_TEST(test_read_write_pipe)
{
    struct gh_buf_pool bp;
    int p[2];

    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    gh_buf_pool_init(&bp, 16, 4);
    struct gh_buf *in = gh_buf_get(&bp), *out = gh_buf_get(&bp);

    ck_assert_int_eq(gh_buf_read(in, p[0]), GH_AGAIN);     /* nothing yet */
    ck_assert_int_eq(gh_buf_write(out, p[1]), 0);          /* nothing to write */
    gh_buf_append(out, "0123456789", 10);
    ck_assert_int_eq(gh_buf_write(out, p[1]), 10);
    ck_assert(gh_buf_empty(out));
    ck_assert_int_eq(gh_buf_read(in, p[0]), 10);
    ck_assert_int_eq(memcmp(in->pos, "0123456789", 10), 0);

    /* A full buffer cannot read: ENOBUFS rather than a fake EOF. */
    gh_buf_append(in, "abcdef", 6);
    errno = 0;
    ck_assert_int_eq(gh_buf_read(in, p[0]), GH_ERROR);
    ck_assert_int_eq(errno, ENOBUFS);

    gh_buf_reset(in);
    close(p[1]);
    ck_assert_int_eq(gh_buf_read(in, p[0]), GH_DONE);
    close(p[0]);

    /* Writing to a pipe nobody reads: EAGAIN once full, EPIPE once closed. */
    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    gh_buf_reset(out);
    gh_buf_append(out, "x", 1);
    ssize_t n = 0;
    for (int i = 0; i < 1000000 && (n = gh_buf_write(out, p[1])) == 1; i++)
        out->pos = out->start;
    ck_assert_int_eq(n, GH_AGAIN);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(gh_buf_write(out, p[1]), GH_ERROR);
    ck_assert_int_eq(errno, EPIPE);
    close(p[1]);
    ck_assert_int_eq(gh_buf_read(in, 12345), GH_ERROR);
    ck_assert_int_eq(errno, EBADF);

    gh_buf_put(&bp, in);
    gh_buf_put(&bp, out);
    gh_buf_pool_destroy(&bp);
}
END_TEST

static Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_pool_reuse_and_limit);
    tcase_add_test(tc, test_append_and_compact);
    tcase_add_test(tc, test_read_write_pipe);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(buf_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
