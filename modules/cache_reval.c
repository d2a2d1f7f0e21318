/*
 * cache_reval.c - what a cached request sends upstream, and revalidation
 * (RFC 9111 4.3).
 *
 * A request whose answer may be stored never sends Range or If-Range
 * upstream: the object is always the whole 200, and the Range is answered
 * from it later (nginx's proxy_cache does the same). An expired object
 * with an ETag or Last-Modified is revalidated: the request goes upstream
 * with the object's own validators (If-None-Match, If-Modified-Since) in
 * place of the client's conditionals (the refreshed object answers those,
 * like nginx's proxy_cache_revalidate). A 304 updates the stored head
 * with the 304's fields (4.3.4: not the framing, Content-Encoding or Vary
 * the variant depends on; an ETag stays weak on a body we compressed),
 * recomputes freshness, writes the object again (the store's meta is
 * written once: the old body, held by the request since the lookup, is
 * copied into a new object of the same key) and answers the client from
 * it with X-Cache: EXPIRED; an object purged or replaced while the 304
 * was on its way is not written again (the client still gets it). A 200
 * replaces the object as any miss does.
 * On a miss (no object to revalidate) the client's conditionals go
 * upstream as they came; a 304 is then passed on and not stored.
 */
#include <string.h>

#include "common/time.h"
#include "modules/blacklist.h"
#include "modules/cache_priv.h"
#include "modules/edge.h"

void gh_cache_reval_want(struct gh_req *r, struct cache_ctx *ctx, struct gh_cache_ref *ref,
                         const struct gh_cache_info *info)
{
    struct cache_head *o = &ctx->old;
    memcpy(&o->m, info->meta, sizeof(o->m));
    o->text = ctx->store && o->m.head_len <= info->length
                  ? gh_palloc(r->pool, (size_t)o->m.head_len + 1)
                  : NULL;
    size_t off = 0;
    while (o->text != NULL && off < o->m.head_len) {
        ssize_t n = gh_cache_read(gh_cache_store_get(), ref, off, o->text + off,
                                  o->m.head_len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    ssize_t nf = o->text != NULL && off == o->m.head_len
                     ? gh_cache_split_head(r, o->text, o->m.head_len, &o->fields)
                     : -1;
    o->nfields = nf > 0 ? (size_t)nf : 0;
    if (nf < 0 || (gh_cache_head_field(o, "etag").len == 0
                   && gh_cache_head_field(o, "last-modified").len == 0)) {
        gh_cache_release(gh_cache_store_get(), ref);
        return;
    }
    /* Held until the upstream answers: a 304 copies its body. */
    ctx->reval = true;
    ctx->old_ref = *ref;
    ctx->old_info = *info;
}

void gh_cache_reval_done(struct gh_req *r, struct cache_ctx *ctx)
{
    if (ctx->client_headers != NULL) {
        r->head.headers = ctx->client_headers;
        r->head.nheaders = ctx->client_nheaders;
        ctx->client_headers = NULL;
    }
    if (ctx->reval && ctx->old_ref.obj != 0)
        gh_cache_release(gh_cache_store_get(), &ctx->old_ref);
    ctx->reval = false;
}

static bool is_conditional(struct gh_str n)
{
    return gh_cache_name_is(n, "if-none-match") || gh_cache_name_is(n, "if-modified-since")
           || gh_cache_name_is(n, "if-match") || gh_cache_name_is(n, "if-unmodified-since");
}

int gh_cache_upstream_head(struct gh_req *r, struct cache_ctx *ctx)
{
    struct gh_http1_request *h = &r->head;
    if (!ctx->store || ctx->client_headers != NULL)
        return 0;                       /* nothing to store, or done already */
    bool change = ctx->reval;
    for (size_t i = 0; i < h->nheaders && !change; i++)
        change = gh_cache_name_is(h->headers[i].name, "range")
                 || gh_cache_name_is(h->headers[i].name, "if-range");
    if (!change)
        return 0;
    struct gh_http_header *f = gh_palloc(r->pool, (h->nheaders + 2) * sizeof(*f));
    if (f == NULL)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < h->nheaders; i++) {
        struct gh_str name = h->headers[i].name;
        if (gh_cache_name_is(name, "range") || gh_cache_name_is(name, "if-range")
            || (ctx->reval && is_conditional(name)))
            continue;
        f[n++] = h->headers[i];
    }
    if (ctx->reval) {
        struct gh_str etag = gh_cache_head_field(&ctx->old, "etag");
        struct gh_str lm = gh_cache_head_field(&ctx->old, "last-modified");
        if (etag.len > 0)
            f[n++] = (struct gh_http_header){ GH_STR("If-None-Match"), etag };
        if (lm.len > 0)
            f[n++] = (struct gh_http_header){ GH_STR("If-Modified-Since"), lm };
    }
    /* The client's fields come back once the upstream answered (the
     * answer from the object looks at its Range and conditionals). */
    ctx->client_headers = h->headers;
    ctx->client_nheaders = h->nheaders;
    h->headers = f;
    h->nheaders = n;
    return 0;
}

/* May a 304's field replace the stored ones of its name? */
static bool updates(struct gh_str n, bool encoded)
{
    static const char *const never[] = {
        "content-length", "transfer-encoding", "content-encoding", "content-range", "vary",
        "age", "x-cache", "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "upgrade", "set-cookie",
    };
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        if (gh_cache_name_is(n, never[i]))
            return false;
    return !(encoded && gh_cache_name_is(n, "accept-ranges"));
}

static bool has_field(const struct gh_http1_response *resp, struct gh_str name)
{
    for (size_t i = 0; i < resp->nheaders; i++)
        if (gh_str_caseeq(resp->headers[i].name, name))
            return true;
    return false;
}

/* Copy the old object's body (from the held reference) into w. 0 or -1. */
static int copy_body(struct gh_req *r, struct cache_ctx *ctx, struct gh_cache_ref *w)
{
    struct gh_cache_store *cs = gh_cache_store_get();
    uint64_t off = ctx->old.m.head_len, end = ctx->old_info.length;
    size_t cap = 16384;
    char *buf = gh_palloc(r->pool, cap);
    if (buf == NULL)
        return -1;
    while (off < end) {
        ssize_t n = gh_cache_read(cs, &ctx->old_ref, off, buf, (size_t)GH_MIN(cap, end - off));
        if (n <= 0 || gh_cache_append(cs, w, buf, (size_t)n) == -1)
            return -1;
        off += (uint64_t)n;
    }
    return 0;
}

bool gh_cache_resp_304(struct gh_req *r, const struct gh_http1_response *resp)
{
    struct cache_ctx *ctx = gh_cache_ctx_of(r);
    if (ctx == NULL || !ctx->reval)
        return false;
    struct cache_head *o = &ctx->old;
    bool enc = o->m.encoded;
    struct gh_http_header *f = gh_palloc(r->pool, (o->nfields + resp->nheaders) * sizeof(*f));
    if (f == NULL)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < o->nfields; i++)
        if (!(updates(o->fields[i].name, enc) && has_field(resp, o->fields[i].name)))
            f[n++] = o->fields[i];
    for (size_t i = 0; i < resp->nheaders; i++) {
        struct gh_http_header x = resp->headers[i];
        if (!updates(x.name, enc))
            continue;
        if (enc && gh_cache_name_is(x.name, "etag") && x.value.len > 0 && x.value.p[0] == '"') {
            /* our compressed bytes are not the upstream's: the tag stays weak */
            char *wk = gh_palloc(r->pool, x.value.len + 2);
            if (wk == NULL)
                return false;
            memcpy(wk, "W/", 2);
            memcpy(wk + 2, x.value.p, x.value.len);
            x.value = gh_str_make(wk, x.value.len + 2);
        }
        f[n++] = x;
    }
    /* The new head is a copy (the 304's fields point into the upstream's
     * buffer, which goes with the proxy). When it may not be stored any
     * more (the 304 said no-store), the client still gets the object it
     * validated, as it was. */
    struct cache_meta m;
    char *head;
    struct gh_cache_ref w;
    /* Nor when the object is no longer the key's (purged while the 304
     * was on its way, evicted, or replaced by a newer answer): writing it
     * again would bring purged bytes back or clobber the newer object. */
    if (gh_cache_is_indexed(gh_cache_store_get(), &ctx->old_ref)
        && gh_cache_meta_make(r, ctx, o->m.status, o->m.version_minor, f, n, &m, &head) == 0) {
        m.encoded = o->m.encoded;
        m.body_len = (int64_t)(ctx->old_info.length - o->m.head_len);
        if (gh_cache_begin_named(gh_cache_store_get(), &ctx->okey, ctx->key_text.p,
                                 ctx->key_text.len, &m, sizeof(m), &w) == 0) {
            if (gh_cache_append(gh_cache_store_get(), &w, head, m.head_len) == 0
                && copy_body(r, ctx, &w) == 0)
                (void)gh_cache_commit(gh_cache_store_get(), &w);
            else
                gh_cache_abort(gh_cache_store_get(), &w);
        }
    }
    /* The old reference is the answer's now (gh_cache_answer_refreshed):
     * the proxy letting go of r must not drop it. */
    ctx->reval = false;
    return true;
}

static bool is_response(const struct gh_cache_info *info)
{
    struct cache_meta m;
    memcpy(&m, info->meta, sizeof(m));
    return m.kind == CACHE_OBJ;
}

void gh_cache_answer_refreshed(struct gh_req *r)
{
    struct cache_ctx *ctx = gh_cache_ctx_of(r);
    struct gh_cache_ref ref;
    struct gh_cache_info info;
    enum gh_verdict v;
    /* The refreshed object, or else the old one (held). What the key
     * holds now may be no response at all: the refresh was not stored (no
     * room, a 304 with no-store) and a pass or vary marker took the key
     * meanwhile (a purge, another worker), or it is still being written. */
    gh_cache_reval_done(r, ctx);
    if (gh_cache_lookup(gh_cache_store_get(), &ctx->okey, &ref, &info) == 0 && info.complete
        && is_response(&info)) {
        gh_cache_release(gh_cache_store_get(), &ctx->old_ref);
        v = gh_cache_hit_serve(r, ctx, &ref, &info, "EXPIRED");
    } else {
        gh_cache_release(gh_cache_store_get(), &ref);   /* no-op when none */
        v = gh_cache_hit_serve(r, ctx, &ctx->old_ref, &ctx->old_info, "EXPIRED");
    }
    /* Outside the pipeline nobody else answers r: the proxy let go of it
     * (r->proxy is NULL) and its timer is cancelled, so a verdict left
     * unanswered would hang the connection or stream. An unreadable
     * object (GH_CONTINUE) is the upstream's answer we cannot give: 502. */
    if (v == GH_CONTINUE)
        v = gh_req_fail(r, 502, true);
    if (v == GH_FAIL)
        r->io->error(r, r->status, true);
}
