/*
 * proxy_detach.c - a request without a client: a copy of a client's GET
 * that the proxy forwards upstream on its own, whose response goes only
 * to the cache's hooks (stale-while-revalidate's background refresh: the
 * client that found the object stale has its answer already).
 *
 * The copy has its own pool and timer, a copy of everything of the
 * client's request that the proxy and the response's filters read later
 * (the head and its fields, the effective client, the request id and
 * trace context, the normalized path), and a sink that takes every byte at
 * once (struct gh_req_io below). It never touches the client's connection
 * after the start, so that connection may close meanwhile. The request
 * frees itself when the proxy lets go of it (finish, error, reset); the
 * worker aborts the ones still running when it exits.
 */
#include <string.h>

#include "common/log.h"
#include "server/conn.h"
#include "server/proxy.h"
#include "server/request.h"
#include "modules/route_phase.h"

#define DETACH_POOL 16384

struct detached {
    struct gh_req r;                    /* first: the io's callbacks get &d->r */
    struct gh_worker *w;
    struct gh_timer timer;              /* r.timer */
    struct gh_client client;
    struct detached *prev, *next;
    void (*done)(struct gh_req *r);
};

static struct detached *running;        /* this worker's */

static struct detached *det(struct gh_req *r)
{
    return (struct detached *)r;
}

static void unlist(struct detached *d)
{
    if (d->prev != NULL)
        d->prev->next = d->next;
    else if (running == d)
        running = d->next;
    if (d->next != NULL)
        d->next->prev = d->prev;
    d->prev = d->next = NULL;
}

static void free_detached(struct gh_req *r)
{
    struct detached *d = det(r);
    if (d->done != NULL)
        d->done(r);
    gh_loop_timer_cancel(&d->w->loop, &d->timer);
    unlist(d);
    gh_pool_destroy(r->pool);
}

/* ---- the sink: no client ------------------------------------------------ */

static int d_body_start(struct gh_req *r, bool upgrade)
{
    GH_UNUSED(r); GH_UNUSED(upgrade);
    return 0;
}

static ssize_t d_body_next(struct gh_req *r, const char **data, bool *last)
{
    GH_UNUSED(r); GH_UNUSED(data); GH_UNUSED(last);
    return GH_DONE;
}

static void d_body_consume(struct gh_req *r)
{
    GH_UNUSED(r);
}

static uint64_t d_body_taken(struct gh_req *r)
{
    GH_UNUSED(r);
    return 0;
}

static void d_resp_interim(struct gh_req *r, const struct gh_resp_head *h, const char *raw,
                           size_t len)
{
    GH_UNUSED(r); GH_UNUSED(h); GH_UNUSED(raw); GH_UNUSED(len);
}

static int d_resp_head(struct gh_req *r, const struct gh_resp_head *h)
{
    GH_UNUSED(r); GH_UNUSED(h);
    return 0;
}

static void d_resp_data(struct gh_req *r, const struct iovec *iov, int n, size_t total)
{
    GH_UNUSED(iov); GH_UNUSED(n);
    r->bytes_sent += total;
}

static bool d_resp_end(struct gh_req *r)
{
    GH_UNUSED(r);
    return false;
}

static ssize_t d_resp_send(struct gh_req *r, bool *drained)
{
    GH_UNUSED(r);
    *drained = true;                    /* taken at once: the upstream sets the pace */
    return 0;
}

static int64_t d_resp_unacked(struct gh_req *r)
{
    GH_UNUSED(r);
    return -1;
}

static void d_error(struct gh_req *r, int status, bool close)
{
    GH_UNUSED(close);
    gh_log_info("background refresh: %d from upstream %s", status, r->upstream_addr);
    free_detached(r);
}

static void d_respond(struct gh_req *r, int status, const char *body, size_t body_len,
                      const char *location, bool close)
{
    GH_UNUSED(body); GH_UNUSED(body_len); GH_UNUSED(location);
    d_error(r, status, close);
}

static const struct gh_req_io detached_io = {
    .body_start = d_body_start,
    .body_next = d_body_next,
    .body_consume = d_body_consume,
    .body_taken = d_body_taken,
    .resp_interim = d_resp_interim,
    .resp_head = d_resp_head,
    .resp_data = d_resp_data,
    .resp_end = d_resp_end,
    .resp_send = d_resp_send,
    .resp_unacked = d_resp_unacked,
    .finish = free_detached,
    .error = d_error,
    .respond = d_respond,
    .reset = free_detached,
};

/* ---- the copy ------------------------------------------------------------ */

static int copy_str(struct gh_pool *pool, struct gh_str *s)
{
    if (s->len == 0)
        return 0;
    char *p = gh_palloc(pool, s->len + 1);
    if (p == NULL)
        return -1;
    memcpy(p, s->p, s->len);
    p[s->len] = '\0';
    s->p = p;
    return 0;
}

/* The client's conditionals and Range are its own: the refresh asks for
 * the whole object. */
static bool dropped(struct gh_str n)
{
    static const char *const names[] = { "if-none-match", "if-modified-since", "if-match",
                                          "if-unmodified-since", "range", "if-range" };
    for (size_t i = 0; i < GH_ARRAY_LEN(names); i++)
        if (gh_str_caseeq_lit(n, names[i]))
            return true;
    return false;
}

static void detached_timeout(struct gh_timer *t)
{
    struct detached *d = t->data;
    if (d->r.proxy != NULL)
        gh_proxy_client_timeout(&d->r);
}

struct gh_req *gh_proxy_detach(struct gh_req *r, void (*done)(struct gh_req *r))
{
    if ((r->head.method_id != GH_M_GET && r->head.method_id != GH_M_HEAD) || r->has_body)
        return NULL;
    struct gh_pool *pool = gh_pool_create(DETACH_POOL);
    if (pool == NULL)
        return NULL;
    struct detached *d = gh_pcalloc(pool, sizeof(*d));
    struct gh_http_header *f =
        d != NULL ? gh_palloc(pool, (r->head.nheaders + 1) * sizeof(*f)) : NULL;
    if (f == NULL) {
        gh_pool_destroy(pool);
        return NULL;
    }
    struct gh_req *c = &d->r;
    *c = *r;
    c->pool = pool;
    c->io = &detached_io;
    c->proxy = NULL;
    c->next_free = NULL;
    c->out = NULL;
    c->body = NULL;
    c->status = 0;
    c->bytes_sent = c->head_bytes = 0;
    c->upstream_status = 0;
    c->keepalive = false;
    c->head_only = false;
    c->http2 = false;                   /* no client stream: plain HTTP/1.1 semantics */
    c->tls_sni = NULL;
    c->client_cert = NULL;
    c->body_rewritten = false;
    c->set_cookie = (struct gh_str){ NULL, 0 };
    /* Never a tunnel: one would read the client connection's input, and
     * c->conn is only good while the refresh starts (proxy_new). */
    c->head.framing.conn_upgrade = false;
    c->head.framing.upgrade = (struct gh_str){ NULL, 0 };
    memset(c->mod_ctx, 0, sizeof(c->mod_ctx));
    d->client = *r->client;
    c->client = c->conn_client = &d->client;
    d->w = r->conn->w;
    d->done = done;
    gh_timer_init(&d->timer, detached_timeout, d);
    c->timer = &d->timer;
    struct gh_http1_request *h = &c->head;
    size_t n = 0;
    int bad = 0;
    for (size_t i = 0; i < r->head.nheaders; i++) {
        if (dropped(r->head.headers[i].name))
            continue;
        f[n] = r->head.headers[i];
        bad |= copy_str(pool, &f[n].name) | copy_str(pool, &f[n].value);
        n++;
    }
    h->headers = f;
    h->nheaders = n;
    if (h->method_id == GH_M_HEAD) {
        h->method = GH_STR("GET");       /* a HEAD is answered from the GET object */
        h->method_id = GH_M_GET;
    }
    bad |= copy_str(pool, &h->method) | copy_str(pool, &h->target) | copy_str(pool, &h->path)
           | copy_str(pool, &h->query) | copy_str(pool, &h->authority)
           | copy_str(pool, &h->host) | copy_str(pool, &h->framing.upgrade)
           | copy_str(pool, &c->request_id) | copy_str(pool, &c->traceparent)
           | copy_str(pool, &c->trace_id);
    struct gh_str np = gh_str_make(r->norm_path, r->norm_len);
    bad |= copy_str(pool, &np);
    c->norm_path = (char *)np.p;
    if (bad != 0) {
        gh_pool_destroy(pool);
        return NULL;
    }
    d->next = running;
    if (running != NULL)
        running->prev = d;
    running = d;
    return c;
}

void gh_proxy_detach_start(struct gh_req *c)
{
    int up = gh_route_upstream(c);
    if (up < 0) {
        free_detached(c);
        return;
    }
    gh_proxy_start(c, up);
}

void gh_proxy_detach_abort(struct gh_req *c)
{
    free_detached(c);
}

void gh_proxy_detached_exit(void)
{
    while (running != NULL) {
        struct gh_req *r = &running->r;
        gh_proxy_abort(r);              /* the upstream side (its object is discarded) */
        free_detached(r);
    }
}
