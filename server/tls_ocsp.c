/*
 * tls_ocsp.c - OCSP stapling: what each certificate needs (read by the
 * master when it loads the configuration), the shared slots the helper
 * fills (tls_ocsp_fetch.c), and the handshake callback with which workers
 * staple (see tls_ocsp.h).
 *
 * tls.ocsp_file: one DER OCSP response, read at load. It is stapled for
 * every certificate it has a status for (its CertIDs are matched against
 * each certificate's serial number and issuer), as it is, whatever status
 * it gives, until its nextUpdate passes; nothing is fetched then. A file
 * that names none of the certificates is an error.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "common/lock.h"
#include "common/log.h"
#include "common/time.h"
#include "server/tls_ocsp.h"
#include "server/tls_priv.h"

#define REGION_NAME "tls_ocsp"
#define REGION_LAYOUT 1u
#define FILE_MAX (64 * 1024)

struct gh_ocsp_region *gh_ocsp_region;

/* ---- the shared slots --------------------------------------------------- */

int gh_ocsp_region_attach(struct gh_shm *shm)
{
    bool fresh;
    struct gh_ocsp_region *r = gh_shm_region(shm, REGION_NAME, REGION_LAYOUT, sizeof(*r),
                                             &fresh);
    if (r == NULL)
        return -1;
    if (fresh) {
        r->nslots = GH_OCSP_SLOTS;
        for (size_t i = 0; i < GH_OCSP_SLOTS; i++)
            if (gh_mutex_init_shared(&r->slots[i].lock) == -1)
                return -1;
    }
    gh_ocsp_region = r;
    return 0;
}

int gh_tls_ocsp_shm_attach(struct gh_shm *shm, const struct gh_conf *conf)
{
    if (!conf->tls.ocsp_stapling || gh_ocsp_region != NULL)
        return 0;                       /* once reserved, kept: old workers still read it */
    if (gh_ocsp_region_attach(shm) == -1) {
        gh_log_warn("no room for the OCSP responses in the shared segment: fetched "
                    "responses are not stapled");
        return -1;
    }
    return 0;
}

int gh_ocsp_slot_store(struct gh_ocsp_slot *s, const uint8_t fp[32], const unsigned char *der,
                       size_t len, int status, int64_t this_update_s, int64_t expires_s)
{
    if (len > GH_OCSP_DER_MAX)
        return -1;
    int rc = gh_mutex_lock(&s->lock);
    if (rc < 0)
        return -1;
    if (rc == GH_LOCK_RECOVERED)
        gh_mutex_consistent(&s->lock);  /* the sequence is odd: no reader took it; rewritten */
    uint32_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq | 1u, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memcpy(s->fp, fp, sizeof(s->fp));
    memcpy(s->der, der, len);
    s->der_len = (uint32_t)len;
    s->status = status;
    s->this_update_s = this_update_s;
    s->expires_s = expires_s;
    atomic_store_explicit(&s->seq, (seq | 1u) + 1, memory_order_release);
    gh_mutex_unlock(&s->lock);
    return 0;
}

bool gh_ocsp_slot_load(const struct gh_ocsp_slot *s, const uint8_t fp[32], unsigned char *der,
                       size_t *len, int64_t *expires_s, int *status)
{
    for (int tries = 0; tries < 16; tries++) {
        uint32_t s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (s1 == 0)
            return false;
        if (s1 & 1u)
            continue;
        bool mine = memcmp(s->fp, fp, sizeof(s->fp)) == 0;
        size_t n = s->der_len;
        int64_t exp = s->expires_s;
        int st = s->status;
        if (mine && n > 0 && n <= GH_OCSP_DER_MAX)
            memcpy(der, s->der, n);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) != s1)
            continue;
        if (!mine || n == 0 || n > GH_OCSP_DER_MAX)
            return false;
        *len = n;
        *expires_s = exp;
        *status = st;
        return true;
    }
    return false;
}

void gh_tls_ocsp_stats(struct gh_tls_ocsp_stats *out)
{
    *out = (struct gh_tls_ocsp_stats){ 0 };
    if (gh_ocsp_region == NULL)
        return;
    for (size_t i = 0; i < GH_OCSP_SLOTS; i++) {
        const struct gh_ocsp_slot *s = &gh_ocsp_region->slots[i];
        out->served += atomic_load(&s->served);
        out->fetched += atomic_load(&s->fetched);
        out->failures += atomic_load(&s->failures);
    }
}

int64_t gh_ocsp_time(const ASN1_GENERALIZEDTIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    return (int64_t)timegm(&tm);
}

/* ---- per certificate state ---------------------------------------------- */

static int ex_index = -1;

static void cert_free(struct gh_ocsp_cert *oc)
{
    if (oc == NULL)
        return;
    X509_free(oc->issuer);
    sk_X509_pop_free(oc->chain, X509_free);
    OCSP_CERTID_free(oc->id);
    free(oc->cert_path);
    free(oc->name);
    free(oc->url);
    free(oc->authority);
    free(oc->path);
    gh_conf_addr_release(&oc->addr);
    free(oc->file_der);
    free(oc);
}

static void ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    GH_UNUSED(parent); GH_UNUSED(ad); GH_UNUSED(idx); GH_UNUSED(argl); GH_UNUSED(argp);
    cert_free(ptr);
}

struct gh_ocsp_cert *gh_ocsp_cert_of(const X509 *x)
{
    return x != NULL && ex_index >= 0 ? X509_get_ex_data(x, ex_index) : NULL;
}

static void __attribute__((format(printf, 4, 5)))
load_error(const struct gh_conf *conf, FILE *errs, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(errs, "%s:%d: ", conf->file, line);
    vfprintf(errs, fmt, ap);
    fputc('\n', errs);
    va_end(ap);
}

static void __attribute__((format(printf, 3, 4)))
load_warn(const struct gh_conf *conf, int line, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gh_log_warn("%s:%d: warning: %s", conf->file, line, msg);
}

/* The first DNS name of the certificate (for messages), or a copy of "?". */
static char *first_name(X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    char *out = NULL;
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && out == NULL; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS)
            out = strndup((const char *)ASN1_STRING_get0_data(g->d.dNSName),
                          (size_t)GH_MIN(ASN1_STRING_length(g->d.dNSName), 253));
    }
    GENERAL_NAMES_free(gens);
    return out != NULL ? out : strdup("?");
}

static bool url_chars_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* "http://host[:port][/path]": the responder's address (a name is resolved
 * now, as upstream server names are), the Host field and the path. */
static int parse_url(struct gh_ocsp_cert *oc, const char *url, char *err, size_t errlen)
{
    if (strncasecmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "'%s' is not an http:// URL (https responders are not supported)",
                 url);
        return -1;
    }
    const char *a = url + 7;
    size_t alen = strcspn(a, "/?#");
    const char *rest = a + alen;
    size_t plen = strcspn(rest, "#");
    if (alen == 0 || alen > 255 || memchr(a, '@', alen) != NULL || !url_chars_ok(a, alen)
        || plen > 1024 || !url_chars_ok(rest, plen)) {
        snprintf(err, errlen, "'%s' is not a usable URL", url);
        return -1;
    }
    char hostport[272];
    bool has_port = a[0] == '[' ? memmem(a, alen, "]:", 2) != NULL : memchr(a, ':', alen) != NULL;
    snprintf(hostport, sizeof(hostport), "%.*s%s", (int)alen, a, has_port ? "" : ":80");
    char why[256];
    if (gh_parse_addr(hostport, true, &oc->addr, why, sizeof(why)) == -1) {
        snprintf(err, errlen, "OCSP responder '%s': %s", url, why);
        return -1;
    }
    if (oc->addr.port == 0 || oc->addr.kind == GH_ADDR_UNIX) {
        snprintf(err, errlen, "OCSP responder '%s': bad port", url);
        return -1;
    }
    oc->url = strdup(url);
    oc->authority = strndup(a, alen);
    oc->path = malloc(plen + 2);
    if (oc->url == NULL || oc->authority == NULL || oc->path == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(oc->path, plen + 2, "%s%.*s", rest[0] == '/' ? "" : "/", (int)plen, rest);
    return 0;
}

/* The certificate's first http:// OCSP URL into oc. 0, or -1 (reported). */
static int find_responder(const struct gh_conf *conf, FILE *errs, struct gh_ocsp_cert *oc)
{
    STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(oc->leaf);
    const char *url = NULL;
    for (int i = 0; urls != NULL && i < sk_OPENSSL_STRING_num(urls); i++) {
        const char *u = sk_OPENSSL_STRING_value(urls, i);
        if (strncasecmp(u, "http://", 7) == 0) {
            url = u;                    /* the first http:// one */
            break;
        }
        if (url == NULL)
            url = u;                    /* else the first, for the error */
    }
    int rc = 0;
    char err[512];
    if (url == NULL) {
        load_error(conf, errs, oc->line, "the certificate in '%s' (%s) names no OCSP responder "
                   "(no OCSP URL in its Authority Information Access); tls.ocsp_stapling "
                   "needs one, or tls.ocsp_file", oc->cert_path, oc->name);
        rc = -1;
    } else if (parse_url(oc, url, err, sizeof(err)) == -1) {
        load_error(conf, errs, oc->line, "the certificate in '%s' (%s): %s", oc->cert_path,
                   oc->name, err);
        rc = -1;
    }
    X509_email_free(urls);
    return rc;
}

/* ---- tls.ocsp_file ------------------------------------------------------ */

/* The file, read once per load (at the first certificate) and dropped
 * after the last one. */
static struct {
    const struct gh_conf *conf;
    bool bad;
    unsigned char *der;
    size_t len;
    OCSP_BASICRESP *basic;
    size_t matched;
} F;

static void file_reset(void)
{
    free(F.der);
    OCSP_BASICRESP_free(F.basic);
    memset(&F, 0, sizeof(F));
}

static unsigned char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(err, errlen, "cannot read tls.ocsp_file '%s' (%s)", path, strerror(errno));
        return NULL;
    }
    unsigned char *buf = malloc(FILE_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, FILE_MAX + 1, fp) : 0;
    bool failed = ferror(fp);
    fclose(fp);
    if (buf == NULL || failed || n == 0 || n > FILE_MAX) {
        snprintf(err, errlen, buf == NULL ? "out of memory"
                 : failed ? "cannot read tls.ocsp_file '%s'"
                 : n == 0 ? "tls.ocsp_file '%s' is empty"
                          : "tls.ocsp_file '%s' is larger than 64 KB", path);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Read and check tls.ocsp_file into F. 0, or -1 (reported). */
static int file_load(const struct gh_conf *conf, FILE *errs)
{
    const char *path = conf->tls.ocsp_file;
    char err[512];
    F.conf = conf;
    F.der = read_file(path, &F.len, err, sizeof(err));
    if (F.der == NULL) {
        load_error(conf, errs, conf->tls.line, "%s", err);
        goto bad;
    }
    const unsigned char *p = F.der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)F.len);
    if (resp == NULL || p != F.der + F.len) {
        ERR_clear_error();
        OCSP_RESPONSE_free(resp);
        load_error(conf, errs, conf->tls.line, "tls.ocsp_file '%s' is not a DER OCSP response",
                   path);
        goto bad;
    }
    int st = OCSP_response_status(resp);
    if (st != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        load_error(conf, errs, conf->tls.line, "the OCSP response in tls.ocsp_file '%s' is not "
                   "successful (%s)", path, OCSP_response_status_str(st));
        OCSP_RESPONSE_free(resp);
        goto bad;
    }
    F.basic = OCSP_response_get1_basic(resp);
    OCSP_RESPONSE_free(resp);
    if (F.basic == NULL) {
        ERR_clear_error();
        load_error(conf, errs, conf->tls.line, "tls.ocsp_file '%s' holds no basic OCSP "
                   "response", path);
        goto bad;
    }
    return 0;
bad:
    F.bad = true;
    return -1;
}

static bool octets_eq(const ASN1_OCTET_STRING *o, const unsigned char *h, unsigned hl)
{
    return o != NULL && ASN1_STRING_length(o) == (int)hl
           && memcmp(ASN1_STRING_get0_data(o), h, hl) == 0;
}

/* The SingleResponse of bs about leaf: the same serial number and issuer
 * name hash (and issuer key hash, when the issuer is known). */
static OCSP_SINGLERESP *find_single(OCSP_BASICRESP *bs, X509 *leaf, X509 *issuer)
{
    for (int i = 0; i < OCSP_resp_count(bs); i++) {
        OCSP_SINGLERESP *sr = OCSP_resp_get0(bs, i);
        ASN1_OCTET_STRING *name_hash, *key_hash;
        ASN1_OBJECT *md_obj;
        ASN1_INTEGER *serial;
        if (!OCSP_id_get0_info(&name_hash, &md_obj, &key_hash, &serial,
                               (OCSP_CERTID *)OCSP_SINGLERESP_get0_id(sr))
            || ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(leaf)) != 0)
            continue;
        const EVP_MD *md = EVP_get_digestbyobj(md_obj);
        unsigned char h[EVP_MAX_MD_SIZE];
        unsigned hl;
        if (md == NULL || !X509_NAME_digest(X509_get_issuer_name(leaf), md, h, &hl)
            || !octets_eq(name_hash, h, hl))
            continue;
        if (issuer != NULL
            && (!X509_pubkey_digest(issuer, md, h, &hl) || !octets_eq(key_hash, h, hl)))
            continue;
        return sr;
    }
    ERR_clear_error();
    return NULL;
}

/* Give oc the file's response when it is about oc's certificate. */
static int file_match(const struct gh_conf *conf, FILE *errs, struct gh_ocsp_cert *oc)
{
    const char *path = conf->tls.ocsp_file;
    OCSP_SINGLERESP *sr = find_single(F.basic, oc->leaf, oc->issuer);
    if (sr == NULL) {
        if (conf->tls.ncerts > 1)
            load_warn(conf, oc->line, "tls.ocsp_file '%s' has no status for the certificate "
                      "in '%s' (%s): it is stapled without one", path, oc->cert_path, oc->name);
        return 0;
    }
    int reason;
    ASN1_GENERALIZEDTIME *rev, *thisupd, *nextupd;
    int status = OCSP_single_get0_status(sr, &reason, &rev, &thisupd, &nextupd);
    int64_t this_s = gh_ocsp_time(thisupd), next_s = nextupd ? gh_ocsp_time(nextupd) : INT64_MAX;
    if (this_s < 0 || next_s < 0) {
        load_error(conf, errs, conf->tls.line, "tls.ocsp_file '%s': bad thisUpdate or "
                   "nextUpdate", path);
        return -1;
    }
    oc->file_der = malloc(F.len);
    if (oc->file_der == NULL) {
        load_error(conf, errs, conf->tls.line, "out of memory");
        return -1;
    }
    memcpy(oc->file_der, F.der, F.len);
    oc->file_len = F.len;
    oc->file_expires_s = next_s;
    F.matched++;
    if (status != V_OCSP_CERTSTATUS_GOOD)
        load_warn(conf, oc->line, "tls.ocsp_file '%s' says \"%s\" for the certificate in '%s' "
                  "(%s); stapled as it is", path, OCSP_cert_status_str(status), oc->cert_path,
                  oc->name);
    if (next_s <= (int64_t)time(NULL))
        load_warn(conf, oc->line, "the OCSP response in tls.ocsp_file '%s' has expired (its "
                  "nextUpdate has passed): not stapled", path);
    return 0;
}

/* ---- loading: the hook in tls_ctx.c ------------------------------------- */

static struct gh_ocsp_cert *cert_new(const struct gh_conf_tls_cert *tc, size_t index,
                                     X509 *leaf, STACK_OF(X509) *chain)
{
    struct gh_ocsp_cert *oc = calloc(1, sizeof(*oc));
    if (oc == NULL)
        return NULL;
    unsigned fplen = 0;
    oc->index = index;
    oc->has_slot = index < GH_OCSP_SLOTS;
    oc->leaf = leaf;
    oc->line = tc->line;
    oc->cert_path = strdup(tc->cert);
    oc->name = first_name(leaf);
    oc->chain = X509_chain_up_ref(chain);
    if (oc->cert_path == NULL || oc->name == NULL || oc->chain == NULL
        || !X509_digest(leaf, EVP_sha256(), oc->fp, &fplen) || fplen != sizeof(oc->fp)) {
        ERR_clear_error();
        cert_free(oc);
        return NULL;
    }
    if (sk_X509_num(chain) > 0) {
        oc->issuer = sk_X509_value(chain, 0);
        X509_up_ref(oc->issuer);
    }
    return oc;
}

int gh_tls_ocsp_cert(const struct gh_conf *conf, FILE *errs, const struct gh_conf_tls_cert *tc,
                     X509 *leaf, STACK_OF(X509) *chain)
{
    const struct gh_conf_tls *t = &conf->tls;
    size_t index = (size_t)(tc - t->certs);
    bool last = index + 1 == t->ncerts;
    if (!t->ocsp_stapling) {
        if (index == 0 && t->ocsp_file[0] != '\0')
            load_warn(conf, t->line, "tls.ocsp_file is used only with tls.ocsp_stapling = true");
        return 0;
    }
    if (ex_index < 0 && (ex_index = X509_get_ex_new_index(0, NULL, NULL, NULL, ex_free)) < 0) {
        load_error(conf, errs, tc->line, "X509_get_ex_new_index() failed");
        return -1;
    }
    struct gh_ocsp_cert *oc = cert_new(tc, index, leaf, chain);
    if (oc == NULL) {
        load_error(conf, errs, tc->line, "out of memory");
        return -1;
    }
    int rc = 0;
    if (oc->issuer != NULL && X509_check_issued(oc->issuer, leaf) != X509_V_OK) {
        load_error(conf, errs, tc->line, "the second certificate in '%s' did not issue the "
                   "first (%s): OCSP stapling takes the issuer from there", tc->cert, oc->name);
        rc = -1;
    } else if (t->ocsp_file[0] != '\0') {
        if (index == 0 || F.conf != conf) {
            file_reset();
            file_load(conf, errs);
        }
        rc = F.bad ? -1 : file_match(conf, errs, oc);
        if (last && !F.bad && F.matched == 0) {
            load_error(conf, errs, t->line, "tls.ocsp_file '%s' has no status for any of the "
                       "certificates in tls.certificates", t->ocsp_file);
            rc = -1;
        }
    } else if (oc->issuer == NULL) {
        load_error(conf, errs, tc->line, "'%s' has no issuer certificate after the server's "
                   "(%s): OCSP stapling needs it to ask for the status (or set tls.ocsp_file)",
                   tc->cert, oc->name);
        rc = -1;
    } else if (find_responder(conf, errs, oc) == -1) {
        rc = -1;
    } else if ((oc->id = OCSP_cert_to_id(NULL, leaf, oc->issuer)) == NULL) {
        ERR_clear_error();
        load_error(conf, errs, tc->line, "OCSP_cert_to_id() failed for '%s'", tc->cert);
        rc = -1;
    } else if (!oc->has_slot) {
        load_warn(conf, tc->line, "only the first %d certificates get OCSP staples; not '%s'",
                  GH_OCSP_SLOTS, tc->cert);
    }
    if (last)
        file_reset();
    if (rc == -1 || !X509_set_ex_data(leaf, ex_index, oc)) {
        ERR_clear_error();
        cert_free(oc);
        return -1;
    }
    return 0;
}

/* ---- the handshake ------------------------------------------------------ */

/* The client asked for the certificate status: staple the response of the
 * certificate OpenSSL chose, if there is a valid one. */
static int status_cb(SSL *ssl, void *arg)
{
    GH_UNUSED(arg);
    const struct gh_ocsp_cert *oc = gh_ocsp_cert_of(SSL_get_certificate(ssl));
    unsigned char buf[GH_OCSP_DER_MAX];
    const unsigned char *der = buf;
    size_t len = 0;
    int64_t expires = 0, now = (int64_t)gh_now_sec;
    int status;
    if (oc == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    if (oc->file_der != NULL) {
        der = oc->file_der;
        len = oc->file_len;
        expires = oc->file_expires_s;
    } else if (oc->id == NULL || !oc->has_slot || gh_ocsp_region == NULL
               || !gh_ocsp_slot_load(&gh_ocsp_region->slots[oc->index], oc->fp, buf, &len,
                                     &expires, &status)) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    if (len == 0 || expires <= now)
        return SSL_TLSEXT_ERR_NOACK;    /* never an expired one */
    unsigned char *copy = OPENSSL_malloc(len);
    if (copy == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    memcpy(copy, der, len);
    if (!SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)len)) {
        OPENSSL_free(copy);
        ERR_clear_error();
        return SSL_TLSEXT_ERR_NOACK;
    }
    if (oc->has_slot && gh_ocsp_region != NULL)
        atomic_fetch_add_explicit(&gh_ocsp_region->slots[oc->index].served, 1,
                                  memory_order_relaxed);
    return SSL_TLSEXT_ERR_OK;
}

void gh_tls_ocsp_setup(SSL_CTX *ctx, const struct gh_conf_tls *conf)
{
    if (!conf->ocsp_stapling)
        return;
    SSL_CTX_set_tlsext_status_cb(ctx, status_cb);
    SSL_CTX_set_tlsext_status_arg(ctx, NULL);
}
