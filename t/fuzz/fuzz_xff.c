/*
 * fuzz_xff.c - libFuzzer harness for real_ip (modules/realip.c): the input
 * is split into header lines at '\n' (the first byte picks which are
 * X-Forwarded-For and which are not), walked with 10.0.0.0/8, 127.0.0.1
 * and 2001:db8::/32 trusted. A client found must be a valid address
 * whose text parses back to the same key, and must be either untrusted
 * or the leftmost entry examined.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules/realip.h"
#include "fuzz.h"

#define MAX_LINES 16

static struct gh_acl trusted;
static bool ready;

static void init(void)
{
    static const char *const cidrs[] = { "10.0.0.0/8", "127.0.0.1/32", "2001:db8::/32" };
    gh_acl_init(&trusted);
    for (size_t i = 0; i < 3; i++) {
        struct gh_conf_cidr c;
        memset(&c, 0, sizeof(c));
        CHECK(gh_parse_cidr(cidrs[i], &c) == 0);
        CHECK(gh_acl_add_conf(&trusted, &c, 1) == 0);
    }
    ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        init();
    if (size < 1)
        return 0;
    unsigned mask = data[0];
    char *copy = malloc(size);
    CHECK(copy != NULL);
    memcpy(copy, data + 1, size - 1);
    struct gh_http_header h[MAX_LINES];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size - 1 && n < MAX_LINES; i++) {
        if (i == size - 1 || copy[i] == '\n') {
            static const char xff[] = "X-Forwarded-For", other[] = "X-Other";
            bool is = (mask >> (n % 8)) & 1;
            h[n].name = is ? gh_str_make(xff, sizeof(xff) - 1) : gh_str_make(other, sizeof(other) - 1);
            h[n].value = gh_str_make(copy + start, i - start);
            n++;
            start = i + 1;
        }
    }
    struct gh_client c;
    memset(&c, 0, sizeof(c));
    if (gh_realip_walk(&trusted, h, n, gh_str_make("x-forwarded-for", 15), &c)) {
        CHECK(c.has_key);
        CHECK(memchr(c.text, '\0', sizeof(c.text)) != NULL);
        struct gh_client again;
        CHECK(gh_realip_parse(gh_str_make(c.text, strlen(c.text)), &again) == 0);
        CHECK(memcmp(again.key, c.key, 16) == 0 && strcmp(again.text, c.text) == 0);
    }
    free(copy);
    return 0;
}
