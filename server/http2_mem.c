/*
 * http2_mem.c - the memory nghttp2 uses for one session (see http2_priv.h).
 *
 * nghttp2 allocates about 25 KB per session at nghttp2_session_server_new
 * and keeps it to the end: the session object (3 KB), two HPACK tables
 * (1 KB each), its stream map (4 KB, zeroed) and its outbound frame buffer
 * (16 KB; the frames of one send are packed there). An idle HTTP/2
 * connection held all of it that had ever been touched: 13.6 KB of RSS
 * against nginx's 1.1 KB. Small blocks come from malloc as before; blocks
 * of a page or more get pages of their own (mmap), so that when the session
 * goes idle gh_h2_mem_trim can hand back (madvise MADV_DONTNEED) the pages
 * whose contents no longer matter:
 *  - the frame buffer, when nghttp2 has nothing to send (want_write is 0:
 *    no frame is being packed or sent) and our writer holds no pointer into
 *    it: its bytes are dead until the next frame overwrites them;
 *  - any other large block whose bytes are all zero (the stream map once
 *    its last stream is gone), which the kernel gives back as zeroes.
 * The frame buffer is the block of its size that nghttp2 allocates inside
 * session_new (H2_FRAMEBUF_MIN..MAX: nghttp2's 16,384-byte payload plus the
 * frame header and padding byte); a block of that size allocated later
 * (a header value kept by HPACK, say) is never taken for it.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "server/http2_priv.h"

#define H2_FRAMEBUF_MIN (16384 + 9)
#define H2_FRAMEBUF_MAX (16384 + 64)

static size_t page_size(void)
{
    static size_t ps;
    if (ps == 0) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (size_t)v : 4096;
    }
    return ps;
}

static size_t round_pages(size_t n)
{
    size_t ps = page_size();
    return (n + ps - 1) & ~(ps - 1);
}

static struct h2_big *big_find(struct gh_h2_mem *m, const void *p)
{
    for (int i = 0; i < m->nbig; i++)
        if (m->big[i].p == p)
            return &m->big[i];
    return NULL;
}

/* A block of its own pages (zeroed by the kernel), recorded in m; NULL when
 * the table is full or mmap fails: the caller falls back to malloc. */
static void *big_alloc(struct gh_h2_mem *m, size_t size)
{
    if (m->nbig == H2_MEM_BIG)
        return NULL;
    size_t len = round_pages(size);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    m->big[m->nbig++] = (struct h2_big){ .p = p, .size = size, .len = len };
    if (m->in_new && size >= H2_FRAMEBUF_MIN && size <= H2_FRAMEBUF_MAX && m->framebuf == NULL)
        m->framebuf = p;
    return p;
}

static void *h2_malloc(size_t size, void *ud)
{
    struct gh_h2_mem *m = ud;
    void *p = size >= page_size() ? big_alloc(m, size) : NULL;
    return p != NULL ? p : malloc(size);
}

static void h2_free(void *ptr, void *ud)
{
    struct gh_h2_mem *m = ud;
    struct h2_big *b = ptr != NULL ? big_find(m, ptr) : NULL;
    if (b == NULL) {
        free(ptr);
        return;
    }
    if (m->framebuf == ptr)
        m->framebuf = NULL;
    (void)munmap(b->p, b->len);         /* cannot fail for a mapping of ours */
    *b = m->big[--m->nbig];
}

static void *h2_calloc(size_t n, size_t size, void *ud)
{
    struct gh_h2_mem *m = ud;
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    size_t total = n * size;
    void *p = total >= page_size() ? big_alloc(m, total) : NULL;   /* already zero */
    return p != NULL ? p : calloc(n, size);
}

static void *h2_realloc(void *ptr, size_t size, void *ud)
{
    struct gh_h2_mem *m = ud;
    if (ptr == NULL)
        return h2_malloc(size, ud);
    struct h2_big *b = big_find(m, ptr);
    if (b == NULL)
        return realloc(ptr, size);      /* a malloc block stays one */
    if (size <= b->len) {
        b->size = size;
        return ptr;
    }
    size_t old = b->size;
    void *q = h2_malloc(size, ud);
    if (q == NULL)
        return NULL;
    memcpy(q, ptr, GH_MIN(old, size));
    h2_free(ptr, ud);
    return q;
}

void gh_h2_mem_init(struct gh_h2_mem *m, nghttp2_mem *out)
{
    memset(m, 0, sizeof(*m));
    *out = (nghttp2_mem){ .mem_user_data = m, .malloc = h2_malloc, .free = h2_free,
                          .calloc = h2_calloc, .realloc = h2_realloc };
}

static bool all_zero(const void *p, size_t n)
{
    const uint64_t *w = p;
    for (size_t i = 0; i < n / 8; i++)
        if (w[i] != 0)
            return false;
    return true;
}

size_t gh_h2_mem_trim(struct gh_h2_mem *m, bool frames_dead)
{
    size_t given = 0;
    for (int i = 0; i < m->nbig; i++) {
        struct h2_big *b = &m->big[i];
        bool dead = b->p == m->framebuf ? frames_dead : all_zero(b->p, b->len);
        if (dead && madvise(b->p, b->len, MADV_DONTNEED) == 0)
            given += b->len;
    }
    return given;
}
