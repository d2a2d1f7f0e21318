/*
 * loop.h - the per-worker event loop: epoll plus the timer heap, in the
 * spirit of redis:src/ae.c. Watchers are embedded in their owners
 * (connections), so the loop allocates nothing per event.
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
    int fd;                  /* -1 when not registered */
    uint32_t events;         /* current epoll interest (EPOLLIN|EPOLLOUT|EPOLLET...) */
    gh_io_fn *cb;
    void *data;
};

struct gh_loop {
    int epfd;
    int max_events;
    struct epoll_event *events;
    struct gh_timer_heap timers;
    bool stop;
};

/* Create the epoll instance and the event array. 0 or -1 (logged). */
int gh_loop_init(struct gh_loop *loop, int max_events);
void gh_loop_free(struct gh_loop *loop);

static inline void gh_io_init(struct gh_io *io, gh_io_fn *cb, void *data)
{
    io->fd = -1;
    io->events = 0;
    io->cb = cb;
    io->data = data;
}
/* Register fd with the given interest. 0 or -1 (errno set, not logged). */
int gh_io_start(struct gh_loop *loop, struct gh_io *io, int fd, uint32_t events);
/* Change the interest; a no-op when unchanged. 0 or -1. */
int gh_io_modify(struct gh_loop *loop, struct gh_io *io, uint32_t events);
/* Unregister (does not close the fd). Harmless when not registered. */
void gh_io_stop(struct gh_loop *loop, struct gh_io *io);

/* Timers on the loop's heap. */
static inline int gh_loop_timer_set(struct gh_loop *loop, struct gh_timer *t, gh_msec_t delay_ms);
static inline void gh_loop_timer_cancel(struct gh_loop *loop, struct gh_timer *t)
{
    gh_timer_cancel(&loop->timers, t);
}

/* One iteration: wait for events (at most max_wait_ms, -1 = until the next
 * timer), refresh the cached clock, dispatch I/O callbacks, then run due
 * timers. Returns the number of I/O events dispatched, or -1 on a fatal
 * epoll error (EINTR is not an error). */
int gh_loop_run_once(struct gh_loop *loop, int max_wait_ms);

#include "common/time.h"
static inline int gh_loop_timer_set(struct gh_loop *loop, struct gh_timer *t, gh_msec_t delay_ms)
{
    return gh_timer_set(&loop->timers, t, gh_now_ms + delay_ms);
}

#endif
