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

#endif
