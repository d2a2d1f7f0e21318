/*
 * cache.c - the cache in the pipeline (see cache.h): look-up before the
 * proxy, storing as the response streams.
 *
 * An object is the upstream's end-to-end header fields, as the body
 * filters left them, as "Name: value\r\n" lines (without Content-Length,
 * Transfer-Encoding, Age, X-Cache, and Set-Cookie when it must not be
 * shared), then the body as the client gets it (cache_priv.h). Its meta
 * (struct cache_meta) holds what a look-up decides with: status, the
 * stored Cache-Control, the freshness lifetime, the corrected initial age
 * and when the response was received.
 */
#include <string.h>

#include "common/log.h"
#include "common/time.h"
#include "modules/cache_priv.h"
#include "modules/blacklist.h"
#include "modules/edge.h"
#include "server/filter.h"
#include "server/proxy_headers.h"

#define KEY_MAX 8192                    /* primary key text */

static struct {
    struct gh_cache_store store;
    bool on;                            /* the master reserved it */
} C;

struct gh_cache_store *gh_cache_store_get(void)
{
    return &C.store;
}

void gh_cache_reserve(struct gh_shm *shm, const struct gh_conf *conf)
{
    if (conf->cache.size == 0) {
        C.on = false;                   /* the region stays for a later reload */
        return;
    }
    size_t size = conf->cache.size;
    for (int i = 0; i < GH_SHM_MAX_REGIONS; i++) {
        const struct gh_shm_region_desc *d = &shm->hdr->regions[i];
        if (strcmp(d->name, GH_CACHE_REGION) == 0 && d->layout_version == GH_CACHE_LAYOUT
            && d->size != size) {
            gh_log_warn("cache.size changes take effect only at a restart: the cache keeps "
                        "%llu bytes", (unsigned long long)d->size);
            size = d->size;
        }
    }
    C.on = gh_cache_store_reserve(&C.store, shm, size) == 0;
    if (!C.on)
        gh_log_error("the cache is off");
}

void gh_cache_proc_exit(struct gh_shm *shm, pid_t pid)
{
    struct gh_shm_proc *p = gh_shm_proc_find(shm, pid);
    if (C.on && p != NULL)
        gh_cache_store_proc_exit(&C.store, (int)(p - shm->hdr->procs));
}

struct gh_cache_store *gh_cache_admin_store(bool *enabled)
{
    *enabled = C.on;
    return C.store.r != NULL ? &C.store : NULL;
}

static int cache_worker_init(const struct gh_worker_env *env)
{
    struct gh_shm_proc *p = gh_shm_proc_find(env->shm, env->pid);
    if (C.on)
        gh_cache_store_set_proc(&C.store, p != NULL ? (int)(p - env->shm->hdr->procs) : -1,
                                env->conf->cache.max_object_size);
    return 0;
}

/* ---- request side ------------------------------------------------------ */

static bool name_is(struct gh_str n, const char *lit)
{
    return gh_str_caseeq_lit(n, lit);
}

static void gather_req(const struct gh_req *r, struct gh_cache_req *q)
{
    bool has_cc = false, pragma = false;

    *q = (struct gh_cache_req){ .get_or_head = r->head.method_id == GH_M_GET
                                               || r->head.method_id == GH_M_HEAD };
    gh_cc_init(&q->cc);
    for (size_t i = 0; i < r->head.nheaders; i++) {
        const struct gh_http_header *f = &r->head.headers[i];
        if (name_is(f->name, "cache-control")) {
            gh_cc_parse(&q->cc, f->value.p, f->value.len);
            has_cc = true;
        } else if (name_is(f->name, "authorization")) {
            q->authorization = true;
        } else if (name_is(f->name, "pragma") && gh_str_list_has(f->value, "no-cache")) {
            pragma = true;
        }
    }
    q->pragma_no_cache = pragma && !has_cc;
}

/* The primary key (GET for HEAD too: a HEAD is answered from the GET
 * object). -1 when the target cannot be a key. */
static int make_key(struct gh_req *r, struct gh_cache_key *key, struct gh_str *key_text)
{
    const struct gh_http1_request *h = &r->head;
    struct gh_str host = h->authority.len > 0 ? h->authority : h->host;
    size_t tlen = h->path.len + (h->query.len > 0 ? 1 + h->query.len : 0);
    size_t klen = tlen + host.len + 32;
    char *target = gh_palloc(r->pool, tlen + 1), *text = gh_palloc(r->pool, klen);

    if (target == NULL || text == NULL || klen > KEY_MAX)
        return -1;
    memcpy(target, h->path.p, h->path.len);
    if (h->query.len > 0) {
        target[h->path.len] = '?';
        memcpy(target + h->path.len + 1, h->query.p, h->query.len);
    }
    ssize_t n = gh_cache_primary_key("GET", 3, r->https, host.p, host.len, target, tlen, text,
                                     klen);
    if (n < 0)
        return -1;
    gh_cache_key_hash(&C.store, text, (size_t)n, key);
    *key_text = gh_str_make(text, (size_t)n);
    return 0;
}

/* Would a request with these directives take a fresh object (one just
 * fetched: age 0, any lifetime)? Then it may wait for one being fetched. */
static bool request_may_wait(const struct gh_cache_req *q)
{
    struct gh_cc none;
    gh_cc_init(&none);
    return gh_cache_use(q, &none, GH_CC_DELTA_MAX, 0) == GH_USE_FRESH;
}

/* A cold miss that may be stored: put a CACHE_PENDING object in the
 * index before going upstream, so that the misses for the key that come
 * meanwhile wait for this one's answer (gh_cache_resp_head turns it into
 * the response, or into a pass marker). */
static enum gh_verdict begin_pending(struct gh_req *r, struct cache_ctx *ctx)
{
    if (!ctx->store || r->conf->cache.lock_timeout == 0)
        return GH_CONTINUE;
    /* Under the object's key: a variant's when a vary marker was found. */
    struct cache_meta pm = { .kind = CACHE_PENDING };
    int rc = gh_cache_begin_named(&C.store, &ctx->okey, ctx->key_text.p, ctx->key_text.len, &pm,
                                  sizeof(pm), &ctx->w);
    if (rc == 0) {
        ctx->writing = ctx->pending = true;
        ctx->pkey = ctx->okey;
    } else if (rc == GH_AGAIN) {
        /* Another miss began it since the lookup: wait for that one. */
        struct gh_cache_ref ref;
        struct gh_cache_info info;
        ctx->store = false;
        if (gh_cache_lookup(&C.store, &ctx->okey, &ref, &info) == 0) {
            if (!info.complete && info.length == 0 && request_may_wait(&ctx->creq))
                return gh_cache_hit_serve(r, ctx, &ref, &info, "HIT");
            gh_cache_release(&C.store, &ref);
        }
    }
    return GH_CONTINUE;
}

static void cache_req_done(struct gh_req *r);

/* stale-while-revalidate: a copy of r without a client fetches the object
 * again and stores it (server/proxy_detach.c). true when it started. */
static bool refresh_in_background(struct gh_req *r, const struct cache_ctx *ctx)
{
    struct gh_req *c = gh_proxy_detach(r, cache_req_done);
    if (c == NULL)
        return false;
    struct cache_ctx *x = gh_pcalloc(c->pool, sizeof(*x));
    char *kt = gh_palloc(c->pool, ctx->key_text.len + 1);
    char *vt = gh_palloc(c->pool, ctx->vary.len + 1);
    if (x == NULL || kt == NULL || vt == NULL) {
        gh_proxy_detach_abort(c);
        return false;
    }
    memcpy(kt, ctx->key_text.p, ctx->key_text.len);
    if (ctx->vary.len > 0)
        memcpy(vt, ctx->vary.p, ctx->vary.len);
    x->key = ctx->key;
    x->okey = ctx->okey;
    x->key_text = gh_str_make(kt, ctx->key_text.len);
    x->vary = gh_str_make(vt, ctx->vary.len);
    x->vary_mode = ctx->vary_mode;
    x->creq = ctx->creq;
    x->result = "EXPIRED";
    x->request_time = (int64_t)gh_now_sec;
    x->store = true;
    x->background = true;
    c->mod_ctx[gh_module_cache.index] = x;
    gh_proxy_detach_start(c);
    return true;
}

/* May the stale object m answer ctx's request now that the upstream
 * failed? stale-if-error's window; all_down (RFC 9111 4.2.4:
 * disconnected): any staleness, unless forbidden, which
 * gh_cache_stale_if_error checks as for a window without end. */
static bool stale_allowed(const struct cache_ctx *ctx, const struct cache_meta *m, bool all_down)
{
    int64_t age = m->initial_age + GH_MAX(0, (int64_t)gh_now_sec - m->response_time);
    struct gh_cache_req q = ctx->creq;
    if (all_down)
        q.cc.stale_if_error = GH_CC_DELTA_MAX;
    return m->kind == CACHE_OBJ && !(m->cc.flags & GH_CC_NO_CACHE) && !q.pragma_no_cache
           && gh_cache_stale_if_error(&q, &m->cc, m->lifetime, age);
}

/* An expired object that revalidation did not keep: hold it while the
 * request is upstream when it could answer an upstream failure (a
 * second reference, the same object or none). */
static void keep_stale(struct cache_ctx *ctx, const struct cache_meta *m)
{
    struct gh_cache_info info;
    if (!stale_allowed(ctx, m, true))
        return;
    if (gh_cache_lookup(&C.store, &ctx->okey, &ctx->stale, &info) != 0)
        return;
    struct cache_meta now;
    memcpy(&now, info.meta, sizeof(now));
    if (!info.complete || now.kind != CACHE_OBJ || now.response_time != m->response_time) {
        gh_cache_release(&C.store, &ctx->stale);    /* replaced meanwhile */
        return;
    }
    ctx->stale_info = info;
}

static bool is_marker(const struct gh_cache_info *info)
{
    struct cache_meta m;
    memcpy(&m, info->meta, sizeof(m));
    return m.kind == CACHE_VARY;
}

/* The look-up: answer from the store, wait for another request's answer,
 * or GH_CONTINUE to the proxy with ctx saying what its hooks do. */
static enum gh_verdict lookup(struct gh_req *r, struct cache_ctx *ctx)
{
    struct gh_cache_ref ref;
    struct gh_cache_info info;
    int rc = gh_cache_lookup(&C.store, &ctx->key, &ref, &info);
    if (rc == 0 && is_marker(&info)) {
        if (!info.complete) {
            gh_cache_release(&C.store, &ref);   /* being written: go upstream uncached */
            ctx->store = false;
            return GH_CONTINUE;
        }
        /* The URL's responses vary: the request's variant (ctx->okey). */
        struct gh_cache_info vinfo;
        rc = gh_cache_vary_lookup(r, ctx, &ref, &info, &vinfo);
        info = vinfo;
    }
    if (rc == 0 && !info.complete && info.length == 0) {
        /* Begun by a miss whose upstream has not answered yet: wait for
         * its answer rather than ask the upstream again (collapsed
         * forwarding), unless this request could not use it anyway. */
        if (ctx->creq.cc.flags & GH_CC_ONLY_IF_CACHED) {
            gh_cache_release(&C.store, &ref);
            return gh_req_fail(r, 504, false);
        }
        if (r->conf->cache.lock_timeout > 0 && request_may_wait(&ctx->creq))
            return gh_cache_hit_serve(r, ctx, &ref, &info, "HIT");
        gh_cache_release(&C.store, &ref);
        ctx->store = false;             /* the other request has the key */
        return GH_CONTINUE;
    }
    if (rc == 0) {
        /* An object still being written is fresh as well: a hit follows
         * it as it is written (cache_hit.c). */
        struct cache_meta m;
        memcpy(&m, info.meta, sizeof(m));
        int64_t age = m.initial_age + GH_MAX(0, (int64_t)gh_now_sec - m.response_time);
        if (m.kind == CACHE_PASS) {
            /* The last answer was not stored: no waiting, but this one
             * may be (it replaces the marker). */
            gh_cache_release(&C.store, &ref);
            if (ctx->creq.cc.flags & GH_CC_ONLY_IF_CACHED)
                return gh_req_fail(r, 504, false);
            if (age < m.lifetime)
                return GH_CONTINUE;
            return begin_pending(r, ctx);
        }
        enum gh_cache_use use = gh_cache_use(&ctx->creq, &m.cc, m.lifetime, age);
        if (use == GH_USE_FRESH)
            return gh_cache_hit_serve(r, ctx, &ref, &info, "HIT");
        if (use == GH_USE_STALE && info.complete)
            return gh_cache_hit_serve(r, ctx, &ref, &info, "STALE");   /* max-stale */
        if (use == GH_USE_STALE_REVALIDATE && info.complete) {
            /* stale-while-revalidate: the request that claims the object
             * starts its refresh in the background and, like every other
             * within the window, is answered the stale object at once
             * (when no copy can be made, it refreshes it itself). */
            gh_msec_t hold = GH_MAX(r->conf->cache.lock_timeout, 1000);
            if (!gh_cache_claim(&C.store, &ref, gh_now_ms, gh_now_ms + hold)
                || refresh_in_background(r, ctx))
                return gh_cache_hit_serve(r, ctx, &ref, &info, "STALE");
        }
        if (use == GH_USE_GATEWAY_TIMEOUT) {
            gh_cache_release(&C.store, &ref);
            return gh_req_fail(r, 504, false);
        }
        if (info.complete) {
            ctx->result = "EXPIRED";
            gh_cache_reval_want(r, ctx, &ref, &info);   /* keeps or releases ref */
            if (!ctx->reval)
                keep_stale(ctx, &m);
        } else {
            gh_cache_release(&C.store, &ref);
            ctx->store = false;         /* another request is writing it */
        }
    } else if (ctx->creq.cc.flags & GH_CC_ONLY_IF_CACHED) {
        return gh_req_fail(r, 504, false);
    } else if (rc == -1) {
        return begin_pending(r, ctx);
    }
    return GH_CONTINUE;
}

/* CONTENT, before the proxy: answer a fresh hit, or note what the proxy's
 * hooks will do. */
static enum gh_verdict cache_content(struct gh_req *r)
{
    const struct gh_conf_route *rt = r->match.route;

    if (!C.on || rt == NULL || !rt->cache_enabled || rt->has_return)
        return GH_CONTINUE;
    struct cache_ctx *ctx = gh_pcalloc(r->pool, sizeof(*ctx));
    if (ctx == NULL)
        return GH_CONTINUE;
    r->mod_ctx[gh_module_cache.index] = ctx;
    ctx->result = "BYPASS";
    gather_req(r, &ctx->creq);
    if (!ctx->creq.get_or_head || r->has_body || (ctx->creq.cc.flags & GH_CC_NO_STORE)
        || make_key(r, &ctx->key, &ctx->key_text) == -1)
        return GH_CONTINUE;
    ctx->okey = ctx->key;
    ctx->request_time = (int64_t)gh_now_sec;
    ctx->store = r->head.method_id == GH_M_GET;
    ctx->result = "MISS";
    enum gh_verdict v = lookup(r, ctx);
    if (v == GH_CONTINUE && gh_cache_upstream_head(r, ctx) == -1)
        return gh_req_fail(r, 500, true);
    return v;
}

/* ---- storing ----------------------------------------------------------- */

static void gather_resp(int status, const struct gh_http_header *f, size_t n,
                        struct gh_cache_resp *s, int64_t now)
{
    *s = (struct gh_cache_resp){ .status = status, .date = -1, .expires = -1, .age = -1,
                                 .last_modified = -1 };
    gh_cc_init(&s->cc);
    for (size_t i = 0; i < n; i++) {
        struct gh_str v = f[i].value;
        if (name_is(f[i].name, "cache-control")) {
            gh_cc_parse(&s->cc, v.p, v.len);
        } else if (name_is(f[i].name, "date") && s->date < 0) {
            s->date = gh_http_date_parse(v.p, v.len);
        } else if (name_is(f[i].name, "expires") && s->expires < 0) {
            s->expires = GH_MAX(gh_http_date_parse(v.p, v.len), 0);
        } else if (name_is(f[i].name, "age") && s->age < 0) {
            s->age = gh_str_to_u63(gh_str_trim(v));
        } else if (name_is(f[i].name, "last-modified") && s->last_modified < 0) {
            s->last_modified = gh_http_date_parse(v.p, v.len);
        } else if (name_is(f[i].name, "set-cookie")) {
            s->set_cookie = true;
        } else if (name_is(f[i].name, "etag")) {
            s->etag = true;
        } else if (name_is(f[i].name, "vary")) {
            s->vary_star = s->vary_star || gh_str_list_has(gh_str_trim(v), "*");
        }
    }
    if (s->date < 0)
        s->date = now;                  /* RFC 9110 6.6.1 */
}

/* The fields stored: the upstream's, but framing and our own. */
static bool field_stored(struct gh_str n, bool strip_cookie)
{
    return !(name_is(n, "content-length") || name_is(n, "transfer-encoding")
             || name_is(n, "age") || name_is(n, "x-cache")
             || (strip_cookie && name_is(n, "set-cookie")));
}

int gh_cache_meta_make(struct gh_req *r, const struct cache_ctx *ctx, int status,
                       int version_minor, const struct gh_http_header *f, size_t n,
                       struct cache_meta *m, char **head)
{
    int64_t now = (int64_t)gh_now_sec;
    struct gh_cache_resp s;
    bool strip;
    gather_resp(status, f, n, &s, now);
    const struct gh_conf_route *rt = r->match.route;
    struct gh_cache_policy pol = { rt->cache_ttl / 1000, r->conf->cache.override };
    if (gh_cache_storable(&ctx->creq, &s, &pol, &strip) != NULL)
        return -1;
    enum gh_cache_fresh_src src;
    *m = (struct cache_meta){
        .response_time = now,
        .initial_age = gh_cache_initial_age(&s, ctx->request_time, now),
        .lifetime = gh_cache_lifetime(&s, &pol, &src),
        .cc = s.cc,
        .status = (uint16_t)status,
        .version_minor = (uint8_t)version_minor,
        .kind = CACHE_OBJ,
    };
    size_t bound = 0;
    for (size_t i = 0; i < n; i++)
        bound += f[i].name.len + f[i].value.len + 4;
    char *h = gh_palloc(r->pool, bound + 1);
    if (h == NULL || bound > UINT32_MAX)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (!field_stored(f[i].name, strip))
            continue;
        memcpy(h + o, f[i].name.p, f[i].name.len);
        o += f[i].name.len;
        memcpy(h + o, ": ", 2);
        memcpy(h + o + 2, f[i].value.p, f[i].value.len);
        o += 2 + f[i].value.len;
        memcpy(h + o, "\r\n", 2);
        o += 2;
    }
    m->head_len = (uint32_t)o;
    *head = h;
    return 0;
}

/* This request's pending object will not be the response: make it a
 * pass marker (pass: the response is not stored, so that later misses do
 * not wait for one another), or discard it (the waiters go upstream). */
static void end_pending(struct cache_ctx *ctx, bool pass)
{
    if (!ctx->pending)
        return;
    ctx->pending = false;
    ctx->writing = false;
    struct cache_meta pm = { .kind = CACHE_PASS, .response_time = (int64_t)gh_now_sec,
                             .lifetime = CACHE_PASS_TTL };
    if (pass && gh_cache_set_meta(&C.store, &ctx->w, &pm, sizeof(pm)) == 0)
        (void)gh_cache_commit(&C.store, &ctx->w);
    else
        gh_cache_abort(&C.store, &ctx->w);
    gh_cache_hit_wake(&ctx->pkey);
}

const struct gh_resp_source *gh_cache_upstream_error(struct gh_req *r, int status,
                                                     bool all_down)
{
    struct cache_ctx *ctx = gh_cache_ctx_of(r);
    GH_UNUSED(status);
    if (ctx == NULL)
        return NULL;
    /* The object revalidation holds, or the one kept for this. */
    struct gh_cache_ref *ref = ctx->reval ? &ctx->old_ref : &ctx->stale;
    struct gh_cache_info info = ctx->reval ? ctx->old_info : ctx->stale_info;
    if (ref->obj == 0)
        return NULL;
    struct cache_meta m;
    memcpy(&m, info.meta, sizeof(m));
    if (!stale_allowed(ctx, &m, all_down))
        return NULL;
    struct gh_cache_ref held = *ref;
    memset(ref, 0, sizeof(*ref));
    gh_cache_reval_done(r, ctx);        /* the client's fields again (Range, conditionals) */
    ctx->store = false;
    return gh_cache_hit_source(r, ctx, &held, &info, "STALE");
}

void gh_cache_resp_head(struct gh_req *r, const struct gh_http1_response *resp,
                        struct gh_resp_head *h, bool filtered, bool delimited)
{
    struct cache_ctx *ctx = gh_cache_ctx_of(r);
    if (ctx == NULL)
        return;
    gh_cache_reval_done(r, ctx);
    gh_cache_release(&C.store, &ctx->stale);   /* an answer came: not needed now */
    (void)gh_resp_head_add(h, GH_STR("X-Cache"), gh_str_make(ctx->result, strlen(ctx->result)));
    if (!ctx->background)               /* a refresh answers no client: not counted */
        gh_edge_count_event(ctx->result[0] == 'M'   ? GH_EDGE_CACHE_MISS
                            : ctx->result[0] == 'E' ? GH_EDGE_CACHE_EXPIRED
                                                    : GH_EDGE_CACHE_BYPASS);
    /* A 206 is never the whole object (Range is not sent upstream, but an
     * upstream may answer one anyway), and a 304 is the answer to the
     * client's own conditional (on a miss those go upstream): requests
     * waiting for this one go and fetch their own. */
    if (resp->status == 206 || resp->status == 304) {
        end_pending(ctx, false);
        return;
    }
    if (!ctx->store || !delimited) {
        end_pending(ctx, true);
        return;
    }
    /* What is stored is what the client gets from the body filters: a
     * compressed response with its Content-Encoding, Vary and weak ETag. */
    struct gh_http_header *f = gh_palloc(r->pool, (h->nfields + h->nadd) * sizeof(*f));
    size_t nf = 0;
    if (f == NULL) {
        end_pending(ctx, false);
        return;
    }
    for (size_t i = 0; i < h->nfields; i++)
        if (!h->drop[i])
            f[nf++] = h->fields[i];
    for (size_t i = 0; i < h->nadd; i++)
        if (!name_is(h->add[i].name, "x-cache"))
            f[nf++] = h->add[i];
    bool upstream_coded = false;
    for (size_t i = 0; i < resp->nheaders; i++)
        upstream_coded |= name_is(resp->headers[i].name, "content-encoding")
                          && gh_str_trim(resp->headers[i].value).len > 0;
    struct cache_meta m;
    char *head;
    if (gh_cache_meta_make(r, ctx, resp->status, resp->version_minor, f, nf, &m, &head) == -1) {
        end_pending(ctx, true);
        return;
    }
    m.encoded = filtered;
    /* Followers need the length of what is stored: the upstream's, unless
     * a filter rewrites the body. */
    m.body_len = filtered || resp->framing.chunked || resp->framing.has_te
                     ? -1
                     : resp->framing.content_length;
    bool begun;                         /* the variant, begun before its marker */
    if (gh_cache_vary_store(r, ctx, f, nf, upstream_coded, &m, &begun) == -1) {
        end_pending(ctx, false);
        return;
    }
    if (begun) {
        /* ctx->w is the variant already */
    } else if (ctx->pending && gh_cache_key_eq(&ctx->pkey, &ctx->okey)) {
        /* The object the waiters follow becomes this response. */
        ctx->pending = false;
        if (gh_cache_set_meta(&C.store, &ctx->w, &m, sizeof(m)) == -1) {
            gh_cache_resp_end(r, false);
            return;
        }
    } else {
        /* Pending under another key (the response varies otherwise than
         * the marker said): those waiters fetch their own. */
        end_pending(ctx, false);
        if (gh_cache_begin_named(&C.store, &ctx->okey, ctx->key_text.p, ctx->key_text.len, &m,
                                 sizeof(m), &ctx->w) != 0)
            return;
    }
    ctx->writing = true;
    if (gh_cache_append(&C.store, &ctx->w, head, m.head_len) == -1)
        gh_cache_resp_end(r, false);
    else
        gh_cache_hit_wake(&ctx->okey);
}

void gh_cache_resp_body(struct gh_req *r, const char *p, size_t n)
{
    struct cache_ctx *ctx = gh_cache_ctx_of(r);
    if (ctx == NULL || !ctx->writing)
        return;
    if (gh_cache_append(&C.store, &ctx->w, p, n) == -1)
        gh_cache_resp_end(r, false);
    else
        gh_cache_hit_wake(&ctx->okey);
}

void gh_cache_resp_end(struct gh_req *r, bool complete)
{
    struct cache_ctx *ctx = gh_cache_ctx_of(r);
    if (ctx != NULL)
        gh_cache_reval_done(r, ctx);
    if (ctx == NULL || !ctx->writing)
        return;
    if (ctx->pending) {
        end_pending(ctx, false);        /* no answer came: the waiters go upstream */
        return;
    }
    ctx->writing = false;
    if (complete)
        (void)gh_cache_commit(&C.store, &ctx->w);
    else
        gh_cache_abort(&C.store, &ctx->w);
    gh_cache_hit_wake(&ctx->okey);
}

/* Every request ends here, however it ended (a reset before the proxy
 * took it, a failed start; the LOG phase, or a background refresh's
 * end): nothing it held stays held. */
static void cache_req_done(struct gh_req *r)
{
    struct cache_ctx *ctx = gh_cache_ctx_of(r);
    if (ctx != NULL) {
        gh_cache_resp_end(r, false);
        gh_cache_hit_end(ctx);
        gh_cache_release(&C.store, &ctx->stale);
    }
}

static enum gh_verdict cache_log(struct gh_req *r)
{
    cache_req_done(r);
    return GH_CONTINUE;
}

struct gh_module gh_module_cache = {
    .name = "cache",
    .index = -1,
    .worker_init = cache_worker_init,
    .phase = { [GH_PHASE_CONTENT] = cache_content, [GH_PHASE_LOG] = cache_log },
};
