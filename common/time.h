/*
 * time.h - the cached clock. The event loop refreshes it once per
 * iteration so hot paths read a variable instead of calling clock_gettime.
 */
#ifndef GH_TIME_H
#define GH_TIME_H

#include <time.h>
#include "common/gh.h"

extern gh_msec_t gh_now_ms;      /* CLOCK_MONOTONIC, ms; for timers */
extern time_t gh_now_sec;        /* wall clock, seconds; for logs and headers */

/* Re-read both clocks into the cached values. The loop calls it after each
 * epoll_wait; gh_log_write calls it when the wall-clock second changed. */
void gh_time_update(void);

/* Monotonic milliseconds read now, bypassing the cache. */
gh_msec_t gh_time_monotonic_ms(void);

/* The date strings below format gh_now_sec (reading the clock first if it
 * was never read) and are rebuilt only when that second changes. Each
 * returns a static buffer, valid until the next call; not thread-safe. */

/* "Mon, 23 Nov 2026 18:58:52 GMT" (UTC) for the Date header: 29 chars + NUL. */
const char *gh_time_http_date(void);

/* "23/Nov/2026:18:58:52 +0100" (local time and offset, as nginx) for the
 * access log. */
const char *gh_time_log_date(void);

/* "2026/11/23 18:58:52" (local time) for the error log. */
const char *gh_time_err_date(void);

#endif
