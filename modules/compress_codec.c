/*
 * compress_codec.c - gzip (zlib), br (libbrotli) and zstd (libzstd) behind
 * the streaming interface of compress_priv.h. Each keeps a bounded window,
 * so one stream's memory does not depend on the body's size:
 *
 *   gzip   windowBits 15, memLevel 8 (zlib's defaults): 256 KB + 6 KB;
 *          a body of known smaller length gets a smaller window, as
 *          nginx's gzip module does
 *   br     lgwin 18 (a 256 KB window; libbrotli's default is 4 MB):
 *          2.4 MB at quality 4, 3.6 MB at 5, 4.7 MB at 6
 *   zstd   windowLog 18 (256 KB): 1.8 MB at level 3; the body's length,
 *          when known, is pledged so small bodies get small tables
 *
 * (Peaks measured with counting allocators over a 4 MB text body.)
 */
#include <stdlib.h>

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "common/log.h"
#include "modules/compress_priv.h"

#define GH_BROTLI_LGWIN 18
#define GH_ZSTD_WINDOWLOG 18

/* ---- gzip --------------------------------------------------------------- */

static void *gzip_init(const struct gh_conf *conf, int64_t length)
{
    int wbits = 15, memlevel = 8;
    /* zlib's window is 262 bytes smaller than 1 << wbits (nginx's rule). */
    while (length > 0 && wbits > 9 && length < (1 << (wbits - 1)) - 262) {
        wbits--;
        memlevel--;
    }
    if (memlevel < 1)
        memlevel = 1;
    z_stream *z = calloc(1, sizeof(*z));
    if (z == NULL)
        return NULL;
    /* windowBits + 16: a gzip header and trailer around the deflate data. */
    int rc = deflateInit2(z, conf->compression.level, Z_DEFLATED, wbits + 16, memlevel,
                          Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) {
        gh_log_error("deflateInit2: %s", rc == Z_MEM_ERROR ? "out of memory" : zError(rc));
        free(z);
        return NULL;
    }
    return z;
}

static enum gh_codec_rc gzip_step(void *st, const uint8_t **in, size_t *inlen, uint8_t **out,
                                  size_t *outlen, enum gh_codec_op op)
{
    static const int flush[] = { Z_NO_FLUSH, Z_SYNC_FLUSH, Z_FINISH };
    z_stream *z = st;
    /* A span and a stage's room are far below 4 GB. */
    z->next_in = (Bytef *)(uintptr_t)*in;
    z->avail_in = (uInt)*inlen;
    z->next_out = *out;
    z->avail_out = (uInt)*outlen;
    int rc = deflate(z, flush[op]);
    *in = z->next_in;
    *inlen = z->avail_in;
    *out = z->next_out;
    *outlen = z->avail_out;
    if (rc == Z_STREAM_END)
        return GH_CODEC_DONE;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
        gh_log_error("deflate: %s", z->msg != NULL ? z->msg : zError(rc));
        return GH_CODEC_ERROR;
    }
    /* Room left: all was put out that op asks for; Z_BUF_ERROR: no
     * progress was possible, so nothing is held. */
    if (op != GH_CODEC_FINISH && z->avail_in == 0 && (z->avail_out > 0 || rc == Z_BUF_ERROR))
        return GH_CODEC_DONE;
    return GH_CODEC_FULL;
}

static void gzip_end(void *st)
{
    deflateEnd(st);
    free(st);
}

/* ---- br ----------------------------------------------------------------- */

static void *br_init(const struct gh_conf *conf, int64_t length)
{
    BrotliEncoderState *s = BrotliEncoderCreateInstance(NULL, NULL, NULL);
    if (s == NULL) {
        gh_log_error("BrotliEncoderCreateInstance: out of memory");
        return NULL;
    }
    BrotliEncoderSetParameter(s, BROTLI_PARAM_QUALITY, (uint32_t)conf->compression.brotli_level);
    BrotliEncoderSetParameter(s, BROTLI_PARAM_LGWIN, GH_BROTLI_LGWIN);
    if (length > 0)
        BrotliEncoderSetParameter(s, BROTLI_PARAM_SIZE_HINT,
                                  (uint32_t)GH_MIN(length, (int64_t)1 << 30));
    return s;
}

static enum gh_codec_rc br_step(void *st, const uint8_t **in, size_t *inlen, uint8_t **out,
                                size_t *outlen, enum gh_codec_op op)
{
    static const BrotliEncoderOperation bop[] = { BROTLI_OPERATION_PROCESS,
        BROTLI_OPERATION_FLUSH, BROTLI_OPERATION_FINISH };
    BrotliEncoderState *s = st;
    for (;;) {
        if (!BrotliEncoderCompressStream(s, bop[op], inlen, in, outlen, out, NULL)) {
            gh_log_error("BrotliEncoderCompressStream failed");
            return GH_CODEC_ERROR;
        }
        if (op == GH_CODEC_FINISH ? BrotliEncoderIsFinished(s)
                                  : *inlen == 0 && !BrotliEncoderHasMoreOutput(s))
            return GH_CODEC_DONE;
        if (*outlen == 0)
            return GH_CODEC_FULL;
    }
}

static void br_end(void *st)
{
    BrotliEncoderDestroyInstance(st);
}

/* ---- zstd --------------------------------------------------------------- */

static void *zstd_init(const struct gh_conf *conf, int64_t length)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    if (c == NULL) {
        gh_log_error("ZSTD_createCCtx: out of memory");
        return NULL;
    }
    size_t rc = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, conf->compression.zstd_level);
    if (!ZSTD_isError(rc))
        rc = ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, GH_ZSTD_WINDOWLOG);
    if (!ZSTD_isError(rc) && length >= 0)
        rc = ZSTD_CCtx_setPledgedSrcSize(c, (unsigned long long)length);
    if (ZSTD_isError(rc)) {
        gh_log_error("zstd parameters: %s", ZSTD_getErrorName(rc));
        ZSTD_freeCCtx(c);
        return NULL;
    }
    return c;
}

static enum gh_codec_rc zstd_step(void *st, const uint8_t **in, size_t *inlen, uint8_t **out,
                                  size_t *outlen, enum gh_codec_op op)
{
    static const ZSTD_EndDirective zop[] = { ZSTD_e_continue, ZSTD_e_flush, ZSTD_e_end };
    ZSTD_inBuffer ib = { *in, *inlen, 0 };
    ZSTD_outBuffer ob = { *out, *outlen, 0 };
    size_t rc = ZSTD_compressStream2(st, &ob, &ib, zop[op]);
    *in += ib.pos;
    *inlen -= ib.pos;
    *out += ob.pos;
    *outlen -= ob.pos;
    if (ZSTD_isError(rc)) {
        gh_log_error("ZSTD_compressStream2: %s", ZSTD_getErrorName(rc));
        return GH_CODEC_ERROR;
    }
    /* e_flush and e_end return what is left to put out. */
    if (op != GH_CODEC_RUN ? rc == 0 : *inlen == 0 && *outlen > 0)
        return GH_CODEC_DONE;
    return GH_CODEC_FULL;
}

static void zstd_end(void *st)
{
    ZSTD_freeCCtx(st);
}

const struct gh_codec gh_codecs[GH_NCODINGS] = {
    [GH_CODING_ZSTD] = { "zstd", zstd_init, zstd_step, zstd_end },
    [GH_CODING_BR] = { "br", br_init, br_step, br_end },
    [GH_CODING_GZIP] = { "gzip", gzip_init, gzip_step, gzip_end },
};
