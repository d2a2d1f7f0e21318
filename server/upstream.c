/*
 * upstream.c - upstream servers for one worker: round-robin choice,
 * passive health, connecting, and the idle keep-alive pool.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"
#include "server/upstream.h"

static struct gh_upstream_rt *ups;
static size_t nups;

int gh_upstreams_init(struct gh_worker *w)
{
    const struct gh_conf *conf = w->conf;
    nups = conf->nupstreams;
    ups = calloc(nups ? nups : 1, sizeof(*ups));
    if (ups == NULL)
        goto oom;
    for (size_t i = 0; i < nups; i++) {
        struct gh_upstream_rt *up = &ups[i];
        up->conf = &conf->upstreams[i];
        up->nservers = up->conf->nservers;
        up->servers = calloc(up->nservers ? up->nservers : 1, sizeof(*up->servers));
        if (up->servers == NULL)
            goto oom;
        for (size_t s = 0; s < up->nservers; s++)
            up->servers[s].conf = &up->conf->servers[s];
        gh_list_init(&up->idle);
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
        free(up->servers);
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

static bool available(const struct gh_upstream_rt *up, const struct gh_server_rt *s)
{
    if (s->down_until > gh_now_ms)
        return false;
    if (s->conf->max_conns > 0 && s->active >= s->conf->max_conns)
        return false;
    GH_UNUSED(up);
    return true;
}

/* Smooth weighted round robin (nginx's ngx_http_upstream_get_peer) over
 * the servers of one class (primary or backup). */
static struct gh_server_rt *pick_class(struct gh_upstream_rt *up, uint64_t tried, bool backup)
{
    struct gh_server_rt *best = NULL;
    int total = 0;
    for (size_t i = 0; i < up->nservers; i++) {
        struct gh_server_rt *s = &up->servers[i];
        if (s->conf->backup != backup || !available(up, s))
            continue;
        if (i < 64 && (tried & (UINT64_C(1) << i)))
            continue;
        s->cur_weight += s->conf->weight;
        total += s->conf->weight;
        if (best == NULL || s->cur_weight > best->cur_weight)
            best = s;
    }
    if (best != NULL)
        best->cur_weight -= total;
    return best;
}

struct gh_server_rt *gh_upstream_pick(struct gh_upstream_rt *up, uint64_t tried)
{
    struct gh_server_rt *s = pick_class(up, tried, false);
    if (s == NULL)
        s = pick_class(up, tried, true);
    return s;
}

void gh_upstream_fail(struct gh_upstream_rt *up, struct gh_server_rt *srv)
{
    const struct gh_conf_upstream *c = up->conf;
    if (c->max_fails <= 0)
        return;
    if (gh_now_ms - srv->fail_window_start > c->fail_timeout) {
        srv->fail_window_start = gh_now_ms;
        srv->fails = 0;
    }
    if (++srv->fails >= c->max_fails) {
        srv->down_until = gh_now_ms + c->fail_timeout;
        srv->fails = 0;
        gh_log_warn("upstream \"%s\" server %s marked down for %lld ms after %d failures",
                    c->name, gh_server_name(srv), (long long)c->fail_timeout, c->max_fails);
    }
}

void gh_upstream_ok(struct gh_server_rt *srv)
{
    srv->fails = 0;
}

void gh_uconn_discard(struct gh_uconn *uc)
{
    uc->px = NULL;
    uc->srv->active--;
    gh_list_init(&uc->link);
    uc->up->nidle++;                    /* gh_uconn_close takes an idle one off the count */
    gh_uconn_close(uc);
}

static void uconn_free(void *arg)
{
    free(arg);
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
    int fd = uc->io.fd;
    gh_io_stop(&uc->w->loop, &uc->io);
    if (fd != -1)
        close(fd);
    gh_loop_defer(&uc->w->loop, &uc->deferred, uconn_free, uc);
}

/* An idle connection became readable: the upstream closed it (or sent
 * garbage). Either way it cannot be reused. */
static void idle_event(struct gh_io *io, uint32_t revents)
{
    GH_UNUSED(revents);
    gh_uconn_close(io->data);
}

static void idle_timeout(struct gh_timer *t)
{
    gh_uconn_close(t->data);
}

void gh_uconn_release(struct gh_uconn *uc)
{
    struct gh_upstream_rt *up = uc->up;
    uc->px = NULL;
    uc->srv->active--;
    if (up->conf->keepalive <= 0 || uc->nrequests >= up->conf->keepalive_requests
        || uc->w->draining) {
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
    uc->io.fd = fd;
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
        int fd = uc->io.fd;
        gh_io_init(&uc->io, cb, px);
        if (gh_io_start(&w->loop, &uc->io, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) == -1) {
            int err = errno;
            close(fd);
            free(uc);
            errno = err;
            return NULL;
        }
    }
    uc->px = px;
    srv->active++;
    return uc;
}
