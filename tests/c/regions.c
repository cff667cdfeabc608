/* Region rules: chunk allocation and freeing, in-flight chunks cannot be
 * freed, busy or registered regions are busy (tests/c/zombie_regions.c: what
 * destroying one does), chunk ops work with
 * and without registration and land in the right chunk. */
#include <sys/mman.h>

#include "check.h"

static void chunk_io(rk_ring *ring, rk_region *rg, int fd)
{
	int32_t a = rk_chunk_alloc(rg), b = rk_chunk_alloc(rg);
	CHECK(a >= 0 && b >= 0 && a != b);
	unsigned char ref[8192];
	CHECK_EQ(pread(fd, ref, sizeof(ref), 0), sizeof(ref));

	int64_t ra = rk_prep_read_chunk(ring, fd, rg, a, 4096, 4096, 0);
	int64_t rb = rk_prep_read_chunk(ring, fd, rg, b, 4096, 0, 0);
	CHECK(ra >= 0 && rb >= 0);
	/* In flight: neither chunk can be freed, the region not destroyed. */
	CHECK_EQ(rk_chunk_free(rg, a), -EBUSY);
	CHECK_EQ(rk_region_busy(rg), 1);
	rk_cqe c[4];
	reap_n(ring, c, 2);
	CHECK_EQ(c[0].res, 4096);
	CHECK_EQ(c[1].res, 4096);
	CHECK(memcmp(rk_chunk_ptr(rg, a), ref + 4096, 4096) == 0);
	CHECK(memcmp(rk_chunk_ptr(rg, b), ref, 4096) == 0);

	/* write_chunk writes the chunk's bytes. */
	memset(rk_chunk_ptr(rg, a), 'Z', 100);
	CHECK_EQ(run_one(ring, rk_prep_write_chunk(ring, fd, rg, a, 100, 20000, 0)), 100);
	char back[100];
	CHECK_EQ(pread(fd, back, 100, 20000), 100);
	for (int i = 0; i < 100; i++)
		CHECK_EQ(back[i], 'Z');

	/* len beyond the chunk, unallocated or out-of-range chunks. */
	CHECK_EQ(rk_prep_read_chunk(ring, fd, rg, a, 4097, 0, 0), -EINVAL);
	int32_t spare = 0;
	while (spare == a || spare == b)
		spare++;
	CHECK_EQ(rk_prep_read_chunk(ring, fd, rg, spare, 16, 0, 0), -EINVAL); /* not allocated */
	CHECK_EQ(rk_prep_read_chunk(ring, fd, rg, 8, 16, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_read_chunk(ring, fd, rg, -1, 16, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_write_chunk(ring, fd, NULL, a, 16, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_write_chunk(ring, -1, rg, a, 16, 0, 0), -EBADF);

	CHECK_EQ(rk_chunk_free(rg, a), 0);
	CHECK_EQ(rk_chunk_free(rg, a), -EINVAL); /* double free */
	CHECK_EQ(rk_chunk_free(rg, b), 0);
}

int main(void)
{
	int fd = scratch_file(NULL);
	unsigned char data[65536];
	fill_pattern(data, sizeof(data), 0, 3);
	CHECK_EQ(write(fd, data, sizeof(data)), sizeof(data));

	rk_region *rg;
	CHECK_EQ(rk_region_create(4096, 8, 0, &rg), 0);
	CHECK_EQ(rk_region_chunk_size(rg), 4096);
	CHECK_EQ(rk_region_nchunks(rg), 8);
	CHECK_EQ(rk_region_chunks_free(rg), 8);
	/* Page-aligned, zero-filled, chunks contiguous. */
	CHECK_EQ((uintptr_t)rk_chunk_ptr(rg, 0) % 4096, 0);
	CHECK_EQ((char *)rk_chunk_ptr(rg, 1) - (char *)rk_chunk_ptr(rg, 0), 4096);
	for (int i = 0; i < 4096; i++)
		CHECK_EQ(((unsigned char *)rk_chunk_ptr(rg, 5))[i], 0);
	CHECK(rk_chunk_ptr(rg, 8) == NULL);
	CHECK(rk_chunk_ptr(rg, -1) == NULL);
	CHECK(rk_chunk_ptr(NULL, 0) == NULL);

	/* Allocation order and exhaustion. */
	int32_t all[8];
	for (int i = 0; i < 8; i++)
		CHECK_EQ(all[i] = rk_chunk_alloc(rg), i);
	CHECK_EQ(rk_chunk_alloc(rg), -ENOBUFS);
	CHECK_EQ(rk_region_chunks_free(rg), 0);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(rk_chunk_free(rg, all[i]), 0);

	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
	chunk_io(ring, rg, fd); /* unregistered: plain read/write */

	CHECK_EQ(rk_ring_register_region(ring, rg), 0);
	CHECK_EQ(rk_ring_register_region(ring, rg), 0); /* idempotent */
	CHECK_EQ(rk_region_busy(rg), 1);                 /* registered with an open ring */
	chunk_io(ring, rg, fd);                           /* fixed buffers */

	/* Unregister while idle, register again, and let close drop it. */
	CHECK_EQ(rk_ring_unregister_region(ring, rg), 0);
	CHECK_EQ(rk_ring_unregister_region(ring, rg), -ENOENT);
	CHECK_EQ(rk_ring_register_region(ring, rg), 0);
	int32_t a = rk_chunk_alloc(rg);
	CHECK(rk_prep_read_chunk(ring, fd, rg, a, 4096, 0, 0) >= 0);
	CHECK_EQ(rk_ring_unregister_region(ring, rg), -EBUSY); /* op in flight */
	reap_one(ring);
	CHECK_EQ(rk_chunk_free(rg, a), 0);

	/* Several regions on one ring. */
	rk_region *more[3];
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(rk_region_create(1024, 4, 0, &more[i]), 0);
		CHECK_EQ(rk_ring_register_region(ring, more[i]), 0);
		int32_t ch = rk_chunk_alloc(more[i]);
		CHECK_EQ(run_one(ring, rk_prep_read_chunk(ring, fd, more[i], ch, 1024, 1024 * i, 0)),
		         1024);
		CHECK(memcmp(rk_chunk_ptr(more[i], ch), data + 1024 * i, 1024) == 0);
	}

	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_region_busy(rg), 0);
	CHECK_EQ(rk_region_destroy(rg), 0); /* the ring is gone: free to go */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(rk_region_destroy(more[i]), 0);

	/* Flags and geometry. */
	CHECK_EQ(rk_region_create(0, 1, 0, &rg), -EINVAL);
	CHECK_EQ(rk_region_create(1, 0, 0, &rg), -EINVAL);
	CHECK_EQ(rk_region_create((1u << 30) + 1, 1, 0, &rg), -EINVAL);
	CHECK_EQ(rk_region_create(4096, 1, 1u << 9, &rg), -EINVAL);
	CHECK_EQ(rk_region_create(4096, 1, 0, NULL), -EINVAL);
	CHECK_EQ(rk_region_create(100, 3, RK_REGION_HUGE, &rg), 0); /* hugetlb or THP */
	memset(rk_chunk_ptr(rg, 2), 1, 100);
	CHECK_EQ(rk_region_destroy(rg), 0);
	CHECK_EQ(rk_region_create(4096, 4, RK_REGION_LOCKED, &rg), 0); /* root: mlock works */
	CHECK_EQ(rk_region_destroy(rg), 0);
	close(fd);
	return 0;
}
