/*
 * wbuf.c - the bounded writer's printf (see wbuf.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "common/wbuf.h"

void gh_wbuf_printf(struct gh_wbuf *w, const char *fmt, ...)
{
    size_t room = gh_wbuf_room(w);
    va_list ap;
    va_start(ap, fmt);
    /* With room 0 vsnprintf writes nothing; else at most room - 1 bytes
     * and a NUL, all inside [p, end). */
    int n = vsnprintf(w->p, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= room) {
        /* Cut: keep what was written but the NUL (room - 1 bytes). */
        w->cut = true;
        n = room > 0 ? (int)(room - 1) : 0;
    }
    w->p += n;
}
