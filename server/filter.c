/*
 * filter.c - the lists of header and body filters, the response head the
 * header filters edit, and body filter chains (see filter.h). Each stage writes into its own buffers; stage k reads what
 * stage k - 1 wrote, which is given back as soon as stage k took it.
 */
#include <string.h>

#include "modules/compress.h"
#include "server/filter.h"
#include "server/proxy_headers.h"

struct gh_filter_chain {
    int n;
    const struct gh_body_filter *f[GH_FILTER_MAX];
    void *ctx[GH_FILTER_MAX];
    struct gh_filter_out out[GH_FILTER_MAX];
    bool more[GH_FILTER_MAX];           /* stage k returned GH_FILTER_MORE */
};

#ifdef GH_DEBUG
/* Debug builds only, for the tests: a request with
 * "X-Gatehouse-Test-Filter: upper" gets its response body upper-cased
 * (ASCII), an output that differs from its input byte for byte. */
static void *upper_start(struct gh_req *r, struct gh_resp_head *head)
{
    GH_UNUSED(head);
    const struct gh_http_header *h =
        gh_http1_find_header(r->head.headers, r->head.nheaders, "x-gatehouse-test-filter");
    if (h == NULL || !gh_str_eq(h->value, GH_STR("upper")))
        return NULL;
    return r;                           /* stateless: any non-NULL context */
}

static int upper_body(void *ctx, struct gh_filter_out *out, const char *in, size_t len,
                      enum gh_filter_flush flush)
{
    GH_UNUSED(ctx);
    GH_UNUSED(flush);
    while (len > 0) {
        size_t room;
        char *p = gh_filter_out_room(out, &room);
        if (p == NULL)
            return -1;
        size_t n = GH_MIN(room, len);
        for (size_t i = 0; i < n; i++) {
            char c = in[i];
            p[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
        }
        gh_filter_out_commit(out, n);
        in += n;
        len -= n;
    }
    return 0;
}

static const struct gh_body_filter upper_filter = {
    .name = "test-upper", .start = upper_start, .body = upper_body,
};
#endif

/* The body filters, in chain order (compression will come here). */
const struct gh_body_filter *const gh_body_filters[] = {
#ifdef GH_DEBUG
    &upper_filter,
#endif
    &gh_compress_filter,                /* last: content filters see the identity body */
    NULL,
};

/* The header filters, in order: the proxy's (identity, hop-by-hop fields,
 * Date, Via, X-Request-ID, the sticky cookie, the configured set/remove
 * lists; server/proxy_headers.c) first. */
const struct gh_header_filter *const gh_header_filters[] = {
    &gh_proxy_header_filter,
    NULL,
};

int gh_resp_head_init(struct gh_req *r, struct gh_resp_head *h,
                      const struct gh_http1_response *resp, size_t add_max)
{
    *h = (struct gh_resp_head){
        .status = resp->status,
        .reason = resp->reason,
        .version_minor = resp->version_minor,
        .fields = resp->headers,
        .nfields = resp->nheaders,
        .add_max = add_max,
        .length = -1,
        .upgrade = resp->framing.upgrade,
    };
    /* One allocation for both arrays: this runs per response. */
    size_t asz = add_max * sizeof(struct gh_http_header);
    char *mem = gh_palloc(r->pool, asz + resp->nheaders + 1);
    if (mem == NULL)
        return -1;
    h->add = (struct gh_http_header *)(void *)mem;
    h->drop = (uint8_t *)mem + asz;
    memset(h->drop, 0, resp->nheaders);
    h->bytes = resp->head_len;          /* bounds the kept fields as lines */
    return 0;
}

int gh_header_filters_run(struct gh_req *r, struct gh_resp_head *h)
{
    for (size_t i = 0; gh_header_filters[i] != NULL; i++)
        if (gh_header_filters[i]->head(r, h) == -1)
            return -1;
    return 0;
}

char *gh_filter_out_room(struct gh_filter_out *out, size_t *room)
{
    if (out->n > 0 && gh_buf_room(out->bufs[out->n - 1]) > 0) {
        *room = gh_buf_room(out->bufs[out->n - 1]);
        return out->bufs[out->n - 1]->last;
    }
    if (out->n == GH_FILTER_OUT_MAX)
        return NULL;
    struct gh_buf *b = gh_buf_get(out->pool);
    if (b == NULL)
        return NULL;
    out->bufs[out->n++] = b;
    *room = gh_buf_room(b);
    return b->last;
}

static void out_release(struct gh_filter_out *out)
{
    for (int i = 0; i < out->n; i++)
        gh_buf_put(out->pool, out->bufs[i]);
    out->n = 0;
}

int gh_filter_chain_start(struct gh_req *r, struct gh_resp_head *h, struct gh_buf_pool *pool,
                          struct gh_filter_chain **chp)
{
    struct gh_filter_chain *ch = NULL;
    *chp = NULL;
    for (size_t i = 0; gh_body_filters[i] != NULL; i++) {
        if (ch != NULL && ch->n == GH_FILTER_MAX)
            break;
        void *ctx = gh_body_filters[i]->start(r, h);
        if (ctx == NULL)
            continue;
        if (ch == NULL) {
            ch = gh_pcalloc(r->pool, sizeof(*ch));
            if (ch == NULL) {
                if (gh_body_filters[i]->end != NULL)
                    gh_body_filters[i]->end(ctx);
                return -1;              /* the head may say Content-Encoding: fail */
            }
            *chp = ch;
        }
        ch->f[ch->n] = gh_body_filters[i];
        ch->ctx[ch->n] = ctx;
        ch->out[ch->n].pool = pool;
        ch->n++;
    }
    return 0;
}

/* Stage k takes its input: the span (k == from) or stage k - 1's output. */
static int stage_run(struct gh_filter_chain *ch, int k, int from, const char *in, size_t len,
                     enum gh_filter_flush flush)
{
    struct gh_filter_out *out = &ch->out[k];
    int rc = 0;
    if (k == from) {
        rc = ch->f[k]->body(ch->ctx[k], out, in, len, flush);
    } else {
        struct gh_filter_out *prev = &ch->out[k - 1];
        /* The stage before put out all it was asked to only when it holds
         * nothing back. */
        enum gh_filter_flush pf = ch->more[k - 1] ? GH_FLUSH_NONE : flush;
        if (prev->n == 0)
            rc = ch->f[k]->body(ch->ctx[k], out, NULL, 0, pf);
        for (int i = 0; i < prev->n && rc != -1; i++) {
            const struct gh_buf *b = prev->bufs[i];
            int r1 = ch->f[k]->body(ch->ctx[k], out, b->pos, gh_buf_len(b),
                                    i == prev->n - 1 ? pf : GH_FLUSH_NONE);
            rc = r1 == -1 ? -1 : GH_MAX(rc, r1);
        }
        out_release(prev);
    }
    if (rc == -1)
        return -1;
    ch->more[k] = rc == GH_FILTER_MORE;
    return 0;
}

int gh_filter_chain_run(struct gh_filter_chain *ch, const char *in, size_t len,
                        enum gh_filter_flush flush,
                        struct iovec *iov, int *niov, size_t *out_len)
{
    /* A stage holding more resumes (with no input), and the stages before
     * it wait, so it never takes new input while it holds some. */
    int from = 0;
    for (int k = ch->n - 1; k > 0; k--)
        if (ch->more[k]) {
            from = k;
            break;
        }
    GH_ASSERT(from == 0 || len == 0);
    for (int k = from; k < ch->n; k++)
        if (stage_run(ch, k, from, k == from ? in : NULL, k == from ? len : 0, flush) == -1)
            return -1;
    const struct gh_filter_out *fin = &ch->out[ch->n - 1];
    *niov = 0;
    *out_len = 0;
    for (int i = 0; i < fin->n; i++) {
        size_t n = gh_buf_len(fin->bufs[i]);
        if (n == 0)
            continue;
        iov[(*niov)++] = (struct iovec){ fin->bufs[i]->pos, n };
        *out_len += n;
    }
    for (int k = 0; k < ch->n; k++)
        if (ch->more[k])
            return GH_FILTER_MORE;
    return 0;
}

void gh_filter_chain_drained(struct gh_filter_chain *ch)
{
    out_release(&ch->out[ch->n - 1]);
}

void gh_filter_chain_free(struct gh_filter_chain *ch)
{
    for (int k = 0; ch != NULL && k < ch->n; k++) {
        out_release(&ch->out[k]);
        if (ch->f[k]->end != NULL)
            ch->f[k]->end(ch->ctx[k]);
    }
}
