/*
 * log.h - the error log: "2026/11/23 18:58:52 [error] 1234: message" per line,
 * written with one write(2) so lines from many processes do not interleave.
 * Log once, where the errno is known (nginx:src/core/ngx_log.h).
 */
#ifndef GH_LOG_H
#define GH_LOG_H

#include <stdarg.h>
#include "common/gh.h"

enum gh_log_level {
    GH_LOG_ALERT = 0,        /* internal errors that should never happen */
    GH_LOG_ERROR,
    GH_LOG_WARN,
    GH_LOG_NOTICE,
    GH_LOG_INFO,
    GH_LOG_DEBUG,
};

/* "error" -> GH_LOG_ERROR, ... ; -1 when unknown. */
int gh_log_level_parse(const char *name);
const char *gh_log_level_name(int level);

/* Open (or, when already open, reopen) the error log at path; "stderr"
 * means file descriptor 2. 0, or -1 with the reason printed to stderr
 * (the previous log, if any, stays in use). */
int gh_log_open(const char *path, int level);
/* Reopen the same path (USR1). 0 or -1 (logged to the old file). */
int gh_log_reopen(void);
/* The fd being written, for dup2 onto stderr when daemonizing. */
int gh_log_fd(void);
void gh_log_set_level(int level);
extern int gh_log_level;

void gh_log_write(int level, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void gh_log_vwrite(int level, int err, const char *fmt, va_list ap);

/* err is an errno value appended as " (ERR: strerror)", or 0 for none. */
#define gh_log(level, err, ...) \
    do { if ((level) <= gh_log_level) gh_log_write((level), (err), __VA_ARGS__); } while (0)
#define gh_log_alert(...)  gh_log(GH_LOG_ALERT, 0, __VA_ARGS__)
#define gh_log_error(...)  gh_log(GH_LOG_ERROR, 0, __VA_ARGS__)
#define gh_log_warn(...)   gh_log(GH_LOG_WARN, 0, __VA_ARGS__)
#define gh_log_notice(...) gh_log(GH_LOG_NOTICE, 0, __VA_ARGS__)
#define gh_log_info(...)   gh_log(GH_LOG_INFO, 0, __VA_ARGS__)
#define gh_log_debug(...)  gh_log(GH_LOG_DEBUG, 0, __VA_ARGS__)

#endif
