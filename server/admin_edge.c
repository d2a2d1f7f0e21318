/*
 * admin_edge.c - see admin_edge.h.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/time.h"
#include "modules/blacklist.h"
#include "modules/metrics.h"
#include "modules/ratelimit.h"
#include "server/admin_edge.h"
#include "server/tls.h"

bool gh_admin_blacklist_path(struct gh_str path)
{
    return gh_str_eq(path, GH_STR("/blacklist"))
           || (path.len > 11 && memcmp(path.p, "/blacklist/", 11) == 0);
}

/* POST /blacklist: {"cidr": "10.0.0.0/8", "ttl": "10m"}, ttl optional. */
static const struct gh_aj_field add_fields[] = {
    { "cidr", GH_AJ_STRING, GH_AJ_REQUIRED },
    { "ttl", GH_AJ_STRING | GH_AJ_NUMBER, GH_AJ_OPTIONAL },
};

static int list(struct gh_admin_reply *r)
{
    struct gh_bl_region *reg = gh_bl_region();
    struct gh_bl_entry *snap = malloc(sizeof(*snap) * GH_BL_CAPACITY);
    json_t *a = json_array();
    if (snap == NULL || a == NULL) {
        free(snap);
        json_decref(a);
        return gh_admin_ok(r, NULL);
    }
    size_t n = reg ? gh_bl_snapshot(reg, snap, GH_BL_CAPACITY) : 0;
    int64_t now = gh_time_monotonic_ms();
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char text[64];
        gh_acl_key_text(snap[i].key, snap[i].plen, text, sizeof(text));
        json_t *e = json_object();
        rc |= json_object_set_new(e, "cidr", json_string(text));
        /* Seconds left, to the millisecond; null = permanent. */
        rc |= json_object_set_new(e, "expires_in",
                                  snap[i].expires_ms == INT64_MAX
                                      ? json_null()
                                      : json_real((double)(snap[i].expires_ms - now) / 1000.0));
        rc |= json_array_append_new(a, e);
    }
    free(snap);
    if (rc != 0) {
        json_decref(a);
        a = NULL;
    }
    return gh_admin_ok(r, a);
}

static int parse_cidr(const char *text, uint8_t key[16], int *plen)
{
    struct gh_conf_cidr c;
    memset(&c, 0, sizeof(c));
    if (gh_parse_cidr(text, &c) != 0)
        return -1;
    gh_acl_cidr_key(&c, key, plen);
    return 0;
}

#define CIDR_HINT "an IPv4 or IPv6 address with an optional /prefix and no host bits set"

/* "ttl" in milliseconds (INT64_MAX = permanent): a duration string, as in
 * the configuration ("10m", "0" = permanent), or a number of seconds, read
 * by the same parser. Absent: the default hour. 0, or -1 when invalid. */
static int ttl_of(const json_t *v, int64_t *ms)
{
    char num[64];
    const char *text = num;
    int n = 0;
    if (v == NULL) {
        *ms = GH_BL_DEFAULT_TTL_MS;
        return 0;
    }
    if (json_is_string(v))
        text = json_string_value(v);
    else if (json_is_integer(v))
        n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        n = snprintf(num, sizeof(num), "%.6f", json_real_value(v));
    gh_msec_t d;
    if (n < 0 || (size_t)n >= sizeof(num) || gh_parse_duration(text, &d) == -1)
        return -1;
    *ms = d == 0 ? INT64_MAX : d;
    return 0;
}

static int add(struct gh_bl_region *reg, struct gh_str body, struct gh_admin_reply *r)
{
    json_t *o = gh_aj_parse(body, add_fields, GH_ARRAY_LEN(add_fields), r->reason);
    if (o == NULL)
        return gh_admin_fail(r, 400, NULL);
    const char *cidr = json_string_value(json_object_get(o, "cidr"));
    uint8_t key[16];
    int plen;
    int64_t ttl_ms;
    if (parse_cidr(cidr, key, &plen) == -1) {
        gh_admin_fail(r, 400, "invalid cidr \"%.64s\": " CIDR_HINT, cidr);
    } else if (ttl_of(json_object_get(o, "ttl"), &ttl_ms) == -1) {
        gh_admin_fail(r, 400, "invalid ttl: a duration such as \"90s\", \"10m\" or \"0\" "
                              "(permanent), or a number of seconds");
    } else {
        gh_bl_add(reg, key, plen, ttl_ms);
        char text[64];
        gh_acl_key_text(key, plen, text, sizeof(text));
        if (ttl_ms == INT64_MAX)
            gh_log_notice("admin: blacklisted %s permanently", text);
        else
            gh_log_notice("admin: blacklisted %s for %gs", text, (double)ttl_ms / 1000.0);
        json_t *out = json_object();
        int rc = json_object_set_new(out, "cidr", json_string(text));
        rc |= json_object_set_new(out, "ttl_ms",
                                  json_integer(ttl_ms == INT64_MAX ? -1 : (json_int_t)ttl_ms));
        if (rc != 0) {
            json_decref(out);
            out = NULL;
        }
        gh_admin_ok(r, out);
    }
    json_decref(o);
    return r->status;
}

static int remove_cidr(struct gh_bl_region *reg, struct gh_str path, struct gh_str body,
                       struct gh_admin_reply *r)
{
    json_t *o = gh_aj_parse(body, NULL, 0, r->reason);
    if (o == NULL)
        return gh_admin_fail(r, 400, NULL);
    json_decref(o);
    char cidr[128];
    uint8_t key[16];
    int plen;
    if (gh_str_pct_decode(gh_str_make(path.p + 11, path.len - 11), cidr, sizeof(cidr)) == -1)
        return gh_admin_fail(r, 400, "invalid cidr: a bad %%-escape, or too long");
    if (parse_cidr(cidr, key, &plen) == -1)
        return gh_admin_fail(r, 400, "invalid cidr \"%.64s\": " CIDR_HINT, cidr);
    char text[64];
    gh_acl_key_text(key, plen, text, sizeof(text));
    if (gh_bl_remove(reg, key, plen) == -1)
        return gh_admin_fail(r, 404, "%s is not in the blacklist", text);
    gh_log_notice("admin: removed %s from the blacklist", text);
    json_t *out = json_object();
    if (json_object_set_new(out, "removed", json_string(text)) != 0) {
        json_decref(out);
        out = NULL;
    }
    return gh_admin_ok(r, out);
}

int gh_admin_blacklist(struct gh_str method, struct gh_str path, struct gh_str body,
                       struct gh_admin_reply *r)
{
    struct gh_bl_region *reg = gh_bl_region();
    bool whole = gh_str_eq(path, GH_STR("/blacklist"));
    if (whole && gh_str_eq(method, GH_STR("GET")))
        return list(r);
    if (whole && !gh_str_eq(method, GH_STR("POST"))) {
        r->allow = "Allow: GET, POST\r\n";
        return gh_admin_fail(r, 405, NULL);
    }
    if (!whole && !gh_str_eq(method, GH_STR("DELETE"))) {
        r->allow = "Allow: DELETE\r\n";
        return gh_admin_fail(r, 405, NULL);
    }
    if (reg == NULL)
        return gh_admin_fail(r, 503, "the blacklist has no shared memory");
    return whole ? add(reg, body, r) : remove_cidr(reg, path, body, r);
}

int gh_admin_edge_json(json_t *root, const struct gh_conf *conf)
{
    static const struct {
        const char *name;
        enum gh_edge_counter which;
    } counters[] = {
        { "blacklist_rejected", GH_EDGE_BLACKLIST_REJECTED },
        { "connlimit_rejected", GH_EDGE_CONNLIMIT_REJECTED },
        { "auto_bans", GH_EDGE_AUTO_BANS },
        { "proxy_protocol_rejected", GH_EDGE_PROXY_REJECTED },
        { "slow_clients", GH_EDGE_SLOW_CLIENTS },
        { "tls_handshakes_full", GH_EDGE_TLS_FULL },
        { "tls_handshakes_resumed", GH_EDGE_TLS_RESUMED },
        { "tls_handshakes_failed", GH_EDGE_TLS_FAILED },
        { "tls_handshakes_timeout", GH_EDGE_TLS_TIMEOUT },
        { "http2_sessions", GH_EDGE_H2_SESSIONS },
        { "http2_streams", GH_EDGE_H2_STREAMS },
        { "http2_streams_reset", GH_EDGE_H2_RESETS },
        { "http2_session_errors", GH_EDGE_H2_SESSION_ERRORS },
    };
    struct gh_bl_region *reg = gh_bl_region();
    json_t *limits = json_array(), *edge = json_object();
    int rc = 0;
    for (size_t i = 0; i < conf->nrate_limits; i++) {
        json_t *o = json_object();
        rc |= json_object_set_new(o, "name", gh_aj_text(conf->rate_limits[i].name));
        rc |= json_object_set_new(o, "rejected", gh_aj_u64(gh_ratelimit_rejected((int)i)));
        rc |= json_array_append_new(limits, o);
    }
    for (size_t k = 0; k < GH_ARRAY_LEN(counters); k++)
        rc |= json_object_set_new(edge, counters[k].name,
                                  gh_aj_u64(gh_edge_read(reg, counters[k].which)));
    uint32_t h2_sessions, h2_streams;
    gh_metrics_http2_open(&h2_sessions, &h2_streams);
    rc |= json_object_set_new(edge, "http2_open_sessions", gh_aj_u64(h2_sessions));
    rc |= json_object_set_new(edge, "http2_open_streams", gh_aj_u64(h2_streams));
    rc |= json_object_set_new(root, "rate_limits", limits);
    rc |= json_object_set_new(root, "edge", edge);
    return rc != 0 ? -1 : 0;
}

void gh_admin_edge_metrics(FILE *f, const struct gh_conf *conf)
{
    struct gh_bl_region *reg = gh_bl_region();
    fputs("# TYPE gatehouse_ratelimit_rejected_total counter\n", f);
    for (size_t i = 0; i < conf->nrate_limits; i++) {
        fputs("gatehouse_ratelimit_rejected_total{limit=\"", f);
        for (const char *s = conf->rate_limits[i].name; *s; s++) {
            if (*s == '"' || *s == '\\')
                fputc('\\', f);
            fputc(*s == '\n' ? ' ' : *s, f);
        }
        fprintf(f, "\"} %llu\n", (unsigned long long)gh_ratelimit_rejected((int)i));
    }
    fprintf(f, "# TYPE gatehouse_blacklist_rejected_total counter\n"
               "gatehouse_blacklist_rejected_total %llu\n"
               "# TYPE gatehouse_connlimit_rejected_total counter\n"
               "gatehouse_connlimit_rejected_total %llu\n"
               "# TYPE gatehouse_auto_bans_total counter\n"
               "gatehouse_auto_bans_total %llu\n"
               "# TYPE gatehouse_proxy_protocol_rejected_total counter\n"
               "gatehouse_proxy_protocol_rejected_total %llu\n"
               "# TYPE gatehouse_slow_clients_total counter\n"
               "gatehouse_slow_clients_total %llu\n",
            (unsigned long long)gh_edge_read(reg, GH_EDGE_BLACKLIST_REJECTED),
            (unsigned long long)gh_edge_read(reg, GH_EDGE_CONNLIMIT_REJECTED),
            (unsigned long long)gh_edge_read(reg, GH_EDGE_AUTO_BANS),
            (unsigned long long)gh_edge_read(reg, GH_EDGE_PROXY_REJECTED),
            (unsigned long long)gh_edge_read(reg, GH_EDGE_SLOW_CLIENTS));
    fprintf(f, "# HELP gatehouse_tls_handshakes_total TLS handshakes with clients, by result\n"
               "# TYPE gatehouse_tls_handshakes_total counter\n"
               "gatehouse_tls_handshakes_total{result=\"full\"} %llu\n"
               "gatehouse_tls_handshakes_total{result=\"resumed\"} %llu\n"
               "gatehouse_tls_handshakes_total{result=\"failed\"} %llu\n"
               "gatehouse_tls_handshakes_total{result=\"timeout\"} %llu\n",
            (unsigned long long)gh_edge_read(reg, GH_EDGE_TLS_FULL),
            (unsigned long long)gh_edge_read(reg, GH_EDGE_TLS_RESUMED),
            (unsigned long long)gh_edge_read(reg, GH_EDGE_TLS_FAILED),
            (unsigned long long)gh_edge_read(reg, GH_EDGE_TLS_TIMEOUT));
    static const struct {
        const char *name, *help;
        enum gh_edge_counter which;
    } h2[] = {
        { "sessions", "HTTP/2 sessions with clients", GH_EDGE_H2_SESSIONS },
        { "streams", "HTTP/2 streams that became requests", GH_EDGE_H2_STREAMS },
        { "streams_reset", "HTTP/2 streams we reset", GH_EDGE_H2_RESETS },
        { "session_errors", "HTTP/2 sessions ended by a protocol error or a flood",
          GH_EDGE_H2_SESSION_ERRORS },
    };
    for (size_t k = 0; k < GH_ARRAY_LEN(h2); k++)
        fprintf(f, "# HELP gatehouse_http2_%s_total %s\n# TYPE gatehouse_http2_%s_total counter\n"
                   "gatehouse_http2_%s_total %llu\n",
                h2[k].name, h2[k].help, h2[k].name, h2[k].name,
                (unsigned long long)gh_edge_read(reg, h2[k].which));
    fputs("# HELP gatehouse_cache_requests_total Requests on cache routes, by X-Cache\n"
          "# TYPE gatehouse_cache_requests_total counter\n", f);
    static const struct { const char *name; enum gh_edge_counter which; } cache[] = {
        { "HIT", GH_EDGE_CACHE_HIT }, { "MISS", GH_EDGE_CACHE_MISS },
        { "EXPIRED", GH_EDGE_CACHE_EXPIRED }, { "STALE", GH_EDGE_CACHE_STALE },
        { "BYPASS", GH_EDGE_CACHE_BYPASS },
    };
    for (size_t k = 0; k < GH_ARRAY_LEN(cache); k++)
        fprintf(f, "gatehouse_cache_requests_total{result=\"%s\"} %llu\n", cache[k].name,
                (unsigned long long)gh_edge_read(reg, cache[k].which));
    struct gh_tls_ocsp_stats os = { 0 };
    gh_tls_ocsp_stats(&os);
    fprintf(f, "# HELP gatehouse_tls_ocsp_staples_total OCSP responses stapled to handshakes\n"
               "# TYPE gatehouse_tls_ocsp_staples_total counter\n"
               "gatehouse_tls_ocsp_staples_total %llu\n"
               "# HELP gatehouse_tls_ocsp_fetches_total OCSP responses fetched, by result\n"
               "# TYPE gatehouse_tls_ocsp_fetches_total counter\n"
               "gatehouse_tls_ocsp_fetches_total{result=\"good\"} %llu\n"
               "gatehouse_tls_ocsp_fetches_total{result=\"failed\"} %llu\n",
            (unsigned long long)os.served, (unsigned long long)os.fetched,
            (unsigned long long)os.failures);
}
