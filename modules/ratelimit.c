/*
 * ratelimit.c - GCRA rate limits in the shared segment (see ratelimit.h).
 *
 * Region layout (offsets from the region start, all 64-byte aligned):
 *   struct gh_rl_region     header: magic, hash secret, sizes, name table,
 *                           table-full and recovery counters
 *   struct gh_rl_entry      [nentries], 128 bytes each, in buckets of 8
 *   struct gh_stripes       nstripes robust mutexes; bucket i -> stripe i % n
 *   _Atomic uint64_t        rejected[GH_SHM_MAX_PROCS + 1][GH_RL_MAX_LIMITS]
 *
 * An entry's `word` is {gen:12, tat:52}: tat is the TAT in microseconds of
 * the monotonic clock, 0 when the entry is empty; gen is bumped whenever
 * the entry changes owner. Protocol:
 *   - charge (any process, no lock): CAS word (gen, tat) -> (gen, tat'),
 *     only while gen is the one under which the key was matched;
 *   - rekey (insert or evict; stripe mutex held, so one writer per bucket):
 *     CAS word (gen, any) -> (gen + 1, 0), release fence, write hash, limit
 *     id, key, last use, then store (gen + 1, first TAT) with release;
 *   - lookup (no lock): load word (acquire), skip it when empty, compare
 *     the fields, acquire fence, reload word: a different gen means the
 *     entry was being rekeyed, and the lookup falls back to the locked path.
 * A charge that raced with a rekey fails its CAS (gen changed) and looks up
 * again, so it never lands on another key's bucket. A process killed in
 * the middle of a rekey leaves an entry whose word says "empty": nothing
 * to repair, so recovery only marks the stripe consistent.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/lock.h"
#include "common/log.h"
#include "common/shm.h"
#include "common/siphash.h"
#include "modules/ratelimit.h"

#define RL_MAGIC 0x31544d4c52484700ull          /* "\0GHRLMT1" */
#define RL_WAYS 8                                /* entries per bucket (probe window) */
#define RL_MAX_STRIPES 1024u
#define RL_KEY_WORDS (GH_RL_KEY_MAX / 8)
#define RL_LONG_KEY UINT32_MAX                   /* key_len of a key stored as its hash */
#define RL_NPROCS (GH_SHM_MAX_PROCS + 1)         /* + the shared overflow block */

#define RL_TAT_BITS 52
#define RL_TAT_MASK ((UINT64_C(1) << RL_TAT_BITS) - 1)
#define RL_GEN_MASK UINT64_C(0xfff)
#define RL_MAX_T_US (INT64_C(1) << 40)           /* ~12.7 days between requests */
#define RL_MAX_TAU_US (INT64_C(1) << 46)         /* ~2.2 years of burst */
#define RL_MAX_NOW_US ((INT64_C(1) << RL_TAT_BITS) - 1 - RL_MAX_TAU_US - 2 * RL_MAX_T_US)

#define RL_CAS_TRIES 256                         /* per lookup */
#define RL_LOOKUPS 4                             /* lookups per request */
#define RL_EVICT_TRIES 4
#define RL_LAST_USE_GRAIN_MS 1000                /* last_ms is refreshed this coarsely */

struct gh_rl_entry {
    _Atomic uint64_t word;                       /* {gen:12, tat_us:52}; tat 0 = empty */
    _Atomic int64_t last_ms;                     /* last request (coarse), for LRU */
    _Atomic uint64_t hash;                       /* of (limit, key) */
    _Atomic uint32_t limit_id;                   /* name slot | epoch << 8 */
    _Atomic uint32_t key_len;                    /* RL_LONG_KEY: identified by hash */
    _Atomic uint64_t key[RL_KEY_WORDS];          /* zero-padded */
    uint64_t pad;
};
_Static_assert(sizeof(struct gh_rl_entry) == 128, "entry is two cache lines");

struct gh_rl_name {                              /* a limit name, by hash */
    uint64_t hash;                               /* 0 = free */
    uint32_t len;
    uint32_t epoch;                              /* bumped when the slot is reused */
};

struct gh_rl_region {
    uint64_t magic;
    uint64_t sipkey[2];                          /* random, chosen at creation */
    uint32_t nentries, nbuckets, nstripes, pad;
    uint64_t entries_off, stripes_off, ctr_off;  /* from the region start */
    _Atomic uint64_t table_full;
    _Atomic uint64_t recovered;
    struct gh_rl_name names[GH_RL_MAX_LIMITS];
};

/* One configured limit, resolved for this process. */
struct gh_rl_param {
    int64_t t_us;                                /* emission interval T */
    int64_t tau_us;                              /* burst * T */
    uint32_t limit_id;
    uint32_t slot;                               /* name slot: counters */
};

static struct {
    struct gh_rl_region *reg;
    struct gh_rl_entry *entries;
    struct gh_stripes *stripes;
    _Atomic uint64_t (*ctr)[GH_RL_MAX_LIMITS];   /* [RL_NPROCS] */
    _Atomic uint64_t *mine;                      /* this process's block */
    struct gh_rl_param *params;
    size_t nparams;
    bool test_die;                               /* gh_ratelimit_test_die_in_insert */
} g;

/* ---------------------------------------------------------------------- */
/* Layout. */

static inline size_t rl_align(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

static size_t rl_stripes_for(uint32_t nentries)
{
    return GH_MIN(RL_MAX_STRIPES, nentries / RL_WAYS);
}

static size_t rl_size(uint32_t nentries)
{
    return rl_align(sizeof(struct gh_rl_region))
           + (size_t)nentries * sizeof(struct gh_rl_entry)
           + rl_align(gh_stripes_size((uint32_t)rl_stripes_for(nentries)))
           + sizeof(_Atomic uint64_t) * RL_NPROCS * GH_RL_MAX_LIMITS;
}

/* Entries for a segment of shm_size bytes: a power of two in
 * [GH_RL_MIN_ENTRIES, GH_RL_MAX_ENTRIES], about 1/8 of the segment. */
static uint32_t rl_entries_for(size_t shm_size)
{
    size_t want = shm_size / 8 / sizeof(struct gh_rl_entry);
    uint32_t n = GH_RL_MIN_ENTRIES;

    while (n < GH_RL_MAX_ENTRIES && (size_t)n * 2 <= want)
        n *= 2;
    return n;
}

static bool rl_region_valid(const struct gh_rl_region *r, uint64_t size)
{
    uint32_t n = r->nentries;

    return r->magic == RL_MAGIC && n >= GH_RL_MIN_ENTRIES && n <= GH_RL_MAX_ENTRIES
           && (n & (n - 1)) == 0 && rl_size(n) == size;
}

/* Our region in the directory (only the master writes it), or NULL. */
static struct gh_rl_region *rl_find_region(struct gh_shm *shm)
{
    for (int i = 0; i < GH_SHM_MAX_REGIONS; i++) {
        const struct gh_shm_region_desc *d = &shm->hdr->regions[i];

        if (d->name[0] == '\0' || strcmp(d->name, GH_RL_REGION) != 0
            || d->layout_version != GH_RL_LAYOUT)
            continue;
        if (d->offset + d->size > shm->size)
            return NULL;
        struct gh_rl_region *r = gh_shm_ptr(shm, d->offset);
        return rl_region_valid(r, d->size) ? r : NULL;
    }
    return NULL;
}

static int rl_init_region(struct gh_rl_region *r, uint32_t n)
{
    size_t off = rl_align(sizeof(*r));

    if (getrandom(r->sipkey, sizeof(r->sipkey), 0) != (ssize_t)sizeof(r->sipkey)) {
        gh_log(GH_LOG_ERROR, errno, "rate limits: getrandom() failed");
        return -1;
    }
    r->nentries = n;
    r->nbuckets = n / RL_WAYS;
    r->nstripes = (uint32_t)rl_stripes_for(n);
    r->entries_off = off;
    off += (size_t)n * sizeof(struct gh_rl_entry);
    r->stripes_off = off;
    off += rl_align(gh_stripes_size(r->nstripes));
    r->ctr_off = off;
    if (gh_stripes_init((struct gh_stripes *)((char *)r + r->stripes_off), r->nstripes) == -1)
        return -1;
    __atomic_store_n(&r->magic, RL_MAGIC, __ATOMIC_RELEASE);   /* last */
    return 0;
}

static uint64_t rl_name_hash(const struct gh_rl_region *r, const char *name)
{
    return gh_siphash24(r->sipkey[0] ^ UINT64_C(0x6e616d65), r->sipkey[1], name, strlen(name),
                        false)
           | 1;                                  /* never 0 (free) */
}

static int rl_name_find(const struct gh_rl_region *r, const char *name)
{
    uint64_t h = rl_name_hash(r, name);
    uint32_t len = (uint32_t)strlen(name);

    for (int i = 0; i < GH_RL_MAX_LIMITS; i++)
        if (r->names[i].hash == h && r->names[i].len == len)
            return i;
    return -1;
}

/* Give every configured limit a name slot, reusing the slot of a name seen
 * before (its buckets and counters carry over). A new name takes a free
 * slot, or one whose name is no longer configured: its epoch is bumped so
 * old buckets no longer match, and its counters restart. Master only. */
static int rl_assign_names(struct gh_rl_region *r, const struct gh_conf *conf)
{
    bool wanted[GH_RL_MAX_LIMITS] = { false };
    size_t i;

    if (conf->nrate_limits > GH_RL_MAX_LIMITS) {
        gh_log_error("rate limits: %zu limits configured, at most %d are supported",
                     conf->nrate_limits, GH_RL_MAX_LIMITS);
        return -1;
    }
    for (i = 0; i < conf->nrate_limits; i++) {
        int s = rl_name_find(r, conf->rate_limits[i].name);
        if (s >= 0)
            wanted[s] = true;
    }
    for (i = 0; i < conf->nrate_limits; i++) {
        const char *name = conf->rate_limits[i].name;
        int s;

        if (rl_name_find(r, name) >= 0)
            continue;
        for (s = 0; s < GH_RL_MAX_LIMITS && r->names[s].hash != 0; s++)
            ;
        if (s == GH_RL_MAX_LIMITS) {
            for (s = 0; s < GH_RL_MAX_LIMITS && wanted[s]; s++)
                ;
            GH_ASSERT(s < GH_RL_MAX_LIMITS);     /* nrate_limits <= GH_RL_MAX_LIMITS */
            r->names[s].epoch = (r->names[s].epoch + 1) & 0xffffff;
            _Atomic uint64_t (*ctr)[GH_RL_MAX_LIMITS] = (void *)((char *)r + r->ctr_off);
            for (int p = 0; p < RL_NPROCS; p++)
                atomic_store_explicit(&ctr[p][s], 0, memory_order_relaxed);
        }
        r->names[s].hash = rl_name_hash(r, name);
        r->names[s].len = (uint32_t)strlen(name);
        wanted[s] = true;
    }
    return 0;
}

/* Point this process at region r and resolve conf's limits. */
static int rl_attach(struct gh_shm *shm, struct gh_rl_region *r, const struct gh_conf *conf)
{
    struct gh_rl_param *params = NULL;
    struct gh_shm_proc *proc;
    size_t i;

    if (conf->nrate_limits > 0) {
        params = calloc(conf->nrate_limits, sizeof(*params));
        if (params == NULL) {
            gh_log(GH_LOG_ERROR, errno, "rate limits: out of memory");
            return -1;
        }
    }
    for (i = 0; i < conf->nrate_limits; i++) {
        const struct gh_conf_rate_limit *rl = &conf->rate_limits[i];
        int s = rl_name_find(r, rl->name);
        double t;

        if (s < 0) {
            gh_log_error("rate limits: limit \"%s\" is not in the shared segment "
                         "(set up for another configuration?)", rl->name);
            free(params);
            return -1;
        }
        t = rl->rate > 0 ? ceil(1e6 / rl->rate) : (double)RL_MAX_T_US;
        params[i].t_us = t >= (double)RL_MAX_T_US ? RL_MAX_T_US : GH_MAX((int64_t)t, 1);
        params[i].tau_us = rl->burst <= 0 ? 0
                           : GH_MIN((int64_t)rl->burst, RL_MAX_TAU_US / params[i].t_us)
                             * params[i].t_us;
        params[i].slot = (uint32_t)s;
        params[i].limit_id = (uint32_t)s | r->names[s].epoch << 8;
    }

    free(g.params);
    g.params = params;
    g.nparams = conf->nrate_limits;
    g.reg = r;
    g.entries = (struct gh_rl_entry *)((char *)r + r->entries_off);
    g.stripes = (struct gh_stripes *)((char *)r + r->stripes_off);
    g.ctr = (void *)((char *)r + r->ctr_off);
    proc = gh_shm_proc_find(shm, getpid());
    g.mine = g.ctr[proc != NULL ? proc - shm->hdr->procs : GH_SHM_MAX_PROCS];
    return 0;
}

int gh_ratelimit_shm_setup(struct gh_shm *shm, const struct gh_conf *conf)
{
    struct gh_rl_region *old = rl_find_region(shm), *r;
    uint32_t n = old != NULL ? old->nentries : rl_entries_for(shm->size);
    bool fresh;

    r = gh_shm_region(shm, GH_RL_REGION, GH_RL_LAYOUT, rl_size(n), &fresh);
    if (r == NULL) {
        gh_log_error("rate limits: no room for %u buckets (%zu bytes) in the shared "
                     "segment", n, rl_size(n));
        return -1;
    }
    if (!fresh && !rl_region_valid(r, rl_size(n))) {
        gh_log_warn("rate limits: the shared region is damaged; starting it fresh");
        memset(r, 0, rl_size(n));
        fresh = true;
    }
    if (fresh && rl_init_region(r, n) == -1) {
        gh_shm_region_release(shm, GH_RL_REGION);
        return -1;
    }
    if (rl_assign_names(r, conf) == -1)
        return -1;
    if (fresh)
        gh_log_info("rate limits: %u buckets in the shared segment", n);
    return rl_attach(shm, r, conf);
}

int gh_ratelimit_worker_init(struct gh_shm *shm, const struct gh_conf *conf)
{
    struct gh_rl_region *r = rl_find_region(shm);

    if (r == NULL) {
        gh_log_error("rate limits: no \"%s\" region (layout %u) in the shared segment",
                     GH_RL_REGION, GH_RL_LAYOUT);
        return -1;
    }
    return rl_attach(shm, r, conf);
}

/* ---------------------------------------------------------------------- */
/* The hot path. */

static inline uint64_t w_gen(uint64_t w)
{
    return w >> RL_TAT_BITS;
}
static inline int64_t w_tat(uint64_t w)
{
    return (int64_t)(w & RL_TAT_MASK);
}
static inline uint64_t w_make(uint64_t gen, int64_t tat)
{
    return (gen & RL_GEN_MASK) << RL_TAT_BITS | ((uint64_t)tat & RL_TAT_MASK);
}

/* A request's key, prepared once. */
struct rl_key {
    uint64_t hash;
    uint32_t limit_id;
    uint32_t len;                                /* or RL_LONG_KEY */
    uint32_t nwords;
    uint64_t words[RL_KEY_WORDS];
};

/* Everything but the hash. Only words[0..nwords) are ever read. */
static inline void rl_key_fill(struct rl_key *k, const struct gh_rl_param *p, const void *key,
                               size_t len)
{
    k->limit_id = p->limit_id;
    if (len <= GH_RL_KEY_MAX) {
        k->len = (uint32_t)len;
        k->nwords = (uint32_t)((len + 7) / 8);
        if (len > 0) {
            k->words[k->nwords - 1] = 0;         /* zero padding */
            memcpy(k->words, key, len);
        }
    } else {
        k->len = RL_LONG_KEY;
        k->nwords = 0;
    }
}

/* The hash of a filled key (key and len as given to rl_key_fill). */
static uint64_t rl_key_hash(const struct rl_key *k, const void *key, size_t len)
{
    const struct gh_rl_region *r = g.reg;
    uint64_t k0 = r->sipkey[0] ^ ((uint64_t)k->limit_id * UINT64_C(0x9e3779b97f4a7c15));

    if (k->len == RL_LONG_KEY)
        return gh_siphash24(k0, r->sipkey[1], key, len, false);
    return gh_siphash24(k0, r->sipkey[1], k->words, len, true);
}

static void rl_key_make(struct rl_key *k, const struct gh_rl_param *p, const void *key,
                        size_t len)
{
    rl_key_fill(k, p, key, len);
    k->hash = rl_key_hash(k, key, len);
}

static inline struct gh_rl_entry *rl_bucket(uint64_t hash)
{
    return &g.entries[(hash & (g.reg->nbuckets - 1)) * RL_WAYS];
}

static inline pthread_mutex_t *rl_stripe(uint64_t hash)
{
    return gh_stripe_for(g.stripes, hash & (g.reg->nbuckets - 1));
}

/* Find k's entry in its bucket without a lock. Returns it with *w, the word
 * read under the matched generation, or NULL (not there, or being rekeyed:
 * the locked path decides). */
static struct gh_rl_entry *rl_lookup(const struct rl_key *k, uint64_t *w)
{
    struct gh_rl_entry *b = rl_bucket(k->hash);

    for (int i = 0; i < RL_WAYS; i++) {
        struct gh_rl_entry *e = &b[i];
        uint64_t w1 = atomic_load_explicit(&e->word, memory_order_acquire), w2;
        uint32_t j;

        if (w_tat(w1) == 0
            || atomic_load_explicit(&e->hash, memory_order_relaxed) != k->hash
            || atomic_load_explicit(&e->limit_id, memory_order_relaxed) != k->limit_id
            || atomic_load_explicit(&e->key_len, memory_order_relaxed) != k->len)
            continue;
        for (j = 0; j < k->nwords; j++)
            if (atomic_load_explicit(&e->key[j], memory_order_relaxed) != k->words[j])
                break;
        if (j < k->nwords)
            continue;
        atomic_thread_fence(memory_order_acquire);
        w2 = atomic_load_explicit(&e->word, memory_order_relaxed);
        if (w_gen(w2) != w_gen(w1) || w_tat(w2) == 0)
            return NULL;
        *w = w2;
        return e;
    }
    return NULL;
}

enum { RL_ADMIT = 0, RL_RESTART = -1, RL_BUSY = -2 };

/* Charge entry e (word last read as w) for a request at t_us. RL_ADMIT,
 * RL_RESTART (the entry changed owner: look up again), RL_BUSY (CAS lost
 * too often), or the Retry-After in seconds (>= 1). */
static int rl_charge(struct gh_rl_entry *e, uint64_t w, const struct gh_rl_param *p,
                     int64_t t_us)
{
    uint64_t gen = w_gen(w);

    for (int tries = 0; tries < RL_CAS_TRIES; tries++) {
        int64_t tat;

        if (w_gen(w) != gen || w_tat(w) == 0)
            return RL_RESTART;
        tat = GH_MAX(w_tat(w), t_us);
        if (tat - t_us > p->tau_us) {
            int64_t secs = (tat - t_us - p->tau_us + 999999) / 1000000;
            return (int)GH_MIN(GH_MAX(secs, 1), (int64_t)INT32_MAX);
        }
        if (atomic_compare_exchange_weak_explicit(&e->word, &w, w_make(gen, tat + p->t_us),
                                                  memory_order_acq_rel,
                                                  memory_order_acquire))
            return RL_ADMIT;
    }
    return RL_BUSY;
}

static inline void rl_touch(struct gh_rl_entry *e, int64_t now_ms)
{
    if (now_ms - atomic_load_explicit(&e->last_ms, memory_order_relaxed) >= RL_LAST_USE_GRAIN_MS)
        atomic_store_explicit(&e->last_ms, now_ms, memory_order_relaxed);
}

/* Under the stripe: choose the entry to (re)use for a new key: an empty
 * one, else the idle one used longest ago, else the least recently used
 * (ties: the smallest TAT, whose forgetting admits the least). *wv is the
 * word it was chosen with, *busy whether it still held a live TAT. */
static struct gh_rl_entry *rl_victim(struct gh_rl_entry *b, int64_t t_us, uint64_t *wv,
                                     bool *busy)
{
    struct gh_rl_entry *best = NULL;
    int best_rank = 3;
    int64_t best_last = 0, best_tat = 0;

    for (int i = 0; i < RL_WAYS; i++) {
        uint64_t w = atomic_load_explicit(&b[i].word, memory_order_acquire);
        int64_t tat = w_tat(w), last;
        int rank;

        if (tat == 0) {
            *wv = w;
            *busy = false;
            return &b[i];
        }
        rank = tat <= t_us ? 1 : 2;
        last = atomic_load_explicit(&b[i].last_ms, memory_order_relaxed);
        if (best == NULL || rank < best_rank
            || (rank == best_rank && (last < best_last || (last == best_last && tat < best_tat)))) {
            best = &b[i];
            best_rank = rank;
            best_last = last;
            best_tat = tat;
            *wv = w;
        }
    }
    *busy = best_rank == 2;
    return best;
}

static void rl_log_recovered(void)
{
    gh_log_warn("rate limits: a process died holding a bucket stripe lock; recovered");
}

/* The locked path: k has no entry (or it was in flux). Takes the stripe,
 * looks again, and inserts k charged with this request when still absent.
 * Returns like rl_charge, or RL_ADMIT after an insert. */
static int rl_insert(const struct rl_key *k, const struct gh_rl_param *p, int64_t t_us,
                     int64_t now_ms)
{
    pthread_mutex_t *m = rl_stripe(k->hash);
    struct gh_rl_entry *b = rl_bucket(k->hash), *e;
    int rc = gh_mutex_lock(m), ret = RL_BUSY;
    uint64_t w;

    if (rc == -1) {                              /* logged; admit, but count it */
        atomic_fetch_add_explicit(&g.reg->table_full, 1, memory_order_relaxed);
        return RL_ADMIT;
    }
    if (rc == GH_LOCK_RECOVERED) {
        /* The dead owner can only have left an entry marked empty (see the
         * top of this file): nothing to repair. */
        atomic_fetch_add_explicit(&g.reg->recovered, 1, memory_order_relaxed);
        gh_mutex_consistent(m);
    }

    e = rl_lookup(k, &w);                        /* inserted meanwhile? */
    if (e != NULL) {
        gh_mutex_unlock(m);
        if (rc == GH_LOCK_RECOVERED)
            rl_log_recovered();
        rl_touch(e, now_ms);
        return rl_charge(e, w, p, t_us);
    }

    for (int tries = 0; tries < RL_EVICT_TRIES; tries++) {
        bool busy;

        e = rl_victim(b, t_us, &w, &busy);
        /* Owner change: from here on, lookups of the old key miss and its
         * chargers' CAS fail. Only fails when a charger just moved it. */
        if (!atomic_compare_exchange_strong_explicit(&e->word, &w, w_make(w_gen(w) + 1, 0),
                                                     memory_order_acq_rel,
                                                     memory_order_acquire))
            continue;
        atomic_thread_fence(memory_order_release);
        atomic_store_explicit(&e->hash, k->hash, memory_order_relaxed);
        atomic_store_explicit(&e->limit_id, k->limit_id, memory_order_relaxed);
        atomic_store_explicit(&e->key_len, k->len, memory_order_relaxed);
        for (uint32_t j = 0; j < RL_KEY_WORDS; j++) {
            if (GH_UNLIKELY(g.test_die) && j == RL_KEY_WORDS / 2)
                raise(SIGKILL);
            atomic_store_explicit(&e->key[j], j < k->nwords ? k->words[j] : 0,
                                  memory_order_relaxed);
        }
        atomic_store_explicit(&e->last_ms, now_ms, memory_order_relaxed);
        /* A fresh bucket always admits its first request: TAT = t + T. */
        atomic_store_explicit(&e->word, w_make(w_gen(w) + 1, t_us + p->t_us),
                              memory_order_release);
        if (busy)
            atomic_fetch_add_explicit(&g.reg->table_full, 1, memory_order_relaxed);
        ret = RL_ADMIT;
        break;
    }
    gh_mutex_unlock(m);
    if (ret == RL_BUSY) {                        /* nothing evictable: admit, counted */
        atomic_fetch_add_explicit(&g.reg->table_full, 1, memory_order_relaxed);
        ret = RL_ADMIT;
    }
    if (rc == GH_LOCK_RECOVERED)
        rl_log_recovered();
    return ret;
}

uint64_t gh_ratelimit_hash(int idx, const void *key, size_t len)
{
    struct rl_key k;

    if (g.reg == NULL || idx < 0 || (size_t)idx >= g.nparams)
        return 0;
    rl_key_fill(&k, &g.params[idx], key, len);
    return rl_key_hash(&k, key, len);
}

int gh_ratelimit_check(int idx, const void *key, size_t len, int64_t now_ms)
{
    return gh_ratelimit_check_hashed(idx, key, len, gh_ratelimit_hash(idx, key, len), now_ms);
}

int gh_ratelimit_check_hashed(int idx, const void *key, size_t len, uint64_t hash,
                              int64_t now_ms)
{
    const struct gh_rl_param *p;
    struct rl_key k;
    int64_t t_us;

    GH_ASSERT(g.reg != NULL && idx >= 0 && (size_t)idx < g.nparams);
    if (GH_UNLIKELY(g.reg == NULL || idx < 0 || (size_t)idx >= g.nparams))
        return 0;
    p = &g.params[idx];
    rl_key_fill(&k, p, key, len);
    k.hash = hash;
    t_us = now_ms <= 0 ? 1 : now_ms >= RL_MAX_NOW_US / 1000 ? RL_MAX_NOW_US : now_ms * 1000;

    for (int n = 0; n < RL_LOOKUPS; n++) {
        struct gh_rl_entry *e;
        uint64_t w;
        int rc;

        e = rl_lookup(&k, &w);
        if (e != NULL) {
            rl_touch(e, now_ms);
            rc = rl_charge(e, w, p, t_us);
        } else {
            rc = rl_insert(&k, p, t_us, now_ms);
        }
        if (rc == RL_RESTART)
            continue;
        if (rc == RL_BUSY)
            break;
        if (rc > 0)
            atomic_fetch_add_explicit(&g.mine[p->slot], 1, memory_order_relaxed);
        return rc;
    }
    /* Contention beyond all bounds: refuse rather than over-admit. */
    atomic_fetch_add_explicit(&g.mine[p->slot], 1, memory_order_relaxed);
    return 1;
}

uint64_t gh_ratelimit_rejected(int idx)
{
    uint64_t sum = 0;

    if (g.reg == NULL || idx < 0 || (size_t)idx >= g.nparams)
        return 0;
    for (int p = 0; p < RL_NPROCS; p++)
        sum += atomic_load_explicit(&g.ctr[p][g.params[idx].slot], memory_order_relaxed);
    return sum;
}

uint64_t gh_ratelimit_table_full(void)
{
    return g.reg == NULL ? 0 : atomic_load_explicit(&g.reg->table_full, memory_order_relaxed);
}

uint64_t gh_ratelimit_recovered(void)
{
    return g.reg == NULL ? 0 : atomic_load_explicit(&g.reg->recovered, memory_order_relaxed);
}

pthread_mutex_t *gh_ratelimit_test_stripe(int idx, const void *key, size_t len)
{
    struct rl_key k;

    if (g.reg == NULL || idx < 0 || (size_t)idx >= g.nparams)
        return NULL;
    rl_key_make(&k, &g.params[idx], key, len);
    return rl_stripe(k.hash);
}

void gh_ratelimit_test_die_in_insert(bool on)
{
    g.test_die = on;
}
