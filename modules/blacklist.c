/*
 * blacklist.c - see blacklist.h.
 */
#include <string.h>

#include "common/lock.h"
#include "common/log.h"
#include "common/time.h"
#include "modules/blacklist.h"

#define BL_REGION "blacklist"
#define BL_LAYOUT 6u                    /* 3: TLS handshakes; 4: HTTP/2; 5: cache; 6: stale, purged */
#define BL_MAGIC 0x4c424847u
#define FULL_LOG_MS 60000

struct bl_viol {
    uint8_t key[16];
    int32_t count;                      /* 0 = unused */
    int64_t window_start;
};

struct gh_bl_region {
    uint32_t magic;
    _Atomic uint64_t generation;
    _Atomic int64_t full_logged_ms;
    _Atomic uint64_t evicted;           /* evictions since the last "full" log line */
    pthread_mutex_t lock;               /* guards entries and viol */
    _Atomic uint64_t ctr[GH_SHM_MAX_PROCS][GH_EDGE_NCOUNTERS];
    _Atomic uint64_t retired[GH_EDGE_NCOUNTERS];
    struct gh_bl_entry entries[GH_BL_CAPACITY];
    struct bl_viol viol[GH_BL_VIOL_CAPACITY];
};

static struct gh_bl_region *g_region;

int gh_bl_reserve(struct gh_shm *shm)
{
    bool fresh;
    struct gh_bl_region *reg = gh_shm_region(shm, BL_REGION, BL_LAYOUT, sizeof(*reg), &fresh);
    if (reg == NULL) {
        gh_log_error("no room for the blacklist in the shared segment");
        return -1;
    }
    if (fresh || reg->magic != BL_MAGIC) {
        memset(reg, 0, sizeof(*reg));
        if (gh_mutex_init_shared(&reg->lock) == -1)
            return -1;
        for (size_t i = 0; i < GH_BL_CAPACITY; i++)
            reg->entries[i].plen = -1;
        reg->magic = BL_MAGIC;
    }
    g_region = reg;
    return 0;
}

struct gh_bl_region *gh_bl_region(void)
{
    return g_region;
}

static void bl_lock(struct gh_bl_region *reg)
{
    if (gh_mutex_lock(&reg->lock) == GH_LOCK_RECOVERED) {
        /* An owner died mid-update: drop entries that look torn. */
        for (size_t i = 0; i < GH_BL_CAPACITY; i++) {
            struct gh_bl_entry *e = &reg->entries[i];
            if (e->plen > 128 || e->plen < -1)
                e->plen = -1;
        }
        atomic_fetch_add(&reg->generation, 1);
        gh_mutex_consistent(&reg->lock);
    }
}

/* Under the lock. 0 added, 1 after an eviction. */
static int add_locked(struct gh_bl_region *reg, const uint8_t key[16], int plen, int64_t ttl_ms,
                      int64_t now)
{
    int64_t expires = ttl_ms == INT64_MAX || ttl_ms > INT64_MAX - now ? INT64_MAX : now + ttl_ms;
    struct gh_bl_entry *free_e = NULL, *expired = NULL, *oldest = NULL;
    for (size_t i = 0; i < GH_BL_CAPACITY; i++) {
        struct gh_bl_entry *e = &reg->entries[i];
        if (e->plen < 0) {
            if (free_e == NULL)
                free_e = e;
            continue;
        }
        if (e->plen == plen && memcmp(e->key, key, 16) == 0) {
            e->expires_ms = expires;
            e->added_ms = now;
            return 0;
        }
        if (e->expires_ms <= now && expired == NULL)
            expired = e;
        if (oldest == NULL || e->added_ms < oldest->added_ms)
            oldest = e;
    }
    int rc = 0;
    struct gh_bl_entry *e = free_e;
    if (e == NULL) {
        e = expired != NULL ? expired : oldest;
        rc = expired != NULL ? 0 : 1;
    }
    memcpy(e->key, key, 16);
    e->expires_ms = expires;
    e->added_ms = now;
    e->plen = (int16_t)plen;
    return rc;
}

static void note_full(struct gh_bl_region *reg)
{
    atomic_fetch_add(&reg->evicted, 1);
    int64_t now = gh_time_monotonic_ms();
    int64_t last = atomic_load(&reg->full_logged_ms);
    if (last != 0 && now - last < FULL_LOG_MS)
        return;
    if (!atomic_compare_exchange_strong(&reg->full_logged_ms, &last, now))
        return;
    gh_log_warn("the dynamic blacklist is full (%d entries): evicted %llu oldest entries",
                GH_BL_CAPACITY, (unsigned long long)atomic_exchange(&reg->evicted, 0));
}

int gh_bl_add(struct gh_bl_region *reg, const uint8_t key[16], int plen, int64_t ttl_ms)
{
    int64_t now = gh_time_monotonic_ms();
    bl_lock(reg);
    int rc = add_locked(reg, key, plen, ttl_ms, now);
    atomic_fetch_add(&reg->generation, 1);
    gh_mutex_unlock(&reg->lock);
    if (rc == 1)
        note_full(reg);
    return rc;
}

int gh_bl_remove(struct gh_bl_region *reg, const uint8_t key[16], int plen)
{
    int rc = -1;
    bl_lock(reg);
    for (size_t i = 0; i < GH_BL_CAPACITY; i++) {
        struct gh_bl_entry *e = &reg->entries[i];
        if (e->plen == plen && memcmp(e->key, key, 16) == 0) {
            e->plen = -1;
            rc = 0;
        }
    }
    atomic_fetch_add(&reg->generation, 1);
    gh_mutex_unlock(&reg->lock);
    return rc;
}

size_t gh_bl_snapshot(struct gh_bl_region *reg, struct gh_bl_entry *out, size_t max)
{
    int64_t now = gh_time_monotonic_ms();
    size_t n = 0;
    bl_lock(reg);
    for (size_t i = 0; i < GH_BL_CAPACITY && n < max; i++) {
        const struct gh_bl_entry *e = &reg->entries[i];
        if (e->plen >= 0 && e->expires_ms > now)
            out[n++] = *e;
    }
    gh_mutex_unlock(&reg->lock);
    return n;
}

bool gh_bl_violation(struct gh_bl_region *reg, const struct gh_conf *conf, const uint8_t key[16])
{
    int limit = conf->access.ban_violations;
    if (limit <= 0)
        return false;
    int64_t now = gh_time_monotonic_ms();
    bool banned = false, evicted = false;
    uint32_t h = gh_acl_key_hash(key);
    bl_lock(reg);
    struct bl_viol *v = NULL, *victim = NULL;
    bool victim_stale = false;
    for (uint32_t i = 0; i < 16; i++) {
        struct bl_viol *x = &reg->viol[(h + i) % GH_BL_VIOL_CAPACITY];
        if (x->count > 0 && memcmp(x->key, key, 16) == 0) {
            v = x;
            break;
        }
        bool stale = x->count == 0 || now - x->window_start > conf->access.ban_window;
        if (stale) {
            if (victim == NULL || !victim_stale) {
                victim = x;
                victim_stale = true;
            }
        } else if (!victim_stale && (victim == NULL || x->window_start < victim->window_start)) {
            victim = x;
        }
    }
    if (v != NULL && now - v->window_start > conf->access.ban_window)
        v->count = 0;
    if (v == NULL) {
        v = victim;
        v->count = 0;
    }
    if (v->count == 0) {
        memcpy(v->key, key, 16);
        v->window_start = now;
    }
    if (++v->count >= limit) {
        v->count = 0;
        evicted = add_locked(reg, key, 128, conf->access.ban_duration, now) == 1;
        atomic_fetch_add(&reg->generation, 1);
        banned = true;
    }
    gh_mutex_unlock(&reg->lock);
    if (evicted)
        note_full(reg);
    if (banned) {
        char text[64];
        gh_acl_key_text(key, 128, text, sizeof(text));
        gh_log_notice("auto_ban: %s banned for %lld ms after %d rate limit violations", text,
                      (long long)conf->access.ban_duration, limit);
    }
    return banned;
}

int gh_bl_cache_init(struct gh_bl_cache *c)
{
    gh_acl_init(&c->acl);
    c->generation = UINT64_MAX;
    c->snap = malloc(sizeof(struct gh_bl_entry) * GH_BL_CAPACITY);
    return c->snap == NULL ? -1 : 0;
}

void gh_bl_cache_free(struct gh_bl_cache *c)
{
    gh_acl_free(&c->acl);
    free(c->snap);
    c->snap = NULL;
}

bool gh_bl_banned(struct gh_bl_cache *c, struct gh_bl_region *reg, const uint8_t key[16])
{
    if (reg == NULL || c->snap == NULL)
        return false;
    uint64_t gen = atomic_load_explicit(&reg->generation, memory_order_acquire);
    if (gen != c->generation) {
        size_t n = gh_bl_snapshot(reg, c->snap, GH_BL_CAPACITY);
        gh_acl_clear(&c->acl);
        bool ok = true;
        for (size_t i = 0; i < n; i++)
            if (gh_acl_add(&c->acl, c->snap[i].key, c->snap[i].plen, c->snap[i].expires_ms) == -1)
                ok = false;
        /* Out of memory: retry at the next lookup (what was added still applies). */
        c->generation = ok ? gen : UINT64_MAX;
    }
    return c->acl.n > 0 && gh_acl_match(&c->acl, key, gh_time_monotonic_ms());
}

void gh_edge_count(struct gh_bl_region *reg, int proc, enum gh_edge_counter which)
{
    gh_edge_add(reg, proc, which, 1);
}

void gh_edge_add(struct gh_bl_region *reg, int proc, enum gh_edge_counter which, uint64_t n)
{
    if (reg == NULL)
        return;
    if (proc >= 0 && proc < GH_SHM_MAX_PROCS)
        atomic_fetch_add_explicit(&reg->ctr[proc][which], n, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&reg->retired[which], n, memory_order_relaxed);
}

uint64_t gh_edge_read(struct gh_bl_region *reg, enum gh_edge_counter which)
{
    if (reg == NULL)
        return 0;
    uint64_t sum = atomic_load(&reg->retired[which]);
    for (int p = 0; p < GH_SHM_MAX_PROCS; p++)
        sum += atomic_load_explicit(&reg->ctr[p][which], memory_order_relaxed);
    return sum;
}

pthread_mutex_t *gh_bl_test_lock(struct gh_bl_region *reg)
{
    return &reg->lock;
}

void gh_bl_proc_exit(struct gh_shm *shm, pid_t pid)
{
    struct gh_shm_proc *p = gh_shm_proc_find(shm, pid);
    if (p == NULL || g_region == NULL)
        return;
    int proc = (int)(p - shm->hdr->procs);
    for (int k = 0; k < GH_EDGE_NCOUNTERS; k++) {
        uint64_t v = atomic_exchange(&g_region->ctr[proc][k], 0);
        atomic_fetch_add(&g_region->retired[k], v);
    }
}
