/*
 * conf_get.c - the typed getters of the configuration loader: each reads
 * one setting of a libconfig group, checks its type and value, reports
 * "FILE:LINE: message" when it is wrong and returns the default then, so
 * that loading goes on and every error is reported.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/conf_priv.h"

static config_setting_t *member(const config_setting_t *g, const char *name)
{
    return g == NULL ? NULL : config_setting_get_member(g, name);
}

static bool is_int(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

int64_t gh_conf_int(struct gh_conf_ctx *c, const config_setting_t *g,
                    const char *where, const char *name, int64_t def,
                    int64_t lo, int64_t hi)
{
    config_setting_t *s = member(g, name);
    char q[256];
    int64_t v;

    if (s == NULL)
        return def;
    gh_conf_qname(q, sizeof(q), where, name);
    if (!is_int(s)) {
        gh_conf_error(c, s, "'%s' must be an integer", q);
        return def;
    }
    v = config_setting_get_int64(s);
    if (v < lo || v > hi) {
        if (hi == INT64_MAX)
            gh_conf_error(c, s, "'%s' must be at least %lld", q, (long long)lo);
        else
            gh_conf_error(c, s, "'%s' must be between %lld and %lld", q,
                          (long long)lo, (long long)hi);
        return def;
    }
    return v;
}

double gh_conf_double(struct gh_conf_ctx *c, const config_setting_t *g,
                      const char *where, const char *name, double def,
                      double lo, double hi)
{
    config_setting_t *s = member(g, name);
    char q[256];
    double v;

    if (s == NULL)
        return def;
    gh_conf_qname(q, sizeof(q), where, name);
    if (is_int(s)) {
        v = (double)config_setting_get_int64(s);
    } else if (config_setting_type(s) == CONFIG_TYPE_FLOAT) {
        v = config_setting_get_float(s);
    } else {
        gh_conf_error(c, s, "'%s' must be a number", q);
        return def;
    }
    if (!(v >= lo && v <= hi)) {
        gh_conf_error(c, s, "'%s' must be between %g and %g", q, lo, hi);
        return def;
    }
    return v;
}

bool gh_conf_bool(struct gh_conf_ctx *c, const config_setting_t *g,
                  const char *where, const char *name, bool def)
{
    config_setting_t *s = member(g, name);
    char q[256];

    if (s == NULL)
        return def;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        gh_conf_error(c, s, "'%s' must be true or false",
                      gh_conf_qname(q, sizeof(q), where, name));
        return def;
    }
    return config_setting_get_bool(s) != 0;
}

char *gh_conf_str(struct gh_conf_ctx *c, const config_setting_t *g,
                  const char *where, const char *name, const char *def)
{
    config_setting_t *s = member(g, name);
    char q[256];

    if (s != NULL && config_setting_type(s) == CONFIG_TYPE_STRING)
        return gh_conf_strdup(c, config_setting_get_string(s));
    if (s != NULL)
        gh_conf_error(c, s, "'%s' must be a string",
                      gh_conf_qname(q, sizeof(q), where, name));
    return def == NULL ? NULL : gh_conf_strdup(c, def);
}

gh_msec_t gh_conf_duration(struct gh_conf_ctx *c, const config_setting_t *g,
                           const char *where, const char *name,
                           const char *def, gh_msec_t min_ms)
{
    config_setting_t *s = member(g, name);
    gh_msec_t v = 0, dv = 0;
    char q[256], num[64];
    int rc = 0;

    if (gh_parse_duration(def, &dv) == -1)
        dv = 0;
    if (s == NULL)
        return dv;
    gh_conf_qname(q, sizeof(q), where, name);
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_STRING:
        if (gh_parse_duration(config_setting_get_string(s), &v) == -1) {
            gh_conf_error(c, s, "'%s': invalid duration '%s'", q,
                          config_setting_get_string(s));
            return dv;
        }
        break;
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        snprintf(num, sizeof(num), "%lld", (long long)config_setting_get_int64(s));
        rc = gh_parse_duration(num, &v);
        break;
    case CONFIG_TYPE_FLOAT:
        snprintf(num, sizeof(num), "%.6f", config_setting_get_float(s));
        rc = gh_parse_duration(num, &v);
        break;
    default:
        gh_conf_error(c, s, "'%s' must be a duration (\"10s\", \"500ms\", ...)", q);
        return dv;
    }
    if (rc == -1) {
        gh_conf_error(c, s, "'%s': invalid duration %s", q, num);
        return dv;
    }
    if (v < min_ms) {
        gh_conf_error(c, s, "'%s' must be greater than 0", q);
        return dv;
    }
    return v;
}

size_t gh_conf_size(struct gh_conf_ctx *c, const config_setting_t *g,
                    const char *where, const char *name, const char *def)
{
    config_setting_t *s = member(g, name);
    size_t v = 0, dv = 0;
    char q[256];

    if (gh_parse_size(def, &dv) == -1)
        dv = 0;
    if (s == NULL)
        return dv;
    gh_conf_qname(q, sizeof(q), where, name);
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        if (gh_parse_size(config_setting_get_string(s), &v) == 0)
            return v;
        gh_conf_error(c, s, "'%s': invalid size '%s'", q,
                      config_setting_get_string(s));
        return dv;
    }
    if (is_int(s)) {
        long long iv = config_setting_get_int64(s);
        if (iv >= 0)
            return (size_t)iv;
        gh_conf_error(c, s, "'%s': invalid size %lld", q, iv);
        return dv;
    }
    gh_conf_error(c, s, "'%s' must be a size (\"16k\", \"10M\", ...)", q);
    return dv;
}

int gh_conf_enum(struct gh_conf_ctx *c, const config_setting_t *g,
                 const char *where, const char *name,
                 const char *const *names, int def)
{
    config_setting_t *s = member(g, name);
    char q[256], expected[256] = "";
    const char *v;
    int i;

    if (s == NULL)
        return def;
    gh_conf_qname(q, sizeof(q), where, name);
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        gh_conf_error(c, s, "'%s' must be a string", q);
        return def;
    }
    v = config_setting_get_string(s);
    for (i = 0; names[i] != NULL; i++) {
        if (strcmp(names[i], v) == 0)
            return i;
        snprintf(expected + strlen(expected), sizeof(expected) - strlen(expected),
                 "%s%s", i ? " | " : "", names[i]);
    }
    gh_conf_error(c, s, "'%s': unknown value '%s' (expected %s)", q, v, expected);
    return def;
}

config_setting_t *gh_conf_group(struct gh_conf_ctx *c,
                                const config_setting_t *g, const char *where,
                                const char *name)
{
    config_setting_t *s = member(g, name);
    char q[256];

    if (s == NULL || config_setting_is_group(s))
        return s;
    gh_conf_error(c, s, "'%s' must be a group ({ ... })",
                  gh_conf_qname(q, sizeof(q), where, name));
    return NULL;
}

config_setting_t *gh_conf_list(struct gh_conf_ctx *c, const config_setting_t *g,
                               const char *where, const char *name)
{
    config_setting_t *s = member(g, name);
    char q[256];

    if (s == NULL || config_setting_is_list(s) || config_setting_is_array(s))
        return s;
    gh_conf_error(c, s, "'%s' must be a list", gh_conf_qname(q, sizeof(q), where, name));
    return NULL;
}

char **gh_conf_strlist(struct gh_conf_ctx *c, const config_setting_t *g,
                       const char *where, const char *name, size_t *n)
{
    config_setting_t *l = gh_conf_list(c, g, where, name);
    char q[256], **v;
    int i, len;

    *n = 0;
    if (l == NULL)
        return NULL;
    gh_conf_qname(q, sizeof(q), where, name);
    len = config_setting_length(l);
    v = gh_conf_alloc(c, sizeof(*v) * (size_t)(len + 1));
    for (i = 0; i < len; i++) {
        config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            gh_conf_error(c, e, "'%s.[%d]' must be a string", q, i);
            continue;
        }
        v[(*n)++] = gh_conf_strdup(c, config_setting_get_string(e));
    }
    return v;
}

bool gh_conf_token_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z')
              || (ch >= 'A' && ch <= 'Z') || strchr("!#$%&'*+-.^_`|~", ch)))
            return false;
    }
    return true;
}

bool gh_conf_var_ok(const char *s, unsigned allowed)
{
    if ((allowed & GH_VAR_REMOTE_ADDR) && strcmp(s, "$remote_addr") == 0)
        return true;
    if ((allowed & GH_VAR_URI) && strcmp(s, "$uri") == 0)
        return true;
    if ((allowed & GH_VAR_HOST) && strcmp(s, "$host") == 0)
        return true;
    if ((allowed & GH_VAR_COOKIE) && strncmp(s, "$cookie_", 8) == 0)
        return gh_conf_token_ok(s + 8);
    if ((allowed & GH_VAR_HEADER) && strncmp(s, "$header_", 8) == 0)
        return gh_conf_token_ok(s + 8);
    return false;
}

void gh_conf_headers(struct gh_conf_ctx *c, const config_setting_t *g,
                     const char *where, const char *name,
                     struct gh_conf_headers *out)
{
    static const char *const keys[] = { "set", "remove", NULL };
    config_setting_t *h = gh_conf_group(c, g, where, name), *set;
    char q[256], sq[300];
    size_t i;
    int k, len;

    memset(out, 0, sizeof(*out));
    if (h == NULL)
        return;
    gh_conf_qname(q, sizeof(q), where, name);
    gh_conf_check_keys(c, h, q, keys);
    set = gh_conf_list(c, h, q, "set");
    len = set != NULL ? config_setting_length(set) : 0;
    out->set = gh_conf_alloc(c, sizeof(*out->set) * (size_t)(len + 1));
    for (k = 0; k < len; k++) {
        config_setting_t *e = config_setting_get_elem(set, (unsigned)k);
        const char *hn, *hv;
        snprintf(sq, sizeof(sq), "%s.set.[%d]", q, k);
        if (!(config_setting_is_array(e) || config_setting_is_list(e))
            || config_setting_length(e) != 2
            || config_setting_type(config_setting_get_elem(e, 0)) != CONFIG_TYPE_STRING
            || config_setting_type(config_setting_get_elem(e, 1)) != CONFIG_TYPE_STRING) {
            gh_conf_error(c, e, "'%s' must be [\"Name\", \"value\"]", sq);
            continue;
        }
        hn = config_setting_get_string_elem(e, 0);
        hv = config_setting_get_string_elem(e, 1);
        if (!gh_conf_token_ok(hn)) {
            gh_conf_error(c, e, "'%s': invalid header name '%s'", sq, hn);
            continue;
        }
        if (strpbrk(hv, "\r\n") != NULL) {
            gh_conf_error(c, e, "'%s': header value must not contain CR or LF", sq);
            continue;
        }
        out->set[out->nset].name = gh_conf_strdup(c, hn);
        out->set[out->nset].value = gh_conf_strdup(c, hv);
        out->nset++;
    }
    out->remove = gh_conf_strlist(c, h, q, "remove", &out->nremove);
    for (i = 0; i < out->nremove; i++)
        if (!gh_conf_token_ok(out->remove[i]))
            gh_conf_error(c, config_setting_get_member(h, "remove"),
                          "'%s.remove': invalid header name '%s'", q, out->remove[i]);
}

/* Parse an address setting (q names it in messages) into out, with its
 * strings in the arena. 0 or -1 (reported). */
int gh_conf_addr(struct gh_conf_ctx *c, const config_setting_t *s,
                 const char *q, bool allow_name, struct gh_conf_addr *out)
{
    struct gh_conf_addr tmp;
    char err[256];

    memset(out, 0, sizeof(*out));
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        gh_conf_error(c, s, "'%s' must be a string", q);
        return -1;
    }
    if (gh_parse_addr(config_setting_get_string(s), allow_name, &tmp, err,
                      sizeof(err)) == -1) {
        gh_conf_error(c, s, "'%s': %s", q, err);
        return -1;
    }
    /* copy with arena_alloc, which returns NULL instead of jumping, so the
     * malloc'd strings are released on every path */
    *out = tmp;
    out->text = gh_conf_try_alloc(c, strlen(tmp.text) + 1);
    out->host = tmp.host != NULL ? gh_conf_try_alloc(c, strlen(tmp.host) + 1) : NULL;
    if (out->text == NULL || (tmp.host != NULL && out->host == NULL)) {
        gh_conf_addr_release(&tmp);
        longjmp(c->oom, 1);
    }
    strcpy(out->text, tmp.text);
    if (tmp.host != NULL)
        strcpy(out->host, tmp.host);
    gh_conf_addr_release(&tmp);
    return 0;
}

void gh_conf_cidrs(struct gh_conf_ctx *c, const config_setting_t *g,
                       const char *where, const char *name,
                       struct gh_conf_cidr **out, size_t *nout)
{
    config_setting_t *l = gh_conf_list(c, g, where, name);
    char q[256], net[INET6_ADDRSTRLEN];
    int i, n = l != NULL ? config_setting_length(l) : 0;

    *out = gh_conf_alloc(c, sizeof(**out) * (size_t)(n + 1));
    *nout = 0;
    gh_conf_qname(q, sizeof(q), where, name);
    for (i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
        struct gh_conf_cidr *ci = &(*out)[*nout];
        const char *s;
        int rc;

        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            gh_conf_error(c, e, "'%s.[%d]' must be a string", q, i);
            continue;
        }
        s = config_setting_get_string(e);
        rc = gh_parse_cidr(s, ci);
        if (rc == -1) {
            gh_conf_error(c, e, "'%s.[%d]': invalid CIDR '%s'", q, i, s);
            continue;
        }
        if (rc == -2) {
            if (inet_ntop(ci->family, ci->addr, net, sizeof(net)) == NULL)
                net[0] = '\0';
            gh_conf_error(c, e, "'%s.[%d]': '%s' has host bits set (did you mean '%s/%d'?)",
                          q, i, s, net, ci->prefix_len);
            continue;
        }
        ci->text = gh_conf_strdup(c, s);
        ci->line = config_setting_source_line(e);
        (*nout)++;
    }
}
