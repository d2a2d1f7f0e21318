/*
 * upstream_state.c - the shared table of upstream server slots (see
 * upstream_state.h for the layout and who writes what).
 */
#include <string.h>

#include "common/lock.h"
#include "common/log.h"
#include "modules/upstream_state.h"

#define US_MAGIC 0x53555047u            /* "GPUS" */
#define READ_RETRIES 1000

static struct gh_us_region *g_region;

const uint32_t gh_us_lat_bound_ms[GH_US_LAT_BUCKETS] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000,
};

size_t gh_us_size(uint32_t capacity)
{
    size_t head = (sizeof(struct gh_us_region) + 63) & ~(size_t)63;
    return head + (size_t)capacity * sizeof(struct gh_us_slot)
           + (size_t)GH_US_NPROCS * capacity * sizeof(struct gh_us_pctr);
}

int gh_us_init(struct gh_us_region *reg, uint32_t capacity)
{
    memset(reg, 0, gh_us_size(capacity));
    reg->capacity = capacity;
    if (gh_mutex_init_shared(&reg->lock) == -1)
        return -1;
    reg->magic = US_MAGIC;
    return 0;
}

/* "upstream\0address\0" into key; its length, or 0 when it does not fit. */
static size_t make_key(char key[GH_US_KEY_LEN], const char *upstream, const char *addr)
{
    size_t lu = strlen(upstream), la = strlen(addr);
    if (lu + la + 2 > GH_US_KEY_LEN)
        return 0;
    memcpy(key, upstream, lu + 1);
    memcpy(key + lu + 1, addr, la + 1);
    return lu + la + 2;
}

static int find_key(struct gh_us_region *reg, const char *key, size_t len)
{
    struct gh_us_slot *slots = gh_us_slots(reg);
    for (uint32_t i = 0; i < reg->capacity; i++) {
        struct gh_us_slot *s = &slots[i];
        if (atomic_load_explicit(&s->used, memory_order_acquire) && s->key_len == len
            && memcmp(s->key, key, len) == 0)
            return (int)i;
    }
    return -1;
}

int gh_us_find(struct gh_us_region *reg, const char *upstream, const char *addr)
{
    char key[GH_US_KEY_LEN];
    size_t len = make_key(key, upstream, addr);
    if (reg == NULL || len == 0)
        return -1;
    return find_key(reg, key, len);
}

/* Reset slot i for a new key (region lock held: no syscalls). */
static void slot_reset(struct gh_us_region *reg, int i, const char *key, size_t len)
{
    struct gh_us_slot *s = gh_us_slot(reg, i);
    atomic_store(&s->used, 0);
    atomic_store(&s->down, 0);
    atomic_store(&s->hc_ok, 0);
    atomic_store(&s->hc_fail, 0);
    atomic_store(&s->drained, 0);
    atomic_store(&s->fails, 0);
    atomic_store(&s->active, 0);
    atomic_store(&s->fail_window, 0);
    atomic_store(&s->down_until, 0);
    atomic_store(&s->up_since, 0);
    atomic_store(&s->retired_requests, 0);
    atomic_store(&s->retired_errors, 0);
    atomic_store(&s->retired_lat_sum, 0);
    atomic_store(&s->retired_lat_count, 0);
    for (int b = 0; b < GH_US_LAT_BUCKETS; b++)
        atomic_store(&s->retired_lat_bucket[b], 0);
    for (int p = 0; p < GH_US_NPROCS; p++) {
        struct gh_us_pctr *c = gh_us_pctr(reg, p, i);
        atomic_store(&c->active, 0);
        atomic_store(&c->requests, 0);
        atomic_store(&c->errors, 0);
        atomic_store(&c->lat_sum, 0);
        atomic_store(&c->lat_count, 0);
        for (int b = 0; b < GH_US_LAT_BUCKETS; b++)
            atomic_store(&c->lat_bucket[b], 0);
    }
    memcpy(s->key, key, len);
    s->key_len = (uint32_t)len;
    atomic_store_explicit(&s->used, 1, memory_order_release);
}

/* A slot for a new key: a free one, else one no recent generation names
 * and nobody uses. -1 when none. Lock held. */
static int slot_alloc(struct gh_us_region *reg, uint32_t generation)
{
    struct gh_us_slot *slots = gh_us_slots(reg);
    for (uint32_t i = 0; i < reg->capacity; i++)
        if (!atomic_load(&slots[i].used))
            return (int)i;
    for (uint32_t i = 0; i < reg->capacity; i++) {
        uint32_t last = atomic_load(&slots[i].last_gen);
        if (last + 2 < generation && atomic_load(&slots[i].active) == 0)
            return (int)i;
    }
    return -1;
}

int gh_us_map_conf(struct gh_us_region *reg, const struct gh_conf *conf, uint32_t generation)
{
    int missing = 0;
    char key[GH_US_KEY_LEN];
    int rc = gh_mutex_lock(&reg->lock);
    if (rc == -1)
        return -1;
    if (rc == GH_LOCK_RECOVERED) {
        /* The master died mid-allocation (only it allocates): a slot being
         * reset is marked unused until its key is in place, so the table
         * is consistent as it stands. */
        gh_mutex_consistent(&reg->lock);
    }
    for (size_t u = 0; u < conf->nupstreams; u++) {
        const struct gh_conf_upstream *up = &conf->upstreams[u];
        for (size_t k = 0; k < up->nservers; k++) {
            size_t len = make_key(key, up->name, up->servers[k].addr.text);
            int i = len ? find_key(reg, key, len) : -1;
            if (i < 0 && len) {
                i = slot_alloc(reg, generation);
                if (i >= 0)
                    slot_reset(reg, i, key, len);
            }
            if (i < 0) {
                missing++;
                continue;
            }
            struct gh_us_slot *s = gh_us_slot(reg, i);
            atomic_store(&s->last_gen, generation);
            if (!up->health.enabled) {
                atomic_store(&s->down, 0);
                atomic_store(&s->hc_ok, 0);
                atomic_store(&s->hc_fail, 0);
            }
        }
    }
    gh_mutex_unlock(&reg->lock);
    return missing;
}

void gh_us_fold(struct gh_us_region *reg, int proc)
{
    if (reg == NULL || proc < 0 || proc >= GH_SHM_MAX_PROCS)
        return;
    atomic_fetch_add(&reg->fold_seq, 1);
    for (uint32_t i = 0; i < reg->capacity; i++) {
        struct gh_us_slot *s = gh_us_slot(reg, (int)i);
        struct gh_us_pctr *c = gh_us_pctr(reg, proc, (int)i);
        int32_t a = atomic_exchange(&c->active, 0);
        if (a != 0)
            atomic_fetch_sub(&s->active, a);
        atomic_fetch_add(&s->retired_requests, atomic_exchange(&c->requests, 0));
        atomic_fetch_add(&s->retired_errors, atomic_exchange(&c->errors, 0));
        atomic_fetch_add(&s->retired_lat_sum, atomic_exchange(&c->lat_sum, 0));
        atomic_fetch_add(&s->retired_lat_count, atomic_exchange(&c->lat_count, 0));
        for (int b = 0; b < GH_US_LAT_BUCKETS; b++)
            atomic_fetch_add(&s->retired_lat_bucket[b], atomic_exchange(&c->lat_bucket[b], 0));
    }
    atomic_fetch_add(&reg->fold_seq, 1);
}

void gh_us_read(struct gh_us_region *reg, int idx, struct gh_us_totals *out)
{
    struct gh_us_slot *s = gh_us_slot(reg, idx);
    for (int tries = 0; tries < READ_RETRIES; tries++) {
        uint64_t seq = atomic_load(&reg->fold_seq);
        if (seq & 1)
            continue;
        struct gh_us_totals t = {
            .active = atomic_load(&s->active),
            .requests = atomic_load(&s->retired_requests),
            .errors = atomic_load(&s->retired_errors),
            .lat_sum = atomic_load(&s->retired_lat_sum),
            .lat_count = atomic_load(&s->retired_lat_count),
        };
        for (int b = 0; b < GH_US_LAT_BUCKETS; b++)
            t.lat_bucket[b] = atomic_load(&s->retired_lat_bucket[b]);
        for (int p = 0; p < GH_US_NPROCS; p++) {
            struct gh_us_pctr *c = gh_us_pctr(reg, p, idx);
            t.requests += atomic_load_explicit(&c->requests, memory_order_relaxed);
            t.errors += atomic_load_explicit(&c->errors, memory_order_relaxed);
            t.lat_sum += atomic_load_explicit(&c->lat_sum, memory_order_relaxed);
            t.lat_count += atomic_load_explicit(&c->lat_count, memory_order_relaxed);
            for (int b = 0; b < GH_US_LAT_BUCKETS; b++)
                t.lat_bucket[b] += atomic_load_explicit(&c->lat_bucket[b], memory_order_relaxed);
        }
        *out = t;
        if (atomic_load(&reg->fold_seq) == seq)
            return;
    }
}

double gh_us_latency_quantile(const struct gh_us_totals *t, double q)
{
    if (t->lat_count == 0)
        return -1;
    /* The count is read apart from the buckets: a sample being recorded
     * may be in one and not yet in the other. Rank within what the buckets
     * and the overflow (count minus their sum, never negative) hold. */
    uint64_t in_buckets = 0;
    for (int b = 0; b < GH_US_LAT_BUCKETS; b++)
        in_buckets += t->lat_bucket[b];
    uint64_t total = GH_MAX(in_buckets, t->lat_count);
    double rank = q * (double)total, below = 0, lower = 0;
    for (int b = 0; b < GH_US_LAT_BUCKETS; b++) {
        double n = (double)t->lat_bucket[b], upper = gh_us_lat_bound_ms[b];
        if (n > 0 && below + n >= rank)
            return lower + (upper - lower) * (rank - below) / n;
        below += n;
        lower = upper;
    }
    return gh_us_lat_bound_ms[GH_US_LAT_BUCKETS - 1];
}

/* The capacity of an existing, valid region of ours, or 0. The directory
 * is written by the master only, which is the caller. */
static uint32_t existing_capacity(struct gh_shm *shm)
{
    for (int i = 0; i < GH_SHM_MAX_REGIONS; i++) {
        const struct gh_shm_region_desc *d = &shm->hdr->regions[i];
        if (strcmp(d->name, GH_US_REGION) != 0 || d->layout_version != GH_US_LAYOUT)
            continue;
        const struct gh_us_region *reg = gh_shm_ptr(shm, d->offset);
        if (reg->magic == US_MAGIC && gh_us_size(reg->capacity) == d->size)
            return reg->capacity;
    }
    return 0;
}

int gh_us_reserve(struct gh_shm *shm, const struct gh_conf *conf, uint32_t generation)
{
    size_t need = 0;
    for (size_t u = 0; u < conf->nupstreams; u++)
        need += conf->upstreams[u].nservers;
    uint32_t cap = existing_capacity(shm);
    if (cap == 0) {
        cap = (uint32_t)GH_MAX((size_t)GH_US_MIN_SLOTS, 2 * need);
    } else if (cap < need) {
        /* Moving the region would pull it from under running workers. */
        gh_log_warn("upstream state has %u server slots for %zu servers; "
                    "restart to enlarge it", cap, need);
    }
    bool fresh;
    struct gh_us_region *reg = gh_shm_region(shm, GH_US_REGION, GH_US_LAYOUT, gh_us_size(cap),
                                             &fresh);
    if (reg == NULL) {
        gh_log_error("no room for the upstream state in the shared segment");
        return -1;
    }
    if (fresh && gh_us_init(reg, cap) == -1)
        return -1;
    g_region = reg;
    int missing = gh_us_map_conf(reg, conf, generation);
    if (missing > 0)
        gh_log_warn("%d upstream servers have no shared state slot; "
                    "each worker keeps their state privately", missing);
    return missing < 0 ? -1 : 0;
}

struct gh_us_region *gh_us_region(void)
{
    return g_region;
}

void gh_us_proc_exit(struct gh_shm *shm, pid_t pid)
{
    struct gh_shm_proc *p = gh_shm_proc_find(shm, pid);
    if (p == NULL || g_region == NULL)
        return;
    gh_us_fold(g_region, (int)(p - shm->hdr->procs));
}
