/*
 * http1.h - the HTTP/1.x server side: reading request heads from clients,
 * policy checks, dispatch (fixed answers or the proxy), writing responses,
 * keep-alive, pipelining and the access log.
 */
#ifndef GH_HTTP1_H
#define GH_HTTP1_H

#include "server/conn.h"
#include "modules/route.h"

/* A request from its first byte to the end of its response. */
struct gh_req {
    struct gh_conn *conn;
    const struct gh_client *client;     /* the effective client: &conn->addr, or real_ip's (pool) */
    struct gh_pool *pool;               /* per-request memory, reset between requests */
    struct gh_req *next_free;
    struct gh_http1_parser parser;
    struct gh_http1_request head;       /* points into conn->in */
    struct gh_route_match match;
    char *norm_path;                    /* normalized path (pool) */
    size_t norm_len;
    gh_msec_t start;                    /* first byte of the head */
    int status;                         /* the status sent to the client */
    uint64_t bytes_sent;                /* response bytes written to the client (head + body) */
    uint64_t head_bytes;                /* of which the response head (final and interim) */
    struct gh_str request_id;           /* client's (if sane) or generated (pool) */
    bool keepalive;                     /* the client connection may serve another request */
    bool head_only;                     /* HEAD: no response body */
    bool has_body;                      /* the request has a body (CL > 0 or chunked) */
    bool body_done;                     /* the whole request body was read */

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
};

/* Client socket events (the io callback of every client connection). */
void gh_http1_on_event(struct gh_io *io, uint32_t revents);
/* The connection timer fired. */
void gh_http1_timeout(struct gh_conn *c);
/* The connection is closing: release its request and anything upstream. */
void gh_http1_abort(struct gh_conn *c);
/* Build the worker's router. 0 or -1 (errors on stderr). */
int gh_http1_worker_init(struct gh_worker *w);
/* Free cached request objects at worker exit. */
void gh_http1_worker_exit(struct gh_worker *w);

/* Send a response made here (status, optional body, optional Location) and
 * finish the request; close=true adds Connection: close and closes after. */
void gh_http1_respond(struct gh_req *r, int status, const char *body, size_t body_len,
                      const char *location, bool close);
/* The standard short answer for an error status (body "<code> <reason>\n"). */
void gh_http1_error(struct gh_req *r, int status, bool close);
/* Reason phrase for a status code. */
const char *gh_http_reason(int status);

/* Append the access log line of a finished request. */
void gh_http1_log_request(struct gh_req *r);

/* Keep-alive bookkeeping used by the proxy when it finishes a request. */
void gh_http1_finish(struct gh_req *r);

/* In conn.c. */
void gh_conn_set_idle(struct gh_conn *c);
void gh_conn_set_active(struct gh_conn *c);

#endif
