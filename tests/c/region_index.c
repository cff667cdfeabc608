/* A region registered with two rings at different fixed-buffer indices: a
 * read of a chunk on either ring names that ring's index (a wrong index
 * would read into another region or fail -EFAULT), in any alternation, and
 * after it is unregistered from one ring, a read there is a plain read into
 * the same memory. The core remembers the index it found last; this is
 * the case where the guess is wrong every time. */
#include <string.h>
#include <unistd.h>

#include "check.h"

#define BLOCK 4096
#define BLOCKS 8

static void read_into(rk_ring *ring, int fd, rk_region *rg, int32_t chunk, unsigned block)
{
	unsigned char *p = rk_chunk_ptr(rg, chunk);
	memset(p, 0, BLOCK);
	int64_t id = rk_prep_read_chunk(ring, fd, rg, chunk, BLOCK, (int64_t)block * BLOCK, 0);
	CHECK(id >= 0);
	CHECK_EQ(run_one(ring, id), BLOCK);
	unsigned char want[BLOCK];
	fill_pattern(want, BLOCK, 0, 7 + block); /* a seed per block: blocks differ */
	CHECK(memcmp(p, want, BLOCK) == 0);
}

int main(void)
{
	int dirfd;
	int fd = scratch_file(&dirfd);
	unsigned char buf[BLOCK];
	for (unsigned b = 0; b < BLOCKS; b++) {
		fill_pattern(buf, BLOCK, 0, 7 + b);
		CHECK_EQ(pwrite(fd, buf, BLOCK, (off_t)b * BLOCK), BLOCK);
	}

	rk_ring *a = create_ring(8, 0), *b = create_ring(8, 0);
	rk_region *r1, *r2;
	CHECK_EQ(rk_region_create(BLOCK, 4, 0, &r1), 0);
	CHECK_EQ(rk_region_create(BLOCK, 4, 0, &r2), 0);
	int ret = rk_ring_register_region(a, r1);
	if (ret == -ENOMEM || ret == -EPERM)
		SKIP("fixed buffers refused (RLIMIT_MEMLOCK)");
	CHECK_EQ(ret, 0);
	CHECK_EQ(rk_ring_register_region(b, r2), 0); /* b's index 0 */
	CHECK_EQ(rk_ring_register_region(b, r1), 0); /* b's index 1 */

	int32_t c = rk_chunk_alloc(r1);
	CHECK(c >= 0);
	for (unsigned i = 0; i < 2 * BLOCKS; i++)
		read_into(i % 2 ? b : a, fd, r1, c, i % BLOCKS);
	/* Twice on one ring, then the other: the remembered index is right,
	 * then wrong. */
	read_into(b, fd, r1, c, 1);
	read_into(b, fd, r1, c, 2);
	read_into(a, fd, r1, c, 3);

	CHECK_EQ(rk_ring_unregister_region(a, r1), 0);
	read_into(a, fd, r1, c, 4); /* a plain read now */
	read_into(b, fd, r1, c, 5);
	read_into(a, fd, r1, c, 6);

	CHECK_EQ(rk_ring_close(a), 0);
	CHECK_EQ(rk_ring_close(b), 0);
	CHECK_EQ(rk_chunk_free(r1, c), 0);
	CHECK_EQ(rk_region_destroy(r1), 0);
	CHECK_EQ(rk_region_destroy(r2), 0);
	close(fd);
	close(dirfd);
	return 0;
}
