/*
 * siphash.h - SipHash-2-4 (Aumasson and Bernstein), for tables whose keys
 * clients choose (rate-limit keys, cache keys): with a random secret chosen
 * when the table is created, bucket placement cannot be predicted.
 */
#ifndef GH_SIPHASH_H
#define GH_SIPHASH_H

#include <string.h>
#include "common/gh.h"

#define GH_SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define GH_SIPROUND                                                             \
    do {                                                                        \
        v0 += v1; v1 = GH_SIP_ROTL(v1, 13); v1 ^= v0; v0 = GH_SIP_ROTL(v0, 32); \
        v2 += v3; v3 = GH_SIP_ROTL(v3, 16); v3 ^= v2;                           \
        v0 += v3; v3 = GH_SIP_ROTL(v3, 21); v3 ^= v0;                           \
        v2 += v1; v1 = GH_SIP_ROTL(v1, 17); v1 ^= v2; v2 = GH_SIP_ROTL(v2, 32); \
    } while (0)

/* The 64-bit SipHash-2-4 of data under the key (k0, k1). padded: data is
 * followed by zero bytes up to a multiple of 8, so the
 * last partial word is read whole (the same value as byte by byte). */
static inline uint64_t gh_siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len,
                                    bool padded)
{
    const unsigned char *p = data;
    uint64_t v0 = k0 ^ UINT64_C(0x736f6d6570736575);
    uint64_t v1 = k1 ^ UINT64_C(0x646f72616e646f6d);
    uint64_t v2 = k0 ^ UINT64_C(0x6c7967656e657261);
    uint64_t v3 = k1 ^ UINT64_C(0x7465646279746573);
    uint64_t b = (uint64_t)len << 56, m;
    size_t i, n = len & ~(size_t)7;

    for (i = 0; i < n; i += 8) {
        memcpy(&m, p + i, 8);                    /* little-endian hosts only */
        v3 ^= m;
        GH_SIPROUND;
        GH_SIPROUND;
        v0 ^= m;
    }
    if (padded && (len & 7) != 0) {
        memcpy(&m, p + n, 8);
        b |= m;
    } else {
        for (size_t j = 0; j < (len & 7); j++)
            b |= (uint64_t)p[n + j] << (8 * j);
    }
    v3 ^= b;
    GH_SIPROUND;
    GH_SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    GH_SIPROUND;
    GH_SIPROUND;
    GH_SIPROUND;
    GH_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

#undef GH_SIPROUND
#undef GH_SIP_ROTL

#endif
