/*
 * fuzz_chunked.c - libFuzzer harness for gh_chunked_decode.
 *
 * Decodes the input whole, then again split at a position derived from
 * the data (the first two bytes), then (for short inputs) byte by byte;
 * the verdict, the decoded bytes, the bytes consumed and done must agree.
 * gh_chunked_scan over the same pieces must give the same verdict, bytes
 * consumed and data counts, and leave the input untouched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http1_parse.h"
#include "fuzz.h"

struct result {
    bool error, done;
    size_t consumed, outlen;
    char *out;
};

/* Feed data[0..size) in pieces: the first ends at split, then pieces of
 * step bytes. Each piece goes into an exact-size heap copy. */
static void decode(const uint8_t *data, size_t size, size_t split, size_t step,
                   struct result *r)
{
    struct gh_chunked_decoder d;
    gh_chunked_reset(&d);
    memset(r, 0, sizeof(*r));
    r->out = malloc(size ? size : 1);
    size_t pos = 0;
    while (pos < size && !d.done) {
        size_t n = pos < split ? split - pos : step;
        if (n > size - pos) n = size - pos;
        char *piece = malloc(n ? n : 1);
        memcpy(piece, data + pos, n);
        size_t len = n, slen = n;
        struct gh_chunked_decoder sd = d;
        ssize_t sc = gh_chunked_scan(&sd, piece, &slen);
        CHECK(memcmp(piece, data + pos, n) == 0);
        ssize_t c = gh_chunked_decode(&d, piece, &len);
        CHECK(sc == c && sd.state == d.state && sd.done == d.done);
        CHECK(c < 0 || slen == len);
        if (c < 0) {
            free(piece);
            r->error = true;
            return;
        }
        CHECK((size_t)c <= n && len <= (size_t)c);
        CHECK(d.done || (size_t)c == n); /* all is consumed until the end */
        memcpy(r->out + r->outlen, piece, len);
        r->outlen += len;
        r->consumed += (size_t)c;
        pos += n;
        free(piece);
    }
    r->done = d.done;
}

static void compare(const struct result *a, const struct result *b)
{
    CHECK(a->error == b->error);
    if (a->error) return;
    CHECK(a->done == b->done && a->consumed == b->consumed && a->outlen == b->outlen);
    CHECK(memcmp(a->out, b->out, a->outlen) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t split = (size_t)(data[0] | data[1] << 8);
    data += 2;
    size -= 2;
    split = size ? split % (size + 1) : 0;

    struct result whole, two, bytes;
    decode(data, size, 0, size ? size : 1, &whole);
    decode(data, size, split, size ? size : 1, &two);
    compare(&whole, &two);
    if (size <= 1024) {
        decode(data, size, 0, 1, &bytes);
        compare(&whole, &bytes);
        free(bytes.out);
    }
    free(whole.out);
    free(two.out);
    return 0;
}
