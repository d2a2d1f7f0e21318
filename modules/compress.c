/*
 * compress.c - response compression as a body filter (server/filter.h):
 * which responses, which coding (compress_accept.c), what the head
 * becomes, and the streaming through a codec (compress_codec.c).
 *
 * A response is compressed when all of these hold (nginx's gzip module's
 * rules, ngx_http_gzip_filter_module.c, plus RFC 9110/9111 ones):
 *   - a codec is on (compression.gzip, .brotli, .zstd);
 *   - the status is 200, 403 or 404 (never 1xx, 204, 206, 304, ...), the
 *     request is not HEAD, and the body is not empty;
 *   - it has no Content-Encoding (never twice) and no Cache-Control:
 *     no-transform (RFC 9111 5.2.2.6);
 *   - its Content-Type, without parameters, is in compression.types (an
 *     entry ending in "/" is a prefix: "text/"; "*" is any);
 *   - its length is at least compression.min_size, or unknown (chunked or
 *     close-delimited);
 *   - the client's Accept-Encoding accepts a coding that is on.
 * Such a response, compressed or not, gets Vary: Accept-Encoding (merged
 * into the upstream's Vary, which keeps its place if it already names it
 * or is "*"), so a cache in front keeps both variants apart. Compressed,
 * it also gets Content-Encoding, a weak ETag (W/"..."), no Content-Length
 * and no Accept-Ranges; the sink chunks it to HTTP/1.1 clients and
 * close-delimits it to HTTP/1.0 ones.
 */
#include <string.h>

#include "common/log.h"
#include "modules/compress.h"
#include "modules/compress_priv.h"
#include "server/filter.h"

#define STASH_MAX (GH_FILTER_OUT_MAX + 1)

/* One response's compression. */
struct cz_stream {
    const struct gh_codec *codec;
    void *st;                           /* the codec's state (malloc'd) */
    struct gh_buf *stash[STASH_MAX];    /* input taken but not yet compressed */
    int nstash;
    struct gh_buf_pool *pool;           /* of the stash buffers */
    bool more;                          /* the codec may hold output */
    bool last;                          /* the body has ended */
    bool sync;                          /* a flush was asked and has not started */
    enum gh_codec_op op;                /* a flush or the finish under way (until done) */
    bool done;                          /* the stream is finished */
};

static bool name_is(struct gh_str n, const char *lit)
{
    return gh_str_caseeq_lit(n, lit);
}

/* Is the type (parameters and spaces already cut) one of the list's? */
static bool type_listed(const struct gh_conf *conf, struct gh_str type)
{
    for (size_t i = 0; i < conf->compression.ntypes; i++) {
        const char *t = conf->compression.types[i];
        size_t n = strlen(t);
        if (n == 1 && t[0] == '*')
            return true;
        if (n > 0 && t[n - 1] == '/' ? type.len > n && gh_str_caseeq_lit(gh_str_make(type.p, n), t)
                                     : gh_str_caseeq_lit(type, t))
            return true;
    }
    return false;
}

static struct gh_str media_type(struct gh_str v)
{
    size_t n = 0;
    while (n < v.len && v.p[n] != ';')
        n++;
    return gh_str_trim(gh_str_make(v.p, n));
}

/* Does a Cache-Control value hold the no-transform directive? */
static bool no_transform(struct gh_str v)
{
    size_t i = 0;
    while (i < v.len) {
        size_t start = i;
        while (i < v.len && v.p[i] != ',')
            i++;
        struct gh_str d = gh_str_trim(gh_str_make(v.p + start, i - start));
        if (name_is(d, "no-transform"))
            return true;
        i++;
    }
    return false;
}

/* What the upstream's head says, for the rules above. */
struct cz_head {
    bool eligible;
    bool vary_has;                      /* a Vary already covers Accept-Encoding */
    size_t vary_n, vary_bytes;          /* its Vary fields and their value bytes */
    ssize_t etag;                       /* index of a strong ETag, or -1 */
};

static void scan_head(const struct gh_req *r, const struct gh_resp_head *h, struct cz_head *ch)
{
    bool typed = false;
    *ch = (struct cz_head){ .etag = -1 };
    for (size_t i = 0; i < h->nfields; i++) {
        struct gh_str n = h->fields[i].name, v = h->fields[i].value;
        if (h->drop[i])
            continue;
        if (name_is(n, "content-encoding")) {
            if (v.len > 0)
                return;                 /* already encoded: never twice */
        } else if (name_is(n, "cache-control")) {
            if (no_transform(v))
                return;
        } else if (name_is(n, "content-type")) {
            typed = type_listed(r->conf, media_type(v));
        } else if (name_is(n, "vary")) {
            ch->vary_n++;
            ch->vary_bytes += v.len + 2;
            ch->vary_has |= gh_str_list_has(v, "accept-encoding") || gh_str_list_has(v, "*");
        } else if (name_is(n, "etag")) {
            if (v.len > 0 && v.p[0] == '"')
                ch->etag = (ssize_t)i;
        }
    }
    ch->eligible = typed;
}

/* Vary: Accept-Encoding, merged into the upstream's Vary fields. 0 or -1. */
static int add_vary(struct gh_req *r, struct gh_resp_head *h, const struct cz_head *ch)
{
    if (ch->vary_has)
        return 0;
    if (ch->vary_n == 0)
        return gh_resp_head_add(h, GH_STR("Vary"), GH_STR("Accept-Encoding"));
    size_t cap = ch->vary_bytes + 16;
    char *buf = gh_palloc(r->pool, cap), *p = buf;
    if (buf == NULL)
        return -1;
    for (size_t i = 0; i < h->nfields; i++) {
        struct gh_str v = h->fields[i].value;
        if (h->drop[i] || !name_is(h->fields[i].name, "vary"))
            continue;
        gh_resp_head_drop(h, i);
        if (v.len == 0)
            continue;
        memcpy(p, v.p, v.len);
        p += v.len;
        memcpy(p, ", ", 2);
        p += 2;
    }
    memcpy(p, "Accept-Encoding", 15);
    p += 15;
    return gh_resp_head_add(h, GH_STR("Vary"), gh_str_make(buf, (size_t)(p - buf)));
}

/* The head of a compressed response: Content-Encoding, the weak ETag, no
 * Accept-Ranges (Content-Length goes with the body's new framing). */
static int edit_head(struct gh_req *r, struct gh_resp_head *h, const struct cz_head *ch,
                     const struct gh_codec *codec)
{
    if (ch->etag >= 0) {
        struct gh_str v = h->fields[ch->etag].value;
        char *w = gh_palloc(r->pool, v.len + 2);
        if (w == NULL)
            return -1;
        memcpy(w, "W/", 2);
        memcpy(w + 2, v.p, v.len);
        gh_resp_head_drop(h, (size_t)ch->etag);
        if (gh_resp_head_add(h, GH_STR("ETag"), gh_str_make(w, v.len + 2)) == -1)
            return -1;
    }
    for (size_t i = 0; i < h->nfields; i++)
        if (name_is(h->fields[i].name, "accept-ranges"))
            gh_resp_head_drop(h, i);
    return gh_resp_head_add(h, GH_STR("Content-Encoding"),
                            gh_str_make(codec->name, strlen(codec->name)));
}

/* The coding the client accepts among those on, or -1. */
static int negotiate(const struct gh_req *r, unsigned enabled)
{
    struct gh_accept_encoding ae;
    bool any = false;
    gh_accept_encoding_init(&ae);
    for (size_t i = 0; i < r->head.nheaders; i++) {
        const struct gh_http_header *f = &r->head.headers[i];
        if (name_is(f->name, "accept-encoding")) {
            gh_accept_encoding_parse(&ae, f->value.p, f->value.len);
            any = true;
        }
    }
    /* No Accept-Encoding: RFC 9110 allows any coding, but like nginx (and
     * every browser sending one) we take it as identity only. */
    return any ? gh_accept_encoding_choose(&ae, enabled) : -1;
}

/* The codings switched on (bit 1 << GH_CODING_x). */
static unsigned codings_on(const struct gh_conf *conf)
{
    return (conf->compression.zstd ? 1u << GH_CODING_ZSTD : 0)
           | (conf->compression.brotli ? 1u << GH_CODING_BR : 0)
           | (conf->compression.gzip ? 1u << GH_CODING_GZIP : 0);
}

int gh_compress_coding(const struct gh_req *r)
{
    unsigned enabled = codings_on(r->conf);
    return enabled != 0 ? negotiate(r, enabled) : -1;
}

static void cz_end(void *ctx)
{
    struct cz_stream *s = ctx;
    for (int i = 0; i < s->nstash; i++)
        gh_buf_put(s->pool, s->stash[i]);
    s->nstash = 0;
    if (s->st != NULL)
        s->codec->end(s->st);
    s->st = NULL;
}

static void *cz_start(struct gh_req *r, struct gh_resp_head *h)
{
    const struct gh_conf *conf = r->conf;
    unsigned enabled = codings_on(conf);
    if (enabled == 0 || r->head_only || h->body == GH_RESP_NO_BODY
        || (h->status != 200 && h->status != 403 && h->status != 404)
        || (h->body == GH_RESP_LENGTH
            && (h->length == 0 || (uint64_t)h->length < conf->compression.min_size)))
        return NULL;
    struct cz_head ch;
    scan_head(r, h, &ch);
    if (!ch.eligible || h->nadd + GH_FILTER_HEAD_ADDS > h->add_max)
        return NULL;
    if (add_vary(r, h, &ch) == -1)
        return NULL;                    /* out of memory: sent as it came */
    int coding = negotiate(r, enabled);
    if (coding < 0)
        return NULL;
    struct cz_stream *s = gh_pcalloc(r->pool, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->codec = &gh_codecs[coding];
    s->st = s->codec->init(conf, h->body == GH_RESP_LENGTH ? h->length : -1);
    if (s->st == NULL)
        return NULL;
    if (edit_head(r, h, &ch, s->codec) == -1) {
        /* Out of memory in the pool: the head may be half edited. */
        cz_end(s);
        return NULL;
    }
    return s;
}

/* Keep in[0..len) for later (the output is full). 0 or -1. */
static int stash(struct cz_stream *s, struct gh_buf_pool *pool, const char *in, size_t len)
{
    s->pool = pool;
    while (len > 0) {
        struct gh_buf *b = s->nstash > 0 ? s->stash[s->nstash - 1] : NULL;
        if (b == NULL || gh_buf_room(b) == 0) {
            if (s->nstash == STASH_MAX || (b = gh_buf_get(pool)) == NULL)
                return -1;
            s->stash[s->nstash++] = b;
        }
        size_t n = gh_buf_append(b, in, len);
        in += n;
        len -= n;
    }
    return 0;
}

/* Run the codec over in[0..*len), then op, until it is done or out is
 * full; *len is left at what it did not take. */
static enum gh_codec_rc feed(struct cz_stream *s, struct gh_filter_out *out, const char **in,
                             size_t *len, enum gh_codec_op op)
{
    for (;;) {
        size_t room;
        char *p = gh_filter_out_room(out, &room);
        if (p == NULL) {
            if (out->n == 0)
                return GH_CODEC_ERROR;  /* no buffer at all: out of memory */
            s->more = true;
            return GH_CODEC_FULL;
        }
        uint8_t *o = (uint8_t *)p;
        size_t olen = room;
        const uint8_t *i = (const uint8_t *)*in;
        enum gh_codec_rc rc = s->codec->step(s->st, &i, len, &o, &olen, op);
        *in = (const char *)i;
        gh_filter_out_commit(out, room - olen);
        if (rc != GH_CODEC_FULL) {
            if (rc == GH_CODEC_DONE)
                s->more = false;
            return rc;
        }
    }
}

/* Run op (a sync flush or the finish) to its end. 0, GH_FILTER_MORE or -1. */
static int run_op(struct cz_stream *s, struct gh_filter_out *out, enum gh_codec_op op)
{
    const char *in = NULL;
    size_t len = 0;
    s->op = op;
    enum gh_codec_rc rc = feed(s, out, &in, &len, op);
    if (rc == GH_CODEC_ERROR)
        return -1;
    if (rc == GH_CODEC_FULL)
        return GH_FILTER_MORE;          /* called again with the same op, nothing else */
    s->op = GH_CODEC_RUN;
    s->done = op == GH_CODEC_FINISH;
    return 0;
}

static int cz_body(void *ctx, struct gh_filter_out *out, const char *in, size_t len,
                   enum gh_filter_flush flush)
{
    struct cz_stream *s = ctx;
    enum gh_codec_rc rc;
    s->last |= flush == GH_FLUSH_END;
    s->sync |= flush == GH_FLUSH_SYNC;
    if (len > 0 && (s->nstash > 0 || s->more)) {
        /* Still behind: keep the new input after what waits. */
        if (stash(s, out->pool, in, len) == -1)
            return -1;
        len = 0;
    }
    /* A flush or the finish under way allows no other step until it is over. */
    if (s->op != GH_CODEC_RUN) {
        int r = run_op(s, out, s->op);
        if (r != 0 || s->done)
            return r;
    }
    while (s->nstash > 0) {
        struct gh_buf *b = s->stash[0];
        const char *p = b->pos;
        size_t n = gh_buf_len(b);
        rc = feed(s, out, &p, &n, GH_CODEC_RUN);
        b->pos = (char *)p;
        if (rc == GH_CODEC_ERROR)
            return -1;
        if (gh_buf_empty(b)) {
            gh_buf_put(s->pool, b);
            memmove(s->stash, s->stash + 1, (size_t)(--s->nstash) * sizeof(s->stash[0]));
        }
        if (rc == GH_CODEC_FULL)
            return GH_FILTER_MORE;
    }
    if (len > 0 || s->more) {
        rc = feed(s, out, &in, &len, GH_CODEC_RUN);
        if (rc == GH_CODEC_ERROR || (len > 0 && stash(s, out->pool, in, len) == -1))
            return -1;
        if (rc == GH_CODEC_FULL)
            return GH_FILTER_MORE;
    }
    if (s->done || !(s->last || s->sync))
        return 0;
    s->sync = false;
    return run_op(s, out, s->last ? GH_CODEC_FINISH : GH_CODEC_SYNC);
}

const struct gh_body_filter gh_compress_filter = {
    .name = "compress",
    .start = cz_start,
    .body = cz_body,
    .end = cz_end,
};
