/*
 * edge.h - the worker's edge protection hooks: access lists, the dynamic
 * blacklist, per-client connection limits and rate limits, called from
 * server/conn.c (accept, close) and server/http1.c (every request).
 */
#ifndef GH_EDGE_H
#define GH_EDGE_H

#include "server/request.h"

/* The pipeline module: real_ip and the access check (ACCESS), the route's
 * rate limit (LIMIT). */
extern struct gh_module gh_module_edge;

/* Master, at start and on every reload, before forking: the shared tables
 * (blacklist and counters, per-client connection counts). Failures are
 * logged; the features then stay off. */
void gh_edge_reserve(struct gh_shm *shm, const struct gh_conf *conf);
/* Master, when it reaps a child: fold its counters, release its counts. */
void gh_edge_proc_exit(struct gh_shm *shm, pid_t pid);

/* Connection hooks (server/conn.c, server/http1.c). */
/* A connection from `addr` was accepted, or its PROXY header read: false
 * when it must be closed now, without a byte (deny_action = "close", or
 * over max_conns_per_ip; a peer in real_ip.from is not counted). Sets
 * *cl_held when it took a max_conns_per_ip count. */
bool gh_edge_accept(const struct gh_client *addr, bool *cl_held);
/* The connection is closing: give back what gh_edge_accept took. */
void gh_edge_conn_release(const struct gh_client *addr, bool *cl_held);
/* max_connections refused a connection: count it. */
void gh_edge_count_connlimit(void);
/* A PROXY protocol header was malformed, too late or cut short: count it. */
void gh_edge_count_proxy_rejected(void);
/* A client was cut for falling below min_client_rate: count it. */
void gh_edge_count_slow_client(void);
/* Count one event of this worker (enum gh_edge_counter, modules/blacklist.h). */
void gh_edge_count_event(int which);
/* May the sender of a PROXY header (addr, the socket's peer) name the
 * client? Anyone when real_ip.from is empty (the listener's setting is the
 * operator's word, as with HAProxy); else only a peer in real_ip.from. */
bool gh_edge_pp_trusted(const struct gh_client *addr);

#endif
