/*
 * str.h - non-owning strings (pointer + length) and small string helpers
 * used by the parsers and the header code.
 */
#ifndef GH_STR_H
#define GH_STR_H

#include <string.h>
#include "common/gh.h"

struct gh_str {
    const char *p;
    size_t len;
};

#define GH_STR(lit) ((struct gh_str){ (lit), sizeof(lit) - 1 })

static inline struct gh_str gh_str_make(const char *p, size_t len)
{
    return (struct gh_str){ p, len };
}
static inline bool gh_str_eq(struct gh_str a, struct gh_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}
/* ASCII case-insensitive equality. */
bool gh_str_caseeq(struct gh_str a, struct gh_str b);
static inline bool gh_str_caseeq_lit(struct gh_str a, const char *lit)
{
    return gh_str_caseeq(a, gh_str_make(lit, strlen(lit)));
}
/* ASCII lower-case of one byte. */
static inline char gh_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}
/* Trim spaces and tabs at both ends. */
struct gh_str gh_str_trim(struct gh_str s);
/* Parse a non-negative decimal integer that is the whole string, with no
 * sign or spaces; -1 on anything else or on overflow past INT64_MAX. */
int64_t gh_str_to_u63(struct gh_str s);
/* Does the comma-separated list (HTTP #token list) contain token,
 * case-insensitively? "keep-alive, Upgrade" contains "upgrade". */
bool gh_str_list_has(struct gh_str list, const char *token);

/* Percent-decode s into out (size bytes, NUL-terminated). 0, or -1 on a bad
 * escape, a decoded NUL, or when it does not fit. */
int gh_str_pct_decode(struct gh_str s, char *out, size_t size);

/* v in decimal at out, no NUL (at most 20 bytes); returns the length. For
 * hot paths where snprintf costs hundreds of instructions. */
size_t gh_str_u64(char *out, uint64_t v);
/* v's 16 nibbles as lower-case hex at out, the lowest nibble first (no NUL):
 * a word at a time, for ids made per request. */
void gh_str_hex64(char *out, uint64_t v);

/* snprintf that never overruns and returns the bytes actually written
 * (clamped to size - 1); size must be > 0. */
size_t gh_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
