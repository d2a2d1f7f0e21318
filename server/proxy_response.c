/*
 * proxy_response.c - the upstream's answer, as the pump in proxy.c reads
 * it: parse and rewrite the head (interim ones relayed, 101 handed to the
 * tunnel), then cut the body into spans re-framed for the client.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/outq.h"
#include "common/time.h"
#include "modules/cache.h"
#include "server/filter.h"
#include "server/proxy_headers.h"
#include "server/proxy_priv.h"
#include "server/upstream.h"

/* The final head: the body's framing, the filters (body filters first:
 * they may change the head), then the sink. 0 or -1. */
static int queue_response_head(struct gh_proxy *p)
{
    struct gh_req *r = p->r;
    const struct gh_http1_response *resp = &p->resp;
    int st = resp->status;

    if (r->head_only || st == 204 || st == 304)
        p->resp_mode = BODY_NONE;
    else if (resp->framing.chunked)
        p->resp_mode = BODY_CHUNKED;
    else if (resp->framing.content_length >= 0 && !resp->framing.has_te)
        p->resp_mode = BODY_LENGTH;
    else
        p->resp_mode = BODY_EOF;
    p->resp_left = p->resp_mode == BODY_LENGTH ? (uint64_t)resp->framing.content_length : 0;
    struct gh_resp_head h;
    if (gh_resp_head_init(r, &h, resp, gh_proxy_head_adds(r)) == -1)
        return -1;
    h.body = p->resp_mode == BODY_NONE     ? GH_RESP_NO_BODY
             : p->resp_mode == BODY_LENGTH ? GH_RESP_LENGTH
                                           : GH_RESP_STREAM;
    if (h.body == GH_RESP_LENGTH)
        h.length = (int64_t)p->resp_left;
    if (gh_filters_any() && p->resp_mode != BODY_NONE
        && gh_filter_chain_start(r, &h, &p->w->bufs, &p->filters) == -1)
        return -1;
    /* Filters change the length: the body is then delimited as if its
     * length were unknown. */
    r->body_rewritten = p->filters != NULL;
    gh_cache_resp_head(r, resp, &h, p->filters != NULL, p->resp_mode != BODY_EOF);
    if (r->body_rewritten) {
        h.body = GH_RESP_STREAM;
        h.length = -1;
    }
    p->upstream_reusable = p->resp_mode != BODY_EOF && !resp->framing.conn_close
                           && (resp->version_minor >= 1 || resp->framing.conn_keep_alive);
    if (!p->req_sent) {
        /* An early answer: stop the upload; neither side can be reused. */
        p->upload_stopped = true;
        p->upstream_reusable = false;
        r->keepalive = false;
    }
    r->status = st;
    r->upstream_status = st;
    if (p->uc != NULL)
        gh_upstream_done(p->up, p->uc->srv, st, gh_now_ms - p->u_start);
    if (p->w->draining)
        r->keepalive = false;           /* a draining worker closes after this answer */
    if (gh_header_filters_run(r, &h) == -1 || r->io->resp_head(r, &h) == -1)
        return -1;
    p->out_queued = true;
    p->resp_started = true;
    p->resp_head_done = true;
    if (p->resp_mode == BODY_NONE || (p->resp_mode == BODY_LENGTH && p->resp_left == 0))
        p->resp_body_read = true;
    return 0;
}

/* The chunked body bytes that came with the response head are well formed
 * so far (checked before the head is queued for the client). */
static bool body_start_valid(const struct gh_proxy *p)
{
    const struct gh_buf *b = p->rbuf;
    int st = p->resp.status;
    if (!p->resp.framing.chunked || p->r->head_only || st == 204 || st == 304 || gh_buf_empty(b))
        return true;
    struct gh_chunked_decoder d = p->resp_dec;
    size_t dlen = gh_buf_len(b);
    return gh_chunked_scan(&d, b->pos, &dlen) >= 0;
}

/* Parse what the upstream sent so far as a response head. */
int gh_proxy_response_head(struct gh_proxy *p)
{
    const struct gh_conf *conf = p->w->conf;
    const struct gh_http1_limits lim = {
        .max_header_size = conf->limits.max_upstream_header_size,
        .max_uri_size = conf->limits.max_uri_size,
        .max_headers = (size_t)conf->limits.max_headers,
    };
    struct gh_buf *b = p->rbuf;
    int rc = gh_http1_parse_response(&p->rparser, b->pos, gh_buf_len(b), &lim, &p->resp);
    if (rc == GH_AGAIN) {
        if (gh_buf_room(b) == 0 && b->pos == b->start) {
            gh_log_error("upstream %s sent a response head over %zu bytes", p->r->upstream_addr,
                         conf->limits.max_upstream_header_size);
            gh_proxy_fail(p, 502);
            return STEP_STOP;
        }
        return STEP_WAIT;
    }
    if (rc < 0) {
        gh_log_error("upstream %s sent an invalid response", p->r->upstream_addr);
        gh_proxy_upstream_failed(p, 502, false);
        return STEP_STOP;
    }
    int st = p->resp.status;
    if (st >= 100 && st < 200) {
        if (st == 101) {
            if (!p->ws || !p->req_sent) {
                gh_log_error("upstream %s switched protocols unasked", p->r->upstream_addr);
                gh_proxy_upstream_failed(p, 502, false);
                return STEP_STOP;
            }
            b->pos += rc;
            gh_proxy_tunnel_start(p);
            return STEP_PROGRESS;
        }
        struct gh_resp_head ih;
        if ((st == 100 || st == 103) && gh_resp_head_init(p->r, &ih, &p->resp, 0) == 0) {
            /* Relay the interim response as it came (its bytes stay in rbuf
             * until sent; an HTTP/1.0 sink drops it). */
            p->r->io->resp_interim(p->r, &ih, b->pos, (size_t)rc);
            p->out_queued = true;
            p->resp_after = b->pos + rc;
            p->resp_span = true;
        } else {
            b->pos += rc;
        }
        gh_http1_parser_reset(&p->rparser);
        return STEP_PROGRESS;
    }
    b->pos += rc;
    if (GH_UNLIKELY(st == 304) && gh_cache_resp_304(p->r, &p->resp)) {
        /* It revalidated a stored object, which answers instead. */
        struct gh_req *r = p->r;
        gh_proxy_handover(p);
        gh_cache_answer_refreshed(r);
        return STEP_STOP;
    }
    if (GH_UNLIKELY(st == 500 || (st >= 502 && st <= 504))) {   /* RFC 5861 section 4 */
        /* stale-if-error: a 5xx may be answered by a stale object. */
        struct gh_server_rt *srv = p->uc != NULL ? p->uc->srv : NULL;
        uint64_t ms = gh_now_ms - p->u_start;
        if (gh_proxy_try_stale(p, st, false)) {
            if (srv != NULL)
                gh_upstream_done(p->up, srv, st, ms);
            return STEP_PROGRESS;
        }
    }
    if (!body_start_valid(p)) {
        /* Nothing went to the client yet: a clean 502 instead of a head
         * and then a cut connection. */
        gh_log_error("upstream %s sent a malformed chunked body", p->r->upstream_addr);
        gh_proxy_upstream_failed(p, 502, false);
        return STEP_STOP;
    }
    if (queue_response_head(p) == -1) {
        gh_proxy_fail(p, 502);
        return STEP_STOP;
    }
    /* Whatever body came with the head leaves in the same writev. */
    if (!p->resp_body_read && !gh_buf_empty(b) && gh_proxy_response_span(p) == -1) {
        gh_proxy_fail(p, 502);
        return STEP_STOP;
    }
    if (p->resp_body_read && !p->resp_term_queued && p->filters == NULL) {
        p->resp_term_queued = true;
        p->r->io->resp_end(p->r);
    }
    return STEP_PROGRESS;
}

/* Queue the chain's output of in[0..len) (then flushed as asked), framed
 * for the client. The input is copied, so the caller consumes it at once. */
static int queue_filtered(struct gh_proxy *p, const char *in, size_t len,
                          enum gh_filter_flush flush)
{
    struct iovec iov[GH_FILTER_OUT_MAX];
    int n;
    size_t total;
    p->filters_flush = flush;
    p->filters_dirty = flush == GH_FLUSH_NONE && (len > 0 || p->filters_dirty);
    int rc = gh_filter_chain_run(p->filters, in, len, flush, iov, &n, &total);
    if (rc == -1) {
        gh_log_error("a response filter failed on the body from %s", p->r->upstream_addr);
        return -1;
    }
    p->filters_more = rc == GH_FILTER_MORE;
    if (total == 0)
        return 0;
    for (int i = 0; i < n; i++)
        gh_cache_resp_body(p->r, iov[i].iov_base, iov[i].iov_len);
    p->r->io->resp_data(p->r, iov, n, total);
    p->out_queued = true;
    p->filter_out = true;
    return 0;
}

int gh_proxy_filters_flush(struct gh_proxy *p)
{
    p->filters_flushed = true;
    return queue_filtered(p, NULL, 0, GH_FLUSH_END);
}

int gh_proxy_filters_sync(struct gh_proxy *p)
{
    return queue_filtered(p, NULL, 0, GH_FLUSH_SYNC);
}

int gh_proxy_filters_resume(struct gh_proxy *p)
{
    return queue_filtered(p, NULL, 0, (enum gh_filter_flush)p->filters_flush);
}

/* Queue the next span of response body bytes from rbuf. */
int gh_proxy_response_span(struct gh_proxy *p)
{
    struct gh_buf *b = p->rbuf;
    char *start = b->pos;
    size_t avail = gh_buf_len(b);
    if (avail == 0)
        return STEP_WAIT;
    size_t dlen = avail, used = avail;
    if (p->resp_mode == BODY_LENGTH) {
        dlen = used = (size_t)GH_MIN((uint64_t)avail, p->resp_left);
        p->resp_left -= dlen;
        p->resp_body_read = p->resp_left == 0;
    } else if (p->resp_mode == BODY_CHUNKED) {
        ssize_t u = gh_chunked_decode(&p->resp_dec, start, &dlen);
        if (u < 0) {
            gh_log_error("upstream %s sent a malformed chunked body", p->r->upstream_addr);
            return -1;
        }
        used = (size_t)u;
        p->resp_body_read = p->resp_dec.done;
        if (used == 0 && !p->resp_body_read) {
            if (gh_buf_room(b) == 0 && b->pos > b->start)
                gh_buf_compact(b);
            return STEP_WAIT;
        }
    }
    if (dlen > 0 && p->filters == NULL)
        gh_cache_resp_body(p->r, start, dlen);  /* filtered: their output is stored */
    if (p->filters != NULL) {
        /* Copied through the filters: the span is consumed now. */
        if (dlen > 0 && queue_filtered(p, start, dlen, GH_FLUSH_NONE) == -1)
            return -1;
        b->pos = start + used;
    } else if (dlen > 0) {
        struct iovec v = { start, dlen };
        p->r->io->resp_data(p->r, &v, 1, dlen);
        p->out_queued = true;
        p->resp_after = start + used;
        p->resp_span = true;
    } else {
        b->pos = start + used;
    }
    if (p->resp_body_read && b->pos + used < b->last && p->resp_mode != BODY_EOF)
        p->upstream_reusable = false;   /* bytes after the body: not a clean connection */
    return STEP_PROGRESS;
}
