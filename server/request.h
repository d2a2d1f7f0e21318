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

#include <sys/types.h>

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

struct gh_timer;
struct gh_req;
struct iovec;

/* How the response body is delimited, as the head tells the client. */
enum gh_resp_body {
    GH_RESP_NO_BODY = 0,                /* HEAD, 204, 304, 1xx */
    GH_RESP_LENGTH,                     /* content_length bytes (Content-Length kept) */
    GH_RESP_STREAM,                     /* length unknown: the protocol delimits it
                                           (HTTP/1.1 chunked, HTTP/1.0 close, HTTP/2 END_STREAM) */
};

/* A response head on its way to the client: the status, the upstream's
 * fields (each kept or dropped) and the fields added here, as the header
 * filters (server/filter.h) edit it and the protocol's sink writes it.
 * Framing is not a field here: the sink writes Transfer-Encoding and
 * Connection (HTTP/1) from `body` and r->keepalive. */
struct gh_resp_head {
    int status;
    struct gh_str reason;               /* the upstream's phrase, or empty */
    int version_minor;                  /* the upstream's HTTP/1.x minor version (Via) */
    const struct gh_http_header *fields;/* the upstream's */
    size_t nfields;
    uint8_t *drop;                      /* drop[i]: fields[i] is not forwarded */
    struct gh_http_header *add;         /* added here, written after the kept ones */
    size_t nadd, add_max;
    size_t bytes;                       /* the fields written as "Name: value\r\n" lines take
                                           at most this (bounds the sink's writing) */
    enum gh_resp_body body;
    int64_t length;                     /* body == GH_RESP_LENGTH: its length; else -1 */
    struct gh_str upgrade;              /* 101: the protocol switched to */
};

/* What the protocol carrying a request does for it: the request body as
 * a source of bytes and the response as a sink. HTTP/1 implements it over
 * its connection (server/http1_io.c), an HTTP/2 stream over its frames
 * (server/http2_io.c), so the proxy (server/proxy.c) serves both with the
 * same code. */
struct gh_req_io {
    /* ---- request body source ---- */
    /* The request is being forwarded: keep what the head points to and
     * check the body bytes already read; upgrade: the connection is
     * tunnelled after the head. 0, an error status to answer (400, 413)
     * before anything goes upstream, or -1 (out of memory). */
    int (*body_start)(struct gh_req *r, bool upgrade);
    /* The next span of body bytes, without transfer framing, at *data: its
     * length (> 0); 0 when only framing was taken (call again); GH_DONE
     * when the body is over; GH_AGAIN (the client event resumes the
     * reader); GH_ERROR (the client left); -400 (malformed) or -413 (over
     * max_body_size). The span is valid until body_consume; *last is set
     * when it ends the body. */
    ssize_t (*body_next)(struct gh_req *r, const char **data, bool *last);
    /* The last span was sent or copied: release it. */
    void (*body_consume)(struct gh_req *r);
    /* Body bytes taken from the client so far. */
    uint64_t (*body_taken)(struct gh_req *r);

    /* ---- response sink ---- */
    /* Queue a 1xx interim answer; raw: its bytes as the upstream sent
     * them (kept alive by the caller until sent). */
    void (*resp_interim)(struct gh_req *r, const struct gh_resp_head *h, const char *raw,
                         size_t len);
    /* Queue the final head (after the header filters). 0 or -1. */
    int (*resp_head)(struct gh_req *r, const struct gh_resp_head *h);
    /* Queue body bytes, not copied: kept alive by the caller until a
     * resp_send reports them drained. */
    void (*resp_data)(struct gh_req *r, const struct iovec *iov, int n, size_t total);
    /* Queue the end of the body; true when that queued bytes. */
    bool (*resp_end)(struct gh_req *r);
    /* Send what is queued: bytes sent (>= 0), GH_AGAIN or GH_ERROR;
     * *drained when nothing is left queued. */
    ssize_t (*resp_send)(struct gh_req *r, bool *drained);
    /* Response bytes sent but not yet acknowledged by the client, or -1
     * when unknown (limits.min_client_rate). */
    int64_t (*resp_unacked)(struct gh_req *r);

    /* ---- the end of the request ---- */
    /* The response is complete: log, then keep-alive or close. */
    void (*finish)(struct gh_req *r);
    /* Answer an error status from here (nothing of a response sent yet). */
    void (*error)(struct gh_req *r, int status, bool close);
    /* Answer from here (gh_req_respond): status, optional body (static or
     * pool memory), optional Location; close: the connection (HTTP/1) or
     * the rest of the request (HTTP/2) is not read after it. */
    void (*respond)(struct gh_req *r, int status, const char *body, size_t body_len,
                    const char *location, bool close);
    /* Give up mid-response: the client sees the connection (HTTP/1) or
     * the stream (HTTP/2) reset. */
    void (*reset)(struct gh_req *r);
};

/* A request from its first byte to the end of its response. */
struct gh_req {
    struct gh_conn *conn;               /* the server's; modules do not look inside */
    const struct gh_req_io *io;         /* the protocol's side of this request */
    struct gh_timer *timer;             /* the client-side timer the content handler may arm */
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
    /* W3C Trace Context: the client's traceparent when it is valid, else
     * one made here (sampled flag off); trace_id is its 32 hex digits. */
    struct gh_str traceparent, trace_id;
    bool trace_kept;                    /* the client's: its tracestate goes along */
    bool keepalive;                     /* the client connection may serve another request */
    bool head_only;                     /* HEAD: no response body */
    bool has_body;                      /* the request has a body (CL > 0 or chunked) */
    bool body_done;                     /* the whole request body was read */
    bool https;                         /* the client reached us over TLS (or a balancer's did) */
    bool http2;                         /* an HTTP/2 stream (head.version_minor is then 1) */
    /* What the client's TLS connection negotiated; NULL on plain ones. */
    const char *tls_protocol, *tls_cipher;
    const char *tls_sni;                /* the server name it sent, or NULL */
    const struct gh_tls_client_cert *client_cert;   /* mTLS: the verified certificate */
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
    struct gh_str set_cookie;           /* a Set-Cookie value added to a proxied response (sticky) */
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

/* Answer the request here with a full head h (its fields kept alive by
 * the caller: r->pool) and body (the same; not sent for HEAD). The
 * request is then the server's: the handler returns GH_ANSWERED. Used for
 * cache hits. */
void gh_req_respond_head(struct gh_req *r, const struct gh_resp_head *h, const char *body,
                         size_t body_len);

/* Is an access log line wanted (a log configured and open)? */
bool gh_req_log_wanted(const struct gh_req *r);
/* Append one finished access-log line (the worker's buffered log). */
void gh_req_log_line(struct gh_req *r, const char *line, size_t len);

#endif
