/*
 * metrics.h - the request metrics of SPEC section 6, recorded in the LOG
 * phase: gatehouse_requests_total{server,route,code},
 * gatehouse_request_duration_seconds (a histogram per server) and
 * gatehouse_connections{state}.
 *
 * Each process writes only its own slot of the shared region (no lock, no
 * read-modify-write atomic on the request path); the helper sums the slots
 * and the retired totals on read. When a process dies, the master folds its
 * slot into the retired totals (under a sequence count, so a reader never
 * sees a sum go backwards) before the slot is reused.
 */
#ifndef GH_METRICS_H
#define GH_METRICS_H

#include <stdio.h>
#include <sys/types.h>

#include "common/conf.h"
#include "common/shm.h"

extern struct gh_module gh_module_metrics;

/* The master: find or reserve the region (before forking). */
void gh_metrics_reserve(struct gh_shm *shm);
/* The master: a child exited; fold its slot into the retired totals. */
void gh_metrics_proc_exit(struct gh_shm *shm, pid_t pid);

/* A worker: its connections by state, published once a second. */
void gh_metrics_set_connections(uint32_t reading, uint32_t writing, uint32_t idle,
                                uint32_t tunnel);
/* ... and its open HTTP/2 sessions and streams, at the same time. */
void gh_metrics_set_http2(uint32_t sessions, uint32_t streams);
/* The helper: the open HTTP/2 sessions and streams of every worker (as
 * last published). */
void gh_metrics_http2_open(uint32_t *sessions, uint32_t *streams);

/* The helper: write the series in Prometheus text format, labelled with
 * the names of conf (series of servers and routes no longer configured are
 * left out). */
void gh_metrics_write(FILE *f, const struct gh_conf *conf);

/* The label id of a server name and route path (for tests). */
uint64_t gh_metrics_label_id(const char *server, const char *route);

#endif
