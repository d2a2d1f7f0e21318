/*
 * reqid.c - request ids and the worker's random numbers.
 */
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/pool.h"
#include "common/str.h"
#include "server/http1.h"
#include "server/reqid.h"

static uint64_t s[4];

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t gh_reqid_random(void)
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void gh_reqid_init(void)
{
    if (getrandom(s, sizeof(s), 0) != (ssize_t)sizeof(s)) {
        /* No entropy source: pid and time still differ between workers. */
        s[0] = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull;
        s[1] = (uint64_t)time(NULL) ^ 0xD1B54A32D192ED03ull;
        s[2] = s[0] ^ 0xABCDEF;
        s[3] = s[1] + 1;
    }
    if ((s[0] | s[1] | s[2] | s[3]) == 0)
        s[0] = 1;
}

bool gh_reqid_valid(struct gh_str v)
{
    if (v.len == 0 || v.len > 128)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.p[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
                  || ch == '.' || ch == '_' || ch == ':' || ch == '@' || ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

static bool lower_hex(const char *p, size_t n, bool *nonzero)
{
    *nonzero = false;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return false;
        *nonzero |= ch != '0';
    }
    return true;
}

/* version "-" trace-id "-" parent-id "-" flags: 2, 32, 16 and 2 lower-case
 * hex digits; neither id all zeros; version ff is invalid. */
bool gh_trace_valid(struct gh_str v)
{
    bool nz;
    if (v.len < 55 || v.p[2] != '-' || v.p[35] != '-' || v.p[52] != '-')
        return false;
    if (!lower_hex(v.p, 2, &nz) || (v.p[0] == 'f' && v.p[1] == 'f'))
        return false;
    if (!lower_hex(v.p + 3, 32, &nz) || !nz || !lower_hex(v.p + 36, 16, &nz) || !nz)
        return false;
    if (!lower_hex(v.p + 53, 2, &nz))
        return false;
    if (v.p[0] == '0' && v.p[1] == '0')
        return v.len == 55;
    return v.len == 55 || v.p[55] == '-';   /* a later version may add fields */
}

static void trace_assign(struct gh_req *r)
{
    const struct gh_http_header *h = NULL;
    size_t n = 0;
    for (size_t i = 0; i < r->head.nheaders; i++) {
        struct gh_str name = r->head.headers[i].name;
        if (name.len == 11 && gh_str_caseeq(name, GH_STR("traceparent"))) {
            h = &r->head.headers[i];
            n++;
        }
    }
    if (n == 1 && gh_trace_valid(h->value)) {
        r->traceparent = h->value;
        r->trace_id = gh_str_make(h->value.p + 3, 32);
        r->trace_kept = true;
        return;
    }
    char *tp = gh_palloc(r->pool, 55);
    if (tp == NULL) {
        r->traceparent = r->trace_id = gh_str_make("", 0);
        return;
    }
    uint64_t a, b, parent;
    do {
        a = gh_reqid_random();
        b = gh_reqid_random();
    } while ((a | b) == 0);
    do
        parent = gh_reqid_random();
    while (parent == 0);
    memcpy(tp, "00-", 3);
    gh_str_hex64(tp + 3, a);
    gh_str_hex64(tp + 19, b);
    tp[35] = '-';
    gh_str_hex64(tp + 36, parent);
    memcpy(tp + 52, "-00", 3);          /* not sampled: we record no spans */
    r->traceparent = gh_str_make(tp, 55);
    r->trace_id = gh_str_make(tp + 3, 32);
    r->trace_kept = false;
}

void gh_reqid_assign(struct gh_req *r)
{
    trace_assign(r);
    const struct gh_http_header *h =
        gh_http1_find_header(r->head.headers, r->head.nheaders, "x-request-id");
    if (h != NULL && gh_reqid_valid(h->value)) {
        r->request_id = h->value;
        return;
    }
    char *id = gh_palloc(r->pool, 32);
    if (id == NULL) {
        r->request_id = gh_str_make("", 0);
        return;
    }
    gh_str_hex64(id, gh_reqid_random());
    gh_str_hex64(id + 16, gh_reqid_random());
    r->request_id = gh_str_make(id, 32);
}
