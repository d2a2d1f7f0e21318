/*
 * upstream.c - upstream servers for one worker: round-robin choice,
 * passive health, connecting, and the idle keep-alive pool.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"
#include "modules/balance.h"
#include "modules/upstream_state.h"
#include "server/helper.h"
#include "server/http1.h"
#include "server/tls.h"
#include "server/upstream.h"
#include "server/worker.h"

static struct gh_upstream_rt *ups;
static size_t nups;

/* Private state for a server the shared region has no slot for. */
struct priv_state {
    struct gh_us_slot slot;
    struct gh_us_pctr pctr;
};

int gh_upstream_rt_init(struct gh_upstream_rt *up, const struct gh_conf_upstream *c,
                        struct gh_us_region *reg, int proc)
{
    memset(up, 0, sizeof(*up));
    up->conf = c;
    up->nservers = c->nservers;
    gh_list_init(&up->idle);
    up->servers = calloc(up->nservers ? up->nservers : 1, sizeof(*up->servers));
    up->priv = calloc(up->nservers ? up->nservers : 1, sizeof(struct priv_state));
    if (up->servers == NULL || up->priv == NULL)
        goto oom;
    for (size_t i = 0; i < up->nservers; i++) {
        struct gh_server_rt *s = &up->servers[i];
        s->conf = &c->servers[i];
        s->index = (int)i;
        int slot = gh_us_find(reg, c->name, s->conf->addr.text);
        if (slot >= 0) {
            s->st = gh_us_slot(reg, slot);
            s->pc = gh_us_pctr(reg, proc, slot);
        } else {
            struct priv_state *ps = &((struct priv_state *)up->priv)[i];
            s->st = &ps->slot;
            s->pc = &ps->pctr;
        }
        char key[GH_US_KEY_LEN + 2];
        int n = snprintf(key, sizeof(key), "%s %s", c->name, s->conf->addr.text);
        uint64_t h = gh_balance_hash64(key, (size_t)GH_MIN(n, (int)sizeof(key) - 1));
        snprintf(s->sticky_id, sizeof(s->sticky_id), "%016llx", (unsigned long long)h);
    }
    up->rng = gh_balance_hash64(&up, sizeof(up)) ^ ((uint64_t)getpid() << 32)
              ^ (uint64_t)gh_time_monotonic_ms();
    up->bal = gh_balance_for(c->balance);
    if (up->bal->init(up) == -1)
        goto oom;
    return 0;
oom:
    free(up->servers);
    free(up->priv);
    up->servers = NULL;
    up->priv = NULL;
    return -1;
}

void gh_upstream_rt_free(struct gh_upstream_rt *up)
{
    if (up->bal != NULL)
        up->bal->exit(up);
    free(up->servers);
    free(up->priv);
    up->servers = NULL;
    up->priv = NULL;
}

int gh_upstreams_init(struct gh_worker *w)
{
    const struct gh_conf *conf = w->conf;
    /* The helper's admin socket is no business of a worker. */
    gh_helper_close_inherited();
    int proc = gh_shm_proc_claim(w->shm, w->pid, w->generation, w->slot);
    nups = conf->nupstreams;
    ups = calloc(nups ? nups : 1, sizeof(*ups));
    if (ups == NULL)
        goto oom;
    for (size_t i = 0; i < nups; i++) {
        if (gh_upstream_rt_init(&ups[i], &conf->upstreams[i], gh_us_region(), proc) == -1)
            goto oom;
        if (gh_tls_client_for(conf, i, &ups[i].tls) == -1) {
            gh_log_error("upstream \"%s\" has tls.enable but no TLS context",
                         conf->upstreams[i].name);
            return -1;
        }
    }
    return 0;
oom:
    gh_log_error("out of memory setting up upstreams");
    return -1;
}

void gh_upstreams_exit(struct gh_worker *w)
{
    GH_UNUSED(w);
    for (size_t i = 0; ups != NULL && i < nups; i++) {
        struct gh_upstream_rt *up = &ups[i];
        while (up->servers != NULL && !gh_list_empty(&up->idle))
            gh_uconn_close(GH_CONTAINER_OF(up->idle.next, struct gh_uconn, link));
        gh_upstream_rt_free(up);
    }
    free(ups);
    ups = NULL;
    nups = 0;
}

struct gh_upstream_rt *gh_upstream_get(struct gh_worker *w, int idx)
{
    GH_UNUSED(w);
    if (idx < 0 || (size_t)idx >= nups)
        return NULL;
    return &ups[idx];
}

#define RLX memory_order_relaxed

bool gh_upstream_available(const struct gh_upstream_rt *up, const struct gh_server_rt *s)
{
    struct gh_us_slot *st = s->st;
    if (atomic_load_explicit(&st->down, RLX) || atomic_load_explicit(&st->drained, RLX))
        return false;
    if (atomic_load_explicit(&st->down_until, RLX) > gh_now_ms)
        return false;
    if (s->conf->max_conns > 0 && atomic_load_explicit(&st->active, RLX) >= s->conf->max_conns)
        return false;
    GH_UNUSED(up);
    return true;
}

int64_t gh_upstream_weight(const struct gh_upstream_rt *up, const struct gh_server_rt *s)
{
    int64_t w = (int64_t)s->conf->weight * 100;
    gh_msec_t ramp = up->conf->slow_start;
    if (ramp <= 0)
        return w;
    gh_msec_t since = atomic_load_explicit(&s->st->up_since, RLX);
    gh_msec_t du = atomic_load_explicit(&s->st->down_until, RLX);
    if (du <= gh_now_ms && du > since)
        since = du;                     /* back from a passive-health pause */
    if (since <= 0 || gh_now_ms - since >= ramp)
        return w;
    int64_t x = w * (gh_now_ms > since ? gh_now_ms - since : 0) / ramp;
    return x < 1 ? 1 : x;
}

int32_t gh_upstream_active(const struct gh_server_rt *s)
{
    return atomic_load_explicit(&s->st->active, RLX);
}

/* The server named by a valid sticky cookie, when it can take the request. */
static struct gh_server_rt *sticky_server(struct gh_upstream_rt *up, uint64_t tried,
                                          struct gh_req *r)
{
    const char *name = up->conf->sticky_cookie;
    struct gh_str v = gh_balance_cookie(r, name, strlen(name));
    if (v.len != 16)
        return NULL;
    for (size_t i = 0; i < up->nservers; i++) {
        struct gh_server_rt *s = &up->servers[i];
        if (memcmp(s->sticky_id, v.p, 16) == 0)
            return gh_balance_candidate(up, s, tried, s->conf->backup) ? s : NULL;
    }
    return NULL;
}

/* Set-Cookie "NAME=ID; Path=/; HttpOnly" on the response (a later try of
 * the same request replaces it). */
static void sticky_set(struct gh_upstream_rt *up, struct gh_server_rt *s, struct gh_req *r)
{
    const char *name = up->conf->sticky_cookie;
    char line[GH_US_KEY_LEN + 64];
    int n = snprintf(line, sizeof(line), "%s=%s; Path=/; HttpOnly", name, s->sticky_id);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    char *p = gh_palloc(r->pool, (size_t)n);
    if (p == NULL)
        return;
    memcpy(p, line, (size_t)n);
    r->set_cookie = gh_str_make(p, (size_t)n);
}

struct gh_server_rt *gh_upstream_pick(struct gh_upstream_rt *up, uint64_t tried, struct gh_req *r)
{
    bool sticky = r != NULL && up->conf->sticky_cookie != NULL && up->conf->sticky_cookie[0];
    if (sticky) {
        struct gh_server_rt *s = sticky_server(up, tried, r);
        if (s != NULL)
            return s;
    }
    struct gh_server_rt *s = up->bal->pick(up, tried, r, false);
    if (s == NULL)
        s = up->bal->pick(up, tried, r, true);
    if (s != NULL && sticky)
        sticky_set(up, s, r);
    return s;
}

void gh_upstream_fail(struct gh_upstream_rt *up, struct gh_server_rt *srv)
{
    const struct gh_conf_upstream *c = up->conf;
    struct gh_us_slot *st = srv->st;
    gh_us_pctr_add(&srv->pc->errors, 1);
    if (c->max_fails <= 0)
        return;
    gh_msec_t now = gh_now_ms;
    int64_t start = atomic_load(&st->fail_window);
    if (now - start > c->fail_timeout && atomic_compare_exchange_strong(&st->fail_window, &start, now))
        atomic_store(&st->fails, 0);
    if (atomic_fetch_add(&st->fails, 1) + 1 < c->max_fails)
        return;
    int64_t du = atomic_load(&st->down_until);
    if (du > now || !atomic_compare_exchange_strong(&st->down_until, &du, now + c->fail_timeout))
        return;
    /* One failure after the pause is enough to pause it again; a success
     * clears that (gh_upstream_ok). */
    atomic_store(&st->fail_window, now + c->fail_timeout);
    atomic_store(&st->fails, c->max_fails - 1);
    gh_log_warn("upstream \"%s\" server %s marked down for %lld ms after %d failures",
                c->name, gh_server_name(srv), (long long)c->fail_timeout, c->max_fails);
}

void gh_upstream_ok(struct gh_server_rt *srv)
{
    if (atomic_load_explicit(&srv->st->fails, RLX) != 0)
        atomic_store_explicit(&srv->st->fails, 0, RLX);
}

void gh_upstream_done(struct gh_upstream_rt *up, struct gh_server_rt *srv, int status,
                      gh_msec_t latency)
{
    GH_UNUSED(up);
    struct gh_us_pctr *pc = srv->pc;
    gh_us_pctr_add(&pc->requests, 1);
    if (status >= 500)
        gh_us_pctr_add(&pc->errors, 1);
    if (status > 0) {
        gh_us_pctr_latency(pc, (uint64_t)(latency > 0 ? latency : 0));
        gh_upstream_ok(srv);
    }
}

static void active_add(struct gh_server_rt *srv, int32_t d)
{
    atomic_fetch_add_explicit(&srv->st->active, d, RLX);
    atomic_store_explicit(&srv->pc->active, atomic_load_explicit(&srv->pc->active, RLX) + d, RLX);
}

void gh_uconn_discard(struct gh_uconn *uc)
{
    uc->px = NULL;
    active_add(uc->srv, -1);
    gh_list_init(&uc->link);
    uc->up->nidle++;                    /* gh_uconn_close takes an idle one off the count */
    gh_uconn_close(uc);
}

static void uconn_free(void *arg)
{
    free(arg);
}

static int connect_error(struct gh_uconn *uc)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(uc->tp.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
        err = errno;
    return err;
}

int gh_uconn_connect_step(struct gh_uconn *uc, uint32_t revents)
{
    if (!uc->handshaking) {
        int err = connect_error(uc);
        if (err == 0 && !(revents & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return GH_AGAIN;
        if (err != 0 || (revents & (EPOLLERR | EPOLLHUP))) {
            gh_log(GH_LOG_ERROR, err, "connect() to upstream %s failed", gh_server_name(uc->srv));
            return GH_ERROR;
        }
        uc->handshaking = gh_transport_is_tls_client(&uc->tp);
    }
    if (uc->handshaking) {
        char why[256];
        int rc = gh_tls_client_handshake(&uc->tp, why, sizeof(why));
        if (rc == GH_AGAIN)
            return GH_AGAIN;
        if (rc == GH_ERROR) {
            gh_log_error("TLS handshake with upstream %s failed: %s", gh_server_name(uc->srv),
                         why);
            return GH_ERROR;
        }
        uc->handshaking = false;
        gh_log_debug("TLS to upstream %s: %s%s", gh_server_name(uc->srv),
                     gh_tls_protocol(&uc->tp), gh_tls_client_resumed(&uc->tp) ? ", resumed" : "");
    }
    uc->connecting = false;
    return GH_OK;
}

void gh_uconn_close(struct gh_uconn *uc)
{
    if (uc->freed)
        return;
    uc->freed = true;
    gh_loop_timer_cancel(&uc->w->loop, &uc->timer);
    if (uc->px == NULL) {
        gh_list_remove(&uc->link);
        uc->up->nidle--;
    }
    gh_io_forget(&uc->w->loop, &uc->io);
    gh_transport_close(&uc->tp);
    gh_loop_defer(&uc->w->loop, &uc->deferred, uconn_free, uc);
}

/* May an idle TLS connection with bytes to read be kept? A record without
 * data (a late session ticket, a key update) is no reason to close;
 * close_notify, EOF or data are. */
static bool idle_tls_alive(struct gh_uconn *uc)
{
    char byte;
    return gh_transport_is_tls_client(&uc->tp) && gh_transport_read(&uc->tp, &byte, 1) == GH_AGAIN;
}

/* An idle connection became readable: the upstream closed it (or sent
 * garbage). Either way it cannot be reused. */
static void idle_event(struct gh_io *io, uint32_t revents)
{
    struct gh_uconn *uc = io->data;
    /* Edge-triggered: an EPOLLOUT edge (send space freed by an ACK) says
     * nothing about the connection's health. */
    if (!(revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        return;
    if (!(revents & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && idle_tls_alive(uc))
        return;
    gh_uconn_close(uc);
}

static void idle_timeout(struct gh_timer *t)
{
    gh_uconn_close(t->data);
}

void gh_uconn_release(struct gh_uconn *uc)
{
    struct gh_upstream_rt *up = uc->up;
    uc->px = NULL;
    active_add(uc->srv, -1);
    /* TLS may hold records read with the response (a close_notify right
     * after it): no new event would announce them. */
    bool gone = uc->tp.ops->pending(&uc->tp) && !idle_tls_alive(uc);
    if (up->conf->keepalive <= 0 || uc->nrequests >= up->conf->keepalive_requests
        || uc->w->draining || gone) {
        gh_list_init(&uc->link);
        up->nidle++;
        gh_uconn_close(uc);
        return;
    }
    if (up->nidle >= up->conf->keepalive) {
        /* Full: drop the oldest (the tail). */
        struct gh_uconn *old = GH_CONTAINER_OF(up->idle.prev, struct gh_uconn, link);
        gh_uconn_close(old);
    }
    uc->io.cb = idle_event;
    uc->io.data = uc;
    /* Newest first: insert at the head. */
    uc->link.next = up->idle.next;
    uc->link.prev = &up->idle;
    up->idle.next->prev = &uc->link;
    up->idle.next = &uc->link;
    up->nidle++;
    gh_timer_init(&uc->timer, idle_timeout, uc);
    gh_loop_timer_set(&uc->w->loop, &uc->timer, up->conf->keepalive_timeout);
}

static struct gh_uconn *connect_new(struct gh_worker *w, struct gh_upstream_rt *up,
                                    struct gh_server_rt *srv)
{
    const struct gh_conf_addr *a = &srv->conf->addr;
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        gh_log(GH_LOG_ERROR, errno, "socket() for upstream %s failed", a->text);
        return NULL;
    }
    if (a->sa.ss_family != AF_UNIX) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    struct gh_uconn *uc = calloc(1, sizeof(*uc));
    if (uc == NULL) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    uc->w = w;
    uc->up = up;
    uc->srv = srv;
    gh_list_init(&uc->link);
    gh_timer_init(&uc->timer, idle_timeout, uc);
    if (connect(fd, (const struct sockaddr *)&a->sa, a->salen) == -1) {
        if (errno != EINPROGRESS) {
            int err = errno;
            close(fd);
            free(uc);
            errno = err;
            return NULL;
        }
        uc->connecting = true;
    }
    gh_transport_init_plain(&uc->tp, fd);
    if (up->tls != NULL) {
        if (gh_tls_client_start(up->tls, (size_t)srv->index, &uc->tp) == -1) {
            close(fd);                  /* the caller logs ENOMEM */
            free(uc);
            errno = ENOMEM;
            return NULL;
        }
        /* Usable once the handshake is done, even when connect() was. */
        uc->handshaking = !uc->connecting;
        uc->connecting = true;
    }
    return uc;
}

struct gh_uconn *gh_uconn_get(struct gh_worker *w, struct gh_upstream_rt *up,
                              struct gh_server_rt *srv, struct gh_proxy *px, gh_io_fn *cb)
{
    struct gh_uconn *uc = NULL;
    for (struct gh_link *l = up->idle.next; l != &up->idle; l = l->next) {
        struct gh_uconn *c = GH_CONTAINER_OF(l, struct gh_uconn, link);
        if (c->srv == srv) {
            uc = c;
            break;
        }
    }
    if (uc != NULL) {
        gh_list_remove(&uc->link);
        up->nidle--;
        gh_loop_timer_cancel(&w->loop, &uc->timer);
        uc->reused = true;
        uc->io.cb = cb;
        uc->io.data = px;
    } else {
        uc = connect_new(w, up, srv);
        if (uc == NULL)
            return NULL;
        gh_io_init(&uc->io, cb, px);
        if (gh_io_start(&w->loop, &uc->io, uc->tp.fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
            == -1) {
            int err = errno;
            gh_transport_close(&uc->tp);
            free(uc);
            errno = err;
            return NULL;
        }
    }
    uc->px = px;
    active_add(srv, 1);
    return uc;
}
