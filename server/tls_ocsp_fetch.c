/*
 * tls_ocsp_fetch.c - the helper process asks each certificate's OCSP
 * responder for its status and puts verified "good" responses in the
 * certificate's shared slot, where workers staple them (see tls_ocsp.h).
 *
 * One fetch per certificate, a small state machine on the helper's loop
 * like a health check: idle (timer armed) -> connecting -> sending an
 * HTTP/1.0 POST of the DER request -> reading the answer until its
 * Content-Length or EOF -> idle. One timer is the next fetch or the
 * current one's timeout. After a good response the next fetch is at half
 * its remaining validity, at most an hour later; after a failure it is
 * retried with back-off (5 s doubling to 5 min) while the slot keeps the
 * last good response, which workers staple until its nextUpdate. As nginx
 * does, a status other than "good" is a failure: it is logged and not
 * stapled.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "common/log.h"
#include "common/loop.h"
#include "common/time.h"
#include "server/tls_ocsp.h"
#include "server/tls_priv.h"

#define FETCH_TIMEOUT_MS 10000
#define RETRY_FIRST_MS 5000
#define RETRY_MAX_MS 300000
#define REFRESH_MIN_MS 10000
#define REFRESH_MAX_MS 3600000
#define SKEW_S 300                      /* OCSP_check_validity's leeway, as nginx */
#define NO_NEXT_UPDATE_S 86400          /* validity of a response without nextUpdate */
#define HEAD_MAX 4096

struct fetch {
    struct gh_tls_ocsp *f;
    struct gh_ocsp_cert *oc;
    struct gh_ocsp_slot *slot;
    struct gh_io io;
    struct gh_timer timer;              /* the next fetch, or this one's timeout */
    bool busy, sent;
    unsigned char *req;
    size_t req_len, req_off, got;
    gh_msec_t retry_ms;                 /* the next back-off */
    unsigned char buf[HEAD_MAX + GH_OCSP_DER_MAX];
};

struct gh_tls_ocsp {
    struct gh_loop *loop;
    struct fetch *v;
    size_t n;
};

static void fetch_start(struct fetch *p);

static void fetch_close(struct fetch *p)
{
    if (p->io.fd != -1) {
        int fd = p->io.fd;
        gh_io_stop(p->f->loop, &p->io);
        close(fd);
    }
    p->busy = false;
}

static const char *utc(int64_t t, char *buf, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, len, "%lld", (long long)t);
    return buf;
}

/* When to ask again for a response valid until expires_s. */
static gh_msec_t refresh_in(int64_t expires_s)
{
    int64_t left_ms = (expires_s - (int64_t)gh_now_sec) * 1000;
    return GH_MAX(GH_MIN(left_ms / 2, (int64_t)REFRESH_MAX_MS), (int64_t)REFRESH_MIN_MS);
}

static void fetch_failed(struct fetch *p, const char *why)
{
    struct gh_ocsp_cert *oc = p->oc;
    fetch_close(p);
    atomic_fetch_add(&p->slot->failures, 1);
    gh_msec_t delay = p->retry_ms;
    p->retry_ms = GH_MIN(p->retry_ms * 2, (gh_msec_t)RETRY_MAX_MS);
    gh_log_error("OCSP stapling: no response for the certificate in '%s' (%s) from %s: %s; "
                 "retrying in %lld s", oc->cert_path, oc->name, oc->url, why,
                 (long long)(delay / 1000));
    gh_loop_timer_set(p->f->loop, &p->timer, delay);
}

/* Check an OCSP response (DER) for p's certificate: successful, signed by
 * its issuer or a responder the issuer delegated to, about this
 * certificate, current, and "good". 0, or -1 with the reason in why. */
static int check_response(struct fetch *p, const unsigned char *der, size_t len,
                          int64_t *this_s, int64_t *expires_s, char *why, size_t wlen)
{
    struct gh_ocsp_cert *oc = p->oc;
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    X509_STORE *store = NULL;
    char err[256];
    int rc = -1;
    if (len > GH_OCSP_DER_MAX) {
        snprintf(why, wlen, "the response is too large (%zu bytes, at most %d)", len,
                 GH_OCSP_DER_MAX);
        return -1;
    }
    const unsigned char *q = der;
    resp = d2i_OCSP_RESPONSE(NULL, &q, (long)len);
    if (resp == NULL || q != der + len) {
        snprintf(why, wlen, "the answer is not a DER OCSP response");
        goto out;
    }
    int st = OCSP_response_status(resp);
    if (st != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        snprintf(why, wlen, "the responder says \"%s\"", OCSP_response_status_str(st));
        goto out;
    }
    if ((bs = OCSP_response_get1_basic(resp)) == NULL) {
        snprintf(why, wlen, "no basic OCSP response");
        goto out;
    }
    /* The issuer is the trust anchor: the response must come from it or a
     * responder it certified for OCSP signing. */
    store = X509_STORE_new();
    if (store == NULL || !X509_STORE_add_cert(store, oc->issuer)
        || !X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN)) {
        snprintf(why, wlen, "out of memory");
        goto out;
    }
    if (OCSP_basic_verify(bs, oc->chain, store, 0) != 1) {
        snprintf(why, wlen, "the response does not verify (%s)", gh_tls_err(err, sizeof(err)));
        goto out;
    }
    int status, reason;
    ASN1_GENERALIZEDTIME *rev, *thisupd, *nextupd;
    if (OCSP_resp_find_status(bs, oc->id, &status, &reason, &rev, &thisupd, &nextupd) != 1) {
        snprintf(why, wlen, "the response has no status for this certificate");
        goto out;
    }
    if (OCSP_check_validity(thisupd, nextupd, SKEW_S, -1) != 1) {
        snprintf(why, wlen, "the response is not valid now (thisUpdate or nextUpdate: %s)",
                 gh_tls_err(err, sizeof(err)));
        goto out;
    }
    if (status != V_OCSP_CERTSTATUS_GOOD) {
        snprintf(why, wlen, "certificate status \"%s\"%s%s", OCSP_cert_status_str(status),
                 status == V_OCSP_CERTSTATUS_REVOKED && reason >= 0 ? ", reason: " : "",
                 status == V_OCSP_CERTSTATUS_REVOKED && reason >= 0
                     ? OCSP_crl_reason_str(reason) : "");
        goto out;
    }
    *this_s = gh_ocsp_time(thisupd);
    *expires_s = nextupd != NULL ? gh_ocsp_time(nextupd) : *this_s + NO_NEXT_UPDATE_S;
    if (*this_s < 0 || *expires_s < 0 || *expires_s <= (int64_t)gh_now_sec) {
        snprintf(why, wlen, "the response has expired");
        goto out;
    }
    rc = 0;
out:
    ERR_clear_error();
    X509_STORE_free(store);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    return rc;
}

static void fetch_got(struct fetch *p, const unsigned char *der, size_t len)
{
    struct gh_ocsp_cert *oc = p->oc;
    char why[384], t1[32], t2[32];
    int64_t this_s, expires_s;
    if (check_response(p, der, len, &this_s, &expires_s, why, sizeof(why)) == -1) {
        fetch_failed(p, why);
        return;
    }
    fetch_close(p);
    if (gh_ocsp_slot_store(p->slot, oc->fp, der, len, V_OCSP_CERTSTATUS_GOOD, this_s,
                           expires_s) == -1) {
        fetch_failed(p, "the shared slot is unusable");
        return;
    }
    atomic_fetch_add(&p->slot->fetched, 1);
    p->retry_ms = RETRY_FIRST_MS;
    gh_msec_t next = refresh_in(expires_s);
    gh_log_info("OCSP stapling: certificate in '%s' (%s) is \"good\" according to %s (this "
                "update %s, next update %s); next fetch in %lld s", oc->cert_path, oc->name,
                oc->url, utc(this_s, t1, sizeof(t1)), utc(expires_s, t2, sizeof(t2)),
                (long long)(next / 1000));
    gh_loop_timer_set(p->f->loop, &p->timer, next);
}

/* The value of header `name` in the head [h, end), or NULL. */
static const char *header(const char *h, const char *end, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    for (const char *line = h; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - line) > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        line = eol + 1;
    }
    return NULL;
}

/* Is the HTTP answer in p->buf complete (1), incomplete (0) or bad (-1,
 * with why)? On 1, the body. */
static int http_answer(struct fetch *p, bool eof, const unsigned char **body, size_t *blen,
                       char *why, size_t wlen)
{
    const char *b = (const char *)p->buf;
    const char *hend = memmem(b, p->got, "\r\n\r\n", 4);
    if (hend == NULL) {
        if (p->got >= HEAD_MAX || eof) {
            snprintf(why, wlen, eof ? "the responder closed the connection before a whole "
                     "HTTP head" : "the HTTP head is too long");
            return -1;
        }
        return 0;
    }
    size_t head_len = (size_t)(hend - b) + 4;
    if (head_len < 12 || memcmp(b, "HTTP/1.", 7) != 0 || b[8] != ' ') {
        snprintf(why, wlen, "the answer is not HTTP/1.x");
        return -1;
    }
    if (memcmp(b + 9, "200", 3) != 0 || (b[12] != ' ' && b[12] != '\r')) {
        snprintf(why, wlen, "the responder answered HTTP %.3s", b + 9);
        return -1;
    }
    const char *line1 = memchr(b, '\n', head_len);
    size_t vlen;
    const char *v = header(line1 + 1, hend + 2, "Content-Type", &vlen);
    if (v != NULL && !(vlen >= 25 && strncasecmp(v, "application/ocsp-response", 25) == 0)) {
        snprintf(why, wlen, "the responder sent Content-Type \"%.*s\"", (int)GH_MIN(vlen, 64),
                 v);
        return -1;
    }
    if (header(line1 + 1, hend + 2, "Transfer-Encoding", &vlen) != NULL) {
        snprintf(why, wlen, "the responder sent Transfer-Encoding (to an HTTP/1.0 request)");
        return -1;
    }
    size_t have = p->got - head_len;
    v = header(line1 + 1, hend + 2, "Content-Length", &vlen);
    if (v != NULL) {
        size_t cl = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9' || cl > GH_OCSP_DER_MAX) {
                snprintf(why, wlen, "the responder sent a bad or too large Content-Length "
                         "(at most %d)", GH_OCSP_DER_MAX);
                return -1;
            }
            cl = cl * 10 + (size_t)(v[i] - '0');
        }
        if (vlen == 0 || cl > GH_OCSP_DER_MAX) {
            snprintf(why, wlen, "the responder sent a bad or too large Content-Length "
                     "(at most %d)", GH_OCSP_DER_MAX);
            return -1;
        }
        if (have < cl) {
            if (eof) {
                snprintf(why, wlen, "the responder closed the connection after %zu of %zu "
                         "bytes", have, cl);
                return -1;
            }
            return 0;
        }
        have = cl;
    } else if (!eof) {
        if (have > GH_OCSP_DER_MAX) {
            snprintf(why, wlen, "the response is larger than %d bytes", GH_OCSP_DER_MAX);
            return -1;
        }
        return 0;
    }
    *body = p->buf + head_len;
    *blen = have;
    return 1;
}

static void fetch_read(struct fetch *p)
{
    char why[256];
    for (int i = 0; i < 16; i++) {
        bool eof = false;
        size_t room = sizeof(p->buf) - p->got;
        ssize_t r = room > 0 ? recv(p->io.fd, p->buf + p->got, room, 0) : 0;
        if (r == -1 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r == -1) {
            snprintf(why, sizeof(why), "recv(): %s", strerror(errno));
            fetch_failed(p, why);
            return;
        }
        if (r == 0 && room > 0)
            eof = true;
        p->got += (size_t)r;
        const unsigned char *body;
        size_t blen;
        int rc = http_answer(p, eof || room == 0, &body, &blen, why, sizeof(why));
        if (rc == -1) {
            fetch_failed(p, why);
            return;
        }
        if (rc == 1) {
            fetch_got(p, body, blen);
            return;
        }
    }
}

static void fetch_event(struct gh_io *io, uint32_t revents)
{
    struct fetch *p = io->data;
    char why[256];
    if (!p->sent) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
            err = errno;
        if (err != 0) {
            snprintf(why, sizeof(why), "connect(): %s", strerror(err));
            fetch_failed(p, why);
            return;
        }
        if (!(revents & EPOLLOUT))
            return;
        ssize_t w = send(io->fd, p->req + p->req_off, p->req_len - p->req_off, MSG_NOSIGNAL);
        if (w == -1 && errno != EAGAIN && errno != EINTR) {
            snprintf(why, sizeof(why), "send(): %s", strerror(errno));
            fetch_failed(p, why);
            return;
        }
        if (w > 0)
            p->req_off += (size_t)w;
        if (p->req_off < p->req_len)
            return;
        p->sent = true;
        gh_io_modify(p->f->loop, io, EPOLLIN | EPOLLRDHUP);
    }
    if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
        fetch_read(p);
}

static void fetch_start(struct fetch *p)
{
    const struct gh_conf_addr *a = &p->oc->addr;
    char why[256];
    p->got = 0;
    p->req_off = 0;
    p->sent = false;
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(why, sizeof(why), "socket(): %s", strerror(errno));
        fetch_failed(p, why);
        return;
    }
    if (connect(fd, (const struct sockaddr *)&a->sa, a->salen) == -1 && errno != EINPROGRESS) {
        snprintf(why, sizeof(why), "connect(): %s", strerror(errno));
        close(fd);
        fetch_failed(p, why);
        return;
    }
    if (gh_io_start(p->f->loop, &p->io, fd, EPOLLOUT | EPOLLIN | EPOLLRDHUP) == -1) {
        snprintf(why, sizeof(why), "epoll_ctl(): %s", strerror(errno));
        close(fd);
        fetch_failed(p, why);
        return;
    }
    p->busy = true;
    gh_loop_timer_set(p->f->loop, &p->timer, FETCH_TIMEOUT_MS);
}

static void fetch_timer(struct gh_timer *t)
{
    struct fetch *p = t->data;
    if (p->busy)
        fetch_failed(p, "timed out");
    else
        fetch_start(p);
}

/* The HTTP request: POST of the DER OCSP request (made by OpenSSL from the
 * certificate id) to the responder's path. 0 or -1. */
static int build_request(struct fetch *p)
{
    const struct gh_ocsp_cert *oc = p->oc;
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    OCSP_CERTID *id = OCSP_CERTID_dup(oc->id);
    int rc = -1;
    if (req == NULL || id == NULL || OCSP_request_add0_id(req, id) == NULL) {
        OCSP_CERTID_free(id);
        goto out;
    }
    int dlen = i2d_OCSP_REQUEST(req, NULL);
    char head[1536];
    int hlen = snprintf(head, sizeof(head),
                        "POST %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: gatehouse\r\n"
                        "Content-Type: application/ocsp-request\r\n"
                        "Accept: application/ocsp-response\r\nContent-Length: %d\r\n\r\n",
                        oc->path, oc->authority, dlen);
    if (dlen <= 0 || hlen <= 0 || (size_t)hlen >= sizeof(head)
        || (p->req = malloc((size_t)hlen + (size_t)dlen)) == NULL)
        goto out;
    memcpy(p->req, head, (size_t)hlen);
    unsigned char *q = p->req + hlen;
    if (i2d_OCSP_REQUEST(req, &q) != dlen)
        goto out;
    p->req_len = (size_t)hlen + (size_t)dlen;
    rc = 0;
out:
    ERR_clear_error();
    OCSP_REQUEST_free(req);
    return rc;
}

static int cmp_fetch(const void *a, const void *b)
{
    const struct fetch *x = a, *y = b;
    return x->oc->index < y->oc->index ? -1 : x->oc->index > y->oc->index;
}

/* The certificates of every context that need fetching: counted, and
 * stored in f->v when f is given. */
static size_t each_cert(struct gh_tls *tls, struct gh_tls_ocsp *f)
{
    size_t n = 0;
    for (size_t g = 0; g < tls->ngroups; g++) {
        SSL_CTX *ctx = tls->groups[g].ctx;
        for (long r = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST); r == 1;
             r = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT)) {
            struct gh_ocsp_cert *oc = gh_ocsp_cert_of(SSL_CTX_get0_certificate(ctx));
            if (oc == NULL || oc->id == NULL || !oc->has_slot || oc->file_der != NULL)
                continue;
            if (f != NULL)
                f->v[n].oc = oc;
            n++;
        }
    }
    ERR_clear_error();
    return n;
}

struct gh_tls_ocsp *gh_tls_ocsp_start(struct gh_loop *loop)
{
    struct gh_tls *tls = gh_tls_current();
    if (tls == NULL || gh_ocsp_region == NULL)
        return NULL;
    size_t n = each_cert(tls, NULL);
    if (n == 0)
        return NULL;
    struct gh_tls_ocsp *f = calloc(1, sizeof(*f));
    if (f == NULL || (f->v = calloc(n, sizeof(*f->v))) == NULL) {
        free(f);
        gh_log_error("out of memory starting OCSP stapling");
        return NULL;
    }
    f->loop = loop;
    f->n = each_cert(tls, f);
    qsort(f->v, f->n, sizeof(*f->v), cmp_fetch);
    for (size_t i = 0; i < f->n; i++) {
        struct fetch *p = &f->v[i];
        p->f = f;
        p->slot = &gh_ocsp_region->slots[p->oc->index];
        p->retry_ms = RETRY_FIRST_MS;
        gh_io_init(&p->io, fetch_event, p);
        gh_timer_init(&p->timer, fetch_timer, p);
        if (build_request(p) == -1) {
            gh_log_error("OCSP stapling: cannot make the OCSP request for the certificate in "
                         "'%s'", p->oc->cert_path);
            continue;
        }
        /* A response that an earlier helper stored (before a reload or an
         * upgrade) is used until its refresh is due. */
        unsigned char der[GH_OCSP_DER_MAX];
        size_t len;
        int64_t expires;
        int status;
        gh_msec_t delay = (gh_msec_t)(i * 100 / f->n);
        if (gh_ocsp_slot_load(p->slot, p->oc->fp, der, &len, &expires, &status)
            && expires - (int64_t)gh_now_sec > 2 * REFRESH_MIN_MS / 1000)
            delay = refresh_in(expires);
        gh_loop_timer_set(loop, &p->timer, delay);
    }
    return f;
}

void gh_tls_ocsp_stop(struct gh_tls_ocsp *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++) {
        gh_loop_timer_cancel(f->loop, &f->v[i].timer);
        fetch_close(&f->v[i]);
        free(f->v[i].req);
    }
    free(f->v);
    free(f);
}
