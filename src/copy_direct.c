/*
 * rk_prep_copy's direct reads: whether a copy reads its source with
 * O_DIRECT, and the descriptor it reads through.
 *
 * A source that is not in the page cache bounds a copy by how fast it comes
 * off the disk. Buffered reads reach the disk as readahead queues them, a
 * window or two deep whatever the lanes do; O_DIRECT reads reach it as deep
 * as the lanes queue them, and skip putting pages in the cache that the
 * copy reads once. On a source the page cache holds they are a loss: every
 * byte would come from the disk instead of memory. So the core asks the
 * kernel (cachestat) how much of the range is cached, and reads directly
 * only when little is (doc/benchmarks.md, "Cold copies with O_DIRECT
 * reads", has the measurements).
 *
 * The caller's descriptor keeps its file status flags: the copy reads
 * through a new open file description of the same file (/proc/self/fd/N
 * opened again with O_DIRECT), which it closes when it completes. Every
 * read is at an explicit offset, so the two descriptions need not agree on
 * a position. Wherever that fails (no /proc, a permission, a filesystem
 * without O_DIRECT) the copy reads as it would without direct reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "copy_direct.h"
#include "compat.h"

/* Smaller ranges are not probed: the probe and the open cost more than a
 * cold read of them could save. */
#define DIRECT_MIN (1u << 20)
/* Direct reads when at most this share of the range's pages is cached
 * (1 / DIRECT_CACHED_DIV): the rest would come from the disk either way. */
#define DIRECT_CACHED_DIV 4
#define DIRECT_DEFAULT_ALIGN 4096u
#define HUGE_PAGE (2u << 20)

/* 1 when at most a quarter of [off, off + len) is in the page cache, 0 when
 * more is, or when the kernel cannot say (no cachestat: today's policy). */
static int mostly_uncached(int fd, uint64_t off, uint64_t len)
{
#ifdef __NR_cachestat
	struct rk_cachestat_range r = {off, len};
	struct rk_cachestat cs;
	if (syscall(__NR_cachestat, fd, &r, &cs, 0) < 0)
		return 0;
	long page = sysconf(_SC_PAGESIZE);
	uint64_t pages = (len + (uint64_t)page - 1) / (uint64_t)page;
	return cs.nr_cache * DIRECT_CACHED_DIV <= pages;
#else
	(void)fd, (void)off, (void)len;
	return 0;
#endif
}

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

int rk__copy_direct_open(int fd, const struct stat *st, int64_t off, uint64_t len, bool force,
                         uint32_t chunk, struct rk_direct_align *align)
{
	if (!S_ISREG(st->st_mode) || st->st_size <= off)
		return -1;
	uint64_t have = (uint64_t)(st->st_size - off);
	if (have > len)
		have = len;
	if (!force && (have < DIRECT_MIN || !mostly_uncached(fd, (uint64_t)off, have)))
		return -1;

	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int dfd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	/* The link names what fd is open on; a /proc from elsewhere (another
	 * namespace's, a bind mount) might name another file. */
	struct stat ds;
	if (fstat(dfd, &ds) < 0 || ds.st_dev != st->st_dev || ds.st_ino != st->st_ino)
		goto refuse;
	align->mem = align->off = DIRECT_DEFAULT_ALIGN;
#ifdef STATX_DIOALIGN
	struct statx sx;
	if (statx(dfd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN)) {
		/* 0: this file takes no direct I/O. */
		align->mem = sx.stx_dio_mem_align;
		align->off = sx.stx_dio_offset_align;
	}
#endif
	/* A lane's buffer is one chunk, aligned to mem, read a multiple of
	 * off at a time. */
	if (!pow2(align->mem) || !pow2(align->off) || align->mem > chunk || align->off > chunk)
		goto refuse;
	return dfd;
refuse:
	close(dfd);
	return -1;
}

void *rk__copy_direct_buffers(size_t len, uint32_t mem_align)
{
	/* In huge pages where the kernel gives them: a read into 4 KiB pages
	 * is a list of as many segments, and a device takes only so many per
	 * request (virtio-blk: a few hundred), so a 1 MiB read becomes two
	 * requests or more, one of them a few pages long. */
	size_t align = mem_align > HUGE_PAGE ? mem_align : HUGE_PAGE;
	size_t size = (len + align - 1) & ~(align - 1);
	void *p = aligned_alloc(align, size);
	if (p)
		madvise(p, size, MADV_HUGEPAGE);
	return p;
}
