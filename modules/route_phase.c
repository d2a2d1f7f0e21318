/*
 * route_phase.c - the router in the pipeline (see route_phase.h).
 */
#include <stdio.h>
#include <string.h>

#include "modules/balance_key.h"
#include "modules/route_phase.h"
#include "server/reqid.h"

/* Per worker: regex match data is not shared between processes. */
static struct gh_router *router;

static int route_worker_init(const struct gh_worker_env *env)
{
    router = gh_router_build(env->conf, stderr);
    return router == NULL ? -1 : 0;
}

static void route_worker_exit(void)
{
    gh_router_free(router);
    router = NULL;
}

/* redirect_https: 301 (GET, HEAD) or 308 (other methods keep their body)
 * to the same host, without its port, and the same path and query. A Host
 * that is not a plain name or address literal gets a 400 rather than being
 * echoed into a Location. */
static enum gh_verdict redirect_https(struct gh_req *r, struct gh_str host)
{
    const struct gh_http1_request *h = &r->head;
    size_t n = host.len;
    if (n > 0 && host.p[0] == '[') {
        const char *end = memchr(host.p, ']', n);
        n = end != NULL ? (size_t)(end - host.p) + 1 : 0;
    } else {
        const char *colon = memchr(host.p, ':', n);
        if (colon != NULL)
            n = (size_t)(colon - host.p);
    }
    bool ok = n > 0;
    for (size_t i = 0; i < n && ok; i++) {
        unsigned char ch = (unsigned char)host.p[i];
        ok = (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') || ch == '.'
             || ch == '-' || ch == '_' || (host.p[0] == '[' && (ch == ':' || ch == '[' || ch == ']'));
    }
    size_t size = sizeof("https://") + n + h->path.len + 1 + h->query.len;
    char *loc = ok ? gh_palloc(r->pool, size) : NULL;
    if (loc == NULL)
        return gh_req_fail(r, 400, true);
    int len = snprintf(loc, size, "https://%.*s%.*s%s%.*s", (int)n, host.p, (int)h->path.len,
                       h->path.p, h->query.len > 0 ? "?" : "", (int)h->query.len, h->query.p);
    if (len < 0 || (size_t)len >= size)
        return gh_req_fail(r, 500, true);
    bool get = h->method_id == GH_M_GET || h->method_id == GH_M_HEAD;
    gh_req_respond(r, get ? 301 : 308, NULL, 0, loc, r->has_body);
    return GH_ANSWERED;
}

/* ROUTE: normalize the path (400 for %00 or ".." above the root), find the
 * virtual server and route (nginx's order, modules/route.c), redirect to
 * https where asked, 404 when nothing matches. */
static enum gh_verdict route_request(struct gh_req *r)
{
    const struct gh_http1_request *h = &r->head;
    r->norm_path = gh_palloc(r->pool, h->path.len + 1);
    if (r->norm_path == NULL)
        return GH_DROP;                 /* out of memory: close this connection */
    ssize_t nlen = gh_path_normalize(h->path, r->norm_path);
    if (nlen < 0)
        return gh_req_fail(r, 400, true);
    r->norm_len = (size_t)nlen;
    struct gh_str host = h->authority.len > 0 ? h->authority : h->host;
    struct gh_str path = gh_str_make(r->norm_path, r->norm_len);
    if (host.len == 0 && r->tls_sni != NULL)
        host = gh_str_make(r->tls_sni, strlen(r->tls_sni));     /* HTTP/1.0 without Host */
    if (gh_router_match(router, host, path, &r->match) == -1)
        return gh_req_fail(r, 500, true);       /* a regex hit its match limit */
    /* A Host naming another server than SNI is routed by Host, as nginx
     * does, unless tls.strict_sni asks for 421 (RFC 9110 15.5.20). */
    if (r->tls_sni != NULL && r->conf->tls.strict_sni && r->match.vserver != NULL) {
        struct gh_route_match by_sni;
        if (gh_router_match(router, gh_str_make(r->tls_sni, strlen(r->tls_sni)), path,
                            &by_sni) == 0 && by_sni.vserver != r->match.vserver)
            return gh_req_fail(r, 421, false);
    }
    if (r->match.vserver != NULL && r->match.vserver->redirect_https && !r->https)
        return redirect_https(r, host);
    if (r->match.vserver == NULL || r->match.route == NULL)
        return gh_req_fail(r, 404, false);
    return GH_CONTINUE;
}

/* CONTENT: a `return` route is answered here. */
static enum gh_verdict route_return(struct gh_req *r)
{
    const struct gh_conf_route *rt = r->match.route;
    if (!rt->has_return)
        return GH_CONTINUE;
    const char *body = rt->ret.body;
    gh_req_respond(r, rt->ret.status, body, body ? strlen(body) : 0, rt->ret.location,
                   r->has_body);
    return GH_ANSWERED;
}

/* The upstream of a split route: by weight, per request, or stably per
 * client with split_by ($remote_addr is r->client's). Out of line: the
 * key buffer stays off the common path's stack. */
static __attribute__((noinline)) int split_upstream(struct gh_req *r,
                                                    const struct gh_conf_route *rt)
{
    char key[1024];
    size_t klen = rt->split_by != NULL && rt->split_by[0] != '\0'
                      ? gh_balance_key(r, rt->split_by, key, sizeof(key))
                      : 0;
    return gh_route_split(rt, klen > 0, klen > 0 ? gh_balance_hash64(key, klen) : 0,
                          gh_reqid_random());
}

int gh_route_upstream(struct gh_req *r)
{
    const struct gh_conf_route *rt = r->match.route;
    int up = rt->nsplits > 0 ? split_upstream(r, rt) : rt->upstream_idx;
    return up >= 0 && (size_t)up < r->conf->nupstreams ? up : -1;
}

struct gh_module gh_module_route = {
    .name = "route",
    .worker_init = route_worker_init,
    .worker_exit = route_worker_exit,
    .phase = { [GH_PHASE_ROUTE] = route_request, [GH_PHASE_CONTENT] = route_return },
};
