/*
 * logfmt.h - the access log's `custom` format: a template with nginx-style
 * variables ("$remote_addr - [$time_local] \"$request\" $status ..."),
 * compiled once when the configuration loads so that an unknown variable is
 * a FILE:LINE error, not a surprise in the log.
 *
 * "$name" takes the longest run of [A-Za-z0-9_]; "${name}" ends where the
 * brace does, so text may follow a name directly. "$$" is a literal '$'.
 */
#ifndef GH_LOGFMT_H
#define GH_LOGFMT_H

#include <stddef.h>
#include <stdint.h>

enum gh_logvar {
    GH_LV_LITERAL = 0,
    GH_LV_REMOTE_ADDR,          /* $remote_addr: the client (after real_ip) */
    GH_LV_REMOTE_USER,          /* $remote_user: always "-" */
    GH_LV_TIME_LOCAL,           /* $time_local: 07/Dec/2026:10:00:00 +0000 */
    GH_LV_TIME_ISO8601,         /* $time_iso8601: 2026-12-07T10:00:00+00:00 */
    GH_LV_MSEC,                 /* $msec: seconds.milliseconds of the log line */
    GH_LV_REQUEST,              /* $request: "METHOD TARGET PROTOCOL" */
    GH_LV_REQUEST_METHOD,
    GH_LV_REQUEST_URI,          /* the target as received */
    GH_LV_URI,                  /* the normalized path */
    GH_LV_ARGS,                 /* the query ($query_string too) */
    GH_LV_SERVER_PROTOCOL,      /* HTTP/1.1 */
    GH_LV_HOST,                 /* the authority or Host */
    GH_LV_SERVER_NAME,          /* the virtual server's first name */
    GH_LV_STATUS,
    GH_LV_BODY_BYTES_SENT,
    GH_LV_BYTES_SENT,           /* head and body */
    GH_LV_REQUEST_TIME,         /* seconds.milliseconds */
    GH_LV_UPSTREAM_ADDR,
    GH_LV_UPSTREAM_STATUS,
    GH_LV_REQUEST_ID,
    GH_LV_TRACE_ID,             /* the W3C trace id (traceparent) */
    GH_LV_SSL_PROTOCOL,
    GH_LV_SSL_CIPHER,
    GH_LV_SSL_CLIENT_S_DN,
    GH_LV_SSL_CLIENT_VERIFY,    /* SUCCESS, or NONE */
    GH_LV_PID,
    GH_LV_HTTP,                 /* $http_NAME: a request header ('_' for '-') */
};

struct gh_logfmt_tok {
    uint8_t kind;               /* enum gh_logvar */
    uint32_t len;
    const char *text;           /* literal bytes, or the header name (lower case, '-') */
};

struct gh_logfmt {
    struct gh_logfmt_tok *toks; /* owned by whoever compiled it (the config arena) */
    size_t ntoks;
};

/* Compile tpl into at most max_toks tokens written to toks (text points
 * into tpl, or into `names`, a buffer of strlen(tpl) + 1 bytes for the
 * header names). Returns the number of tokens, or -1 with a message in err
 * ("unknown variable '$foo'"). */
int gh_logfmt_compile(const char *tpl, struct gh_logfmt_tok *toks, size_t max_toks, char *names,
                      char *err, size_t errlen);

#endif
