/*
 * http1.c - the HTTP/1.x server side of a client connection: read and
 * check the request head, route it, answer it here or hand it to the
 * proxy, then keep-alive, pipelining or close.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"
#include "server/http1_priv.h"
#include "server/http2.h"
#include "server/pipeline.h"
#include "server/proxy.h"
#include "server/proxy_headers.h"
#include "server/proxy_proto.h"
#include "server/reqid.h"
#include "server/tls.h"
#include "modules/edge.h"

#define MAX_FREE_REQS 1024
#define REQ_POOL_SIZE 16384          /* a typical request (two header arrays, heads) fits: no malloc per request */

const char *gh_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 421: return "Misdirected Request";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

int gh_req_init(struct gh_req *r, struct gh_conn *c, struct gh_pool *pool)
{
    struct gh_worker *w = c->w;
    r->pool = pool;
    r->conn = c;
    r->conf = w->conf;
    r->client = r->conn_client = &c->addr;
    r->https = gh_conn_is_https(c);
    if (gh_transport_is_tls(&c->tp)) {
        r->tls_protocol = gh_tls_protocol(&c->tp);
        r->tls_cipher = gh_tls_cipher(&c->tp);
        r->tls_sni = gh_tls_sni(&c->tp);
        if (w->conf->tls.client_ca[0] != '\0')
            r->client_cert = gh_tls_client_cert(&c->tp, pool);
    }
    r->head.headers = gh_palloc(pool, sizeof(struct gh_http_header)
                                          * (size_t)w->conf->limits.max_headers);
    if (r->head.headers == NULL)
        return -1;
    r->start = gh_now_ms;
    r->keepalive = true;
    strcpy(r->upstream_addr, "-");
    return 0;
}

static struct gh_req *req_alloc(struct gh_conn *c)
{
    struct gh_worker *w = c->w;
    struct gh_req *r = w->free_reqs;
    struct gh_pool *pool;
    if (r != NULL) {
        w->free_reqs = r->next_free;
        w->nfree_reqs--;
        pool = r->pool;
    } else {
        pool = gh_pool_create(REQ_POOL_SIZE);
        if (pool == NULL)
            return NULL;
        struct h1_req *hr = gh_palloc(pool, sizeof(*hr));
        if (hr == NULL) {
            gh_pool_destroy(pool);
            return NULL;
        }
        r = &hr->r;
    }
    /* The request object lives in its own pool's first allocation, which
     * gh_pool_reset keeps; everything after it is per request. */
    memset(h1(r), 0, sizeof(struct h1_req));
    if (gh_req_init(r, c, pool) == -1) {
        gh_pool_destroy(pool);
        return NULL;
    }
    r->io = &gh_http1_req_io;
    r->timer = &c->timer;
    gh_http1_parser_reset(&h1(r)->parser);
    return r;
}

static void req_release(struct gh_req *r)
{
    struct gh_worker *w = r->conn->w;
    struct gh_pool *pool = r->pool;
    r->out = NULL;
    if (w->nfree_reqs >= MAX_FREE_REQS) {
        gh_pool_destroy(pool);
        return;
    }
    /* Reset keeps the first block, where r itself lives: re-take it. */
    gh_pool_reset(pool);
    struct h1_req *again = gh_palloc(pool, sizeof(*again));
    if (again != h1(r)) {
        gh_pool_destroy(pool);
        return;
    }
    r->pool = pool;
    r->next_free = w->free_reqs;
    w->free_reqs = r;
    w->nfree_reqs++;
}

void gh_http1_worker_exit(struct gh_worker *w)
{
    while (w->free_reqs != NULL) {
        struct gh_req *r = w->free_reqs;
        w->free_reqs = r->next_free;
        gh_pool_destroy(r->pool);
    }
    w->nfree_reqs = 0;
}

void gh_http1_finish(struct gh_req *r)
{
    struct gh_conn *c = r->conn;
    /* Not !draining: a response that went out without "Connection: close"
     * promised the client another request; a draining worker serves it
     * (with close) or half-closes the connection once it has been idle. */
    bool keep = r->keepalive && !c->closing;

    gh_pipeline_log(r);
    if (c->h1.in != NULL && r->head.head_len > 0)
        c->h1.in->pos += r->head.head_len;
    /* Linger only when the client may still be sending (a body we did not
     * read, pipelined bytes, an unread socket): closing with unread data
     * sends a RST that can destroy the answer in flight. Otherwise close
     * at once, as nginx does. */
    bool unread = (c->h1.in != NULL && !gh_buf_empty(c->h1.in)) || c->h1.rd_more
                  || (r->has_body && !r->body_done);
    c->req = NULL;
    req_release(r);
    c->nrequests++;
    if (!keep) {
        if (unread)
            gh_conn_linger(c);
        else
            gh_conn_close(c);
        return;
    }
    if (c->in_process)
        return;                         /* the loop in gh_conn_process goes on */
    gh_conn_process(c);
}

static void fail_conn(struct gh_conn *c)
{
    gh_conn_close(c);
}

/* Write what is left of a response made here. One that closes the
 * connection (gh_http1_finish: !keep) is its last write, which may leave
 * with the FIN. */
static void write_own_response(struct gh_req *r)
{
    struct gh_conn *c = r->conn;
    bool last = !(r->keepalive && !c->closing);
    for (int i = 0; i < 16; i++) {
        struct gh_outq q = { .n = 0 };
        if (r->out_off < r->out_len)
            gh_outq_push(&q, r->out + r->out_off, r->out_len - r->out_off);
        if (r->body_off < r->body_len)
            gh_outq_push(&q, r->body + r->body_off, r->body_len - r->body_off);
        if (gh_outq_empty(&q)) {
            gh_http1_finish(r);
            return;
        }
        ssize_t w = last ? gh_conn_send_last(c, &q, NULL) : gh_conn_send(c, &q, NULL);
        if (w < 0) {
            if (w == GH_AGAIN) {
                gh_loop_timer_set(&c->w->loop, &c->timer, c->w->conf->timeouts.send);
                return;
            }
            fail_conn(c);
            return;
        }
        r->bytes_sent += (uint64_t)w;
        size_t done = (size_t)w;
        size_t h = GH_MIN(done, r->out_len - r->out_off);
        r->out_off += h;
        done -= h;
        r->body_off += done;
    }
}

void gh_http1_respond(struct gh_req *r, int status, const char *body, size_t body_len,
                      const char *location, bool close)
{
    struct gh_conn *c = r->conn;

    r->status = status;
    if (close)
        r->keepalive = false;
    if (c->w->draining)
        r->keepalive = false;
    /* Bound the head first; nothing configured can overflow it. */
    const struct gh_conf_vserver *vs = r->match.vserver;
    const struct gh_conf_route *rt = r->match.route;
    size_t bound = 288 + r->request_id.len + (location ? strlen(location) : 0)
                   + (vs ? gh_headers_set_size(&vs->response_headers) : 0)
                   + (rt ? gh_headers_set_size(&rt->response_headers) : 0);
    r->out = gh_palloc(r->pool, bound);
    if (r->out == NULL) {
        fail_conn(c);
        return;
    }
    struct gh_wbuf o = gh_wbuf_make(r->out, bound);
    gh_wbuf_puts(&o, "HTTP/1.1 ");
    gh_wbuf_u64(&o, (uint64_t)status);   /* not snprintf: hot for 403 and 429 */
    gh_wbuf_putc(&o, ' ');
    const char *reason = gh_http_reason(status);
    gh_wbuf_puts(&o, reason);
    gh_wbuf_puts(&o, "\r\nServer: gatehouse\r\nDate: ");
    gh_wbuf_put(&o, gh_time_http_date(), 29);
    gh_wbuf_puts(&o, "\r\n");
    bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
    if (!no_body) {
        if (body_len > 0)
            gh_wbuf_puts(&o, "Content-Type: text/plain\r\n");
        gh_wbuf_puts(&o, "Content-Length: ");
        gh_wbuf_u64(&o, body_len);
        gh_wbuf_puts(&o, "\r\n");
    }
    if (location != NULL) {
        gh_wbuf_puts(&o, "Location: ");
        gh_wbuf_puts(&o, location);
        gh_wbuf_puts(&o, "\r\n");
    }
    if (r->retry_after > 0) {
        gh_wbuf_puts(&o, "Retry-After: ");
        gh_wbuf_u64(&o, (uint64_t)r->retry_after);
        gh_wbuf_puts(&o, "\r\n");
    }
    if (r->request_id.len > 0) {
        gh_wbuf_puts(&o, "X-Request-ID: ");
        gh_wbuf_putstr(&o, r->request_id);
        gh_wbuf_puts(&o, "\r\n");
    }
    if (vs != NULL)
        gh_headers_put_set(&o, &vs->response_headers);
    if (rt != NULL)
        gh_headers_put_set(&o, &rt->response_headers);
    if (!r->keepalive)
        gh_wbuf_puts(&o, "Connection: close\r\n");
    else if (r->head.version_minor == 0)
        gh_wbuf_puts(&o, "Connection: keep-alive\r\n");
    gh_wbuf_puts(&o, "\r\n");
    r->out_len = (size_t)(o.p - r->out);
    r->out_off = 0;
    r->head_bytes = r->out_len;
    r->body = body;
    r->body_len = (r->head_only || no_body) ? 0 : body_len;
    r->body_off = 0;
    write_own_response(r);
}

void gh_http1_respond_head(struct gh_req *r, const struct gh_resp_head *h, const char *body,
                           size_t body_len)
{
    struct gh_conn *c = r->conn;
    char *head;
    size_t len;

    r->status = h->status;
    if (c->w->draining)
        r->keepalive = false;
    if (gh_http1_write_head(r, h, false, &head, &len) == -1) {
        fail_conn(c);
        return;
    }
    r->out = head;
    r->out_len = len;
    r->out_off = 0;
    r->head_bytes = len;
    r->body = body;
    r->body_len = r->head_only ? 0 : body_len;
    r->body_off = 0;
    write_own_response(r);
}

const char *gh_http_error_body(int status, size_t *len)
{
    /* Bodies are static strings: "404 Not Found\n". */
    static char bodies[600][48];
    if (status < 100 || status >= 600)
        status = 500;
    char *b = bodies[status];
    if (b[0] == '\0')
        snprintf(b, sizeof(bodies[0]), "%d %s\n", status, gh_http_reason(status));
    *len = strlen(b);
    return b;
}

void gh_http1_error(struct gh_req *r, int status, bool close)
{
    if (status < 100 || status >= 600)
        status = 500;
    size_t len;
    const char *b = gh_http_error_body(status, &len);
    gh_http1_respond(r, status, b, len, NULL, close);
}

/* A complete head: what every request needs (method flags, keep-alive,
 * the request id), then the pipeline (server/pipeline.c) answers it here,
 * hands it to the proxy or closes the connection. */
static void handle_request(struct gh_req *r)
{
    struct gh_http1_request *h = &r->head;

    r->head_only = h->method_id == GH_M_HEAD;
    r->has_body = h->framing.chunked || h->framing.content_length > 0;
    if (h->version_minor == 0)
        r->keepalive = h->framing.conn_keep_alive && !h->framing.conn_close;
    else
        r->keepalive = !h->framing.conn_close;
    gh_reqid_assign(r);
    gh_pipeline_run(r);
}

/* Read from the client into c->h1.in. Returns GH_OK when bytes arrived,
 * GH_AGAIN when none are available, GH_DONE on EOF, GH_ERROR. */
static int read_client(struct gh_conn *c)
{
    struct gh_worker *w = c->w;
    if (c->h1.in == NULL) {
        c->h1.in = gh_buf_get(&w->bufs);
        if (c->h1.in == NULL)
            return GH_ERROR;
    }
    if (gh_buf_room(c->h1.in) == 0) {
        if (c->h1.in->pos == c->h1.in->start)
            return GH_OK;               /* full: the parser decides (431) */
        gh_buf_compact(c->h1.in);
    }
    ssize_t n = gh_transport_read_buf(&c->tp, c->h1.in, &c->h1.rd_more);
    if (n > 0)
        return GH_OK;
    if (n == GH_AGAIN)
        return GH_AGAIN;
    return n == GH_DONE ? GH_DONE : GH_ERROR;
}

/* The PROXY header was read: its source (unless LOCAL or UNKNOWN, or the
 * sender is not a trusted proxy) replaces the peer, the connection checks
 * run on it, then HTTP starts with the bytes that followed the header in
 * the same reads. */
static void proxy_header_done(struct gh_conn *c, const struct gh_pp_result *pp)
{
    gh_conn_set_addr(c);
    if (gh_edge_pp_trusted(&c->addr)) {
        if (pp->family == AF_INET || pp->family == AF_INET6)
            c->peer = pp->src;
        c->edge_tls = pp->ssl;
        gh_conn_set_addr(c);
    }
    if (!gh_edge_accept(&c->addr, &c->cl_held)) {
        gh_conn_close(c);               /* refused: not a byte */
        return;
    }
    gh_conn_set_addr_text(c);
    if (c->listener->tls) {
        /* TLS after the PROXY header: what followed it is the handshake's. */
        int rc = gh_tls_accept(c, c->h1.in->pos, gh_buf_len(c->h1.in));
        gh_buf_put(&c->w->bufs, c->h1.in);
        c->h1.in = NULL;
        if (rc == -1)
            gh_conn_close(c);
        else
            c->proto->on_event(c, EPOLLIN);
        return;
    }
    if (gh_buf_empty(c->h1.in)) {
        gh_buf_put(&c->w->bufs, c->h1.in);
        c->h1.in = NULL;
    }
    /* Still bounded by the client_header timer set at accept. The idle
     * list is kept oldest first: it joins it as of now. */
    c->state = GH_CONN_IDLE;
    c->idle_since = gh_now_ms;
    gh_list_remove(&c->link);
    gh_list_insert_tail(&c->w->idle, &c->link);
    gh_conn_process(c);
}

/* A proxy_protocol listener: read the PROXY header, before any HTTP byte.
 * Malformed, EOF or error: close without a byte. */
static __attribute__((noinline)) void read_proxy_header(struct gh_conn *c)
{
    for (int i = 0; i < 64; i++) {
        if (c->h1.in != NULL && !gh_buf_empty(c->h1.in)) {
            struct gh_pp_result pp;
            int rc = gh_pp_parse((const uint8_t *)c->h1.in->pos, gh_buf_len(c->h1.in), &pp);
            if (rc == GH_PP_DONE) {
                c->h1.in->pos += pp.consumed;
                proxy_header_done(c, &pp);
                return;
            }
            if (rc == GH_PP_ERROR) {
                char peer[48];
                gh_log_info("malformed PROXY protocol header from %s; closing",
                            gh_sockaddr_host(&c->peer, peer, sizeof(peer)));
                gh_edge_count_proxy_rejected();
                gh_conn_close(c);
                return;
            }
        }
        if (!c->h1.rd_more)
            return;
        int rc = read_client(c);
        if (rc == GH_AGAIN) {
            if (gh_buf_empty(c->h1.in)) {  /* nothing yet: hold no buffer while waiting */
                gh_buf_put(&c->w->bufs, c->h1.in);
                c->h1.in = NULL;
            }
            return;
        }
        if (rc != GH_OK) {
            /* EOF or error: a balancer's TCP check sends nothing (not
             * counted); a header cut short is counted. */
            if (c->h1.in != NULL && !gh_buf_empty(c->h1.in))
                gh_edge_count_proxy_rejected();
            gh_conn_close(c);
            return;
        }
    }
}

/* h2c with prior knowledge (a plain listener with http2 = true): the
 * connection's first bytes are HTTP/2's preface. 1: switched (the
 * connection speaks HTTP/2 now, or was closed); 0: not the preface; -1: a
 * prefix of it so far (read more). */
static int h2c_preface(struct gh_conn *c)
{
    if (!c->listener->http2 || c->nrequests > 0 || gh_transport_is_tls(&c->tp))
        return 0;
    size_t n = gh_buf_len(c->h1.in);
    if (memcmp(c->h1.in->pos, GH_HTTP2_PREFACE, GH_MIN(n, (size_t)GH_HTTP2_PREFACE_LEN)) != 0)
        return 0;
    if (n < GH_HTTP2_PREFACE_LEN)
        return -1;
    struct gh_req *r = c->req;
    c->req = NULL;
    req_release(r);
    struct gh_buf *in = c->h1.in;
    c->h1.in = NULL;
    if (gh_http2_start(c, in->pos, n) == -1)
        gh_conn_close(c);
    gh_buf_put(&c->w->bufs, in);
    return 1;
}

/* Read and parse the head of the request in progress. Returns true when it
 * was handled (answered, proxied or the connection closed), false when more
 * bytes are needed. */
static bool advance_head(struct gh_conn *c)
{
    struct gh_req *r = c->req;
    const struct gh_conf *conf = c->w->conf;
    const struct gh_http1_limits lim = {
        .max_header_size = conf->limits.max_header_size,
        .max_uri_size = conf->limits.max_uri_size,
        .max_headers = (size_t)conf->limits.max_headers,
    };
    for (int i = 0; i < 1024; i++) {
        int pre = GH_UNLIKELY(c->listener->http2) ? h2c_preface(c) : 0;
        if (pre == 1)
            return true;
        int rc = pre == 0 ? gh_http1_parse_request(&h1(r)->parser, c->h1.in->pos,
                                                   gh_buf_len(c->h1.in), &lim, &r->head)
                          : GH_AGAIN;
        if (rc > 0) {
            c->state = GH_CONN_BUSY;
            handle_request(r);
            return true;
        }
        if (rc != GH_AGAIN) {
            gh_http1_error(r, -rc, true);
            return true;
        }
        if (gh_buf_room(c->h1.in) == 0 && c->h1.in->pos == c->h1.in->start) {
            /* The buffer holds the largest allowed head and no end yet. */
            gh_http1_error(r, 431, true);
            return true;
        }
        if (!c->h1.rd_more)
            return false;
        rc = read_client(c);
        if (rc == GH_AGAIN)
            return false;
        if (rc != GH_OK) {
            gh_conn_close(c);
            return true;
        }
    }
    return false;
}

void gh_conn_process(struct gh_conn *c)
{
    struct gh_worker *w = c->w;

    if (c->in_process)
        return;
    c->in_process = true;
    for (int guard = 0; guard < 100000 && !c->freed && c->proto == &gh_http1_proto; guard++) {
        if (c->state == GH_CONN_LINGER)
            break;
        if (c->req != NULL) {
            /* Only a head still arriving is ours; the rest is being served. */
            if (c->state != GH_CONN_READ_HEAD || c->req->out != NULL || !advance_head(c))
                break;
            continue;
        }
        if (c->h1.in == NULL || gh_buf_empty(c->h1.in)) {
            /* Read only after an edge: a short read drained the socket. */
            int rc = c->h1.rd_more ? read_client(c) : GH_AGAIN;
            if (rc == GH_AGAIN) {
                if (c->state != GH_CONN_IDLE) {
                    /* Idle: hold no buffer while waiting. */
                    if (c->h1.in != NULL && gh_buf_empty(c->h1.in)) {
                        gh_buf_put(&w->bufs, c->h1.in);
                        c->h1.in = NULL;
                    }
                    gh_conn_set_idle(c);
                }
                break;
            }
            if (rc != GH_OK) {
                gh_conn_close(c);
                break;
            }
        }
        /* Bytes of a new request: start it. */
        struct gh_req *r = req_alloc(c);
        if (r == NULL) {
            gh_conn_close(c);
            break;
        }
        c->req = r;
        c->state = GH_CONN_READ_HEAD;
        gh_conn_set_active(c);
        gh_loop_timer_set(&w->loop, &c->timer, w->conf->timeouts.client_header);
    }
    c->in_process = false;
}

static void http1_on_event(struct gh_conn *c, uint32_t revents)
{
    struct gh_req *r = c->req;

    if (r != NULL && r->proxy != NULL) {
        if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
            c->h1.rd_more = true;
        gh_proxy_client_event(r, revents);
        return;
    }
    if (revents & EPOLLERR) {
        gh_conn_close(c);
        return;
    }
    if (r != NULL && r->out != NULL) {
        /* Our own response is being written; pipelined input waits. */
        if (revents & EPOLLOUT)
            write_own_response(r);
        return;
    }
    if (!(revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)))
        return;
    c->h1.rd_more = true;
    if (c->state == GH_CONN_PROXY) {
        read_proxy_header(c);
        return;
    }
    gh_conn_process(c);
}

/* The head did not arrive within timeouts.client_header: 408, then close at
 * once. What came of the head is dropped (it will never be a request; its
 * bytes stay in c->h1.in's memory, where the access log fields point), so
 * gh_http1_finish finds no unread input and closes instead of lingering
 * (shutdown, a timer, a wakeup for the client's FIN): a slowloris wave
 * costs one writev and one close per connection. Bytes the socket may
 * still hold (rd_more) are read and dropped first, so that the close sends
 * a FIN behind the 408, not a RST that could destroy it; a client that
 * keeps sending past that is lingered on as before. nginx closes a
 * timed-out client without an answer; SPEC wants the 408. */
static void header_timeout(struct gh_conn *c, struct gh_req *r)
{
    if (c->h1.in != NULL)
        c->h1.in->pos = c->h1.in->last;
    for (int i = 0; i < 16 && c->h1.rd_more; i++) {
        char sink[4096];
        ssize_t n = gh_transport_read(&c->tp, sink, sizeof(sink));
        /* A short read drained it; GH_AGAIN too; EOF or an error: no more. */
        c->h1.rd_more = n == (ssize_t)sizeof(sink) || (n > 0 && c->tp.ops->pending(&c->tp));
    }
    gh_http1_error(r, 408, true);
}

static void http1_timeout(struct gh_conn *c)
{
    struct gh_req *r = c->req;
    if (c->state == GH_CONN_PROXY) {
        char peer[48];
        gh_log_info("PROXY protocol header from %s timed out; closing",
                    gh_sockaddr_host(&c->peer, peer, sizeof(peer)));
        gh_edge_count_proxy_rejected();
        gh_conn_close(c);
        return;
    }
    if (r != NULL && r->proxy != NULL) {
        gh_proxy_client_timeout(r);
        return;
    }
    if (r != NULL && c->state == GH_CONN_READ_HEAD && r->out == NULL) {
        header_timeout(c, r);
        return;
    }
    gh_conn_close(c);
}

static void http1_abort(struct gh_conn *c)
{
    struct gh_req *r = c->req;
    if (r != NULL) {
        if (r->proxy != NULL)
            gh_proxy_abort(r);
        if (r->status == 0)
            r->status = 499;            /* client closed before the answer (nginx's 499) */
        if (c->state != GH_CONN_READ_HEAD || r->head.head_len > 0)
            gh_pipeline_log(r);         /* its fields may point into h1.in: before the put */
        c->req = NULL;
        req_release(r);
    }
    gh_buf_put(&c->w->bufs, c->h1.in);
    c->h1.in = NULL;
}

const struct gh_proto gh_http1_proto = {
    .name = "http/1.1",
    .on_event = http1_on_event,
    .on_timeout = http1_timeout,
    .abort = http1_abort,
};
