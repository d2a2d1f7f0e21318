/*
 * proxy_tunnel.c - the WebSocket tunnel: after the upstream's 101, bytes
 * flow both ways unparsed until either side closes or the tunnel idles out
 * (timeouts.tunnel).
 */
#include "server/filter.h"
#include "server/http1_priv.h"
#include "server/proxy_headers.h"
#include "server/proxy_priv.h"
#include "server/upstream.h"

void gh_proxy_tunnel_start(struct gh_proxy *p)
{
    struct gh_req *r = p->r;
    r->status = 101;
    r->upstream_status = 101;
    r->keepalive = false;
    /* The head goes through the header filters like any other; the
     * tunnel then writes its bytes itself (HTTP/1 only). */
    struct gh_resp_head h;
    if (gh_resp_head_init(r, &h, &p->resp, gh_proxy_head_adds(r)) == -1
        || gh_header_filters_run(r, &h) == -1
        || gh_http1_write_head(r, &h, false, &p->chead, &p->chead_len) == -1) {
        p->chead = NULL;
        p->chead_len = 0;
    }
    gh_outq_push(&p->tq, p->chead, p->chead_len);
    r->head_bytes += p->chead_len;
    /* Bytes either side sent right after the handshake are already read. */
    if (!gh_buf_empty(p->rbuf))
        gh_outq_push(&p->tq, p->rbuf->pos, gh_buf_len(p->rbuf));
    if (p->c->h1.in != NULL && !gh_buf_empty(p->c->h1.in))
        gh_outq_push(&p->uq, p->c->h1.in->pos, gh_buf_len(p->c->h1.in));
    p->resp_started = true;
    p->resp_head_done = true;
    p->tunnel = true;
    p->upstream_reusable = false;
    p->c->h1.rd_more = true;
    gh_proxy_set_utimer(p, p->w->conf->timeouts.tunnel);
}

/* Move bytes one way: from `src` through `b` to `dst`, written through the
 * client's send step when `client` is set (the upstream's transport
 * otherwise). Returns STEP_PROGRESS, STEP_WAIT, or GH_DONE when src reached
 * EOF and b is empty, GH_ERROR on a socket error. */
static int tunnel_pipe(struct gh_buf *b, struct gh_transport *src, bool *rd_more, bool *eof,
                       struct gh_transport *dst, struct gh_conn *client, struct gh_outq *q,
                       uint64_t *sent)
{
    if (!gh_outq_empty(q)) {
        ssize_t n = client != NULL ? gh_conn_send(client, q, sent)
                                   : gh_transport_write_outq(dst, q);
        if (n == GH_AGAIN)
            return STEP_WAIT;
        if (n == GH_ERROR)
            return GH_ERROR;
        if (gh_outq_empty(q))
            gh_buf_reset(b);
        return STEP_PROGRESS;
    }
    if (*eof)
        return GH_DONE;
    if (!*rd_more)
        return STEP_WAIT;
    if (gh_buf_empty(b))
        gh_buf_reset(b);
    ssize_t n = gh_transport_read_buf(src, b, rd_more);
    if (n == GH_AGAIN)
        return STEP_WAIT;
    if (n == GH_DONE) {
        *eof = true;
        (void)gh_transport_shutdown(dst);       /* pass the half-close on; a failure shows as an error next */
        return GH_DONE;
    }
    if (n < 0)
        return GH_ERROR;
    gh_outq_push(q, b->pos, gh_buf_len(b));
    return STEP_PROGRESS;
}

int gh_proxy_tunnel_step(struct gh_proxy *p)
{
    struct gh_conn *c = p->c;
    if (c->h1.in == NULL) {
        c->h1.in = gh_buf_get(&p->w->bufs);
        if (c->h1.in == NULL)
            return GH_ERROR;
    }
    int a = tunnel_pipe(c->h1.in, &c->tp, &c->h1.rd_more, &p->t_client_eof, &p->uc->tp, NULL, &p->uq,
                        NULL);
    int b = tunnel_pipe(p->rbuf, &p->uc->tp, &p->u_rd_more, &p->t_upstream_eof, &c->tp, c, &p->tq,
                        &p->r->bytes_sent);
    if (a == GH_ERROR || b == GH_ERROR)
        return GH_ERROR;
    if (a == GH_DONE && b == GH_DONE)
        return STEP_DONE;
    if (a == STEP_PROGRESS || b == STEP_PROGRESS) {
        gh_proxy_set_utimer(p, p->w->conf->timeouts.tunnel);
        return STEP_PROGRESS;
    }
    return STEP_WAIT;
}
