/*
 * worker.c - the worker process: its event loop, the listening sockets it
 * accepts from, the control pipe from the master, and graceful draining.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"
#include "server/conn.h"
#include "server/http1.h"
#include "server/http2.h"
#include "server/proxy.h"
#include "server/reqid.h"
#include "server/worker.h"
#include "server/pipeline.h"
#include "modules/metrics.h"

#define GH_BUF_SIZE (16 * 1024)
#define GH_MAX_FREE_BUFS 1024
#define ACCEPT_RETRY_MS 100
#define IDLE_HALF_CLOSE_MS 1000
#define ALOG_FLUSH_MS 1000

static struct gh_worker W;

static void accept_set(struct gh_worker *w, struct gh_accept *a, bool on)
{
    if (on == a->active)
        return;
    if (on) {
        if (gh_io_start(&w->loop, &a->io, a->io.fd, EPOLLIN) == -1) {
            gh_log(GH_LOG_ERROR, errno, "epoll_ctl() on a listening socket failed");
            return;
        }
    } else {
        int fd = a->io.fd;
        gh_io_stop(&w->loop, &a->io);
        a->io.fd = fd;
    }
    a->active = on;
}

/* Which sockets this worker accepts from: its own slot, plus adopted ones. */
static bool slot_wanted(const struct gh_worker *w, int slot)
{
    if (w->draining || w->accept_paused)
        return false;
    return slot == w->slot || (w->adopted & (UINT64_C(1) << slot)) != 0;
}

void gh_worker_update_accept(struct gh_worker *w)
{
    for (size_t i = 0; i < w->naccepts; i++)
        accept_set(w, &w->accepts[i], slot_wanted(w, w->accepts[i].slot));
}

static void accept_resume(struct gh_timer *t)
{
    struct gh_worker *w = t->data;
    w->accept_paused = false;
    gh_worker_update_accept(w);
}

void gh_worker_pause_accept(struct gh_worker *w)
{
    if (w->accept_paused)
        return;
    w->accept_paused = true;
    gh_worker_update_accept(w);
    gh_loop_timer_set(&w->loop, &w->accept_timer, ACCEPT_RETRY_MS);
}

static void close_listeners(struct gh_worker *w)
{
    for (size_t i = 0; i < w->naccepts; i++) {
        struct gh_accept *a = &w->accepts[i];
        accept_set(w, a, false);
        if (a->io.fd != -1) {
            close(a->io.fd);
            a->io.fd = -1;
        }
    }
}

static void maybe_exit(struct gh_worker *w)
{
    if (w->draining && w->nconns == 0)
        w->loop.stop = true;
}

/* While draining: half-close connections idle for a second, close all at
 * the deadline. */
static void drain_tick(struct gh_timer *t)
{
    struct gh_worker *w = t->data;
    if (gh_now_ms >= w->drain_deadline) {
        gh_log_info("shutdown_timeout reached; closing %zu connections", w->nconns);
        while (!gh_list_empty(&w->active))
            gh_conn_close(GH_CONTAINER_OF(w->active.next, struct gh_conn, link));
        gh_conn_close_idle(w, INT64_MAX, false);
        w->loop.stop = true;
        return;
    }
    gh_conn_close_idle(w, gh_now_ms - IDLE_HALF_CLOSE_MS, true);
    maybe_exit(w);
    gh_loop_timer_set(&w->loop, &w->drain_timer, 100);
}

static void start_drain(struct gh_worker *w, bool fast)
{
    if (fast) {
        w->terminating = true;
        w->drain_deadline = gh_now_ms;
    } else if (w->draining) {
        return;
    } else {
        w->drain_deadline = gh_now_ms + w->conf->shutdown_timeout;
    }
    w->draining = true;
    close_listeners(w);
    gh_conn_drain_all(w);
    gh_loop_timer_set(&w->loop, &w->drain_timer, fast ? 0 : 100);
    maybe_exit(w);
}

static void ctl_read(struct gh_io *io, uint32_t revents)
{
    struct gh_worker *w = io->data;
    GH_UNUSED(revents);
    for (int n = 0; n < 64; n++) {
        ssize_t r = read(io->fd, w->ctl_msg + w->ctl_len, sizeof(w->ctl_msg) - w->ctl_len);
        if (r == -1 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r <= 0) {
            /* The master is gone: finish what we have and exit. */
            if (r == -1)
                gh_log(GH_LOG_ERROR, errno, "read() from the master pipe failed");
            int fd = io->fd;
            gh_io_stop(&w->loop, io);
            close(fd);
            start_drain(w, false);
            return;
        }
        w->ctl_len += (size_t)r;
        if (w->ctl_len < sizeof(w->ctl_msg))
            continue;
        w->ctl_len = 0;
        int arg = (unsigned char)w->ctl_msg[1];
        switch (w->ctl_msg[0]) {
        case GH_CTL_QUIT:
            start_drain(w, false);
            break;
        case GH_CTL_TERMINATE:
            start_drain(w, true);
            break;
        case GH_CTL_ADOPT:
            if (arg < GH_MAX_WORKERS)
                w->adopted |= UINT64_C(1) << arg;
            gh_worker_update_accept(w);
            break;
        case GH_CTL_RELEASE:
            if (arg < GH_MAX_WORKERS)
                w->adopted &= ~(UINT64_C(1) << arg);
            gh_worker_update_accept(w);
            break;
        case GH_CTL_REOPEN:
            gh_log_reopen();
            gh_alog_reopen(&w->alog);
            break;
        default:
            gh_log_alert("unknown control message %d from the master", w->ctl_msg[0]);
            break;
        }
    }
}

/* gatehouse_connections{state}: counted here once a second, not kept up
 * to date on every state change. */
static void publish_connections(struct gh_worker *w)
{
    uint32_t n[4] = { 0 };              /* reading, writing, idle, tunnel */
    uint32_t h2_sessions = 0, h2_streams = 0;
    size_t seen = 0;
    for (struct gh_link *l = w->active.next; l != &w->active && seen < w->nconns;
         l = l->next, seen++) {
        struct gh_conn *c = GH_CONTAINER_OF(l, struct gh_conn, link);
        if (c->h2 != NULL) {
            h2_sessions++;
            h2_streams += gh_http2_open_streams(c);
        }
        if (c->req != NULL && gh_proxy_tunnelling(c->req))
            n[3]++;
        else if (c->state == GH_CONN_BUSY || c->state == GH_CONN_LINGER)
            n[1]++;
        else
            n[0]++;                     /* a head, a PROXY header or a handshake arriving */
    }
    for (struct gh_link *l = w->idle.next; l != &w->idle && seen < w->nconns;
         l = l->next, seen++) {
        n[2]++;
        h2_sessions += GH_CONTAINER_OF(l, struct gh_conn, link)->h2 != NULL;
    }
    gh_metrics_set_connections(n[0], n[1], n[2], n[3]);
    gh_metrics_set_http2(h2_sessions, h2_streams);
}

static void alog_flush_tick(struct gh_timer *t)
{
    struct gh_worker *w = t->data;
    publish_connections(w);
    struct gh_shm_proc *me = gh_shm_proc_find(w->shm, w->pid);
    if (me != NULL)
        atomic_store(&me->heartbeat_ms, gh_now_ms);
    gh_alog_flush(&w->alog);
    gh_loop_timer_set(&w->loop, &w->flush_timer, ALOG_FLUSH_MS);
}

static int setup_accepts(struct gh_worker *w, const struct gh_listeners *ls)
{
    size_t n = 0;
    for (size_t i = 0; i < ls->n; i++)
        n += (size_t)ls->v[i].nslots;
    w->accepts = calloc(n ? n : 1, sizeof(*w->accepts));
    if (w->accepts == NULL) {
        gh_log_error("out of memory");
        return -1;
    }
    for (size_t i = 0; i < ls->n; i++) {
        for (int s = 0; s < ls->v[i].nslots; s++) {
            struct gh_accept *a = &w->accepts[w->naccepts++];
            gh_io_init(&a->io, gh_conn_accept, a);
            a->io.fd = ls->v[i].fds[s];
            a->w = w;
            a->listener = &ls->v[i];
            a->slot = s;
        }
    }
    return 0;
}

#ifdef GH_DEBUG
/* Start-up hooks for the tests, honoured by debug builds only (GH_DEBUG, the
 * sanitizer build): GATEHOUSE_DEBUG_WORKER_START_DELAY_MS sleeps that long
 * before the worker is ready (a slow start: TLS contexts, a cache index);
 * GATEHOUSE_DEBUG_WORKER_START_FAIL=PATH fails the start (exit 2) while
 * PATH exists. -1 to fail. */
static int debug_start_hooks(void)
{
    const char *fail = getenv("GATEHOUSE_DEBUG_WORKER_START_FAIL");
    const char *delay = getenv("GATEHOUSE_DEBUG_WORKER_START_DELAY_MS");
    if (fail != NULL && fail[0] != '\0' && access(fail, F_OK) == 0) {
        gh_log_error("debug: %s exists; failing the worker's start", fail);
        return -1;
    }
    long ms = delay != NULL ? strtol(delay, NULL, 10) : 0;
    if (ms > 0) {
        struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
            ;
        gh_time_update();
    }
    return 0;
}
#endif

/* Tell the master that this worker accepts now (worker.h). */
static void report_ready(int fd)
{
    char b = GH_READY;
    if (fd == -1)
        return;
    /* A master that is gone (EPIPE) is seen on the control pipe too. */
    if (write(fd, &b, 1) != 1)
        gh_log(GH_LOG_WARN, errno, "cannot tell the master that this worker is ready");
    close(fd);
}

int gh_worker_run(const struct gh_worker_args *args)
{
    struct gh_worker *w = &W;
    int status = 0;

    /* Exit with the master even if the pipe is somehow kept open. */
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    memset(w, 0, sizeof(*w));
    w->conf = args->conf;
    w->shm = args->shm;
    w->slot = args->slot;
    w->generation = args->generation;
    w->adopted = args->adopt_mask;
    w->pid = getpid();
    gh_list_init(&w->active);
    gh_list_init(&w->idle);
    gh_timer_init(&w->accept_timer, accept_resume, w);
    gh_timer_init(&w->drain_timer, drain_tick, w);
    gh_timer_init(&w->flush_timer, alog_flush_tick, w);
    /* A whole request or response head must fit in one buffer. */
    size_t bufsize = GH_MAX((size_t)GH_BUF_SIZE,
                            GH_MAX(w->conf->limits.max_header_size,
                                   w->conf->limits.max_upstream_header_size) + 1);
    bufsize = (bufsize + 4095) & ~(size_t)4095;
    gh_buf_pool_init(&w->bufs, bufsize, GH_MAX_FREE_BUFS);
    gh_time_update();

    gh_reqid_init();
    if (gh_loop_init(&w->loop, 512) == -1)
        return 2;
    if (gh_alog_open(&w->alog, w->conf->access_log.format == GH_ALOG_OFF
                                   ? NULL : w->conf->access_log.path) == -1)
        gh_log_error("cannot open the access log; requests are not logged");
    if (setup_accepts(w, args->listeners) == -1)
        return 2;
    const struct gh_worker_env env = {
        .conf = w->conf, .shm = w->shm, .pid = w->pid, .generation = w->generation,
        .slot = w->slot,
    };
    if (gh_pipeline_init(&env) == -1)
        return 2;
    if (gh_proxy_worker_init(w) == -1)
        return 2;
    gh_io_init(&w->ctl_io, ctl_read, w);
    if (gh_io_start(&w->loop, &w->ctl_io, args->ctl_fd, EPOLLIN) == -1) {
        gh_log(GH_LOG_ERROR, errno, "epoll_ctl() on the master pipe failed");
        return 2;
    }
#ifdef GH_DEBUG
    if (debug_start_hooks() == -1)
        return 2;
#endif
    gh_worker_update_accept(w);
    gh_loop_timer_set(&w->loop, &w->flush_timer, ALOG_FLUSH_MS);
    /* Last: the sockets are in the loop, whose next turn accepts. */
    report_ready(args->ready_fd);

    while (!w->loop.stop) {
        if (gh_loop_run_once(&w->loop, -1) == -1) {
            status = 2;
            break;
        }
    }
    close_listeners(w);
    gh_proxy_worker_exit(w);
    gh_conn_worker_exit(w);
    gh_pipeline_exit();
    gh_alog_flush(&w->alog);
    gh_alog_close(&w->alog);
    free(w->accepts);
    gh_buf_pool_destroy(&w->bufs);
    gh_loop_free(&w->loop);
    return status;
}
