/*
 * fuzz_response.c - libFuzzer harness for gh_http1_parse_response.
 * The first two bytes choose a split point; the verdict and fields must
 * not depend on it, and every gh_str must lie inside the input.
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

static void check_resp(const struct gh_http1_response *r, const char *buf, size_t len, int rc)
{
    CHECK((size_t)rc == r->head_len && r->head_len <= len && r->head_len <= lim.max_header_size);
    CHECK(r->status >= 100 && r->status <= 599);
    CHECK(r->nheaders <= MAX_HEADERS);
    CHECK(inside(r->reason, buf, len) && inside(r->framing.upgrade, buf, len));
    CHECK(!memchr(r->reason.p ? r->reason.p : "", '\r', r->reason.len));
    for (size_t i = 0; i < r->nheaders; i++) {
        struct gh_str n = r->headers[i].name, v = r->headers[i].value;
        CHECK(inside(n, buf, len) && n.len > 0 && inside(v, buf, len));
        CHECK(!memchr(v.p ? v.p : "", '\n', v.len) && !memchr(v.p ? v.p : "", '\r', v.len));
    }
    CHECK(!(r->framing.chunked && r->framing.content_length >= 0));
    CHECK(!(r->framing.has_te && r->framing.content_length >= 0));
    CHECK(!r->framing.chunked || r->framing.has_te);
}

static bool resp_eq(const struct gh_http1_response *a, const struct gh_http1_response *b)
{
    if (a->nheaders != b->nheaders) return false;
    for (size_t i = 0; i < a->nheaders; i++)
        if (!same(a->headers[i].name, b->headers[i].name) ||
            !same(a->headers[i].value, b->headers[i].value))
            return false;
    return a->status == b->status && same(a->reason, b->reason) &&
           a->version_minor == b->version_minor && a->head_len == b->head_len &&
           framing_eq(&a->framing, &b->framing) &&
           same(a->framing.upgrade, b->framing.upgrade);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t split = (size_t)(data[0] | data[1] << 8);
    data += 2;
    size -= 2;
    split = size ? split % (size + 1) : 0;

    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);

    struct gh_http_header h1[MAX_HEADERS], h2[MAX_HEADERS];
    struct gh_http1_response whole, part;
    struct gh_http1_parser p;
    memset(&whole, 0, sizeof(whole));
    memset(&part, 0, sizeof(part));
    whole.headers = h1;
    part.headers = h2;

    gh_http1_parser_reset(&p);
    int want = gh_http1_parse_response(&p, buf, size, &lim, &whole);
    CHECK(want > 0 || want == GH_AGAIN || want == -502);
    if (want > 0) check_resp(&whole, buf, size, want);

    gh_http1_parser_reset(&p);
    int got = gh_http1_parse_response(&p, buf, split, &lim, &part);
    if (got == GH_AGAIN) got = gh_http1_parse_response(&p, buf, size, &lim, &part);
    CHECK(got == want);
    if (want > 0) CHECK(resp_eq(&whole, &part));

    if (size <= 512) {
        gh_http1_parser_reset(&p);
        got = GH_AGAIN;
        for (size_t k = 0; k <= size && got == GH_AGAIN; k++)
            got = gh_http1_parse_response(&p, buf, k, &lim, &part);
        CHECK(got == want);
    }

    free(buf);
    return 0;
}
