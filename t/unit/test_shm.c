/*
 * test_shm.c - the shared segment (common/shm.c): creation, named regions
 * with layout versions, the allocator, attach, process slots, and recovery
 * of the header lock.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/lock.h"
#include "common/shm.h"

#define SEG_SIZE (1u << 20)

static struct gh_shm shm;
static size_t initial_free;

static void setup(void)
{
    ck_assert_int_eq(gh_shm_create(&shm, SEG_SIZE), 0);
    initial_free = gh_shm_free_bytes(&shm);
}

static void teardown(void)
{
    gh_shm_detach(&shm);
}

static int reap(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) == -1)
        ck_assert_int_eq(errno, EINTR);
    return status;
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *c = p;

    for (size_t i = 0; i < n; i++)
        if (c[i] != 0)
            return false;
    return true;
}

static void *reserve(const char *name, uint32_t version, size_t size, bool want_fresh)
{
    bool fresh = !want_fresh;
    void *p = gh_shm_region(&shm, name, version, size, &fresh);

    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(fresh, want_fresh);
    ck_assert_uint_eq(gh_shm_off(&shm, p) % 64, 0);
    ck_assert_uint_ge(gh_shm_off(&shm, p), sizeof(struct gh_shm_header));
    ck_assert_uint_le(gh_shm_off(&shm, p) + size, shm.size);
    if (want_fresh)
        ck_assert(all_zero(p, size));
    return p;
}

START_TEST(test_create)
{
    int flags, seals;

    ck_assert_int_ge(shm.fd, 0);
    ck_assert_uint_eq(shm.size, SEG_SIZE);
    ck_assert_ptr_eq(shm.hdr, (void *)shm.base);
    ck_assert_uint_eq(shm.hdr->magic, GH_SHM_MAGIC);
    ck_assert_uint_eq(shm.hdr->version, GH_SHM_VERSION);
    ck_assert_uint_eq(shm.hdr->size, SEG_SIZE);
    ck_assert_uint_eq(atomic_load(&shm.hdr->generation), 0);
    ck_assert_uint_eq(initial_free, SEG_SIZE - ((sizeof(struct gh_shm_header) + 63) & ~63ul));
    for (int i = 0; i < GH_SHM_MAX_PROCS; i++)
        ck_assert_int_eq(atomic_load(&shm.hdr->procs[i].pid), 0);

    /* Survives exec (USR2); cannot be resized under the mappings. */
    flags = fcntl(shm.fd, F_GETFD);
    ck_assert_int_ne(flags, -1);
    ck_assert_int_eq(flags & FD_CLOEXEC, 0);
    seals = fcntl(shm.fd, F_GET_SEALS);
    ck_assert_int_ne(seals, -1);
    ck_assert(seals & F_SEAL_SHRINK);
    ck_assert(seals & F_SEAL_GROW);
    ck_assert_int_eq(ftruncate(shm.fd, 4096), -1);
}
END_TEST

START_TEST(test_create_rounds_and_rejects)
{
    struct gh_shm s;
    long page = sysconf(_SC_PAGESIZE);

    ck_assert_int_eq(gh_shm_create(&s, 0), -1);
    ck_assert_int_eq(gh_shm_create(&s, SIZE_MAX), -1);
    ck_assert_int_eq(gh_shm_create(&s, 100000), 0);
    ck_assert_uint_eq(s.size % (size_t)page, 0);
    ck_assert_uint_ge(s.size, 100000);
    gh_shm_detach(&s);
    gh_shm_detach(&s);                          /* twice is harmless */
}
END_TEST

/* The fd is really inherited across exec. */
START_TEST(test_fd_survives_exec)
{
    char path[64];
    pid_t pid;
    int status;

    ck_assert_int_lt(snprintf(path, sizeof(path), "/proc/self/fd/%d", shm.fd),
                     (int)sizeof(path));
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "test -e \"$0\"", path, (char *)NULL);
        _exit(127);
    }
    status = reap(pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(test_regions_reserve_and_reuse)
{
    uint64_t *a = reserve("alpha", 1, 1000, true);
    char *b = reserve("beta", 1, 100, true);
    uint64_t *a2;

    ck_assert_ptr_ne(a, b);
    ck_assert_uint_eq(gh_shm_free_bytes(&shm), initial_free - 1024 - 128);
    /* no overlap */
    ck_assert((char *)b >= (char *)a + 1000 || (char *)a >= b + 100);

    a[0] = 0x1122334455667788ull;
    a[124] = 42;
    memset(b, 'x', 100);

    a2 = reserve("alpha", 1, 1000, false);      /* same name + version + size */
    ck_assert_ptr_eq(a2, a);
    ck_assert_uint_eq(a2[0], 0x1122334455667788ull);
    ck_assert_uint_eq(a2[124], 42);
    ck_assert_uint_eq(gh_shm_free_bytes(&shm), initial_free - 1024 - 128);
    ck_assert_int_eq(b[99], 'x');
}
END_TEST

START_TEST(test_region_version_change_is_fresh)
{
    uint64_t *a = reserve("alpha", 1, 4096, true);
    uint64_t *a2;

    memset(a, 0xab, 4096);
    a2 = reserve("alpha", 2, 4096, true);       /* zero-filled, checked */
    ck_assert_uint_eq(gh_shm_free_bytes(&shm), initial_free - 4096);
    /* Apart from the old one, which an older binary's workers may still
     * write to after USR2. */
    ck_assert(a2 + 512 <= a || a + 512 <= a2);
    ck_assert_uint_eq(a[0], 0xababababababababull);
    /* and version 2 now persists */
    a2[3] = 7;
    ck_assert_ptr_eq(reserve("alpha", 2, 4096, false), a2);
    ck_assert_uint_eq(a2[3], 7);
}
END_TEST

START_TEST(test_region_size_change_is_fresh)
{
    char *a = reserve("alpha", 1, 4096, true);
    char *b = reserve("beta", 1, 64, true);
    char *a2;

    memset(a, 0xcd, 4096);
    b[0] = 'b';
    a2 = reserve("alpha", 1, 8192, true);
    ck_assert_uint_eq(gh_shm_free_bytes(&shm), initial_free - 8192 - 64);
    a2 = reserve("alpha", 1, 100, true);        /* shrinking too */
    ck_assert_uint_eq(gh_shm_free_bytes(&shm), initial_free - 128 - 64);
    ck_assert_int_eq(b[0], 'b');                /* neighbour untouched */
    GH_UNUSED(a2);
}
END_TEST

START_TEST(test_release_coalesces)
{
    char *x = reserve("x", 1, 65536, true);
    char *y = reserve("y", 1, 65536, true);
    char *z = reserve("z", 1, 65536, true);
    char *w;

    ck_assert_ptr_eq(y, x + 65536);
    ck_assert_ptr_eq(z, y + 65536);
    memset(x, 1, 3 * 65536);

    gh_shm_region_release(&shm, "y");
    gh_shm_region_release(&shm, "x");           /* merges forward into y */
    gh_shm_region_release(&shm, "nonexistent");
    ck_assert_uint_eq(gh_shm_free_bytes(&shm), initial_free - 65536);
    ck_assert_uint_eq(shm.hdr->nfree, 2);

    w = reserve("w", 1, 131072, true);          /* fits only if coalesced */
    ck_assert_ptr_eq(w, x);

    gh_shm_region_release(&shm, "w");
    gh_shm_region_release(&shm, "z");           /* merges both ways */
    ck_assert_uint_eq(gh_shm_free_bytes(&shm), initial_free);
    ck_assert_uint_eq(shm.hdr->nfree, 1);

    /* released then re-reserved: fresh and zeroed */
    ck_assert_ptr_eq(reserve("x", 1, 65536, true), x);
}
END_TEST

START_TEST(test_release_middle_then_neighbours)
{
    char *p[5];
    char name[8];

    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "r%d", i);
        p[i] = reserve(name, 1, 1024, true);
    }
    gh_shm_region_release(&shm, "r1");
    gh_shm_region_release(&shm, "r3");
    ck_assert_uint_eq(shm.hdr->nfree, 3);
    /* 2048 does not fit in a 1024 hole: first fit goes after r4 */
    ck_assert_ptr_eq(reserve("big", 1, 2048, true), p[4] + 1024);
    gh_shm_region_release(&shm, "r2");          /* r1..r3 become one hole */
    ck_assert_uint_eq(shm.hdr->nfree, 2);
    ck_assert_ptr_eq(reserve("big3", 1, 3072, true), p[1]);
}
END_TEST

START_TEST(test_segment_full)
{
    size_t left = gh_shm_free_bytes(&shm);
    bool fresh = false;
    void *p;

    ck_assert_ptr_null(gh_shm_region(&shm, "huge", 1, left + 1, &fresh));
    ck_assert_ptr_null(gh_shm_region(&shm, "huge", 1, SEG_SIZE * 4, &fresh));
    ck_assert_ptr_null(gh_shm_region(&shm, "zero", 1, 0, &fresh));
    ck_assert_uint_eq(gh_shm_free_bytes(&shm), left);

    p = reserve("all", 1, left, true);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(gh_shm_free_bytes(&shm), 0);
    ck_assert_ptr_null(gh_shm_region(&shm, "one", 1, 1, &fresh));
    /* No room for both: a new layout takes the old one's place. */
    ck_assert_ptr_eq(reserve("all", 2, left, true), p);
    ck_assert_uint_eq(gh_shm_free_bytes(&shm), 0);
    gh_shm_region_release(&shm, "all");
    ck_assert_uint_eq(gh_shm_free_bytes(&shm), left);
}
END_TEST

START_TEST(test_directory_full_and_bad_names)
{
    char name[16];
    bool fresh;

    for (int i = 0; i < GH_SHM_MAX_REGIONS; i++) {
        snprintf(name, sizeof(name), "reg%d", i);
        reserve(name, 1, 64, true);
    }
    ck_assert_ptr_null(gh_shm_region(&shm, "onemore", 1, 64, &fresh));
    reserve("reg5", 1, 64, false);              /* existing ones still found */
    gh_shm_region_release(&shm, "reg5");
    reserve("onemore", 1, 64, true);

    ck_assert_ptr_null(gh_shm_region(&shm, "", 1, 64, &fresh));
    ck_assert_ptr_null(gh_shm_region(&shm, "0123456789abcdef0123456789abcdef", 1, 64,
                                     &fresh));  /* 32 bytes: too long */
}
END_TEST

START_TEST(test_name_max_length)
{
    const char *n31 = "0123456789abcdef0123456789abcde";
    const char *other = "0123456789abcdef0123456789abcdX";

    ck_assert_uint_eq(strlen(n31), GH_SHM_NAME_LEN - 1);
    char *a = reserve(n31, 1, 64, true);
    char *b = reserve(other, 1, 64, true);
    ck_assert_ptr_ne(a, b);
    ck_assert_ptr_eq(reserve(n31, 1, 64, false), a);
}
END_TEST

/* A forked child maps the fd on its own (as the USR2 binary would) and
 * sees the parent's data; the parent sees the child's writes. */
START_TEST(test_attach_from_child)
{
    uint64_t *v = reserve("counters", 3, 4096, true);
    pid_t pid;
    int status;

    v[0] = 0xdeadbeef;
    atomic_store(&shm.hdr->generation, 7);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        struct gh_shm s;
        bool fresh = true;
        int fd = dup(shm.fd);
        uint64_t *cv;

        if (fd == -1 || gh_shm_attach(&s, fd) == -1)
            _exit(1);
        if (s.size != shm.size || atomic_load(&s.hdr->generation) != 7)
            _exit(2);
        cv = gh_shm_region(&s, "counters", 3, 4096, &fresh);
        if (cv == NULL || fresh || cv[0] != 0xdeadbeef)
            _exit(3);
        if (gh_shm_off(&s, cv) != gh_shm_off(&shm, v))
            _exit(4);
        cv[1] = 0xfeedface;
        if (gh_shm_proc_claim(&s, getpid(), 7, 0) < 0)
            _exit(5);
        gh_shm_detach(&s);
        _exit(0);
    }
    status = reap(pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_uint_eq(v[1], 0xfeedface);
    ck_assert_ptr_nonnull(gh_shm_proc_find(&shm, pid));
    ck_assert_uint_eq(gh_shm_proc_find(&shm, pid)->generation, 7);
}
END_TEST

START_TEST(test_attach_rejects)
{
    struct gh_shm s;
    int fd = dup(shm.fd), other;

    ck_assert_int_ne(fd, -1);

    shm.hdr->magic = 0x12345678;
    ck_assert_int_eq(gh_shm_attach(&s, fd), -1);
    ck_assert_int_ne(fcntl(fd, F_GETFD), -1);   /* left open for the caller */
    shm.hdr->magic = GH_SHM_MAGIC;

    shm.hdr->version = GH_SHM_VERSION + 1;
    ck_assert_int_eq(gh_shm_attach(&s, fd), -1);
    shm.hdr->version = GH_SHM_VERSION;

    shm.hdr->size = SEG_SIZE * 2;
    ck_assert_int_eq(gh_shm_attach(&s, fd), -1);
    shm.hdr->size = SEG_SIZE;

    ck_assert_int_eq(gh_shm_attach(&s, fd), 0);
    ck_assert_int_eq(s.fd, fd);
    gh_shm_detach(&s);                          /* closes fd */

    /* a file too small for a header, and a zeroed one */
    other = memfd_create("not-gatehouse", MFD_CLOEXEC);
    ck_assert_int_ne(other, -1);
    ck_assert_int_eq(gh_shm_attach(&s, other), -1);
    ck_assert_int_ne(ftruncate(other, SEG_SIZE), -1);
    ck_assert_int_eq(gh_shm_attach(&s, other), -1);
    close(other);
    ck_assert_int_eq(gh_shm_attach(&s, 9999), -1);  /* not an fd */
}
END_TEST

START_TEST(test_proc_claim_release)
{
    int slots[GH_SHM_MAX_PROCS];
    int i, j, s;

    s = gh_shm_proc_claim(&shm, 100, 1, 0);
    ck_assert_int_eq(s, 0);
    ck_assert_int_eq(atomic_load(&shm.hdr->procs[0].pid), 100);
    ck_assert_uint_eq(shm.hdr->procs[0].generation, 1);
    ck_assert_int_eq(shm.hdr->procs[0].worker_slot, 0);
    ck_assert_ptr_eq(gh_shm_proc_find(&shm, 100), &shm.hdr->procs[0]);
    gh_shm_proc_release(&shm, 100);
    ck_assert_int_eq(atomic_load(&shm.hdr->procs[0].pid), 0);
    ck_assert_ptr_null(gh_shm_proc_find(&shm, 100));
    gh_shm_proc_release(&shm, 100);             /* unknown pid: no-op */
    ck_assert_int_eq(gh_shm_proc_claim(&shm, 0, 1, 0), -1);
    ck_assert_int_eq(gh_shm_proc_claim(&shm, -5, 1, 0), -1);

    for (i = 0; i < GH_SHM_MAX_PROCS; i++) {
        slots[i] = gh_shm_proc_claim(&shm, 1000 + i, 2, i == 0 ? -1 : i);
        ck_assert_int_ge(slots[i], 0);
        ck_assert_int_lt(slots[i], GH_SHM_MAX_PROCS);
        for (j = 0; j < i; j++)
            ck_assert_int_ne(slots[i], slots[j]);
    }
    ck_assert_int_eq(gh_shm_proc_claim(&shm, 5000, 2, 1), -1);     /* full */
    gh_shm_proc_release(&shm, 1050);
    ck_assert_int_eq(gh_shm_proc_claim(&shm, 5000, 3, 1), slots[50]);
    ck_assert_uint_eq(shm.hdr->procs[slots[50]].generation, 3);
    ck_assert_int_eq(gh_shm_proc_claim(&shm, 5001, 3, 1), -1);
}
END_TEST

/* Concurrent claims from several processes never share a slot. */
START_TEST(test_proc_claim_concurrent)
{
    const int nchild = 4, per = GH_SHM_MAX_PROCS / 4;
    pid_t pids[4];
    int status, i;
    bool seen[4 * (GH_SHM_MAX_PROCS / 4)] = { false };

    for (i = 0; i < nchild; i++) {
        pids[i] = fork();
        ck_assert_int_ne(pids[i], -1);
        if (pids[i] == 0) {
            for (int j = 0; j < per; j++)
                if (gh_shm_proc_claim(&shm, 10000 + i * per + j, 1, i) < 0)
                    _exit(1);
            _exit(0);
        }
    }
    for (i = 0; i < nchild; i++) {
        status = reap(pids[i]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
    for (i = 0; i < GH_SHM_MAX_PROCS; i++) {
        int32_t pid = atomic_load(&shm.hdr->procs[i].pid) - 10000;

        ck_assert_int_ge(pid, 0);
        ck_assert_int_lt(pid, nchild * per);
        ck_assert(!seen[pid]);
        seen[pid] = true;
    }
}
END_TEST

/* A process dies holding the header lock in the middle of an allocation:
 * the free list is garbage and an entry is half written (not yet
 * published). The next locker rebuilds the free list from the directory. */
START_TEST(test_header_lock_recovery)
{
    char *a = reserve("a", 1, 4096, true);
    char *b = reserve("b", 1, 4096, true);
    char *c = reserve("c", 1, 4096, true);
    size_t before;
    int fds[2], status;
    char ch;
    pid_t pid;

    ck_assert_ptr_eq(b, a + 4096);
    gh_shm_region_release(&shm, "b");           /* a hole between a and c */
    before = gh_shm_free_bytes(&shm);
    a[0] = 'a';
    c[0] = 'c';

    ck_assert_int_ne(pipe(fds), -1);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        struct gh_shm_header *h = shm.hdr;

        if (gh_mutex_lock(&h->lock) != GH_LOCK_OK)
            _exit(1);
        h->free[0].size = 12345;                /* half-done bookkeeping */
        h->nfree = GH_SHM_MAX_EXTENTS;
        for (int i = 0; i < GH_SHM_MAX_REGIONS; i++) {
            if (h->regions[i].name[0] == '\0') {
                h->regions[i].offset = 999;     /* unpublished entry */
                h->regions[i].size = 1 << 30;
                memcpy(h->regions[i].name + 1, "ew", 3);
                break;
            }
        }
        if (write(fds[1], "x", 1) != 1)
            _exit(2);
        raise(SIGKILL);
        _exit(3);
    }
    ck_assert_int_eq(read(fds[0], &ch, 1), 1);
    status = reap(pid);
    ck_assert(WIFSIGNALED(status));

    ck_assert_uint_eq(gh_shm_free_bytes(&shm), before);     /* repaired */
    ck_assert_uint_eq(shm.hdr->nfree, 2);
    ck_assert_int_eq(gh_mutex_lock(&shm.hdr->lock), GH_LOCK_OK);
    gh_mutex_unlock(&shm.hdr->lock);
    ck_assert_ptr_eq(reserve("a", 1, 4096, false), a);
    ck_assert_ptr_eq(reserve("c", 1, 4096, false), c);
    ck_assert_int_eq(a[0], 'a');
    ck_assert_int_eq(c[0], 'c');
    ck_assert_ptr_eq(reserve("b", 1, 4096, true), a + 4096);  /* hole reused */
}
END_TEST

static Suite *shm_suite(void)
{
    Suite *s = suite_create("shm");
    TCase *tc = tcase_create("segment");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_create);
    tcase_add_test(tc, test_create_rounds_and_rejects);
    tcase_add_test(tc, test_fd_survives_exec);
    tcase_add_test(tc, test_regions_reserve_and_reuse);
    tcase_add_test(tc, test_region_version_change_is_fresh);
    tcase_add_test(tc, test_region_size_change_is_fresh);
    tcase_add_test(tc, test_release_coalesces);
    tcase_add_test(tc, test_release_middle_then_neighbours);
    tcase_add_test(tc, test_segment_full);
    tcase_add_test(tc, test_directory_full_and_bad_names);
    tcase_add_test(tc, test_name_max_length);
    tcase_add_test(tc, test_attach_from_child);
    tcase_add_test(tc, test_attach_rejects);
    tcase_add_test(tc, test_proc_claim_release);
    tcase_add_test(tc, test_proc_claim_concurrent);
    tcase_add_test(tc, test_header_lock_recovery);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shm_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
