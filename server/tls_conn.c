/*
 * tls_conn.c - TLS on a client connection: the transport (reads, writes,
 * close_notify over SSL) and the handshake, which runs as the connection's
 * protocol until it is done and then hands over to the protocol ALPN chose.
 *
 * Everything is non-blocking: WANT_READ and WANT_WRITE are GH_AGAIN, and
 * the edge-triggered registration (EPOLLIN | EPOLLOUT) brings the next
 * event. The handshake is bounded by the connection's client_header timer.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/pool.h"
#include "common/time.h"
#include "server/conn.h"
#include "server/http1.h"
#include "server/http2.h"
#include "server/tls_priv.h"
#include "modules/blacklist.h"
#include "modules/edge.h"

#define TLS_RECORD 16384                /* plaintext bytes in a full record */

/* Small pieces are gathered into one record (one write(2), one MAC)
 * instead of one record each. The worker is single-threaded. */
static unsigned char gather_buf[TLS_RECORD];

static ssize_t tls_failed(struct gh_transport *t, int err)
{
    t->flags |= GH_TLS_FATAL;
    if (err != SSL_ERROR_SYSCALL || errno == 0)
        errno = EPROTO;
    ERR_clear_error();
    return GH_ERROR;
}

/* SSL_read gives at most one record: read on until len is filled or the
 * socket is drained (WANT_READ), so that a short read means what it means
 * on a plain socket and edge-triggered epoll brings the next bytes. */
ssize_t gh_tls_io_read(struct gh_transport *t, void *buf, size_t len)
{
    SSL *ssl = t->ctx;
    size_t total = 0;
    while (total < len) {
        size_t n;
        ERR_clear_error();
        if (SSL_read_ex(ssl, (char *)buf + total, len - total, &n) == 1) {
            total += n;
            continue;
        }
        int err = SSL_get_error(ssl, 0);
        if (err == SSL_ERROR_WANT_READ && !SSL_has_pending(ssl))
            SSL_free_buffers(ssl);      /* drained: the probe's record buffer goes */
        if (total > 0) {
            if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE
                && err != SSL_ERROR_ZERO_RETURN)
                t->flags |= GH_TLS_FATAL;  /* the next read reports it */
            break;
        }
        switch (err) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
            return GH_AGAIN;
        case SSL_ERROR_ZERO_RETURN:
            return GH_DONE;             /* close_notify, or a FIN (IGNORE_UNEXPECTED_EOF) */
        default:
            return tls_failed(t, err);
        }
    }
    return (ssize_t)total;
}

/* Write iov as records. A write that would block is retried by the caller
 * with the same bytes first (the output queue keeps them), which is what
 * SSL_write needs: the gathering below is deterministic for a given queue
 * head, and ACCEPT_MOVING_WRITE_BUFFER lets the bytes sit elsewhere. */
ssize_t gh_tls_io_writev(struct gh_transport *t, const struct iovec *iov, int iovcnt)
{
    SSL *ssl = t->ctx;
    size_t total = 0, off = 0;
    int i = 0;

    /* Until WANT_WRITE or all is written, as writev(2) does: a short
     * return must mean a full socket, or no EPOLLOUT edge would follow. */
    while (i < iovcnt) {
        size_t left = iov[i].iov_len - off;
        if (left == 0) {
            i++;
            off = 0;
            continue;
        }
        const void *p;
        size_t len;
        if (left >= TLS_RECORD || i + 1 == iovcnt) {
            p = (const char *)iov[i].iov_base + off;
            len = left;
        } else {
            len = 0;
            for (int k = i; k < iovcnt && len < TLS_RECORD; k++) {
                size_t from = k == i ? off : 0;
                size_t take = GH_MIN(iov[k].iov_len - from, TLS_RECORD - len);
                memcpy(gather_buf + len, (const char *)iov[k].iov_base + from, take);
                len += take;
            }
            p = gather_buf;
        }
        size_t n;
        ERR_clear_error();
        if (SSL_write_ex(ssl, p, len, &n) != 1) {
            int err = SSL_get_error(ssl, 0);
            if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ)
                return total > 0 ? (ssize_t)total : GH_AGAIN;
            ssize_t rc = tls_failed(t, err);
            return total > 0 ? (ssize_t)total : rc;
        }
        total += n;
        while (n > 0 && i < iovcnt) {   /* advance over what the record took */
            size_t step = GH_MIN(n, iov[i].iov_len - off);
            off += step;
            n -= step;
            if (off == iov[i].iov_len) {
                i++;
                off = 0;
            }
        }
    }
    return (ssize_t)total;
}

int gh_tls_io_shutdown(struct gh_transport *t)
{
    SSL *ssl = t->ctx;
    if (!(t->flags & GH_TLS_FATAL) && SSL_is_init_finished(ssl)) {
        ERR_clear_error();
        if (SSL_shutdown(ssl) < 0) {    /* close_notify queued or lost: the FIN follows */
            t->flags |= GH_TLS_FATAL;
            ERR_clear_error();
        }
    }
    return shutdown(t->fd, SHUT_WR);
}

static bool tls_pending(const struct gh_transport *t)
{
    return SSL_has_pending(t->ctx) == 1;
}

/* Record bytes still in the socket: a little more than the plaintext they
 * carry, so the rate checks count slightly less progress than was made. */
int64_t gh_tls_io_unacked(const struct gh_transport *t)
{
    int queued;
    if (ioctl(t->fd, SIOCOUTQ, &queued) == -1 || queued < 0)
        return -1;
    return queued;
}

void gh_tls_io_close(struct gh_transport *t)
{
    SSL *ssl = t->ctx;
    /* A close_notify if it fits in the socket (never waits): a client
     * reading a close-delimited body can tell the end from a cut. */
    if (!(t->flags & GH_TLS_FATAL) && SSL_is_init_finished(ssl)
        && !(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)) {
        ERR_clear_error();
        SSL_shutdown(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    t->ctx = NULL;
    close(t->fd);
    t->fd = -1;
}

const struct gh_transport_ops gh_transport_tls = {
    .name = "tls",
    .read = gh_tls_io_read,
    .writev = gh_tls_io_writev,
    .shutdown = gh_tls_io_shutdown,
    .pending = tls_pending,
    .unacked = gh_tls_io_unacked,
    .close = gh_tls_io_close,
};

const char *gh_tls_protocol(const struct gh_transport *t)
{
    return gh_transport_is_tls(t) && t->ctx != NULL ? SSL_get_version(t->ctx) : NULL;
}

const char *gh_tls_cipher(const struct gh_transport *t)
{
    return gh_transport_is_tls(t) && t->ctx != NULL ? SSL_get_cipher_name(t->ctx) : NULL;
}

const char *gh_tls_sni(const struct gh_transport *t)
{
    if (!gh_transport_is_tls(t) || t->ctx == NULL)
        return NULL;
    return SSL_get_servername(t->ctx, TLSEXT_NAMETYPE_host_name);
}

/* ---- the socket BIO: bytes read before the handshake, drained reads ------ */

/* A socket BIO that first returns bytes already read from the socket (the
 * start of the ClientHello that came in the same read as the PROXY
 * header), and remembers whether its last read(2) drained the socket. */
struct sock_bio {
    int fd;
    bool drained;                       /* the last read was short or EAGAIN */
    size_t len, off;
    unsigned char bytes[];
};

static int sock_bio_read(BIO *b, char *out, int outl)
{
    struct sock_bio *e = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (outl <= 0)
        return 0;
    if (e->off < e->len) {
        size_t n = GH_MIN((size_t)outl, e->len - e->off);
        memcpy(out, e->bytes + e->off, n);
        e->off += n;
        e->drained = false;
        return (int)n;
    }
    for (;;) {
        ssize_t n = read(e->fd, out, (size_t)outl);
        if (n >= 0) {
            e->drained = n < outl;
            return (int)n;
        }
        if (errno == EINTR)
            continue;
        e->drained = true;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_read(b);
        return -1;
    }
}

static int sock_bio_write(BIO *b, const char *in, int inl)
{
    struct sock_bio *e = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    for (;;) {
        ssize_t n = send(e->fd, in, (size_t)inl, MSG_NOSIGNAL);
        if (n >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_write(b);
        return -1;
    }
}

static long sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    GH_UNUSED(b); GH_UNUSED(num); GH_UNUSED(ptr);
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int sock_bio_destroy(BIO *b)
{
    free(BIO_get_data(b));
    BIO_set_data(b, NULL);
    return 1;
}

static BIO_METHOD *sock_bio_method;

BIO *gh_tls_bio_new(int fd, const void *early, size_t len)
{
    if (sock_bio_method == NULL) {
        BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                     "gatehouse socket");
        if (m == NULL || !BIO_meth_set_read(m, sock_bio_read)
            || !BIO_meth_set_write(m, sock_bio_write) || !BIO_meth_set_ctrl(m, sock_bio_ctrl)
            || !BIO_meth_set_destroy(m, sock_bio_destroy)) {
            BIO_meth_free(m);
            return NULL;
        }
        sock_bio_method = m;
    }
    struct sock_bio *e = malloc(sizeof(*e) + len);
    if (e == NULL)
        return NULL;
    e->fd = fd;
    e->drained = false;
    e->len = len;
    e->off = 0;
    if (len > 0)
        memcpy(e->bytes, early, len);
    BIO *b = BIO_new(sock_bio_method);
    if (b == NULL) {
        free(e);
        return NULL;
    }
    BIO_set_data(b, e);
    BIO_set_init(b, 1);
    return b;
}

bool gh_tls_bio_drained(BIO *b)
{
    const struct sock_bio *e = BIO_get_data(b);
    return e != NULL && e->drained;
}

/* ---- the handshake ------------------------------------------------------ */

static void handshake_done(struct gh_conn *c)
{
    struct gh_worker *w = c->w;
    SSL *ssl = c->tp.ctx;
    gh_edge_count_event(SSL_session_reused(ssl) ? GH_EDGE_TLS_RESUMED : GH_EDGE_TLS_FULL);
    const unsigned char *alpn;
    unsigned int alpn_len;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    if (alpn_len == 2 && memcmp(alpn, "h2", 2) == 0) {
        if (gh_http2_start(c, NULL, 0) == -1)
            gh_conn_close(c);
        return;
    }
    /* ALPN chose http/1.1, or nothing: HTTP/1. */
    c->proto = &gh_http1_proto;
    c->state = GH_CONN_IDLE;
    c->idle_since = gh_now_ms;
    gh_list_remove(&c->link);
    gh_list_insert_tail(&w->idle, &c->link);
    /* The request head gets its own client_header time, as after accept. */
    gh_loop_timer_set(&w->loop, &c->timer, w->conf->timeouts.client_header);
    c->proto->on_event(c, EPOLLIN);     /* a request may have come with the Finished */
}

static void handshake(struct gh_conn *c)
{
    SSL *ssl = c->tp.ctx;
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    if (rc == 1) {
        handshake_done(c);
        return;
    }
    int err = SSL_get_error(ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return;
    char why[256], peer[48];
    int saved = errno;
    c->tp.flags |= GH_TLS_FATAL;
    if ((err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
        && BIO_number_read(SSL_get_rbio(ssl)) == 0) {
        /* Closed before a ClientHello: a port probe, not a failed handshake. */
        ERR_clear_error();
        gh_conn_close(c);
        return;
    }
    if (err == SSL_ERROR_ZERO_RETURN)
        snprintf(why, sizeof(why), "connection closed");
    else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        snprintf(why, sizeof(why), "%s", saved != 0 ? strerror(saved) : "connection closed");
    else
        gh_tls_err(why, sizeof(why));
    gh_edge_count_event(GH_EDGE_TLS_FAILED);
    gh_log_info("TLS handshake with %s failed: %s", c->addr.text[0] ? c->addr.text
                : gh_sockaddr_host(&c->peer, peer, sizeof(peer)), why);
    gh_conn_close(c);
}

static void handshake_event(struct gh_conn *c, uint32_t revents)
{
    GH_UNUSED(revents);                 /* an error shows in the handshake itself */
    handshake(c);
}

static void handshake_timeout(struct gh_conn *c)
{
    gh_edge_count_event(GH_EDGE_TLS_TIMEOUT);
    c->tp.flags |= GH_TLS_FATAL;        /* mid-handshake: no close_notify */
    gh_conn_close(c);
}

static void handshake_abort(struct gh_conn *c)
{
    GH_UNUSED(c);                       /* nothing in progress, no buffers */
}

static const struct gh_proto handshake_proto = {
    .name = "tls-handshake",
    .on_event = handshake_event,
    .on_timeout = handshake_timeout,
    .abort = handshake_abort,
};

int gh_tls_accept(struct gh_conn *c, const void *early, size_t early_len)
{
    struct gh_tls *tls = gh_tls_current();
    if (tls == NULL)
        return -1;
    SSL *ssl = SSL_new(tls->groups[0].ctx);
    if (ssl == NULL) {
        ERR_clear_error();
        return -1;
    }
    BIO *bio = early_len > 0 ? gh_tls_bio_new(c->tp.fd, early, early_len)
                             : BIO_new_socket(c->tp.fd, BIO_NOCLOSE);
    if (bio == NULL) {
        SSL_free(ssl);
        ERR_clear_error();
        return -1;
    }
    SSL_set_bio(ssl, bio, bio);
    SSL_set_accept_state(ssl);
    SSL_set_app_data(ssl, c);
    c->tp.ops = &gh_transport_tls;
    c->tp.ctx = ssl;
    c->tp.flags = 0;
    c->proto = &handshake_proto;
    c->state = GH_CONN_HANDSHAKE;
    gh_list_remove(&c->link);
    gh_list_insert_tail(&c->w->active, &c->link);
    return 0;
}

/* ---- the client's certificate (mTLS) ------------------------------------ */

static const char *name_text(const X509_NAME *name, struct gh_pool *pool)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL)
        return NULL;
    char *out = NULL;
    if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        if (n >= 0 && (out = gh_palloc(pool, (size_t)n + 1)) != NULL) {
            memcpy(out, p, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(b);
    return out;
}

const struct gh_tls_client_cert *gh_tls_client_cert(const struct gh_transport *t,
                                                     struct gh_pool *pool)
{
    if (!gh_transport_is_tls(t) || t->ctx == NULL)
        return NULL;
    X509 *x = SSL_get0_peer_certificate(t->ctx);
    if (x == NULL || SSL_get_verify_result(t->ctx) != X509_V_OK)
        return NULL;
    struct gh_tls_client_cert *cc = gh_palloc(pool, sizeof(*cc));
    if (cc == NULL)
        return NULL;
    cc->subject = name_text(X509_get_subject_name(x), pool);
    cc->issuer = name_text(X509_get_issuer_name(x), pool);
    cc->serial = NULL;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    if (hex != NULL) {
        size_t n = strlen(hex);
        char *s = gh_palloc(pool, n + 1);
        if (s != NULL)
            memcpy(s, hex, n + 1);
        cc->serial = s;
    }
    OPENSSL_free(hex);
    BN_free(bn);
    cc->verify = "SUCCESS";
    ERR_clear_error();
    if (cc->subject == NULL || cc->issuer == NULL || cc->serial == NULL)
        return NULL;
    return cc;
}
