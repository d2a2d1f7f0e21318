/*
 * accesslog.c - one line per request (SPEC section 7): nginx's combined
 * format followed by the request time, the upstream address and the
 * request id; or one JSON object per line. Lines are built in a bounded
 * stack buffer (long fields are cut, never overflow) and appended to the
 * worker's buffered access log.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/time.h"
#include "common/wbuf.h"
#include "modules/accesslog.h"
#include "server/tls.h"

/* Output bytes each client-supplied field may take, escapes included, so
 * that a line with every field at its cap still fits GH_ACCESSLOG_LINE_MAX whole
 * (the JSON stays valid): the method, the client, upstream and request id
 * at 256 and the target, Referer and User-Agent at 2048 take 7,168 bytes, the
 * trace id, TLS protocol, cipher, client subject and verify result 1,280
 * more, and leave about 1.8 KB for the fixed parts (GH_ACCESSLOG_LINE_MAX
 * 10 KB). A custom template is cut at the line's end instead. A cut field ends in
 * "..." so the truncation shows. */
#define METHOD_OUT_MAX 256
#define FIELD_OUT_MAX 2048
#define SMALL_OUT_MAX 256

/* Escape quotes, backslashes and non-printables as \xHH (nginx) or, for
 * JSON, as \u00HH, in at most `cap` output bytes; an escape is never
 * split. An empty value is "-" in combined. */
static void put_escaped(struct gh_wbuf *l, struct gh_str v, bool json, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    if (v.len == 0 && !json) {
        gh_wbuf_putc(l, '-');
        return;
    }
    char *stop = l->p + GH_MIN(cap, gh_wbuf_room(l));
    for (size_t i = 0; i < v.len; i++) {
        unsigned char ch = (unsigned char)v.p[i];
        char esc[6];
        size_t n;
        if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x7f) {
            if (json) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[ch >> 4];
                esc[5] = hex[ch & 15];
                n = 6;
            } else {
                esc[0] = '\\';
                esc[1] = 'x';
                esc[2] = hex[ch >> 4];
                esc[3] = hex[ch & 15];
                n = 4;
            }
        } else {
            esc[0] = (char)ch;
            n = 1;
        }
        /* Keep 3 bytes for the "..." of a cut, unless this is the end. */
        size_t keep = i + 1 < v.len ? 3 : 0;
        if ((size_t)(stop - l->p) < n + keep) {
            size_t dots = GH_MIN((size_t)3, (size_t)(stop - l->p));
            memcpy(l->p, "...", dots);
            l->p += dots;
            l->cut = true;
            return;
        }
        memcpy(l->p, esc, n);
        l->p += n;
    }
}

/* A NUL-terminated value (NULL is empty), escaped as put_escaped does. */
static void put_cstr(struct gh_wbuf *l, const char *s, bool json, size_t cap)
{
    put_escaped(l, gh_str_make(s != NULL ? s : "", s != NULL ? strlen(s) : 0), json, cap);
}

/* ,"name":"value" after a JSON string value (its closing quote is ours). */
static void put_json_cstr(struct gh_wbuf *l, const char *name, const char *value)
{
    gh_wbuf_puts(l, "\",\"");
    gh_wbuf_puts(l, name);
    gh_wbuf_puts(l, "\":\"");
    put_cstr(l, value, true, SMALL_OUT_MAX);
}

static struct gh_str header(const struct gh_req *r, const char *name)
{
    const struct gh_http_header *h =
        gh_http1_find_header(r->head.headers, r->head.nheaders, name);
    return h ? h->value : gh_str_make("", 0);
}

size_t gh_accesslog_format(const struct gh_accesslog_fields *f, bool json, char *buf,
                           size_t size)
{
    if (size < 2)
        return 0;
    struct gh_wbuf l = gh_wbuf_make(buf, size - 1);            /* and the '\n' */
    if (json) {
        gh_wbuf_puts(&l, "{\"time\":\"");
        gh_wbuf_puts(&l, f->time);
        gh_wbuf_puts(&l, "\",\"remote_addr\":\"");
        put_escaped(&l, f->remote_addr, true, SMALL_OUT_MAX);
        gh_wbuf_puts(&l, "\",\"method\":\"");
        put_escaped(&l, f->method, true, METHOD_OUT_MAX);
        gh_wbuf_puts(&l, "\",\"uri\":\"");
        put_escaped(&l, f->target, true, FIELD_OUT_MAX);
        gh_wbuf_printf(&l, "\",\"status\":%d,\"bytes\":%llu,\"referer\":\"", f->status,
                       (unsigned long long)f->body_bytes);
        put_escaped(&l, f->referer, true, FIELD_OUT_MAX);
        gh_wbuf_puts(&l, "\",\"user_agent\":\"");
        put_escaped(&l, f->user_agent, true, FIELD_OUT_MAX);
        gh_wbuf_printf(&l, "\",\"duration\":%.3f,\"upstream\":\"", f->seconds);
        put_escaped(&l, f->upstream, true, SMALL_OUT_MAX);
        if (f->upstream_status > 0)
            gh_wbuf_printf(&l, "\",\"upstream_status\":%d,\"request_id\":\"",
                           f->upstream_status);
        else
            gh_wbuf_puts(&l, "\",\"upstream_status\":null,\"request_id\":\"");
        put_escaped(&l, f->request_id, true, SMALL_OUT_MAX);
        if (f->trace_id.len > 0) {
            gh_wbuf_puts(&l, "\",\"trace_id\":\"");
            put_escaped(&l, f->trace_id, true, SMALL_OUT_MAX);
        }
        if (f->tls_protocol != NULL) {
            put_json_cstr(&l, "tls_protocol", f->tls_protocol);
            put_json_cstr(&l, "tls_cipher", f->tls_cipher);
        }
        if (f->client_subject != NULL) {
            put_json_cstr(&l, "tls_client_subject", f->client_subject);
            put_json_cstr(&l, "tls_client_verify", f->client_verify);
        }
        gh_wbuf_puts(&l, "\"}");
    } else {
        put_escaped(&l, f->remote_addr, false, SMALL_OUT_MAX);
        gh_wbuf_puts(&l, " - - [");
        gh_wbuf_puts(&l, f->time);
        gh_wbuf_puts(&l, "] \"");
        if (f->method.len > 0) {
            put_escaped(&l, f->method, false, METHOD_OUT_MAX);
            gh_wbuf_putc(&l, ' ');
            put_escaped(&l, f->target, false, FIELD_OUT_MAX);
            gh_wbuf_putc(&l, ' ');
            gh_wbuf_puts(&l, f->protocol);
        }
        gh_wbuf_printf(&l, "\" %d %llu \"", f->status, (unsigned long long)f->body_bytes);
        put_escaped(&l, f->referer, false, FIELD_OUT_MAX);
        gh_wbuf_puts(&l, "\" \"");
        put_escaped(&l, f->user_agent, false, FIELD_OUT_MAX);
        /* SPEC section 7: the upstream status is in the JSON format only,
         * so that combined stays "... duration upstream request_id". */
        gh_wbuf_printf(&l, "\" %.3f ", f->seconds);
        put_escaped(&l, f->upstream, false, SMALL_OUT_MAX);
        gh_wbuf_putc(&l, ' ');
        put_escaped(&l, f->request_id, false, SMALL_OUT_MAX);
        if (f->tls_protocol != NULL) {
            gh_wbuf_putc(&l, ' ');
            put_cstr(&l, f->tls_protocol, false, SMALL_OUT_MAX);
            gh_wbuf_putc(&l, ' ');
            put_cstr(&l, f->tls_cipher, false, SMALL_OUT_MAX);
        }
    }
    *l.p++ = '\n';                     /* the byte kept for it */
    return (size_t)(l.p - buf);
}

/* The template's own text as written (quotes included, as nginx does),
 * but a control or non-ASCII byte as \xHH, so that it cannot split the
 * line. */
static void put_literal(struct gh_wbuf *l, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 0x20 && ch < 0x7f)
            gh_wbuf_putc(l, (char)ch);
        else
            gh_wbuf_printf(l, "\\x%02X", ch);
    }
}

/* $time_iso8601 from $time_local's clock: 2026-12-07T10:00:00+00:00. */
static void put_iso8601(struct gh_wbuf *l)
{
    struct tm tm;
    char out[32];
    time_t now = gh_now_sec;
    if (gmtime_r(&now, &tm) != NULL && strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%S+00:00", &tm))
        gh_wbuf_puts(l, out);
}

size_t gh_accesslog_format_custom(const struct gh_logfmt *fmt,
                                  const struct gh_accesslog_fields *f, char *buf, size_t size)
{
    if (size < 2)
        return 0;
    struct gh_wbuf l = gh_wbuf_make(buf, size - 1);
    for (size_t i = 0; i < fmt->ntoks; i++) {
        const struct gh_logfmt_tok *t = &fmt->toks[i];
        switch ((enum gh_logvar)t->kind) {
        case GH_LV_LITERAL:
            put_literal(&l, t->text, t->len);
            break;
        case GH_LV_REMOTE_ADDR: put_escaped(&l, f->remote_addr, false, SMALL_OUT_MAX); break;
        case GH_LV_REMOTE_USER: gh_wbuf_putc(&l, '-'); break;
        case GH_LV_TIME_LOCAL: gh_wbuf_puts(&l, f->time); break;
        case GH_LV_TIME_ISO8601: put_iso8601(&l); break;
        case GH_LV_MSEC: {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            gh_wbuf_printf(&l, "%lld.%03ld", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
            break;
        }
        case GH_LV_REQUEST:
            if (f->method.len > 0) {
                put_escaped(&l, f->method, false, METHOD_OUT_MAX);
                gh_wbuf_putc(&l, ' ');
                put_escaped(&l, f->target, false, FIELD_OUT_MAX);
                gh_wbuf_putc(&l, ' ');
                gh_wbuf_puts(&l, f->protocol);
            }
            break;
        case GH_LV_REQUEST_METHOD: put_escaped(&l, f->method, false, METHOD_OUT_MAX); break;
        case GH_LV_REQUEST_URI: put_escaped(&l, f->target, false, FIELD_OUT_MAX); break;
        case GH_LV_URI: put_escaped(&l, f->uri, false, FIELD_OUT_MAX); break;
        case GH_LV_ARGS: put_escaped(&l, f->args, false, FIELD_OUT_MAX); break;
        case GH_LV_SERVER_PROTOCOL: gh_wbuf_puts(&l, f->protocol); break;
        case GH_LV_HOST: put_escaped(&l, f->host, false, SMALL_OUT_MAX); break;
        case GH_LV_SERVER_NAME: put_cstr(&l, f->server_name, false, SMALL_OUT_MAX); break;
        case GH_LV_STATUS: gh_wbuf_printf(&l, "%d", f->status); break;
        case GH_LV_BODY_BYTES_SENT:
            gh_wbuf_printf(&l, "%llu", (unsigned long long)f->body_bytes);
            break;
        case GH_LV_BYTES_SENT:
            gh_wbuf_printf(&l, "%llu", (unsigned long long)f->bytes_sent);
            break;
        case GH_LV_REQUEST_TIME: gh_wbuf_printf(&l, "%.3f", f->seconds); break;
        case GH_LV_UPSTREAM_ADDR: put_escaped(&l, f->upstream, false, SMALL_OUT_MAX); break;
        case GH_LV_UPSTREAM_STATUS:
            if (f->upstream_status > 0)
                gh_wbuf_printf(&l, "%d", f->upstream_status);
            else
                gh_wbuf_putc(&l, '-');
            break;
        case GH_LV_REQUEST_ID: put_escaped(&l, f->request_id, false, SMALL_OUT_MAX); break;
        case GH_LV_TRACE_ID: put_escaped(&l, f->trace_id, false, SMALL_OUT_MAX); break;
        case GH_LV_SSL_PROTOCOL: put_cstr(&l, f->tls_protocol, false, SMALL_OUT_MAX); break;
        case GH_LV_SSL_CIPHER:
            put_cstr(&l, f->tls_protocol != NULL ? f->tls_cipher : NULL, false, SMALL_OUT_MAX);
            break;
        case GH_LV_SSL_CLIENT_S_DN: put_cstr(&l, f->client_subject, false, SMALL_OUT_MAX); break;
        case GH_LV_SSL_CLIENT_VERIFY:
            gh_wbuf_puts(&l, f->client_verify != NULL ? f->client_verify : "NONE");
            break;
        case GH_LV_PID: gh_wbuf_printf(&l, "%ld", f->pid); break;
        case GH_LV_HTTP:
            put_escaped(&l, f->header != NULL ? f->header(f->header_ctx, t->text)
                                              : gh_str_make("", 0), false, FIELD_OUT_MAX);
            break;
        }
    }
    *l.p++ = '\n';
    return (size_t)(l.p - buf);
}

static struct gh_str header_of(const void *ctx, const char *name)
{
    return header(ctx, name);
}

/* LOG: one line per finished request. */
static enum gh_verdict log_request(struct gh_req *r)
{
    const struct gh_http1_request *h = &r->head;

    if (r->conf->access_log.format == GH_ALOG_OFF || !gh_req_log_wanted(r))
        return GH_CONTINUE;
    const char *up = r->upstream_addr;
    struct gh_accesslog_fields f = {
        .time = gh_time_log_date(),
        .remote_addr = gh_str_make(r->client->text, strlen(r->client->text)),
        .method = h->method,
        .target = h->target,
        .protocol = r->http2 ? "HTTP/2.0" : h->version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1",
        .status = r->status,
        /* Like nginx's $body_bytes_sent: the body only. */
        .body_bytes = r->bytes_sent > r->head_bytes ? r->bytes_sent - r->head_bytes : 0,
        .referer = header(r, "referer"),
        .user_agent = header(r, "user-agent"),
        .seconds = (double)(gh_now_ms - r->start) / 1000.0,
        .upstream = gh_str_make(up, strlen(up)),
        .upstream_status = r->upstream_status,
        .request_id = r->request_id,
        .trace_id = r->trace_id,
        .tls_protocol = r->tls_protocol,
        .tls_cipher = r->tls_cipher != NULL ? r->tls_cipher : "-",
        .client_subject = r->client_cert != NULL ? r->client_cert->subject : NULL,
        .client_verify = r->client_cert != NULL ? r->client_cert->verify : NULL,
    };
    char buf[GH_ACCESSLOG_LINE_MAX];
    size_t n;
    if (r->conf->access_log.format == GH_ALOG_CUSTOM) {
        f.uri = gh_str_make(r->norm_path != NULL ? r->norm_path : "", r->norm_len);
        f.args = h->query;
        f.host = h->authority.len > 0 ? h->authority : h->host;
        f.server_name = r->match.vserver != NULL && r->match.vserver->nnames > 0
                            ? r->match.vserver->names[0] : "";
        f.bytes_sent = r->bytes_sent;
        static long pid;                /* the worker's; getpid(2) is not cached by glibc */
        if (pid == 0)
            pid = (long)getpid();
        f.pid = pid;
        f.header = header_of;
        f.header_ctx = r;
        n = gh_accesslog_format_custom(&r->conf->access_log.custom, &f, buf, sizeof(buf));
    } else {
        n = gh_accesslog_format(&f, r->conf->access_log.format == GH_ALOG_JSON, buf, sizeof(buf));
    }
    gh_req_log_line(r, buf, n);
    return GH_CONTINUE;
}

struct gh_module gh_module_accesslog = {
    .name = "accesslog",
    .phase = { [GH_PHASE_LOG] = log_request },
};
