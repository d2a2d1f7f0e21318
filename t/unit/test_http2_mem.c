/*
 * test_http2_mem.c - nghttp2's allocator for a session (server/http2_mem.c):
 * a server session built on it talks to an nghttp2 client session (bytes
 * passed by hand, no sockets); after an exchange, trimming the idle session
 * gives back the frame buffer's pages and the zeroed stream map (mincore
 * says they are no longer resident), and the session still works: more
 * requests, large headers (HPACK state kept), a second trim.
 */
#include <check.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "server/http2_priv.h"

struct pipe {
    uint8_t buf[1 << 18];
    size_t len;
};

struct peer {
    nghttp2_session *ng;
    struct pipe *out;                   /* where its sends go */
    int closed;                         /* streams closed (server: answered) */
    int responses;                      /* client: responses with status 200 */
    char last_value[4096];              /* client: the x-echo value of the last response */
};

static ssize_t send_cb(nghttp2_session *ng, const uint8_t *d, size_t n, int flags, void *ud)
{
    struct peer *p = ud;
    (void)ng;
    (void)flags;
    if (p->out->len + n > sizeof(p->out->buf))
        return NGHTTP2_ERR_WOULDBLOCK;
    memcpy(p->out->buf + p->out->len, d, n);
    p->out->len += n;
    return (ssize_t)n;
}

static char echo[4096];                 /* the server echoes this in x-echo */

static int server_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    (void)ud;
    if (f->hd.type == NGHTTP2_HEADERS && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        nghttp2_nv nv[] = {
            { (uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE },
            { (uint8_t *)"x-echo", (uint8_t *)echo, 6, strlen(echo), NGHTTP2_NV_FLAG_NONE },
        };
        ck_assert_int_eq(nghttp2_submit_response(ng, f->hd.stream_id, nv, 2, NULL), 0);
    }
    return 0;
}

static int client_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                         size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    struct peer *p = ud;
    (void)ng;
    (void)f;
    (void)flags;
    if (nlen == 7 && memcmp(name, ":status", 7) == 0 && vlen == 3 && memcmp(value, "200", 3) == 0)
        p->responses++;
    if (nlen == 6 && memcmp(name, "x-echo", 6) == 0 && vlen < sizeof(p->last_value)) {
        memcpy(p->last_value, value, vlen);
        p->last_value[vlen] = '\0';
    }
    return 0;
}

static int stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
    struct peer *p = ud;
    (void)ng;
    (void)id;
    (void)code;
    p->closed++;
    return 0;
}

static struct pipe to_server, to_client;
static struct peer server, client;
static struct gh_h2_mem mem;

/* Move bytes both ways until neither side has more to say. */
static void pump(void)
{
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(nghttp2_session_send(client.ng), 0);
        ck_assert_int_eq(nghttp2_session_send(server.ng), 0);
        if (to_server.len == 0 && to_client.len == 0)
            return;
        if (to_server.len > 0) {
            ck_assert_int_eq(nghttp2_session_mem_recv(server.ng, to_server.buf, to_server.len),
                             (ssize_t)to_server.len);
            to_server.len = 0;
        }
        if (to_client.len > 0) {
            ck_assert_int_eq(nghttp2_session_mem_recv(client.ng, to_client.buf, to_client.len),
                             (ssize_t)to_client.len);
            to_client.len = 0;
        }
    }
    ck_abort_msg("the sessions did not settle");
}

static void request(const char *path)
{
    nghttp2_nv nv[] = {
        { (uint8_t *)":method", (uint8_t *)"GET", 7, 3, NGHTTP2_NV_FLAG_NONE },
        { (uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE },
        { (uint8_t *)":authority", (uint8_t *)"localhost", 10, 9, NGHTTP2_NV_FLAG_NONE },
        { (uint8_t *)":path", (uint8_t *)path, 5, strlen(path), NGHTTP2_NV_FLAG_NONE },
    };
    ck_assert_int_gt(nghttp2_submit_request(client.ng, NULL, nv, 4, NULL, NULL), 0);
    pump();
}

/* Resident pages of [p, p+len) (page-aligned p). */
static size_t resident(void *p, size_t len)
{
    size_t ps = (size_t)sysconf(_SC_PAGESIZE), n = (len + ps - 1) / ps, k = 0;
    unsigned char vec[64];
    ck_assert_uint_le(n, sizeof(vec));
    ck_assert_int_eq(mincore(p, len, vec), 0);
    for (size_t i = 0; i < n; i++)
        k += vec[i] & 1;
    return k;
}

static size_t resident_all(void)
{
    size_t k = 0;
    for (int i = 0; i < mem.nbig; i++)
        k += resident(mem.big[i].p, mem.big[i].len);
    return k;
}

static void setup(void)
{
    nghttp2_session_callbacks *cb;
    nghttp2_mem m;

    memset(&server, 0, sizeof(server));
    memset(&client, 0, sizeof(client));
    to_server.len = to_client.len = 0;
    strcpy(echo, "small");
    server.out = &to_client;
    client.out = &to_server;
    ck_assert_int_eq(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_send_callback(cb, send_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, server_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, stream_close);
    gh_h2_mem_init(&mem, &m);
    mem.in_new = true;
    ck_assert_int_eq(nghttp2_session_server_new3(&server.ng, cb, &server, NULL, &m), 0);
    mem.in_new = false;
    nghttp2_session_callbacks_del(cb);
    ck_assert_int_eq(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_send_callback(cb, send_cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, client_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, stream_close);
    ck_assert_int_eq(nghttp2_session_client_new(&client.ng, cb, &client), 0);
    nghttp2_session_callbacks_del(cb);
    ck_assert_int_eq(nghttp2_submit_settings(server.ng, NGHTTP2_FLAG_NONE, NULL, 0), 0);
    ck_assert_int_eq(nghttp2_submit_settings(client.ng, NGHTTP2_FLAG_NONE, NULL, 0), 0);
    pump();
}

static void teardown(void)
{
    nghttp2_session_del(client.ng);
    nghttp2_session_del(server.ng);
    ck_assert_int_eq(mem.nbig, 0);      /* every page block went back */
}

START_TEST(test_large_blocks_have_own_pages)
{
    ck_assert_ptr_nonnull(mem.framebuf);
    ck_assert_int_ge(mem.nbig, 2);      /* the frame buffer and the stream map at least */
    for (int i = 0; i < mem.nbig; i++)
        ck_assert_uint_eq((uintptr_t)mem.big[i].p % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
}
END_TEST

START_TEST(test_trim_gives_back_and_session_still_works)
{
    request("/one");
    ck_assert_int_eq(client.responses, 1);
    ck_assert_uint_gt(resident(mem.framebuf, 16384), 0);     /* the frames were packed there */
    ck_assert_int_eq(nghttp2_session_want_write(server.ng), 0);
    size_t before = resident_all();
    size_t given = gh_h2_mem_trim(&mem, true);
    ck_assert_uint_gt(given, 0);
    ck_assert_uint_eq(resident(mem.framebuf, 16384), 0);
    ck_assert_uint_lt(resident_all(), before);
    /* The session goes on: more requests, HPACK state intact (the same
     * long header value comes back right, indexed the second time). */
    memset(echo, 'v', 3000);
    echo[3000] = '\0';
    request("/two");
    ck_assert_int_eq(client.responses, 2);
    ck_assert_str_eq(client.last_value, echo);
    (void)gh_h2_mem_trim(&mem, true);
    request("/three");
    ck_assert_int_eq(client.responses, 3);
    ck_assert_str_eq(client.last_value, echo);
    ck_assert_int_eq(server.closed, 3);
}
END_TEST

START_TEST(test_trim_keeps_live_frames)
{
    request("/one");
    /* Frames not dead (something waits to be sent): the frame buffer is kept. */
    size_t fb = resident(mem.framebuf, 16384);
    (void)gh_h2_mem_trim(&mem, false);
    ck_assert_uint_eq(resident(mem.framebuf, 16384), fb);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http2_mem");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_large_blocks_have_own_pages);
    tcase_add_test(tc, test_trim_gives_back_and_session_still_works);
    tcase_add_test(tc, test_trim_keeps_live_frames);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
