/*
 * proxy_rate.c - limits.min_client_rate for the proxy pump.
 *
 * While the pump waits on the client (a body it wants to read, a response
 * the client does not take), a clock runs (common/minrate.h); the client
 * must have moved min_client_rate bytes for each second of it beyond a
 * grace of RATE_GRACE_MS (or the phase's gap timeout when shorter). Time
 * waiting on the upstream, or with the upload held back by it, does not
 * count, nor does a wait for 100 Continue before any byte moved. The check
 * is the connection timer the pump arms anyway, moved earlier: no work per
 * read or write. Response credit is what the client took: what left the
 * socket (written minus SIOCOUTQ) since a write first blocked, measured
 * then and when the deadline comes: an ioctl when a write first blocks and
 * one per deadline, so a client reading steadily is not cut because the
 * kernel wakes a writer only after a third of a large send buffer drained.
 * Bytes written are no credit, not even after a write blocked: the kernel
 * may grow the send buffer later (autotuning; with BBR by hundreds of KB)
 * and take more that no client read.
 */
#include "common/log.h"
#include "common/time.h"
#include "server/http1.h"
#include "modules/edge.h"
#include "server/proxy_priv.h"

#define RATE_GRACE_MS 5000
#define RATE_RECHECK_MS 1000            /* least delay before a deadline is re-checked */
/* What a client must take per timeouts.send when no write wakes us, so a
 * reader of a few bytes per period cannot hold a connection and its
 * upstream forever even with min_client_rate = 0. */
#define SEND_GAP_MIN_BYTES 16384

/* Request body bytes taken from the client so far. */
static uint64_t body_bytes(const struct gh_proxy *p)
{
    return p->r->io->body_taken(p->r);
}

/* Response bytes that left the client socket (written minus still queued
 * in it), or UINT64_MAX when the kernel does not say. */
static uint64_t sent_out(const struct gh_proxy *p)
{
    int64_t queued = p->r->io->resp_unacked(p->r);
    if (queued < 0)
        return UINT64_MAX;
    uint64_t sent = p->r->bytes_sent;
    return sent > (uint64_t)queued ? sent - (uint64_t)queued : 0;
}

/* What the client moved so far (see above). */
static uint64_t client_bytes(const struct gh_proxy *p)
{
    return body_bytes(p) + p->acked;
}

/* Arm c->timer at p->gap_due, or at the rate deadline (not before
 * `floor`) when that is earlier. */
static void arm_rate(struct gh_proxy *p, gh_msec_t floor)
{
    uint64_t rate = p->w->conf->limits.min_client_rate;
    gh_msec_t when = p->gap_due;
    gh_msec_t due = gh_minrate_deadline(&p->rate, p->rate_grace, client_bytes(p), rate);
    due = GH_MAX(due, floor);
    p->rate_armed = due < when;
    if (p->rate_armed)
        when = due;
    gh_loop_timer_set(&p->w->loop, p->r->timer, GH_MAX(when - gh_now_ms, 0));
}

void gh_proxy_rate_arm(struct gh_proxy *p, gh_msec_t gap, bool sending)
{
    struct gh_req *r = p->r;
    p->gap_due = gh_now_ms + gap;
    if (sending && !p->send_blocked) {
        p->send_blocked = true;
        p->acked_base = p->gap_out = sent_out(p);
    }
    if (p->w->conf->limits.min_client_rate == 0
        || (!sending && r->head.expect_continue && !p->got_any && body_bytes(p) == 0)) {
        gh_minrate_stop(&p->rate, gh_now_ms);
        p->rate_armed = false;
        gh_loop_timer_set(&p->w->loop, p->r->timer, gap);
        return;
    }
    p->rate_grace = GH_MIN(gap, RATE_GRACE_MS);
    gh_minrate_start(&p->rate, gh_now_ms);
    arm_rate(p, 0);
}

/* The rate deadline came while sending: measure what the client really
 * took; true (timer re-armed) when that keeps it in time. */
static bool rate_recheck(struct gh_proxy *p)
{
    uint64_t out = sent_out(p);
    if (out == UINT64_MAX || p->acked_base == UINT64_MAX)
        return false;
    p->acked = out > p->acked_base ? out - p->acked_base : 0;
    uint64_t rate = p->w->conf->limits.min_client_rate;
    if (gh_minrate_deadline(&p->rate, p->rate_grace, client_bytes(p), rate) <= gh_now_ms)
        return false;
    arm_rate(p, gh_now_ms + RATE_RECHECK_MS);
    return true;
}

void gh_proxy_rate_stop(struct gh_proxy *p)
{
    gh_minrate_stop(&p->rate, gh_now_ms);
    p->rate_armed = false;
}

bool gh_proxy_send_moving(struct gh_proxy *p)
{
    if (!p->out_queued || !p->send_blocked || p->gap_out == UINT64_MAX)
        return false;
    uint64_t out = sent_out(p);
    if (out == UINT64_MAX || out < p->gap_out + SEND_GAP_MIN_BYTES)
        return false;
    p->gap_out = out;
    gh_proxy_rate_arm(p, p->w->conf->timeouts.send, true);
    return true;
}

bool gh_proxy_rate_due(struct gh_proxy *p)
{
    if (p->out_queued && rate_recheck(p))
        return false;
    gh_log_info("client %s too slow: %llu bytes in %lld ms waiting on it, "
                "below min_client_rate %zu bytes/s",
                p->r->client->text, (unsigned long long)client_bytes(p),
                (long long)gh_minrate_waited(&p->rate, gh_now_ms),
                p->w->conf->limits.min_client_rate);
    gh_edge_count_slow_client();
    return true;
}
