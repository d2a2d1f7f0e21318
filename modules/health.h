/*
 * health.h - active health checks, run by the helper process on its event
 * loop: every server of every upstream with a `health` block is probed
 * every `interval` (non-blocking connect, GET health.path with Host
 * health.host or the server's address, `timeout` for the whole exchange);
 * a status in `expect` is a success. After `fall` failures in a row the
 * server is marked down in its shared slot, after `rise` successes up again
 * (with up_since set, for slow_start). Servers start up. The helper is the
 * only writer of `down` and the rise/fall counters.
 */
#ifndef GH_HEALTH_H
#define GH_HEALTH_H

#include "common/conf.h"
#include "common/loop.h"
#include "modules/upstream_state.h"

struct gh_health;

/* Start probing the servers of conf on loop, against region reg (NULL:
 * private state, as in tests). The first round starts within 100 ms,
 * spread so that probes do not all fire at once. NULL when no upstream has
 * a health block or out of memory. */
struct gh_health *gh_health_start(struct gh_loop *loop, const struct gh_conf *conf,
                                  struct gh_us_region *reg);
/* Stop every probe, close its socket and free everything. NULL is fine. */
void gh_health_stop(struct gh_health *h);
/* Interpret a status line ("HTTP/1.1 200 OK"): the status, or -1. */
int gh_health_status(const char *buf, size_t len);

#endif
