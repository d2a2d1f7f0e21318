/*
 * http1_priv.h - an HTTP/1 request as http1.c (reading heads, own answers,
 * keep-alive) and http1_io.c (its body source and response sink) share it.
 * Not for other files: they see struct gh_req and r->io.
 */
#ifndef GH_HTTP1_PRIV_H
#define GH_HTTP1_PRIV_H

#include "common/outq.h"
#include "server/http1.h"

enum h1_body_mode { H1_BODY_NONE = 0, H1_BODY_LENGTH, H1_BODY_CHUNKED };

/* An HTTP/1 request: the protocol-neutral request and what only HTTP/1
 * needs to carry it. One per connection at a time; r is its first member,
 * so the free list holds requests. */
struct h1_req {
    struct gh_req r;
    struct gh_http1_parser parser;      /* the head's */

    /* request body source (http1_io.c) */
    uint8_t body_mode;                  /* enum h1_body_mode */
    uint64_t body_left;                 /* H1_BODY_LENGTH: bytes still to come */
    uint64_t body_total;                /* H1_BODY_CHUNKED: data bytes so far */
    struct gh_chunked_decoder body_dec;
    char *body_after;                   /* c->h1.in resumes here when the span is consumed */

    /* response sink (http1_io.c): what waits for the client socket */
    struct gh_outq out;
    bool chunked_out;                   /* the body goes out chunked */
    char chunk_hdr[24];
};

static inline struct h1_req *h1(struct gh_req *r)
{
    return GH_CONTAINER_OF(r, struct h1_req, r);
}

/* HTTP/1's body source and response sink (http1_io.c). */
extern const struct gh_req_io gh_http1_req_io;

/* Write h as an HTTP/1.1 response head (status line, fields, framing) in
 * r->pool; chunked: announce a chunked body. 0 or -1. */
int gh_http1_write_head(struct gh_req *r, const struct gh_resp_head *h, bool chunked, char **head,
                        size_t *len);

#endif
