/*
 * nofile.c - descriptors per worker and the max_connections that fits them.
 */
#include "common/nofile.h"

uint64_t gh_nofile_need(int max_connections, size_t nlistens)
{
    /* A client and its upstream connection each, every slot's listening
     * socket, and the reserve. */
    return (uint64_t)(max_connections > 0 ? max_connections : 0) * 2
           + (uint64_t)nlistens * GH_NOFILE_SLOTS + GH_NOFILE_RESERVE;
}

int gh_nofile_max_connections(rlim_t limit, size_t nlistens)
{
    if (limit == RLIM_INFINITY)
        return GH_NOFILE_DEFAULT_MAX_CONNECTIONS;
    uint64_t fixed = gh_nofile_need(0, nlistens);
    uint64_t n = (uint64_t)limit > fixed ? ((uint64_t)limit - fixed) / 2 : 0;
    if (n < 1)
        return 1;
    return n >= GH_NOFILE_DEFAULT_MAX_CONNECTIONS ? GH_NOFILE_DEFAULT_MAX_CONNECTIONS : (int)n;
}

rlim_t gh_nofile_hard_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return RLIM_INFINITY;
    return rl.rlim_max;
}
