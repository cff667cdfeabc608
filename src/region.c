/*
 * Pinned regions: page-aligned memory outside any GC heap, carved into
 * fixed-size chunks named by index. A chunk in flight cannot be freed, and a
 * region destroyed while in use stays mapped until its last use ends (a
 * zombie, as sqlite3_close_v2 leaves a connection for garbage-collected
 * hosts), so the kernel never writes into memory that was handed back.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

#define RK_MAX_CHUNK_SIZE (1u << 30)
#define RK_MAX_REGION_BYTES (64ull << 30)
#define RK_MAX_FIXED_BUFFER (1ull << 30) /* the kernel's limit per fixed buffer */
#define RK_HUGE_PAGE (2u << 20)

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static void *map_region(size_t *len, uint32_t flags)
{
	const int prot = PROT_READ | PROT_WRITE;
	const int mflags = MAP_PRIVATE | MAP_ANONYMOUS;
	if (flags & RK_REGION_HUGE) {
		size_t hlen = round_up(*len, RK_HUGE_PAGE);
		void *p = rk__sys_mmap(hlen, prot, mflags | MAP_HUGETLB, -1, 0);
		if (p != MAP_FAILED) {
			*len = hlen;
			return p;
		}
		/* No hugetlb pool configured (the usual case): ask for transparent
		 * huge pages instead, which the kernel grants when it can, but only
		 * for 2 MiB-aligned ranges of the mapping: the region is mapped on
		 * such a boundary, in whole huge pages, so that even one smaller
		 * than a huge page gets one. */
		p = rk__sys_mmap(hlen + RK_HUGE_PAGE, prot, mflags, -1, 0);
		if (p == MAP_FAILED)
			return p;
		uintptr_t at = ((uintptr_t)p + RK_HUGE_PAGE - 1) & ~(uintptr_t)(RK_HUGE_PAGE - 1);
		size_t head = at - (uintptr_t)p;
		if (head)
			rk__sys_munmap(p, head);
		rk__sys_munmap((void *)(at + hlen), RK_HUGE_PAGE - head);
		madvise((void *)at, hlen, MADV_HUGEPAGE);
		*len = hlen;
		return (void *)at;
	}
	return rk__sys_mmap(*len, prot, mflags, -1, 0);
}

static void region_free(rk_region *region)
{
	if (region->base) {
		if (region->locked)
			rk__sys_munlock(region->base, region->map_len);
		rk__sys_munmap(region->base, region->map_len);
	}
	rk__free(region->free_stack);
	rk__free(region->allocated);
	rk__free(region->inflight);
	rk__free(region);
}

int rk_region_create(uint32_t chunk_size, uint32_t nchunks, uint32_t flags, rk_region **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (chunk_size == 0 || chunk_size > RK_MAX_CHUNK_SIZE || nchunks == 0 ||
	    nchunks > RK_MAX_CAPACITY || (flags & ~(RK_REGION_LOCKED | RK_REGION_HUGE | RK_REGION_INCREMENTAL)))
		return -EINVAL;
	uint64_t total = (uint64_t)chunk_size * nchunks;
	if (total > RK_MAX_REGION_BYTES)
		return -EINVAL;

	rk_region *region = rk__calloc(1, sizeof(*region));
	if (!region)
		return -ENOMEM;
	region->chunk_size = chunk_size;
	region->nchunks = nchunks;
	region->free_stack = rk__calloc(nchunks, sizeof(uint32_t));
	region->allocated = rk__calloc(nchunks, 1);
	region->inflight = rk__calloc(nchunks, sizeof(uint32_t));
	if (!region->free_stack || !region->allocated || !region->inflight) {
		region_free(region);
		return -ENOMEM;
	}
	size_t len = round_up((size_t)total, (size_t)sysconf(_SC_PAGESIZE));
	void *base = map_region(&len, flags);
	if (base == MAP_FAILED) {
		int err = -errno;
		region_free(region);
		return err;
	}
	region->base = base;
	region->map_len = len;
	if (flags & RK_REGION_LOCKED) {
		int err = rk__sys_mlock(base, len);
		if (err < 0) {
			region_free(region);
			return err;
		}
		region->locked = 1;
	}
	region->incremental = flags & RK_REGION_INCREMENTAL;
	/* Hand chunks out lowest index first: predictable for callers and
	 * tests, and it keeps a lightly used region's working set small. */
	for (uint32_t i = 0; i < nchunks; i++)
		region->free_stack[i] = nchunks - 1 - i;
	region->nfree = nchunks;
	*out = region;
	return 0;
}

static bool region_in_use(const rk_region *region)
{
	return region->inflight_total || region->registrations || region->provided_to;
}

/* A runtime's finalizer cannot wait for the kernel, and the ring that
 * holds the region may be collected after it: the region is freed by
 * whichever release comes last (rk__region_settle). */
int rk_region_destroy(rk_region *region)
{
	if (!region)
		return -EINVAL;
	if (region_in_use(region)) {
		region->zombie = true;
		return 1;
	}
	region_free(region);
	return 0;
}

void rk__region_settle(rk_region *region)
{
	if (region->zombie && !region_in_use(region))
		region_free(region);
}

int32_t rk_chunk_alloc(rk_region *region)
{
	if (!region)
		return -EINVAL;
	if (region->nfree == 0)
		return -ENOBUFS;
	uint32_t c = region->free_stack[--region->nfree];
	region->allocated[c] = RK_CHUNK_CALLER;
	return (int32_t)c;
}

int rk_chunk_free(rk_region *region, int32_t chunk)
{
	if (!region || chunk < 0 || (uint32_t)chunk >= region->nchunks)
		return -EINVAL;
	if (region->allocated[chunk] != RK_CHUNK_CALLER)
		return -EINVAL; /* free already, or the kernel's (provided) */
	if (region->inflight[chunk])
		return -EBUSY;
	region->allocated[chunk] = RK_CHUNK_FREE;
	region->free_stack[region->nfree++] = (uint32_t)chunk;
	return 0;
}

void *rk_chunk_ptr(rk_region *region, int32_t chunk)
{
	if (!region || chunk < 0 || (uint32_t)chunk >= region->nchunks)
		return NULL;
	return region->base + (size_t)chunk * region->chunk_size;
}

int64_t rk_region_chunk_size(rk_region *region)
{
	return region ? (int64_t)region->chunk_size : -EINVAL;
}

int64_t rk_region_nchunks(rk_region *region)
{
	return region ? (int64_t)region->nchunks : -EINVAL;
}

int64_t rk_region_chunks_free(rk_region *region)
{
	return region ? (int64_t)region->nfree : -EINVAL;
}

int rk_region_busy(rk_region *region)
{
	if (!region)
		return -EINVAL;
	return region_in_use(region);
}

int rk__ring_region_find(rk_ring *ring, rk_region *region)
{
	for (uint32_t i = 0; i < RK_RING_MAX_REGIONS; i++)
		if (ring->regions[i] == region) {
			region->hint = i;
			return (int)i;
		}
	return -1;
}

/* The backend keeps the ring's fixed-buffer table: one slot per region, so
 * regions come and go without re-registering the others. */
int rk_ring_register_region(rk_ring *ring, rk_region *region)
{
	int err = rk__check_ring(ring);
	if (err || (err = rk__restrict_call(ring, RK_RESTRICT_REGIONS)))
		return err;
	if (!region)
		return -EINVAL;
	if (rk__ring_region_index(ring, region) >= 0)
		return 0;
	size_t len = (size_t)region->chunk_size * region->nchunks;
	if (len > RK_MAX_FIXED_BUFFER)
		return -EINVAL;
	int slot = -1;
	for (int i = 0; i < RK_RING_MAX_REGIONS && slot < 0; i++)
		if (!ring->regions[i])
			slot = i;
	if (slot < 0)
		return -ENOSPC;
	int ret = ring->be->buffer_slot(ring, slot, region->base, len);
	if (ret < 0)
		return ret;
	ring->regions[slot] = region;
	region->registrations++;
	return 0;
}

int rk_ring_unregister_region(rk_ring *ring, rk_region *region)
{
	int err = rk__check_ring(ring);
	if (err || (err = rk__restrict_call(ring, RK_RESTRICT_REGIONS)))
		return err;
	if (!region)
		return -EINVAL;
	int slot = rk__ring_region_index(ring, region);
	if (slot < 0)
		return -ENOENT;
	if (region->inflight_total)
		return -EBUSY;
	int ret = ring->be->buffer_slot(ring, slot, NULL, 0);
	if (ret < 0)
		return ret;
	ring->regions[slot] = NULL;
	region->registrations--;
	rk__region_settle(region);
	return 0;
}

/* At ring close: the backend drops the buffer table with the ring. */
void rk__ring_drop_regions(rk_ring *ring)
{
	for (int i = 0; i < RK_RING_MAX_REGIONS; i++) {
		rk_region *region = ring->regions[i];
		if (region) {
			ring->regions[i] = NULL;
			region->registrations--;
			rk__region_settle(region);
		}
	}
}
