/*
 * http1_parse.h - HTTP/1.1 message parsers (RFC 9112) for client requests
 * and upstream responses, plus the chunked decoder.
 *
 * The parsers work in place over the read buffer: every gh_str points into
 * it, nothing is copied. They are incremental: call again with the same
 * (grown) buffer after each read; the parser remembers how far it scanned
 * for the end of the head, so a head that arrives byte by byte costs O(n).
 *
 * Strict where leniency enables request smuggling: both Content-Length and
 * Transfer-Encoding, differing duplicate Content-Length, obs-fold, bare CR,
 * whitespace before the colon, invalid bytes in names or values, and
 * malformed request lines are errors. Lines may end in CRLF or a bare LF.
 * A request with a "Content_Length" or "Transfer_Encoding" field (which
 * CGI-style upstreams fold into the real one) is refused too.
 *
 * Request targets: origin-form; absolute-form with an http or https
 * scheme and no userinfo; asterisk-form for OPTIONS only; authority-form
 * (host:port) for CONNECT only. Target bytes are 0x21-0x7e except '#'.
 */
#ifndef GH_HTTP1_PARSE_H
#define GH_HTTP1_PARSE_H

#include "common/gh.h"
#include "common/str.h"

enum gh_method {
    GH_M_OTHER = 0, GH_M_GET, GH_M_HEAD, GH_M_POST, GH_M_PUT, GH_M_DELETE,
    GH_M_OPTIONS, GH_M_PATCH, GH_M_CONNECT, GH_M_TRACE,
};

struct gh_http_header {
    struct gh_str name, value;          /* value has surrounding OWS trimmed */
};

struct gh_http1_limits {
    size_t max_header_size;             /* request/status line + headers; over it: 431 (502 for responses) */
    size_t max_uri_size;                /* request target; over it: 414 */
    size_t max_headers;                 /* header count; over it: 431; also the capacity of headers[] */
};

/* What the parser derived from the headers, shared by requests and responses. */
struct gh_http1_framing {
    int64_t content_length;             /* -1 when absent */
    bool chunked;                       /* Transfer-Encoding ends in chunked */
    bool has_te;                        /* any Transfer-Encoding header */
    bool conn_close;                    /* Connection: close */
    bool conn_keep_alive;               /* Connection: keep-alive */
    bool conn_upgrade;                  /* Connection lists "upgrade" */
    struct gh_str upgrade;              /* Upgrade header value, or empty */
};

struct gh_http1_request {
    struct gh_str method;
    enum gh_method method_id;
    struct gh_str target;               /* as sent */
    struct gh_str path;                 /* origin-form path (from absolute-form too), no query;
                                         * "*" for OPTIONS *, empty for CONNECT; an absolute-form
                                         * target with an empty path gets "/" (a static string,
                                         * the only field not pointing into buf) */
    struct gh_str query;                /* after '?', without it; empty if none */
    struct gh_str authority;            /* absolute-form authority (http:// or https:// only), the
                                         * CONNECT authority-form target, else empty */
    int version_minor;                  /* HTTP/1.x */
    struct gh_http_header *headers;     /* caller-supplied array of limits.max_headers */
    size_t nheaders;
    struct gh_str host;                 /* the single Host value (may be empty on 1.0) */
    bool expect_continue;               /* Expect: 100-continue (HTTP/1.1 only; ignored on 1.0, RFC 9110 10.1.1) */
    bool expect_other;                  /* an Expect header with any other value (the caller answers 417);
                                         * the raw value is in headers[] (gh_http1_find_header) */
    struct gh_http1_framing framing;
    size_t head_len;                    /* bytes of the head, blank line included */
};

struct gh_http1_response {
    int status;                         /* 100..599 */
    struct gh_str reason;
    int version_minor;
    struct gh_http_header *headers;
    size_t nheaders;
    struct gh_http1_framing framing;
    size_t head_len;
};

/* Parser state kept between calls; zero it (gh_http1_parser_reset) before
 * each new message. Besides the end-of-head scan it keeps an incremental
 * scan of the request line, so a too long target is refused (414) before
 * the head is complete; every scan is O(n) however the bytes arrive. */
struct gh_http1_parser {
    size_t scanned;                     /* bytes already searched for the end of the head */
    size_t start;                       /* first byte of the start line (after leading empty lines) */
    size_t line_end;                    /* offset of the LF ending the start line; 0 while unknown */
    size_t rl_scan;                     /* request line searched up to here for the SPs */
    size_t uri_start, uri_end;          /* request target bounds as far as known; 0 while unknown */
    bool started;                       /* leading empty lines skipped, start is valid */
};

static inline void gh_http1_parser_reset(struct gh_http1_parser *p)
{
    *p = (struct gh_http1_parser){ 0 };
}

/*
 * Parse a request head from buf[0..len). Returns:
 *   > 0      the head is complete; that many bytes are its length (== req->head_len)
 *   GH_AGAIN (-2) more bytes are needed
 *   -STATUS  the request must be refused with that status and the
 *            connection closed: -400 malformed or ambiguous, -414 target too
 *            long, -431 head too large or too many headers, -501 unknown
 *            transfer coding before chunked, -505 HTTP major version not 1.
 * (405 for CONNECT/TRACE and 417 for Expect are policy left to the caller:
 *  the parser reports method_id and expect_continue / the raw header.)
 * leading empty lines before the request line are skipped (RFC 9112 2.2)
 * and count in head_len. buf must be the same buffer each call, grown at
 * its end (the offsets kept in p refer to it); max_header_size must fit an
 * int. When both the target and the head are over their limits, the limit
 * passed first, byte-wise, decides (414 or 431), so the status does not
 * depend on how the bytes were split across reads.
 */
int gh_http1_parse_request(struct gh_http1_parser *p, const char *buf, size_t len,
                           const struct gh_http1_limits *lim, struct gh_http1_request *req);

/*
 * Parse a response head (from an upstream). Returns > 0 (head length),
 * GH_AGAIN, or -502 for anything malformed or over max_header_size.
 */
int gh_http1_parse_response(struct gh_http1_parser *p, const char *buf, size_t len,
                            const struct gh_http1_limits *lim, struct gh_http1_response *resp);

/* The method's id for name m[0..n) (GH_M_OTHER when not a known one). */
enum gh_method gh_http_method_id(const char *m, size_t n);

/* Find a header by name (case-insensitive); NULL when absent. */
const struct gh_http_header *gh_http1_find_header(const struct gh_http_header *h, size_t n,
                                                  const char *name);

/*
 * Chunked transfer-coding decoder (RFC 9112 7.1), in place: the data bytes
 * of buf[0..len) are moved to the front of buf and the framing (sizes,
 * extensions, CRLFs, trailers) removed. Chunk extensions are validated and
 * dropped, trailers are validated and dropped. Chunk sizes over 2^62 or
 * with invalid digits are errors.
 */
struct gh_chunked_decoder {
    int state;
    uint64_t remaining;                 /* data bytes left in the current chunk (the size being read
                                         * while on a size line) */
    size_t line_len;                    /* bytes of the current size line, bounded by
                                         * GH_CHUNK_LINE_MAX; in the trailer section, bytes of
                                         * all trailers, bounded by GH_CHUNK_TRAILERS_MAX */
    bool done;                          /* last chunk and trailers consumed */
};
#define GH_CHUNK_LINE_MAX 4096          /* a chunk-size line with its extensions */
#define GH_CHUNK_TRAILERS_MAX 8192      /* the whole trailer section */
static inline void gh_chunked_reset(struct gh_chunked_decoder *d)
{
    *d = (struct gh_chunked_decoder){ 0 };
}
/* Decode buf[0..*len). On return *len is the number of data bytes now at the
 * front of buf. Returns the number of input bytes consumed (any input after
 * the end of the body is left unconsumed and must be treated as the next
 * message), or GH_ERROR on malformed input. d->done tells when the body
 * ended. */
ssize_t gh_chunked_decode(struct gh_chunked_decoder *d, char *buf, size_t *len);
/* Check buf[0..*len) as gh_chunked_decode would, without moving a byte
 * (buf is only read): same result, *len the number of data bytes in it.
 * Run it on a copy of the decoder to validate bytes that are already
 * buffered before anything of the message is forwarded. */
ssize_t gh_chunked_scan(struct gh_chunked_decoder *d, const char *buf, size_t *len);

#endif
