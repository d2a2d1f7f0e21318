/*
 * accesslog.c - one line per request (SPEC section 7): nginx's combined
 * format followed by the request time, the upstream address and the
 * request id; or one JSON object per line. Lines are built in a bounded
 * stack buffer (long fields are cut, never overflow) and appended to the
 * worker's buffered access log.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/time.h"
#include "server/http1.h"

#define LINE_MAX_LEN 8192
#define FIELD_MAX 2048                  /* longest quoted field kept */

struct line {
    char *p, *end;
};

static void put_raw(struct line *l, const char *s, size_t n)
{
    size_t room = (size_t)(l->end - l->p);
    if (n > room)
        n = room;
    memcpy(l->p, s, n);
    l->p += n;
}

static void put_str(struct line *l, const char *s)
{
    put_raw(l, s, strlen(s));
}

/* Escape quotes, backslashes and non-printables as \xHH (nginx) or, for
 * JSON, as \uXXXX. An empty value is "-" in combined. */
static void put_escaped(struct line *l, struct gh_str v, bool json)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = GH_MIN(v.len, (size_t)FIELD_MAX);
    if (n == 0 && !json) {
        put_raw(l, "-", 1);
        return;
    }
    for (size_t i = 0; i < n && l->end - l->p > 6; i++) {
        unsigned char ch = (unsigned char)v.p[i];
        if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x7f) {
            if (json) {
                char esc[6] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] };
                put_raw(l, esc, 6);
            } else {
                char esc[4] = { '\\', 'x', hex[ch >> 4], hex[ch & 15] };
                put_raw(l, esc, 4);
            }
        } else {
            *l->p++ = (char)ch;
        }
    }
}

static struct gh_str header(const struct gh_req *r, const char *name)
{
    const struct gh_http_header *h =
        gh_http1_find_header(r->head.headers, r->head.nheaders, name);
    return h ? h->value : gh_str_make("", 0);
}

static void put_fmt(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(struct line *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->p, (size_t)(l->end - l->p), fmt, ap);
    va_end(ap);
    if (n > 0)
        l->p += GH_MIN((size_t)n, (size_t)(l->end - l->p - 1));
}

void gh_http1_log_request(struct gh_req *r)
{
    struct gh_worker *w = r->conn->w;
    const struct gh_http1_request *h = &r->head;
    char buf[LINE_MAX_LEN];
    struct line l = { buf, buf + sizeof(buf) - 2 };
    double secs = (double)(gh_now_ms - r->start) / 1000.0;
    /* Like nginx's $body_bytes_sent: the body only. */
    unsigned long long body_bytes =
        r->bytes_sent > r->head_bytes ? (unsigned long long)(r->bytes_sent - r->head_bytes) : 0;
    const char *ver = h->version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";

    if (w->conf->access_log.format == GH_ALOG_OFF || !gh_alog_enabled(&w->alog))
        return;
    if (w->conf->access_log.format == GH_ALOG_JSON) {
        put_str(&l, "{\"time\":\"");
        put_str(&l, gh_time_log_date());
        put_str(&l, "\",\"remote_addr\":\"");
        put_str(&l, r->client->text);
        put_str(&l, "\",\"method\":\"");
        put_escaped(&l, h->method, true);
        put_str(&l, "\",\"uri\":\"");
        put_escaped(&l, h->target, true);
        put_fmt(&l, "\",\"status\":%d,\"bytes\":%llu,\"referer\":\"", r->status,
                body_bytes);
        put_escaped(&l, header(r, "referer"), true);
        put_str(&l, "\",\"user_agent\":\"");
        put_escaped(&l, header(r, "user-agent"), true);
        put_fmt(&l, "\",\"duration\":%.3f,\"upstream\":\"", secs);
        put_escaped(&l, gh_str_make(r->upstream_addr, strlen(r->upstream_addr)), true);
        if (r->upstream_status > 0)
            put_fmt(&l, "\",\"upstream_status\":%d,\"request_id\":\"", r->upstream_status);
        else
            put_str(&l, "\",\"upstream_status\":null,\"request_id\":\"");
        put_escaped(&l, r->request_id, true);
        put_str(&l, "\"}");
    } else {
        put_str(&l, r->client->text);
        put_str(&l, " - - [");
        put_str(&l, gh_time_log_date());
        put_str(&l, "] \"");
        if (h->method.len > 0) {
            put_escaped(&l, h->method, false);
            put_raw(&l, " ", 1);
            put_escaped(&l, h->target, false);
            put_raw(&l, " ", 1);
            put_str(&l, ver);
        }
        put_fmt(&l, "\" %d %llu \"", r->status, body_bytes);
        put_escaped(&l, header(r, "referer"), false);
        put_str(&l, "\" \"");
        put_escaped(&l, header(r, "user-agent"), false);
        /* SPEC section 7: the upstream status is in the JSON format only,
         * so that combined stays "... duration upstream request_id". */
        put_fmt(&l, "\" %.3f %s ", secs, r->upstream_addr);
        if (r->request_id.len > 0)
            put_escaped(&l, r->request_id, false);
        else
            put_raw(&l, "-", 1);
    }
    *l.p++ = '\n';
    gh_alog_append(&w->alog, buf, (size_t)(l.p - buf));
}
