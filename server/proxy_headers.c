/*
 * proxy_headers.c - request and response head rewriting for the proxy.
 * Heads are written into pool memory sized from an upper bound computed
 * first, so nothing a client or upstream sends can overflow them.
 */
#include <string.h>

#include "common/time.h"
#include "common/wbuf.h"
#include "server/filter.h"
#include "server/proxy_headers.h"
#include "server/tls.h"

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

/* X-Client-Cert-*: ours to set (mTLS); a client's own never pass. */
static bool client_cert_header(struct gh_str n)
{
    static const char prefix[] = "x-client-cert-";
    if (n.len < sizeof(prefix) - 1)
        return false;
    for (size_t i = 0; i < sizeof(prefix) - 1; i++)
        if (gh_lower(n.p[i]) != prefix[i])
            return false;
    return true;
}

static void put_client_cert(struct gh_wbuf *o, const struct gh_tls_client_cert *cc)
{
    gh_wbuf_puts(o, "X-Client-Cert-Subject: ");
    gh_wbuf_puts(o, cc->subject);
    gh_wbuf_puts(o, "\r\nX-Client-Cert-Issuer: ");
    gh_wbuf_puts(o, cc->issuer);
    gh_wbuf_puts(o, "\r\nX-Client-Cert-Serial: ");
    gh_wbuf_puts(o, cc->serial);
    gh_wbuf_puts(o, "\r\nX-Client-Cert-Verify: ");
    gh_wbuf_puts(o, cc->verify);
    gh_wbuf_puts(o, "\r\n");
}

static size_t client_cert_size(const struct gh_tls_client_cert *cc)
{
    if (cc == NULL)
        return 0;
    return strlen(cc->subject) + strlen(cc->issuer) + strlen(cc->serial) + strlen(cc->verify)
           + 128;
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
                   + gh_headers_set_size(&rt->request_headers) + client_cert_size(r->client_cert) + r->traceparent.len + 32;
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
            || name_is(n, "x-request-id") || client_cert_header(n)
            || name_is(n, "traceparent") || (!r->trace_kept && name_is(n, "tracestate"))
            || in_sets(n, &vs->request_headers)
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
    gh_wbuf_puts(&o, r->http2 ? "2.0 gatehouse\r\nX-Request-ID: "
                     : h->version_minor == 0 ? "1.0 gatehouse\r\nX-Request-ID: "
                                             : "1.1 gatehouse\r\nX-Request-ID: ");
    gh_wbuf_putstr(&o, r->request_id);
    gh_wbuf_put(&o, "\r\n", 2);
    if (r->traceparent.len > 0) {
        gh_wbuf_puts(&o, "traceparent: ");
        gh_wbuf_putstr(&o, r->traceparent);
        gh_wbuf_put(&o, "\r\n", 2);
    }
    if (r->client_cert != NULL)
        put_client_cert(&o, r->client_cert);
    gh_headers_put_set(&o, &vs->request_headers);
    gh_headers_put_set(&o, &rt->request_headers);
    gh_wbuf_put(&o, "\r\n", 2);
    *head = buf;
    *len = (size_t)(o.p - buf);
    return 0;
}

/* Add a configured set-list's fields (the route's or server's
 * response_headers). */
static int add_sets(struct gh_resp_head *h, const struct gh_conf_headers *sets)
{
    for (size_t i = 0; sets != NULL && i < sets->nset; i++)
        if (gh_resp_head_add(h, gh_str_make(sets->set[i].name, strlen(sets->set[i].name)),
                             gh_str_make(sets->set[i].value, strlen(sets->set[i].value)))
            == -1)
            return -1;
    return 0;
}

/* The proxy's header filter (SPEC section 5): the upstream's identity
 * (Server, X-Powered-By) and hop-by-hop fields never reach the client,
 * nor a Content-Length the body no longer has; Via gets our hop, Date is
 * added when missing, X-Request-ID and the sticky cookie are ours, and the
 * configured response_headers lists set and remove fields. */
static int proxy_head(struct gh_req *r, struct gh_resp_head *h)
{
    const struct gh_conf_vserver *vs = r->match.vserver;
    const struct gh_conf_route *rt = r->match.route;
    bool has_date = false;
    size_t via_bytes = 0;
    for (size_t i = 0; i < h->nfields; i++) {
        struct gh_str n = h->fields[i].name;
        if (name_is(n, "via")) {
            via_bytes += h->fields[i].value.len + 2;
            gh_resp_head_drop(h, i);
        } else if (hop_by_hop(n) || name_is(n, "server") || name_is(n, "x-powered-by")
                   || name_is(n, "x-request-id")
                   || (h->body == GH_RESP_STREAM && name_is(n, "content-length"))
                   || in_sets(n, &vs->response_headers) || in_sets(n, &rt->response_headers)
                   || named_by_connection(h->fields, h->nfields, n)) {
            gh_resp_head_drop(h, i);
        } else if (name_is(n, "date")) {
            has_date = true;
        }
    }
    const char *hop = h->version_minor == 0 ? "1.0 gatehouse" : "1.1 gatehouse";
    struct gh_str via = gh_str_make(hop, 13);
    if (via_bytes > 0) {
        /* The upstream's hops first, ours appended. */
        char *buf = gh_palloc(r->pool, via_bytes + 15);
        if (buf == NULL)
            return -1;
        struct gh_wbuf o = gh_wbuf_make(buf, via_bytes + 15);
        bool any = false;
        put_joined(&o, h->fields, h->nfields, "via", &any);
        if (any)
            gh_wbuf_put(&o, ", ", 2);
        gh_wbuf_put(&o, hop, 13);
        via = gh_str_make(buf, (size_t)(o.p - buf));
    }
    if (gh_resp_head_add(h, GH_STR("Server"), GH_STR("gatehouse")) == -1
        || (!has_date && gh_resp_head_add(h, GH_STR("Date"),
                                          gh_str_make(gh_time_http_date(), 29)) == -1)
        || gh_resp_head_add(h, GH_STR("Via"), via) == -1
        || (r->request_id.len > 0
            && gh_resp_head_add(h, GH_STR("X-Request-ID"), r->request_id) == -1)
        || (r->set_cookie.len > 0
            && gh_resp_head_add(h, GH_STR("Set-Cookie"), r->set_cookie) == -1)
        || add_sets(h, &vs->response_headers) == -1 || add_sets(h, &rt->response_headers) == -1)
        return -1;
    return 0;
}

const struct gh_header_filter gh_proxy_header_filter = {
    .name = "proxy",
    .head = proxy_head,
};

size_t gh_proxy_head_adds(const struct gh_req *r)
{
    const struct gh_conf_vserver *vs = r->match.vserver;
    const struct gh_conf_route *rt = r->match.route;
    return 6 + GH_FILTER_HEAD_ADDS + vs->response_headers.nset      /* 6: with X-Cache */
           + rt->response_headers.nset;
}
