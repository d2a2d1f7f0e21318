/*
 * acl.c - the prefix trie of acl.h: path-compressed, nodes in one array.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules/acl.h"

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int gh_acl_key(const struct sockaddr_storage *ss, uint8_t key[16])
{
    if (ss->ss_family == AF_INET) {
        memcpy(key, v4mapped, 12);
        memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        return 0;
    }
    if (ss->ss_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

void gh_acl_cidr_key(const struct gh_conf_cidr *c, uint8_t key[16], int *plen)
{
    if (c->family == AF_INET) {
        memcpy(key, v4mapped, 12);
        memcpy(key + 12, c->addr, 4);
        *plen = c->prefix_len + 96;
    } else {
        memcpy(key, c->addr, 16);
        *plen = c->prefix_len;
    }
}

void gh_acl_key_text(const uint8_t key[16], int plen, char *out, size_t size)
{
    char a[INET6_ADDRSTRLEN];
    if (memcmp(key, v4mapped, 12) == 0 && plen >= 96) {
        inet_ntop(AF_INET, key + 12, a, sizeof(a));
        snprintf(out, size, "%s/%d", a, plen - 96);
    } else {
        inet_ntop(AF_INET6, key, a, sizeof(a));
        snprintf(out, size, "%s/%d", a, plen);
    }
}

void gh_acl_init(struct gh_acl *acl)
{
    memset(acl, 0, sizeof(*acl));
}

void gh_acl_free(struct gh_acl *acl)
{
    free(acl->nodes);
    gh_acl_init(acl);
}

void gh_acl_clear(struct gh_acl *acl)
{
    acl->n = 0;
    acl->nprefixes = 0;
}

/* A key as two host-order words, bit 0 the most significant of word 0. */
static inline void key_words(const uint8_t key[16], uint64_t w[2])
{
    memcpy(w, key, 16);
    w[0] = be64toh(w[0]);
    w[1] = be64toh(w[1]);
}

static inline uint64_t mask_word(int plen)
{
    return plen <= 0 ? 0 : plen >= 64 ? UINT64_MAX : UINT64_MAX << (64 - plen);
}

static inline int bit_at(const uint64_t w[2], int i)
{
    return i < 64 ? (int)(w[0] >> (63 - i)) & 1 : (int)(w[1] >> (127 - i)) & 1;
}

/* Length of the common prefix of a and b, at most max. */
static int common_len(const uint64_t a[2], const uint64_t b[2], int max)
{
    uint64_t x = a[0] ^ b[0];
    int n = x != 0 ? __builtin_clzll(x) : (a[1] ^ b[1]) != 0 ? 64 + __builtin_clzll(a[1] ^ b[1]) : 128;
    return GH_MIN(n, max);
}

/* A node for the first plen bits of w. Its index, or -1 out of memory. */
static int32_t node_new(struct gh_acl *acl, const uint64_t w[2], int plen)
{
    if (acl->n == acl->cap) {
        size_t cap = acl->cap ? acl->cap * 2 : 64;
        struct gh_acl_node *nn = realloc(acl->nodes, cap * sizeof(*nn));
        if (nn == NULL)
            return -1;
        acl->nodes = nn;
        acl->cap = cap;
    }
    struct gh_acl_node *nd = &acl->nodes[acl->n];
    memset(nd, 0, sizeof(*nd));
    nd->mask[0] = mask_word(plen);
    nd->mask[1] = mask_word(plen - 64);
    nd->key[0] = w[0] & nd->mask[0];
    nd->key[1] = w[1] & nd->mask[1];
    nd->plen = plen;
    return (int32_t)acl->n++;
}

int gh_acl_add(struct gh_acl *acl, const uint8_t key[16], int plen, int64_t expires_ms)
{
    if (plen < 0 || plen > 128)
        return -1;
    uint64_t w[2];
    key_words(key, w);
    w[0] &= mask_word(plen);
    w[1] &= mask_word(plen - 64);
    if (acl->n == 0 && node_new(acl, w, 0) == -1)
        return -1;
    /* Invariant: node cur is a prefix of key, no longer than plen. */
    int32_t cur = 0;
    while (acl->nodes[cur].plen < plen) {
        int at = acl->nodes[cur].plen, b = bit_at(w, at);
        int32_t ch = acl->nodes[cur].child[b], nn;
        if (ch == 0) {
            nn = node_new(acl, w, plen);        /* a new leaf: the prefix itself */
        } else {
            int common = common_len(w, acl->nodes[ch].key, GH_MIN(plen, acl->nodes[ch].plen));
            if (common == acl->nodes[ch].plen) {
                cur = ch;                       /* ch is a prefix of key: go down */
                continue;
            }
            /* Split the edge to ch where key leaves it: common > at. */
            nn = node_new(acl, w, common);
            if (nn != -1)
                acl->nodes[nn].child[bit_at(acl->nodes[ch].key, common)] = ch;
        }
        if (nn == -1)
            return -1;
        acl->nodes[cur].child[b] = nn;
        cur = nn;
    }
    struct gh_acl_node *nd = &acl->nodes[cur];
    if (nd->expires_ms == 0)
        acl->nprefixes++;
    if (expires_ms > nd->expires_ms)
        nd->expires_ms = expires_ms;
    return 0;
}

int gh_acl_add_conf(struct gh_acl *acl, const struct gh_conf_cidr *cidrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t key[16];
        int plen;
        gh_acl_cidr_key(&cidrs[i], key, &plen);
        if (gh_acl_add(acl, key, plen, INT64_MAX) == -1)
            return -1;
    }
    return 0;
}

bool gh_acl_match(const struct gh_acl *acl, const uint8_t key[16], int64_t now_ms)
{
    if (acl->n == 0)
        return false;
    uint64_t w[2];
    key_words(key, w);
    const struct gh_acl_node *nd = acl->nodes;
    for (;;) {
        if ((((w[0] ^ nd->key[0]) & nd->mask[0]) | ((w[1] ^ nd->key[1]) & nd->mask[1])) != 0)
            return false;               /* key leaves the path inside the edge */
        if (nd->expires_ms > now_ms)
            return true;
        if (nd->plen == 128)
            return false;
        int32_t ch = nd->child[bit_at(w, nd->plen)];
        if (ch == 0)
            return false;
        nd = &acl->nodes[ch];
    }
}
