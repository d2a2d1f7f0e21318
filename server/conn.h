/*
 * conn.h - the worker, its client connections and their requests.
 *
 * A connection is small (no buffers, no pool) while it waits for the next
 * request on keep-alive: buffers and the request come from per-worker free
 * lists when bytes arrive and go back when it is idle again.
 */
#ifndef GH_CONN_H
#define GH_CONN_H

#include <netinet/in.h>
#include "common/alog.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/list.h"
#include "common/loop.h"
#include "common/pool.h"
#include "common/shm.h"
#include "server/http1_parse.h"
#include "server/listen.h"
#include "server/transport.h"
#include "server/worker.h"
#include "modules/acl.h"

struct gh_conn;
struct gh_req;
struct gh_proxy;
struct gh_http2_session;

/* A listening socket watched by this worker. */
struct gh_accept {
    struct gh_io io;
    struct gh_worker *w;
    const struct gh_listener *listener;
    int slot;
    bool active;                        /* registered with epoll */
};

struct gh_worker {
    struct gh_loop loop;
    struct gh_conf *conf;
    struct gh_shm *shm;
    int slot;
    uint32_t generation;
    pid_t pid;

    struct gh_accept *accepts;          /* nlisteners x nslots */
    size_t naccepts;
    uint64_t adopted;                   /* slots adopted from dead workers */
    bool accept_paused;                 /* out of descriptors: resume by timer */
    struct gh_timer accept_timer;

    struct gh_io ctl_io;
    char ctl_msg[2];
    size_t ctl_len;

    struct gh_buf_pool bufs;            /* client and upstream I/O buffers */
    struct gh_alog alog;

    struct gh_link active;              /* connections with a request in progress */
    struct gh_link idle;                /* keep-alive connections, oldest first */
    size_t nconns;
    struct gh_conn *free_conns;         /* free list of connection objects */
    size_t nfree_conns;
    struct gh_req *free_reqs;
    size_t nfree_reqs;

    bool draining;                      /* stop accepting; Connection: close */
    bool terminating;
    gh_msec_t drain_deadline;
    struct gh_timer drain_timer;        /* idle half-closes and the final deadline */
    struct gh_timer flush_timer;        /* access log flush */

    void *proxy;                        /* the upstream side (server/proxy.c) */
    uint64_t request_seq;
};

enum gh_conn_state {
    GH_CONN_IDLE = 0,                   /* keep-alive, waiting for a request */
    GH_CONN_READ_HEAD,                  /* a request head is arriving */
    GH_CONN_BUSY,                       /* a request is being served */
    GH_CONN_LINGER,                     /* half-closed, waiting for the client's FIN */
    GH_CONN_PROXY,                      /* proxy_protocol listener: the PROXY header is arriving */
    GH_CONN_HANDSHAKE,                  /* TLS listener: the handshake is under way */
};

/* HTTP/1's session on a connection: its input buffer (taken when bytes
 * arrive, given back when the connection is idle or closes) and whether
 * the transport may hold more bytes without a new event. The request's
 * own HTTP/1 state (parser, body decoder, output queue) is struct h1_req
 * (server/http1_priv.h). An HTTP/2 session (server/http2_priv.h) sits
 * beside it, in c->h2. */
struct gh_http1_session {
    struct gh_buf *in;
    bool rd_more;
};

/* The protocol spoken on a connection, chosen at accept, by ALPN after the
 * TLS handshake, or by the h2c preface: it gets the connection's socket
 * events and timer, and releases its requests when the connection
 * closes. */
struct gh_proto {
    const char *name;
    void (*on_event)(struct gh_conn *c, uint32_t revents);
    void (*on_timeout)(struct gh_conn *c);
    /* The connection is closing: abandon (log) what is in progress and
     * give back the session's buffers. */
    void (*abort)(struct gh_conn *c);
    /* The worker drains and the connection has been idle a while: end it
     * gracefully (HTTP/2: GOAWAY, then a half-close). NULL: the caller
     * half-closes it. */
    void (*drain)(struct gh_conn *c);
};

struct gh_conn {
    const struct gh_proto *proto;
    struct gh_io io;                    /* epoll registration (io.fd is tp.fd while registered) */
    struct gh_transport tp;             /* every read, write and close of the client goes here */
    struct gh_worker *w;
    struct gh_link link;                /* in w->active or w->idle */
    struct gh_timer timer;
    struct gh_req *req;                 /* the request in progress, or NULL */
    struct gh_http1_session h1;         /* the protocol's session (HTTP/1) */
    struct gh_http2_session *h2;        /* HTTP/2's, while it speaks HTTP/2 */
    struct gh_conn *next_free;
    struct gh_loop_deferred deferred;
    const struct gh_listener *listener;
    gh_msec_t idle_since;
    gh_msec_t head_start;               /* first byte of the current head */
    uint32_t nrequests;
    uint8_t state;
    bool closing;                       /* close after the current response */
    bool in_process;                    /* inside gh_conn_process: no re-entry */
    bool half_closed;
    bool freed;
    bool cl_held;                       /* holds a max_conns_per_ip count (modules/edge.c) */
    bool edge_tls;                      /* the PROXY v2 header says the client used TLS */
    struct sockaddr_storage peer;       /* the socket's peer, or the PROXY protocol's source */
    /* The connection's client (from peer): key and text, set at accept or
     * after the PROXY header. A request uses r->client, which is this or
     * the address real_ip found (server/request.h). */
    struct gh_client addr;
};

/* The one write step towards a client: every byte sent to it (answers made
 * here, proxied responses, the WebSocket tunnel) leaves through here, after
 * the filters. Writes q with one writev; returns bytes (>= 0), GH_AGAIN or
 * GH_ERROR, and counts what left in *sent when sent is not NULL. */
static inline ssize_t gh_conn_send(struct gh_conn *c, struct gh_outq *q, uint64_t *sent)
{
    ssize_t n = gh_transport_write_outq(&c->tp, q);
    if (n > 0 && sent != NULL)
        *sent += (uint64_t)n;
    return n;
}

/* As gh_conn_send, for the last bytes before the connection is closed or
 * half-closed (writev_last: they may leave with the FIN). The caller must
 * close or shut down once q is written. */
static inline ssize_t gh_conn_send_last(struct gh_conn *c, struct gh_outq *q, uint64_t *sent)
{
    ssize_t n = gh_transport_write_outq_as(&c->tp, q, true);
    if (n > 0 && sent != NULL)
        *sent += (uint64_t)n;
    return n;
}

/* Accept handler: one per listening socket. */
void gh_conn_accept(struct gh_io *io, uint32_t revents);
/* Set c->addr's key from c->peer (what gh_edge_accept judges), then, once
 * the connection is admitted, its text (a refused one never needs it). */
void gh_conn_set_addr(struct gh_conn *c);
void gh_conn_set_addr_text(struct gh_conn *c);
/* The client reached us over TLS: on a TLS listener, or through a balancer
 * that terminated it (PROXY v2 PP2_TYPE_SSL). */
static inline bool gh_conn_is_https(const struct gh_conn *c)
{
    return (c->listener != NULL && c->listener->tls) || c->edge_tls;
}
/* Close a connection now (pending request abandoned); memory freed after
 * this loop iteration. */
void gh_conn_close(struct gh_conn *c);
/* The worker starts draining: tell every connection whose protocol can
 * (HTTP/2's GOAWAY) that no new request will be taken. */
void gh_conn_drain_all(struct gh_worker *w);
/* Lingering close: FIN now, discard what the client still sends, close on
 * its FIN or after 2 s (the protocol's on_timeout closes a LINGER
 * connection), so an answer in flight is not lost to a RST. */
void gh_conn_linger(struct gh_conn *c);
/* Close keep-alive connections idle since before `older_than` (all with
 * older_than = INT64_MAX); returns how many. */
size_t gh_conn_close_idle(struct gh_worker *w, gh_msec_t older_than, bool half_close);
/* The request finished (response fully sent): log it, then read the next
 * pipelined request or go idle. */
void gh_conn_request_done(struct gh_conn *c);
/* Continue processing input already buffered (after a request completes). */
void gh_conn_process(struct gh_conn *c);
/* Free every connection and cached object at worker exit. */
void gh_conn_worker_exit(struct gh_worker *w);

/* In worker.c: (re)compute which listening sockets are watched. */
void gh_worker_update_accept(struct gh_worker *w);
/* Stop accepting for a moment (out of descriptors). */
void gh_worker_pause_accept(struct gh_worker *w);

#endif
