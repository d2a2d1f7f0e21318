/*
 * balance_key.c - keys read from a request for hashing and splitting:
 * cookies, headers, the client address, key templates, and the 64-bit hash
 * every worker computes alike (see balance_key.h).
 */
#include <string.h>

#include "modules/balance_key.h"

uint64_t gh_balance_hash64(const void *p, size_t len)
{
    const unsigned char *b = p;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001b3);
    }
    /* murmur3 finalizer: FNV alone clusters similar keys on a ring. */
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

struct gh_str gh_balance_cookie(const struct gh_req *r, const char *name, size_t name_len)
{
    const struct gh_http1_request *h = &r->head;
    for (size_t i = 0; i < h->nheaders; i++) {
        if (!gh_str_caseeq_lit(h->headers[i].name, "cookie"))
            continue;
        const char *p = h->headers[i].value.p, *end = p + h->headers[i].value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == ';'))
                p++;
            const char *pair = p;
            while (p < end && *p != ';')
                p++;
            const char *eq = memchr(pair, '=', (size_t)(p - pair));
            if (eq == NULL)
                continue;
            struct gh_str n = gh_str_trim(gh_str_make(pair, (size_t)(eq - pair)));
            if (n.len == name_len && memcmp(n.p, name, name_len) == 0) {
                struct gh_str v = gh_str_trim(gh_str_make(eq + 1, (size_t)(p - eq - 1)));
                if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"')
                    v = gh_str_make(v.p + 1, v.len - 2);
                return v;
            }
        }
    }
    return gh_str_make("", 0);
}

static bool is_var_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '_' || c == '-';
}

static struct gh_str var_value(const struct gh_req *r, const char *v, size_t n)
{
    static const char cookie[] = "cookie_", header[] = "header_";
    if (n == 11 && memcmp(v, "remote_addr", 11) == 0)
        return gh_str_make(r->client->text, strlen(r->client->text));
    if (n == 3 && memcmp(v, "uri", 3) == 0)
        return r->norm_path ? gh_str_make(r->norm_path, r->norm_len) : r->head.path;
    if (n == 4 && memcmp(v, "host", 4) == 0)
        return r->head.host;
    if (n > sizeof(cookie) - 1 && memcmp(v, cookie, sizeof(cookie) - 1) == 0)
        return gh_balance_cookie(r, v + sizeof(cookie) - 1, n - (sizeof(cookie) - 1));
    if (n > sizeof(header) - 1 && memcmp(v, header, sizeof(header) - 1) == 0) {
        struct gh_str name = gh_str_make(v + sizeof(header) - 1, n - (sizeof(header) - 1));
        for (size_t i = 0; i < r->head.nheaders; i++) {
            struct gh_str hn = r->head.headers[i].name;
            bool eq = hn.len == name.len;
            /* $header_x_user matches X-User, as nginx's $http_x_user. */
            for (size_t k = 0; eq && k < hn.len; k++) {
                char a = gh_lower(hn.p[k]), b = gh_lower(name.p[k]);
                eq = a == b || (a == '-' && b == '_');
            }
            if (eq)
                return r->head.headers[i].value;
        }
    }
    return gh_str_make("", 0);
}

size_t gh_balance_key(const struct gh_req *r, const char *tmpl, char *buf, size_t size)
{
    size_t len = 0;
    for (const char *p = tmpl; *p != '\0';) {
        struct gh_str piece;
        if (*p == '$' && is_var_char(p[1])) {
            const char *v = ++p;
            while (is_var_char(*p))
                p++;
            piece = var_value(r, v, (size_t)(p - v));
        } else {
            const char *lit = p++;
            while (*p != '\0' && *p != '$')
                p++;
            piece = gh_str_make(lit, (size_t)(p - lit));
        }
        size_t n = GH_MIN(piece.len, size - len);
        if (n > 0)
            memcpy(buf + len, piece.p, n);
        len += n;
    }
    return len;
}
