/*
 * cache.c - the cache in the pipeline (see cache.h): look-up before the
 * proxy, storing as the response streams.
 *
 * An object is the upstream's end-to-end header fields as "Name: value\r\n"
 * lines (without Content-Length, Transfer-Encoding, Age, X-Cache, and
 * Set-Cookie when it must not be shared), then the decoded body. Its meta
 * (struct cache_meta) holds what a look-up decides with: status, the
 * stored Cache-Control, the freshness lifetime, the corrected initial age
 * and when the response was received.
 */
#include <string.h>

#include "common/log.h"
#include "common/time.h"
#include "modules/cache.h"
#include "modules/cache_rfc.h"
#include "modules/cache_store.h"
#include "modules/blacklist.h"
#include "modules/edge.h"
#include "server/filter.h"
#include "server/proxy_headers.h"

#define KEY_MAX 8192                    /* primary key text */

struct cache_meta {
    int64_t response_time;              /* wall clock, s */
    int64_t initial_age, lifetime;      /* s */
    struct gh_cc cc;                    /* the stored response's */
    uint32_t head_len;
    uint16_t status;
    uint8_t version_minor;
};
_Static_assert(sizeof(struct cache_meta) <= GH_CACHE_META, "meta fits the store's");

/* Per request, for the proxy's hooks. */
struct cache_ctx {
    struct gh_cache_key key;
    struct gh_str key_text;             /* the primary key: every variant's name (purge) */
    struct gh_cache_req creq;
    const char *result;                 /* X-Cache: MISS, EXPIRED or BYPASS */
    int64_t request_time;
    bool store;                         /* the response may be stored */
    bool writing;
    struct gh_cache_ref w;
};

static struct {
    struct gh_cache_store store;
    bool on;                            /* the master reserved it */
} C;

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

/* ---- hits -------------------------------------------------------------- */

/* Split the stored head into fields (in pool memory that outlives the
 * answer). The number of fields, or -1. */
static ssize_t parse_fields(struct gh_req *r, char *head, size_t len,
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

/* Answer r from the object ref holds (released here). */
static enum gh_verdict serve_hit(struct gh_req *r, struct gh_cache_ref *ref,
                                 const struct cache_meta *m, uint64_t len, int64_t age)
{
    char *obj = gh_palloc(r->pool, len + 1);
    uint64_t off = 0;

    while (obj != NULL && off < len) {
        ssize_t n = gh_cache_read(&C.store, ref, off, obj + off, (size_t)(len - off));
        if (n <= 0)
            break;
        off += (uint64_t)n;
    }
    gh_cache_release(&C.store, ref);
    struct gh_http_header *fields;
    ssize_t nf = off == len && m->head_len <= len ? parse_fields(r, obj, m->head_len, &fields)
                                                  : -1;
    if (nf < 0)
        return GH_CONTINUE;             /* unreadable: let the proxy answer */
    struct gh_resp_head h = {
        .status = m->status,
        .version_minor = m->version_minor,
        .fields = fields,
        .nfields = (size_t)nf,
        .add_max = gh_proxy_head_adds(r) + 2,
        .bytes = m->head_len,
    };
    bool no_body = m->status == 204 || m->status == 304;
    h.body = no_body ? GH_RESP_NO_BODY : GH_RESP_LENGTH;
    h.drop = gh_pcalloc(r->pool, (size_t)nf + 1);
    h.add = gh_palloc(r->pool, h.add_max * sizeof(*h.add));
    char *num = gh_palloc(r->pool, 48);
    if (h.drop == NULL || h.add == NULL || num == NULL)
        return gh_req_fail(r, 500, true);
    size_t body_len = (size_t)(len - m->head_len);
    size_t an = gh_str_u64(num, (uint64_t)GH_MAX(age, 0));
    size_t cn = gh_str_u64(num + 24, body_len);
    if (gh_resp_head_add(&h, GH_STR("Age"), gh_str_make(num, an)) == -1
        || gh_resp_head_add(&h, GH_STR("X-Cache"), GH_STR("HIT")) == -1
        || (!no_body && gh_resp_head_add(&h, GH_STR("Content-Length"),
                                         gh_str_make(num + 24, cn)) == -1)
        || gh_header_filters_run(r, &h) == -1)
        return gh_req_fail(r, 500, true);
    gh_edge_count_event(GH_EDGE_CACHE_HIT);
    gh_req_respond_head(r, &h, obj + m->head_len, no_body ? 0 : body_len);
    return GH_ANSWERED;
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
    ctx->request_time = (int64_t)gh_now_sec;
    ctx->store = r->head.method_id == GH_M_GET;
    ctx->result = "MISS";

    struct gh_cache_ref ref;
    struct gh_cache_info info;
    int rc = gh_cache_lookup(&C.store, &ctx->key, &ref, &info);
    if (rc == 0 && !info.complete) {
        gh_cache_release(&C.store, &ref);   /* being written: no collapsing yet */
        ctx->store = false;
    } else if (rc == 0) {
        struct cache_meta m;
        memcpy(&m, info.meta, sizeof(m));
        int64_t age = m.initial_age + GH_MAX(0, (int64_t)gh_now_sec - m.response_time);
        enum gh_cache_use use = gh_cache_use(&ctx->creq, &m.cc, m.lifetime, age);
        if (use == GH_USE_FRESH)
            return serve_hit(r, &ref, &m, info.length, age);
        gh_cache_release(&C.store, &ref);
        if (use == GH_USE_GATEWAY_TIMEOUT)
            return gh_req_fail(r, 504, false);
        ctx->result = "EXPIRED";
    } else if (ctx->creq.cc.flags & GH_CC_ONLY_IF_CACHED) {
        return gh_req_fail(r, 504, false);
    }
    return GH_CONTINUE;
}

/* ---- storing ----------------------------------------------------------- */

static struct cache_ctx *ctx_of(struct gh_req *r)
{
    return gh_module_cache.index >= 0 ? r->mod_ctx[gh_module_cache.index] : NULL;
}

static void gather_resp(const struct gh_http1_response *resp, struct gh_cache_resp *s,
                        bool *vary, int64_t now)
{
    *s = (struct gh_cache_resp){ .status = resp->status, .date = -1, .expires = -1, .age = -1,
                                 .last_modified = -1 };
    *vary = false;
    gh_cc_init(&s->cc);
    for (size_t i = 0; i < resp->nheaders; i++) {
        const struct gh_http_header *f = &resp->headers[i];
        struct gh_str v = f->value;
        if (name_is(f->name, "cache-control")) {
            gh_cc_parse(&s->cc, v.p, v.len);
        } else if (name_is(f->name, "date") && s->date < 0) {
            s->date = gh_http_date_parse(v.p, v.len);
        } else if (name_is(f->name, "expires") && s->expires < 0) {
            s->expires = GH_MAX(gh_http_date_parse(v.p, v.len), 0);
        } else if (name_is(f->name, "age") && s->age < 0) {
            s->age = gh_str_to_u63(gh_str_trim(v));
        } else if (name_is(f->name, "set-cookie")) {
            s->set_cookie = true;
        } else if (name_is(f->name, "etag")) {
            s->etag = true;
        } else if (name_is(f->name, "vary")) {
            struct gh_str t = gh_str_trim(v);
            s->vary_star = s->vary_star || gh_str_list_has(t, "*");
            *vary = *vary || t.len > 0;
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

void gh_cache_resp_head(struct gh_req *r, const struct gh_http1_response *resp,
                        struct gh_resp_head *h, bool filtered, bool delimited)
{
    struct cache_ctx *ctx = ctx_of(r);
    if (ctx == NULL)
        return;
    (void)gh_resp_head_add(h, GH_STR("X-Cache"), gh_str_make(ctx->result, strlen(ctx->result)));
    gh_edge_count_event(ctx->result[0] == 'M' ? GH_EDGE_CACHE_MISS
                        : ctx->result[0] == 'E' ? GH_EDGE_CACHE_EXPIRED : GH_EDGE_CACHE_BYPASS);
    if (!ctx->store || filtered || !delimited)
        return;
    int64_t now = (int64_t)gh_now_sec;
    struct gh_cache_resp s;
    bool vary, strip;
    gather_resp(resp, &s, &vary, now);
    const struct gh_conf_route *rt = r->match.route;
    struct gh_cache_policy pol = { rt->cache_ttl / 1000, r->conf->cache.override };
    if (vary || gh_cache_storable(&ctx->creq, &s, &pol, &strip) != NULL)
        return;
    enum gh_cache_fresh_src src;
    struct cache_meta m = {
        .response_time = now,
        .initial_age = gh_cache_initial_age(&s, ctx->request_time, now),
        .lifetime = gh_cache_lifetime(&s, &pol, &src),
        .cc = s.cc,
        .status = (uint16_t)resp->status,
        .version_minor = (uint8_t)resp->version_minor,
    };
    size_t bound = 0;
    for (size_t i = 0; i < resp->nheaders; i++)
        bound += resp->headers[i].name.len + resp->headers[i].value.len + 4;
    char *head = gh_palloc(r->pool, bound + 1);
    if (head == NULL)
        return;
    size_t o = 0;
    for (size_t i = 0; i < resp->nheaders; i++) {
        const struct gh_http_header *f = &resp->headers[i];
        if (!field_stored(f->name, strip))
            continue;
        memcpy(head + o, f->name.p, f->name.len);
        o += f->name.len;
        memcpy(head + o, ": ", 2);
        memcpy(head + o + 2, f->value.p, f->value.len);
        o += 2 + f->value.len;
        memcpy(head + o, "\r\n", 2);
        o += 2;
    }
    m.head_len = (uint32_t)o;
    if (gh_cache_begin_named(&C.store, &ctx->key, ctx->key_text.p, ctx->key_text.len, &m,
                             sizeof(m), &ctx->w) != 0)
        return;
    ctx->writing = true;
    if (gh_cache_append(&C.store, &ctx->w, head, o) == -1)
        gh_cache_resp_end(r, false);
}

void gh_cache_resp_body(struct gh_req *r, const char *p, size_t n)
{
    struct cache_ctx *ctx = ctx_of(r);
    if (ctx != NULL && ctx->writing && gh_cache_append(&C.store, &ctx->w, p, n) == -1)
        gh_cache_resp_end(r, false);
}

void gh_cache_resp_end(struct gh_req *r, bool complete)
{
    struct cache_ctx *ctx = ctx_of(r);
    if (ctx == NULL || !ctx->writing)
        return;
    ctx->writing = false;
    if (complete)
        (void)gh_cache_commit(&C.store, &ctx->w);
    else
        gh_cache_abort(&C.store, &ctx->w);
}

struct gh_module gh_module_cache = {
    .name = "cache",
    .index = -1,
    .worker_init = cache_worker_init,
    .phase = { [GH_PHASE_CONTENT] = cache_content },
};
