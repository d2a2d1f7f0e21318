/*
 * helper.h - the helper process: one child of the master, respawned like a
 * worker, that runs the active health checks (modules/health.c) and serves
 * the admin API (server/admin.c) on its own event loop, so both answer
 * while the workers are saturated.
 *
 * Master side: gh_helper_setup reserves the upstream state region and binds
 * the admin listener (before privileges are dropped), gh_helper_spawn
 * forks the helper, gh_helper_reap recognises and respawns it,
 * gh_helper_reload replaces it with one on the new configuration, and
 * gh_helper_tick stops it when the master stops.
 */
#ifndef GH_HELPER_H
#define GH_HELPER_H

#include "common/conf.h"
#include "common/shm.h"

/* Called in the child right after fork, before anything else: the master's
 * cleanup of what a child must not keep (other children's pipes, listening
 * sockets). */
typedef void gh_helper_child_fn(void);

/* At start, before daemonizing and forking: reserve the upstream state
 * (modules/upstream_state.h) and bind admin.address, logging "admin
 * listening on ADDR:PORT". 0, or -1 (logged: exit 2). */
int gh_helper_setup(struct gh_shm *shm, const struct gh_conf *conf, char *const *argv,
                    gh_helper_child_fn *child_init);
/* Fork the helper for conf (the master's; kept until the next reload). */
void gh_helper_spawn(const struct gh_conf *conf, uint32_t generation);
/* A valid reload to conf: map its servers in the shared state, rebind the
 * admin listener when its address changed (a failure keeps the old one),
 * and replace the helper. */
void gh_helper_reload(const struct gh_conf *conf, uint32_t generation);
/* pid was reaped: fold its shared counters (any child); when it is the
 * helper, log its death and respawn it (back-off if it keeps crashing)
 * unless stopping. Returns true when pid was the helper. Call before
 * gh_shm_proc_release. */
bool gh_helper_reap(pid_t pid, int status);
/* Once per master loop: respawn when due; when stopping, ask the helper to
 * exit (SIGTERM once, SIGKILL after 3 s). */
void gh_helper_tick(bool stopping);
/* Is a helper process alive (the master waits for it before exiting)? */
bool gh_helper_running(void);
/* Forward a signal to the helper (USR1: reopen logs). */
void gh_helper_signal(int sig);
/* In the USR2 child, just before exec: let the admin listener cross exec
 * (GATEHOUSE_ADMIN=FD ADDRESS), so the new master adopts it instead of
 * binding again. */
void gh_helper_exec_prepare(void);
/* In a worker: close the inherited admin listener. */
void gh_helper_close_inherited(void);

#endif
