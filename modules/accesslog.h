/*
 * accesslog.h - the access log line (SPEC section 7), formatted from the
 * fields of one request whatever its protocol.
 */
#ifndef GH_ACCESSLOG_H
#define GH_ACCESSLOG_H

#include <stdint.h>

#include "common/str.h"
#include "server/request.h"

#define GH_ACCESSLOG_LINE_MAX 10240

/* The pipeline module: the LOG phase's line per request. */
extern struct gh_module gh_module_accesslog;

struct gh_accesslog_fields {
    const char *time;                   /* [$time_local], NUL-terminated */
    struct gh_str remote_addr;
    struct gh_str method;               /* empty: no request line was read */
    struct gh_str target;
    const char *protocol;               /* "HTTP/1.1" */
    int status;
    uint64_t body_bytes;
    struct gh_str referer, user_agent;
    double seconds;
    struct gh_str upstream;             /* "-" when answered here */
    int upstream_status;                /* 0: none */
    struct gh_str request_id;           /* empty: "-" */
    /* TLS: appended to combined, tls_* in json; NULL on plain connections. */
    const char *tls_protocol, *tls_cipher;
    const char *client_subject, *client_verify;     /* mTLS; json only */
    /* Only the custom format reads these. */
    struct gh_str uri, args, host;      /* normalized path, query, authority or Host */
    const char *server_name;            /* "" when no server matched */
    uint64_t bytes_sent;                /* head and body */
    struct gh_str trace_id;             /* empty: "-" */
    long pid;
    /* $http_NAME: the request header `name` (lower case), or an empty str. */
    struct gh_str (*header)(const void *ctx, const char *name);
    const void *header_ctx;
};

/* Format one line of the custom template (see gh_accesslog_format for the
 * bounds: every value is escaped and cut at its cap, the line at size). */
size_t gh_accesslog_format_custom(const struct gh_logfmt *fmt,
                                  const struct gh_accesslog_fields *f, char *buf, size_t size);

/* Format one line, '\n' included, into buf (size >= 2; GH_ACCESSLOG_LINE_MAX
 * holds every line whole): nginx's combined format with the request time,
 * upstream and request id after it, or a JSON object (json). Fields are
 * escaped and each is cut at a fixed number of output bytes, ending in
 * "..." when cut, so any input fits. Returns the length. */
size_t gh_accesslog_format(const struct gh_accesslog_fields *f, bool json, char *buf,
                           size_t size);

#endif
