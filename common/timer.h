/*
 * timer.h - one-shot timers in a binary min-heap. Each timer remembers its
 * heap index, so (re)arming and cancelling are O(log n) with no allocation
 * beyond the heap array.
 */
#ifndef GH_TIMER_H
#define GH_TIMER_H

#include "common/gh.h"

struct gh_timer;
typedef void gh_timer_fn(struct gh_timer *t);

struct gh_timer {
    gh_msec_t when;          /* its key in the heap: at or before deadline */
    gh_msec_t deadline;      /* absolute deadline on the gh_now_ms clock */
    size_t heap_idx;         /* position in the heap; SIZE_MAX when not armed */
    gh_timer_fn *cb;
    void *data;
};

struct gh_timer_heap {
    struct gh_timer **v;
    size_t n, cap;
};

/* Initialise a timer (not armed). */
void gh_timer_init(struct gh_timer *t, gh_timer_fn *cb, void *data);
static inline bool gh_timer_armed(const struct gh_timer *t)
{
    return t->heap_idx != SIZE_MAX;
}

/* Allocate the heap array (it grows on demand). 0, or -1 out of memory. */
int gh_timer_heap_init(struct gh_timer_heap *h);
/* Free the array; timers still armed are marked not armed (never called). */
void gh_timer_heap_free(struct gh_timer_heap *h);

/* Arm t (or move it, if armed) to fire at `when`. Returns 0, or -1 when the
 * heap array cannot grow (out of memory). Pushing an armed timer later is
 * O(1): only its deadline changes, and when its old heap key comes due it
 * is re-queued at the deadline instead of firing (connections push their
 * timeouts on every read and write; compare nginx's lazy timer updates,
 * but exact: a callback never runs before its deadline). */
int gh_timer_set(struct gh_timer_heap *h, struct gh_timer *t, gh_msec_t when);
/* Disarm t; harmless when not armed. */
void gh_timer_cancel(struct gh_timer_heap *h, struct gh_timer *t);
/* Milliseconds until the earliest deadline from `now` (0 if already due),
 * or -1 when no timer is armed. */
gh_msec_t gh_timer_next(const struct gh_timer_heap *h, gh_msec_t now);
/* Disarm and call every timer due at `now`, earliest first (ties in no
 * particular order). A callback may arm or cancel any timer, itself
 * included, and may free its own timer (not another that is still armed:
 * cancel it first). At most as many callbacks run as timers were armed on
 * entry, so one that re-arms itself for `now` fires again on the next call
 * rather than looping here. Returns how many fired. */
size_t gh_timer_run(struct gh_timer_heap *h, gh_msec_t now);
/* As gh_timer_run, but at most max callbacks; the timers still due stay
 * armed (gh_timer_next says 0) and fire on a later call, earliest first. */
size_t gh_timer_run_max(struct gh_timer_heap *h, gh_msec_t now, size_t max);

#endif
