/*
 * test_admin_json.c - the admin API's JSON layer (server/admin_json.c):
 * bodies checked against a field table, the reasons of a 400, text that is
 * not UTF-8, the writer; then the blacklist calls (server/admin_edge.c)
 * through gh_admin_handle_body on a shared segment, with the bodies that
 * the old substring search got wrong.
 */
#include <check.h>
#include <string.h>

#include "common/log.h"
#include "common/shm.h"
#include "modules/blacklist.h"
#include "server/admin.h"
#include "server/admin_json.h"
#include "balance_fixture.h"

static const struct gh_aj_field bl_fields[] = {
    { "cidr", GH_AJ_STRING, GH_AJ_REQUIRED },
    { "ttl", GH_AJ_STRING | GH_AJ_NUMBER, GH_AJ_OPTIONAL },
};

static char reason[GH_AJ_REASON_MAX];

static json_t *parse_with(const char *body, const struct gh_aj_field *f, size_t n)
{
    memset(reason, 'x', sizeof(reason));
    json_t *o = gh_aj_parse(gh_str_make(body, strlen(body)), f, n, reason);
    ck_assert(memchr(reason, '\0', sizeof(reason)) != NULL);
    if (o != NULL)
        ck_assert_str_eq(reason, "");
    else
        ck_assert_str_ne(reason, "");
    return o;
}

static json_t *parse(const char *body)
{
    return parse_with(body, bl_fields, GH_ARRAY_LEN(bl_fields));
}

/* Parsing fails, with a reason that starts with want. */
static void refused(const char *body, const char *want)
{
    json_t *o = parse(body);
    ck_assert_msg(o == NULL, "accepted %s", body);
    ck_assert_msg(strncmp(reason, want, strlen(want)) == 0, "%s: reason \"%s\", want \"%s\"",
                  body, reason, want);
}

static const char *cidr_of(json_t *o)
{
    return json_string_value(json_object_get(o, "cidr"));
}

START_TEST(malformed)
{
    refused("{\"cidr\":", "malformed JSON at line 1, column 8: ");
    refused("{\"cidr\":\"10.0.0.0/8\"} x", "malformed JSON at line 1, column 23: ");
    refused("{\"cidr\":\"10.0.0.0/8\",}", "malformed JSON");
    refused("{cidr:\"10.0.0.0/8\"}", "malformed JSON");
    refused("{'cidr':'10.0.0.0/8'}", "malformed JSON");
    refused("{\"cidr\":\"10.0.0.0/8\"\n,\n\"ttl\":}", "malformed JSON at line 3, column 7: ");
    /* Not UTF-8, a raw control byte, \u0000, an unpaired surrogate. */
    refused("{\"cidr\":\"\xff\"}", "malformed JSON");
    refused("{\"cidr\":\"a\nb\"}", "malformed JSON");
    refused("{\"cidr\":\"a\\u0000b\"}", "malformed JSON");
    refused("{\"cidr\":\"\\ud800\"}", "malformed JSON");
    /* A member given twice has no one meaning. */
    refused("{\"cidr\":\"10.0.0.0/8\",\"cidr\":\"::/0\"}", "malformed JSON");
    /* Deeper than jansson's limit: refused, not a stack overflow. */
    char deep[6000];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    refused(deep, "malformed JSON");
}
END_TEST

START_TEST(not_an_object)
{
    refused("[\"cidr\"]", "the body must be a JSON object, not an array");
    refused("\"cidr\"", "the body must be a JSON object, not a string");
    refused("3", "the body must be a JSON object, not an integer");
    refused("null", "the body must be a JSON object, not null");
}
END_TEST

START_TEST(wrong_type)
{
    refused("{\"cidr\":5}", "field \"cidr\" must be a string, not an integer");
    refused("{\"cidr\":null}", "field \"cidr\" must be a string, not null");
    refused("{\"cidr\":[\"10.0.0.0/8\"]}", "field \"cidr\" must be a string, not an array");
    refused("{\"cidr\":\"10.0.0.0/8\",\"ttl\":true}",
            "field \"ttl\" must be a string or a number, not a boolean");
    static const struct gh_aj_field f[] = {
        { "n", GH_AJ_INTEGER, GH_AJ_OPTIONAL },
        { "any", GH_AJ_BOOL | GH_AJ_NULL | GH_AJ_OBJECT | GH_AJ_ARRAY, GH_AJ_OPTIONAL },
    };
    ck_assert_ptr_null(parse_with("{\"n\":5.0}", f, 2));
    ck_assert_str_eq(reason, "field \"n\" must be an integer, not a real number");
    ck_assert_ptr_null(parse_with("{\"any\":1}", f, 2));
    ck_assert_str_eq(reason,
                     "field \"any\" must be a boolean, null, an object or an array, not an integer");
    json_t *o = parse_with("{\"n\":5,\"any\":{\"deep\":[1,2]}}", f, 2);
    ck_assert_ptr_nonnull(o);
    json_decref(o);
}
END_TEST

START_TEST(unknown_field)
{
    refused("{\"cidr\":\"10.0.0.0/8\",\"bogus\":1}", "unknown field \"bogus\"");
    refused("{\"Cidr\":\"10.0.0.0/8\"}", "unknown field \"Cidr\"");
    /* A long name is cut, and the reason still fits. */
    char body[600];
    memset(body, 'a', sizeof(body));
    memcpy(body, "{\"", 2);
    memcpy(body + sizeof(body) - 6, "\":1}", 5);
    refused(body, "unknown field \"aaaa");
    ck_assert_uint_lt(strlen(reason), GH_AJ_REASON_MAX);
}
END_TEST

START_TEST(missing_field)
{
    refused("{\"ttl\":\"10m\"}", "missing required field \"cidr\"");
    refused("{}", "missing required field \"cidr\"");
    /* An empty body is an empty object. */
    refused("", "missing required field \"cidr\"");
    refused(" \r\n\t", "missing required field \"cidr\"");
    json_t *o = parse_with("", NULL, 0);
    ck_assert(json_is_object(o) && json_object_size(o) == 0);
    json_decref(o);
    o = parse_with(" {} ", NULL, 0);
    ck_assert(json_is_object(o));
    json_decref(o);
    ck_assert_ptr_null(parse_with("{\"a\":1}", NULL, 0));
    ck_assert_str_eq(reason, "unknown field \"a\"");
}
END_TEST

START_TEST(one_of)
{
    static const struct gh_aj_field f[] = {
        { "url", GH_AJ_STRING, GH_AJ_ONE_OF },
        { "prefix", GH_AJ_STRING, GH_AJ_ONE_OF },
    };
    json_t *o = parse_with("{\"prefix\":\"http://a/b/\"}", f, 2);
    ck_assert_ptr_nonnull(o);
    json_decref(o);
    ck_assert_ptr_null(parse_with("{}", f, 2));
    ck_assert_str_eq(reason, "give exactly one of \"url\", \"prefix\"");
    ck_assert_ptr_null(parse_with("{\"url\":\"http://a/\",\"prefix\":\"http://a/\"}", f, 2));
    ck_assert_str_eq(reason, "give exactly one of \"url\", \"prefix\"");
}
END_TEST

/* What the old search for "name" in the raw body got wrong. */
START_TEST(nested_escaped_and_spelled)
{
    /* A nested object is a value, not a place to look for fields. */
    refused("{\"x\":{\"cidr\":\"10.0.0.0/8\"}}", "unknown field \"x\"");
    refused("{\"cidr\":{\"cidr\":\"10.0.0.0/8\"}}", "field \"cidr\" must be a string, not an object");
    json_t *o = parse("{\"ttl\":\"1m\",\"cidr\":\"10.0.0.0/8\"}");
    ck_assert_str_eq(cidr_of(o), "10.0.0.0/8");
    json_decref(o);
    /* Escapes are decoded: a quote, a slash, \u digits. */
    o = parse("{\"cidr\":\"a\\\"b\"}");
    ck_assert_str_eq(cidr_of(o), "a\"b");
    json_decref(o);
    o = parse("{\"cidr\":\"10.0.0.0\\/8\"}");
    ck_assert_str_eq(cidr_of(o), "10.0.0.0/8");
    json_decref(o);
    o = parse("{\"c\\u0069dr\":\"\\u0031\\u0030.0.0.0/8\"}");
    ck_assert_str_eq(cidr_of(o), "10.0.0.0/8");
    json_decref(o);
    /* A value that spells a field name, before the field itself. */
    o = parse("{\"ttl\":\"cidr\",\"cidr\":\"10.0.0.0/8\"}");
    ck_assert_str_eq(cidr_of(o), "10.0.0.0/8");
    ck_assert_str_eq(json_string_value(json_object_get(o, "ttl")), "cidr");
    json_decref(o);
    o = parse("{\"ttl\":\"\\\"cidr\\\": \\\"1.2.3.4\\\"\", \"cidr\":\"10.0.0.0/8\"}");
    ck_assert_str_eq(cidr_of(o), "10.0.0.0/8");
    json_decref(o);
    /* A value that spells a field name and nothing else: still missing. */
    refused("{\"ttl\":\"\\\"cidr\\\":\\\"10.0.0.0/8\\\"\"}", "missing required field \"cidr\"");
}
END_TEST

START_TEST(text_not_utf8)
{
    json_t *j = gh_aj_text("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    ck_assert_str_eq(json_string_value(j), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    json_decref(j);
    /* A stray byte, an overlong '/', a surrogate, a cut sequence, > U+10FFFF. */
    j = gh_aj_text("a\xff" "b\xc0\xaf" "c\xed\xa0\x80" "d\xe2\x82" "e\xf4\x90\x80\x80");
    ck_assert_str_eq(json_string_value(j), "a?b??c???d??e????");
    json_decref(j);
}
END_TEST

START_TEST(dump_and_error_body)
{
    size_t len = 0;
    json_t *o = json_object();
    ck_assert_int_eq(json_object_set_new(o, "b", json_real(599.987)), 0);
    ck_assert_int_eq(json_object_set_new(o, "a", json_integer(1)), 0);
    ck_assert_int_eq(json_object_set_new(o, "n", gh_aj_u64(UINT64_MAX)), 0);
    char *s = gh_aj_dump(o, &len);
    ck_assert_str_eq(s, "{\"b\":599.987,\"a\":1,\"n\":9223372036854775807}\n");
    ck_assert_uint_eq(len, strlen(s));
    free(s);
    ck_assert_ptr_null(gh_aj_dump(NULL, &len));
    s = gh_aj_error_body(404, NULL, &len);
    ck_assert_str_eq(s, "{\"error\":\"404 Not Found\"}\n");
    free(s);
    s = gh_aj_error_body(400, "unknown field \"x\xff\"", &len);
    ck_assert_str_eq(s, "{\"error\":\"400 Bad Request\",\"reason\":\"unknown field \\\"x?\\\"\"}\n");
    free(s);
    struct gh_admin_reply r = { .status = 0 };
    ck_assert_int_eq(gh_admin_fail(&r, 400, "%s", "why"), 400);
    ck_assert_str_eq(r.reason, "why");
    ck_assert_int_eq(gh_admin_fail(&r, 404, NULL), 404);
    ck_assert_str_eq(r.reason, "why");
}
END_TEST

/* ---- the blacklist calls through the handler -------------------------- */

static struct gh_shm shm;
static struct gh_conf conf;

static void seg_setup(void)
{
    gh_log_set_level(GH_LOG_ERROR);
    ck_assert_int_eq(gh_shm_create(&shm, 8u << 20), 0);
    ck_assert_int_eq(gh_bl_reserve(&shm), 0);
    memset(&conf, 0, sizeof(conf));
    conf.admin.token = (char *)"";
}

static void seg_teardown(void)
{
    gh_shm_detach(&shm);
}

/* One call: the status; the body (after the head) in out when not NULL. */
static int call(const char *method, const char *target, const char *body, char **out)
{
    size_t len = 0;
    char *resp = gh_admin_handle_body(&conf, NULL, gh_str_make(method, strlen(method)),
                                      gh_str_make(target, strlen(target)), NULL,
                                      gh_str_make(body, strlen(body)), &len);
    ck_assert_ptr_nonnull(resp);
    int status = 0;
    ck_assert_int_eq(sscanf(resp, "HTTP/1.1 %d", &status), 1);
    const char *b = strstr(resp, "\r\n\r\n");
    ck_assert_ptr_nonnull(b);
    if (out != NULL)
        *out = strdup(b + 4);
    free(resp);
    return status;
}

static void call_is(const char *method, const char *target, const char *body, int status,
                    const char *want)
{
    char *got = NULL;
    ck_assert_int_eq(call(method, target, body, &got), status);
    ck_assert_msg(strcmp(got, want) == 0, "%s %s %s: %s", method, target, body, got);
    free(got);
}

START_TEST(blacklist_calls)
{
    call_is("POST", "/blacklist", "{\"ttl\":\"cidr\",\"cidr\":\"10.0.0.0/8\"}", 400,
            "{\"error\":\"400 Bad Request\",\"reason\":\"invalid ttl: a duration such as "
            "\\\"90s\\\", \\\"10m\\\" or \\\"0\\\" (permanent), or a number of seconds\"}\n");
    call_is("POST", "/blacklist", "{\"ttl\":\"10m\",\"cidr\":\"10.0.0.0\\/8\"}", 200,
            "{\"cidr\":\"10.0.0.0/8\",\"ttl_ms\":600000}\n");
    call_is("POST", "/blacklist", "{\"cidr\":\"10.1.0.0/16\",\"ttl\":90}", 200,
            "{\"cidr\":\"10.1.0.0/16\",\"ttl_ms\":90000}\n");
    call_is("POST", "/blacklist", "{\"cidr\":\"10.2.0.0/16\",\"ttl\":1.5}", 200,
            "{\"cidr\":\"10.2.0.0/16\",\"ttl_ms\":1500}\n");
    call_is("POST", "/blacklist", "{\"cidr\":\"::1\",\"ttl\":\"0\"}", 200,
            "{\"cidr\":\"::1/128\",\"ttl_ms\":-1}\n");
    call_is("POST", "/blacklist", "{\"cidr\":\"10.3.0.0/16\",\"ttl\":-1}", 400,
            "{\"error\":\"400 Bad Request\",\"reason\":\"invalid ttl: a duration such as "
            "\\\"90s\\\", \\\"10m\\\" or \\\"0\\\" (permanent), or a number of seconds\"}\n");
    call_is("POST", "/blacklist", "{\"cidr\":\"10.0.0.1/8\"}", 400,
            "{\"error\":\"400 Bad Request\",\"reason\":\"invalid cidr \\\"10.0.0.1/8\\\": an IPv4 "
            "or IPv6 address with an optional /prefix and no host bits set\"}\n");
    call_is("POST", "/blacklist", "{\"cidr\":\"10.0.0.0/8\",\"extra\":true}", 400,
            "{\"error\":\"400 Bad Request\",\"reason\":\"unknown field \\\"extra\\\"\"}\n");
    /* The old search found the nested "cidr" first and banned 10.9.0.0/16. */
    call_is("POST", "/blacklist", "{\"x\":{\"cidr\":\"10.9.0.0/16\"},\"cidr\":\"10.0.0.0/8\"}", 400,
            "{\"error\":\"400 Bad Request\",\"reason\":\"unknown field \\\"x\\\"\"}\n");
    char *list = NULL;
    ck_assert_int_eq(call("GET", "/blacklist", "", &list), 200);
    json_error_t err;
    json_t *a = json_loads(list, 0, &err);
    free(list);
    ck_assert(json_is_array(a) && json_array_size(a) == 4);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 0), "cidr")),
                     "10.0.0.0/8");
    double left = json_real_value(json_object_get(json_array_get(a, 0), "expires_in"));
    ck_assert(left > 590 && left <= 600);
    ck_assert(json_is_null(json_object_get(json_array_get(a, 3), "expires_in")));
    json_decref(a);
    /* DELETE takes no body, or {}. */
    call_is("DELETE", "/blacklist/10.0.0.0%2F8", "{\"cidr\":\"10.0.0.0/8\"}", 400,
            "{\"error\":\"400 Bad Request\",\"reason\":\"unknown field \\\"cidr\\\"\"}\n");
    call_is("DELETE", "/blacklist/10.0.0.0%2F8", "{}", 200, "{\"removed\":\"10.0.0.0/8\"}\n");
    call_is("DELETE", "/blacklist/10.0.0.0/8", "", 404,
            "{\"error\":\"404 Not Found\",\"reason\":\"10.0.0.0/8 is not in the blacklist\"}\n");
    call_is("PUT", "/blacklist", "", 405, "{\"error\":\"405 Method Not Allowed\"}\n");
}
END_TEST

/* status.json is JSON whatever bytes the configuration's names hold. */
START_TEST(status_json_parses)
{
    static struct fx_up up;
    static struct gh_conf_rate_limit rl;
    fx_up_init(&up, "app\xff\"", 0, 1, 2);
    conf.upstreams = &up.c;
    conf.nupstreams = 1;
    rl.name = (char *)"per\\ip\xc3";
    conf.rate_limits = &rl;
    conf.nrate_limits = 1;
    ck_assert_int_eq(gh_us_reserve(&shm, &conf, 1), 0);
    size_t len = 0;
    char *s = gh_admin_status_json(&conf, gh_us_region(), &len);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(len, strlen(s));
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    ck_assert_msg(j != NULL, "%s: %s", s, err.text);
    free(s);
    json_t *u = json_array_get(json_object_get(j, "upstreams"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(u, "name")), "app?\"");
    json_t *srv = json_array_get(json_object_get(u, "servers"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(srv, "address")), "10.0.0.2:80");
    ck_assert(json_is_false(json_object_get(srv, "drained")));
    ck_assert(json_is_real(json_object_get(srv, "avg_latency_ms")));
    json_t *r = json_array_get(json_object_get(j, "rate_limits"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(r, "name")), "per\\ip?");
    ck_assert(json_is_integer(json_object_get(json_object_get(j, "edge"), "auto_bans")));
    json_decref(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("admin_json");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, not_an_object);
    tcase_add_test(tc, wrong_type);
    tcase_add_test(tc, unknown_field);
    tcase_add_test(tc, missing_field);
    tcase_add_test(tc, one_of);
    tcase_add_test(tc, nested_escaped_and_spelled);
    tcase_add_test(tc, text_not_utf8);
    tcase_add_test(tc, dump_and_error_body);
    suite_add_tcase(s, tc);
    TCase *calls = tcase_create("calls");
    tcase_add_checked_fixture(calls, seg_setup, seg_teardown);
    tcase_add_test(calls, blacklist_calls);
    tcase_add_test(calls, status_json_parses);
    suite_add_tcase(s, calls);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
