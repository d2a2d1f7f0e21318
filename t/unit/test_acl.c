/*
 * test_acl.c - the prefix trie (modules/acl.c), the dynamic blacklist and
 * the per-client connection counts in a shared segment
 * (modules/blacklist.c, modules/connlimit.c).
 */
#include <arpa/inet.h>
#include <check.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/shm.h"
#include "modules/acl.h"
#include "modules/blacklist.h"
#include "modules/connlimit.h"

static void key_of(const char *ip, uint8_t key[16])
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':') != NULL) {
        ss.ss_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
    } else {
        ss.ss_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr), 1);
    }
    ck_assert_int_eq(gh_acl_key(&ss, key), 0);
}

static void add(struct gh_acl *acl, const char *cidr, int64_t expires)
{
    struct gh_conf_cidr c;
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(gh_parse_cidr(cidr, &c), 0);
    uint8_t key[16];
    int plen;
    gh_acl_cidr_key(&c, key, &plen);
    ck_assert_int_eq(gh_acl_add(acl, key, plen, expires), 0);
}

static bool match(const struct gh_acl *acl, const char *ip, int64_t now)
{
    uint8_t key[16];
    key_of(ip, key);
    return gh_acl_match(acl, key, now);
}

START_TEST(test_empty_and_exact)
{
    struct gh_acl acl;
    gh_acl_init(&acl);
    ck_assert(!match(&acl, "1.2.3.4", 0));
    add(&acl, "1.2.3.4/32", INT64_MAX);
    ck_assert(match(&acl, "1.2.3.4", 0));
    ck_assert(!match(&acl, "1.2.3.5", 0));
    ck_assert(!match(&acl, "1.2.3.3", 0));
    add(&acl, "2001:db8::1/128", INT64_MAX);
    ck_assert(match(&acl, "2001:db8::1", 0));
    ck_assert(!match(&acl, "2001:db8::2", 0));
    gh_acl_free(&acl);
}
END_TEST

START_TEST(test_zero_prefixes)
{
    struct gh_acl acl;
    gh_acl_init(&acl);
    add(&acl, "0.0.0.0/0", INT64_MAX);
    ck_assert(match(&acl, "255.255.255.255", 0));
    ck_assert(match(&acl, "0.0.0.0", 0));
    ck_assert(!match(&acl, "::1", 0));          /* IPv4 /0 is all of IPv4 only */
    ck_assert(!match(&acl, "2001:db8::1", 0));
    gh_acl_clear(&acl);
    add(&acl, "::/0", INT64_MAX);
    ck_assert(match(&acl, "::1", 0));
    ck_assert(match(&acl, "10.1.2.3", 0));      /* v4 is inside ::/0 (as ::ffff:0:0/96) */
    gh_acl_free(&acl);
}
END_TEST

START_TEST(test_v4_mapped)
{
    struct gh_acl acl;
    gh_acl_init(&acl);
    add(&acl, "1.2.3.0/24", INT64_MAX);
    ck_assert(match(&acl, "::ffff:1.2.3.4", 0));
    ck_assert(!match(&acl, "::ffff:1.2.4.4", 0));
    ck_assert(!match(&acl, "::1.2.3.4", 0));    /* v4-compatible is not v4-mapped */
    gh_acl_clear(&acl);
    add(&acl, "::ffff:10.0.0.0/104", INT64_MAX);
    ck_assert(match(&acl, "10.9.8.7", 0));
    ck_assert(!match(&acl, "11.0.0.1", 0));
    uint8_t key[16];
    key_of("1.2.3.4", key);
    char text[64];
    gh_acl_key_text(key, 120, text, sizeof(text));
    ck_assert_str_eq(text, "1.2.3.4/24");
    key_of("2001:db8::", key);
    gh_acl_key_text(key, 32, text, sizeof(text));
    ck_assert_str_eq(text, "2001:db8::/32");
    gh_acl_free(&acl);
}
END_TEST

START_TEST(test_overlap_and_boundaries)
{
    struct gh_acl acl;
    gh_acl_init(&acl);
    add(&acl, "10.0.0.0/8", INT64_MAX);
    add(&acl, "10.1.0.0/16", INT64_MAX);        /* nested: still matches */
    ck_assert(match(&acl, "10.0.0.0", 0));
    ck_assert(match(&acl, "10.255.255.255", 0));
    ck_assert(match(&acl, "10.1.2.3", 0));
    ck_assert(!match(&acl, "9.255.255.255", 0));
    ck_assert(!match(&acl, "11.0.0.0", 0));
    add(&acl, "2001:db8::/32", INT64_MAX);
    ck_assert(match(&acl, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 0));
    ck_assert(!match(&acl, "2001:db9::", 0));
    ck_assert_uint_eq(acl.nprefixes, 3);
    gh_acl_free(&acl);
}
END_TEST

START_TEST(test_expiry)
{
    struct gh_acl acl;
    gh_acl_init(&acl);
    add(&acl, "192.168.0.0/16", 1000);
    ck_assert(match(&acl, "192.168.1.1", 999));
    ck_assert(!match(&acl, "192.168.1.1", 1000));
    add(&acl, "192.168.1.0/24", 5000);          /* a longer live prefix below an expired one */
    ck_assert(match(&acl, "192.168.1.1", 2000));
    ck_assert(!match(&acl, "192.168.2.1", 2000));
    gh_acl_free(&acl);
}
END_TEST

/* The compressed trie against a scan of the prefixes it was given: keys
 * drawn from a few close addresses so that edges split at every depth. */
static bool scan_match(const uint8_t (*keys)[16], const int *plens, const int64_t *exp, int n,
                       const uint8_t key[16], int64_t now)
{
    for (int i = 0; i < n; i++) {
        bool in = exp[i] > now;
        for (int b = 0; in && b < plens[i]; b++)
            in = ((keys[i][b >> 3] ^ key[b >> 3]) >> (7 - (b & 7)) & 1) == 0;
        if (in)
            return true;
    }
    return false;
}

START_TEST(test_random_against_scan)
{
    enum { N = 200, PROBES = 4000 };
    static uint8_t keys[N][16];
    int plens[N];
    int64_t exp[N];
    struct gh_acl acl;
    gh_acl_init(&acl);
    unsigned seed = 12345;
    for (int round = 0; round < 20; round++) {
        gh_acl_clear(&acl);
        int n = 1 + (int)(rand_r(&seed) % N);
        for (int i = 0; i < n; i++) {
            memset(keys[i], 0, 16);
            for (int k = 0; k < 16; k++)    /* few distinct bytes: long shared prefixes */
                keys[i][k] = (uint8_t)(rand_r(&seed) % 4 == 0 ? rand_r(&seed) : 0x0f);
            plens[i] = (int)(rand_r(&seed) % 129);
            for (int b = plens[i]; b < 128; b++)
                keys[i][b >> 3] &= (uint8_t)~(0x80 >> (b & 7));
            exp[i] = 1 + (int64_t)(rand_r(&seed) % 100);
            ck_assert_int_eq(gh_acl_add(&acl, keys[i], plens[i], exp[i]), 0);
        }
        for (int j = 0; j < PROBES; j++) {
            uint8_t key[16];
            memcpy(key, keys[rand_r(&seed) % (unsigned)n], 16);
            int flips = (int)(rand_r(&seed) % 3);
            for (int f = 0; f < flips; f++) {
                int b = (int)(rand_r(&seed) % 128);
                key[b >> 3] ^= (uint8_t)(0x80 >> (b & 7));
            }
            int64_t now = (int64_t)(rand_r(&seed) % 101);
            /* a prefix added twice keeps the later expiry: so does the scan */
            ck_assert_int_eq(gh_acl_match(&acl, key, now), scan_match(keys, plens, exp, n, key, now));
        }
    }
    gh_acl_free(&acl);
}
END_TEST

START_TEST(test_parse_errors)
{
    struct gh_conf_cidr c;
    ck_assert_int_eq(gh_parse_cidr("1.2.3.4/33", &c), -1);
    ck_assert_int_eq(gh_parse_cidr("::1/129", &c), -1);
    ck_assert_int_eq(gh_parse_cidr("10.0.0.1/8", &c), -2);
    ck_assert_int_eq(gh_parse_cidr("0.0.0.0/0", &c), 0);
    ck_assert_int_eq(gh_parse_cidr("::/0", &c), 0);
}
END_TEST

static struct gh_shm shm;

static void seg_setup(void)
{
    ck_assert_int_eq(gh_shm_create(&shm, 16 << 20), 0);
    ck_assert_int_eq(gh_bl_reserve(&shm), 0);
    ck_assert_int_eq(gh_cl_reserve(&shm), 0);
}

static void seg_teardown(void)
{
    gh_shm_detach(&shm);
}

START_TEST(test_blacklist_cache_and_full)
{
    struct gh_bl_region *reg = gh_bl_region();
    struct gh_bl_cache cache;
    ck_assert_int_eq(gh_bl_cache_init(&cache), 0);
    uint8_t a[16], b[16];
    key_of("127.0.0.2", a);
    key_of("127.0.0.3", b);
    ck_assert(!gh_bl_banned(&cache, reg, a));
    ck_assert_int_eq(gh_bl_add(reg, a, 128, 60000), 0);
    ck_assert(gh_bl_banned(&cache, reg, a));    /* the generation changed: rebuilt */
    ck_assert(!gh_bl_banned(&cache, reg, b));
    /* Fill the table: the oldest entry (a) is evicted, the new one is in. */
    for (int i = 1; i < GH_BL_CAPACITY; i++) {
        uint8_t k[16];
        key_of("10.0.0.0", k);
        k[14] = (uint8_t)(i >> 8);
        k[15] = (uint8_t)i;
        ck_assert_int_eq(gh_bl_add(reg, k, 128, 60000), 0);
    }
    ck_assert_int_eq(gh_bl_add(reg, b, 128, 60000), 1);
    ck_assert(gh_bl_banned(&cache, reg, b));
    ck_assert(!gh_bl_banned(&cache, reg, a));
    ck_assert_int_eq(gh_bl_remove(reg, b, 128), 0);
    ck_assert_int_eq(gh_bl_remove(reg, b, 128), -1);
    ck_assert(!gh_bl_banned(&cache, reg, b));
    gh_bl_cache_free(&cache);
}
END_TEST

START_TEST(test_blacklist_lock_holder_killed)
{
    struct gh_bl_region *reg = gh_bl_region();
    uint8_t a[16];
    key_of("127.0.0.2", a);
    ck_assert_int_eq(gh_bl_add(reg, a, 128, 60000), 0);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(gh_bl_test_lock(reg));
        raise(SIGKILL);
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFSIGNALED(st));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint8_t b[16];
    key_of("127.0.0.3", b);
    ck_assert_int_eq(gh_bl_add(reg, b, 128, 60000), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 100);
    struct gh_bl_entry e[4];
    ck_assert_uint_eq(gh_bl_snapshot(reg, e, 4), 2);
    struct gh_bl_cache cache;
    ck_assert_int_eq(gh_bl_cache_init(&cache), 0);
    ck_assert(gh_bl_banned(&cache, reg, a));
    ck_assert(gh_bl_banned(&cache, reg, b));
    gh_bl_cache_free(&cache);
}
END_TEST

START_TEST(test_auto_ban)
{
    struct gh_bl_region *reg = gh_bl_region();
    struct gh_conf conf;
    memset(&conf, 0, sizeof(conf));
    conf.access.ban_violations = 3;
    conf.access.ban_window = 60000;
    conf.access.ban_duration = 60000;
    uint8_t a[16];
    key_of("::1", a);
    ck_assert(!gh_bl_violation(reg, &conf, a));
    ck_assert(!gh_bl_violation(reg, &conf, a));
    ck_assert(gh_bl_violation(reg, &conf, a));
    struct gh_bl_entry e[4];
    ck_assert_uint_eq(gh_bl_snapshot(reg, e, 4), 1);
    ck_assert_int_eq(e[0].plen, 128);
}
END_TEST

START_TEST(test_connlimit_and_dead_worker)
{
    struct gh_cl_region *reg = gh_cl_region();
    uint8_t a[16];
    key_of("127.0.0.1", a);
    ck_assert_int_eq(gh_cl_acquire(reg, 1, a, 2), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* A worker takes a count and dies. */
        gh_cl_acquire(reg, 0, a, 2);   /* slot 0: the one its master claims below */
        raise(SIGKILL);
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert_int_eq(gh_cl_count(reg, a), 2);
    ck_assert_int_eq(gh_cl_acquire(reg, 1, a, 2), -1);
    ck_assert_int_eq(gh_shm_proc_claim(&shm, pid, 1, 0), 0);
    gh_cl_proc_exit(&shm, pid);
    ck_assert_int_eq(gh_cl_count(reg, a), 1);
    gh_cl_release(reg, 1, a);
    ck_assert_int_eq(gh_cl_count(reg, a), 0);
    gh_cl_release(reg, 1, a);                   /* extra release: no underflow */
    ck_assert_int_eq(gh_cl_count(reg, a), 0);
}
END_TEST

static Suite *acl_suite(void)
{
    Suite *s = suite_create("acl");
    TCase *tc = tcase_create("trie");
    tcase_add_test(tc, test_empty_and_exact);
    tcase_add_test(tc, test_zero_prefixes);
    tcase_add_test(tc, test_v4_mapped);
    tcase_add_test(tc, test_overlap_and_boundaries);
    tcase_add_test(tc, test_expiry);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_random_against_scan);
    suite_add_tcase(s, tc);
    TCase *ts = tcase_create("shared");
    tcase_add_checked_fixture(ts, seg_setup, seg_teardown);
    tcase_add_test(ts, test_blacklist_cache_and_full);
    tcase_add_test(ts, test_blacklist_lock_holder_killed);
    tcase_add_test(ts, test_auto_ban);
    tcase_add_test(ts, test_connlimit_and_dead_worker);
    suite_add_tcase(s, ts);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(acl_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
