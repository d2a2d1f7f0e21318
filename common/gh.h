/*
 * gh.h - definitions every gatehouse file uses: status codes, time type,
 * assertions and a few tiny helpers.
 */
#ifndef GH_GH_H
#define GH_GH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

/* Results of I/O functions. */
enum {
    GH_OK = 0,
    GH_ERROR = -1,
    GH_AGAIN = -2,  /* would block: wait for the next event */
    GH_DONE = -3,   /* peer finished (EOF) or the object is complete */
};

/* Milliseconds; durations in the configuration and timer deadlines. */
typedef int64_t gh_msec_t;

#define GH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define GH_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GH_MAX(a, b) ((a) > (b) ? (a) : (b))
#define GH_UNUSED(x) ((void)(x))
#define GH_CONTAINER_OF(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))

#define GH_LIKELY(x) __builtin_expect(!!(x), 1)
#define GH_UNLIKELY(x) __builtin_expect(!!(x), 0)

void gh_assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

/* GH_ASSERT aborts in debug and sanitizer builds and compiles to nothing
 * otherwise (HAProxy's BUG_ON). */
#ifdef GH_DEBUG
#define GH_ASSERT(e) \
    ((e) ? (void)0 : gh_assert_fail(#e, __FILE__, __LINE__))
#else
#define GH_ASSERT(e) ((void)0)
#endif

#endif
