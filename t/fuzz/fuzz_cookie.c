/*
 * fuzz_cookie.c - libFuzzer harness for the cookie lookup that sticky
 * balancing, hash keys, split_by and rate-limit keys ($cookie_NAME) use
 * (gh_balance_cookie, modules/balance_util.c).
 *
 * Input: byte 0 is a mask choosing, two bits per line, the header name
 * ("Cookie", "cOOKIE", "Cookie2" or "X-Other"); byte 1 the cookie name's
 * length (1..16) and byte 2 the key buffer size; then the name, then the
 * header values split at '\n'. Names that are not HTTP tokens are skipped
 * (the configuration refuses them). Invariants:
 *  - a value found lies inside one Cookie header's value and is no longer
 *    than it;
 *  - it belongs to a pair whose name, blanks trimmed, is exactly the name
 *    (case-sensitive), at the start of the header or after a ';';
 *  - an independent model (split at ';', first '=', trim, drop one pair of
 *    quotes) finds the same bytes;
 *  - gh_balance_key with "$cookie_NAME" writes that value, cut to the
 *    buffer size.
 */
#include <stdlib.h>
#include <string.h>

#include "modules/balance.h"
#include "server/http1.h"
#include "fuzz.h"

#define MAX_LINES 8

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool var_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

static bool blank(char c) { return c == ' ' || c == '\t'; }

static bool is_cookie_name(struct gh_str n)
{
    static const char lit[] = "cookie";
    if (n.len != 6)
        return false;
    for (size_t i = 0; i < 6; i++)
        if ((n.p[i] | 0x20) != lit[i])
            return false;
    return true;
}

/* The model: the first pair named `name` in the Cookie headers, in order. */
static struct gh_str model(const struct gh_http_header *h, size_t nh, const char *name,
                           size_t nlen)
{
    for (size_t i = 0; i < nh; i++) {
        if (!is_cookie_name(h[i].name))
            continue;
        const char *v = h[i].value.p;
        size_t len = h[i].value.len, a = 0;
        while (a < len) {
            size_t b = a;
            while (b < len && v[b] != ';')
                b++;
            /* the pair is v[a..b) */
            size_t eq = a;
            while (eq < b && v[eq] != '=')
                eq++;
            if (eq < b) {
                size_t ns = a, ne = eq;
                while (ns < ne && blank(v[ns]))
                    ns++;
                while (ne > ns && blank(v[ne - 1]))
                    ne--;
                if (ne - ns == nlen && memcmp(v + ns, name, nlen) == 0) {
                    size_t vs = eq + 1, ve = b;
                    while (vs < ve && blank(v[vs]))
                        vs++;
                    while (ve > vs && blank(v[ve - 1]))
                        ve--;
                    if (ve - vs >= 2 && v[vs] == '"' && v[ve - 1] == '"') {
                        vs++;
                        ve--;
                    }
                    return gh_str_make(v + vs, ve - vs);
                }
            }
            a = b + 1;
        }
    }
    return gh_str_make("", 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned mask = data[0];
    size_t nlen = 1 + data[1] % 16, keysize = data[2];
    data += 3;
    size -= 3;
    if (size < nlen)
        return 0;
    char name[17];
    memcpy(name, data, nlen);
    name[nlen] = '\0';
    bool var_ok = true;
    for (size_t i = 0; i < nlen; i++) {
        if (!tchar((unsigned char)name[i]))
            return 0;
        var_ok = var_ok && var_char((unsigned char)name[i]);
    }
    data += nlen;
    size -= nlen;

    char *copy = malloc(size ? size : 1);
    CHECK(copy != NULL);
    memcpy(copy, data, size);
    static const char *const names[4] = { "Cookie", "cOOKIE", "Cookie2", "X-Other" };
    struct gh_http_header h[MAX_LINES];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < MAX_LINES; i++) {
        if (i == size || copy[i] == '\n') {
            const char *hn = names[(mask >> (2 * (n % 4))) & 3];
            h[n].name = gh_str_make(hn, strlen(hn));
            h[n].value = gh_str_make(copy + start, i - start);
            n++;
            start = i + 1;
        }
    }

    struct gh_req r;
    memset(&r, 0, sizeof(r));
    r.head.headers = h;
    r.head.nheaders = n;

    struct gh_str v = gh_balance_cookie(&r, name, nlen);
    struct gh_str want = model(h, n, name, nlen);
    CHECK(v.len == want.len && (v.len == 0 || v.p == want.p));
    if (v.len > 0) {
        size_t k = 0;
        while (k < n && !(is_cookie_name(h[k].name) && v.p >= h[k].value.p &&
                          v.p + v.len <= h[k].value.p + h[k].value.len))
            k++;
        CHECK(k < n);                       /* inside one Cookie header */
        CHECK(v.len <= h[k].value.len);
        /* walk back: optional quote, blanks, '=', blanks, the name, blanks,
         * then the start of the header or a ';' */
        const char *b = h[k].value.p, *q = v.p;
        if (q > b && q[-1] == '"' && v.p + v.len < b + h[k].value.len && v.p[v.len] == '"')
            q--;
        while (q > b && blank(q[-1]))
            q--;
        CHECK(q > b && q[-1] == '=');
        q--;
        while (q > b && blank(q[-1]))
            q--;
        CHECK((size_t)(q - b) >= nlen && memcmp(q - nlen, name, nlen) == 0);
        q -= nlen;
        while (q > b && blank(q[-1]))
            q--;
        CHECK(q == b || q[-1] == ';');
        CHECK(memchr(v.p, ';', v.len) == NULL);
    }

    if (var_ok) {
        char tmpl[32], *key = malloc(keysize ? keysize : 1);
        CHECK(key != NULL);
        snprintf(tmpl, sizeof(tmpl), "$cookie_%s", name);
        size_t kl = gh_balance_key(&r, tmpl, key, keysize);
        size_t expect = v.len < keysize ? v.len : keysize;
        CHECK(kl == expect && (kl == 0 || memcmp(key, v.p, kl) == 0));
        free(key);
    }
    free(copy);
    return 0;
}
