/*
 * admin_edge.c - see admin_edge.h.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/time.h"
#include "modules/blacklist.h"
#include "modules/ratelimit.h"
#include "server/admin_edge.h"

bool gh_admin_blacklist_path(struct gh_str path)
{
    return gh_str_eq(path, GH_STR("/blacklist"))
           || (path.len > 11 && memcmp(path.p, "/blacklist/", 11) == 0);
}



/* The value of "name" in a flat JSON object: a string's contents (no
 * escapes allowed) or a bare number. 1 found, 0 absent, -1 malformed. */
static int json_field(struct gh_str body, const char *name, char *out, size_t size)
{
    char pat[32];
    int pl = snprintf(pat, sizeof(pat), "\"%s\"", name);
    const char *end = body.p + body.len;
    const char *p = memmem(body.p, body.len, pat, (size_t)pl);
    if (p == NULL)
        return 0;
    p += pl;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    if (p == end || *p++ != ':')
        return -1;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    size_t n = 0;
    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"'; p++) {
            if (*p == '\\' || n + 1 >= size)
                return -1;
            out[n++] = *p;
        }
        if (p == end)
            return -1;
    } else {
        for (; p < end && ((*p >= '0' && *p <= '9') || *p == '.'); p++) {
            if (n + 1 >= size)
                return -1;
            out[n++] = *p;
        }
        if (n == 0)
            return -1;
    }
    out[n] = '\0';
    return 1;
}

static int error(const char *msg, char **out, size_t *olen)
{
    *out = NULL;
    FILE *f = open_memstream(out, olen);
    if (f == NULL)
        return 500;
    fprintf(f, "{\"error\":\"%s\"}\n", msg);
    fclose(f);
    return 400;
}

static int list(char **out, size_t *olen)
{
    struct gh_bl_region *reg = gh_bl_region();
    struct gh_bl_entry *snap = malloc(sizeof(*snap) * GH_BL_CAPACITY);
    *out = NULL;
    if (snap == NULL)
        return 500;
    size_t n = reg ? gh_bl_snapshot(reg, snap, GH_BL_CAPACITY) : 0;
    int64_t now = gh_time_monotonic_ms();
    FILE *f = open_memstream(out, olen);
    if (f == NULL) {
        free(snap);
        return 500;
    }
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        char text[64];
        gh_acl_key_text(snap[i].key, snap[i].plen, text, sizeof(text));
        fprintf(f, "%s{\"cidr\":\"%s\",", i ? "," : "", text);
        if (snap[i].expires_ms == INT64_MAX)
            fputs("\"expires_in\":null}", f);
        else
            fprintf(f, "\"expires_in\":%.3f}", (double)(snap[i].expires_ms - now) / 1000.0);
    }
    fputs("]\n", f);
    fclose(f);
    free(snap);
    return 200;
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

int gh_admin_blacklist(struct gh_str method, struct gh_str path, struct gh_str body,
                       char **out, size_t *olen, const char **allow)
{
    struct gh_bl_region *reg = gh_bl_region();
    *out = NULL;
    *olen = 0;
    bool whole = gh_str_eq(path, GH_STR("/blacklist"));
    if (whole && gh_str_eq(method, GH_STR("GET")))
        return list(out, olen);
    if (reg == NULL)
        return 503;
    char cidr[128], ttl[64];
    uint8_t key[16];
    int plen;
    if (whole && gh_str_eq(method, GH_STR("POST"))) {
        if (json_field(body, "cidr", cidr, sizeof(cidr)) != 1)
            return error("a JSON body {\"cidr\": \"...\", \"ttl\": \"10m\"} is required", out, olen);
        if (parse_cidr(cidr, key, &plen) == -1)
            return error("invalid cidr", out, olen);
        int64_t ttl_ms = GH_BL_DEFAULT_TTL_MS;
        int t = json_field(body, "ttl", ttl, sizeof(ttl));
        gh_msec_t d;
        if (t == -1 || (t == 1 && gh_parse_duration(ttl, &d) == -1))
            return error("invalid ttl", out, olen);
        if (t == 1)
            ttl_ms = d == 0 ? INT64_MAX : d;
        gh_bl_add(reg, key, plen, ttl_ms);
        char text[64];
        gh_acl_key_text(key, plen, text, sizeof(text));
        gh_log_notice("admin: blacklisted %s for %s", text, t == 1 ? ttl : "1h");
        FILE *f = open_memstream(out, olen);
        if (f == NULL)
            return 500;
        fprintf(f, "{\"cidr\":\"%s\",\"ttl_ms\":%lld}\n", text,
                ttl_ms == INT64_MAX ? -1LL : (long long)ttl_ms);
        fclose(f);
        return 200;
    }
    if (whole) {
        *allow = "Allow: GET, POST\r\n";
        return 405;
    }
    if (!gh_str_eq(method, GH_STR("DELETE"))) {
        *allow = "Allow: DELETE\r\n";
        return 405;
    }
    if (gh_str_pct_decode(gh_str_make(path.p + 11, path.len - 11), cidr, sizeof(cidr)) == -1
        || parse_cidr(cidr, key, &plen) == -1)
        return error("invalid cidr", out, olen);
    if (gh_bl_remove(reg, key, plen) == -1)
        return 404;
    char text[64];
    gh_acl_key_text(key, plen, text, sizeof(text));
    gh_log_notice("admin: removed %s from the blacklist", text);
    FILE *f = open_memstream(out, olen);
    if (f == NULL)
        return 500;
    fprintf(f, "{\"removed\":\"%s\"}\n", text);
    fclose(f);
    return 200;
}

static void json_name(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
    fputc('"', f);
}

void gh_admin_edge_json(FILE *f, const struct gh_conf *conf)
{
    struct gh_bl_region *reg = gh_bl_region();
    fputs(",\"rate_limits\":[", f);
    for (size_t i = 0; i < conf->nrate_limits; i++) {
        fprintf(f, "%s{\"name\":", i ? "," : "");
        json_name(f, conf->rate_limits[i].name);
        fprintf(f, ",\"rejected\":%llu}", (unsigned long long)gh_ratelimit_rejected((int)i));
    }
    fputs("]", f);
    fprintf(f, ",\"edge\":{\"blacklist_rejected\":%llu,\"connlimit_rejected\":%llu,"
               "\"auto_bans\":%llu,\"proxy_protocol_rejected\":%llu,\"slow_clients\":%llu}",
            (unsigned long long)gh_edge_read(reg, GH_EDGE_BLACKLIST_REJECTED),
            (unsigned long long)gh_edge_read(reg, GH_EDGE_CONNLIMIT_REJECTED),
            (unsigned long long)gh_edge_read(reg, GH_EDGE_AUTO_BANS),
            (unsigned long long)gh_edge_read(reg, GH_EDGE_PROXY_REJECTED),
            (unsigned long long)gh_edge_read(reg, GH_EDGE_SLOW_CLIENTS));
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
}
