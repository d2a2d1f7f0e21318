/*
 * gh.c - the assertion failure path (GH_ASSERT).
 */
#include <stdio.h>
#include <stdlib.h>
#include "common/gh.h"

void gh_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}
