/*
 * conf.c - loading the configuration (SPEC section 4): the arena, error
 * reporting, the typed getters and the server-wide settings. Upstreams,
 * rate limits and virtual servers are in conf_servers.c, -T output in
 * conf_dump.c, value syntaxes in conf_units.c.
 *
 * Every error is printed as "FILE:LINE: message" when found, and loading
 * carries on so that one run reports them all; gh_conf_load then frees the
 * half-built configuration and returns NULL.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/conf_priv.h"
#include "common/log.h"
#include "common/nofile.h"

/* ---- arena -------------------------------------------------------------- */

#define GH_ARENA_CHUNK 8192

struct gh_arena_chunk {
    struct gh_arena_chunk *next;
    size_t used, size;
    max_align_t data[];
};

struct gh_conf_arena {
    struct gh_arena_chunk *head;
};

static void arena_free(struct gh_conf_arena *a)
{
    struct gh_arena_chunk *ch, *next;

    if (a == NULL)
        return;
    for (ch = a->head; ch != NULL; ch = next) {
        next = ch->next;
        free(ch);
    }
    free(a);
}

/* Zeroed, 16-byte aligned memory from the arena, or NULL. */
static void *arena_alloc(struct gh_conf_arena *a, size_t size)
{
    struct gh_arena_chunk *ch = a->head;
    size_t need = (size + 15) & ~(size_t)15, csize;
    void *p;

    if (need < size)
        return NULL;
    if (ch == NULL || ch->size - ch->used < need) {
        csize = need > GH_ARENA_CHUNK / 2 ? need : GH_ARENA_CHUNK;
        ch = calloc(1, sizeof(*ch) + csize);
        if (ch == NULL)
            return NULL;
        ch->size = csize;
        if (need > GH_ARENA_CHUNK / 2 && a->head != NULL) {
            /* a big one: keep filling the current chunk */
            ch->next = a->head->next;
            a->head->next = ch;
        } else {
            ch->next = a->head;
            a->head = ch;
        }
    }
    p = (char *)ch->data + ch->used;
    ch->used += need;
    return p;
}

void *gh_conf_try_alloc(struct gh_conf_ctx *c, size_t size)
{
    return arena_alloc(c->arena, size == 0 ? 1 : size);
}

void *gh_conf_alloc(struct gh_conf_ctx *c, size_t size)
{
    void *p = arena_alloc(c->arena, size == 0 ? 1 : size);

    if (p == NULL)
        longjmp(c->oom, 1);
    return p;
}

char *gh_conf_strdup(struct gh_conf_ctx *c, const char *s)
{
    size_t n = strlen(s);
    char *p = gh_conf_alloc(c, n + 1);

    memcpy(p, s, n);
    return p;
}

char *gh_conf_sprintf(struct gh_conf_ctx *c, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        longjmp(c->oom, 1);
    p = gh_conf_alloc(c, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

char *gh_conf_path(struct gh_conf_ctx *c, const char *path)
{
    if (path[0] == '\0' || path[0] == '/')
        return gh_conf_strdup(c, path);
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    if (strcmp(c->conf->prefix, "/") == 0)
        return gh_conf_sprintf(c, "/%s", path);
    return gh_conf_sprintf(c, "%s/%s", c->conf->prefix, path);
}

/* ---- errors ------------------------------------------------------------- */

void gh_conf_error(struct gh_conf_ctx *c, const config_setting_t *at,
                   const char *fmt, ...)
{
    struct gh_conf_msg *m;
    const char *file = NULL;
    char text[1024];
    int line = 0;
    va_list ap;

    if (at != NULL) {
        line = config_setting_source_line(at);
        file = config_setting_source_file(at);
    }
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    c->nerrors++;
    if (c->nmsgs == c->capmsgs) {
        size_t cap = c->capmsgs ? c->capmsgs * 2 : 16;
        m = gh_conf_alloc(c, sizeof(*m) * cap);
        if (c->nmsgs > 0)
            memcpy(m, c->msgs, sizeof(*m) * c->nmsgs);
        c->msgs = m;
        c->capmsgs = cap;
    }
    m = &c->msgs[c->nmsgs];
    if (file == NULL || strcmp(file, c->file) == 0)
        m->file = c->file;
    else if (file[0] != '/' && c->include_dir != NULL)   /* an @include */
        m->file = gh_conf_sprintf(c, "%s/%s", c->include_dir, file);
    else
        m->file = gh_conf_strdup(c, file);
    m->line = line > 0 ? line : 1;
    m->text = gh_conf_strdup(c, text);
    c->nmsgs++;
}

/* Print the collected errors: the main file's first, each file's by line,
 * in the order found for equal lines (insertion sort: stable, few). */
static void flush_errors(struct gh_conf_ctx *c)
{
    size_t i, j;

    for (i = 1; i < c->nmsgs; i++) {
        struct gh_conf_msg m = c->msgs[i];
        for (j = i; j > 0; j--) {
            const struct gh_conf_msg *p = &c->msgs[j - 1];
            int fc = strcmp(p->file, m.file);
            bool pmain = strcmp(p->file, c->file) == 0, mmain = strcmp(m.file, c->file) == 0;
            if (pmain != mmain ? pmain : (fc < 0 || (fc == 0 && p->line <= m.line)))
                break;
            c->msgs[j] = c->msgs[j - 1];
        }
        c->msgs[j] = m;
    }
    for (i = 0; i < c->nmsgs; i++)
        fprintf(c->errs, "%s:%d: %s\n", c->msgs[i].file, c->msgs[i].line, c->msgs[i].text);
    c->nmsgs = 0;
}

const char *gh_conf_qname(char *buf, size_t size, const char *where,
                          const char *name)
{
    if (where[0] == '\0')
        snprintf(buf, size, "%s", name);
    else
        snprintf(buf, size, "%s.%s", where, name);
    return buf;
}

void gh_conf_check_keys(struct gh_conf_ctx *c, const config_setting_t *g,
                        const char *where, const char *const *allowed)
{
    int i, n = config_setting_length(g);

    for (i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(m);
        const char *const *a;

        if (name == NULL)
            continue;
        for (a = allowed; *a != NULL; a++)
            if (strcmp(*a, name) == 0)
                break;
        if (*a != NULL)
            continue;
        if (where[0] == '\0')
            gh_conf_error(c, m, "unknown setting '%s'", name);
        else
            gh_conf_error(c, m, "unknown setting '%s' in '%s'", name, where);
    }
}

/* ---- server-wide settings ----------------------------------------------- */

static config_setting_t *member(const config_setting_t *g, const char *name)
{
    return g == NULL ? NULL : config_setting_get_member(g, name);
}

static bool is_int(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static const struct { const char *name; int level; } gh_conf_levels[] = {
    { "debug", GH_LOG_DEBUG }, { "info", GH_LOG_INFO },
    { "notice", GH_LOG_NOTICE }, { "warn", GH_LOG_WARN },
    { "error", GH_LOG_ERROR },
};

const char *gh_conf_level_name(int level)
{
    size_t i;

    for (i = 0; i < GH_ARRAY_LEN(gh_conf_levels); i++)
        if (gh_conf_levels[i].level == level)
            return gh_conf_levels[i].name;
    return "info";
}

static size_t size_positive(struct gh_conf_ctx *c, const config_setting_t *g,
                            const char *where, const char *name, const char *def)
{
    size_t v = gh_conf_size(c, g, where, name, def);
    char q[256];

    if (v == 0) {
        gh_conf_error(c, member(g, name), "'%s' must be greater than 0",
                      gh_conf_qname(q, sizeof(q), where, name));
        gh_parse_size(def, &v);
    }
    return v;
}

static void load_workers(struct gh_conf_ctx *c, const config_setting_t *root)
{
    config_setting_t *s = member(root, "workers");
    long n;

    c->conf->workers_auto = true;
    if (s != NULL && is_int(s)) {
        c->conf->workers_auto = false;
        c->conf->workers = (int)gh_conf_int(c, root, "", "workers", 1, 1, 64);
        return;
    }
    if (s != NULL && (config_setting_type(s) != CONFIG_TYPE_STRING
                      || strcmp(config_setting_get_string(s), "auto") != 0))
        gh_conf_error(c, s, "'workers' must be a number from 1 to 64, or \"auto\"");
    n = sysconf(_SC_NPROCESSORS_ONLN);
    c->conf->workers = n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

static void load_logs(struct gh_conf_ctx *c, const config_setting_t *root)
{
    static const char *const ekeys[] = { "path", "level", NULL };
    static const char *const akeys[] = { "path", "format", "template", NULL };
    static const char *const levels[] = { "debug", "info", "notice", "warn", "error", NULL };
    static const char *const formats[] = { "combined", "json", "off", "custom", NULL };
    struct gh_conf *conf = c->conf;
    config_setting_t *g;
    char *p;
    int lv;

    g = gh_conf_group(c, root, "", "error_log");
    if (g != NULL)
        gh_conf_check_keys(c, g, "error_log", ekeys);
    p = gh_conf_str(c, g, "error_log", "path", "stderr");
    conf->error_log.path = strcmp(p, "stderr") == 0 ? p : gh_conf_path(c, p);
    if (p[0] == '\0')
        gh_conf_error(c, member(g, "path"), "'error_log.path' must not be empty");
    lv = gh_conf_enum(c, g, "error_log", "level", levels, 1);
    conf->error_log.level = gh_conf_levels[lv].level;

    g = gh_conf_group(c, root, "", "access_log");
    if (g != NULL)
        gh_conf_check_keys(c, g, "access_log", akeys);
    p = gh_conf_str(c, g, "access_log", "path", "logs/access.log");
    conf->access_log.path = gh_conf_path(c, p);
    conf->access_log.format = gh_conf_enum(c, g, "access_log", "format", formats, 0);
    if (p[0] == '\0' && conf->access_log.format != GH_ALOG_OFF)
        gh_conf_error(c, member(g, "path"), "'access_log.path' must not be empty");
    char *tpl = gh_conf_str(c, g, "access_log", "template", "");
    conf->access_log.template = tpl;
    if (conf->access_log.format != GH_ALOG_CUSTOM) {
        if (tpl[0] != '\0')
            gh_conf_error(c, member(g, "template"), "'access_log.template' is used only with "
                          "format = \"custom\"");
        return;
    }
    if (tpl[0] == '\0') {
        gh_conf_error(c, member(g, "format"), "format = \"custom\" needs "
                      "'access_log.template' (nginx variables: \"$remote_addr ... $status\")");
        return;
    }
    size_t len = strlen(tpl);
    struct gh_logfmt_tok *toks = gh_conf_alloc(c, (len + 1) * sizeof(*toks));
    char *names = gh_conf_alloc(c, len + 1), err[160];
    int n = gh_logfmt_compile(tpl, toks, len + 1, names, err, sizeof(err));
    if (n < 0)
        gh_conf_error(c, member(g, "template"), "'access_log.template': %s", err);
    else
        conf->access_log.custom = (struct gh_logfmt){ toks, (size_t)n };
}

/* limits.max_connections: a number, or "auto" (also when absent), which is
 * derived once the listeners are known (load_all). */
static void load_max_connections(struct gh_conf_ctx *c, const config_setting_t *g)
{
    config_setting_t *s = member(g, "max_connections");

    c->conf->limits.max_connections = GH_NOFILE_DEFAULT_MAX_CONNECTIONS;
    c->conf->limits.max_connections_auto = true;
    if (s != NULL && is_int(s)) {
        c->conf->limits.max_connections_auto = false;
        c->conf->limits.max_connections =
            (int)gh_conf_int(c, g, "limits", "max_connections", 10000, 1, 10000000);
    } else if (s != NULL && (config_setting_type(s) != CONFIG_TYPE_STRING
                             || strcmp(config_setting_get_string(s), "auto") != 0)) {
        gh_conf_error(c, s, "'limits.max_connections' must be a number from 1 to 10000000, "
                      "or \"auto\"");
    }
}

static void load_timeouts_limits(struct gh_conf_ctx *c, const config_setting_t *root)
{
    static const char *const tkeys[] = { "client_header", "client_body", "send",
        "keepalive", "upstream_connect", "upstream_send", "upstream_read",
        "tunnel", NULL };
    static const char *const lkeys[] = { "max_header_size", "max_headers",
        "max_uri_size", "max_body_size", "max_upstream_header_size",
        "min_client_rate", "max_connections", "max_conns_per_ip", NULL };
    struct gh_conf *conf = c->conf;
    config_setting_t *g;

    g = gh_conf_group(c, root, "", "timeouts");
    if (g != NULL)
        gh_conf_check_keys(c, g, "timeouts", tkeys);
    conf->timeouts.client_header = gh_conf_duration(c, g, "timeouts", "client_header", "10s", 1);
    conf->timeouts.client_body = gh_conf_duration(c, g, "timeouts", "client_body", "30s", 1);
    conf->timeouts.send = gh_conf_duration(c, g, "timeouts", "send", "30s", 1);
    conf->timeouts.keepalive = gh_conf_duration(c, g, "timeouts", "keepalive", "75s", 0);
    conf->timeouts.upstream_connect = gh_conf_duration(c, g, "timeouts", "upstream_connect", "5s", 1);
    conf->timeouts.upstream_send = gh_conf_duration(c, g, "timeouts", "upstream_send", "60s", 1);
    conf->timeouts.upstream_read = gh_conf_duration(c, g, "timeouts", "upstream_read", "60s", 1);
    conf->timeouts.tunnel = gh_conf_duration(c, g, "timeouts", "tunnel", "1h", 1);

    g = gh_conf_group(c, root, "", "limits");
    if (g != NULL)
        gh_conf_check_keys(c, g, "limits", lkeys);
    conf->limits.max_header_size = size_positive(c, g, "limits", "max_header_size", "16k");
    conf->limits.max_headers = (int)gh_conf_int(c, g, "limits", "max_headers", 100, 1, 10000);
    conf->limits.max_uri_size = size_positive(c, g, "limits", "max_uri_size", "8k");
    conf->limits.max_body_size = gh_conf_size(c, g, "limits", "max_body_size", "10M");
    conf->limits.max_upstream_header_size =
        size_positive(c, g, "limits", "max_upstream_header_size", "16k");
    conf->limits.min_client_rate = gh_conf_size(c, g, "limits", "min_client_rate", "1k");
    load_max_connections(c, g);
    conf->limits.max_conns_per_ip =
        (int)gh_conf_int(c, g, "limits", "max_conns_per_ip", 0, 0, 10000000);
}

static void load_listens(struct gh_conf_ctx *c, const config_setting_t *root)
{
    static const char *const keys[] = { "address", "tls", "http2", "proxy_protocol", NULL };
    config_setting_t *l = gh_conf_list(c, root, "", "listen");
    struct gh_conf *conf = c->conf;
    char where[64], q[96];
    int i, j, n = l != NULL ? config_setting_length(l) : 0;

    if (n == 0) {
        gh_conf_error(c, l, "at least one 'listen' is required");
        return;
    }
    conf->listens = gh_conf_alloc(c, sizeof(*conf->listens) * (size_t)n);
    for (i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(l, (unsigned)i), *a;
        struct gh_conf_listen *ls = &conf->listens[conf->nlistens];

        snprintf(where, sizeof(where), "listen.[%d]", i);
        if (!config_setting_is_group(e)) {
            gh_conf_error(c, e, "'%s' must be a group ({ address = ...; })", where);
            continue;
        }
        gh_conf_check_keys(c, e, where, keys);
        ls->line = config_setting_source_line(e);
        ls->tls = gh_conf_bool(c, e, where, "tls", false);
        ls->http2 = gh_conf_bool(c, e, where, "http2", false);
        ls->proxy_protocol = gh_conf_bool(c, e, where, "proxy_protocol", false);
        a = member(e, "address");
        if (a == NULL) {
            gh_conf_error(c, e, "'%s.address' is required", where);
            continue;
        }
        if (gh_conf_addr(c, a, gh_conf_qname(q, sizeof(q), where, "address"),
                         false, &ls->addr) == -1)
            continue;
        if (ls->tls && conf->tls.ncerts == 0)
            gh_conf_error(c, member(e, "tls"), "listen '%s' has tls = true but "
                          "'tls.certificates' is empty", ls->addr.text);
        for (j = 0; j < (int)conf->nlistens; j++) {
            struct gh_conf_addr *o = &conf->listens[j].addr;
            if (ls->addr.port != 0 && o->salen == ls->addr.salen
                && memcmp(&o->sa, &ls->addr.sa, o->salen) == 0) {
                gh_conf_error(c, a, "duplicate listen address '%s' (first at line %d)",
                              ls->addr.text, conf->listens[j].line);
                break;
            }
        }
        if (j == (int)conf->nlistens)
            conf->nlistens++;
    }
}

static void load_tls(struct gh_conf_ctx *c, const config_setting_t *root)
{
    static const char *const keys[] = { "certificates", "protocols",
        "session_tickets", "ocsp_stapling", "client_ca", "ticket_rotation", "strict_sni",
        "ocsp_file", NULL };
    static const char *const ckeys[] = { "cert", "key", NULL };
    struct gh_conf_tls *t = &c->conf->tls;
    config_setting_t *g = gh_conf_group(c, root, "", "tls"), *l, *pl;
    char where[64], **protos, *ca;
    size_t np, k;
    int i, n;

    if (g != NULL)
        gh_conf_check_keys(c, g, "tls", keys);
    l = gh_conf_list(c, g, "tls", "certificates");
    n = l != NULL ? config_setting_length(l) : 0;
    t->certs = gh_conf_alloc(c, sizeof(*t->certs) * (size_t)(n + 1));
    for (i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
        struct gh_conf_tls_cert *tc = &t->certs[t->ncerts];
        char *cert, *key;

        snprintf(where, sizeof(where), "tls.certificates.[%d]", i);
        if (!config_setting_is_group(e)) {
            gh_conf_error(c, e, "'%s' must be a group ({ cert = ...; key = ...; })", where);
            continue;
        }
        gh_conf_check_keys(c, e, where, ckeys);
        cert = gh_conf_str(c, e, where, "cert", "");
        key = gh_conf_str(c, e, where, "key", "");
        if (cert[0] == '\0' || key[0] == '\0') {
            gh_conf_error(c, e, "'%s' needs both 'cert' and 'key'", where);
            continue;
        }
        tc->cert = gh_conf_path(c, cert);
        tc->key = gh_conf_path(c, key);
        tc->line = config_setting_source_line(e);
        t->ncerts++;
    }
    pl = member(g, "protocols");
    if (pl == NULL) {
        t->protocols = GH_TLS_V1_2 | GH_TLS_V1_3;
    } else {
        protos = gh_conf_strlist(c, g, "tls", "protocols", &np);
        for (k = 0; k < np; k++) {
            if (strcmp(protos[k], "TLSv1.2") == 0)
                t->protocols |= GH_TLS_V1_2;
            else if (strcmp(protos[k], "TLSv1.3") == 0)
                t->protocols |= GH_TLS_V1_3;
            else
                gh_conf_error(c, pl, "'tls.protocols': unknown value '%s' "
                              "(expected TLSv1.2 | TLSv1.3)", protos[k]);
        }
        if (t->protocols == 0 && np == 0 && (config_setting_is_list(pl)
                                             || config_setting_is_array(pl)))
            gh_conf_error(c, pl, "'tls.protocols' must not be empty");
        if (t->protocols == 0)
            t->protocols = GH_TLS_V1_2 | GH_TLS_V1_3;
    }
    t->session_tickets = gh_conf_bool(c, g, "tls", "session_tickets", true);
    t->ocsp_stapling = gh_conf_bool(c, g, "tls", "ocsp_stapling", false);
    ca = gh_conf_str(c, g, "tls", "client_ca", "");
    t->client_ca = gh_conf_path(c, ca);
    t->ticket_rotation = gh_conf_duration(c, g, "tls", "ticket_rotation", "1h", 1);
    if (t->ticket_rotation < 60 * 1000)
        gh_conf_error(c, member(g, "ticket_rotation"),
                      "'tls.ticket_rotation' must be at least 1m");
    t->strict_sni = gh_conf_bool(c, g, "tls", "strict_sni", false);
    t->ocsp_file = gh_conf_path(c, gh_conf_str(c, g, "tls", "ocsp_file", ""));
    t->line = g != NULL ? config_setting_source_line(g) : 0;
}

static void load_http2(struct gh_conf_ctx *c, const config_setting_t *root)
{
    static const char *const keys[] = { "max_concurrent_streams", NULL };
    config_setting_t *g = gh_conf_group(c, root, "", "http2");
    if (g != NULL)
        gh_conf_check_keys(c, g, "http2", keys);
    c->conf->http2.max_concurrent_streams =
        (int)gh_conf_int(c, g, "http2", "max_concurrent_streams", 128, 1, 65536);
}

static void load_admin_realip(struct gh_conf_ctx *c, const config_setting_t *root)
{
    static const char *const akeys[] = { "address", "token", NULL };
    static const char *const rkeys[] = { "from", "header", NULL };
    struct gh_conf *conf = c->conf;
    config_setting_t *g, *a;

    g = gh_conf_group(c, root, "", "admin");
    if (g != NULL)
        gh_conf_check_keys(c, g, "admin", akeys);
    a = member(g, "address");
    if (a == NULL) {
        char err[256];
        struct gh_conf_addr tmp;
        if (gh_parse_addr("127.0.0.1:9901", false, &tmp, err, sizeof(err)) == -1)
            longjmp(c->oom, 1);
        conf->admin.addr = tmp;
        conf->admin.addr.text = gh_conf_strdup(c, "127.0.0.1:9901");
        conf->admin.addr.host = NULL;
        gh_conf_addr_release(&tmp);
        conf->admin.enabled = true;
    } else if (config_setting_type(a) == CONFIG_TYPE_STRING
               && config_setting_get_string(a)[0] == '\0') {
        conf->admin.enabled = false;
        conf->admin.addr.text = gh_conf_strdup(c, "");
    } else {
        conf->admin.enabled = gh_conf_addr(c, a, "admin.address", false,
                                           &conf->admin.addr) == 0;
        if (conf->admin.addr.text == NULL)
            conf->admin.addr.text = gh_conf_strdup(c, "");
    }
    conf->admin.token = gh_conf_str(c, g, "admin", "token", "");

    g = gh_conf_group(c, root, "", "real_ip");
    if (g != NULL)
        gh_conf_check_keys(c, g, "real_ip", rkeys);
    gh_conf_cidrs(c, g, "real_ip", "from", &conf->real_ip.from, &conf->real_ip.nfrom);
    conf->real_ip.header = gh_conf_str(c, g, "real_ip", "header", "X-Forwarded-For");
    if (!gh_conf_token_ok(conf->real_ip.header))
        gh_conf_error(c, member(g, "header"), "'real_ip.header': invalid header name '%s'",
                      conf->real_ip.header);
}

static void load_access(struct gh_conf_ctx *c, const config_setting_t *root)
{
    static const char *const keys[] = { "allow", "deny", "deny_action", "auto_ban", NULL };
    static const char *const bkeys[] = { "violations", "window", "duration", NULL };
    static const char *const actions[] = { "403", "close", NULL };
    struct gh_conf *conf = c->conf;
    config_setting_t *g = gh_conf_group(c, root, "", "access"), *b, *da;

    if (g != NULL)
        gh_conf_check_keys(c, g, "access", keys);
    gh_conf_cidrs(c, g, "access", "allow", &conf->access.allow, &conf->access.nallow);
    gh_conf_cidrs(c, g, "access", "deny", &conf->access.deny, &conf->access.ndeny);
    da = member(g, "deny_action");
    if (da != NULL && is_int(da)) {         /* deny_action = 403; */
        if (config_setting_get_int64(da) != 403)
            gh_conf_error(c, da, "'access.deny_action': unknown value '%lld' "
                          "(expected 403 | close)", (long long)config_setting_get_int64(da));
    } else {
        conf->access.deny_close = gh_conf_enum(c, g, "access", "deny_action", actions, 0) == 1;
    }
    b = gh_conf_group(c, g, "access", "auto_ban");
    if (b != NULL)
        gh_conf_check_keys(c, b, "access.auto_ban", bkeys);
    conf->access.ban_violations =
        (int)gh_conf_int(c, b, "access.auto_ban", "violations", 0, 0, 1000000);
    conf->access.ban_window = gh_conf_duration(c, b, "access.auto_ban", "window", "60s", 1);
    conf->access.ban_duration = gh_conf_duration(c, b, "access.auto_ban", "duration", "10m", 1);
}

static void load_cache_compression(struct gh_conf_ctx *c, const config_setting_t *root)
{
    static const char *const ckeys[] = { "size", "max_object_size", "override", "lock_timeout",
        NULL };
    static const char *const zkeys[] = { "gzip", "level", "brotli", "brotli_level", "zstd",
        "zstd_level", "min_size", "types", NULL };
    static const char *const types[] = { "text/", "application/json",
        "application/javascript", "image/svg+xml" };
    struct gh_conf *conf = c->conf;
    config_setting_t *g;
    size_t i;

    g = gh_conf_group(c, root, "", "cache");
    if (g != NULL)
        gh_conf_check_keys(c, g, "cache", ckeys);
    conf->cache.size = gh_conf_size(c, g, "cache", "size", "0");
    conf->cache.max_object_size = gh_conf_size(c, g, "cache", "max_object_size", "1M");
    conf->cache.override = gh_conf_bool(c, g, "cache", "override", false);
    /* How long a request waits for the head of an object another request
     * is fetching (collapsed forwarding) before it goes upstream itself;
     * 0 waits not at all (no collapsing). */
    conf->cache.lock_timeout = gh_conf_duration(c, g, "cache", "lock_timeout", "5s", 0);
    /* The store is a region of the shared segment (modules/cache_store.h). */
    if (conf->cache.size != 0 && conf->cache.size < GH_CONF_CACHE_MIN_SIZE)
        gh_conf_error(c, member(g, "size"), "'cache.size' must be 0 (no cache) or at least 256k");
    else if (conf->cache.size != 0 && conf->cache.size > conf->shm_size / 4 * 3)
        gh_conf_error(c, member(g, "size"), "'cache.size' must be at most 3/4 of shm_size "
                      "(the cache lives in the shared segment): raise shm_size");
    if (conf->cache.size != 0 && conf->cache.max_object_size == 0)
        gh_conf_error(c, member(g, "max_object_size"), "'cache.max_object_size' must be "
                      "greater than 0");

    g = gh_conf_group(c, root, "", "compression");
    if (g != NULL)
        gh_conf_check_keys(c, g, "compression", zkeys);
    conf->compression.gzip = gh_conf_bool(c, g, "compression", "gzip", true);
    conf->compression.level = (int)gh_conf_int(c, g, "compression", "level", 5, 1, 9);
    conf->compression.brotli = gh_conf_bool(c, g, "compression", "brotli", true);
    conf->compression.brotli_level =
        (int)gh_conf_int(c, g, "compression", "brotli_level", 5, 0, 11);
    conf->compression.zstd = gh_conf_bool(c, g, "compression", "zstd", true);
    /* 1..19: zstd's "ultra" levels 20..22 want windows of 32 MB and more. */
    conf->compression.zstd_level = (int)gh_conf_int(c, g, "compression", "zstd_level", 3, 1, 19);
    conf->compression.min_size = gh_conf_size(c, g, "compression", "min_size", "1024");
    if (member(g, "types") != NULL) {
        conf->compression.types =
            gh_conf_strlist(c, g, "compression", "types", &conf->compression.ntypes);
    } else {
        conf->compression.ntypes = GH_ARRAY_LEN(types);
        conf->compression.types = gh_conf_alloc(c, sizeof(types));
        for (i = 0; i < GH_ARRAY_LEN(types); i++)
            conf->compression.types[i] = gh_conf_strdup(c, types[i]);
    }
}

static void load_all(struct gh_conf_ctx *c, const config_setting_t *root)
{
    static const char *const keys[] = { "workers", "pid_file", "user", "shm_size",
        "shutdown_timeout", "error_log", "access_log", "timeouts", "limits",
        "listen", "tls", "http2", "admin", "real_ip", "upstreams", "access",
        "rate_limits", "cache", "compression", "servers", NULL };
    struct gh_conf *conf = c->conf;

    gh_conf_check_keys(c, root, "", keys);
    load_workers(c, root);
    conf->pid_file = gh_conf_path(c, gh_conf_str(c, root, "", "pid_file", "gatehouse.pid"));
    conf->user = gh_conf_str(c, root, "", "user", "");
    conf->shm_size = size_positive(c, root, "", "shm_size", "64M");
    conf->shutdown_timeout = gh_conf_duration(c, root, "", "shutdown_timeout", "30s", 0);
    load_logs(c, root);
    load_timeouts_limits(c, root);
    load_tls(c, root);
    load_listens(c, root);
    /* The default that fits the descriptors the master can have, so that a
     * hard limit of 20,000 (a common one) starts without a warning. */
    if (conf->limits.max_connections_auto)
        conf->limits.max_connections =
            gh_nofile_max_connections(gh_nofile_hard_limit(), conf->nlistens);
    load_http2(c, root);
    load_admin_realip(c, root);
    load_access(c, root);
    load_cache_compression(c, root);
    gh_conf_load_upstreams(c, root);
    gh_conf_load_rate_limits(c, root);
    gh_conf_load_servers(c, root);
}

/* An absolute prefix, so every resolved path is absolute and -T output
 * reads back the same from any directory. */
static char *absolute_prefix(struct gh_conf_ctx *c, const char *prefix)
{
    char cwd[4096], *p;
    size_t n;

    if (prefix != NULL && prefix[0] == '/') {
        p = gh_conf_strdup(c, prefix);
    } else {
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            fprintf(c->errs, "%s: getcwd() failed (%s)\n", c->file, strerror(errno));
            return NULL;
        }
        while (prefix != NULL && prefix[0] == '.' && (prefix[1] == '/' || prefix[1] == '\0'))
            prefix += prefix[1] == '/' ? 2 : 1;
        if (prefix == NULL || prefix[0] == '\0')
            p = gh_conf_strdup(c, cwd);
        else
            p = gh_conf_sprintf(c, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, prefix);
    }
    n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    return p;
}

/* Read and check the file named in c; everything it allocates is in the
 * arena. 0, or -1 after reporting. Only c is used after setjmp, so nothing
 * here can be clobbered by the longjmp. */
static int load_file(struct gh_conf_ctx *c, config_t *cfg, const char *prefix)
{
    int err;

    if (setjmp(c->oom) != 0) {
        c->capmsgs = c->nmsgs;      /* flush without growing */
        flush_errors(c);
        fprintf(c->errs, "%s: out of memory\n", c->file);
        return -1;
    }
    c->conf = gh_conf_alloc(c, sizeof(*c->conf));
    c->conf->arena = c->arena;
    c->conf->file = gh_conf_strdup(c, c->file);
    c->conf->prefix = absolute_prefix(c, prefix);
    if (c->conf->prefix == NULL)
        return -1;

    /* "@include" paths are relative to the including file's directory */
    {
        char *dir = gh_conf_strdup(c, c->file), *slash = strrchr(dir, '/');
        if (slash != NULL) {
            slash[slash == dir ? 1 : 0] = '\0';
            config_set_include_dir(cfg, dir);
            c->include_dir = dir;
        }
    }
    errno = 0;
    if (config_read_file(cfg, c->file) != CONFIG_TRUE) {
        err = errno;
        if (config_error_type(cfg) == CONFIG_ERR_FILE_IO)
            fprintf(c->errs, "%s: cannot read the configuration file (%s)\n", c->file,
                    strerror(err != 0 ? err : EIO));
        else
            fprintf(c->errs, "%s:%d: %s\n",
                    config_error_file(cfg) != NULL ? config_error_file(cfg) : c->file,
                    config_error_line(cfg), config_error_text(cfg));
        return -1;
    }
    load_all(c, config_root_setting(cfg));
    flush_errors(c);
    return c->nerrors > 0 ? -1 : 0;
}

struct gh_conf *gh_conf_load(const char *file, const char *prefix, FILE *errs)
{
    struct gh_conf_ctx *c = calloc(1, sizeof(*c));
    config_t *cfg = malloc(sizeof(*cfg));
    struct gh_conf *conf = NULL;
    int rc;

    if (errs == NULL)
        errs = stderr;
    if (c == NULL || cfg == NULL || (c->arena = calloc(1, sizeof(*c->arena))) == NULL) {
        fprintf(errs, "%s: out of memory\n", file);
        goto fail;
    }
    c->errs = errs;
    c->file = file;
    config_init(cfg);
    rc = load_file(c, cfg, prefix);
    config_destroy(cfg);
    if (rc == -1)
        goto fail;
    conf = c->conf;
    free(cfg);
    free(c);
    return conf;

fail:
    if (c != NULL)
        arena_free(c->arena);
    free(cfg);
    free(c);
    return NULL;
}

void gh_conf_free(struct gh_conf *conf)
{
    if (conf != NULL)
        arena_free(conf->arena);
}
