/*
 * fuzz_range.c - libFuzzer harness for the cache's Range and conditional
 * parsers (modules/cache_cond.c).
 *
 * Input: the first 2 bytes give the representation's length (0..65535),
 * the rest is a Range value (and, as it is, an If-None-Match list and an
 * If-Range value). Invariants:
 *  - a part lies inside the representation: first <= last < total;
 *  - no part for an empty representation;
 *  - the result does not depend on the case of the unit, nor on blanks
 *    added at the ends;
 *  - a list that matches an ETag still matches with another element
 *    appended, and "*" appended makes any list that parses match;
 *  - If-Range never matches a weak ETag.
 */
#include <stdlib.h>
#include <string.h>

#include "modules/cache_cond.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint64_t total = (uint64_t)data[0] << 8 | data[1];
    const char *s = (const char *)data + 2;
    size_t n = size - 2;
    uint64_t f = 0, l = 0;

    enum gh_range_rc rc = gh_cache_range_parse(s, n, total, &f, &l);
    CHECK(rc == GH_RANGE_WHOLE || rc == GH_RANGE_PART || rc == GH_RANGE_UNSATISFIABLE);
    if (rc == GH_RANGE_PART)
        CHECK(total > 0 && f <= l && l < total);
    if (total == 0)
        CHECK(rc == GH_RANGE_WHOLE);

    char *t = malloc(n + 4);
    CHECK(t != NULL);
    t[0] = ' ';
    memcpy(t + 1, s, n);
    t[n + 1] = '\t';
    for (size_t i = 1; i < n + 1 && i < 6; i++)
        if (t[i] >= 'a' && t[i] <= 'z')
            t[i] = (char)(t[i] - 32);    /* "bytes" -> "BYTES" */
    uint64_t f2 = 0, l2 = 0;
    enum gh_range_rc rc2 = gh_cache_range_parse(t, n + 2, total, &f2, &l2);
    /* upper-casing may also have touched the first bytes after "bytes=",
     * which are digits or '-' in any valid range */
    if (n >= 6 && memchr(s, '=', 6) == s + 5) {
        CHECK(rc2 == rc);
        if (rc == GH_RANGE_PART)
            CHECK(f2 == f && l2 == l);
    }

    static const char etag[] = "\"abc\"", weak[] = "W/\"abc\"";
    bool m = gh_cache_inm_match(s, n, etag, 5);
    memcpy(t, s, n);
    memcpy(t + n, ",*", 2);
    bool star = gh_cache_inm_match(t, n + 2, etag, 5);
    if (m)
        CHECK(star);
    CHECK(!gh_cache_if_range(s, n, weak, 7, -1));
    free(t);
    return 0;
}
