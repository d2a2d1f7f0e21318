/*
 * tls_ctx.c - the server contexts: protocols, ciphers and the certificates,
 * chosen by SNI (see tls.h).
 *
 * Certificates with the same names share one context, so an RSA and an
 * ECDSA certificate for a site are both offered and OpenSSL serves the
 * ECDSA one to clients that accept it. A name is looked up exactly, then as
 * a wildcard (one label), and an unknown or absent name gets the first
 * certificate, as nginx's default server does.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "server/conn.h"
#include "server/tls_priv.h"

enum { TLS_KEY_RSA = 1u << 0, TLS_KEY_EC = 1u << 1, TLS_KEY_OTHER = 1u << 2 };

/* TLS 1.2: forward secrecy and AEAD only (ECDHE with AES-GCM or
 * ChaCha20-Poly1305), ECDSA first. */
static const char CIPHERS_TLS12[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
/* TLS 1.3: all AEAD; AES-128-GCM first (the cheapest with AES-NI). */
static const char SUITES_TLS13[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
static const char GROUPS[] = "X25519:P-256";

static struct gh_tls *current_tls;

void gh_tls_set_current(struct gh_tls *tls)
{
    current_tls = tls;
}

struct gh_tls *gh_tls_current(void)
{
    return current_tls;
}

const char *gh_tls_err(char *buf, size_t len)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    if (last == 0) {
        snprintf(buf, len, "unknown");
        return buf;
    }
    const char *reason = ERR_reason_error_string(last);
    if (reason != NULL)
        snprintf(buf, len, "%s", reason);
    else
        ERR_error_string_n(last, buf, len);
    return buf;
}

/* ---- loading ------------------------------------------------------------ */

struct loader {
    struct gh_tls_loader r;             /* the configuration and its errors */
    struct gh_tls *tls;
};

void gh_tls_load_error(struct gh_tls_loader *L, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(L->errs, "%s:%d: ", L->conf->file, line);
    vfprintf(L->errs, fmt, ap);
    fputc('\n', L->errs);
    va_end(ap);
    L->nerrors++;
}

void gh_tls_load_warn(const struct gh_tls_loader *L, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gh_log_warn("%s:%d: warning: %s", L->conf->file, line, msg);
}

/* Encrypted keys would need a passphrase at every start: refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    GH_UNUSED(buf); GH_UNUSED(size); GH_UNUSED(rwflag); GH_UNUSED(u);
    return -1;
}

static int read_cert_chain(struct loader *L, const struct gh_conf_tls_cert *tc, X509 **leaf,
                           STACK_OF(X509) **chain)
{
    char why[256];
    FILE *fp = fopen(tc->cert, "r");
    if (fp == NULL) {
        gh_tls_load_error(&L->r, tc->line, "cannot read certificate file '%s' (%s)", tc->cert,
                          strerror(errno));
        return -1;
    }
    *leaf = PEM_read_X509(fp, NULL, no_passphrase, NULL);
    if (*leaf == NULL) {
        gh_tls_load_error(&L->r, tc->line, "no PEM certificate in '%s' (%s)", tc->cert,
                          gh_tls_err(why, sizeof(why)));
        fclose(fp);
        return -1;
    }
    *chain = sk_X509_new_null();
    if (*chain == NULL) {
        fclose(fp);
        return -1;
    }
    for (int i = 0; i < 16; i++) {
        X509 *x = PEM_read_X509(fp, NULL, no_passphrase, NULL);
        if (x == NULL)
            break;
        if (!sk_X509_push(*chain, x)) {
            X509_free(x);
            break;
        }
    }
    ERR_clear_error();                  /* the end of the file reads as "no start line" */
    fclose(fp);
    return 0;
}

static EVP_PKEY *read_key(struct loader *L, const struct gh_conf_tls_cert *tc)
{
    char why[256];
    FILE *fp = fopen(tc->key, "r");
    if (fp == NULL) {
        gh_tls_load_error(&L->r, tc->line, "cannot read key file '%s' (%s)", tc->key,
                          strerror(errno));
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL);
    fclose(fp);
    if (key == NULL)
        gh_tls_load_error(&L->r, tc->line, "cannot load the private key in '%s' (%s; "
                          "encrypted keys are not supported)", tc->key,
                          gh_tls_err(why, sizeof(why)));
    return key;
}

/* The DNS names of the certificate's subjectAltName, lower case. */
static char **cert_names(X509 *x, size_t *n)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    *n = 0;
    if (gens == NULL)
        return NULL;
    int count = sk_GENERAL_NAME_num(gens);
    char **names = calloc((size_t)count + 1, sizeof(*names));
    if (names == NULL) {
        GENERAL_NAMES_free(gens);
        return NULL;
    }
    for (int i = 0; i < count; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_DNS)
            continue;
        const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
        int len = ASN1_STRING_length(g->d.dNSName);
        if (len <= 0 || len > 253 || memchr(d, '\0', (size_t)len) != NULL)
            continue;
        char *s = malloc((size_t)len + 1);
        if (s == NULL)
            break;
        for (int k = 0; k < len; k++)
            s[k] = (char)((d[k] >= 'A' && d[k] <= 'Z') ? d[k] + 32 : d[k]);
        s[len] = '\0';
        names[(*n)++] = s;
    }
    GENERAL_NAMES_free(gens);
    return names;
}

static void free_names(char **names, size_t n)
{
    if (names == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool same_names(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static int servername_cb(SSL *ssl, int *alert, void *arg);
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg);

static SSL_CTX *new_server_ctx(struct loader *L)
{
    const struct gh_conf_tls *t = &L->r.conf->tls;
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        gh_tls_load_error(&L->r, t->line, "SSL_CTX_new() failed (%s)",
                          gh_tls_err(why, sizeof(why)));
        return NULL;
    }
    int min = (t->protocols & GH_TLS_V1_2) ? TLS1_2_VERSION : TLS1_3_VERSION;
    int max = (t->protocols & GH_TLS_V1_3) ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (!SSL_CTX_set_min_proto_version(ctx, min) || !SSL_CTX_set_max_proto_version(ctx, max)
        || !SSL_CTX_set_cipher_list(ctx, CIPHERS_TLS12)
        || !SSL_CTX_set_ciphersuites(ctx, SUITES_TLS13)
        || !SSL_CTX_set1_groups_list(ctx, GROUPS)) {
        gh_tls_load_error(&L->r, t->line, "cannot set the TLS protocols, ciphers or groups (%s)",
                          gh_tls_err(why, sizeof(why)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION
                        | SSL_OP_NO_COMPRESSION
                        | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Partial writes: the output queue keeps what a record did not take.
     * Released buffers: an idle connection holds no 16 KB record buffer. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                     | SSL_MODE_RELEASE_BUFFERS);
    /* One read(2) per burst of records, not two per record; the transport
     * asks SSL_has_pending for what is left. */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_max_early_data(ctx, 0);
    SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, L->tls);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    static const unsigned char sid_ctx[] = "gatehouse";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    if (t->client_ca[0] != '\0') {
        /* mTLS: a client without a certificate the CA signed fails the
         * handshake with an alert; the CA names are sent as acceptable. */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->client_ca);
        if (names == NULL || SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) != 1) {
            gh_tls_load_error(&L->r, t->line, "cannot load 'tls.client_ca' from '%s' (%s)",
                              t->client_ca,
                       gh_tls_err(why, sizeof(why)));
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        SSL_CTX_set_verify_depth(ctx, 4);
    }
    gh_tls_session_setup(ctx, t);
    gh_tls_ocsp_setup(ctx, t);
    return ctx;
}

static unsigned key_type(EVP_PKEY *key)
{
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA: return TLS_KEY_RSA;
    case EVP_PKEY_EC: return TLS_KEY_EC;
    default: return TLS_KEY_OTHER;
    }
}

static void add_certificate(struct loader *L, const struct gh_conf_tls_cert *tc)
{
    struct gh_tls *tls = L->tls;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *key = NULL;
    char **names = NULL, why[256];
    size_t nnames = 0;

    if (read_cert_chain(L, tc, &leaf, &chain) == -1)
        goto out;
    if ((key = read_key(L, tc)) == NULL)
        goto out;
    if (X509_check_private_key(leaf, key) != 1) {
        ERR_clear_error();
        gh_tls_load_error(&L->r, tc->line, "the key in '%s' does not match the certificate in '%s'",
                          tc->key, tc->cert);
        goto out;
    }
    names = cert_names(leaf, &nnames);
    if (nnames == 0) {
        gh_tls_load_error(&L->r, tc->line, "the certificate in '%s' has no DNS name in its "
                          "subjectAltName", tc->cert);
        goto out;
    }
    qsort(names, nnames, sizeof(*names), cmp_str);
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0)
        gh_tls_load_warn(&L->r, tc->line, "the certificate in '%s' (%s) has expired", tc->cert,
                         names[0]);
    else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
        gh_tls_load_warn(&L->r, tc->line, "the certificate in '%s' (%s) is not valid yet", tc->cert,
                         names[0]);

    unsigned type = key_type(key);
    struct gh_tls_group *g = NULL;
    for (size_t i = 0; i < tls->ngroups; i++)
        if (same_names(tls->groups[i].names, tls->groups[i].nnames, names, nnames))
            g = &tls->groups[i];
    if (g != NULL && (g->key_types & type)) {
        gh_tls_load_error(&L->r, tc->line, "a certificate with the same names and key type as "
                          "the one at line %d", g->line);
        goto out;
    }
    if (g == NULL) {
        g = &tls->groups[tls->ngroups];
        g->ctx = new_server_ctx(L);
        if (g->ctx == NULL)
            goto out;
        g->names = names;
        g->nnames = nnames;
        g->line = tc->line;
        names = NULL;
        tls->ngroups++;
    }
    if (SSL_CTX_use_cert_and_key(g->ctx, leaf, key, chain, 1) != 1) {
        gh_tls_load_error(&L->r, tc->line, "cannot use the certificate in '%s' (%s)", tc->cert,
                          gh_tls_err(why, sizeof(why)));
        goto out;
    }
    g->key_types |= type;
    if (gh_tls_ocsp_cert(L->r.conf, L->r.errs, tc, leaf, chain) == -1)
        L->r.nerrors++;
out:
    free_names(names, nnames);
    EVP_PKEY_free(key);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct gh_tls_name *)a)->name, ((const struct gh_tls_name *)b)->name);
}

static int index_names(struct gh_tls *tls)
{
    size_t total = 0;
    for (size_t i = 0; i < tls->ngroups; i++)
        total += tls->groups[i].nnames;
    tls->exact = calloc(total + 1, sizeof(*tls->exact));
    tls->wild = calloc(total + 1, sizeof(*tls->wild));
    if (tls->exact == NULL || tls->wild == NULL)
        return -1;
    for (size_t i = 0; i < tls->ngroups; i++) {
        struct gh_tls_group *g = &tls->groups[i];
        for (size_t k = 0; k < g->nnames; k++) {
            const char *n = g->names[k];
            if (n[0] == '*' && n[1] == '.')
                tls->wild[tls->nwild++] = (struct gh_tls_name){ n + 1, g };
            else
                tls->exact[tls->nexact++] = (struct gh_tls_name){ n, g };
        }
    }
    /* Equal names (a name in two certificates' SANs): find_name takes the
     * earlier certificate. */
    qsort(tls->exact, tls->nexact, sizeof(*tls->exact), cmp_name);
    qsort(tls->wild, tls->nwild, sizeof(*tls->wild), cmp_name);
    return 0;
}

static struct gh_tls_group *find_name(const struct gh_tls_name *v, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    struct gh_tls_group *best = NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid].name, name);
        if (c == 0) {
            /* The earliest group among equal names: the first certificate. */
            best = v[mid].group;
            hi = mid;
        } else if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for (size_t i = lo; i < n && strcmp(v[i].name, name) == 0; i++)
        if (best == NULL || v[i].group < best)
            best = v[i].group;
    return best;
}

struct gh_tls_group *gh_tls_find_group(const struct gh_tls *tls, const char *host)
{
    char name[256];
    size_t len = strlen(host);
    if (len == 0 || len >= sizeof(name))
        return NULL;
    for (size_t i = 0; i < len; i++)
        name[i] = (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] + 32 : host[i]);
    name[len] = '\0';
    if (name[len - 1] == '.')
        name[--len] = '\0';             /* "example.com." is example.com */
    struct gh_tls_group *g = find_name(tls->exact, tls->nexact, name);
    if (g != NULL)
        return g;
    const char *dot = strchr(name, '.');
    if (dot == NULL || dot == name)
        return NULL;
    return find_name(tls->wild, tls->nwild, dot);   /* "*.example.com": one label */
}

int gh_tls_load(const struct gh_conf *conf, FILE *errs, struct gh_tls **out)
{
    bool any = false;
    *out = NULL;
    for (size_t i = 0; i < conf->nlistens; i++)
        any |= conf->listens[i].tls;
    if (!any)
        return 0;                       /* certificates without a TLS listener go unused */

    struct loader L = { .r = { .conf = conf, .errs = errs != NULL ? errs : stderr } };
    L.tls = calloc(1, sizeof(*L.tls));
    if (L.tls == NULL)
        return -1;
    L.tls->groups = calloc(conf->tls.ncerts + 1, sizeof(*L.tls->groups));
    if (L.tls->groups == NULL) {
        gh_tls_free(L.tls);
        return -1;
    }
    L.tls->strict_sni = conf->tls.strict_sni;
    for (size_t i = 0; i < conf->tls.ncerts; i++)
        add_certificate(&L, &conf->tls.certs[i]);
    if (L.r.nerrors == 0 && index_names(L.tls) == -1) {
        gh_tls_load_error(&L.r, conf->tls.line, "out of memory");
    }
    if (L.r.nerrors > 0 || L.tls->ngroups == 0) {
        gh_tls_free(L.tls);
        return -1;
    }
    *out = L.tls;
    return 0;
}

void gh_tls_free(struct gh_tls *tls)
{
    if (tls == NULL)
        return;
    for (size_t i = 0; i < tls->ngroups; i++) {
        SSL_CTX_free(tls->groups[i].ctx);
        free_names(tls->groups[i].names, tls->groups[i].nnames);
    }
    free(tls->groups);
    free(tls->exact);
    free(tls->wild);
    free(tls);
}

/* ---- callbacks during the handshake ------------------------------------- */

/* SNI: switch to the context whose certificates carry the name. */
static int servername_cb(SSL *ssl, int *alert, void *arg)
{
    struct gh_tls *tls = arg;
    GH_UNUSED(alert);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == NULL)
        return SSL_TLSEXT_ERR_OK;
    struct gh_tls_group *g = gh_tls_find_group(tls, name);
    if (g != NULL && g->ctx != SSL_get_SSL_CTX(ssl))
        SSL_set_SSL_CTX(ssl, g->ctx);
    return SSL_TLSEXT_ERR_OK;
}

/* ALPN: http/1.1 (h2 with the HTTP/2 issue). A client that offers only
 * protocols we do not speak is refused, as nginx does. */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    /* h2 first where the listener has http2 = true (SSL_select_next_proto
     * takes the first of ours the client offers). */
    static const unsigned char h2[] = "\x02h2\x08http/1.1";
    static const unsigned char h1[] = "\x08http/1.1";
    GH_UNUSED(arg);
    const struct gh_conn *c = SSL_get_app_data(ssl);
    bool http2 = c != NULL && c->listener != NULL && c->listener->http2;
    const unsigned char *ours = http2 ? h2 : h1;
    unsigned int ours_len = http2 ? sizeof(h2) - 1 : sizeof(h1) - 1;
    unsigned char *sel;
    unsigned char sel_len;
    if (SSL_select_next_proto(&sel, &sel_len, ours, ours_len, in, inlen)
        != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    *outlen = sel_len;
    return SSL_TLSEXT_ERR_OK;
}
