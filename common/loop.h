/*
 * loop.h - the per-worker event loop: epoll plus the timer heap, in the
 * spirit of redis:src/ae.c. Watchers are embedded in their owners
 * (connections), so the loop allocates nothing per event.
 *
 * Lifetime rule. One epoll_wait returns a batch of events, each pointing at
 * a gh_io; a callback may close a connection whose event is still pending
 * later in the same batch. Therefore:
 *   - call gh_io_stop before close(2) and before freeing the owner. The
 *     loop then drops every event of that watcher still pending in the
 *     batch, so a stopped watcher is never called again (even when it is
 *     restarted, on the same or another fd, within the batch);
 *   - never free memory holding a gh_io (or a gh_timer) from a callback of
 *     the loop: the code up the stack may still use it. Queue the release
 *     with gh_loop_defer; deferred callbacks run at the end of
 *     gh_loop_run_once, after every I/O and timer callback of the iteration.
 *   - cancel an owner's timers before releasing it.
 */
#ifndef GH_LOOP_H
#define GH_LOOP_H

#include <sys/epoll.h>
#include "common/gh.h"
#include "common/timer.h"

struct gh_loop;
struct gh_io;
/* revents is a mask of EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP/EPOLLRDHUP. */
typedef void gh_io_fn(struct gh_io *io, uint32_t revents);

struct gh_io {
    int fd;                  /* -1 when not registered (an owner may park its
                                fd here while unregistered; see gh_io_start) */
    uint32_t events;         /* current epoll interest (EPOLLIN|EPOLLOUT|EPOLLET...) */
    gh_io_fn *cb;
    void *data;
};

/* A deferred callback, embedded in its owner (no allocation per call). */
typedef void gh_loop_deferred_fn(void *arg);
struct gh_loop_deferred {
    struct gh_loop_deferred *next;
    gh_loop_deferred_fn *fn;
    void *arg;
};

struct gh_loop {
    int epfd;
    int max_events;
    struct epoll_event *events;
    struct gh_timer_heap timers;
    bool stop;               /* not used by the loop: for the owner's run loop */
    /* private */
    int nready;              /* events in the batch being dispatched */
    int cur;                 /* index of the event being dispatched */
    struct gh_loop_deferred *deferred;         /* FIFO of deferred callbacks */
    struct gh_loop_deferred **deferred_tail;
};

/* Create the epoll instance, the event array (max_events entries, >= 1)
 * and the timer heap; refreshes the cached clock. 0 or -1 (logged). */
int gh_loop_init(struct gh_loop *loop, int max_events);
/* Run the pending deferred callbacks, then close the epoll fd and free the
 * arrays. Watchers and timers still registered are the owners' business
 * (their fds are not closed). */
void gh_loop_free(struct gh_loop *loop);

static inline void gh_io_init(struct gh_io *io, gh_io_fn *cb, void *data)
{
    io->fd = -1;
    io->events = 0;
    io->cb = cb;
    io->data = data;
}
/* Register fd with the given interest; the callback gets io->data back
 * through io. io must not be registered already (io->fd may hold fd or any
 * stale value: it is overwritten). 0, or -1 (errno set, not logged: EEXIST
 * when fd is already in this epoll set). */
int gh_io_start(struct gh_loop *loop, struct gh_io *io, int fd, uint32_t events);
/* Change the interest; a no-op when unchanged. 0, or -1 (errno set, not
 * logged; EBADF when not registered). */
int gh_io_modify(struct gh_loop *loop, struct gh_io *io, uint32_t events);
/* Unregister (does not close the fd: call this before close(2)) and drop
 * events of io still pending in the current batch. Sets io->fd = -1.
 * Harmless when io->fd == -1. */
void gh_io_stop(struct gh_loop *loop, struct gh_io *io);
/* Like gh_io_stop without the epoll_ctl(2), for an fd that is about to be
 * closed and was never duplicated: close(2) takes it out of the epoll set
 * (one syscall less per connection). */
void gh_io_forget(struct gh_loop *loop, struct gh_io *io);

/* Timers on the loop's heap. gh_loop_timer_set arms t (or moves it) to fire
 * delay_ms after the cached clock; 0, or -1 when out of memory. */
static inline int gh_loop_timer_set(struct gh_loop *loop, struct gh_timer *t, gh_msec_t delay_ms);
static inline void gh_loop_timer_cancel(struct gh_loop *loop, struct gh_timer *t)
{
    gh_timer_cancel(&loop->timers, t);
}

/* Queue fn(arg) to run at the end of the current (or next) iteration of
 * gh_loop_run_once, in FIFO order: typically to free an object holding a
 * gh_io. `node` is embedded in the object and must not already be queued
 * (guard with a "closed" flag); it may be reused once fn has been called.
 * fn may free the memory holding node, and may queue further callbacks,
 * which run in the same drain. */
void gh_loop_defer(struct gh_loop *loop, struct gh_loop_deferred *node,
                   gh_loop_deferred_fn *fn, void *arg);
/* Run every queued deferred callback now (worker exit; gh_loop_run_once
 * does it at the end of each iteration). Do not call from an I/O callback. */
void gh_loop_run_deferred(struct gh_loop *loop);

/* Timer callbacks per iteration at most (a 408 and its close cost about
 * 45 us: some 1.5 ms of timers between two epoll_waits). */
#define GH_LOOP_TIMER_BATCH 32

/* One iteration: wait for events (at most max_wait_ms, -1 = until the next
 * timer, or forever without timers; no wait while timers are due), refresh
 * the cached clock, dispatch I/O callbacks, run due timers (at most
 * GH_LOOP_TIMER_BATCH, earliest first: the others on the next iterations),
 * then the deferred callbacks. Returns the number of I/O events dispatched,
 * or -1 on a fatal epoll error (logged; EINTR is not an error: 0 is
 * returned after running due timers). */
int gh_loop_run_once(struct gh_loop *loop, int max_wait_ms);

#include "common/time.h"
static inline int gh_loop_timer_set(struct gh_loop *loop, struct gh_timer *t, gh_msec_t delay_ms)
{
    return gh_timer_set(&loop->timers, t, gh_now_ms + delay_ms);
}

#endif
