/*
 * fuzz_logfmt.c - libFuzzer harness for the custom access log format:
 * gh_logfmt_compile (common/logfmt.c) on the input up to its first NUL, then
 * gh_accesslog_format_custom (modules/accesslog.c) with the rest as hostile
 * field values, split at NUL bytes, into a buffer of the size the next two
 * bytes give (a malloc of exactly that size, so ASan sees any write past it).
 * Invariants: compiling never reads past the template or writes past the
 * token and name arrays; a line fits its buffer, ends in its only '\n' and
 * holds only printable ASCII.
 */
#include <stdlib.h>
#include <string.h>

#include "common/logfmt.h"
#include "modules/accesslog.h"
#include "fuzz.h"

static struct gh_str hostile_header(const void *ctx, const char *name)
{
    const struct gh_str *v = ctx;
    return name[0] != '\0' && (name[0] & 1) ? *v : gh_str_make("", 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t tlen = nul != NULL ? (size_t)(nul - data) : size;
    char *tpl = malloc(tlen + 1);
    CHECK(tpl != NULL);
    memcpy(tpl, data, tlen);
    tpl[tlen] = '\0';
    size_t max = tlen + 1;
    struct gh_logfmt_tok *toks = malloc(max * sizeof(*toks));
    char *names = malloc(tlen + 1), err[160];
    CHECK(toks != NULL && names != NULL);
    int n = gh_logfmt_compile(tpl, toks, max, names, err, sizeof(err));
    if (n < 0) {
        CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
        goto out;
    }
    CHECK((size_t)n <= max);
    size_t rest = nul != NULL ? size - tlen - 1 : 0;
    const uint8_t *r = nul != NULL ? nul + 1 : data + size;
    size_t bufsize = rest >= 2 ? ((size_t)r[0] << 8 | r[1]) % (GH_ACCESSLOG_LINE_MAX + 1) : 64;
    if (rest >= 2) {
        r += 2;
        rest -= 2;
    }
    struct gh_str v = gh_str_make((const char *)r, rest);
    struct gh_accesslog_fields f = {
        .time = "07/Dec/2026:03:00:00 +0000",
        .remote_addr = v, .method = v, .target = v, .protocol = "HTTP/1.1", .status = 200,
        .referer = v, .user_agent = v, .upstream = v, .request_id = v, .uri = v, .args = v,
        .host = v, .server_name = "default", .trace_id = v, .tls_protocol = "TLSv1.3",
        .tls_cipher = "TLS_AES_128_GCM_SHA256", .pid = 42, .header = hostile_header,
        .header_ctx = &v,
    };
    struct gh_logfmt fmt = { toks, (size_t)n };
    char *buf = malloc(bufsize > 0 ? bufsize : 1);
    CHECK(buf != NULL);
    size_t len = gh_accesslog_format_custom(&fmt, &f, buf, bufsize);
    CHECK(len <= bufsize);
    if (bufsize >= 2) {
        CHECK(len >= 1 && buf[len - 1] == '\n');
        for (size_t i = 0; i + 1 < len; i++)
            CHECK(buf[i] >= 0x20 && buf[i] < 0x7f);
    }
    free(buf);
out:
    free(toks);
    free(names);
    free(tpl);
    return 0;
}
