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

/* "alert", "error", "warn", "notice", "info", "debug" -> GH_LOG_*; -1 when
 * unknown or NULL. */
int gh_log_level_parse(const char *name);
/* The name of a level, or "unknown". Static string. */
const char *gh_log_level_name(int level);

/* Open (or, when already open, reopen) the error log at path with
 * O_APPEND|O_CREAT|O_CLOEXEC, mode 0644; "stderr" (or NULL) means file
 * descriptor 2, which is never closed. Sets the level. 0, or -1 with the
 * reason printed to stderr and to the previous log, which stays in use.
 * Until the first call the log is stderr at GH_LOG_INFO. */
int gh_log_open(const char *path, int level);
/* Reopen the same path (USR1). On success the old fd is closed, and when
 * fd 2 pointed at the old file (a daemon's dup2) it is redirected to the
 * new one. 0 (also for "stderr"), or -1 (logged to the old file, which
 * stays in use). */
int gh_log_reopen(void);
/* The fd being written, for dup2 onto stderr when daemonizing. It changes
 * on gh_log_open/gh_log_reopen. */
int gh_log_fd(void);
/* Messages above level are dropped (clamped to ALERT..DEBUG). */
void gh_log_set_level(int level);
extern int gh_log_level;

/* Write one line "DATE [level] PID: message (ERR: strerror)\n" with a
 * single write(2), best effort (not retried but for EINTR). Lines longer
 * than 2048 bytes are truncated and end in "..." (the errno suffix is kept).
 * Does not check gh_log_level (the macros do); preserves errno. */
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
