/*
 * http2_io.c - an HTTP/2 stream as a request (struct gh_req_io,
 * server/request.h): the head from the HEADERS' fields (pseudo-headers
 * checked as RFC 9113 8.3 asks, on top of nghttp2's own checks, which stay
 * on), the body source over the DATA the stream holds (its window given
 * back as the proxy sends it upstream), and the response sink: HEADERS
 * from the struct gh_resp_head, DATA pulled by a data provider from what
 * resp_data queued, END_STREAM at the end.
 */
#include <stdio.h>
#include <string.h>

#include "common/time.h"
#include "server/http1.h"
#include "server/http2_priv.h"
#include "server/pipeline.h"
#include "server/reqid.h"
#include "modules/blacklist.h"
#include "modules/edge.h"

/* ---- the request head ---------------------------------------------------- */

static bool lit_is(const uint8_t *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static struct gh_str pool_str(struct gh_req *r, const uint8_t *p, size_t n)
{
    char *d = gh_palloc(r->pool, n + 1);
    if (d == NULL)
        return (struct gh_str){ NULL, 0 };
    memcpy(d, p, n);
    d[n] = '\0';
    return gh_str_make(d, n);
}

/* Join a cookie crumb to the ones before it (RFC 9113 8.2.3). */
static int add_cookie(struct h2_stream *st, const uint8_t *v, size_t n)
{
    if (n == 0)
        return 0;                       /* an empty crumb adds nothing */
    size_t need = st->cookie_len + (st->cookie_len > 0 ? 2 : 0) + n;
    if (need > st->cookie_cap) {
        size_t cap = GH_MAX(need, st->cookie_cap * 2);
        char *p = gh_palloc(st->r.pool, GH_MAX(cap, 64));
        if (p == NULL)
            return -1;
        if (st->cookie_len > 0)
            memcpy(p, st->cookie, st->cookie_len);
        st->cookie = p;
        st->cookie_cap = GH_MAX(cap, 64);
    }
    if (st->cookie_len > 0) {
        memcpy(st->cookie + st->cookie_len, "; ", 2);
        st->cookie_len += 2;
    }
    memcpy(st->cookie + st->cookie_len, v, n);
    st->cookie_len += n;
    return 0;
}

static int add_header(struct gh_req *r, struct gh_str name, struct gh_str value)
{
    struct gh_http1_request *h = &r->head;
    if (h->nheaders >= (size_t)r->conf->limits.max_headers)
        return -1;
    h->headers[h->nheaders++] = (struct gh_http_header){ name, value };
    return 0;
}

int gh_h2_on_header(struct h2_stream *st, const uint8_t *name, size_t namelen,
                    const uint8_t *value, size_t valuelen)
{
    struct gh_req *r = &st->r;
    struct gh_http1_request *h = &r->head;
    const struct gh_conf *conf = r->conf;
    if (st->refuse != 0)
        return 0;
    st->list_size += namelen + valuelen + 32;
    if (st->list_size > conf->limits.max_header_size) {
        st->refuse = 431;
        return 0;
    }
    if (namelen > 0 && name[0] == ':') {
        /* nghttp2 has refused unknown, repeated and misplaced ones. */
        if (lit_is(name, namelen, ":path")) {
            if (valuelen > conf->limits.max_uri_size) {
                st->refuse = 414;
                return 0;
            }
            for (size_t i = 0; i < valuelen; i++)
                if (value[i] < 0x21 || value[i] > 0x7e || value[i] == '#')
                    return -1;          /* as the HTTP/1 parser refuses it */
        }
        struct gh_str v = pool_str(r, value, valuelen);
        if (v.p == NULL)
            return -1;
        if (lit_is(name, namelen, ":method")) {
            h->method = v;
            h->method_id = gh_http_method_id(v.p, v.len);
        } else if (lit_is(name, namelen, ":path")) {
            h->target = v;
        } else if (lit_is(name, namelen, ":authority")) {
            st->authority = v;
        } else if (!lit_is(name, namelen, ":scheme")) {
            return -1;
        }
        return 0;
    }
    if (lit_is(name, namelen, "cookie"))
        return add_cookie(st, value, valuelen);
    struct gh_str n = pool_str(r, name, namelen), v = pool_str(r, value, valuelen);
    if (n.p == NULL || v.p == NULL)
        return -1;
    if (lit_is(name, namelen, "host")) {
        st->host_hdr = v;               /* Host is written from h->host upstream */
        return 0;
    }
    if (lit_is(name, namelen, "content-length")) {
        int64_t cl = 0;                 /* digits only: nghttp2 checked it */
        for (size_t i = 0; i < valuelen && cl < INT64_MAX / 10 - 10; i++)
            cl = cl * 10 + (value[i] - '0');
        h->framing.content_length = cl;
    } else if (lit_is(name, namelen, "expect")) {
        if (gh_str_caseeq_lit(v, "100-continue"))
            h->expect_continue = true;
        else
            h->expect_other = true;
    }
    if (add_header(r, n, v) == -1)
        st->refuse = 431;
    return 0;
}

int gh_h2_head_done(struct h2_stream *st, bool end_stream)
{
    struct gh_req *r = &st->r;
    struct gh_http1_request *h = &r->head;
    if (st->authority.len > 0 && st->host_hdr.len > 0
        && !gh_str_caseeq(st->authority, st->host_hdr))
        return -1;                      /* RFC 9113 8.3.1: they must name the same */
    h->host = st->authority.len > 0 ? st->authority : st->host_hdr;
    if (h->method_id == GH_M_CONNECT) {
        h->target = h->host;            /* authority-form; answered 405 */
    } else if (st->refuse == 0 && (h->method.len == 0 || h->target.len == 0)) {
        return -1;
    }
    const char *q = h->target.len > 0 ? memchr(h->target.p, '?', h->target.len) : NULL;
    if (h->method_id == GH_M_CONNECT) {
        h->path = gh_str_make("", 0);
    } else if (q != NULL) {
        h->path = gh_str_make(h->target.p, (size_t)(q - h->target.p));
        h->query = gh_str_make(q + 1, h->target.len - h->path.len - 1);
    } else {
        h->path = h->target;
    }
    if (st->cookie_len > 0 && st->refuse == 0
        && add_header(r, GH_STR("cookie"), gh_str_make(st->cookie, st->cookie_len)) == -1)
        st->refuse = 431;
    if (st->refuse == 0 && h->host.len == 0)
        st->refuse = 400;               /* no :authority nor Host (SPEC section 5) */
    /* What the proxy bounds its upstream head with: every field as a line. */
    h->head_len = st->list_size + st->cookie_len + h->target.len + 64;
    r->has_body = !end_stream && h->framing.content_length != 0;
    r->body_done = !r->has_body;
    if (end_stream)
        st->body_eof = true;
    return 0;
}

void gh_h2_start_request(struct h2_stream *st)
{
    struct gh_req *r = &st->r;
    r->head_only = r->head.method_id == GH_M_HEAD;
    gh_reqid_assign(r);
    gh_edge_count_event(GH_EDGE_H2_STREAMS);
    if (st->refuse != 0) {
        r->io->error(r, st->refuse, true);
        return;
    }
    gh_pipeline_run(r);
}

/* ---- request body source ---------------------------------------------------- */

int gh_h2_body_in(struct h2_stream *st, const uint8_t *data, size_t len)
{
    struct gh_buf_pool *bp = &st->s->c->w->bufs;
    st->body_recv += len;
    size_t max_body = st->r.conf->limits.max_body_size;
    if (max_body > 0 && st->body_recv > max_body)
        st->body_over = true;
    while (len > 0) {
        struct gh_buf *b = st->bq_n > 0 ? st->bq[st->bq_n - 1] : NULL;
        if (b == NULL || gh_buf_room(b) == 0) {
            if (st->bq_n == H2_BODY_BUFS || (b = gh_buf_get(bp)) == NULL)
                return -1;
            st->bq[st->bq_n++] = b;
        }
        size_t k = gh_buf_append(b, data, len);
        data += k;
        len -= k;
    }
    return 0;
}

void gh_h2_body_drop(struct h2_stream *st)
{
    struct gh_http2_session *s = st->s;
    size_t held = 0;
    for (int i = 0; i < st->bq_n; i++) {
        held += gh_buf_len(st->bq[i]);
        gh_buf_put(&s->c->w->bufs, st->bq[i]);
    }
    st->bq_n = 0;
    st->span = 0;
    if (held > 0 && !s->dead)
        nghttp2_session_consume(s->ng, st->id, held);
}

static int h2_body_start(struct gh_req *r, bool upgrade)
{
    GH_UNUSED(r); GH_UNUSED(upgrade);   /* the head lives in the pool; no upgrade on h2 */
    return 0;
}

static ssize_t h2_body_next(struct gh_req *r, const char **data, bool *last)
{
    struct h2_stream *st = h2s(r);
    if (st->body_over)
        return -413;
    if (st->bq_n > 0 && !gh_buf_empty(st->bq[0])) {
        struct gh_buf *b = st->bq[0];
        *data = b->pos;
        st->span = gh_buf_len(b);
        *last = st->body_eof && st->bq_n == 1;
        return (ssize_t)st->span;
    }
    if (st->body_eof)
        return GH_DONE;
    if (st->closed || st->rst_sent || st->s->dead)
        return GH_ERROR;
    return GH_AGAIN;
}

static void h2_body_consume(struct gh_req *r)
{
    struct h2_stream *st = h2s(r);
    struct gh_http2_session *s = st->s;
    if (st->span == 0 || st->bq_n == 0)
        return;
    struct gh_buf *b = st->bq[0];
    b->pos += st->span;
    if (!s->dead)
        nghttp2_session_consume(s->ng, st->id, st->span);   /* a WINDOW_UPDATE for it */
    st->span = 0;
    if (gh_buf_empty(b)) {
        gh_buf_put(&s->c->w->bufs, b);
        memmove(&st->bq[0], &st->bq[1], sizeof(st->bq[0]) * (size_t)(st->bq_n - 1));
        st->bq_n--;
    }
    gh_h2_schedule(s);
}

static uint64_t h2_body_taken(struct gh_req *r)
{
    return h2s(r)->body_recv;
}

/* ---- response sink -------------------------------------------------------- */

/* Fields HTTP/2 forbids (RFC 9113 8.2.2): never sent. */
static bool connection_specific(struct gh_str n)
{
    return gh_str_caseeq_lit(n, "connection") || gh_str_caseeq_lit(n, "keep-alive")
           || gh_str_caseeq_lit(n, "proxy-connection")
           || gh_str_caseeq_lit(n, "transfer-encoding") || gh_str_caseeq_lit(n, "upgrade");
}

/* Append a field to nva with its name in lower case (pool copy when it
 * has upper-case letters); nghttp2 copies both at submit. */
static int put_nv(struct gh_req *r, nghttp2_nv *nva, size_t *n, struct gh_str name,
                  struct gh_str value)
{
    if (connection_specific(name))
        return 0;
    const char *np = name.p;
    for (size_t i = 0; i < name.len; i++) {
        if (name.p[i] >= 'A' && name.p[i] <= 'Z') {
            char *low = gh_palloc(r->pool, name.len);
            if (low == NULL)
                return -1;
            for (size_t k = 0; k < name.len; k++)
                low[k] = gh_lower(name.p[k]);
            np = low;
            break;
        }
    }
    nva[(*n)++] = (nghttp2_nv){ (uint8_t *)np, (uint8_t *)value.p, name.len, value.len,
                                NGHTTP2_NV_FLAG_NONE };
    return 0;
}

static void set_status(struct h2_stream *st, int status, nghttp2_nv *nv)
{
    st->status[0] = (char)('0' + status / 100 % 10);
    st->status[1] = (char)('0' + status / 10 % 10);
    st->status[2] = (char)('0' + status % 10);
    *nv = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)st->status, 7, 3, NGHTTP2_NV_FLAG_NONE };
}

/* The fields of h (kept and added) after :status, into a pool array. */
static nghttp2_nv *head_nva(struct h2_stream *st, const struct gh_resp_head *h, size_t *n)
{
    struct gh_req *r = &st->r;
    nghttp2_nv *nva = gh_palloc(r->pool, sizeof(*nva) * (1 + h->nfields + h->nadd));
    if (nva == NULL)
        return NULL;
    set_status(st, h->status, &nva[0]);
    *n = 1;
    for (size_t i = 0; i < h->nfields; i++)
        if (!h->drop[i] && put_nv(r, nva, n, h->fields[i].name, h->fields[i].value) == -1)
            return NULL;
    for (size_t i = 0; i < h->nadd; i++)
        if (put_nv(r, nva, n, h->add[i].name, h->add[i].value) == -1)
            return NULL;
    return nva;
}

static void h2_resp_interim(struct gh_req *r, const struct gh_resp_head *h, const char *raw,
                            size_t len)
{
    GH_UNUSED(raw); GH_UNUSED(len);
    struct h2_stream *st = h2s(r);
    size_t n;
    nghttp2_nv *nva = head_nva(st, h, &n);
    if (nva == NULL || st->s->dead)
        return;
    nghttp2_submit_headers(st->s->ng, NGHTTP2_FLAG_NONE, st->id, NULL, nva, n, NULL);
    gh_h2_schedule(st->s);
}

/* Submit the final HEADERS; body: DATA follows, pulled by gh_h2_read_data. */
static int submit_response(struct h2_stream *st, const nghttp2_nv *nva, size_t n, bool body)
{
    struct gh_http2_session *s = st->s;
    if (s->dead || st->closed || st->rst_sent)
        return -1;
    nghttp2_data_provider prd = { .source.ptr = st, .read_callback = gh_h2_read_data };
    if (nghttp2_submit_response(s->ng, st->id, nva, n, body ? &prd : NULL) != 0)
        return -1;
    st->resp_submitted = true;
    st->eof_sent = !body;
    gh_h2_schedule(s);
    return 0;
}

static int h2_resp_head(struct gh_req *r, const struct gh_resp_head *h)
{
    struct h2_stream *st = h2s(r);
    size_t n;
    nghttp2_nv *nva = head_nva(st, h, &n);
    if (nva == NULL)
        return -1;
    return submit_response(st, nva, n, h->body != GH_RESP_NO_BODY);
}

static void resume(struct h2_stream *st)
{
    if (st->deferred && !st->s->dead) {
        st->deferred = false;
        nghttp2_session_resume_data(st->s->ng, st->id);
    }
}

static void h2_resp_data(struct gh_req *r, const struct iovec *iov, int n, size_t total)
{
    GH_UNUSED(total);
    struct h2_stream *st = h2s(r);
    for (int i = 0; i < n; i++)
        gh_outq_push(&st->out, iov[i].iov_base, iov[i].iov_len);
    resume(st);
}

static bool h2_resp_end(struct gh_req *r)
{
    struct h2_stream *st = h2s(r);
    if (st->eof_sent)
        return false;                   /* HEADERS carried END_STREAM */
    st->resp_eof = true;
    resume(st);
    return true;
}

static ssize_t h2_resp_send(struct gh_req *r, bool *drained)
{
    struct h2_stream *st = h2s(r);
    struct gh_http2_session *s = st->s;
    *drained = false;
    if (s->dead || st->closed || st->rst_sent)
        return GH_ERROR;
    uint64_t before = st->pulled;
    resume(st);
    st->in_send = true;
    int rc = gh_h2_flush(s);
    st->in_send = false;
    if (rc == -1) {
        s->failed = true;
        gh_h2_schedule(s);
        return GH_ERROR;
    }
    *drained = gh_outq_empty(&st->out) && (!st->resp_eof || st->eof_sent);
    uint64_t moved = st->pulled - before;
    if (*drained || moved > 0)
        return (ssize_t)moved;
    return GH_AGAIN;                    /* the stream's or the connection's window, or the socket */
}

static int64_t h2_resp_unacked(struct gh_req *r)
{
    GH_UNUSED(r);
    return -1;                          /* shared by the streams: not the request's */
}

ssize_t gh_h2_read_data(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                        uint32_t *flags, nghttp2_data_source *src, void *user)
{
    GH_UNUSED(ng); GH_UNUSED(id); GH_UNUSED(user);
    struct h2_stream *st = src->ptr;
    size_t k = 0;
    if (st->own) {
        k = GH_MIN(length, st->own_len - st->own_off);
        memcpy(buf, st->own_body + st->own_off, k);
        st->own_off += k;
        st->r.bytes_sent += k;
        if (st->own_off == st->own_len) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            st->eof_sent = true;
            st->own_done = true;
            gh_h2_ready(st);
        }
        return (ssize_t)k;
    }
    while (k < length && !gh_outq_empty(&st->out)) {
        const struct iovec *v = &st->out.v[st->out.first];
        size_t t = GH_MIN(v->iov_len, length - k);
        memcpy(buf + k, v->iov_base, t);
        k += t;
        gh_outq_consume(&st->out, t);
    }
    st->pulled += k;
    st->r.bytes_sent += k;
    if (gh_outq_empty(&st->out) && st->resp_eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        st->eof_sent = true;
    } else if (k == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (!st->in_send) {
        st->kick = true;                /* room for the proxy's next span */
        gh_h2_ready(st);
    }
    return (ssize_t)k;
}

/* ---- the end of the request, and answers made here ------------------------------ */

static void h2_finish(struct gh_req *r)
{
    gh_pipeline_log(r);
    gh_h2_stream_done(h2s(r));
}

static void h2_reset(struct gh_req *r)
{
    struct h2_stream *st = h2s(r);
    if (st->finished)
        return;
    if (r->status == 0)
        r->status = 499;
    gh_pipeline_log(r);
    gh_h2_reset(st, NGHTTP2_INTERNAL_ERROR);
    gh_h2_stream_done(st);
}

static struct gh_str pool_u64(struct gh_req *r, uint64_t v)
{
    char *p = gh_palloc(r->pool, 24);
    if (p == NULL)
        return (struct gh_str){ NULL, 0 };
    int n = snprintf(p, 24, "%llu", (unsigned long long)v);
    return gh_str_make(p, (size_t)n);
}

static int put_sets(struct gh_req *r, nghttp2_nv *nva, size_t *n,
                    const struct gh_conf_headers *sets)
{
    for (size_t i = 0; sets != NULL && i < sets->nset; i++)
        if (put_nv(r, nva, n, gh_str_make(sets->set[i].name, strlen(sets->set[i].name)),
                   gh_str_make(sets->set[i].value, strlen(sets->set[i].value)))
            == -1)
            return -1;
    return 0;
}

static void h2_respond(struct gh_req *r, int status, const char *body, size_t body_len,
                       const char *location, bool close)
{
    GH_UNUSED(close);                   /* on_frame_send stops the rest of the request */
    struct h2_stream *st = h2s(r);
    const struct gh_conf_vserver *vs = r->match.vserver;
    const struct gh_conf_route *rt = r->match.route;
    bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
    size_t max = 10 + (vs ? vs->response_headers.nset : 0) + (rt ? rt->response_headers.nset : 0);
    nghttp2_nv *nva = gh_palloc(r->pool, sizeof(*nva) * max);
    size_t n = 1;
    r->status = status;
    if (nva == NULL)
        goto fail;
    set_status(st, status, &nva[0]);
    struct gh_str len = pool_u64(r, body_len), ra = { NULL, 0 };
    if (r->retry_after > 0)
        ra = pool_u64(r, (uint64_t)r->retry_after);
    if (len.p == NULL || (r->retry_after > 0 && ra.p == NULL))
        goto fail;
    put_nv(r, nva, &n, GH_STR("server"), GH_STR("gatehouse"));
    put_nv(r, nva, &n, GH_STR("date"), gh_str_make(gh_time_http_date(), 29));
    if (!no_body) {
        if (body_len > 0)
            put_nv(r, nva, &n, GH_STR("content-type"), GH_STR("text/plain"));
        put_nv(r, nva, &n, GH_STR("content-length"), len);
    }
    if (location != NULL)
        put_nv(r, nva, &n, GH_STR("location"), gh_str_make(location, strlen(location)));
    if (ra.p != NULL)
        put_nv(r, nva, &n, GH_STR("retry-after"), ra);
    if (r->request_id.len > 0)
        put_nv(r, nva, &n, GH_STR("x-request-id"), r->request_id);
    if ((vs != NULL && put_sets(r, nva, &n, &vs->response_headers) == -1)
        || (rt != NULL && put_sets(r, nva, &n, &rt->response_headers) == -1))
        goto fail;
    st->own = true;
    st->own_body = body;
    st->own_len = (r->head_only || no_body) ? 0 : body_len;
    st->own_off = 0;
    if (submit_response(st, nva, n, st->own_len > 0) == -1)
        goto fail;
    if (st->own_len > 0)                /* a client that never opens its window is reset */
        gh_loop_timer_set(&st->s->c->w->loop, &st->timer, r->conf->timeouts.send);
    if (st->own_len == 0) {
        st->own_done = true;            /* finished from the ready list */
        gh_h2_ready(st);
    }
    return;
fail:
    h2_reset(r);
}

static void h2_error(struct gh_req *r, int status, bool close)
{
    if (status < 100 || status >= 600)
        status = 500;
    size_t len;
    const char *b = gh_http_error_body(status, &len);
    h2_respond(r, status, b, len, NULL, close);
}

const struct gh_req_io gh_http2_req_io = {
    .body_start = h2_body_start,
    .body_next = h2_body_next,
    .body_consume = h2_body_consume,
    .body_taken = h2_body_taken,
    .resp_interim = h2_resp_interim,
    .resp_head = h2_resp_head,
    .resp_data = h2_resp_data,
    .resp_end = h2_resp_end,
    .resp_send = h2_resp_send,
    .resp_unacked = h2_resp_unacked,
    .finish = h2_finish,
    .error = h2_error,
    .respond = h2_respond,
    .reset = h2_reset,
};
