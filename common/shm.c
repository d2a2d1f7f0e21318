/*
 * shm.c - the one shared-memory segment: a memfd mapped MAP_SHARED, with a
 * header (magic, version, size, generation, process slots, region directory
 * and a free-extent allocator) followed by named regions.
 *
 * The memfd is created WITHOUT MFD_CLOEXEC on purpose: on USR2 the master
 * execs the new binary, which must inherit the segment's fd (as it inherits
 * the listening sockets) and gh_shm_attach() to it. Children that must not
 * keep it (none today) have to close it themselves.
 *
 * The directory and the allocator are guarded by hdr->lock, a robust
 * process-shared mutex. Every mutation keeps the directory consistent on its
 * own: an entry becomes visible when its first name byte is stored (last),
 * and disappears when that byte is cleared (first). The free-extent list is
 * derived data: when a holder of the lock died (GH_LOCK_RECOVERED), it is
 * rebuilt from the directory, so space in flight is never leaked.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/lock.h"
#include "common/log.h"
#include "common/shm.h"

#define GH_SHM_ALIGN 64u

static inline uint64_t gh_shm_align(uint64_t n)
{
    return (n + (GH_SHM_ALIGN - 1)) & ~(uint64_t)(GH_SHM_ALIGN - 1);
}

/* First byte usable by regions: the header, rounded up to 64 bytes. */
static inline uint64_t gh_shm_data_start(void)
{
    return gh_shm_align(sizeof(struct gh_shm_header));
}

/* ---------------------------------------------------------------------- */
/* Allocator and directory. Everything here runs under hdr->lock: no
 * syscalls, no logging, bounded work. */

/*
 * Take `len` (64-byte multiple) bytes from the first free extent large
 * enough. Stores the offset in *off. Returns 0, or -1 when nothing fits.
 */
static int gh_shm_extent_take(struct gh_shm_header *h, uint64_t len, uint64_t *off)
{
    uint32_t i;

    for (i = 0; i < h->nfree; i++) {
        struct gh_shm_extent *e = &h->free[i];

        if (e->size < len)
            continue;
        *off = e->offset;
        if (e->size == len) {
            memmove(e, e + 1, (h->nfree - i - 1) * sizeof(*e));
            h->nfree--;
        } else {
            e->offset += len;
            e->size -= len;
        }
        return 0;
    }
    return -1;
}

/*
 * Return [off, off + len) to the sorted free list, merging it with its
 * neighbours. Returns 0, or -1 when the list is full and nothing merges
 * (cannot happen: there are at most GH_SHM_MAX_REGIONS + 1 gaps).
 */
static int gh_shm_extent_give(struct gh_shm_header *h, uint64_t off, uint64_t len)
{
    struct gh_shm_extent *f = h->free;
    uint32_t i = 0;
    bool prev, next;

    while (i < h->nfree && f[i].offset < off)
        i++;
    prev = i > 0 && f[i - 1].offset + f[i - 1].size == off;
    next = i < h->nfree && off + len == f[i].offset;
    if (prev && next) {
        f[i - 1].size += len + f[i].size;
        memmove(&f[i], &f[i + 1], (h->nfree - i - 1) * sizeof(*f));
        h->nfree--;
    } else if (prev) {
        f[i - 1].size += len;
    } else if (next) {
        f[i].offset = off;
        f[i].size += len;
    } else {
        if (h->nfree == GH_SHM_MAX_EXTENTS)
            return -1;
        memmove(&f[i + 1], &f[i], (h->nfree - i) * sizeof(*f));
        f[i].offset = off;
        f[i].size = len;
        h->nfree++;
    }
    return 0;
}

static inline bool gh_shm_desc_used(const struct gh_shm_region_desc *d)
{
    return __atomic_load_n(&d->name[0], __ATOMIC_ACQUIRE) != '\0';
}

static struct gh_shm_region_desc *gh_shm_desc_find(struct gh_shm_header *h, const char *name)
{
    for (size_t i = 0; i < GH_SHM_MAX_REGIONS; i++) {
        struct gh_shm_region_desc *d = &h->regions[i];

        if (gh_shm_desc_used(d) && strncmp(d->name, name, GH_SHM_NAME_LEN) == 0)
            return d;
    }
    return NULL;
}

/* Remove entry d (cleared first, so a crash after it only strands space that
 * a recovery gives back) and return its space. */
static void gh_shm_desc_release(struct gh_shm_header *h, struct gh_shm_region_desc *d)
{
    uint64_t off = d->offset, len = gh_shm_align(d->size);

    __atomic_store_n(&d->name[0], '\0', __ATOMIC_RELEASE);
    if (gh_shm_extent_give(h, off, len) == -1)
        GH_ASSERT(!"shm free list overflow");
}

/*
 * Rebuild the allocator after a lock holder died: drop directory entries
 * that are malformed or overlap an earlier one, then recompute the free list
 * as the gaps between the remaining regions. `size` is the mapped size.
 */
static void gh_shm_repair(struct gh_shm_header *h, uint64_t size)
{
    struct gh_shm_region_desc *used[GH_SHM_MAX_REGIONS];
    uint64_t start = gh_shm_data_start(), cursor;
    size_t n = 0, i, j;

    for (i = 0; i < GH_SHM_MAX_REGIONS; i++) {
        struct gh_shm_region_desc *d = &h->regions[i];

        if (!gh_shm_desc_used(d))
            continue;
        if (memchr(d->name, '\0', GH_SHM_NAME_LEN) == NULL || d->size == 0
            || d->offset < start || d->offset % GH_SHM_ALIGN != 0 || d->offset > size
            || d->size > size - d->offset || gh_shm_align(d->size) > size - d->offset) {
            d->name[0] = '\0';
            continue;
        }
        /* insertion sort by offset */
        for (j = n; j > 0 && used[j - 1]->offset > d->offset; j--)
            used[j] = used[j - 1];
        used[j] = d;
        n++;
    }

    h->nfree = 0;
    cursor = start;
    for (i = 0; i < n; i++) {
        struct gh_shm_region_desc *d = used[i];

        if (d->offset < cursor) {               /* overlaps: drop it */
            d->name[0] = '\0';
            continue;
        }
        if (d->offset > cursor) {
            h->free[h->nfree].offset = cursor;
            h->free[h->nfree].size = d->offset - cursor;
            h->nfree++;
        }
        cursor = d->offset + gh_shm_align(d->size);
    }
    if (cursor < size) {
        h->free[h->nfree].offset = cursor;
        h->free[h->nfree].size = size - cursor;
        h->nfree++;
    }
}

/* Take hdr->lock, repairing after a dead owner. GH_LOCK_OK,
 * GH_LOCK_RECOVERED (repaired, consistent, held) or -1 (logged, not held). */
static int gh_shm_lock(const struct gh_shm *shm)
{
    int rc = gh_mutex_lock(&shm->hdr->lock);

    if (rc == GH_LOCK_RECOVERED) {
        gh_shm_repair(shm->hdr, shm->size);
        gh_mutex_consistent(&shm->hdr->lock);
    }
    return rc;
}

/* Release hdr->lock; rc is what gh_shm_lock() returned. */
static void gh_shm_unlock(const struct gh_shm *shm, int rc)
{
    gh_mutex_unlock(&shm->hdr->lock);
    if (rc == GH_LOCK_RECOVERED)
        gh_log(GH_LOG_WARN, 0, "shm: a process died holding the segment lock; "
               "region directory checked and free space rebuilt");
}

/* ---------------------------------------------------------------------- */

/*
 * Create a memfd segment of `size` bytes (rounded up to a page), without
 * close-on-exec (see the top of this file), sealed against resizing, map it
 * MAP_SHARED and write a fresh header whose free list holds everything after
 * the header. Returns 0 with *shm filled in, or -1 (logged, nothing left
 * open). No lock needed: nobody else can see the segment yet.
 */
int gh_shm_create(struct gh_shm *shm, size_t size)
{
    struct gh_shm_header *h;
    uint64_t start = gh_shm_data_start();
    long page = sysconf(_SC_PAGESIZE);
    const char *what;
    void *p;
    int fd, err;

    shm->fd = -1;
    shm->base = NULL;
    shm->size = 0;
    shm->hdr = NULL;

    if (page == -1)
        page = 4096;
    if (size > SIZE_MAX - (size_t)page) {
        gh_log(GH_LOG_ERROR, 0, "shm: size %zu is too large", size);
        return -1;
    }
    size = (size + (size_t)page - 1) & ~((size_t)page - 1);
    if (size < start + GH_SHM_ALIGN) {
        gh_log(GH_LOG_ERROR, 0, "shm: size %zu is too small, need at least %llu bytes",
               size, (unsigned long long)(start + GH_SHM_ALIGN));
        return -1;
    }

    /* No MFD_CLOEXEC: the fd must survive the USR2 exec. */
    fd = memfd_create("gatehouse", MFD_ALLOW_SEALING);
    if (fd == -1) {
        err = errno;
        gh_log(GH_LOG_ERROR, err, "shm: memfd_create(\"gatehouse\") failed");
        return -1;
    }
    what = "ftruncate()";
    if (ftruncate(fd, (off_t)size) == -1)
        goto fail;
    what = "fcntl(F_ADD_SEALS)";
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == -1)
        goto fail;
    what = "mmap()";
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        goto fail;

    h = p;                                      /* memfd pages start zeroed */
    h->version = GH_SHM_VERSION;
    h->size = size;
    atomic_store(&h->generation, 0);
    if (gh_mutex_init_shared(&h->lock) == -1) {
        munmap(p, size);
        close(fd);
        return -1;
    }
    h->nfree = 1;
    h->free[0].offset = start;
    h->free[0].size = size - start;
    for (size_t i = 0; i < GH_SHM_MAX_PROCS; i++)
        h->procs[i].worker_slot = -1;
    __atomic_store_n(&h->magic, GH_SHM_MAGIC, __ATOMIC_RELEASE);  /* last */

    shm->fd = fd;
    shm->base = p;
    shm->size = size;
    shm->hdr = h;
    return 0;

fail:
    err = errno;
    gh_log(GH_LOG_ERROR, err, "shm: %s on a %zu-byte segment failed", what, size);
    close(fd);
    return -1;
}

/*
 * Map an inherited segment fd (USR2). Checks that the file is large enough
 * for a header, that magic and version match this binary, and that the
 * recorded size is the file's size. Returns 0 with *shm filled in; shm then
 * owns fd (gh_shm_detach() closes it). Returns -1 (logged) on any mismatch;
 * fd is left open for the caller to close, and the caller creates a fresh
 * segment instead. No lock needed.
 */
int gh_shm_attach(struct gh_shm *shm, int fd)
{
    const struct gh_shm_header *h;
    struct stat st;
    size_t size;
    void *p;
    int err;

    shm->fd = -1;
    shm->base = NULL;
    shm->size = 0;
    shm->hdr = NULL;

    if (fstat(fd, &st) == -1) {
        err = errno;
        gh_log(GH_LOG_ERROR, err, "shm: fstat() on inherited fd %d failed", fd);
        return -1;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size < gh_shm_data_start() + GH_SHM_ALIGN
        || (uint64_t)st.st_size > SIZE_MAX) {
        gh_log(GH_LOG_ERROR, 0, "shm: inherited fd %d is not a segment (size %lld)",
               fd, (long long)st.st_size);
        return -1;
    }
    size = (size_t)st.st_size;
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        err = errno;
        gh_log(GH_LOG_ERROR, err, "shm: mmap() of inherited fd %d (%zu bytes) failed", fd,
               size);
        return -1;
    }
    h = p;
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != GH_SHM_MAGIC) {
        gh_log(GH_LOG_ERROR, 0, "shm: inherited fd %d: bad magic 0x%08x", fd, h->magic);
        goto fail;
    }
    if (h->version != GH_SHM_VERSION) {
        gh_log(GH_LOG_ERROR, 0, "shm: inherited fd %d: segment version %u, this binary "
               "uses %u", fd, h->version, GH_SHM_VERSION);
        goto fail;
    }
    if (h->size != (uint64_t)size) {
        gh_log(GH_LOG_ERROR, 0, "shm: inherited fd %d: header says %llu bytes, file has %zu",
               fd, (unsigned long long)h->size, size);
        goto fail;
    }
    shm->fd = fd;
    shm->base = p;
    shm->size = size;
    shm->hdr = p;
    return 0;

fail:
    munmap(p, size);
    return -1;
}

/* Unmap and close the fd. Safe on a zeroed or already detached *shm. */
void gh_shm_detach(struct gh_shm *shm)
{
    if (shm->base != NULL && munmap(shm->base, shm->size) == -1)
        gh_log(GH_LOG_ALERT, errno, "shm: munmap() failed");
    if (shm->fd >= 0 && close(shm->fd) == -1)
        gh_log(GH_LOG_ALERT, errno, "shm: close(%d) failed", shm->fd);
    shm->fd = -1;
    shm->base = NULL;
    shm->size = 0;
    shm->hdr = NULL;
}

enum gh_shm_region_err {
    GH_SHM_ERR_NONE,
    GH_SHM_ERR_DIRECTORY_FULL,
    GH_SHM_ERR_NO_SPACE,
};

/*
 * Find or reserve the region `name` (1 to GH_SHM_NAME_LEN - 1 bytes) of
 * `size` bytes and layout `layout_version`. An existing region of that name
 * with the same version and size is returned with *fresh = false, its content
 * untouched. Otherwise a new one is allocated (first fit, 64-byte aligned,
 * apart from the old one when there is room for both) and zero-filled,
 * *fresh = true, and the old region, if any, is released.
 * Returns a pointer into this process's mapping, or NULL (logged) when the
 * name is invalid, the directory is full or no free extent is large enough.
 * Takes hdr->lock itself (the caller must not hold it); the zero-fill runs
 * under it. Called by the master.
 */
void *gh_shm_region(struct gh_shm *shm, const char *name, uint32_t layout_version,
                    size_t size, bool *fresh)
{
    struct gh_shm_header *h = shm->hdr;
    struct gh_shm_region_desc *d;
    enum gh_shm_region_err err = GH_SHM_ERR_NONE;
    size_t namelen = strnlen(name, GH_SHM_NAME_LEN);
    uint64_t off = 0, len;
    void *ret = NULL;
    int rc;

    if (namelen == 0 || namelen >= GH_SHM_NAME_LEN) {
        gh_log(GH_LOG_ALERT, 0, "shm: region name \"%.*s\" must be 1 to %d bytes",
               (int)namelen, name, GH_SHM_NAME_LEN - 1);
        return NULL;
    }
    if (size == 0 || size > shm->size) {
        gh_log(GH_LOG_ERROR, 0, "shm: region \"%s\": invalid size %zu (segment is %zu)",
               name, size, shm->size);
        return NULL;
    }
    len = gh_shm_align(size);

    rc = gh_shm_lock(shm);
    if (rc == -1)
        return NULL;

    d = gh_shm_desc_find(h, name);
    if (d != NULL && d->layout_version == layout_version && d->size == size) {
        ret = shm->base + d->offset;
        *fresh = false;
        goto done;
    }
    /* Another layout or size: the new space is taken while the old region
     * is still held, so that the processes still writing to the old one
     * (an older binary's workers draining after USR2) never write into the
     * new one. Only when there is no room for both does the old one go
     * first. */
    struct gh_shm_region_desc *old = d;
    d = NULL;
    for (size_t i = 0; i < GH_SHM_MAX_REGIONS; i++) {
        if (!gh_shm_desc_used(&h->regions[i])) {
            d = &h->regions[i];
            break;
        }
    }
    bool have = d != NULL && gh_shm_extent_take(h, len, &off) == 0;
    if (old != NULL) {
        gh_shm_desc_release(h, old);
        if (d == NULL)
            d = old;
        if (!have)
            have = gh_shm_extent_take(h, len, &off) == 0;
    }
    if (d == NULL) {
        err = GH_SHM_ERR_DIRECTORY_FULL;
        goto done;
    }
    if (!have) {
        err = GH_SHM_ERR_NO_SPACE;
        goto done;
    }
    memset(shm->base + off, 0, len);
    d->layout_version = layout_version;
    d->offset = off;
    d->size = size;
    memset(d->name + 1, 0, GH_SHM_NAME_LEN - 1);
    memcpy(d->name + 1, name + 1, namelen - 1);
    __atomic_store_n(&d->name[0], name[0], __ATOMIC_RELEASE);   /* publish last */
    ret = shm->base + off;
    *fresh = true;

done:
    gh_shm_unlock(shm, rc);
    if (err == GH_SHM_ERR_DIRECTORY_FULL)
        gh_log(GH_LOG_ERROR, 0, "shm: region \"%s\": directory full (%d regions)", name,
               GH_SHM_MAX_REGIONS);
    else if (err == GH_SHM_ERR_NO_SPACE)
        gh_log(GH_LOG_ERROR, 0, "shm: region \"%s\": no room for %zu bytes, %zu free; "
               "raise shm_size", name, size, gh_shm_free_bytes(shm));
    return ret;
}

/*
 * Release the region `name`, if there is one; its space goes back to the
 * allocator, merged with free neighbours. Takes hdr->lock itself. Called by
 * the master, once no process uses the region any more.
 */
void gh_shm_region_release(struct gh_shm *shm, const char *name)
{
    struct gh_shm_region_desc *d;
    int rc;

    rc = gh_shm_lock(shm);
    if (rc == -1)
        return;
    d = gh_shm_desc_find(shm->hdr, name);
    if (d != NULL)
        gh_shm_desc_release(shm->hdr, d);
    gh_shm_unlock(shm, rc);
}

/*
 * Bytes still free for regions (the sum of the free extents; a single
 * region may not get all of it when it is fragmented). Takes hdr->lock
 * itself; 0 when the lock is unusable.
 */
size_t gh_shm_free_bytes(const struct gh_shm *shm)
{
    uint64_t sum = 0;
    int rc;

    rc = gh_shm_lock(shm);
    if (rc == -1)
        return 0;
    for (uint32_t i = 0; i < shm->hdr->nfree; i++)
        sum += shm->hdr->free[i].size;
    gh_shm_unlock(shm, rc);
    return (size_t)sum;
}

/* ---------------------------------------------------------------------- */
/* Process slots: lock-free; a slot is owned by whoever CASes pid 0 -> pid. */

/*
 * Claim a free process slot for child `pid` (> 0): CAS of pid 0 -> pid, then
 * generation, worker_slot and heartbeat are written (a concurrent reader may
 * briefly see the slot's old values). Returns the slot index, or -1 (logged)
 * when all GH_SHM_MAX_PROCS slots are taken. No lock. Called by the master
 * right after fork.
 */
int gh_shm_proc_claim(struct gh_shm *shm, int32_t pid, uint32_t generation, int32_t worker_slot)
{
    if (pid <= 0) {
        gh_log(GH_LOG_ALERT, 0, "shm: cannot claim a process slot for pid %d", (int)pid);
        return -1;
    }
    for (int i = 0; i < GH_SHM_MAX_PROCS; i++) {
        struct gh_shm_proc *p = &shm->hdr->procs[i];
        int32_t expected = 0;

        if (atomic_compare_exchange_strong(&p->pid, &expected, pid)) {
            p->generation = generation;
            p->worker_slot = worker_slot;
            atomic_store(&p->heartbeat_ms, 0);
            return i;
        }
        /* Idempotent: the child may claim its own slot before (or while)
         * the master does; both scan upwards, so they meet at one slot. */
        if (expected == pid)
            return i;
    }
    gh_log(GH_LOG_ERROR, 0, "shm: all %d process slots are taken, none for pid %d",
           GH_SHM_MAX_PROCS, (int)pid);
    return -1;
}

/*
 * Free the slot of `pid`, if any: its fields are reset, then pid is set to
 * 0, which makes the slot claimable. No lock. Called by the master when it
 * reaps the child.
 */
void gh_shm_proc_release(struct gh_shm *shm, int32_t pid)
{
    struct gh_shm_proc *p = gh_shm_proc_find(shm, pid);

    if (p == NULL)
        return;
    atomic_store(&p->heartbeat_ms, 0);
    p->generation = 0;
    p->worker_slot = -1;
    atomic_store(&p->pid, 0);
}

/*
 * The slot of `pid` (> 0), or NULL when it has none. A child uses it to
 * refresh its heartbeat_ms. No lock.
 */
struct gh_shm_proc *gh_shm_proc_find(struct gh_shm *shm, int32_t pid)
{
    if (pid <= 0)
        return NULL;
    for (int i = 0; i < GH_SHM_MAX_PROCS; i++) {
        struct gh_shm_proc *p = &shm->hdr->procs[i];

        if (atomic_load(&p->pid) == pid)
            return p;
    }
    return NULL;
}
