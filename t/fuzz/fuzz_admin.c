/*
 * fuzz_admin.c - libFuzzer harness for the admin API's request handler
 * (gh_admin_handle_body, server/admin.c): status.json, metrics, drain and
 * enable, the blacklist calls and their JSON bodies (server/admin_edge.c,
 * server/admin_json.c), GET /cache and POST /cache/purge
 * (server/admin_cache.c, modules/cache_purge.c), on a shared segment set up
 * as the master does it (upstream slots, the blacklist region, a 1 MB
 * cache store holding a few named objects, refilled when purged) with a
 * small fixed config.
 *
 * Input: one flag byte (bit 0: the config has a token; bit 1: send the
 * right bearer token; bit 2: send a wrong one), then "METHOD TARGET" up to
 * the first '\n', then the body. Invariants checked:
 *  - never NULL (nothing runs out of memory here), never a crash or leak;
 *  - a complete HTTP/1.1 response: status line with a known code and its
 *    phrase, a head ending in CRLF CRLF, a Content-Length that counts the
 *    body (none for HEAD);
 *  - a JSON body parses; an error's is {"error": "CODE PHRASE"} with an
 *    optional string "reason" (but GET /status's 401, the dashboard page
 *    without data); the 200s of status.json and the blacklist calls have
 *    their documented shape; a purge never drops more objects than there
 *    were, and GET /cache's counts fit the store.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/shm.h"
#include "modules/blacklist.h"
#include "modules/cache.h"
#include "modules/cache_store.h"
#include "server/admin.h"
#include "server/http1.h"
#include "fuzz.h"

static struct gh_shm shm;
static struct gh_conf conf;
static struct gh_conf_upstream up;
static struct gh_conf_upstream_server srv[2];
static struct gh_conf_rate_limit rl;
static bool ready;

static void init(void)
{
    gh_log_set_level(GH_LOG_ERROR);
    srv[0].addr.text = (char *)"10.0.0.1:80";
    srv[0].weight = 1;
    srv[1].addr.text = (char *)"unix:/run/app.sock";
    srv[1].weight = 2;
    srv[1].backup = true;
    up.name = (char *)"app";
    up.hash_key = (char *)"$remote_addr";
    up.sticky_cookie = (char *)"";
    up.servers = srv;
    up.nservers = 2;
    rl.name = (char *)"per_ip";
    conf.upstreams = &up;
    conf.nupstreams = 1;
    conf.rate_limits = &rl;
    conf.nrate_limits = 1;
    conf.admin.token = (char *)"";
    CHECK(gh_shm_create(&shm, 8u << 20) == 0);
    CHECK(gh_us_reserve(&shm, &conf, 1) == 0);
    CHECK(gh_bl_reserve(&shm) == 0);
    conf.cache.size = 1u << 20;
    conf.cache.max_object_size = 64u << 10;
    gh_cache_reserve(&shm, &conf);
    bool on;
    struct gh_cache_store *cs = gh_cache_admin_store(&on);
    CHECK(on && cs != NULL);
    gh_cache_store_set_proc(cs, 0, conf.cache.max_object_size);
    ready = true;
}

/* Names as the cache gives them (the primary key text): what purges find. */
static const char *const names[] = {
    "GET http://example.com/",
    "GET http://example.com/a/b?x=1",
    "GET http://example.com/a/.well-known",
    "GET https://example.com/a/b",
    "GET http://[::1]:8080/%2F~",
};

/* Store every name that is not stored (a purge took it); the count stored. */
static uint64_t refill(void)
{
    bool on;
    struct gh_cache_store *cs = gh_cache_admin_store(&on);
    for (size_t i = 0; i < GH_ARRAY_LEN(names); i++) {
        struct gh_cache_key key;
        struct gh_cache_ref ref, w;
        struct gh_cache_info info;
        gh_cache_key_hash(cs, names[i], strlen(names[i]), &key);
        if (gh_cache_lookup(cs, &key, &ref, &info) == 0) {
            gh_cache_release(cs, &ref);
            continue;
        }
        CHECK(gh_cache_begin_named(cs, &key, names[i], strlen(names[i]), "m", 1, &w) == 0);
        CHECK(gh_cache_append(cs, &w, "X: y\r\n", 6) == 0);
        CHECK(gh_cache_commit(cs, &w) == 0);
    }
    struct gh_cache_stats st;
    gh_cache_store_stats(cs, &st);
    return st.objects;
}

static uint64_t stored;

static bool has_prefix(const char *s, size_t n, const char *p)
{
    size_t pl = strlen(p);
    return n >= pl && memcmp(s, p, pl) == 0;
}

/* The value of header name (with ": ") in head, NUL-terminated in out. */
static bool header(const char *head, size_t hlen, const char *name, char *out, size_t size)
{
    for (const char *l = head; l < head + hlen;) {
        const char *e = memmem(l, (size_t)(head + hlen - l), "\r\n", 2);
        CHECK(e != NULL);
        size_t nl = strlen(name);
        if ((size_t)(e - l) > nl + 2 && memcmp(l, name, nl) == 0 && l[nl] == ':' && l[nl + 1] == ' ') {
            size_t vl = (size_t)(e - l) - nl - 2;
            CHECK(vl < size);
            memcpy(out, l + nl + 2, vl);
            out[vl] = '\0';
            return true;
        }
        l = e + 2;
    }
    return false;
}

static void check_json(int status, struct gh_str path, struct gh_str method, const char *body,
                       size_t blen)
{
    json_error_t err;
    json_t *j = json_loadb(body, blen, 0, &err);
    CHECK(j != NULL);
    if (status != 200) {
        CHECK(json_is_object(j));
        const char *e = json_string_value(json_object_get(j, "error"));
        char want[64];
        snprintf(want, sizeof(want), "%d %s", status, gh_http_reason(status));
        CHECK(e != NULL && strcmp(e, want) == 0);
        json_t *r = json_object_get(j, "reason");
        CHECK(r == NULL || (json_is_string(r) && json_string_length(r) > 0));
        CHECK(json_object_size(j) == (r != NULL ? 2u : 1u));
    } else if (gh_str_eq(path, GH_STR("/status.json"))) {
        CHECK(json_is_array(json_object_get(j, "upstreams")));
        CHECK(json_is_object(json_object_get(j, "edge")));
    } else if (gh_str_eq(path, GH_STR("/blacklist"))) {
        if (gh_str_eq(method, GH_STR("GET"))) {
            CHECK(json_is_array(j));
        } else {
            CHECK(json_is_string(json_object_get(j, "cidr")));
            CHECK(json_is_integer(json_object_get(j, "ttl_ms")));
        }
    } else if (has_prefix(path.p, path.len, "/blacklist/")) {
        CHECK(json_is_string(json_object_get(j, "removed")));
    } else if (gh_str_eq(path, GH_STR("/cache"))) {
        CHECK(json_object_get(j, "enabled") == json_true());
        json_int_t objects = json_integer_value(json_object_get(j, "objects"));
        CHECK(objects >= 0 && (uint64_t)objects <= stored);
        CHECK(json_is_object(json_object_get(j, "requests")));
    } else if (gh_str_eq(path, GH_STR("/cache/purge"))) {
        json_t *n = json_object_get(j, "purged");
        CHECK(json_is_integer(n) && json_integer_value(n) >= 0
              && (uint64_t)json_integer_value(n) <= stored);
        const char *k = json_string_value(json_object_get(j, "key"));
        if (k == NULL)
            k = json_string_value(json_object_get(j, "prefix"));
        CHECK(k != NULL && has_prefix(k, strlen(k), "GET http"));
    } else {
        CHECK(json_is_boolean(json_object_get(j, "drained")));
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        init();
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    const char *nl = memchr(in, '\n', n);
    size_t ll = nl ? (size_t)(nl - in) : n;
    const char *sp = memchr(in, ' ', ll);
    struct gh_str method = gh_str_make(in, sp ? (size_t)(sp - in) : ll);
    struct gh_str target = sp ? gh_str_make(sp + 1, ll - method.len - 1) : gh_str_make("", 0);
    struct gh_str body = nl ? gh_str_make(nl + 1, n - ll - 1) : gh_str_make("", 0);
    conf.admin.token = (char *)((flags & 1) ? "t0k" : "");
    struct gh_str good = GH_STR("Bearer t0k"), bad = GH_STR("Bearer t0"), *auth = NULL;
    if (flags & 2)
        auth = &good;
    else if (flags & 4)
        auth = &bad;

    /* The handler reads only the given lengths: hand it exact copies, so
     * ASan sees any read past them. */
    char *m = malloc(method.len + 1), *t = malloc(target.len + 1), *b = malloc(body.len + 1);
    CHECK(m != NULL && t != NULL && b != NULL);
    memcpy(m, method.p, method.len);
    memcpy(t, target.p, target.len);
    memcpy(b, body.p, body.len);
    method.p = m;
    target.p = t;
    body.p = b;

    stored = refill();
    size_t len = 0;
    char *resp = gh_admin_handle_body(&conf, gh_us_region(), method, target, auth, body, &len);
    CHECK(resp != NULL);
    int status = 0;
    CHECK(len > 13 && has_prefix(resp, len, "HTTP/1.1 "));
    for (int i = 9; i < 12; i++)
        CHECK(resp[i] >= '0' && resp[i] <= '9');
    CHECK(sscanf(resp, "HTTP/1.1 %3d ", &status) == 1);
    const char *phrase = gh_http_reason(status);
    CHECK(strcmp(phrase, "Unknown") != 0);
    CHECK(resp[12] == ' ' && has_prefix(resp + 13, len - 13, phrase));
    CHECK(has_prefix(resp + 13 + strlen(phrase), len - 13 - strlen(phrase), "\r\n"));
    const char *end = memmem(resp, len, "\r\n\r\n", 4);
    CHECK(end != NULL);
    size_t hlen = (size_t)(end - resp) + 4;
    char cl[32], ctype[64];
    CHECK(header(resp, hlen - 2, "Content-Length", cl, sizeof(cl)));
    CHECK(header(resp, hlen - 2, "Content-Type", ctype, sizeof(ctype)));
    char *e;
    unsigned long long clen = strtoull(cl, &e, 10);
    CHECK(*e == '\0');
    const char *q = memchr(t, '?', target.len);
    struct gh_str path = gh_str_make(t, q ? (size_t)(q - t) : target.len);
    bool html = strcmp(ctype, "text/html; charset=utf-8") == 0;
    bool head = gh_str_eq(method, GH_STR("HEAD")) && (status == 200 || html);
    CHECK(len - hlen == (head ? 0 : clen));
    if (status == 401)
        CHECK(flags & 1);
    if (status == 405)
        CHECK(memmem(resp, hlen, "\r\nAllow: ", 9) != NULL);
    if (!head && strcmp(ctype, "application/json") == 0)
        check_json(status, path, method, resp + hlen, len - hlen);
    else if (status != 200)             /* the dashboard's 401 is its page without data */
        CHECK(status == 401 && html && gh_str_eq(path, GH_STR("/status")));
    free(resp);
    free(m);
    free(t);
    free(b);
    return 0;
}
