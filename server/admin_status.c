/*
 * admin_status.c - what the admin API reads out of the shared state: the
 * status document (GET /status.json, and the dashboard rendered from it by
 * admin_html.c) and the upstream series of GET /metrics (see admin.h).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/time.h"
#include "server/admin.h"
#include "server/admin_cache.h"
#include "server/admin_edge.h"
#include "server/admin_html.h"
#include "server/admin_json.h"
#include "server/admin_rate.h"
#include "server/master.h"
#include "modules/metrics.h"

/* The label value escaping of the Prometheus text format. */
static void prom_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

struct srv_view {
    const char *state;                  /* "up", "down", "drained" */
    bool health_down, passive_down;
    struct gh_us_totals t;
};

static void view(struct gh_us_region *reg, const struct gh_conf_upstream *up,
                 const struct gh_conf_upstream_server *srv, struct srv_view *v)
{
    memset(v, 0, sizeof(*v));
    int slot = gh_us_find(reg, up->name, srv->addr.text);
    v->state = "up";
    if (slot < 0)
        return;
    struct gh_us_slot *st = gh_us_slot(reg, slot);
    gh_us_read(reg, slot, &v->t);
    v->health_down = atomic_load(&st->down) != 0;
    v->passive_down = atomic_load(&st->down_until) > gh_time_monotonic_ms();
    if (atomic_load(&st->drained))
        v->state = "drained";
    else if (v->health_down || v->passive_down)
        v->state = "down";
}

static const char *balance_name(int b)
{
    static const char *const names[] = { "round_robin", "least_conn", "ip_hash", "hash",
                                         "random2" };
    return b >= 0 && b < (int)GH_ARRAY_LEN(names) ? names[b] : "round_robin";
}

/* A number, or null when v < 0 (unknown), to the microsecond. */
static json_t *ms_or_null(double v)
{
    return v < 0 ? json_null() : json_real(round(v * 1000.0) / 1000.0);
}

/* The latency bucket counts, not cumulative; the last one is for samples
 * over the last bound (lat_count minus the others, never negative). */
static json_t *buckets_json(const struct gh_us_totals *t)
{
    json_t *a = json_array();
    uint64_t in = 0;
    int rc = 0;
    for (int b = 0; b < GH_US_LAT_BUCKETS; b++) {
        rc |= json_array_append_new(a, gh_aj_u64(t->lat_bucket[b]));
        in += t->lat_bucket[b];
    }
    rc |= json_array_append_new(a, gh_aj_u64(t->lat_count > in ? t->lat_count - in : 0));
    if (rc != 0) {
        json_decref(a);
        return NULL;
    }
    return a;
}

/* requests_per_s, errors_per_s and error_rate (errors over requests in the
 * window, at most 1; null without traffic), or nulls when unknown. */
static int rates_json(json_t *o, const struct gh_conf *conf, size_t u, size_t k,
                      const struct gh_us_totals *t)
{
    struct gh_rate rt;
    if (!gh_rate_get(conf, u, k, t, gh_time_monotonic_ms(), &rt)) {
        int rc = json_object_set_new(o, "requests_per_s", json_null());
        rc |= json_object_set_new(o, "errors_per_s", json_null());
        return rc | json_object_set_new(o, "error_rate", json_null());
    }
    double ratio = rt.errors_per_s > rt.requests_per_s ? 1.0
                   : rt.requests_per_s > 0 ? rt.errors_per_s / rt.requests_per_s : -1;
    int rc = json_object_set_new(o, "requests_per_s",
                                 json_real(round(rt.requests_per_s * 100.0) / 100.0));
    rc |= json_object_set_new(o, "errors_per_s", json_real(round(rt.errors_per_s * 100.0) / 100.0));
    return rc | json_object_set_new(o, "error_rate",
                                    ratio < 0 ? json_null()
                                              : json_real(round(ratio * 10000.0) / 10000.0));
}

static json_t *server_json(const struct gh_conf *conf, struct gh_us_region *reg, size_t u,
                           size_t k)
{
    const struct gh_conf_upstream *up = &conf->upstreams[u];
    const struct gh_conf_upstream_server *s = &up->servers[k];
    struct srv_view v;
    view(reg, up, s, &v);
    double avg = v.t.lat_count ? (double)v.t.lat_sum / (double)v.t.lat_count : 0.0;
    json_t *o = json_object();
    int rc = json_object_set_new(o, "address", gh_aj_text(s->addr.text));
    rc |= json_object_set_new(o, "state", json_string(v.state));
    rc |= json_object_set_new(o, "health", json_string(v.health_down ? "down" : "up"));
    rc |= json_object_set_new(o, "passive", json_string(v.passive_down ? "down" : "up"));
    rc |= json_object_set_new(o, "drained", json_boolean(strcmp(v.state, "drained") == 0));
    rc |= json_object_set_new(o, "backup", json_boolean(s->backup));
    rc |= json_object_set_new(o, "weight", json_integer(s->weight));
    rc |= json_object_set_new(o, "max_conns", json_integer(s->max_conns));
    rc |= json_object_set_new(o, "active", json_integer(v.t.active));
    rc |= json_object_set_new(o, "requests", gh_aj_u64(v.t.requests));
    rc |= json_object_set_new(o, "errors", gh_aj_u64(v.t.errors));
    /* To the microsecond, as before (the millisecond sum over a count). */
    rc |= json_object_set_new(o, "avg_latency_ms", json_real(round(avg * 1000.0) / 1000.0));
    rc |= json_object_set_new(o, "p50_ms", ms_or_null(gh_us_latency_quantile(&v.t, 0.5)));
    rc |= json_object_set_new(o, "p99_ms", ms_or_null(gh_us_latency_quantile(&v.t, 0.99)));
    rc |= json_object_set_new(o, "latency_buckets", buckets_json(&v.t));
    rc |= rates_json(o, conf, u, k, &v.t);
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *upstream_json(const struct gh_conf *conf, struct gh_us_region *reg, size_t u)
{
    const struct gh_conf_upstream *up = &conf->upstreams[u];
    json_t *o = json_object(), *servers = json_array();
    int rc = json_object_set_new(o, "name", gh_aj_text(up->name));
    rc |= json_object_set_new(o, "balance", json_string(balance_name(up->balance)));
    rc |= json_object_set_new(o, "health_checks", json_boolean(up->health.enabled));
    for (size_t k = 0; k < up->nservers && rc == 0; k++)
        rc |= json_array_append_new(servers, server_json(conf, reg, u, k));
    rc |= json_object_set_new(o, "servers", servers);
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *gh_admin_status_doc(const struct gh_conf *conf, struct gh_us_region *reg)
{
    json_t *root = json_object(), *ups = json_array(), *bounds = json_array();
    int rc = json_object_set_new(root, "pid", json_integer(getpid()));
    for (int b = 0; b < GH_US_LAT_BUCKETS; b++)
        rc |= json_array_append_new(bounds, json_integer(gh_us_lat_bound_ms[b]));
    rc |= json_object_set_new(root, "latency_bounds_ms", bounds);
    for (size_t u = 0; u < conf->nupstreams && rc == 0; u++)
        rc |= json_array_append_new(ups, upstream_json(conf, reg, u));
    rc |= json_object_set_new(root, "upstreams", ups);
    if (rc != 0 || gh_admin_edge_json(root, conf) != 0) {
        json_decref(root);
        return NULL;
    }
    return root;
}

char *gh_admin_status_json(const struct gh_conf *conf, struct gh_us_region *reg, size_t *len)
{
    return gh_aj_dump(gh_admin_status_doc(conf, reg), len);
}

char *gh_admin_status_page(const struct gh_conf *conf, struct gh_us_region *reg, size_t *len)
{
    json_t *doc = gh_admin_status_doc(conf, reg);
    if (doc == NULL)
        return NULL;
    char *html = gh_admin_html(doc, len);
    json_decref(doc);
    return html;
}

static void server_labels(FILE *f, const struct gh_conf_upstream *up,
                          const struct gh_conf_upstream_server *srv)
{
    fputs("{upstream=", f);
    prom_str(f, up->name);
    fputs(",server=", f);
    prom_str(f, srv->addr.text);
}

/* gatehouse_upstream_latency_seconds: a histogram of the time to the
 * upstream's response head, by server (its _sum and _count were counters
 * of their own before the buckets came, under the same names). */
static void latency_histogram(FILE *f, const struct gh_conf *conf, struct gh_us_region *reg)
{
    fputs("# HELP gatehouse_upstream_latency_seconds Time from sending a request to the "
          "upstream's response head, by server\n"
          "# TYPE gatehouse_upstream_latency_seconds histogram\n", f);
    for (size_t u = 0; u < conf->nupstreams; u++) {
        const struct gh_conf_upstream *up = &conf->upstreams[u];
        for (size_t k = 0; k < up->nservers; k++) {
            struct srv_view v;
            view(reg, up, &up->servers[k], &v);
            uint64_t cum = 0;
            for (int b = 0; b < GH_US_LAT_BUCKETS; b++) {
                cum += v.t.lat_bucket[b];
                fputs("gatehouse_upstream_latency_seconds_bucket", f);
                server_labels(f, up, &up->servers[k]);
                fprintf(f, ",le=\"%g\"} %llu\n", gh_us_lat_bound_ms[b] / 1000.0,
                        (unsigned long long)cum);
            }
            /* A sample is counted in its bucket and then in lat_count: a
             * read between the two must not make +Inf smaller than le=10. */
            uint64_t count = GH_MAX(cum, v.t.lat_count);
            fputs("gatehouse_upstream_latency_seconds_bucket", f);
            server_labels(f, up, &up->servers[k]);
            fprintf(f, ",le=\"+Inf\"} %llu\n", (unsigned long long)count);
            fputs("gatehouse_upstream_latency_seconds_sum", f);
            server_labels(f, up, &up->servers[k]);
            fprintf(f, "} %.3f\n", (double)v.t.lat_sum / 1000.0);
            fputs("gatehouse_upstream_latency_seconds_count", f);
            server_labels(f, up, &up->servers[k]);
            fprintf(f, "} %llu\n", (unsigned long long)count);
        }
    }
}

char *gh_admin_metrics(const struct gh_conf *conf, struct gh_us_region *reg, size_t *len)
{
    static const char *const names[] = {
        "gatehouse_upstream_up", "gatehouse_upstream_active_connections",
        "gatehouse_upstream_requests_total", "gatehouse_upstream_errors_total",
    };
    static const char *const help[] = {
        "gauge\n# HELP gatehouse_upstream_up 1 when the server takes new requests",
        "gauge", "counter", "counter",
    };
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f == NULL)
        return NULL;
    for (size_t m = 0; m < GH_ARRAY_LEN(names); m++) {
        fprintf(f, "# TYPE %s %s\n", names[m], help[m]);
        for (size_t u = 0; u < conf->nupstreams; u++) {
            const struct gh_conf_upstream *up = &conf->upstreams[u];
            for (size_t k = 0; k < up->nservers; k++) {
                struct srv_view v;
                view(reg, up, &up->servers[k], &v);
                fputs(names[m], f);
                server_labels(f, up, &up->servers[k]);
                switch (m) {
                case 0: fprintf(f, "} %d\n", strcmp(v.state, "up") == 0); break;
                case 1: fprintf(f, "} %lld\n", (long long)v.t.active); break;
                case 2: fprintf(f, "} %llu\n", (unsigned long long)v.t.requests); break;
                default: fprintf(f, "} %llu\n", (unsigned long long)v.t.errors); break;
                }
            }
        }
    }
    latency_histogram(f, conf, reg);
    gh_admin_edge_metrics(f, conf);
    gh_admin_cache_metrics(f);
    gh_metrics_write(f, conf);
    uint64_t reloads = 0, restarts = 0;
    gh_master_counters(&reloads, &restarts);
    fprintf(f, "# HELP gatehouse_reloads_total Configuration reloads (HUP) that succeeded\n"
               "# TYPE gatehouse_reloads_total counter\ngatehouse_reloads_total %llu\n"
               "# HELP gatehouse_worker_restarts_total Workers respawned after an unexpected "
               "death\n# TYPE gatehouse_worker_restarts_total counter\n"
               "gatehouse_worker_restarts_total %llu\n",
            (unsigned long long)reloads, (unsigned long long)restarts);
    return gh_admin_finish(f, &buf);
}
