/*
 * cache_vary.c - Vary (RFC 9111 4.1): one variant per normalized value of
 * the request headers a response's Vary names.
 *
 * Under the primary key of a URL whose responses vary sits a marker (an
 * object of kind CACHE_VARY: one mode byte, then the Vary names as
 * the response listed them). A lookup that finds one computes the
 * secondary key (gh_cache_vary_key) from the request and looks up
 * hash(primary text "\n" mode secondary key); storing a response with Vary
 * writes the marker first when there is none or it names other headers
 * (then the old variants are unreachable and age out of the LRU), and a
 * response without Vary replaces the marker with itself. Every variant and
 * the marker are named by the primary key text, so a purge of the URL
 * drops them all.
 *
 * Accept-Encoding is keyed by the coding gatehouse's compression chooses
 * for the request (zstd, br, gzip or identity) when the upstream sent the
 * body unencoded: the variants are then the encodings actually served,
 * and clients whose Accept-Encoding differ but choose the same coding
 * share one. When the upstream encodes itself, its choice is unknown and
 * the header's normalized value is the key (mode byte 'r').
 */
#include <string.h>

#include "common/time.h"
#include "modules/cache_priv.h"
#include "modules/compress.h"

#define MARKER_MAX 2048                 /* a marker's bytes: mode and names */

struct vary_get {
    const struct gh_req *r;
    char mode;
    const char *coding;
};

static bool get_field(void *vctx, const char *name, size_t nlen, size_t i, const char **v,
                      size_t *vlen)
{
    const struct vary_get *g = vctx;
    struct gh_str n = gh_str_make(name, nlen);
    if (g->mode == GH_CACHE_AE_CODING && gh_str_caseeq_lit(n, "accept-encoding")) {
        if (i > 0)
            return false;
        *v = g->coding;
        *vlen = strlen(g->coding);
        return true;
    }
    size_t k = 0;
    for (size_t j = 0; j < g->r->head.nheaders; j++) {
        const struct gh_http_header *f = &g->r->head.headers[j];
        if (gh_str_caseeq(f->name, n) && k++ == i) {
            *v = f->value.p;
            *vlen = f->value.len;
            return true;
        }
    }
    return false;
}

static bool get_none(void *vctx, const char *name, size_t nlen, size_t i, const char **v,
                     size_t *vlen)
{
    (void)vctx, (void)name, (void)nlen, (void)i, (void)v, (void)vlen;
    return false;
}

ssize_t gh_cache_vary_text(const struct gh_req *r, struct gh_str vary, char mode, char *out,
                           size_t outsz)
{
    static const char *const names[] = { "zstd", "br", "gzip" };
    int coding = mode == GH_CACHE_AE_CODING ? gh_compress_coding(r) : -1;
    struct vary_get g = { r, mode, coding >= 0 && coding < 3 ? names[coding] : "identity" };
    if (outsz < 1)
        return -1;
    out[0] = mode;
    ssize_t k = gh_cache_vary_key(vary.p, vary.len, get_field, &g, out + 1, outsz - 1);
    return k < 0 ? -1 : k + 1;
}

int gh_cache_variant_key(struct gh_req *r, const struct cache_ctx *ctx, struct gh_str vary,
                         char mode, struct gh_cache_key *out)
{
    size_t n = ctx->key_text.len;
    char *buf = gh_palloc(r->pool, n + 2 + GH_CACHE_VKEY_MAX);
    if (buf == NULL)
        return -1;
    memcpy(buf, ctx->key_text.p, n);
    buf[n] = '\n';
    ssize_t k = gh_cache_vary_text(r, vary, mode, buf + n + 1, GH_CACHE_VKEY_MAX + 1);
    if (k < 0)
        return -1;
    gh_cache_key_hash(gh_cache_store_get(), buf, n + 1 + (size_t)k, out);
    return 0;
}

int gh_cache_vary_lookup(struct gh_req *r, struct cache_ctx *ctx, struct gh_cache_ref *ref,
                         const struct gh_cache_info *info, struct gh_cache_info *vinfo)
{
    uint64_t len = info->length, off = 0;
    char *buf = len >= 2 && len <= MARKER_MAX ? gh_palloc(r->pool, (size_t)len) : NULL;
    while (buf != NULL && off < len) {
        ssize_t n = gh_cache_read(gh_cache_store_get(), ref, off, buf + off, (size_t)(len - off));
        if (n <= 0)
            break;
        off += (uint64_t)n;
    }
    gh_cache_release(gh_cache_store_get(), ref);
    if (buf != NULL && off == len) {
        ctx->vary_mode = buf[0];
        ctx->vary = gh_str_make(buf + 1, (size_t)len - 1);
        if (gh_cache_variant_key(r, ctx, ctx->vary, ctx->vary_mode, &ctx->okey) == 0)
            return gh_cache_lookup(gh_cache_store_get(), &ctx->okey, ref, vinfo);
    }
    /* No variant for this request: it must not store under (or wait on)
     * the primary key, which holds the marker. */
    ctx->okey = ctx->key;
    ctx->store = false;
    return -1;
}

bool gh_cache_vary_same(struct gh_str a, struct gh_str b)
{
    char ka[GH_CACHE_VKEY_MAX], kb[GH_CACHE_VKEY_MAX];
    ssize_t na = gh_cache_vary_key(a.p, a.len, get_none, NULL, ka, sizeof(ka));
    ssize_t nb = gh_cache_vary_key(b.p, b.len, get_none, NULL, kb, sizeof(kb));
    return na >= 0 && na == nb && memcmp(ka, kb, (size_t)na) == 0;
}

/* Write the marker under the primary key: the request's own pending
 * object there becomes it (collapsed forwarding: its waiters then look
 * for their variants themselves). The variant (ctx->okey, meta m) is
 * begun before the marker is committed, so a waiter in another worker
 * that sees the marker finds the variant and follows it rather than
 * going upstream itself; *begun says whether ctx->w is now that variant.
 * 0 or -1. */
static int write_marker(struct cache_ctx *ctx, struct gh_str vary, char mode,
                        const struct cache_meta *vm, bool *begun)
{
    struct gh_cache_store *cs = gh_cache_store_get();
    struct cache_meta m = { .response_time = (int64_t)gh_now_sec, .kind = CACHE_VARY };
    struct gh_cache_ref w;
    if (ctx->pending && gh_cache_key_eq(&ctx->pkey, &ctx->key)) {
        ctx->pending = ctx->writing = false;
        w = ctx->w;
        if (gh_cache_set_meta(cs, &w, &m, sizeof(m)) == -1) {
            gh_cache_abort(cs, &w);
            gh_cache_hit_wake(&ctx->key);
            return -1;
        }
    } else if (gh_cache_begin_named(cs, &ctx->key, ctx->key_text.p, ctx->key_text.len, &m,
                                    sizeof(m), &w) != 0) {
        return -1;
    }
    int rc = -1;
    if (gh_cache_append(cs, &w, &mode, 1) == -1
        || gh_cache_append(cs, &w, vary.p, vary.len) == -1) {
        gh_cache_abort(cs, &w);
    } else {
        /* Not while a pending object under another key is still ctx->w
         * (the caller ends it, then begins the variant). */
        struct gh_cache_ref vw;
        if (!ctx->pending && gh_cache_begin_named(cs, &ctx->okey, ctx->key_text.p,
                                                  ctx->key_text.len, vm, sizeof(*vm), &vw) == 0) {
            ctx->w = vw;
            *begun = true;
        }
        rc = gh_cache_commit(cs, &w);
        if (rc == -1 && *begun) {
            gh_cache_abort(cs, &ctx->w);    /* the marker was purged: no variant either */
            *begun = false;
        }
    }
    gh_cache_hit_wake(&ctx->key);
    return rc;
}

int gh_cache_vary_store(struct gh_req *r, struct cache_ctx *ctx, const struct gh_http_header *f,
                        size_t n, bool mode_raw, const struct cache_meta *m, bool *begun)
{
    *begun = false;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        if (gh_cache_name_is(f[i].name, "vary"))
            bytes += f[i].value.len + 2;
    ctx->okey = ctx->key;
    if (bytes == 0)
        return 0;
    if (bytes + 1 > MARKER_MAX)
        return -1;
    char *buf = gh_palloc(r->pool, bytes), *p = buf;
    if (buf == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!gh_cache_name_is(f[i].name, "vary"))
            continue;
        if (p > buf) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        memcpy(p, f[i].value.p, f[i].value.len);
        p += f[i].value.len;
    }
    struct gh_str vary = gh_str_trim(gh_str_make(buf, (size_t)(p - buf)));
    if (vary.len == 0)
        return 0;                       /* "Vary:" names nothing */
    char mode = mode_raw ? GH_CACHE_AE_RAW : GH_CACHE_AE_CODING;
    if (gh_cache_variant_key(r, ctx, vary, mode, &ctx->okey) == -1)
        return -1;
    if (ctx->vary.len == 0 || ctx->vary_mode != mode || !gh_cache_vary_same(ctx->vary, vary))
        return write_marker(ctx, vary, mode, m, begun);
    return 0;
}
