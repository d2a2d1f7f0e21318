/*
 * process.h - the Unix daemon chores: signals, pid file, daemonizing,
 * dropping privileges.
 */
#ifndef GH_PROCESS_H
#define GH_PROCESS_H

#include <signal.h>
#include <sys/types.h>
#include "common/gh.h"

/* The signals the master handles: blocked, and taken with sigtimedwait in
 * its loop, so no handler runs asynchronously. Fills `set`. 0 or -1. */
int gh_signals_block_master(sigset_t *set);
/* A pipe from a child to the master (fds[1] for the child to write, fds[0]
 * for us): both ends close-on-exec, ours non-blocking and O_ASYNC, so that
 * data or EOF on it raises SIGIO here, which gh_signals_block_master blocks
 * and the master's sigtimedwait takes like any other signal: its loop
 * learns of the byte without polling and without ever blocking on the pipe.
 * 0, or -1 (logged). */
int gh_ready_pipe(int fds[2]);
/* In a freshly forked child: default dispositions and an empty mask. */
void gh_signals_reset_child(void);
/* "SIGKILL" for 9 etc. */
const char *gh_signal_name(int sig);
/* "reload" -> SIGHUP, "reopen" -> SIGUSR1, "quit" -> SIGQUIT, "stop" -> SIGTERM; -1 if unknown. */
int gh_signal_by_command(const char *cmd);

/* Write our pid to path (0644, atomically via rename). 0 or -1 (logged). */
int gh_pidfile_write(const char *path, pid_t pid);
/* Read a pid from path; -1 (with a message on stderr) when absent or bad. */
pid_t gh_pidfile_read(const char *path);

/* Detach from the terminal: fork (the parent exits 0), setsid, stdin and
 * stdout to /dev/null; stderr to the error log when it is a file. 0 or -1. */
int gh_daemonize(void);

/* Look up `user` (when non-empty and we are root). 0, -1 if unknown. */
int gh_user_lookup(const char *user, uid_t *uid, gid_t *gid);
/* In a child: switch to uid/gid (setgroups, setgid, setuid) when running as
 * root and user is set. 0 or -1 (logged). */
int gh_drop_privileges(const char *user);

#endif
