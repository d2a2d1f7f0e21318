/*
 * tls_priv.h - what the TLS files share (see tls.h).
 */
#ifndef GH_TLS_PRIV_H
#define GH_TLS_PRIV_H

#include <openssl/ssl.h>

#include "server/tls.h"

/* The certificates for one set of names: one context holding an RSA and
 * an ECDSA certificate (OpenSSL picks by the client's signature
 * algorithms). */
struct gh_tls_group {
    SSL_CTX *ctx;
    char **names;                       /* lower case; "*.example.com" kept as written */
    size_t nnames;
    unsigned key_types;                 /* TLS_KEY_* bits */
    int line;                           /* of the first certificate */
};

struct gh_tls_name {
    const char *name;                   /* exact: "www.example.com"; wildcard: ".example.com" */
    struct gh_tls_group *group;
};

struct gh_tls {
    struct gh_tls_group *groups;        /* groups[0] is the default (the first certificate) */
    size_t ngroups;
    struct gh_tls_name *exact, *wild;   /* sorted by name */
    size_t nexact, nwild;
    bool strict_sni;
};

/* The group whose names cover `host` (exact, then wildcard), or NULL. */
struct gh_tls_group *gh_tls_find_group(const struct gh_tls *tls, const char *host);

/* tls_session.c: set up a server context for tickets from the segment and
 * the shared session cache. */
void gh_tls_session_setup(SSL_CTX *ctx, const struct gh_conf_tls *conf);

#define GH_TLS_FATAL 1u                 /* gh_transport.flags: no close_notify after this */

/* tls_conn.c: the transport ops both sides share (t->ctx is the SSL). */
ssize_t gh_tls_io_read(struct gh_transport *t, void *buf, size_t len);
/* Writes iov as records, gathering small pieces into one; partial writes. */
ssize_t gh_tls_io_writev(struct gh_transport *t, const struct iovec *iov, int iovcnt);
/* close_notify (unless a fatal error was seen), then the FIN. */
int gh_tls_io_shutdown(struct gh_transport *t);
int64_t gh_tls_io_unacked(const struct gh_transport *t);
/* A close_notify if it fits, SSL_free, close(2). */
void gh_tls_io_close(struct gh_transport *t);

/* tls_conn.c: a socket BIO over fd (reads with read(2), writes with
 * send(2) and MSG_NOSIGNAL) that first returns the `len` bytes at `early`
 * (copied; none when len is 0). NULL when out of memory. The SSL given it
 * by SSL_set_bio frees it. */
BIO *gh_tls_bio_new(int fd, const void *early, size_t len);
/* Did the last read(2) of such a BIO drain the socket (a short read or
 * EAGAIN)? With edge-triggered epoll, a socket that was not drained may
 * hold bytes no new event will announce. */
bool gh_tls_bio_drained(BIO *b);

/* Where loading a configuration's contexts reports to (tls_ctx.c,
 * tls_upstream.c). */
struct gh_tls_loader {
    const struct gh_conf *conf;
    FILE *errs;                         /* errors: "FILE:LINE: message" */
    int nerrors;
};
/* An error at line of the configuration file, counted. */
void gh_tls_load_error(struct gh_tls_loader *L, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A warning, to the error log: "FILE:LINE: warning: message". */
void gh_tls_load_warn(const struct gh_tls_loader *L, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* tls_ocsp.c (tls.ocsp_stapling): the status callback on a server context,
 * and what stapling needs of a certificate, called as each one is added
 * (leaf and chain as read from its file; the state hangs on leaf). Errors
 * go to errs as "FILE:LINE: message"; 0 or -1. */
void gh_tls_ocsp_setup(SSL_CTX *ctx, const struct gh_conf_tls *conf);
int gh_tls_ocsp_cert(const struct gh_conf *conf, FILE *errs, const struct gh_conf_tls_cert *tc,
                     X509 *leaf, STACK_OF(X509) *chain);

/* The most recent OpenSSL error as text ("unknown" when none); clears the
 * queue. */
const char *gh_tls_err(char *buf, size_t len);

#endif
