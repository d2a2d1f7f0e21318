/*
 * tls_upstream.c - TLS to upstream servers (upstream tls.enable): one
 * client context per such upstream, built by the master when it loads a
 * configuration (like the server contexts of tls_ctx.c, so -t and a
 * reload see an unreadable CA file); the client transport; the handshake
 * that runs after the TCP connect; and the last session of each server,
 * so that a new connection resumes instead of a full handshake.
 *
 * The per-server sessions live in the structure the master built: each
 * worker writes only its own copy of it (fork), and the master never
 * connects, so they are per worker without a lock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "server/tls_priv.h"

/* One server of an upstream with TLS. */
struct tls_upserver {
    const char *name;                   /* SNI and the name checked; NULL: none (unix
                                           socket without tls.sni) */
    bool ip;                            /* name is an IP literal: the IP SAN is checked,
                                           no SNI is sent */
    SSL_SESSION *session;               /* the last one it gave this worker, or NULL */
    char ip_text[INET6_ADDRSTRLEN];
};

struct gh_tls_client {
    SSL_CTX *ctx;                       /* NULL: this upstream speaks plain HTTP */
    bool verify;
    struct tls_upserver *servers;
    size_t nservers;
};

struct gh_tls_upstreams {
    const struct gh_conf *conf;         /* the configuration they were built for */
    struct gh_tls_client *ups;          /* indexed like conf->upstreams */
    size_t n;
};

static struct gh_tls_upstreams *current;

static int new_session(SSL *ssl, SSL_SESSION *sess);

/* ---- loading (the master) ----------------------------------------------- */

/* The certificates of the PEM file ca into the context's store. 0 or -1
 * (reported). */
static int load_ca(struct gh_tls_loader *L, const struct gh_conf_upstream *u, SSL_CTX *ctx)
{
    FILE *fp = fopen(u->tls.ca, "r");
    if (fp == NULL) {
        gh_tls_load_error(L, u->tls.line, "upstream '%s': cannot read tls.ca '%s' (%s)", u->name,
                          u->tls.ca, strerror(errno));
        return -1;
    }
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int n = 0;
    X509 *x;
    while ((x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(store, x) == 1)
            n++;
        X509_free(x);
    }
    ERR_clear_error();                  /* the end of the file reads as "no start line" */
    fclose(fp);
    if (n == 0) {
        gh_tls_load_error(L, u->tls.line, "upstream '%s': no PEM certificate in tls.ca '%s'",
                          u->name, u->tls.ca);
        return -1;
    }
    return 0;
}

static SSL_CTX *new_client_ctx(struct gh_tls_loader *L, const struct gh_conf_upstream *u)
{
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)
        || !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)
        || SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9) != 0) {
        gh_tls_load_error(L, u->tls.line, "upstream '%s': cannot set up a TLS client context (%s)",
                          u->name, gh_tls_err(why, sizeof(why)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* A close-delimited body may end with a FIN alone, as many servers do. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION
                        | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* As the server side: the output queue keeps what a record did not
     * take, and an idle pooled connection holds no record buffer. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                     | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx, 1);
    /* Sessions (TLS 1.2 at the handshake, TLS 1.3 tickets afterwards) go
     * to new_session, which keeps the last one per server. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session);
    if (!u->tls.verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        gh_tls_load_warn(L, u->tls.line, "upstream '%s' has tls.verify = false: the "
                         "certificates of its servers are not checked", u->name);
        return ctx;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (u->tls.ca[0] != '\0') {
        if (load_ca(L, u, ctx) == -1) {
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        gh_tls_load_error(L, u->tls.line, "upstream '%s': cannot load the system's CA certificates "
                          "(%s)", u->name, gh_tls_err(why, sizeof(why)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static bool is_ip_literal(const char *s)
{
    unsigned char a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* The name server i is known by: tls.sni, or the host part of its address. */
static int server_name(struct gh_tls_loader *L, const struct gh_conf_upstream *u, size_t i,
                       struct tls_upserver *s)
{
    const struct gh_conf_addr *a = &u->servers[i].addr;
    if (u->tls.sni[0] != '\0') {
        s->name = u->tls.sni;
        s->ip = is_ip_literal(u->tls.sni);
        return 0;
    }
    switch (a->kind) {
    case GH_ADDR_NAME:
        s->name = a->host;
        return 0;
    case GH_ADDR_INET: {
        const void *p = a->sa.ss_family == AF_INET6
            ? (const void *)&((const struct sockaddr_in6 *)&a->sa)->sin6_addr
            : (const void *)&((const struct sockaddr_in *)&a->sa)->sin_addr;
        if (inet_ntop(a->sa.ss_family, p, s->ip_text, sizeof(s->ip_text)) == NULL)
            return -1;
        s->name = s->ip_text;
        s->ip = true;
        return 0;
    }
    case GH_ADDR_UNIX:
        break;
    }
    if (!u->tls.verify)
        return 0;                       /* nothing to check, no SNI */
    gh_tls_load_error(L, u->servers[i].line, "upstream '%s': server %s has no host name to "
                      "verify its certificate against: set tls.sni (or tls.verify = false)",
                      u->name, a->text);
    return -1;
}

static void load_upstream(struct gh_tls_loader *L, const struct gh_conf_upstream *u,
                          struct gh_tls_client *tc)
{
    tc->verify = u->tls.verify;
    tc->servers = calloc(u->nservers + 1, sizeof(*tc->servers));
    if (tc->servers == NULL) {
        gh_tls_load_error(L, u->tls.line, "out of memory");
        return;
    }
    tc->nservers = u->nservers;
    for (size_t i = 0; i < u->nservers; i++)
        (void)server_name(L, u, i, &tc->servers[i]);
    tc->ctx = new_client_ctx(L, u);
}

int gh_tls_upstream_load(const struct gh_conf *conf, FILE *errs, struct gh_tls_upstreams **out)
{
    bool any = false;
    *out = NULL;
    for (size_t i = 0; i < conf->nupstreams; i++)
        any |= conf->upstreams[i].tls.enable;
    if (!any)
        return 0;
    struct gh_tls_loader L = { .conf = conf, .errs = errs != NULL ? errs : stderr };
    struct gh_tls_upstreams *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->ups = calloc(conf->nupstreams, sizeof(*t->ups))) == NULL) {
        fprintf(L.errs, "%s: out of memory loading the upstream TLS contexts\n", conf->file);
        free(t);
        return -1;
    }
    t->conf = conf;
    t->n = conf->nupstreams;
    for (size_t i = 0; i < conf->nupstreams; i++)
        if (conf->upstreams[i].tls.enable)
            load_upstream(&L, &conf->upstreams[i], &t->ups[i]);
    if (L.nerrors > 0) {
        gh_tls_upstream_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void gh_tls_upstream_free(struct gh_tls_upstreams *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        struct gh_tls_client *tc = &t->ups[i];
        for (size_t k = 0; tc->servers != NULL && k < tc->nservers; k++)
            SSL_SESSION_free(tc->servers[k].session);
        free(tc->servers);
        SSL_CTX_free(tc->ctx);
    }
    free(t->ups);
    free(t);
}

void gh_tls_upstream_set_current(struct gh_tls_upstreams *t)
{
    current = t;
}

struct gh_tls_upstreams *gh_tls_upstream_current(void)
{
    return current;
}

int gh_tls_client_for(const struct gh_conf *conf, size_t idx, struct gh_tls_client **out)
{
    *out = NULL;
    if (idx >= conf->nupstreams || !conf->upstreams[idx].tls.enable)
        return 0;
    if (current == NULL || current->conf != conf || current->ups[idx].ctx == NULL)
        return -1;
    *out = &current->ups[idx];
    return 0;
}

/* ---- the client transport and the handshake (a worker) ------------------ */

/* A read that came back shorter than asked proves nothing (one record per
 * SSL_read); the socket BIO knows whether the socket itself was drained. */
static bool client_pending(const struct gh_transport *t)
{
    SSL *ssl = t->ctx;
    return SSL_has_pending(ssl) == 1 || !gh_tls_bio_drained(SSL_get_rbio(ssl));
}

const struct gh_transport_ops gh_transport_tls_client = {
    .name = "tls-client",
    .read = gh_tls_io_read,
    .writev = gh_tls_io_writev,
    .shutdown = gh_tls_io_shutdown,
    .pending = client_pending,
    .unacked = gh_tls_io_unacked,
    .close = gh_tls_io_close,
};

/* A new session from the server (TLS 1.2: at the end of a full handshake;
 * TLS 1.3: each ticket, read after the handshake): keep the last one. */
static int new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct tls_upserver *s = SSL_get_app_data(ssl);
    if (s == NULL || SSL_SESSION_is_resumable(sess) != 1)
        return 0;
    SSL_SESSION_free(s->session);
    s->session = sess;
    return 1;                           /* the reference is ours */
}

int gh_tls_client_start(struct gh_tls_client *tc, size_t server, struct gh_transport *tp)
{
    if (server >= tc->nservers)
        return -1;
    struct tls_upserver *s = &tc->servers[server];
    SSL *ssl = SSL_new(tc->ctx);
    BIO *bio = ssl != NULL ? gh_tls_bio_new(tp->fd, NULL, 0) : NULL;
    if (bio == NULL)
        goto fail;
    SSL_set_bio(ssl, bio, bio);
    SSL_set_connect_state(ssl);
    SSL_set_app_data(ssl, s);
    if (s->name != NULL && !s->ip && SSL_set_tlsext_host_name(ssl, s->name) != 1)
        goto fail;
    if (tc->verify && s->name != NULL) {
        int ok = s->ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), s->name)
                       : SSL_set1_host(ssl, s->name);
        if (ok != 1)
            goto fail;
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
    if (s->session != NULL && SSL_set_session(ssl, s->session) != 1) {
        SSL_SESSION_free(s->session);   /* cannot be used: forget it */
        s->session = NULL;
    }
    tp->ops = &gh_transport_tls_client;
    tp->ctx = ssl;
    tp->flags = 0;
    return 0;
fail:
    SSL_free(ssl);                      /* and the BIO, once set */
    ERR_clear_error();
    return -1;
}

int gh_tls_client_handshake(struct gh_transport *tp, char *why, size_t len)
{
    SSL *ssl = tp->ctx;
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    if (rc == 1)
        return GH_OK;
    int err = SSL_get_error(ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return GH_AGAIN;
    int saved = errno;
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) {
        snprintf(why, len, "certificate verify failed: %s", X509_verify_cert_error_string(v));
        ERR_clear_error();
    } else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        snprintf(why, len, "%s", saved != 0 ? strerror(saved) : "connection closed");
    } else {
        gh_tls_err(why, len);
    }
    tp->flags |= GH_TLS_FATAL;          /* no close_notify after a failed handshake */
    struct tls_upserver *s = SSL_get_app_data(ssl);
    if (s != NULL && s->session != NULL) {
        SSL_SESSION_free(s->session);   /* it may be what the server refused */
        s->session = NULL;
    }
    return GH_ERROR;
}

bool gh_tls_client_wants_write(const struct gh_transport *t)
{
    return SSL_want_write((SSL *)t->ctx) == 1;
}

bool gh_tls_client_resumed(const struct gh_transport *t)
{
    return gh_transport_is_tls_client(t) && SSL_session_reused(t->ctx) == 1;
}
