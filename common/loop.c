/*
 * loop.c - epoll event loop with a timer heap and deferred callbacks
 * (after redis:src/ae.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>
#include "common/log.h"
#include "common/loop.h"
#include "common/time.h"

int gh_loop_init(struct gh_loop *loop, int max_events)
{
    if (max_events < 1)
        max_events = 1;
    loop->epfd = -1;
    loop->max_events = max_events;
    loop->events = NULL;
    loop->stop = false;
    loop->nready = 0;
    loop->cur = 0;
    loop->deferred = NULL;
    loop->deferred_tail = &loop->deferred;
    loop->timers.v = NULL;
    loop->timers.n = loop->timers.cap = 0;

    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd == -1) {
        gh_log(GH_LOG_ALERT, errno, "epoll_create1() failed");
        return -1;
    }
    loop->events = calloc((size_t)max_events, sizeof(*loop->events));
    if (loop->events == NULL || gh_timer_heap_init(&loop->timers) == -1) {
        gh_log_alert("out of memory creating the event loop");
        goto fail;
    }
    gh_time_update();
    return 0;

fail:
    free(loop->events);
    loop->events = NULL;
    close(loop->epfd);
    loop->epfd = -1;
    return -1;
}

void gh_loop_free(struct gh_loop *loop)
{
    gh_loop_run_deferred(loop);
    if (loop->epfd != -1)
        close(loop->epfd);
    loop->epfd = -1;
    free(loop->events);
    loop->events = NULL;
    gh_timer_heap_free(&loop->timers);
}

int gh_io_start(struct gh_loop *loop, struct gh_io *io, int fd, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = io };

    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
        return -1;
    io->fd = fd;
    io->events = events;
    return 0;
}

int gh_io_modify(struct gh_loop *loop, struct gh_io *io, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = io };

    if (io->fd == -1) {
        errno = EBADF;
        return -1;
    }
    if (events == io->events)
        return 0;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) == -1)
        return -1;
    io->events = events;
    return 0;
}

void gh_io_stop(struct gh_loop *loop, struct gh_io *io)
{
    if (io->fd == -1)
        return;
    /* ENOENT/EBADF mean it is already gone: nothing to undo. */
    (void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    gh_io_forget(loop, io);
}

void gh_io_forget(struct gh_loop *loop, struct gh_io *io)
{
    if (io->fd == -1)
        return;
    io->fd = -1;
    io->events = 0;
    /* Forget its events still pending in this batch. */
    for (int i = loop->cur + 1; i < loop->nready; i++)
        if (loop->events[i].data.ptr == io)
            loop->events[i].data.ptr = NULL;
}

void gh_loop_defer(struct gh_loop *loop, struct gh_loop_deferred *node,
                   gh_loop_deferred_fn *fn, void *arg)
{
#ifdef GH_DEBUG
    for (struct gh_loop_deferred *d = loop->deferred; d != NULL; d = d->next)
        GH_ASSERT(d != node);
#endif
    node->next = NULL;
    node->fn = fn;
    node->arg = arg;
    *loop->deferred_tail = node;
    loop->deferred_tail = &node->next;
}

void gh_loop_run_deferred(struct gh_loop *loop)
{
    while (loop->deferred != NULL) {
        struct gh_loop_deferred *d = loop->deferred;
        loop->deferred = d->next;
        if (loop->deferred == NULL)
            loop->deferred_tail = &loop->deferred;
        d->next = NULL;
        d->fn(d->arg);                  /* may free d, may queue more */
    }
}

/* The epoll_wait timeout: max_wait_ms bounded by the next timer. */
static int wait_timeout(struct gh_loop *loop, int max_wait_ms)
{
    gh_msec_t next = gh_timer_next(&loop->timers, gh_now_ms);

    if (next < 0)
        return max_wait_ms < 0 ? -1 : max_wait_ms;
    if (next > INT_MAX)
        next = INT_MAX;
    if (max_wait_ms >= 0 && max_wait_ms < next)
        return max_wait_ms;
    return (int)next;
}

int gh_loop_run_once(struct gh_loop *loop, int max_wait_ms)
{
    int timeout = wait_timeout(loop, max_wait_ms);
    int n = epoll_wait(loop->epfd, loop->events, loop->max_events, timeout);
    int dispatched = 0;

    if (n == -1) {
        if (errno != EINTR) {
            gh_log(GH_LOG_ALERT, errno, "epoll_wait() failed");
            return -1;
        }
        n = 0;
    }
    gh_time_update();

    loop->nready = n;
    for (loop->cur = 0; loop->cur < loop->nready; loop->cur++) {
        struct epoll_event *ev = &loop->events[loop->cur];
        struct gh_io *io = ev->data.ptr;
        if (io == NULL || io->fd == -1)
            continue;                   /* stopped earlier in this batch */
        dispatched++;
        io->cb(io, ev->events);
    }
    loop->nready = 0;
    loop->cur = 0;

    /* A bounded number: the rest are due still, so the next epoll_wait does
     * not block, and the I/O that is ready goes first. A wave of timeouts
     * (5,000 slowloris heads timing out within a few hundred ms, each a
     * 408 and a close) is then served between the other connections'
     * events instead of in one batch of 100 ms that stalls all of them
     * (nginx expires every due timer at once). */
    gh_timer_run_max(&loop->timers, gh_now_ms, GH_LOOP_TIMER_BATCH);
    gh_loop_run_deferred(loop);
    return dispatched;
}
