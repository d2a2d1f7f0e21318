/*
 * fuzz_cidr.c - libFuzzer harness for gh_parse_cidr (common/conf_units.c),
 * the CIDR parser of the configuration (access lists, real_ip.from) and of
 * the admin API's blacklist. Byte 0 picks how the rest reaches it: as is,
 * or percent-decoded first (DELETE /blacklist/10.0.0.0%2F8). Invariants:
 *  - the result is 0, -1 or -2; on 0 and -2 the family is IPv4 or IPv6,
 *    the prefix length lies in 0..32 or 0..128, no bit past the prefix is
 *    set (and nothing past an IPv4 address);
 *  - its text (address/length) parses to the same network with 0, and is
 *    written the same again (a fixed point);
 *  - the admin's text for its ACL key (gh_acl_key_text) parses back to
 *    the same key and length;
 *  - an access list holding the network matches its own address.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "modules/acl.h"
#include "common/str.h"
#include "fuzz.h"

static void text_of(const struct gh_conf_cidr *c, char *out, size_t size)
{
    char a[INET6_ADDRSTRLEN];
    CHECK(inet_ntop(c->family, c->addr, a, sizeof(a)) != NULL);
    snprintf(out, size, "%s/%d", a, c->prefix_len);
}

static void check_net(const struct gh_conf_cidr *c)
{
    CHECK(c->family == AF_INET || c->family == AF_INET6);
    int max = c->family == AF_INET ? 32 : 128;
    CHECK(c->prefix_len >= 0 && c->prefix_len <= max);
    for (int bit = c->prefix_len; bit < 128; bit++)
        CHECK((c->addr[bit / 8] & (0x80 >> (bit % 8))) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 256)
        return 0;
    bool decode = data[0] & 1;
    char *s = malloc(size);                 /* size - 1 bytes and a NUL */
    CHECK(s != NULL);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    char dec[128];
    const char *in = s;
    if (decode) {
        if (gh_str_pct_decode(gh_str_make(s, strlen(s)), dec, sizeof(dec)) == -1)
            goto done;
        CHECK(memchr(dec, '\0', sizeof(dec)) != NULL);
        in = dec;
    }

    struct gh_conf_cidr c;
    memset(&c, 0xa5, sizeof(c));
    int rc = gh_parse_cidr(in, &c);
    CHECK(rc == 0 || rc == -1 || rc == -2);
    if (rc == -1)
        goto done;
    check_net(&c);

    char text[80], text2[80];
    text_of(&c, text, sizeof(text));
    struct gh_conf_cidr c2;
    memset(&c2, 0, sizeof(c2));
    CHECK(gh_parse_cidr(text, &c2) == 0);
    CHECK(c2.family == c.family && c2.prefix_len == c.prefix_len);
    CHECK(memcmp(c2.addr, c.addr, 16) == 0);
    text_of(&c2, text2, sizeof(text2));
    CHECK(strcmp(text, text2) == 0);

    uint8_t key[16], key2[16];
    int plen, plen2;
    gh_acl_cidr_key(&c, key, &plen);
    CHECK(plen >= 0 && plen <= 128);
    char ktext[64];
    gh_acl_key_text(key, plen, ktext, sizeof(ktext));
    struct gh_conf_cidr c3;
    memset(&c3, 0, sizeof(c3));
    CHECK(gh_parse_cidr(ktext, &c3) == 0);
    gh_acl_cidr_key(&c3, key2, &plen2);
    CHECK(plen2 == plen && memcmp(key2, key, 16) == 0);

    struct gh_acl acl;
    gh_acl_init(&acl);
    CHECK(gh_acl_add_conf(&acl, &c, 1) == 0);
    CHECK(gh_acl_match(&acl, key, 0));
    gh_acl_free(&acl);
done:
    free(s);
    return 0;
}
