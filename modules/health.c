/*
 * health.c - active health checks in the helper process (see health.h).
 * Each probe is a small state machine on the helper's loop: idle (interval
 * timer armed) -> connecting -> (TLS handshake, for an upstream with
 * tls.enable) -> sending -> reading the status line -> idle. The probe
 * speaks through a transport, so a TLS upstream is checked over TLS with
 * the same context, name check and SNI as the workers' connections.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"
#include "modules/health.h"
#include "server/tls.h"

struct probe {
    struct gh_health *h;
    const struct gh_conf_upstream *up;
    const struct gh_conf_upstream_server *srv;
    struct gh_us_slot *st;
    struct gh_us_slot priv;             /* when the region has no slot for it */
    struct gh_io io;
    struct gh_transport tp;             /* over io.fd while busy */
    struct gh_tls_client *tls;          /* the upstream's TLS client side, or NULL */
    size_t index;                       /* of srv in up->servers */
    struct gh_timer timer;              /* next probe, or the probe's timeout */
    bool busy;
    bool connected;                     /* the TCP connect is done */
    bool handshaking;                   /* the TLS handshake is not */
    bool sent;
    gh_msec_t started;
    size_t req_len, req_off, got;
    char req[600];
    char buf[256];
};

struct gh_health {
    struct gh_loop *loop;
    struct probe *probes;
    size_t n;
};

int gh_health_status(const char *buf, size_t len)
{
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
        return -1;
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return -1;
        st = st * 10 + (buf[i] - '0');
    }
    if (len > 12 && buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n')
        return -1;
    return st >= 100 ? st : -1;
}

static void probe_arm(struct probe *p, gh_msec_t delay);

static void probe_close(struct probe *p)
{
    if (p->io.fd != -1) {
        gh_io_stop(p->h->loop, &p->io);
        gh_transport_close(&p->tp);
    }
    p->busy = false;
}

/* One probe finished: update the rise/fall counters and the state. */
static void probe_done(struct probe *p, bool ok, const char *why)
{
    struct gh_us_slot *st = p->st;
    probe_close(p);
    if (ok) {
        atomic_store(&st->hc_fail, 0);
        int n = atomic_fetch_add(&st->hc_ok, 1) + 1;
        if (atomic_load(&st->down) && n >= p->up->health.rise) {
            atomic_store(&st->up_since, gh_now_ms > 0 ? gh_now_ms : 1);
            atomic_store(&st->down, 0);
            gh_log_notice("upstream \"%s\" server %s is up (%d good health checks)",
                          p->up->name, p->srv->addr.text, n);
        }
    } else {
        atomic_store(&st->hc_ok, 0);
        int n = atomic_fetch_add(&st->hc_fail, 1) + 1;
        if (!atomic_load(&st->down) && n >= p->up->health.fall) {
            atomic_store(&st->down, 1);
            gh_log_warn("upstream \"%s\" server %s is down after %d failed health checks "
                        "(last: %s)", p->up->name, p->srv->addr.text, n, why);
        } else if (!atomic_load(&st->down)) {
            gh_log_info("health check of upstream \"%s\" server %s failed: %s", p->up->name,
                        p->srv->addr.text, why);
        }
    }
    gh_msec_t spent = gh_now_ms - p->started;
    probe_arm(p, GH_MAX(p->up->health.interval - spent, (gh_msec_t)10));
}

static void probe_read(struct probe *p)
{
    for (int i = 0; i < 8; i++) {
        ssize_t r = gh_transport_read(&p->tp, p->buf + p->got, sizeof(p->buf) - 1 - p->got);
        if (r == GH_AGAIN)
            return;
        if (r <= 0 || (p->got += (size_t)r) >= sizeof(p->buf) - 1 || memchr(p->buf, '\n', p->got)) {
            int st = gh_health_status(p->buf, p->got);
            char why[64];
            if (st < 0)
                snprintf(why, sizeof(why), r == GH_ERROR ? "%s" : "no valid status line",
                         strerror(errno));
            else
                snprintf(why, sizeof(why), "status %d", st);
            probe_done(p, st >= p->up->health.expect_lo && st <= p->up->health.expect_hi, why);
            return;
        }
    }
}

/* The TCP connect, then the TLS handshake. true when the request can go. */
static bool probe_connect(struct probe *p, uint32_t revents)
{
    if (!p->connected) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(p->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
            err = errno;
        if (err != 0) {
            probe_done(p, false, strerror(err));
            return false;
        }
        if (!(revents & EPOLLOUT))
            return false;
        p->connected = true;
    }
    if (!p->handshaking)
        return true;
    char why[192];
    int rc = gh_tls_client_handshake(&p->tp, why, sizeof(why));
    if (rc == GH_ERROR) {
        probe_done(p, false, why);
        return false;
    }
    if (rc == GH_AGAIN) {
        /* Level-triggered: wait only for what the handshake needs. */
        gh_io_modify(p->h->loop, &p->io, gh_tls_client_wants_write(&p->tp)
                                             ? EPOLLOUT : EPOLLIN | EPOLLRDHUP);
        return false;
    }
    p->handshaking = false;
    gh_io_modify(p->h->loop, &p->io, EPOLLOUT | EPOLLIN | EPOLLRDHUP);
    return true;
}

static void probe_event(struct gh_io *io, uint32_t revents)
{
    struct probe *p = io->data;
    if (!p->sent) {
        if (!probe_connect(p, revents))
            return;
        struct iovec v = { p->req + p->req_off, p->req_len - p->req_off };
        ssize_t w = gh_transport_writev(&p->tp, &v, 1);
        if (w == GH_ERROR) {
            probe_done(p, false, strerror(errno));
            return;
        }
        if (w > 0)
            p->req_off += (size_t)w;
        if (p->req_off < p->req_len)
            return;
        p->sent = true;
        gh_io_modify(p->h->loop, io, EPOLLIN | EPOLLRDHUP);
    }
    if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
        probe_read(p);
}

static void probe_start(struct probe *p)
{
    const struct gh_conf_addr *a = &p->srv->addr;
    p->started = gh_now_ms;
    p->got = 0;
    p->req_off = 0;
    p->sent = false;
    p->connected = false;
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        gh_log(GH_LOG_ERROR, errno, "socket() for the health check of %s failed", a->text);
        probe_done(p, false, "socket() failed");
        return;
    }
    if (connect(fd, (const struct sockaddr *)&a->sa, a->salen) == -1 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        probe_done(p, false, strerror(err));
        return;
    }
    gh_transport_init_plain(&p->tp, fd);
    if (p->tls != NULL && gh_tls_client_start(p->tls, p->index, &p->tp) == -1) {
        close(fd);
        probe_done(p, false, "cannot start TLS (out of memory)");
        return;
    }
    p->handshaking = p->tls != NULL;
    if (gh_io_start(p->h->loop, &p->io, fd, EPOLLOUT | EPOLLIN | EPOLLRDHUP) == -1) {
        gh_transport_close(&p->tp);
        probe_done(p, false, "epoll_ctl() failed");
        return;
    }
    p->busy = true;
    gh_loop_timer_set(p->h->loop, &p->timer, p->up->health.timeout);
}

static void probe_timer(struct gh_timer *t)
{
    struct probe *p = t->data;
    if (p->busy)
        probe_done(p, false, "timed out");
    else
        probe_start(p);
}

static void probe_arm(struct probe *p, gh_msec_t delay)
{
    gh_loop_timer_set(p->h->loop, &p->timer, delay);
}

struct gh_health *gh_health_start(struct gh_loop *loop, const struct gh_conf *conf,
                                  struct gh_us_region *reg)
{
    size_t n = 0;
    for (size_t u = 0; u < conf->nupstreams; u++)
        if (conf->upstreams[u].health.enabled)
            n += conf->upstreams[u].nservers;
    if (n == 0)
        return NULL;
    struct gh_health *h = calloc(1, sizeof(*h));
    if (h == NULL || (h->probes = calloc(n, sizeof(*h->probes))) == NULL) {
        free(h);
        gh_log_error("out of memory starting health checks");
        return NULL;
    }
    h->loop = loop;
    for (size_t u = 0; u < conf->nupstreams; u++) {
        const struct gh_conf_upstream *up = &conf->upstreams[u];
        if (!up->health.enabled)
            continue;
        struct gh_tls_client *tls;
        if (gh_tls_client_for(conf, u, &tls) == -1) {
            gh_log_error("upstream \"%s\" has tls.enable but no TLS context: no health "
                         "checks", up->name);
            continue;
        }
        for (size_t k = 0; k < up->nservers; k++) {
            struct probe *p = &h->probes[h->n];
            p->h = h;
            p->up = up;
            p->srv = &up->servers[k];
            p->tls = tls;
            p->index = k;
            p->tp.fd = -1;
            int slot = gh_us_find(reg, up->name, p->srv->addr.text);
            p->st = slot >= 0 ? gh_us_slot(reg, slot) : &p->priv;
            gh_io_init(&p->io, probe_event, p);
            gh_timer_init(&p->timer, probe_timer, p);
            const char *host = up->health.host[0] ? up->health.host
                               : p->srv->addr.kind == GH_ADDR_UNIX ? "localhost"
                                                                   : p->srv->addr.text;
            int len = snprintf(p->req, sizeof(p->req),
                               "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gatehouse-health\r\n"
                               "Connection: close\r\n\r\n", up->health.path, host);
            p->req_len = len > 0 ? GH_MIN((size_t)len, sizeof(p->req) - 1) : 0;
            /* Spread the first round over 100 ms. */
            probe_arm(p, (gh_msec_t)(h->n * 100 / n));
            h->n++;
        }
    }
    return h;
}

void gh_health_stop(struct gh_health *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n; i++) {
        gh_loop_timer_cancel(h->loop, &h->probes[i].timer);
        probe_close(&h->probes[i]);
    }
    free(h->probes);
    free(h);
}
