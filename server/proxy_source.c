/*
 * proxy_source.c - a response made here (struct gh_resp_source,
 * server/proxy.h: a cache hit) rather than read from an upstream, through
 * the same pump as a proxied one: the head, then body spans (up to
 * GH_SOURCE_SPANS iovecs a step, pointing at the source's own memory: a
 * hit's are the store's blocks) pulled only once the sink has written
 * the ones before, so nothing is copied and nothing piles up however long
 * the body; a source that has nothing yet (an object still being
 * written) is polled by timer or woken (gh_proxy_wake).
 */
#include "server/proxy.h"
#include "server/proxy_priv.h"
#include "server/request.h"

/* GH_AGAIN from the source: come back after wait_ms, or when woken. */
static int source_wait(struct gh_proxy *p, gh_msec_t wait_ms)
{
    if (wait_ms > 0)
        gh_loop_timer_set(&p->w->loop, &p->kick, wait_ms);
    return STEP_WAIT;
}

/* Queue the source's next span. STEP_WAIT, STEP_PROGRESS or STEP_STOP. */
static int source_body(struct gh_proxy *p)
{
    struct gh_req *r = p->r;
    struct iovec v[GH_SOURCE_SPANS];
    int nv = GH_SOURCE_SPANS;
    gh_msec_t wait_ms = 0;
    ssize_t n = p->src->next(r, v, &nv, &wait_ms);
    if (n > 0) {
        r->io->resp_data(r, v, nv, (size_t)n);
        p->out_queued = true;
        return STEP_PROGRESS;
    }
    if (n == GH_DONE) {
        p->resp_body_read = true;
        return STEP_PROGRESS;
    }
    if (n == GH_AGAIN)
        return source_wait(p, wait_ms);
    /* The object broke mid-body (its writer died or gave up): the client
     * sees what a proxied response cut short shows it, a reset. */
    gh_proxy_fail(p, 502);
    return STEP_STOP;
}

int gh_proxy_source_step(struct gh_proxy *p)
{
    struct gh_req *r = p->r;
    if (p->resp_head_done)
        return source_body(p);
    struct gh_resp_head h;
    gh_msec_t wait_ms = 0;
    int rc = p->src->head(r, &h, &wait_ms);
    if (rc == GH_AGAIN)
        return source_wait(p, wait_ms);
    if (rc != 0)
        return gh_proxy_go_upstream(p) == 0 ? STEP_PROGRESS : STEP_STOP;
    r->status = h.status;
    if (p->w->draining)
        r->keepalive = false;
    if (r->io->resp_head(r, &h) == -1) {
        gh_proxy_fail(p, 500);
        return STEP_STOP;
    }
    p->out_queued = true;
    p->resp_started = true;
    p->resp_head_done = true;
    if (h.body == GH_RESP_NO_BODY || r->head_only) {
        p->resp_body_read = true;
        return STEP_PROGRESS;
    }
    /* The first span leaves in the head's write. */
    return source_body(p) == STEP_STOP ? STEP_STOP : STEP_PROGRESS;
}
