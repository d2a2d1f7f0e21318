/*
 * compress_accept.c - the Accept-Encoding field (RFC 9110 12.5.3) and the
 * choice of a content coding from it (see compress.h).
 *
 *   Accept-Encoding = #( codings [ weight ] )
 *   codings = content-coding / "identity" / "*"
 *   weight  = OWS ";" OWS "q=" qvalue
 *   qvalue  = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
 */
#include "common/str.h"
#include "modules/compress.h"

void gh_accept_encoding_init(struct gh_accept_encoding *ae)
{
    for (int i = 0; i < GH_ACCEPT_SLOTS; i++)
        ae->q[i] = -1;
}

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The slot of a coding name, or -1 for one we do not produce. */
static int coding_slot(struct gh_str name)
{
    if (gh_str_caseeq_lit(name, "gzip") || gh_str_caseeq_lit(name, "x-gzip"))
        return GH_CODING_GZIP;
    if (gh_str_caseeq_lit(name, "br"))
        return GH_CODING_BR;
    if (gh_str_caseeq_lit(name, "zstd"))
        return GH_CODING_ZSTD;
    if (gh_str_caseeq_lit(name, "identity"))
        return GH_CODING_IDENTITY;
    if (name.len == 1 && name.p[0] == '*')
        return GH_CODING_ANY;
    return -1;
}

/* A qvalue in thousandths, or -1 when it is not one. */
static int parse_qvalue(struct gh_str v)
{
    if (v.len == 0 || (v.p[0] != '0' && v.p[0] != '1'))
        return -1;
    int q = (v.p[0] - '0') * 1000;
    if (v.len == 1)
        return q;
    if (v.p[1] != '.' || v.len > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < v.len; i++, scale /= 10) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        q += (v.p[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* One element "coding *( OWS ; OWS param )": its slot and weight, or -1
 * when it does not parse or names a coding we do not know. Parameters
 * other than q are ignored. */
static int parse_element(struct gh_str e, int *q)
{
    size_t i = 0;
    while (i < e.len && is_tchar(e.p[i]))
        i++;
    int slot = coding_slot(gh_str_make(e.p, i));
    *q = 1000;
    while (slot >= 0 && i < e.len) {
        while (i < e.len && (e.p[i] == ' ' || e.p[i] == '\t'))
            i++;
        if (i == e.len)
            break;
        if (e.p[i++] != ';')
            return -1;
        size_t end = i;
        while (end < e.len && e.p[end] != ';')
            end++;
        struct gh_str param = gh_str_trim(gh_str_make(e.p + i, end - i));
        if (param.len >= 2 && gh_lower(param.p[0]) == 'q' && param.p[1] == '=') {
            *q = parse_qvalue(gh_str_make(param.p + 2, param.len - 2));
            if (*q < 0)
                return -1;
        }
        i = end;
    }
    return slot;
}

void gh_accept_encoding_parse(struct gh_accept_encoding *ae, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && s[i] != ',')
            i++;
        struct gh_str e = gh_str_trim(gh_str_make(s + start, i - start));
        i++;                            /* the comma */
        int q;
        int slot = e.len > 0 ? parse_element(e, &q) : -1;
        if (slot < 0)
            continue;
        if (ae->q[slot] < 0 || q < ae->q[slot])
            ae->q[slot] = (int16_t)q;
    }
}

/* The weight of slot: its own, else "*"'s, else dflt. */
static int weight(const struct gh_accept_encoding *ae, int slot, int dflt)
{
    if (ae->q[slot] >= 0)
        return ae->q[slot];
    return ae->q[GH_CODING_ANY] >= 0 ? ae->q[GH_CODING_ANY] : dflt;
}

int gh_accept_encoding_choose(const struct gh_accept_encoding *ae, unsigned enabled)
{
    int best = -1, best_q = 0;
    for (int c = 0; c < GH_NCODINGS; c++) {
        if (!(enabled & (1u << c)))
            continue;
        int q = weight(ae, c, 0);
        if (q > best_q) {               /* strictly: ties keep the preferred one */
            best = c;
            best_q = q;
        }
    }
    if (best >= 0 && weight(ae, GH_CODING_IDENTITY, 0) > best_q)
        return -1;
    return best;
}
