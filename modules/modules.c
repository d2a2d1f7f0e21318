/*
 * modules.c - the modules in the order their handlers run within a phase
 * (server/request.h). A new module adds itself here.
 */
#include "modules/accesslog.h"
#include "modules/cache.h"
#include "modules/edge.h"
#include "modules/metrics.h"
#include "modules/route_phase.h"
#include "server/pipeline.h"

struct gh_module *const gh_modules[] = {
    &gh_module_edge,                    /* ACCESS: real_ip, access lists; LIMIT: rate limits */
    &gh_module_http_checks,             /* ACCESS: 405, 417, 413 */
    &gh_module_route,                   /* ROUTE: normalize, match, redirect, 404; CONTENT: return */
    &gh_module_cache,                   /* CONTENT: fresh hits; the proxy stores misses */
    &gh_module_proxy,                   /* CONTENT: the upstream */
    &gh_module_accesslog,               /* LOG */
    &gh_module_metrics,                 /* LOG: requests_total, duration histogram */
    NULL,
};
