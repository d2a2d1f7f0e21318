/*
 * worker.h - a worker process: one event loop serving the listeners of its
 * slot, controlled by the master through a pipe.
 *
 * Control messages are two bytes {command, argument}:
 *   'Q' graceful stop (stop accepting, drain, exit)   'T' fast stop
 *   'A' slot: also accept from that slot's sockets     'R' slot: stop that
 *   'O' reopen the log files
 * EOF on the pipe means the master is gone: the worker stops gracefully.
 *
 * Back to the master, on a pipe of its own (gh_ready_pipe), the worker
 * writes one byte, GH_READY, once its start-up is done and its listening
 * sockets are in its event loop, and closes it. On a reload the master
 * stops the old worker of a slot only then (server/master.c).
 */
#ifndef GH_WORKER_H
#define GH_WORKER_H

#include "common/conf.h"
#include "common/shm.h"
#include "server/listen.h"

#define GH_MAX_WORKERS 64

enum {
    GH_CTL_QUIT = 'Q', GH_CTL_TERMINATE = 'T', GH_CTL_ADOPT = 'A',
    GH_CTL_RELEASE = 'R', GH_CTL_REOPEN = 'O',
};
#define GH_READY 'r'

struct gh_worker_args {
    struct gh_conf *conf;
    struct gh_listeners *listeners;
    struct gh_shm *shm;
    int slot;                           /* 0 .. conf->workers - 1 */
    uint32_t generation;
    int ctl_fd;                         /* read end of the control pipe */
    int ready_fd;                       /* write end of the ready pipe, or -1 */
    uint64_t adopt_mask;                /* slots without a live worker, to accept from too */
};

/* Run a worker until it is told to stop; returns the process exit status
 * (0 clean, 2 fatal start-up error). */
int gh_worker_run(const struct gh_worker_args *args);

#endif
