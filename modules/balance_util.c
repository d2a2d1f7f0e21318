/*
 * balance_util.c - what the balancers share: the choice of algorithm,
 * smooth weighted round robin and the random generator (keys and their
 * hash are in balance_key.c).
 */
#include <string.h>

#include "modules/balance.h"

const struct gh_balance_ops *gh_balance_for(int b)
{
    switch (b) {
    case GH_BALANCE_LEAST_CONN:
        return &gh_balance_least_conn;
    case GH_BALANCE_RANDOM2:
        return &gh_balance_random2;
    case GH_BALANCE_IP_HASH:
        return &gh_balance_ip_hash;
    case GH_BALANCE_HASH:
        return &gh_balance_hash;
    default:
        return &gh_balance_round_robin;
    }
}

struct gh_server_rt *gh_balance_swrr(struct gh_upstream_rt *up, uint64_t tried, bool backup,
                                     const bool *keep)
{
    struct gh_server_rt *best = NULL;
    int64_t total = 0;
    for (size_t i = 0; i < up->nservers; i++) {
        struct gh_server_rt *s = &up->servers[i];
        if ((keep != NULL && !keep[i]) || !gh_balance_candidate(up, s, tried, backup))
            continue;
        int64_t w = gh_upstream_weight(up, s);
        s->cur_weight += w;
        total += w;
        if (best == NULL || s->cur_weight > best->cur_weight)
            best = s;
    }
    if (best != NULL)
        best->cur_weight -= total;
    return best;
}


uint64_t gh_balance_random(struct gh_upstream_rt *up)
{
    uint64_t x = up->rng ? up->rng : UINT64_C(0x9e3779b97f4a7c15);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    up->rng = x;
    return x;
}

