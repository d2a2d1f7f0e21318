/*
 * proxy_proto.c - see proxy_proto.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "server/proxy_proto.h"

static const uint8_t v2_sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

/* Next space-separated token of [*p, end): exactly one space between
 * tokens, none empty. Returns its length (0: none or empty). */
static size_t token(const uint8_t **p, const uint8_t *end, const uint8_t **tok)
{
    const uint8_t *s = *p;
    const uint8_t *e = s;
    while (e < end && *e != ' ')
        e++;
    *tok = s;
    *p = e < end ? e + 1 : e;           /* past the separator */
    if (e < end && e + 1 == end)
        return 0;                       /* a trailing space */
    return (size_t)(e - s);
}

/* An address of family af, strictly (inet_pton: no leading zeros in IPv4,
 * no zone, no surrounding spaces). 0 or -1. */
static int v1_addr(int af, const uint8_t *s, size_t n, void *out)
{
    char buf[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(af, buf, out) == 1 ? 0 : -1;
}

/* A port: 0..65535 in decimal, no sign, no leading zero. -1 when not. */
static int v1_port(const uint8_t *s, size_t n)
{
    if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= 65535 ? v : -1;
}

/* The fields of a complete v1 line (after "PROXY ", before CRLF). */
static int v1_fields(const uint8_t *p, const uint8_t *end, struct gh_pp_result *res)
{
    if (end - p >= 7 && memcmp(p, "UNKNOWN", 7) == 0 && (end - p == 7 || p[7] == ' ')) {
        res->family = AF_UNSPEC;        /* the rest of the line is ignored */
        return GH_PP_DONE;
    }
    const uint8_t *t;
    size_t n = token(&p, end, &t);
    int af;
    if (n == 4 && memcmp(t, "TCP4", 4) == 0)
        af = AF_INET;
    else if (n == 4 && memcmp(t, "TCP6", 4) == 0)
        af = AF_INET6;
    else
        return GH_PP_ERROR;

    struct in6_addr src, dst;           /* big enough for either family */
    const uint8_t *f[4];
    size_t fl[4];
    for (int i = 0; i < 4; i++) {
        fl[i] = token(&p, end, &f[i]);
        if (fl[i] == 0)
            return GH_PP_ERROR;
    }
    if (p != end)
        return GH_PP_ERROR;             /* more fields */
    int sport = v1_port(f[2], fl[2]);
    if (v1_addr(af, f[0], fl[0], &src) == -1 || v1_addr(af, f[1], fl[1], &dst) == -1
        || sport == -1 || v1_port(f[3], fl[3]) == -1)
        return GH_PP_ERROR;

    res->family = af;
    if (af == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&res->src;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, &src, 4);
        sin->sin_port = htons((uint16_t)sport);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&res->src;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, &src, 16);
        sin6->sin6_port = htons((uint16_t)sport);
    }
    return GH_PP_DONE;
}

static int parse_v1(const uint8_t *p, size_t len, struct gh_pp_result *res)
{
    static const char sig[] = "PROXY ";
    size_t n = len < GH_PP_V1_MAX ? len : GH_PP_V1_MAX;
    size_t i;
    for (i = 0; i < n; i++) {
        if (i < sizeof(sig) - 1) {
            if (p[i] != (uint8_t)sig[i])
                return GH_PP_ERROR;
            continue;
        }
        if (p[i] == '\r')
            break;
        if (p[i] < 0x20 || p[i] > 0x7e)
            return GH_PP_ERROR;
    }
    if (i == n)
        return len >= GH_PP_V1_MAX ? GH_PP_ERROR : GH_PP_NEED_MORE;
    if (i + 2 > GH_PP_V1_MAX)
        return GH_PP_ERROR;             /* the LF would be past the limit */
    if (i + 1 == len)
        return GH_PP_NEED_MORE;
    if (p[i + 1] != '\n')
        return GH_PP_ERROR;
    struct gh_pp_result r;
    memset(&r, 0, sizeof(r));
    r.consumed = i + 2;
    r.version = 1;
    int rc = v1_fields(p + sizeof(sig) - 1, p + i, &r);
    if (rc == GH_PP_DONE)
        *res = r;
    return rc;
}

#define PP2_TYPE_SSL 0x20
#define PP2_CLIENT_SSL 0x01

static int parse_v2(const uint8_t *p, size_t len, struct gh_pp_result *res)
{
    if (memcmp(p, v2_sig, len < sizeof(v2_sig) ? len : sizeof(v2_sig)) != 0)
        return GH_PP_ERROR;
    if (len < 13)
        return GH_PP_NEED_MORE;
    unsigned ver = p[12] >> 4, cmd = p[12] & 0x0F;
    if (ver != 2 || cmd > 1)
        return GH_PP_ERROR;             /* 0 LOCAL, 1 PROXY */
    if (len < 14)
        return GH_PP_NEED_MORE;
    unsigned fam = p[13] >> 4, proto = p[13] & 0x0F;
    /* LOCAL ignores the family byte; PROXY: UNSPEC, INET, INET6, UNIX over
     * UNSPEC, STREAM or DGRAM. */
    if (cmd == 1 && (fam > 3 || proto > 2))
        return GH_PP_ERROR;
    if (len < 16)
        return GH_PP_NEED_MORE;
    size_t alen = ((size_t)p[14] << 8) | p[15];
    if (16 + alen > GH_PP_V2_MAX)
        return GH_PP_ERROR;
    if (len < 16 + alen)
        return GH_PP_NEED_MORE;

    struct gh_pp_result r;
    memset(&r, 0, sizeof(r));
    r.consumed = 16 + alen;
    r.version = 2;
    r.family = AF_UNSPEC;
    const uint8_t *a = p + 16;
    if (cmd == 1 && (fam == 1 || fam == 2)) {
        if (proto == 2)
            return GH_PP_ERROR;         /* a datagram on a stream listener */
        if (proto == 1 && fam == 1) {
            if (alen < 12)
                return GH_PP_ERROR;
            struct sockaddr_in *sin = (struct sockaddr_in *)&r.src;
            sin->sin_family = AF_INET;
            memcpy(&sin->sin_addr, a, 4);
            memcpy(&sin->sin_port, a + 8, 2);   /* network order on the wire too */
            r.family = AF_INET;
        } else if (proto == 1) {
            if (alen < 36)
                return GH_PP_ERROR;
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&r.src;
            sin6->sin6_family = AF_INET6;
            memcpy(&sin6->sin6_addr, a, 16);
            memcpy(&sin6->sin6_port, a + 32, 2);
            r.family = AF_INET6;
        }
        /* proto UNSPEC: keep the socket's peer. */
    }
    /* AF_UNSPEC and AF_UNIX: keep the socket's peer. Of the TLVs after the
     * addresses only PP2_TYPE_SSL matters; a TLV overrunning the block ends
     * the walk (the addresses stand). */
    static const size_t addr_len[] = { 0, 12, 36, 216 };
    if (cmd == 1 && fam <= 3 && addr_len[fam] <= alen) {
        size_t i = addr_len[fam];
        while (i + 3 <= alen) {
            unsigned type = a[i];
            size_t vlen = ((size_t)a[i + 1] << 8) | a[i + 2];
            if (i + 3 + vlen > alen)
                break;
            if (type == PP2_TYPE_SSL && vlen >= 1 && (a[i + 3] & PP2_CLIENT_SSL))
                r.ssl = true;
            i += 3 + vlen;
        }
    }
    *res = r;
    return GH_PP_DONE;
}

int gh_pp_parse(const uint8_t *p, size_t len, struct gh_pp_result *res)
{
    if (len == 0)
        return GH_PP_NEED_MORE;
    if (p[0] == 'P')
        return parse_v1(p, len, res);
    if (p[0] == v2_sig[0])
        return parse_v2(p, len, res);
    return GH_PP_ERROR;
}
