/*
 * edge.h - the worker's edge protection hooks: access lists, the dynamic
 * blacklist, per-client connection limits and rate limits, called from
 * server/conn.c (accept, close) and server/http1.c (every request).
 */
#ifndef GH_EDGE_H
#define GH_EDGE_H

#include "server/conn.h"

struct gh_req;

/* Master, at start and on every reload, before forking: the shared tables
 * (blacklist and counters, per-client connection counts). Failures are
 * logged; the features then stay off. */
void gh_edge_reserve(struct gh_shm *shm, const struct gh_conf *conf);
/* Master, when it reaps a child: fold its counters, release its counts. */
void gh_edge_proc_exit(struct gh_shm *shm, pid_t pid);

/* Build this worker's access tries and attach the shared tables. 0 or -1. */
int gh_edge_worker_init(struct gh_worker *w);
void gh_edge_worker_exit(struct gh_worker *w);
/* A connection was accepted, or its PROXY header read (c->addr set):
 * false when it must be closed now, without a byte (deny_action = "close",
 * or over max_conns_per_ip; a peer in real_ip.from is not counted). */
bool gh_edge_accept(struct gh_conn *c);
/* max_connections refused a connection: count it. */
void gh_edge_count_connlimit(struct gh_worker *w);
/* A PROXY protocol header was malformed, too late or cut short: count it. */
void gh_edge_count_proxy_rejected(struct gh_worker *w);
/* A client was cut for falling below min_client_rate: count it. */
void gh_edge_count_slow_client(void);
/* The connection is closing: give back what gh_edge_accept took. */
void gh_edge_conn_close(struct gh_conn *c);
/* Every request, before routing: 0, or 403 when the client is denied
 * (access lists or blacklist). */
int gh_edge_access(struct gh_req *r);
/* A route with rate_limit = idx: 0 admitted, or the Retry-After seconds
 * (>= 1) of a refusal (counted; with auto_ban, may ban the client). The key
 * is the limit's template ($remote_addr, $header_NAME, $cookie_NAME); a
 * request whose key is empty (no such header or cookie) is not limited. */
int gh_edge_rate_limit(struct gh_req *r, int idx);
/* Every request when real_ip.from is set, before the access check: when
 * the connection's address is trusted, point r->client at the address
 * found in real_ip.header (modules/realip.h); otherwise leave it. */
void gh_edge_real_ip(struct gh_req *r);
/* May the sender of c's PROXY header (c->addr, the socket's peer) name the
 * client? Anyone when real_ip.from is empty (the listener's setting is the
 * operator's word, as with HAProxy); else only a peer in real_ip.from. */
bool gh_edge_pp_trusted(const struct gh_conn *c);

#endif
