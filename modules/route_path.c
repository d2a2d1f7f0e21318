/*
 * route_path.c - request path normalization for route matching
 * (SPEC section 4): percent-decode unreserved characters, upper-case the
 * hex digits of the escapes that stay, remove dot-segments (RFC 3986
 * 5.2.4). The original bytes are what is forwarded upstream; this copy is
 * only for matching.
 */
#include "modules/route.h"

static inline int route_path_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* RFC 3986 2.3: ALPHA / DIGIT / "-" / "." / "_" / "~" */
static inline bool route_path_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/*
 * Copy one segment (up to the next '/' or the end) from p[*ip] to out[*op],
 * decoding escapes of unreserved characters. Returns 0, or -1 on %00, a raw
 * NUL or a malformed escape. Never writes more bytes than it reads, so
 * *op <= *ip holds throughout (which makes in-place use safe).
 */
static int route_path_segment(const char *p, size_t len, size_t *ip, char *out, size_t *op)
{
    static const char hexdig[] = "0123456789ABCDEF";
    size_t i = *ip, o = *op;

    while (i < len && p[i] != '/') {
        unsigned char c = (unsigned char)p[i];
        if (c == '\0')
            return -1;
        if (c != '%') {
            out[o++] = (char)c;
            i++;
            continue;
        }
        if (len - i < 3)
            return -1;
        int hi = route_path_hex((unsigned char)p[i + 1]);
        int lo = route_path_hex((unsigned char)p[i + 2]);
        if (hi < 0 || lo < 0)
            return -1;
        unsigned char d = (unsigned char)(hi << 4 | lo);
        if (d == 0)
            return -1;
        i += 3;
        if (route_path_unreserved(d)) {
            out[o++] = (char)d;
        } else {
            /* kept encoded, "%2f" -> "%2F", so it never splits a segment */
            out[o++] = '%';
            out[o++] = hexdig[hi];
            out[o++] = hexdig[lo];
        }
    }
    *ip = i;
    *op = o;
    return 0;
}

/*
 * The path must start with '/' (origin-form; the parser turns absolute-form
 * into it). An empty path, "*" or anything else not starting with '/' is
 * -1. out may be path.p itself (normalization in place). A NUL is written
 * after the result.
 */
ssize_t gh_path_normalize(struct gh_str path, char *out)
{
    const char *p = path.p;
    size_t len = path.len, i = 1, o = 1;

    if (len == 0 || p[0] != '/')
        return -1;
    out[0] = '/';
    for (;;) {
        /* invariant: out[0..o) is "/" or ends with '/', and p[i - 1] == '/' */
        size_t seg = o;
        if (route_path_segment(p, len, &i, out, &o) == -1)
            return -1;
        size_t n = o - seg;
        bool dot = n == 1 && out[seg] == '.';
        bool dotdot = n == 2 && out[seg] == '.' && out[seg + 1] == '.';
        if (dot) {
            o = seg;                            /* "/a/./b" -> "/a/b", "/a/." -> "/a/" */
        } else if (dotdot) {
            if (seg == 1)
                return -1;                      /* above the root: 400 */
            o = seg - 1;                        /* at the '/' ending the previous segment */
            while (out[o - 1] != '/')
                o--;                            /* drop that segment, keep its leading '/' */
        }
        if (i == len)
            break;
        i++;                                    /* the '/' after the segment */
        if (!dot && !dotdot)
            out[o++] = '/';
    }
    out[o] = '\0';
    return (ssize_t)o;
}
