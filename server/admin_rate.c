/*
 * admin_rate.c - the helper's ring of request and error samples (see
 * admin_rate.h). One process, one loop: no locks.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/admin_rate.h"

#define RING 6                          /* samples: GH_RATE_WINDOW_MS / GH_RATE_SAMPLE_MS + 1 */
#define MIN_SPAN_MS 250

struct rate_sample {
    uint64_t requests, errors;
};

static struct {
    const struct gh_conf *conf;
    struct gh_us_region *reg;
    size_t nservers;
    size_t *first;                      /* [u]: index of upstream u's first server */
    int *slot;                          /* [server]: its slot, -1 when none */
    struct rate_sample *ring;           /* [RING][nservers] */
    gh_msec_t at[RING];                 /* when each sample was taken */
    unsigned next, taken;               /* the next ring entry; samples so far */
} R;

void gh_rate_stop(void)
{
    free(R.first);
    free(R.slot);
    free(R.ring);
    memset(&R, 0, sizeof(R));
}

int gh_rate_start(const struct gh_conf *conf, struct gh_us_region *reg, gh_msec_t now)
{
    gh_rate_stop();
    size_t n = 0;
    for (size_t u = 0; u < conf->nupstreams; u++)
        n += conf->upstreams[u].nservers;
    R.first = calloc(conf->nupstreams + 1, sizeof(*R.first));
    R.slot = calloc(n + 1, sizeof(*R.slot));
    R.ring = calloc((size_t)RING * (n + 1), sizeof(*R.ring));
    if (R.first == NULL || R.slot == NULL || R.ring == NULL) {
        gh_log_error("out of memory for the admin API's request rates");
        gh_rate_stop();
        return -1;
    }
    for (size_t u = 0, i = 0; u < conf->nupstreams; u++) {
        const struct gh_conf_upstream *up = &conf->upstreams[u];
        R.first[u] = i;
        for (size_t k = 0; k < up->nservers; k++, i++)
            R.slot[i] = reg != NULL ? gh_us_find(reg, up->name, up->servers[k].addr.text) : -1;
    }
    R.conf = conf;
    R.reg = reg;
    R.nservers = n;
    gh_rate_sample(now);
    return 0;
}

void gh_rate_sample(gh_msec_t now)
{
    if (R.conf == NULL)
        return;
    struct rate_sample *row = &R.ring[(size_t)R.next * R.nservers];
    for (size_t i = 0; i < R.nservers; i++) {
        struct gh_us_totals t = { 0 };
        if (R.slot[i] >= 0)
            gh_us_read(R.reg, R.slot[i], &t);
        row[i] = (struct rate_sample){ t.requests, t.errors };
    }
    R.at[R.next] = now;
    R.next = (R.next + 1) % RING;
    if (R.taken < RING)
        R.taken++;
}

static double per_s(uint64_t now, uint64_t then, gh_msec_t span)
{
    return now > then ? (double)(now - then) * 1000.0 / (double)span : 0.0;
}

bool gh_rate_get(const struct gh_conf *conf, size_t u, size_t k, const struct gh_us_totals *t,
                 gh_msec_t now, struct gh_rate *out)
{
    if (R.conf == NULL || conf != R.conf || u >= conf->nupstreams
        || k >= conf->upstreams[u].nservers)
        return false;
    /* From the oldest sample to the newest: the first within the window;
     * when the loop was late and none is, the newest (a longer span). */
    int pick = -1;
    for (unsigned n = R.taken; n > 0; n--) {
        int e = (int)((R.next + RING - n) % RING);
        pick = e;
        if (now - R.at[e] <= GH_RATE_WINDOW_MS)
            break;
    }
    gh_msec_t span = pick >= 0 ? now - R.at[pick] : 0;
    if (span < MIN_SPAN_MS)
        return false;
    const struct rate_sample *s = &R.ring[(size_t)pick * R.nservers + R.first[u] + k];
    out->requests_per_s = per_s(t->requests, s->requests, span);
    out->errors_per_s = per_s(t->errors, s->errors, span);
    out->window_s = (double)span / 1000.0;
    return true;
}
