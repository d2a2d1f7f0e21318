/*
 * alog.h - the access-log writer. Each worker keeps its own buffer of whole
 * lines and writes it with one write(2) on an O_APPEND descriptor, so many
 * workers can share one file without interleaving lines. The buffer is
 * written when a line would not fit, by gh_alog_flush (the worker calls it
 * from a periodic timer, and before exiting) and by gh_alog_close.
 *
 * A zeroed struct gh_alog is a closed, disabled log. Not thread-safe: one
 * writer per struct (one per process).
 */
#ifndef GH_ALOG_H
#define GH_ALOG_H

#include <time.h>
#include "common/gh.h"

#define GH_ALOG_BUF_SIZE (64 * 1024)

struct gh_alog {
    char *path;              /* NULL when disabled ("off") or closed */
    int fd;                  /* -1 when disabled (meaningless while path is NULL) */
    char *buf;               /* GH_ALOG_BUF_SIZE bytes of whole lines */
    size_t len, cap;
    time_t last_error;       /* rate limit for write failure messages */
};

/* Open path for appending (O_APPEND|O_CREAT|O_CLOEXEC, 0644) with a fresh
 * buffer. NULL, "" or "off" disable the log. When a is already open, its
 * buffer is flushed and the old file closed once the new one is open.
 * 0, or -1 (logged) when the file cannot be opened or out of memory: the
 * previous state of a, open or closed, is kept. */
int gh_alog_open(struct gh_alog *a, const char *path);
/* Flush, then reopen the same path (USR1 after rotation). 0, or -1 (logged)
 * keeping the old descriptor. A disabled log returns 0. */
int gh_alog_reopen(struct gh_alog *a);
/* Append one line (a '\n' is added when it does not end with one; len 0
 * is a no-op). Flushes first when it would not fit; a line larger than the
 * whole buffer is written directly. A no-op while disabled. Write errors
 * are logged at most once a second; the data is dropped. */
void gh_alog_append(struct gh_alog *a, const char *line, size_t len);
/* Write out the buffered lines. 0, or -1 (logged, the lines are dropped). */
int gh_alog_flush(struct gh_alog *a);
/* Flush, close and free; a becomes a closed, disabled log (fd -1). */
void gh_alog_close(struct gh_alog *a);

static inline bool gh_alog_enabled(const struct gh_alog *a)
{
    return a->path != NULL;
}

#endif
