/*
 * http1_ctype.h - byte classes shared by the HTTP/1 head parser and the
 * chunked decoder (private to server/http1_*.c). One table lookup per byte.
 */
#ifndef GH_HTTP1_CTYPE_H
#define GH_HTTP1_CTYPE_H

#include <stdint.h>

enum {
    GH_CT_TCHAR = 0x01,  /* token character (RFC 9110 5.6.2) */
    GH_CT_VALUE = 0x02,  /* field-value byte: VCHAR, obs-text, SP, HTAB */
    GH_CT_TARGET = 0x04, /* request-target byte: 0x21..0x7e except '#' */
    GH_CT_HOST = 0x08,   /* reg-name byte: unreserved, sub-delims, '%' */
    GH_CT_HEX = 0x10,    /* HEXDIG */
    GH_CT_QDTEXT = 0x20, /* qdtext (RFC 9110 5.6.4) */
    GH_CT_DIGIT = 0x40,  /* DIGIT */
};

extern const uint8_t gh_http1_ctype[256];

static inline int gh_http1_is(unsigned char c, unsigned mask)
{
    return gh_http1_ctype[c] & mask;
}

#endif
