/*
 * cache_hit.c - answering a request from a stored object.
 *
 * A complete object of at most HIT_ONE bytes (8 KB, head and body) to an
 * HTTP/1 client is copied out in one piece and answered with one write
 * (gh_req_respond_head): for a small hit the copy costs less than the
 * pump. Any other hit is a body source (struct gh_resp_source,
 * server/proxy.h) that the proxy's pump pulls from, without a copy: up to
 * HIT_SPAN bytes at a time are handed to the client's sink as spans of the
 * store's own blocks (gh_cache_map), which stay put while the hit holds
 * its reference, and the next spans only once the client took them. The
 * kernel's copy into the socket is the only one; a max_object_size object
 * costs no buffer at all, and a slow client holds no memory but the
 * object's blocks (kept from eviction until it is done).
 *
 * The same source follows an object that is still being written: the
 * store answers GH_AGAIN until its writer appends more. A writer in this
 * worker wakes its followers (gh_cache_hit_wake) as it appends; one in
 * another worker cannot, so a follower also polls, by timer, every 1 ms
 * doubling to POLL_MAX while nothing comes (back to 1 ms once bytes come).
 * A follower gives up when nothing came for timeouts.upstream_read (the
 * writer's own bound on a silent upstream) and, before the head, after
 * cache.lock_timeout; when the writer died or gave up (GH_ERROR) before
 * the head the request goes upstream itself, after it the client is reset
 * as for a proxied response cut short.
 */
#include <string.h>

#include "common/time.h"
#include "modules/blacklist.h"
#include "modules/cache_priv.h"
#include "modules/edge.h"
#include "server/filter.h"
#include "server/proxy.h"
#include "server/proxy_headers.h"

#define HIT_SPAN (256u * 1024)          /* body bytes a source step gives at most */
#ifndef HIT_ONE
#define HIT_ONE (8u * 1024)             /* a whole object copied in one piece, head and body */
#endif
#define POLL_MIN 1                      /* ms */
#define POLL_MAX 20

struct cache_hit {
    struct gh_req *r;
    struct gh_cache_ref ref;
    struct gh_cache_key key;
    const void *meta;                   /* the store's bytes (final once any byte is there) */
    struct cache_meta m;
    bool have_meta;
    bool pending;                       /* the meta was not final when served: check it */
    bool listed;                        /* on `followers` */
    const char *xcache;
    uint64_t off;                       /* the next stream offset to read */
    uint64_t end;                       /* ... and where the answer's body ends (a Range) */
    gh_msec_t due;                      /* waiting past this gives up */
    gh_msec_t poll;                     /* the next poll interval */
    struct cache_hit *prev, *next;
};

/* This worker's requests that follow an object being written. */
static struct cache_hit *followers;

void gh_cache_hit_wake(const struct gh_cache_key *key)
{
    for (struct cache_hit *k = followers; k != NULL; k = k->next)
        if (k->key.h[0] == key->h[0] && k->key.h[1] == key->h[1])
            gh_proxy_wake(k->r);
}

static void follow(struct cache_hit *k)
{
    if (k->listed)
        return;
    k->listed = true;
    k->prev = NULL;
    k->next = followers;
    if (followers != NULL)
        followers->prev = k;
    followers = k;
}

static void unfollow(struct cache_hit *k)
{
    if (!k->listed)
        return;
    k->listed = false;
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        followers = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
}

/* ---- the head ------------------------------------------------------------ */

ssize_t gh_cache_split_head(struct gh_req *r, char *head, size_t len,
                            struct gh_http_header **out)
{
    size_t n = 0;
    for (size_t i = 0; i + 1 < len; i++)
        n += head[i] == '\r' && head[i + 1] == '\n';
    struct gh_http_header *f = gh_palloc(r->pool, (n + 1) * sizeof(*f));
    if (f == NULL)
        return -1;
    size_t k = 0;
    for (char *p = head, *end = head + len; p < end && k < n;) {
        char *eol = memchr(p, '\r', (size_t)(end - p));
        char *colon = memchr(p, ':', (size_t)(end - p));
        if (eol == NULL || colon == NULL || colon > eol || colon + 2 > eol)
            return -1;
        f[k].name = gh_str_make(p, (size_t)(colon - p));
        f[k].value = gh_str_make(colon + 2, (size_t)(eol - colon - 2));
        k++;
        p = eol + 2;
    }
    *out = f;
    return (ssize_t)k;
}

/* The event a hit counts (X-Cache). */
static void count_served(const char *xcache)
{
    gh_edge_count_event(xcache[0] == 'H'   ? GH_EDGE_CACHE_HIT
                        : xcache[0] == 'S' ? GH_EDGE_CACHE_STALE
                                           : GH_EDGE_CACHE_EXPIRED);
}

/* The answer's head from the stored one (head: m->head_len bytes in
 * r->pool): its fields, Age, X-Cache, and Content-Length when body_len
 * is known (>= 0; else the protocol delimits the body); the client's
 * conditionals and Range decide the status (cache_answer.c), *first and
 * *len the body's part to send (*len -1: to the end, unknown). 0; -1
 * when the stored head is unreadable; -2 out of memory. */
static int make_head(struct gh_req *r, const struct cache_meta *m, char *head, int64_t body_len,
                     const char *xcache, struct gh_resp_head *h, uint64_t *first, int64_t *len)
{
    struct gh_http_header *fields;
    ssize_t nf = gh_cache_split_head(r, head, m->head_len, &fields);
    if (nf < 0)
        return -1;
    *h = (struct gh_resp_head){
        .status = m->status,
        .version_minor = m->version_minor,
        .fields = fields,
        .nfields = (size_t)nf,
        .add_max = gh_proxy_head_adds(r) + 4,
        .bytes = m->head_len,
        .length = -1,
    };
    h->drop = gh_pcalloc(r->pool, (size_t)nf + 1);
    h->add = gh_palloc(r->pool, h->add_max * sizeof(*h->add));
    char *num = gh_palloc(r->pool, 48);
    if (h->drop == NULL || h->add == NULL || num == NULL
        || gh_cache_answer_edit(r, m, h, body_len, first, len) == -1)
        return -2;
    body_len = *len;
    bool no_body = h->status == 204 || h->status == 304;
    h->body = no_body || r->head_only ? GH_RESP_NO_BODY
              : body_len >= 0         ? GH_RESP_LENGTH
                                      : GH_RESP_STREAM;
    if (h->body == GH_RESP_LENGTH)
        h->length = body_len;
    int64_t age = m->initial_age + GH_MAX(0, (int64_t)gh_now_sec - m->response_time);
    size_t an = gh_str_u64(num, (uint64_t)GH_MAX(age, 0));
    if (gh_resp_head_add(h, GH_STR("Age"), gh_str_make(num, an)) == -1
        || gh_resp_head_add(h, GH_STR("X-Cache"), gh_str_make(xcache, strlen(xcache))) == -1)
        return -2;
    if (!no_body && body_len >= 0) {
        size_t cn = gh_str_u64(num + 24, (uint64_t)body_len);
        if (gh_resp_head_add(h, GH_STR("Content-Length"), gh_str_make(num + 24, cn)) == -1)
            return -2;
    }
    return gh_header_filters_run(r, h) == -1 ? -2 : 0;
}

/* Copy n bytes from stream offset off (all of them there). 0 or -1. */
static int read_all(struct gh_cache_ref *ref, uint64_t off, char *to, size_t n)
{
    struct gh_cache_store *cs = gh_cache_store_get();
    size_t done = 0;
    while (done < n) {
        ssize_t k = gh_cache_read(cs, ref, off + done, to + done, n - done);
        if (k <= 0)
            return -1;
        done += (size_t)k;
    }
    return 0;
}

/* ---- the source ---------------------------------------------------------- */

static struct cache_hit *hit_of(struct gh_req *r)
{
    struct cache_ctx *ctx = r->mod_ctx[gh_module_cache.index];
    return ctx->hit;
}

/* Nothing new: GH_AGAIN with the next poll interval; GH_ERROR when the
 * write broke; GH_DONE when waited past k->due. */
static int wait_more(struct cache_hit *k, gh_msec_t *wait_ms)
{
    int none = 0;
    if (gh_cache_map(gh_cache_store_get(), &k->ref, k->off, NULL, &none, 0) == GH_ERROR)
        return GH_ERROR;
    if (gh_now_ms >= k->due)
        return GH_DONE;
    follow(k);
    *wait_ms = k->poll;
    k->poll = GH_MIN(k->poll * 2, POLL_MAX);
    return GH_AGAIN;
}

static void progressed(struct cache_hit *k)
{
    k->poll = POLL_MIN;
    k->due = gh_now_ms + k->r->conf->timeouts.upstream_read;
}

/* Before the head: r goes upstream instead (GH_ERROR to the pump), as a
 * miss that stores its answer when `store`. */
static int decline(struct gh_req *r, bool store)
{
    struct cache_ctx *ctx = r->mod_ctx[gh_module_cache.index];
    ctx->result = "MISS";
    ctx->store = store && r->head.method_id == GH_M_GET;
    /* An answer to store is fetched whole (no Range upstream); out of
     * memory, the Range goes and a 206 is passed on unstored. */
    (void)gh_cache_upstream_head(r, ctx);
    return GH_ERROR;
}

/* wait_more before the head: a broken write sends r upstream to store
 * the answer itself; a wait past cache.lock_timeout (or a stalled head)
 * sends it upstream uncached, the writer still has the key. */
static int head_wait(struct gh_req *r, struct cache_hit *k, gh_msec_t *wait_ms)
{
    int rc = wait_more(k, wait_ms);
    return rc == GH_AGAIN ? GH_AGAIN : decline(r, rc == GH_ERROR);
}

/* The meta of an object that was pending when r found it is final: may
 * r be answered from it? */
static bool usable(struct gh_req *r, const struct cache_meta *m)
{
    struct cache_ctx *ctx = r->mod_ctx[gh_module_cache.index];
    if (m->kind != CACHE_OBJ)
        return false;
    int64_t age = m->initial_age + GH_MAX(0, (int64_t)gh_now_sec - m->response_time);
    return gh_cache_use(&ctx->creq, &m->cc, m->lifetime, age) == GH_USE_FRESH;
}

/* k followed a pending object that became a vary marker (complete, len
 * bytes): follow r's variant instead, which is the writer's when r's
 * varied headers are the same (checked like a pending object: it may be
 * an older one), or go upstream to store r's own. */
static int follow_variant(struct gh_req *r, struct cache_hit *k, uint64_t len,
                          gh_msec_t *wait_ms)
{
    struct cache_ctx *ctx = r->mod_ctx[gh_module_cache.index];
    struct gh_cache_info info = { .meta = k->meta, .complete = true, .length = len };
    struct gh_cache_info vinfo;
    if (gh_cache_vary_lookup(r, ctx, &k->ref, &info, &vinfo) != 0)
        return decline(r, true);        /* k->ref is released */
    k->meta = vinfo.meta;
    k->key = ctx->okey;
    k->pending = true;
    *wait_ms = POLL_MIN;
    return GH_AGAIN;
}

static int hit_head(struct gh_req *r, struct gh_resp_head *h, gh_msec_t *wait_ms)
{
    struct cache_hit *k = hit_of(r);
    bool complete;
    uint64_t len = gh_cache_length(gh_cache_store_get(), &k->ref, &complete);
    if (!k->have_meta) {
        if (len == 0 && !complete)
            return head_wait(r, k, wait_ms);
        /* A byte past the name is there, or the object is complete: the
         * writer's meta is final. */
        memcpy(&k->m, k->meta, sizeof(k->m));
        if (k->pending && k->m.kind == CACHE_VARY) {
            /* The answer has Vary: the pending object became the vary
             * marker, and the writer's variant is being written. */
            if (!complete)
                return head_wait(r, k, wait_ms);
            return follow_variant(r, k, len, wait_ms);
        }
        k->have_meta = true;
        if (k->pending && !usable(r, &k->m))
            return decline(r, k->m.kind == CACHE_PASS);
        progressed(k);
    }
    if (len < k->m.head_len) {
        if (complete)
            return decline(r, true);
        return head_wait(r, k, wait_ms);
    }
    char *head = gh_palloc(r->pool, k->m.head_len + 1);
    if (head == NULL || read_all(&k->ref, 0, head, k->m.head_len) == -1)
        return decline(r, false);
    int64_t body_len = complete ? (int64_t)(len - k->m.head_len) : k->m.body_len;
    uint64_t first;
    int64_t part;
    int rc = make_head(r, &k->m, head, body_len, k->xcache, h, &first, &part);
    if (rc != 0)
        return decline(r, false);
    k->off = k->m.head_len + first;
    k->end = part >= 0 ? k->off + (uint64_t)part : UINT64_MAX;
    progressed(k);
    count_served(k->xcache);
    return 0;
}

static ssize_t hit_next(struct gh_req *r, struct iovec *iov, int *niov, gh_msec_t *wait_ms)
{
    struct cache_hit *k = hit_of(r);
    if (k->off >= k->end) {
        *niov = 0;
        return GH_DONE;                 /* the end of the range */
    }
    ssize_t n = gh_cache_map(gh_cache_store_get(), &k->ref, k->off, iov, niov,
                             (size_t)GH_MIN((uint64_t)HIT_SPAN, k->end - k->off));
    if (n > 0) {
        k->off += (uint64_t)n;
        progressed(k);
        return n;
    }
    if (n == GH_AGAIN)
        return wait_more(k, wait_ms) == GH_AGAIN ? GH_AGAIN : GH_ERROR;
    return n == GH_DONE ? GH_DONE : GH_ERROR;
}

static void hit_close(struct gh_req *r)
{
    struct cache_hit *k = hit_of(r);
    unfollow(k);
    gh_cache_release(gh_cache_store_get(), &k->ref);
}

void gh_cache_hit_end(struct cache_ctx *ctx)
{
    struct cache_hit *k = ctx->hit;
    if (k != NULL) {
        unfollow(k);
        gh_cache_release(gh_cache_store_get(), &k->ref);   /* no-op when released */
    }
}

static const struct gh_resp_source hit_source = {
    .head = hit_head,
    .next = hit_next,
    .close = hit_close,
};

/* The small complete object in one piece to an HTTP/1 client. */
static enum gh_verdict serve_whole(struct gh_req *r, struct gh_cache_ref *ref,
                                   const struct cache_meta *m, uint64_t len, const char *xcache)
{
    char *obj = gh_palloc(r->pool, len + 1);
    int rc = obj != NULL && m->head_len <= len ? read_all(ref, 0, obj, (size_t)len) : -1;
    gh_cache_release(gh_cache_store_get(), ref);
    struct gh_resp_head h;
    uint64_t first = 0;
    int64_t part = 0;
    if (rc == 0)
        rc = make_head(r, m, obj, (int64_t)(len - m->head_len), xcache, &h, &first, &part);
    if (rc == -1)
        return GH_CONTINUE;             /* unreadable: let the proxy answer */
    if (rc != 0)
        return gh_req_fail(r, 500, true);
    count_served(xcache);
    gh_req_respond_head(r, &h, obj + m->head_len + first,
                        h.body == GH_RESP_NO_BODY ? 0 : (size_t)part);
    return GH_ANSWERED;
}

const struct gh_resp_source *gh_cache_hit_source(struct gh_req *r, struct cache_ctx *ctx,
                                                 struct gh_cache_ref *ref,
                                                 const struct gh_cache_info *info,
                                                 const char *xcache)
{
    struct cache_hit *k = gh_pcalloc(r->pool, sizeof(*k));
    if (k == NULL) {
        gh_cache_release(gh_cache_store_get(), ref);
        return NULL;
    }
    k->r = r;
    k->ref = *ref;
    memset(ref, 0, sizeof(*ref));       /* the hit's now */
    k->key = ctx->okey;
    k->meta = info->meta;
    k->xcache = xcache;
    progressed(k);
    k->pending = !info->complete && info->length == 0;
    if (k->pending)
        k->due = gh_now_ms + r->conf->cache.lock_timeout;
    ctx->hit = k;
    return &hit_source;
}

enum gh_verdict gh_cache_hit_serve(struct gh_req *r, struct cache_ctx *ctx,
                                   struct gh_cache_ref *ref, const struct gh_cache_info *info,
                                   const char *xcache)
{
    if (info->complete && info->length <= HIT_ONE && !r->http2) {
        struct cache_meta m;
        memcpy(&m, info->meta, sizeof(m));
        return serve_whole(r, ref, &m, info->length, xcache);
    }
    const struct gh_resp_source *src = gh_cache_hit_source(r, ctx, ref, info, xcache);
    if (src == NULL)
        return GH_CONTINUE;
    gh_proxy_serve(r, src);
    return GH_ANSWERED;
}
