/*
 * http2.c - the HTTP/2 session of a client connection (RFC 9113) over
 * libnghttp2: bytes read from the transport go to
 * nghttp2_session_mem_recv, whose callbacks build the streams; what
 * nghttp2_session_mem_send makes is written through gh_conn_send (small
 * frames gathered into one buffer, a large one written from nghttp2's own
 * buffer); each stream is a request (server/http2_io.c) run through the
 * pipeline and proxied like an HTTP/1 one.
 *
 * Nothing runs inside nghttp2's callbacks but bookkeeping: a callback
 * marks the stream and queues it on the session's ready list, and
 * session_run (from the connection's events, or deferred to the end of
 * the loop iteration when a stream's proxy submitted something) reads,
 * works through the ready list (start a request, resume its proxy, finish
 * an answer, free a closed stream) and flushes. A stream object is freed
 * only from the ready list or when the connection closes, once its
 * request is done with and nghttp2 closed the stream.
 *
 * Flow control: automatic WINDOW_UPDATE is off; a stream's window is given
 * back as the proxy sends its body upstream (nghttp2_session_consume), so
 * a slow upstream holds the client; the connection window is
 * H2_CONN_WINDOW. Limits: max_concurrent_streams and the header list size
 * in SETTINGS (nghttp2 refuses the excess streams), the RST_STREAM rate
 * (CVE-2023-44487), CONTINUATION and ACK floods (nghttp2's options).
 */
#include <string.h>

#include "common/log.h"
#include "common/time.h"
#include "server/http1.h"
#include "server/http2_priv.h"
#include "server/pipeline.h"
#include "server/proxy.h"
#include "modules/blacklist.h"
#include "modules/edge.h"

#define H2_POOL_SIZE 16384              /* a stream's request, headers and proxy state */
#define H2_MAX_FREE 1024                /* stream objects kept for reuse per worker */
#define H2_CONN_WINDOW (1 << 20)        /* request body bytes in flight per connection */
#define H2_READ_ROUNDS 16               /* reads per run before other connections' turn */
#define H2_RUN_ROUNDS 16
#define H2_FLUSH_ROUNDS 64
#define H2_RESET_BURST 200              /* client RST_STREAMs: a burst of this, then */
#define H2_RESET_RATE 50                /* this many per second (then GOAWAY) */
#define H2_DEFLATE_TABLE 0              /* HPACK dynamic table for our responses (bytes) */

static nghttp2_session_callbacks *callbacks;
static nghttp2_option *options;
static struct gh_req *free_streams;
static size_t nfree_streams;
static char rdbuf[16384];               /* the worker is single-threaded */

static void session_run(struct gh_http2_session *s);

static void run_deferred(void *arg)
{
    struct gh_http2_session *s = arg;
    s->run_queued = false;
    session_run(s);
}

/* ---- streams -------------------------------------------------------------- */

static void stream_timeout(struct gh_timer *t)
{
    struct h2_stream *st = t->data;
    struct gh_req *r = &st->r;
    if (r->proxy != NULL)
        gh_proxy_client_timeout(r);
    else if (!st->finished)
        r->io->reset(r);                /* an answer made here the client does not take */
}

static struct h2_stream *stream_new(struct gh_http2_session *s, int32_t id)
{
    struct gh_conn *c = s->c;
    struct h2_stream *st;
    struct gh_pool *pool;
    if (free_streams != NULL) {
        st = h2s(free_streams);
        free_streams = st->r.next_free;
        nfree_streams--;
        pool = st->r.pool;
    } else {
        pool = gh_pool_create(H2_POOL_SIZE);
        if (pool == NULL)
            return NULL;
        st = gh_palloc(pool, sizeof(*st));
        if (st == NULL) {
            gh_pool_destroy(pool);
            return NULL;
        }
    }
    memset(st, 0, sizeof(*st));
    struct gh_req *r = &st->r;
    if (gh_req_init(r, c, pool) == -1) {
        gh_pool_destroy(pool);
        return NULL;
    }
    r->io = &gh_http2_req_io;
    r->timer = &st->timer;
    r->http2 = true;
    r->head.version_minor = 1;
    r->head.framing.content_length = -1;
    st->s = s;
    st->id = id;
    gh_timer_init(&st->timer, stream_timeout, st);
    gh_list_init(&st->ready_link);
    gh_list_insert_tail(&s->streams, &st->link);
    if (s->nstreams++ == 0 && c->state != GH_CONN_LINGER) {
        c->state = GH_CONN_BUSY;
        gh_conn_set_active(c);
        gh_loop_timer_cancel(&c->w->loop, &c->timer);
    }
    return st;
}

static void stream_free(struct h2_stream *st)
{
    struct gh_http2_session *s = st->s;
    gh_loop_timer_cancel(&s->c->w->loop, &st->timer);
    if (st->in_ready)
        gh_list_remove(&st->ready_link);
    gh_list_remove(&st->link);
    gh_h2_body_drop(st);
    if (!s->dead && !st->closed)
        nghttp2_session_set_stream_user_data(s->ng, st->id, NULL);
    s->nstreams--;
    struct gh_pool *pool = st->r.pool;
    if (nfree_streams >= H2_MAX_FREE) {
        gh_pool_destroy(pool);
        return;
    }
    /* Reset keeps the first block, where st itself lives: re-take it. */
    gh_pool_reset(pool);
    if (gh_palloc(pool, sizeof(*st)) != st) {
        gh_pool_destroy(pool);
        return;
    }
    st->r.pool = pool;
    st->r.next_free = free_streams;
    free_streams = &st->r;
    nfree_streams++;
}

/* The stream ends before its request did: the proxy lets go of the
 * upstream, and a started request is logged (499 when nothing was sent). */
static void stream_abandon(struct h2_stream *st)
{
    struct gh_req *r = &st->r;
    if (r->proxy != NULL)
        gh_proxy_abort(r);
    if (st->started && !st->finished) {
        if (r->status == 0)
            r->status = 499;
        gh_pipeline_log(r);
    }
    st->finished = true;
}

void gh_h2_schedule(struct gh_http2_session *s)
{
    if (s->dead)
        return;
    if (s->running) {
        s->again = true;
        return;
    }
    if (!s->run_queued) {
        s->run_queued = true;
        gh_loop_defer(&s->c->w->loop, &s->run_node, run_deferred, s);
    }
}

void gh_h2_ready(struct h2_stream *st)
{
    if (!st->in_ready) {
        st->in_ready = true;
        gh_list_insert_tail(&st->s->ready, &st->ready_link);
    }
    gh_h2_schedule(st->s);
}

void gh_h2_stream_done(struct h2_stream *st)
{
    st->finished = true;
    gh_loop_timer_cancel(&st->s->c->w->loop, &st->timer);
    gh_h2_body_drop(st);
    if (st->closed)
        gh_h2_ready(st);                /* freed from the ready list */
    else
        gh_h2_schedule(st->s);
}

void gh_h2_reset(struct h2_stream *st, uint32_t code)
{
    struct gh_http2_session *s = st->s;
    if (st->rst_sent || st->closed || s->dead)
        return;
    st->rst_sent = true;
    if (code != NGHTTP2_NO_ERROR)
        gh_edge_count_event(GH_EDGE_H2_RESETS);
    nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, code);
    gh_h2_schedule(s);
}

/* ---- nghttp2's callbacks: bookkeeping only ------------------------------- */

static struct h2_stream *stream_of(nghttp2_session *ng, int32_t id)
{
    return id != 0 ? nghttp2_session_get_stream_user_data(ng, id) : NULL;
}

static bool is_request(const nghttp2_frame *f)
{
    return f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    struct gh_http2_session *s = user;
    if (!is_request(f))
        return 0;                       /* trailers: dropped (SPEC section 5) */
    struct h2_stream *st = stream_new(s, f->hd.stream_id);
    if (st == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* the stream is reset */
    nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, st);
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    GH_UNUSED(flags); GH_UNUSED(user);
    struct h2_stream *st = stream_of(ng, f->hd.stream_id);
    if (!is_request(f) || st == NULL || st->malformed)
        return 0;
    if (gh_h2_on_header(st, name, namelen, value, valuelen) == -1) {
        st->malformed = true;
        gh_h2_reset(st, NGHTTP2_PROTOCOL_ERROR);
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    GH_UNUSED(user);
    struct h2_stream *st = stream_of(ng, f->hd.stream_id);
    if (st == NULL)
        return 0;
    bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (is_request(f) && !st->malformed) {
        if (gh_h2_head_done(st, end) == -1) {
            st->malformed = true;
            gh_h2_reset(st, NGHTTP2_PROTOCOL_ERROR);
        } else {
            st->need_start = true;
            gh_h2_ready(st);
        }
    }
    if (end && (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS)) {
        st->body_eof = true;
        st->kick = true;
        gh_h2_ready(st);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    GH_UNUSED(flags); GH_UNUSED(user);
    struct h2_stream *st = stream_of(ng, id);
    if (st == NULL || st->finished || st->malformed || st->refuse != 0) {
        nghttp2_session_consume(ng, id, len);   /* nobody reads it: the window goes back */
        return 0;
    }
    if (gh_h2_body_in(st, data, len) == -1) {
        nghttp2_session_consume(ng, id, len);
        gh_h2_reset(st, NGHTTP2_FLOW_CONTROL_ERROR);
        return 0;
    }
    st->kick = true;
    gh_h2_ready(st);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
    GH_UNUSED(code); GH_UNUSED(user);
    struct h2_stream *st = stream_of(ng, id);
    if (st != NULL) {
        st->closed = true;
        gh_h2_ready(st);
    }
    return 0;
}

/* The response ended while the client still sends its request: RFC 9113
 * 8.1 lets a server ask it to stop, without error. */
static void count_error(struct gh_http2_session *s)
{
    if (!s->error_counted) {
        s->error_counted = true;
        gh_edge_count_event(GH_EDGE_H2_SESSION_ERRORS);
    }
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR)
        count_error(user);              /* nghttp2 ended the session: a protocol error or flood */
    if ((f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS)
        || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct h2_stream *st = stream_of(ng, f->hd.stream_id);
    if (st != NULL && !st->body_eof)
        gh_h2_reset(st, NGHTTP2_NO_ERROR);
    return 0;
}

static int setup(void)
{
    if (nghttp2_session_callbacks_new(&callbacks) != 0)
        return -1;
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
    if (nghttp2_option_new(&options) != 0) {
        nghttp2_session_callbacks_del(callbacks);
        callbacks = NULL;
        return -1;
    }
    nghttp2_option_set_no_auto_window_update(options, 1);
    nghttp2_option_set_no_closed_streams(options, 1);
    nghttp2_option_set_stream_reset_rate_limit(options, H2_RESET_BURST, H2_RESET_RATE);
    nghttp2_option_set_max_deflate_dynamic_table_size(options, H2_DEFLATE_TABLE);
    return 0;
}

/* ---- reading and writing -------------------------------------------------- */

/* Read what the transport has and feed it to nghttp2: 0, or -1 (EOF, an
 * error, or a session error: close). Reads stop while output is blocked,
 * so a client that does not read cannot make us queue answers. */
static int session_read(struct gh_http2_session *s)
{
    struct gh_conn *c = s->c;
    for (int i = 0; i < H2_READ_ROUNDS; i++) {
        if (!s->rd_more || s->blocked || !nghttp2_session_want_read(s->ng))
            return 0;
        struct gh_buf b = { rdbuf, rdbuf + sizeof(rdbuf), rdbuf, rdbuf, NULL };
        ssize_t n = gh_transport_read_buf(&c->tp, &b, &s->rd_more);
        if (n == GH_AGAIN)
            return 0;
        if (n <= 0)
            return -1;
        ssize_t used = nghttp2_session_mem_recv(s->ng, (const uint8_t *)rdbuf, (size_t)n);
        if (used < 0) {
            gh_log_info("HTTP/2 session with %s failed: %s", c->addr.text,
                        nghttp2_strerror((int)used));
            count_error(s);
            return -1;
        }
    }
    if (s->rd_more)
        gh_loop_timer_set(&c->w->loop, &s->kick, 0);
    return 0;
}

/* Write what nghttp2 has to send: 0 (all of it, or the transport would
 * block: s->blocked) or -1. lazy: frames that fit in s->out stay there
 * for the session's run at the end of the loop iteration, so the answers
 * of many streams leave in one write. */
static int session_flush(struct gh_http2_session *s, bool lazy)
{
    struct gh_conn *c = s->c;
    struct gh_worker *w = c->w;
    for (int round = 0; round < H2_FLUSH_ROUNDS; round++) {
        bool more = true;
        while (s->pend_len == 0) {
            const uint8_t *d;
            ssize_t n = nghttp2_session_mem_send(s->ng, &d);
            if (n < 0) {
                gh_log_info("HTTP/2 session with %s failed: %s", c->addr.text,
                            nghttp2_strerror((int)n));
                return -1;
            }
            if (n == 0) {
                more = false;
                break;
            }
            if (s->out == NULL && (s->out = gh_buf_get(&w->bufs)) == NULL)
                return -1;
            if (gh_buf_room(s->out) < (size_t)n && s->out->pos > s->out->start)
                gh_buf_compact(s->out);
            if ((size_t)n <= gh_buf_room(s->out)) {
                gh_buf_append(s->out, d, (size_t)n);
            } else {
                s->pend = d;            /* valid until the next mem_send */
                s->pend_len = (size_t)n;
            }
        }
        size_t olen = s->out != NULL ? gh_buf_len(s->out) : 0;
        if (olen == 0 && s->pend_len == 0)
            break;
        if (lazy && !more && s->pend_len == 0) {
            gh_h2_schedule(s);
            return 0;
        }
        struct gh_outq q = { .n = 0 };
        if (olen > 0)
            gh_outq_push(&q, s->out->pos, olen);
        gh_outq_push(&q, s->pend, s->pend_len);
        ssize_t wr = gh_conn_send(c, &q, NULL);
        if (wr == GH_AGAIN) {
            s->blocked = true;
            return 0;
        }
        if (wr < 0)
            return -1;
        size_t done = (size_t)wr, a = GH_MIN(done, olen);
        if (olen > 0)
            s->out->pos += a;
        done -= a;
        if (done > 0) {                 /* (pend is NULL when unused) */
            s->pend += done;
            s->pend_len -= done;
        }
        if (s->pend_len > 0 || (s->out != NULL && !gh_buf_empty(s->out))) {
            s->blocked = true;          /* a short write: the socket is full */
            return 0;
        }
        if (!more)
            break;
        if (round + 1 == H2_FLUSH_ROUNDS)
            gh_loop_timer_set(&w->loop, &s->kick, 0);
    }
    s->blocked = false;
    if (s->out != NULL && gh_buf_empty(s->out)) {
        gh_buf_put(&w->bufs, s->out);
        s->out = NULL;
    }
    return 0;
}

int gh_h2_flush(struct gh_http2_session *s)
{
    return session_flush(s, true);
}

/* ---- the session's run ---------------------------------------------------- */

/* Work through the ready list (see the top of the file). */
static void process_ready(struct gh_http2_session *s)
{
    for (int guard = 0; guard < 100000 && !s->dead && !gh_list_empty(&s->ready); guard++) {
        struct h2_stream *st = GH_CONTAINER_OF(s->ready.next, struct h2_stream, ready_link);
        gh_list_remove(&st->ready_link);
        st->in_ready = false;
        if (st->closed) {
            if (!st->finished)
                stream_abandon(st);
            stream_free(st);
            continue;
        }
        if (st->finished)
            continue;                   /* waits for nghttp2 to close it */
        if (st->need_start) {
            st->need_start = false;
            st->kick = false;
            st->started = true;
            gh_h2_start_request(st);    /* st may be done with now: not touched again */
            continue;
        }
        if (st->own_done) {
            st->own_done = false;
            st->r.io->finish(&st->r);
            continue;
        }
        if (st->kick) {
            st->kick = false;
            if (st->r.proxy != NULL)
                gh_proxy_client_event(&st->r, EPOLLIN | EPOLLOUT);
        }
    }
}

static void session_goaway(struct gh_http2_session *s)
{
    if (s->goaway)
        return;
    s->goaway = true;
    nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(s->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
}

static void session_run(struct gh_http2_session *s)
{
    struct gh_conn *c = s->c;
    struct gh_worker *w;
    if (s->dead)
        return;
    if (s->running) {
        s->again = true;
        return;
    }
    w = c->w;
    s->running = true;
    int round;
    for (round = 0; round < H2_RUN_ROUNDS; round++) {
        s->again = false;
        if (!s->failed && c->state != GH_CONN_LINGER && session_read(s) == -1)
            s->failed = true;
        process_ready(s);
        if (s->dead)
            return;                     /* a module dropped the connection */
        if (w->draining)
            session_goaway(s);
        if (session_flush(s, false) == -1)
            s->failed = true;
        if (s->failed || !s->again)
            break;
    }
    s->running = false;
    if (round == H2_RUN_ROUNDS)
        gh_loop_timer_set(&w->loop, &s->kick, 0);
    if (s->failed) {
        gh_conn_close(c);
        return;
    }
    if (c->state == GH_CONN_LINGER)
        return;
    bool flushed = s->out == NULL && s->pend_len == 0;
    if (flushed && !nghttp2_session_want_read(s->ng) && !nghttp2_session_want_write(s->ng)) {
        gh_conn_linger(c);              /* GOAWAY sent or received, no stream left: FIN,
                                           so the GOAWAY is not lost to a reset */
        return;
    }
    if (s->nstreams == 0 && c->state != GH_CONN_IDLE) {
        gh_conn_set_idle(c);            /* timeouts.keepalive from now */
        /* An idle session keeps only what it must (http2_mem.c). */
        (void)gh_h2_mem_trim(&s->mem, flushed && !nghttp2_session_want_write(s->ng));
    }
}

static void kick_run(struct gh_timer *t)
{
    session_run(t->data);
}

/* ---- the connection's protocol ---------------------------------------------- */

static void h2_on_event(struct gh_conn *c, uint32_t revents)
{
    struct gh_http2_session *s = c->h2;
    if (revents & EPOLLERR) {
        gh_conn_close(c);
        return;
    }
    if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
        s->rd_more = true;
    if (revents & EPOLLOUT)
        s->blocked = false;
    session_run(s);
}

static void h2_on_timeout(struct gh_conn *c)
{
    struct gh_http2_session *s = c->h2;
    if (c->state == GH_CONN_LINGER || s->nstreams > 0) {
        gh_conn_close(c);
        return;
    }
    /* Idle for timeouts.keepalive: GOAWAY, then close. */
    session_goaway(s);
    session_run(s);
}

static void session_free(void *arg)
{
    free(arg);
}

static void h2_abort(struct gh_conn *c)
{
    struct gh_http2_session *s = c->h2;
    if (s == NULL)
        return;
    struct gh_worker *w = c->w;
    s->dead = true;
    gh_loop_timer_cancel(&w->loop, &s->kick);
    while (!gh_list_empty(&s->streams)) {
        struct h2_stream *st = GH_CONTAINER_OF(s->streams.next, struct h2_stream, link);
        stream_abandon(st);
        stream_free(st);
    }
    nghttp2_session_del(s->ng);
    s->ng = NULL;
    gh_buf_put(&w->bufs, s->out);
    s->out = NULL;
    c->h2 = NULL;
    /* A deferred run may be queued: it finds s->dead and returns, since
     * this free comes after it. */
    gh_loop_defer(&w->loop, &s->free_node, session_free, s);
}

static void h2_drain(struct gh_conn *c)
{
    struct gh_http2_session *s = c->h2;
    session_goaway(s);
    session_run(s);
}

const struct gh_proto gh_http2_proto = {
    .name = "h2",
    .on_event = h2_on_event,
    .on_timeout = h2_on_timeout,
    .abort = h2_abort,
    .drain = h2_drain,
};

int gh_http2_start(struct gh_conn *c, const void *early, size_t early_len)
{
    const struct gh_conf *conf = c->w->conf;
    if (callbacks == NULL && setup() == -1)
        return -1;
    struct gh_http2_session *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    nghttp2_mem mem;
    gh_h2_mem_init(&s->mem, &mem);
    s->mem.in_new = true;
    int rc = nghttp2_session_server_new3(&s->ng, callbacks, s, options, &mem);
    s->mem.in_new = false;
    if (rc != 0) {
        free(s);
        return -1;
    }
    s->c = c;
    gh_list_init(&s->streams);
    gh_list_init(&s->ready);
    gh_timer_init(&s->kick, kick_run, s);
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)conf->http2.max_concurrent_streams },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)conf->limits.max_header_size },
    };
    if (nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, GH_ARRAY_LEN(iv)) != 0
        || nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW)
               != 0) {
        nghttp2_session_del(s->ng);
        free(s);
        return -1;
    }
    c->h2 = s;
    c->proto = &gh_http2_proto;
    gh_edge_count_event(GH_EDGE_H2_SESSIONS);
    gh_conn_set_idle(c);                /* until the first stream: timeouts.keepalive */
    s->rd_more = true;
    if (early_len > 0) {
        ssize_t used = nghttp2_session_mem_recv(s->ng, early, early_len);
        if (used < 0)
            s->failed = true;
    }
    session_run(s);
    return 0;
}

uint32_t gh_http2_open_streams(const struct gh_conn *c)
{
    return c->h2 != NULL ? c->h2->nstreams : 0;
}

void gh_http2_worker_exit(struct gh_worker *w)
{
    GH_UNUSED(w);
    while (free_streams != NULL) {
        struct gh_req *r = free_streams;
        free_streams = r->next_free;
        gh_pool_destroy(r->pool);
    }
    nfree_streams = 0;
    if (callbacks != NULL)
        nghttp2_session_callbacks_del(callbacks);
    if (options != NULL)
        nghttp2_option_del(options);
    callbacks = NULL;
    options = NULL;
}
