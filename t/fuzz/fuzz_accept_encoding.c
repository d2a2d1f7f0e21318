/*
 * fuzz_accept_encoding.c - libFuzzer harness for the Accept-Encoding parser
 * and the coding choice (modules/compress_accept.c).
 *
 * Input: byte 0 is the set of codecs switched on (low three bits); the rest
 * is field values split at '\n' (several Accept-Encoding fields).
 * Invariants:
 *  - every weight is -1 (not named) or 0..1000;
 *  - parsing the fields one by one equals parsing them joined with ',';
 *  - upper-casing the input changes nothing (names and "q" are
 *    case-insensitive);
 *  - the choice is -1 or a codec that is on, weighs more than 0 (its own
 *    weight or "*"'s), weighs no less than identity when that is named or
 *    covered by "*", and no codec on weighs more (ties: the lower index).
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "modules/compress.h"
#include "fuzz.h"

static int eff(const struct gh_accept_encoding *ae, int c)
{
    if (ae->q[c] >= 0)
        return ae->q[c];
    return ae->q[GH_CODING_ANY] >= 0 ? ae->q[GH_CODING_ANY] : 0;
}

static void parse_lines(struct gh_accept_encoding *ae, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++)
        if (i == len || s[i] == '\n') {
            gh_accept_encoding_parse(ae, s + start, i - start);
            start = i + 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned enabled = data[0] & 7;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;

    struct gh_accept_encoding a, b, c;
    gh_accept_encoding_init(&a);
    parse_lines(&a, s, len);
    for (int i = 0; i < GH_ACCEPT_SLOTS; i++)
        CHECK(a.q[i] >= -1 && a.q[i] <= 1000);

    char *joined = malloc(len ? len : 1), *upper = malloc(len ? len : 1);
    CHECK(joined != NULL && upper != NULL);
    for (size_t i = 0; i < len; i++) {
        joined[i] = s[i] == '\n' ? ',' : s[i];
        upper[i] = (char)toupper((unsigned char)s[i]);
    }
    gh_accept_encoding_init(&b);
    gh_accept_encoding_parse(&b, joined, len);
    gh_accept_encoding_init(&c);
    parse_lines(&c, upper, len);
    CHECK(memcmp(&a, &b, sizeof(a)) == 0);
    CHECK(memcmp(&a, &c, sizeof(a)) == 0);
    free(joined);
    free(upper);

    int ch = gh_accept_encoding_choose(&a, enabled);
    if (ch >= 0) {
        CHECK(ch < GH_NCODINGS && (enabled & (1u << ch)));
        CHECK(eff(&a, ch) > 0);
        bool id_named = a.q[GH_CODING_IDENTITY] >= 0 || a.q[GH_CODING_ANY] >= 0;
        CHECK(!id_named || eff(&a, GH_CODING_IDENTITY) <= eff(&a, ch));
        for (int k = 0; k < GH_NCODINGS; k++)
            if (enabled & (1u << k))
                CHECK(eff(&a, k) < eff(&a, ch) || (eff(&a, k) == eff(&a, ch) && k >= ch));
    } else {
        CHECK(ch == -1);
        /* nothing on is acceptable, or identity weighs more than the best */
        int best = 0;
        for (int k = 0; k < GH_NCODINGS; k++)
            if ((enabled & (1u << k)) && eff(&a, k) > best)
                best = eff(&a, k);
        bool id_named = a.q[GH_CODING_IDENTITY] >= 0 || a.q[GH_CODING_ANY] >= 0;
        CHECK(best == 0 || (id_named && eff(&a, GH_CODING_IDENTITY) > best));
    }
    return 0;
}
