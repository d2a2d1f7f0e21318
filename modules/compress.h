/*
 * compress.h - response compression (gzip, br, zstd) as a body filter
 * (server/filter.h), and the Accept-Encoding negotiation it uses.
 *
 * The rules (which responses, which coding, what the head becomes) are in
 * compress.c; the three codecs behind one streaming interface in
 * compress_codec.c; the Accept-Encoding parser in compress_accept.c.
 */
#ifndef GH_COMPRESS_H
#define GH_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

/* The codings, in the order of preference when the client weighs them
 * equally (the smallest output first). */
enum gh_coding {
    GH_CODING_ZSTD = 0,
    GH_CODING_BR,
    GH_CODING_GZIP,
    GH_NCODINGS,
    GH_CODING_IDENTITY = GH_NCODINGS,   /* only in struct gh_accept_encoding */
    GH_CODING_ANY,                      /* "*" */
    GH_ACCEPT_SLOTS,
};

/* What an Accept-Encoding field (or several) says, per coding: the weight
 * in thousandths (0..1000), or -1 when the coding is not named. */
struct gh_accept_encoding {
    int16_t q[GH_ACCEPT_SLOTS];
};

/* Nothing named yet. */
void gh_accept_encoding_init(struct gh_accept_encoding *ae);
/* Add one Accept-Encoding field value (RFC 9110 12.5.3): codings with
 * optional ";q=" weights, case-insensitive, "x-gzip" as gzip; a coding
 * named twice keeps its lower weight; an element that does not parse
 * (bad token, bad qvalue) is ignored. Never fails. */
void gh_accept_encoding_parse(struct gh_accept_encoding *ae, const char *s, size_t len);
/* The coding to use among those in `enabled` (bit 1 << GH_CODING_x): the
 * one with the highest weight above 0 (a coding not named takes the
 * weight of "*", if named), ties going to zstd, then br, then gzip; and
 * none (-1) when identity, named or covered by "*", weighs more than it
 * (identity not named at all is acceptable but states no preference). */
int gh_accept_encoding_choose(const struct gh_accept_encoding *ae, unsigned enabled);

struct gh_req;
/* The coding the compression filter chooses for r's Accept-Encoding among
 * the codings switched on (as enum gh_coding), or -1 for none (identity).
 * The cache keys its Accept-Encoding variants by it. */
int gh_compress_coding(const struct gh_req *r);

struct gh_body_filter;
/* The compression filter (server/filter.c lists it). */
extern const struct gh_body_filter gh_compress_filter;

#endif
