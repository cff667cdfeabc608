/* RK_REGION_HUGE gives huge pages even to a region smaller than one: the
 * kernel backs only 2 MiB-aligned ranges of a mapping with transparent huge
 * pages, so the region must start on such a boundary. Its chunks must still
 * be read into, registered and freed like any region's; and a region without
 * the flag is left as it was. Skipped (77) where neither hugetlb nor THP can
 * be had. */
#include <stdint.h>

#include "check.h"

#define HUGE_PAGE (2u << 20)

/* The kB of huge pages backing the mapping that holds addr (hugetlb or
 * THP), from /proc/self/smaps, and the mapping's span; -1 if no mapping
 * holds it. */
static long huge_kb_at(const void *addr, uintptr_t *span_lo, uintptr_t *span_hi)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	CHECK(f != NULL);
	char line[512];
	int in = 0;
	long kb = -1, page_kb = 0, anon_huge = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			if (in)
				break;
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			if (in) {
				*span_lo = lo;
				*span_hi = hi;
			}
			continue;
		}
		if (!in)
			continue;
		kb = 0;
		sscanf(line, "KernelPageSize: %ld kB", &page_kb);
		sscanf(line, "AnonHugePages: %ld kB", &anon_huge);
	}
	fclose(f);
	if (kb < 0)
		return -1;
	return page_kb >= 2048 ? page_kb : anon_huge;
}

static int thp_possible(void)
{
	char mode[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (!f)
		return 0;
	int ok = fgets(mode, sizeof(mode), f) && !strstr(mode, "[never]");
	fclose(f);
	return ok;
}

int main(void)
{
	if (!thp_possible())
		SKIP("transparent huge pages are off ([never] or absent)");

	/* 128 chunks of 4 KiB: a quarter of a huge page. */
	rk_region *rg;
	CHECK_EQ(rk_region_create(4096, 128, RK_REGION_HUGE, &rg), 0);
	int32_t first = rk_chunk_alloc(rg);
	CHECK_EQ(first, 0);
	unsigned char *base = rk_chunk_ptr(rg, first);
	CHECK(((uintptr_t)base & (HUGE_PAGE - 1)) == 0);
	for (uint32_t i = 1; i < 128; i++)
		CHECK(rk_chunk_alloc(rg) == (int32_t)i);
	memset(base, 0x5a, 128 * 4096); /* the first touch is what takes the page */
	uintptr_t lo, hi;
	CHECK(huge_kb_at(base, &lo, &hi) >= 2048);
	/* One huge page, and none of the alignment's slack left mapped
	 * beside it (the advice keeps the mapping from merging with one). */
	CHECK(lo == (uintptr_t)base && hi == lo + HUGE_PAGE);

	/* Its chunks work as any region's: read into, registered, read into
	 * with the fixed-buffer op. */
	char path[] = "/tmp/rk-huge-region-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	unsigned char data[8192];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 1);
	CHECK_EQ(pwrite(fd, data, sizeof(data), 0), sizeof(data));
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
	rk_cqe c[1];
	CHECK(rk_prep_read_chunk(ring, fd, rg, 127, 4096, 4096, 0) >= 0);
	reap_n(ring, c, 1);
	CHECK_EQ(c[0].res, 4096);
	CHECK(memcmp(rk_chunk_ptr(rg, 127), data + 4096, 4096) == 0);
	CHECK_EQ(rk_ring_register_region(ring, rg), 0);
	CHECK(rk_prep_read_chunk(ring, fd, rg, 3, 4096, 0, 0) >= 0);
	reap_n(ring, c, 1);
	CHECK_EQ(c[0].res, 4096);
	CHECK(memcmp(rk_chunk_ptr(rg, 3), data, 4096) == 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	for (int32_t i = 0; i < 128; i++)
		CHECK_EQ(rk_chunk_free(rg, i), 0);
	CHECK_EQ(rk_region_destroy(rg), 0);

	/* A region of several huge pages gets them all: 5 MiB in three. */
	CHECK_EQ(rk_region_create(1u << 20, 5, RK_REGION_HUGE, &rg), 0);
	int32_t ch = rk_chunk_alloc(rg);
	base = rk_chunk_ptr(rg, ch);
	CHECK(((uintptr_t)base & (HUGE_PAGE - 1)) == 0);
	memset(base, 1, 5u << 20);
	CHECK(huge_kb_at(base, &lo, &hi) >= 4096);
	CHECK(lo == (uintptr_t)base && hi == lo + 3 * HUGE_PAGE);
	CHECK_EQ(rk_chunk_free(rg, ch), 0);
	CHECK_EQ(rk_region_destroy(rg), 0);
	close(fd);
	return 0;
}
