/*
 * str.c - helpers for non-owning strings.
 */
#include <stdarg.h>
#include <stdio.h>
#include "common/str.h"

bool gh_str_caseeq(struct gh_str a, struct gh_str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (gh_lower(a.p[i]) != gh_lower(b.p[i]))
            return false;
    return true;
}

struct gh_str gh_str_trim(struct gh_str s)
{
    while (s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

int64_t gh_str_to_u63(struct gh_str s)
{
    int64_t v = 0;

    if (s.len == 0)
        return -1;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.p[i];
        if (c < '0' || c > '9')
            return -1;
        int d = c - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    return v;
}

bool gh_str_list_has(struct gh_str list, const char *token)
{
    struct gh_str tok = gh_str_make(token, strlen(token));
    size_t i = 0;

    if (list.len == 0 || tok.len == 0)
        return false;
    while (i <= list.len) {
        size_t start = i;
        while (i < list.len && list.p[i] != ',')
            i++;
        struct gh_str item = gh_str_trim(gh_str_make(list.p + start, i - start));
        if (gh_str_caseeq(item, tok))
            return true;
        i++;                            /* skip the comma (or step past the end) */
    }
    return false;
}

size_t gh_str_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* 8 nibbles of x, the lowest first, as 8 ASCII hex digits in a
 * little-endian word: spread one nibble per byte, then add '0', and 'a' -
 * '0' - 10 more to the bytes above 9. */
static inline uint64_t hex8(uint32_t x)
{
    uint64_t v = x;
    v = (v | v << 16) & 0x0000FFFF0000FFFFULL;
    v = (v | v << 8) & 0x00FF00FF00FF00FFULL;
    v = (v | v << 4) & 0x0F0F0F0F0F0F0F0FULL;
    uint64_t above9 = ((v + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;
    return v + 0x3030303030303030ULL + above9 * ('a' - '0' - 10);
}

void gh_str_hex64(char *out, uint64_t v)
{
    uint64_t lo = hex8((uint32_t)v), hi = hex8((uint32_t)(v >> 32));
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    lo = __builtin_bswap64(lo);
    hi = __builtin_bswap64(hi);
#endif
    memcpy(out, &lo, 8);
    memcpy(out + 8, &hi, 8);
}

size_t gh_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;

    if (size == 0)
        return 0;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    if ((size_t)n >= size)
        return size - 1;
    return (size_t)n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = gh_lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int gh_str_pct_decode(struct gh_str s, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.p[i];
        if (c == '%') {
            if (i + 2 >= s.len)
                return -1;
            int hi = hexval(s.p[i + 1]), lo = hexval(s.p[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= size)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}
