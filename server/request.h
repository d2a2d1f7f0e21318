/*
 * request.h - the request as the pipeline and its modules see it, and the
 * module interface. Modules (modules/) include this header, never
 * server/http1.h or server/conn.h: what a module may do with a request is
 * declared here.
 *
 * The pipeline (server/pipeline.c) runs the phases in order, each phase
 * the handlers of the modules that join it, in the order of the module
 * list (modules/modules.c):
 *
 *   ACCESS   who the client is (real_ip) and whether it may ask (access
 *            lists, blacklist), then the protocol-level refusals
 *   ROUTE    path normalization, virtual server and route; redirects; 404
 *   LIMIT    the route's rate limit (after ROUTE, as nginx's limit_req runs
 *            in PREACCESS after the location is found: a limit is a route's)
 *   CONTENT  the first handler that takes the request answers it: a
 *            route's `return`, then the proxy (a cache would come first)
 *   LOG      every finished request, answered or not (the access log)
 *
 * A handler returns a verdict; an error status goes in r->status.
 */
#ifndef GH_REQUEST_H
#define GH_REQUEST_H

#include "common/conf.h"
#include "common/pool.h"
#include "common/shm.h"
#include "common/str.h"
#include "server/http1_parse.h"
#include "modules/acl.h"
#include "modules/route.h"

struct gh_conn;

enum gh_verdict {
    GH_CONTINUE = 0,                    /* on to the next handler */
    GH_ANSWERED,                        /* the handler answered or took the request: stop */
    GH_FAIL,                            /* answer r->status (gh_req_fail), then stop */
    GH_DROP,                            /* close the connection without a byte */
};

enum gh_phase {
    GH_PHASE_ACCESS = 0,
    GH_PHASE_ROUTE,
    GH_PHASE_LIMIT,
    GH_PHASE_CONTENT,
    GH_PHASE_LOG,
    GH_NPHASES
};

#define GH_MODULES_MAX 8

/* A request from its first byte to the end of its response. */
struct gh_req {
    struct gh_conn *conn;               /* the server's; modules do not look inside */
    const struct gh_conf *conf;         /* the worker's configuration */
    struct gh_client *client;           /* the effective client: the connection's, or real_ip's (pool) */
    struct gh_client *conn_client;      /* the connection's own (the PROXY header's or the socket's) */
    struct gh_pool *pool;               /* per-request memory, reset between requests */
    struct gh_req *next_free;
    /* The head as the protocol read it: method, target, path, query,
     * authority and Host, the header fields, the body framing. HTTP/1's
     * parser fills it in place; an HTTP/2 stream fills the same fields from
     * its pseudo-headers. */
    struct gh_http1_request head;       /* points into the connection's input */
    struct gh_route_match match;
    char *norm_path;                    /* normalized path (pool) */
    size_t norm_len;
    gh_msec_t start;                    /* first byte of the head */
    int status;                         /* the status sent to the client (or of a GH_FAIL) */
    uint64_t bytes_sent;                /* response bytes written to the client (head + body) */
    uint64_t head_bytes;                /* of which the response head (final and interim) */
    struct gh_str request_id;           /* client's (if sane) or generated (pool) */
    bool keepalive;                     /* the client connection may serve another request */
    bool head_only;                     /* HEAD: no response body */
    bool has_body;                      /* the request has a body (CL > 0 or chunked) */
    bool body_done;                     /* the whole request body was read */
    bool https;                         /* the client reached us over TLS (or a balancer's did) */
    bool fail_close;                    /* a GH_FAIL answer closes the connection */
    bool body_rewritten;                /* response filters change the body: no Content-Length */

    /* A response produced here (error, return): head (pool) and body. */
    char *out;                          /* NULL until a response is made here */
    size_t out_len, out_off;
    const char *body;
    size_t body_len, body_off;

    void *proxy;                        /* upstream side, when proxied (server/proxy.c) */
    char upstream_addr[64];             /* for the access log; "-" when none */
    int upstream_status;                /* 0 when none */
    int retry_after;                    /* > 0: a Retry-After header on our own response */
    struct gh_str extra_resp_headers;   /* whole "Name: value\r\n" lines added to a proxied response */
    void *mod_ctx[GH_MODULES_MAX];      /* per-request state of module i (gh_module.index) */
};

/* What a module's worker_init gets: the worker's configuration and shared
 * segment, and its process identity. */
struct gh_worker_env {
    const struct gh_conf *conf;
    struct gh_shm *shm;
    pid_t pid;
    uint32_t generation;
    int slot;
};

typedef enum gh_verdict gh_phase_fn(struct gh_req *r);

/* A module: a name, per-worker set-up and tear-down, and a handler for each
 * phase it joins (NULL for the others). */
struct gh_module {
    const char *name;
    int index;                          /* in mod_ctx, set by gh_pipeline_init */
    /* 0, or -1 when the worker cannot start (logged). */
    int (*worker_init)(const struct gh_worker_env *env);
    void (*worker_exit)(void);
    gh_phase_fn *phase[GH_NPHASES];
};

/* The ordered list of modules, NULL-terminated (modules/modules.c). */
extern struct gh_module *const gh_modules[];

/* ---- what a handler may do with a request ---- */

/* Refuse with an error status (the standard short body); close after it
 * when `close` (or when the request has a body we will not read). Returns
 * GH_FAIL for the handler to return. */
static inline enum gh_verdict gh_req_fail(struct gh_req *r, int status, bool close)
{
    r->status = status;
    r->fail_close = close || r->has_body;
    return GH_FAIL;
}

/* Answer the request here: status, optional body (kept alive by the
 * caller until written: static or pool memory), optional Location;
 * close=true closes the connection after it. The request is then the
 * server's: the handler returns GH_ANSWERED. */
void gh_req_respond(struct gh_req *r, int status, const char *body, size_t body_len,
                    const char *location, bool close);

/* Is an access log line wanted (a log configured and open)? */
bool gh_req_log_wanted(const struct gh_req *r);
/* Append one finished access-log line (the worker's buffered log). */
void gh_req_log_line(struct gh_req *r, const char *line, size_t len);

#endif
