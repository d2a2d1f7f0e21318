/*
 * conf_units.c - the value syntaxes of the configuration: durations, sizes,
 * socket addresses and CIDRs. These functions allocate nothing except
 * gh_parse_addr, whose strings the caller releases with gh_conf_addr_release.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "common/conf.h"

/* The longest duration accepted: 10^15 ms (about 31,000 years), so that
 * "now + duration" never overflows a gh_msec_t. */
#define GH_DURATION_MAX_MS 1e15

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int gh_parse_duration(const char *s, gh_msec_t *out)
{
    const char *p = s;
    double factor, v;
    char num[64];
    size_t len;

    if (s == NULL || !is_digit(*p))
        return -1;
    while (is_digit(*p))
        p++;
    if (*p == '.') {
        p++;
        if (!is_digit(*p))
            return -1;
        while (is_digit(*p))
            p++;
    }
    len = (size_t)(p - s);
    if (len >= sizeof(num))
        return -1;
    memcpy(num, s, len);
    num[len] = '\0';

    if (strcmp(p, "") == 0 || strcmp(p, "s") == 0)
        factor = 1000;
    else if (strcmp(p, "ms") == 0)
        factor = 1;
    else if (strcmp(p, "m") == 0)
        factor = 60e3;
    else if (strcmp(p, "h") == 0)
        factor = 3600e3;
    else if (strcmp(p, "d") == 0)
        factor = 86400e3;
    else
        return -1;

    errno = 0;
    v = strtod(num, NULL);
    if (errno != 0 || !isfinite(v))
        return -1;
    v *= factor;
    if (!(v <= GH_DURATION_MAX_MS))
        return -1;
    *out = (gh_msec_t)llround(v);
    return 0;
}

int gh_parse_size(const char *s, size_t *out)
{
    const char *p = s;
    size_t v = 0, mult = 1;

    if (s == NULL || !is_digit(*p))
        return -1;
    for (; is_digit(*p); p++) {
        if (__builtin_mul_overflow(v, (size_t)10, &v)
            || __builtin_add_overflow(v, (size_t)(*p - '0'), &v))
            return -1;
    }
    switch (*p) {
    case '\0': break;
    case 'k': case 'K': mult = (size_t)1 << 10; p++; break;
    case 'm': case 'M': mult = (size_t)1 << 20; p++; break;
    case 'g': case 'G': mult = (size_t)1 << 30; p++; break;
    default: return -1;
    }
    if (*p != '\0' || __builtin_mul_overflow(v, mult, &v))
        return -1;
    *out = v;
    return 0;
}

/* "8080" -> 8080; -1 unless 1 to 5 digits worth 0..65535. */
static int parse_port(const char *s)
{
    long v = 0;
    size_t n = 0;

    for (; is_digit(s[n]); n++) {
        if (n >= 5)
            return -1;
        v = v * 10 + (s[n] - '0');
    }
    if (n == 0 || s[n] != '\0' || v > 65535)
        return -1;
    return (int)v;
}

static bool valid_hostname(const char *h)
{
    size_t n = strlen(h);

    if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-')
        return false;
    for (; *h != '\0'; h++) {
        char c = *h;
        if (!(is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

void gh_conf_addr_release(struct gh_conf_addr *a)
{
    free(a->text);
    free(a->host);
    a->text = NULL;
    a->host = NULL;
}

static int parse_unix(const char *path, struct gh_conf_addr *out, char *err,
                      size_t errlen)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&out->sa;

    if (path[0] != '/') {
        snprintf(err, errlen, "unix socket path must be absolute");
        return -1;
    }
    if (strlen(path) >= sizeof(sun->sun_path)) {
        snprintf(err, errlen, "unix socket path is too long");
        return -1;
    }
    out->kind = GH_ADDR_UNIX;
    sun->sun_family = AF_UNIX;
    strcpy(sun->sun_path, path);
    out->salen = (socklen_t)sizeof(*sun);
    out->port = 0;
    return 0;
}

static int resolve_name(const char *host, const char *port,
                        struct gh_conf_addr *out, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve '%s': %s", host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    if (res == NULL || res->ai_addrlen > sizeof(out->sa)) {
        snprintf(err, errlen, "cannot resolve '%s': no usable address", host);
        freeaddrinfo(res);
        return -1;
    }
    memcpy(&out->sa, res->ai_addr, res->ai_addrlen);
    out->salen = res->ai_addrlen;
    freeaddrinfo(res);
    out->host = strdup(host);
    if (out->host == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    out->kind = GH_ADDR_NAME;
    return 0;
}

/* "host:port" or "[v6]:port": an IP literal, or (allow_name) a host name
 * resolved now. 0, or -1 with a message in err. */
static int parse_inet(const char *s, bool allow_name, struct gh_conf_addr *out,
                      char *err, size_t errlen)
{
    char host[256];
    const char *colon, *hs = s;
    size_t hlen;
    int port;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL) {
            snprintf(err, errlen, "missing ']' in '%s'", s);
            return -1;
        }
        hs = s + 1;
        hlen = (size_t)(close - hs);
        if (close[1] != ':') {
            snprintf(err, errlen, "missing port in '%s'", s);
            return -1;
        }
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            snprintf(err, errlen, "missing port in '%s'", s);
            return -1;
        }
        hlen = (size_t)(colon - s);
        if (memchr(s, ':', hlen) != NULL) {
            snprintf(err, errlen, "IPv6 address needs brackets in '%s' "
                     "(e.g. \"[::1]:8080\")", s);
            return -1;
        }
    }
    if (hlen == 0 || hlen >= sizeof(host)) {
        snprintf(err, errlen, "missing host in '%s'", s);
        return -1;
    }
    memcpy(host, hs, hlen);
    host[hlen] = '\0';
    port = parse_port(colon + 1);
    if (port < 0) {
        snprintf(err, errlen, "bad port in '%s'", s);
        return -1;
    }
    out->port = port;

    if (s[0] == '[') {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->sa;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            snprintf(err, errlen, "bad IPv6 address in '%s'", s);
            return -1;
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        out->salen = (socklen_t)sizeof(*sin6);
        return 0;
    }
    {
        struct sockaddr_in *sin = (struct sockaddr_in *)&out->sa;
        if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
            sin->sin_family = AF_INET;
            sin->sin_port = htons((uint16_t)port);
            out->salen = (socklen_t)sizeof(*sin);
            return 0;
        }
    }
    if (!allow_name) {
        snprintf(err, errlen, "'%s' is not an IP address "
                 "(host names are not allowed here)", host);
        return -1;
    }
    if (!valid_hostname(host)) {
        snprintf(err, errlen, "bad host name in '%s'", s);
        return -1;
    }
    return resolve_name(host, colon + 1, out, err, errlen);
}

int gh_parse_addr(const char *s, bool allow_name, struct gh_conf_addr *out,
                  char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->kind = GH_ADDR_INET;
    if (s == NULL || s[0] == '\0') {
        snprintf(err, errlen, "empty address");
        return -1;
    }
    if (strncmp(s, "unix:", 5) == 0) {
        if (parse_unix(s + 5, out, err, errlen) == -1)
            return -1;
    } else if (parse_inet(s, allow_name, out, err, errlen) == -1) {
        gh_conf_addr_release(out);
        return -1;
    }
    out->text = strdup(s);
    if (out->text == NULL) {
        gh_conf_addr_release(out);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int gh_parse_cidr(const char *s, struct gh_conf_cidr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash;
    int max, plen, i, host_bits = 0;
    size_t alen;

    if (s == NULL)
        return -1;
    slash = strchr(s, '/');
    alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof(buf))
        return -1;
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    memset(out->addr, 0, sizeof(out->addr));
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    plen = max;
    if (slash != NULL) {
        const char *p = slash + 1;
        if (!is_digit(p[0]) || (p[0] == '0' && p[1] != '\0'))
            return -1;
        for (plen = 0; is_digit(*p); p++) {
            plen = plen * 10 + (*p - '0');
            if (plen > max)
                return -1;
        }
        if (*p != '\0')
            return -1;
    }
    out->prefix_len = plen;
    for (i = 0; i < max / 8; i++) {
        int keep = plen - i * 8;
        uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
        if (out->addr[i] & ~mask)
            host_bits = 1;
        out->addr[i] &= mask;
    }
    return host_bits ? -2 : 0;
}
