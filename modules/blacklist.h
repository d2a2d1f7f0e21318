/*
 * blacklist.h - the dynamic blacklist, automatic bans and the edge
 * rejection counters, in one region of the shared segment ("blacklist").
 *
 * The table is small and bounded (GH_BL_CAPACITY entries {prefix, expiry});
 * writers (the admin API in the helper, auto-ban in workers) take one robust
 * process-shared mutex and bump a generation counter. Readers (every worker,
 * at accept and on every request) never lock on the hot path: each keeps a
 * private trie (modules/acl.h) and rebuilds it from a snapshot when the
 * generation changed, so a ban reaches every worker on its next lookup.
 * Expiry is checked at lookup against the trie's per-prefix expiry, so an
 * expired entry stops matching without any write.
 *
 * When the table is full an add evicts an expired entry, else the oldest one
 * (logged, at most once a minute): a new ban is never silently dropped.
 * Times are CLOCK_MONOTONIC milliseconds (one clock for every process).
 */
#ifndef GH_BLACKLIST_H
#define GH_BLACKLIST_H

#include "common/conf.h"
#include "common/shm.h"
#include "modules/acl.h"

#define GH_BL_CAPACITY 1024             /* dynamic blacklist entries */
#define GH_BL_VIOL_CAPACITY 4096        /* clients tracked for auto_ban */
#define GH_BL_DEFAULT_TTL_MS (3600 * 1000)   /* POST /blacklist without "ttl" */

enum gh_edge_counter {
    GH_EDGE_BLACKLIST_REJECTED = 0,     /* refused by access.allow/deny or the blacklist */
    GH_EDGE_CONNLIMIT_REJECTED,         /* refused by max_conns_per_ip or max_connections */
    GH_EDGE_AUTO_BANS,                  /* bans added by auto_ban */
    GH_EDGE_PROXY_REJECTED,             /* PROXY protocol headers malformed, late or cut short */
    GH_EDGE_SLOW_CLIENTS,               /* cut by min_client_rate */
    GH_EDGE_TLS_FULL,                   /* TLS handshakes completed without resumption */
    GH_EDGE_TLS_RESUMED,                /* ... resuming a session (ticket or cache) */
    GH_EDGE_TLS_FAILED,                 /* ... refused or broken (alert, bad record, EOF) */
    GH_EDGE_TLS_TIMEOUT,                /* ... not finished within client_header */
    GH_EDGE_H2_SESSIONS,                /* HTTP/2 sessions started (ALPN h2 or h2c) */
    GH_EDGE_H2_STREAMS,                 /* HTTP/2 streams that became requests */
    GH_EDGE_H2_RESETS,                  /* ... that we reset (malformed, or given up) */
    GH_EDGE_H2_SESSION_ERRORS,          /* sessions ended by a protocol error or a flood */
    GH_EDGE_CACHE_HIT,                  /* cache routes' answers by X-Cache */
    GH_EDGE_CACHE_MISS,
    GH_EDGE_CACHE_EXPIRED,
    GH_EDGE_CACHE_BYPASS,
    GH_EDGE_CACHE_STALE,                /* X-Cache: STALE (counted by stale serving) */
    GH_EDGE_CACHE_PURGED,               /* objects dropped by POST /cache/purge */
    GH_EDGE_NCOUNTERS
};

struct gh_bl_entry {
    uint8_t key[16];
    int16_t plen;                       /* 0..128; -1 = unused */
    int64_t expires_ms;                 /* INT64_MAX = permanent */
    int64_t added_ms;
};

struct gh_bl_region;

/* Master, at start and on every reload, before forking: find or create the
 * region (its entries survive reloads). 0, or -1 (logged). */
int gh_bl_reserve(struct gh_shm *shm);
/* The region reserved by this process or inherited from the master (NULL
 * when reserving failed: callers then skip the dynamic blacklist). */
struct gh_bl_region *gh_bl_region(void);

/* Add (or refresh) a prefix for ttl_ms (INT64_MAX = permanent). 0 added,
 * 1 added after evicting an entry because the table was full. Takes the
 * table lock; logs after releasing it. */
int gh_bl_add(struct gh_bl_region *reg, const uint8_t key[16], int plen, int64_t ttl_ms);
/* Remove an exact prefix: 0, or -1 when absent. */
int gh_bl_remove(struct gh_bl_region *reg, const uint8_t key[16], int plen);
/* Copy the live entries into out (up to max): their count. */
size_t gh_bl_snapshot(struct gh_bl_region *reg, struct gh_bl_entry *out, size_t max);
/* A rate limit refused key: count it, and ban the client for
 * conf->access.ban_duration when it reached ban_violations within
 * ban_window. True when this call banned it. */
bool gh_bl_violation(struct gh_bl_region *reg, const struct gh_conf *conf, const uint8_t key[16]);

/* Per-worker reader: the cached trie of the table. */
struct gh_bl_cache {
    struct gh_acl acl;
    uint64_t generation;
    struct gh_bl_entry *snap;           /* GH_BL_CAPACITY entries */
};
int gh_bl_cache_init(struct gh_bl_cache *c);
void gh_bl_cache_free(struct gh_bl_cache *c);
/* Is key banned now? Rebuilds the cache first when the table changed. */
bool gh_bl_banned(struct gh_bl_cache *c, struct gh_bl_region *reg, const uint8_t key[16]);

/* Counters: per process slot, summed on read; gh_bl_proc_exit (master,
 * when it reaps a child) folds a dead process's into the retired totals. */
void gh_edge_count(struct gh_bl_region *reg, int proc, enum gh_edge_counter which);
/* Add n at once (proc -1: straight to the retired total, for a process
 * without a slot of its own or whose count must outlive it). */
void gh_edge_add(struct gh_bl_region *reg, int proc, enum gh_edge_counter which, uint64_t n);
uint64_t gh_edge_read(struct gh_bl_region *reg, enum gh_edge_counter which);
void gh_bl_proc_exit(struct gh_shm *shm, pid_t pid);
/* Tests only: the table lock. */
pthread_mutex_t *gh_bl_test_lock(struct gh_bl_region *reg);

#endif
