/*
 * balance_rr.c - smooth weighted round robin (per worker; every worker
 * spreads its own requests by weight, so the sum does too), least_conn and
 * random2 (power of two choices) on the active counts every worker shares.
 */
#include "modules/balance.h"

static int no_init(struct gh_upstream_rt *up)
{
    GH_UNUSED(up);
    return 0;
}

static void no_exit(struct gh_upstream_rt *up)
{
    GH_UNUSED(up);
}

/* With equal weights, smooth weighted round robin is plain round robin:
 * a cursor makes the pick O(1) instead of a pass over every server. */
static int rr_init(struct gh_upstream_rt *up)
{
    up->rr_equal = up->conf->slow_start <= 0;
    for (size_t i = 1; i < up->nservers; i++)
        if (up->servers[i].conf->weight != up->servers[0].conf->weight)
            up->rr_equal = false;
    up->rr_next = 0;
    return 0;
}

static struct gh_server_rt *rr_pick(struct gh_upstream_rt *up, uint64_t tried,
                                    struct gh_req *r, bool backup)
{
    GH_UNUSED(r);
    if (!up->rr_equal)
        return gh_balance_swrr(up, tried, backup, NULL);
    size_t n = up->nservers;
    for (size_t k = 0; k < n; k++) {
        size_t i = up->rr_next;
        up->rr_next = i + 1 == n ? 0 : i + 1;
        if (gh_balance_candidate(up, &up->servers[i], tried, backup))
            return &up->servers[i];
    }
    return NULL;
}

const struct gh_balance_ops gh_balance_round_robin = {
    .name = "round_robin", .init = rr_init, .exit = no_exit, .pick = rr_pick,
};

/* a->active / a->weight < b->active / b->weight, without division. */
static int load_cmp(int64_t aa, int64_t aw, int64_t ba, int64_t bw)
{
    int64_t l = aa * bw, r = ba * aw;
    return l < r ? -1 : l > r;
}

/*
 * Least connections (across every worker, from the shared gauges),
 * weighted: the lowest active/weight wins; ties go by smooth weighted round
 * robin among the tied servers, so an idle upstream is still spread by
 * weight.
 */
static struct gh_server_rt *lc_pick(struct gh_upstream_rt *up, uint64_t tried,
                                    struct gh_req *r, bool backup)
{
    GH_UNUSED(r);
    struct gh_server_rt *best = NULL;
    int64_t best_a = 0, best_w = 1;
    size_t ntied = 0;
    bool keep[up->nservers > 0 ? up->nservers : 1];
    for (size_t i = 0; i < up->nservers; i++) {
        struct gh_server_rt *s = &up->servers[i];
        keep[i] = false;
        if (!gh_balance_candidate(up, s, tried, backup))
            continue;
        int64_t a = gh_upstream_active(s), w = gh_upstream_weight(up, s);
        int c = best == NULL ? -1 : load_cmp(a, w, best_a, best_w);
        if (c < 0) {
            best = s;
            best_a = a;
            best_w = w;
            ntied = 1;
        } else if (c == 0) {
            ntied++;
        }
    }
    if (best == NULL || ntied == 1)
        return best;
    for (size_t i = 0; i < up->nservers; i++) {
        struct gh_server_rt *s = &up->servers[i];
        keep[i] = gh_balance_candidate(up, s, tried, backup)
                  && load_cmp(gh_upstream_active(s), gh_upstream_weight(up, s), best_a, best_w)
                         == 0;
    }
    return gh_balance_swrr(up, tried, backup, keep);
}

const struct gh_balance_ops gh_balance_least_conn = {
    .name = "least_conn", .init = no_init, .exit = no_exit, .pick = lc_pick,
};

/* One candidate drawn at random by weight, excluding `skip`. */
static struct gh_server_rt *draw(struct gh_upstream_rt *up, uint64_t tried, bool backup,
                                 const struct gh_server_rt *skip, int64_t total)
{
    if (total <= 0)
        return NULL;
    int64_t x = (int64_t)(gh_balance_random(up) % (uint64_t)total);
    struct gh_server_rt *last = NULL;
    for (size_t i = 0; i < up->nservers; i++) {
        struct gh_server_rt *s = &up->servers[i];
        if (s == skip || !gh_balance_candidate(up, s, tried, backup))
            continue;
        last = s;
        x -= gh_upstream_weight(up, s);
        if (x < 0)
            return s;
    }
    return last;
}

/*
 * Power of two choices: draw two distinct servers by weight and take the
 * one with fewer active requests (per unit of weight) across all workers.
 */
static struct gh_server_rt *r2_pick(struct gh_upstream_rt *up, uint64_t tried,
                                    struct gh_req *r, bool backup)
{
    GH_UNUSED(r);
    int64_t total = 0;
    size_t n = 0;
    for (size_t i = 0; i < up->nservers; i++) {
        struct gh_server_rt *s = &up->servers[i];
        if (gh_balance_candidate(up, s, tried, backup)) {
            total += gh_upstream_weight(up, s);
            n++;
        }
    }
    struct gh_server_rt *a = draw(up, tried, backup, NULL, total);
    if (a == NULL || n == 1)
        return a;
    struct gh_server_rt *b = draw(up, tried, backup, a, total - gh_upstream_weight(up, a));
    if (b == NULL)
        return a;
    int c = load_cmp(gh_upstream_active(a), gh_upstream_weight(up, a), gh_upstream_active(b),
                     gh_upstream_weight(up, b));
    return c <= 0 ? a : b;
}

const struct gh_balance_ops gh_balance_random2 = {
    .name = "random2", .init = no_init, .exit = no_exit, .pick = r2_pick,
};
