/*
 * minrate.h - the clock behind limits.min_client_rate: a client must average
 * at least `rate` bytes/s over the time a transfer waits on it, after a
 * grace (compare mod_reqtimeout's MinRate).
 *
 * The clock runs only in stretches where the client is the bottleneck; the
 * owner starts and stops it at those transitions (a flag test when nothing
 * changes) and asks for the deadline only when it is about to wait on the
 * client, to arm the timer it arms anyway no later than that. There is no
 * per-byte work: `bytes` is whatever count the owner keeps already.
 *
 * The client is behind when the time waited on it exceeds
 * grace + bytes / rate, so the deadline of a running stretch is
 * since + grace + bytes * 1000 / rate - waited (it may be in the past).
 */
#ifndef GH_MINRATE_H
#define GH_MINRATE_H

#include <stdbool.h>
#include <stdint.h>
#include "common/gh.h"

struct gh_minrate {
    gh_msec_t waited;                   /* ms waited on the client in closed stretches */
    gh_msec_t since;                    /* start of the running stretch */
    bool on;                            /* a stretch is running */
};

/* Start a stretch at `now` (nothing when one is running). */
static inline void gh_minrate_start(struct gh_minrate *m, gh_msec_t now)
{
    if (!m->on) {
        m->on = true;
        m->since = now;
    }
}

/* End the running stretch at `now`, if any. */
static inline void gh_minrate_stop(struct gh_minrate *m, gh_msec_t now)
{
    if (m->on) {
        m->on = false;
        m->waited += now - m->since;
    }
}

/* Time waited on the client up to `now`. */
static inline gh_msec_t gh_minrate_waited(const struct gh_minrate *m, gh_msec_t now)
{
    return m->waited + (m->on ? now - m->since : 0);
}

/* When a client that moved `bytes` so far falls behind `rate` bytes/s
 * (rate > 0) with `grace` ms of slack, if the running stretch goes on
 * (m->on). Saturates instead of overflowing. */
static inline gh_msec_t gh_minrate_deadline(const struct gh_minrate *m, gh_msec_t grace,
                                            uint64_t bytes, uint64_t rate)
{
    const uint64_t cap = (uint64_t)1 << 40;   /* ms: 34 years */
    uint64_t allow = bytes < cap ? bytes * 1000 / rate : cap;
    if (allow > cap)
        allow = cap;
    return m->since + grace + (gh_msec_t)allow - m->waited;
}

#endif
