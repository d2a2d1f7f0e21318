/*
 * fuzz_realip_parse.c - libFuzzer harness for gh_realip_parse
 * (modules/realip.c) on one entry. Invariants for an address parsed:
 *  - its text is NUL-terminated, dotted IPv4 exactly when the key is
 *    v4-mapped, and parses back to the same key and text, bare, with a
 *    port, and (IPv6) in brackets with and without a port;
 *  - the CIDR parser reads the text as the same single address;
 *  - the real_ip walk over a header holding just this entry (no comma in
 *    it, nothing trusted) finds the same client.
 * And an entry that fails to parse is never found by the walk.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "modules/realip.h"
#include "fuzz.h"

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void same_as(const char *text, const struct gh_client *c)
{
    struct gh_client again;
    memset(&again, 0, sizeof(again));
    CHECK(gh_realip_parse(gh_str_make(text, strlen(text)), &again) == 0);
    CHECK(again.has_key && memcmp(again.key, c->key, 16) == 0);
    CHECK(strcmp(again.text, c->text) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    CHECK(copy != NULL);
    memcpy(copy, data, size);
    struct gh_str s = gh_str_make(copy, size);

    struct gh_client c;
    memset(&c, 0, sizeof(c));
    int rc = gh_realip_parse(s, &c);
    CHECK(rc == 0 || rc == -1);

    struct gh_acl none;
    gh_acl_init(&none);
    struct gh_http_header h = { gh_str_make("X-Forwarded-For", 15), s };
    struct gh_client w;
    memset(&w, 0, sizeof(w));
    bool found = gh_realip_walk(&none, &h, 1, gh_str_make("x-forwarded-for", 15), &w);
    if (memchr(copy, ',', size) == NULL) {
        CHECK(found == (rc == 0));
        if (found)
            CHECK(memcmp(w.key, c.key, 16) == 0 && strcmp(w.text, c.text) == 0);
    }

    if (rc == 0) {
        CHECK(c.has_key);
        CHECK(memchr(c.text, '\0', sizeof(c.text)) != NULL);
        bool mapped = memcmp(c.key, v4mapped, 12) == 0;
        CHECK(mapped == (strchr(c.text, ':') == NULL));
        if (mapped)
            CHECK(strspn(c.text, "0123456789.") == strlen(c.text));
        same_as(c.text, &c);

        char buf[64];
        snprintf(buf, sizeof(buf), mapped ? "%s:65535" : "[%s]:1", c.text);
        same_as(buf, &c);
        if (!mapped) {
            snprintf(buf, sizeof(buf), "[%s]", c.text);
            same_as(buf, &c);
        }
        snprintf(buf, sizeof(buf), " \t%s\t ", c.text);
        same_as(buf, &c);

        struct gh_conf_cidr cidr;
        memset(&cidr, 0, sizeof(cidr));
        CHECK(gh_parse_cidr(c.text, &cidr) == 0);
        uint8_t key[16];
        int plen;
        gh_acl_cidr_key(&cidr, key, &plen);
        CHECK(plen == 128 && memcmp(key, c.key, 16) == 0);
    }
    free(copy);
    return 0;
}
