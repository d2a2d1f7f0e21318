/*
 * cache_store.h - the HTTP cache's object store: one region ("cache") of the
 * shared segment, `cache.size` bytes, shared by every worker and surviving
 * HUP and USR2 (layout version GH_CACHE_LAYOUT).
 *
 * The store knows nothing of HTTP. An object is a 128-bit key, a small
 * opaque meta blob (GH_CACHE_META bytes, written once at begin) and a byte
 * stream (the caller's serialized head and body) kept in a chain of
 * fixed-size blocks taken from a free list, so any object up to
 * max_object_size fits as long as enough blocks are free, whatever their
 * place: no fragmentation, no compaction.
 *
 * Writers stream an object in: gh_cache_begin, gh_cache_append..., then
 * gh_cache_commit (or gh_cache_abort). The object is in the index from
 * begin on, so readers can follow it while it is written: gh_cache_read
 * returns what has been written so far, GH_AGAIN while the writer has not
 * caught up, GH_DONE at the end of a complete object and GH_ERROR when the
 * writer gave up or died. One writer per key at a time: a second begin for
 * a key being written returns GH_AGAIN.
 *
 * Every reader and the writer hold a reference; eviction (LRU, when a block
 * or an object slot is needed) takes an object out of the index at once but
 * frees its blocks only when the last reference goes. References are
 * recorded per process slot (GH_SHM_MAX_PROCS x GH_CACHE_HOLDS), so when
 * the master reaps a dead process, gh_cache_store_proc_exit drops them and
 * discards the objects it was writing: a killed worker leaves no object
 * visible as complete that it had not committed, and blocks nobody.
 *
 * Locks: the index is split in striped robust mutexes (bucket chains,
 * reference counts, index membership); one more robust mutex guards the
 * block and object free lists, block chains and the LRU list. Order:
 * stripe, then the global lock; the global lock only ever trylocks a
 * stripe (eviction skips a busy one). A holder that dies leaves the next
 * locker EOWNERDEAD: a stripe is rebuilt from the objects' `indexed` flags
 * and its reference counts recounted from the per-process references; the
 * global lists are rebuilt from the object table (blocks not on a live
 * object's chain are free; LRU order restarts in table order).
 */
#ifndef GH_CACHE_STORE_H
#define GH_CACHE_STORE_H

#include <sys/uio.h>

#include "common/shm.h"

#define GH_CACHE_REGION "cache"
#define GH_CACHE_LAYOUT 3u                 /* 2: objects have names; 3: claims */
#define GH_CACHE_META 128                /* opaque bytes per object */
#define GH_CACHE_HOLDS 256               /* references one process may hold at once */
#define GH_CACHE_BLOCK 4096u             /* default block size */
#define GH_CACHE_NAME_MAX 65536u         /* longest object name */

struct gh_cache_key {
    uint64_t h[2];
};

/* One reference (a reader's or the writer's), in the caller's memory. */
struct gh_cache_ref {
    uint32_t obj;                        /* object index + 1; 0 = none */
    uint32_t hold;                       /* index in this process's hold row */
    uint32_t blk;                        /* read cursor: block index + 1 */
    uint64_t blk_off;                    /* stream offset of the cursor's block */
};

/* What a lookup found (valid while the reference is held). */
struct gh_cache_info {
    const void *meta;                    /* GH_CACHE_META bytes, immutable */
    uint32_t meta_len;
    bool complete;
    uint64_t length;                     /* bytes written so far */
};

struct gh_cache_stats {
    uint64_t objects, blocks_used, blocks_total, bytes;     /* bytes: of live objects */
    uint64_t inserts, evictions, recoveries;
    uint64_t size, block_size;           /* the region's bytes, a block's */
};

struct cs_region;
struct cs_obj;

/* A process's view of the region (pointers into its own mapping). */
struct gh_cache_store {
    struct cs_region *r;
    struct cs_obj *objs;
    uint32_t *buckets, *bnext, *bowner;
    _Atomic uint32_t (*holds)[GH_CACHE_HOLDS];
    struct gh_stripes *stripes;
    char *data;
    int proc;                            /* this process's slot; -1: may not hold */
    size_t max_object_size;
};

/* Lay out a store in `mem` (`size` bytes of shared memory, 64-byte aligned)
 * with blocks of block_size bytes (a power of two, 512 to 1 MB), or adopt
 * the one already there when it is valid and !fresh. 0, or -1 (logged). */
int gh_cache_store_init(struct gh_cache_store *cs, void *mem, size_t size, uint32_t block_size,
                        bool fresh);
/* Master: find or reserve the "cache" region of `size` bytes and init cs
 * on it (an existing store of the same layout and size is kept). 0, or -1
 * (logged). */
int gh_cache_store_reserve(struct gh_cache_store *cs, struct gh_shm *shm, size_t size);
/* Per process, after fork: the slot whose hold row this process uses
 * (gh_shm_proc_find(getpid()) index), and the largest object. */
void gh_cache_store_set_proc(struct gh_cache_store *cs, int proc, size_t max_object_size);

/* The 128-bit key of `len` bytes, under the region's random secret. */
void gh_cache_key_hash(const struct gh_cache_store *cs, const void *data, size_t len,
                       struct gh_cache_key *out);

/* Find key. 0: *ref holds it (release it with gh_cache_release) and *info
 * describes it; -1: not stored (or only an aborted write); GH_AGAIN: this
 * process holds GH_CACHE_HOLDS references already (serve it uncached).
 * Moves the object to the head of the LRU list. */
int gh_cache_lookup(struct gh_cache_store *cs, const struct gh_cache_key *key,
                    struct gh_cache_ref *ref, struct gh_cache_info *info);
/* Copy up to len bytes of the object from stream offset off (a reader moves
 * forward; a smaller off restarts from the first block). Returns the number
 * copied (> 0); GH_AGAIN: nothing past off yet, the writer is still
 * writing; GH_DONE: off is the end of a complete object; GH_ERROR: the write
 * was aborted (the writer gave up, died, or the object did not fit). */
ssize_t gh_cache_read(struct gh_cache_store *cs, struct gh_cache_ref *ref, uint64_t off, void *buf,
                      size_t len);
/* As gh_cache_read, without the copy: up to len bytes from stream offset
 * off as at most *niov spans of the store's own memory (a chain's adjacent
 * blocks make one span), *niov set to the number used. The bytes stay
 * there, unchanged, while ref is held: they may be written to a socket
 * straight from the store. Returns the number mapped (> 0, fewer than len
 * when the spans ran out), or as gh_cache_read. */
ssize_t gh_cache_map(struct gh_cache_store *cs, struct gh_cache_ref *ref, uint64_t off,
                     struct iovec *iov, int *niov, size_t len);
/* Bytes written so far, and whether the object is complete. */
uint64_t gh_cache_length(const struct gh_cache_store *cs, const struct gh_cache_ref *ref,
                         bool *complete);
/* Claim the object (held by ref) until `until`: true when no claim is
 * held past `now`. Times are ms of one clock for every process
 * (CLOCK_MONOTONIC). For "one of us refreshes it": a claimant that dies
 * lets go when its claim runs out. */
bool gh_cache_claim(struct gh_cache_store *cs, const struct gh_cache_ref *ref, uint64_t now,
                    uint64_t until);
/* Is the object ref holds still the one in the index under its key (not
 * purged, evicted, removed or replaced by a newer write since)? */
bool gh_cache_is_indexed(struct gh_cache_store *cs, const struct gh_cache_ref *ref);
/* Drop a reference from lookup; the last one of an evicted object frees it. */
void gh_cache_release(struct gh_cache_store *cs, struct gh_cache_ref *ref);

/* Start writing key with meta (at most GH_CACHE_META bytes). 0: *w is the
 * writer's reference, the object is in the index (incomplete) and replaces
 * any complete object of that key; GH_AGAIN: another writer has the key;
 * -1: no room (no object slot could be evicted, or no hold slot). */
int gh_cache_begin(struct gh_cache_store *cs, const struct gh_cache_key *key, const void *meta,
                   size_t meta_len, struct gh_cache_ref *w);
/* The same, with a name for gh_cache_purge (the cache's primary key text:
 * every variant of a URL has the same name). The name is not part of the
 * object's bytes as readers see them. */
int gh_cache_begin_named(struct gh_cache_store *cs, const struct gh_cache_key *key,
                         const void *name, size_t name_len, const void *meta, size_t meta_len,
                         struct gh_cache_ref *w);
/* Replace the meta of an object being written, before any byte past its
 * name was appended (the writer began it before it knew what it would
 * hold: a miss that others wait on). Readers see the new meta once they
 * see a byte past the name, or the object complete. 0, or -1 (bytes were
 * appended, the write is over, or meta_len is too long). */
int gh_cache_set_meta(struct gh_cache_store *cs, struct gh_cache_ref *w, const void *meta,
                      size_t meta_len);
/* Append bytes. 0, or -1 when the object would pass max_object_size or no
 * block could be freed: the write is then aborted (readers get GH_ERROR)
 * and w must still be given to gh_cache_abort. */
int gh_cache_append(struct gh_cache_store *cs, struct gh_cache_ref *w, const void *data,
                    size_t len);
/* Mark complete and drop the writer's reference. 0, or -1 when the write
 * had been aborted (w is dropped either way). */
int gh_cache_commit(struct gh_cache_store *cs, struct gh_cache_ref *w);
/* Discard the object being written and drop w. */
void gh_cache_abort(struct gh_cache_store *cs, struct gh_cache_ref *w);

/* Take key out of the index (its blocks go when its readers are done).
 * 0, or -1 when it was not stored. */
int gh_cache_remove(struct gh_cache_store *cs, const struct gh_cache_key *key);

/* Take every object named `name` (prefix: whose name starts with it) out
 * of the index, complete or being written (a writer's later commit is then
 * lost). A scan of the object table: for the admin API, not the request
 * path. Returns the number removed. */
uint64_t gh_cache_purge(struct gh_cache_store *cs, const char *name, size_t len, bool prefix);

/* Master, when it reaps the process of slot proc (before the slot is
 * reused): drop its references and discard the objects it was writing. */
void gh_cache_store_proc_exit(struct gh_cache_store *cs, int proc);

void gh_cache_store_stats(struct gh_cache_store *cs, struct gh_cache_stats *st);

/* Tests only: die (SIGKILL) inside a critical section at point 1 (global
 * lock, a block popped but not yet chained) or 2 (a stripe, mid-insert). */
void gh_cache_store_test_die_at(int point);

#endif
