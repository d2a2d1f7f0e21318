/*
 * acl.c - the prefix trie of acl.h: one bit per level, nodes in one array.
 */
#include <arpa/inet.h>
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

static int32_t node_new(struct gh_acl *acl)
{
    if (acl->n == acl->cap) {
        size_t cap = acl->cap ? acl->cap * 2 : 64;
        struct gh_acl_node *nn = realloc(acl->nodes, cap * sizeof(*nn));
        if (nn == NULL)
            return -1;
        acl->nodes = nn;
        acl->cap = cap;
    }
    memset(&acl->nodes[acl->n], 0, sizeof(acl->nodes[0]));
    return (int32_t)acl->n++;
}

static inline int bit_at(const uint8_t key[16], int i)
{
    return (key[i >> 3] >> (7 - (i & 7))) & 1;
}

int gh_acl_add(struct gh_acl *acl, const uint8_t key[16], int plen, int64_t expires_ms)
{
    if (plen < 0 || plen > 128)
        return -1;
    if (acl->n == 0 && node_new(acl) == -1)
        return -1;
    int32_t cur = 0;
    for (int i = 0; i < plen; i++) {
        int b = bit_at(key, i);
        if (acl->nodes[cur].child[b] == 0) {
            int32_t nn = node_new(acl);
            if (nn == -1)
                return -1;
            acl->nodes[cur].child[b] = nn;
        }
        cur = acl->nodes[cur].child[b];
    }
    if (acl->nodes[cur].expires_ms == 0)
        acl->nprefixes++;
    if (expires_ms > acl->nodes[cur].expires_ms)
        acl->nodes[cur].expires_ms = expires_ms;
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
    int32_t cur = 0;
    for (int i = 0;; i++) {
        if (acl->nodes[cur].expires_ms > now_ms)
            return true;
        if (i == 128)
            return false;
        cur = acl->nodes[cur].child[bit_at(key, i)];
        if (cur == 0)
            return false;
    }
}
