/*
 * helper.c - the helper process (health checks and the admin API) and the
 * master's side of it: spawning, respawning with back-off, replacing it on
 * reload, stopping it with the master.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/loop.h"
#include "common/time.h"
#include "modules/health.h"
#include "modules/upstream_state.h"
#include "server/admin.h"
#include "server/helper.h"
#include "server/listen.h"
#include "server/process.h"
#include "server/tls.h"
#include "modules/edge.h"
#include "modules/cache.h"
#include "modules/metrics.h"

#define CRASH_UPTIME_MS 2000
#define MAX_BACKOFF_MS 10000
#define KILL_AFTER_MS 3000
#define TICK_MS 1000

static struct {
    struct gh_shm *shm;
    const struct gh_conf *conf;
    uint32_t generation;
    char *const *argv;
    gh_helper_child_fn *child_init;
    int admin_fd;
    char *admin_text;                   /* the address admin_fd is bound to */
    pid_t pid;                          /* the current helper, 0 = none */
    pid_t old_pid;                      /* one being replaced (reload) */
    gh_msec_t started;
    int crashes;
    gh_msec_t respawn_at;               /* 0 = none pending */
    bool stopping;
    gh_msec_t term_at;                  /* when SIGTERM was sent, 0 = not yet */
    pid_t master;
} H = { .admin_fd = -1 };

/* ---- the helper process ---------------------------------------------- */

struct helper_loop {
    struct gh_loop loop;
    struct gh_io sig_io;
    struct gh_timer tick;
    struct gh_shm_proc *me;
};

static void set_title(void)
{
    prctl(PR_SET_NAME, "gh-helper", 0, 0, 0);
    if (H.argv == NULL || H.argv[0] == NULL)
        return;
    /* Overwrite the argv area (contiguous strings) with our title, so that
     * ps and /proc/PID/cmdline say what this process is. */
    char *start = H.argv[0], *end = start + strlen(start) + 1;
    for (int i = 1; H.argv[i] != NULL && H.argv[i] == end; i++)
        end = H.argv[i] + strlen(H.argv[i]) + 1;
    static const char title[] = "gatehouse: helper process";
    size_t room = (size_t)(end - start);
    if (room < 2)
        return;
    memset(start, 0, room);
    memcpy(start, title, GH_MIN(sizeof(title) - 1, room - 1));
}

static void helper_signal(struct gh_io *io, uint32_t revents)
{
    struct helper_loop *hl = io->data;
    GH_UNUSED(revents);
    struct signalfd_siginfo si;
    for (int n = 0; n < 16; n++) {
        if (read(io->fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
            return;
        if (si.ssi_signo == SIGUSR1)
            gh_log_reopen();
        else if (si.ssi_signo != SIGHUP)
            hl->loop.stop = true;
    }
}

static void helper_tick(struct gh_timer *t)
{
    struct helper_loop *hl = t->data;
    if (getppid() != H.master) {
        hl->loop.stop = true;           /* the master is gone */
        return;
    }
    if (hl->me != NULL)
        atomic_store(&hl->me->heartbeat_ms, gh_now_ms);
    gh_loop_timer_set(&hl->loop, &hl->tick, TICK_MS);
}

static int helper_main(void)
{
    struct helper_loop hl;
    sigset_t set;

    memset(&hl, 0, sizeof(hl));
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    gh_time_update();
    int proc = gh_shm_proc_claim(H.shm, getpid(), H.generation, -1);
    hl.me = proc >= 0 ? &H.shm->hdr->procs[proc] : NULL;
    if (gh_loop_init(&hl.loop, 64) == -1)
        return 2;
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd == -1) {
        gh_log(GH_LOG_ERROR, errno, "signalfd() in the helper failed");
        return 2;
    }
    gh_io_init(&hl.sig_io, helper_signal, &hl);
    if (gh_io_start(&hl.loop, &hl.sig_io, sfd, EPOLLIN) == -1) {
        gh_log(GH_LOG_ERROR, errno, "epoll_ctl() on the helper's signalfd failed");
        return 2;
    }
    gh_timer_init(&hl.tick, helper_tick, &hl);
    gh_loop_timer_set(&hl.loop, &hl.tick, TICK_MS);

    struct gh_health *health = gh_health_start(&hl.loop, H.conf, gh_us_region());
    struct gh_admin *admin = NULL;
    if (H.admin_fd != -1)
        admin = gh_admin_start(&hl.loop, H.admin_fd, H.conf, gh_us_region());
    struct gh_tls_ocsp *ocsp = gh_tls_ocsp_start(&hl.loop);
    gh_log_info("helper %d running: health checks %s, admin API %s, OCSP fetches %s",
                (int)getpid(), health ? "on" : "off", admin ? "on" : "off", ocsp ? "on" : "off");
    int status = 0;
    while (!hl.loop.stop) {
        if (gh_loop_run_once(&hl.loop, -1) == -1) {
            status = 2;
            break;
        }
    }
    gh_tls_ocsp_stop(ocsp);
    gh_admin_stop(admin);
    gh_health_stop(health);
    gh_loop_timer_cancel(&hl.loop, &hl.tick);
    gh_io_stop(&hl.loop, &hl.sig_io);
    close(sfd);
    gh_loop_free(&hl.loop);
    return status;
}

/* ---- the master's side ------------------------------------------------ */

#define ADMIN_ENV "GATEHOUSE_ADMIN"

/* The admin listener a previous binary passed on USR2, when it is bound to
 * the configured address; -1 otherwise (an unused one is closed). */
static int inherited_admin(const struct gh_conf *conf)
{
    const char *env = getenv(ADMIN_ENV);
    if (env == NULL)
        return -1;
    char *end;
    long fd = strtol(env, &end, 10);
    bool ok = end != env && *end == ' ' && fd > 2 && fd < 65536 && conf->admin.enabled
              && strcmp(end + 1, conf->admin.addr.text) == 0;
    if (fd > 2 && fd < 65536 && !ok)
        close((int)fd);
    unsetenv(ADMIN_ENV);
    if (!ok)
        return -1;
    fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char text[128];
    if (getsockname((int)fd, (struct sockaddr *)&ss, &sl) == -1) {
        close((int)fd);
        return -1;
    }
    gh_log_notice("admin listening on %s (inherited)",
                  ss.ss_family == AF_UNIX ? conf->admin.addr.text
                      : gh_sockaddr_text((struct sockaddr *)&ss, sl, text, sizeof(text)));
    return (int)fd;
}

static int bind_admin(const struct gh_conf *conf)
{
    if (!conf->admin.enabled)
        return -1;
    int fd = inherited_admin(conf);
    return fd != -1 ? fd : gh_admin_listen(&conf->admin.addr);
}

void gh_helper_exec_prepare(void)
{
    char buf[600];
    if (H.admin_fd == -1 || H.admin_text == NULL)
        return;
    snprintf(buf, sizeof(buf), "%d %s", H.admin_fd, H.admin_text);
    if (fcntl(H.admin_fd, F_SETFD, 0) == 0)
        setenv(ADMIN_ENV, buf, 1);
}

int gh_helper_setup(struct gh_shm *shm, const struct gh_conf *conf, char *const *argv,
                    gh_helper_child_fn *child_init)
{
    /* The generation the master is about to start (it bumps the segment's). */
    uint32_t generation = (uint32_t)atomic_load(&shm->hdr->generation) + 1;
    H.shm = shm;
    H.conf = conf;
    H.generation = generation;
    H.argv = argv;
    H.child_init = child_init;
    H.master = getpid();
    if (gh_us_reserve(shm, conf, generation) == -1)
        gh_log_warn("upstream state is kept per worker");
    gh_edge_reserve(shm, conf);
    gh_metrics_reserve(shm);
    gh_cache_reserve(shm, conf);
    if (conf->admin.enabled) {
        H.admin_fd = bind_admin(conf);
        if (H.admin_fd == -1)
            return -1;
        H.admin_text = strdup(conf->admin.addr.text);
    }
    return 0;
}

void gh_helper_spawn(const struct gh_conf *conf, uint32_t generation)
{
    H.conf = conf;
    H.generation = generation;
    H.master = getpid();                /* after daemonizing */
    H.respawn_at = 0;
    if (H.stopping || H.shm == NULL)
        return;
    pid_t pid = fork();
    if (pid == -1) {
        gh_log(GH_LOG_ERROR, errno, "fork() for the helper failed");
        H.respawn_at = gh_time_monotonic_ms() + 1000;
        return;
    }
    if (pid == 0) {
        if (H.child_init != NULL)
            H.child_init();
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != H.master)
            _exit(0);
        set_title();
        if (gh_drop_privileges(conf->user) == -1)
            _exit(2);
        _exit(helper_main());
    }
    H.pid = pid;
    H.started = gh_time_monotonic_ms();
    if (gh_shm_proc_claim(H.shm, pid, generation, -1) == -1)
        gh_log_warn("no free process slot in the shared segment for the helper %d", (int)pid);
    gh_log_info("started helper %d (generation %u)", (int)pid, generation);
}

void gh_helper_reload(const struct gh_conf *conf, uint32_t generation)
{
    if (H.shm == NULL)
        return;
    if (gh_us_reserve(H.shm, conf, generation) == -1)
        gh_log_warn("upstream state is kept per worker");
    gh_edge_reserve(H.shm, conf);
    gh_metrics_reserve(H.shm);
    gh_cache_reserve(H.shm, conf);
    const char *want = conf->admin.enabled ? conf->admin.addr.text : NULL;
    if (want == NULL || H.admin_text == NULL || strcmp(want, H.admin_text) != 0) {
        int fd = want ? bind_admin(conf) : -1;
        if (want != NULL && fd == -1) {
            gh_log_error("keeping the admin API on %s", H.admin_text ? H.admin_text : "(none)");
        } else {
            if (H.admin_fd != -1)
                close(H.admin_fd);
            free(H.admin_text);
            H.admin_fd = fd;
            H.admin_text = want ? strdup(want) : NULL;
        }
    }
    if (H.pid != 0) {
        if (H.old_pid != 0)
            kill(H.old_pid, SIGKILL);   /* a third one: no time to be polite */
        H.old_pid = H.pid;
        kill(H.pid, SIGTERM);
        H.pid = 0;
    }
    H.crashes = 0;
    gh_helper_spawn(conf, generation);
}

bool gh_helper_reap(pid_t pid, int status)
{
    if (H.shm != NULL) {
        gh_us_proc_exit(H.shm, pid);
        gh_edge_proc_exit(H.shm, pid);
        gh_metrics_proc_exit(H.shm, pid);
        gh_cache_proc_exit(H.shm, pid);
    }
    if (pid == H.old_pid) {
        H.old_pid = 0;
        gh_shm_proc_release(H.shm, pid);
        gh_log_info("old helper %d exited", (int)pid);
        return true;
    }
    if (pid != H.pid || pid == 0)
        return false;
    H.pid = 0;
    gh_shm_proc_release(H.shm, pid);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        bool asked = H.stopping && (sig == SIGTERM || sig == SIGKILL);
        gh_log(asked ? GH_LOG_INFO : sig == SIGKILL || sig == SIGTERM ? GH_LOG_ERROR
                                                                       : GH_LOG_ALERT,
               0, "helper %d killed by signal %d (%s)", (int)pid, sig, gh_signal_name(sig));
    } else {
        int code = WEXITSTATUS(status);
        gh_log(code == 0 ? GH_LOG_INFO : GH_LOG_ERROR, 0, "helper %d exited with code %d",
               (int)pid, code);
    }
    if (H.stopping)
        return true;
    gh_msec_t now = gh_time_monotonic_ms(), delay = 0;
    if (now - H.started < CRASH_UPTIME_MS) {
        H.crashes++;
        delay = GH_MIN((gh_msec_t)100 << GH_MIN(H.crashes, 10), MAX_BACKOFF_MS);
        gh_log_warn("the helper is crashing (%d in a row); respawning in %lld ms", H.crashes,
                    (long long)delay);
    } else {
        H.crashes = 0;
    }
    if (delay == 0)
        gh_helper_spawn(H.conf, H.generation);
    else
        H.respawn_at = now + delay;
    return true;
}

void gh_helper_tick(bool stopping)
{
    gh_msec_t now = gh_time_monotonic_ms();
    if (stopping && !H.stopping) {
        H.stopping = true;
        H.respawn_at = 0;
    }
    if (H.stopping) {
        if (H.pid == 0 && H.old_pid == 0)
            return;
        if (H.term_at == 0) {
            H.term_at = now;
            if (H.pid != 0)
                kill(H.pid, SIGTERM);
        } else if (now - H.term_at > KILL_AFTER_MS) {
            if (H.pid != 0)
                kill(H.pid, SIGKILL);
            if (H.old_pid != 0)
                kill(H.old_pid, SIGKILL);
            H.term_at = now;
        }
        return;
    }
    if (H.respawn_at != 0 && now >= H.respawn_at && H.pid == 0)
        gh_helper_spawn(H.conf, H.generation);
}

bool gh_helper_running(void)
{
    return H.pid != 0 || H.old_pid != 0;
}

void gh_helper_signal(int sig)
{
    if (H.pid != 0)
        kill(H.pid, sig);
}

void gh_helper_close_inherited(void)
{
    if (H.admin_fd != -1) {
        close(H.admin_fd);
        H.admin_fd = -1;
    }
}
