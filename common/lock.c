/*
 * lock.c - process-shared robust mutexes for the shared segment.
 *
 * pthread functions return an error number instead of setting errno; each
 * failure is logged once here, with that number, and callers only propagate.
 * Nothing is logged while the caller holds (or is about to hold) the mutex
 * except on paths where the lock was not taken.
 */
#include <errno.h>
#include <string.h>

#include "common/lock.h"
#include "common/log.h"

/*
 * Initialise m, which lives in shared memory, as a PROCESS_SHARED + ROBUST
 * normal mutex. Called once, by whoever creates the memory, before any other
 * process can see it. Returns 0, or -1 (logged).
 */
int gh_mutex_init_shared(pthread_mutex_t *m)
{
    pthread_mutexattr_t attr;
    const char *what;
    int rc;

    rc = pthread_mutexattr_init(&attr);
    if (rc != 0) {
        gh_log(GH_LOG_ERROR, rc, "pthread_mutexattr_init() failed");
        return -1;
    }
    what = "pthread_mutexattr_setpshared(PTHREAD_PROCESS_SHARED)";
    rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc != 0)
        goto fail;
    what = "pthread_mutexattr_setrobust(PTHREAD_MUTEX_ROBUST)";
    rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc != 0)
        goto fail;
    what = "pthread_mutex_init()";
    rc = pthread_mutex_init(m, &attr);
    if (rc != 0)
        goto fail;
    pthread_mutexattr_destroy(&attr);
    return 0;

fail:
    pthread_mutexattr_destroy(&attr);
    gh_log(GH_LOG_ERROR, rc, "%s failed", what);
    return -1;
}

/* Map a pthread lock result to ours; logs only when the lock was not taken. */
static int gh_mutex_result(int rc, const char *op)
{
    switch (rc) {
    case 0:
        return GH_LOCK_OK;
    case EOWNERDEAD:
        return GH_LOCK_RECOVERED;
    case EBUSY:
        return GH_AGAIN;
    case ENOTRECOVERABLE:
        gh_log(GH_LOG_ALERT, rc,
                     "%s: shared mutex unusable, a previous recovery did not "
                     "mark it consistent", op);
        return -1;
    default:
        gh_log(GH_LOG_ALERT, rc, "%s failed", op);
        return -1;
    }
}

/*
 * Lock m, blocking. Returns GH_LOCK_OK; GH_LOCK_RECOVERED when the previous
 * owner died holding it (the caller now holds it, repairs the protected data
 * and calls gh_mutex_consistent() before unlocking); or -1 (logged) on
 * ENOTRECOVERABLE or another error, and then the lock is not held.
 */
int gh_mutex_lock(pthread_mutex_t *m)
{
    return gh_mutex_result(pthread_mutex_lock(m), "pthread_mutex_lock()");
}

/*
 * Like gh_mutex_lock() but never blocks: GH_AGAIN (-2) when a live process
 * holds m. GH_LOCK_RECOVERED means the same as for gh_mutex_lock().
 */
int gh_mutex_trylock(pthread_mutex_t *m)
{
    return gh_mutex_result(pthread_mutex_trylock(m), "pthread_mutex_trylock()");
}

/*
 * Mark a recovered mutex consistent after repairing what it protects. Call
 * it while holding m, only after GH_LOCK_RECOVERED. Unlocking without it
 * makes m unusable for everyone (ENOTRECOVERABLE).
 */
void gh_mutex_consistent(pthread_mutex_t *m)
{
    int rc = pthread_mutex_consistent(m);

    GH_ASSERT(rc == 0);
    GH_UNUSED(rc);
}

/* Unlock m, which the caller holds. */
void gh_mutex_unlock(pthread_mutex_t *m)
{
    int rc = pthread_mutex_unlock(m);

    GH_ASSERT(rc == 0);
    GH_UNUSED(rc);
}

/*
 * Initialise the n stripes of s (memory of gh_stripes_size(n) bytes, in the
 * shared segment). n must be a non-zero power of two. Returns 0, or -1
 * (logged; no stripe is left initialised).
 */
int gh_stripes_init(struct gh_stripes *s, uint32_t n)
{
    uint32_t i;

    if (n == 0 || (n & (n - 1)) != 0) {
        gh_log(GH_LOG_ALERT, EINVAL,
                     "lock stripes: %u is not a power of two", n);
        return -1;
    }
    s->n = n;
    for (i = 0; i < n; i++) {
        if (gh_mutex_init_shared(&s->locks[i]) == -1)
            goto fail;
    }
    return 0;

fail:
    while (i > 0)
        pthread_mutex_destroy(&s->locks[--i]);
    s->n = 0;
    return -1;
}
