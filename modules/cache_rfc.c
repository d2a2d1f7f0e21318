/*
 * cache_rfc.c - RFC 9111 / RFC 5861 decisions as pure functions (see
 * cache_rfc.h for the choices made).
 */
#include <string.h>

#include "common/str.h"
#include "modules/cache_rfc.h"
#include "modules/route.h"

#define VARY_MAX_NAMES 16

static inline bool ows(char c)
{
    return c == ' ' || c == '\t';
}

static inline bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* ---- Cache-Control ----------------------------------------------------- */

void gh_cc_init(struct gh_cc *cc)
{
    cc->flags = 0;
    cc->max_age = cc->s_maxage = cc->max_stale = cc->min_fresh = -1;
    cc->stale_while_revalidate = cc->stale_if_error = -1;
}

/* delta-seconds (RFC 9111 1.2.2): digits only; -1 when not a number;
 * clamped to GH_CC_DELTA_MAX. */
static int64_t cc_delta(const char *v, size_t n)
{
    int64_t x = 0;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (x < GH_CC_DELTA_MAX)
            x = x * 10 + (v[i] - '0');
    }
    return GH_MIN(x, GH_CC_DELTA_MAX);
}

struct cc_name {
    const char *name;
    uint32_t flag;                      /* or 0 for a delta directive */
    size_t field;                       /* offsetof the delta in struct gh_cc */
    bool stale_if_bad;                  /* invalid value: 0 rather than absent */
};

static const struct cc_name cc_names[] = {
    { "no-store", GH_CC_NO_STORE, 0, false },
    { "no-cache", GH_CC_NO_CACHE, 0, false },
    { "private", GH_CC_PRIVATE, 0, false },
    { "public", GH_CC_PUBLIC, 0, false },
    { "must-revalidate", GH_CC_MUST_REVALIDATE, 0, false },
    { "proxy-revalidate", GH_CC_PROXY_REVALIDATE, 0, false },
    { "only-if-cached", GH_CC_ONLY_IF_CACHED, 0, false },
    { "no-transform", GH_CC_NO_TRANSFORM, 0, false },
    { "immutable", GH_CC_IMMUTABLE, 0, false },
    { "max-age", 0, offsetof(struct gh_cc, max_age), true },
    { "s-maxage", 0, offsetof(struct gh_cc, s_maxage), true },
    { "max-stale", 0, offsetof(struct gh_cc, max_stale), false },
    { "min-fresh", 0, offsetof(struct gh_cc, min_fresh), false },
    { "stale-while-revalidate", 0, offsetof(struct gh_cc, stale_while_revalidate), false },
    { "stale-if-error", 0, offsetof(struct gh_cc, stale_if_error), false },
};

/* One directive: name[0..nlen), value[0..vlen) (unquoted; has_value). */
static void cc_apply(struct gh_cc *cc, const char *name, size_t nlen, const char *val,
                     size_t vlen, bool has_value)
{
    for (size_t i = 0; i < GH_ARRAY_LEN(cc_names); i++) {
        const struct cc_name *d = &cc_names[i];
        if (strlen(d->name) != nlen || !gh_str_caseeq_lit(gh_str_make(name, nlen), d->name))
            continue;
        if (d->flag != 0) {
            cc->flags |= d->flag;
            return;
        }
        int64_t *f = (int64_t *)((char *)cc + d->field);
        if (*f != -1)
            return;                     /* the first occurrence wins */
        int64_t x = has_value ? cc_delta(val, vlen) : -1;
        if (!has_value && d->field == offsetof(struct gh_cc, max_stale))
            x = GH_CC_DELTA_MAX;        /* bare max-stale: any staleness */
        if (x == -1 && d->stale_if_bad)
            x = 0;
        *f = x;
        return;
    }
}

void gh_cc_parse(struct gh_cc *cc, const char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        while (i < len && (ows(s[i]) || s[i] == ','))
            i++;
        size_t ns = i;
        while (i < len && tchar((unsigned char)s[i]))
            i++;
        size_t nlen = i - ns;
        while (i < len && ows(s[i]))
            i++;
        const char *val = NULL;
        size_t vlen = 0;
        bool has_value = false, ok = nlen > 0;
        if (i < len && s[i] == '=') {
            i++;
            while (i < len && ows(s[i]))
                i++;
            has_value = true;
            if (i < len && s[i] == '"') {
                /* quoted-string: values we use are digits, so a quoted
                 * value with escapes is kept raw and fails cc_delta */
                size_t vs = ++i;
                while (i < len && s[i] != '"')
                    i += (s[i] == '\\' && i + 1 < len) ? 2 : 1;
                val = s + vs;
                vlen = GH_MIN(i, len) - vs;
                if (i < len)
                    i++;                /* the closing quote */
                else
                    ok = false;         /* unterminated */
            } else {
                size_t vs = i;
                while (i < len && tchar((unsigned char)s[i]))
                    i++;
                val = s + vs;
                vlen = i - vs;
            }
            while (i < len && ows(s[i]))
                i++;
        }
        if (i < len && s[i] != ',') {
            ok = false;                 /* garbage: skip to the next comma outside quotes */
            bool q = false;
            while (i < len && (q || s[i] != ',')) {
                if (s[i] == '"')
                    q = !q;
                else if (q && s[i] == '\\')
                    i++;
                i++;
            }
        }
        if (ok)
            cc_apply(cc, s + ns, nlen, val, vlen, has_value);
    }
}

/* ---- HTTP-date --------------------------------------------------------- */

static int month_of(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

    for (int m = 0; m < 12; m++)
        if (memcmp(s, months + 3 * m, 3) == 0)
            return m;
    return -1;
}

/* Days from 1970-01-01 to y-m-d (m 0-based), proleptic Gregorian. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m < 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = (m + 10) % 12;
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n digits at s; -1 if any is not a digit. */
static int digits(const char *s, int n)
{
    int x = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    return x;
}

static int64_t date_make(int y, int m, int d, const char *hms)
{
    int hh = digits(hms, 2), mm = digits(hms + 3, 2), ss = digits(hms + 6, 2);

    if (y < 0 || m < 0 || d < 1 || d > 31 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0
        || ss > 60 || hms[2] != ':' || hms[5] != ':')
        return -1;
    return days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
}

int64_t gh_http_date_parse(const char *s, size_t len)
{
    char b[40];

    while (len > 0 && ows(*s)) {
        s++;
        len--;
    }
    while (len > 0 && ows(s[len - 1]))
        len--;
    if (len >= sizeof(b) || len < 24)
        return -1;
    memcpy(b, s, len);
    b[len] = '\0';
    const char *c = memchr(b, ',', len);
    if (len == 29 && c == b + 3 && memcmp(b + 25, " GMT", 4) == 0 && b[4] == ' ' && b[7] == ' '
        && b[11] == ' ' && b[16] == ' ')        /* Sun, 06 Nov 1994 08:49:37 GMT */
        return date_make(digits(b + 12, 4), month_of(b + 8), digits(b + 5, 2), b + 17);
    if (c != NULL && c > b && len - (size_t)(c - b) == 24 && memcmp(b + len - 4, " GMT", 4) == 0
        && c[1] == ' ' && c[4] == '-' && c[8] == '-' && c[11] == ' ') {
        /* Sunday, 06-Nov-94 08:49:37 GMT: a two-digit year within 50
         * years ahead is this century (RFC 9110 5.6.7), else the last. */
        int y = digits(c + 9, 2);
        if (y < 0)
            return -1;
        y += y < 70 ? 2000 : 1900;
        return date_make(y, month_of(c + 5), digits(c + 2, 2), c + 12);
    }
    if (len == 24 && b[3] == ' ' && b[7] == ' ' && b[10] == ' ' && b[19] == ' ') {
        /* Sun Nov  6 08:49:37 1994 */
        int d = b[8] == ' ' ? digits(b + 9, 1) : digits(b + 8, 2);
        return date_make(digits(b + 20, 4), month_of(b + 4), d, b + 11);
    }
    return -1;
}

/* ---- storability and freshness ----------------------------------------- */

bool gh_cache_status_default(int status)
{
    switch (status) {
    case 200: case 203: case 204: case 206: case 300: case 301: case 308:
    case 404: case 405: case 410: case 414: case 501:
        return true;
    default:
        return false;
    }
}

/* Freshness the response states itself (s-maxage, max-age, Expires). */
static int64_t explicit_lifetime(const struct gh_cache_resp *resp, enum gh_cache_fresh_src *src)
{
    if (resp->cc.s_maxage >= 0) {
        *src = GH_FRESH_S_MAXAGE;
        return resp->cc.s_maxage;
    }
    if (resp->cc.max_age >= 0) {
        *src = GH_FRESH_MAX_AGE;
        return resp->cc.max_age;
    }
    if (resp->expires >= 0) {
        *src = GH_FRESH_EXPIRES;
        return resp->date >= 0 && resp->expires > resp->date ? resp->expires - resp->date : 0;
    }
    *src = GH_FRESH_NONE;
    return -1;
}

int64_t gh_cache_lifetime(const struct gh_cache_resp *resp, const struct gh_cache_policy *pol,
                          enum gh_cache_fresh_src *src)
{
    if (pol->override && pol->ttl >= 0) {
        *src = GH_FRESH_OVERRIDE;
        return pol->ttl;
    }
    int64_t t = explicit_lifetime(resp, src);
    if (t >= 0)
        return t;
    if (pol->ttl >= 0) {
        *src = GH_FRESH_TTL;
        return pol->ttl;
    }
    *src = GH_FRESH_NONE;
    return 0;
}

const char *gh_cache_storable(const struct gh_cache_req *req, const struct gh_cache_resp *resp,
                              const struct gh_cache_policy *pol, bool *strip_set_cookie)
{
    uint32_t rf = resp->cc.flags;
    enum gh_cache_fresh_src src;

    *strip_set_cookie = false;
    if (!req->get_or_head)
        return "method";
    if (resp->status < 200 || resp->status == 304)
        return "status";
    if ((req->cc.flags | rf) & GH_CC_NO_STORE)
        return "no-store";
    if (rf & GH_CC_PRIVATE)
        return "private";
    if (resp->vary_star)
        return "Vary: *";
    if (req->authorization && !(rf & (GH_CC_PUBLIC | GH_CC_MUST_REVALIDATE))
        && resp->cc.s_maxage < 0)
        return "Authorization";
    if (resp->set_cookie) {
        if (!(rf & GH_CC_PUBLIC))
            return "Set-Cookie";
        *strip_set_cookie = true;
    }
    explicit_lifetime(resp, &src);
    if (!gh_cache_status_default(resp->status) && src == GH_FRESH_NONE)
        return "status without explicit freshness";
    if (src == GH_FRESH_NONE && pol->ttl < 0 && !(rf & GH_CC_NO_CACHE))
        return "no freshness";
    return NULL;
}

int64_t gh_cache_initial_age(const struct gh_cache_resp *resp, int64_t request_time,
                             int64_t response_time)
{
    int64_t apparent = resp->date >= 0 ? GH_MAX(0, response_time - resp->date) : 0;
    int64_t delay = GH_MAX(0, response_time - request_time);
    int64_t age = resp->age >= 0 ? GH_MIN(resp->age, GH_CC_DELTA_MAX) : 0;
    return GH_MAX(apparent, age + delay);
}

/* ---- using a stored response ------------------------------------------- */

static bool may_serve_stale(const struct gh_cc *stored)
{
    return !(stored->flags & (GH_CC_MUST_REVALIDATE | GH_CC_PROXY_REVALIDATE))
           && stored->s_maxage < 0;
}

enum gh_cache_use gh_cache_use(const struct gh_cache_req *req, const struct gh_cc *stored,
                               int64_t lifetime, int64_t age)
{
    const struct gh_cc *rq = &req->cc;
    enum gh_cache_use miss = (rq->flags & GH_CC_ONLY_IF_CACHED) ? GH_USE_GATEWAY_TIMEOUT
                                                                : GH_USE_VALIDATE;
    bool no_cache = (rq->flags & GH_CC_NO_CACHE) || req->pragma_no_cache
                    || (stored->flags & GH_CC_NO_CACHE);

    if (no_cache)
        return miss;
    if (rq->max_age >= 0 && age > rq->max_age)
        return miss;
    int64_t left = lifetime - age;          /* > 0: fresh */
    if (rq->min_fresh >= 0 && left < rq->min_fresh)
        return miss;
    if (left > 0)
        return GH_USE_FRESH;
    if (!may_serve_stale(stored))
        return miss;
    int64_t stale = -left;
    if (rq->max_stale >= 0 && stale <= rq->max_stale)
        return GH_USE_STALE;
    if (stored->stale_while_revalidate >= 0 && stale <= stored->stale_while_revalidate)
        return GH_USE_STALE_REVALIDATE;
    return miss;
}

bool gh_cache_stale_if_error(const struct gh_cache_req *req, const struct gh_cc *stored,
                             int64_t lifetime, int64_t age)
{
    int64_t stale = age - lifetime;
    int64_t allow = GH_MAX(stored->stale_if_error, req->cc.stale_if_error);

    if (!may_serve_stale(stored) || (req->cc.flags & GH_CC_NO_CACHE))
        return false;
    return stale <= 0 || (allow >= 0 && stale <= allow);
}

/* ---- keys -------------------------------------------------------------- */

static bool is_accept_header(const char *n, size_t len)
{
    return len >= 6 && gh_str_caseeq_lit(gh_str_make(n, 6), "accept");
}

struct vary_name {
    const char *p;
    size_t len;
};

static int vary_cmp(const struct vary_name *a, const struct vary_name *b)
{
    size_t n = GH_MIN(a->len, b->len);
    for (size_t i = 0; i < n; i++) {
        char x = gh_lower(a->p[i]), y = gh_lower(b->p[i]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return a->len < b->len ? -1 : a->len > b->len;
}

/* Split the Vary value into sorted, unique names. -1 for "*" or too many. */
static int vary_names(const char *v, size_t len, struct vary_name *names)
{
    int n = 0;

    for (size_t i = 0; i < len;) {
        while (i < len && (ows(v[i]) || v[i] == ','))
            i++;
        size_t s = i;
        while (i < len && v[i] != ',' && !ows(v[i]))
            i++;
        if (i == s)
            continue;
        struct vary_name x = { v + s, i - s };
        if (x.len == 1 && x.p[0] == '*')
            return -1;
        int k = 0;
        while (k < n && vary_cmp(&names[k], &x) < 0)
            k++;
        if (k < n && vary_cmp(&names[k], &x) == 0)
            continue;
        if (n == VARY_MAX_NAMES)
            return -1;
        memmove(&names[k + 1], &names[k], (size_t)(n - k) * sizeof(*names));
        names[k] = x;
        n++;
    }
    return n;
}

/* Append value v normalized to out at *o. false when it does not fit. */
static bool vary_value(const char *v, size_t len, bool lower, bool first, char *out, size_t *o,
                       size_t outsz)
{
    bool space = false;

    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (ows(c)) {
            space = true;
            continue;
        }
        if (c == ',') {
            space = false;
            if (*o + 1 > outsz)
                return false;
            out[(*o)++] = ',';
            first = true;               /* no blank after a comma */
            continue;
        }
        if (space && !first) {
            if (*o + 1 > outsz)
                return false;
            out[(*o)++] = ' ';
        }
        space = false;
        first = false;
        if (*o + 1 > outsz)
            return false;
        out[(*o)++] = lower ? gh_lower(c) : c;
    }
    return true;
}

ssize_t gh_cache_vary_key(const char *vary, size_t vlen, gh_cache_hdr_fn *get, void *ctx,
                          char *out, size_t outsz)
{
    struct vary_name names[VARY_MAX_NAMES];
    int n = vary_names(vary, vlen, names);
    size_t o = 0;

    if (n < 0)
        return -1;
    for (int k = 0; k < n; k++) {
        if (o + names[k].len + 2 > outsz)
            return -1;
        for (size_t i = 0; i < names[k].len; i++)
            out[o++] = gh_lower(names[k].p[i]);
        const char *v;
        size_t len, line = 0;
        bool lower = is_accept_header(names[k].p, names[k].len);
        out[o++] = ':';
        size_t start = o;
        while (get(ctx, names[k].p, names[k].len, line, &v, &len)) {
            if (line > 0) {
                if (o + 1 > outsz)
                    return -1;
                out[o++] = ',';
            }
            if (!vary_value(v, len, lower, true, out, &o, outsz))
                return -1;
            line++;
        }
        if (line == 0)
            out[start - 1] = '!';
        while (o > start && (out[o - 1] == ',' || out[o - 1] == ' '))
            o--;
        if (o + 1 > outsz)
            return -1;
        out[o++] = '\n';
    }
    return (ssize_t)o;
}

ssize_t gh_cache_primary_key(const char *method, size_t mlen, bool https, const char *host,
                             size_t hlen, const char *target, size_t tlen, char *out,
                             size_t outsz)
{
    const char *scheme = https ? "https://" : "http://";
    const char *defport = https ? ":443" : ":80";
    size_t o = 0, plen = tlen;
    const char *q = memchr(target, '?', tlen);

    if (q != NULL)
        plen = (size_t)(q - target);
    if (hlen >= strlen(defport)
        && memcmp(host + hlen - strlen(defport), defport, strlen(defport)) == 0)
        hlen -= strlen(defport);
    if (hlen > 0 && host[hlen - 1] == '.')
        hlen--;
    /* method, ' ', scheme, host, path (normalized: never longer), query, NUL */
    if (mlen + 1 + strlen(scheme) + hlen + tlen + 1 > outsz)
        return -1;
    memcpy(out, method, mlen);
    o = mlen;
    out[o++] = ' ';
    memcpy(out + o, scheme, strlen(scheme));
    o += strlen(scheme);
    for (size_t i = 0; i < hlen; i++)
        out[o++] = gh_lower(host[i]);
    ssize_t n = gh_path_normalize(gh_str_make(target, plen), out + o);
    if (n < 0)
        return -1;
    o += (size_t)n;
    memcpy(out + o, target + plen, tlen - plen);
    o += tlen - plen;
    return (ssize_t)o;
}
