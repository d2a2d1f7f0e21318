/*
 * acl.h - client address prefix sets: a binary trie over 128-bit keys, IPv4
 * stored as its v4-mapped IPv6 form (::ffff:a.b.c.d), so ::ffff:1.2.3.4 and
 * 1.2.3.4 are the same client. Used for access.allow/deny (built once per
 * worker from the configuration) and for the dynamic blacklist's per-worker
 * cache (rebuilt when the shared table's generation changes).
 *
 * Semantics (nginx-like, documented in the README): a client in deny (static
 * or dynamic) is refused even when it is also in allow; when allow is
 * non-empty only the clients in it are admitted.
 */
#ifndef GH_ACL_H
#define GH_ACL_H

#include <string.h>
#include <sys/socket.h>
#include "common/conf.h"
#include "common/gh.h"

/* A client address as policy sees it: the ACL key (access lists, bans,
 * connection counts) and its text (logs, forwarded headers, $remote_addr).
 * A connection has one (its peer, or the PROXY protocol's source); a
 * request points at it or at the address real_ip found (modules/realip.h). */
struct gh_client {
    bool has_key;                       /* key is set (not a unix socket) */
    uint8_t key[16];
    char text[48];                      /* IPv4 dotted, IPv6 without brackets, or "unix:" */
    int16_t rl_hash_idx;                /* rl_hash is for rate limit rl_hash_idx - 1 (0: none) */
    uint64_t rl_hash;                   /* of key, for $remote_addr limits (modules/edge.c) */
};

/* A path-compressed (PATRICIA) node: it stands for the first plen bits of
 * key; a child differs from it only below plen, so a lookup visits one node
 * per branching point (2 for a single address), not one per bit. */
struct gh_acl_node {
    uint64_t key[2];                    /* the prefix, host order, bits past plen zero */
    uint64_t mask[2];                   /* plen leading one bits */
    int32_t child[2];                   /* by the bit at plen: node index, 0 = none (0 is the root) */
    int32_t plen;                       /* 0..128; the root is 0 */
    int64_t expires_ms;                 /* a prefix ends here: 0 = none, INT64_MAX = never expires */
};

struct gh_acl {
    struct gh_acl_node *nodes;          /* malloc'd; nodes[0] is the root */
    size_t n, cap;
    size_t nprefixes;
};

/* The 16-byte key of an address: IPv6 as is, IPv4 as ::ffff:a.b.c.d.
 * 0, or -1 for another family (unix: no key). */
int gh_acl_key(const struct sockaddr_storage *ss, uint8_t key[16]);
/* Is key an IPv4 address (::ffff:a.b.c.d, the address in key[12..15])? */
/* FNV-1a over a 128-bit key: the slot or stripe of a client in the shared
 * tables (modules/blacklist.c, connlimit.c). Stable across processes and
 * binaries, so a table handed over by USR2 keeps its layout. */
static inline uint32_t gh_acl_key_hash(const uint8_t key[16])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return h;
}

static inline bool gh_acl_key_is_v4(const uint8_t key[16])
{
    static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    return memcmp(key, v4mapped, 12) == 0;
}
/* Key and prefix length (0..128) of a parsed CIDR (v4 prefixes get +96). */
void gh_acl_cidr_key(const struct gh_conf_cidr *c, uint8_t key[16], int *plen);
/* Text of a key: IPv4 dotted when v4-mapped, otherwise IPv6. */
void gh_acl_key_text(const uint8_t key[16], int plen, char *out, size_t size);

void gh_acl_init(struct gh_acl *acl);
void gh_acl_free(struct gh_acl *acl);
/* Drop every prefix, keep the memory. */
void gh_acl_clear(struct gh_acl *acl);
/* Add key/plen (0..128) valid until expires_ms (INT64_MAX = forever; a
 * prefix added twice keeps the later expiry). 0, or -1 out of memory. */
int gh_acl_add(struct gh_acl *acl, const uint8_t key[16], int plen, int64_t expires_ms);
/* Add a list of configured CIDRs, forever. 0 or -1. */
int gh_acl_add_conf(struct gh_acl *acl, const struct gh_conf_cidr *cidrs, size_t n);
/* Does a prefix still valid at now_ms cover key? One step per branching
 * point on the key's path (at most 129, 2 for a list of one address). */
bool gh_acl_match(const struct gh_acl *acl, const uint8_t key[16], int64_t now_ms);

#endif
