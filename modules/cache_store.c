/*
 * cache_store.c - the shared object store of the HTTP cache (see
 * cache_store.h for the model, the locks and the recovery rules).
 *
 * Region layout (offsets from the region start, 64-byte aligned):
 *   struct cs_region        header: sizes, secret, global lock, list heads
 *   struct cs_obj           [nobjs]: key, state, refs, chain, LRU links, meta
 *   uint32_t                buckets[nbuckets]: head object + 1 of each chain
 *   uint32_t                bnext[nblocks], bowner[nblocks]
 *   _Atomic uint32_t        holds[GH_SHM_MAX_PROCS][GH_CACHE_HOLDS]: object + 1
 *   struct gh_stripes       nstripes robust mutexes; bucket b -> stripe b % n
 *   data                    nblocks blocks of block_size bytes
 * Indices stored in the region are +1 (0 = none) so that zeroed memory is
 * empty lists.
 *
 * What each lock guards:
 *   stripe: bucket chains (hnext, indexed), refs, the hold entries of the
 *           stripe's objects, LIVE/DOOMED changes of an indexed object;
 *   global: free lists, block chains (first, last, nblocks, bnext,
 *           bowner), LRU links (lru_*, in_lru), FREE <-> LIVE.
 * Without a lock: the writer copies into its own blocks and publishes
 * `length` (release) after chaining them; readers load `wstate` and then
 * `length` (acquire) and read blocks below length.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>

#include "common/lock.h"
#include "common/log.h"
#include "common/siphash.h"
#include "modules/cache_store.h"

#define CS_MAGIC 0x3145484341434847ull          /* "GHCACHE1" */
#define CS_MAX_STRIPES 256u
#define CS_EVICT_TRIES 32                       /* LRU candidates looked at per eviction */
#define CS_EVICT_ROUNDS 64                      /* evictions per block or object needed */

enum { OBJ_FREE = 0, OBJ_LIVE, OBJ_DOOMED };
enum { W_WRITING = 0, W_COMPLETE, W_ABORTED };

struct cs_obj {
    uint64_t key[2];
    _Atomic uint64_t length;                    /* bytes written (writer; release) */
    _Atomic uint64_t claim;                     /* gh_cache_claim: held until (ms) */
    _Atomic uint32_t state;                     /* OBJ_* */
    _Atomic uint32_t wstate;                    /* W_* */
    _Atomic int32_t refs;                       /* stripe */
    int32_t writer;                             /* proc slot of the writer */
    uint32_t first, last, nblocks;              /* global */
    uint32_t hnext;                             /* stripe */
    uint32_t lru_prev, lru_next;                /* global; lru_next links the free list */
    _Atomic uint8_t indexed;                    /* stripe */
    uint8_t in_lru;                             /* global */
    uint16_t pad;
    uint32_t name_len;                          /* the stream's first name_len bytes */
    uint32_t meta_len;
    uint8_t meta[GH_CACHE_META];
};

struct cs_region {
    uint64_t magic;
    uint64_t size;
    uint32_t layout, block_size, nblocks, nobjs, nbuckets, nstripes;
    uint64_t sipkey[4];
    uint64_t objs_off, buckets_off, bnext_off, bowner_off, holds_off, stripes_off, data_off;
    pthread_mutex_t lock;                       /* the global lock */
    uint32_t free_blk, nfree_blk, free_obj, nlive, lru_head, lru_tail;
    _Atomic uint64_t inserts, evictions, recoveries;
};

static int g_die_at;

void gh_cache_store_test_die_at(int point)
{
    g_die_at = point;
}

static inline void cs_maybe_die(int point)
{
    if (GH_UNLIKELY(g_die_at == point))
        raise(SIGKILL);
}

static inline size_t cs_align(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

static inline struct cs_obj *O(const struct gh_cache_store *cs, uint32_t idx1)
{
    return &cs->objs[idx1 - 1];
}

static inline uint32_t obj_idx1(const struct gh_cache_store *cs, const struct cs_obj *o)
{
    return (uint32_t)(o - cs->objs) + 1;
}

static inline uint32_t bucket_of(const struct gh_cache_store *cs, const uint64_t key[2])
{
    return (uint32_t)(key[0] & (cs->r->nbuckets - 1));
}

static inline uint32_t stripe_of(const struct gh_cache_store *cs, const uint64_t key[2])
{
    return bucket_of(cs, key) & (cs->r->nstripes - 1);
}

static inline char *block_data(const struct gh_cache_store *cs, uint32_t b1)
{
    return cs->data + (size_t)(b1 - 1) * cs->r->block_size;
}

/* ---- layout ------------------------------------------------------------ */

struct cs_layout {
    uint32_t nblocks, nobjs, nbuckets, nstripes;
    uint64_t objs_off, buckets_off, bnext_off, bowner_off, holds_off, stripes_off, data_off, end;
};

static void cs_layout_for(struct cs_layout *l, uint32_t nblocks, uint32_t block_size)
{
    uint64_t off = cs_align(sizeof(struct cs_region));

    l->nblocks = nblocks;
    l->nobjs = nblocks;                         /* every object has at most one block on average */
    l->nbuckets = 1;
    while (l->nbuckets < l->nobjs)
        l->nbuckets *= 2;
    l->nstripes = GH_MIN(CS_MAX_STRIPES, l->nbuckets);
    l->objs_off = off;
    off = cs_align(off + (uint64_t)l->nobjs * sizeof(struct cs_obj));
    l->buckets_off = off;
    off = cs_align(off + (uint64_t)l->nbuckets * 4);
    l->bnext_off = off;
    off = cs_align(off + (uint64_t)nblocks * 4);
    l->bowner_off = off;
    off = cs_align(off + (uint64_t)nblocks * 4);
    l->holds_off = off;
    off = cs_align(off + sizeof(_Atomic uint32_t) * GH_SHM_MAX_PROCS * GH_CACHE_HOLDS);
    l->stripes_off = off;
    off = cs_align(off + gh_stripes_size(l->nstripes));
    l->data_off = off;
    l->end = off + (uint64_t)nblocks * block_size;
}

/* The most blocks of block_size that fit in size bytes (0 if none). */
static uint32_t cs_blocks_for(size_t size, uint32_t block_size)
{
    struct cs_layout l;
    uint64_t per = block_size + 8 + sizeof(struct cs_obj) + 8;
    uint64_t n = size / per;

    if (n > UINT32_MAX / 2)
        n = UINT32_MAX / 2;
    for (; n > 0; n -= GH_MAX(n / 64, 1)) {
        cs_layout_for(&l, (uint32_t)n, block_size);
        if (l.end <= size)
            return (uint32_t)n;
    }
    return 0;
}

static void cs_bind(struct gh_cache_store *cs, struct cs_region *r)
{
    char *base = (char *)r;

    cs->r = r;
    cs->objs = (struct cs_obj *)(base + r->objs_off);
    cs->buckets = (uint32_t *)(base + r->buckets_off);
    cs->bnext = (uint32_t *)(base + r->bnext_off);
    cs->bowner = (uint32_t *)(base + r->bowner_off);
    cs->holds = (void *)(base + r->holds_off);
    cs->stripes = (struct gh_stripes *)(base + r->stripes_off);
    cs->data = base + r->data_off;
}

static bool cs_valid(const struct cs_region *r, size_t size, uint32_t block_size)
{
    struct cs_layout l;

    if (__atomic_load_n(&r->magic, __ATOMIC_ACQUIRE) != CS_MAGIC || r->layout != GH_CACHE_LAYOUT
        || r->size != size || r->block_size != block_size)
        return false;
    cs_layout_for(&l, r->nblocks, block_size);
    return l.end <= size && l.nobjs == r->nobjs && l.nbuckets == r->nbuckets
           && l.data_off == r->data_off && l.stripes_off == r->stripes_off;
}

int gh_cache_store_init(struct gh_cache_store *cs, void *mem, size_t size, uint32_t block_size,
                        bool fresh)
{
    struct cs_region *r = mem;
    struct cs_layout l;

    memset(cs, 0, sizeof(*cs));
    cs->proc = -1;
    if (block_size < 512 || block_size > (1u << 20) || (block_size & (block_size - 1)) != 0) {
        gh_log_error("cache: block size %u is not a power of two in [512, 1M]", block_size);
        return -1;
    }
    if (!fresh && cs_valid(r, size, block_size)) {
        cs_bind(cs, r);
        return 0;
    }
    uint32_t n = cs_blocks_for(size, block_size);
    if (n < 8) {
        gh_log_error("cache: %zu bytes is too small for a store", size);
        return -1;
    }
    cs_layout_for(&l, n, block_size);
    memset(r, 0, l.data_off);
    if (getrandom(r->sipkey, sizeof(r->sipkey), 0) != (ssize_t)sizeof(r->sipkey)) {
        gh_log(GH_LOG_ERROR, errno, "cache: getrandom() failed");
        return -1;
    }
    r->size = size;
    r->layout = GH_CACHE_LAYOUT;
    r->block_size = block_size;
    r->nblocks = l.nblocks;
    r->nobjs = l.nobjs;
    r->nbuckets = l.nbuckets;
    r->nstripes = l.nstripes;
    r->objs_off = l.objs_off;
    r->buckets_off = l.buckets_off;
    r->bnext_off = l.bnext_off;
    r->bowner_off = l.bowner_off;
    r->holds_off = l.holds_off;
    r->stripes_off = l.stripes_off;
    r->data_off = l.data_off;
    cs_bind(cs, r);
    if (gh_mutex_init_shared(&r->lock) == -1 || gh_stripes_init(cs->stripes, l.nstripes) == -1)
        return -1;
    for (uint32_t i = l.nblocks; i > 0; i--) {
        cs->bnext[i - 1] = r->free_blk;
        r->free_blk = i;
    }
    r->nfree_blk = l.nblocks;
    for (uint32_t i = l.nobjs; i > 0; i--) {
        cs->objs[i - 1].lru_next = r->free_obj;
        r->free_obj = i;
    }
    __atomic_store_n(&r->magic, CS_MAGIC, __ATOMIC_RELEASE);   /* last */
    return 0;
}

int gh_cache_store_reserve(struct gh_cache_store *cs, struct gh_shm *shm, size_t size)
{
    bool fresh;
    void *mem = gh_shm_region(shm, GH_CACHE_REGION, GH_CACHE_LAYOUT, size, &fresh);

    if (mem == NULL) {
        gh_log_error("cache: no room for %zu bytes in the shared segment (raise shm_size)", size);
        return -1;
    }
    return gh_cache_store_init(cs, mem, size, GH_CACHE_BLOCK, fresh);
}

void gh_cache_store_set_proc(struct gh_cache_store *cs, int proc, size_t max_object_size)
{
    cs->proc = proc >= 0 && proc < GH_SHM_MAX_PROCS ? proc : -1;
    cs->max_object_size = max_object_size;
}

void gh_cache_key_hash(const struct gh_cache_store *cs, const void *data, size_t len,
                       struct gh_cache_key *out)
{
    const uint64_t *k = cs->r->sipkey;

    out->h[0] = gh_siphash24(k[0], k[1], data, len, false);
    out->h[1] = gh_siphash24(k[2], k[3], data, len, false);
}

/* ---- lists (global lock) ----------------------------------------------- */

static void lru_unlink(struct gh_cache_store *cs, struct cs_obj *o)
{
    struct cs_region *r = cs->r;

    if (!o->in_lru)
        return;
    if (o->lru_prev != 0)
        O(cs, o->lru_prev)->lru_next = o->lru_next;
    else
        r->lru_head = o->lru_next;
    if (o->lru_next != 0)
        O(cs, o->lru_next)->lru_prev = o->lru_prev;
    else
        r->lru_tail = o->lru_prev;
    o->lru_prev = o->lru_next = 0;
    o->in_lru = 0;
}

static void lru_push_head(struct gh_cache_store *cs, struct cs_obj *o)
{
    struct cs_region *r = cs->r;
    uint32_t i = obj_idx1(cs, o);

    o->lru_prev = 0;
    o->lru_next = r->lru_head;
    if (r->lru_head != 0)
        O(cs, r->lru_head)->lru_prev = i;
    else
        r->lru_tail = i;
    r->lru_head = i;
    o->in_lru = 1;
}

/* Return a DOOMED object without references and its blocks to the free
 * lists. The chain is detached first, so a death half-way leaves blocks
 * that no chain holds, which the rebuild frees. */
static void obj_free_locked(struct gh_cache_store *cs, struct cs_obj *o)
{
    struct cs_region *r = cs->r;
    uint32_t b = o->first, n = 0;

    o->first = o->last = 0;
    o->nblocks = 0;
    while (b != 0 && n++ < r->nblocks) {
        uint32_t next = cs->bnext[b - 1];
        cs->bowner[b - 1] = 0;
        cs->bnext[b - 1] = r->free_blk;
        r->free_blk = b;
        r->nfree_blk++;
        b = next;
    }
    lru_unlink(cs, o);
    atomic_store(&o->length, 0);
    atomic_store(&o->state, OBJ_FREE);
    o->lru_next = r->free_obj;
    r->free_obj = obj_idx1(cs, o);
    r->nlive--;
}

/* ---- recovery ---------------------------------------------------------- */

/* The global lock was held by a process that died: rebuild the free lists,
 * the chains' tails and the LRU list from the object table. */
static void rebuild_global(struct gh_cache_store *cs)
{
    struct cs_region *r = cs->r;

    memset(cs->bowner, 0, (size_t)r->nblocks * 4);
    r->free_obj = r->free_blk = r->nfree_blk = r->nlive = 0;
    r->lru_head = r->lru_tail = 0;
    for (uint32_t i = r->nobjs; i > 0; i--) {
        struct cs_obj *o = O(cs, i);
        uint32_t st = atomic_load(&o->state);
        if (st == OBJ_DOOMED && atomic_load(&o->refs) == 0 && !atomic_load(&o->indexed)) {
            o->first = 0;                       /* nobody will release it: free it */
            atomic_store(&o->state, OBJ_FREE);
            st = OBJ_FREE;
        }
        if (st == OBJ_FREE) {
            o->first = o->last = o->nblocks = 0;
            o->in_lru = 0;
            o->lru_next = r->free_obj;
            r->free_obj = i;
            continue;
        }
        uint32_t b = o->first, prev = 0, n = 0;
        while (b != 0 && b <= r->nblocks && cs->bowner[b - 1] == 0) {
            cs->bowner[b - 1] = i;
            prev = b;
            n++;
            b = cs->bnext[b - 1];
        }
        if (prev != 0)
            cs->bnext[prev - 1] = 0;            /* cut a torn or cross-linked tail */
        else
            o->first = 0;
        o->last = prev;
        o->nblocks = n;
        if (atomic_load(&o->length) > (uint64_t)n * r->block_size)
            atomic_store(&o->length, (uint64_t)n * r->block_size);
        r->nlive++;
        o->in_lru = 0;
        if (st == OBJ_LIVE)
            lru_push_head(cs, o);               /* order is lost: table order */
    }
    for (uint32_t b = r->nblocks; b > 0; b--) {
        if (cs->bowner[b - 1] != 0)
            continue;
        cs->bnext[b - 1] = r->free_blk;
        r->free_blk = b;
        r->nfree_blk++;
    }
    atomic_fetch_add(&r->recoveries, 1);
}

/* Stripe s was held by a process that died: rebuild its bucket chains from
 * the `indexed` flags and recount its objects' references from the holds. */
static void rebuild_stripe(struct gh_cache_store *cs, uint32_t s)
{
    struct cs_region *r = cs->r;

    for (uint32_t b = s; b < r->nbuckets; b += r->nstripes)
        cs->buckets[b] = 0;
    for (uint32_t i = 1; i <= r->nobjs; i++) {
        struct cs_obj *o = O(cs, i);
        if (stripe_of(cs, o->key) != s)
            continue;
        atomic_store(&o->refs, 0);
        if (!atomic_load(&o->indexed) || atomic_load(&o->state) != OBJ_LIVE) {
            atomic_store(&o->indexed, 0);
            continue;
        }
        uint32_t b = bucket_of(cs, o->key);
        o->hnext = cs->buckets[b];
        cs->buckets[b] = i;
    }
    for (int p = 0; p < GH_SHM_MAX_PROCS; p++)
        for (int h = 0; h < GH_CACHE_HOLDS; h++) {
            uint32_t v = atomic_load(&cs->holds[p][h]);
            if (v != 0 && v <= r->nobjs && stripe_of(cs, O(cs, v)->key) == s)
                atomic_fetch_add(&O(cs, v)->refs, 1);
        }
    atomic_fetch_add(&r->recoveries, 1);
}

static int g_lock(struct gh_cache_store *cs)
{
    int rc = gh_mutex_lock(&cs->r->lock);

    if (rc == -1)
        return -1;
    if (rc == GH_LOCK_RECOVERED) {
        rebuild_global(cs);
        gh_mutex_consistent(&cs->r->lock);
    }
    return 0;
}

static void g_unlock(struct gh_cache_store *cs)
{
    gh_mutex_unlock(&cs->r->lock);
}

static int s_lock(struct gh_cache_store *cs, uint32_t s)
{
    pthread_mutex_t *m = &cs->stripes->locks[s];
    int rc = gh_mutex_lock(m);

    if (rc == -1)
        return -1;
    if (rc == GH_LOCK_RECOVERED) {
        rebuild_stripe(cs, s);
        gh_mutex_consistent(m);
    }
    return 0;
}

/* 0 locked, -1 busy or unusable. */
static int s_trylock(struct gh_cache_store *cs, uint32_t s)
{
    pthread_mutex_t *m = &cs->stripes->locks[s];
    int rc = pthread_mutex_trylock(m);     /* not gh_mutex_trylock: no logging under the lock */

    if (rc == EOWNERDEAD) {
        rebuild_stripe(cs, s);
        gh_mutex_consistent(m);
        return 0;
    }
    return rc == 0 ? 0 : -1;
}

static void s_unlock(struct gh_cache_store *cs, uint32_t s)
{
    gh_mutex_unlock(&cs->stripes->locks[s]);
}

/* ---- index (stripe lock) ----------------------------------------------- */

static void unindex_locked(struct gh_cache_store *cs, struct cs_obj *o)
{
    uint32_t *p = &cs->buckets[bucket_of(cs, o->key)], i = obj_idx1(cs, o), n = 0;

    atomic_store(&o->indexed, 0);
    while (*p != 0 && n++ < cs->r->nobjs) {
        if (*p == i) {
            *p = o->hnext;
            break;
        }
        p = &O(cs, *p)->hnext;
    }
    o->hnext = 0;
}

static struct cs_obj *find_locked(struct gh_cache_store *cs, const uint64_t key[2])
{
    uint32_t i = cs->buckets[bucket_of(cs, key)], n = 0;

    while (i != 0 && n++ < cs->r->nobjs) {
        struct cs_obj *o = O(cs, i);
        if (o->key[0] == key[0] && o->key[1] == key[1] && atomic_load(&o->state) == OBJ_LIVE)
            return o;
        i = o->hnext;
    }
    return NULL;
}

/* Stripe held: take o out of the index and off the LRU list; free it now
 * if nobody holds it. */
static void doom_locked(struct gh_cache_store *cs, struct cs_obj *o)
{
    if (atomic_load(&o->indexed))
        unindex_locked(cs, o);
    atomic_store(&o->state, OBJ_DOOMED);
    if (g_lock(cs) == -1)
        return;                             /* it stays DOOMED; a rebuild frees it */
    lru_unlink(cs, o);
    if (atomic_load(&o->refs) == 0 && atomic_load(&o->state) == OBJ_DOOMED)
        obj_free_locked(cs, o);
    g_unlock(cs);
}

/* A free slot in this process's hold row, or -1. */
static int hold_slot(struct gh_cache_store *cs)
{
    if (cs->proc < 0)
        return -1;
    for (int h = 0; h < GH_CACHE_HOLDS; h++)
        if (atomic_load_explicit(&cs->holds[cs->proc][h], memory_order_relaxed) == 0)
            return h;
    return -1;
}

/* Stripe held: record a reference of proc to o in hold h. */
static void take_ref_locked(struct gh_cache_store *cs, struct cs_obj *o, int proc, int h)
{
    atomic_store(&cs->holds[proc][h], obj_idx1(cs, o));
    atomic_fetch_add(&o->refs, 1);
}

/* Stripe held: drop the reference of proc in hold h to o. */
static void drop_ref_locked(struct gh_cache_store *cs, struct cs_obj *o, int proc, int h)
{
    if (atomic_load(&cs->holds[proc][h]) != obj_idx1(cs, o))
        return;
    atomic_store(&cs->holds[proc][h], 0);
    if (atomic_fetch_sub(&o->refs, 1) != 1 || atomic_load(&o->state) != OBJ_DOOMED)
        return;
    if (g_lock(cs) == -1)
        return;
    if (atomic_load(&o->refs) == 0 && atomic_load(&o->state) == OBJ_DOOMED)
        obj_free_locked(cs, o);
    g_unlock(cs);
}

/* ---- eviction and allocation (global lock) ----------------------------- */

/* Evict the least recently used complete object whose stripe is free.
 * True when one was taken out (its blocks may wait for its readers). */
static bool evict_one(struct gh_cache_store *cs)
{
    struct cs_region *r = cs->r;
    uint32_t i = r->lru_tail;

    for (int tries = 0; i != 0 && tries < CS_EVICT_TRIES; tries++) {
        struct cs_obj *o = O(cs, i);
        uint32_t prev = o->lru_prev;
        if (atomic_load(&o->state) != OBJ_LIVE) {
            lru_unlink(cs, o);                  /* a leftover: its releaser frees it */
        } else if (atomic_load(&o->wstate) == W_COMPLETE) {
            uint32_t s = stripe_of(cs, o->key);
            if (s_trylock(cs, s) == 0) {
                if (atomic_load(&o->indexed))
                    unindex_locked(cs, o);
                atomic_store(&o->state, OBJ_DOOMED);
                lru_unlink(cs, o);
                if (atomic_load(&o->refs) == 0)
                    obj_free_locked(cs, o);
                s_unlock(cs, s);
                atomic_fetch_add(&r->evictions, 1);
                return true;
            }
        }
        i = prev;
    }
    return false;
}

static uint32_t alloc_block_locked(struct gh_cache_store *cs)
{
    struct cs_region *r = cs->r;

    for (int n = 0; r->free_blk == 0 && n < CS_EVICT_ROUNDS; n++)
        if (!evict_one(cs))
            break;
    uint32_t b = r->free_blk;
    if (b == 0)
        return 0;
    r->free_blk = cs->bnext[b - 1];
    r->nfree_blk--;
    cs->bnext[b - 1] = 0;
    return b;
}

static struct cs_obj *alloc_obj_locked(struct gh_cache_store *cs)
{
    struct cs_region *r = cs->r;

    for (int n = 0; r->free_obj == 0 && n < CS_EVICT_ROUNDS; n++)
        if (!evict_one(cs))
            break;
    if (r->free_obj == 0)
        return NULL;
    struct cs_obj *o = O(cs, r->free_obj);
    r->free_obj = o->lru_next;
    o->lru_next = 0;
    r->nlive++;
    return o;
}

/* ---- readers ----------------------------------------------------------- */

int gh_cache_lookup(struct gh_cache_store *cs, const struct gh_cache_key *key,
                    struct gh_cache_ref *ref, struct gh_cache_info *info)
{
    uint32_t s = stripe_of(cs, key->h);
    int rc = -1;

    memset(ref, 0, sizeof(*ref));
    if (s_lock(cs, s) == -1)
        return -1;
    struct cs_obj *o = find_locked(cs, key->h);
    if (o != NULL && atomic_load(&o->wstate) != W_ABORTED) {
        int h = hold_slot(cs);
        if (h < 0) {
            rc = GH_AGAIN;
        } else {
            take_ref_locked(cs, o, cs->proc, h);
            ref->obj = obj_idx1(cs, o);
            ref->hold = (uint32_t)h;
            rc = 0;
        }
    }
    s_unlock(cs, s);
    if (rc != 0)
        return rc;
    info->meta = o->meta;
    info->meta_len = o->meta_len;
    info->complete = atomic_load_explicit(&o->wstate, memory_order_acquire) == W_COMPLETE;
    uint64_t n = atomic_load_explicit(&o->length, memory_order_acquire);
    info->length = n > o->name_len ? n - o->name_len : 0;
    if (cs->r->lru_head != ref->obj && g_lock(cs) == 0) {
        if (o->in_lru && atomic_load(&o->state) == OBJ_LIVE) {
            lru_unlink(cs, o);
            lru_push_head(cs, o);
        }
        g_unlock(cs);
    }
    return 0;
}

uint64_t gh_cache_length(const struct gh_cache_store *cs, const struct gh_cache_ref *ref,
                         bool *complete)
{
    const struct cs_obj *o = O(cs, ref->obj);

    *complete = atomic_load_explicit(&o->wstate, memory_order_acquire) == W_COMPLETE;
    uint64_t n = atomic_load_explicit(&o->length, memory_order_acquire);
    return n > o->name_len ? n - o->name_len : 0;
}

ssize_t gh_cache_map(struct gh_cache_store *cs, struct gh_cache_ref *ref, uint64_t off,
                     struct iovec *iov, int *niov, size_t len)
{
    struct cs_obj *o = O(cs, ref->obj);
    uint32_t bs = cs->r->block_size;
    uint32_t ws = atomic_load_explicit(&o->wstate, memory_order_acquire);
    uint64_t end = atomic_load_explicit(&o->length, memory_order_acquire);
    int max = *niov;

    *niov = 0;
    if (ws == W_ABORTED)
        return GH_ERROR;
    off += o->name_len;                     /* the caller's offsets start after the name */
    if (off >= end)
        return ws == W_COMPLETE ? GH_DONE : GH_AGAIN;
    if (ref->blk == 0 || off < ref->blk_off) {
        ref->blk = o->first;
        ref->blk_off = 0;
    }
    size_t done = 0;
    int n = 0;
    len = (size_t)GH_MIN((uint64_t)len, end - off);
    while (done < len) {
        while (off >= ref->blk_off + bs) {
            ref->blk = cs->bnext[ref->blk - 1];
            ref->blk_off += bs;
        }
        size_t in = (size_t)(off - ref->blk_off);
        size_t k = GH_MIN(len - done, bs - in);
        char *at = block_data(cs, ref->blk) + in;
        if (n > 0 && (char *)iov[n - 1].iov_base + iov[n - 1].iov_len == at) {
            iov[n - 1].iov_len += k;        /* the chain's next block is the adjacent one */
        } else {
            if (n == max)
                break;
            iov[n++] = (struct iovec){ at, k };
        }
        done += k;
        off += k;
    }
    *niov = n;
    return (ssize_t)done;
}

ssize_t gh_cache_read(struct gh_cache_store *cs, struct gh_cache_ref *ref, uint64_t off, void *buf,
                      size_t len)
{
    size_t done = 0;
    do {
        struct iovec v[8];
        int n = 8;
        ssize_t got = gh_cache_map(cs, ref, off + done, v, &n, len - done);
        if (got < 0)
            return done > 0 ? (ssize_t)done : got;
        for (int i = 0; i < n; i++) {
            memcpy((char *)buf + done, v[i].iov_base, v[i].iov_len);
            done += v[i].iov_len;
        }
        if (got == 0)
            break;
    } while (done < len);
    return (ssize_t)done;
}

bool gh_cache_claim(struct gh_cache_store *cs, const struct gh_cache_ref *ref, uint64_t now,
                    uint64_t until)
{
    struct cs_obj *o = O(cs, ref->obj);
    uint64_t cur = atomic_load(&o->claim);

    while (cur <= now)
        if (atomic_compare_exchange_weak(&o->claim, &cur, until))
            return true;
    return false;
}

bool gh_cache_is_indexed(struct gh_cache_store *cs, const struct gh_cache_ref *ref)
{
    if (ref->obj == 0)
        return false;
    struct cs_obj *o = O(cs, ref->obj);
    uint32_t s = stripe_of(cs, o->key);
    bool in = false;

    /* Under the stripe: a purge, eviction or replacement unindexes there. */
    if (s_lock(cs, s) == 0) {
        in = atomic_load(&o->indexed) && atomic_load(&o->state) == OBJ_LIVE
             && find_locked(cs, o->key) == o;
        s_unlock(cs, s);
    }
    return in;
}

void gh_cache_release(struct gh_cache_store *cs, struct gh_cache_ref *ref)
{
    if (ref->obj == 0)
        return;
    struct cs_obj *o = O(cs, ref->obj);
    uint32_t s = stripe_of(cs, o->key);

    if (s_lock(cs, s) == 0) {
        drop_ref_locked(cs, o, cs->proc, (int)ref->hold);
        s_unlock(cs, s);
    }
    memset(ref, 0, sizeof(*ref));
}

/* ---- writers ----------------------------------------------------------- */

int gh_cache_begin(struct gh_cache_store *cs, const struct gh_cache_key *key, const void *meta,
                   size_t meta_len, struct gh_cache_ref *w)
{
    return gh_cache_begin_named(cs, key, NULL, 0, meta, meta_len, w);
}

int gh_cache_begin_named(struct gh_cache_store *cs, const struct gh_cache_key *key,
                         const void *name, size_t name_len, const void *meta, size_t meta_len,
                         struct gh_cache_ref *w)
{
    struct cs_obj *o, *old;
    int h = hold_slot(cs);

    memset(w, 0, sizeof(*w));
    if (h < 0 || meta_len > GH_CACHE_META || name_len > GH_CACHE_NAME_MAX || g_lock(cs) == -1)
        return -1;
    o = alloc_obj_locked(cs);
    if (o != NULL) {
        o->key[0] = key->h[0];
        o->key[1] = key->h[1];
        memcpy(o->meta, meta, meta_len);
        o->meta_len = (uint32_t)meta_len;
        o->name_len = (uint32_t)name_len;   /* readers start past it */
        o->writer = cs->proc;
        o->first = o->last = o->nblocks = 0;
        o->hnext = 0;
        atomic_store(&o->length, 0);
        atomic_store(&o->claim, 0);
        atomic_store(&o->refs, 0);
        atomic_store(&o->wstate, W_WRITING);
        atomic_store(&o->state, OBJ_LIVE);
        lru_push_head(cs, o);
    }
    g_unlock(cs);
    if (o == NULL)
        return -1;
    /* The name goes first, before the object is in the index, so that a
     * purge never sees it without its whole name; readers see the bytes
     * past it only. A failed append dooms and frees the object (it is not
     * indexed and nobody holds it). */
    struct gh_cache_ref tmp = { .obj = obj_idx1(cs, o) };
    if (name_len > 0 && gh_cache_append(cs, &tmp, name, name_len) == -1)
        return -1;

    uint32_t s = stripe_of(cs, key->h);
    if (s_lock(cs, s) == -1) {
        atomic_store(&o->wstate, W_ABORTED);
        if (g_lock(cs) == 0) {              /* never indexed, no reference: free it */
            atomic_store(&o->state, OBJ_DOOMED);
            obj_free_locked(cs, o);
            g_unlock(cs);
        }
        return -1;
    }
    old = find_locked(cs, key->h);
    if (old != NULL && atomic_load(&old->wstate) == W_WRITING) {
        atomic_store(&o->wstate, W_ABORTED);
        doom_locked(cs, o);
        s_unlock(cs, s);
        return GH_AGAIN;
    }
    if (old != NULL)
        doom_locked(cs, old);
    atomic_store(&o->indexed, 1);
    cs_maybe_die(2);
    uint32_t b = bucket_of(cs, key->h);
    o->hnext = cs->buckets[b];
    cs->buckets[b] = obj_idx1(cs, o);
    take_ref_locked(cs, o, cs->proc, h);
    s_unlock(cs, s);
    atomic_fetch_add(&cs->r->inserts, 1);
    w->obj = obj_idx1(cs, o);
    w->hold = (uint32_t)h;
    return 0;
}

/* Mark the write aborted and take the object out of the index. */
static void abort_write(struct gh_cache_store *cs, struct cs_obj *o)
{
    uint32_t s = stripe_of(cs, o->key);

    atomic_store_explicit(&o->wstate, W_ABORTED, memory_order_release);
    if (s_lock(cs, s) == 0) {
        if (atomic_load(&o->state) == OBJ_LIVE)
            doom_locked(cs, o);
        s_unlock(cs, s);
    }
}

int gh_cache_set_meta(struct gh_cache_store *cs, struct gh_cache_ref *w, const void *meta,
                      size_t meta_len)
{
    struct cs_obj *o = O(cs, w->obj);

    if (meta_len > GH_CACHE_META || atomic_load(&o->wstate) != W_WRITING
        || atomic_load_explicit(&o->length, memory_order_relaxed) > o->name_len)
        return -1;
    /* Published by the release of the next append's length, or by the
     * commit's exchange: readers take the meta only after seeing either. */
    memcpy(o->meta, meta, meta_len);
    o->meta_len = (uint32_t)meta_len;
    return 0;
}

int gh_cache_append(struct gh_cache_store *cs, struct gh_cache_ref *w, const void *data,
                    size_t len)
{
    struct cs_obj *o = O(cs, w->obj);
    uint32_t bs = cs->r->block_size;
    uint64_t at = atomic_load_explicit(&o->length, memory_order_relaxed);

    if (atomic_load(&o->wstate) != W_WRITING)
        return -1;
    uint64_t max = cs->max_object_size + o->name_len;   /* the name is not counted */
    if (len > max || at > max - len) {
        abort_write(cs, o);
        return -1;
    }
    while (len > 0) {
        if (at == (uint64_t)o->nblocks * bs) {
            uint32_t b = 0;
            if (g_lock(cs) == 0) {
                b = alloc_block_locked(cs);
                if (b != 0) {
                    cs_maybe_die(1);
                    cs->bowner[b - 1] = w->obj;
                    if (o->last != 0)
                        cs->bnext[o->last - 1] = b;
                    else
                        o->first = b;
                    o->last = b;
                    o->nblocks++;
                }
                g_unlock(cs);
            }
            if (b == 0) {
                abort_write(cs, o);
                return -1;
            }
        }
        size_t in = (size_t)(at % bs);
        size_t n = GH_MIN(len, bs - in);
        memcpy(block_data(cs, o->last) + in, data, n);
        data = (const char *)data + n;
        len -= n;
        at += n;
        atomic_store_explicit(&o->length, at, memory_order_release);
    }
    return 0;
}

int gh_cache_commit(struct gh_cache_store *cs, struct gh_cache_ref *w)
{
    struct cs_obj *o = O(cs, w->obj);
    uint32_t expect = W_WRITING;
    int rc = atomic_compare_exchange_strong(&o->wstate, &expect, W_COMPLETE) ? 0 : -1;

    gh_cache_release(cs, w);
    return rc;
}

void gh_cache_abort(struct gh_cache_store *cs, struct gh_cache_ref *w)
{
    if (w->obj == 0)
        return;
    struct cs_obj *o = O(cs, w->obj);
    if (atomic_load(&o->wstate) == W_WRITING)
        abort_write(cs, o);
    gh_cache_release(cs, w);
}

int gh_cache_remove(struct gh_cache_store *cs, const struct gh_cache_key *key)
{
    uint32_t s = stripe_of(cs, key->h);

    if (s_lock(cs, s) == -1)
        return -1;
    struct cs_obj *o = find_locked(cs, key->h);
    if (o != NULL)
        doom_locked(cs, o);
    s_unlock(cs, s);
    return o != NULL ? 0 : -1;
}

/* ---- purge ------------------------------------------------------------- */

/* Stripe held, o indexed: does o's name equal (or, prefix, start with)
 * name? Its name bytes are below its published length, so they stay put
 * while the stripe is held (eviction and frees need it). */
static bool name_matches_locked(const struct gh_cache_store *cs, const struct cs_obj *o,
                                const char *name, size_t len, bool prefix)
{
    uint32_t bs = cs->r->block_size, b = o->first;

    if (o->name_len == 0 || atomic_load_explicit(&o->length, memory_order_acquire) < o->name_len
        || (prefix ? o->name_len < len : o->name_len != len))
        return false;
    for (size_t off = 0, n = 0; off < len && b != 0 && n++ < cs->r->nblocks; b = cs->bnext[b - 1]) {
        size_t k = GH_MIN(len - off, (size_t)bs);
        if (memcmp(block_data(cs, b), name + off, k) != 0)
            return false;
        off += k;
        if (off == len)
            return true;
    }
    return len == 0;
}

uint64_t gh_cache_purge(struct gh_cache_store *cs, const char *name, size_t len, bool prefix)
{
    struct cs_region *r = cs->r;
    uint64_t removed = 0;

    if (r == NULL)
        return 0;
    for (uint32_t i = 1; i <= r->nobjs; i++) {
        struct cs_obj *o = O(cs, i);
        if (atomic_load_explicit(&o->state, memory_order_relaxed) != OBJ_LIVE
            || !atomic_load_explicit(&o->indexed, memory_order_relaxed))
            continue;
        uint32_t s = stripe_of(cs, o->key);
        if (s_lock(cs, s) == -1)
            continue;
        /* The key may have changed since it was read: the stripe is then
         * another's and the object is looked at again only if it still is
         * in this stripe. */
        if (atomic_load(&o->state) == OBJ_LIVE && atomic_load(&o->indexed)
            && stripe_of(cs, o->key) == s && name_matches_locked(cs, o, name, len, prefix)) {
            doom_locked(cs, o);
            removed++;
        }
        s_unlock(cs, s);
    }
    return removed;
}

/* ---- dead processes and counts ----------------------------------------- */

/* Stripe held: o is being written by proc, which died: discard it. */
static void discard_dead_write(struct gh_cache_store *cs, struct cs_obj *o, int proc)
{
    if (atomic_load(&o->state) == OBJ_LIVE && atomic_load(&o->wstate) == W_WRITING
        && o->writer == proc) {
        atomic_store(&o->wstate, W_ABORTED);
        doom_locked(cs, o);
    }
}

void gh_cache_store_proc_exit(struct gh_cache_store *cs, int proc)
{
    struct cs_region *r = cs->r;

    if (r == NULL || proc < 0 || proc >= GH_SHM_MAX_PROCS)
        return;
    for (int h = 0; h < GH_CACHE_HOLDS; h++) {
        uint32_t v = atomic_load(&cs->holds[proc][h]);
        if (v == 0 || v > r->nobjs)
            continue;
        struct cs_obj *o = O(cs, v);
        uint32_t s = stripe_of(cs, o->key);
        if (s_lock(cs, s) == -1)
            continue;
        discard_dead_write(cs, o, proc);
        drop_ref_locked(cs, o, proc, h);
        s_unlock(cs, s);
    }
    /* Objects it was writing but had not yet taken a reference to (it died
     * inside begin, and a rebuild put them in the index). */
    for (uint32_t i = 1; i <= r->nobjs; i++) {
        struct cs_obj *o = O(cs, i);
        if (atomic_load(&o->state) != OBJ_LIVE || atomic_load(&o->wstate) != W_WRITING
            || o->writer != proc)
            continue;
        uint32_t s = stripe_of(cs, o->key);
        if (s_lock(cs, s) == -1)
            continue;
        discard_dead_write(cs, o, proc);
        s_unlock(cs, s);
    }
}

void gh_cache_store_stats(struct gh_cache_store *cs, struct gh_cache_stats *st)
{
    struct cs_region *r = cs->r;

    memset(st, 0, sizeof(*st));
    if (r == NULL)
        return;
    if (g_lock(cs) == 0) {
        st->objects = r->nlive;
        st->blocks_used = r->nblocks - r->nfree_blk;
        g_unlock(cs);
    }
    st->blocks_total = r->nblocks;
    st->size = r->size;
    st->block_size = r->block_size;
    for (uint32_t i = 1; i <= r->nobjs; i++)
        if (atomic_load_explicit(&O(cs, i)->state, memory_order_relaxed) == OBJ_LIVE)
            st->bytes += atomic_load_explicit(&O(cs, i)->length, memory_order_relaxed);
    st->inserts = atomic_load(&r->inserts);
    st->evictions = atomic_load(&r->evictions);
    st->recoveries = atomic_load(&r->recoveries);
}
