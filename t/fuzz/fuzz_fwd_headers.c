/*
 * fuzz_fwd_headers.c - libFuzzer harness for the request head sent
 * upstream (gh_proxy_build_request, server/proxy_headers.c): the client's
 * own headers, X-Forwarded-For, Forwarded and Via appended to whatever the
 * client sent, X-Forwarded-Proto/-Host, X-Request-ID, set/remove lists,
 * strip_prefix.
 *
 * Byte 0: bit 0 TLS, bit 1 strip_prefix, bits 2-4 the client (IPv4, IPv6,
 * a unix socket, ...); byte 1 picks the matched prefix length; the rest is
 * the client's request head, read by the real parser (a head it refuses is
 * never forwarded) and normalized as http1.c does. Invariants:
 *  - the head is lines "Name: value\r\n" after a request line "METHOD
 *    /target HTTP/1.1\r\n", ends in the blank line, holds no NUL, no bare
 *    CR or LF and no control byte; it fits the bound (nothing was cut:
 *    the writer stops at the bound, which would lose the blank line);
 *  - the parser reads it back as one complete head of exactly that length,
 *    with one Host, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host,
 *    Forwarded, Via and X-Request-ID, no hop-by-hop header (but the
 *    websocket upgrade's), and the client's other headers verbatim, in
 *    order;
 *  - X-Forwarded-For, Forwarded and Via end with our element, which no
 *    client value can swallow: read as a list (commas outside quoted
 *    strings, and for Via outside comments), the last element is ours and
 *    every quote and comment is closed; our Forwarded element is valid
 *    RFC 7239 (pairs of token=token or quoted-string).
 */
#include <stdlib.h>
#include <string.h>

#include "common/pool.h"
#include "modules/realip.h"
#include "server/proxy_headers.h"
#include "server/reqid.h"
#include "fuzz.h"

#define MAX_HEADERS 32

static const struct gh_http1_limits lim = {
    .max_header_size = 4096, .max_uri_size = 1024, .max_headers = MAX_HEADERS,
};
/* Reading our output back: it holds up to eight headers of our own. */
static const struct gh_http1_limits out_lim = {
    .max_header_size = 1 << 20, .max_uri_size = 1 << 20, .max_headers = MAX_HEADERS + 16,
};

static struct gh_conf_header_set vs_set[] = { { "X-Env", "prod" } };
static char *vs_remove[] = { "X-Drop" };
static struct gh_conf_header_set rt_set[] = { { "X-Route", "api" }, { "X-Forwarded-Port", "443" } };
static struct gh_conf_vserver vserver;
static struct gh_conf_route route;

static const char *const clients[8] = {
    "192.0.2.7", "::1", "2001:db8::1:0:0:1", "unix:", "255.255.255.255", "10.0.0.1",
    "fe80::1", "0.0.0.0",
};

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool name_is(struct gh_str n, const char *lit)
{
    return n.len == strlen(lit) && gh_str_caseeq(n, gh_str_make(lit, n.len));
}

/* The headers that never pass as the client sent them. */
static bool replaced(struct gh_str n)
{
    static const char *const names[] = {
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
        "upgrade", "host", "content-length", "x-forwarded-for", "forwarded", "via",
        "x-forwarded-proto", "x-forwarded-host", "x-request-id", "x-env", "x-drop",
        "x-route", "x-forwarded-port",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (name_is(n, names[i]))
            return true;
    return false;
}

/* Named in a Connection header of h (so dropped as hop-by-hop)? */
static bool by_connection(const struct gh_http1_request *h, struct gh_str n)
{
    for (size_t i = 0; i < h->nheaders; i++) {
        if (!name_is(h->headers[i].name, "connection"))
            continue;
        const char *p = h->headers[i].value.p, *e = p + h->headers[i].value.len;
        while (p < e) {
            while (p < e && (*p == ' ' || *p == '\t' || *p == ','))
                p++;
            const char *t = p;
            while (p < e && *p != ',' && *p != ' ' && *p != '\t')
                p++;
            if (p > t && gh_str_caseeq(gh_str_make(t, (size_t)(p - t)), n))
                return true;
        }
    }
    return false;
}

/*
 * The last element of a comma-separated list, OWS trimmed: commas inside a
 * quoted-string (with quoted-pairs) and, when comments is set, inside a
 * (nested) comment do not count. false when a quote or comment is left
 * open at the end.
 */
static bool last_element(struct gh_str v, bool comments, struct gh_str *last)
{
    size_t start = 0, depth = 0;
    bool quoted = false;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.p[i];
        if (quoted || depth > 0) {
            if (c == '\\') {
                i++;
                continue;
            }
        }
        if (quoted) {
            if (c == '"')
                quoted = false;
        } else if (depth > 0) {
            if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
        } else if (c == '"') {
            quoted = true;
        } else if (c == '(' && comments) {
            depth++;
        } else if (c == ',') {
            start = i + 1;
        }
    }
    if (quoted || depth > 0)
        return false;
    *last = gh_str_trim(gh_str_make(v.p + start, v.len - start));
    return true;
}

/* RFC 7239: forwarded-pair *( ";" forwarded-pair ), value token or quoted-string. */
static bool valid_forwarded_element(struct gh_str e)
{
    size_t i = 0;
    for (;;) {
        size_t t = i;
        while (i < e.len && tchar((unsigned char)e.p[i]))
            i++;
        if (i == t || i == e.len || e.p[i++] != '=')
            return false;
        if (i < e.len && e.p[i] == '"') {
            for (i++; i < e.len && e.p[i] != '"'; i++)
                if (e.p[i] == '\\')
                    i++;
            if (i >= e.len)
                return false;
            i++;
        } else {
            t = i;
            while (i < e.len && tchar((unsigned char)e.p[i]))
                i++;
            if (i == t)
                return false;
        }
        if (i == e.len)
            return true;
        if (e.p[i++] != ';')
            return false;
    }
}

static size_t count(const struct gh_http1_request *h, const char *name, struct gh_str *v)
{
    size_t n = 0;
    for (size_t i = 0; i < h->nheaders; i++)
        if (name_is(h->headers[i].name, name)) {
            *v = h->headers[i].value;
            n++;
        }
    return n;
}

static bool streq(struct gh_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

static void check_head(const char *head, size_t len, const struct gh_req *r, bool tls,
                       bool websocket, bool chunked)
{
    const struct gh_http1_request *in = &r->head;

    /* lines */
    CHECK(len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0);
    CHECK(memchr(head, '\0', len) == NULL);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)head[i];
        if (c == '\r')
            CHECK(i + 1 < len && head[i + 1] == '\n');
        else if (c == '\n')
            CHECK(i > 0 && head[i - 1] == '\r');
        else
            CHECK(c >= 0x20 || c == '\t');
        CHECK(c != 0x7f);
    }
    const char *p = memmem(head, len, "\r\n", 2);
    size_t line = (size_t)(p - head);
    CHECK(line > in->method.len + 10 && memcmp(head, in->method.p, in->method.len) == 0);
    CHECK(head[in->method.len] == ' ' && head[in->method.len + 1] == '/');
    CHECK(memcmp(head + line - 9, " HTTP/1.1", 9) == 0);
    CHECK(memchr(head + in->method.len + 1, ' ', line - 9 - in->method.len - 1) == NULL);
    for (p += 2; (size_t)(p - head) < len - 2;) {
        const char *e = memmem(p, len - (size_t)(p - head), "\r\n", 2);
        const char *colon = memchr(p, ':', (size_t)(e - p));
        CHECK(colon != NULL && colon > p && colon + 1 < e && colon[1] == ' ');
        for (const char *q = p; q < colon; q++)
            CHECK(tchar((unsigned char)*q));
        p = e + 2;
    }

    /* read back */
    struct gh_http_header hh[MAX_HEADERS + 16];
    struct gh_http1_request out;
    struct gh_http1_parser ps;
    memset(&out, 0, sizeof(out));
    out.headers = hh;
    gh_http1_parser_reset(&ps);
    int rc = gh_http1_parse_request(&ps, head, len, &out_lim, &out);
    struct gh_str v, host = in->authority.len > 0 ? in->authority : in->host;
    if (host.len == 0 && rc == -400)
        return;         /* an HTTP/1.0 request without Host: "Host: " (RFC 9112 3.2) */
    if (rc != (int)len) {
        fprintf(stderr, "our head reads back as %d (of %zu): %.*s\n", rc, len, (int)len, head);
        abort();
    }
    CHECK(count(&out, "host", &v) == 1 && v.len == host.len && memcmp(v.p, host.p, v.len) == 0);
    CHECK(count(&out, "x-forwarded-host", &v) == 1 && v.len == host.len &&
          memcmp(v.p, host.p, v.len) == 0);
    bool cl = !chunked && r->has_body && in->framing.content_length >= 0;
    CHECK(count(&out, "content-length", &v) == (cl ? 1 : 0));
    CHECK(count(&out, "x-forwarded-proto", &v) == 1 && streq(v, tls ? "https" : "http"));
    CHECK(count(&out, "x-request-id", &v) == 1 && v.len == r->request_id.len);
    CHECK(count(&out, "transfer-encoding", &v) == (chunked ? 1 : 0));
    CHECK(count(&out, "connection", &v) == (websocket ? 1 : 0));
    CHECK(count(&out, "upgrade", &v) == (websocket ? 1 : 0));
    CHECK(count(&out, "te", &v) == 0 && count(&out, "keep-alive", &v) == 0);
    CHECK(count(&out, "trailer", &v) == 0 && count(&out, "proxy-connection", &v) == 0);
    CHECK(count(&out, "x-drop", &v) == 0);
    CHECK(count(&out, "x-env", &v) == 1 && streq(v, "prod"));
    CHECK(count(&out, "x-route", &v) == 1 && streq(v, "api"));
    CHECK(count(&out, "x-forwarded-port", &v) == 1 && streq(v, "443"));

    /* the client's other headers, verbatim and in order */
    size_t k = 0;
    for (size_t i = 0; i < in->nheaders; i++) {
        struct gh_str n = in->headers[i].name;
        if (replaced(n) || by_connection(in, n))
            continue;
        while (k < out.nheaders && !(out.headers[k].name.len == n.len &&
                                     memcmp(out.headers[k].name.p, n.p, n.len) == 0))
            k++;
        CHECK(k < out.nheaders);
        struct gh_str a = out.headers[k].value, b = in->headers[i].value;
        CHECK(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
        k++;
    }

    /* the appended elements are the last ones, whole */
    const char *peer = r->client->text;
    struct gh_str last;
    CHECK(count(&out, "x-forwarded-for", &v) == 1);
    CHECK(last_element(v, false, &last) && streq(last, peer));
    CHECK(count(&out, "via", &v) == 1);
    if (!last_element(v, true, &last) ||
        !streq(last, in->version_minor == 0 ? "1.0 gatehouse" : "1.1 gatehouse")) {
        fprintf(stderr, "Via: %.*s\n", (int)v.len, v.p);
        abort();
    }
    CHECK(count(&out, "forwarded", &v) == 1);
    if (!last_element(v, false, &last) || !valid_forwarded_element(last)) {
        fprintf(stderr, "Forwarded: %.*s\n", (int)v.len, v.p);
        abort();
    }
    static char want[8192];
    bool v6 = strchr(peer, ':') != NULL && r->client->has_key;
    snprintf(want, sizeof(want), v6 ? "for=\"[%s]\";host=\"%.*s\";proto=%s"
                                    : "for=%s;host=\"%.*s\";proto=%s",
             r->client->has_key ? peer : "unknown", (int)host.len, host.p,
             tls ? "https" : "http");
    if (!streq(last, want)) {
        fprintf(stderr, "Forwarded: %.*s, want %s\n", (int)last.len, last.p, want);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        gh_reqid_init();
        vserver.request_headers.set = vs_set;
        vserver.request_headers.nset = 1;
        vserver.request_headers.remove = vs_remove;
        vserver.request_headers.nremove = 1;
        route.request_headers.set = rt_set;
        route.request_headers.nset = 2;
        ready = true;
    }
    if (size < 2)
        return 0;
    bool tls = data[0] & 1;
    route.strip_prefix = data[0] & 2;
    const char *ctext = clients[(data[0] >> 2) & 7];
    unsigned pick = data[1];
    data += 2;
    size -= 2;

    char *buf = malloc(size ? size : 1);
    CHECK(buf != NULL);
    memcpy(buf, data, size);
    struct gh_http_header h[MAX_HEADERS];
    struct gh_http1_parser ps;
    struct gh_req r;
    memset(&r, 0, sizeof(r));
    r.head.headers = h;
    gh_http1_parser_reset(&ps);
    int rc = gh_http1_parse_request(&ps, buf, size, &lim, &r.head);
    if (rc <= 0)
        goto done;

    struct gh_client client;
    memset(&client, 0, sizeof(client));
    if (strcmp(ctext, "unix:") == 0)
        strcpy(client.text, ctext);
    else
        CHECK(gh_realip_parse(gh_str_make(ctext, strlen(ctext)), &client) == 0);
    r.https = tls;                      /* the header builder reads no connection */
    r.client = &client;
    r.pool = gh_pool_create(4096);
    CHECK(r.pool != NULL);
    r.has_body = r.head.framing.chunked || r.head.framing.content_length > 0;
    gh_reqid_assign(&r);
    r.norm_path = gh_palloc(r.pool, r.head.path.len + 1);
    CHECK(r.norm_path != NULL);
    ssize_t nlen = gh_path_normalize(r.head.path, r.norm_path);
    if (nlen < 0)
        goto out;                       /* a 400 */
    r.norm_len = (size_t)nlen;
    r.match.vserver = &vserver;
    r.match.route = &route;
    /* any prefix of the path is some route's prefix */
    r.match.prefix_len = route.strip_prefix ? 1 + pick % r.norm_len : 0;

    bool ws = r.head.method_id == GH_M_GET && r.head.framing.conn_upgrade
              && gh_str_caseeq_lit(r.head.framing.upgrade, "websocket");
    bool chunked = r.head.framing.chunked;
    char *head;
    size_t len;
    CHECK(gh_proxy_build_request(&r, NULL, chunked, ws, &head, &len) == 0);
    check_head(head, len, &r, tls, ws, chunked);
out:
    gh_pool_destroy(r.pool);
done:
    free(buf);
    return 0;
}
