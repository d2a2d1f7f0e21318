/*
 * pool.c - region allocator (nginx:src/core/ngx_palloc.c): allocations are
 * carved from blocks of block_size bytes; requests too big for a block get
 * their own malloc, listed so they are freed with the pool; cleanups run in
 * reverse order of registration on reset and destroy.
 */
#include <string.h>
#include "common/pool.h"

#define POOL_ALIGN 16
#define POOL_MIN_BLOCK 256              /* usable bytes we insist on per block */
#define POOL_MAX_FAILED 4               /* skip a block after this many misses */

struct gh_pool_block {
    char *last, *end;                   /* free space [last, end) */
    struct gh_pool_block *next;
    unsigned failed;                    /* allocations that did not fit */
};

struct gh_pool_large {
    struct gh_pool_large *next;
    void *alloc;
};

struct gh_pool_cleanup {
    struct gh_pool_cleanup *next;
    gh_cleanup_fn *fn;
    void *data;
};

static inline size_t align_up(size_t n)
{
    return (n + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
}

static inline char *align_ptr(char *p)
{
    return (char *)(((uintptr_t)p + POOL_ALIGN - 1) & ~(uintptr_t)(POOL_ALIGN - 1));
}

/* Bytes of the first allocation before its usable space. */
#define FIRST_HDR align_up(sizeof(struct gh_pool) + sizeof(struct gh_pool_block))
#define BLOCK_HDR align_up(sizeof(struct gh_pool_block))

/* The largest request served from a block: what the first block holds. */
static inline size_t max_small(const struct gh_pool *p)
{
    return p->block_size - FIRST_HDR;
}

static inline struct gh_pool_block *first_block(struct gh_pool *p)
{
    return (struct gh_pool_block *)(p + 1);
}

struct gh_pool *gh_pool_create(size_t block_size)
{
    void *mem;

    if (block_size > SIZE_MAX / 2)
        return NULL;
    if (block_size < FIRST_HDR + POOL_MIN_BLOCK)
        block_size = FIRST_HDR + POOL_MIN_BLOCK;
    block_size = align_up(block_size);
    if (posix_memalign(&mem, POOL_ALIGN, block_size) != 0)
        return NULL;
    struct gh_pool *p = mem;
    struct gh_pool_block *b = first_block(p);
    b->last = (char *)mem + FIRST_HDR;
    b->end = (char *)mem + block_size;
    b->next = NULL;
    b->failed = 0;
    p->blocks = p->current = b;
    p->large = NULL;
    p->cleanups = NULL;
    p->block_size = block_size;
    return p;
}

static void run_cleanups(struct gh_pool *p)
{
    /* Newest first; a cleanup that registers another gets it run too. */
    while (p->cleanups != NULL) {
        struct gh_pool_cleanup *c = p->cleanups;
        p->cleanups = c->next;
        c->fn(c->data);
    }
}

static void free_large(struct gh_pool *p)
{
    for (struct gh_pool_large *l = p->large; l != NULL; l = l->next)
        free(l->alloc);
    p->large = NULL;
}

/* Free every block but the first (which is the pool's own allocation). */
static void free_blocks(struct gh_pool *p)
{
    struct gh_pool_block *b = first_block(p)->next;
    while (b != NULL) {
        struct gh_pool_block *next = b->next;
        free(b);
        b = next;
    }
}

void gh_pool_destroy(struct gh_pool *p)
{
    if (p == NULL)
        return;
    run_cleanups(p);
    free_large(p);
    free_blocks(p);
    free(p);
}

void gh_pool_reset(struct gh_pool *p)
{
    run_cleanups(p);
    free_large(p);
    free_blocks(p);
    struct gh_pool_block *b = first_block(p);
    b->last = (char *)p + FIRST_HDR;
    b->next = NULL;
    b->failed = 0;
    p->blocks = p->current = b;
}

/* Carve size bytes from b, or NULL when they do not fit. */
static inline void *block_alloc(struct gh_pool_block *b, size_t size)
{
    char *m = align_ptr(b->last);
    if (m > b->end || (size_t)(b->end - m) < size)
        return NULL;
    b->last = m + size;
    return m;
}

static void *alloc_small(struct gh_pool *p, size_t size)
{
    struct gh_pool_block *b;
    void *m, *mem;

    for (b = p->current; b != NULL; b = b->next)
        if ((m = block_alloc(b, size)) != NULL)
            return m;
    if (posix_memalign(&mem, POOL_ALIGN, p->block_size) != 0)
        return NULL;
    struct gh_pool_block *nb = mem;
    nb->last = (char *)mem + BLOCK_HDR;
    nb->end = (char *)mem + p->block_size;
    nb->next = NULL;
    nb->failed = 0;
    m = block_alloc(nb, size);          /* cannot fail: size <= max_small */
    /* Blocks that keep missing stop being searched (as nginx does). */
    for (b = p->current; b->next != NULL; b = b->next)
        if (b->failed++ > POOL_MAX_FAILED)
            p->current = b->next;
    b->next = nb;
    return m;
}

static void *alloc_large(struct gh_pool *p, size_t size)
{
    void *mem;

    if (posix_memalign(&mem, POOL_ALIGN, size) != 0)
        return NULL;
    struct gh_pool_large *l = alloc_small(p, sizeof(*l));
    if (l == NULL) {
        free(mem);
        return NULL;
    }
    l->alloc = mem;
    l->next = p->large;
    p->large = l;
    return mem;
}

void *gh_palloc(struct gh_pool *p, size_t size)
{
    if (size == 0)
        size = 1;                       /* a distinct, valid pointer */
    if (size <= max_small(p))
        return alloc_small(p, size);
    return alloc_large(p, size);
}

void *gh_pcalloc(struct gh_pool *p, size_t size)
{
    void *m = gh_palloc(p, size);
    if (m != NULL)
        memset(m, 0, size);
    return m;
}

char *gh_pstrndup(struct gh_pool *p, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *d = gh_palloc(p, len + 1);
    if (d == NULL)
        return NULL;
    if (len > 0)
        memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

int gh_pool_cleanup_add(struct gh_pool *p, gh_cleanup_fn *fn, void *data)
{
    struct gh_pool_cleanup *c = alloc_small(p, sizeof(*c));
    if (c == NULL)
        return -1;
    c->fn = fn;
    c->data = data;
    c->next = p->cleanups;
    p->cleanups = c;
    return 0;
}
