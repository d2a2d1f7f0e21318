/*
 * admin.h - the admin API (SPEC section 6), served by the helper process on
 * admin.address: GET /status.json, /status (HTML), /metrics (Prometheus
 * text), POST /upstreams/NAME/servers/ADDR/drain and .../enable. With
 * admin.token set every call needs "Authorization: Bearer TOKEN" (401).
 * One request per connection (Connection: close), heads up to 8 KB, 10 s
 * to send one.
 */
#ifndef GH_ADMIN_H
#define GH_ADMIN_H

#include <jansson.h>
#include <stdio.h>

#include "common/conf.h"
#include "common/loop.h"
#include "common/str.h"
#include "modules/upstream_state.h"

struct gh_admin;

/* Accept admin connections from the listening socket fd (non-blocking) on
 * loop. NULL (logged) on failure. The caller keeps fd. */
struct gh_admin *gh_admin_start(struct gh_loop *loop, int fd, const struct gh_conf *conf,
                                struct gh_us_region *reg);
/* Close every connection, stop accepting, free. NULL is fine. */
void gh_admin_stop(struct gh_admin *a);

/* Bind and listen on addr (SO_REUSEADDR and SO_REUSEPORT, so that a new
 * binary on USR2 can bind it too); logs "admin listening on ADDR:PORT" at
 * notice level. The fd, or -1 (logged). */
int gh_admin_listen(const struct gh_conf_addr *addr);

/* The status document: {"pid", "latency_bounds_ms", "upstreams": [...],
 * "edge"} (README, the admin API). A new reference, or NULL when out of
 * memory. */
json_t *gh_admin_status_doc(const struct gh_conf *conf, struct gh_us_region *reg);
/* The JSON of GET /status.json (malloc'd, NUL-terminated, *len bytes), or
 * NULL when out of memory. */
char *gh_admin_status_json(const struct gh_conf *conf, struct gh_us_region *reg, size_t *len);
/* The dashboard of GET /status (HTML), likewise. */
char *gh_admin_status_page(const struct gh_conf *conf, struct gh_us_region *reg, size_t *len);
/* The Prometheus text of GET /metrics, likewise. */
char *gh_admin_metrics(const struct gh_conf *conf, struct gh_us_region *reg, size_t *len);
/* Close the open_memstream f over *buf: *buf (the caller frees it), or NULL
 * (and *buf freed) when a write or the close failed. */
char *gh_admin_finish(FILE *f, char **buf);
/* Handle one request: method and target (raw), the Authorization header
 * value (NULL when absent). Returns a whole HTTP response (malloc'd, *len
 * bytes) or NULL when out of memory. Exposed for unit tests. */
char *gh_admin_handle(const struct gh_conf *conf, struct gh_us_region *reg, struct gh_str method,
                      struct gh_str target, const struct gh_str *auth, size_t *len);
/* The same with the request body (POST /blacklist). */
char *gh_admin_handle_body(const struct gh_conf *conf, struct gh_us_region *reg,
                           struct gh_str method, struct gh_str target, const struct gh_str *auth,
                           struct gh_str body, size_t *len);

#endif
