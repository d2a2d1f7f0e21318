/*
 * nofile.h - how many descriptors a worker needs (RLIMIT_NOFILE), and the
 * default limits.max_connections that fits the limit the master can reach.
 */
#ifndef GH_NOFILE_H
#define GH_NOFILE_H

#include <sys/resource.h>
#include "common/gh.h"

/* Sockets per listener a worker may hold: one per slot, every slot's, since
 * a worker is forked with them all (= GH_MAX_WORKERS = GH_LISTEN_MAX_SLOTS;
 * server/master_prep.c checks it). */
#define GH_NOFILE_SLOTS 64
/* Descriptors beside connections and listeners: logs, pipes, epoll, the
 * segment, the upstream pool's spares. */
#define GH_NOFILE_RESERVE 64
/* The default max_connections where the limit allows it (or is unlimited). */
#define GH_NOFILE_DEFAULT_MAX_CONNECTIONS 10000

/* Descriptors one worker needs for `max_connections` clients (each may hold
 * an upstream connection too) with `nlistens` listeners: 20,128 for 10,000
 * and one listener. */
uint64_t gh_nofile_need(int max_connections, size_t nlistens);

/* The largest max_connections whose gh_nofile_need fits `limit` descriptors,
 * at most GH_NOFILE_DEFAULT_MAX_CONNECTIONS (that when limit is
 * RLIM_INFINITY) and at least 1 (a limit too small for even that gives 1). */
int gh_nofile_max_connections(rlim_t limit, size_t nlistens);

/* The hard RLIMIT_NOFILE of this process: the most the master can raise its
 * soft limit to. RLIM_INFINITY when getrlimit fails (it cannot for this
 * resource; the caller then keeps the default). */
rlim_t gh_nofile_hard_limit(void);

#endif
