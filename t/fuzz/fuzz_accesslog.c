/*
 * fuzz_accesslog.c - libFuzzer harness for the access log line
 * (modules/accesslog.c), both formats. The first byte picks the format,
 * the next two the buffer size (a malloc of exactly that size, so ASan
 * sees any write past it); the rest is split at NUL bytes into the method,
 * target, Referer, User-Agent, client, upstream and request id.
 * Invariants: the line fits the buffer, ends in its only '\n', holds only
 * printable ASCII (every other byte escaped), and a JSON line written into
 * a full-size buffer is one whole object.
 */
#include <string.h>

#include "modules/accesslog.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    bool json = data[0] & 1;
    size_t bufsize = ((size_t)data[1] << 8 | data[2]) % (GH_ACCESSLOG_LINE_MAX + 1);
    if (data[0] & 2)
        bufsize = GH_ACCESSLOG_LINE_MAX;
    data += 3;
    size -= 3;

    struct gh_str part[7];
    size_t np = 0, start = 0;
    for (size_t i = 0; i <= size && np < 7; i++)
        if (i == size || data[i] == 0) {
            part[np++] = gh_str_make((const char *)data + start, i - start);
            start = i + 1;
        }
    while (np < 7)
        part[np++] = gh_str_make("", 0);

    struct gh_accesslog_fields f = {
        .time = "07/Dec/2026:03:00:00 +0000",
        .method = part[0],
        .target = part[1],
        .referer = part[2],
        .user_agent = part[3],
        .remote_addr = part[4],
        .upstream = part[5],
        .request_id = part[6],
        .protocol = "HTTP/1.1",
        .status = 200 + (int)(size % 400),
        .body_bytes = size * 977,
        .seconds = (double)size / 7.0,
        .upstream_status = (int)(size % 3) * 200,
    };
    char *buf = malloc(bufsize > 0 ? bufsize : 1);
    CHECK(buf != NULL);
    size_t n = gh_accesslog_format(&f, json, buf, bufsize);
    CHECK(n <= bufsize);
    if (bufsize >= 2) {
        CHECK(n >= 1 && buf[n - 1] == '\n');
        for (size_t i = 0; i + 1 < n; i++)
            CHECK(buf[i] >= 0x20 && buf[i] < 0x7f);
    }
    if (json && bufsize == GH_ACCESSLOG_LINE_MAX) {
        CHECK(n >= 3 && memcmp(buf + n - 3, "\"}\n", 3) == 0);
        /* Every quote that is not escaped opens or closes a string: an even
         * count of them (the fields never split an escape). */
        size_t quotes = 0;
        for (size_t i = 0; i < n; i++)
            if (buf[i] == '"' && (i == 0 || buf[i - 1] != '\\'))
                quotes++;
        CHECK(quotes % 2 == 0);
    }
    free(buf);
    return 0;
}
