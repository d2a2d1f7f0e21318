/*
 * lock.h - process-shared robust mutexes for the shared segment.
 *
 * A worker killed while holding one must never stall the others: the mutex
 * is PTHREAD_MUTEX_ROBUST, so the next locker gets EOWNERDEAD, repairs what
 * the lock protects and marks it consistent (nginx only unlocks on the
 * owner's death: ngx_unlock_mutexes).
 *
 * While holding a lock: no syscalls, no logging, no malloc, bounded work.
 */
#ifndef GH_LOCK_H
#define GH_LOCK_H

#include <pthread.h>
#include "common/gh.h"

enum {
    GH_LOCK_OK = 0,          /* locked; protected data consistent */
    GH_LOCK_RECOVERED = 1,   /* locked; the previous owner died holding it:
                                repair the data, then gh_mutex_consistent() */
};

/* Initialise m in shared memory as PROCESS_SHARED + ROBUST. 0 or -1
 * (logged). */
int gh_mutex_init_shared(pthread_mutex_t *m);
/* Lock. Returns GH_LOCK_OK, GH_LOCK_RECOVERED, or -1 (logged; not held) on
 * an unrecoverable error (ENOTRECOVERABLE: someone recovered without
 * marking consistent). */
int gh_mutex_lock(pthread_mutex_t *m);
/* Like gh_mutex_lock, or GH_AGAIN (-2) when held by a live owner. */
int gh_mutex_trylock(pthread_mutex_t *m);
/* Mark a recovered mutex consistent (call while holding it). */
void gh_mutex_consistent(pthread_mutex_t *m);
void gh_mutex_unlock(pthread_mutex_t *m);

/*
 * Striped locks for shared tables: one stripe per group of buckets, so
 * workers touching different keys do not contend.
 */
struct gh_stripes {
    uint32_t n;              /* power of two */
    pthread_mutex_t locks[];
};
static inline size_t gh_stripes_size(uint32_t n)
{
    return sizeof(struct gh_stripes) + (size_t)n * sizeof(pthread_mutex_t);
}
/* Initialise n stripes in s (gh_stripes_size(n) bytes of shared memory).
 * n must be a non-zero power of two. 0, or -1 (logged). */
int gh_stripes_init(struct gh_stripes *s, uint32_t n);
static inline pthread_mutex_t *gh_stripe_for(struct gh_stripes *s, uint64_t hash)
{
    return &s->locks[hash & (s->n - 1)];
}

#endif
