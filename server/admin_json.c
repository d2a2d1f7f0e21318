/*
 * admin_json.c - see admin_json.h. jansson does the parsing and the
 * writing; this file only adds the field table check, the reasons, and the
 * handling of bytes from the configuration that are not UTF-8 (jansson
 * refuses to hold those, and a name in a config file may be any bytes).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin_json.h"
#include "server/http1.h"

/* Compact, in insertion order; 15 significant digits print 599.987 as
 * such rather than as 599.98699999999997. */
#define AJ_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* Longest field name quoted in a reason: the rest of a long name is cut, so
 * the reason still says what went wrong. */
#define AJ_NAME_MAX 64

/* The length of the valid UTF-8 sequence at s (n > 0 bytes left), or 0:
 * what jansson accepts (no overlong forms, no surrogates, <= U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned long cp;
    if (c < 0x80)
        return 1;
    if (c < 0xc2)
        return 0;                       /* a continuation byte, or overlong */
    if (c < 0xe0) {
        len = 2;
        cp = c & 0x1f;
    } else if (c < 0xf0) {
        len = 3;
        cp = c & 0x0f;
    } else if (c < 0xf5) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))
        || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

json_t *gh_aj_text(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    while (i < n) {
        size_t l = utf8_seq(u + i, n - i);
        if (l == 0)
            break;
        i += l;
    }
    if (i == n)
        return json_stringn(s, n);
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, s, n + 1);
    while (i < n) {
        size_t l = utf8_seq(u + i, n - i);
        if (l == 0) {
            copy[i] = '?';
            l = 1;
        }
        i += l;
    }
    json_t *j = json_stringn(copy, n);
    free(copy);
    return j;
}

json_t *gh_aj_u64(uint64_t v)
{
    return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

char *gh_aj_dump(json_t *j, size_t *len)
{
    if (j == NULL)
        return NULL;
    /* Two passes into a buffer of our own, so the caller frees with free()
     * whatever allocator jansson was given. */
    size_t need = json_dumpb(j, NULL, 0, AJ_DUMP_FLAGS);
    char *buf = need > 0 ? malloc(need + 2) : NULL;
    if (buf != NULL && json_dumpb(j, buf, need, AJ_DUMP_FLAGS) != need) {
        free(buf);
        buf = NULL;
    }
    json_decref(j);
    if (buf == NULL)
        return NULL;
    buf[need] = '\n';
    buf[need + 1] = '\0';
    *len = need + 1;
    return buf;
}

char *gh_aj_error_body(int status, const char *reason, size_t *len)
{
    char error[64];
    snprintf(error, sizeof(error), "%d %s", status, gh_http_reason(status));
    json_t *o = json_object();
    int rc = json_object_set_new(o, "error", json_string(error));
    if (reason != NULL && reason[0] != '\0')
        rc |= json_object_set_new(o, "reason", gh_aj_text(reason));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return gh_aj_dump(o, len);
}

int gh_admin_fail(struct gh_admin_reply *r, int status, const char *fmt, ...)
{
    r->status = status;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
        va_end(ap);
    }
    return status;
}

int gh_admin_ok(struct gh_admin_reply *r, json_t *body)
{
    r->status = 200;
    r->body = body;
    return 200;
}

/* ---- parsing --------------------------------------------------------- */

static unsigned type_bit(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return GH_AJ_OBJECT;
    case JSON_ARRAY: return GH_AJ_ARRAY;
    case JSON_STRING: return GH_AJ_STRING;
    case JSON_INTEGER: return GH_AJ_INTEGER;
    case JSON_REAL: return GH_AJ_REAL;
    case JSON_TRUE:
    case JSON_FALSE: return GH_AJ_BOOL;
    default: return GH_AJ_NULL;
    }
}

static const char *type_name(unsigned bit)
{
    switch (bit) {
    case GH_AJ_STRING: return "a string";
    case GH_AJ_INTEGER: return "an integer";
    case GH_AJ_REAL: return "a real number";
    case GH_AJ_NUMBER: return "a number";
    case GH_AJ_BOOL: return "a boolean";
    case GH_AJ_NULL: return "null";
    case GH_AJ_OBJECT: return "an object";
    default: return "an array";
    }
}

/* "a string or a number" for a mask, into out (size bytes). */
static void types_text(unsigned mask, char *out, size_t size)
{
    static const unsigned order[] = { GH_AJ_STRING, GH_AJ_NUMBER, GH_AJ_INTEGER, GH_AJ_REAL,
                                      GH_AJ_BOOL,   GH_AJ_NULL,   GH_AJ_OBJECT,  GH_AJ_ARRAY };
    const char *names[8];
    size_t n = 0, used = 0;
    for (size_t i = 0; i < GH_ARRAY_LEN(order); i++) {
        if ((mask & order[i]) == order[i]) {
            names[n++] = type_name(order[i]);
            mask &= ~order[i];
        }
    }
    out[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        used += gh_snprintf(out + used, size - used, "%s%s", sep, names[i]);
    }
}

static bool blank(struct gh_str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] != ' ' && s.p[i] != '\t' && s.p[i] != '\r' && s.p[i] != '\n')
            return false;
    return true;
}

/* The members against the table: true when they fit, else false and why
 * in reason. */
static bool check_members(json_t *o, const struct gh_aj_field *fields, size_t n, char *reason)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        const struct gh_aj_field *f = NULL;
        for (size_t i = 0; i < n && f == NULL; i++)
            if (strcmp(fields[i].name, key) == 0)
                f = &fields[i];
        if (f == NULL) {
            gh_snprintf(reason, GH_AJ_REASON_MAX, "unknown field \"%.*s\"", AJ_NAME_MAX, key);
            return false;
        }
        if ((type_bit(v) & f->types) == 0) {
            char want[96];
            types_text(f->types, want, sizeof(want));
            gh_snprintf(reason, GH_AJ_REASON_MAX, "field \"%s\" must be %s, not %s", f->name, want,
                     type_name(type_bit(v)));
            return false;
        }
    }
    size_t one_of = 0, given = 0;
    for (size_t i = 0; i < n; i++) {
        bool present = json_object_get(o, fields[i].name) != NULL;
        if (fields[i].need == GH_AJ_REQUIRED && !present) {
            gh_snprintf(reason, GH_AJ_REASON_MAX, "missing required field \"%s\"", fields[i].name);
            return false;
        }
        if (fields[i].need == GH_AJ_ONE_OF) {
            one_of++;
            given += present;
        }
    }
    if (one_of > 0 && given != 1) {
        size_t used = gh_snprintf(reason, GH_AJ_REASON_MAX, "give exactly one of");
        for (size_t i = 0, k = 0; i < n && used < GH_AJ_REASON_MAX; i++)
            if (fields[i].need == GH_AJ_ONE_OF)
                used += gh_snprintf(reason + used, GH_AJ_REASON_MAX - used, "%s \"%s\"",
                                    k++ ? "," : "", fields[i].name);
        return false;
    }
    return true;
}

json_t *gh_aj_parse(struct gh_str body, const struct gh_aj_field *fields, size_t n,
                    char reason[GH_AJ_REASON_MAX])
{
    json_t *o;
    reason[0] = '\0';
    if (blank(body)) {
        o = json_object();
    } else {
        /* DECODE_ANY so that a body of "3" or "[...]" gets "must be an
         * object" rather than the lexer's wording; REJECT_DUPLICATES since
         * {"cidr":"a","cidr":"b"} has no one meaning. Strings with \u0000
         * are refused (no JSON_ALLOW_NUL), so every value is a C string. */
        json_error_t err;
        o = json_loadb(body.p, body.len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
        if (o == NULL) {
            if (json_error_code(&err) == json_error_out_of_memory)
                gh_snprintf(reason, GH_AJ_REASON_MAX, "out of memory");
            else
                gh_snprintf(reason, GH_AJ_REASON_MAX, "malformed JSON at line %d, column %d: %s",
                         err.line, err.column, err.text);
            return NULL;
        }
    }
    if (o == NULL) {
        gh_snprintf(reason, GH_AJ_REASON_MAX, "out of memory");
        return NULL;
    }
    if (!json_is_object(o)) {
        gh_snprintf(reason, GH_AJ_REASON_MAX, "the body must be a JSON object, not %s",
                 type_name(type_bit(o)));
        json_decref(o);
        return NULL;
    }
    if (!check_members(o, fields, n, reason)) {
        json_decref(o);
        return NULL;
    }
    return o;
}
