/*
 * admin_rate.h - requests/s and errors/s of every configured upstream
 * server for the admin API (/status.json, /status), computed in the helper
 * from a short ring of samples: once a second it reads each server's
 * request and error totals (the shared upstream state, summed over the
 * processes); a rate is then the difference between the totals read now
 * and the oldest sample at most GH_RATE_WINDOW_MS old, over the time
 * between them. The ring lives in the helper only (a reload forks a new
 * helper, whose rates start again after a fraction of a second).
 */
#ifndef GH_ADMIN_RATE_H
#define GH_ADMIN_RATE_H

#include <stdbool.h>

#include "common/conf.h"
#include "common/time.h"
#include "modules/upstream_state.h"

#define GH_RATE_SAMPLE_MS 1000
#define GH_RATE_WINDOW_MS 5000

/* Size the ring for conf's servers (freeing any previous one) and take the
 * first sample. 0, or -1 (logged) when out of memory; rates are then
 * unknown. Helper only; conf must outlive the ring. */
int gh_rate_start(const struct gh_conf *conf, struct gh_us_region *reg, gh_msec_t now);
/* Take a sample of every server (call every GH_RATE_SAMPLE_MS). */
void gh_rate_sample(gh_msec_t now);
/* Free the ring. */
void gh_rate_stop(void);

struct gh_rate {
    double requests_per_s, errors_per_s;
    double window_s;                    /* the span the rates are over */
};

/* The rates of server k of upstream u of conf, given its totals read now:
 * true, or false when unknown (no ring for this conf, or no sample at least
 * 250 ms old yet). */
bool gh_rate_get(const struct gh_conf *conf, size_t u, size_t k, const struct gh_us_totals *t,
                 gh_msec_t now, struct gh_rate *out);

#endif
