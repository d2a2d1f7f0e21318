/*
 * wbuf.h - a bounded writer over a caller's byte array: every put copies
 * what fits and remembers that something was cut, so the cursor never
 * passes the end whatever is written. The one bounded writer of the tree
 * (access log lines, the heads the proxy and the server write).
 *
 * Room is always computed as end - p with p <= end, never with a further
 * subtraction that could wrap.
 */
#ifndef GH_WBUF_H
#define GH_WBUF_H

#include <stdint.h>
#include <string.h>

#include "common/gh.h"
#include "common/str.h"

struct gh_wbuf {
    char *p, *end;
    bool cut;                           /* a put did not fit whole */
};

static inline struct gh_wbuf gh_wbuf_make(char *buf, size_t size)
{
    return (struct gh_wbuf){ buf, buf + size, false };
}

static inline size_t gh_wbuf_room(const struct gh_wbuf *w)
{
    return (size_t)(w->end - w->p);
}

/* Copy s[0..n), or as much of it as fits. s may be NULL when n is 0. */
static inline void gh_wbuf_put(struct gh_wbuf *w, const void *s, size_t n)
{
    size_t room = gh_wbuf_room(w);
    if (n > room) {
        n = room;
        w->cut = true;
    }
    if (n > 0)
        memcpy(w->p, s, n);
    w->p += n;
}

static inline void gh_wbuf_puts(struct gh_wbuf *w, const char *s)
{
    gh_wbuf_put(w, s, strlen(s));
}

static inline void gh_wbuf_putstr(struct gh_wbuf *w, struct gh_str s)
{
    gh_wbuf_put(w, s.p, s.len);
}

static inline void gh_wbuf_putc(struct gh_wbuf *w, char c)
{
    if (w->p < w->end)
        *w->p++ = c;
    else
        w->cut = true;
}

/* v in decimal, without printf. */
static inline void gh_wbuf_u64(struct gh_wbuf *w, uint64_t v)
{
    char num[20];
    gh_wbuf_put(w, num, gh_str_u64(num, v));
}

/* printf into the room left; output that does not fit is dropped (and
 * w->cut set). Never writes a NUL past what it keeps. */
void gh_wbuf_printf(struct gh_wbuf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
