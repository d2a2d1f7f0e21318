/*
 * connlimit.h - limits.max_conns_per_ip across all workers: one shared
 * table (region "connlimit") of {client, total, count per process slot},
 * under striped robust mutexes. A connection takes a count at accept and
 * gives it back when it closes (gh_conn_close, every close path); when a
 * worker dies the master releases every count its process slot held.
 */
#ifndef GH_CONNLIMIT_H
#define GH_CONNLIMIT_H

#include "common/shm.h"

#define GH_CL_STRIPES 64
#define GH_CL_PER_STRIPE 64             /* entries per stripe: 4096 clients at once */

struct gh_cl_region;

/* Master, at start and reload, before forking. 0 or -1 (logged). */
int gh_cl_reserve(struct gh_shm *shm);
struct gh_cl_region *gh_cl_region(void);
/* Take a connection for key in process slot proc: 0, or -1 when the client
 * already holds `limit` connections, or the table has no room for it (a
 * full table refuses rather than fails open). Takes one stripe lock. */
int gh_cl_acquire(struct gh_cl_region *reg, int proc, const uint8_t key[16], int limit);
/* Give back one connection taken by gh_cl_acquire. */
void gh_cl_release(struct gh_cl_region *reg, int proc, const uint8_t key[16]);
/* Connections currently held by key (all processes). */
int gh_cl_count(struct gh_cl_region *reg, const uint8_t key[16]);
/* Master, after reaping pid: release everything its slot held. */
void gh_cl_proc_exit(struct gh_shm *shm, pid_t pid);

#endif
