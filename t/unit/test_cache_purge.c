/*
 * test_cache_purge.c - the names a purge looks for (modules/cache_purge.c):
 * the same text as the cache's primary key for a URL, and prefixes whose
 * last partial segment is not normalized away.
 */
#include <check.h>
#include <string.h>

#include "modules/cache_purge.h"
#include "modules/cache_rfc.h"

static char out[256];
static const char *why;

static const char *name(const char *url, bool prefix)
{
    why = NULL;
    ssize_t n = gh_cache_purge_name(url, strlen(url), prefix, out, sizeof(out), &why);
    if (n < 0) {
        ck_assert_ptr_nonnull(why);
        return NULL;
    }
    out[n] = '\0';
    return out;
}

START_TEST(test_exact_is_the_primary_key)
{
    char key[256];
    ssize_t k = gh_cache_primary_key("GET", 3, false, "example.com", 11, "/b?x=1", 6, key,
                                     sizeof(key));
    ck_assert_int_gt(k, 0);
    key[k] = '\0';
    ck_assert_str_eq(name("http://Example.COM:80/a/../b?x=1", false), key);
    ck_assert_str_eq(name("HTTP://example.com./%61/%2e%2E/b?x=1#frag", false), key);
    ck_assert_str_eq(name("https://h:443", false), "GET https://h/");
    ck_assert_str_eq(name("https://h:80/", false), "GET https://h:80/");
    ck_assert_str_eq(name("http://h?q", false), "GET http://h/?q");
    ck_assert_str_eq(name("http://[::1]:8080/x%2fy", false), "GET http://[::1]:8080/x%2Fy");
    ck_assert_str_eq(name("http://h/a/./b/", false), "GET http://h/a/b/");
}
END_TEST

START_TEST(test_prefix)
{
    ck_assert_str_eq(name("http://Example.com:80/static/", true), "GET http://example.com/static/");
    ck_assert_str_eq(name("http://h", true), "GET http://h/");     /* the whole host, not "hx" */
    ck_assert_str_eq(name("http://h/a/.", true), "GET http://h/a/.");
    ck_assert_str_eq(name("http://h/a/..", true), "GET http://h/a/..");
    ck_assert_str_eq(name("http://h/a/%2E", true), "GET http://h/a/.");
    ck_assert_str_eq(name("http://h/a/b/../c/", true), "GET http://h/a/c/");
    ck_assert_str_eq(name("http://h/a/b/..", true), "GET http://h/a/b/..");
    ck_assert_str_eq(name("http://h/%7Euser", true), "GET http://h/~user");
    ck_assert_str_eq(name("http://h/p", true), "GET http://h/p");
    /* with a query: the path is complete, the query a prefix as given */
    ck_assert_str_eq(name("http://h/a/./b?page=", true), "GET http://h/a/b?page=");
    ck_assert_ptr_null(name("http://h/a%2", true));                 /* a cut escape */
    ck_assert_ptr_null(name("http://h/a%", true));
}
END_TEST

START_TEST(test_refused)
{
    static const char *bad[] = {
        "", "/a", "example.com/a", "ftp://h/", "http:/h/", "http://", "http:///a",
        "http://u@h/", "http://h:x/", "http://h:/", "http://:80/", "http://h h/",
        "http://h/a b", "http://h/\x01", "http://h/%00", "http://h/../x", "http://h/%zz",
        "http://[::1/", "http://[::1]x/", "http://h\"/", "http://h/\x7f",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(name(bad[i], false) == NULL, "%s", bad[i]);
        ck_assert_msg(name(bad[i], true) == NULL, "%s (prefix)", bad[i]);
    }
    /* too long for the output */
    char small[8];
    ck_assert_int_eq(gh_cache_purge_name("http://h/abcdef", 15, false, small, sizeof(small), &why),
                     -1);
}
END_TEST

static Suite *cache_purge_suite(void)
{
    Suite *s = suite_create("cache_purge");
    TCase *tc = tcase_create("names");

    tcase_add_test(tc, test_exact_is_the_primary_key);
    tcase_add_test(tc, test_prefix);
    tcase_add_test(tc, test_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cache_purge_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
