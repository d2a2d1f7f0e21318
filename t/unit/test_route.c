/*
 * test_route.c - modules/route.c and modules/route_path.c: server
 * selection, nginx's route order, path normalization, splits. The
 * configuration is built by hand (no config parser).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <check.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules/route.h"
#include "modules/route_priv.h"

/* ---------------------------------------------------------------------- */
/* Building a configuration by hand */

#define MAX_ROUTES 64
#define MAX_SERVERS 8

struct fixture {
    struct gh_conf conf;
    struct gh_conf_vserver servers[MAX_SERVERS];
    struct gh_conf_route routes[MAX_SERVERS][MAX_ROUTES];
};

static struct fixture fx;

static void fx_reset(void)
{
    memset(&fx, 0, sizeof(fx));
    fx.conf.file = "test.conf";
    fx.conf.servers = fx.servers;
}

/* Add a server with the NULL-terminated names (a static array). */
static struct gh_conf_vserver *fx_server(char **names, int line)
{
    struct gh_conf_vserver *v = &fx.servers[fx.conf.nservers];
    v->names = names;
    while (names[v->nnames] != NULL)
        v->nnames++;
    v->routes = fx.routes[fx.conf.nservers];
    v->line = line;
    fx.conf.nservers++;
    return v;
}

/* Add a route written as in the file: "= /x", "^~ /x", "~ re", "~* re", "/x".
 * Its line is its 1-based index in the server, and upstream_idx too. */
static struct gh_conf_route *fx_route(struct gh_conf_vserver *v, const char *spec)
{
    struct gh_conf_route *r = &v->routes[v->nroutes++];
    r->path_spec = (char *)spec;
    r->line = (int)v->nroutes;
    r->upstream_idx = (int)v->nroutes;
    r->rate_limit_idx = -1;
    if (strncmp(spec, "= ", 2) == 0) {
        r->kind = GH_ROUTE_EXACT;
        r->pattern = (char *)spec + 2;
    } else if (strncmp(spec, "^~ ", 3) == 0) {
        r->kind = GH_ROUTE_PREFIX_STOP;
        r->pattern = (char *)spec + 3;
    } else if (strncmp(spec, "~* ", 3) == 0) {
        r->kind = GH_ROUTE_REGEX_CASELESS;
        r->pattern = (char *)spec + 3;
    } else if (strncmp(spec, "~ ", 2) == 0) {
        r->kind = GH_ROUTE_REGEX;
        r->pattern = (char *)spec + 2;
    } else {
        r->kind = GH_ROUTE_PREFIX;
        r->pattern = (char *)spec;
    }
    return r;
}

static struct gh_router *fx_build(void)
{
    struct gh_router *r = gh_router_build(&fx.conf, stderr);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* Build, expecting failure; returns the messages (caller frees). */
static char *fx_build_fail(void)
{
    char *msg = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&msg, &len);
    ck_assert_ptr_nonnull(f);
    struct gh_router *r = gh_router_build(&fx.conf, f);
    fclose(f);
    ck_assert_ptr_null(r);
    return msg;
}

static struct gh_route_match match(struct gh_router *r, const char *host, const char *path)
{
    struct gh_route_match m;
    ck_assert_int_eq(gh_router_match(r, gh_str_make(host, strlen(host)),
                                     gh_str_make(path, strlen(path)), &m), 0);
    return m;
}

/* Index of the server host selects, -1 for none. */
static int host_vs(struct gh_router *r, const char *host)
{
    struct gh_route_match m = match(r, host, "/");
    return m.vserver ? (int)(m.vserver - fx.servers) : -1;
}

/* The spec of the route selected for path in the first server. */
static const char *route_of(struct gh_router *r, const char *path, size_t *plen)
{
    struct gh_route_match m = match(r, "", path);
    ck_assert_ptr_nonnull(m.vserver);
    if (plen)
        *plen = m.prefix_len;
    return m.route ? m.route->path_spec : "(none)";
}

/* ---------------------------------------------------------------------- */
/* Server selection */

static char *n_example[] = { "example.com", "*.example.com", NULL };
static char *n_www[] = { "www.example.com", NULL };
static char *n_deep[] = { "*.b.example.com", NULL };
static char *n_default[] = { "default", NULL };
static char *n_v6[] = { "[::1]", "127.0.0.1", NULL };
static char *n_other[] = { "Other.ORG.", NULL };

START_TEST(host_selection)
{
    fx_reset();
    fx_server(n_example, 1);
    fx_server(n_www, 2);
    fx_server(n_deep, 3);
    fx_server(n_default, 4);
    fx_server(n_v6, 5);
    fx_server(n_other, 6);
    struct gh_router *r = fx_build();

    /* exact, case, port, trailing dot */
    ck_assert_int_eq(host_vs(r, "example.com"), 0);
    ck_assert_int_eq(host_vs(r, "EXAMPLE.Com"), 0);
    ck_assert_int_eq(host_vs(r, "example.com:8080"), 0);
    ck_assert_int_eq(host_vs(r, "example.com."), 0);
    ck_assert_int_eq(host_vs(r, "Example.COM.:443"), 0);
    ck_assert_int_eq(host_vs(r, "www.example.com"), 1);
    ck_assert_int_eq(host_vs(r, "WWW.EXAMPLE.COM:80"), 1);
    ck_assert_int_eq(host_vs(r, "other.org"), 5);
    /* wildcards: any depth, longest wins, never the bare suffix */
    ck_assert_int_eq(host_vs(r, "a.example.com"), 0);
    ck_assert_int_eq(host_vs(r, "x.y.z.example.com"), 0);
    ck_assert_int_eq(host_vs(r, "b.example.com"), 0);
    ck_assert_int_eq(host_vs(r, "a.b.example.com"), 2);
    ck_assert_int_eq(host_vs(r, "x.a.B.example.com."), 2);
    ck_assert_int_eq(host_vs(r, "ab.example.com"), 0);
    ck_assert_int_eq(host_vs(r, "aexample.com"), 3);
    ck_assert_int_eq(host_vs(r, ".example.com"), 3);
    ck_assert_int_eq(host_vs(r, "com"), 3);
    /* IPv6 literals and addresses */
    ck_assert_int_eq(host_vs(r, "[::1]"), 4);
    ck_assert_int_eq(host_vs(r, "[::1]:8080"), 4);
    ck_assert_int_eq(host_vs(r, "[::2]:8080"), 3);
    ck_assert_int_eq(host_vs(r, "[::1"), 3);
    ck_assert_int_eq(host_vs(r, "[::1]x"), 3);
    ck_assert_int_eq(host_vs(r, "127.0.0.1:8080"), 4);
    /* default */
    ck_assert_int_eq(host_vs(r, ""), 3);
    ck_assert_int_eq(host_vs(r, "nope.org"), 3);
    ck_assert_int_eq(host_vs(r, "default"), 3);
    ck_assert_int_eq(host_vs(r, ":8080"), 3);
    ck_assert_int_eq(host_vs(r, "."), 3);
    char longhost[600];
    memset(longhost, 'a', sizeof(longhost) - 13);
    strcpy(longhost + sizeof(longhost) - 13, ".example.com");
    ck_assert_int_eq(host_vs(r, longhost), 3);
    gh_router_free(r);
}
END_TEST

START_TEST(host_no_default)
{
    fx_reset();
    fx_route(fx_server(n_example, 1), "/");
    fx_route(fx_server(n_www, 2), "/");
    struct gh_router *r = fx_build();
    ck_assert_int_eq(host_vs(r, "www.example.com"), 1);
    struct gh_route_match m = match(r, "nope.org", "/");
    ck_assert_ptr_null(m.vserver);
    ck_assert_ptr_null(m.route);
    ck_assert_uint_eq(m.prefix_len, 0);
    m = match(r, "", "/");
    ck_assert_ptr_null(m.vserver);
    gh_router_free(r);
}
END_TEST

static char *n_dup1[] = { "a.com", "*.b.com", "default", NULL };
static char *n_dup2[] = { "A.com", "*.B.com", "default", NULL };
static char *n_bad[] = { "a.*.com", "*", "", "*x.com", NULL };

START_TEST(host_errors)
{
    fx_reset();
    fx_server(n_dup1, 3);
    fx_server(n_dup2, 9);
    fx_server(n_bad, 12);
    char *msg = fx_build_fail();
    ck_assert_ptr_nonnull(strstr(msg, "test.conf:9: duplicate server name 'A.com'\n"));
    ck_assert_ptr_nonnull(strstr(msg, "test.conf:9: duplicate server name '*.B.com'\n"));
    ck_assert_ptr_nonnull(strstr(msg, "test.conf:9: duplicate server name 'default'\n"));
    ck_assert_ptr_nonnull(strstr(msg, "test.conf:12: invalid server name 'a.*.com'"));
    ck_assert_ptr_nonnull(strstr(msg, "test.conf:12: invalid server name '*'"));
    ck_assert_ptr_nonnull(strstr(msg, "test.conf:12: invalid server name ''"));
    ck_assert_ptr_nonnull(strstr(msg, "test.conf:12: invalid server name '*x.com'"));
    free(msg);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Route precedence */

START_TEST(route_precedence)
{
    fx_reset();
    struct gh_conf_vserver *v = fx_server(n_default, 1);
    fx_route(v, "/");
    fx_route(v, "/api/");
    fx_route(v, "^~ /static/");
    fx_route(v, "~ \\.php$");
    fx_route(v, "~* \\.PNG$");
    fx_route(v, "~ ^/api/v[0-9]+/");
    fx_route(v, "= /api/");
    fx_route(v, "/images/");
    fx_route(v, "= /ping");
    fx_route(v, "/old");
    fx_route(v, "^~ /static/deep/");
    fx_route(v, "/static/deep/er/");
    struct gh_router *r = fx_build();
    size_t pl;

    /* exact wins outright, over every prefix and regex */
    ck_assert_str_eq(route_of(r, "/ping", &pl), "= /ping");
    ck_assert_uint_eq(pl, 0);
    ck_assert_str_eq(route_of(r, "/api/", &pl), "= /api/");
    ck_assert_uint_eq(pl, 0);
    ck_assert_str_eq(route_of(r, "/ping/", &pl), "/");
    ck_assert_uint_eq(pl, 1);
    /* ^~ as the longest prefix beats the regexes */
    ck_assert_str_eq(route_of(r, "/static/a.php", &pl), "^~ /static/");
    ck_assert_uint_eq(pl, 8);
    ck_assert_str_eq(route_of(r, "/static/deep/x.png", &pl), "^~ /static/deep/");
    ck_assert_uint_eq(pl, 13);
    /* ... but only when it is the longest: a plain longer prefix lets regexes try */
    ck_assert_str_eq(route_of(r, "/static/deep/er/x.php", &pl), "~ \\.php$");
    ck_assert_uint_eq(pl, 0);
    ck_assert_str_eq(route_of(r, "/static/deep/er/x", &pl), "/static/deep/er/");
    ck_assert_uint_eq(pl, 16);
    /* regex over a longer plain prefix; first in file order wins */
    ck_assert_str_eq(route_of(r, "/api/v2/users", &pl), "~ ^/api/v[0-9]+/");
    ck_assert_uint_eq(pl, 0);
    ck_assert_str_eq(route_of(r, "/api/v1/x.php", NULL), "~ \\.php$");
    ck_assert_str_eq(route_of(r, "/api/v1/x.png", NULL), "~* \\.PNG$");
    /* case-sensitive vs caseless */
    ck_assert_str_eq(route_of(r, "/x.php", NULL), "~ \\.php$");
    ck_assert_str_eq(route_of(r, "/x.PHP", NULL), "/");
    ck_assert_str_eq(route_of(r, "/images/a.png", NULL), "~* \\.PNG$");
    ck_assert_str_eq(route_of(r, "/images/a.Png", NULL), "~* \\.PNG$");
    /* longest prefix otherwise */
    ck_assert_str_eq(route_of(r, "/images/a.txt", &pl), "/images/");
    ck_assert_uint_eq(pl, 8);
    ck_assert_str_eq(route_of(r, "/api/users", &pl), "/api/");
    ck_assert_uint_eq(pl, 5);
    ck_assert_str_eq(route_of(r, "/api", &pl), "/");
    ck_assert_str_eq(route_of(r, "/older", &pl), "/old");
    ck_assert_uint_eq(pl, 4);
    ck_assert_str_eq(route_of(r, "/ol", &pl), "/");
    ck_assert_str_eq(route_of(r, "/static", &pl), "/");
    gh_router_free(r);
}
END_TEST

START_TEST(route_none)
{
    fx_reset();
    struct gh_conf_vserver *v = fx_server(n_default, 1);
    fx_route(v, "/api/");
    fx_route(v, "~ ^/v[0-9]/");
    fx_route(v, "= /x");
    fx_server(n_www, 2);                /* no routes at all */
    struct gh_router *r = fx_build();
    struct gh_route_match m = match(r, "", "/other");
    ck_assert_ptr_eq(m.vserver, &fx.servers[0]);
    ck_assert_ptr_null(m.route);
    ck_assert_uint_eq(m.prefix_len, 0);
    ck_assert_str_eq(route_of(r, "/v1/", NULL), "~ ^/v[0-9]/");
    /* empty strings with NULL pointers */
    ck_assert_int_eq(gh_router_match(r, gh_str_make(NULL, 0), gh_str_make(NULL, 0), &m), 0);
    ck_assert_ptr_eq(m.vserver, &fx.servers[0]);
    ck_assert_ptr_null(m.route);
    m = match(r, "www.example.com", "/api/");
    ck_assert_ptr_eq(m.vserver, &fx.servers[1]);
    ck_assert_ptr_null(m.route);
    gh_router_free(r);
}
END_TEST

START_TEST(route_errors)
{
    fx_reset();
    struct gh_conf_vserver *v = fx_server(n_default, 1);
    fx_route(v, "/a");
    fx_route(v, "~ (unclosed");
    fx_route(v, "= /x");
    fx_route(v, "= /x");
    fx_route(v, "^~ /a");
    fx_route(v, "~* [z-a]");
    char *msg = fx_build_fail();
    ck_assert_ptr_nonnull(strstr(msg, "test.conf:2: invalid regular expression '(unclosed': "
                                      "missing closing parenthesis at offset 9\n"));
    ck_assert_ptr_nonnull(strstr(msg, "test.conf:4: duplicate route '= /x' (first at line 3)\n"));
    ck_assert_ptr_nonnull(strstr(msg, "test.conf:5: duplicate route '^~ /a' (first at line 1)\n"));
    ck_assert_ptr_nonnull(strstr(msg, "test.conf:6: invalid regular expression '[z-a]': "));
    ck_assert_ptr_nonnull(strstr(msg, " at offset 3\n"));
    free(msg);
}
END_TEST

/* A regex that cannot finish within the match limit fails the match (500)
 * rather than falling through to a prefix route. */
START_TEST(route_match_limit)
{
    fx_reset();
    struct gh_conf_vserver *v = fx_server(n_default, 1);
    fx_route(v, "/");
    fx_route(v, "~ ^/(a+)+$");
    struct gh_router *r = fx_build();
    char path[64] = "/";
    memset(path + 1, 'a', 40);
    strcpy(path + 41, "b");
    struct gh_route_match m;
    ck_assert_int_eq(gh_router_match(r, GH_STR(""), gh_str_make(path, strlen(path)), &m), -1);
    ck_assert_str_eq(route_of(r, "/aaa", NULL), "~ ^/(a+)+$");
    gh_router_free(r);

    /* ordinary patterns on an 8k path stay well within the limit */
    fx_reset();
    v = fx_server(n_default, 1);
    fx_route(v, "/");
    fx_route(v, "~* \\.(png|jpg)$");
    fx_route(v, "~ ^/(?:[a-z]+/)*[a-z]+\\.html$");
    fx_route(v, "~ (a|b)*c");
    r = fx_build();
    enum { LONG = 8192 };
    char *lp = malloc(LONG + 16);
    for (size_t i = 0; i < LONG; i += 2)
        lp[i] = '/', lp[i + 1] = 'a';
    strcpy(lp + LONG, ".html");
    ck_assert_str_eq(route_of(r, lp, NULL), "~ ^/(?:[a-z]+/)*[a-z]+\\.html$");
    strcpy(lp + LONG, ".htm");
    ck_assert_str_eq(route_of(r, lp, NULL), "/");
    strcpy(lp + LONG, ".JPG");
    ck_assert_str_eq(route_of(r, lp, NULL), "~* \\.(png|jpg)$");
    free(lp);
    gh_router_free(r);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Normalization */

static const struct {
    const char *in, *out;               /* out NULL: -1 */
} norm_cases[] = {
    { "/", "/" },
    { "/a/b", "/a/b" },
    { "/%61pi/", "/api/" },
    { "/a/./b/../c", "/a/c" },
    { "/api/%2e%2e/admin", "/admin" },
    { "/api/%2E%2e/admin", "/admin" },
    { "/api/.%2e/admin", "/admin" },
    { "/a/%2F/b", "/a/%2F/b" },
    { "/a%2fb", "/a%2Fb" },
    { "/a%2f..%2fb", "/a%2F..%2Fb" },
    { "/%7e%7E%2d%5f%2E%41%7a%30", "/~~-_.Az0" },
    { "/%20%3a%3F%25", "/%20%3A%3F%25" },
    { "/%2541", "/%2541" },
    { "/%e2%82%ac", "/%E2%82%AC" },
    { "/%00", NULL },
    { "/a%00b", NULL },
    { "/%4", NULL },
    { "/%", NULL },
    { "/a%", NULL },
    { "/%GG", NULL },
    { "/%4g", NULL },
    { "/%g4", NULL },
    { "/..", NULL },
    { "/../", NULL },
    { "/../a", NULL },
    { "/a/../..", NULL },
    { "/a/../../b", NULL },
    { "/%2e%2e/", NULL },
    { "/a/..", "/" },
    { "/a/../", "/" },
    { "/a/b/..", "/a/" },
    { "/a/b/.", "/a/b/" },
    { "/.", "/" },
    { "/./", "/" },
    { "/./././", "/" },
    { "/a/.b/..c/...", "/a/.b/..c/..." },
    { "//", "//" },
    { "/a//b", "/a//b" },
    { "/a//../b", "/a/b" },
    { "//..", "/" },
    { "/a/b/c/../../d", "/a/d" },
    { "/a/./../b/./", "/b/" },
    { "/A/B", "/A/B" },
    { "", NULL },
    { "a/b", NULL },
    { "*", NULL },
};

START_TEST(normalize_table)
{
    char out[64];
    for (size_t i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
        const char *in = norm_cases[i].in;
        size_t len = strlen(in);
        memset(out, 'X', sizeof(out));
        ssize_t n = gh_path_normalize(gh_str_make(in, len), out);
        if (norm_cases[i].out == NULL) {
            ck_assert_msg(n == -1, "'%s': expected -1, got %zd", in, n);
            continue;
        }
        ck_assert_msg(n >= 0, "'%s': expected '%s', got -1", in, norm_cases[i].out);
        ck_assert_msg((size_t)n <= len, "'%s' grew", in);
        ck_assert_msg(out[n] == '\0', "'%s': no NUL", in);
        ck_assert_msg(strcmp(out, norm_cases[i].out) == 0, "'%s': expected '%s', got '%s'", in,
                      norm_cases[i].out, out);
        /* in place, with exactly len + 1 bytes */
        char *buf = malloc(len + 1);
        memcpy(buf, in, len);
        ck_assert_int_eq(gh_path_normalize(gh_str_make(buf, len), buf), n);
        ck_assert_str_eq(buf, norm_cases[i].out);
        free(buf);
    }
    /* a raw NUL is refused like %00 */
    ck_assert_int_eq(gh_path_normalize(gh_str_make("/a\0b", 4), out), -1);
}
END_TEST

/* Normalizing is idempotent, and the output never grows (random inputs). */
START_TEST(normalize_random)
{
    static const char *atoms[] = { "/", "a", ".", "..", "%2e", "%2E", "%2f", "%41", "%7e",
                                   "%zz", "%0", "%00", "b", "~", "%20", "//" };
    uint64_t s = 88172645463325252ULL;
    for (int iter = 0; iter < 20000; iter++) {
        char in[128] = "/", out[128], out2[128];
        size_t len = 1;
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        int n = (int)(s % 12);
        for (int k = 0; k < n; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            const char *a = atoms[s % (sizeof(atoms) / sizeof(atoms[0]))];
            memcpy(in + len, a, strlen(a));
            len += strlen(a);
        }
        ssize_t r1 = gh_path_normalize(gh_str_make(in, len), out);
        if (r1 == -1)
            continue;
        ck_assert((size_t)r1 <= len && out[0] == '/');
        ssize_t r2 = gh_path_normalize(gh_str_make(out, (size_t)r1), out2);
        ck_assert_int_eq(r2, r1);
        ck_assert(memcmp(out, out2, (size_t)r1) == 0);
        /* no dot-segment survives */
        ck_assert_ptr_null(strstr(out, "/./"));
        ck_assert_ptr_null(strstr(out, "/../"));
    }
}
END_TEST

/* ---------------------------------------------------------------------- */
/* A realistic route set, checked against a linear reference of nginx's order */

static char specs[64][48];

static void big_routes(struct gh_conf_vserver *v)
{
    int n = 0;
    for (int i = 0; i < 8; i++) {
        snprintf(specs[n++], 48, "/svc%d/", i);
        snprintf(specs[n++], 48, "/svc%d/v1/", i);
        snprintf(specs[n++], 48, "%s/svc%d/v1/items", i % 3 == 0 ? "^~ " : "", i);
        snprintf(specs[n++], 48, "/svc%d", i);
        snprintf(specs[n++], 48, "%s/svc%d/v2/", i % 2 ? "^~ " : "", i);
    }
    /* 40 prefixes so far; 5 regexes, 5 exacts, and "/" makes 51 */
    snprintf(specs[n++], 48, "~ ^/svc1/v1/[0-9]+$");
    snprintf(specs[n++], 48, "~* \\.(png|jpg)$");
    snprintf(specs[n++], 48, "~ /admin");
    snprintf(specs[n++], 48, "~ ^/svc3/");
    snprintf(specs[n++], 48, "~* ^/SVC5/V1/");
    snprintf(specs[n++], 48, "= /svc0/");
    snprintf(specs[n++], 48, "= /");
    snprintf(specs[n++], 48, "= /svc2/v1/items");
    snprintf(specs[n++], 48, "= /login");
    snprintf(specs[n++], 48, "= /svc6/v2/x");
    snprintf(specs[n++], 48, "/");
    for (int i = 0; i < n; i++)
        fx_route(v, specs[i]);
}

static const struct gh_conf_route *reference(const struct gh_conf_vserver *v, const char *path,
                                             pcre2_code **codes, pcre2_match_data *md)
{
    size_t len = strlen(path);
    const struct gh_conf_route *best = NULL;
    for (size_t i = 0; i < v->nroutes; i++)
        if (v->routes[i].kind == GH_ROUTE_EXACT && strcmp(v->routes[i].pattern, path) == 0)
            return &v->routes[i];
    for (size_t i = 0; i < v->nroutes; i++) {
        const struct gh_conf_route *rt = &v->routes[i];
        size_t pl = strlen(rt->pattern);
        if ((rt->kind == GH_ROUTE_PREFIX || rt->kind == GH_ROUTE_PREFIX_STOP) && pl <= len &&
            memcmp(rt->pattern, path, pl) == 0 && (best == NULL || pl > strlen(best->pattern)))
            best = rt;
    }
    if (best != NULL && best->kind == GH_ROUTE_PREFIX_STOP)
        return best;
    for (size_t i = 0; i < v->nroutes; i++)
        if (codes[i] != NULL &&
            pcre2_match(codes[i], (PCRE2_SPTR)path, len, 0, 0, md, NULL) >= 0)
            return &v->routes[i];
    return best;
}

START_TEST(route_big_set)
{
    fx_reset();
    struct gh_conf_vserver *v = fx_server(n_default, 1);
    big_routes(v);
    ck_assert_uint_eq(v->nroutes, 51);
    struct gh_router *r = fx_build();

    /* a few by hand */
    ck_assert_str_eq(route_of(r, "/", NULL), "= /");
    ck_assert_str_eq(route_of(r, "/x", NULL), "/");
    ck_assert_str_eq(route_of(r, "/svc0/", NULL), "= /svc0/");
    ck_assert_str_eq(route_of(r, "/svc0/v1/items/a.png", NULL), "^~ /svc0/v1/items");
    ck_assert_str_eq(route_of(r, "/svc1/v1/items/a.png", NULL), "~* \\.(png|jpg)$");
    ck_assert_str_eq(route_of(r, "/svc1/v1/42", NULL), "~ ^/svc1/v1/[0-9]+$");
    ck_assert_str_eq(route_of(r, "/svc1/v1/42a", NULL), "/svc1/v1/");
    ck_assert_str_eq(route_of(r, "/svc1/v2/admin", NULL), "^~ /svc1/v2/");
    ck_assert_str_eq(route_of(r, "/svc2/v2/admin", NULL), "~ /admin");
    ck_assert_str_eq(route_of(r, "/svc5/v1/x", NULL), "~* ^/SVC5/V1/");
    ck_assert_str_eq(route_of(r, "/svc7x", NULL), "/svc7");
    ck_assert_str_eq(route_of(r, "/svc2/v1/items", NULL), "= /svc2/v1/items");
    ck_assert_str_eq(route_of(r, "/svc2/v1/itemsX", NULL), "/svc2/v1/items");

    /* random paths against the reference */
    pcre2_code *codes[MAX_ROUTES] = { 0 };
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    for (size_t i = 0; i < v->nroutes; i++) {
        int ec;
        PCRE2_SIZE eo;
        if (v->routes[i].kind == GH_ROUTE_REGEX || v->routes[i].kind == GH_ROUTE_REGEX_CASELESS)
            codes[i] = pcre2_compile((PCRE2_SPTR)v->routes[i].pattern, PCRE2_ZERO_TERMINATED,
                                     v->routes[i].kind == GH_ROUTE_REGEX_CASELESS
                                         ? PCRE2_CASELESS : 0, &ec, &eo, NULL);
    }
    static const char *parts[] = { "/", "svc", "0", "1", "3", "5", "6", "/v1", "/v2", "/items",
                                   "x", ".png", ".JPG", "/admin", "42", "/SVC5", "", "login" };
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    int routed = 0;
    for (int iter = 0; iter < 50000; iter++) {
        char path[128] = "/";
        size_t len = 1;
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        int n = (int)(s % 8);
        for (int k = 0; k < n; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            const char *p = parts[s % (sizeof(parts) / sizeof(parts[0]))];
            memcpy(path + len, p, strlen(p));
            len += strlen(p);
        }
        path[len] = '\0';
        struct gh_route_match m = match(r, "any.host", path);
        const struct gh_conf_route *want = reference(v, path, codes, md);
        ck_assert_msg(m.route == want, "%s: got %s, want %s", path,
                      m.route ? m.route->path_spec : "none", want ? want->path_spec : "none");
        size_t wpl = want && (want->kind == GH_ROUTE_PREFIX || want->kind == GH_ROUTE_PREFIX_STOP)
                         ? strlen(want->pattern) : 0;
        ck_assert_uint_eq(m.prefix_len, wpl);
        routed += want != NULL && want->kind != GH_ROUTE_PREFIX;
    }
    ck_assert_int_gt(routed, 10000);
    for (size_t i = 0; i < v->nroutes; i++)
        pcre2_code_free(codes[i]);
    pcre2_match_data_free(md);
    gh_router_free(r);
}
END_TEST


/* ---------------------------------------------------------------------- */
/* Regular expression prefilters */

START_TEST(regex_literals)
{
    static const struct {
        const char *pat;
        bool caseless;
        int rc;
        const char *want;
    } cases[] = {
        { "^/v[0-9]+/", false, 0, "pre=/v suf= has=/" },
        { "\\.php$", false, 0, "pre= suf=.php has=" },
        { "\\.(png|jpe?g|gif|webp)$", true, 0, "pre= suf= has=." },
        { "^/user/[0-9]+/profile$", false, 0, "pre=/user/ suf=/profile has=" },
        { "/wp-(admin|login)", false, 0, "pre= suf= has=/wp-" },
        { "^/SVC5/V1/", true, 0, "pre=/svc5/v1/ suf= has=" },
        { "^/a?b", false, 0, "pre=/ suf= has=b" },
        { "^/ab*c+d{2}e{1,}f$", false, 0, "pre=/a suf=f has=" },
        { "[.]php$", false, 0, "pre= suf=php has=" },
        { "a{2}", false, 0, "pre= suf= has=" },
        { "ab{2}cd", false, 0, "pre= suf= has=cd" },
        { "^(/v)", false, 0, "pre= suf= has=" },
        { "(?=/x)/abc", false, 0, "pre= suf= has=/abc" },
        { "^/a|/b", false, -1, "pre= suf= has=" },
        { "\\Q.php\\E$", false, -1, "pre= suf= has=" },
        { "(?i)x", false, -1, "pre= suf= has=" },
        { "\\x2ephp$", false, -1, "pre= suf= has=" },
        { "\\d+\\.json$", false, 0, "pre= suf=.json has=" },
        { "a{x}", false, -1, "pre= suf= has=" },
        { "(*CR)a$", false, -1, "pre= suf= has=" },
        { "(?<n>a)b", false, -1, "pre= suf= has=" },
        { "(?:a|b)cd\\b", false, 0, "pre= suf= has=cd" },
        { "x[]a]y", false, 0, "pre= suf= has=x" },
        { "^*a", false, -1, "pre= suf= has=" },
        { "/é$", true, 0, "pre= suf= has=/" },
        { "\\c)a", false, -1, "pre= suf= has=" },
        { "(a\\c)b)c", false, -1, "pre= suf= has=" },
        { "a$b", false, 0, "pre= suf= has=a" },
    };
    char buf[256];
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = gh_route_regex_literals(cases[i].pat, cases[i].caseless, buf, sizeof(buf));
        if (rc != cases[i].rc || strcmp(buf, cases[i].want) != 0) {
            fprintf(stderr, "%s%s: got %d \"%s\", want %d \"%s\"\n", cases[i].pat,
                    cases[i].caseless ? " (caseless)" : "", rc, buf, cases[i].rc, cases[i].want);
            bad++;
        }
    }
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(regex_last_bytes)
{
    static const struct {
        const char *pat;
        bool caseless;
        const char *want;               /* the set, in byte order; NULL: unknown */
    } cases[] = {
        { "\\.(png|jpe?g|gif|webp)$", true, "FGPfgp" },
        { "\\.(png|jpe?g|gif|webp)$", false, "fgp" },
        { "(?:ab|c)$", false, "bc" },
        { "(a\\|b)$", false, "b" },
        { "[(](a|b)$", false, "ab" },
        { "\\((a|\\.)$", false, ".a" },
        { "^/x/(a1|b2)$", false, "12" },
        { "\\.php$", false, NULL },                  /* the suffix literal does it */
        { "x|(a|b)$", false, NULL },
        { "(a|b+)$", false, NULL },
        { "(a|[bc])$", false, NULL },
        { "(a$|b)$", false, NULL },
        { "(a|)$", false, NULL },
        { "((a|b)c|x)$", false, NULL },
        { "(?=a)(b|c)$", false, NULL },
        { "(?i)(a|b)$", false, NULL },
        { "(a|b){2}$", false, NULL },
        { "(a|\\d)$", false, NULL },
        { "(a|\\x41)$", false, NULL },
        { "(a|é)$", false, NULL },
        { "a)$", false, NULL },
        { "(a|b)", false, NULL },
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t set[32];
        char got[257];
        size_t n = 0;
        bool known = route_rx_last_bytes(cases[i].pat, cases[i].caseless, set);
        for (int c = 0; c < 256 && known; c++)
            if (set[c >> 3] >> (c & 7) & 1)
                got[n++] = (char)c;
        got[n] = '\0';
        if (known != (cases[i].want != NULL) || (known && strcmp(got, cases[i].want) != 0)) {
            fprintf(stderr, "%s: got %s \"%s\", want %s\n", cases[i].pat,
                    known ? "known" : "unknown", got, cases[i].want ? cases[i].want : "unknown");
            bad++;
        }
    }
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* For each pattern, a router with "/" and the pattern must pick the pattern
 * exactly when pcre2 itself matches (the prefilters never change a result). */
static const char *const diff_patterns[] = {
    "^/v[0-9]+/", "\\.php$", "\\.(png|jpe?g|gif|webp)$", "^/user/[0-9]+/profile$",
    "/wp-(admin|login)", "^/a|/b", "^/a?b", "\\Q.php\\E", "(?i)x", "(?i)\\.PHP$", "[.]php$",
    "a{2}", "ab{2,}c", "\\x2e", "^(/v)", "(?=/a)/ab", "(?!/a)/.b", "(?<=a)b$", "\\.php$",
    "^/$", "^/", "$", "^$", "php$", "\\.PhP$", "^/A/", "/\\.", "a\\b", "\\bphp\\b", "b+$",
    "^/(?:a|b)/c", "^/a(?:b)?c", "x*$", "\\/a\\/", "a.b", "^.a", "^/a/b/c/d/e/f/g/h/i/",
    "/a/b/c/d/e/f/g/h/i$", "a\\nb", "php\\n$", "^/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "ab|", "(a)(b)\\1", "[[:digit:]]+$", "\\d{3}$", "^/[a-z]+\\.html$", "A", "/A.B",
    "(a|b)$", "(?:ab|c)$", "\\.(PNG|jpe?g)$", "x|(a|b)$", "(a|b+)$", "(a|[bc])$",
    "(a\\|b)$", "[(](a|b)$", "(a|\\.)$", "(a$|b)$", "(a|)$", "((a|b)c|x)$", "(?=a)(b|c)$",
    "(a|b)(c|1)$", "(a|b)\\n$", "(a|b){2}$",
};

static const char *const diff_parts[] = {
    "/", "a", "b", "A", "B", ".", "php", "PHP", ".php", ".png", ".JPG", "v1", "v", "1", "x",
    "X", "user/", "12", "/profile", "wp-", "admin", "\n", "c", "html", "h", "/a", "/b", "ab",
    "aaaaaaaaaaaa", "é", "-", "i/", "PNG", "jpeg", "jpg", "C",
};

START_TEST(regex_prefilter_differential)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    uint64_t s = 0x243f6a8885a308d3ULL;
    long total = 0;
    for (size_t pi = 0; pi < sizeof(diff_patterns) / sizeof(diff_patterns[0]); pi++) {
        for (int caseless = 0; caseless <= 1; caseless++) {
            static char spec[128];
            snprintf(spec, sizeof(spec), "%s %s", caseless ? "~*" : "~", diff_patterns[pi]);
            fx_reset();
            struct gh_conf_vserver *v = fx_server(n_default, 1);
            fx_route(v, "/");
            const struct gh_conf_route *rxr = fx_route(v, spec);
            struct gh_router *r = fx_build();
            int ec;
            PCRE2_SIZE eo;
            pcre2_code *code = pcre2_compile((PCRE2_SPTR)diff_patterns[pi],
                                             PCRE2_ZERO_TERMINATED,
                                             caseless ? PCRE2_CASELESS : 0, &ec, &eo, NULL);
            ck_assert_ptr_nonnull(code);
            int matched = 0;
            for (int iter = 0; iter < 4000; iter++) {
                char path[256] = "/";
                size_t len = 1;
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                int n = (int)(s % 9);
                for (int k = 0; k < n; k++) {
                    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                    const char *pp = diff_parts[s % (sizeof(diff_parts) / sizeof(diff_parts[0]))];
                    memcpy(path + len, pp, strlen(pp));
                    len += strlen(pp);
                }
                if (iter % 7 == 0)
                    len = 0;                        /* the empty subject too */
                else if (iter % 5 == 0)
                    path[0] = 'a';                  /* and not starting with '/' */
                int rc = pcre2_match(code, (PCRE2_SPTR)path, len, 0, 0, md, NULL);
                struct gh_route_match m;
                ck_assert_int_eq(gh_router_match(r, GH_STR("h"), gh_str_make(path, len), &m), 0);
                const struct gh_conf_route *want = rc >= 0 ? rxr : len > 0 && path[0] == '/'
                                                                   ? &v->routes[0] : NULL;
                ck_assert_msg(m.route == want, "%s on \"%.*s\": got %s, want %s", spec, (int)len,
                              path, m.route ? m.route->path_spec : "none",
                              want ? want->path_spec : "none");
                matched += rc >= 0;
            }
            total += matched;
            pcre2_code_free(code);
            gh_router_free(r);
        }
    }
    ck_assert_int_gt(total, 50000);
    pcre2_match_data_free(md);
}
END_TEST

/* The 50-route set of t/bench/bench.sh: the benchmark's request and others. */
START_TEST(route_bench_set)
{
    fx_reset();
    struct gh_conf_vserver *v = fx_server(n_default, 1);
    static const char *specs2[] = {
        "= /ping", "= /healthz", "= /favicon.ico", "= /robots.txt", "= /app", "/app/",
        "/app/v1/", "/app/v2/", "/app/v2/admin/", "/static/", "/api/", "/api/v1/", "/api/v2/",
        "/img/", "/css/", "/js/", "/fonts/", "/docs/", "/blog/", "/shop/", "/cart/",
        "/account/", "/login/", "/logout/", "/search/", "/svc0/", "/svc10/",
        "~ ^/v[0-9]+/", "~ \\.php$", "~* \\.(png|jpe?g|gif|webp)$", "~ ^/user/[0-9]+/profile$",
        "~ /wp-(admin|login)",
    };
    for (size_t i = 0; i < sizeof(specs2) / sizeof(specs2[0]); i++)
        fx_route(v, specs2[i]);
    struct gh_router *r = fx_build();
    size_t pl;
    ck_assert_str_eq(route_of(r, "/app/v2/items/12345", &pl), "/app/v2/");
    ck_assert_uint_eq(pl, 8);
    ck_assert_str_eq(route_of(r, "/app/v2/admin/x", NULL), "/app/v2/admin/");
    ck_assert_str_eq(route_of(r, "/app/v2/adminx", NULL), "/app/v2/");
    ck_assert_str_eq(route_of(r, "/app/v2/items/a.PNG", NULL), "~* \\.(png|jpe?g|gif|webp)$");
    ck_assert_str_eq(route_of(r, "/v12/x", NULL), "~ ^/v[0-9]+/");
    ck_assert_str_eq(route_of(r, "/x/index.php", NULL), "~ \\.php$");
    ck_assert_str_eq(route_of(r, "/x/index.php\n", NULL), "~ \\.php$");
    ck_assert_str_eq(route_of(r, "/user/42/profile", NULL), "~ ^/user/[0-9]+/profile$");
    ck_assert_str_eq(route_of(r, "/blog/wp-login.x", NULL), "~ /wp-(admin|login)");
    ck_assert_str_eq(route_of(r, "/blog/wp-logi", NULL), "/blog/");
    ck_assert_str_eq(route_of(r, "/app", NULL), "= /app");
    ck_assert_str_eq(route_of(r, "/svc10/a", NULL), "/svc10/");
    ck_assert_str_eq(route_of(r, "/svc1/a", NULL), "(none)");
    ck_assert_str_eq(route_of(r, "/", NULL), "(none)");
    ck_assert_str_eq(route_of(r, "/a", NULL), "(none)");
    gh_router_free(r);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Splits */

static uint64_t xs_state = 0x2545f4914f6cdd1dULL;
static uint64_t xs(void)
{
    xs_state ^= xs_state << 13;
    xs_state ^= xs_state >> 7;
    xs_state ^= xs_state << 17;
    return xs_state;
}

static struct gh_conf_split sp9010[] = {
    { "stable", 3, 90 },
    { "canary", 7, 10 },
};

START_TEST(split_weights)
{
    struct gh_conf_route rt = { .splits = sp9010, .nsplits = 2 };
    int canary = 0;
    for (int i = 0; i < 10000; i++) {
        int u = gh_route_split(&rt, false, 0, xs());
        ck_assert(u == 3 || u == 7);
        canary += u == 7;
    }
    /* mean 1000, sigma 30: 5 sigma each side */
    ck_assert_int_ge(canary, 850);
    ck_assert_int_le(canary, 1150);
    /* keyed: ~90/10 over many keys too */
    canary = 0;
    for (uint64_t k = 0; k < 10000; k++)
        canary += gh_route_split(&rt, true, k, 0) == 7;
    ck_assert_int_ge(canary, 850);
    ck_assert_int_le(canary, 1150);
    /* the ends of the random range */
    ck_assert_int_eq(gh_route_split(&rt, false, 0, 0), 3);
    ck_assert_int_eq(gh_route_split(&rt, false, 0, UINT64_MAX), 7);
}
END_TEST

START_TEST(split_stable)
{
    struct gh_conf_split sp[] = { { "stable", 3, 90 }, { "canary", 7, 10 } };
    struct gh_conf_route rt = { .splits = sp, .nsplits = 2 };
    enum { N = 10000 };
    static int first[N];
    for (int k = 0; k < N; k++)
        first[k] = gh_route_split(&rt, true, (uint64_t)k * 0x9e3779b97f4a7c15ULL, xs());
    for (int k = 0; k < N; k++)    /* rnd is ignored with a key */
        ck_assert_int_eq(gh_route_split(&rt, true, (uint64_t)k * 0x9e3779b97f4a7c15ULL, xs()),
                         first[k]);
    /* 90/10 -> 80/20 moves about 10% of keys, all of them to the canary */
    sp[0].weight = 80;
    sp[1].weight = 20;
    int moved = 0;
    for (int k = 0; k < N; k++) {
        int u = gh_route_split(&rt, true, (uint64_t)k * 0x9e3779b97f4a7c15ULL, 0);
        if (u != first[k]) {
            moved++;
            ck_assert_int_eq(u, 7);
        }
    }
    ck_assert_int_ge(moved, 800);
    ck_assert_int_le(moved, 1200);
}
END_TEST

START_TEST(split_zero)
{
    struct gh_conf_split sp[] = { { "a", 0, 0 }, { "b", 1, 5 }, { "c", 2, 0 }, { "d", 3, 5 },
                                  { "e", 4, 0 } };
    struct gh_conf_route rt = { .splits = sp, .nsplits = 5 };
    int seen[5] = { 0 };
    for (int i = 0; i < 10000; i++) {
        seen[gh_route_split(&rt, false, 0, xs())]++;
        seen[gh_route_split(&rt, true, (uint64_t)i, 0)]++;
    }
    ck_assert_int_eq(seen[0] + seen[2] + seen[4], 0);
    ck_assert_int_gt(seen[1], 9000);
    ck_assert_int_gt(seen[3], 9000);
    ck_assert_int_eq(gh_route_split(&rt, false, 0, 0), 1);
    ck_assert_int_eq(gh_route_split(&rt, false, 0, UINT64_MAX), 3);
    /* nothing to choose */
    struct gh_conf_split none[] = { { "a", 0, 0 } };
    struct gh_conf_route rz = { .splits = none, .nsplits = 1 };
    ck_assert_int_eq(gh_route_split(&rz, false, 0, 12345), -1);
    struct gh_conf_route re = { 0 };
    ck_assert_int_eq(gh_route_split(&re, true, 1, 1), -1);
}
END_TEST

static Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, host_selection);
    tcase_add_test(tc, host_no_default);
    tcase_add_test(tc, host_errors);
    tcase_add_test(tc, route_precedence);
    tcase_add_test(tc, route_none);
    tcase_add_test(tc, route_errors);
    tcase_add_test(tc, route_match_limit);
    tcase_add_test(tc, normalize_table);
    tcase_add_test(tc, normalize_random);
    tcase_add_test(tc, route_big_set);
    tcase_add_test(tc, regex_literals);
    tcase_add_test(tc, regex_last_bytes);
    tcase_add_test(tc, regex_prefilter_differential);
    tcase_add_test(tc, route_bench_set);
    tcase_add_test(tc, split_weights);
    tcase_add_test(tc, split_stable);
    tcase_add_test(tc, split_zero);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(route_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
