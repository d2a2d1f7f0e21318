/*
 * conf_priv.h - private to common/conf*.c: the loading context, the arena
 * and the typed getters that report "FILE:LINE: message" errors. Nothing
 * outside the configuration loader includes this.
 */
#ifndef GH_CONF_PRIV_H
#define GH_CONF_PRIV_H

#include <libconfig.h>
#include <setjmp.h>
#include "common/conf.h"

struct gh_conf_arena;

/* One error, kept until the end of the load so they print in file order. */
struct gh_conf_msg {
    const char *file;
    int line;
    char *text;
};

/* One load: errors are collected, then printed sorted by file and line;
 * running out of memory longjmps back to gh_conf_load, which frees
 * everything. */
struct gh_conf_ctx {
    struct gh_conf *conf;
    struct gh_conf_arena *arena;
    FILE *errs;
    const char *file;
    const char *include_dir;            /* the file's directory, for @include */
    int nerrors;
    struct gh_conf_msg *msgs;
    size_t nmsgs, capmsgs;
    jmp_buf oom;
};

/* Zeroed arena memory; never NULL (out of memory longjmps). */
void *gh_conf_alloc(struct gh_conf_ctx *c, size_t size);
/* Zeroed arena memory, or NULL (for callers holding malloc'd memory). */
void *gh_conf_try_alloc(struct gh_conf_ctx *c, size_t size);
char *gh_conf_strdup(struct gh_conf_ctx *c, const char *s);
char *gh_conf_sprintf(struct gh_conf_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Resolve a relative path against conf->prefix (absolute paths and ""
 * are kept as they are). */
char *gh_conf_path(struct gh_conf_ctx *c, const char *path);

/* Report "FILE:LINE: message" at setting `at` (its line; 1 for the root). */
void gh_conf_error(struct gh_conf_ctx *c, const config_setting_t *at,
                   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "where.name", or "name" when where is "" (into buf). */
const char *gh_conf_qname(char *buf, size_t size, const char *where,
                          const char *name);

/* Report every member of group g whose name is not in allowed (NULL
 * terminated). where names g in messages ("upstreams.[0]"; "" = root). */
void gh_conf_check_keys(struct gh_conf_ctx *c, const config_setting_t *g,
                        const char *where, const char *const *allowed);

/* The typed getters: member `name` of group g, or the default when absent.
 * A wrong type or value is reported and the default returned. */
int64_t gh_conf_int(struct gh_conf_ctx *c, const config_setting_t *g,
                    const char *where, const char *name, int64_t def,
                    int64_t lo, int64_t hi);
double gh_conf_double(struct gh_conf_ctx *c, const config_setting_t *g,
                      const char *where, const char *name, double def,
                      double lo, double hi);
bool gh_conf_bool(struct gh_conf_ctx *c, const config_setting_t *g,
                  const char *where, const char *name, bool def);
/* An arena copy; def (may be NULL) when absent. */
char *gh_conf_str(struct gh_conf_ctx *c, const config_setting_t *g,
                  const char *where, const char *name, const char *def);
/* def is written in the configuration syntax ("10s"); min_ms the least
 * value allowed. */
gh_msec_t gh_conf_duration(struct gh_conf_ctx *c, const config_setting_t *g,
                           const char *where, const char *name,
                           const char *def, gh_msec_t min_ms);
size_t gh_conf_size(struct gh_conf_ctx *c, const config_setting_t *g,
                    const char *where, const char *name, const char *def);
/* Index into names (NULL terminated) of the string value; def when absent. */
int gh_conf_enum(struct gh_conf_ctx *c, const config_setting_t *g,
                 const char *where, const char *name,
                 const char *const *names, int def);
/* A group member, or NULL when absent (or not a group: reported). */
config_setting_t *gh_conf_group(struct gh_conf_ctx *c,
                                const config_setting_t *g, const char *where,
                                const char *name);
/* A list "( ... )" or array "[ ... ]" member, or NULL when absent (or of
 * another type: reported). */
config_setting_t *gh_conf_list(struct gh_conf_ctx *c, const config_setting_t *g,
                               const char *where, const char *name);
/* A list or array of strings; *n = 0 and NULL when absent. */
char **gh_conf_strlist(struct gh_conf_ctx *c, const config_setting_t *g,
                       const char *where, const char *name, size_t *n);
/* request_headers / response_headers blocks. */
void gh_conf_headers(struct gh_conf_ctx *c, const config_setting_t *g,
                     const char *where, const char *name,
                     struct gh_conf_headers *out);

/* Parse the address setting s (q names it in messages) into out, strings
 * in the arena. 0 or -1 (reported). */
int gh_conf_addr(struct gh_conf_ctx *c, const config_setting_t *s,
                 const char *q, bool allow_name, struct gh_conf_addr *out);
/* A list of CIDR strings (member name of g) into *out (arena). */
void gh_conf_cidrs(struct gh_conf_ctx *c, const config_setting_t *g,
                   const char *where, const char *name,
                   struct gh_conf_cidr **out, size_t *nout);
/* "debug", "info", ... for a GH_LOG_* level (the SPEC's names). */
const char *gh_conf_level_name(int level);

/* "$remote_addr"-style variables: does s name one of the allowed forms? */
enum {
    GH_VAR_REMOTE_ADDR = 1 << 0, GH_VAR_URI = 1 << 1, GH_VAR_HOST = 1 << 2,
    GH_VAR_COOKIE = 1 << 3, GH_VAR_HEADER = 1 << 4,
};
bool gh_conf_var_ok(const char *s, unsigned allowed);
/* An HTTP token (header or cookie name). */
bool gh_conf_token_ok(const char *s);

/* conf_servers.c: upstreams, rate limits and virtual servers, with their
 * cross-references. */
void gh_conf_load_upstreams(struct gh_conf_ctx *c, const config_setting_t *root);
void gh_conf_load_rate_limits(struct gh_conf_ctx *c,
                              const config_setting_t *root);
void gh_conf_load_servers(struct gh_conf_ctx *c, const config_setting_t *root);

#endif
