/*
 * connlimit.c - see connlimit.h.
 */
#include <string.h>

#include "common/lock.h"
#include "common/log.h"
#include "modules/acl.h"
#include "modules/connlimit.h"

#define CL_REGION "connlimit"
#define CL_LAYOUT 1u
#define CL_MAGIC 0x4c434847u

struct cl_entry {
    uint8_t key[16];
    int32_t total;                      /* 0 = free */
    uint16_t per_proc[GH_SHM_MAX_PROCS];
};

struct gh_cl_region {
    uint32_t magic;
    pthread_mutex_t locks[GH_CL_STRIPES];
    struct cl_entry entries[GH_CL_STRIPES][GH_CL_PER_STRIPE];
};

static struct gh_cl_region *g_region;

int gh_cl_reserve(struct gh_shm *shm)
{
    bool fresh;
    struct gh_cl_region *reg = gh_shm_region(shm, CL_REGION, CL_LAYOUT, sizeof(*reg), &fresh);
    if (reg == NULL) {
        gh_log_error("no room for the per-client connection counts in the shared segment");
        return -1;
    }
    if (fresh || reg->magic != CL_MAGIC) {
        memset(reg, 0, sizeof(*reg));
        for (int i = 0; i < GH_CL_STRIPES; i++)
            if (gh_mutex_init_shared(&reg->locks[i]) == -1)
                return -1;
        reg->magic = CL_MAGIC;
    }
    g_region = reg;
    return 0;
}

struct gh_cl_region *gh_cl_region(void)
{
    return g_region;
}

/* The stripe mixes the high bits in: FNV's low bits alone cluster. */
static uint32_t key_hash(const uint8_t key[16])
{
    uint32_t h = gh_acl_key_hash(key);
    return h ^ (h >> 16);
}

/* Totals of one stripe from the per-process counts (its lock's owner died
 * in it: a total may be off by the update it did not finish). */
static void stripe_recount(struct gh_cl_region *reg, int s)
{
    for (int i = 0; i < GH_CL_PER_STRIPE; i++) {
        struct cl_entry *e = &reg->entries[s][i];
        int32_t t = 0;
        for (int p = 0; p < GH_SHM_MAX_PROCS; p++)
            t += e->per_proc[p];
        e->total = t;
    }
}

/* Lock the stripe of key; recompute totals when its owner died in it. */
static struct cl_entry *stripe_lock(struct gh_cl_region *reg, const uint8_t key[16], int *stripe)
{
    int s = (int)(key_hash(key) % GH_CL_STRIPES);
    *stripe = s;
    if (gh_mutex_lock(&reg->locks[s]) == GH_LOCK_RECOVERED) {
        stripe_recount(reg, s);
        gh_mutex_consistent(&reg->locks[s]);
    }
    return reg->entries[s];
}

int gh_cl_acquire(struct gh_cl_region *reg, int proc, const uint8_t key[16], int limit)
{
    if (proc < 0 || proc >= GH_SHM_MAX_PROCS)
        return -1;
    int s, rc = -1;
    struct cl_entry *tab = stripe_lock(reg, key, &s);
    struct cl_entry *hit = NULL, *free_e = NULL;
    for (int i = 0; i < GH_CL_PER_STRIPE; i++) {
        struct cl_entry *e = &tab[i];
        if (e->total > 0 && memcmp(e->key, key, 16) == 0) {
            hit = e;
            break;
        }
        if (e->total == 0 && free_e == NULL)
            free_e = e;
    }
    if (hit == NULL && free_e != NULL) {
        hit = free_e;
        memcpy(hit->key, key, 16);
        memset(hit->per_proc, 0, sizeof(hit->per_proc));
    }
    if (hit != NULL && hit->total < limit && hit->per_proc[proc] < UINT16_MAX) {
        hit->per_proc[proc]++;
        hit->total++;
        rc = 0;
    }
    gh_mutex_unlock(&reg->locks[s]);
    return rc;
}

void gh_cl_release(struct gh_cl_region *reg, int proc, const uint8_t key[16])
{
    if (proc < 0 || proc >= GH_SHM_MAX_PROCS)
        return;
    int s;
    struct cl_entry *tab = stripe_lock(reg, key, &s);
    for (int i = 0; i < GH_CL_PER_STRIPE; i++) {
        struct cl_entry *e = &tab[i];
        if (e->total > 0 && memcmp(e->key, key, 16) == 0) {
            if (e->per_proc[proc] > 0) {
                e->per_proc[proc]--;
                e->total--;
            }
            break;
        }
    }
    gh_mutex_unlock(&reg->locks[s]);
}

int gh_cl_count(struct gh_cl_region *reg, const uint8_t key[16])
{
    int s, n = 0;
    struct cl_entry *tab = stripe_lock(reg, key, &s);
    for (int i = 0; i < GH_CL_PER_STRIPE; i++)
        if (tab[i].total > 0 && memcmp(tab[i].key, key, 16) == 0)
            n = tab[i].total;
    gh_mutex_unlock(&reg->locks[s]);
    return n;
}

void gh_cl_proc_exit(struct gh_shm *shm, pid_t pid)
{
    struct gh_shm_proc *p = gh_shm_proc_find(shm, pid);
    if (p == NULL || g_region == NULL)
        return;
    int proc = (int)(p - shm->hdr->procs);
    /* total is the sum of the per-process counts (under the stripe lock),
     * so taking the dead slot's count off it is enough: O(entries). Summing
     * every slot of every entry again (4,096 x 128) was 13% of the master's
     * CPU in a reload (two reaped processes each: a worker, the helper).
     * A free entry (total 0) holds no count. */
    for (int s = 0; s < GH_CL_STRIPES; s++) {
        if (gh_mutex_lock(&g_region->locks[s]) == GH_LOCK_RECOVERED) {
            stripe_recount(g_region, s);
            gh_mutex_consistent(&g_region->locks[s]);
        }
        for (int i = 0; i < GH_CL_PER_STRIPE; i++) {
            struct cl_entry *e = &g_region->entries[s][i];
            if (e->total > 0 && e->per_proc[proc] != 0) {
                e->total -= e->per_proc[proc];
                e->per_proc[proc] = 0;
            }
        }
        gh_mutex_unlock(&g_region->locks[s]);
    }
}
