/*
 * metrics.c - request counters, the duration histogram and the connection
 * gauges (see metrics.h).
 *
 * A series is keyed by a label id (a hash of the server's first name and
 * the route as written, so keys keep their meaning across reloads and
 * upgrades) and the status code. Each process has an open-addressing table
 * of series in its own slot; it is the only writer, so a request costs a
 * probe and two plain stores. A table that is full counts the request in
 * `dropped` (gatehouse_metrics_dropped_total) rather than evicting.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/time.h"
#include "modules/metrics.h"
#include "server/request.h"

#define MX_REGION "request_metrics"
#define MX_LAYOUT 2u                      /* 2: open HTTP/2 sessions and streams */
#define MX_MAGIC 0x584d4847u            /* "GHMX" */
#define MX_SERIES 512                   /* per process: (server, route, code) triples */
#define MX_RETIRED 4096
#define MX_HISTS 64                     /* servers with a histogram, per process */
#define MX_NBUCKETS 11                  /* finite buckets; +Inf is the count */
#define MX_PROBES 32
#define CODE_BITS 10

static const gh_msec_t bucket_ms[MX_NBUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
};
static const char *const bucket_le[MX_NBUCKETS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};

enum { CONN_READING, CONN_WRITING, CONN_IDLE, CONN_TUNNEL, CONN_NSTATES };
static const char *const conn_state[CONN_NSTATES] = { "reading", "writing", "idle", "tunnel" };

struct mx_series {
    _Atomic uint64_t key;               /* label id | code; 0 = free */
    _Atomic uint64_t count;
};

struct mx_hist {
    _Atomic uint64_t key;               /* the server's label id; 0 = free */
    _Atomic uint64_t bucket[MX_NBUCKETS];       /* not cumulative: the first that fits */
    _Atomic uint64_t count, sum_ms;
};

struct mx_proc {
    struct mx_series series[MX_SERIES];
    struct mx_hist hists[MX_HISTS];
    _Atomic uint32_t conns[CONN_NSTATES];
    _Atomic uint32_t h2_sessions, h2_streams;     /* open, published with conns */
    _Atomic uint64_t dropped;
};

struct mx_region {
    uint32_t magic;
    _Atomic uint32_t fold_seq;          /* odd while a dead process is folded */
    _Atomic uint64_t retired_dropped;
    struct mx_series retired[MX_RETIRED];
    struct mx_hist retired_hists[MX_HISTS];
    struct mx_proc procs[GH_SHM_MAX_PROCS];
};

static struct mx_region *region;

/* ---- the worker's side -------------------------------------------------- */

static struct {
    struct mx_proc *me;
    const struct gh_conf *conf;
    uint64_t **route_ids;               /* [server][route], [server][nroutes] = no route */
    uint64_t *server_ids;
    uint64_t none_id;                   /* no server matched */
} W;

uint64_t gh_metrics_label_id(const char *server, const char *route)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = server; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;  /* a byte no name has: "a" + "b/" != "ab" + "/" */
    for (const char *p = route; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    return (h << CODE_BITS) | (UINT64_C(1) << 63);  /* never 0; the low bits take the code */
}

static size_t probe_start(uint64_t key, size_t cap)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 40) & (cap - 1);
}

/* The series of key in t (cap a power of two), inserted when absent; NULL
 * when the probes found no room. Single writer per table. */
static _Atomic uint64_t *series_count(struct mx_series *t, size_t cap, uint64_t key)
{
    size_t i = probe_start(key, cap);
    for (int n = 0; n < MX_PROBES; n++, i = (i + 1) & (cap - 1)) {
        uint64_t k = atomic_load_explicit(&t[i].key, memory_order_relaxed);
        if (k == key)
            return &t[i].count;
        if (k == 0) {
            atomic_store_explicit(&t[i].key, key, memory_order_release);
            return &t[i].count;
        }
    }
    return NULL;
}

static struct mx_hist *hist_of(struct mx_hist *t, uint64_t key)
{
    size_t i = probe_start(key, MX_HISTS);
    for (int n = 0; n < MX_HISTS; n++, i = (i + 1) & (MX_HISTS - 1)) {
        uint64_t k = atomic_load_explicit(&t[i].key, memory_order_relaxed);
        if (k == key)
            return &t[i];
        if (k == 0) {
            atomic_store_explicit(&t[i].key, key, memory_order_release);
            return &t[i];
        }
    }
    return NULL;
}

/* Only this process writes these: a load and a store, not an atomic add. */
static inline void bump(_Atomic uint64_t *c, uint64_t by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

static enum gh_verdict record(struct gh_req *r)
{
    struct mx_proc *me = W.me;
    if (me == NULL || r->status < 100 || r->status > 999)
        return GH_CONTINUE;
    const struct gh_conf_vserver *vs = r->match.vserver;
    uint64_t id = W.none_id, server = W.none_id;
    if (vs != NULL && W.conf == r->conf) {
        size_t s = (size_t)(vs - r->conf->servers);
        const struct gh_conf_route *rt = r->match.route;
        size_t ri = rt != NULL ? (size_t)(rt - vs->routes) : vs->nroutes;
        id = W.route_ids[s][ri];
        server = W.server_ids[s];
    }
    _Atomic uint64_t *c = series_count(me->series, MX_SERIES, id | (uint64_t)r->status);
    if (c != NULL)
        bump(c, 1);
    else
        bump(&me->dropped, 1);
    struct mx_hist *h = hist_of(me->hists, server);
    if (h != NULL) {
        gh_msec_t ms = gh_now_ms - r->start;
        if (ms < 0)
            ms = 0;
        for (int b = 0; b < MX_NBUCKETS; b++) {
            if (ms <= bucket_ms[b]) {
                bump(&h->bucket[b], 1);
                break;
            }
        }
        bump(&h->count, 1);
        bump(&h->sum_ms, (uint64_t)ms);
    }
    return GH_CONTINUE;
}

void gh_metrics_set_connections(uint32_t reading, uint32_t writing, uint32_t idle,
                                uint32_t tunnel)
{
    if (W.me == NULL)
        return;
    atomic_store_explicit(&W.me->conns[CONN_READING], reading, memory_order_relaxed);
    atomic_store_explicit(&W.me->conns[CONN_WRITING], writing, memory_order_relaxed);
    atomic_store_explicit(&W.me->conns[CONN_IDLE], idle, memory_order_relaxed);
    atomic_store_explicit(&W.me->conns[CONN_TUNNEL], tunnel, memory_order_relaxed);
}

void gh_metrics_set_http2(uint32_t sessions, uint32_t streams)
{
    if (W.me == NULL)
        return;
    atomic_store_explicit(&W.me->h2_sessions, sessions, memory_order_relaxed);
    atomic_store_explicit(&W.me->h2_streams, streams, memory_order_relaxed);
}

void gh_metrics_http2_open(uint32_t *sessions, uint32_t *streams)
{
    *sessions = *streams = 0;
    if (region == NULL)
        return;
    for (size_t p = 0; p < GH_SHM_MAX_PROCS; p++) {
        *sessions += atomic_load_explicit(&region->procs[p].h2_sessions, memory_order_relaxed);
        *streams += atomic_load_explicit(&region->procs[p].h2_streams, memory_order_relaxed);
    }
}

static void metrics_worker_exit(void)
{
    if (W.route_ids != NULL && W.conf != NULL)
        for (size_t s = 0; s < W.conf->nservers; s++)
            free(W.route_ids[s]);
    free(W.route_ids);
    free(W.server_ids);
    memset(&W, 0, sizeof(W));
}

static int metrics_worker_init(const struct gh_worker_env *env)
{
    memset(&W, 0, sizeof(W));
    if (region == NULL)
        return 0;                       /* no region: nothing recorded */
    struct gh_shm_proc *p = gh_shm_proc_find(env->shm, env->pid);
    if (p == NULL)
        return 0;
    const struct gh_conf *conf = env->conf;
    W.conf = conf;
    W.none_id = gh_metrics_label_id("", "");
    W.route_ids = calloc(conf->nservers + 1, sizeof(*W.route_ids));
    W.server_ids = calloc(conf->nservers + 1, sizeof(*W.server_ids));
    if (W.route_ids == NULL || W.server_ids == NULL) {
        metrics_worker_exit();
        return -1;
    }
    for (size_t s = 0; s < conf->nservers; s++) {
        const struct gh_conf_vserver *vs = &conf->servers[s];
        const char *name = vs->nnames > 0 ? vs->names[0] : "";
        W.route_ids[s] = calloc(vs->nroutes + 1, sizeof(uint64_t));
        if (W.route_ids[s] == NULL) {
            metrics_worker_exit();
            return -1;
        }
        for (size_t i = 0; i < vs->nroutes; i++)
            W.route_ids[s][i] = gh_metrics_label_id(name, vs->routes[i].path_spec);
        W.route_ids[s][vs->nroutes] = gh_metrics_label_id(name, "");
        W.server_ids[s] = gh_metrics_label_id(name, "");
    }
    W.me = &region->procs[p - env->shm->hdr->procs];
    return 0;
}

struct gh_module gh_module_metrics = {
    .name = "metrics",
    .worker_init = metrics_worker_init,
    .worker_exit = metrics_worker_exit,
    .phase = { [GH_PHASE_LOG] = record },
};

/* ---- the master's side -------------------------------------------------- */

void gh_metrics_reserve(struct gh_shm *shm)
{
    bool fresh;
    struct mx_region *reg = gh_shm_region(shm, MX_REGION, MX_LAYOUT, sizeof(*reg), &fresh);
    if (reg == NULL) {
        gh_log_warn("no room for the request metrics in the shared segment");
        return;
    }
    if (fresh || reg->magic != MX_MAGIC) {
        memset(reg, 0, sizeof(*reg));
        reg->magic = MX_MAGIC;
    }
    region = reg;
}

static void fold_hist(struct mx_hist *into, struct mx_hist *from)
{
    for (int b = 0; b < MX_NBUCKETS; b++)
        bump(&into->bucket[b], atomic_load(&from->bucket[b]));
    bump(&into->count, atomic_load(&from->count));
    bump(&into->sum_ms, atomic_load(&from->sum_ms));
}

void gh_metrics_proc_exit(struct gh_shm *shm, pid_t pid)
{
    struct gh_shm_proc *p = gh_shm_proc_find(shm, pid);
    if (p == NULL || region == NULL)
        return;
    struct mx_proc *dead = &region->procs[p - shm->hdr->procs];
    uint32_t seq = atomic_load(&region->fold_seq);
    atomic_store(&region->fold_seq, seq | 1u);
    for (size_t i = 0; i < MX_SERIES; i++) {
        uint64_t key = atomic_load(&dead->series[i].key);
        if (key == 0)
            continue;
        _Atomic uint64_t *c = series_count(region->retired, MX_RETIRED, key);
        uint64_t n = atomic_load(&dead->series[i].count);
        if (c != NULL)
            bump(c, n);
        else
            bump(&region->retired_dropped, n);
    }
    for (size_t i = 0; i < MX_HISTS; i++) {
        uint64_t key = atomic_load(&dead->hists[i].key);
        struct mx_hist *h = key != 0 ? hist_of(region->retired_hists, key) : NULL;
        if (h != NULL)
            fold_hist(h, &dead->hists[i]);
    }
    bump(&region->retired_dropped, atomic_load(&dead->dropped));
    memset(dead, 0, sizeof(*dead));
    atomic_store(&region->fold_seq, (seq | 1u) + 1);
}

/* ---- the helper's side: exposition --------------------------------------- */

struct label { uint64_t id; const char *server, *route; };

static void put_label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s == '\n' ? ' ' : *s, f);
    }
}

/* Sum key over every process slot and the retired table. */
static uint64_t sum_series(uint64_t key)
{
    uint64_t n = 0;
    _Atomic uint64_t *c;
    for (size_t p = 0; p < GH_SHM_MAX_PROCS; p++) {
        struct mx_series *t = region->procs[p].series;
        size_t i = probe_start(key, MX_SERIES);
        for (int k = 0; k < MX_PROBES; k++, i = (i + 1) & (MX_SERIES - 1)) {
            uint64_t got = atomic_load_explicit(&t[i].key, memory_order_acquire);
            if (got == key) {
                n += atomic_load_explicit(&t[i].count, memory_order_relaxed);
                break;
            }
            if (got == 0)
                break;
        }
    }
    size_t i = probe_start(key, MX_RETIRED);
    for (int k = 0; k < MX_PROBES; k++, i = (i + 1) & (MX_RETIRED - 1)) {
        c = &region->retired[i].count;
        uint64_t got = atomic_load_explicit(&region->retired[i].key, memory_order_acquire);
        if (got == key) {
            n += atomic_load_explicit(c, memory_order_relaxed);
            break;
        }
        if (got == 0)
            break;
    }
    return n;
}

static void sum_hist(uint64_t key, struct mx_hist *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t p = 0; p <= GH_SHM_MAX_PROCS; p++) {
        struct mx_hist *t = p < GH_SHM_MAX_PROCS ? region->procs[p].hists : region->retired_hists;
        for (size_t i = 0; i < MX_HISTS; i++)
            if (atomic_load_explicit(&t[i].key, memory_order_acquire) == key)
                fold_hist(out, &t[i]);
    }
}

/* Every (label, code) pair seen in any table, for the labels of conf. */
static bool seen_code(uint64_t key)
{
    return sum_series(key) > 0;
}

static void write_requests(FILE *f, const struct label *labels, size_t nlabels)
{
    fputs("# HELP gatehouse_requests_total Requests answered, by server, route and status\n"
          "# TYPE gatehouse_requests_total counter\n", f);
    /* The codes present: collected from every table (at most a few dozen). */
    uint16_t codes[1024];
    size_t ncodes = 0;
    bool have[1 << CODE_BITS] = { false };
    for (size_t p = 0; p <= GH_SHM_MAX_PROCS; p++) {
        struct mx_series *t = p < GH_SHM_MAX_PROCS ? region->procs[p].series : region->retired;
        size_t cap = p < GH_SHM_MAX_PROCS ? MX_SERIES : MX_RETIRED;
        for (size_t i = 0; i < cap; i++) {
            uint64_t k = atomic_load_explicit(&t[i].key, memory_order_relaxed);
            unsigned code = (unsigned)(k & ((1u << CODE_BITS) - 1));
            if (k != 0 && !have[code]) {
                have[code] = true;
                codes[ncodes++] = (uint16_t)code;
            }
        }
    }
    for (size_t l = 0; l < nlabels; l++) {
        for (size_t c = 0; c < ncodes; c++) {
            uint64_t key = labels[l].id | codes[c];
            if (!seen_code(key))
                continue;
            fputs("gatehouse_requests_total{server=\"", f);
            put_label(f, labels[l].server);
            fputs("\",route=\"", f);
            put_label(f, labels[l].route);
            fprintf(f, "\",code=\"%u\"} %llu\n", codes[c], (unsigned long long)sum_series(key));
        }
    }
}

static void write_durations(FILE *f, const struct gh_conf *conf)
{
    fputs("# HELP gatehouse_request_duration_seconds Time from the first byte of the request "
          "to its log line, by server\n"
          "# TYPE gatehouse_request_duration_seconds histogram\n", f);
    for (size_t s = 0; s <= conf->nservers; s++) {
        const char *name = s < conf->nservers && conf->servers[s].nnames > 0
                               ? conf->servers[s].names[0] : "";
        if (s == conf->nservers)
            name = "";
        struct mx_hist h;
        sum_hist(gh_metrics_label_id(name, ""), &h);
        if (h.count == 0 && s == conf->nservers)
            continue;                   /* requests that matched no server: only when seen */
        uint64_t cum = 0;
        for (int b = 0; b < MX_NBUCKETS; b++) {
            cum += h.bucket[b];
            fputs("gatehouse_request_duration_seconds_bucket{server=\"", f);
            put_label(f, name);
            fprintf(f, "\",le=\"%s\"} %llu\n", bucket_le[b], (unsigned long long)cum);
        }
        fputs("gatehouse_request_duration_seconds_bucket{server=\"", f);
        put_label(f, name);
        fprintf(f, "\",le=\"+Inf\"} %llu\n", (unsigned long long)h.count);
        fputs("gatehouse_request_duration_seconds_sum{server=\"", f);
        put_label(f, name);
        fprintf(f, "\"} %.3f\n", (double)h.sum_ms / 1000.0);
        fputs("gatehouse_request_duration_seconds_count{server=\"", f);
        put_label(f, name);
        fprintf(f, "\"} %llu\n", (unsigned long long)h.count);
    }
}

void gh_metrics_write(FILE *f, const struct gh_conf *conf)
{
    if (region == NULL)
        return;
    size_t nlabels = 1;
    for (size_t s = 0; s < conf->nservers; s++)
        nlabels += conf->servers[s].nroutes + 1;
    struct label *labels = calloc(nlabels, sizeof(*labels));
    if (labels == NULL)
        return;
    size_t n = 0;
    for (size_t s = 0; s < conf->nservers; s++) {
        const struct gh_conf_vserver *vs = &conf->servers[s];
        const char *name = vs->nnames > 0 ? vs->names[0] : "";
        for (size_t i = 0; i <= vs->nroutes; i++) {
            const char *route = i < vs->nroutes ? vs->routes[i].path_spec : "";
            labels[n++] = (struct label){ gh_metrics_label_id(name, route), name, route };
        }
    }
    labels[n++] = (struct label){ gh_metrics_label_id("", ""), "", "" };

    /* A fold in progress moves counts between tables: read again after it. */
    char *text = NULL;
    size_t len = 0;
    for (int tries = 0; tries < 16; tries++) {
        uint32_t seq = atomic_load(&region->fold_seq);
        if (seq & 1u) {
            struct timespec ts = { 0, 1000000 };      /* the master is folding: 1 ms */
            nanosleep(&ts, NULL);
            continue;
        }
        FILE *m = open_memstream(&text, &len);
        if (m == NULL)
            break;
        write_requests(m, labels, n);
        write_durations(m, conf);
        uint64_t dropped = atomic_load(&region->retired_dropped);
        uint32_t conns[CONN_NSTATES] = { 0 };
        for (size_t p = 0; p < GH_SHM_MAX_PROCS; p++) {
            dropped += atomic_load_explicit(&region->procs[p].dropped, memory_order_relaxed);
            for (int k = 0; k < CONN_NSTATES; k++)
                conns[k] += atomic_load_explicit(&region->procs[p].conns[k],
                                                 memory_order_relaxed);
        }
        fputs("# HELP gatehouse_connections Client connections by state (each worker's, "
              "refreshed every second)\n# TYPE gatehouse_connections gauge\n", m);
        for (int k = 0; k < CONN_NSTATES; k++)
            fprintf(m, "gatehouse_connections{state=\"%s\"} %u\n", conn_state[k], conns[k]);
        uint32_t h2s, h2r;
        gh_metrics_http2_open(&h2s, &h2r);
        fprintf(m, "# HELP gatehouse_http2_open_sessions HTTP/2 client sessions open (each "
                   "worker's, refreshed every second)\n# TYPE gatehouse_http2_open_sessions gauge\n"
                   "gatehouse_http2_open_sessions %u\n"
                   "# HELP gatehouse_http2_open_streams HTTP/2 streams open (each worker's, "
                   "refreshed every second)\n# TYPE gatehouse_http2_open_streams gauge\n"
                   "gatehouse_http2_open_streams %u\n", h2s, h2r);
        fprintf(m, "# HELP gatehouse_metrics_dropped_total Requests not counted in "
                   "gatehouse_requests_total (a table was full)\n"
                   "# TYPE gatehouse_metrics_dropped_total counter\n"
                   "gatehouse_metrics_dropped_total %llu\n", (unsigned long long)dropped);
        fclose(m);
        if (atomic_load(&region->fold_seq) == seq)
            break;
        free(text);
        text = NULL;
    }
    if (text != NULL)
        fputs(text, f);
    free(text);
    free(labels);
}
