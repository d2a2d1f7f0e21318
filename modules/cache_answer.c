/*
 * cache_answer.c - what a stored object answers (cache_priv.h): the
 * client's conditionals (304), a Range (206, 416) or the whole object.
 *
 * The order is RFC 9110 13.2.2's: If-None-Match, else If-Modified-Since
 * (GET and HEAD only, and only against a stored Last-Modified, as nginx's
 * not_modified filter does), then If-Range and Range (GET only, and only
 * when the body's length is known: an object still being written with no
 * Content-Length from its upstream is answered whole). Conditionals and
 * Range apply to stored 200s; other statuses are answered as they are.
 * If-Match and If-Unmodified-Since are not evaluated: a GET carrying them
 * is answered like any other (they guard changes, which the cache never
 * answers).
 */
#include <string.h>

#include "modules/cache_cond.h"
#include "modules/cache_priv.h"
#include "server/filter.h"

struct gh_str gh_cache_head_field(const struct cache_head *o, const char *name)
{
    for (size_t i = 0; i < o->nfields; i++)
        if (gh_cache_name_is(o->fields[i].name, name))
            return gh_str_trim(o->fields[i].value);
    return GH_STR("");
}

static struct gh_str field_of(const struct gh_resp_head *h, const char *name)
{
    for (size_t i = 0; i < h->nfields; i++)
        if (gh_cache_name_is(h->fields[i].name, name))
            return gh_str_trim(h->fields[i].value);
    return GH_STR("");
}

/* The request's one field of that name; *many when it has several. */
static const struct gh_http_header *req_field(const struct gh_req *r, const char *name,
                                              bool *many)
{
    const struct gh_http_header *found = NULL;
    *many = false;
    for (size_t i = 0; i < r->head.nheaders; i++) {
        if (!gh_cache_name_is(r->head.headers[i].name, name))
            continue;
        *many = found != NULL;
        found = &r->head.headers[i];
    }
    return found;
}

/* Does any If-None-Match line match the stored ETag? *present: the
 * request has one. */
static bool inm_matches(const struct gh_req *r, struct gh_str etag, bool *present)
{
    bool match = false;
    *present = false;
    for (size_t i = 0; i < r->head.nheaders; i++) {
        const struct gh_http_header *f = &r->head.headers[i];
        if (!gh_cache_name_is(f->name, "if-none-match"))
            continue;
        *present = true;
        match |= gh_cache_inm_match(f->value.p, f->value.len, etag.p, etag.len);
    }
    return match;
}

enum answer { A_WHOLE, A_NOT_MODIFIED, A_PART, A_UNSATISFIABLE };

static enum answer decide(const struct gh_req *r, const struct gh_resp_head *h, int64_t total,
                          uint64_t *first, uint64_t *last)
{
    bool many, inm;
    if (h->status != 200)
        return A_WHOLE;
    struct gh_str etag = field_of(h, "etag");
    if (inm_matches(r, etag, &inm))
        return A_NOT_MODIFIED;
    struct gh_str lm = field_of(h, "last-modified");
    const struct gh_http_header *ims = req_field(r, "if-modified-since", &many);
    if (!inm && ims != NULL && !many && lm.len > 0) {
        int64_t since = gh_http_date_parse(ims->value.p, ims->value.len);
        int64_t mod = gh_http_date_parse(lm.p, lm.len);
        if (since >= 0 && mod >= 0 && mod <= since)
            return A_NOT_MODIFIED;
    }
    const struct gh_http_header *range = req_field(r, "range", &many);
    if (r->head.method_id != GH_M_GET || range == NULL || many || total < 0)
        return A_WHOLE;
    const struct gh_http_header *ifr = req_field(r, "if-range", &many);
    if (ifr != NULL
        && (many || !gh_cache_if_range(ifr->value.p, ifr->value.len, etag.p, etag.len,
                                       lm.len > 0 ? gh_http_date_parse(lm.p, lm.len) : -1)))
        return A_WHOLE;
    switch (gh_cache_range_parse(range->value.p, range->value.len, (uint64_t)total, first,
                                 last)) {
    case GH_RANGE_PART:
        return A_PART;
    case GH_RANGE_UNSATISFIABLE:
        return A_UNSATISFIABLE;
    default:
        return A_WHOLE;
    }
}

/* The stored fields a 304 repeats (RFC 9110 15.4.5), Last-Modified too. */
static bool kept_by_304(struct gh_str n)
{
    return gh_cache_name_is(n, "etag") || gh_cache_name_is(n, "last-modified")
           || gh_cache_name_is(n, "cache-control") || gh_cache_name_is(n, "expires")
           || gh_cache_name_is(n, "vary") || gh_cache_name_is(n, "date")
           || gh_cache_name_is(n, "content-location");
}

int gh_cache_answer_edit(struct gh_req *r, const struct cache_meta *m, struct gh_resp_head *h,
                         int64_t body_len, uint64_t *first, int64_t *len)
{
    uint64_t f = 0, l = 0;
    *first = 0;
    *len = body_len;
    enum answer a = decide(r, h, body_len, &f, &l);
    if (a == A_WHOLE) {
        /* Say that a Range would be answered (nginx's range filter does the
         * same for what it can cut): a stored 200 of known length, unless
         * the upstream said otherwise or we compressed it (the compression
         * filter drops Accept-Ranges, as nginx's gzip does). */
        if (h->status == 200 && body_len >= 0 && !m->encoded
            && field_of(h, "accept-ranges").len == 0)
            return gh_resp_head_add(h, GH_STR("Accept-Ranges"), GH_STR("bytes"));
        return 0;
    }
    if (a == A_NOT_MODIFIED) {
        h->status = 304;
        for (size_t i = 0; i < h->nfields; i++)
            if (!kept_by_304(h->fields[i].name))
                gh_resp_head_drop(h, i);
        *len = 0;
        return 0;
    }
    /* "bytes F-L/T" or "bytes STAR/T": at most 6 + 3 x 20 + 2 bytes */
    char *p = gh_palloc(r->pool, 72);
    if (p == NULL)
        return -1;
    memcpy(p, "bytes ", 6);
    size_t k = 6;
    if (a == A_PART) {
        h->status = 206;
        k += gh_str_u64(p + k, f);
        p[k++] = '-';
        k += gh_str_u64(p + k, l);
        *first = f;
        *len = (int64_t)(l - f + 1);
    } else {
        /* 416: nothing of the object but the length it has */
        h->status = 416;
        for (size_t i = 0; i < h->nfields; i++)
            gh_resp_head_drop(h, i);
        p[k++] = '*';
        *len = 0;
    }
    p[k++] = '/';
    k += gh_str_u64(p + k, (uint64_t)body_len);
    return gh_resp_head_add(h, GH_STR("Content-Range"), gh_str_make(p, k));
}
