/*
 * shm.h - the one shared-memory segment (memfd, mapped MAP_SHARED by the
 * master before fork and inherited by workers, the helper and, on USR2, the
 * new binary through its fd).
 *
 * Layout: a header {magic, version, size, generation, process slots, region
 * directory, allocator}, then named regions. Regions are reserved by name
 * with a layout version: the same name and version finds the existing region
 * (its state survives HUP and USR2); a different version or size starts it
 * fresh. Store offsets, not pointers, inside regions: every process maps the
 * segment at its own address.
 */
#ifndef GH_SHM_H
#define GH_SHM_H

#include <pthread.h>
#include <stdatomic.h>
#include "common/gh.h"

#define GH_SHM_MAGIC 0x4d534847u        /* "GHSM" */
#define GH_SHM_VERSION 1u
#define GH_SHM_MAX_PROCS 128            /* worker slots of all live generations + helper */
#define GH_SHM_MAX_REGIONS 32
#define GH_SHM_MAX_EXTENTS 64
#define GH_SHM_NAME_LEN 32

/* One live child process (worker or helper). */
struct gh_shm_proc {
    _Atomic int32_t pid;                /* 0 = free */
    _Atomic int64_t heartbeat_ms;       /* monotonic ms, refreshed by the process */
    uint32_t generation;                /* configuration generation */
    int32_t worker_slot;                /* listener slot; -1 for the helper */
};

struct gh_shm_region_desc {
    char name[GH_SHM_NAME_LEN];         /* "" = unused entry */
    uint32_t layout_version;
    uint64_t offset;                    /* from the segment base */
    uint64_t size;
};

struct gh_shm_extent {                  /* a free range for the allocator */
    uint64_t offset, size;
};

struct gh_shm_header {
    uint32_t magic;
    uint32_t version;
    uint64_t size;                      /* whole segment */
    _Atomic uint64_t generation;        /* bumped by the master on each reload */
    pthread_mutex_t lock;               /* guards the directory and allocator */
    uint32_t nfree;
    struct gh_shm_extent free[GH_SHM_MAX_EXTENTS];
    struct gh_shm_region_desc regions[GH_SHM_MAX_REGIONS];
    struct gh_shm_proc procs[GH_SHM_MAX_PROCS];
};

struct gh_shm {
    int fd;
    char *base;
    size_t size;
    struct gh_shm_header *hdr;
};

/* Create a memfd segment of `size` bytes (rounded up to a page), map it and
 * write a fresh header. The fd is NOT close-on-exec, so that the USR2 binary
 * inherits it; it is sealed against shrinking and growing. 0, or -1 (logged). */
int gh_shm_create(struct gh_shm *shm, size_t size);
/* Map an inherited segment fd. Fails (-1, logged) when the magic or version
 * does not match, or the header's size is not the file's size, so the caller
 * creates a fresh segment instead. On success shm owns fd (detach closes
 * it); on failure fd is left open for the caller to close. */
int gh_shm_attach(struct gh_shm *shm, int fd);
/* Unmap and close. Safe to call twice. */
void gh_shm_detach(struct gh_shm *shm);

/* Find or reserve the region `name` (1 to GH_SHM_NAME_LEN - 1 bytes). When
 * a region of that name exists with the same layout version and size it is
 * returned with *fresh = false.
 * Otherwise any old region of that name is released and a new zeroed one is
 * allocated (64-byte aligned), *fresh = true: the caller initialises it.
 * NULL (logged) when the segment or the directory is full. Takes the
 * segment lock itself. Called by the master only, before forking. */
void *gh_shm_region(struct gh_shm *shm, const char *name, uint32_t layout_version,
                    size_t size, bool *fresh);
/* Release the region `name`, if any (after a reload dropped a feature); its
 * space returns to the allocator, merged with free neighbours. Takes the
 * segment lock itself. Called by the master only. */
void gh_shm_region_release(struct gh_shm *shm, const char *name);
/* Bytes still free (sum of free extents). Takes the segment lock itself. */
size_t gh_shm_free_bytes(const struct gh_shm *shm);

static inline void *gh_shm_ptr(const struct gh_shm *shm, uint64_t off)
{
    return shm->base + off;
}
static inline uint64_t gh_shm_off(const struct gh_shm *shm, const void *p)
{
    return (uint64_t)((const char *)p - shm->base);
}

/* Process slots (lock-free): the master claims one for each child it forks
 * (CAS of pid 0 -> pid) and frees it when it reaps the child. Claim returns
 * the slot index, or -1 (logged) when all are taken. Claiming is
 * idempotent: a child may claim its own slot at start (before or while the
 * master does) and gets the same index. Release of a pid without a slot
 * does nothing. */
int gh_shm_proc_claim(struct gh_shm *shm, int32_t pid, uint32_t generation, int32_t worker_slot);
void gh_shm_proc_release(struct gh_shm *shm, int32_t pid);
/* The slot of `pid`, or NULL: a child refreshes its heartbeat_ms there. */
struct gh_shm_proc *gh_shm_proc_find(struct gh_shm *shm, int32_t pid);

#endif
