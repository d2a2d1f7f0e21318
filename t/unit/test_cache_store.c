/*
 * test_cache_store.c - the cache's shared object store (modules/cache_store.c):
 * insert, lookup, eviction in LRU order, max_object_size, block reuse
 * without fragmentation, readers following a writer, spans mapped without
 * a copy, processes killed
 * mid-write and inside each lock, purge by name, processes hammering it together, and the
 * region found again by a second mapping (HUP, USR2).
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "modules/cache_store.h"

#define SEG_SIZE (8u << 20)
#define STORE_SIZE (1u << 20)
#define BS 512u

static struct gh_shm shm;
static struct gh_cache_store cs;

static void setup(void)
{
    bool fresh;

    ck_assert_int_eq(gh_shm_create(&shm, SEG_SIZE), 0);
    void *mem = gh_shm_region(&shm, "cache", GH_CACHE_LAYOUT, STORE_SIZE, &fresh);
    ck_assert_ptr_nonnull(mem);
    ck_assert_int_eq(gh_cache_store_init(&cs, mem, STORE_SIZE, BS, fresh), 0);
    gh_cache_store_set_proc(&cs, 0, 1u << 20);
}

static void teardown(void)
{
    gh_shm_detach(&shm);
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int reap(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) == -1)
        ck_assert_int_eq(errno, EINTR);
    return status;
}

static struct gh_cache_key key_of(const char *s)
{
    struct gh_cache_key k;

    gh_cache_key_hash(&cs, s, strlen(s), &k);
    return k;
}

static struct gh_cache_key key_n(int n)
{
    char b[32];

    snprintf(b, sizeof(b), "GET http://h/%d", n);
    return key_of(b);
}

/* The byte at offset i of the body of object `id`. */
static inline unsigned char pat(uint32_t id, uint64_t i)
{
    return (unsigned char)((id * 31 + i) % 251);
}

/* Store object id under key with len body bytes, appended in chunks of
 * `chunk`. Returns what begin returned (0 on success, then committed). */
static int put_named(struct gh_cache_key k, const char *name, uint32_t id, size_t len,
                     size_t chunk)
{
    struct gh_cache_ref w;
    unsigned char buf[4096];
    int rc = gh_cache_begin_named(&cs, &k, name, name != NULL ? strlen(name) : 0, &id,
                                  sizeof(id), &w);

    if (rc != 0)
        return rc;
    for (size_t off = 0; off < len;) {
        size_t n = GH_MIN(GH_MIN(chunk, sizeof(buf)), len - off);
        for (size_t i = 0; i < n; i++)
            buf[i] = pat(id, off + i);
        if (gh_cache_append(&cs, &w, buf, n) == -1) {
            gh_cache_abort(&cs, &w);
            return -1;
        }
        off += n;
    }
    return gh_cache_commit(&cs, &w);
}

static int put(struct gh_cache_key k, uint32_t id, size_t len, size_t chunk)
{
    return put_named(k, NULL, id, len, chunk);
}

/* Read the whole object of key back and check it is object id of len
 * bytes. Returns 0 if found and right, -1 if not stored, 1 if wrong. */
static int check_obj(struct gh_cache_key k, uint32_t id, size_t len)
{
    struct gh_cache_ref ref;
    struct gh_cache_info info;
    unsigned char buf[700];
    uint64_t off = 0;
    int bad = 0;

    if (gh_cache_lookup(&cs, &k, &ref, &info) != 0)
        return -1;
    if (!info.complete || info.length != len || info.meta_len != sizeof(id)
        || memcmp(info.meta, &id, sizeof(id)) != 0)
        bad = 1;
    for (;;) {
        ssize_t n = gh_cache_read(&cs, &ref, off, buf, sizeof(buf));
        if (n == GH_DONE)
            break;
        if (n <= 0) {
            bad = 1;
            break;
        }
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pat(id, off + (uint64_t)i))
                bad = 1;
        off += (uint64_t)n;
    }
    if (off != len)
        bad = 1;
    gh_cache_release(&cs, &ref);
    return bad;
}

static int rm(struct gh_cache_key k)
{
    return gh_cache_remove(&cs, &k);
}

static struct gh_cache_stats stats(void)
{
    struct gh_cache_stats st;

    gh_cache_store_stats(&cs, &st);
    return st;
}

START_TEST(test_insert_lookup_remove)
{
    struct gh_cache_key a = key_of("GET http://a/x"), b = key_of("GET http://a/y");

    ck_assert_int_eq(check_obj(a, 1, 0), -1);
    ck_assert_int_eq(put(a, 1, 3000, 700), 0);
    ck_assert_int_eq(check_obj(a, 1, 3000), 0);
    ck_assert_int_eq(check_obj(b, 1, 3000), -1);
    ck_assert_uint_eq(stats().blocks_used, (3000 + BS - 1) / BS);
    ck_assert_uint_eq(stats().objects, 1);
    ck_assert_uint_eq(stats().bytes, 3000);

    ck_assert_int_eq(put(a, 2, 10, 10), 0);            /* replaces */
    ck_assert_int_eq(check_obj(a, 2, 10), 0);
    ck_assert_uint_eq(stats().blocks_used, 1);

    ck_assert_int_eq(put(b, 3, 0, 1), 0);              /* an empty body needs no block */
    ck_assert_int_eq(check_obj(b, 3, 0), 0);
    ck_assert_uint_eq(stats().blocks_used, 1);

    ck_assert_int_eq(gh_cache_remove(&cs, &a), 0);
    ck_assert_int_eq(gh_cache_remove(&cs, &a), -1);
    ck_assert_int_eq(check_obj(a, 2, 10), -1);
    ck_assert_int_eq(gh_cache_remove(&cs, &b), 0);
    ck_assert_uint_eq(stats().blocks_used, 0);
    ck_assert_uint_eq(stats().objects, 0);
}
END_TEST

START_TEST(test_lru_order)
{
    uint32_t n = (uint32_t)stats().blocks_total;

    for (uint32_t i = 0; i < n; i++)
        ck_assert_int_eq(put(key_n((int)i), i, 100, 100), 0);
    ck_assert_uint_eq(stats().evictions, 0);
    ck_assert_uint_eq(stats().blocks_used, n);
    ck_assert_int_eq(check_obj(key_n(0), 0, 100), 0);   /* 0 is now the most recent */
    ck_assert_int_eq(put(key_n((int)n), n, 100, 100), 0);
    ck_assert_uint_eq(stats().evictions, 1);
    ck_assert_int_eq(check_obj(key_n(1), 1, 100), -1);  /* the least recent went */
    ck_assert_int_eq(check_obj(key_n(0), 0, 100), 0);
    ck_assert_int_eq(check_obj(key_n(2), 2, 100), 0);
    ck_assert_int_eq(check_obj(key_n((int)n), n, 100), 0);
    /* A 3-block object evicts the three least recent: 3, 4, 5. */
    ck_assert_int_eq(put(key_n(-1), 77, 3 * BS, 300), 0);
    for (int i = 3; i <= 5; i++)
        ck_assert_int_eq(check_obj(key_n(i), (uint32_t)i, 100), -1);
    ck_assert_int_eq(check_obj(key_n(6), 6, 100), 0);
    ck_assert_int_eq(check_obj(key_n(-1), 77, 3 * BS), 0);
}
END_TEST

START_TEST(test_max_object_size)
{
    struct gh_cache_key k = key_of("GET http://big/");
    struct gh_cache_ref w, r;
    struct gh_cache_info info;
    char buf[1500] = { 0 };
    uint32_t id = 9;

    gh_cache_store_set_proc(&cs, 0, 2000);
    ck_assert_int_eq(put(k, 1, 2000, 500), 0);          /* exactly the limit */
    ck_assert_int_eq(check_obj(k, 1, 2000), 0);
    ck_assert_int_eq(gh_cache_begin(&cs, &k, &id, sizeof(id), &w), 0);
    ck_assert_int_eq(gh_cache_append(&cs, &w, buf, 1500), 0);
    ck_assert_int_eq(gh_cache_lookup(&cs, &k, &r, &info), 0);   /* a reader follows */
    ck_assert(!info.complete);
    ck_assert_int_eq(gh_cache_append(&cs, &w, buf, 501), -1);
    ck_assert_int_eq(gh_cache_read(&cs, &r, 0, buf, sizeof(buf)), GH_ERROR);
    ck_assert_int_eq(gh_cache_commit(&cs, &w), -1);     /* aborted: not committed */
    ck_assert_int_eq(check_obj(k, 9, 1500), -1);
    ck_assert_uint_ne(stats().blocks_used, 0);          /* the reader still holds them */
    gh_cache_release(&cs, &r);
    ck_assert_uint_eq(stats().blocks_used, 0);
    ck_assert_uint_eq(stats().objects, 0);
    /* A single append larger than the limit. */
    ck_assert_int_eq(gh_cache_begin(&cs, &k, &id, sizeof(id), &w), 0);
    ck_assert_int_eq(gh_cache_append(&cs, &w, buf, 1500), 0);
    ck_assert_int_eq(gh_cache_append(&cs, &w, buf, 1500), -1);
    gh_cache_abort(&cs, &w);
    ck_assert_uint_eq(stats().blocks_used, 0);
}
END_TEST

/* Free every other small object, then store one object as large as all the
 * holes together: it fits without evicting anything. */
/* Names are not part of what readers see, and purge drops objects by name
 * (exact or prefix, every key of a name), complete or being written, even
 * a name longer than a block. */
START_TEST(test_purge_by_name)
{
    char long_name[3 * BS + 10];
    struct gh_cache_ref w, r;
    struct gh_cache_info info;
    uint32_t id = 5;

    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    memcpy(long_name, "GET http://h/long/", 18);
    ck_assert_int_eq(put_named(key_n(1), "GET http://h/a", 1, 700, 100), 0);
    ck_assert_int_eq(put_named(key_n(2), "GET http://h/a", 2, 10, 10), 0);    /* a variant */
    ck_assert_int_eq(put_named(key_n(3), "GET http://h/ab", 3, 10, 10), 0);
    ck_assert_int_eq(put_named(key_n(4), "GET http://h/b/1", 4, 2 * BS, 100), 0);
    ck_assert_int_eq(put_named(key_n(5), long_name, 5, 100, 100), 0);
    ck_assert_int_eq(put(key_n(6), 6, 100, 100), 0);                         /* no name */
    ck_assert_int_eq(check_obj(key_n(1), 1, 700), 0);                        /* name hidden */
    ck_assert_int_eq(check_obj(key_n(4), 4, 2 * BS), 0);
    ck_assert_int_eq(check_obj(key_n(5), 5, 100), 0);
    /* An object being written is purged too: its reader sees the write fail. */
    struct gh_cache_key k7 = key_n(7);
    ck_assert_int_eq(gh_cache_begin_named(&cs, &k7, "GET http://h/b/2", 16, &id, sizeof(id), &w),
                     0);
    ck_assert_int_eq(gh_cache_lookup(&cs, &k7, &r, &info), 0);
    ck_assert_uint_eq(info.length, 0);
    ck_assert_int_eq(gh_cache_read(&cs, &r, 0, &id, 1), GH_AGAIN);
    gh_cache_release(&cs, &r);

    ck_assert_uint_eq(gh_cache_purge(&cs, "GET http://h/a", 14, false), 2);   /* exact: not /ab */
    ck_assert_int_eq(check_obj(key_n(1), 1, 700), -1);
    ck_assert_int_eq(check_obj(key_n(2), 2, 10), -1);
    ck_assert_int_eq(check_obj(key_n(3), 3, 10), 0);
    ck_assert_uint_eq(gh_cache_purge(&cs, "GET http://h/b/", 15, true), 2);
    ck_assert_int_eq(check_obj(key_n(4), 4, 2 * BS), -1);
    ck_assert_int_eq(gh_cache_lookup(&cs, &k7, &r, &info), -1);
    ck_assert_int_eq(gh_cache_commit(&cs, &w), 0);      /* committed, but out of the index */
    ck_assert_int_eq(gh_cache_lookup(&cs, &k7, &r, &info), -1);
    ck_assert_uint_eq(gh_cache_purge(&cs, long_name, strlen(long_name), false), 1);
    ck_assert_uint_eq(gh_cache_purge(&cs, "GET http://h/long/", 18, false), 0);
    ck_assert_uint_eq(gh_cache_purge(&cs, "GET http://h/a", 14, true), 1);    /* /ab */
    ck_assert_uint_eq(gh_cache_purge(&cs, "GET", 3, true), 0);                /* nothing named left */
    ck_assert_int_eq(check_obj(key_n(6), 6, 100), 0);                        /* unnamed: kept */
    ck_assert_uint_eq(stats().objects, 1);
}
END_TEST

/* gh_cache_is_indexed: a held object is the indexed one of its key until
 * a newer write replaces it, a purge, or a remove (revalidation must not
 * put back an object purged while its 304 was on the way). */
START_TEST(test_is_indexed)
{
    struct gh_cache_key k = key_of("GET http://ix/a");
    struct gh_cache_ref r1, r2, w, none = { 0 };
    struct gh_cache_info info;
    uint32_t id = 9;

    ck_assert(!gh_cache_is_indexed(&cs, &none));
    ck_assert_int_eq(put_named(k, "GET http://ix/a", 1, 100, 100), 0);
    ck_assert_int_eq(gh_cache_lookup(&cs, &k, &r1, &info), 0);
    ck_assert(gh_cache_is_indexed(&cs, &r1));
    /* replaced: the writer's new object is the indexed one, even unfinished */
    ck_assert_int_eq(gh_cache_begin_named(&cs, &k, "GET http://ix/a", 15, &id, sizeof(id), &w),
                     0);
    ck_assert(!gh_cache_is_indexed(&cs, &r1));
    ck_assert(gh_cache_is_indexed(&cs, &w));
    ck_assert_int_eq(gh_cache_commit(&cs, &w), 0);
    gh_cache_release(&cs, &r1);
    /* purged */
    ck_assert_int_eq(gh_cache_lookup(&cs, &k, &r2, &info), 0);
    ck_assert(gh_cache_is_indexed(&cs, &r2));
    ck_assert_uint_eq(gh_cache_purge(&cs, "GET http://ix/a", 15, false), 1);
    ck_assert(!gh_cache_is_indexed(&cs, &r2));
    gh_cache_release(&cs, &r2);
    /* removed */
    ck_assert_int_eq(put_named(k, "GET http://ix/a", 2, 10, 10), 0);
    ck_assert_int_eq(gh_cache_lookup(&cs, &k, &r1, &info), 0);
    ck_assert_int_eq(gh_cache_remove(&cs, &k), 0);
    ck_assert(!gh_cache_is_indexed(&cs, &r1));
    gh_cache_release(&cs, &r1);
}
END_TEST

START_TEST(test_no_fragmentation)
{
    uint32_t n = (uint32_t)stats().blocks_total & ~1u;

    for (uint32_t i = 0; i < n; i++)
        ck_assert_int_eq(put(key_n((int)i), i, BS, 200), 0);
    for (uint32_t i = 0; i < n; i += 2)
        ck_assert_int_eq(rm(key_n((int)i)), 0);
    uint64_t before = stats().evictions;
    ck_assert_int_eq(put(key_of("big"), 5, (size_t)(n / 2) * BS, 4096), 0);
    ck_assert_uint_eq(stats().evictions, before);
    ck_assert_int_eq(check_obj(key_of("big"), 5, (size_t)(n / 2) * BS), 0);
    for (uint32_t i = 1; i < n; i += 2)
        ck_assert_int_eq(check_obj(key_n((int)i), i, BS), 0);
    /* Too large for the whole store: refused, and the store is intact. */
    gh_cache_store_set_proc(&cs, 0, SIZE_MAX);
    ck_assert_int_eq(put(key_of("huge"), 6, (size_t)(n + 8) * BS, 4096), -1);
    ck_assert_int_eq(check_obj(key_of("huge"), 6, 0), -1);
}
END_TEST

START_TEST(test_reader_follows_writer)
{
    struct gh_cache_key k = key_of("GET http://s/");
    struct gh_cache_ref w, r, r2;
    struct gh_cache_info info;
    unsigned char data[2000], out[2000];
    uint32_t id = 4;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = pat(id, i);
    ck_assert_int_eq(gh_cache_begin(&cs, &k, &id, sizeof(id), &w), 0);
    ck_assert_int_eq(gh_cache_begin(&cs, &k, &id, sizeof(id), &r2), GH_AGAIN);   /* one writer */
    ck_assert_int_eq(gh_cache_lookup(&cs, &k, &r, &info), 0);
    ck_assert(!info.complete);
    ck_assert_uint_eq(info.length, 0);
    ck_assert_int_eq(gh_cache_read(&cs, &r, 0, out, sizeof(out)), GH_AGAIN);
    ck_assert_int_eq(gh_cache_append(&cs, &w, data, 700), 0);
    ck_assert_int_eq(gh_cache_read(&cs, &r, 0, out, sizeof(out)), 700);
    ck_assert_int_eq(gh_cache_read(&cs, &r, 700, out + 700, sizeof(out)), GH_AGAIN);
    ck_assert_int_eq(gh_cache_append(&cs, &w, data + 700, 1300), 0);
    ck_assert_int_eq(gh_cache_read(&cs, &r, 700, out + 700, 1300), 1300);
    ck_assert_int_eq(gh_cache_read(&cs, &r, 2000, out, 1), GH_AGAIN);
    ck_assert_int_eq(gh_cache_commit(&cs, &w), 0);
    ck_assert_int_eq(gh_cache_read(&cs, &r, 2000, out, 1), GH_DONE);
    ck_assert_mem_eq(out, data, sizeof(data));
    /* Purged while read: the reader keeps its bytes, new lookups miss. */
    ck_assert_int_eq(gh_cache_remove(&cs, &k), 0);
    ck_assert_int_eq(gh_cache_lookup(&cs, &k, &r2, &info), -1);
    memset(out, 0, sizeof(out));
    ck_assert_int_eq(gh_cache_read(&cs, &r, 0, out, sizeof(out)), 2000);
    ck_assert_mem_eq(out, data, sizeof(data));
    ck_assert_uint_eq(stats().blocks_used, 4);
    gh_cache_release(&cs, &r);
    ck_assert_uint_eq(stats().blocks_used, 0);
}
END_TEST

/* gh_cache_map: the object's bytes as spans of the store itself, adjacent
 * blocks as one, at most the spans asked for, the states of gh_cache_read. */
static void check_spans(const struct iovec *v, int n, uint32_t id, uint64_t off)
{
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < v[i].iov_len; j++)
            ck_assert_uint_eq(((unsigned char *)v[i].iov_base)[j], pat(id, off++));
}

START_TEST(test_map_spans)
{
    struct gh_cache_key k = key_of("GET http://m/"), f = key_of("GET http://m/frag");
    struct gh_cache_ref ref;
    struct gh_cache_info info;
    struct iovec v[4];
    int n;

    /* A fresh store hands out adjacent blocks: 8 blocks, one span. */
    ck_assert_int_eq(put(k, 7, 8 * BS, 4096), 0);
    ck_assert_int_eq(gh_cache_lookup(&cs, &k, &ref, &info), 0);
    n = 4;
    ck_assert_int_eq(gh_cache_map(&cs, &ref, 10, v, &n, 8 * BS), 8 * BS - 10);
    ck_assert_int_eq(n, 1);
    check_spans(v, n, 7, 10);
    n = 4;
    ck_assert_int_eq(gh_cache_map(&cs, &ref, 8 * BS, v, &n, 1), GH_DONE);
    ck_assert_int_eq(n, 0);
    gh_cache_release(&cs, &ref);

    /* Every other block taken: a span per block, and no more than asked. */
    uint32_t total = (uint32_t)stats().blocks_total;
    for (uint32_t i = 0; i < total - 8; i++)
        ck_assert_int_eq(put(key_n((int)i), i, BS, BS), 0);
    for (uint32_t i = 0; i < total - 8; i += 2)
        ck_assert_int_eq(rm(key_n((int)i)), 0);
    ck_assert_int_eq(rm(k), 0);
    ck_assert_int_eq(put(f, 9, 6 * BS, 4096), 0);
    ck_assert_int_eq(gh_cache_lookup(&cs, &f, &ref, &info), 0);
    uint64_t off = 0;
    int calls = 0;
    for (;;) {
        n = 4;
        ssize_t got = gh_cache_map(&cs, &ref, off, v, &n, 6 * BS);
        if (got == GH_DONE)
            break;
        ck_assert_int_gt(got, 0);
        ck_assert_int_le(n, 4);
        check_spans(v, n, 9, off);
        off += (uint64_t)got;
        calls++;
    }
    ck_assert_uint_eq(off, 6 * BS);
    ck_assert_int_gt(calls, 1);         /* the spans ran out before the bytes did */
    /* Removed while held: the bytes stay where the spans point. */
    n = 4;
    ck_assert_int_gt(gh_cache_map(&cs, &ref, 0, v, &n, BS), 0);
    ck_assert_int_eq(rm(f), 0);
    for (uint32_t i = 0; i < 4; i++)
        (void)put(key_of(i % 2 ? "GET http://m/a" : "GET http://m/b"), 100 + i, BS, BS);
    check_spans(v, n, 9, 0);
    gh_cache_release(&cs, &ref);

    /* A write in progress, then aborted. */
    struct gh_cache_ref w;
    uint32_t id = 11;
    unsigned char b[16];
    for (size_t i = 0; i < sizeof(b); i++)
        b[i] = pat(id, i);
    ck_assert_int_eq(gh_cache_begin(&cs, &k, &id, sizeof(id), &w), 0);
    ck_assert_int_eq(gh_cache_lookup(&cs, &k, &ref, &info), 0);
    n = 4;
    ck_assert_int_eq(gh_cache_map(&cs, &ref, 0, v, &n, 100), GH_AGAIN);
    ck_assert_int_eq(gh_cache_append(&cs, &w, b, sizeof(b)), 0);
    n = 4;
    ck_assert_int_eq(gh_cache_map(&cs, &ref, 0, v, &n, 100), (ssize_t)sizeof(b));
    check_spans(v, n, id, 0);
    gh_cache_abort(&cs, &w);
    n = 0;
    ck_assert_int_eq(gh_cache_map(&cs, &ref, sizeof(b), NULL, &n, 0), GH_ERROR);
    gh_cache_release(&cs, &ref);
}
END_TEST

/* A child in process slot 1 runs fn and must be killed by SIGKILL. */
static pid_t fork_child(void (*fn)(int), int fd)
{
    pid_t pid = fork();

    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        gh_cache_store_set_proc(&cs, 1, 1u << 20);
        fn(fd);
        _exit(0);
    }
    return pid;
}

static void child_dies_mid_write(int fd)
{
    struct gh_cache_key k = key_of("GET http://dead/");
    struct gh_cache_ref w;
    char buf[5000];
    uint32_t id = 3;

    memset(buf, 'x', sizeof(buf));
    if (gh_cache_begin(&cs, &k, &id, sizeof(id), &w) != 0
        || gh_cache_append(&cs, &w, buf, sizeof(buf)) != 0)
        _exit(1);
    if (write(fd, "x", 1) != 1)
        _exit(2);
    raise(SIGKILL);
}

static void child_dies_in_global_lock(int fd)
{
    struct gh_cache_key k = key_of("GET http://dead/");
    struct gh_cache_ref w;
    uint32_t id = 3;

    GH_UNUSED(fd);
    if (gh_cache_begin(&cs, &k, &id, sizeof(id), &w) != 0
        || gh_cache_append(&cs, &w, "abc", 3) != 0)
        _exit(1);
    static char more[BS];
    gh_cache_store_test_die_at(1);
    gh_cache_append(&cs, &w, more, BS);                 /* needs a second block */
    _exit(3);
}

static void child_dies_in_stripe(int fd)
{
    struct gh_cache_key k = key_of("GET http://dead/");
    struct gh_cache_ref w;
    uint32_t id = 3;

    GH_UNUSED(fd);
    gh_cache_store_test_die_at(2);
    gh_cache_begin(&cs, &k, &id, sizeof(id), &w);
    _exit(3);
}

/* After the child died: the store works within 100 ms, never shows its
 * object as complete, and once the master has run proc_exit for it the key
 * is free and every block is back. */
static void check_after_death(pid_t pid)
{
    struct gh_cache_key k = key_of("GET http://dead/");
    struct gh_cache_ref r;
    struct gh_cache_info info;
    int status = reap(pid);

    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    int64_t t0 = now_us();
    ck_assert_int_eq(put(key_of("other"), 8, 3000, 1000), 0);
    int rc = gh_cache_lookup(&cs, &k, &r, &info);
    ck_assert_msg(now_us() - t0 < 100000, "took %lld us", (long long)(now_us() - t0));
    if (rc == 0) {
        ck_assert(!info.complete);
        gh_cache_release(&cs, &r);
    }
    gh_cache_store_proc_exit(&cs, 1);                  /* what the master does at reap */
    ck_assert_int_eq(gh_cache_lookup(&cs, &k, &r, &info), -1);
    ck_assert_int_eq(check_obj(key_of("other"), 8, 3000), 0);
    ck_assert_uint_eq(stats().objects, 1);
    ck_assert_uint_eq(stats().blocks_used, (3000 + BS - 1) / BS);
    ck_assert_int_eq(put(k, 9, 1000, 1000), 0);         /* the key is free again */
    ck_assert_int_eq(check_obj(k, 9, 1000), 0);
}

/* A writer that begins before it knows its meta (a miss others wait on)
 * sets it once, before any byte; readers see it with the first byte, or
 * with the commit of an object without bytes (a marker). */
START_TEST(test_set_meta_before_bytes)
{
    struct gh_cache_key k = key_of("GET http://m/"), k2 = key_of("GET http://m2/");
    struct gh_cache_ref w, r;
    struct gh_cache_info info;
    uint32_t pending = 1, real = 2, marker = 3;
    char out[8];

    ck_assert_int_eq(gh_cache_begin_named(&cs, &k, "n", 1, &pending, sizeof(pending), &w), 0);
    ck_assert_int_eq(gh_cache_lookup(&cs, &k, &r, &info), 0);
    ck_assert(!info.complete);
    ck_assert_uint_eq(info.length, 0);
    ck_assert_int_eq(gh_cache_set_meta(&cs, &w, &real, sizeof(real)), 0);
    ck_assert_int_eq(gh_cache_append(&cs, &w, "abc", 3), 0);
    ck_assert_int_eq(gh_cache_set_meta(&cs, &w, &pending, sizeof(pending)), -1);  /* too late */
    ck_assert_int_eq(gh_cache_read(&cs, &r, 0, out, sizeof(out)), 3);
    ck_assert_mem_eq(info.meta, &real, sizeof(real));
    ck_assert_int_eq(gh_cache_commit(&cs, &w), 0);
    ck_assert_int_eq(gh_cache_set_meta(&cs, &r, &pending, sizeof(pending)), -1);  /* complete */
    gh_cache_release(&cs, &r);

    ck_assert_int_eq(gh_cache_begin(&cs, &k2, &pending, sizeof(pending), &w), 0);
    ck_assert_int_eq(gh_cache_set_meta(&cs, &w, &marker, GH_CACHE_META + 1), -1);
    ck_assert_int_eq(gh_cache_set_meta(&cs, &w, &marker, sizeof(marker)), 0);
    ck_assert_int_eq(gh_cache_commit(&cs, &w), 0);
    ck_assert_int_eq(gh_cache_lookup(&cs, &k2, &r, &info), 0);
    ck_assert(info.complete);
    ck_assert_uint_eq(info.length, 0);
    ck_assert_mem_eq(info.meta, &marker, sizeof(marker));
    gh_cache_release(&cs, &r);
}
END_TEST

/* One claim at a time, until it runs out. */
START_TEST(test_claim)
{
    struct gh_cache_key k = key_of("GET http://claim/");
    struct gh_cache_ref w, r1, r2;
    struct gh_cache_info info;

    ck_assert_int_eq(gh_cache_begin(&cs, &k, "m", 1, &w), 0);
    ck_assert_int_eq(gh_cache_commit(&cs, &w), 0);
    ck_assert_int_eq(gh_cache_lookup(&cs, &k, &r1, &info), 0);
    ck_assert_int_eq(gh_cache_lookup(&cs, &k, &r2, &info), 0);
    ck_assert(gh_cache_claim(&cs, &r1, 1000, 2000));
    ck_assert(!gh_cache_claim(&cs, &r2, 1500, 2500));     /* held */
    ck_assert(!gh_cache_claim(&cs, &r1, 1999, 2500));
    ck_assert(gh_cache_claim(&cs, &r2, 2000, 3000));      /* ran out */
    ck_assert(!gh_cache_claim(&cs, &r1, 2001, 4000));
    gh_cache_release(&cs, &r1);
    gh_cache_release(&cs, &r2);
    /* A new object of the key starts unclaimed. */
    ck_assert_int_eq(gh_cache_begin(&cs, &k, "m", 1, &w), 0);
    ck_assert_int_eq(gh_cache_commit(&cs, &w), 0);
    ck_assert_int_eq(gh_cache_lookup(&cs, &k, &r1, &info), 0);
    ck_assert(gh_cache_claim(&cs, &r1, 2500, 3000));
    gh_cache_release(&cs, &r1);
}
END_TEST

START_TEST(test_writer_killed_mid_write)
{
    int fds[2];
    char c;

    ck_assert_int_ne(pipe(fds), -1);
    pid_t pid = fork_child(child_dies_mid_write, fds[1]);
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    check_after_death(pid);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(test_writer_killed_in_global_lock)
{
    check_after_death(fork_child(child_dies_in_global_lock, -1));
    ck_assert_uint_ge(stats().recoveries, 1);
}
END_TEST

START_TEST(test_writer_killed_in_stripe)
{
    check_after_death(fork_child(child_dies_in_stripe, -1));
    ck_assert_uint_ge(stats().recoveries, 1);
}
END_TEST

/* A reader that dies holding a reference: its object can be freed after. */
static void child_reader_dies(int fd)
{
    struct gh_cache_ref r;
    struct gh_cache_info info;

    struct gh_cache_key k = key_of("held");

    if (gh_cache_lookup(&cs, &k, &r, &info) != 0)
        _exit(1);
    if (write(fd, "x", 1) != 1)
        _exit(2);
    raise(SIGKILL);
}

START_TEST(test_reader_killed)
{
    int fds[2];
    char c;

    ck_assert_int_eq(put(key_of("held"), 1, 2000, 2000), 0);
    ck_assert_int_ne(pipe(fds), -1);
    pid_t pid = fork_child(child_reader_dies, fds[1]);
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    reap(pid);
    ck_assert_int_eq(rm(key_of("held")), 0);
    ck_assert_uint_eq(stats().blocks_used, 4);          /* still referenced */
    gh_cache_store_proc_exit(&cs, 1);
    ck_assert_uint_eq(stats().blocks_used, 0);
    ck_assert_uint_eq(stats().objects, 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* Processes write and read 48 keys at random; every byte a reader sees
 * must be the pattern of the object its meta names, and a complete object
 * must have its full length (the writer puts the length in the meta). One
 * of them is killed part-way; the others finish. */
struct hmeta {
    uint32_t id, len;
};

static void hammer(int proc, unsigned seed, int iters)
{
    unsigned char buf[1024];

    gh_cache_store_set_proc(&cs, proc, 1u << 20);
    for (int it = 0; it < iters; it++) {
        int kn = (int)(rand_r(&seed) % 48);
        struct gh_cache_key k = key_n(kn);
        struct gh_cache_ref ref;
        if (rand_r(&seed) % 2 == 0) {
            struct hmeta m = { (uint32_t)(proc * 100000 + it), rand_r(&seed) % 9000 };
            if (gh_cache_begin(&cs, &k, &m, sizeof(m), &ref) != 0)
                continue;
            bool ok = true;
            for (uint32_t off = 0; off < m.len && ok;) {
                uint32_t n = GH_MIN((uint32_t)sizeof(buf), m.len - off);
                for (uint32_t i = 0; i < n; i++)
                    buf[i] = pat(m.id, off + i);
                ok = gh_cache_append(&cs, &ref, buf, n) == 0;
                off += n;
            }
            if (ok)
                gh_cache_commit(&cs, &ref);
            else
                gh_cache_abort(&cs, &ref);
            continue;
        }
        struct gh_cache_info info;
        if (gh_cache_lookup(&cs, &k, &ref, &info) != 0)
            continue;
        struct hmeta m;
        memcpy(&m, info.meta, sizeof(m));
        uint64_t off = 0;
        for (int spins = 0; spins < 100000; spins++) {
            ssize_t n = gh_cache_read(&cs, &ref, off, buf, sizeof(buf));
            if (n == GH_DONE) {
                if (off != m.len)
                    _exit(10);
                break;
            }
            if (n == GH_ERROR)
                break;
            if (n == GH_AGAIN)
                continue;
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] != pat(m.id, off + (uint64_t)i))
                    _exit(11);
            off += (uint64_t)n;
        }
        gh_cache_release(&cs, &ref);
    }
}

START_TEST(test_concurrent_processes)
{
    enum { NPROC = 4 };
    pid_t pids[NPROC + 1];

    for (int p = 1; p <= NPROC + 1; p++) {
        pids[p - 1] = fork();
        ck_assert_int_ne(pids[p - 1], -1);
        if (pids[p - 1] == 0) {
            hammer(p, (unsigned)p * 7919u, p == NPROC + 1 ? 1000000 : 3000);
            _exit(0);
        }
    }
    usleep(200 * 1000);
    kill(pids[NPROC], SIGKILL);                         /* the victim: wherever it is */
    ck_assert(WIFSIGNALED(reap(pids[NPROC])));
    gh_cache_store_proc_exit(&cs, NPROC + 1);
    for (int p = 0; p < NPROC; p++) {
        int status = reap(pids[p]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d", p,
                      status);
    }
    /* Everything left is readable and whole; drop it all: no block leaks. */
    for (int kn = 0; kn < 48; kn++) {
        struct gh_cache_key k = key_n(kn);
        struct gh_cache_ref ref;
        struct gh_cache_info info;
        unsigned char buf[1024];
        if (gh_cache_lookup(&cs, &k, &ref, &info) != 0)
            continue;
        struct hmeta m;
        memcpy(&m, info.meta, sizeof(m));
        ck_assert(info.complete);
        ck_assert_uint_eq(info.length, m.len);
        uint64_t off = 0;
        ssize_t n;
        while ((n = gh_cache_read(&cs, &ref, off, buf, sizeof(buf))) > 0) {
            for (ssize_t i = 0; i < n; i++)
                ck_assert_uint_eq(buf[i], pat(m.id, off + (uint64_t)i));
            off += (uint64_t)n;
        }
        ck_assert_int_eq(n, GH_DONE);
        ck_assert_uint_eq(off, m.len);
        gh_cache_release(&cs, &ref);
        ck_assert_int_eq(rm(k), 0);
    }
    ck_assert_uint_eq(stats().objects, 0);
    ck_assert_uint_eq(stats().blocks_used, 0);
}
END_TEST

/* A second mapping of the segment (the USR2 binary, or the master after a
 * HUP) finds the store and its objects; another size starts it fresh. */
START_TEST(test_region_survives_reattach)
{
    struct gh_shm shm2;
    struct gh_cache_store a, b;

    ck_assert_int_eq(gh_cache_store_reserve(&a, &shm, 2u << 20), 0);
    gh_cache_store_set_proc(&a, 0, 1u << 20);
    struct gh_cache_key k;
    gh_cache_key_hash(&a, "GET http://keep/", 16, &k);
    struct gh_cache_ref w;
    ck_assert_int_eq(gh_cache_begin(&a, &k, "m", 1, &w), 0);
    ck_assert_int_eq(gh_cache_append(&a, &w, "hello", 5), 0);
    ck_assert_int_eq(gh_cache_commit(&a, &w), 0);

    int fd = dup(shm.fd);
    ck_assert_int_ne(fd, -1);
    ck_assert_int_eq(gh_shm_attach(&shm2, fd), 0);
    ck_assert_int_eq(gh_cache_store_reserve(&b, &shm2, 2u << 20), 0);
    gh_cache_store_set_proc(&b, 2, 1u << 20);
    struct gh_cache_key k2;
    gh_cache_key_hash(&b, "GET http://keep/", 16, &k2);
    ck_assert_mem_eq(&k, &k2, sizeof(k));               /* the same secret */
    struct gh_cache_ref r;
    struct gh_cache_info info;
    char out[8];
    ck_assert_int_eq(gh_cache_lookup(&b, &k2, &r, &info), 0);
    ck_assert(info.complete);
    ck_assert_int_eq(gh_cache_read(&b, &r, 0, out, sizeof(out)), 5);
    ck_assert_mem_eq(out, "hello", 5);
    gh_cache_release(&b, &r);
    gh_shm_detach(&shm2);

    ck_assert_int_eq(gh_cache_store_reserve(&b, &shm, 3u << 20), 0);   /* resized: fresh */
    gh_cache_store_set_proc(&b, 0, 1u << 20);
    gh_cache_key_hash(&b, "GET http://keep/", 16, &k2);
    ck_assert_int_eq(gh_cache_lookup(&b, &k2, &r, &info), -1);
}
END_TEST

static Suite *cache_store_suite(void)
{
    Suite *s = suite_create("cache_store");
    TCase *tc = tcase_create("store");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_insert_lookup_remove);
    tcase_add_test(tc, test_lru_order);
    tcase_add_test(tc, test_max_object_size);
    tcase_add_test(tc, test_no_fragmentation);
    tcase_add_test(tc, test_purge_by_name);
    tcase_add_test(tc, test_is_indexed);
    tcase_add_test(tc, test_reader_follows_writer);
    tcase_add_test(tc, test_map_spans);
    tcase_add_test(tc, test_set_meta_before_bytes);
    tcase_add_test(tc, test_claim);
    tcase_add_test(tc, test_writer_killed_mid_write);
    tcase_add_test(tc, test_writer_killed_in_global_lock);
    tcase_add_test(tc, test_writer_killed_in_stripe);
    tcase_add_test(tc, test_reader_killed);
    tcase_add_test(tc, test_concurrent_processes);
    tcase_add_test(tc, test_region_survives_reattach);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cache_store_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
