/*
 * cache_priv.h - what the cache's files share (cache.c: the pipeline and
 * storing; cache_hit.c: answering from the store). Not for other files:
 * they use modules/cache.h.
 */
#ifndef GH_CACHE_PRIV_H
#define GH_CACHE_PRIV_H

#include "modules/cache.h"
#include "modules/cache_rfc.h"
#include "modules/cache_store.h"

/* What an object is (cache_meta.kind). */
enum {
    CACHE_OBJ = 0,                      /* a response */
    CACHE_PENDING,                      /* begun at a miss, the upstream has not answered:
                                           others wait for it (collapsed forwarding) */
    CACHE_PASS,                         /* no bytes: the last answer was not stored, so
                                           misses do not wait for one another (hit-for-miss) */
};
#define CACHE_PASS_TTL 30               /* s: how long a pass marker holds */

/* An object's meta (the store's opaque bytes). */
struct cache_meta {
    int64_t response_time;              /* wall clock, s */
    int64_t initial_age, lifetime;      /* s */
    int64_t body_len;                   /* the upstream's Content-Length, -1 unknown */
    struct gh_cc cc;                    /* the stored response's */
    uint32_t head_len;
    uint16_t status;
    uint8_t version_minor;
    uint8_t kind;                       /* CACHE_* */
};
_Static_assert(sizeof(struct cache_meta) <= GH_CACHE_META, "meta fits the store's");

struct cache_hit;

/* Per request, for the proxy's hooks. */
struct cache_ctx {
    struct gh_cache_key key;
    struct gh_str key_text;             /* the primary key: every variant's name (purge) */
    struct gh_cache_req creq;
    const char *result;                 /* X-Cache: MISS, EXPIRED or BYPASS */
    int64_t request_time;
    bool store;                         /* the response may be stored */
    bool writing;
    bool pending;                       /* w is a CACHE_PENDING object this request began */
    struct gh_cache_ref w;
    struct cache_hit *hit;              /* answering from the store (cache_hit.c) */
};

/* The worker's store (cache.c). */
struct gh_cache_store *gh_cache_store_get(void);

/* In cache_hit.c. */
/* Answer r from the object ref holds (taken over; info from its lookup),
 * with X-Cache: xcache (static). An object without a byte yet (pending:
 * its meta is not final) is waited for up to cache.lock_timeout, then
 * checked (a pass marker, or not fresh for r: r goes upstream).
 * GH_ANSWERED, or GH_CONTINUE when the object turned out unreadable (ref
 * released: let the proxy answer). */
enum gh_verdict gh_cache_hit_serve(struct gh_req *r, struct cache_ctx *ctx,
                                   struct gh_cache_ref *ref, const struct gh_cache_info *info,
                                   const char *xcache);
/* A writer of this worker appended to (or finished) the object of key:
 * wake the requests of this worker that follow it. */
void gh_cache_hit_wake(const struct gh_cache_key *key);
/* The request is over: let go of the object if it still holds it. */
void gh_cache_hit_end(struct cache_ctx *ctx);

#endif
