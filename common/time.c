/*
 * time.c - the cached clock and the date strings built from it, each
 * recomputed at most once per wall-clock second.
 */
#include <stdio.h>
#include "common/time.h"

gh_msec_t gh_now_ms;
time_t gh_now_sec;

static const char *const wday_names[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const mon_names[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* One cached string per format. The buffers are larger than any output so
 * an absurd year can only be truncated, never overflow. */
struct date_cache {
    time_t sec;                         /* second it was built for; -1 = never */
    char s[64];
};

static struct date_cache http_date = { -1, "" };
static struct date_cache log_date = { -1, "" };
static struct date_cache err_date = { -1, "" };

void gh_time_update(void)
{
    struct timespec ts;

    gh_now_ms = gh_time_monotonic_ms();
    if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
        gh_now_sec = time(NULL);
    else
        gh_now_sec = ts.tv_sec;
}

gh_msec_t gh_time_monotonic_ms(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer. */
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
        return gh_now_ms;
    return (gh_msec_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The second to format: the cached one, reading the clock once if nothing
 * ever refreshed the cache. */
static time_t now_sec(void)
{
    if (gh_now_sec == 0)
        gh_time_update();
    return gh_now_sec;
}

const char *gh_time_http_date(void)
{
    time_t t = now_sec();
    struct tm tm;

    if (http_date.sec == t)
        return http_date.s;
    if (gmtime_r(&t, &tm) == NULL)
        return http_date.s;
    snprintf(http_date.s, sizeof(http_date.s), "%s, %02d %s %04d %02d:%02d:%02d GMT",
             wday_names[tm.tm_wday % 7], tm.tm_mday, mon_names[tm.tm_mon % 12],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    http_date.sec = t;
    return http_date.s;
}

const char *gh_time_log_date(void)
{
    time_t t = now_sec();
    struct tm tm;

    if (log_date.sec == t)
        return log_date.s;
    if (localtime_r(&t, &tm) == NULL)
        return log_date.s;
    long off = tm.tm_gmtoff / 60;       /* minutes east of UTC */
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    snprintf(log_date.s, sizeof(log_date.s), "%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld",
             tm.tm_mday, mon_names[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
             tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
    log_date.sec = t;
    return log_date.s;
}

const char *gh_time_err_date(void)
{
    time_t t = now_sec();
    struct tm tm;

    if (err_date.sec == t)
        return err_date.s;
    if (localtime_r(&t, &tm) == NULL)
        return err_date.s;
    snprintf(err_date.s, sizeof(err_date.s), "%04d/%02d/%02d %02d:%02d:%02d",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    err_date.sec = t;
    return err_date.s;
}
