/*
 * conn.c - client connections: accept, keep-alive, idle lists, close.
 * What happens on the wire is in http1.c.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"
#include "server/conn.h"
#include "server/tls.h"
#include "server/http1.h"
#include "server/http2.h"
#include "modules/edge.h"

#define ACCEPT_BATCH 1                  /* like nginx's multi_accept off: the listener is level-triggered, so a queue left over comes back in the next epoll_wait batch, and an empty one costs no EAGAIN accept4 */
#define MAX_FREE_CONNS 4096
#define LINGER_MS 2000                  /* wait this long for the FIN after a half-close */

static struct gh_conn *conn_alloc(struct gh_worker *w)
{
    struct gh_conn *c = w->free_conns;
    if (c != NULL) {
        w->free_conns = c->next_free;
        w->nfree_conns--;
    } else {
        c = malloc(sizeof(*c));
        if (c == NULL)
            return NULL;
    }
    memset(c, 0, sizeof(*c));
    return c;
}

static void conn_release(void *arg)
{
    struct gh_conn *c = arg;
    struct gh_worker *w = c->w;
    if (w->nfree_conns < MAX_FREE_CONNS) {
        c->next_free = w->free_conns;
        w->free_conns = c;
        w->nfree_conns++;
    } else {
        free(c);
    }
}

static void conn_timeout(struct gh_timer *t)
{
    struct gh_conn *c = t->data;
    c->proto->on_timeout(c);
}

static void linger_read(struct gh_conn *c)
{
    char sink[4096];
    for (int i = 0; i < 64; i++) {
        ssize_t n = gh_transport_read(&c->tp, sink, sizeof(sink));
        if (n > 0)
            continue;
        if (n == GH_AGAIN)
            return;
        gh_conn_close(c);
        return;
    }
}

static void conn_event(struct gh_io *io, uint32_t revents)
{
    struct gh_conn *c = io->data;
    if (c->freed)
        return;
    if (c->state == GH_CONN_LINGER) {
        /* Half-closed (any protocol): discard until the client's FIN. */
        if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            linger_read(c);
        return;
    }
    c->proto->on_event(c, revents);
}

void gh_conn_accept(struct gh_io *io, uint32_t revents)
{
    struct gh_accept *a = io->data;
    struct gh_worker *w = a->w;
    GH_UNUSED(revents);

    for (int n = 0; n < ACCEPT_BATCH && !w->draining; n++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(io->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Free what we can; if nothing, stop accepting for a moment
                 * rather than spin on a readable socket we cannot drain. */
                if (gh_conn_close_idle(w, INT64_MAX, false) == 0) {
                    gh_log(GH_LOG_ERROR, errno, "accept() failed; pausing accept");
                    gh_worker_pause_accept(w);
                }
                return;
            }
            gh_log(GH_LOG_ERROR, errno, "accept() failed");
            return;
        }
        size_t max = (size_t)w->conf->limits.max_connections;
        if (w->nconns >= max - GH_MAX(max / 10, 1)) {
            /* Near the limit (the last tenth): idle keep-alive clients go
             * first, oldest first, so new and active ones keep room. */
            if (!gh_list_empty(&w->idle)) {
                gh_conn_close(GH_CONTAINER_OF(w->idle.next, struct gh_conn, link));
            } else if (w->nconns >= max) {
                gh_edge_count_connlimit();
                close(fd);
                continue;
            }
        }
        struct gh_conn *c = conn_alloc(w);
        if (c == NULL) {
            close(fd);
            continue;
        }
        /* TCP_NODELAY is inherited from the listening socket (listen.c). */
        gh_transport_init_plain(&c->tp, fd);
        c->w = w;
        c->listener = a->listener;
        c->peer = peer;
        /* Behind a balancer the client is known after the PROXY header;
         * the connection checks wait for it (server/http1.c). */
        bool pp = a->listener->proxy_protocol;
        if (!pp) {
            gh_conn_set_addr(c);
            if (!gh_edge_accept(&c->addr, &c->cl_held)) {
                gh_transport_close(&c->tp);     /* refused at accept: not a byte */
                conn_release(c);
                continue;
            }
            gh_conn_set_addr_text(c);   /* after: a refusal skips it */
        }
        c->proto = &gh_http1_proto;     /* h2c: HTTP/1 switches on the preface (http1.c) */
        gh_io_init(&c->io, conn_event, c);
        gh_timer_init(&c->timer, conn_timeout, c);
        gh_list_init(&c->link);
        if (gh_io_start(&w->loop, &c->io, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) == -1) {
            gh_log(GH_LOG_ERROR, errno, "epoll_ctl() on a new connection failed");
            gh_edge_conn_release(&c->addr, &c->cl_held);
            gh_transport_close(&c->tp);
            conn_release(c);
            continue;
        }
        w->nconns++;
        c->state = pp ? GH_CONN_PROXY : GH_CONN_IDLE;
        c->idle_since = gh_now_ms;
        gh_list_insert_tail(pp ? &w->active : &w->idle, &c->link);
        gh_loop_timer_set(&w->loop, &c->timer, w->conf->timeouts.client_header);
        /* TLS starts after the PROXY header when there is one (http1.c). */
        if (a->listener->tls && !pp && gh_tls_accept(c, NULL, 0) == -1) {
            gh_conn_close(c);
            continue;
        }
        /* With TCP_DEFER_ACCEPT the request (or ClientHello) is usually here already. */
        c->proto->on_event(c, EPOLLIN);
    }
}

void gh_conn_set_addr(struct gh_conn *c)
{
    c->addr.has_key = gh_acl_key(&c->peer, c->addr.key) == 0;
    c->addr.text[0] = '\0';
    c->addr.rl_hash_idx = 0;            /* a new address: its cached hash is stale */
}

void gh_conn_set_addr_text(struct gh_conn *c)
{
    const struct sockaddr_storage *sa = &c->peer;
    struct sockaddr_storage v4;
    if (c->peer.ss_family == AF_INET6 && c->addr.has_key && gh_acl_key_is_v4(c->addr.key)) {
        /* ::ffff:a.b.c.d (a dual-stack listener, a PROXY TCP6 line) is the
         * client a.b.c.d: one text for one client, as real_ip writes it */
        struct sockaddr_in *sin = (struct sockaddr_in *)&v4;
        memset(&v4, 0, sizeof(v4));
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, c->addr.key + 12, 4);
        sin->sin_port = ((const struct sockaddr_in6 *)&c->peer)->sin6_port;
        sa = &v4;
    }
    gh_sockaddr_host(sa, c->addr.text, sizeof(c->addr.text));
}

void gh_conn_close(struct gh_conn *c)
{
    struct gh_worker *w = c->w;
    if (c->freed)
        return;
    c->freed = true;
    c->proto->abort(c);
    gh_edge_conn_release(&c->addr, &c->cl_held);
    gh_loop_timer_cancel(&w->loop, &c->timer);
    gh_list_remove(&c->link);
    gh_io_forget(&w->loop, &c->io);     /* close(2) leaves the epoll set by itself */
    gh_transport_close(&c->tp);
    w->nconns--;
    /* Events for this connection may still be pending in this iteration. */
    gh_loop_defer(&w->loop, &c->deferred, conn_release, c);
    if (w->draining && w->nconns == 0)
        w->loop.stop = true;
}

size_t gh_conn_close_idle(struct gh_worker *w, gh_msec_t older_than, bool half_close)
{
    size_t n = 0;
    struct gh_link *l = w->idle.next;
    while (l != &w->idle) {
        struct gh_conn *c = GH_CONTAINER_OF(l, struct gh_conn, link);
        l = l->next;
        if (c->idle_since > older_than)
            break;                      /* the list is oldest first */
        if (c->state != GH_CONN_IDLE)
            continue;
        if (half_close && c->proto->drain != NULL) {
            c->proto->drain(c);
            n++;
            continue;
        }
        if (half_close) {
            /* FIN first: a request racing with it is not met by a RST. */
            if (gh_transport_shutdown(&c->tp) == 0) {
                c->state = GH_CONN_LINGER;
                c->half_closed = true;
                gh_loop_timer_set(&w->loop, &c->timer, LINGER_MS);
                n++;
                continue;
            }
        }
        gh_conn_close(c);
        n++;
    }
    return n;
}

void gh_conn_drain_all(struct gh_worker *w)
{
    struct gh_link *lists[] = { &w->active, &w->idle };
    for (size_t k = 0; k < GH_ARRAY_LEN(lists); k++) {
        for (struct gh_link *l = lists[k]->next; l != lists[k];) {
            struct gh_conn *c = GH_CONTAINER_OF(l, struct gh_conn, link);
            l = l->next;
            if (c->proto->drain != NULL && c->state != GH_CONN_LINGER)
                c->proto->drain(c);
        }
    }
}

void gh_conn_linger(struct gh_conn *c)
{
    if (gh_transport_shutdown(&c->tp) == -1) {
        gh_conn_close(c);
        return;
    }
    c->state = GH_CONN_LINGER;
    c->half_closed = true;
    gh_loop_timer_set(&c->w->loop, &c->timer, LINGER_MS);
}

void gh_conn_set_idle(struct gh_conn *c)
{
    struct gh_worker *w = c->w;
    gh_list_remove(&c->link);
    gh_list_insert_tail(&w->idle, &c->link);
    c->state = GH_CONN_IDLE;
    c->idle_since = gh_now_ms;
    gh_loop_timer_set(&w->loop, &c->timer, w->conf->timeouts.keepalive);
}

void gh_conn_set_active(struct gh_conn *c)
{
    struct gh_worker *w = c->w;
    gh_list_remove(&c->link);
    gh_list_insert_tail(&w->active, &c->link);
}

void gh_conn_worker_exit(struct gh_worker *w)
{
    while (!gh_list_empty(&w->active))
        gh_conn_close(GH_CONTAINER_OF(w->active.next, struct gh_conn, link));
    while (!gh_list_empty(&w->idle))
        gh_conn_close(GH_CONTAINER_OF(w->idle.next, struct gh_conn, link));
    gh_loop_run_deferred(&w->loop);
    while (w->free_conns != NULL) {
        struct gh_conn *c = w->free_conns;
        w->free_conns = c->next_free;
        free(c);
    }
    w->nfree_conns = 0;
    gh_http1_worker_exit(w);
    gh_http2_worker_exit(w);
}
