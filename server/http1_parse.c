/*
 * http1_parse.c - HTTP/1.1 request and response head parsers (RFC 9112,
 * RFC 9110 framing rules). See http1_parse.h for the contract.
 *
 * Two stages:
 *  1. an incremental scan (memchr for LF) finds the end of the head and,
 *     for requests, the bounds of the target, remembering where it stopped;
 *     this is where the size limits (431, 414) are enforced, so they hold
 *     before the head is complete;
 *  2. once the head is complete, one pass over it validates every byte
 *     with table lookups. The head is known to end in LF, which no byte
 *     class contains, so the inner loops need no bounds checks.
 *
 * The early limits are decided as if bytes were examined in order: a
 * target that becomes too long at byte uri_start + max_uri + 1 is a 414
 * unless the head had already passed max_header_size bytes (431). So a
 * head gives the same verdict however it is split across reads.
 */
#include "server/http1_parse.h"
#include "server/http1_ctype.h"

/* Byte classes, generated; see http1_ctype.h for the bits. */
const uint8_t gh_http1_ctype[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x00 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x10 */
    0x22, 0x2f, 0x06, 0x23, 0x2f, 0x2f, 0x2f, 0x2f, 0x2e, 0x2e, 0x2f, 0x2f, 0x2e, 0x2f, 0x2f, 0x26, /* 0x20 */
    0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x26, 0x2e, 0x26, 0x2e, 0x26, 0x26, /* 0x30 */
    0x26, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, /* 0x40 */
    0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x26, 0x06, 0x26, 0x27, 0x2f, /* 0x50 */
    0x27, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, /* 0x60 */
    0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x26, 0x27, 0x26, 0x2f, 0x00, /* 0x70 */
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, /* 0x80 */
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, /* 0x90 */
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, /* 0xa0 */
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, /* 0xb0 */
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, /* 0xc0 */
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, /* 0xd0 */
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, /* 0xe0 */
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, /* 0xf0 */
};

typedef const unsigned char *ucp;

/* Skip bytes of a class, four at a time. Stops at the first byte outside
 * it; the caller guarantees such a byte exists (the head's final LF). */
static inline ucp skip_class(ucp s, unsigned mask)
{
    for (;;) {
        if (!(gh_http1_ctype[s[0]] & mask)) return s;
        if (!(gh_http1_ctype[s[1]] & mask)) return s + 1;
        if (!(gh_http1_ctype[s[2]] & mask)) return s + 2;
        if (!(gh_http1_ctype[s[3]] & mask)) return s + 3;
        s += 4;
    }
}

#ifdef __SSE2__
#include <emmintrin.h>

/* skip_class for field values (GH_CT_VALUE), 16 bytes at a time while at
 * least 16 bytes are left before e: a block passes when it holds no CTL
 * but HTAB and no DEL. The tail and the stopping byte go the scalar way. */
static inline ucp skip_value(ucp s, ucp e)
{
    const __m128i bias = _mm_set1_epi8((char)0x80), ctl = _mm_set1_epi8((char)(0x20 ^ 0x80));
    const __m128i tab = _mm_set1_epi8('\t'), del = _mm_set1_epi8(0x7f);
    while (e - s >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i lt = _mm_cmplt_epi8(_mm_xor_si128(x, bias), ctl); /* x < 0x20, unsigned */
        __m128i bad = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(x, tab), lt),
                                   _mm_cmpeq_epi8(x, del));
        int m = _mm_movemask_epi8(bad);
        if (m) return s + __builtin_ctz((unsigned)m);
        s += 16;
    }
    return skip_class(s, GH_CT_VALUE);
}

/* The same for request-target bytes (GH_CT_TARGET: 0x21..0x7e but '#'). */
static inline ucp skip_target(ucp s, ucp e)
{
    const __m128i bias = _mm_set1_epi8((char)0x80);
    const __m128i lo = _mm_set1_epi8((char)(0x21 ^ 0x80)), hi = _mm_set1_epi8((char)(0x7e ^ 0x80));
    const __m128i hash = _mm_set1_epi8('#');
    while (e - s >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i b = _mm_xor_si128(x, bias);
        __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(b, lo), _mm_cmpgt_epi8(b, hi)),
                                   _mm_cmpeq_epi8(x, hash));
        int m = _mm_movemask_epi8(bad);
        if (m) return s + __builtin_ctz((unsigned)m);
        s += 16;
    }
    return skip_class(s, GH_CT_TARGET);
}
#else
static inline ucp skip_value(ucp s, ucp e)
{
    (void)e;
    return skip_class(s, GH_CT_VALUE);
}
static inline ucp skip_target(ucp s, ucp e)
{
    (void)e;
    return skip_class(s, GH_CT_TARGET);
}
#endif

/* Case-insensitive comparison with a lower-case literal of the same length. */
static bool ci_eq(const char *s, size_t n, const char *lit, size_t litn)
{
    if (n != litn) return false;
    for (size_t i = 0; i < n; i++)
        if (gh_lower(s[i]) != lit[i]) return false;
    return true;
}
#define CI_EQ(s, n, lit) ci_eq((s), (n), (lit), sizeof(lit) - 1)

static inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

/* Next element of a comma-separated list from *s..e, OWS-trimmed (may be
 * empty); false when the list is exhausted. */
static bool list_next(const char **s, const char *e, struct gh_str *out)
{
    const char *p = *s;
    if (p > e) return false;
    const char *c = memchr(p, ',', (size_t)(e - p));
    const char *end = c ? c : e;
    *s = c ? c + 1 : e + 1;
    while (p < end && is_ows(*p)) p++;
    while (end > p && is_ows(end[-1])) end--;
    *out = gh_str_make(p, (size_t)(end - p));
    return true;
}

/* ---------------------------------------------------------------------- */
/* Stage 1: incremental scans                                              */

/* Find the end of the head in buf[0..len). Returns 1 (found, *end set),
 * 0 (more bytes needed) or -1 (the head is longer than max). */
static int find_head_end(struct gh_http1_parser *p, const char *buf, size_t len, size_t max,
                         size_t *end)
{
    size_t lim = len < max ? len : max;
    size_t i = p->scanned;

    if (!p->started) {
        while (i < lim) {
            if (buf[i] == '\n') {
                i++;
                continue;
            }
            if (buf[i] == '\r') {
                if (i + 1 >= len) break;
                if (buf[i + 1] == '\n') {
                    i += 2;
                    continue;
                }
            }
            p->started = true;
            p->start = i;
            break;
        }
        if (!p->started) {
            p->scanned = i;
            return len >= max ? -1 : 0;
        }
    }
    for (;;) {
        const char *lf = i < lim ? memchr(buf + i, '\n', lim - i) : NULL;
        if (!lf) {
            p->scanned = lim > i ? lim : i;
            return len >= max ? -1 : 0;
        }
        size_t j = (size_t)(lf - buf);
        if (!p->line_end) p->line_end = j; /* j > start >= 0: the start line is not empty */
        p->scanned = j;
        if (j + 1 >= len) return len >= max ? -1 : 0;
        if (buf[j + 1] == '\n') {
            *end = j + 2;
            break;
        }
        if (buf[j + 1] == '\r') {
            if (j + 2 >= len) return len >= max ? -1 : 0;
            if (buf[j + 2] == '\n') {
                *end = j + 3;
                break;
            }
        }
        i = j + 1;
    }
    return *end > max ? -1 : 1;
}

/* Advance the request-line scan; true when the target is known to be
 * longer than max_uri. The target region is [first SP + 1, next SP), cut
 * at the end of the line or of the data. */
static bool uri_too_long(struct gh_http1_parser *p, const char *buf, size_t len, size_t max_uri)
{
    size_t limit = p->line_end ? p->line_end : len;
    if (!p->uri_start) {
        size_t i = p->rl_scan > p->start ? p->rl_scan : p->start;
        const char *sp = i < limit ? memchr(buf + i, ' ', limit - i) : NULL;
        if (!sp) {
            p->rl_scan = limit > i ? limit : i;
            return false;
        }
        p->uri_start = (size_t)(sp - buf) + 1;
        p->rl_scan = p->uri_start;
    }
    if (!p->uri_end) {
        size_t i = p->rl_scan;
        const char *sp = i < limit ? memchr(buf + i, ' ', limit - i) : NULL;
        if (sp)
            p->uri_end = (size_t)(sp - buf);
        else
            p->rl_scan = limit > i ? limit : i;
    }
    size_t tend = p->uri_end ? p->uri_end : p->rl_scan;
    return tend - p->uri_start > max_uri;
}

/* ---------------------------------------------------------------------- */
/* Stage 2: header fields                                                  */

/* What the header loop collected, before the request/response rules. */
struct head_info {
    int64_t cl;
    bool cl_bad;
    bool te_bad;
    bool te_last_chunked;
    unsigned te_elems, te_chunked;
    unsigned host_count;
    bool host_bad;
    struct gh_str host;
    bool expect_continue, expect_other;
    bool underscore; /* Content_Length / Transfer_Encoding: see classify() */
    struct gh_http1_framing *fr;
};

/* Content-Length: 1*DIGIT, or a list of identical ones (RFC 9110 8.6). */
static void on_content_length(struct head_info *hi, struct gh_str v)
{
    const char *s = v.p, *e = v.p + v.len;
    struct gh_str el;
    if (v.len == 0) goto bad;
    while (list_next(&s, e, &el)) {
        if (el.len == 0) goto bad;
        int64_t n = 0;
        for (size_t i = 0; i < el.len; i++) {
            unsigned d = (unsigned char)el.p[i] - '0';
            if (d > 9 || n > (INT64_MAX - (int64_t)d) / 10) goto bad;
            n = n * 10 + (int64_t)d;
        }
        if (hi->cl >= 0 && hi->cl != n) goto bad;
        hi->cl = n;
    }
    return;
bad:
    hi->cl_bad = true;
}

/* Transfer-Encoding: transfer-coding = token *( OWS ";" OWS transfer-parameter ). */
static void on_transfer_encoding(struct head_info *hi, struct gh_str v)
{
    const char *s = v.p, *e = v.p + v.len;
    struct gh_str el;
    if (v.len == 0) {
        hi->te_bad = true;
        return;
    }
    while (list_next(&s, e, &el)) {
        size_t n = 0;
        while (n < el.len && gh_http1_is((unsigned char)el.p[n], GH_CT_TCHAR)) n++;
        bool params = false;
        if (n < el.len) {
            size_t k = n;
            while (k < el.len && is_ows(el.p[k])) k++;
            if (k == el.len || el.p[k] != ';') {
                hi->te_bad = true;
                return;
            }
            params = true;
        }
        if (n == 0) {
            hi->te_bad = true;
            return;
        }
        bool chunked = CI_EQ(el.p, n, "chunked");
        if (chunked && params) {
            hi->te_bad = true;
            return;
        }
        hi->te_elems++;
        hi->te_chunked += chunked;
        hi->te_last_chunked = chunked;
    }
}

static void on_connection(struct gh_http1_framing *fr, struct gh_str v)
{
    const char *s = v.p, *e = v.p + v.len;
    struct gh_str el;
    while (list_next(&s, e, &el)) {
        if (CI_EQ(el.p, el.len, "close"))
            fr->conn_close = true;
        else if (CI_EQ(el.p, el.len, "keep-alive"))
            fr->conn_keep_alive = true;
        else if (CI_EQ(el.p, el.len, "upgrade"))
            fr->conn_upgrade = true;
    }
}

/* uri-host [ ":" port ]; uri-host is an IP-literal or a reg-name (which
 * covers IPv4). No userinfo, no path, no spaces. */
static bool valid_authority(const char *s, size_t n, bool port_required)
{
    size_t i = 0;
    if (n == 0) return false;
    if (s[0] == '[') {
        for (i = 1; i < n && s[i] != ']'; i++)
            if (!gh_http1_is((unsigned char)s[i], GH_CT_HEX) && s[i] != ':' && s[i] != '.')
                return false;
        if (i == n || i == 1) return false;
        i++;
    } else {
        while (i < n && gh_http1_is((unsigned char)s[i], GH_CT_HOST)) i++;
        if (i == 0) return false;
    }
    if (i == n) return !port_required;
    if (s[i] != ':') return false;
    size_t digits = n - i - 1;
    if (digits > 5 || (port_required && digits == 0)) return false;
    for (i++; i < n; i++)
        if (!gh_http1_is((unsigned char)s[i], GH_CT_DIGIT)) return false;
    return true;
}

/* Equal to lit once '_' is read as '-'. CGI-style upstreams (and some
 * frameworks) fold "Transfer_Encoding" into "Transfer-Encoding", so a
 * request carrying such a twin of a framing header could be framed
 * differently behind us; requests with one are refused. */
static bool dash_eq(const char *s, size_t n, const char *lit)
{
    for (size_t i = 0; i < n; i++)
        if ((s[i] == '_' ? '-' : gh_lower(s[i])) != lit[i]) return false;
    return true;
}

/* Act on the fields that matter to framing and routing. */
static void classify(struct head_info *hi, const char *name, size_t nlen, struct gh_str v)
{
    switch (nlen) {
    case 4:
        if (CI_EQ(name, nlen, "host")) {
            if (hi->host_count++ == 0) hi->host = v;
            if (!valid_authority(v.p, v.len, false)) hi->host_bad = true;
        }
        break;
    case 6:
        if (CI_EQ(name, nlen, "expect")) {
            if (CI_EQ(v.p, v.len, "100-continue"))
                hi->expect_continue = true;
            else
                hi->expect_other = true;
        }
        break;
    case 7:
        if (CI_EQ(name, nlen, "upgrade") && hi->fr->upgrade.p == NULL) hi->fr->upgrade = v;
        break;
    case 10:
        if (CI_EQ(name, nlen, "connection")) on_connection(hi->fr, v);
        break;
    case 14:
        if (CI_EQ(name, nlen, "content-length"))
            on_content_length(hi, v);
        else if (dash_eq(name, nlen, "content-length"))
            hi->underscore = true;
        break;
    case 17:
        if (CI_EQ(name, nlen, "transfer-encoding")) {
            hi->fr->has_te = true;
            on_transfer_encoding(hi, v);
        } else if (dash_eq(name, nlen, "transfer-encoding")) {
            hi->underscore = true;
        }
        break;
    }
}

/* Parse header lines from *sp up to and including the empty line.
 * Returns 0, -400 (malformed) or -431 (more than cap fields). */
static int parse_fields(ucp *sp, ucp e, struct gh_http_header *h, size_t cap, size_t *nh,
                        struct head_info *hi)
{
    ucp s = *sp;
    size_t n = 0;
    for (;;) {
        if (*s == '\r') {
            if (s[1] != '\n') return -400;
            s += 2;
            break;
        }
        if (*s == '\n') {
            s++;
            break;
        }
        ucp name = s;
        s = skip_class(s, GH_CT_TCHAR); /* SP/HTAB first: obs-fold, refused here */
        if (s == name || *s != ':') return -400;
        size_t nlen = (size_t)(s - name);
        s++;
        while (*s == ' ' || *s == '\t') s++;
        ucp v = s;
        s = skip_value(s, e);
        ucp ve = s;
        if (*s == '\r') {
            if (s[1] != '\n') return -400;
            s += 2;
        } else if (*s == '\n') {
            s++;
        } else {
            return -400;
        }
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        if (n == cap) return -431;
        h[n].name = gh_str_make((const char *)name, nlen);
        h[n].value = gh_str_make((const char *)v, (size_t)(ve - v));
        classify(hi, (const char *)name, nlen, h[n].value);
        n++;
    }
    *nh = n;
    *sp = s;
    return 0;
}

/* "HTTP/" DIGIT "." DIGIT at s; returns the minor version, -1 if malformed
 * and -2 if well formed with a major other than 1. */
static int parse_version(ucp s)
{
    if (s[0] != 'H' || s[1] != 'T' || s[2] != 'T' || s[3] != 'P' || s[4] != '/') return -1;
    if (!gh_http1_is(s[5], GH_CT_DIGIT) || s[6] != '.' || !gh_http1_is(s[7], GH_CT_DIGIT))
        return -1;
    return s[5] == '1' ? s[7] - '0' : -2;
}

/* ---------------------------------------------------------------------- */
/* Requests                                                                */

static enum gh_method method_id(const char *m, size_t n)
{
    switch (n) {
    case 3:
        if (!memcmp(m, "GET", 3)) return GH_M_GET;
        if (!memcmp(m, "PUT", 3)) return GH_M_PUT;
        break;
    case 4:
        if (!memcmp(m, "POST", 4)) return GH_M_POST;
        if (!memcmp(m, "HEAD", 4)) return GH_M_HEAD;
        break;
    case 5:
        if (!memcmp(m, "PATCH", 5)) return GH_M_PATCH;
        if (!memcmp(m, "TRACE", 5)) return GH_M_TRACE;
        break;
    case 6:
        if (!memcmp(m, "DELETE", 6)) return GH_M_DELETE;
        break;
    case 7:
        if (!memcmp(m, "OPTIONS", 7)) return GH_M_OPTIONS;
        if (!memcmp(m, "CONNECT", 7)) return GH_M_CONNECT;
        break;
    }
    return GH_M_OTHER;
}

enum gh_method gh_http_method_id(const char *m, size_t n)
{
    return method_id(m, n);
}

static void split_path_query(struct gh_http1_request *req, const char *p, size_t n)
{
    const char *q = memchr(p, '?', n);
    if (q) {
        req->path = gh_str_make(p, (size_t)(q - p));
        req->query = gh_str_make(q + 1, n - (size_t)(q - p) - 1);
    } else {
        req->path = gh_str_make(p, n);
    }
}

/* Classify the (byte-validated) target into its form. 0 or -400. */
static int parse_target(struct gh_http1_request *req)
{
    const char *t = req->target.p;
    size_t n = req->target.len;

    if (req->method_id == GH_M_CONNECT) { /* authority-form only (RFC 9112 3.2.3) */
        if (!valid_authority(t, n, true)) return -400;
        req->authority = req->target;
        return 0;
    }
    if (t[0] == '/') {
        split_path_query(req, t, n);
        return 0;
    }
    if (n == 1 && t[0] == '*') /* asterisk-form, OPTIONS only */
        return req->method_id == GH_M_OPTIONS ? (req->path = req->target, 0) : -400;

    size_t skip;
    if (n > 7 && CI_EQ(t, 7, "http://"))
        skip = 7;
    else if (n > 8 && CI_EQ(t, 8, "https://"))
        skip = 8;
    else
        return -400;
    const char *a = t + skip, *e = t + n, *ae = a;
    while (ae < e && *ae != '/' && *ae != '?') ae++;
    if (!valid_authority(a, (size_t)(ae - a), false)) return -400;
    req->authority = gh_str_make(a, (size_t)(ae - a));
    if (ae == e || *ae == '?') {
        static const char slash[] = "/";
        req->path = gh_str_make(slash, 1);
        if (ae < e) req->query = gh_str_make(ae + 1, (size_t)(e - ae - 1));
    } else {
        split_path_query(req, ae, (size_t)(e - ae));
    }
    return 0;
}

/* The full pass over a complete request head buf[start..end). */
static int parse_request_head(const char *buf, size_t start, size_t end,
                              const struct gh_http1_limits *lim, struct gh_http1_request *req)
{
    ucp s = (ucp)buf + start;

    ucp m = s;
    s = skip_class(s, GH_CT_TCHAR);
    if (s == m || *s != ' ') return -400;
    req->method = gh_str_make((const char *)m, (size_t)(s - m));
    req->method_id = method_id(req->method.p, req->method.len);
    s++;

    ucp t = s;
    s = skip_target(s, (ucp)buf + end);
    if (s == t || *s != ' ') return -400; /* CTL, SP, obs-text, '#', missing part */
    if ((size_t)(s - t) > lim->max_uri_size) return -414;
    req->target = gh_str_make((const char *)t, (size_t)(s - t));
    s++;

    int minor = parse_version(s);
    if (minor == -1) return -400;
    s += 8;
    if (*s == '\r' && s[1] == '\n')
        s += 2;
    else if (*s == '\n')
        s++;
    else
        return -400;
    if (minor == -2) return -505;
    req->version_minor = minor;

    struct head_info hi = { .cl = -1, .fr = &req->framing };
    int rc = parse_fields(&s, (ucp)buf + end, req->headers, lim->max_headers, &req->nheaders, &hi);
    if (rc) return rc;
    if (s != (ucp)buf + end) return -400; /* cannot happen: the scan found this empty line */
    if (hi.underscore) return -400;

    if (parse_target(req)) return -400;

    if (hi.host_count > 1 || hi.host_bad) return -400;
    if (hi.host_count == 0 && minor >= 1) return -400;
    req->host = hi.host;
    req->expect_continue = hi.expect_continue && minor >= 1;
    req->expect_other = hi.expect_other;

    struct gh_http1_framing *fr = &req->framing;
    if (hi.cl_bad) return -400;
    if (fr->has_te) {
        if (hi.te_bad || hi.cl >= 0 || minor == 0) return -400;
        if (!hi.te_last_chunked || hi.te_chunked > 1) return -400;
        if (hi.te_elems > 1) return -501;
        fr->chunked = true;
    }
    fr->content_length = hi.cl;
    return 0;
}

int gh_http1_parse_request(struct gh_http1_parser *p, const char *buf, size_t len,
                           const struct gh_http1_limits *lim, struct gh_http1_request *req)
{
    size_t end = 0;
    int r = find_head_end(p, buf, len, lim->max_header_size, &end);

    if (p->started && uri_too_long(p, buf, len, lim->max_uri_size)) {
        /* both limits passed: whichever was passed first, byte-wise */
        if (r != -1 || (p->uri_start < lim->max_header_size &&
                        lim->max_uri_size < lim->max_header_size - p->uri_start))
            return -414;
    }
    if (r == -1) return -431;
    if (r == 0) return GH_AGAIN;

    struct gh_http_header *h = req->headers;
    *req = (struct gh_http1_request){ .headers = h };
    req->framing.content_length = -1;
    int rc = parse_request_head(buf, p->start, end, lim, req);
    if (rc) return rc;
    req->head_len = end;
    return (int)end;
}

/* ---------------------------------------------------------------------- */
/* Responses                                                               */

static int parse_response_head(const char *buf, size_t start, size_t end,
                               const struct gh_http1_limits *lim, struct gh_http1_response *resp)
{
    ucp s = (ucp)buf + start;

    int minor = parse_version(s);
    if (minor < 0) return -502;
    s += 8;
    if (*s != ' ') return -502;
    s++;
    if (!gh_http1_is(s[0], GH_CT_DIGIT) || !gh_http1_is(s[1], GH_CT_DIGIT) ||
        !gh_http1_is(s[2], GH_CT_DIGIT))
        return -502;
    int status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    if (status < 100 || status > 599) return -502;
    s += 3;
    ucp r = s;
    if (*s == ' ') { /* the SP before an empty reason is often left out: accept both */
        r = ++s;
        s = skip_class(s, GH_CT_VALUE);
    }
    resp->reason = gh_str_make((const char *)r, (size_t)(s - r));
    if (*s == '\r' && s[1] == '\n')
        s += 2;
    else if (*s == '\n')
        s++;
    else
        return -502;
    resp->status = status;
    resp->version_minor = minor;

    struct head_info hi = { .cl = -1, .fr = &resp->framing };
    if (parse_fields(&s, (ucp)buf + end, resp->headers, lim->max_headers, &resp->nheaders, &hi)) return -502;
    if (s != (ucp)buf + end) return -502; /* cannot happen: the scan found this empty line */

    struct gh_http1_framing *fr = &resp->framing;
    if (hi.cl_bad) return -502;
    if (fr->has_te) {
        /* RFC 9112 6.1: TE on 1.0 is faulty framing; TE with CL is smuggling bait */
        if (hi.te_bad || hi.cl >= 0 || minor == 0) return -502;
        if (hi.te_chunked > 1 || (hi.te_chunked == 1 && !hi.te_last_chunked)) return -502;
        fr->chunked = hi.te_last_chunked; /* else close-delimited */
        hi.cl = -1;
    }
    fr->content_length = hi.cl;
    return 0;
}

int gh_http1_parse_response(struct gh_http1_parser *p, const char *buf, size_t len,
                            const struct gh_http1_limits *lim, struct gh_http1_response *resp)
{
    size_t end = 0;
    int r = find_head_end(p, buf, len, lim->max_header_size, &end);
    if (r == -1) return -502;
    if (r == 0) return GH_AGAIN;

    struct gh_http_header *h = resp->headers;
    *resp = (struct gh_http1_response){ .headers = h };
    resp->framing.content_length = -1;
    int rc = parse_response_head(buf, p->start, end, lim, resp);
    if (rc) return rc;
    resp->head_len = end;
    return (int)end;
}

const struct gh_http_header *gh_http1_find_header(const struct gh_http_header *h, size_t n,
                                                  const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++) {
        if (h[i].name.len != len) continue;
        size_t k = 0;
        while (k < len && gh_lower(h[i].name.p[k]) == gh_lower(name[k])) k++;
        if (k == len) return &h[i];
    }
    return NULL;
}
