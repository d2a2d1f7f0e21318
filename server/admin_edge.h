/*
 * admin_edge.h - the edge protection part of the admin API: the dynamic
 * blacklist calls and the rejection counters of /status.json and /metrics.
 */
#ifndef GH_ADMIN_EDGE_H
#define GH_ADMIN_EDGE_H

#include <stdio.h>
#include "common/conf.h"
#include "common/str.h"
#include "server/admin_json.h"

/* GET/POST /blacklist, DELETE /blacklist/CIDR (path without the query),
 * with the request body (read by POST; DELETE takes none, or {}). Fills r
 * (a JSON body for a 200, else a reason) and returns r->status. */
int gh_admin_blacklist(struct gh_str method, struct gh_str path, struct gh_str body,
                       struct gh_admin_reply *r);
/* Is path one of ours (/blacklist or /blacklist/...)? */
bool gh_admin_blacklist_path(struct gh_str path);
/* Add "rate_limits" and "edge" to root, the object of /status.json. 0, or
 * -1 when out of memory. */
int gh_admin_edge_json(json_t *root, const struct gh_conf *conf);
/* The edge metrics for /metrics. */
void gh_admin_edge_metrics(FILE *f, const struct gh_conf *conf);

#endif
