/*
 * http1_chunked.c - the chunked transfer-coding decoder (RFC 9112 7.1),
 * in place and restartable at any byte. See http1_parse.h.
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *
 * Strict: at least one and at most 16 hex digits, sizes up to 2^62, no
 * whitespace after the size unless a ';' follows, extension names and
 * values checked (token or quoted-string), exactly CRLF (or a bare LF)
 * after the data, trailer fields checked like header fields (no obs-fold)
 * and dropped. Size lines are bounded by GH_CHUNK_LINE_MAX bytes and the
 * trailer section by GH_CHUNK_TRAILERS_MAX.
 */
#include "server/http1_parse.h"
#include "server/http1_ctype.h"

enum {
    /* the chunk-size line; all these count against GH_CHUNK_LINE_MAX */
    C_SIZE = 0,      /* hex digits (the first one required) */
    C_SIZE_BWS,      /* whitespace after the size: only before ';' */
    C_EXT_PRE_NAME,  /* after ';' */
    C_EXT_NAME,      /* in the name */
    C_EXT_BWS_EQ,    /* whitespace after the name: '=' or ';' must follow */
    C_EXT_PRE_VAL,   /* after '=' */
    C_EXT_TOKEN,     /* in a token value */
    C_EXT_QS,        /* in a quoted-string value */
    C_EXT_QP,        /* after a backslash in it */
    C_EXT_VAL_END,   /* after the closing quote */
    C_EXT_AFTER_VAL, /* whitespace after a value: ';' must follow */
    C_SIZE_LF,       /* CR seen at the end of the size line */
    /* data */
    C_DATA,
    C_DATA_CR, /* the CRLF after the data */
    C_DATA_LF,
    /* the trailer section; these count against GH_CHUNK_TRAILERS_MAX */
    C_TR_START,
    C_TR_NAME,
    C_TR_VALUE,
    C_TR_LF,
    C_FINAL_LF,
    C_DONE,
    C_ERROR,
};

#define SIZE_MAX_VALUE (UINT64_C(1) << 62)

static inline bool is_ws(unsigned char c) { return c == ' ' || c == '\t'; }

/* The decoder proper; with move false (gh_chunked_scan) data bytes are
 * counted but left where they are, and buf is only read. Inlined into both
 * callers, so the copy test costs nothing. */
static inline __attribute__((always_inline)) ssize_t
run(struct gh_chunked_decoder *d, char *buf, size_t *len, const bool move)
{
    size_t in = 0, out = 0, n = *len;
    int st = d->state;

    if (st == C_ERROR) goto fail;
    while (in < n && st != C_DONE) {
        if (st == C_DATA) {
            size_t k = n - in;
            if ((uint64_t)k > d->remaining) k = (size_t)d->remaining;
            if (move && out != in) memmove(buf + out, buf + in, k);
            out += k;
            in += k;
            d->remaining -= k;
            if (d->remaining == 0) st = C_DATA_CR;
            continue;
        }
        unsigned char c = (unsigned char)buf[in++];
        if (st < C_DATA) {
            if (++d->line_len > GH_CHUNK_LINE_MAX) goto fail;
        } else if (st >= C_TR_START) {
            if (++d->line_len > GH_CHUNK_TRAILERS_MAX) goto fail;
        }

        switch (st) {
        case C_SIZE:
            if (gh_http1_is(c, GH_CT_HEX)) {
                /* in this state line_len counts the digits, this one included */
                unsigned v = c <= '9' ? (unsigned)c - '0' : (unsigned)(c | 0x20) - 'a' + 10;
                if (d->line_len > 16 || d->remaining > (SIZE_MAX_VALUE >> 4)) goto fail;
                d->remaining = d->remaining * 16 + v;
                if (d->remaining > SIZE_MAX_VALUE) goto fail;
                break;
            }
            if (d->line_len == 1) goto fail; /* no digit */
            if (c == ';')
                st = C_EXT_PRE_NAME;
            else if (is_ws(c))
                st = C_SIZE_BWS;
            else
                goto line_end;
            break;
        case C_SIZE_BWS:
            if (c == ';')
                st = C_EXT_PRE_NAME;
            else if (!is_ws(c))
                goto fail;
            break;
        case C_EXT_PRE_NAME:
            if (gh_http1_is(c, GH_CT_TCHAR))
                st = C_EXT_NAME;
            else if (!is_ws(c))
                goto fail;
            break;
        case C_EXT_NAME:
            if (gh_http1_is(c, GH_CT_TCHAR)) break;
            if (c == '=')
                st = C_EXT_PRE_VAL;
            else if (c == ';')
                st = C_EXT_PRE_NAME;
            else if (is_ws(c))
                st = C_EXT_BWS_EQ;
            else
                goto line_end;
            break;
        case C_EXT_BWS_EQ:
            if (c == '=')
                st = C_EXT_PRE_VAL;
            else if (c == ';')
                st = C_EXT_PRE_NAME;
            else if (!is_ws(c))
                goto fail;
            break;
        case C_EXT_PRE_VAL:
            if (c == '"')
                st = C_EXT_QS;
            else if (gh_http1_is(c, GH_CT_TCHAR))
                st = C_EXT_TOKEN;
            else if (!is_ws(c))
                goto fail;
            break;
        case C_EXT_TOKEN:
            if (gh_http1_is(c, GH_CT_TCHAR)) break;
            goto after_value;
        case C_EXT_QS:
            if (c == '"')
                st = C_EXT_VAL_END;
            else if (c == '\\')
                st = C_EXT_QP;
            else if (!gh_http1_is(c, GH_CT_QDTEXT))
                goto fail;
            break;
        case C_EXT_QP: /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
            if (!gh_http1_is(c, GH_CT_VALUE)) goto fail;
            st = C_EXT_QS;
            break;
        case C_EXT_VAL_END:
        after_value:
            if (c == ';')
                st = C_EXT_PRE_NAME;
            else if (is_ws(c))
                st = C_EXT_AFTER_VAL;
            else
                goto line_end;
            break;
        case C_EXT_AFTER_VAL:
            if (c == ';')
                st = C_EXT_PRE_NAME;
            else if (!is_ws(c))
                goto fail;
            break;
        line_end: /* c ends a size line that may end here */
            if (c == '\r') {
                st = C_SIZE_LF;
                break;
            }
            if (c != '\n') goto fail;
            /* fall through */
        case C_SIZE_LF:
            if (c != '\n') goto fail;
            d->line_len = 0;
            st = d->remaining ? C_DATA : C_TR_START;
            break;
        case C_DATA_CR:
            if (c == '\r')
                st = C_DATA_LF;
            else if (c == '\n')
                st = C_SIZE;
            else
                goto fail;
            break;
        case C_DATA_LF:
            if (c != '\n') goto fail;
            st = C_SIZE;
            break;
        case C_TR_START:
            if (c == '\r')
                st = C_FINAL_LF;
            else if (c == '\n')
                st = C_DONE;
            else if (gh_http1_is(c, GH_CT_TCHAR))
                st = C_TR_NAME;
            else
                goto fail; /* obs-fold, whitespace, CTL */
            break;
        case C_TR_NAME:
            if (c == ':')
                st = C_TR_VALUE;
            else if (!gh_http1_is(c, GH_CT_TCHAR))
                goto fail;
            break;
        case C_TR_VALUE:
            if (c == '\r')
                st = C_TR_LF;
            else if (c == '\n')
                st = C_TR_START;
            else if (!gh_http1_is(c, GH_CT_VALUE))
                goto fail;
            break;
        case C_TR_LF:
            if (c != '\n') goto fail;
            st = C_TR_START;
            break;
        case C_FINAL_LF:
            if (c != '\n') goto fail;
            st = C_DONE;
            break;
        default:
            goto fail;
        }
    }
    d->state = st;
    d->done = st == C_DONE;
    *len = out;
    return (ssize_t)in;
fail:
    d->state = C_ERROR;
    *len = 0;
    return GH_ERROR;
}

ssize_t gh_chunked_decode(struct gh_chunked_decoder *d, char *buf, size_t *len)
{
    return run(d, buf, len, true);
}

ssize_t gh_chunked_scan(struct gh_chunked_decoder *d, const char *buf, size_t *len)
{
    return run(d, (char *)buf, len, false);
}
