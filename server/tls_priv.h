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

/* The most recent OpenSSL error as text ("unknown" when none); clears the
 * queue. */
const char *gh_tls_err(char *buf, size_t len);

#endif
