/*
 * pool.h - region allocator for per-connection and per-request memory
 * (nginx:src/core/ngx_palloc.h). Allocations are carved from blocks and all
 * freed at once by gh_pool_destroy/gh_pool_reset; cleanups run first, in
 * reverse order, so descriptors and shared counters are always released.
 */
#ifndef GH_POOL_H
#define GH_POOL_H

#include "common/gh.h"

typedef void gh_cleanup_fn(void *data);

struct gh_pool_block;
struct gh_pool_large;
struct gh_pool_cleanup;

struct gh_pool {
    struct gh_pool_block *blocks;    /* first is embedded after this header */
    struct gh_pool_block *current;
    struct gh_pool_large *large;     /* allocations bigger than a block */
    struct gh_pool_cleanup *cleanups;
    size_t block_size;
};

/* A pool whose first block (block_size bytes, header included) is one
 * malloc. block_size is raised to a small minimum (header + 256 bytes) and
 * rounded up to 16. Requests that fit in a block are carved from blocks of
 * block_size; bigger ones get their own malloc, freed with the pool. NULL
 * when out of memory. */
struct gh_pool *gh_pool_create(size_t block_size);
/* Run cleanups, free everything including the pool. NULL is ignored. */
void gh_pool_destroy(struct gh_pool *p);
/* Run cleanups, free the large allocations and every block but the first,
 * and forget the allocations in it, so a keep-alive connection reuses its
 * memory for the next request. */
void gh_pool_reset(struct gh_pool *p);

/* 16-byte aligned memory, or NULL. Never freed individually. */
void *gh_palloc(struct gh_pool *p, size_t size);
/* gh_palloc, zero-filled. */
void *gh_pcalloc(struct gh_pool *p, size_t size);
/* A NUL-terminated copy of s[0, len), or NULL. */
char *gh_pstrndup(struct gh_pool *p, const char *s, size_t len);

/* Register fn(data) to run when the pool is reset or destroyed, newest
 * first, before any pool memory is released. The record is allocated from
 * the pool. 0, or -1 when out of memory. */
int gh_pool_cleanup_add(struct gh_pool *p, gh_cleanup_fn *fn, void *data);

#endif
