/*
 * timer.c - binary min-heap of timers ordered by deadline. Each timer keeps
 * its index in the heap array so set and cancel are O(log n).
 */
#include <stdlib.h>
#include "common/timer.h"

#define HEAP_INITIAL_CAP 64

void gh_timer_init(struct gh_timer *t, gh_timer_fn *cb, void *data)
{
    t->when = 0;
    t->heap_idx = SIZE_MAX;
    t->cb = cb;
    t->data = data;
}

int gh_timer_heap_init(struct gh_timer_heap *h)
{
    h->n = 0;
    h->cap = HEAP_INITIAL_CAP;
    h->v = malloc(h->cap * sizeof(*h->v));
    if (h->v == NULL) {
        h->cap = 0;
        return -1;
    }
    return 0;
}

void gh_timer_heap_free(struct gh_timer_heap *h)
{
    for (size_t i = 0; i < h->n; i++)
        h->v[i]->heap_idx = SIZE_MAX;
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

static inline void heap_place(struct gh_timer_heap *h, size_t i, struct gh_timer *t)
{
    h->v[i] = t;
    t->heap_idx = i;
}

static void sift_up(struct gh_timer_heap *h, size_t i)
{
    struct gh_timer *t = h->v[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->v[parent]->when <= t->when)
            break;
        heap_place(h, i, h->v[parent]);
        i = parent;
    }
    heap_place(h, i, t);
}

static void sift_down(struct gh_timer_heap *h, size_t i)
{
    struct gh_timer *t = h->v[i];

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n)
            break;
        if (child + 1 < h->n && h->v[child + 1]->when < h->v[child]->when)
            child++;
        if (t->when <= h->v[child]->when)
            break;
        heap_place(h, i, h->v[child]);
        i = child;
    }
    heap_place(h, i, t);
}

/* Remove the entry at index i and restore the heap property. */
static void heap_remove(struct gh_timer_heap *h, size_t i)
{
    struct gh_timer *t = h->v[i];
    struct gh_timer *last = h->v[--h->n];

    t->heap_idx = SIZE_MAX;
    if (i == h->n)
        return;                         /* t was the last entry */
    heap_place(h, i, last);
    if (i > 0 && h->v[(i - 1) / 2]->when > last->when)
        sift_up(h, i);
    else
        sift_down(h, i);
}

static int heap_grow(struct gh_timer_heap *h)
{
    size_t cap = h->cap ? h->cap * 2 : HEAP_INITIAL_CAP;
    struct gh_timer **v;

    if (cap > SIZE_MAX / sizeof(*v))
        return -1;
    v = realloc(h->v, cap * sizeof(*v));
    if (v == NULL)
        return -1;
    h->v = v;
    h->cap = cap;
    return 0;
}

int gh_timer_set(struct gh_timer_heap *h, struct gh_timer *t, gh_msec_t when)
{
    if (gh_timer_armed(t)) {
        GH_ASSERT(t->heap_idx < h->n && h->v[t->heap_idx] == t);
        t->deadline = when;
        if (when < t->when) {
            t->when = when;
            sift_up(h, t->heap_idx);
        }
        return 0;
    }
    if (h->n == h->cap && heap_grow(h) == -1)
        return -1;
    t->when = t->deadline = when;
    heap_place(h, h->n, t);
    h->n++;
    sift_up(h, h->n - 1);
    return 0;
}

void gh_timer_cancel(struct gh_timer_heap *h, struct gh_timer *t)
{
    if (!gh_timer_armed(t))
        return;
    GH_ASSERT(t->heap_idx < h->n && h->v[t->heap_idx] == t);
    heap_remove(h, t->heap_idx);
}

gh_msec_t gh_timer_next(const struct gh_timer_heap *h, gh_msec_t now)
{
    if (h->n == 0)
        return -1;
    gh_msec_t d = h->v[0]->when - now;
    return d > 0 ? d : 0;
}

size_t gh_timer_run(struct gh_timer_heap *h, gh_msec_t now)
{
    return gh_timer_run_max(h, now, SIZE_MAX);
}

size_t gh_timer_run_max(struct gh_timer_heap *h, gh_msec_t now, size_t max)
{
    /* At most as many callbacks as there were timers on entry: a callback
     * that re-arms itself (or arms another) for `now` runs on the next call
     * instead of spinning here forever. */
    size_t budget = GH_MIN(h->n, max);
    size_t fired = 0;

    while (fired < budget && h->n > 0 && h->v[0]->when <= now) {
        struct gh_timer *t = h->v[0];
        if (t->deadline != t->when) {
            /* Pushed later since it was queued: re-queue at the deadline
             * (which may still be due: then it fires in deadline order). */
            t->when = t->deadline;
            sift_down(h, 0);
            continue;
        }
        heap_remove(h, 0);
        fired++;
        t->cb(t);                       /* may free t: do not touch it after */
    }
    return fired;
}
