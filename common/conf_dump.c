/*
 * conf_dump.c - gh_conf_dump (-T): the effective configuration, every
 * default filled in, in libconfig syntax that gh_conf_load reads back.
 * Paths are printed resolved (absolute), so the output means the same
 * whatever the prefix it is later loaded with.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/conf_priv.h"

static void put_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");

    fputc('"', f);
    for (; *p != '\0'; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\x%02x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void put_duration(FILE *f, gh_msec_t ms)
{
    static const struct { gh_msec_t ms; const char *unit; } units[] = {
        { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" },
    };
    size_t i;

    for (i = 0; i < GH_ARRAY_LEN(units); i++)
        if (ms != 0 && ms % units[i].ms == 0) {
            fprintf(f, "\"%" PRId64 "%s\"", ms / units[i].ms, units[i].unit);
            return;
        }
    fprintf(f, ms == 0 ? "\"0s\"" : "\"%" PRId64 "ms\"", ms);
}

static void put_size(FILE *f, size_t v)
{
    if (v != 0 && v % ((size_t)1 << 30) == 0)
        fprintf(f, "\"%zuG\"", v >> 30);
    else if (v != 0 && v % ((size_t)1 << 20) == 0)
        fprintf(f, "\"%zuM\"", v >> 20);
    else if (v != 0 && v % ((size_t)1 << 10) == 0)
        fprintf(f, "\"%zuk\"", v >> 10);
    else
        fprintf(f, "\"%zu\"", v);
}

static const char *tf(bool b)
{
    return b ? "true" : "false";
}

static void put_strlist(FILE *f, char *const *v, size_t n)
{
    size_t i;

    fputc('[', f);
    for (i = 0; i < n; i++) {
        fputs(i ? ", " : " ", f);
        put_str(f, v[i]);
    }
    fputs(n ? " ]" : "]", f);
}

static void put_cidrs(FILE *f, const struct gh_conf_cidr *v, size_t n)
{
    size_t i;

    fputc('[', f);
    for (i = 0; i < n; i++) {
        fputs(i ? ", " : " ", f);
        put_str(f, v[i].text);
    }
    fputs(n ? " ]" : "]", f);
}

static void put_headers(FILE *f, const char *ind, const char *name,
                        const struct gh_conf_headers *h)
{
    size_t i;

    fprintf(f, "%s%s = { set = (", ind, name);
    for (i = 0; i < h->nset; i++) {
        fputs(i ? ", [" : " [", f);
        put_str(f, h->set[i].name);
        fputs(", ", f);
        put_str(f, h->set[i].value);
        fputc(']', f);
    }
    fputs(h->nset ? " ); remove = " : "); remove = ", f);
    put_strlist(f, h->remove, h->nremove);
    fputs("; };\n", f);
}

static void dump_globals(const struct gh_conf *c, FILE *f)
{
    static const char *const formats[] = { "combined", "json", "off", "custom" };
    size_t i;

    fputs("# gatehouse effective configuration\n", f);
    fprintf(f, "# file: %s\n# prefix: %s\n", c->file, c->prefix);
    if (c->workers_auto)
        fprintf(f, "workers = \"auto\";   # %d here\n", c->workers);
    else
        fprintf(f, "workers = %d;\n", c->workers);
    fputs("pid_file = ", f); put_str(f, c->pid_file); fputs(";\n", f);
    fputs("user = ", f); put_str(f, c->user); fputs(";\n", f);
    fputs("shm_size = ", f); put_size(f, c->shm_size); fputs(";\n", f);
    fputs("shutdown_timeout = ", f); put_duration(f, c->shutdown_timeout); fputs(";\n\n", f);

    fputs("error_log = { path = ", f); put_str(f, c->error_log.path);
    fprintf(f, "; level = \"%s\"; };\n", gh_conf_level_name(c->error_log.level));
    fputs("access_log = { path = ", f); put_str(f, c->access_log.path);
    fprintf(f, "; format = \"%s\";", formats[c->access_log.format]);
    if (c->access_log.format == GH_ALOG_CUSTOM) {
        fputs(" template = ", f);
        put_str(f, c->access_log.template);
        fputc(';', f);
    }
    fputs(" };\n\n", f);

    fputs("timeouts = {\n  client_header = ", f); put_duration(f, c->timeouts.client_header);
    fputs(";\n  client_body = ", f); put_duration(f, c->timeouts.client_body);
    fputs(";\n  send = ", f); put_duration(f, c->timeouts.send);
    fputs(";\n  keepalive = ", f); put_duration(f, c->timeouts.keepalive);
    fputs(";\n  upstream_connect = ", f); put_duration(f, c->timeouts.upstream_connect);
    fputs(";\n  upstream_send = ", f); put_duration(f, c->timeouts.upstream_send);
    fputs(";\n  upstream_read = ", f); put_duration(f, c->timeouts.upstream_read);
    fputs(";\n  tunnel = ", f); put_duration(f, c->timeouts.tunnel);
    fputs(";\n};\n\n", f);

    fputs("limits = {\n  max_header_size = ", f); put_size(f, c->limits.max_header_size);
    fprintf(f, ";\n  max_headers = %d;\n  max_uri_size = ", c->limits.max_headers);
    put_size(f, c->limits.max_uri_size);
    fputs(";\n  max_body_size = ", f); put_size(f, c->limits.max_body_size);
    fputs(";\n  max_upstream_header_size = ", f);
    put_size(f, c->limits.max_upstream_header_size);
    fputs(";\n  min_client_rate = ", f); put_size(f, c->limits.min_client_rate);
    if (c->limits.max_connections_auto)
        fprintf(f, ";\n  max_connections = \"auto\";   # %d here: what the hard open files "
                "limit fits, up to 10000", c->limits.max_connections);
    else
        fprintf(f, ";\n  max_connections = %d;", c->limits.max_connections);
    fprintf(f, "\n  max_conns_per_ip = %d;\n};\n\n", c->limits.max_conns_per_ip);

    fputs("listen = (\n", f);
    for (i = 0; i < c->nlistens; i++) {
        const struct gh_conf_listen *l = &c->listens[i];
        fputs("  { address = ", f); put_str(f, l->addr.text);
        fprintf(f, "; tls = %s; http2 = %s; proxy_protocol = %s; }%s\n", tf(l->tls),
                tf(l->http2), tf(l->proxy_protocol), i + 1 < c->nlistens ? "," : "");
    }
    fputs(");\n\n", f);

    fputs("tls = {\n  certificates = (", f);
    for (i = 0; i < c->tls.ncerts; i++) {
        fputs(i ? ",\n    { cert = " : "\n    { cert = ", f);
        put_str(f, c->tls.certs[i].cert);
        fputs("; key = ", f); put_str(f, c->tls.certs[i].key); fputs("; }", f);
    }
    fputs(c->tls.ncerts ? "\n  );\n  protocols = [" : ");\n  protocols = [", f);
    if (c->tls.protocols & GH_TLS_V1_2)
        fputs(" \"TLSv1.2\"", f);
    if (c->tls.protocols & GH_TLS_V1_3)
        fputs((c->tls.protocols & GH_TLS_V1_2) ? ", \"TLSv1.3\"" : " \"TLSv1.3\"", f);
    fprintf(f, " ];\n  session_tickets = %s;\n  ocsp_stapling = %s;\n  client_ca = ",
            tf(c->tls.session_tickets), tf(c->tls.ocsp_stapling));
    put_str(f, c->tls.client_ca);
    fputs(";\n  ticket_rotation = ", f);
    put_duration(f, c->tls.ticket_rotation);
    fprintf(f, ";\n  strict_sni = %s;\n  ocsp_file = ", tf(c->tls.strict_sni));
    put_str(f, c->tls.ocsp_file);
    fputs(";\n};\n\n", f);
    fprintf(f, "http2 = { max_concurrent_streams = %d; };\n\n", c->http2.max_concurrent_streams);

    fputs("admin = { address = ", f);
    put_str(f, c->admin.enabled ? c->admin.addr.text : "");
    fputs("; token = ", f); put_str(f, c->admin.token); fputs("; };\n", f);
    fputs("real_ip = { from = ", f); put_cidrs(f, c->real_ip.from, c->real_ip.nfrom);
    fputs("; header = ", f); put_str(f, c->real_ip.header); fputs("; };\n\n", f);

    fputs("access = {\n  allow = ", f); put_cidrs(f, c->access.allow, c->access.nallow);
    fputs(";\n  deny = ", f); put_cidrs(f, c->access.deny, c->access.ndeny);
    fprintf(f, ";\n  deny_action = \"%s\";\n  auto_ban = { violations = %d; window = ",
            c->access.deny_close ? "close" : "403", c->access.ban_violations);
    put_duration(f, c->access.ban_window);
    fputs("; duration = ", f); put_duration(f, c->access.ban_duration);
    fputs("; };\n};\n\n", f);

    fputs("cache = { size = ", f); put_size(f, c->cache.size);
    fputs("; max_object_size = ", f); put_size(f, c->cache.max_object_size);
    fputs("; lock_timeout = ", f); put_duration(f, c->cache.lock_timeout);
    fprintf(f, "; override = %s; };\n\ncompression = {\n  gzip = %s;\n  level = %d;\n"
               "  brotli = %s;\n  brotli_level = %d;\n  zstd = %s;\n  zstd_level = %d;\n"
               "  min_size = ", tf(c->cache.override), tf(c->compression.gzip),
            c->compression.level, tf(c->compression.brotli), c->compression.brotli_level,
            tf(c->compression.zstd), c->compression.zstd_level);
    put_size(f, c->compression.min_size);
    fputs(";\n  types = ", f);
    put_strlist(f, c->compression.types, c->compression.ntypes);
    fputs(";\n};\n\n", f);
}

static void dump_upstream(const struct gh_conf_upstream *u, FILE *f, bool last)
{
    static const char *const balances[] = { "round_robin", "least_conn", "ip_hash",
        "hash", "random2" };
    size_t i;

    fputs("  {\n    name = ", f); put_str(f, u->name);
    fprintf(f, ";\n    balance = \"%s\";\n    hash_key = ", balances[u->balance]);
    put_str(f, u->hash_key);
    fputs(";\n    servers = (\n", f);
    for (i = 0; i < u->nservers; i++) {
        const struct gh_conf_upstream_server *s = &u->servers[i];
        fputs("      { address = ", f); put_str(f, s->addr.text);
        fprintf(f, "; weight = %d; max_conns = %d; backup = %s; }%s\n", s->weight,
                s->max_conns, tf(s->backup), i + 1 < u->nservers ? "," : "");
    }
    fprintf(f, "    );\n    keepalive = %d;\n    keepalive_timeout = ", u->keepalive);
    put_duration(f, u->keepalive_timeout);
    fprintf(f, ";\n    keepalive_requests = %" PRId64 ";\n    retries = %d;\n"
            "    retry_buffer = ", u->keepalive_requests, u->retries);
    put_size(f, u->retry_buffer);
    fprintf(f, ";\n    passive = { max_fails = %d; fail_timeout = ", u->max_fails);
    put_duration(f, u->fail_timeout);
    fputs("; };\n", f);
    if (u->health.enabled) {
        fputs("    health = { path = ", f); put_str(f, u->health.path);
        fputs("; host = ", f); put_str(f, u->health.host);
        fputs("; interval = ", f); put_duration(f, u->health.interval);
        fputs("; timeout = ", f); put_duration(f, u->health.timeout);
        fprintf(f, "; rise = %d; fall = %d; ", u->health.rise, u->health.fall);
        if (u->health.expect_lo == u->health.expect_hi)
            fprintf(f, "expect = \"%d\"; };\n", u->health.expect_lo);
        else
            fprintf(f, "expect = \"%d-%d\"; };\n", u->health.expect_lo, u->health.expect_hi);
    } else {
        fputs("    # no health block: no active checks\n", f);
    }
    fputs("    slow_start = ", f); put_duration(f, u->slow_start);
    fputs(";\n    sticky = { cookie = ", f); put_str(f, u->sticky_cookie);
    fprintf(f, "; };\n    tls = { enable = %s; verify = %s; sni = ", tf(u->tls.enable),
            tf(u->tls.verify));
    put_str(f, u->tls.sni);
    fputs("; ca = ", f); put_str(f, u->tls.ca);
    fprintf(f, "; };\n  }%s\n", last ? "" : ",");
}

static void dump_route(const struct gh_conf_route *r, FILE *f, bool last)
{
    const char *ind = "          ";
    size_t i;

    fputs("        {\n          path = ", f); put_str(f, r->path_spec); fputs(";\n", f);
    if (r->upstream != NULL) {
        fputs("          upstream = ", f); put_str(f, r->upstream); fputs(";\n", f);
    }
    if (r->nsplits > 0) {
        fputs("          split = (", f);
        for (i = 0; i < r->nsplits; i++) {
            fputs(i ? ", { upstream = " : " { upstream = ", f);
            put_str(f, r->splits[i].upstream);
            fprintf(f, "; weight = %d; }", r->splits[i].weight);
        }
        fputs(" );\n          split_by = ", f); put_str(f, r->split_by); fputs(";\n", f);
    }
    if (r->has_return) {
        fprintf(f, "          return = { status = %d;", r->ret.status);
        if (r->ret.body != NULL) {
            fputs(" body = ", f); put_str(f, r->ret.body); fputc(';', f);
        }
        if (r->ret.location != NULL) {
            fputs(" location = ", f); put_str(f, r->ret.location); fputc(';', f);
        }
        fputs(" };\n", f);
    }
    if (r->rate_limit != NULL) {
        fputs("          rate_limit = ", f); put_str(f, r->rate_limit); fputs(";\n", f);
    }
    fprintf(f, "          strip_prefix = %s;\n", tf(r->strip_prefix));
    if (r->cache_enabled) {
        fputs("          cache = { ttl = ", f); put_duration(f, r->cache_ttl); fputs("; };\n", f);
    }
    put_headers(f, ind, "request_headers", &r->request_headers);
    put_headers(f, ind, "response_headers", &r->response_headers);
    fprintf(f, "        }%s\n", last ? "" : ",");
}

static void dump_servers(const struct gh_conf *c, FILE *f)
{
    size_t i, j;

    fputs("servers = (\n", f);
    for (i = 0; i < c->nservers; i++) {
        const struct gh_conf_vserver *v = &c->servers[i];
        fputs("  {\n    names = ", f); put_strlist(f, v->names, v->nnames);
        fprintf(f, ";\n    redirect_https = %s;\n    routes = (\n", tf(v->redirect_https));
        for (j = 0; j < v->nroutes; j++)
            dump_route(&v->routes[j], f, j + 1 == v->nroutes);
        fputs("    );\n", f);
        put_headers(f, "    ", "request_headers", &v->request_headers);
        put_headers(f, "    ", "response_headers", &v->response_headers);
        fprintf(f, "  }%s\n", i + 1 < c->nservers ? "," : "");
    }
    fputs(");\n", f);
}

void gh_conf_dump(const struct gh_conf *c, FILE *f)
{
    size_t i;

    dump_globals(c, f);
    fputs("upstreams = (\n", f);
    for (i = 0; i < c->nupstreams; i++)
        dump_upstream(&c->upstreams[i], f, i + 1 == c->nupstreams);
    fputs(");\n\nrate_limits = (\n", f);
    for (i = 0; i < c->nrate_limits; i++) {
        const struct gh_conf_rate_limit *r = &c->rate_limits[i];
        fputs("  { name = ", f); put_str(f, r->name);
        fputs("; key = ", f); put_str(f, r->key);
        fprintf(f, "; rate = %.17g; burst = %d; }%s\n", r->rate, r->burst,
                i + 1 < c->nrate_limits ? "," : "");
    }
    fputs(");\n\n", f);
    dump_servers(c, f);
}
