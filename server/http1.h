/*
 * http1.h - the HTTP/1.x server side: reading request heads from clients,
 * policy checks, dispatch (fixed answers or the proxy), writing responses,
 * keep-alive, pipelining and the access log.
 */
#ifndef GH_HTTP1_H
#define GH_HTTP1_H

#include "server/conn.h"
#include "server/request.h"

/* HTTP/1.x on a client connection (server/conn.h's gh_proto). */
extern const struct gh_proto gh_http1_proto;
/* Free cached request objects at worker exit. */
void gh_http1_worker_exit(struct gh_worker *w);

/* Send a response made here (status, optional body, optional Location) and
 * finish the request; close=true adds Connection: close and closes after. */
void gh_http1_respond(struct gh_req *r, int status, const char *body, size_t body_len,
                      const char *location, bool close);
/* The standard short answer for an error status (body "<code> <reason>\n"). */
void gh_http1_error(struct gh_req *r, int status, bool close);
/* Answer with the head h (written by gh_http1_write_head) and body, both
 * kept alive by the caller (r->pool). */
void gh_http1_respond_head(struct gh_req *r, const struct gh_resp_head *h, const char *body,
                           size_t body_len);
/* Reason phrase for a status code. */
const char *gh_http_reason(int status);
/* The standard short body of an error status ("404 Not Found\n", static
 * memory; 500's for a status out of range); its length in *len. */
const char *gh_http_error_body(int status, size_t *len);
/* Fill what every request of connection c starts with (any protocol):
 * its pool, the connection, configuration and client, the TLS facts, an
 * empty header array of limits.max_headers, start time, keep-alive and
 * no upstream. r is zeroed by the caller; io and timer are the
 * protocol's. 0, or -1 out of memory. */
int gh_req_init(struct gh_req *r, struct gh_conn *c, struct gh_pool *pool);

/* Keep-alive bookkeeping used by the proxy when it finishes a request. */
void gh_http1_finish(struct gh_req *r);

/* In conn.c. */
void gh_conn_set_idle(struct gh_conn *c);
void gh_conn_set_active(struct gh_conn *c);

#endif
