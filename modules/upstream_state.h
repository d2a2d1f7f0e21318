/*
 * upstream_state.h - upstream server state shared by every process, in one
 * region of the shared segment ("upstreams", layout GH_US_LAYOUT).
 *
 * The region holds a table of server slots keyed by (upstream name, server
 * address), so a reload that adds or removes servers keeps the state of
 * every server that remains:
 *   - health (up/down, written by the helper only, with its rise/fall
 *     counters), the drain flag (written by the admin API), passive failure
 *     state (max_fails within fail_timeout, counted by every worker),
 *     up_since (for slow_start), and the active-connection gauge summed over
 *     all processes (least_conn, random2, max_conns read it);
 *   - per-process counters (active connections, requests, errors, latency),
 *     one block per process slot of the segment (gh_shm_proc_*), each written
 *     by its process only and summed on read. When the master reaps a
 *     process it zeroes that process's gauge and folds its monotonic
 *     counters into the slot's retired totals, under a sequence counter so
 *     that a reader never sees a counter go backwards.
 *
 * Counters and flags are atomics; the region mutex (robust) guards only the
 * allocation of slots, which only the master does (before forking and on
 * reload). Workers and the helper map their configured servers to slots at
 * start (gh_us_find) and then touch only those slots, without locks.
 */
#ifndef GH_UPSTREAM_STATE_H
#define GH_UPSTREAM_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include "common/conf.h"
#include "common/shm.h"

#define GH_US_REGION "upstreams"
/* 2: latency buckets per process and retired (issue 14). */
#define GH_US_LAYOUT 2u
#define GH_US_KEY_LEN 240                /* "upstream\0address\0" must fit */
#define GH_US_MIN_SLOTS 256
/* Upstream latency buckets (ms, inclusive upper bounds; a sample lands in
 * the first bucket that holds it, one over the last bound only in
 * lat_count): gh_us_lat_bound_ms[]. */
#define GH_US_LAT_BUCKETS 13
extern const uint32_t gh_us_lat_bound_ms[GH_US_LAT_BUCKETS];
/* Per-process counter blocks: one per segment process slot, plus one shared
 * block for a process that found no slot (never folded). */
#define GH_US_NPROCS (GH_SHM_MAX_PROCS + 1)

/* One server's shared state. */
struct gh_us_slot {
    _Atomic uint32_t used;              /* 0 = free */
    uint32_t key_len;                   /* bytes of key used */
    char key[GH_US_KEY_LEN];            /* upstream name, NUL, address, NUL */
    _Atomic uint32_t last_gen;          /* last configuration generation naming it */
    _Atomic int32_t down;               /* active health: 1 = down (helper writes) */
    _Atomic int32_t hc_ok, hc_fail;     /* consecutive good / failed checks (helper) */
    _Atomic int32_t drained;            /* admin: no new requests */
    _Atomic int32_t fails;              /* passive: failures in the current window */
    _Atomic int32_t active;             /* requests in flight, all processes */
    _Atomic int64_t fail_window;        /* passive: start of the window (monotonic ms) */
    _Atomic int64_t down_until;         /* passive: skipped until then (monotonic ms) */
    _Atomic int64_t up_since;           /* came (back) up at (monotonic ms); 0 = always */
    _Atomic uint64_t retired_requests, retired_errors, retired_lat_sum, retired_lat_count;
    _Atomic uint64_t retired_lat_bucket[GH_US_LAT_BUCKETS];
};

/* One process's counters for one server. Written only by that process
 * (relaxed load + store), except by the master after the process died. */
struct gh_us_pctr {
    _Atomic int32_t active;
    int32_t pad;
    _Atomic uint64_t requests, errors, lat_sum, lat_count;
    _Atomic uint64_t lat_bucket[GH_US_LAT_BUCKETS];     /* not cumulative */
};

struct gh_us_region {
    uint32_t magic;
    uint32_t capacity;                  /* server slots */
    pthread_mutex_t lock;               /* slot allocation (master only) */
    _Atomic uint64_t fold_seq;          /* odd while the master folds a dead process */
    /* then: struct gh_us_slot slots[capacity];
     *       struct gh_us_pctr pctr[GH_US_NPROCS][capacity]; */
};

/* Totals of one server, summed over every process and the retired ones. */
struct gh_us_totals {
    int64_t active;
    uint64_t requests, errors, lat_sum, lat_count;
    uint64_t lat_bucket[GH_US_LAT_BUCKETS];             /* not cumulative */
};

/* Bytes of a region with `capacity` slots. */
size_t gh_us_size(uint32_t capacity);
/* Initialise a fresh (zeroed) region in mem. 0 or -1 (logged). */
int gh_us_init(struct gh_us_region *reg, uint32_t capacity);

static inline struct gh_us_slot *gh_us_slots(struct gh_us_region *reg)
{
    return (struct gh_us_slot *)((char *)reg + ((sizeof(*reg) + 63) & ~(size_t)63));
}
static inline struct gh_us_slot *gh_us_slot(struct gh_us_region *reg, int idx)
{
    return &gh_us_slots(reg)[idx];
}
/* Process proc's counters for slot idx (proc -1: the shared overflow block). */
static inline struct gh_us_pctr *gh_us_pctr(struct gh_us_region *reg, int proc, int idx)
{
    if (proc < 0 || proc >= GH_SHM_MAX_PROCS)
        proc = GH_SHM_MAX_PROCS;
    struct gh_us_pctr *base = (struct gh_us_pctr *)(gh_us_slots(reg) + reg->capacity);
    return &base[(size_t)proc * reg->capacity + (size_t)idx];
}

/* The slot of (upstream, address), or -1. No lock: slots are only ever
 * added while processes read them, and a used slot keeps its key as long as
 * a live generation names it. */
int gh_us_find(struct gh_us_region *reg, const char *upstream, const char *addr);
/* Find or allocate a slot for every server of conf (takes the region lock;
 * master only). A new slot starts up, not drained. Servers of an upstream
 * without a health block are set up (so removing a health block cannot
 * leave a server down). When the table is full, slots not named by the
 * last two generations and idle are reclaimed; servers still without a slot
 * are counted and logged (they then keep private, per-worker state).
 * Returns the number of servers left without a slot. */
int gh_us_map_conf(struct gh_us_region *reg, const struct gh_conf *conf, uint32_t generation);
/* Fold process slot proc (dead) into the retired totals and zero its
 * gauges (master only, after reaping it). */
void gh_us_fold(struct gh_us_region *reg, int proc);
/* Sum slot idx over every process (consistent with folds). */
void gh_us_read(struct gh_us_region *reg, int idx, struct gh_us_totals *out);

/* Count one event in a process's counters (single writer: no lock prefix). */
static inline void gh_us_pctr_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Count one latency sample of ms milliseconds (>= 0) in a process's
 * counters: the sum, the count and its bucket (single writer, no lock). */
static inline void gh_us_pctr_latency(struct gh_us_pctr *c, uint64_t ms)
{
    gh_us_pctr_add(&c->lat_sum, ms);
    gh_us_pctr_add(&c->lat_count, 1);
    for (int b = 0; b < GH_US_LAT_BUCKETS; b++) {
        if (ms <= gh_us_lat_bound_ms[b]) {
            gh_us_pctr_add(&c->lat_bucket[b], 1);
            break;
        }
    }
}

/* The q-quantile (0 < q < 1) in ms of the samples in t, estimated from the
 * buckets as Prometheus's histogram_quantile does (linear within the
 * bucket; a rank above the last bound gives that bound). -1 when t has no
 * sample. */
double gh_us_latency_quantile(const struct gh_us_totals *t, double q);

/*
 * Master side: the region of this segment, reserved by gh_us_reserve (at
 * start and on every reload, before forking) and inherited by every child
 * through fork, so children need no directory lookup.
 */
/* Reserve (or find) the region, sized for max(GH_US_MIN_SLOTS, 2 x the
 * configured servers), keeping an existing region that is large enough
 * (reload, USR2), then map conf's servers. 0, or -1 (logged) when the
 * segment has no room: workers then keep private state. */
int gh_us_reserve(struct gh_shm *shm, const struct gh_conf *conf, uint32_t generation);
/* The region reserved by gh_us_reserve in this process or its parent, or
 * NULL. */
struct gh_us_region *gh_us_region(void);
/* The master reaped pid: fold its counters (before gh_shm_proc_release). */
void gh_us_proc_exit(struct gh_shm *shm, pid_t pid);

#endif
