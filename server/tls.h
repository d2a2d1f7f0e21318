/*
 * tls.h - TLS termination with OpenSSL.
 *
 * The master builds every SSL_CTX when it loads a configuration (so -t and
 * a reload see a bad certificate before any worker does, and key files may
 * be readable by root only); workers inherit them through fork. A TLS
 * client connection is the handshake protocol (tls_conn.c) until the
 * handshake is done, then the protocol that ALPN chose, over the TLS
 * transport (struct gh_transport with SSL underneath).
 *
 *   tls_ctx.c      contexts: protocols, ciphers, certificates chosen by SNI
 *   tls_conn.c     the transport and the handshake on a client connection
 *   tls_session.c  session tickets and the TLS 1.2 session cache, shared by
 *                  every worker through the segment
 *   tls_upstream.c TLS to upstreams: client contexts, the client transport,
 *                  the handshake after connect, session resumption
 *   tls_ocsp.c     OCSP stapling: each certificate's responder or
 *                  tls.ocsp_file, the shared slots, the status callback
 *   tls_ocsp_fetch.c  the helper's fetches from the responders
 */
#ifndef GH_TLS_H
#define GH_TLS_H

#include <stdio.h>

#include "common/conf.h"
#include "common/shm.h"
#include "server/transport.h"

struct gh_conn;
struct gh_tls;

/* Build the server contexts of conf. *out is NULL when conf has no TLS
 * listener. Errors go to errs as "FILE:LINE: message" (warnings, such as
 * an expired certificate, as "FILE:LINE: warning: message"); 0 or -1. */
int gh_tls_load(const struct gh_conf *conf, FILE *errs, struct gh_tls **out);
void gh_tls_free(struct gh_tls *tls);

/* The master: reserve the shared TLS state (ticket keys, session cache)
 * in shm; keeps what an earlier generation or binary left. 0 or -1. */
int gh_tls_shm_attach(struct gh_shm *shm, const struct gh_conf *conf);

/* OCSP stapling (tls_ocsp.c, tls_ocsp_fetch.c). The master: reserve the
 * slots of fetched responses (with tls.ocsp_stapling; once reserved, kept
 * for the segment's life). 0, or -1 (logged: nothing fetched is stapled). */
int gh_tls_ocsp_shm_attach(struct gh_shm *shm, const struct gh_conf *conf);
/* The helper: fetch the responses of the current contexts' certificates
 * on loop, and keep them fresh; NULL when there is nothing to fetch. Stop
 * closes its sockets and frees it. */
struct gh_loop;
struct gh_tls_ocsp;
struct gh_tls_ocsp *gh_tls_ocsp_start(struct gh_loop *loop);
void gh_tls_ocsp_stop(struct gh_tls_ocsp *f);
/* Totals over every certificate's slot, since the segment was made:
 * staples sent, good responses fetched, failed fetches (for /metrics). */
struct gh_tls_ocsp_stats {
    uint64_t served, fetched, failures;
};
void gh_tls_ocsp_stats(struct gh_tls_ocsp_stats *out);

/* The contexts the worker serves with (set before the workers fork). */
void gh_tls_set_current(struct gh_tls *tls);
struct gh_tls *gh_tls_current(void);

/* Start TLS on an accepted connection of a TLS listener: the transport
 * becomes TLS and the connection's protocol the handshake. `early` holds
 * bytes already read from the socket (after a PROXY header), fed to the
 * handshake first. 0, or -1 (the caller closes). */
int gh_tls_accept(struct gh_conn *c, const void *early, size_t early_len);

/* A verified client certificate (tls.client_ca), as passed upstream in
 * X-Client-Cert-* and logged: RFC 2253 names (control and non-ASCII bytes
 * escaped, so they are safe in a header), the serial in hex. */
struct gh_tls_client_cert {
    const char *subject, *issuer, *serial;
    const char *verify;                 /* "SUCCESS" (a failure ends the handshake) */
};
struct gh_pool;
/* The client certificate of a TLS connection, allocated from pool; NULL
 * when there is none (or out of memory). */
const struct gh_tls_client_cert *gh_tls_client_cert(const struct gh_transport *t,
                                                     struct gh_pool *pool);

/* What a TLS connection negotiated (NULL on a plain transport). */
const char *gh_tls_protocol(const struct gh_transport *t);
const char *gh_tls_cipher(const struct gh_transport *t);
/* The server name the client sent (SNI), or NULL. */
const char *gh_tls_sni(const struct gh_transport *t);
static inline bool gh_transport_is_tls(const struct gh_transport *t)
{
    extern const struct gh_transport_ops gh_transport_tls;
    return t->ops == &gh_transport_tls;
}

/* ---- TLS to upstreams (tls_upstream.c) ---- */

struct gh_tls_upstreams;                /* the client contexts of one configuration */
struct gh_tls_client;                   /* one upstream's */

/* Build a client context for every upstream of conf with tls.enable: TLS
 * 1.2 and 1.3, the certificate verified against tls.ca or the system's
 * store (none with tls.verify = false, warned about), the host checked
 * and sent as SNI. *out is NULL when no upstream has TLS. Errors go to
 * errs as "FILE:LINE: message"; 0 or -1. The master calls it at every
 * load, next to gh_tls_load, and frees the result the same way. */
int gh_tls_upstream_load(const struct gh_conf *conf, FILE *errs, struct gh_tls_upstreams **out);
void gh_tls_upstream_free(struct gh_tls_upstreams *t);
/* The contexts the workers connect with (set before they fork). */
void gh_tls_upstream_set_current(struct gh_tls_upstreams *t);
struct gh_tls_upstreams *gh_tls_upstream_current(void);
/* Upstream idx of conf: *out is its client side, NULL when it speaks plain
 * HTTP. -1 when it has tls.enable but the current contexts were not built
 * for conf. */
int gh_tls_client_for(const struct gh_conf *conf, size_t idx, struct gh_tls_client **out);
/* Make tp (a socket connecting to server `server` of tc's upstream) a TLS
 * client transport, with SNI, the name to verify and the server's last
 * session set; the handshake has not started. 0, or -1 (tp untouched; the
 * caller closes the socket). */
int gh_tls_client_start(struct gh_tls_client *tc, size_t server, struct gh_transport *tp);
/* One step of the client handshake, once the TCP connect is done: GH_OK
 * (done), GH_AGAIN (wait for the socket), or GH_ERROR with the reason in
 * why (a failed certificate check reads "certificate verify failed:
 * REASON"). */
int gh_tls_client_handshake(struct gh_transport *tp, char *why, size_t len);
/* After GH_AGAIN: does the handshake wait for the socket to be writable
 * (else readable)? For level-triggered callers. */
bool gh_tls_client_wants_write(const struct gh_transport *t);
/* Did the handshake resume a session? */
bool gh_tls_client_resumed(const struct gh_transport *t);
static inline bool gh_transport_is_tls_client(const struct gh_transport *t)
{
    extern const struct gh_transport_ops gh_transport_tls_client;
    return t->ops == &gh_transport_tls_client;
}

#endif
