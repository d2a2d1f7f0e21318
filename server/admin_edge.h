/*
 * admin_edge.h - the edge protection part of the admin API: the dynamic
 * blacklist calls and the rejection counters of /status.json and /metrics.
 */
#ifndef GH_ADMIN_EDGE_H
#define GH_ADMIN_EDGE_H

#include <stdio.h>
#include "common/conf.h"
#include "common/str.h"

/* GET/POST /blacklist, DELETE /blacklist/CIDR (path without the query).
 * Returns the HTTP status and sets *body (malloc'd JSON, *blen bytes; NULL
 * when out of memory). *allow is set for a 405. */
int gh_admin_blacklist(struct gh_str method, struct gh_str path, struct gh_str body,
                       char **out, size_t *olen, const char **allow);
/* Is path one of ours (/blacklist or /blacklist/...)? */
bool gh_admin_blacklist_path(struct gh_str path);
/* ,"edge":{...} for /status.json. */
void gh_admin_edge_json(FILE *f, const struct gh_conf *conf);
/* The edge metrics for /metrics. */
void gh_admin_edge_metrics(FILE *f, const struct gh_conf *conf);

#endif
