/*
 * master_upgrade.h - the binary upgrade (USR2, SPEC section 3): the master
 * forks and execs its binary again, handing over the listening sockets and
 * the shared segment (GATEHOUSE_INHERIT), and renames its pid file to
 * PIDFILE.oldbin while the new master runs.
 */
#ifndef GH_MASTER_UPGRADE_H
#define GH_MASTER_UPGRADE_H

#include <sys/types.h>
#include "server/listen.h"

struct gh_upgrade {
    pid_t pid;                          /* the new master while it runs, else 0 */
    char *pid_path;                     /* pid_file */
    char *oldbin_path;                  /* pid_file ".oldbin" */
    bool pid_renamed;                   /* ours is PIDFILE.oldbin now */
};

/* Remember the pid file's names. 0, or -1 when out of memory. */
int gh_upgrade_init(struct gh_upgrade *u, const char *pid_file);

/* Start the new master: `binary` with `argv`, inheriting the sockets of `ls`
 * and the segment `shm_fd`. Refused (logged) while one runs or after one
 * took over the pid file; failures are logged and leave this master as it
 * was. */
void gh_upgrade_start(struct gh_upgrade *u, const struct gh_listeners *ls, int shm_fd,
                      const char *binary, char *const *argv);

/* The new master (u->pid) exited with `status`: it failed to start, or was
 * told to stop (a roll-back). Either way this master takes the pid file
 * back. */
void gh_upgrade_failed(struct gh_upgrade *u, int status);

/* At exit: remove our pid file (under whichever name it has) and free. */
void gh_upgrade_cleanup(struct gh_upgrade *u);

#endif
