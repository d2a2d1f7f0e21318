/*
 * sdnotify.h - systemd's notification protocol (sd_notify(3)) without
 * libsystemd: one datagram to the unix socket named by $NOTIFY_SOCKET
 * ("@name" is the abstract namespace). The master uses it for Type=notify:
 * READY=1 once the workers serve, RELOADING=1 / READY=1 around a reload,
 * STOPPING=1, and MAINPID= after a binary upgrade.
 */
#ifndef GH_SDNOTIFY_H
#define GH_SDNOTIFY_H

/* Send `state` ("READY=1\nSTATUS=..."). 0 sent, 1 when there is no
 * $NOTIFY_SOCKET (not under systemd), -1 on an error (errno set). */
int gh_sd_notify(const char *state);

#endif
