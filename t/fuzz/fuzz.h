/*
 * fuzz.h - shared by the libFuzzer harnesses: CHECK aborts (so libFuzzer
 * keeps the input) when an invariant does not hold.
 */
#ifndef GH_FUZZ_H
#define GH_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(e) \
    do { \
        if (!(e)) { \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #e, __LINE__); \
            abort(); \
        } \
    } while (0)

#endif
