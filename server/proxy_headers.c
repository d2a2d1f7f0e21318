/*
 * proxy_headers.c - request and response head rewriting for the proxy.
 * Heads are written into pool memory sized from an upper bound computed
 * first, so nothing a client or upstream sends can overflow them.
 */
#include <string.h>

#include "common/time.h"
#include "server/proxy_headers.h"

struct out {
    char *p, *end;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (n == 0)
        return;                         /* s may be NULL for an empty string */
    if (n > (size_t)(o->end - o->p))
        n = (size_t)(o->end - o->p);  /* cannot happen: the size was bounded */
    memcpy(o->p, s, n);
    o->p += n;
}
static void puts_(struct out *o, const char *s) { put(o, s, strlen(s)); }
static void putstr(struct out *o, struct gh_str s) { put(o, s.p, s.len); }

static bool name_is(struct gh_str name, const char *lit)
{
    size_t n = strlen(lit);
    if (name.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (gh_lower(name.p[i]) != lit[i])
            return false;
    return true;
}

static bool in_list(struct gh_str name, char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(list[i]);
        if (name.len == l && gh_str_caseeq(name, gh_str_make(list[i], l)))
            return true;
    }
    return false;
}

static bool in_sets(struct gh_str name, const struct gh_conf_headers *h)
{
    if (h == NULL)
        return false;
    for (size_t i = 0; i < h->nset; i++) {
        size_t l = strlen(h->set[i].name);
        if (name.len == l && gh_str_caseeq(name, gh_str_make(h->set[i].name, l)))
            return true;
    }
    return in_list(name, h->remove, h->nremove);
}

/* Hop-by-hop headers (RFC 9110 7.6.1) never cross the proxy. */
static bool hop_by_hop(struct gh_str n)
{
    switch (n.len) {
    case 2: return name_is(n, "te");
    case 7: return name_is(n, "upgrade") || name_is(n, "trailer");
    case 10: return name_is(n, "connection") || name_is(n, "keep-alive");
    case 16: return name_is(n, "proxy-connection");
    case 17: return name_is(n, "transfer-encoding");
    default: return false;
    }
}

/* Is `name` listed in any Connection header of the message? */
static bool named_by_connection(const struct gh_http_header *h, size_t n, struct gh_str name)
{
    for (size_t i = 0; i < n; i++) {
        if (!name_is(h[i].name, "connection"))
            continue;
        const char *p = h[i].value.p, *end = p + h[i].value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
                p++;
            const char *t = p;
            while (p < end && *p != ',' && *p != ' ' && *p != '\t')
                p++;
            if (p > t && gh_str_caseeq(gh_str_make(t, (size_t)(p - t)), name))
                return true;
        }
    }
    return false;
}

static size_t sets_size(const struct gh_conf_headers *h)
{
    size_t n = 0;
    for (size_t i = 0; h != NULL && i < h->nset; i++)
        n += strlen(h->set[i].name) + strlen(h->set[i].value) + 4;
    return n;
}

static void put_sets(struct out *o, const struct gh_conf_headers *h)
{
    for (size_t i = 0; h != NULL && i < h->nset; i++) {
        puts_(o, h->set[i].name);
        put(o, ": ", 2);
        puts_(o, h->set[i].value);
        put(o, "\r\n", 2);
    }
}

/* Join every value of header `name` with ", " (for appending). */
static void put_joined(struct out *o, const struct gh_http_header *h, size_t n, const char *name,
                       bool *any)
{
    for (size_t i = 0; i < n; i++) {
        if (!name_is(h[i].name, name) || h[i].value.len == 0)
            continue;
        if (*any)
            put(o, ", ", 2);
        putstr(o, h[i].value);
        *any = true;
    }
}

int gh_proxy_build_request(struct gh_req *r, const struct gh_conf_upstream *up, bool chunked,
                           bool websocket, char **head, size_t *len)
{
    const struct gh_http1_request *h = &r->head;
    const struct gh_conf_vserver *vs = r->match.vserver;
    const struct gh_conf_route *rt = r->match.route;
    const char *peer = r->client->text;
    bool v6 = strchr(peer, ':') != NULL;
    struct gh_str host = h->authority.len > 0 ? h->authority : h->host;
    bool tls = gh_conn_is_https(r->conn);
    GH_UNUSED(up);

    size_t bound = h->head_len * 2 + r->norm_len + h->query.len + host.len * 3
                   + strlen(peer) * 3 + r->request_id.len + 512 + sets_size(&vs->request_headers)
                   + sets_size(&rt->request_headers);
    char *buf = gh_palloc(r->pool, bound);
    if (buf == NULL)
        return -1;
    struct out o = { buf, buf + bound };

    /* Request line: origin-form; strip_prefix forwards the normalized rest. */
    putstr(&o, h->method);
    put(&o, " ", 1);
    if (rt->strip_prefix && r->match.prefix_len > 0 && r->match.prefix_len <= r->norm_len) {
        size_t skip = r->match.prefix_len;
        if (r->norm_path[skip - 1] == '/')
            skip--;                     /* keep the slash that starts the rest */
        if (skip == r->norm_len)
            put(&o, "/", 1);
        else
            put(&o, r->norm_path + skip, r->norm_len - skip);
    } else {
        putstr(&o, h->path);
    }
    if (h->query.len > 0) {
        put(&o, "?", 1);
        putstr(&o, h->query);
    }
    puts_(&o, " HTTP/1.1\r\nHost: ");
    putstr(&o, host);
    put(&o, "\r\n", 2);

    for (size_t i = 0; i < h->nheaders; i++) {
        struct gh_str n = h->headers[i].name;
        if (hop_by_hop(n) || name_is(n, "host") || name_is(n, "content-length")
            || name_is(n, "x-forwarded-for") || name_is(n, "forwarded") || name_is(n, "via")
            || name_is(n, "x-forwarded-proto") || name_is(n, "x-forwarded-host")
            || name_is(n, "x-request-id") || in_sets(n, &vs->request_headers)
            || in_sets(n, &rt->request_headers)
            || named_by_connection(h->headers, h->nheaders, n))
            continue;
        putstr(&o, n);
        put(&o, ": ", 2);
        putstr(&o, h->headers[i].value);
        put(&o, "\r\n", 2);
    }
    if (websocket) {
        puts_(&o, "Connection: upgrade\r\nUpgrade: ");
        putstr(&o, h->framing.upgrade);
        put(&o, "\r\n", 2);
    }
    if (chunked) {
        puts_(&o, "Transfer-Encoding: chunked\r\n");
    } else if (h->framing.content_length >= 0 && r->has_body) {
        char num[32];
        int n = snprintf(num, sizeof(num), "Content-Length: %lld\r\n",
                         (long long)h->framing.content_length);
        put(&o, num, (size_t)n);
    }
    bool any = false;
    puts_(&o, "X-Forwarded-For: ");
    put_joined(&o, h->headers, h->nheaders, "x-forwarded-for", &any);
    if (any)
        put(&o, ", ", 2);
    puts_(&o, peer);
    puts_(&o, "\r\nX-Forwarded-Proto: ");
    puts_(&o, tls ? "https" : "http");
    puts_(&o, "\r\nX-Forwarded-Host: ");
    putstr(&o, host);
    puts_(&o, "\r\nForwarded: ");
    any = false;
    put_joined(&o, h->headers, h->nheaders, "forwarded", &any);
    if (any)
        put(&o, ", ", 2);
    puts_(&o, v6 ? "for=\"[" : "for=");
    puts_(&o, peer);
    puts_(&o, v6 ? "]\";host=\"" : ";host=\"");
    putstr(&o, host);
    puts_(&o, tls ? "\";proto=https\r\nVia: " : "\";proto=http\r\nVia: ");
    any = false;
    put_joined(&o, h->headers, h->nheaders, "via", &any);
    if (any)
        put(&o, ", ", 2);
    puts_(&o, h->version_minor == 0 ? "1.0 gatehouse\r\nX-Request-ID: " : "1.1 gatehouse\r\nX-Request-ID: ");
    putstr(&o, r->request_id);
    put(&o, "\r\n", 2);
    put_sets(&o, &vs->request_headers);
    put_sets(&o, &rt->request_headers);
    put(&o, "\r\n", 2);
    *head = buf;
    *len = (size_t)(o.p - buf);
    return 0;
}

int gh_proxy_build_response(struct gh_req *r, const struct gh_http1_response *resp,
                            bool chunked_out, char **head, size_t *len)
{
    const struct gh_conf_vserver *vs = r->match.vserver;
    const struct gh_conf_route *rt = r->match.route;
    size_t bound = resp->head_len + r->request_id.len + 256 + r->extra_resp_headers.len
                   + sets_size(&vs->response_headers)
                   + sets_size(&rt->response_headers);
    char *buf = gh_palloc(r->pool, bound);
    if (buf == NULL)
        return -1;
    struct out o = { buf, buf + bound };
    char num[16];
    bool has_date = false, any = false;

    puts_(&o, "HTTP/1.1 ");
    put(&o, num, (size_t)snprintf(num, sizeof(num), "%03d ", resp->status));
    if (resp->reason.len > 0)
        putstr(&o, resp->reason);
    else
        puts_(&o, gh_http_reason(resp->status));
    puts_(&o, "\r\nServer: gatehouse\r\n");
    for (size_t i = 0; i < resp->nheaders; i++) {
        struct gh_str n = resp->headers[i].name;
        if (hop_by_hop(n) || name_is(n, "server") || name_is(n, "x-powered-by")
            || name_is(n, "via") || name_is(n, "x-request-id")
            || (chunked_out && name_is(n, "content-length"))
            || in_sets(n, &vs->response_headers) || in_sets(n, &rt->response_headers)
            || named_by_connection(resp->headers, resp->nheaders, n))
            continue;
        if (name_is(n, "date"))
            has_date = true;
        putstr(&o, n);
        put(&o, ": ", 2);
        putstr(&o, resp->headers[i].value);
        put(&o, "\r\n", 2);
    }
    if (!has_date) {
        puts_(&o, "Date: ");
        put(&o, gh_time_http_date(), 29);
        put(&o, "\r\n", 2);
    }
    puts_(&o, "Via: ");
    put_joined(&o, resp->headers, resp->nheaders, "via", &any);
    if (any)
        put(&o, ", ", 2);
    puts_(&o, resp->version_minor == 0 ? "1.0 gatehouse\r\n" : "1.1 gatehouse\r\n");
    if (r->request_id.len > 0) {
        puts_(&o, "X-Request-ID: ");
        putstr(&o, r->request_id);
        put(&o, "\r\n", 2);
    }
    if (chunked_out)
        puts_(&o, "Transfer-Encoding: chunked\r\n");
    if (resp->status == 101) {
        /* The upgrade itself: its hop-by-hop headers are the point. */
        puts_(&o, "Connection: upgrade\r\nUpgrade: ");
        putstr(&o, resp->framing.upgrade);
        put(&o, "\r\n\r\n", 4);
        *head = buf;
        *len = (size_t)(o.p - buf);
        return 0;
    }
    if (r->conn->w->draining)
        r->keepalive = false;
    if (!r->keepalive)
        puts_(&o, "Connection: close\r\n");
    else if (r->head.version_minor == 0)
        puts_(&o, "Connection: keep-alive\r\n");
    putstr(&o, r->extra_resp_headers);
    put_sets(&o, &vs->response_headers);
    put_sets(&o, &rt->response_headers);
    put(&o, "\r\n", 2);
    *head = buf;
    *len = (size_t)(o.p - buf);
    return 0;
}

static void rebase(struct gh_str *s, const char *from, size_t n, char *to)
{
    if (s->p >= from && s->p < from + n)
        s->p = to + (s->p - from);
}

int gh_proxy_keep_head(struct gh_req *r)
{
    struct gh_http1_request *h = &r->head;
    const char *from = r->conn->in->pos;
    size_t n = h->head_len;
    char *to = gh_palloc(r->pool, n ? n : 1);
    if (to == NULL)
        return -1;
    memcpy(to, from, n);
    rebase(&h->method, from, n, to);
    rebase(&h->target, from, n, to);
    rebase(&h->path, from, n, to);
    rebase(&h->query, from, n, to);
    rebase(&h->authority, from, n, to);
    rebase(&h->host, from, n, to);
    rebase(&h->framing.upgrade, from, n, to);
    rebase(&r->request_id, from, n, to);
    for (size_t i = 0; i < h->nheaders; i++) {
        rebase(&h->headers[i].name, from, n, to);
        rebase(&h->headers[i].value, from, n, to);
    }
    return 0;
}
