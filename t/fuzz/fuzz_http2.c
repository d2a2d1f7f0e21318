/*
 * fuzz_http2.c - libFuzzer harness for the HTTP/2 session (server/http2.c
 * and server/http2_io.c): the input is what a client sends after the
 * preface, given to a server session (h2c, as the bytes read with the
 * preface) on a socketpair whose other end is drained. Every stream that
 * becomes a request is answered by a stub CONTENT handler (this file's
 * module list replaces modules/modules.c), after reading what its body source
 * holds when the input's length is odd, so the head checks, the body source,
 * flow control and the answers made here all run with our callbacks.
 * Invariants: no crash, leak or sanitizer report; after the close every
 * stream object and buffer is back (no buffer in use).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"
#include "server/conn.h"
#include "server/http2.h"
#include "server/pipeline.h"
#include "server/reqid.h"
#include "fuzz.h"

static bool read_bodies;

/* CONTENT: drain what the body source has now, then answer. */
static enum gh_verdict answer(struct gh_req *r)
{
    if (read_bodies && r->has_body && r->io->body_start(r, false) == 0) {
        for (int i = 0; i < 16; i++) {
            const char *d;
            bool last = false;
            ssize_t n = r->io->body_next(r, &d, &last);
            if (n <= 0)
                break;
            r->io->body_consume(r);
        }
    }
    gh_req_respond(r, 200, "ok\n", 3, NULL, false);
    return GH_ANSWERED;
}

static struct gh_module stub = { .name = "fuzz", .phase = { [GH_PHASE_CONTENT] = answer } };
struct gh_module *const gh_modules[] = { &gh_module_http_checks, &stub, NULL };

static struct gh_worker W;
static struct gh_listener L = { .text = (char *)"127.0.0.1:0", .http2 = true };

static void init(void)
{
    gh_log_set_level(GH_LOG_ERROR);
    char path[] = "/tmp/gh-fuzz-h2-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd != -1);
    static const char text[] =
        "listen = ( { address = \"127.0.0.1:0\"; http2 = true; } );\n"
        "limits = { max_header_size = \"4k\"; max_headers = 20; max_uri_size = \"1k\";\n"
        "           max_body_size = \"64k\"; };\n"
        "http2 = { max_concurrent_streams = 16; };\n"
        "servers = ( { names = [\"default\"]; routes = ( { path = \"/\";\n"
        "  return = { status = 200; }; } ); } );\n";
    CHECK(write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1));
    close(fd);
    W.conf = gh_conf_load(path, NULL, stderr);
    unlink(path);
    CHECK(W.conf != NULL);
    CHECK(gh_loop_init(&W.loop, 16) == 0);
    gh_buf_pool_init(&W.bufs, 16384, 64);
    gh_list_init(&W.active);
    gh_list_init(&W.idle);
    gh_time_update();
    gh_reqid_init();
    struct gh_worker_env env = { .conf = W.conf, .pid = getpid() };
    CHECK(gh_pipeline_init(&env) == 0);
}

static void conn_timeout(struct gh_timer *t)
{
    struct gh_conn *c = t->data;
    c->proto->on_timeout(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        init();
        ready = true;
    }
    read_bodies = (size & 1) != 0;
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    struct gh_conn *c = calloc(1, sizeof(*c));
    CHECK(c != NULL);
    gh_transport_init_plain(&c->tp, sv[0]);
    c->w = &W;
    c->listener = &L;
    c->io.fd = -1;
    gh_timer_init(&c->timer, conn_timeout, c);
    gh_list_init(&c->link);
    gh_list_insert_tail(&W.idle, &c->link);
    strcpy(c->addr.text, "127.0.0.1");
    W.nconns++;

    size_t len = GH_HTTP2_PREFACE_LEN + size;
    uint8_t *in = malloc(len);
    CHECK(in != NULL);
    memcpy(in, GH_HTTP2_PREFACE, GH_HTTP2_PREFACE_LEN);
    if (size > 0)
        memcpy(in + GH_HTTP2_PREFACE_LEN, data, size);
    if (gh_http2_start(c, in, len) == -1)
        gh_conn_close(c);
    free(in);
    char sink[65536];
    for (int round = 0; round < 8 && !c->freed; round++) {
        gh_loop_run_deferred(&W.loop);
        while (read(sv[1], sink, sizeof(sink)) > 0)
            ;
        if (!c->freed)
            c->proto->on_event(c, EPOLLOUT);
    }
    if (!c->freed)
        gh_conn_close(c);
    gh_loop_run_deferred(&W.loop);      /* frees the session, releases c */
    while (W.free_conns != NULL) {
        struct gh_conn *f = W.free_conns;
        W.free_conns = f->next_free;
        free(f);
    }
    W.nfree_conns = 0;
    close(sv[1]);
    CHECK(W.bufs.nused == 0);
    return 0;
}
