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

/* Re-read both clocks into the cached values. */
void gh_time_update(void);

/* Monotonic milliseconds read now, bypassing the cache. */
gh_msec_t gh_time_monotonic_ms(void);

/* "Mon, 23 Nov 2026 18:58:52 GMT" for the Date header: 29 chars + NUL.
 * Recomputed at most once a second. */
const char *gh_time_http_date(void);

/* "23/Nov/2026:18:58:52 +0000" for the combined access log. */
const char *gh_time_log_date(void);

/* "2026/11/23 18:58:52" for the error log. */
const char *gh_time_err_date(void);

#endif
