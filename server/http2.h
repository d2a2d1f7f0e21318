/*
 * http2.h - HTTP/2 to clients (RFC 9113) with libnghttp2: a session per
 * connection over its transport, each stream a protocol-neutral request
 * (server/request.h) run through the same pipeline and proxied as HTTP/1.1.
 *
 *   http2.c     the session: nghttp2 callbacks, reading into
 *               nghttp2_session_mem_recv, writing what
 *               nghttp2_session_mem_send makes, the streams' life
 *   http2_io.c  a stream's request head (pseudo-headers, RFC 9113 8.3),
 *               its body source and response sink (struct gh_req_io)
 */
#ifndef GH_HTTP2_H
#define GH_HTTP2_H

#include "server/conn.h"

/* HTTP/2 on a client connection (server/conn.h's gh_proto). */
extern const struct gh_proto gh_http2_proto;

/* The client's preface, which h2c with prior knowledge starts with. */
#define GH_HTTP2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define GH_HTTP2_PREFACE_LEN 24

/* Switch connection c to HTTP/2: after ALPN "h2", or on a plain listener
 * with http2 = true when the preface came (early: the bytes already read,
 * preface included, fed to the session first). The connection must hold no
 * request. 0, or -1 (out of memory; the caller closes). */
int gh_http2_start(struct gh_conn *c, const void *early, size_t early_len);

/* The streams c's session has open (0 when c does not speak HTTP/2). */
uint32_t gh_http2_open_streams(const struct gh_conn *c);

/* Free cached stream objects at worker exit. */
void gh_http2_worker_exit(struct gh_worker *w);

#endif
