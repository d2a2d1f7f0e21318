/*
 * conf_servers.c - the parts of the configuration that name each other:
 * upstreams, rate limits, and virtual servers with their routes (which
 * refer to upstreams and rate limits by name, resolved to indices here).
 */
#include <stdio.h>
#include <string.h>

#include "common/conf_priv.h"
#include "common/str.h"

static config_setting_t *member(const config_setting_t *g, const char *name)
{
    return g == NULL ? NULL : config_setting_get_member(g, name);
}

/* Names of upstreams and rate limits: used in metrics labels and admin
 * URLs, so [A-Za-z0-9_.-]+. */
static bool name_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z')
              || (*s >= 'A' && *s <= 'Z') || *s == '_' || *s == '.' || *s == '-'))
            return false;
    return true;
}

/* The required "name" of element e; NULL when missing or invalid (reported). */
static char *required_name(struct gh_conf_ctx *c, config_setting_t *e,
                           const char *where)
{
    config_setting_t *s = member(e, "name");
    char *n;

    if (s == NULL) {
        gh_conf_error(c, e, "'%s.name' is required", where);
        return NULL;
    }
    n = gh_conf_str(c, e, where, "name", NULL);
    if (n != NULL && !name_ok(n)) {
        gh_conf_error(c, s, "'%s.name': invalid name '%s' (use letters, digits, '_', '.', '-')",
                      where, n);
        return NULL;
    }
    return n;
}

static void load_upstream_servers(struct gh_conf_ctx *c, config_setting_t *e,
                                  const char *where, struct gh_conf_upstream *u)
{
    static const char *const keys[] = { "address", "weight", "max_conns", "backup", NULL };
    config_setting_t *l = gh_conf_list(c, e, where, "servers");
    char sw[128], q[160];
    int i, n = l != NULL ? config_setting_length(l) : 0;
    size_t j;

    if (n == 0) {
        gh_conf_error(c, l != NULL ? l : e, "'%s.servers' needs at least one server", where);
        return;
    }
    u->servers = gh_conf_alloc(c, sizeof(*u->servers) * (size_t)n);
    for (i = 0; i < n; i++) {
        config_setting_t *se = config_setting_get_elem(l, (unsigned)i), *a;
        struct gh_conf_upstream_server *s = &u->servers[u->nservers];

        snprintf(sw, sizeof(sw), "%s.servers.[%d]", where, i);
        if (!config_setting_is_group(se)) {
            gh_conf_error(c, se, "'%s' must be a group ({ address = ...; })", sw);
            continue;
        }
        gh_conf_check_keys(c, se, sw, keys);
        s->line = config_setting_source_line(se);
        s->weight = (int)gh_conf_int(c, se, sw, "weight", 1, 1, 1000);
        s->max_conns = (int)gh_conf_int(c, se, sw, "max_conns", 0, 0, 1000000);
        s->backup = gh_conf_bool(c, se, sw, "backup", false);
        a = member(se, "address");
        if (a == NULL) {
            gh_conf_error(c, se, "'%s.address' is required", sw);
            continue;
        }
        snprintf(q, sizeof(q), "%s.address", sw);
        if (gh_conf_addr(c, a, q, true, &s->addr) == -1)
            continue;
        if (s->addr.kind != GH_ADDR_UNIX && s->addr.port == 0) {
            gh_conf_error(c, a, "'%s': port 0 is not allowed for an upstream server", q);
            continue;
        }
        for (j = 0; j < u->nservers; j++)
            if (strcmp(u->servers[j].addr.text, s->addr.text) == 0)
                break;
        if (j < u->nservers) {
            gh_conf_error(c, a, "duplicate server '%s' in upstream '%s' (first at line %d)",
                          s->addr.text, u->name != NULL ? u->name : "?",
                          u->servers[j].line);
            continue;
        }
        u->nservers++;
    }
}

/* "200-399" or "200" into lo..hi. 0 or -1. */
static int parse_expect(const char *s, int *lo, int *hi)
{
    int a, b, n = 0;

    if (sscanf(s, "%3d-%3d%n", &a, &b, &n) == 2 && s[n] == '\0' && n == 7) {
        *lo = a;
        *hi = b;
    } else if (sscanf(s, "%3d%n", &a, &n) == 1 && s[n] == '\0' && n == 3) {
        *lo = *hi = a;
    } else {
        return -1;
    }
    return *lo >= 100 && *hi <= 599 && *lo <= *hi ? 0 : -1;
}

static void load_upstream_blocks(struct gh_conf_ctx *c, config_setting_t *e,
                                 const char *where, struct gh_conf_upstream *u)
{
    static const char *const pkeys[] = { "max_fails", "fail_timeout", NULL };
    static const char *const hkeys[] = { "path", "host", "interval", "timeout",
        "rise", "fall", "expect", NULL };
    static const char *const skeys[] = { "cookie", NULL };
    static const char *const tkeys[] = { "enable", "verify", "sni", "ca", NULL };
    config_setting_t *g;
    char q[160];
    char *expect;

    snprintf(q, sizeof(q), "%s.passive", where);
    g = gh_conf_group(c, e, where, "passive");
    if (g != NULL)
        gh_conf_check_keys(c, g, q, pkeys);
    u->max_fails = (int)gh_conf_int(c, g, q, "max_fails", 3, 0, 1000000);
    u->fail_timeout = gh_conf_duration(c, g, q, "fail_timeout", "10s", 1);

    snprintf(q, sizeof(q), "%s.health", where);
    g = gh_conf_group(c, e, where, "health");
    if (g != NULL)
        gh_conf_check_keys(c, g, q, hkeys);
    u->health.enabled = g != NULL;
    u->health.path = gh_conf_str(c, g, q, "path", "/healthz");
    if (u->health.path[0] != '/')
        gh_conf_error(c, member(g, "path"), "'%s.path' must start with '/'", q);
    u->health.host = gh_conf_str(c, g, q, "host", "");
    u->health.interval = gh_conf_duration(c, g, q, "interval", "2s", 1);
    u->health.timeout = gh_conf_duration(c, g, q, "timeout", "1s", 1);
    u->health.rise = (int)gh_conf_int(c, g, q, "rise", 2, 1, 1000);
    u->health.fall = (int)gh_conf_int(c, g, q, "fall", 3, 1, 1000);
    expect = gh_conf_str(c, g, q, "expect", "200-399");
    if (parse_expect(expect, &u->health.expect_lo, &u->health.expect_hi) == -1) {
        gh_conf_error(c, member(g, "expect"), "'%s.expect': invalid status range '%s' "
                      "(expected \"200\" or \"200-399\")", q, expect);
        u->health.expect_lo = 200;
        u->health.expect_hi = 399;
    }

    snprintf(q, sizeof(q), "%s.sticky", where);
    g = gh_conf_group(c, e, where, "sticky");
    if (g != NULL)
        gh_conf_check_keys(c, g, q, skeys);
    u->sticky_cookie = gh_conf_str(c, g, q, "cookie", "");
    if (u->sticky_cookie[0] != '\0' && !gh_conf_token_ok(u->sticky_cookie))
        gh_conf_error(c, member(g, "cookie"), "'%s.cookie': invalid cookie name '%s'",
                      q, u->sticky_cookie);

    snprintf(q, sizeof(q), "%s.tls", where);
    g = gh_conf_group(c, e, where, "tls");
    if (g != NULL)
        gh_conf_check_keys(c, g, q, tkeys);
    u->tls.enable = gh_conf_bool(c, g, q, "enable", false);
    u->tls.verify = gh_conf_bool(c, g, q, "verify", true);
    u->tls.sni = gh_conf_str(c, g, q, "sni", "");
    u->tls.ca = gh_conf_path(c, gh_conf_str(c, g, q, "ca", ""));
    u->tls.line = g != NULL ? (int)config_setting_source_line(g) : u->line;
}

static void load_upstream(struct gh_conf_ctx *c, config_setting_t *e,
                          const char *where, struct gh_conf_upstream *u)
{
    static const char *const keys[] = { "name", "balance", "hash_key", "servers",
        "keepalive", "keepalive_timeout", "keepalive_requests", "retries",
        "retry_buffer", "passive", "health", "slow_start", "sticky", "tls", NULL };
    static const char *const balances[] = { "round_robin", "least_conn", "ip_hash",
        "hash", "random2", NULL };

    gh_conf_check_keys(c, e, where, keys);
    u->line = config_setting_source_line(e);
    u->name = required_name(c, e, where);
    u->balance = gh_conf_enum(c, e, where, "balance", balances, GH_BALANCE_ROUND_ROBIN);
    u->hash_key = gh_conf_str(c, e, where, "hash_key", "$remote_addr");
    if (!gh_conf_var_ok(u->hash_key, GH_VAR_REMOTE_ADDR | GH_VAR_URI | GH_VAR_HOST
                                     | GH_VAR_COOKIE | GH_VAR_HEADER))
        gh_conf_error(c, member(e, "hash_key"), "'%s.hash_key': invalid key '%s' (expected "
                      "$remote_addr, $uri, $host, $cookie_NAME or $header_NAME)",
                      where, u->hash_key);
    load_upstream_servers(c, e, where, u);
    u->keepalive = (int)gh_conf_int(c, e, where, "keepalive", 32, 0, 100000);
    u->keepalive_timeout = gh_conf_duration(c, e, where, "keepalive_timeout", "4s", 1);
    u->keepalive_requests = gh_conf_int(c, e, where, "keepalive_requests", 10000, 0, INT64_MAX);
    u->retries = (int)gh_conf_int(c, e, where, "retries", 1, 0, 100);
    u->retry_buffer = gh_conf_size(c, e, where, "retry_buffer", "64k");
    u->slow_start = gh_conf_duration(c, e, where, "slow_start", "0s", 0);
    load_upstream_blocks(c, e, where, u);
}

void gh_conf_load_upstreams(struct gh_conf_ctx *c, const config_setting_t *root)
{
    struct gh_conf *conf = c->conf;
    config_setting_t *l = gh_conf_list(c, root, "", "upstreams");
    char where[64];
    int i, n = l != NULL ? config_setting_length(l) : 0;
    size_t j;

    conf->upstreams = gh_conf_alloc(c, sizeof(*conf->upstreams) * (size_t)(n + 1));
    for (i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
        struct gh_conf_upstream *u = &conf->upstreams[conf->nupstreams];

        snprintf(where, sizeof(where), "upstreams.[%d]", i);
        if (!config_setting_is_group(e)) {
            gh_conf_error(c, e, "'%s' must be a group ({ name = ...; })", where);
            continue;
        }
        load_upstream(c, e, where, u);
        if (u->name == NULL)
            continue;
        for (j = 0; j < conf->nupstreams; j++)
            if (strcmp(conf->upstreams[j].name, u->name) == 0)
                break;
        if (j < conf->nupstreams) {
            gh_conf_error(c, member(e, "name"), "duplicate upstream '%s' (first at line %d)",
                          u->name, conf->upstreams[j].line);
            continue;
        }
        conf->nupstreams++;
    }
}

void gh_conf_load_rate_limits(struct gh_conf_ctx *c, const config_setting_t *root)
{
    static const char *const keys[] = { "name", "key", "rate", "burst", NULL };
    struct gh_conf *conf = c->conf;
    config_setting_t *l = gh_conf_list(c, root, "", "rate_limits");
    char where[64];
    int i, n = l != NULL ? config_setting_length(l) : 0;
    size_t j;

    conf->rate_limits = gh_conf_alloc(c, sizeof(*conf->rate_limits) * (size_t)(n + 1));
    for (i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
        struct gh_conf_rate_limit *r = &conf->rate_limits[conf->nrate_limits];

        snprintf(where, sizeof(where), "rate_limits.[%d]", i);
        if (!config_setting_is_group(e)) {
            gh_conf_error(c, e, "'%s' must be a group ({ name = ...; })", where);
            continue;
        }
        gh_conf_check_keys(c, e, where, keys);
        r->line = config_setting_source_line(e);
        r->name = required_name(c, e, where);
        r->key = gh_conf_str(c, e, where, "key", "$remote_addr");
        if (!gh_conf_var_ok(r->key, GH_VAR_REMOTE_ADDR | GH_VAR_COOKIE | GH_VAR_HEADER))
            gh_conf_error(c, member(e, "key"), "'%s.key': invalid key '%s' (expected "
                          "$remote_addr, $header_NAME or $cookie_NAME)", where, r->key);
        if (member(e, "rate") == NULL)
            gh_conf_error(c, e, "'%s.rate' is required", where);
        r->rate = gh_conf_double(c, e, where, "rate", 1.0, 0.001, 1e9);
        r->burst = (int)gh_conf_int(c, e, where, "burst", 0, 0, 1000000000);
        if (r->name == NULL)
            continue;
        for (j = 0; j < conf->nrate_limits; j++)
            if (strcmp(conf->rate_limits[j].name, r->name) == 0)
                break;
        if (j < conf->nrate_limits) {
            gh_conf_error(c, member(e, "name"), "duplicate rate limit '%s' (first at line %d)",
                          r->name, conf->rate_limits[j].line);
            continue;
        }
        conf->nrate_limits++;
    }
}

static int upstream_index(const struct gh_conf *conf, const char *name)
{
    size_t i;

    for (i = 0; i < conf->nupstreams; i++)
        if (strcmp(conf->upstreams[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int rate_limit_index(const struct gh_conf *conf, const char *name)
{
    size_t i;

    for (i = 0; i < conf->nrate_limits; i++)
        if (strcmp(conf->rate_limits[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* "= /x", "^~ /x", "~ re", "~* re" or "/x" into kind and pattern. */
static int parse_path_spec(struct gh_conf_ctx *c, const char *spec,
                           struct gh_conf_route *r)
{
    const char *p = spec;

    if (p[0] == '=') {
        r->kind = GH_ROUTE_EXACT;
        p++;
    } else if (p[0] == '^' && p[1] == '~') {
        r->kind = GH_ROUTE_PREFIX_STOP;
        p += 2;
    } else if (p[0] == '~' && p[1] == '*') {
        r->kind = GH_ROUTE_REGEX_CASELESS;
        p += 2;
    } else if (p[0] == '~') {
        r->kind = GH_ROUTE_REGEX;
        p++;
    } else {
        r->kind = GH_ROUTE_PREFIX;
    }
    if (r->kind != GH_ROUTE_PREFIX)
        while (*p == ' ' || *p == '\t')
            p++;
    if (*p == '\0')
        return -1;
    if ((r->kind == GH_ROUTE_PREFIX || r->kind == GH_ROUTE_PREFIX_STOP
         || r->kind == GH_ROUTE_EXACT) && p[0] != '/')
        return -1;
    r->pattern = gh_conf_strdup(c, p);
    return 0;
}

static void load_split(struct gh_conf_ctx *c, config_setting_t *e,
                       const char *where, struct gh_conf_route *r)
{
    static const char *const keys[] = { "upstream", "weight", NULL };
    config_setting_t *l = gh_conf_list(c, e, where, "split");
    char sw[160];
    int i, n = l != NULL ? config_setting_length(l) : 0;
    long total = 0;

    if (l == NULL)
        return;
    r->splits = gh_conf_alloc(c, sizeof(*r->splits) * (size_t)(n + 1));
    for (i = 0; i < n; i++) {
        config_setting_t *se = config_setting_get_elem(l, (unsigned)i);
        struct gh_conf_split *s = &r->splits[r->nsplits];

        snprintf(sw, sizeof(sw), "%s.split.[%d]", where, i);
        if (!config_setting_is_group(se)) {
            gh_conf_error(c, se, "'%s' must be a group ({ upstream = ...; weight = ...; })", sw);
            continue;
        }
        gh_conf_check_keys(c, se, sw, keys);
        s->weight = (int)gh_conf_int(c, se, sw, "weight", 1, 0, 1000);
        s->upstream = gh_conf_str(c, se, sw, "upstream", NULL);
        if (s->upstream == NULL) {
            gh_conf_error(c, se, "'%s.upstream' is required", sw);
            continue;
        }
        s->upstream_idx = upstream_index(c->conf, s->upstream);
        if (s->upstream_idx < 0) {
            gh_conf_error(c, member(se, "upstream"), "'%s.upstream': undefined upstream '%s'",
                          sw, s->upstream);
            continue;
        }
        total += s->weight;
        r->nsplits++;
    }
    if (r->nsplits == (size_t)n && total <= 0)
        gh_conf_error(c, l, "'%s.split' weights must add up to more than 0", where);
}

static void load_return(struct gh_conf_ctx *c, config_setting_t *e,
                        const char *where, struct gh_conf_route *r)
{
    static const char *const keys[] = { "status", "body", "location", NULL };
    config_setting_t *g = gh_conf_group(c, e, where, "return");
    char q[160];
    int st;

    if (g == NULL)
        return;
    snprintf(q, sizeof(q), "%s.return", where);
    gh_conf_check_keys(c, g, q, keys);
    if (member(g, "status") == NULL)
        gh_conf_error(c, g, "'%s.status' is required", q);
    r->ret.status = (int)gh_conf_int(c, g, q, "status", 200, 100, 599);
    r->ret.body = gh_conf_str(c, g, q, "body", NULL);
    r->ret.location = gh_conf_str(c, g, q, "location", NULL);
    st = r->ret.status;
    if ((st == 301 || st == 302 || st == 303 || st == 307 || st == 308)
        && r->ret.location == NULL)
        gh_conf_error(c, g, "'%s.location' is required with status %d", q, st);
    if (r->ret.location != NULL && strpbrk(r->ret.location, "\r\n") != NULL)
        gh_conf_error(c, member(g, "location"), "'%s.location' must not contain CR or LF", q);
}

static void load_route(struct gh_conf_ctx *c, config_setting_t *e,
                       const char *where, struct gh_conf_route *r)
{
    static const char *const keys[] = { "path", "upstream", "split", "split_by",
        "return", "rate_limit", "strip_prefix", "cache", "request_headers",
        "response_headers", NULL };
    static const char *const ckeys[] = { "ttl", NULL };
    config_setting_t *g;
    char q[160];
    int targets = 0;

    gh_conf_check_keys(c, e, where, keys);
    r->line = config_setting_source_line(e);
    r->upstream_idx = -1;
    r->rate_limit_idx = -1;
    r->path_spec = gh_conf_str(c, e, where, "path", NULL);
    if (r->path_spec == NULL) {
        if (member(e, "path") == NULL)
            gh_conf_error(c, e, "'%s.path' is required", where);
        r->path_spec = gh_conf_strdup(c, "/");
        r->pattern = r->path_spec;
    } else if (parse_path_spec(c, r->path_spec, r) == -1) {
        gh_conf_error(c, member(e, "path"), "'%s.path': invalid path '%s' (expected \"/x\", "
                      "\"= /x\", \"^~ /x\", \"~ regex\" or \"~* regex\")", where, r->path_spec);
        r->pattern = r->path_spec;
    }

    targets = (member(e, "upstream") != NULL) + (member(e, "split") != NULL)
              + (member(e, "return") != NULL);
    if (targets != 1)
        gh_conf_error(c, e, "'%s' needs exactly one of 'upstream', 'split' or 'return'", where);
    r->upstream = gh_conf_str(c, e, where, "upstream", NULL);
    if (r->upstream != NULL) {
        r->upstream_idx = upstream_index(c->conf, r->upstream);
        if (r->upstream_idx < 0)
            gh_conf_error(c, member(e, "upstream"), "'%s.upstream': undefined upstream '%s'",
                          where, r->upstream);
    }
    load_split(c, e, where, r);
    r->split_by = gh_conf_str(c, e, where, "split_by", "");
    if (r->split_by[0] != '\0' && !gh_conf_var_ok(r->split_by, GH_VAR_COOKIE | GH_VAR_REMOTE_ADDR))
        gh_conf_error(c, member(e, "split_by"), "'%s.split_by': invalid key '%s' (expected "
                      "\"\", $cookie_NAME or $remote_addr)", where, r->split_by);
    else if (r->split_by[0] != '\0' && member(e, "split") == NULL)
        gh_conf_error(c, member(e, "split_by"), "'%s.split_by' needs 'split'", where);
    load_return(c, e, where, r);
    r->has_return = member(e, "return") != NULL;

    r->rate_limit = gh_conf_str(c, e, where, "rate_limit", NULL);
    if (r->rate_limit != NULL) {
        r->rate_limit_idx = rate_limit_index(c->conf, r->rate_limit);
        if (r->rate_limit_idx < 0)
            gh_conf_error(c, member(e, "rate_limit"), "'%s.rate_limit': undefined rate limit '%s'",
                          where, r->rate_limit);
    }
    r->strip_prefix = gh_conf_bool(c, e, where, "strip_prefix", false);
    if (r->strip_prefix && (r->kind == GH_ROUTE_REGEX || r->kind == GH_ROUTE_REGEX_CASELESS))
        gh_conf_error(c, member(e, "strip_prefix"),
                      "'%s.strip_prefix' needs a prefix path, not a regular expression", where);
    snprintf(q, sizeof(q), "%s.cache", where);
    g = gh_conf_group(c, e, where, "cache");
    if (g != NULL)
        gh_conf_check_keys(c, g, q, ckeys);
    r->cache_enabled = g != NULL;
    r->cache_ttl = gh_conf_duration(c, g, q, "ttl", "60s", 0);
    gh_conf_headers(c, e, where, "request_headers", &r->request_headers);
    gh_conf_headers(c, e, where, "response_headers", &r->response_headers);
}

static bool server_name_ok(const char *s)
{
    const char *p = s;

    if (strcmp(s, "default") == 0)
        return true;
    if (p[0] == '*' && p[1] == '.')
        p += 2;
    if (*p == '\0' || *p == '.' || *p == '-')
        return false;
    for (; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '.'
              || *p == '-' || *p == '_'))
            return false;
    return s[strlen(s) - 1] != '.';
}

/* Server names, lower-cased, unique across every server (names of the
 * servers before this one are in conf->servers[0..nservers)). */
static void load_names(struct gh_conf_ctx *c, config_setting_t *e,
                       const char *where, struct gh_conf_vserver *v)
{
    const struct gh_conf *conf = c->conf;
    config_setting_t *l = member(e, "names");
    size_t i, j, k;
    char *p;

    v->names = gh_conf_strlist(c, e, where, "names", &v->nnames);
    if (l == NULL || (v->nnames == 0 && config_setting_length(l) == 0))
        gh_conf_error(c, l != NULL ? l : e, "'%s.names' needs at least one name", where);
    for (i = 0; i < v->nnames; i++) {
        for (p = v->names[i]; *p != '\0'; p++)
            *p = gh_lower(*p);
        if (!server_name_ok(v->names[i])) {
            gh_conf_error(c, l, "'%s.names': invalid server name '%s'", where, v->names[i]);
            continue;
        }
        for (j = 0; j < i; j++)
            if (strcmp(v->names[j], v->names[i]) == 0)
                gh_conf_error(c, l, "duplicate server name '%s'", v->names[i]);
        for (k = 0; k < conf->nservers; k++)
            for (j = 0; j < conf->servers[k].nnames; j++)
                if (strcmp(conf->servers[k].names[j], v->names[i]) == 0)
                    gh_conf_error(c, l, "duplicate server name '%s' (first at line %d)",
                                  v->names[i], conf->servers[k].line);
    }
}

static void load_vserver(struct gh_conf_ctx *c, config_setting_t *e,
                         const char *where, struct gh_conf_vserver *v)
{
    static const char *const keys[] = { "names", "redirect_https", "routes",
        "request_headers", "response_headers", NULL };
    config_setting_t *l;
    char rw[128];
    int i, n;
    size_t j;

    gh_conf_check_keys(c, e, where, keys);
    v->line = config_setting_source_line(e);
    load_names(c, e, where, v);
    v->redirect_https = gh_conf_bool(c, e, where, "redirect_https", false);
    l = gh_conf_list(c, e, where, "routes");
    n = l != NULL ? config_setting_length(l) : 0;
    v->routes = gh_conf_alloc(c, sizeof(*v->routes) * (size_t)(n + 1));
    for (i = 0; i < n; i++) {
        config_setting_t *re = config_setting_get_elem(l, (unsigned)i);
        struct gh_conf_route *r = &v->routes[v->nroutes];

        snprintf(rw, sizeof(rw), "%s.routes.[%d]", where, i);
        if (!config_setting_is_group(re)) {
            gh_conf_error(c, re, "'%s' must be a group ({ path = ...; })", rw);
            continue;
        }
        load_route(c, re, rw, r);
        for (j = 0; j < v->nroutes; j++)
            if (v->routes[j].kind == r->kind && strcmp(v->routes[j].pattern, r->pattern) == 0)
                break;
        if (j < v->nroutes) {
            gh_conf_error(c, member(re, "path"), "duplicate route '%s' (first at line %d)",
                          r->path_spec, v->routes[j].line);
            continue;
        }
        v->nroutes++;
    }
    gh_conf_headers(c, e, where, "request_headers", &v->request_headers);
    gh_conf_headers(c, e, where, "response_headers", &v->response_headers);
}

void gh_conf_load_servers(struct gh_conf_ctx *c, const config_setting_t *root)
{
    struct gh_conf *conf = c->conf;
    config_setting_t *l = gh_conf_list(c, root, "", "servers");
    char where[64];
    int i, n = l != NULL ? config_setting_length(l) : 0;

    conf->servers = gh_conf_alloc(c, sizeof(*conf->servers) * (size_t)(n + 1));
    for (i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(l, (unsigned)i);

        snprintf(where, sizeof(where), "servers.[%d]", i);
        if (!config_setting_is_group(e)) {
            gh_conf_error(c, e, "'%s' must be a group ({ names = ...; })", where);
            continue;
        }
        load_vserver(c, e, where, &conf->servers[conf->nservers]);
        conf->nservers++;
    }
}
