/*
 * proxy_headers.c - request and response head rewriting for the proxy.
 * Heads are written into pool memory sized from an upper bound computed
 * first, so nothing a client or upstream sends can overflow them.
 */
#include <string.h>

#include "common/time.h"
#include "common/wbuf.h"
#include "server/proxy_headers.h"

/* Heads are written with the bounded writer (common/wbuf.h) into a size
 * computed first, so a cut cannot happen; were it to, the head would be
 * cut, never overrun. */

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

/* Does v close every quoted-string it opens (and, with comments, every
 * "(...)" of Via)? A value that does not would swallow the element we
 * append after it: `Forwarded: for="x` followed by our `, for=1.2.3.4`
 * reads upstream as one quoted string, the client's forged element last. */
static bool closed_list(struct gh_str v, bool comments)
{
    bool quoted = false;
    int depth = 0;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.p[i];
        if ((quoted || depth > 0) && c == '\\') {
            i++;                        /* quoted-pair */
            if (i == v.len)
                return false;
        } else if (depth == 0 && c == '"') {
            quoted = !quoted;
        } else if (!quoted && comments && c == '(') {
            depth++;
        } else if (!quoted && comments && c == ')') {
            if (depth == 0)
                return false;
            depth--;
        }
    }
    return !quoted && depth == 0;
}

/* Join every value of header `name` with ", " (for appending); values that
 * leave a quote (or a Via comment) open are dropped, so nothing the client
 * sent can swallow the element we append (X-Forwarded-For has no quoted
 * strings, but an upstream that reads it as a generic list would). */
static void put_joined(struct gh_wbuf *o, const struct gh_http_header *h, size_t n, const char *name,
                       bool *any)
{
    bool comments = name[0] == 'v';     /* Via's "(...)" */
    for (size_t i = 0; i < n; i++) {
        if (!name_is(h[i].name, name) || h[i].value.len == 0)
            continue;
        if (!closed_list(h[i].value, comments))
            continue;
        if (*any)
            gh_wbuf_put(o, ", ", 2);
        gh_wbuf_putstr(o, h[i].value);
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
    /* RFC 7239 6: a node without an address (a unix socket) is "unknown";
     * an IPv6 one is quoted and bracketed. */
    bool v6 = r->client->has_key && strchr(peer, ':') != NULL;
    struct gh_str host = h->authority.len > 0 ? h->authority : h->host;
    bool tls = r->https;
    GH_UNUSED(up);

    size_t bound = h->head_len * 2 + r->norm_len + h->query.len + host.len * 3
                   + strlen(peer) * 3 + r->request_id.len + 512 + gh_headers_set_size(&vs->request_headers)
                   + gh_headers_set_size(&rt->request_headers);
    char *buf = gh_palloc(r->pool, bound);
    if (buf == NULL)
        return -1;
    struct gh_wbuf o = gh_wbuf_make(buf, bound);

    /* Request line: origin-form; strip_prefix forwards the normalized rest. */
    gh_wbuf_putstr(&o, h->method);
    gh_wbuf_put(&o, " ", 1);
    if (rt->strip_prefix && r->match.prefix_len > 0 && r->match.prefix_len <= r->norm_len) {
        size_t skip = r->match.prefix_len;
        if (r->norm_path[skip - 1] == '/')
            skip--;                     /* keep the slash that starts the rest */
        /* The rest always starts with a slash: a prefix "/api" also
         * matches "/api(x", whose rest "(x" is no origin-form target. */
        if (skip == r->norm_len || r->norm_path[skip] != '/')
            gh_wbuf_put(&o, "/", 1);
        if (skip < r->norm_len)
            gh_wbuf_put(&o, r->norm_path + skip, r->norm_len - skip);
    } else {
        gh_wbuf_putstr(&o, h->path);
    }
    if (h->query.len > 0) {
        gh_wbuf_put(&o, "?", 1);
        gh_wbuf_putstr(&o, h->query);
    }
    gh_wbuf_puts(&o, " HTTP/1.1\r\nHost: ");
    gh_wbuf_putstr(&o, host);
    gh_wbuf_put(&o, "\r\n", 2);

    for (size_t i = 0; i < h->nheaders; i++) {
        struct gh_str n = h->headers[i].name;
        if (hop_by_hop(n) || name_is(n, "host") || name_is(n, "content-length")
            || name_is(n, "x-forwarded-for") || name_is(n, "forwarded") || name_is(n, "via")
            || name_is(n, "x-forwarded-proto") || name_is(n, "x-forwarded-host")
            || name_is(n, "x-request-id") || in_sets(n, &vs->request_headers)
            || in_sets(n, &rt->request_headers)
            || named_by_connection(h->headers, h->nheaders, n))
            continue;
        gh_wbuf_putstr(&o, n);
        gh_wbuf_put(&o, ": ", 2);
        gh_wbuf_putstr(&o, h->headers[i].value);
        gh_wbuf_put(&o, "\r\n", 2);
    }
    if (websocket) {
        gh_wbuf_puts(&o, "Connection: upgrade\r\nUpgrade: ");
        gh_wbuf_putstr(&o, h->framing.upgrade);
        gh_wbuf_put(&o, "\r\n", 2);
    }
    if (chunked) {
        gh_wbuf_puts(&o, "Transfer-Encoding: chunked\r\n");
    } else if (h->framing.content_length >= 0 && r->has_body) {
        /* Not snprintf into a small array: a 19-digit length made it
         * return more than it wrote, and that many bytes were copied. */
        gh_wbuf_puts(&o, "Content-Length: ");
        gh_wbuf_u64(&o, (uint64_t)h->framing.content_length);
        gh_wbuf_puts(&o, "\r\n");
    }
    bool any = false;
    gh_wbuf_puts(&o, "X-Forwarded-For: ");
    put_joined(&o, h->headers, h->nheaders, "x-forwarded-for", &any);
    if (any)
        gh_wbuf_put(&o, ", ", 2);
    gh_wbuf_puts(&o, peer);
    gh_wbuf_puts(&o, "\r\nX-Forwarded-Proto: ");
    gh_wbuf_puts(&o, tls ? "https" : "http");
    gh_wbuf_puts(&o, "\r\nX-Forwarded-Host: ");
    gh_wbuf_putstr(&o, host);
    gh_wbuf_puts(&o, "\r\nForwarded: ");
    any = false;
    put_joined(&o, h->headers, h->nheaders, "forwarded", &any);
    if (any)
        gh_wbuf_put(&o, ", ", 2);
    gh_wbuf_puts(&o, v6 ? "for=\"[" : "for=");
    gh_wbuf_puts(&o, r->client->has_key ? peer : "unknown");
    gh_wbuf_puts(&o, v6 ? "]\";host=\"" : ";host=\"");
    gh_wbuf_putstr(&o, host);
    gh_wbuf_puts(&o, tls ? "\";proto=https\r\nVia: " : "\";proto=http\r\nVia: ");
    any = false;
    put_joined(&o, h->headers, h->nheaders, "via", &any);
    if (any)
        gh_wbuf_put(&o, ", ", 2);
    gh_wbuf_puts(&o, h->version_minor == 0 ? "1.0 gatehouse\r\nX-Request-ID: " : "1.1 gatehouse\r\nX-Request-ID: ");
    gh_wbuf_putstr(&o, r->request_id);
    gh_wbuf_put(&o, "\r\n", 2);
    gh_headers_put_set(&o, &vs->request_headers);
    gh_headers_put_set(&o, &rt->request_headers);
    gh_wbuf_put(&o, "\r\n", 2);
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
                   + gh_headers_set_size(&vs->response_headers)
                   + gh_headers_set_size(&rt->response_headers);
    char *buf = gh_palloc(r->pool, bound);
    if (buf == NULL)
        return -1;
    struct gh_wbuf o = gh_wbuf_make(buf, bound);
    char num[16];
    bool has_date = false, any = false;

    gh_wbuf_puts(&o, "HTTP/1.1 ");
    gh_wbuf_put(&o, num, (size_t)snprintf(num, sizeof(num), "%03d ", resp->status));
    if (resp->reason.len > 0)
        gh_wbuf_putstr(&o, resp->reason);
    else
        gh_wbuf_puts(&o, gh_http_reason(resp->status));
    gh_wbuf_puts(&o, "\r\nServer: gatehouse\r\n");
    for (size_t i = 0; i < resp->nheaders; i++) {
        struct gh_str n = resp->headers[i].name;
        if (hop_by_hop(n) || name_is(n, "server") || name_is(n, "x-powered-by")
            || name_is(n, "via") || name_is(n, "x-request-id")
            || ((chunked_out || r->body_rewritten) && name_is(n, "content-length"))
            || in_sets(n, &vs->response_headers) || in_sets(n, &rt->response_headers)
            || named_by_connection(resp->headers, resp->nheaders, n))
            continue;
        if (name_is(n, "date"))
            has_date = true;
        gh_wbuf_putstr(&o, n);
        gh_wbuf_put(&o, ": ", 2);
        gh_wbuf_putstr(&o, resp->headers[i].value);
        gh_wbuf_put(&o, "\r\n", 2);
    }
    if (!has_date) {
        gh_wbuf_puts(&o, "Date: ");
        gh_wbuf_put(&o, gh_time_http_date(), 29);
        gh_wbuf_put(&o, "\r\n", 2);
    }
    gh_wbuf_puts(&o, "Via: ");
    put_joined(&o, resp->headers, resp->nheaders, "via", &any);
    if (any)
        gh_wbuf_put(&o, ", ", 2);
    gh_wbuf_puts(&o, resp->version_minor == 0 ? "1.0 gatehouse\r\n" : "1.1 gatehouse\r\n");
    if (r->request_id.len > 0) {
        gh_wbuf_puts(&o, "X-Request-ID: ");
        gh_wbuf_putstr(&o, r->request_id);
        gh_wbuf_put(&o, "\r\n", 2);
    }
    if (chunked_out)
        gh_wbuf_puts(&o, "Transfer-Encoding: chunked\r\n");
    if (resp->status == 101) {
        /* The upgrade itself: its hop-by-hop headers are the point. */
        gh_wbuf_puts(&o, "Connection: upgrade\r\nUpgrade: ");
        gh_wbuf_putstr(&o, resp->framing.upgrade);
        gh_wbuf_put(&o, "\r\n\r\n", 4);
        *head = buf;
        *len = (size_t)(o.p - buf);
        return 0;
    }
    if (!r->keepalive)
        gh_wbuf_puts(&o, "Connection: close\r\n");
    else if (r->head.version_minor == 0)
        gh_wbuf_puts(&o, "Connection: keep-alive\r\n");
    gh_wbuf_putstr(&o, r->extra_resp_headers);
    gh_headers_put_set(&o, &vs->response_headers);
    gh_headers_put_set(&o, &rt->response_headers);
    gh_wbuf_put(&o, "\r\n", 2);
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
