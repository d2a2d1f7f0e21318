/*
 * logfmt.c - compiling the custom access log template (see logfmt.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/logfmt.h"

static const struct { const char *name; enum gh_logvar kind; } vars[] = {
    { "remote_addr", GH_LV_REMOTE_ADDR },
    { "remote_user", GH_LV_REMOTE_USER },
    { "time_local", GH_LV_TIME_LOCAL },
    { "time_iso8601", GH_LV_TIME_ISO8601 },
    { "msec", GH_LV_MSEC },
    { "request", GH_LV_REQUEST },
    { "request_method", GH_LV_REQUEST_METHOD },
    { "request_uri", GH_LV_REQUEST_URI },
    { "uri", GH_LV_URI },
    { "document_uri", GH_LV_URI },
    { "args", GH_LV_ARGS },
    { "query_string", GH_LV_ARGS },
    { "server_protocol", GH_LV_SERVER_PROTOCOL },
    { "host", GH_LV_HOST },
    { "server_name", GH_LV_SERVER_NAME },
    { "status", GH_LV_STATUS },
    { "body_bytes_sent", GH_LV_BODY_BYTES_SENT },
    { "bytes_sent", GH_LV_BYTES_SENT },
    { "request_time", GH_LV_REQUEST_TIME },
    { "upstream_addr", GH_LV_UPSTREAM_ADDR },
    { "upstream_status", GH_LV_UPSTREAM_STATUS },
    { "request_id", GH_LV_REQUEST_ID },
    { "trace_id", GH_LV_TRACE_ID },
    { "ssl_protocol", GH_LV_SSL_PROTOCOL },
    { "ssl_cipher", GH_LV_SSL_CIPHER },
    { "ssl_client_s_dn", GH_LV_SSL_CLIENT_S_DN },
    { "ssl_client_verify", GH_LV_SSL_CLIENT_VERIFY },
    { "pid", GH_LV_PID },
};

static bool name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
           || ch == '_';
}

int gh_logfmt_compile(const char *tpl, struct gh_logfmt_tok *toks, size_t max_toks, char *names,
                      char *err, size_t errlen)
{
    size_t n = 0, nl = 0;
    const char *p = tpl;
    while (*p != '\0') {
        if (n == max_toks) {
            snprintf(err, errlen, "more than %zu variables and texts", max_toks);
            return -1;
        }
        if (*p != '$' || p[1] == '$') {
            /* A literal run up to the next variable ("$$" is one '$'). */
            const char *start = p;
            if (*p == '$')
                p += 2, start++;
            while (*p != '\0' && *p != '$')
                p++;
            toks[n++] = (struct gh_logfmt_tok){ GH_LV_LITERAL, (uint32_t)(p - start), start };
            continue;
        }
        const char *name = ++p, *end;
        if (*p == '{') {
            name = ++p;
            end = strchr(p, '}');
            if (end == NULL) {
                snprintf(err, errlen, "'${' without its '}'");
                return -1;
            }
            p = end + 1;
        } else {
            while (name_char(*p))
                p++;
            end = p;
        }
        size_t len = (size_t)(end - name);
        if (len == 0) {
            snprintf(err, errlen, "a '$' without a variable name (write '$$' for a '$')");
            return -1;
        }
        for (size_t i = 0; i < len; i++) {
            if (!name_char(name[i])) {
                snprintf(err, errlen, "invalid variable name '${%.*s}'", (int)len, name);
                return -1;
            }
        }
        if (len > 5 && memcmp(name, "http_", 5) == 0) {
            /* $http_x_request_id: the header X-Request-ID, matched without case */
            char *h = names + nl;
            for (size_t i = 5; i < len; i++) {
                char ch = name[i];
                h[i - 5] = ch == '_' ? '-' : (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
            }
            nl += len - 5;
            names[nl++] = '\0';
            toks[n++] = (struct gh_logfmt_tok){ GH_LV_HTTP, (uint32_t)(len - 5), h };
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof(vars) / sizeof(vars[0]); k++)
            if (strlen(vars[k].name) == len && memcmp(vars[k].name, name, len) == 0)
                break;
        if (k == sizeof(vars) / sizeof(vars[0])) {
            snprintf(err, errlen, "unknown variable '$%.*s'", (int)(len > 64 ? 64 : len), name);
            return -1;
        }
        toks[n++] = (struct gh_logfmt_tok){ (uint8_t)vars[k].kind, 0, NULL };
    }
    return (int)n;
}
