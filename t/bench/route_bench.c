/*
 * route_bench.c - nanoseconds per gh_router_match (and gh_path_normalize)
 * with 1 route and with 40 prefixes + 5 regexes + 5 exacts (+ "/").
 * Not built by CMake; build it by hand, optimized and without sanitizers:
 *
 *   cc -O2 -D_GNU_SOURCE -I. t/bench/route_bench.c modules/route.c \
 *      modules/route_path.c $(pkg-config --cflags --libs libpcre2-8) -o route_bench
 *   ./route_bench [iterations]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "modules/route.h"

static char *names0[] = { "example.com", "*.example.com", NULL };
static char *names1[] = { "api.example.org", "www.example.org", NULL };
static char *names2[] = { "default", NULL };

static struct gh_conf_route routes[64];
static char specs[64][48];

static void add_route(struct gh_conf_vserver *v, const char *spec)
{
    struct gh_conf_route *r = &v->routes[v->nroutes++];
    memset(r, 0, sizeof(*r));
    r->path_spec = (char *)spec;
    r->line = (int)v->nroutes;
    if (strncmp(spec, "= ", 2) == 0)
        r->kind = GH_ROUTE_EXACT, r->pattern = (char *)spec + 2;
    else if (strncmp(spec, "^~ ", 3) == 0)
        r->kind = GH_ROUTE_PREFIX_STOP, r->pattern = (char *)spec + 3;
    else if (strncmp(spec, "~* ", 3) == 0)
        r->kind = GH_ROUTE_REGEX_CASELESS, r->pattern = (char *)spec + 3;
    else if (strncmp(spec, "~ ", 2) == 0)
        r->kind = GH_ROUTE_REGEX, r->pattern = (char *)spec + 2;
    else
        r->kind = GH_ROUTE_PREFIX, r->pattern = (char *)spec;
}

static void big_set(struct gh_conf_vserver *v)
{
    int n = 0;
    for (int i = 0; i < 8; i++) {
        snprintf(specs[n++], 48, "/svc%d/", i);
        snprintf(specs[n++], 48, "/svc%d/v1/", i);
        snprintf(specs[n++], 48, "%s/svc%d/v1/items", i % 3 == 0 ? "^~ " : "", i);
        snprintf(specs[n++], 48, "/svc%d", i);
        snprintf(specs[n++], 48, "%s/svc%d/v2/", i % 2 ? "^~ " : "", i);
    }
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
        add_route(v, specs[i]);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile size_t sink;

static void bench(const char *label, struct gh_router *r, const char *host, const char *path,
                  long iters)
{
    struct gh_str h = gh_str_make(host, strlen(host)), p = gh_str_make(path, strlen(path));
    struct gh_route_match m;
    double ns = 1e18;
    for (long i = 0; i < iters / 10; i++)           /* warm up */
        gh_router_match(r, h, p, &m);
    for (int rep = 0; rep < 5; rep++) {             /* the best of 5: a shared machine is noisy */
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            gh_router_match(r, h, p, &m);
            sink += m.prefix_len;
        }
        ns = GH_MIN(ns, (now_ns() - t0) / (double)iters);
    }
    printf("  %-34s %-28s -> %-22s %7.1f ns\n", label, path,
           m.route ? m.route->path_spec : "(none)", ns);
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 1000000;
    uint32_t jit = 0;
    pcre2_config(PCRE2_CONFIG_JIT, &jit);
    printf("PCRE2 JIT %s\n", jit ? "available" : "NOT available (interpreter)");
    static struct gh_conf_vserver servers[3];
    struct gh_conf conf = { .file = "bench.conf", .servers = servers, .nservers = 3 };
    char **names[] = { names0, names1, names2 };
    for (int i = 0; i < 3; i++) {
        servers[i].names = names[i];
        while (names[i][servers[i].nnames] != NULL)
            servers[i].nnames++;
        servers[i].line = i + 1;
    }

    /* 1 route */
    static struct gh_conf_route one[1];
    servers[0].routes = one;
    add_route(&servers[0], "/");
    struct gh_router *r1 = gh_router_build(&conf, stderr);
    if (r1 == NULL)
        return 1;
    printf("1 route (\"/\"), %ld iterations:\n", iters);
    bench("exact host", r1, "example.com", "/svc1/v1/items/42", iters);
    bench("wildcard host + port", r1, "a.b.example.com:8080", "/svc1/v1/items/42", iters);
    bench("default host (no routes)", r1, "nope.net", "/svc1/v1/items/42", iters);

    /* 40 prefixes + 5 regexes + 5 exacts + "/" */
    servers[0].routes = routes;
    servers[0].nroutes = 0;
    big_set(&servers[0]);
    struct gh_router *r2 = gh_router_build(&conf, stderr);
    if (r2 == NULL)
        return 1;
    printf("%zu routes (40 prefix + 5 regex + 5 exact + \"/\"):\n", servers[0].nroutes);
    bench("exact route", r2, "example.com", "/login", iters);
    bench("^~ prefix (no regex tried)", r2, "example.com", "/svc3/v1/items/9", iters);
    bench("first regex", r2, "example.com", "/svc1/v1/42", iters);
    bench("last regex", r2, "example.com", "/svc5/v1/x", iters);
    bench("prefix after 5 regexes fail", r2, "example.com", "/svc4/v1/items/abc", iters);
    bench("prefix, long path, 5 regexes", r2, "example.com",
          "/svc7/v1/some/rather/long/path/with/many/segments/in/it/index.html", iters);
    bench("wildcard host, prefix", r2, "x.example.com:443", "/svc7/v1/q", iters);

    /* normalization */
    const char *np[] = { "/svc1/v1/items/42", "/a/./b/../%63/%2F/%7euser/x.png" };
    char out[256];
    printf("gh_path_normalize:\n");
    for (int k = 0; k < 2; k++) {
        struct gh_str s = gh_str_make(np[k], strlen(np[k]));
        double ns = 1e18;
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now_ns();
            for (long i = 0; i < iters; i++)
                sink += (size_t)gh_path_normalize(s, out);
            ns = GH_MIN(ns, (now_ns() - t0) / (double)iters);
        }
        printf("  %-63s %7.1f ns\n", np[k], ns);
    }
    gh_router_free(r1);
    gh_router_free(r2);
    return 0;
}
