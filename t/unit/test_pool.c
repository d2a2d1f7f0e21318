/*
 * test_pool.c - the region allocator (common/pool.c): alignment, many
 * blocks, large allocations, cleanup order, reset and destroy.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "common/pool.h"

static int calls[16];
static int ncalls;

static void note(void *data)
{
    if (ncalls < (int)GH_ARRAY_LEN(calls))
        calls[ncalls++] = (int)(intptr_t)data;
}

START_TEST(test_alignment_and_blocks)
{
    struct gh_pool *p = gh_pool_create(1024);

    ck_assert_ptr_nonnull(p);
    /* Odd sizes, enough of them to need many blocks. */
    char *prev = NULL;
    for (int i = 0; i < 2000; i++) {
        size_t size = (size_t)(i % 37) + 1;
        char *m = gh_palloc(p, size);
        ck_assert_ptr_nonnull(m);
        ck_assert_uint_eq((uintptr_t)m % 16, 0);
        memset(m, 0xab, size);
        ck_assert_ptr_ne(m, prev);
        prev = m;
    }
    ck_assert_ptr_ne(p->current, p->blocks);    /* moved past full blocks */

    char *z = gh_pcalloc(p, 100);
    ck_assert_ptr_nonnull(z);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(z[i], 0);
    char *s = gh_pstrndup(p, "hello world", 5);
    ck_assert_str_eq(s, "hello");
    ck_assert_ptr_nonnull(gh_palloc(p, 0));
    gh_pool_destroy(p);
    gh_pool_destroy(NULL);
}
END_TEST

START_TEST(test_large)
{
    struct gh_pool *p = gh_pool_create(512);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_null(p->large);
    for (int i = 0; i < 5; i++) {
        char *m = gh_palloc(p, 100000);
        ck_assert_ptr_nonnull(m);
        ck_assert_uint_eq((uintptr_t)m % 16, 0);
        memset(m, i, 100000);
    }
    ck_assert_ptr_nonnull(p->large);
    gh_pool_reset(p);
    ck_assert_ptr_null(p->large);
    ck_assert_ptr_nonnull(gh_palloc(p, 4096));
    gh_pool_destroy(p);                 /* frees the large ones (leak check) */
}
END_TEST

START_TEST(test_cleanup_order)
{
    struct gh_pool *p = gh_pool_create(4096);

    ncalls = 0;
    for (int i = 1; i <= 3; i++)
        ck_assert_int_eq(gh_pool_cleanup_add(p, note, (void *)(intptr_t)i), 0);
    gh_pool_reset(p);
    ck_assert_int_eq(ncalls, 3);
    ck_assert_int_eq(calls[0], 3);
    ck_assert_int_eq(calls[1], 2);
    ck_assert_int_eq(calls[2], 1);
    gh_pool_reset(p);                   /* already run: not again */
    ck_assert_int_eq(ncalls, 3);

    ck_assert_int_eq(gh_pool_cleanup_add(p, note, (void *)(intptr_t)4), 0);
    ck_assert_int_eq(gh_pool_cleanup_add(p, note, (void *)(intptr_t)5), 0);
    gh_pool_destroy(p);
    ck_assert_int_eq(ncalls, 5);
    ck_assert_int_eq(calls[3], 5);
    ck_assert_int_eq(calls[4], 4);
}
END_TEST

/* A cleanup sees pool memory still intact. */
static void check_intact(void *data)
{
    ck_assert_str_eq((const char *)data, "still here");
    ncalls++;
}

START_TEST(test_cleanup_sees_memory)
{
    struct gh_pool *p = gh_pool_create(256);
    char *big = gh_palloc(p, 10000);
    strcpy(big, "still here");
    char *small = gh_pstrndup(p, "still here", 10);

    ncalls = 0;
    gh_pool_cleanup_add(p, check_intact, big);
    gh_pool_cleanup_add(p, check_intact, small);
    gh_pool_destroy(p);
    ck_assert_int_eq(ncalls, 2);
}
END_TEST

START_TEST(test_reset_reuses_first_block)
{
    struct gh_pool *p = gh_pool_create(1024);
    char *first = gh_palloc(p, 16);

    for (int i = 0; i < 200; i++)
        ck_assert_ptr_nonnull(gh_palloc(p, 100));       /* several blocks */
    ck_assert_ptr_ne(p->current, p->blocks);
    gh_pool_reset(p);
    ck_assert_ptr_eq(p->current, p->blocks);
    char *again = gh_palloc(p, 16);
    ck_assert_ptr_eq(again, first);
    for (int i = 0; i < 200; i++)
        ck_assert_ptr_nonnull(gh_palloc(p, 100));
    gh_pool_destroy(p);
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_alignment_and_blocks);
    tcase_add_test(tc, test_large);
    tcase_add_test(tc, test_cleanup_order);
    tcase_add_test(tc, test_cleanup_sees_memory);
    tcase_add_test(tc, test_reset_reuses_first_block);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pool_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
