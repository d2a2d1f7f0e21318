/*
 * cache.h - the HTTP cache in the pipeline (SPEC section 5): a CONTENT
 * handler that answers fresh hits from the shared store
 * (modules/cache_store.h) before the proxy, and hooks the proxy calls on
 * the upstream's response, which store a cacheable one as it streams to
 * the client (modules/cache_rfc.h decides).
 *
 * What it does: routes with `cache = { ttl }`, GET (HEAD is answered from
 * the GET object), fresh HITs with Age and X-Cache: HIT, MISS / EXPIRED /
 * BYPASS otherwise, only-if-cached (504), hits streamed from the store
 * (cache_hit.c), collapsed forwarding; purge and counts for the admin API
 * (server/admin_cache.c); Vary variants, one per encoding served
 * (cache_vary.c); revalidation with the object's validators and 304
 * refreshes (cache_reval.c); the client's conditionals and Range answered
 * from stored objects (cache_answer.c); stale serving (RFC 5861, and when
 * every server is down). Not yet (see the README): responses delimited by
 * the upstream's close are not stored.
 */
#ifndef GH_CACHE_H
#define GH_CACHE_H

#include "common/conf.h"
#include "common/shm.h"
#include "server/request.h"

struct gh_resp_head;
struct gh_resp_source;

extern struct gh_module gh_module_cache;

/* The master, at start and on every reload, before forking: find or
 * reserve the store when cache.size is set (0: workers forked from now on
 * do not cache; the region is kept). A store of another size stays as it
 * is (a size change takes effect at a restart; logged). */
void gh_cache_reserve(struct gh_shm *shm, const struct gh_conf *conf);
/* The master, when it reaps a child: drop its references and discard what
 * it was writing. */
void gh_cache_proc_exit(struct gh_shm *shm, pid_t pid);

/* The admin API (the helper, forked after gh_cache_reserve, so it has the
 * mapping): the store when this process has one, else NULL; *enabled is
 * whether cache.size is set. A store with !*enabled is the region a reload
 * to cache.size = 0 kept (a later reload back on finds its objects). Purge
 * and stats need no process slot (they take no references). */
struct gh_cache_store *gh_cache_admin_store(bool *enabled);

/* The proxy (server/proxy_response.c), with the upstream's final head,
 * before the header filters run: decide whether to store it, start the
 * object, and add X-Cache to h. filtered: body filters rewrite this body;
 * delimited: its end is known (not close-delimited). */
void gh_cache_resp_head(struct gh_req *r, const struct gh_http1_response *resp,
                        struct gh_resp_head *h, bool filtered, bool delimited);
/* The upstream answered 304 (before anything went to the client): true
 * when it revalidated a stored object, which was refreshed and now
 * answers the request: the proxy lets go of r (upstream first), then
 * calls gh_cache_answer_refreshed, which always answers r (from the
 * object, else an error status). */
bool gh_cache_resp_304(struct gh_req *r, const struct gh_http1_response *resp);
void gh_cache_answer_refreshed(struct gh_req *r);
/* Body bytes on their way to the client, after the body filters (what a
 * hit will send). */
void gh_cache_resp_body(struct gh_req *r, const char *p, size_t n);
/* The proxy: the upstream failed before any of the answer went out (502,
 * 503, 504, or an upstream's 5xx status); all_down: no server of the
 * upstream could be reached. A source that answers the stale object
 * instead (X-Cache: STALE) when stale-if-error allows it, or when all_down
 * and nothing forbids serving stale (RFC 9111 4.2.4: no-cache,
 * must-revalidate, proxy-revalidate, s-maxage); else NULL. */
const struct gh_resp_source *gh_cache_upstream_error(struct gh_req *r, int status,
                                                     bool all_down);
/* The proxy is done with r's upstream side: complete means the whole
 * body was read from the upstream (the object is committed), else it is
 * discarded. */
void gh_cache_resp_end(struct gh_req *r, bool complete);

#endif
