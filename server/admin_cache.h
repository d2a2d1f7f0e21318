/*
 * admin_cache.h - the cache part of the admin API (SPEC section 6):
 * GET /cache (counts), POST /cache/purge ({"url": ...} or {"prefix": ...})
 * and the cache's store series of /metrics. Served by the helper, which
 * inherits the store's mapping from the master (modules/cache.h
 * gh_cache_admin_store).
 */
#ifndef GH_ADMIN_CACHE_H
#define GH_ADMIN_CACHE_H

#include <stdio.h>
#include "common/conf.h"
#include "common/str.h"
#include "server/admin_json.h"

/* Is path one of ours (/cache, /cache/...)? */
bool gh_admin_cache_path(struct gh_str path);
/* GET /cache, POST /cache/purge (path without the query) with the
 * request body. Fills r (a JSON body for a 200, else a reason) and returns
 * r->status. */
int gh_admin_cache(const struct gh_conf *conf, struct gh_str method, struct gh_str path,
                   struct gh_str body, struct gh_admin_reply *r);
/* gatehouse_cache_objects, _bytes, _inserts_total, _evictions_total,
 * _purged_total for /metrics (zeros without a store). */
void gh_admin_cache_metrics(FILE *f);

#endif
