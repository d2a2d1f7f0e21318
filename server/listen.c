/*
 * listen.c - binding, reusing and handing over the listening sockets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "server/listen.h"

#define GH_LISTEN_BACKLOG 4096

/* Sockets received from the previous binary (USR2), until claimed. */
struct gh_inherited {
    int slot;
    int fd;
    char *addr;                         /* the address text as the old binary bound it */
};
static struct gh_inherited *inherited;
static size_t ninherited;

const char *gh_sockaddr_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN];

    GH_UNUSED(len);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
    } else if (sa->sa_family == AF_UNIX) {
        snprintf(buf, size, "unix:%s", ((const struct sockaddr_un *)sa)->sun_path);
    } else {
        snprintf(buf, size, "?");
    }
    return buf;
}

const char *gh_sockaddr_host(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    if (ss->ss_family == AF_INET && size >= INET_ADDRSTRLEN) {
        /* Dotted quad by hand: inet_ntop goes through sprintf (per connection). */
        const uint8_t *q = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
        size_t n = 0;
        for (int i = 0; i < 4; i++) {
            if (q[i] >= 100)
                buf[n++] = (char)('0' + q[i] / 100);
            if (q[i] >= 10)
                buf[n++] = (char)('0' + q[i] / 10 % 10);
            buf[n++] = (char)('0' + q[i] % 10);
            buf[n++] = i < 3 ? '.' : '\0';
        }
        return buf;
    }
    const void *a = ss->ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
    if ((ss->ss_family != AF_INET && ss->ss_family != AF_INET6)
        || inet_ntop(ss->ss_family, a, buf, (socklen_t)size) == NULL)
        snprintf(buf, size, "unix:");
    return buf;
}

static int set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        return -1;
    return 0;
}

static int get_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return 0;
}

/* One listening socket bound to sa. Returns the fd or -1 (logged). */
static int bind_one(const char *text, struct sockaddr_storage *sa, socklen_t salen)
{
    int one = 1;
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        gh_log(GH_LOG_ERROR, errno, "socket() for %s failed", text);
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1
        || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1) {
        gh_log(GH_LOG_ERROR, errno, "setsockopt(SO_REUSEPORT) for %s failed", text);
        goto fail;
    }
    if (sa->ss_family == AF_INET6
        && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) {
        gh_log(GH_LOG_ERROR, errno, "setsockopt(IPV6_V6ONLY) for %s failed", text);
        goto fail;
    }
    /* Accepted sockets inherit TCP_NODELAY: no setsockopt per connection. */
    if (sa->ss_family != AF_UNIX
        && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
        gh_log(GH_LOG_WARN, errno, "setsockopt(TCP_NODELAY) for %s failed", text);
    /* Connections are handed over only once the request has arrived. */
    int defer = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
    if (bind(fd, (struct sockaddr *)sa, salen) == -1) {
        gh_log(GH_LOG_ERROR, errno, "bind() to %s failed", text);
        goto fail;
    }
    if (listen(fd, GH_LISTEN_BACKLOG) == -1) {
        gh_log(GH_LOG_ERROR, errno, "listen() on %s failed", text);
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* Take an inherited socket for (text, slot), or -1. */
static int claim_inherited(const char *text, int slot)
{
    for (size_t i = 0; i < ninherited; i++) {
        if (inherited[i].fd != -1 && inherited[i].slot == slot
            && strcmp(inherited[i].addr, text) == 0) {
            int fd = inherited[i].fd;
            inherited[i].fd = -1;
            return fd;
        }
    }
    return -1;
}

/* Move slot fds of a listener with the same address from old into l. Two
 * listeners may have the same text ("127.0.0.1:0" twice: two free ports):
 * each takes the first old one not taken yet, in order, so neither gets the
 * other's port. */
static void reuse_old(struct gh_listener *l, struct gh_listeners *old)
{
    if (old == NULL)
        return;
    for (size_t i = 0; i < old->n; i++) {
        struct gh_listener *o = &old->v[i];
        if (strcmp(o->text, l->text) != 0 || o->nslots == 0 || o->fds[0] == -1)
            continue;
        l->sa = o->sa;
        l->salen = o->salen;
        for (int s = 0; s < l->nslots && s < o->nslots; s++) {
            l->fds[s] = o->fds[s];
            o->fds[s] = -1;
        }
        return;
    }
}

/* Sockets per listener: never fewer than an old or inherited set of the same
 * address had. A socket closed while its accept queue holds connections
 * resets them, and SO_REUSEPORT cannot move a queue to another socket
 * (unless net.ipv4.tcp_migrate_req is on), so when the number of workers
 * shrinks the extra sockets stay open, and every worker accepts from them
 * (the master lists them as slots without a worker). */
static int slots_needed(const char *text, int nslots, const struct gh_listeners *old)
{
    for (size_t i = 0; old != NULL && i < old->n; i++)
        if (strcmp(old->v[i].text, text) == 0 && old->v[i].nslots > nslots)
            nslots = old->v[i].nslots;
    for (size_t i = 0; i < ninherited; i++)
        if (inherited[i].fd != -1 && strcmp(inherited[i].addr, text) == 0
            && inherited[i].slot >= nslots && inherited[i].slot < GH_LISTEN_MAX_SLOTS)
            nslots = inherited[i].slot + 1;
    return nslots;
}

static int open_listener(struct gh_listener *l, const struct gh_conf_listen *cl, int nslots,
                         struct gh_listeners *old)
{
    char text[128];
    bool fresh = true;

    nslots = slots_needed(cl->addr.text, nslots, old);

    l->text = strdup(cl->addr.text);
    l->fds = malloc(sizeof(int) * (size_t)nslots);
    if (l->text == NULL || l->fds == NULL) {
        gh_log_error("out of memory opening %s", cl->addr.text);
        return -1;
    }
    l->nslots = nslots;
    l->tls = cl->tls;
    l->http2 = cl->http2;
    l->proxy_protocol = cl->proxy_protocol;
    l->sa = cl->addr.sa;
    l->salen = cl->addr.salen;
    for (int s = 0; s < nslots; s++)
        l->fds[s] = -1;
    reuse_old(l, old);
    for (int s = 0; s < nslots; s++) {
        if (l->fds[s] == -1)
            l->fds[s] = claim_inherited(l->text, s);
        if (l->fds[s] != -1) {
            fresh = false;
            if (get_port(&l->sa) == 0) {
                l->salen = sizeof(l->sa);
                if (getsockname(l->fds[s], (struct sockaddr *)&l->sa, &l->salen) == -1) {
                    gh_log(GH_LOG_ERROR, errno, "getsockname() on %s failed", l->text);
                    return -1;
                }
            }
        }
    }
    for (int s = 0; s < nslots; s++) {
        if (l->fds[s] != -1)
            continue;
        l->fds[s] = bind_one(l->text, &l->sa, l->salen);
        if (l->fds[s] == -1)
            return -1;
        if (get_port(&l->sa) == 0) {
            /* Port 0: the kernel chose a port; every other slot binds it too. */
            struct sockaddr_storage got;
            socklen_t gotlen = sizeof(got);
            if (getsockname(l->fds[s], (struct sockaddr *)&got, &gotlen) == -1) {
                gh_log(GH_LOG_ERROR, errno, "getsockname() on %s failed", l->text);
                return -1;
            }
            set_port(&l->sa, get_port(&got));
        }
    }
    if (fresh || old == NULL)
        gh_log_notice("listening on %s",
                      gh_sockaddr_text((struct sockaddr *)&l->sa, l->salen, text, sizeof(text)));
    return 0;
}

int gh_listeners_open(struct gh_listeners *ls, const struct gh_conf *conf, int nslots,
                      struct gh_listeners *old)
{
    ls->n = 0;
    ls->v = calloc(conf->nlistens, sizeof(*ls->v));
    if (ls->v == NULL) {
        gh_log_error("out of memory opening listeners");
        return -1;
    }
    for (size_t i = 0; i < conf->nlistens; i++) {
        ls->n = i + 1;
        if (open_listener(&ls->v[i], &conf->listens[i], nslots, old) == -1)
            goto fail;
    }
    return 0;
fail:
    /* Give reused sockets back to old so a failed reload loses nothing. */
    if (old != NULL) {
        for (size_t i = 0; i < ls->n; i++) {
            struct gh_listener *l = &ls->v[i];
            for (size_t j = 0; j < old->n; j++) {
                struct gh_listener *o = &old->v[j];
                if (l->text == NULL || strcmp(o->text, l->text) != 0)
                    continue;
                for (int s = 0; s < l->nslots && s < o->nslots; s++) {
                    if (o->fds[s] == -1 && l->fds != NULL) {
                        o->fds[s] = l->fds[s];
                        l->fds[s] = -1;
                    }
                }
            }
        }
    }
    gh_listeners_close(ls);
    return -1;
}

void gh_listeners_close(struct gh_listeners *ls)
{
    if (ls == NULL || ls->v == NULL)
        return;
    for (size_t i = 0; i < ls->n; i++) {
        struct gh_listener *l = &ls->v[i];
        for (int s = 0; l->fds != NULL && s < l->nslots; s++)
            if (l->fds[s] != -1)
                close(l->fds[s]);
        free(l->fds);
        free(l->text);
    }
    free(ls->v);
    ls->v = NULL;
    ls->n = 0;
}

char *gh_listeners_inherit_env(const struct gh_listeners *ls, int shm_fd)
{
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    len = (size_t)snprintf(s, cap, "S=%d;", shm_fd);
    for (size_t i = 0; i < ls->n; i++) {
        const struct gh_listener *l = &ls->v[i];
        for (int slot = 0; slot < l->nslots; slot++) {
            if (l->fds[slot] == -1)
                continue;
            size_t need = strlen(l->text) + 32;
            if (len + need >= cap) {
                cap = (len + need) * 2;
                char *n = realloc(s, cap);
                if (n == NULL) {
                    free(s);
                    return NULL;
                }
                s = n;
            }
            len += (size_t)snprintf(s + len, cap - len, "L=%d,%d,%s;", slot, l->fds[slot], l->text);
        }
    }
    return s;
}

int gh_listeners_inherit_parse(int *shm_fd)
{
    const char *env = getenv("GATEHOUSE_INHERIT");
    *shm_fd = -1;
    if (env == NULL || *env == '\0')
        return 0;
    char *copy = strdup(env);
    if (copy == NULL)
        return -1;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ";", &save); tok != NULL; tok = strtok_r(NULL, ";", &save)) {
        int slot, fd, off = 0;
        if (sscanf(tok, "S=%d", &fd) == 1) {
            *shm_fd = fd;
        } else if (sscanf(tok, "L=%d,%d,%n", &slot, &fd, &off) == 2 && off > 0) {
            struct gh_inherited *n = realloc(inherited, sizeof(*n) * (ninherited + 1));
            if (n == NULL) {
                free(copy);
                return -1;
            }
            inherited = n;
            char *addr = strdup(tok + off);
            if (addr == NULL) {
                free(copy);
                return -1;
            }
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            inherited[ninherited++] = (struct gh_inherited){ slot, fd, addr };
        }
    }
    free(copy);
    unsetenv("GATEHOUSE_INHERIT");
    return 0;
}

void gh_listeners_inherit_done(void)
{
    for (size_t i = 0; i < ninherited; i++) {
        if (inherited[i].fd != -1)
            close(inherited[i].fd);
        free(inherited[i].addr);
    }
    free(inherited);
    inherited = NULL;
    ninherited = 0;
}

int gh_listeners_max_slots(const struct gh_listeners *ls)
{
    int n = 0;
    for (size_t i = 0; i < ls->n; i++)
        if (ls->v[i].nslots > n)
            n = ls->v[i].nslots;
    return n;
}
