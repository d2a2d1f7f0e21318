/*
 * balance_hash.c - ip_hash and hash: consistent hashing on a ketama ring
 * (160 points per unit of weight, each the hash of "ADDRESS-N"), built at
 * worker init from the primary servers' addresses, so every worker and every
 * generation maps a key to the same server, and removing one of n servers
 * moves only the keys that were on it (about 1/n). When the key's server is
 * unavailable the walk goes on clockwise to the next available one.
 */
#include <stdio.h>
#include <string.h>

#include "modules/balance.h"
#include "server/request.h"

#define POINTS_PER_WEIGHT 160
#define MAX_POINTS_PER_SERVER 16000
#define MAX_KEY 512

struct ring_point {
    uint64_t h;
    uint32_t srv;
};

struct ring {
    size_t n;
    struct ring_point p[];
};

static int point_cmp(const void *a, const void *b)
{
    const struct ring_point *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->srv < y->srv ? -1 : x->srv > y->srv;
}

static int ring_init(struct gh_upstream_rt *up)
{
    size_t total = 0;
    for (size_t i = 0; i < up->nservers; i++)
        if (!up->servers[i].conf->backup)
            total += (size_t)GH_MIN(POINTS_PER_WEIGHT * up->servers[i].conf->weight,
                                    MAX_POINTS_PER_SERVER);
    struct ring *ring = malloc(sizeof(*ring) + (total ? total : 1) * sizeof(ring->p[0]));
    if (ring == NULL)
        return -1;
    ring->n = 0;
    for (size_t i = 0; i < up->nservers; i++) {
        const struct gh_conf_upstream_server *c = up->servers[i].conf;
        if (c->backup)
            continue;
        int npoints = GH_MIN(POINTS_PER_WEIGHT * c->weight, MAX_POINTS_PER_SERVER);
        for (int k = 0; k < npoints; k++) {
            char buf[300];
            int len = snprintf(buf, sizeof(buf), "%s-%d", c->addr.text, k);
            ring->p[ring->n].h = gh_balance_hash64(buf, (size_t)GH_MIN(len, (int)sizeof(buf) - 1));
            ring->p[ring->n].srv = (uint32_t)i;
            ring->n++;
        }
    }
    qsort(ring->p, ring->n, sizeof(ring->p[0]), point_cmp);
    up->bal_data = ring;
    return 0;
}

static void ring_exit(struct gh_upstream_rt *up)
{
    free(up->bal_data);
    up->bal_data = NULL;
}

struct gh_server_rt *gh_balance_ring_pick(struct gh_upstream_rt *up, uint64_t tried,
                                          uint64_t key_hash)
{
    const struct ring *ring = up->bal_data;
    if (ring == NULL || ring->n == 0)
        return NULL;
    size_t lo = 0, hi = ring->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring->p[mid].h < key_hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = 0; k < ring->n; k++) {
        struct gh_server_rt *s = &up->servers[ring->p[(lo + k) % ring->n].srv];
        if (gh_balance_candidate(up, s, tried, false))
            return s;
    }
    return NULL;
}

static struct gh_server_rt *pick_key(struct gh_upstream_rt *up, uint64_t tried, bool backup,
                                     const char *key, size_t len)
{
    /* Backups, and requests without a key, are spread by round robin. */
    if (backup || len == 0)
        return gh_balance_swrr(up, tried, backup, NULL);
    return gh_balance_ring_pick(up, tried, gh_balance_hash64(key, len));
}

static struct gh_server_rt *ip_pick(struct gh_upstream_rt *up, uint64_t tried,
                                    struct gh_req *r, bool backup)
{
    const char *key = r != NULL ? r->client->text : "";
    return pick_key(up, tried, backup, key, strlen(key));
}

static struct gh_server_rt *hash_pick(struct gh_upstream_rt *up, uint64_t tried,
                                      struct gh_req *r, bool backup)
{
    char key[MAX_KEY];
    size_t len = r != NULL ? gh_balance_key(r, up->conf->hash_key, key, sizeof(key)) : 0;
    return pick_key(up, tried, backup, key, len);
}

const struct gh_balance_ops gh_balance_ip_hash = {
    .name = "ip_hash", .init = ring_init, .exit = ring_exit, .pick = ip_pick,
};

const struct gh_balance_ops gh_balance_hash = {
    .name = "hash", .init = ring_init, .exit = ring_exit, .pick = hash_pick,
};
