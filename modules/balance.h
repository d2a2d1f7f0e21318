/*
 * balance.h - load-balancing algorithms. A balancer is an init/exit pair
 * (its per-worker tables) and a pick over one class of servers (primary or
 * backup) that skips the servers in `tried` and those not available
 * (gh_upstream_available); gh_upstream_pick in server/upstream.c wraps it
 * with sticky cookies and the backup fallback.
 *
 * State shared across workers (active counts, health, drains, passive
 * failures) is read from the servers' shared slots; round-robin positions
 * and hash rings are per worker (a hash ring is built from the servers'
 * addresses, so it is the same in every worker and across reloads).
 */
#ifndef GH_BALANCE_H
#define GH_BALANCE_H

#include "modules/balance_key.h"
#include "server/upstream.h"

struct gh_req;

struct gh_balance_ops {
    const char *name;
    /* Build per-worker tables in up->bal_data. 0 or -1 (out of memory). */
    int (*init)(struct gh_upstream_rt *up);
    void (*exit)(struct gh_upstream_rt *up);
    /* A server of the class `backup` not in tried and available, or NULL.
     * r may be NULL (unit tests): hash balancers then act on an empty key. */
    struct gh_server_rt *(*pick)(struct gh_upstream_rt *up, uint64_t tried, struct gh_req *r,
                                 bool backup);
};

extern const struct gh_balance_ops gh_balance_round_robin, gh_balance_least_conn,
    gh_balance_random2, gh_balance_ip_hash, gh_balance_hash;

/* The balancer configured by `b`. */
const struct gh_balance_ops *gh_balance_for(int b);

static inline bool gh_balance_tried(uint64_t tried, const struct gh_server_rt *s)
{
    return s->index < 64 && (tried & (UINT64_C(1) << s->index)) != 0;
}
/* Is s a candidate: in the class, not tried, available? */
static inline bool gh_balance_candidate(const struct gh_upstream_rt *up,
                                        const struct gh_server_rt *s, uint64_t tried,
                                        bool backup)
{
    return s->conf->backup == backup && !gh_balance_tried(tried, s)
           && gh_upstream_available(up, s);
}

/* Smooth weighted round robin (nginx's ngx_http_upstream_get_peer) over the
 * candidates for which keep[i] is true (keep NULL: all). */
struct gh_server_rt *gh_balance_swrr(struct gh_upstream_rt *up, uint64_t tried, bool backup,
                                     const bool *keep);
/* The next value of the upstream's xorshift generator. */
uint64_t gh_balance_random(struct gh_upstream_rt *up);


/* Consistent hashing (ketama ring), exposed for unit tests: the server for
 * a key hash among the primaries, skipping tried and unavailable ones. */
struct gh_server_rt *gh_balance_ring_pick(struct gh_upstream_rt *up, uint64_t tried,
                                          uint64_t key_hash);

#endif
