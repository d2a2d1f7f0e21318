/*
 * fuzz_request.c - libFuzzer harness for gh_http1_parse_request.
 *
 * The first two bytes choose where the input is split in two; the rest is
 * the request. Invariants checked:
 *  - the verdict is the same whether the bytes arrive at once, in two
 *    pieces, or (for short inputs) one by one, and so are the fields;
 *  - every gh_str lies inside the input (the synthesized "/" path aside);
 *  - a complete head respects the limits and its framing is coherent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http1_parse.h"
#include "fuzz.h"

#define MAX_HEADERS 16

static const struct gh_http1_limits lim = {
    .max_header_size = 2048, .max_uri_size = 256, .max_headers = MAX_HEADERS,
};

static bool inside(struct gh_str s, const char *buf, size_t len)
{
    if (s.len == 0) return true;
    return s.p >= buf && s.p + s.len <= buf + len;
}

static bool same(struct gh_str a, struct gh_str b) { return a.p == b.p && a.len == b.len; }

static bool framing_eq(const struct gh_http1_framing *a, const struct gh_http1_framing *b)
{
    return a->content_length == b->content_length && a->chunked == b->chunked &&
           a->has_te == b->has_te && a->conn_close == b->conn_close &&
           a->conn_keep_alive == b->conn_keep_alive && a->conn_upgrade == b->conn_upgrade;
}

static void check_req(const struct gh_http1_request *r, const char *buf, size_t len, int rc)
{
    CHECK((size_t)rc == r->head_len && r->head_len <= len && r->head_len <= lim.max_header_size);
    CHECK(buf[r->head_len - 1] == '\n');
    CHECK(r->nheaders <= MAX_HEADERS);
    CHECK(inside(r->method, buf, len) && r->method.len > 0);
    CHECK(inside(r->target, buf, len) && r->target.len > 0 && r->target.len <= lim.max_uri_size);
    CHECK(inside(r->path, buf, len) || (r->path.len == 1 && r->path.p[0] == '/'));
    CHECK(inside(r->query, buf, len) && inside(r->authority, buf, len));
    CHECK(inside(r->host, buf, len) && inside(r->framing.upgrade, buf, len));
    for (size_t i = 0; i < r->nheaders; i++) {
        struct gh_str n = r->headers[i].name, v = r->headers[i].value;
        CHECK(inside(n, buf, len) && n.len > 0 && inside(v, buf, len));
        CHECK(n.p + n.len <= buf + r->head_len && v.p + v.len <= buf + r->head_len);
        CHECK(!memchr(v.p ? v.p : "", '\r', v.len) && !memchr(v.p ? v.p : "", '\n', v.len));
        CHECK(!memchr(v.p ? v.p : "", '\0', v.len));
        if (v.len) CHECK(v.p[0] != ' ' && v.p[0] != '\t' && v.p[v.len - 1] != ' ');
    }
    CHECK(!(r->framing.chunked && r->framing.content_length >= 0));
    CHECK(r->framing.chunked == r->framing.has_te);
    CHECK(r->version_minor >= 0 && r->version_minor <= 9);
    if (r->version_minor >= 1) CHECK(r->host.len > 0);
    CHECK(!memchr(r->target.p, ' ', r->target.len));
}

static bool req_eq(const struct gh_http1_request *a, const struct gh_http1_request *b)
{
    if (a->nheaders != b->nheaders) return false;
    for (size_t i = 0; i < a->nheaders; i++)
        if (!same(a->headers[i].name, b->headers[i].name) ||
            !same(a->headers[i].value, b->headers[i].value))
            return false;
    return same(a->method, b->method) && same(a->target, b->target) &&
           same(a->path, b->path) && same(a->query, b->query) &&
           same(a->authority, b->authority) && same(a->host, b->host) &&
           a->method_id == b->method_id && a->version_minor == b->version_minor &&
           a->expect_continue == b->expect_continue && a->expect_other == b->expect_other &&
           framing_eq(&a->framing, &b->framing) &&
           same(a->framing.upgrade, b->framing.upgrade) && a->head_len == b->head_len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t split = (size_t)(data[0] | data[1] << 8);
    data += 2;
    size -= 2;
    split = size ? split % (size + 1) : 0;

    /* an exact-size copy, so that any overread is caught */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);

    struct gh_http_header h1[MAX_HEADERS], h2[MAX_HEADERS];
    struct gh_http1_request whole, part;
    struct gh_http1_parser p;
    memset(&whole, 0, sizeof(whole));
    memset(&part, 0, sizeof(part));
    whole.headers = h1;
    part.headers = h2;

    gh_http1_parser_reset(&p);
    int want = gh_http1_parse_request(&p, buf, size, &lim, &whole);
    CHECK(want > 0 || want == GH_AGAIN || want == -400 || want == -414 || want == -431 ||
          want == -501 || want == -505);
    if (want > 0) check_req(&whole, buf, size, want);

    /* two pieces: the verdict is the first non-AGAIN answer */
    gh_http1_parser_reset(&p);
    int got = gh_http1_parse_request(&p, buf, split, &lim, &part);
    if (got == GH_AGAIN) got = gh_http1_parse_request(&p, buf, size, &lim, &part);
    if (got != want) {
        fprintf(stderr, "split %zu: %d, whole: %d\n", split, got, want);
        abort();
    }
    if (want > 0) CHECK(req_eq(&whole, &part));

    /* one byte at a time */
    if (size <= 512) {
        gh_http1_parser_reset(&p);
        got = GH_AGAIN;
        for (size_t k = 0; k <= size && got == GH_AGAIN; k++)
            got = gh_http1_parse_request(&p, buf, k, &lim, &part);
        CHECK(got == want);
        if (want > 0) CHECK(req_eq(&whole, &part));
    }

    free(buf);
    return 0;
}
