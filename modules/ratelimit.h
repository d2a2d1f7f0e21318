/*
 * ratelimit.h - rate limits (SPEC section 4 `rate_limits`, issue 5 item 3):
 * GCRA buckets in the shared segment, exact across every process.
 *
 * Semantics are nginx limit_req with burst and nodelay. For a limit of rate r
 * requests/second and burst b, the emission interval is T = 1/r (rounded UP
 * to a whole microsecond, so rounding never admits more) and each bucket
 * holds a theoretical arrival time TAT. A request at t computes
 * tat = max(TAT, t); when tat - t > b*T it is rejected and told to wait
 * ceil((tat - t - b*T) / 1 s) seconds, at least 1; otherwise TAT becomes
 * tat + T. Over any interval of S seconds at most 1 + b + r*S requests are
 * admitted per key, whichever processes they come from, and a rejected
 * request consumes nothing.
 *
 * Shared state: the region "ratelimit" (layout GH_RL_LAYOUT) holds
 *   - a table of buckets keyed by (limit name, key): a reload maps the new
 *     configuration onto them, so clients keep their state;
 *   - one 64-bit word per bucket, {12-bit entry generation, 52-bit TAT in
 *     microseconds}, charged with compare-and-swap and nothing else (no lock
 *     bit: STYLE.md, haproxy:src/freq_ctr.c);
 *   - striped robust mutexes taken only to insert or evict an entry; a
 *     lookup of an existing entry is lock-free (the generation acts as a
 *     sequence counter for the key bytes). A process killed while holding a
 *     stripe leaves at worst an empty entry: the next locker gets
 *     EOWNERDEAD, has nothing to repair and marks the stripe consistent;
 *   - per-process rejection counters (one block per segment process slot,
 *     summed on read, never reset: they never go backwards).
 *
 * The table is bounded (sized from the segment, i.e. shm_size, when the
 * region is created: 1/8 of it, 1,024 to 65,536 entries of 128 bytes; a reload keeps the size).
 * Keys are hashed with SipHash-2-4 under a random per-region secret; keys up
 * to GH_RL_KEY_MAX bytes are stored and compared, longer ones are identified
 * by that 64-bit hash alone. A key lives in one bucket of 8 entries (the
 * probe window); when it is full, an idle entry (TAT in the past: forgetting
 * it changes nothing) is reused first, else the least recently used one.
 * Evicting a non-idle entry, or admitting with no entry at all (the window
 * changes under us too often), forgets state and is counted: see
 * gh_ratelimit_table_full(), which the caller should log (once a minute)
 * when it grows. Nothing fails open silently.
 */
#ifndef GH_RATELIMIT_H
#define GH_RATELIMIT_H

#include <pthread.h>
#include "common/gh.h"

struct gh_conf;
struct gh_shm;

#define GH_RL_REGION "ratelimit"
#define GH_RL_LAYOUT 1u
#define GH_RL_KEY_MAX 88              /* longer keys are stored as their hash */
#define GH_RL_MAX_LIMITS 128          /* distinct limit names the region tracks */
#define GH_RL_MIN_ENTRIES 1024u
#define GH_RL_MAX_ENTRIES 65536u

/* Master, at start and on every reload, before forking workers: find or
 * reserve the region (a region of the same layout keeps its buckets, its
 * size and its counters; another layout starts fresh) and give every
 * configured limit name a stable id in it. Also prepares this process to
 * call gh_ratelimit_check (as gh_ratelimit_worker_init does). 0, or -1
 * (logged): no room in the segment, or more than GH_RL_MAX_LIMITS limits. */
int gh_ratelimit_shm_setup(struct gh_shm *shm, const struct gh_conf *conf);

/* Worker init (after fork, or in a new binary after USR2): find the region
 * in shm, resolve each conf->rate_limits[i] to its parameters and id, and
 * pick this process's counter block (its segment process slot, claimed by
 * the master; a shared overflow block when it has none). The region must
 * have been set up for this configuration. 0, or -1 (logged). */
int gh_ratelimit_worker_init(struct gh_shm *shm, const struct gh_conf *conf);

/* One request against limit idx (index into conf->rate_limits) for the key
 * bytes [key, key + len) at monotonic time now_ms (gh_now_ms; every process
 * must use the same clock). Returns 0 when admitted (the bucket is charged),
 * or the whole seconds (>= 1) the client should wait (Retry-After) when
 * rejected; a rejected request consumes nothing and is counted. Lock-free
 * when the key already has a bucket; otherwise takes one stripe mutex for a
 * bounded scan of 8 entries (no syscalls, logging or malloc under it),
 * recovering it if its owner died. An idx out of range, or a call before
 * init, admits (asserts in debug builds). Compare-and-swap contention is
 * retried a bounded number of times; past that the request is rejected
 * with Retry-After 1 (never an over-admission). */
int gh_ratelimit_check(int idx, const void *key, size_t len, int64_t now_ms);
/* The same in two steps, for a caller that checks one key many times (a
 * keep-alive connection's address) and keeps its hash: gh_ratelimit_hash
 * (idx, key, len) is fixed for the life of the process, and
 * gh_ratelimit_check_hashed with it does what gh_ratelimit_check does. */
uint64_t gh_ratelimit_hash(int idx, const void *key, size_t len);
int gh_ratelimit_check_hashed(int idx, const void *key, size_t len, uint64_t hash,
                              int64_t now_ms);

/* Rejections of limit idx since the region was created (summed over every
 * process, dead ones included; never goes backwards). 0 for a bad idx. For
 * /status.json and /metrics. */
uint64_t gh_ratelimit_rejected(int idx);

/* Times state was forgotten because the table was full: a non-idle bucket
 * was evicted, or a request was admitted without a bucket. Monotonic; the
 * caller logs "rate limit table full" when it grew, at most once a minute. */
uint64_t gh_ratelimit_table_full(void);

/* Times a stripe mutex was recovered from a dead owner. Monotonic. */
uint64_t gh_ratelimit_recovered(void);

/* Tests only: the stripe mutex that guards inserting (idx, key). */
pthread_mutex_t *gh_ratelimit_test_stripe(int idx, const void *key, size_t len);
/* Tests only: when on, this process SIGKILLs itself in the middle of its
 * next insert (stripe held, entry taken, half of the key written). */
void gh_ratelimit_test_die_in_insert(bool on);

#endif
