/*
 * proxy.c - forwarding one request to an upstream and relaying the answer,
 * full duplex and with bounded buffers: the request body streams from the
 * client buffer to the upstream while the response streams from the
 * upstream buffer to the client, each side reading only when the other has
 * drained what it holds (so a slow reader slows the writer).
 *
 * Everything is driven by one pump, proxy_run(), called on any event of
 * either socket; each step is non-blocking and reports progress. This file
 * holds the pump and its steps, the upstream choice and retries;
 * proxy_response.c parses and re-frames the upstream's answer,
 * proxy_rate.c checks limits.min_client_rate, proxy_tunnel.c is the
 * WebSocket tunnel. (The per-event steps stay here: calls across files
 * cost the pump about 140 instructions a request.)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/outq.h"
#include "common/time.h"
#include "server/filter.h"
#include "server/pipeline.h"
#include "server/proxy.h"
#include "server/proxy_headers.h"
#include "server/proxy_priv.h"
#include "server/upstream.h"
#include "modules/cache.h"
#include "modules/route_phase.h"

static void proxy_run(struct gh_proxy *p);
static void kick_run(struct gh_timer *t);
static void upstream_event(struct gh_io *io, uint32_t revents);
static int connect_next(struct gh_proxy *p);

int gh_proxy_worker_init(struct gh_worker *w)
{
    return gh_upstreams_init(w);
}

void gh_proxy_worker_exit(struct gh_worker *w)
{
    gh_proxy_detached_exit();
    gh_upstreams_exit(w);
}

/* Let go of the upstream connection: to the pool when reusable. */
static void drop_upstream(struct gh_proxy *p, bool reusable)
{
    struct gh_uconn *uc = p->uc;
    gh_loop_timer_cancel(&p->w->loop, &p->utimer);
    if (uc == NULL)
        return;
    p->uc = NULL;
    if (reusable) {
        uc->nrequests++;
        gh_uconn_release(uc);
    } else {
        gh_uconn_discard(uc);
    }
}

static void proxy_free(struct gh_proxy *p)
{
    if (GH_UNLIKELY(p->src != NULL)) {
        const struct gh_resp_source *src = p->src;
        p->src = NULL;
        src->close(p->r);
    }
    /* Complete: every byte read, and the filters' last output out too. */
    gh_cache_resp_end(p->r, p->resp_head_done && p->resp_body_read
                                && (p->filters == NULL || (p->filters_flushed && !p->filters_more)));
    gh_loop_timer_cancel(&p->w->loop, &p->kick);
    drop_upstream(p, false);
    gh_buf_put(&p->w->bufs, p->rbuf);
    p->rbuf = NULL;
    if (p->filters != NULL) {
        gh_filter_chain_free(p->filters);
        p->filters = NULL;
    }
    p->r->proxy = NULL;
}

void gh_proxy_handover(struct gh_proxy *p)
{
    struct gh_req *r = p->r;
    const struct gh_http1_response *resp = &p->resp;
    bool reusable = p->req_sent && gh_buf_empty(p->rbuf) && !resp->framing.conn_close
                    && (resp->version_minor >= 1 || resp->framing.conn_keep_alive);
    r->upstream_status = resp->status;
    if (p->uc != NULL)
        gh_upstream_done(p->up, p->uc->srv, resp->status, gh_now_ms - p->u_start);
    r->body_done = p->req_body_read;
    if (!p->req_body_read)
        r->keepalive = false;           /* unread body bytes still on the wire */
    drop_upstream(p, reusable);
    proxy_free(p);
}

bool gh_proxy_try_stale(struct gh_proxy *p, int status, bool all_down)
{
    struct gh_req *r = p->r;
    if (p->resp_started || p->out_queued || p->src != NULL || p->tunnel)
        return false;
    const struct gh_resp_source *src = gh_cache_upstream_error(r, status, all_down);
    if (src == NULL)
        return false;
    drop_upstream(p, false);
    gh_buf_put(&p->w->bufs, p->rbuf);
    p->rbuf = NULL;
    if (p->filters != NULL) {
        /* A head that failed half-way: none of it is the stale answer's. */
        gh_filter_chain_free(p->filters);
        p->filters = NULL;
    }
    p->filters_more = p->filters_dirty = p->filter_out = false;
    r->body_rewritten = false;
    p->src = src;
    p->resp_head_done = p->resp_body_read = p->resp_term_queued = false;
    p->uq = (struct gh_outq){ 0 };
    p->req_sent = true;                 /* nothing more goes upstream */
    r->upstream_status = status;
    gh_loop_timer_set(&p->w->loop, &p->kick, 0);
    return true;
}

/* Answer with an error, or close when part of the answer is already out. */
void gh_proxy_fail(struct gh_proxy *p, int status)
{
    struct gh_req *r = p->r;
    if (GH_UNLIKELY(status >= 502 && status <= 504) && !p->resp_started
        && gh_proxy_try_stale(p, status, false))
        return;
    bool started = p->resp_started;
    bool close = !p->req_body_read;
    proxy_free(p);
    if (started) {
        r->io->reset(r);
        return;
    }
    r->upstream_status = 0;
    r->io->error(r, status, close || r->has_body);
}

/* The upstream failed before answering: retry on another server when
 * SPEC section 5 allows it, else answer `status`. */
void gh_proxy_upstream_failed(struct gh_proxy *p, int status, bool may_retry)
{
    struct gh_uconn *uc = p->uc;
    bool reused = uc != NULL && uc->reused;
    if (uc != NULL && !reused) {
        gh_upstream_fail(p->up, uc->srv);
        gh_upstream_done(p->up, uc->srv, 0, gh_now_ms - p->u_start);
    }
    drop_upstream(p, false);
    /* A body is retried only when all of it is held (SPEC section 5), or
     * when not one byte of it was taken from the client yet. */
    bool body_held = p->hold == NULL || p->hold_len == 0
                     || p->hold_len == (size_t)p->r->head.framing.content_length;
    if (may_retry && p->retryable && body_held && !p->got_any) {
        /* A pooled connection the upstream had already closed is not a
         * real try: the request never reached it. */
        if (reused && uc != NULL) {
            size_t idx = (size_t)(uc->srv - p->up->servers);
            if (idx < 64)
                p->tried &= ~(UINT64_C(1) << idx);
        }
        if (reused || p->tries_left-- > 0) {
            if (p->req_span) {
                /* That span is in the held copy: release it. */
                p->r->io->body_consume(p->r);
                p->req_span = false;
            }
            p->uq = (struct gh_outq){ 0 };
            gh_outq_push(&p->uq, p->head, p->head_len);
            p->req_sent = false;
            p->req_term_queued = false;
            if (p->hold != NULL && p->hold_len > 0) {
                /* Send the held copy; the client's bytes were all read. */
                gh_outq_push(&p->uq, p->hold, p->hold_len);
                p->req_body_read = true;
            }
            gh_http1_parser_reset(&p->rparser);
            if (p->rbuf != NULL)
                gh_buf_reset(p->rbuf);
            connect_next(p);
            return;
        }
    }
    gh_proxy_fail(p, status);
}

static void utimeout(struct gh_timer *t)
{
    struct gh_proxy *p = t->data;
    if (p->tunnel) {
        struct gh_req *r = p->r;
        proxy_free(p);
        r->io->reset(r);
        return;
    }
    if (p->uc != NULL && p->uc->connecting) {
        gh_log_warn("upstream %s timed out %s", gh_server_name(p->uc->srv),
                    p->uc->handshaking ? "in the TLS handshake" : "connecting");
        gh_proxy_upstream_failed(p, 504, true);
    } else if (!p->resp_head_done) {
        gh_log_warn("upstream %s timed out", p->uc ? gh_server_name(p->uc->srv) : "-");
        /* Never retried: the upstream may have acted on the request. */
        gh_proxy_upstream_failed(p, 504, false);
    } else {
        gh_log_warn("upstream %s timed out sending its body",
                    p->uc ? gh_server_name(p->uc->srv) : "-");
        gh_proxy_fail(p, 504);
    }
}

static int connect_next(struct gh_proxy *p)
{
    struct gh_req *r = p->r;
    for (int attempt = 0; attempt < 64; attempt++) {
        struct gh_server_rt *srv = gh_upstream_pick(p->up, p->tried, r);
        if (srv == NULL) {
            /* Every server is down or was tried: a stale object may do. */
            int status = p->tried == 0 ? 503 : 502;
            if (gh_proxy_try_stale(p, status, true))
                return 0;
            gh_proxy_fail(p, status);
            return -1;
        }
        size_t idx = (size_t)(srv - p->up->servers);
        if (idx < 64)
            p->tried |= UINT64_C(1) << idx;
        /* A bounded copy without printf's machinery: this runs per request. */
        const char *name = gh_server_name(srv);
        size_t nlen = strnlen(name, sizeof(r->upstream_addr) - 1);
        memcpy(r->upstream_addr, name, nlen);
        r->upstream_addr[nlen] = '\0';
        p->uc = gh_uconn_get(p->w, p->up, srv, p, upstream_event);
        if (p->uc == NULL) {
            gh_log(GH_LOG_ERROR, errno, "connect() to upstream %s failed", gh_server_name(srv));
            gh_upstream_fail(p->up, srv);
            if (!p->retryable || p->tries_left-- <= 0) {
                gh_proxy_fail(p, 502);
                return -1;
            }
            continue;
        }
        p->got_any = false;
        p->u_start = gh_now_ms;
        /* Nothing can be readable before we send (a pooled connection that
         * got bytes or a FIN while idle was closed): read after an EPOLLIN
         * edge only, which saves an EAGAIN read per request. */
        p->u_rd_more = false;
        p->u_hup = false;
        gh_proxy_set_utimer(p, p->uc->connecting ? p->w->conf->timeouts.upstream_connect
                                        : p->w->conf->timeouts.upstream_send);
        if (!p->uc->connecting && !p->running)
            proxy_run(p);
        else if (!p->uc->connecting)
            /* A retry from inside the pump, which returns STEP_STOP: an
             * already connected (pooled) socket gives no new edge, so the
             * pump must be resumed by timer. */
            gh_loop_timer_set(&p->w->loop, &p->kick, 0);
        return 0;
    }
    gh_proxy_fail(p, 502);
    return -1;
}

/* A pump for r, not yet connected anywhere; NULL (r reset) when out of
 * memory. */
static struct gh_proxy *proxy_new(struct gh_req *r)
{
    struct gh_conn *c = r->conn;
    struct gh_proxy *p = gh_pcalloc(r->pool, sizeof(*p));
    if (p == NULL) {
        r->io->reset(r);
        return NULL;
    }
    p->r = r;
    p->c = c;
    p->w = c->w;
    r->proxy = p;
    gh_timer_init(&p->utimer, utimeout, p);
    gh_timer_init(&p->kick, kick_run, p);
    return p;
}

/* Forward p's request to upstream index `upstream`. 0, or -1 when the
 * request was answered or closed (p is gone). */
static int upstream_start(struct gh_proxy *p, int upstream)
{
    struct gh_req *r = p->r;
    struct gh_conn *c = p->c;
    p->up = gh_upstream_get(c->w, upstream);
    p->tries_left = p->up->conf->retries;
    enum gh_method m = r->head.method_id;
    bool idempotent = m == GH_M_GET || m == GH_M_HEAD || m == GH_M_PUT || m == GH_M_DELETE
                      || m == GH_M_OPTIONS;
    p->retryable = idempotent && !r->has_body;
    p->ws = r->head.method_id == GH_M_GET && r->head.framing.conn_upgrade
            && gh_str_caseeq_lit(r->head.framing.upgrade, "websocket");
    p->resp.headers = gh_palloc(r->pool, sizeof(struct gh_http_header)
                                             * (size_t)c->w->conf->limits.max_headers);
    if (p->resp.headers == NULL) {
        r->proxy = NULL;
        r->io->reset(r);
        return -1;
    }

    const struct gh_http1_framing *f = &r->head.framing;
    p->req_chunked = r->has_body && (f->chunked || f->content_length < 0);
    p->req_body_read = !r->has_body;
    if (gh_proxy_build_request(r, p->up->conf, p->req_chunked, p->ws, &p->head, &p->head_len)
        == -1) {
        r->proxy = NULL;
        r->io->error(r, 500, true);
        return -1;
    }
    int bad = r->io->body_start(r, p->ws);
    if (bad != 0) {
        r->proxy = NULL;
        if (bad == -1)
            r->io->reset(r);
        else
            r->io->error(r, bad, true);
        return -1;
    }
    if (idempotent && r->has_body && !p->req_chunked
        && (uint64_t)f->content_length <= p->up->conf->retry_buffer) {
        /* Keep a copy of the body as it streams, so the request can be
         * retried once all of it has been read (chunked bodies are not:
         * their size is unknown until the end). */
        p->hold = gh_palloc(r->pool, (size_t)f->content_length);
        p->retryable = p->hold != NULL;
    }
    gh_loop_timer_cancel(&p->w->loop, r->timer);
    gh_outq_push(&p->uq, p->head, p->head_len);
    return connect_next(p);
}

void gh_proxy_start(struct gh_req *r, int upstream)
{
    struct gh_proxy *p = proxy_new(r);
    if (p != NULL)
        (void)upstream_start(p, upstream);
}

void gh_proxy_serve(struct gh_req *r, const struct gh_resp_source *src)
{
    struct gh_proxy *p = proxy_new(r);
    if (p == NULL) {
        src->close(r);
        return;
    }
    p->src = src;
    p->req_body_read = true;            /* the cache answers requests without a body */
    gh_loop_timer_cancel(&p->w->loop, r->timer);
    proxy_run(p);
}

void gh_proxy_wake(struct gh_req *r)
{
    struct gh_proxy *p = r->proxy;
    if (p != NULL)
        gh_loop_timer_set(&p->w->loop, &p->kick, 0);
}

int gh_proxy_go_upstream(struct gh_proxy *p)
{
    struct gh_req *r = p->r;
    const struct gh_resp_source *src = p->src;
    p->src = NULL;
    src->close(r);
    gh_loop_timer_cancel(&p->w->loop, &p->kick);
    if (p->req_sent) {
        /* A stale answer (gh_proxy_try_stale) that could not be read after
         * the upstream failed: that failure is the answer, not a second
         * try with the request state of the first. */
        int status = r->upstream_status >= 500 ? r->upstream_status : 502;
        proxy_free(p);
        r->io->error(r, status, true);
        return -1;
    }
    int up = gh_route_upstream(r);
    if (up < 0) {
        proxy_free(p);
        r->io->error(r, 500, true);
        return -1;
    }
    return upstream_start(p, up);
}

/* ---- request: client -> upstream ---- */

/* Queue the next span of the request's body source for the upstream. */
static int next_request_span(struct gh_proxy *p)
{
    struct gh_req *r = p->r;
    const char *data;
    bool last = false;
    ssize_t n = r->io->body_next(r, &data, &last);
    if (n > 0) {
        if (p->hold != NULL) {
            memcpy(p->hold + p->hold_len, data, (size_t)n);
            p->hold_len += (size_t)n;
        }
        if (p->req_chunked) {
            int hl = snprintf(p->chunk_hdr, sizeof(p->chunk_hdr), "%zx\r\n", (size_t)n);
            gh_outq_push(&p->uq, p->chunk_hdr, (size_t)hl);
        }
        gh_outq_push(&p->uq, data, (size_t)n);
        if (p->req_chunked)
            gh_outq_push(&p->uq, "\r\n", 2);
        p->req_span = true;
        p->req_body_read = last;
        return STEP_PROGRESS;
    }
    if (n == 0)
        return STEP_PROGRESS;           /* framing taken: call again */
    if (n == GH_DONE) {
        p->req_body_read = true;
        return STEP_PROGRESS;
    }
    if (n == GH_AGAIN) {
        gh_loop_timer_set(&p->w->loop, r->timer, p->w->conf->timeouts.client_body);
        return STEP_WAIT;
    }
    if (n == GH_ERROR)
        return -1;                      /* the client left mid-body */
    return n == -400 ? -2 : -3;         /* malformed: 400; over max_body_size: 413 */
}

static int send_request(struct gh_proxy *p)
{
    int progress = STEP_WAIT;
    if (p->uc == NULL || p->uc->connecting || p->req_sent || p->upload_stopped)
        return STEP_WAIT;
    for (int i = 0; i < 64; i++) {
        if (!gh_outq_empty(&p->uq)) {
            ssize_t n = gh_transport_write_outq(&p->uc->tp, &p->uq);
            if (n == GH_AGAIN) {
                gh_proxy_set_utimer(p, p->w->conf->timeouts.upstream_send);
                return progress;
            }
            if (n == GH_ERROR) {
                gh_proxy_upstream_failed(p, 502, true);
                return STEP_STOP;
            }
            progress = STEP_PROGRESS;
            if (!gh_outq_empty(&p->uq))
                continue;
            if (p->req_span) {
                p->r->io->body_consume(p->r);
                p->req_span = false;
            }
            continue;
        }
        if (p->req_body_read) {
            if (p->req_chunked && !p->req_term_queued) {
                p->req_term_queued = true;
                gh_outq_push(&p->uq, "0\r\n\r\n", 5);
                continue;
            }
            p->req_sent = true;
            gh_proxy_set_utimer(p, p->w->conf->timeouts.upstream_read);
            return STEP_PROGRESS;
        }
        int rc = next_request_span(p);
        if (rc == -1) {
            struct gh_req *r = p->r;
            proxy_free(p);
            r->io->reset(r);
            return STEP_STOP;
        }
        if (rc == -2 || rc == -3) {
            gh_proxy_fail(p, rc == -2 ? 400 : 413);
            return STEP_STOP;
        }
        if (rc == STEP_WAIT)
            return progress;
        progress = STEP_PROGRESS;
    }
    return progress;
}

/* ---- response: upstream -> client (head and spans in proxy_response.c) ---- */

static int read_upstream(struct gh_proxy *p)
{
    struct gh_buf *b = p->rbuf;
    if (!p->u_rd_more)
        return STEP_WAIT;
    if (gh_buf_room(b) == 0) {
        if (b->pos == b->start)
            return STEP_WAIT;           /* full; the parser decides */
        gh_buf_compact(b);
    }
    ssize_t n = gh_transport_read_buf(&p->uc->tp, b, &p->u_rd_more);
    if (n == GH_AGAIN) {
        gh_proxy_set_utimer(p, p->w->conf->timeouts.upstream_read);
        return STEP_WAIT;
    }
    if (n > 0) {
        /* Edge-triggered: a FIN that came with the last bytes signals no
         * more, so a short read then still has the EOF to see (a
         * close-delimited body would otherwise wait for the read timeout). */
        if (p->u_hup)
            p->u_rd_more = true;
        p->got_any = true;
        gh_proxy_set_utimer(p, p->w->conf->timeouts.upstream_read);
        return STEP_PROGRESS;
    }
    return n == GH_DONE ? GH_DONE : GH_ERROR;
}

static int write_client(struct gh_proxy *p)
{
    struct gh_req *r = p->r;
    bool drained;
    ssize_t n = r->io->resp_send(r, &drained);
    if (n == GH_AGAIN) {
        gh_loop_timer_set(&p->w->loop, r->timer, p->w->conf->timeouts.send);
        return STEP_WAIT;
    }
    if (n == GH_ERROR) {
        proxy_free(p);
        r->io->reset(r);
        return STEP_STOP;
    }
    if (drained) {
        p->out_queued = false;
        if (p->resp_span) {
            p->rbuf->pos = p->resp_after;
            p->resp_span = false;
        }
        if (GH_UNLIKELY(p->filter_out)) {
            gh_filter_chain_drained(p->filters);
            p->filter_out = false;
        }
    }
    return STEP_PROGRESS;
}

/* One step of the response side. */
static int relay_response(struct gh_proxy *p)
{
    if (p->out_queued)
        return write_client(p);
    if (GH_UNLIKELY(p->filters_more)) {
        /* Held output first: no new input until the chain has none. */
        if (gh_proxy_filters_resume(p) == -1) {
            gh_proxy_fail(p, 502);
            return STEP_STOP;
        }
        return STEP_PROGRESS;
    }
    if (p->resp_body_read) {
        if (p->filters != NULL && !p->filters_flushed) {
            if (gh_proxy_filters_flush(p) == -1) {
                gh_proxy_fail(p, 502);
                return STEP_STOP;
            }
            return STEP_PROGRESS;
        }
        if (!p->resp_term_queued) {
            p->resp_term_queued = true;
            if (p->r->io->resp_end(p->r)) {
                p->out_queued = true;
                return STEP_PROGRESS;
            }
        }
        return STEP_DONE;
    }
    if (GH_UNLIKELY(p->src != NULL))
        return gh_proxy_source_step(p);
    if (p->uc == NULL)
        return STEP_WAIT;
    if (p->rbuf == NULL) {
        p->rbuf = gh_buf_get(&p->w->bufs);
        if (p->rbuf == NULL) {
            gh_proxy_fail(p, 502);
            return STEP_STOP;
        }
    }
    if (!gh_buf_empty(p->rbuf)) {
        int rc = p->resp_head_done ? gh_proxy_response_span(p) : gh_proxy_response_head(p);
        if (rc == -1) {
            gh_proxy_fail(p, 502);
            return STEP_STOP;
        }
        if (rc != STEP_WAIT)
            return rc;
    } else {
        gh_buf_reset(p->rbuf);
    }
    if (p->uc->connecting)
        return STEP_WAIT;
    int rc = read_upstream(p);
    if (GH_UNLIKELY(rc == STEP_WAIT && p->filters_dirty)) {
        /* The upstream paused mid-body: what the filters hold goes out
         * now (nginx's unbuffered proxying flushes gzip the same way). */
        if (gh_proxy_filters_sync(p) == -1) {
            gh_proxy_fail(p, 502);
            return STEP_STOP;
        }
        return STEP_PROGRESS;
    }
    if (rc == GH_DONE) {
        if (p->resp_head_done && p->resp_mode == BODY_EOF) {
            p->resp_body_read = true;
            return STEP_PROGRESS;
        }
        if (!p->resp_head_done) {
            /* Closed before answering: retryable when nothing came. */
            gh_proxy_upstream_failed(p, 502, !p->got_any);
            return STEP_STOP;
        }
        gh_log_error("upstream %s closed mid-body", p->r->upstream_addr);
        gh_proxy_fail(p, 502);
        return STEP_STOP;
    }
    if (rc == GH_ERROR) {
        if (!p->resp_head_done) {
            gh_proxy_upstream_failed(p, 502, !p->got_any);
            return STEP_STOP;
        }
        gh_proxy_fail(p, 502);
        return STEP_STOP;
    }
    return rc;
}

static void proxy_done(struct gh_proxy *p)
{
    struct gh_req *r = p->r;
    r->body_done = p->req_body_read;
    if (!p->req_body_read)
        r->keepalive = false;           /* unread body bytes still on the wire */
    proxy_free(p);
    r->io->finish(r);
}

/* After each run of the pump, arm the timers for what we now wait on: a
 * timeout is the longest gap in the transfer that is actually stalled, and
 * a side held back by the other (backpressure) has no timer running. */
static void update_timers(struct gh_proxy *p)
{
    struct gh_loop *loop = &p->w->loop;
    const struct gh_conf *conf = p->w->conf;

    if (p->tunnel)
        return;                         /* the tunnel's idle timer is set on progress */
    if (p->out_queued) {
        gh_proxy_rate_arm(p, conf->timeouts.send, true);
    } else if (!p->req_body_read && !p->upload_stopped && gh_outq_empty(&p->uq)) {
        gh_proxy_rate_arm(p, conf->timeouts.client_body, false);
    } else {
        gh_proxy_rate_stop(p);
        gh_loop_timer_cancel(loop, p->r->timer);
    }

    if (p->uc == NULL || p->uc->connecting)
        return;                         /* connect_next armed the connect timeout */
    if (!gh_outq_empty(&p->uq) && !p->upload_stopped)
        gh_proxy_set_utimer(p, conf->timeouts.upstream_send);
    else if (!p->resp_body_read && !p->out_queued
             && (p->req_sent || p->upload_stopped || p->resp_head_done))
        gh_proxy_set_utimer(p, conf->timeouts.upstream_read);
    else if (!p->req_sent && !p->upload_stopped)
        gh_loop_timer_cancel(loop, &p->utimer);   /* waiting for the client's body */
    else if (p->out_queued)
        gh_loop_timer_cancel(loop, &p->utimer);   /* waiting for the client to read */
}

static void kick_run(struct gh_timer *t)
{
    proxy_run(t->data);
}

static void proxy_run(struct gh_proxy *p)
{
    p->running = true;
    for (int i = 0;; i++) {
        if (i == 256) {
            /* Budget spent: let other connections run. With edge-triggered
             * epoll no new event may come for bytes already readable, so a
             * zero-delay timer resumes this pump after them. */
            gh_loop_timer_set(&p->w->loop, &p->kick, 0);
            break;
        }
        if (p->tunnel) {
            int t = gh_proxy_tunnel_step(p);
            if (t == GH_ERROR || t == STEP_DONE) {
                struct gh_req *r = p->r;
                p->running = false;
                proxy_free(p);
                r->io->reset(r);
                return;
            }
            if (t == STEP_WAIT)
                break;
            continue;
        }
        int a = send_request(p);
        if (a == STEP_STOP)
            return;
        int b = relay_response(p);
        if (b == STEP_STOP)
            return;
        if (b == STEP_DONE) {
            p->running = false;
            proxy_done(p);
            return;
        }
        /* The upstream side is finished as soon as its body is read. */
        if (p->uc != NULL && p->resp_body_read && (p->req_sent || p->upload_stopped))
            drop_upstream(p, p->upstream_reusable && p->req_sent);
        if (a == STEP_WAIT && b == STEP_WAIT)
            break;
    }
    p->running = false;
    update_timers(p);
}

static void upstream_event(struct gh_io *io, uint32_t revents)
{
    struct gh_proxy *p = io->data;
    struct gh_uconn *uc = p->uc;
    if (uc == NULL || uc->freed)
        return;
    if (uc->connecting) {
        /* The TCP connect, then the TLS handshake: the request waits for
         * both, within one upstream_connect timeout. A failed certificate
         * check is a connect failure (passive health, retries). */
        int rc = gh_uconn_connect_step(uc, revents);
        if (rc == GH_AGAIN)
            return;
        if (rc == GH_ERROR) {
            gh_proxy_upstream_failed(p, 502, true);
            return;
        }
        gh_proxy_set_utimer(p, p->w->conf->timeouts.upstream_send);
    }
    if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        p->u_rd_more = true;
    if (revents & (EPOLLRDHUP | EPOLLHUP))
        p->u_hup = true;
    proxy_run(p);
}

void gh_proxy_client_event(struct gh_req *r, uint32_t revents)
{
    struct gh_proxy *p = r->proxy;
    if (revents & EPOLLERR) {
        proxy_free(p);
        r->io->reset(r);
        return;
    }
    if ((revents & (EPOLLRDHUP | EPOLLHUP)) && p->req_body_read && !p->tunnel) {
        /* The client closed while we wait on the upstream: like nginx
         * (proxy_ignore_client_abort off), give up the request (499) and
         * release the upstream side instead of holding both sockets. */
        if (!p->resp_started || (revents & EPOLLHUP)) {
            proxy_free(p);
            r->io->reset(r);
            return;
        }
        r->keepalive = false;
    }
    if (!p->running)
        proxy_run(p);
}

void gh_proxy_client_timeout(struct gh_req *r)
{
    struct gh_proxy *p = r->proxy;
    if (p->rate_armed ? !gh_proxy_rate_due(p) : gh_proxy_send_moving(p))
        return;                         /* the client is taking bytes: timer re-armed */
    if (!p->req_body_read && !p->resp_started) {
        gh_proxy_fail(p, 408);
        return;
    }
    proxy_free(p);
    r->io->reset(r);
}

bool gh_proxy_tunnelling(const struct gh_req *r)
{
    const struct gh_proxy *p = r->proxy;
    return p != NULL && p->tunnel;
}

void gh_proxy_abort(struct gh_req *r)
{
    struct gh_proxy *p = r->proxy;
    if (p != NULL)
        proxy_free(p);
}
/* CONTENT: the last handler; every routed request not answered before
 * goes upstream. */
static enum gh_verdict proxy_content(struct gh_req *r)
{
    int up = gh_route_upstream(r);
    if (up < 0)
        return gh_req_fail(r, 500, true);
    gh_proxy_start(r, up);
    return GH_ANSWERED;
}

struct gh_module gh_module_proxy = {
    .name = "proxy",
    .phase = { [GH_PHASE_CONTENT] = proxy_content },
};
