/*
 * test_http1_parse.c - the HTTP/1 request/response parsers and the chunked
 * decoder: smuggling vectors, limits, incremental arrival.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "server/http1_parse.h"

#define OK 1 /* expected: the head is complete and as long as the input */

static const struct gh_http1_limits lim = {
    .max_header_size = 4096, .max_uri_size = 256, .max_headers = 16,
};

static struct gh_http_header hdrs[64];

static int parse_req_lim(const char *s, size_t n, const struct gh_http1_limits *l,
                         struct gh_http1_request *req)
{
    struct gh_http1_parser p;
    gh_http1_parser_reset(&p);
    memset(req, 0, sizeof(*req));
    req->headers = hdrs;
    return gh_http1_parse_request(&p, s, n, l, req);
}

static int parse_req(const char *s, struct gh_http1_request *req)
{
    return parse_req_lim(s, strlen(s), &lim, req);
}

static int parse_resp(const char *s, struct gh_http1_response *resp)
{
    struct gh_http1_parser p;
    gh_http1_parser_reset(&p);
    memset(resp, 0, sizeof(*resp));
    resp->headers = hdrs;
    return gh_http1_parse_response(&p, s, strlen(s), &lim, resp);
}

static bool str_is(struct gh_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* ---------------------------------------------------------------------- */

struct req_case {
    const char *name;
    const char *in;
    int want;
};

#define H11 "GET / HTTP/1.1\r\nHost: a\r\n"

static const struct req_case req_cases[] = {
    /* valid */
    { "simple", H11 "\r\n", OK },
    { "bare LF", "GET / HTTP/1.1\nHost: a\n\n", OK },
    { "mixed endings", "GET / HTTP/1.1\r\nHost: a\n\r\n", OK },
    { "leading empty lines", "\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", OK },
    { "1.0 without Host", "GET / HTTP/1.0\r\n\r\n", OK },
    { "1.0 with Host", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", OK },
    { "OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", OK },
    { "absolute-form", "GET http://h:80/p?q HTTP/1.1\r\nHost: a\r\n\r\n", OK },
    { "absolute-form https", "GET HTTPS://h HTTP/1.1\r\nHost: a\r\n\r\n", OK },
    { "CONNECT authority", "CONNECT h.example:443 HTTP/1.1\r\nHost: h.example:443\r\n\r\n", OK },
    { "CL list identical", H11 "Content-Length: 5, 5\r\n\r\n", OK },
    { "CL duplicate identical", H11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", OK },
    { "CL zero", H11 "Content-Length: 0\r\n\r\n", OK },
    { "CL leading zeros", H11 "Content-Length: 007\r\n\r\n", OK },
    { "TE chunked", H11 "Transfer-Encoding: chunked\r\n\r\n", OK },
    { "TE Chunked case", H11 "Transfer-Encoding: ChUnKeD\r\n\r\n", OK },
    { "Host IPv6", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", OK },
    { "Host IPv4 port", "GET / HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\r\n", OK },
    { "obs-text value", H11 "X: caf\xc3\xa9\r\n\r\n", OK },
    { "tab in value", H11 "X: a\tb\r\n\r\n", OK },
    { "empty value", H11 "X:\r\n\r\n", OK },
    { "tchar name", H11 "X-!#$%&'*+.^_`|~1: v\r\n\r\n", OK },
    { "method token", "M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n", OK },
    { "HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", OK },
    { "Expect other", H11 "Expect: foo\r\n\r\n", OK },

    /* smuggling: framing */
    { "CL and TE", H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", -400 },
    { "TE and CL", H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", -400 },
    { "TE chunked, identity", H11 "Transfer-Encoding: chunked, identity\r\n\r\n", -400 },
    { "TE space before colon", H11 "Transfer-Encoding : chunked\r\n\r\n", -400 },
    { "TE tab before colon", H11 "Transfer-Encoding\t: chunked\r\n\r\n", -400 },
    { "TE obs-fold", H11 "Transfer-Encoding:\r\n chunked\r\n\r\n", -400 },
    { "obs-fold tab", H11 "X: a\r\n\tb\r\n\r\n", -400 },
    { "first header folded", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", -400 },
    { "TE identity", H11 "Transfer-Encoding: identity\r\n\r\n", -400 },
    { "TE gzip only", H11 "Transfer-Encoding: gzip\r\n\r\n", -400 },
    { "TE chunked twice", H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", -400 },
    { "TE chunked twice 2 hdrs", H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", -400 },
    { "TE chunked then identity hdr", H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", -400 },
    { "TE empty element", H11 "Transfer-Encoding: , chunked\r\n\r\n", -400 },
    { "TE trailing comma", H11 "Transfer-Encoding: chunked,\r\n\r\n", -400 },
    { "TE empty", H11 "Transfer-Encoding:\r\n\r\n", -400 },
    { "TE chunked with param", H11 "Transfer-Encoding: chunked;a=b\r\n\r\n", -400 },
    { "TE chunked-false", H11 "Transfer-Encoding: chunkedx\r\n\r\n", -400 },
    { "TE bad coding", H11 "Transfer-Encoding: gz/ip, chunked\r\n\r\n", -400 },
    { "TE vertical tab", H11 "Transfer-Encoding: \x0b" "chunked\r\n\r\n", -400 },
    { "TE on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400 },
    { "TE gzip, chunked", H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", -501 },
    { "TE two headers", H11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", -501 },
    { "TE unknown, chunked", H11 "Transfer-Encoding: x-foo;q=1, chunked\r\n\r\n", -501 },
    { "CL list differing", H11 "Content-Length: 5, 6\r\n\r\n", -400 },
    { "CL duplicate differing", H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", -400 },
    { "CL plus", H11 "Content-Length: +5\r\n\r\n", -400 },
    { "CL minus", H11 "Content-Length: -1\r\n\r\n", -400 },
    { "CL hex", H11 "Content-Length: 0x5\r\n\r\n", -400 },
    { "CL empty", H11 "Content-Length:\r\n\r\n", -400 },
    { "CL space inside", H11 "Content-Length: 5 5\r\n\r\n", -400 },
    { "CL trailing comma", H11 "Content-Length: 5,\r\n\r\n", -400 },
    { "CL overflow", H11 "Content-Length: 9223372036854775808\r\n\r\n", -400 },
    { "CL huge", H11 "Content-Length: 99999999999999999999999\r\n\r\n", -400 },
    { "CL space before colon", H11 "Content-Length : 5\r\n\r\n", -400 },
    { "CL decimal", H11 "Content-Length: 5.0\r\n\r\n", -400 },
    { "Transfer_Encoding twin", H11 "Transfer_Encoding: chunked\r\n\r\n", -400 },
    { "Content_Length twin", H11 "Content_length: 5\r\n\r\n", -400 },

    /* bytes */
    { "space in name", H11 "X Y: z\r\n\r\n", -400 },
    { "tab in name", H11 "X\tY: z\r\n\r\n", -400 },
    { "empty name", H11 ": z\r\n\r\n", -400 },
    { "no colon", H11 "XY\r\n\r\n", -400 },
    { "DEL in value", H11 "X: a\x7f" "b\r\n\r\n", -400 },
    { "VT in value", H11 "X: a\x0b" "b\r\n\r\n", -400 },
    { "bare CR in value", H11 "X: a\rb\r\n\r\n", -400 },
    { "CR CR LF", H11 "X: a\r\r\n\r\n", -400 },
    { "bare CR request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", -400 },
    { "bare CR blank line", H11 "\r\r\n\r\n", -400 },
    { "obs-text name", H11 "X\xc3: z\r\n\r\n", -400 },

    /* request line */
    { "double space 1", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "double space 2", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", -400 },
    { "trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", -400 },
    { "tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "leading space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "missing version", "GET /\r\nHost: a\r\n\r\n", -400 },
    { "missing target", "GET HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "only method", "GET\r\nHost: a\r\n\r\n", -400 },
    { "HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", -400 },
    { "HTTP/1.", "GET / HTTP/1.\r\nHost: a\r\n\r\n", -400 },
    { "HTTP/11.1", "GET / HTTP/11.1\r\nHost: a\r\n\r\n", -400 },
    { "HTTP/1", "GET / HTTP/1\r\nHost: a\r\n\r\n", -400 },
    { "HTTPS/1.1", "GET / HTTPS/1.1\r\nHost: a\r\n\r\n", -400 },
    { "bad method char", "G(ET / HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "DEL in target", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "high byte in target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "CTL in target", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "authority with GET", "GET h:80 HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "CONNECT origin", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "CONNECT no port", "CONNECT h HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "ftp scheme", "GET ftp://h/ HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "absolute userinfo", "GET http://u@h/ HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "absolute empty authority", "GET http:///p HTTP/1.1\r\nHost: a\r\n\r\n", -400 },
    { "relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", -400 },

    /* Host */
    { "no Host 1.1", "GET / HTTP/1.1\r\n\r\n", -400 },
    { "two Hosts", H11 "Host: a\r\n\r\n", -400 },
    { "two Hosts 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", -400 },
    { "Host empty", "GET / HTTP/1.1\r\nHost:\r\n\r\n", -400 },
    { "Host space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", -400 },
    { "Host slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", -400 },
    { "Host at", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", -400 },
    { "Host bad port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", -400 },
    { "Host two colons", "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", -400 },
    { "Host bad IPv6", "GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n", -400 },
    { "Host unclosed IPv6", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", -400 },
    { "Host backslash", "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", -400 },
    { "Host bad on 1.0", "GET / HTTP/1.0\r\nHost: a b\r\n\r\n", -400 },

    /* version */
    { "HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", -505 },
    { "HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", -505 },
    { "HTTP/3.0", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", -505 },
    { "h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", -505 },

    /* incomplete */
    { "empty", "", GH_AGAIN },
    { "only CRLFs", "\r\n\r\n", GH_AGAIN },
    { "partial line", "GET / HT", GH_AGAIN },
    { "no blank line", H11, GH_AGAIN },
    { "blank line CR only", H11 "\r", GH_AGAIN },
};

START_TEST(test_request_table)
{
    const struct req_case *c = &req_cases[_i];
    struct gh_http1_request req;
    int want = c->want == OK ? (int)strlen(c->in) : c->want;
    int got = parse_req(c->in, &req);
    ck_assert_msg(got == want, "%s: got %d want %d", c->name, got, want);
    if (want > 0) ck_assert_uint_eq(req.head_len, (size_t)want);
}
END_TEST

START_TEST(test_nul)
{
    static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
    static const char in2[] = "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char in3[] = "GET / HTTP/1.1\r\nHost: a\r\nX\0: b\r\n\r\n";
    struct gh_http1_request req;
    ck_assert_int_eq(parse_req_lim(in, sizeof(in) - 1, &lim, &req), -400);
    ck_assert_int_eq(parse_req_lim(in2, sizeof(in2) - 1, &lim, &req), -400);
    ck_assert_int_eq(parse_req_lim(in3, sizeof(in3) - 1, &lim, &req), -400);
}
END_TEST

START_TEST(test_request_fields)
{
    struct gh_http1_request req;
    const char *in = "\r\nPOST /a/b?x=1&y HTTP/1.1\r\nHost: example.com:8080\r\n"
                     "Content-Length: 12\r\nConnection: Keep-Alive, Upgrade\r\n"
                     "Connection: close\r\nUpgrade: websocket\r\nExpect: 100-Continue\r\n"
                     "X-Pad:   spaced value \t \r\n\r\n";
    ck_assert_int_eq(parse_req(in, &req), (int)strlen(in));
    ck_assert(str_is(req.method, "POST"));
    ck_assert_int_eq(req.method_id, GH_M_POST);
    ck_assert(str_is(req.target, "/a/b?x=1&y"));
    ck_assert(str_is(req.path, "/a/b"));
    ck_assert(str_is(req.query, "x=1&y"));
    ck_assert_uint_eq(req.authority.len, 0);
    ck_assert_int_eq(req.version_minor, 1);
    ck_assert(str_is(req.host, "example.com:8080"));
    ck_assert_int_eq(req.framing.content_length, 12);
    ck_assert(!req.framing.chunked && !req.framing.has_te);
    ck_assert(req.framing.conn_close && req.framing.conn_keep_alive && req.framing.conn_upgrade);
    ck_assert(str_is(req.framing.upgrade, "websocket"));
    ck_assert(req.expect_continue && !req.expect_other);
    ck_assert_uint_eq(req.nheaders, 7);
    const struct gh_http_header *h = gh_http1_find_header(req.headers, req.nheaders, "x-pad");
    ck_assert_ptr_nonnull(h);
    ck_assert(str_is(h->name, "X-Pad"));
    ck_assert(str_is(h->value, "spaced value"));
    ck_assert_ptr_null(gh_http1_find_header(req.headers, req.nheaders, "x-pa"));
    ck_assert_ptr_null(gh_http1_find_header(req.headers, req.nheaders, "missing"));
    ck_assert(str_is(gh_http1_find_header(req.headers, req.nheaders, "HOST")->value,
                     "example.com:8080"));

    in = "GET http://Example.com:81?q=1 HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(parse_req(in, &req), (int)strlen(in));
    ck_assert(str_is(req.authority, "Example.com:81"));
    ck_assert(str_is(req.path, "/"));
    ck_assert(str_is(req.query, "q=1"));
    ck_assert(str_is(req.host, "x"));
    ck_assert_int_eq(req.framing.content_length, -1);

    in = "GET http://h/p/q?r HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(parse_req(in, &req), (int)strlen(in));
    ck_assert(str_is(req.authority, "h"));
    ck_assert(str_is(req.path, "/p/q"));
    ck_assert(str_is(req.query, "r"));

    in = "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(parse_req(in, &req), (int)strlen(in));
    ck_assert(str_is(req.path, "*"));
    ck_assert_int_eq(req.method_id, GH_M_OPTIONS);

    in = "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n";
    ck_assert_int_eq(parse_req(in, &req), (int)strlen(in));
    ck_assert_int_eq(req.method_id, GH_M_CONNECT);
    ck_assert(str_is(req.authority, "h:443"));

    in = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nbody";
    ck_assert_int_eq(parse_req(in, &req), (int)strlen(in) - 4);
    ck_assert(req.framing.chunked && req.framing.has_te);
    ck_assert_int_eq(req.framing.content_length, -1);

    in = "PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n";
    ck_assert_int_eq(parse_req(in, &req), (int)strlen(in));
    ck_assert_int_eq(req.version_minor, 0);
    ck_assert(!req.expect_continue && !req.expect_other);
    ck_assert_uint_eq(req.host.len, 0);

    in = "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\n\r\n";
    ck_assert_int_eq(parse_req(in, &req), (int)strlen(in));
    ck_assert(req.expect_other);

    static const char *methods[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS",
                                     "PATCH", "TRACE", "get", "FOO" };
    static const enum gh_method ids[] = { GH_M_GET, GH_M_HEAD, GH_M_POST, GH_M_PUT,
                                          GH_M_DELETE, GH_M_OPTIONS, GH_M_PATCH, GH_M_TRACE,
                                          GH_M_OTHER, GH_M_OTHER };
    for (size_t i = 0; i < GH_ARRAY_LEN(methods); i++) {
        char buf[128];
        int n = snprintf(buf, sizeof(buf), "%s / HTTP/1.1\r\nHost: a\r\n\r\n", methods[i]);
        ck_assert_int_eq(parse_req(buf, &req), n);
        ck_assert_int_eq(req.method_id, ids[i]);
    }
}
END_TEST

/* Every byte value at every position of a long value and a long target
 * (the scans go 16 bytes at a time where they can). */
START_TEST(test_bytes_everywhere)
{
    struct gh_http1_request req;
    char buf[256];
    for (int pos = 0; pos < 40; pos++) {
        for (int c = 0; c < 256; c++) {
            char v[41];
            memset(v, 'v', 40);
            v[40] = 0;
            v[pos] = (char)c;
            int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: %.40s\r\n\r\n", v);
            if (c == 0) n = (int)strlen("GET / HTTP/1.1\r\nHost: a\r\nX: ") + 40 + 4,
                memcpy(buf + n - 44, v, 40), memcpy(buf + n - 4, "\r\n\r\n", 4);
            bool ok = c == '\t' || (c >= 0x20 && c != 0x7f);
            if (c == '\r' || c == '\n') continue; /* other lines */
            int want = ok ? n : -400;
            ck_assert_msg(parse_req_lim(buf, (size_t)n, &lim, &req) == want, "value pos %d byte %d", pos, c);

            char t[41];
            memset(t, 'p', 40);
            t[0] = '/';
            if (pos == 0) continue;
            t[pos] = (char)c;
            n = snprintf(buf, sizeof(buf), "GET %.40s HTTP/1.1\r\nHost: a\r\n\r\n", t);
            if (c == 0) continue; /* covered by test_nul */
            ok = c > 0x20 && c < 0x7f && c != '#';
            want = ok ? n : -400;
            if (c == '\n') continue; /* a different head shape */
            ck_assert_msg(parse_req_lim(buf, (size_t)n, &lim, &req) == want, "target pos %d byte %d", pos, c);
        }
    }
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Limits                                                                  */

START_TEST(test_limits)
{
    struct gh_http1_request req;
    struct gh_http1_limits l = { .max_header_size = 200, .max_uri_size = 20, .max_headers = 3 };
    char buf[1024];

    /* exactly max_headers is fine, one more is 431 */
    const char *in = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    ck_assert_int_eq(parse_req_lim(in, strlen(in), &l, &req), (int)strlen(in));
    in = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    ck_assert_int_eq(parse_req_lim(in, strlen(in), &l, &req), -431);

    /* target of exactly max_uri_size is fine, one more is 414 */
    in = "GET /2345678901234567890 HTTP/1.1\r\nHost: a\r\n\r\n";
    ck_assert_int_eq(parse_req_lim(in, strlen(in), &l, &req), (int)strlen(in));
    in = "GET /23456789012345678901 HTTP/1.1\r\nHost: a\r\n\r\n";
    ck_assert_int_eq(parse_req_lim(in, strlen(in), &l, &req), -414);
    /* ... also before the head is complete */
    in = "GET /23456789012345678901";
    ck_assert_int_eq(parse_req_lim(in, strlen(in), &l, &req), -414);
    in = "GET /2345678901234567890";
    ck_assert_int_eq(parse_req_lim(in, strlen(in), &l, &req), GH_AGAIN);
    in = "GET /23456789012345678901 HTTP/1.1\r\n";
    ck_assert_int_eq(parse_req_lim(in, strlen(in), &l, &req), -414);

    /* head of exactly max_header_size is fine, one more byte is 431 */
    int pad = 200 - (int)strlen("GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n");
    int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: %0*d\r\n\r\n", pad, 0);
    ck_assert_int_eq(n, 200);
    ck_assert_int_eq(parse_req_lim(buf, (size_t)n, &l, &req), 200);
    n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: %0*d\r\n\r\n", pad + 1, 0);
    ck_assert_int_eq(parse_req_lim(buf, (size_t)n, &l, &req), -431);
    /* ... and before the end of the head is seen */
    ck_assert_int_eq(parse_req_lim(buf, 199, &l, &req), GH_AGAIN);
    ck_assert_int_eq(parse_req_lim(buf, 200, &l, &req), -431);
    /* leading empty lines count */
    memset(buf, '\n', 300);
    ck_assert_int_eq(parse_req_lim(buf, 199, &l, &req), GH_AGAIN);
    ck_assert_int_eq(parse_req_lim(buf, 200, &l, &req), -431);
    /* a long method without a space is not a 414 but a 431 in the end */
    memset(buf, 'A', 300);
    ck_assert_int_eq(parse_req_lim(buf, 100, &l, &req), GH_AGAIN);
    ck_assert_int_eq(parse_req_lim(buf, 300, &l, &req), -431);

    /* a huge max_uri_size does not overflow */
    struct gh_http1_limits big = { .max_header_size = 50, .max_uri_size = SIZE_MAX, .max_headers = 3 };
    memset(buf, 'a', 300);
    memcpy(buf, "GET /", 5);
    ck_assert_int_eq(parse_req_lim(buf, 300, &big, &req), -431);
}
END_TEST

/* 414 vs 431: whichever limit the bytes pass first, however they are split */
START_TEST(test_limits_order)
{
    struct gh_http1_limits l = { .max_header_size = 40, .max_uri_size = 30, .max_headers = 3 };
    char buf[200];
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "GET /", 5); /* target starts at 4: 414 at byte 35, 431 at byte 40 */
    struct gh_http1_request req;
    for (size_t n = 1; n < sizeof(buf); n++) {
        int want = n >= 35 ? -414 : GH_AGAIN;
        ck_assert_int_eq(parse_req_lim(buf, n, &l, &req), want);
    }
    memcpy(buf, "GETXXXXXXXXXXXXX /", 18); /* target at 18: 414 would be at 49, 431 first */
    for (size_t n = 1; n < sizeof(buf); n++) {
        int want = n >= 40 ? -431 : GH_AGAIN;
        ck_assert_int_eq(parse_req_lim(buf, n, &l, &req), want);
    }
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Incremental arrival                                                     */

static const char *incr_inputs[] = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "\r\n\r\nPOST /x?y HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n"
    "Connection: close\r\n\r\nabc",
    "GET / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n0\n\n",
    "GET http://h/p HTTP/1.1\r\nHost: a\r\nX: \xff\xfe\r\nY:\r\n\r\n",
    /* errors must come out the same too */
    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
    "GET / HTTP/1.1\r\n\r\r\n\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
};

static bool req_same(const struct gh_http1_request *a, const struct gh_http1_request *b)
{
    if (a->nheaders != b->nheaders) return false;
    for (size_t i = 0; i < a->nheaders; i++)
        if (!gh_str_eq(a->headers[i].name, b->headers[i].name) ||
            !gh_str_eq(a->headers[i].value, b->headers[i].value))
            return false;
    return gh_str_eq(a->method, b->method) && gh_str_eq(a->target, b->target) &&
           gh_str_eq(a->path, b->path) && gh_str_eq(a->query, b->query) &&
           gh_str_eq(a->authority, b->authority) && gh_str_eq(a->host, b->host) &&
           a->method_id == b->method_id && a->version_minor == b->version_minor &&
           a->framing.content_length == b->framing.content_length &&
           a->framing.chunked == b->framing.chunked && a->head_len == b->head_len &&
           a->framing.conn_close == b->framing.conn_close;
}

START_TEST(test_incremental)
{
    const char *in = incr_inputs[_i];
    size_t n = strlen(in);
    struct gh_http_header h1[16], h2[16];
    struct gh_http1_request whole = { .headers = h1 }, part = { .headers = h2 };
    struct gh_http1_parser p;

    gh_http1_parser_reset(&p);
    int want = gh_http1_parse_request(&p, in, n, &lim, &whole);
    ck_assert_int_ne(want, GH_AGAIN);

    /* byte by byte */
    gh_http1_parser_reset(&p);
    int got = GH_AGAIN;
    size_t k;
    for (k = 1; k <= n && got == GH_AGAIN; k++) got = gh_http1_parse_request(&p, in, k, &lim, &part);
    ck_assert_int_eq(got, want);
    if (want > 0) {
        ck_assert_uint_eq(k - 1, (size_t)want); /* complete exactly at its last byte */
        ck_assert(req_same(&whole, &part));
    }

    /* every split in two */
    for (size_t s = 0; s <= n; s++) {
        gh_http1_parser_reset(&p);
        got = gh_http1_parse_request(&p, in, s, &lim, &part);
        if (got == GH_AGAIN) got = gh_http1_parse_request(&p, in, n, &lim, &part);
        ck_assert_int_eq(got, want);
        if (want > 0) ck_assert(req_same(&whole, &part));
    }
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Responses                                                               */

struct resp_case {
    const char *name;
    const char *in;
    int want;
    int status;
    int64_t cl;
    bool chunked, has_te;
};

static const struct resp_case resp_cases[] = {
    { "200 CL", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", OK, 200, 5, false, false },
    { "empty reason", "HTTP/1.1 204 \r\n\r\n", OK, 204, -1, false, false },
    { "no reason no SP", "HTTP/1.1 304\r\n\r\n", OK, 304, -1, false, false },
    { "obs-text reason", "HTTP/1.1 200 \xc3\xa9 t\tb\r\n\r\n", OK, 200, -1, false, false },
    { "1.0", "HTTP/1.0 200 OK\n\n", OK, 200, -1, false, false },
    { "100", "HTTP/1.1 100 Continue\r\n\r\n", OK, 100, -1, false, false },
    { "599", "HTTP/1.1 599 x\r\n\r\n", OK, 599, -1, false, false },
    { "chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", OK, 200, -1, true, true },
    { "gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", OK, 200, -1, true, true },
    { "TE gzip close-delimited", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", OK, 200, -1, false, true },
    { "CL list", "HTTP/1.1 200 OK\r\nContent-Length: 7 , 7\r\n\r\n", OK, 200, 7, false, false },
    { "CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", -502, 0, 0, false, false },
    { "CL bad", "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", -502, 0, 0, false, false },
    { "CL differing", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", -502, 0, 0, false, false },
    { "chunked, gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", -502, 0, 0, false, false },
    { "chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", -502, 0, 0, false, false },
    { "TE on 1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", -502, 0, 0, false, false },
    { "099", "HTTP/1.1 099 x\r\n\r\n", -502, 0, 0, false, false },
    { "600", "HTTP/1.1 600 x\r\n\r\n", -502, 0, 0, false, false },
    { "2 digits", "HTTP/1.1 20 x\r\n\r\n", -502, 0, 0, false, false },
    { "4 digits", "HTTP/1.1 2000 x\r\n\r\n", -502, 0, 0, false, false },
    { "HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", -502, 0, 0, false, false },
    { "lowercase", "http/1.1 200 OK\r\n\r\n", -502, 0, 0, false, false },
    { "double space", "HTTP/1.1  200 OK\r\n\r\n", -502, 0, 0, false, false },
    { "obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", -502, 0, 0, false, false },
    { "space before colon", "HTTP/1.1 200 OK\r\nX : a\r\n\r\n", -502, 0, 0, false, false },
    { "bare CR", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", -502, 0, 0, false, false },
    { "CTL in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", -502, 0, 0, false, false },
    { "garbage", "FOO\r\n\r\n", -502, 0, 0, false, false },
    { "incomplete", "HTTP/1.1 200 OK\r\n", GH_AGAIN, 0, 0, false, false },
};

START_TEST(test_response_table)
{
    const struct resp_case *c = &resp_cases[_i];
    struct gh_http1_response resp;
    int want = c->want == OK ? (int)strlen(c->in) : c->want;
    int got = parse_resp(c->in, &resp);
    ck_assert_msg(got == want, "%s: got %d want %d", c->name, got, want);
    if (want > 0) {
        ck_assert_int_eq(resp.status, c->status);
        ck_assert_int_eq(resp.framing.content_length, c->cl);
        ck_assert_int_eq(resp.framing.chunked, c->chunked);
        ck_assert_int_eq(resp.framing.has_te, c->has_te);
        ck_assert_uint_eq(resp.head_len, (size_t)want);
    }
}
END_TEST

START_TEST(test_response_misc)
{
    struct gh_http1_response resp;
    const char *in = "HTTP/1.1 404 Not Found\r\nServer: x\r\nConnection: close\r\n\r\nbody";
    ck_assert_int_eq(parse_resp(in, &resp), (int)strlen(in) - 4);
    ck_assert(str_is(resp.reason, "Not Found"));
    ck_assert_int_eq(resp.version_minor, 1);
    ck_assert(resp.framing.conn_close);
    ck_assert_uint_eq(resp.nheaders, 2);

    /* over the limit is a 502, complete or not */
    struct gh_http1_limits l = { .max_header_size = 20, .max_uri_size = 10, .max_headers = 2 };
    struct gh_http1_parser p;
    gh_http1_parser_reset(&p);
    resp.headers = hdrs;
    ck_assert_int_eq(gh_http1_parse_response(&p, in, 19, &l, &resp), GH_AGAIN);
    ck_assert_int_eq(gh_http1_parse_response(&p, in, 20, &l, &resp), -502);
    in = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    l.max_header_size = 100;
    gh_http1_parser_reset(&p);
    ck_assert_int_eq(gh_http1_parse_response(&p, in, strlen(in), &l, &resp), -502);

    /* byte by byte */
    in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n";
    gh_http1_parser_reset(&p);
    int got = GH_AGAIN;
    size_t k;
    for (k = 1; k <= strlen(in) && got == GH_AGAIN; k++)
        got = gh_http1_parse_response(&p, in, k, &lim, &resp);
    ck_assert_int_eq(got, (int)strlen(in));
    ck_assert(resp.framing.chunked);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Chunked decoder                                                         */

struct chunk_case {
    const char *name;
    const char *in;
    const char *data; /* NULL: error */
    size_t consumed;  /* 0: all of in */
};

static const struct chunk_case chunk_cases[] = {
    { "simple", "5\r\nhello\r\n0\r\n\r\n", "hello", 0 },
    { "two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 0 },
    { "empty body", "0\r\n\r\n", "", 0 },
    { "bare LF", "5\nhello\n0\n\n", "hello", 0 },
    { "hex", "a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij", 0 },
    { "leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello", 0 },
    { "ext", "5;a=b;c\r\nhello\r\n0;last\r\n\r\n", "hello", 0 },
    { "ext quoted", "3;n=\"a\\\"b; c\"\r\nabc\r\n0\r\n\r\n", "abc", 0 },
    { "ext BWS", "3 ;n = v ; m\t=\t\"x\"\r\nabc\r\n0\r\n\r\n", "abc", 0 },
    { "trailers", "3\r\nabc\r\n0\r\nX-T: v\r\nY: \r\n\r\n", "abc", 0 },
    { "trailers LF", "3\nabc\n0\nX-T: v\n\n", "abc", 0 },
    { "next message", "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "abc", 13 },
    { "CRLF in data", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", 0 },
    /* errors */
    { "empty size", "\r\nhello\r\n", NULL, 0 },
    { "non-hex", "g\r\n", NULL, 0 },
    { "0x prefix", "0x5\r\nhello\r\n", NULL, 0 },
    { "minus", "-5\r\n", NULL, 0 },
    { "plus", "+5\r\n", NULL, 0 },
    { "leading space", " 5\r\nhello\r\n", NULL, 0 },
    { "trailing space", "5 \r\nhello\r\n", NULL, 0 },
    { "trailing tab", "5\t\r\nhello\r\n", NULL, 0 },
    { "17 digits", "00000000000000005\r\nhello\r\n", NULL, 0 },
    { "over 2^62", "4000000000000001\r\n", NULL, 0 },
    { "2^64", "10000000000000000\r\n", NULL, 0 },
    { "ffff", "ffffffffffffffff\r\n", NULL, 0 },
    { "data too long", "5\r\nhelloX\r\n0\r\n\r\n", NULL, 0 },
    { "data CR only", "5\r\nhello\r0\r\n\r\n", NULL, 0 },
    { "data no CRLF", "5\r\nhello0\r\n\r\n", NULL, 0 },
    { "size bare CR", "5\rhello\r\n", NULL, 0 },
    { "ext empty name", "5;\r\nhello\r\n", NULL, 0 },
    { "ext empty value", "5;a=\r\nhello\r\n", NULL, 0 },
    { "ext space in name", "5;a b\r\nhello\r\n", NULL, 0 },
    { "ext trailing space", "5;a \r\nhello\r\n", NULL, 0 },
    { "ext unterminated", "5;a=\"x\r\nhello\r\n", NULL, 0 },
    { "ext CTL", "5;a=\x01\r\nhello\r\n", NULL, 0 },
    { "ext NUL in quoted", "5;a=\"\0\"\r\nhello\r\n", NULL, 0 },
    { "ext after quote", "5;a=\"x\"y\r\nhello\r\n", NULL, 0 },
    { "ext junk after value", "5;a=b c\r\nhello\r\n", NULL, 0 },
    { "trailer CTL", "0\r\nA: b\x01\r\n\r\n", NULL, 0 },
    { "trailer obs-fold", "0\r\nA: b\r\n c\r\n\r\n", NULL, 0 },
    { "trailer no colon", "0\r\nAb\r\n\r\n", NULL, 0 },
    { "trailer space before colon", "0\r\nA : b\r\n\r\n", NULL, 0 },
    { "trailer bare CR", "0\r\nA: b\rc\r\n\r\n", NULL, 0 },
    { "final bare CR", "0\r\n\rX", NULL, 0 },
    { "last chunk CR CR", "0\r\n\r\r", NULL, 0 },
};

/* Decode in pieces of at most `step` bytes starting a new piece at `split`;
 * returns false on error. Accumulates the decoded data in out. */
static bool decode_split(const char *in, size_t n, size_t split, size_t step, char *out,
                         size_t *outlen, size_t *consumed, bool *done)
{
    struct gh_chunked_decoder d;
    char buf[512];
    size_t pos = 0, held = 0;
    gh_chunked_reset(&d);
    *outlen = 0;
    *consumed = 0;
    /* feed: the unconsumed tail of each piece is kept and grown */
    while (!d.done && pos < n) {
        size_t add = step;
        if (pos < split && pos + add > split) add = split - pos;
        if (pos + add > n) add = n - pos;
        memcpy(buf + held, in + pos, add);
        pos += add;
        held += add;
        size_t len = held;
        ssize_t c = gh_chunked_decode(&d, buf, &len);
        if (c < 0) return false;
        memcpy(out + *outlen, buf, len);
        *outlen += len;
        *consumed += (size_t)c;
        memmove(buf, buf + c, held - (size_t)c);
        held -= (size_t)c;
    }
    *done = d.done;
    return true;
}

START_TEST(test_chunked_table)
{
    const struct chunk_case *c = &chunk_cases[_i];
    size_t n = strlen(c->in);
    if (strcmp(c->name, "ext NUL in quoted") == 0) n = 16;
    size_t want_consumed = c->consumed ? c->consumed : n;
    char out[512];
    size_t outlen, consumed;
    bool done;

    /* whole, every split in two, and byte by byte */
    for (size_t split = 0; split <= n; split++) {
        for (size_t step = 1; step <= 512; step *= 512) {
            bool ok = decode_split(c->in, n, split, step, out, &outlen, &consumed, &done);
            if (c->data == NULL) {
                ck_assert_msg(!ok, "%s: decoded (split %zu step %zu)", c->name, split, step);
                continue;
            }
            ck_assert_msg(ok, "%s: error (split %zu step %zu)", c->name, split, step);
            ck_assert_msg(done, "%s: not done", c->name);
            ck_assert_uint_eq(outlen, strlen(c->data));
            ck_assert(memcmp(out, c->data, outlen) == 0);
            ck_assert_uint_eq(consumed, want_consumed);
        }
    }
}
END_TEST

START_TEST(test_chunked_misc)
{
    struct gh_chunked_decoder d;
    char buf[16384];
    size_t len;

    /* 2^62 is the largest size */
    strcpy(buf, "4000000000000000\r\nab");
    gh_chunked_reset(&d);
    len = strlen(buf);
    ck_assert_int_eq(gh_chunked_decode(&d, buf, &len), 20);
    ck_assert_uint_eq(len, 2);
    ck_assert_uint_eq(d.remaining, (UINT64_C(1) << 62) - 2);
    ck_assert(!d.done);

    /* extension bound */
    gh_chunked_reset(&d);
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "1;", 2);
    len = GH_CHUNK_LINE_MAX + 10;
    ck_assert_int_eq(gh_chunked_decode(&d, buf, &len), GH_ERROR);
    /* ... byte by byte too, and the error sticks */
    gh_chunked_reset(&d);
    ssize_t r = 0;
    size_t i;
    for (i = 0; i < GH_CHUNK_LINE_MAX + 10 && r >= 0; i++) {
        len = 1;
        r = gh_chunked_decode(&d, buf + i, &len);
    }
    ck_assert_int_eq(r, GH_ERROR);
    ck_assert_uint_eq(i, GH_CHUNK_LINE_MAX + 1);
    len = 1;
    ck_assert_int_eq(gh_chunked_decode(&d, (char[]){ '\n' }, &len), GH_ERROR);

    /* a long but bounded line is fine */
    gh_chunked_reset(&d);
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "1;", 2);
    memcpy(buf + 4000, "\r\nX\r\n", 5);
    len = 4005;
    ck_assert_int_eq(gh_chunked_decode(&d, buf, &len), 4005);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(buf[0], 'X');

    /* trailer bound */
    gh_chunked_reset(&d);
    size_t n = 0;
    n += (size_t)sprintf(buf, "0\r\n");
    while (n < 9000) n += (size_t)sprintf(buf + n, "X-Trailer: 0123456789\r\n");
    n += (size_t)sprintf(buf + n, "\r\n");
    len = n;
    ck_assert_int_eq(gh_chunked_decode(&d, buf, &len), GH_ERROR);

    /* after done nothing more is consumed */
    gh_chunked_reset(&d);
    strcpy(buf, "0\r\n\r\n");
    len = 5;
    ck_assert_int_eq(gh_chunked_decode(&d, buf, &len), 5);
    ck_assert(d.done);
    strcpy(buf, "more");
    len = 4;
    ck_assert_int_eq(gh_chunked_decode(&d, buf, &len), 0);
    ck_assert_uint_eq(len, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http1_parse");
    TCase *tc = tcase_create("request");
    tcase_add_loop_test(tc, test_request_table, 0, (int)GH_ARRAY_LEN(req_cases));
    tcase_add_test(tc, test_nul);
    tcase_add_test(tc, test_bytes_everywhere);
    tcase_add_test(tc, test_request_fields);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_limits_order);
    tcase_add_loop_test(tc, test_incremental, 0, (int)GH_ARRAY_LEN(incr_inputs));
    suite_add_tcase(s, tc);
    tc = tcase_create("response");
    tcase_add_loop_test(tc, test_response_table, 0, (int)GH_ARRAY_LEN(resp_cases));
    tcase_add_test(tc, test_response_misc);
    suite_add_tcase(s, tc);
    tc = tcase_create("chunked");
    tcase_add_loop_test(tc, test_chunked_table, 0, (int)GH_ARRAY_LEN(chunk_cases));
    tcase_add_test(tc, test_chunked_misc);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
