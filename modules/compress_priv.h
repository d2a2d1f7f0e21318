/*
 * compress_priv.h - private to modules/compress*.c: the streaming interface
 * the three codecs (compress_codec.c) give the filter (compress.c).
 */
#ifndef GH_COMPRESS_PRIV_H
#define GH_COMPRESS_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"
#include "modules/compress.h"

/* What one step of a codec did. */
enum gh_codec_rc {
    GH_CODEC_ERROR = -1,
    GH_CODEC_FULL = 0,                  /* the output is full and there is more to do */
    GH_CODEC_DONE = 1,                  /* the input is taken and nothing is held back that
                                           must come out now (finish: the stream ended) */
};

/* What a step does after taking its input. */
enum gh_codec_op {
    GH_CODEC_RUN = 0,                   /* nothing more: keep what helps the ratio */
    GH_CODEC_SYNC,                      /* put out everything taken so far */
    GH_CODEC_FINISH,                    /* end the stream */
};

struct gh_codec {
    const char *name;                   /* the Content-Encoding value */
    /* A compressor at the configured level; length: the body's size when
     * known (to size the window down), else -1. Its memory is malloc'd
     * (bounded: see the README); NULL when out of memory (logged). */
    void *(*init)(const struct gh_conf *conf, int64_t length);
    /* Compress from *in (*inlen bytes) into *out (*outlen bytes of room),
     * advancing both, then do op. A SYNC or FINISH that returned FULL is
     * called again with the same op and no new input until it is DONE. */
    enum gh_codec_rc (*step)(void *st, const uint8_t **in, size_t *inlen, uint8_t **out,
                             size_t *outlen, enum gh_codec_op op);
    /* Free everything init took. */
    void (*end)(void *st);
};

/* Indexed by enum gh_coding. */
extern const struct gh_codec gh_codecs[GH_NCODINGS];

#endif
