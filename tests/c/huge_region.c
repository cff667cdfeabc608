/* RK_REGION_HUGE gives huge pages even to a region smaller than one: the
 * kernel backs only 2 MiB-aligned ranges of a mapping with transparent huge
 * pages, so the region must start on such a boundary and span whole huge
 * pages, which makes it eligible for them (smaps' THPeligible). Its chunks
 * must still be read into, registered and freed like any region's. Whether
 * the kernel grants the pages at the first touch depends on free memory, not
 * on ringkit: a miss is noted, not failed. Skipped (77) where THP is off. */
#include <stdint.h>

#include "check.h"

#define HUGE_PAGE (2u << 20)

/* What /proc/self/smaps says of the mapping that holds addr. */
struct mapping {
	uintptr_t lo, hi;   /* its span */
	long page_kb;       /* KernelPageSize: 2048 and up for hugetlb */
	long anon_huge_kb;  /* AnonHugePages: what THP backs now */
	int thp_eligible;   /* THPeligible: the kernel may back it with THP */
};

static struct mapping mapping_of(const void *addr)
{
	struct mapping m = {0};
	FILE *f = fopen("/proc/self/smaps", "r");
	CHECK(f != NULL);
	char line[512];
	int in = 0, found = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			if (in)
				break;
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			if (in) {
				m.lo = lo;
				m.hi = hi;
				found = 1;
			}
			continue;
		}
		if (!in)
			continue;
		sscanf(line, "KernelPageSize: %ld kB", &m.page_kb);
		sscanf(line, "AnonHugePages: %ld kB", &m.anon_huge_kb);
		sscanf(line, "THPeligible: %d", &m.thp_eligible);
	}
	fclose(f);
	CHECK(found);
	return m;
}

/* The region at base, touched, spans exactly n huge pages and is backed by
 * them: hugetlb, or a mapping the kernel may back with THP (the alignment
 * is what makes it eligible). Whether THP is granted right now depends on
 * free memory, not on ringkit: a miss is reported, not failed. */
static void check_huge(const unsigned char *base, unsigned n)
{
	CHECK(((uintptr_t)base & (HUGE_PAGE - 1)) == 0);
	struct mapping m = mapping_of(base);
	/* none of the alignment's slack is left mapped beside it (the advice
	 * keeps the mapping from merging with a neighbour) */
	CHECK(m.lo == (uintptr_t)base && m.hi == m.lo + (uintptr_t)n * HUGE_PAGE);
	if (m.page_kb >= 2048)
		return;
	CHECK_EQ(m.thp_eligible, 1);
	if (m.anon_huge_kb < (long)n * 2048)
		fprintf(stderr, "note: %ld kB of huge pages of %u MiB eligible (memory fragmented?)\n",
		        m.anon_huge_kb, 2 * n);
}

static int thp_possible(void)
{
	const char *const knobs[] = {"/sys/kernel/mm/transparent_hugepage/enabled",
	                             "/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled"};
	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		char mode[128] = "";
		FILE *f = fopen(knobs[i], "r");
		if (!f) {
			if (i == 0)
				return 0;
			continue; /* no per-size control: the global one rules */
		}
		int never = fgets(mode, sizeof(mode), f) && strstr(mode, "[never]");
		fclose(f);
		if (never)
			return 0;
	}
	return 1;
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
	for (uint32_t i = 1; i < 128; i++)
		CHECK(rk_chunk_alloc(rg) == (int32_t)i);
	memset(base, 0x5a, 128 * 4096); /* the first touch is what takes the page */
	check_huge(base, 1);

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

	/* A region of several huge pages spans them all: 5 MiB in three. */
	CHECK_EQ(rk_region_create(1u << 20, 5, RK_REGION_HUGE, &rg), 0);
	int32_t ch = rk_chunk_alloc(rg);
	base = rk_chunk_ptr(rg, ch);
	memset(base, 1, 5u << 20);
	check_huge(base, 3);
	CHECK_EQ(rk_chunk_free(rg, ch), 0);
	CHECK_EQ(rk_region_destroy(rg), 0);
	close(fd);
	return 0;
}
