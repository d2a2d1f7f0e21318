/*
 * master_prep.h - what the master checks and prepares before it starts
 * children, at start and at every reload: the access log, the log files of
 * an unprivileged `user`, the open files limit.
 */
#ifndef GH_MASTER_PREP_H
#define GH_MASTER_PREP_H

#include <sys/types.h>
#include "common/conf.h"

/* Whom the children run as: drop is true when we are root and `user` is set. */
struct gh_master_user {
    bool drop;
    uid_t uid;
    gid_t gid;
};

/* The access log must be writable before workers start, as nginx checks:
 * create it now so a missing directory is an error at start (exit 2) or a
 * failed reload, not a silently unlogged server. 0 or -1 (logged). */
int gh_master_prep_access_log(const struct gh_conf *conf);

/* Look up `user` into *u (when root) and create the log files the children
 * open, owned by that user so that they can reopen them on USR1. 0, or -1
 * (logged) when the user is unknown. */
int gh_master_prep_user(const struct gh_conf *conf, struct gh_master_user *u);

/* Raise the soft RLIMIT_NOFILE (up to the hard one) to what
 * limits.max_connections needs (common/nofile.h); the children inherit it.
 * Warns when a max_connections the configuration sets does not fit; a
 * derived one fits by construction. */
void gh_master_prep_nofile(const struct gh_conf *conf);

#endif
