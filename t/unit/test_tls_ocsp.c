/*
 * test_tls_ocsp.c - the shared OCSP slots (server/tls_ocsp.c): what a
 * worker reads is a whole response for its certificate or nothing, and a
 * writer killed in the middle of a write neither leaves a torn response
 * visible nor blocks the next reader or writer (STYLE.md's lock test).
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/lock.h"
#include "server/tls_ocsp.h"

static struct gh_shm shm;
static const uint8_t FP_A[32] = { 0xaa, 1, 2, 3 };
static const uint8_t FP_B[32] = { 0xbb, 1, 2, 3 };

static int64_t now_us(void)
{
    struct timespec ts;
    ck_assert_int_ne(clock_gettime(CLOCK_MONOTONIC, &ts), -1);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void setup(void)
{
    ck_assert_int_eq(gh_shm_create(&shm, 1 << 20), 0);
    gh_ocsp_region = NULL;
    ck_assert_int_eq(gh_ocsp_region_attach(&shm), 0);
    ck_assert_ptr_nonnull(gh_ocsp_region);
}

static void teardown(void)
{
    gh_ocsp_region = NULL;
    gh_shm_detach(&shm);
}

static void fill(unsigned char *buf, size_t len, unsigned char v)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(v + i);
}

/* The slot holds exactly `len` bytes made by fill(v) for fp. */
static void expect(const struct gh_ocsp_slot *s, const uint8_t *fp, size_t len, unsigned char v,
                   int64_t expires)
{
    unsigned char got[GH_OCSP_DER_MAX], want[GH_OCSP_DER_MAX];
    size_t n = 0;
    int64_t exp = 0;
    int status = -1;
    ck_assert(gh_ocsp_slot_load(s, fp, got, &n, &exp, &status));
    ck_assert_uint_eq(n, len);
    ck_assert_int_eq(exp, expires);
    ck_assert_int_eq(status, V_OCSP_CERTSTATUS_GOOD);
    fill(want, len, v);
    ck_assert_mem_eq(got, want, len);
}

START_TEST(test_store_load)
{
    struct gh_ocsp_slot *s = &gh_ocsp_region->slots[3];
    unsigned char der[GH_OCSP_DER_MAX], out[GH_OCSP_DER_MAX];
    size_t n;
    int64_t exp;
    int status;

    ck_assert(!gh_ocsp_slot_load(s, FP_A, out, &n, &exp, &status));     /* never written */
    fill(der, 700, 7);
    ck_assert_int_eq(gh_ocsp_slot_store(s, FP_A, der, 700, V_OCSP_CERTSTATUS_GOOD, 10, 1000), 0);
    expect(s, FP_A, 700, 7, 1000);
    /* Keyed by the certificate: another one's slot index gives nothing. */
    ck_assert(!gh_ocsp_slot_load(s, FP_B, out, &n, &exp, &status));
    /* The largest size fits; one more byte is refused and changes nothing. */
    fill(der, GH_OCSP_DER_MAX, 9);
    ck_assert_int_eq(gh_ocsp_slot_store(s, FP_B, der, GH_OCSP_DER_MAX, V_OCSP_CERTSTATUS_GOOD,
                                        20, 2000), 0);
    expect(s, FP_B, GH_OCSP_DER_MAX, 9, 2000);
    ck_assert_int_eq(gh_ocsp_slot_store(s, FP_A, der, GH_OCSP_DER_MAX + 1,
                                        V_OCSP_CERTSTATUS_GOOD, 30, 3000), -1);
    expect(s, FP_B, GH_OCSP_DER_MAX, 9, 2000);
}
END_TEST

/* A writer takes the slot's lock, starts its write (the sequence goes odd,
 * half of the new bytes land) and dies by SIGKILL. */
static pid_t fork_dying_writer(struct gh_ocsp_slot *s, int notify_fd)
{
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        if (gh_mutex_lock(&s->lock) != GH_LOCK_OK)
            _exit(1);
        uint32_t seq = atomic_load(&s->seq);
        atomic_store(&s->seq, seq | 1u);
        memset(s->der, 0xee, 300);      /* half of a write */
        s->der_len = 4000;
        if (write(notify_fd, "x", 1) != 1)
            _exit(2);
        raise(SIGKILL);
        _exit(3);
    }
    return pid;
}

START_TEST(test_writer_killed_midway)
{
    struct gh_ocsp_slot *s = &gh_ocsp_region->slots[0];
    unsigned char der[GH_OCSP_DER_MAX], out[GH_OCSP_DER_MAX];
    size_t n;
    int64_t exp;
    int status, fds[2], wstatus;
    char c;

    fill(der, 600, 1);
    ck_assert_int_eq(gh_ocsp_slot_store(s, FP_A, der, 600, V_OCSP_CERTSTATUS_GOOD, 1, 100), 0);
    ck_assert_int_ne(pipe(fds), -1);
    pid_t pid = fork_dying_writer(s, fds[1]);
    ck_assert_int_eq(read(fds[0], &c, 1), 1);

    /* A reader neither waits nor sees the torn bytes: no staple at all. */
    int64_t t0 = now_us();
    ck_assert(!gh_ocsp_slot_load(s, FP_A, out, &n, &exp, &status));
    ck_assert_msg(now_us() - t0 < 10000, "a reader waited %lld us",
                  (long long)(now_us() - t0));
    while (waitpid(pid, &wstatus, 0) == -1)
        ck_assert_int_eq(errno, EINTR);
    ck_assert(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);
    ck_assert(!gh_ocsp_slot_load(s, FP_A, out, &n, &exp, &status));

    /* The next writer recovers the lock at once and the slot is whole again. */
    fill(der, 900, 5);
    t0 = now_us();
    ck_assert_int_eq(gh_ocsp_slot_store(s, FP_A, der, 900, V_OCSP_CERTSTATUS_GOOD, 2, 200), 0);
    ck_assert_msg(now_us() - t0 < 100000, "the writer took %lld us",
                  (long long)(now_us() - t0));
    expect(s, FP_A, 900, 5, 200);
    ck_assert_int_eq(gh_mutex_trylock(&s->lock), GH_LOCK_OK);
    gh_mutex_unlock(&s->lock);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* Readers racing a writer in another process only ever see whole responses. */
START_TEST(test_readers_never_torn)
{
    struct gh_ocsp_slot *s = &gh_ocsp_region->slots[1];
    unsigned char der[GH_OCSP_DER_MAX], out[GH_OCSP_DER_MAX];
    fill(der, 1000, 0);
    ck_assert_int_eq(gh_ocsp_slot_store(s, FP_A, der, 1000, V_OCSP_CERTSTATUS_GOOD, 0, 1000), 0);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        unsigned char d[GH_OCSP_DER_MAX];
        for (int i = 0; i < 20000; i++) {
            size_t len = 1000 + (size_t)(i % 7) * 300;
            fill(d, len, (unsigned char)(i % 7));
            if (gh_ocsp_slot_store(s, FP_A, d, len, V_OCSP_CERTSTATUS_GOOD, 0, 1000 + i % 7)
                != 0)
                _exit(1);
        }
        _exit(0);
    }
    int whole = 0;
    for (int i = 0; i < 200000; i++) {
        size_t n;
        int64_t exp;
        int status;
        if (!gh_ocsp_slot_load(s, FP_A, out, &n, &exp, &status))
            continue;
        int v = (int)(exp - 1000);
        ck_assert(v >= 0 && v < 7);
        ck_assert_uint_eq(n, 1000 + (size_t)v * 300);
        fill(der, n, (unsigned char)v);
        ck_assert_mem_eq(out, der, n);
        whole++;
    }
    int wstatus;
    while (waitpid(pid, &wstatus, 0) == -1)
        ck_assert_int_eq(errno, EINTR);
    ck_assert(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    ck_assert_int_gt(whole, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tls_ocsp");
    TCase *tc = tcase_create("slots");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_store_load);
    tcase_add_test(tc, test_writer_killed_midway);
    tcase_add_test(tc, test_readers_never_torn);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
