/*
 * http1_io.c - HTTP/1's side of a forwarded request (struct gh_req_io,
 * server/request.h): the request body as a source of spans of the client
 * buffer (Content-Length or chunked, de-framed in place without a copy),
 * and the response as a sink that frames it for the client (chunked to
 * HTTP/1.1 when its length is unknown, close-delimited to HTTP/1.0) and
 * writes it with the connection's one write step (gh_conn_send).
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/time.h"
#include "common/wbuf.h"
#include "server/http1_priv.h"

/* ---- request body source ---- */

/* Move what the parsed head points to (log fields, headers) out of c->h1.in,
 * which the body (or the tunnel) now reuses. */
static int keep_head(struct gh_req *r)
{
    struct gh_http1_request *h = &r->head;
    const char *from = r->conn->h1.in->pos;
    size_t n = h->head_len;
    char *to = gh_palloc(r->pool, n ? n : 1);
    if (to == NULL)
        return -1;
    memcpy(to, from, n);
#define REBASE(s)                                                                                  \
    do {                                                                                           \
        if ((s).p >= from && (s).p < from + n)                                                     \
            (s).p = to + ((s).p - from);                                                           \
    } while (0)
    REBASE(h->method);
    REBASE(h->target);
    REBASE(h->path);
    REBASE(h->query);
    REBASE(h->authority);
    REBASE(h->host);
    REBASE(h->framing.upgrade);
    REBASE(r->request_id);
    for (size_t i = 0; i < h->nheaders; i++) {
        REBASE(h->headers[i].name);
        REBASE(h->headers[i].value);
    }
#undef REBASE
    return 0;
}

static int h1_body_start(struct gh_req *r, bool upgrade)
{
    struct h1_req *hr = h1(r);
    struct gh_conn *c = r->conn;
    const struct gh_http1_framing *f = &r->head.framing;
    if (f->chunked) {
        hr->body_mode = H1_BODY_CHUNKED;
    } else if (f->content_length > 0) {
        hr->body_mode = H1_BODY_LENGTH;
        hr->body_left = (uint64_t)f->content_length;
    }
    if ((r->has_body || upgrade) && keep_head(r) == -1)
        return -1;
    c->h1.in->pos += r->head.head_len;
    r->head.head_len = 0;               /* consumed here, not by gh_http1_finish */
    if (hr->body_mode != H1_BODY_CHUNKED || gh_buf_empty(c->h1.in))
        return 0;
    /* The chunked bytes that came with the head are checked before the
     * head goes upstream (SPEC section 5: a bad request is never
     * forwarded); what arrives later is checked as it streams. */
    struct gh_chunked_decoder d = hr->body_dec;
    size_t dlen = gh_buf_len(c->h1.in);
    if (gh_chunked_scan(&d, c->h1.in->pos, &dlen) < 0)
        return 400;
    size_t max_body = c->w->conf->limits.max_body_size;
    if (max_body > 0 && dlen > max_body)
        return 413;
    return 0;
}

/* Read from the client into in: > 0, GH_AGAIN or GH_ERROR (EOF included:
 * the client left mid-body). */
static ssize_t body_read(struct gh_conn *c, struct gh_buf *in)
{
    if (!c->h1.rd_more)
        return GH_AGAIN;
    ssize_t n = gh_transport_read_buf(&c->tp, in, &c->h1.rd_more);
    if (n == GH_AGAIN)
        return GH_AGAIN;
    return n > 0 ? n : GH_ERROR;
}

/* The next span: > 0 bytes at *data, GH_DONE at the end of the body, 0
 * when only framing was consumed (call again), GH_AGAIN, GH_ERROR, -400,
 * -413. */
static ssize_t h1_body_next(struct gh_req *r, const char **data, bool *last)
{
    struct h1_req *hr = h1(r);
    struct gh_conn *c = r->conn;
    if (hr->body_mode == H1_BODY_NONE || (hr->body_mode == H1_BODY_LENGTH && hr->body_left == 0)
        || (hr->body_mode == H1_BODY_CHUNKED && hr->body_dec.done))
        return GH_DONE;
    struct gh_buf *in = c->h1.in;
    if (in == NULL) {
        c->h1.in = in = gh_buf_get(&c->w->bufs);
        if (in == NULL)
            return GH_ERROR;
    }
    if (in->pos == in->last) {
        gh_buf_reset(in);
        ssize_t n = body_read(c, in);
        if (n < 0)
            return n;
    } else if (gh_buf_room(in) == 0 && in->pos > in->start && hr->body_mode == H1_BODY_CHUNKED) {
        gh_buf_compact(in);
    }
    char *start = in->pos;
    size_t avail = gh_buf_len(in);
    if (hr->body_mode == H1_BODY_LENGTH) {
        size_t n = (size_t)GH_MIN((uint64_t)avail, hr->body_left);
        hr->body_left -= n;
        hr->body_after = start + n;
        *data = start;
        *last = hr->body_left == 0;
        return (ssize_t)n;
    }
    size_t dlen = avail;
    ssize_t used = gh_chunked_decode(&hr->body_dec, start, &dlen);
    if (used < 0)
        return -400;
    hr->body_total += dlen;
    size_t max_body = c->w->conf->limits.max_body_size;
    if (max_body > 0 && hr->body_total > max_body)
        return -413;
    if (dlen > 0) {
        hr->body_after = start + used;
        *data = start;
        *last = hr->body_dec.done;
        return (ssize_t)dlen;
    }
    in->pos = start + used;
    if (used == 0 && !hr->body_dec.done) {
        /* An incomplete size line at the end of the buffer: read more. */
        if (gh_buf_room(in) == 0)
            gh_buf_compact(in);
        ssize_t n = body_read(c, in);
        if (n < 0)
            return n;
    }
    return 0;
}

static void h1_body_consume(struct gh_req *r)
{
    struct h1_req *hr = h1(r);
    if (hr->body_after != NULL) {
        r->conn->h1.in->pos = hr->body_after;
        hr->body_after = NULL;
    }
}

static uint64_t h1_body_taken(struct gh_req *r)
{
    struct h1_req *hr = h1(r);
    if (hr->body_mode == H1_BODY_LENGTH)
        return (uint64_t)r->head.framing.content_length - hr->body_left;
    return hr->body_total;
}

/* ---- response sink ---- */

static void put_field(struct gh_wbuf *o, const struct gh_http_header *f)
{
    gh_wbuf_putstr(o, f->name);
    gh_wbuf_put(o, ": ", 2);
    gh_wbuf_putstr(o, f->value);
    gh_wbuf_put(o, "\r\n", 2);
}

int gh_http1_write_head(struct gh_req *r, const struct gh_resp_head *h, bool chunked, char **head,
                        size_t *len)
{
    /* Status line, the fields (h->bytes bounds them as lines), framing. */
    size_t bound = h->bytes + h->upgrade.len + 160;
    char *buf = gh_palloc(r->pool, bound);
    if (buf == NULL)
        return -1;
    struct gh_wbuf o = gh_wbuf_make(buf, bound);
    gh_wbuf_puts(&o, "HTTP/1.1 ");
    char num[4] = { (char)('0' + h->status / 100 % 10), (char)('0' + h->status / 10 % 10),
                    (char)('0' + h->status % 10), ' ' };
    gh_wbuf_put(&o, num, 4);
    if (h->reason.len > 0)
        gh_wbuf_putstr(&o, h->reason);
    else
        gh_wbuf_puts(&o, gh_http_reason(h->status));
    gh_wbuf_put(&o, "\r\n", 2);
    for (size_t i = 0; i < h->nfields; i++)
        if (!h->drop[i])
            put_field(&o, &h->fields[i]);
    for (size_t i = 0; i < h->nadd; i++)
        put_field(&o, &h->add[i]);
    if (chunked)
        gh_wbuf_puts(&o, "Transfer-Encoding: chunked\r\n");
    if (h->status == 101) {
        /* The upgrade itself: its hop-by-hop fields are the point. */
        gh_wbuf_puts(&o, "Connection: upgrade\r\nUpgrade: ");
        gh_wbuf_putstr(&o, h->upgrade);
        gh_wbuf_put(&o, "\r\n", 2);
    } else if (!r->keepalive) {
        gh_wbuf_puts(&o, "Connection: close\r\n");
    } else if (r->head.version_minor == 0) {
        gh_wbuf_puts(&o, "Connection: keep-alive\r\n");
    }
    gh_wbuf_put(&o, "\r\n", 2);
    *head = buf;
    *len = (size_t)(o.p - buf);
    return 0;
}

static void h1_resp_interim(struct gh_req *r, const struct gh_resp_head *h, const char *raw,
                            size_t len)
{
    GH_UNUSED(h);
    if (r->head.version_minor == 0)
        return;                         /* HTTP/1.0 knows no 1xx */
    gh_outq_push(&h1(r)->out, raw, len);
    r->head_bytes += len;
}

static int h1_resp_head(struct gh_req *r, const struct gh_resp_head *h)
{
    struct h1_req *hr = h1(r);
    bool client11 = r->head.version_minor >= 1;
    hr->chunked_out = h->body == GH_RESP_STREAM && client11;
    if (h->body == GH_RESP_STREAM && !client11)
        r->keepalive = false;           /* HTTP/1.0: the close delimits the body */
    char *head;
    size_t len;
    if (gh_http1_write_head(r, h, hr->chunked_out, &head, &len) == -1)
        return -1;
    gh_outq_push(&hr->out, head, len);
    r->head_bytes += len;
    return 0;
}

static void h1_resp_data(struct gh_req *r, const struct iovec *iov, int n, size_t total)
{
    struct h1_req *hr = h1(r);
    if (hr->chunked_out) {
        int hl = snprintf(hr->chunk_hdr, sizeof(hr->chunk_hdr), "%zx\r\n", total);
        gh_outq_push(&hr->out, hr->chunk_hdr, (size_t)hl);
    }
    for (int i = 0; i < n; i++)
        gh_outq_push(&hr->out, iov[i].iov_base, iov[i].iov_len);
    if (hr->chunked_out)
        gh_outq_push(&hr->out, "\r\n", 2);
}

static bool h1_resp_end(struct gh_req *r)
{
    struct h1_req *hr = h1(r);
    if (!hr->chunked_out)
        return false;
    gh_outq_push(&hr->out, "0\r\n\r\n", 5);
    return true;
}

static ssize_t h1_resp_send(struct gh_req *r, bool *drained)
{
    struct h1_req *hr = h1(r);
    ssize_t n = gh_conn_send(r->conn, &hr->out, &r->bytes_sent);
    *drained = gh_outq_empty(&hr->out);
    return n;
}

static int64_t h1_resp_unacked(struct gh_req *r)
{
    return gh_transport_unacked(&r->conn->tp);
}

static void h1_reset(struct gh_req *r)
{
    gh_conn_close(r->conn);
}

const struct gh_req_io gh_http1_req_io = {
    .body_start = h1_body_start,
    .body_next = h1_body_next,
    .body_consume = h1_body_consume,
    .body_taken = h1_body_taken,
    .resp_interim = h1_resp_interim,
    .resp_head = h1_resp_head,
    .resp_data = h1_resp_data,
    .resp_end = h1_resp_end,
    .resp_send = h1_resp_send,
    .resp_unacked = h1_resp_unacked,
    .finish = gh_http1_finish,
    .error = gh_http1_error,
    .respond = gh_http1_respond,
    .reset = h1_reset,
};
