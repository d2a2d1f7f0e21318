/*
 * fuzz_path.c - libFuzzer harness for gh_path_normalize
 * (modules/route_path.c). The input is the path. Invariants:
 *  - a normalized path starts with '/', is no longer than the input, holds
 *    no NUL, no "." or ".." segment and no escape of an unreserved byte,
 *    and every escape left has upper-case hex;
 *  - normalizing it again gives it back (idempotent);
 *  - in place and into another buffer give the same verdict and bytes, and
 *    so does a second call (the 400 is stable);
 *  - a reference model (decode each segment, then a stack of segments per
 *    RFC 3986 5.2.4, ".." on an empty stack being a 400) agrees.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "modules/route.h"
#include "fuzz.h"

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* The model: -1, or the normalized length in out (at least len + 1 bytes). */
static long model(const char *p, size_t len, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    if (len == 0 || p[0] != '/')
        return -1;
    /* segments as (start, length) in seg[], decoded into dec[] */
    char *dec = malloc(len + 1);
    size_t (*seg)[2] = malloc(sizeof(*seg) * (len + 1));
    CHECK(dec != NULL && seg != NULL);
    size_t nseg = 0, d = 0;
    bool last_dot = false;
    long rc = -1;
    for (size_t i = 1;;) {
        size_t start = d;
        while (i < len && p[i] != '/') {
            unsigned char c = (unsigned char)p[i];
            if (c == 0)
                goto out;
            if (c != '%') {
                dec[d++] = (char)c;
                i++;
                continue;
            }
            if (len - i < 3 || hexval((unsigned char)p[i + 1]) < 0 ||
                hexval((unsigned char)p[i + 2]) < 0)
                goto out;
            int hi = hexval((unsigned char)p[i + 1]), lo = hexval((unsigned char)p[i + 2]);
            unsigned char v = (unsigned char)(hi << 4 | lo);
            if (v == 0)
                goto out;
            if (unreserved(v)) {
                dec[d++] = (char)v;
            } else {
                dec[d++] = '%';
                dec[d++] = hex[hi];
                dec[d++] = hex[lo];
            }
            i += 3;
        }
        size_t n = d - start;
        bool dot = n == 1 && dec[start] == '.';
        bool dotdot = n == 2 && dec[start] == '.' && dec[start + 1] == '.';
        last_dot = dot || dotdot;
        if (dotdot) {
            if (nseg == 0)
                goto out;
            nseg--;
        } else if (!dot) {
            seg[nseg][0] = start;
            seg[nseg][1] = n;
            nseg++;
        }
        if (i == len)
            break;
        i++;
    }
    size_t o = 0;
    out[o++] = '/';
    for (size_t k = 0; k < nseg; k++) {
        if (k > 0)
            out[o++] = '/';
        memcpy(out + o, dec + seg[k][0], seg[k][1]);
        o += seg[k][1];
    }
    if (last_dot && nseg > 0)
        out[o++] = '/';
    rc = (long)o;
out:
    free(dec);
    free(seg);
    return rc;
}

static void check_normal(const char *s, size_t n, size_t inlen)
{
    CHECK(n >= 1 && n <= inlen && s[0] == '/' && s[n] == '\0');
    CHECK(memchr(s, '\0', n) == NULL);
    size_t start = 1;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && s[i] != '/')
            continue;
        size_t len = i - start;
        CHECK(!(len == 1 && s[start] == '.'));
        CHECK(!(len == 2 && s[start] == '.' && s[start + 1] == '.'));
        start = i + 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%')
            continue;
        CHECK(i + 2 < n);
        int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
        CHECK(hi >= 0 && lo >= 0);
        CHECK(!((s[i + 1] >= 'a' && s[i + 1] <= 'f') || (s[i + 2] >= 'a' && s[i + 2] <= 'f')));
        unsigned char v = (unsigned char)(hi << 4 | lo);
        CHECK(v != 0 && !unreserved(v));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exact-size copies, so that an overread or overwrite is caught */
    char *in = malloc(size ? size : 1);
    char *out = malloc(size + 1);
    char *place = malloc(size + 1);
    char *ref = malloc(size + 1);
    CHECK(in != NULL && out != NULL && place != NULL && ref != NULL);
    memcpy(in, data, size);
    memcpy(place, data, size);

    ssize_t n = gh_path_normalize(gh_str_make(in, size), out);
    CHECK(n == -1 || n >= 1);
    CHECK(memcmp(in, data, size) == 0);     /* the input is left alone */

    ssize_t again = gh_path_normalize(gh_str_make(in, size), ref);
    CHECK(again == n && (n < 0 || memcmp(ref, out, (size_t)n) == 0));
    ssize_t inplace = gh_path_normalize(gh_str_make(place, size), place);
    CHECK(inplace == n && (n < 0 || memcmp(place, out, (size_t)n + 1) == 0));

    long m = model((const char *)data, size, ref);
    if (m != n) {
        fprintf(stderr, "normalize %zd, model %ld\n", n, m);
        abort();
    }
    if (n >= 0) {
        CHECK(memcmp(ref, out, (size_t)n) == 0);
        check_normal(out, (size_t)n, size);
        /* idempotent: the normalized path is its own normal form */
        char *twice = malloc((size_t)n + 1);
        CHECK(twice != NULL);
        ssize_t n2 = gh_path_normalize(gh_str_make(out, (size_t)n), twice);
        CHECK(n2 == n && memcmp(twice, out, (size_t)n) == 0);
        free(twice);
    } else if (size > 0 && data[0] == '/' && !memchr(data, '%', size) && !memchr(data, 0, size)) {
        /* without escapes or NUL, only ".." above the root is a 400 */
        CHECK(memmem(data, size, "..", 2) != NULL);
    }
    free(in);
    free(out);
    free(place);
    free(ref);
    return 0;
}
