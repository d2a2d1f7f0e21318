/*
 * admin_cache.c - see admin_cache.h.
 *
 * A purge scans the object table (gh_cache_purge), one stripe lock at a
 * time: it runs in the helper, so the workers' request path only ever
 * waits for one stripe's check of one object.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "modules/blacklist.h"
#include "modules/cache.h"
#include "modules/cache_purge.h"
#include "modules/cache_store.h"
#include "server/admin_cache.h"

/* The longest name a purge builds: no stored key is longer (cache.c's
 * KEY_MAX is 8 KB, and the admin request is at most 8 KB). */
#define PURGE_NAME_MAX 8192

static const struct gh_aj_field purge_fields[] = {
    { "url", GH_AJ_STRING, GH_AJ_ONE_OF },
    { "prefix", GH_AJ_STRING, GH_AJ_ONE_OF },
};

bool gh_admin_cache_path(struct gh_str path)
{
    return gh_str_eq(path, GH_STR("/cache")) || (path.len > 7 && memcmp(path.p, "/cache/", 7) == 0);
}

static const struct {
    const char *name;
    enum gh_edge_counter which;
} results[] = {
    { "hit", GH_EDGE_CACHE_HIT },       { "miss", GH_EDGE_CACHE_MISS },
    { "expired", GH_EDGE_CACHE_EXPIRED }, { "stale", GH_EDGE_CACHE_STALE },
    { "bypass", GH_EDGE_CACHE_BYPASS },
};

static int stats(const struct gh_conf *conf, struct gh_admin_reply *r)
{
    bool on;
    struct gh_cache_store *cs = gh_cache_admin_store(&on);
    json_t *o = json_object();
    int rc = json_object_set_new(o, "enabled", json_boolean(on && cs != NULL));
    if (on && cs != NULL) {
        struct gh_cache_stats st;
        struct gh_bl_region *reg = gh_bl_region();
        gh_cache_store_stats(cs, &st);
        rc |= json_object_set_new(o, "size", gh_aj_u64(st.size));
        rc |= json_object_set_new(o, "max_object_size", gh_aj_u64(conf->cache.max_object_size));
        rc |= json_object_set_new(o, "block_size", gh_aj_u64(st.block_size));
        rc |= json_object_set_new(o, "objects", gh_aj_u64(st.objects));
        rc |= json_object_set_new(o, "bytes", gh_aj_u64(st.bytes));
        rc |= json_object_set_new(o, "blocks_used", gh_aj_u64(st.blocks_used));
        rc |= json_object_set_new(o, "blocks_total", gh_aj_u64(st.blocks_total));
        rc |= json_object_set_new(o, "inserts", gh_aj_u64(st.inserts));
        rc |= json_object_set_new(o, "evictions", gh_aj_u64(st.evictions));
        rc |= json_object_set_new(o, "recoveries", gh_aj_u64(st.recoveries));
        rc |= json_object_set_new(o, "purged", gh_aj_u64(gh_edge_read(reg, GH_EDGE_CACHE_PURGED)));
        json_t *req = json_object();
        for (size_t k = 0; k < GH_ARRAY_LEN(results); k++)
            rc |= json_object_set_new(req, results[k].name,
                                      gh_aj_u64(gh_edge_read(reg, results[k].which)));
        rc |= json_object_set_new(o, "requests", req);
    }
    if (rc != 0) {
        json_decref(o);
        o = NULL;
    }
    return gh_admin_ok(r, o);
}

static int purge(struct gh_str body, struct gh_admin_reply *r)
{
    json_t *o = gh_aj_parse(body, purge_fields, GH_ARRAY_LEN(purge_fields), r->reason);
    if (o == NULL)
        return gh_admin_fail(r, 400, NULL);
    json_t *u = json_object_get(o, "url");
    bool prefix = u == NULL;
    if (prefix)
        u = json_object_get(o, "prefix");
    const char *why = NULL;
    char *name = malloc(PURGE_NAME_MAX);
    ssize_t n = name == NULL ? -1
                             : gh_cache_purge_name(json_string_value(u), json_string_length(u),
                                                   prefix, name, PURGE_NAME_MAX, &why);
    if (n < 0) {
        json_decref(o);
        free(name);
        if (why == NULL)
            return gh_admin_ok(r, NULL);        /* out of memory: the connection closes */
        return gh_admin_fail(r, 400, "invalid %s: %s", prefix ? "prefix" : "url", why);
    }
    json_decref(o);
    /* With cache.size = 0 after a reload, the kept region is purged too: a
     * reload back on must not serve what was purged while it was off. */
    bool on;
    struct gh_cache_store *cs = gh_cache_admin_store(&on);
    uint64_t purged = cs != NULL ? gh_cache_purge(cs, name, (size_t)n, prefix) : 0;
    gh_edge_add(gh_bl_region(), -1, GH_EDGE_CACHE_PURGED, purged);
    gh_log_notice("admin: cache purge of %s \"%.*s\": %llu object%s", prefix ? "prefix" : "key",
                  (int)GH_MIN(n, 512), name, (unsigned long long)purged, purged == 1 ? "" : "s");
    json_t *out = json_object();
    int rc = json_object_set_new(out, "purged", gh_aj_u64(purged));
    rc |= json_object_set_new(out, prefix ? "prefix" : "key", json_stringn(name, (size_t)n));
    if (!on || cs == NULL)
        rc |= json_object_set_new(out, "enabled", json_false());
    free(name);
    if (rc != 0) {
        json_decref(out);
        out = NULL;
    }
    return gh_admin_ok(r, out);
}

int gh_admin_cache(const struct gh_conf *conf, struct gh_str method, struct gh_str path,
                   struct gh_str body, struct gh_admin_reply *r)
{
    if (gh_str_eq(path, GH_STR("/cache"))) {
        if (!gh_str_eq(method, GH_STR("GET"))) {
            r->allow = "Allow: GET\r\n";
            return gh_admin_fail(r, 405, NULL);
        }
        return stats(conf, r);
    }
    if (!gh_str_eq(path, GH_STR("/cache/purge")))
        return gh_admin_fail(r, 404, "the cache's calls are GET /cache and POST /cache/purge");
    if (!gh_str_eq(method, GH_STR("POST"))) {
        r->allow = "Allow: POST\r\n";
        return gh_admin_fail(r, 405, NULL);
    }
    return purge(body, r);
}

void gh_admin_cache_metrics(FILE *f)
{
    bool on;
    struct gh_cache_store *cs = gh_cache_admin_store(&on);
    struct gh_cache_stats st = { 0 };
    if (cs != NULL)
        gh_cache_store_stats(cs, &st);
    fprintf(f, "# HELP gatehouse_cache_objects Objects in the cache store\n"
               "# TYPE gatehouse_cache_objects gauge\ngatehouse_cache_objects %llu\n"
               "# HELP gatehouse_cache_bytes Bytes of the stored objects (keys, heads, bodies)\n"
               "# TYPE gatehouse_cache_bytes gauge\ngatehouse_cache_bytes %llu\n"
               "# HELP gatehouse_cache_size_bytes The cache store's size (cache.size)\n"
               "# TYPE gatehouse_cache_size_bytes gauge\ngatehouse_cache_size_bytes %llu\n"
               "# HELP gatehouse_cache_inserts_total Objects started in the cache store\n"
               "# TYPE gatehouse_cache_inserts_total counter\ngatehouse_cache_inserts_total %llu\n"
               "# HELP gatehouse_cache_evictions_total Objects evicted to make room (LRU)\n"
               "# TYPE gatehouse_cache_evictions_total counter\n"
               "gatehouse_cache_evictions_total %llu\n"
               "# HELP gatehouse_cache_purged_total Objects dropped by POST /cache/purge\n"
               "# TYPE gatehouse_cache_purged_total counter\ngatehouse_cache_purged_total %llu\n",
            (unsigned long long)st.objects, (unsigned long long)st.bytes,
            (unsigned long long)st.size, (unsigned long long)st.inserts,
            (unsigned long long)st.evictions,
            (unsigned long long)gh_edge_read(gh_bl_region(), GH_EDGE_CACHE_PURGED));
}
