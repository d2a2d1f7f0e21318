/*
 * admin.c - the admin API in the helper process (see admin.h). Small and
 * plain: one request per connection, answered from the shared upstream
 * state; the helper's loop never blocks on it. What the answers say is
 * written by admin_status.c (status document, upstream metrics),
 * admin_html.c (the dashboard), admin_edge.c (blacklist, edge counters) and
 * admin_cache.c (GET /cache, POST /cache/purge, the store's metrics).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"
#include "server/admin.h"
#include "server/admin_cache.h"
#include "server/admin_edge.h"
#include "server/admin_html.h"
#include "server/admin_json.h"
#include "server/admin_rate.h"
#include "server/http1.h"
#include "server/listen.h"

#define ADMIN_HEAD_MAX 8192
#define ADMIN_TIMEOUT_MS 10000
#define ADMIN_MAX_CONNS 64

struct admin_conn {
    struct gh_admin *a;
    struct gh_io io;
    struct gh_timer timer;
    struct gh_loop_deferred deferred;
    struct admin_conn *next;            /* in a->conns */
    bool closed;
    size_t len;
    char *out;
    size_t out_len, out_off;
    char in[ADMIN_HEAD_MAX];
};

struct gh_admin {
    struct gh_loop *loop;
    const struct gh_conf *conf;
    struct gh_us_region *reg;
    struct gh_io lio;
    struct gh_timer rate_timer;         /* samples for requests/s (admin_rate.h) */
    struct admin_conn *conns;
    int nconns;
};

int gh_admin_listen(const struct gh_conf_addr *addr)
{
    int one = 1;
    int fd = socket(addr->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        gh_log(GH_LOG_ERROR, errno, "socket() for the admin listener %s failed", addr->text);
        return -1;
    }
    if (addr->sa.ss_family != AF_UNIX) {
        /* No SO_REUSEPORT: two instances must not silently share (and
         * split) one admin port; the second fails at start instead. */
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (addr->sa.ss_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&addr->sa, addr->salen) == -1) {
        gh_log(GH_LOG_ERROR, errno, "bind() to the admin address %s failed", addr->text);
        close(fd);
        return -1;
    }
    if (listen(fd, 64) == -1) {
        gh_log(GH_LOG_ERROR, errno, "listen() on the admin address %s failed", addr->text);
        close(fd);
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char text[128];
    if (addr->sa.ss_family != AF_UNIX && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        gh_log_notice("admin listening on %s",
                      gh_sockaddr_text((struct sockaddr *)&ss, sl, text, sizeof(text)));
    else
        gh_log_notice("admin listening on %s", addr->text);
    return fd;
}

char *gh_admin_finish(FILE *f, char **buf)
{
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed) {
        free(*buf);
        return NULL;
    }
    return *buf;
}

/* ---- requests -------------------------------------------------------- */

static char *respond(int status, const char *reason, const char *ctype, const char *extra,
                     const char *body, size_t blen, bool head_only, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f == NULL)
        return NULL;
    fprintf(f, "HTTP/1.1 %d %s\r\nServer: gatehouse\r\nDate: %s\r\nContent-Type: %s\r\n"
               "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n%s\r\n",
            status, reason, gh_time_http_date(), ctype, blen, extra ? extra : "");
    if (!head_only && blen > 0)
        fwrite(body, 1, blen, f);
    return gh_admin_finish(f, &buf);
}

/* A JSON error: {"error":"STATUS PHRASE"}, with "reason" when one is given. */
static char *respond_error(int status, const char *extra, const char *reason, size_t *len)
{
    size_t blen = 0;
    char *body = gh_aj_error_body(status, reason, &blen);
    if (body == NULL)
        return NULL;
    char *resp = respond(status, gh_http_reason(status), "application/json", extra, body, blen,
                         false, len);
    free(body);
    return resp;
}

/* The HTTP response of a handler's reply (whose body it takes). */
static char *respond_reply(struct gh_admin_reply *r, size_t *len)
{
    if (r->status != 200) {
        json_decref(r->body);
        r->body = NULL;
        return respond_error(r->status, r->status == 405 ? r->allow : NULL, r->reason, len);
    }
    size_t blen = 0;
    char *body = gh_aj_dump(r->body, &blen);
    r->body = NULL;
    if (body == NULL)
        return NULL;
    char *resp = respond(200, "OK", "application/json", NULL, body, blen, false, len);
    free(body);
    return resp;
}

static bool auth_ok(const struct gh_conf *conf, const struct gh_str *auth)
{
    const char *token = conf->admin.token;
    if (token == NULL || token[0] == '\0')
        return true;
    if (auth == NULL)
        return false;
    struct gh_str v = gh_str_trim(*auth);
    size_t tl = strlen(token);
    if (v.len < 7 || !gh_str_caseeq(gh_str_make(v.p, 7), GH_STR("Bearer ")))
        return false;
    struct gh_str given = gh_str_trim(gh_str_make(v.p + 7, v.len - 7));
    /* Constant time in the token's length. */
    unsigned diff = given.len != tl;
    for (size_t i = 0; i < tl; i++)
        diff |= (unsigned char)token[i] ^ (unsigned char)(i < given.len ? given.p[i] : 0);
    return diff == 0;
}

/* POST /upstreams/NAME/servers/ADDR/(drain|enable); ADDR may hold raw
 * slashes (unix:/run/app.sock), so the action is after the last one. The
 * body must be empty or {} (no fields yet). */
static int server_action(const struct gh_conf *conf, struct gh_us_region *reg, struct gh_str path,
                         bool post, struct gh_str body, struct gh_admin_reply *r)
{
    static const char pre[] = "/upstreams/", mid[] = "/servers/";
    struct gh_str rest = gh_str_make(path.p + sizeof(pre) - 1, path.len - (sizeof(pre) - 1));
    const char *slash = memchr(rest.p, '/', rest.len);
    if (slash == NULL)
        return gh_admin_fail(r, 404, NULL);
    struct gh_str name = gh_str_make(rest.p, (size_t)(slash - rest.p));
    struct gh_str tail = gh_str_make(slash, rest.len - name.len);
    if (tail.len <= sizeof(mid) - 1 || memcmp(tail.p, mid, sizeof(mid) - 1) != 0)
        return gh_admin_fail(r, 404, NULL);
    struct gh_str sa = gh_str_make(tail.p + sizeof(mid) - 1, tail.len - (sizeof(mid) - 1));
    const char *last = NULL;
    for (size_t i = 0; i < sa.len; i++)
        if (sa.p[i] == '/')
            last = sa.p + i;
    if (last == NULL)
        return gh_admin_fail(r, 404, NULL);
    struct gh_str addr = gh_str_make(sa.p, (size_t)(last - sa.p));
    struct gh_str action = gh_str_make(last + 1, sa.len - addr.len - 1);
    bool drain = gh_str_eq(action, GH_STR("drain"));
    if (!drain && !gh_str_eq(action, GH_STR("enable")))
        return gh_admin_fail(r, 404, "a server's calls are drain and enable");
    if (!post) {
        r->allow = "Allow: POST\r\n";
        return gh_admin_fail(r, 405, NULL);
    }
    char nbuf[256], abuf[512];
    if (gh_str_pct_decode(name, nbuf, sizeof(nbuf)) == -1
        || gh_str_pct_decode(addr, abuf, sizeof(abuf)) == -1)
        return gh_admin_fail(r, 400, "a bad %%-escape (or %%00) in the upstream or the address");
    json_t *o = gh_aj_parse(body, NULL, 0, r->reason);
    if (o == NULL)
        return gh_admin_fail(r, 400, NULL);
    json_decref(o);
    for (size_t u = 0; u < conf->nupstreams; u++) {
        const struct gh_conf_upstream *up = &conf->upstreams[u];
        if (strcmp(up->name, nbuf) != 0)
            continue;
        for (size_t k = 0; k < up->nservers; k++) {
            if (strcmp(up->servers[k].addr.text, abuf) != 0)
                continue;
            int slot = gh_us_find(reg, up->name, abuf);
            if (slot < 0)
                return gh_admin_fail(r, 503, "the server has no slot in the shared segment");
            atomic_store(&gh_us_slot(reg, slot)->drained, drain ? 1 : 0);
            gh_log_notice("admin: upstream \"%s\" server %s %s", up->name, abuf,
                          drain ? "drained" : "enabled");
            json_t *out = json_object();
            int rc = json_object_set_new(out, "upstream", gh_aj_text(up->name));
            rc |= json_object_set_new(out, "server", gh_aj_text(abuf));
            rc |= json_object_set_new(out, "drained", json_boolean(drain));
            if (rc != 0) {
                json_decref(out);
                out = NULL;
            }
            return gh_admin_ok(r, out);
        }
        return gh_admin_fail(r, 404, "upstream \"%.64s\" has no server \"%.64s\"", nbuf, abuf);
    }
    return gh_admin_fail(r, 404, "no upstream \"%.64s\"", nbuf);
}

char *gh_admin_handle(const struct gh_conf *conf, struct gh_us_region *reg, struct gh_str method,
                      struct gh_str target, const struct gh_str *auth, size_t *len)
{
    return gh_admin_handle_body(conf, reg, method, target, auth, gh_str_make("", 0), len);
}

char *gh_admin_handle_body(const struct gh_conf *conf, struct gh_us_region *reg,
                           struct gh_str method, struct gh_str target, const struct gh_str *auth,
                           struct gh_str body, size_t *len)
{
    const char *q = memchr(target.p, '?', target.len);
    struct gh_str path = gh_str_make(target.p, q ? (size_t)(q - target.p) : target.len);
    bool get = gh_str_eq(method, GH_STR("GET")), head = gh_str_eq(method, GH_STR("HEAD"));
    bool post = gh_str_eq(method, GH_STR("POST"));
    bool page = gh_str_eq(path, GH_STR("/status"));
    if (!auth_ok(conf, auth)) {
        /* A browser cannot send the token with the page's own request: the
         * dashboard's 401 is the page without any data, whose form takes
         * the token for its calls (admin_html.h). */
        size_t blen = 0;
        char *body = page && (get || head) ? gh_admin_html(NULL, &blen) : NULL;
        if (body != NULL) {
            char *resp = respond(401, "Unauthorized", "text/html; charset=utf-8",
                                 "WWW-Authenticate: Bearer\r\n", body, blen, head, len);
            free(body);
            return resp;
        }
        return respond_error(401, "WWW-Authenticate: Bearer\r\n",
                             "an \"Authorization: Bearer TOKEN\" header with the admin token "
                             "is required", len);
    }
    struct gh_admin_reply r = { .status = 0 };
    if (path.len > 11 && memcmp(path.p, "/upstreams/", 11) == 0) {
        server_action(conf, reg, path, post, body, &r);
        return respond_reply(&r, len);
    }
    if (gh_admin_blacklist_path(path)) {
        gh_admin_blacklist(method, path, body, &r);
        return respond_reply(&r, len);
    }
    if (gh_admin_cache_path(path)) {
        gh_admin_cache(conf, method, path, body, &r);
        return respond_reply(&r, len);
    }
    char *(*render)(const struct gh_conf *, struct gh_us_region *, size_t *) = NULL;
    const char *ctype = NULL;
    if (gh_str_eq(path, GH_STR("/status.json"))) {
        render = gh_admin_status_json;
        ctype = "application/json";
    } else if (gh_str_eq(path, GH_STR("/metrics"))) {
        render = gh_admin_metrics;
        ctype = "text/plain; version=0.0.4; charset=utf-8";
    } else if (page) {
        render = gh_admin_status_page;
        ctype = "text/html; charset=utf-8";
    } else {
        return respond_error(404, NULL, NULL, len);
    }
    if (!get && !head)
        return respond_error(405, "Allow: GET, HEAD\r\n", NULL, len);
    size_t blen = 0;
    char *text = render(conf, reg, &blen);
    if (text == NULL)
        return NULL;
    char *resp = respond(200, "OK", ctype, NULL, text, blen, head, len);
    free(text);
    return resp;
}

/* ---- connections ----------------------------------------------------- */

static void conn_free(void *arg)
{
    struct admin_conn *c = arg;
    free(c->out);
    free(c);
}

static void conn_close(struct admin_conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    struct gh_admin *a = c->a;
    gh_loop_timer_cancel(a->loop, &c->timer);
    int fd = c->io.fd;
    gh_io_stop(a->loop, &c->io);
    if (fd != -1)
        close(fd);
    for (struct admin_conn **pp = &a->conns; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    a->nconns--;
    gh_loop_defer(a->loop, &c->deferred, conn_free, c);
}

static void conn_timeout(struct gh_timer *t)
{
    conn_close(t->data);
}

static void conn_write(struct admin_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->io.fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1 && errno == EAGAIN) {
            gh_io_modify(c->a->loop, &c->io, EPOLLOUT);
            return;
        }
        if (w <= 0) {
            conn_close(c);
            return;
        }
        c->out_off += (size_t)w;
    }
    shutdown(c->io.fd, SHUT_WR);
    conn_close(c);
}

/* The Content-Length of the head in c->in (0 when none, -1 when invalid). */
static long content_length(const char *in, size_t head_len)
{
    for (const char *l = in; l < in + head_len;) {
        const char *e = memchr(l, '\n', (size_t)(in + head_len - l));
        if (e == NULL)
            break;
        if ((size_t)(e - l) > 15 && strncasecmp(l, "content-length:", 15) == 0) {
            char *end;
            long v = strtol(l + 15, &end, 10);
            while (*end == ' ' || *end == '\t' || *end == '\r')
                end++;
            return v < 0 || end != e ? -1 : v;
        }
        l = e + 1;
    }
    return 0;
}

/* Bytes of the head in c->in, 0 when incomplete. */
static size_t head_len(const struct admin_conn *c)
{
    const char *e = strstr(c->in, "\r\n\r\n");
    if (e != NULL)
        return (size_t)(e - c->in) + 4;
    e = strstr(c->in, "\n\n");
    return e != NULL ? (size_t)(e - c->in) + 2 : 0;
}

/* Parse the head in c->in[0..c->len) (complete) and queue the answer. */
static void conn_request(struct admin_conn *c)
{
    size_t hl = head_len(c);
    long cl = content_length(c->in, hl);
    struct gh_str body = gh_str_make(c->in + hl, cl > 0 ? (size_t)cl : 0);
    char *end = memchr(c->in, '\n', c->len);
    char *sp1 = end ? memchr(c->in, ' ', (size_t)(end - c->in)) : NULL;
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
    const struct gh_conf *conf = c->a->conf;
    if (sp2 == NULL || sp1 == c->in || sp2 == sp1 + 1) {
        c->out = respond_error(400, NULL, "malformed request line", &c->out_len);
    } else {
        struct gh_str auth_v, *auth = NULL;
        for (char *l = end + 1; l < c->in + c->len;) {
            char *e = memchr(l, '\n', (size_t)(c->in + c->len - l));
            if (e == NULL)
                break;
            char *colon = memchr(l, ':', (size_t)(e - l));
            if (colon != NULL && gh_str_caseeq(gh_str_make(l, (size_t)(colon - l)),
                                               GH_STR("authorization"))) {
                size_t vl = (size_t)(e - colon - 1);
                if (vl > 0 && colon[vl] == '\r')
                    vl--;
                auth_v = gh_str_make(colon + 1, vl);
                auth = &auth_v;
            }
            l = e + 1;
        }
        c->out = gh_admin_handle_body(conf, c->a->reg,
                                      gh_str_make(c->in, (size_t)(sp1 - c->in)),
                                      gh_str_make(sp1 + 1, (size_t)(sp2 - sp1 - 1)), auth, body,
                                      &c->out_len);
    }
    if (c->out == NULL) {
        conn_close(c);
        return;
    }
    conn_write(c);
}

static void conn_event(struct gh_io *io, uint32_t revents)
{
    struct admin_conn *c = io->data;
    if (c->out != NULL) {
        if (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            conn_write(c);
        return;
    }
    for (int n = 0; n < 16; n++) {
        ssize_t r = recv(io->fd, c->in + c->len, sizeof(c->in) - 1 - c->len, 0);
        if (r == -1 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r <= 0) {
            conn_close(c);
            return;
        }
        c->len += (size_t)r;
        c->in[c->len] = '\0';
        size_t hl = head_len(c);
        if (hl > 0) {
            long cl = content_length(c->in, hl);
            if (cl < 0 || (size_t)cl > sizeof(c->in) - 1 - hl) {
                if (cl < 0)
                    c->out = respond_error(400, NULL, "invalid Content-Length", &c->out_len);
                else
                    c->out = respond_error(413, NULL, "the request (head and body) is over 8 KB", &c->out_len);
                if (c->out == NULL)
                    conn_close(c);
                else
                    conn_write(c);
                return;
            }
            if (c->len >= hl + (size_t)cl) {
                conn_request(c);
                return;
            }
            continue;
        }
        if (c->len >= sizeof(c->in) - 1) {
            c->out = respond_error(431, NULL, "the request head is over 8 KB", &c->out_len);
            if (c->out == NULL)
                conn_close(c);
            else
                conn_write(c);
            return;
        }
    }
}

static void rate_tick(struct gh_timer *t)
{
    struct gh_admin *a = t->data;
    gh_rate_sample(gh_now_ms);
    gh_loop_timer_set(a->loop, &a->rate_timer, GH_RATE_SAMPLE_MS);
}

static void admin_accept(struct gh_io *io, uint32_t revents)
{
    struct gh_admin *a = io->data;
    GH_UNUSED(revents);
    for (int n = 0; n < 64; n++) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                gh_log(GH_LOG_WARN, errno, "accept() on the admin listener failed");
            return;
        }
        struct admin_conn *c = a->nconns < ADMIN_MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->a = a;
        gh_io_init(&c->io, conn_event, c);
        gh_timer_init(&c->timer, conn_timeout, c);
        if (gh_io_start(a->loop, &c->io, fd, EPOLLIN | EPOLLRDHUP) == -1) {
            close(fd);
            free(c);
            continue;
        }
        c->next = a->conns;
        a->conns = c;
        a->nconns++;
        gh_loop_timer_set(a->loop, &c->timer, ADMIN_TIMEOUT_MS);
    }
}

struct gh_admin *gh_admin_start(struct gh_loop *loop, int fd, const struct gh_conf *conf,
                                struct gh_us_region *reg)
{
    struct gh_admin *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        gh_log_error("out of memory starting the admin API");
        return NULL;
    }
    a->loop = loop;
    a->conf = conf;
    a->reg = reg;
    gh_io_init(&a->lio, admin_accept, a);
    if (gh_io_start(loop, &a->lio, fd, EPOLLIN) == -1) {
        gh_log(GH_LOG_ERROR, errno, "epoll_ctl() on the admin listener failed");
        free(a);
        return NULL;
    }
    /* Without the ring the rates are only unknown (null). */
    (void)gh_rate_start(conf, reg, gh_now_ms);
    gh_timer_init(&a->rate_timer, rate_tick, a);
    gh_loop_timer_set(loop, &a->rate_timer, GH_RATE_SAMPLE_MS);
    return a;
}

void gh_admin_stop(struct gh_admin *a)
{
    if (a == NULL)
        return;
    while (a->conns != NULL)
        conn_close(a->conns);
    gh_loop_timer_cancel(a->loop, &a->rate_timer);
    gh_rate_stop();
    gh_io_stop(a->loop, &a->lio);
    gh_loop_run_deferred(a->loop);
    free(a);
}
