/*
 * master.c - the master process cycle (compare ngx_master_process_cycle in
 * nginx:src/os/unix/ngx_process_cycle.c).
 *
 * Signals are blocked and taken one at a time with sigtimedwait, so every
 * action runs from this loop in a fixed order and never from a handler.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sdnotify.h"
#include "common/shm.h"
#include "common/time.h"
#include "server/helper.h"
#include "server/listen.h"
#include "server/master.h"
#include "server/master_prep.h"
#include "server/master_upgrade.h"
#include "server/process.h"
#include "server/tls.h"
#include "server/worker.h"

#define MAX_CHILDREN (GH_MAX_WORKERS * 4 + 8)
#define CRASH_UPTIME_MS 2000            /* a death sooner than this counts as a crash */
#define MAX_BACKOFF_MS 10000
#define MAX_DRAINING_GENERATIONS 2
#define HANDOVER_MS 2000                /* an old worker waits this long for its successor */

struct child {
    pid_t pid;                          /* 0 = free entry */
    int slot;
    uint32_t generation;
    int ctl_fd;                         /* write end of its control pipe */
    int ready_fd;                       /* read end of its ready pipe; -1 once read */
    bool ready;                         /* it said it accepts (GH_READY) */
    bool draining;                      /* of an old generation (or told to stop) */
    bool handover;                      /* old but still accepting: told QUIT only when
                                           its slot's new worker is ready (handover_due) */
    bool stopping;                      /* told to stop fast (too many old generations) */
    gh_msec_t handover_by;              /* with handover: QUIT by then anyway */
    gh_msec_t started;
    gh_msec_t kill_at;                  /* 0 = none; SIGKILL when passed */
};

struct slot_state {
    int crashes;
    gh_msec_t respawn_at;               /* 0 = no respawn pending */
};

/* The master's own counters, in the shared segment so that they survive a
 * binary upgrade (and, later, feed gatehouse_reloads_total and
 * gatehouse_worker_restarts_total). Only the master writes them. */
#define MASTER_STATS_REGION "master_stats"
#define MASTER_STATS_LAYOUT 1u
struct gh_master_stats {
    _Atomic uint64_t reloads;           /* successful HUP reloads */
    _Atomic uint64_t worker_restarts;   /* workers respawned after an unexpected death */
};

static struct {
    struct gh_conf *conf;
    const struct gh_master_opts *opts;
    struct gh_listeners ls;
    struct gh_shm shm;
    struct child children[MAX_CHILDREN];
    struct slot_state slots[GH_MAX_WORKERS];
    uint32_t generation;
    bool quitting, terminating, no_workers;
    gh_msec_t quit_deadline;
    struct gh_upgrade upgrade;          /* USR2 */
    struct gh_master_stats *stats;      /* in the segment; never NULL after start */
    struct gh_master_stats stats_local; /* fallback when the segment has no room */
    struct gh_master_user user;         /* whom the children run as */
    uint32_t notified_gen;              /* systemd was told READY=1 for this generation */
    bool upgraded;                      /* started by USR2: tell systemd our MAINPID */
    bool notify_failed;                 /* logged once */
} M;

/* systemd (Type=notify); nothing without $NOTIFY_SOCKET. */
static void notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notify(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (gh_sd_notify(msg) == -1 && !M.notify_failed) {
        M.notify_failed = true;
        gh_log(GH_LOG_WARN, errno, "cannot notify systemd through $NOTIFY_SOCKET");
    }
}

/* READY=1 once every slot of the current generation has a worker that
 * accepts: at start, and after each reload (which said RELOADING=1). */
static void notify_ready(void)
{
    if (M.notified_gen == M.generation || M.quitting || M.terminating || M.no_workers)
        return;
    for (int s = 0; s < M.conf->workers; s++) {
        bool ok = false;
        for (size_t i = 0; i < MAX_CHILDREN && !ok; i++) {
            const struct child *c = &M.children[i];
            ok = c->pid != 0 && c->slot == s && !c->draining && c->ready
                 && c->generation == M.generation;
        }
        if (!ok)
            return;
    }
    M.notified_gen = M.generation;
    if (M.upgraded)
        notify("MAINPID=%d\nREADY=1\nSTATUS=serving with %d workers (generation %u)",
               (int)getpid(), M.conf->workers, M.generation);
    else
        notify("READY=1\nSTATUS=serving with %d workers (generation %u)", M.conf->workers,
               M.generation);
    M.upgraded = false;                 /* MAINPID once */
}

static struct child *live_worker(int slot)
{
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        struct child *c = &M.children[i];
        if (c->pid != 0 && !c->draining && c->slot == slot)
            return c;
    }
    return NULL;
}

static size_t nchildren(void)
{
    size_t n = 0;
    for (size_t i = 0; i < MAX_CHILDREN; i++)
        n += M.children[i].pid != 0;
    return n;
}

static void send_ctl(struct child *c, char cmd, int arg)
{
    char msg[2] = { cmd, (char)arg };
    if (c->ctl_fd == -1)
        return;
    if (write(c->ctl_fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
        gh_log(GH_LOG_WARN, errno, "cannot signal worker %d over its pipe", (int)c->pid);
}

/* Tell every current worker to adopt (or release) a slot's sockets. */
static void broadcast_slot(char cmd, int slot)
{
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        struct child *c = &M.children[i];
        if (c->pid != 0 && !c->draining && c->slot != slot)
            send_ctl(c, cmd, slot);
    }
}

/* Slots whose sockets no current worker accepts from: those in crash
 * back-off, and those kept from a larger worker count (listen.c). */
static uint64_t orphan_mask(int except)
{
    uint64_t mask = 0;
    int nslots = GH_MAX(gh_listeners_max_slots(&M.ls), M.conf->workers);
    for (int s = 0; s < nslots && s < GH_MAX_WORKERS; s++)
        if (s != except && (s >= M.conf->workers || live_worker(s) == NULL))
            mask |= UINT64_C(1) << s;
    return mask;
}

/* In a child, right after fork: close the master's ends of the other
 * children's pipes, so that only the master holds them (a worker must see
 * EOF on its control pipe when the master dies). */
static void close_children_fds(void)
{
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        const struct child *c = &M.children[i];
        if (c->pid != 0 && c->ctl_fd != -1)
            close(c->ctl_fd);
        if (c->pid != 0 && c->ready_fd != -1)
            close(c->ready_fd);
    }
}

static int spawn_worker(int slot)
{
    int pfd[2], rfd[2];
    struct child *c = NULL;

    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        if (M.children[i].pid == 0) {
            c = &M.children[i];
            break;
        }
    }
    if (c == NULL) {
        gh_log_error("too many child processes; not starting a worker for slot %d", slot);
        return -1;
    }
    if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) == -1) {
        gh_log(GH_LOG_ERROR, errno, "pipe2() for worker slot %d failed", slot);
        return -1;
    }
    if (gh_ready_pipe(rfd) == -1) {
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    uint64_t adopt = orphan_mask(slot);
    pid_t pid = fork();
    if (pid == -1) {
        gh_log(GH_LOG_ERROR, errno, "fork() for worker slot %d failed", slot);
        close(pfd[0]);
        close(pfd[1]);
        close(rfd[0]);
        close(rfd[1]);
        return -1;
    }
    if (pid == 0) {
        gh_signals_reset_child();
        close(pfd[1]);
        close(rfd[0]);
        close_children_fds();
        if (gh_drop_privileges(M.conf->user) == -1)
            _exit(2);
        struct gh_worker_args args = {
            .conf = M.conf, .listeners = &M.ls, .shm = &M.shm, .slot = slot,
            .generation = M.generation, .ctl_fd = pfd[0], .ready_fd = rfd[1],
            .adopt_mask = adopt,
        };
        _exit(gh_worker_run(&args));
    }
    close(pfd[0]);
    close(rfd[1]);
    if (fcntl(pfd[1], F_SETFL, O_NONBLOCK) == -1)
        gh_log(GH_LOG_WARN, errno, "fcntl(O_NONBLOCK) on a worker pipe failed");
    *c = (struct child){
        .pid = pid, .slot = slot, .generation = M.generation, .ctl_fd = pfd[1],
        .ready_fd = rfd[0], .started = gh_time_monotonic_ms(),
    };
    if (gh_shm_proc_claim(&M.shm, pid, M.generation, slot) == -1)
        gh_log_warn("no free process slot in the shared segment for worker %d", (int)pid);
    gh_log_info("started worker %d for slot %d (generation %u)", (int)pid, slot, M.generation);
    broadcast_slot(GH_CTL_RELEASE, slot);
    return 0;
}

/* In the helper, right after fork: drop the workers' pipes and the
 * listening sockets (server/helper.c). */
static void helper_child_init(void)
{
    gh_signals_reset_child();
    close_children_fds();
    gh_listeners_close(&M.ls);
}

static void spawn_all(void)
{
    for (int s = 0; s < M.conf->workers; s++) {
        M.slots[s] = (struct slot_state){ 0 };
        if (spawn_worker(s) == -1) {
            M.slots[s].respawn_at = gh_time_monotonic_ms() + 1000;
            broadcast_slot(GH_CTL_ADOPT, s);
        }
    }
}

static void log_death(const struct child *c, int status)
{
    const char *what = c->draining ? "old worker" : "worker";
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        /* An operator's or the OOM killer's kill is an error; a crash an alert. */
        int level = (sig == SIGKILL || sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)
                        ? GH_LOG_ERROR : GH_LOG_ALERT;
        gh_log(level, 0, "%s %d (slot %d) killed by signal %d (%s)%s", what, (int)c->pid,
               c->slot, sig, gh_signal_name(sig), WCOREDUMP(status) ? ", core dumped" : "");
    } else {
        int code = WEXITSTATUS(status);
        gh_log(code == 0 ? GH_LOG_INFO : GH_LOG_ERROR, 0, "%s %d (slot %d) exited with code %d",
               what, (int)c->pid, c->slot, code);
    }
}

static void reap(void)
{
    for (int n = 0; n < 1024; n++) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        if (pid == M.upgrade.pid) {
            gh_upgrade_failed(&M.upgrade, status);
            if (M.no_workers)
                gh_log_notice("no workers running (WINCH); send HUP to start them");
            continue;
        }
        if (gh_helper_reap(pid, status))
            continue;
        struct child *c = NULL;
        for (size_t i = 0; i < MAX_CHILDREN; i++)
            if (M.children[i].pid == pid)
                c = &M.children[i];
        if (c == NULL)
            continue;
        log_death(c, status);
        gh_shm_proc_release(&M.shm, pid);
        if (c->ctl_fd != -1)
            close(c->ctl_fd);
        if (c->ready_fd != -1)
            close(c->ready_fd);
        bool was_current = !c->draining;
        int slot = c->slot;
        gh_msec_t uptime = gh_time_monotonic_ms() - c->started;
        *c = (struct child){ .ctl_fd = -1, .ready_fd = -1 };
        if (!was_current || M.quitting || M.terminating || M.no_workers
            || slot >= M.conf->workers)
            continue;
        struct slot_state *st = &M.slots[slot];
        gh_msec_t delay = 0;
        if (uptime < CRASH_UPTIME_MS) {
            st->crashes++;
            delay = GH_MIN((gh_msec_t)100 << GH_MIN(st->crashes, 10), MAX_BACKOFF_MS);
            gh_log_warn("worker slot %d is crashing (%d in a row); respawning in %lld ms", slot,
                        st->crashes, (long long)delay);
        } else {
            st->crashes = 0;
        }
        atomic_fetch_add(&M.stats->worker_restarts, 1);
        st->respawn_at = gh_time_monotonic_ms() + delay;
        /* Until it is back, the others accept from its sockets. */
        broadcast_slot(GH_CTL_ADOPT, slot);
    }
}

static void respawn_due(gh_msec_t now)
{
    if (M.quitting || M.terminating || M.no_workers)
        return;
    for (int s = 0; s < M.conf->workers; s++) {
        struct slot_state *st = &M.slots[s];
        if (st->respawn_at == 0 || st->respawn_at > now)
            continue;
        st->respawn_at = 0;
        if (live_worker(s) != NULL)
            continue;
        if (spawn_worker(s) == -1) {
            st->respawn_at = now + 1000;
            continue;
        }
        /* The old workers of its slot give this one its own time to start. */
        for (size_t i = 0; i < MAX_CHILDREN; i++) {
            struct child *c = &M.children[i];
            if (c->pid != 0 && c->handover && (c->slot == s || c->slot >= M.conf->workers))
                c->handover_by = GH_MAX(c->handover_by, now + HANDOVER_MS);
        }
    }
}

static void stop_children(char cmd, gh_msec_t grace)
{
    gh_msec_t now = gh_time_monotonic_ms();
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        struct child *c = &M.children[i];
        if (c->pid == 0)
            continue;
        send_ctl(c, cmd, 0);
        c->draining = true;
        c->handover = false;
        if (c->kill_at == 0 || c->kill_at > now + grace)
            c->kill_at = now + grace;
    }
}

/* Old generations drain; past MAX_DRAINING_GENERATIONS the oldest stop fast.
 * Old workers still accepting (handover) do not drain yet: not counted. */
static void limit_draining(void)
{
    for (int round = 0; round < MAX_CHILDREN; round++) {
        uint32_t oldest = UINT32_MAX;
        int ngen = 0;
        uint32_t seen[MAX_CHILDREN];
        for (size_t i = 0; i < MAX_CHILDREN; i++) {
            struct child *c = &M.children[i];
            if (c->pid == 0 || !c->draining || c->stopping || c->handover)
                continue;
            bool dup = false;
            for (int k = 0; k < ngen; k++)
                dup |= seen[k] == c->generation;
            if (!dup)
                seen[ngen++] = c->generation;
            if (c->generation < oldest)
                oldest = c->generation;
        }
        if (ngen <= MAX_DRAINING_GENERATIONS)
            return;
        gh_log_notice("more than %d old generations draining; stopping generation %u now",
                      MAX_DRAINING_GENERATIONS, oldest);
        for (size_t i = 0; i < MAX_CHILDREN; i++) {
            struct child *c = &M.children[i];
            if (c->pid != 0 && c->draining && !c->stopping && !c->handover
                && c->generation == oldest) {
                send_ctl(c, GH_CTL_TERMINATE, 0);
                /* Handled: not counted again; SIGKILL if still there in a second. */
                c->stopping = true;
                gh_msec_t soon = gh_time_monotonic_ms() + 1000;
                if (c->kill_at == 0 || c->kill_at > soon)
                    c->kill_at = soon;
            }
        }
    }
}

/* Read the ready pipes that have something. SIGIO woke us for one, but
 * signals of a kind merge, so look at them all. */
static void read_ready(void)
{
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        struct child *c = &M.children[i];
        char buf[16];
        if (c->pid == 0 || c->ready_fd == -1)
            continue;
        ssize_t r = read(c->ready_fd, buf, sizeof(buf));
        if (r == -1 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r > 0 && memchr(buf, GH_READY, (size_t)r) == NULL)
            continue;                   /* not for us: wait for the byte or EOF */
        if (r > 0) {
            c->ready = true;
            gh_log_info("worker %d (slot %d) is ready", (int)c->pid, c->slot);
        } else if (r == -1) {
            gh_log(GH_LOG_WARN, errno, "read() from the ready pipe of worker %d failed",
                   (int)c->pid);
        }
        /* Done with it; EOF without the byte is a worker dying at start (reaped). */
        close(c->ready_fd);
        c->ready_fd = -1;
    }
}

/* The current worker that takes over from an old one of `slot`: its slot's,
 * or for a slot that has none since the reload (fewer workers), any, since
 * they all accept from its sockets (orphan_mask); a ready one first. NULL
 * when none is alive. */
static const struct child *successor(int slot)
{
    const struct child *alive = NULL;
    if (slot < M.conf->workers)
        return live_worker(slot);
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        const struct child *c = &M.children[i];
        if (c->pid != 0 && !c->draining && (alive == NULL || c->ready))
            alive = c;
    }
    return alive;
}

/* On a reload the old workers keep accepting until the new worker of their
 * slot is ready (nginx sleeps 100 ms instead), so that no connection waits
 * in the queue while a new worker starts; HANDOVER_MS after the reload they
 * stop anyway. A slot whose new worker died before it was ready keeps its
 * old worker until a respawned one is ready (respawn_due gives each
 * HANDOVER_MS). */
static void handover_due(gh_msec_t now)
{
    bool stopped = false;
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        struct child *c = &M.children[i];
        if (c->pid == 0 || !c->handover)
            continue;
        const struct child *n = successor(c->slot);
        if (n == NULL || (!n->ready && now < c->handover_by))
            continue;
        if (n->ready)
            gh_log_info("stopping old worker %d (slot %d): worker %d is ready", (int)c->pid,
                        c->slot, (int)n->pid);
        else
            gh_log_warn("worker %d (slot %d) is not ready %d ms after it was due to take over; "
                        "stopping old worker %d anyway", (int)n->pid, n->slot, HANDOVER_MS,
                        (int)c->pid);
        send_ctl(c, GH_CTL_QUIT, 0);
        c->handover = false;
        c->kill_at = now + M.conf->shutdown_timeout + 2000;
        stopped = true;
    }
    if (stopped)
        limit_draining();
}

void gh_master_counters(uint64_t *reloads, uint64_t *worker_restarts)
{
    /* The helper is forked after attach_stats: M.stats points into the
     * segment in its copy too. */
    if (M.stats == NULL)
        return;
    *reloads = atomic_load(&M.stats->reloads);
    *worker_restarts = atomic_load(&M.stats->worker_restarts);
}

/* Find (or start) the master's counters in the segment. */
static void attach_stats(void)
{
    bool fresh = false;
    M.stats = gh_shm_region(&M.shm, MASTER_STATS_REGION, MASTER_STATS_LAYOUT,
                            sizeof(struct gh_master_stats), &fresh);
    if (M.stats == NULL) {
        gh_log_warn("no room for the master counters in the shared segment");
        M.stats = &M.stats_local;
    }
}

static void log_conf_errors(char *text)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
        gh_log_error("%s", line);
}

static struct gh_conf *load_conf(void)
{
    char *errs = NULL;
    size_t errlen = 0;
    FILE *f = open_memstream(&errs, &errlen);
    if (f == NULL) {
        gh_log(GH_LOG_ERROR, errno, "open_memstream() failed");
        return NULL;
    }
    struct gh_conf *conf = gh_conf_load(M.opts->conf_file, M.opts->prefix, f);
    fclose(f);
    if (conf == NULL)
        log_conf_errors(errs);
    free(errs);
    return conf;
}

static bool conf_has_tls(const struct gh_conf *conf)
{
    for (size_t i = 0; i < conf->nlistens; i++)
        if (conf->listens[i].tls)
            return true;
    return false;
}

/* The TLS contexts of conf (NULL without TLS listeners, or on errors,
 * which are logged). */
static struct gh_tls *load_tls(const struct gh_conf *conf)
{
    char *errs = NULL;
    size_t errlen = 0;
    struct gh_tls *tls = NULL;
    FILE *f = open_memstream(&errs, &errlen);
    if (f == NULL) {
        gh_log(GH_LOG_ERROR, errno, "open_memstream() failed");
        return NULL;
    }
    int rc = gh_tls_load(conf, f, &tls);
    fclose(f);
    if (rc == -1)
        log_conf_errors(errs);
    free(errs);
    return tls;
}

static void reload(void)
{
    if (M.no_workers) {
        gh_log_notice("starting workers again from the current configuration");
        M.no_workers = false;
        spawn_all();
        return;
    }
    gh_log_notice("reloading the configuration from %s", M.opts->conf_file);
    struct timespec mono;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    notify("RELOADING=1\nMONOTONIC_USEC=%llu",
           (unsigned long long)mono.tv_sec * 1000000ull + (unsigned long long)mono.tv_nsec / 1000);
    M.notified_gen = 0;                 /* READY=1 again once this one is done */
    struct gh_conf *conf = load_conf();
    if (conf == NULL) {
        gh_log_error("reload failed; still serving with the previous configuration");
        return;
    }
    if (conf->workers > GH_MAX_WORKERS) {
        gh_log_error("reload failed: at most %d workers", GH_MAX_WORKERS);
        gh_conf_free(conf);
        return;
    }
    if (conf->shm_size != M.conf->shm_size)
        gh_log_warn("shm_size changes take effect only at a restart");
    if (gh_master_prep_access_log(conf) == -1 || gh_master_prep_user(conf, &M.user) == -1) {
        gh_log_error("reload failed; still serving with the previous configuration");
        gh_conf_free(conf);
        gh_master_prep_user(M.conf, &M.user);
        return;
    }
    struct gh_tls *tls = load_tls(conf);
    if (tls == NULL && conf_has_tls(conf)) {
        gh_log_error("reload failed; still serving with the previous configuration");
        gh_conf_free(conf);
        gh_master_prep_user(M.conf, &M.user);
        return;
    }
    struct gh_listeners ls;
    if (gh_listeners_open(&ls, conf, conf->workers, &M.ls) == -1) {
        gh_log_error("reload failed; still serving with the previous configuration");
        gh_tls_free(tls);
        gh_conf_free(conf);
        gh_master_prep_user(M.conf, &M.user);
        return;
    }
    /* The old workers have their own copies: the master's goes now. */
    gh_tls_free(gh_tls_current());
    gh_tls_set_current(tls);
    if (gh_tls_shm_attach(&M.shm, conf) == -1)
        gh_log_warn("TLS sessions are not shared this generation");
    if (strcmp(conf->error_log.path, M.conf->error_log.path) != 0)
        gh_log_open(conf->error_log.path, conf->error_log.level);
    gh_log_set_level(conf->error_log.level);
    gh_master_prep_nofile(conf);

    /* The old generation accepts until the new one is ready (handover_due). */
    gh_msec_t now = gh_time_monotonic_ms();
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        struct child *c = &M.children[i];
        if (c->pid == 0 || c->draining)
            continue;
        c->draining = true;
        c->handover = true;
        c->handover_by = now + HANDOVER_MS;
    }
    gh_listeners_close(&M.ls);
    M.ls = ls;
    gh_conf_free(M.conf);
    M.conf = conf;
    M.generation++;
    atomic_store(&M.shm.hdr->generation, M.generation);
    atomic_fetch_add(&M.stats->reloads, 1);
    gh_helper_reload(conf, M.generation);
    spawn_all();
    limit_draining();
    gh_log_notice("reload done: generation %u with %d workers (reloads: %llu, worker restarts: "
                  "%llu)", M.generation, conf->workers,
                  (unsigned long long)atomic_load(&M.stats->reloads),
                  (unsigned long long)atomic_load(&M.stats->worker_restarts));
}

static void reopen_logs(void)
{
    gh_log_notice("reopening logs");
    gh_log_reopen();
    /* Recreate them for the children, owned by their user, before they reopen. */
    gh_master_prep_user(M.conf, &M.user);
    for (size_t i = 0; i < MAX_CHILDREN; i++)
        if (M.children[i].pid != 0)
            send_ctl(&M.children[i], GH_CTL_REOPEN, 0);
    gh_helper_signal(SIGUSR1);
}

static void handle_signal(int sig)
{
    switch (sig) {
    case SIGCHLD:
        break;                          /* reaped after every wake-up */
    case SIGHUP:
        if (!M.quitting && !M.terminating)
            reload();
        break;
    case SIGUSR1:
        reopen_logs();
        break;
    case SIGUSR2:
        gh_upgrade_start(&M.upgrade, &M.ls, M.shm.fd, M.opts->binary, M.opts->argv);
        break;
    case SIGWINCH:
        if (!M.opts->daemonize) {
            gh_log_info("SIGWINCH ignored: not daemonized");
            break;
        }
        gh_log_notice("stopping workers gracefully (WINCH)");
        M.no_workers = true;
        stop_children(GH_CTL_QUIT, M.conf->shutdown_timeout + 2000);
        break;
    case SIGQUIT:
        if (!M.quitting) {
            gh_log_notice("graceful shutdown");
            if (M.upgrade.pid == 0)     /* after USR2 the new master is the service */
                notify("STOPPING=1");
            M.quitting = true;
            stop_children(GH_CTL_QUIT, M.conf->shutdown_timeout + 2000);
        }
        break;
    case SIGTERM:
    case SIGINT:
        gh_log_notice("fast shutdown");
        if (M.upgrade.pid == 0)
            notify("STOPPING=1");
        M.terminating = true;
        stop_children(GH_CTL_TERMINATE, 3000);
        break;
    default:
        break;
    }
}

static void kill_overdue(gh_msec_t now)
{
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        struct child *c = &M.children[i];
        if (c->pid != 0 && c->kill_at > 0 && c->kill_at <= now) {
            gh_log_warn("worker %d did not stop in time; killing it", (int)c->pid);
            kill(c->pid, SIGKILL);
            c->kill_at = now + 60000;
        }
    }
}

static gh_msec_t next_wakeup(gh_msec_t now)
{
    gh_msec_t next = now + 1000;
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        const struct child *c = &M.children[i];
        if (c->pid != 0 && c->kill_at > 0)
            next = GH_MIN(next, c->kill_at);
        /* A bound already past waits for a successor (a respawn), not a time:
         * handover_due has acted on it, and sleeping 0 would spin. */
        if (c->pid != 0 && c->handover && c->handover_by > now)
            next = GH_MIN(next, c->handover_by);
    }
    for (int s = 0; s < M.conf->workers; s++)
        if (M.slots[s].respawn_at > 0)
            next = GH_MIN(next, M.slots[s].respawn_at);
    return next > now ? next - now : 0;
}

static int setup_shm(void)
{
    int inherited_fd;
    if (gh_listeners_inherit_parse(&inherited_fd) == -1) {
        gh_log_error("cannot parse GATEHOUSE_INHERIT");
        return -1;
    }
    if (inherited_fd != -1) {
        if (gh_shm_attach(&M.shm, inherited_fd) == 0) {
            gh_log_notice("binary upgrade: took over the shared segment");
            if (fcntl(M.shm.fd, F_SETFD, FD_CLOEXEC) == -1)
                gh_log(GH_LOG_WARN, errno, "fcntl(FD_CLOEXEC) on the shared segment failed");
            return 0;
        }
        close(inherited_fd);
    }
    return gh_shm_create(&M.shm, M.conf->shm_size);
}

static void cleanup(void)
{
    gh_upgrade_cleanup(&M.upgrade);
    gh_listeners_close(&M.ls);
    gh_shm_detach(&M.shm);
    gh_tls_free(gh_tls_current());
    gh_tls_set_current(NULL);
    gh_conf_free(M.conf);
}

int gh_master_run(struct gh_conf *conf, const struct gh_master_opts *opts)
{
    sigset_t set;
    bool upgraded = getenv("GATEHOUSE_INHERIT") != NULL;
    M.upgraded = upgraded;

    M.conf = conf;
    M.opts = opts;
    M.generation = 1;
    for (size_t i = 0; i < MAX_CHILDREN; i++)
        M.children[i] = (struct child){ .ctl_fd = -1, .ready_fd = -1 };
    gh_time_update();
    if (conf->workers > GH_MAX_WORKERS) {
        fprintf(stderr, "gatehouse: at most %d workers\n", GH_MAX_WORKERS);
        return 1;
    }
    if (gh_log_open(conf->error_log.path, conf->error_log.level) == -1)
        return 2;
    if (gh_master_prep_access_log(conf) == -1)
        return 2;
    if (gh_signals_block_master(&set) == -1)
        return 2;
    if (gh_upgrade_init(&M.upgrade, conf->pid_file) == -1)
        return 2;
    if (setup_shm() == -1)
        return 2;
    attach_stats();
    if (gh_tls_shm_attach(&M.shm, conf) == -1)
        return 2;
    if (gh_master_prep_user(conf, &M.user) == -1)
        return 2;
    if (conf->user != NULL && conf->user[0] != '\0' && geteuid() != 0)
        gh_log_warn("user \"%s\" is used only when started as root; ignored", conf->user);
    gh_master_prep_nofile(conf);
    if (gh_listeners_open(&M.ls, conf, conf->workers, NULL) == -1) {
        gh_listeners_inherit_done();
        return 2;
    }
    gh_listeners_inherit_done();
    if (gh_helper_setup(&M.shm, conf, opts->argv, helper_child_init) == -1)
        return 2;
    if (opts->daemonize && !upgraded && gh_daemonize() == -1)
        return 2;
    if (gh_pidfile_write(M.upgrade.pid_path, getpid()) == -1)
        return 2;
    M.generation = (uint32_t)atomic_load(&M.shm.hdr->generation) + 1;
    atomic_store(&M.shm.hdr->generation, M.generation);
    gh_log_notice("gatehouse %s started: master %d, %d workers", GH_VERSION, (int)getpid(),
                  conf->workers);
    spawn_all();
    gh_helper_spawn(M.conf, M.generation);

    for (;;) {
        gh_msec_t now = gh_time_monotonic_ms();
        gh_msec_t wait = next_wakeup(now);
        struct timespec ts = { wait / 1000, (wait % 1000) * 1000000 };
        siginfo_t info;
        int sig = sigtimedwait(&set, &info, &ts);
        if (sig > 0)
            handle_signal(sig);
        else if (errno != EAGAIN && errno != EINTR)
            gh_log(GH_LOG_ALERT, errno, "sigtimedwait() failed");
        read_ready();
        reap();
        notify_ready();
        now = gh_time_monotonic_ms();
        handover_due(now);
        respawn_due(now);
        kill_overdue(now);
        gh_helper_tick(M.quitting || M.terminating);
        if ((M.quitting || M.terminating) && nchildren() == 0 && !gh_helper_running())
            break;
        if (M.quitting && M.quit_deadline == 0)
            M.quit_deadline = now + M.conf->shutdown_timeout + 5000;
    }
    gh_log_notice("exiting");
    cleanup();
    return 0;
}
