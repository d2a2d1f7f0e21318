/*
 * master.h - the master process: binds, forks and supervises workers, and
 * acts on signals (SPEC section 3).
 */
#ifndef GH_MASTER_H
#define GH_MASTER_H

#include "common/conf.h"

struct gh_master_opts {
    const char *conf_file;              /* as given (for reloads) */
    const char *prefix;
    const char *binary;                 /* absolute path of our executable, for USR2 */
    char *const *argv;                  /* the original argv, for USR2 */
    bool daemonize;
};

/* Run the master until shutdown; takes ownership of conf. Returns the
 * process exit status (0 clean, 2 start-up failure). */
int gh_master_run(struct gh_conf *conf, const struct gh_master_opts *opts);

/* The master's counters in the segment (also readable in the helper, a
 * fork of the master): successful reloads and unexpected worker deaths. */
void gh_master_counters(uint64_t *reloads, uint64_t *worker_restarts);

#endif
