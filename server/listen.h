/*
 * listen.h - the listening sockets, owned by the master.
 *
 * Each configured listener has one SO_REUSEPORT socket per worker slot: the
 * worker in slot i of every generation accepts from socket i, so a
 * connection waiting in an accept queue is never lost when workers are
 * replaced. The sockets outlive the workers and, on USR2, are handed to the
 * new binary through the environment (GATEHOUSE_INHERIT).
 */
#ifndef GH_LISTEN_H
#define GH_LISTEN_H

#include <sys/socket.h>
#include "common/conf.h"

#define GH_LISTEN_MAX_SLOTS 64         /* = GH_MAX_WORKERS: slots are bits of a mask */

struct gh_listener {
    char *text;                         /* the address as configured */
    struct sockaddr_storage sa;         /* the bound address (port resolved) */
    socklen_t salen;
    bool tls, http2, proxy_protocol;
    int nslots;
    int *fds;                           /* one per slot; -1 when absent */
};

struct gh_listeners {
    struct gh_listener *v;
    size_t n;
};

/*
 * Make `ls` match `conf` with at least `nslots` sockets per listener (more
 * when `old` or the inherited set had more for that address: those are kept,
 * so that no queued connection is reset when the worker count shrinks; see
 * gh_listeners_max_slots). Sockets of
 * `old` (may be NULL) whose address is still configured are reused (moved
 * into ls), as are inherited ones listed in GATEHOUSE_INHERIT; the rest are
 * bound. Port 0 binds a free port, and every slot of that listener gets the
 * same one. Logs "listening on ADDR" for each new listener. Returns 0, or -1
 * with the failing address and strerror logged (nothing of `old` is
 * closed on failure).
 */
int gh_listeners_open(struct gh_listeners *ls, const struct gh_conf *conf, int nslots,
                      struct gh_listeners *old);
/* The largest nslots of any listener: slots from conf->workers up to it have
 * sockets but no worker of their own. */
int gh_listeners_max_slots(const struct gh_listeners *ls);

/* Close every socket and free the arrays. */
void gh_listeners_close(struct gh_listeners *ls);
/* Close the sockets left in `old` after gh_listeners_open took what it
 * reuses, and free it. */
#define gh_listeners_close_rest gh_listeners_close

/* Format a socket address as "1.2.3.4:80" or "[::1]:80" into buf. */
const char *gh_sockaddr_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* The host part only ("1.2.3.4", "::1") of an IP address, into buf. */
const char *gh_sockaddr_host(const struct sockaddr_storage *ss, char *buf, size_t size);

/* Append "L=<slot>,<fd>,<address>;" entries for every socket to an
 * environment string for exec; returns a malloc'd string or NULL. */
char *gh_listeners_inherit_env(const struct gh_listeners *ls, int shm_fd);
/* Parse GATEHOUSE_INHERIT (if set) once at start: the shm fd (or -1) is
 * returned through *shm_fd; the sockets are remembered for
 * gh_listeners_open to adopt. Unclaimed inherited sockets are closed by
 * gh_listeners_inherit_done. */
int gh_listeners_inherit_parse(int *shm_fd);
void gh_listeners_inherit_done(void);

#endif
