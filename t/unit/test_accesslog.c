/*
 * test_accesslog.c - the access log line (modules/accesslog.c) and the
 * bounded writer it is built with (common/wbuf.h): any field, however long
 * or hostile, gives one whole line inside the buffer.
 */
#include <check.h>
#include <string.h>

#include "common/wbuf.h"
#include "modules/accesslog.h"

static struct gh_accesslog_fields fields(void)
{
    return (struct gh_accesslog_fields){
        .time = "07/Dec/2026:03:00:00 +0000",
        .remote_addr = GH_STR("127.0.0.1"),
        .method = GH_STR("GET"),
        .target = GH_STR("/a?b=1"),
        .protocol = "HTTP/1.1",
        .status = 200,
        .body_bytes = 5,
        .referer = GH_STR("http://r/"),
        .user_agent = GH_STR("ua/1"),
        .seconds = 0.25,
        .upstream = GH_STR("127.0.0.1:9001"),
        .upstream_status = 200,
        .request_id = GH_STR("rid-1"),
    };
}

START_TEST(test_combined_plain)
{
    char buf[GH_ACCESSLOG_LINE_MAX];
    struct gh_accesslog_fields f = fields();
    size_t n = gh_accesslog_format(&f, false, buf, sizeof(buf));
    const char *want = "127.0.0.1 - - [07/Dec/2026:03:00:00 +0000] \"GET /a?b=1 HTTP/1.1\" "
                       "200 5 \"http://r/\" \"ua/1\" 0.250 127.0.0.1:9001 rid-1\n";
    ck_assert_uint_eq(n, strlen(want));
    ck_assert(memcmp(buf, want, n) == 0);

    f.referer = GH_STR("");
    f.request_id = GH_STR("");
    f.method = GH_STR("");
    n = gh_accesslog_format(&f, false, buf, sizeof(buf));
    want = "127.0.0.1 - - [07/Dec/2026:03:00:00 +0000] \"\" 200 5 \"-\" \"ua/1\" 0.250 "
           "127.0.0.1:9001 -\n";
    ck_assert_uint_eq(n, strlen(want));
    ck_assert(memcmp(buf, want, n) == 0);
}
END_TEST

START_TEST(test_json_plain_and_escapes)
{
    char buf[GH_ACCESSLOG_LINE_MAX];
    struct gh_accesslog_fields f = fields();
    f.user_agent = GH_STR("a\"b\\c\x01\xff");
    f.upstream_status = 0;
    size_t n = gh_accesslog_format(&f, true, buf, sizeof(buf));
    const char *want = "{\"time\":\"07/Dec/2026:03:00:00 +0000\",\"remote_addr\":\"127.0.0.1\","
                       "\"method\":\"GET\",\"uri\":\"/a?b=1\",\"status\":200,\"bytes\":5,"
                       "\"referer\":\"http://r/\",\"user_agent\":\"a\\u0022b\\u005Cc\\u0001"
                       "\\u00FF\",\"duration\":0.250,\"upstream\":\"127.0.0.1:9001\","
                       "\"upstream_status\":null,\"request_id\":\"rid-1\"}\n";
    ck_assert_uint_eq(n, strlen(want));
    ck_assert(memcmp(buf, want, n) == 0);
}
END_TEST

/* The attack: 1.5 KB Referer and User-Agent of obs-text bytes
 * (each escaped to 4 or 6 bytes) used to run the line past its buffer. */
static char hostile[64 * 1024];

static void check_whole_line(bool json, size_t field_len, unsigned char byte)
{
    /* A guard after the buffer: nothing may be written there. */
    static char area[GH_ACCESSLOG_LINE_MAX + 64];
    memset(area, 'G', sizeof(area));
    memset(hostile, byte, field_len);
    struct gh_accesslog_fields f = fields();
    struct gh_str v = gh_str_make(hostile, field_len);
    f.referer = f.user_agent = f.target = f.method = v;
    f.remote_addr = f.upstream = f.request_id = v;
    /* The TLS fields (from OpenSSL and the client's certificate) too. */
    static char hostile_z[64 * 1024 + 1];
    memcpy(hostile_z, hostile, field_len);
    hostile_z[field_len] = '\0';
    f.tls_protocol = f.tls_cipher = f.client_subject = f.client_verify = hostile_z;
    size_t n = gh_accesslog_format(&f, json, area, GH_ACCESSLOG_LINE_MAX);
    ck_assert_uint_le(n, GH_ACCESSLOG_LINE_MAX);
    ck_assert_uint_gt(n, 0);
    ck_assert_int_eq(area[n - 1], '\n');
    ck_assert_ptr_null(memchr(area, '\n', n - 1));     /* one line */
    for (size_t i = GH_ACCESSLOG_LINE_MAX; i < sizeof(area); i++)
        ck_assert_int_eq(area[i], 'G');
    if (json) {
        /* Every field is closed: the object ends as it should. */
        ck_assert(n >= 3 && memcmp(area + n - 3, "\"}\n", 3) == 0);
        ck_assert_ptr_nonnull(memmem(area, n, "\"user_agent\":\"", 14));
        ck_assert_ptr_nonnull(memmem(area, n, "\"request_id\":\"", 14));
    }
    if (field_len > 2048) {
        /* Cut visibly. */
        ck_assert_ptr_nonnull(memmem(area, n, "...\"", 4));
    }
}

START_TEST(test_hostile_fields_fit)
{
    static const size_t lens[] = { 1, 255, 256, 257, 1500, 2047, 2048, 2049, 3000, 8192,
                                   sizeof(hostile) };
    static const unsigned char bytes[] = { 0x80, 0xff, '"', '\\', 0x01, 'a' };
    for (size_t i = 0; i < GH_ARRAY_LEN(lens); i++)
        for (size_t j = 0; j < GH_ARRAY_LEN(bytes); j++) {
            check_whole_line(false, lens[i], bytes[j]);
            check_whole_line(true, lens[i], bytes[j]);
        }
}
END_TEST

START_TEST(test_small_buffers)
{
    /* Any size, even too small for the fixed parts, stays inside. */
    char area[600];
    struct gh_accesslog_fields f = fields();
    memset(hostile, 0x80, 3000);
    f.user_agent = gh_str_make(hostile, 3000);
    for (size_t size = 0; size < 512; size++) {
        memset(area, 'G', sizeof(area));
        size_t n = gh_accesslog_format(&f, size & 1, area, size);
        ck_assert_uint_le(n, size);
        if (size >= 2)
            ck_assert_int_eq(area[n - 1], '\n');
        for (size_t i = size; i < sizeof(area); i++)
            ck_assert_int_eq(area[i], 'G');
    }
}
END_TEST

START_TEST(test_wbuf_never_passes_end)
{
    char area[16];
    memset(area, 'G', sizeof(area));
    struct gh_wbuf w = gh_wbuf_make(area, 8);
    gh_wbuf_puts(&w, "abcdef");
    ck_assert(!w.cut);
    gh_wbuf_printf(&w, "%d", 12345);         /* 2 of room: "1" and its NUL */
    ck_assert(w.cut);
    ck_assert_uint_eq(gh_wbuf_room(&w), 1);
    gh_wbuf_printf(&w, "%s", "xyz");
    gh_wbuf_printf(&w, "%s", "xyz");
    ck_assert_uint_eq(gh_wbuf_room(&w), 1);
    gh_wbuf_putc(&w, 'z');
    gh_wbuf_putc(&w, 'z');
    gh_wbuf_u64(&w, 99);
    gh_wbuf_put(&w, "long", 4);
    ck_assert_uint_eq(gh_wbuf_room(&w), 0);
    ck_assert(memcmp(area, "abcdef1z", 8) == 0);
    for (size_t i = 8; i < sizeof(area); i++)
        ck_assert_int_eq(area[i], 'G');

    w = gh_wbuf_make(area, 8);
    gh_wbuf_u64(&w, 1234567);
    ck_assert(!w.cut);
    ck_assert(memcmp(area, "1234567", 7) == 0);
    gh_wbuf_put(&w, NULL, 0);
    ck_assert(!w.cut);
}
END_TEST

static Suite *accesslog_suite(void)
{
    Suite *s = suite_create("accesslog");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_combined_plain);
    tcase_add_test(tc, test_json_plain_and_escapes);
    tcase_add_test(tc, test_hostile_fields_fit);
    tcase_add_test(tc, test_small_buffers);
    tcase_add_test(tc, test_wbuf_never_passes_end);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(accesslog_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
