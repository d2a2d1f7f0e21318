/*
 * realip.c - see realip.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "modules/realip.h"

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* ":PORT" with 1 to 5 digits, at most 65535. */
static bool port_ok(const char *p, size_t n)
{
    if (n < 2 || n > 6 || p[0] != ':')
        return false;
    unsigned v = 0;
    for (size_t i = 1; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    return v <= 65535;
}

int gh_realip_parse(struct gh_str s, struct gh_client *out)
{
    s = gh_str_trim(s);
    const char *p = s.p;
    size_t n = s.len;
    int af;
    if (n > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (close == NULL)
            return -1;
        size_t rest = n - (size_t)(close - p) - 1;
        if (rest > 0 && !port_ok(close + 1, rest))
            return -1;
        p++;
        n = (size_t)(close - p);
        af = AF_INET6;
    } else {
        const char *colon = memchr(p, ':', n);
        af = colon == NULL ? AF_INET : AF_INET6;
        if (colon != NULL && memchr(colon + 1, ':', n - (size_t)(colon + 1 - p)) == NULL) {
            /* One colon: IPv4 with a port (IPv6 has at least two). */
            if (!port_ok(colon, n - (size_t)(colon - p)))
                return -1;
            n = (size_t)(colon - p);
            af = AF_INET;
        }
    }
    char buf[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    uint8_t key[16];
    if (af == AF_INET) {
        memcpy(key, v4mapped, 12);
        if (inet_pton(AF_INET, buf, key + 12) != 1)
            return -1;
    } else if (inet_pton(AF_INET6, buf, key) != 1) {
        return -1;
    }
    const char *t = memcmp(key, v4mapped, 12) == 0
                        ? inet_ntop(AF_INET, key + 12, out->text, sizeof(out->text))
                        : inet_ntop(AF_INET6, key, out->text, sizeof(out->text));
    if (t == NULL)
        return -1;
    memcpy(out->key, key, 16);
    out->has_key = true;
    return 0;
}

bool gh_realip_walk(const struct gh_acl *trusted, const struct gh_http_header *h, size_t n,
                    struct gh_str name, struct gh_client *out)
{
    bool found = false;
    for (size_t i = n; i-- > 0;) {
        if (!gh_str_caseeq(h[i].name, name))
            continue;
        const char *s = h[i].value.p;
        size_t end = h[i].value.len;
        for (;;) {
            size_t j = end;
            while (j > 0 && s[j - 1] != ',')
                j--;
            struct gh_client c;
            if (gh_realip_parse(gh_str_make(s + j, end - j), &c) == -1)
                return found;           /* not an address: keep the last good one */
            *out = c;
            found = true;
            if (!gh_acl_match(trusted, c.key, 0))
                return true;            /* the first untrusted address from the right */
            if (j == 0)
                break;
            end = j - 1;
        }
    }
    return found;
}
