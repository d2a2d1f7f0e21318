/*
 * cache_priv.h - what the cache's files share (cache.c: the pipeline and
 * storing; cache_hit.c: answering from the store; cache_answer.c: what a
 * stored object answers, 304, 206 or 416; cache_vary.c: variants;
 * cache_reval.c: the upstream request and revalidation). Not for other
 * files: they use modules/cache.h.
 *
 * An object is its meta and a stream: the head's fields as
 * "Name: value\r\n" lines (head_len bytes), then the body as it went to
 * the client (decoded from the upstream's framing, and after the body
 * filters: a compressed response is stored compressed). A "vary marker"
 * (kind CACHE_VARY) sits under a primary key whose responses vary:
 * its stream is one mode byte then the response's Vary names; the
 * variants are objects under hash(primary text "\n" mode secondary key).
 */
#ifndef GH_CACHE_PRIV_H
#define GH_CACHE_PRIV_H

#include "modules/cache.h"
#include "server/proxy.h"
#include "modules/cache_rfc.h"
#include "modules/cache_store.h"

/* What an object is (cache_meta.kind). */
enum {
    CACHE_OBJ = 0,                      /* a response */
    CACHE_PENDING,                      /* begun at a miss, the upstream has not answered:
                                           others wait for it (collapsed forwarding) */
    CACHE_PASS,                         /* no bytes: the last answer was not stored, so
                                           misses do not wait for one another (hit-for-miss) */
    CACHE_VARY,                         /* a vary marker: the response's Vary names
                                           (cache_vary.c) */
};
#define CACHE_PASS_TTL 30               /* s: how long a pass marker holds */

#define GH_CACHE_VKEY_MAX 4096          /* secondary (Vary) key text */

/* Vary's Accept-Encoding in a secondary key: the coding gatehouse's
 * compression chooses for the request (the upstream sent the body
 * unencoded, so every variant is ours or identity), or the header's
 * normalized value (the upstream encodes itself: its choice is unknown). */
enum { GH_CACHE_AE_CODING = 'c', GH_CACHE_AE_RAW = 'r' };

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
    uint8_t encoded;                    /* the body is our compression filter's output */
};
_Static_assert(sizeof(struct cache_meta) <= GH_CACHE_META, "meta fits the store's");

struct cache_hit;

/* A stored head, read and split (r->pool). */
struct cache_head {
    struct cache_meta m;
    char *text;                         /* m.head_len bytes */
    struct gh_http_header *fields;      /* pointing into text */
    size_t nfields;
};

/* Per request, for the proxy's hooks. */
struct cache_ctx {
    struct gh_cache_key key;            /* the primary key */
    struct gh_cache_key okey;           /* the object's: key, or a variant's */
    struct gh_str key_text;             /* the primary key: every variant's name (purge) */
    struct gh_cache_req creq;
    const char *result;                 /* X-Cache: MISS, EXPIRED or BYPASS */
    int64_t request_time;
    bool store;                         /* the response may be stored */
    bool writing;
    bool pending;                       /* w is a CACHE_PENDING object this request began */
    bool background;                    /* a refresh without a client (gh_proxy_detach) */
    struct gh_cache_key pkey;           /* ... under this key */
    struct gh_cache_ref w;
    struct cache_hit *hit;              /* answering from the store (cache_hit.c) */
    /* Vary: the marker found under key (vary.len 0: none). */
    struct gh_str vary;
    char vary_mode;
    /* Revalidation: the expired object (held) whose validators went upstream. */
    bool reval;
    struct gh_cache_ref old_ref;
    struct gh_cache_info old_info;
    struct cache_head old;
    /* The client's fields while the upstream gets others (NULL: the same). */
    struct gh_http_header *client_headers;
    size_t client_nheaders;
    /* A stored object that was not fresh, kept while the request is
     * upstream: answered instead of an error when RFC 5861 or a dead
     * upstream allows (gh_cache_upstream_error). */
    struct gh_cache_ref stale;
    struct gh_cache_info stale_info;
};

static inline struct cache_ctx *gh_cache_ctx_of(struct gh_req *r)
{
    return gh_module_cache.index >= 0 ? r->mod_ctx[gh_module_cache.index] : NULL;
}

static inline bool gh_cache_key_eq(const struct gh_cache_key *a, const struct gh_cache_key *b)
{
    return a->h[0] == b->h[0] && a->h[1] == b->h[1];
}

static inline bool gh_cache_name_is(struct gh_str n, const char *lit)
{
    return gh_str_caseeq_lit(n, lit);
}

/* The worker's store (cache.c). */
struct gh_cache_store *gh_cache_store_get(void);

/* In cache.c. The meta and head text (r->pool) of an object for a
 * response of status with fields f[0..n) to ctx's request, stored from
 * now. 0, or -1 when it may not be stored (RFC 9111) or out of memory. */
int gh_cache_meta_make(struct gh_req *r, const struct cache_ctx *ctx, int status,
                       int version_minor, const struct gh_http_header *f, size_t n,
                       struct cache_meta *m, char **head);

/* In cache_hit.c. */
/* Split head lines (len bytes, each "Name: value\r\n") into fields
 * (r->pool). The number of fields, or -1. */
ssize_t gh_cache_split_head(struct gh_req *r, char *head, size_t len,
                            struct gh_http_header **out);
/* Answer r from the object ref holds (taken over; info from its lookup),
 * with X-Cache: xcache (static). An object without a byte yet (pending:
 * its meta is not final) is waited for up to cache.lock_timeout, then
 * checked (a pass marker, or not fresh for r: r goes upstream).
 * GH_ANSWERED, GH_CONTINUE when the object turned out unreadable or out
 * of memory (ref released: let the proxy answer), or GH_FAIL (r->status
 * set, nothing sent: out of memory, a header filter failed). Outside the
 * pipeline the caller must act on each. */
enum gh_verdict gh_cache_hit_serve(struct gh_req *r, struct cache_ctx *ctx,
                                   struct gh_cache_ref *ref, const struct gh_cache_info *info,
                                   const char *xcache);
/* The same as a source for a pump that exists (the proxy's, after an
 * upstream error); NULL when out of memory (ref released). */
const struct gh_resp_source *gh_cache_hit_source(struct gh_req *r, struct cache_ctx *ctx,
                                                 struct gh_cache_ref *ref,
                                                 const struct gh_cache_info *info,
                                                 const char *xcache);
/* A writer of this worker appended to (or finished) the object of key:
 * wake the requests of this worker that follow it. */
void gh_cache_hit_wake(const struct gh_cache_key *key);
/* The request is over: let go of the object if it still holds it. */
void gh_cache_hit_end(struct cache_ctx *ctx);

/* In cache_answer.c. What a stored object answers r, given the head h
 * made from it (fields, status) and its body's length (-1 unknown): the
 * client's conditionals make it a 304 (h->body none, the fields a 304
 * repeats kept), a Range a 206 or 416 (Content-Range added); a whole 200
 * of known length gets Accept-Ranges: bytes (one field at most is added
 * to h). *first and
 * *len are the body's part to send (*len -1: all of an unknown length).
 * 0, or -1 (out of room in h). */
int gh_cache_answer_edit(struct gh_req *r, const struct cache_meta *m, struct gh_resp_head *h,
                         int64_t body_len, uint64_t *first, int64_t *len);
/* The value of a stored field (trimmed), or an empty string. */
struct gh_str gh_cache_head_field(const struct cache_head *o, const char *name);

/* In cache_vary.c. The secondary key of r for a Vary value: the mode
 * byte, then gh_cache_vary_key's text, Accept-Encoding given as the coding
 * gh_compress_coding chooses ("zstd", "br", "gzip", "identity") in mode
 * GH_CACHE_AE_CODING. Its length, or -1 (Vary: *, too long, too many
 * names). */
ssize_t gh_cache_vary_text(const struct gh_req *r, struct gh_str vary, char mode, char *out,
                           size_t outsz);
/* Do two Vary values name the same headers (case, order, repeats aside)? */
bool gh_cache_vary_same(struct gh_str a, struct gh_str b);
/* The object key a request looks up under a marker
 * (vary/mode as the marker holds them): 0, or -1 when no key can be made
 * (the request is then not cached). */
int gh_cache_variant_key(struct gh_req *r, const struct cache_ctx *ctx, struct gh_str vary,
                         char mode, struct gh_cache_key *out);
/* A lookup found a complete marker under the primary key (ref, released
 * here): note it in ctx and look up the request's variant: gh_cache_lookup's
 * return (ref and *vinfo then the variant's), -1 also when no variant key
 * can be made (ctx->store is then false: the primary key is the marker's). */
int gh_cache_vary_lookup(struct gh_req *r, struct cache_ctx *ctx, struct gh_cache_ref *ref,
                         const struct gh_cache_info *info, struct gh_cache_info *vinfo);
/* Storing a response whose fields (f, n) may have Vary: point ctx->okey
 * at its variant, writing (or replacing) the marker first when the
 * response varies otherwise than the marker found says. mode_raw: the
 * upstream encoded the body itself. When a marker is written, the variant
 * is begun (meta m) before the marker is committed: *begun then says
 * ctx->w is the variant's writer. 0, or -1: do not store it. */
int gh_cache_vary_store(struct gh_req *r, struct cache_ctx *ctx, const struct gh_http_header *f,
                        size_t n, bool mode_raw, const struct cache_meta *m, bool *begun);

/* In cache_reval.c. An expired object (ref, info from the lookup) was
 * found: keep it for revalidation when the request will store its answer
 * and the object has a validator (else ref is released). */
void gh_cache_reval_want(struct gh_req *r, struct cache_ctx *ctx, struct gh_cache_ref *ref,
                         const struct gh_cache_info *info);
/* The request goes upstream: drop Range (a stored object is always the
 * whole 200) and, when revalidating, the client's conditionals, which are
 * answered from the refreshed object, putting the object's validators
 * instead. 0 or -1 (out of memory). */
int gh_cache_upstream_head(struct gh_req *r, struct cache_ctx *ctx);
/* The upstream has answered or the request is over: r's fields are the
 * client's again, and the expired object is let go. */
void gh_cache_reval_done(struct gh_req *r, struct cache_ctx *ctx);

#endif
