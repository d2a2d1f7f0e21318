/*
 * route_rx.c - literal prefilters of the routes' regular expressions,
 * derived once at configuration load from the patterns' text: literals
 * every match must start with, end with or contain, which let the matcher
 * skip most expressions without running pcre2 (modules/route.c).
 */
#include <stdio.h>
#include <string.h>

#include "common/str.h"
#include "modules/route.h"
#include "modules/route_priv.h"

/*
 * The parser below reads just enough of PCRE2's syntax to find literals
 * that every match must contain, and gives up (no literal at all) on
 * anything it does not fully understand. It relies on the pattern being
 * compiled with no option but PCRE2_CASELESS (no UTF, no extended mode, no
 * multiline) and on pcre2_match being called with start offset 0.
 *
 * At the top level of the pattern (outside any group and class), when there
 * is no top-level '|', the pattern is a sequence of atoms, each of which a
 * match goes through in order. A "run" is a sequence of literal atoms (plain
 * characters and escaped punctuation) with nothing between them; a
 * quantifier removes its atom from the run and ends it ("ab?c" has the runs
 * "a" and "c"). Every run is a substring of every match, hence of the
 * subject. The run right after a leading '^' is a prefix of the subject; the
 * run right before a final '$' is a suffix of the subject or, since PCRE2's
 * '$' also matches before a newline that ends the subject, of the subject
 * without that newline (normalized paths never contain a raw newline, the
 * check allows it anyway). Groups (of the few kinds known to leave the
 * parsing of what follows them alone), classes, '.', and escapes that are
 * not literals are opaque atoms that end a run. Bails out on: a top-level
 * '|' or ')', "(*" (verbs, start-of-pattern options), "(?" other than
 * "(?:", "(?=", "(?!", "(?<=", "(?<!", "(?>", "(?|" (option settings,
 * comments, callouts, named groups...), \Q and \E, \c, POSIX classes,
 * escapes of letters or digits other than the argument-less ones, '{' that
 * may not be a quantifier, a quantifier right after the leading '^', and
 * with PCRE2_CASELESS a non-ASCII byte in a literal (kept out of the run).
 */

enum route_rx_prev { ROUTE_RX_START, ROUTE_RX_LIT, ROUTE_RX_OTHER };

/* pat[i] == '[': the index after its closing ']', or 0 to give up. */
static size_t route_rx_skip_class(const char *pat, size_t i)
{
    i++;
    if (pat[i] == '^')
        i++;
    if (pat[i] == ']')
        i++;                            /* a literal ']' */
    for (;;) {
        char c = pat[i];
        if (c == '\0')
            return 0;
        if (c == ']')
            return i + 1;
        if (c == '\\') {
            char d = pat[i + 1];
            if (d == '\0' || d == 'Q' || d == 'E' || d == 'c')
                return 0;
            i += 2;
            continue;
        }
        if (c == '[' && (pat[i + 1] == ':' || pat[i + 1] == '.' || pat[i + 1] == '='))
            return 0;
        i++;
    }
}

/* pat[i] == '(': whether the group is of a kind the parser can skip. */
static bool route_rx_group_ok(const char *pat, size_t i)
{
    if (pat[i + 1] == '*')
        return false;
    if (pat[i + 1] != '?')
        return true;
    switch (pat[i + 2]) {
    case ':': case '=': case '!': case '>': case '|': return true;
    case '<': return pat[i + 3] == '=' || pat[i + 3] == '!';
    default: return false;
    }
}

/* pat[i] == '(': the index after its closing ')', or 0 to give up. */
static size_t route_rx_skip_group(const char *pat, size_t i)
{
    int depth = 0;
    for (;;) {
        char c = pat[i];
        if (c == '\0')
            return 0;
        if (c == '\\') {
            char d = pat[i + 1];
            if (d == '\0' || d == 'Q' || d == 'E' || d == 'c')
                return 0;
            i += 2;
            continue;
        }
        if (c == '[') {
            i = route_rx_skip_class(pat, i);
            if (i == 0)
                return 0;
            continue;
        }
        if (c == '(') {
            if (!route_rx_group_ok(pat, i))
                return 0;
            depth++;
        } else if (c == ')' && --depth == 0) {
            return i + 1;
        }
        i++;
    }
}

/* Choose the byte of a "has" literal to look for with memchr: the rarest
 * in paths by a rough guess, and for a caseless literal not a letter when
 * there is another choice. */
void route_lit_set_anchor(struct route_lit *l)
{
    int best = 1000;
    for (size_t i = 0; i < l->len; i++) {
        unsigned char c = (unsigned char)l->s[i];
        int score = c == '/' ? 9 : strchr("eaoistnr", c) != NULL ? 7
                  : route_is_alnum(c) ? 6 : (c == '.' || c == '-' || c == '_') ? 5 : 4;
        if (l->fold && route_is_alpha(c))
            score += 10;
        if (score < best) {
            best = score;
            l->anchor = (uint8_t)i;
        }
    }
}

static void route_lit_set(struct route_lit *l, const char *s, size_t len, bool caseless)
{
    l->len = (uint8_t)len;
    l->fold = false;
    for (size_t i = 0; i < len; i++) {
        l->s[i] = caseless ? gh_lower(s[i]) : s[i];
        l->fold |= caseless && route_is_alpha((unsigned char)s[i]);
    }
    l->anchor = 0;
}

/* The end of a run: remember it as the prefix, the suffix or the longest
 * other run (capped at ROUTE_LIT_MAX bytes: a part of a required literal is
 * required too). */
static void route_rx_flush(struct route_lits *out, const char *run, size_t len, bool is_pre,
                           bool is_suf, bool caseless)
{
    if (len == 0)
        return;
    if (is_pre)
        route_lit_set(&out->pre, run, GH_MIN(len, ROUTE_LIT_MAX), caseless);
    if (is_suf) {
        size_t n = GH_MIN(len, ROUTE_LIT_MAX);
        route_lit_set(&out->suf, run + len - n, n, caseless);
    }
    if (!is_pre && !is_suf && len > out->has.len)
        route_lit_set(&out->has, run, GH_MIN(len, ROUTE_LIT_MAX), caseless);
}

/* Fill out with the literals of pat (see above); all empty when none is
 * known. Returns 0, or -1 when it gave up (out all empty). */
int route_rx_literals(const char *pat, bool caseless, struct route_lits *out)
{
    char run[512];
    size_t n = strlen(pat), i = 0, rlen = 0;
    bool run_is_pre = false;
    enum route_rx_prev prev = ROUTE_RX_OTHER;

    memset(out, 0, sizeof(*out));
    if (n >= sizeof(run))
        return -1;
    if (pat[0] == '^') {
        i = 1;
        run_is_pre = true;
        prev = ROUTE_RX_START;
    }
#define FLUSH(suf)                                                                    \
    do {                                                                              \
        route_rx_flush(out, run, rlen, run_is_pre, (suf), caseless);                  \
        rlen = 0;                                                                     \
        run_is_pre = false;                                                           \
    } while (0)
    while (i < n) {
        unsigned char c = (unsigned char)pat[i];
        switch (c) {
        case '\\': {
            unsigned char d = (unsigned char)pat[i + 1];
            if (d == '\0' || d >= 0x80)
                goto bail;
            if (route_is_alnum(d)) {
                /* argument-less non-literal escapes (and a few control
                 * characters): opaque; the others may take arguments */
                if (strchr("dDwWsSbBAzZGhHvVRKXtnrefa", (int)d) == NULL)
                    goto bail;
                FLUSH(false);
                prev = ROUTE_RX_OTHER;
            } else {
                run[rlen++] = (char)d;  /* escaped punctuation: itself */
                prev = ROUTE_RX_LIT;
            }
            i += 2;
            continue;
        }
        case '.':
            FLUSH(false);
            prev = ROUTE_RX_OTHER;
            i++;
            continue;
        case '[':
            i = route_rx_skip_class(pat, i);
            if (i == 0)
                goto bail;
            FLUSH(false);
            prev = ROUTE_RX_OTHER;
            continue;
        case '(':
            if (!route_rx_group_ok(pat, i))
                goto bail;
            i = route_rx_skip_group(pat, i);
            if (i == 0)
                goto bail;
            FLUSH(false);
            prev = ROUTE_RX_OTHER;
            continue;
        case ')':
        case '|':
            goto bail;
        case '^':
            FLUSH(false);
            prev = ROUTE_RX_OTHER;
            i++;
            continue;
        case '$':
            FLUSH(i == n - 1);
            prev = ROUTE_RX_OTHER;
            i++;
            continue;
        case '{': {
            /* "{n}", "{n,}", "{n,m}" (and, in newer PCRE2, "{,m}" and
             * spaces) quantify; anything else would be a literal '{',
             * which is not worth telling apart */
            size_t j = i + 1;
            while (pat[j] != '}' && (pat[j] == ',' || pat[j] == ' ' ||
                                     (pat[j] >= '0' && pat[j] <= '9')))
                j++;
            if (pat[j] != '}')
                goto bail;
            i = j;
        }
            /* a quantifier, i at its last character */
            __attribute__((fallthrough));
        case '*':
        case '+':
        case '?':
            if (prev == ROUTE_RX_START)
                goto bail;
            if (prev == ROUTE_RX_LIT)
                rlen--;                 /* the quantified atom is not required */
            FLUSH(false);
            prev = ROUTE_RX_OTHER;
            i++;
            continue;
        default:
            if (caseless && c >= 0x80) {
                FLUSH(false);           /* no case folding of it is assumed */
                prev = ROUTE_RX_OTHER;
            } else {
                run[rlen++] = (char)c;
                prev = ROUTE_RX_LIT;
            }
            i++;
            continue;
        }
    }
    FLUSH(false);
#undef FLUSH
    route_lit_set_anchor(&out->has);
    return 0;
bail:
    memset(out, 0, sizeof(*out));
    return -1;
}

int gh_route_regex_literals(const char *pattern, bool caseless, char *buf, size_t size)
{
    struct route_lits ls;
    int rc = route_rx_literals(pattern, caseless, &ls);
    snprintf(buf, size, "pre=%.*s suf=%.*s has=%.*s", ls.pre.len, ls.pre.s, ls.suf.len,
             ls.suf.s, ls.has.len, ls.has.s);
    return rc;
}

/* One atom of an alternative, for route_rx_last_bytes: i at its start;
 * returns the index after it, or 0 to give up. *lit is its literal byte, or
 * -1 when it is not a single literal byte. */
static size_t route_rx_atom(const char *pat, size_t i, int *lit)
{
    unsigned char c = (unsigned char)pat[i];
    *lit = -1;
    switch (c) {
    case '\\': {
        unsigned char d = (unsigned char)pat[i + 1];
        if (d == '\0' || d >= 0x80 || d == 'Q' || d == 'E' || d == 'c')
            return 0;
        if (!route_is_alnum(d))
            *lit = d;                   /* escaped punctuation: itself */
        else if (strchr("dDwWsSbBAzZGhHvVRKXtnrefa", (int)d) == NULL)
            return 0;                   /* may take arguments */
        return i + 2;
    }
    case '[':
        return route_rx_skip_class(pat, i);
    case '(':
    case ')':
    case '{':
    case '\0':
        return 0;
    case '.':
    case '^':
    case '$':
    case '*':
    case '+':
    case '?':
    case '|':
        return i + 1;
    default:
        if (c < 0x80)
            *lit = c;
        return i + 1;
    }
}

bool route_rx_last_bytes(const char *pat, bool caseless, uint8_t set[32])
{
    size_t n = strlen(pat);
    memset(set, 0, 32);
    if (n < 4 || pat[n - 1] != '$' || pat[n - 2] != ')')
        return false;
    /* the group that ends at pat[n - 2]: where it opens, at the top level */
    size_t open = 0, i = 0;
    int depth = 0;
    while (i < n - 2) {
        char c = pat[i];
        if (c == '\\') {
            if (pat[i + 1] == 'Q' || pat[i + 1] == '\0')
                return false;
            i += 2;
        } else if (c == '[') {
            if ((i = route_rx_skip_class(pat, i)) == 0)
                return false;
        } else {
            if (c == '(') {
                if (pat[i + 1] == '*' || (pat[i + 1] == '?' && pat[i + 2] != ':'))
                    return false;       /* verbs, options, lookarounds, names */
                if (depth++ == 0)
                    open = i;
            } else if ((c == ')' && --depth < 0) || (c == '|' && depth == 0)) {
                return false;           /* unbalanced, or a top-level alternative */
            }
            i++;
        }
    }
    if (depth != 1 || i != n - 2)
        return false;
    /* its alternatives: plain sequences of atoms, each ending with a literal
     * byte that is not quantified */
    i = open + 1 + (pat[open + 1] == '?' ? 2 : 0);
    for (;;) {
        int lit = -1;
        size_t start = i;
        while (i < n - 2 && pat[i] != '|') {
            int a;
            size_t next = route_rx_atom(pat, i, &a);
            if (next == 0)
                return false;
            if (pat[i] == '*' || pat[i] == '+' || pat[i] == '?')
                a = -1;                 /* the atom before is optional */
            lit = a;
            i = next;
        }
        if (i == start || lit < 0)
            return false;
        set[lit >> 3] |= (uint8_t)(1u << (lit & 7));
        if (caseless && route_is_alpha((unsigned char)lit)) {
            int other = lit ^ 0x20;
            set[other >> 3] |= (uint8_t)(1u << (other & 7));
        }
        if (i == n - 2)
            return true;
        i++;                            /* past '|' */
    }
}
