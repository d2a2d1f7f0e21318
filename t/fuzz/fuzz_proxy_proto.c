/*
 * fuzz_proxy_proto.c - libFuzzer harness for gh_pp_parse.
 *
 * Parses the input (an exact-size heap copy, so ASan sees any overread),
 * then checks that the verdict is consistent over prefixes: every prefix
 * shorter than a complete header needs more, the header alone gives the
 * same result, and bytes after it change nothing; an error stays an error
 * whatever follows.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/proxy_proto.h"
#include "fuzz.h"

static int parse(const uint8_t *data, size_t len, struct gh_pp_result *r)
{
    uint8_t *copy = malloc(len ? len : 1);
    CHECK(copy != NULL);
    memcpy(copy, data, len);
    memset(r, 0, sizeof(*r));
    int rc = gh_pp_parse(copy, len, r);
    free(copy);
    return rc;
}

static bool same(const struct gh_pp_result *a, const struct gh_pp_result *b)
{
    return a->consumed == b->consumed && a->version == b->version && a->family == b->family
           && memcmp(&a->src, &b->src, sizeof(a->src)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gh_pp_result whole, r;
    int rc = parse(data, size, &whole);
    CHECK(rc == GH_PP_DONE || rc == GH_PP_NEED_MORE || rc == GH_PP_ERROR);
    if (rc == GH_PP_NEED_MORE)
        CHECK(size < GH_PP_V2_MAX);
    if (rc == GH_PP_DONE) {
        CHECK(whole.consumed > 0 && whole.consumed <= size);
        CHECK(whole.consumed <= (whole.version == 1 ? GH_PP_V1_MAX : GH_PP_V2_MAX));
        CHECK(whole.family == AF_UNSPEC || whole.family == AF_INET || whole.family == AF_INET6);
        if (whole.family != AF_UNSPEC)
            CHECK(whole.src.ss_family == whole.family);
        CHECK(parse(data, whole.consumed, &r) == GH_PP_DONE && same(&r, &whole));
    }
    /* Prefixes: need more until the verdict, then the same verdict. */
    size_t limit = rc == GH_PP_DONE ? whole.consumed : size;
    size_t step = limit > 256 ? limit / 64 : 1;
    for (size_t i = 0; i < limit; i += step) {
        int p = parse(data, i, &r);
        if (rc == GH_PP_DONE)
            CHECK(p == GH_PP_NEED_MORE);
        else
            CHECK(p == GH_PP_NEED_MORE || p == GH_PP_ERROR);
        if (p == GH_PP_ERROR)
            CHECK(rc == GH_PP_ERROR);
    }
    return 0;
}
