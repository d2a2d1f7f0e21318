/*
 * test_cache_vary.c - the cache's secondary keys (modules/cache_vary.c):
 * which request fields make a variant, Accept-Encoding keyed by the coding
 * the compression chooses or by its value, and the comparison of Vary
 * values a marker is replaced by.
 */
#include <check.h>
#include <string.h>

#include "common/conf.h"
#include "modules/cache_priv.h"
#include "server/request.h"

static struct gh_conf conf;
static struct gh_http_header fields[8];
static struct gh_req req;

/* A request with the given "Name", "value" pairs (NULL-terminated). */
static struct gh_req *request(const char *const *kv)
{
    size_t n = 0;
    for (; kv[2 * n] != NULL; n++)
        fields[n] = (struct gh_http_header){ gh_str_make(kv[2 * n], strlen(kv[2 * n])),
                                             gh_str_make(kv[2 * n + 1], strlen(kv[2 * n + 1])) };
    memset(&req, 0, sizeof(req));
    req.conf = &conf;
    req.head.headers = fields;
    req.head.nheaders = n;
    return &req;
}

static const char *text(const struct gh_req *r, const char *vary, char mode)
{
    static char out[512];
    ssize_t n = gh_cache_vary_text(r, gh_str_make(vary, strlen(vary)), mode, out, sizeof(out) - 1);
    if (n < 0)
        return NULL;
    out[n] = '\0';
    return out;
}

static void codecs(bool zstd, bool br, bool gzip)
{
    conf.compression.zstd = zstd;
    conf.compression.brotli = br;
    conf.compression.gzip = gzip;
}

START_TEST(test_named_fields)
{
    codecs(true, true, true);
    const char *kv[] = { "X-Lang", " en  ", "Cookie", "a=1", "x-lang", "fr", NULL };
    struct gh_req *r = request(kv);
    /* sorted, deduplicated, lines joined, blanks trimmed; absent is "!" */
    ck_assert_str_eq(text(r, "X-Lang, x-other, X-LANG", 'r'), "rx-lang:en,fr\nx-other!\n");
    ck_assert_str_eq(text(r, "Cookie", 'c'), "ccookie:a=1\n");
    ck_assert_ptr_null(text(r, "X-Lang, *", 'r'));
}
END_TEST

START_TEST(test_accept_encoding_by_coding)
{
    const char *kv[] = { "Accept-Encoding", "gzip, deflate, br", NULL };
    struct gh_req *r = request(kv);
    codecs(true, true, true);
    ck_assert_str_eq(text(r, "Accept-Encoding", GH_CACHE_AE_CODING), "caccept-encoding:br\n");
    codecs(true, false, true);
    ck_assert_str_eq(text(r, "Accept-Encoding", GH_CACHE_AE_CODING), "caccept-encoding:gzip\n");
    codecs(false, false, false);
    ck_assert_str_eq(text(r, "Accept-Encoding", GH_CACHE_AE_CODING),
                     "caccept-encoding:identity\n");
    /* the upstream's own encoding: the header's normalized value */
    ck_assert_str_eq(text(r, "Accept-Encoding", GH_CACHE_AE_RAW),
                     "raccept-encoding:gzip,deflate,br\n");
    const char *z[] = { "accept-encoding", "ZSTD;q=1, gzip;q=0.5", NULL };
    codecs(true, true, true);
    ck_assert_str_eq(text(request(z), "accept-encoding, X-A", GH_CACHE_AE_CODING),
                     "caccept-encoding:zstd\nx-a!\n");
    /* two clients choosing the same coding share the key */
    const char *a[] = { "Accept-Encoding", "br", NULL };
    const char *b[] = { "Accept-Encoding", "gzip;q=0.1, br", NULL };
    char ka[64];
    strcpy(ka, text(request(a), "Accept-Encoding", GH_CACHE_AE_CODING));
    ck_assert_str_eq(text(request(b), "Accept-Encoding", GH_CACHE_AE_CODING), ka);
    /* no Accept-Encoding: identity, as the compression decides */
    const char *none[] = { NULL };
    ck_assert_str_eq(text(request(none), "Accept-Encoding", GH_CACHE_AE_CODING),
                     "caccept-encoding:identity\n");
}
END_TEST

START_TEST(test_same_names)
{
    ck_assert(gh_cache_vary_same(GH_STR("Accept-Encoding, X-A"), GH_STR("x-a,accept-encoding")));
    ck_assert(gh_cache_vary_same(GH_STR("X-A, X-A"), GH_STR("x-a")));
    ck_assert(!gh_cache_vary_same(GH_STR("X-A"), GH_STR("X-A, X-B")));
    ck_assert(!gh_cache_vary_same(GH_STR("*"), GH_STR("*")));
}
END_TEST

static Suite *cache_vary_suite(void)
{
    Suite *s = suite_create("cache_vary");
    TCase *tc = tcase_create("vary");

    tcase_add_test(tc, test_named_fields);
    tcase_add_test(tc, test_accept_encoding_by_coding);
    tcase_add_test(tc, test_same_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cache_vary_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
