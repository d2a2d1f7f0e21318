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

void gh_reqid_assign(struct gh_req *r)
{
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
