/* 4 KiB random reads of a page-cached file at queue depth 32 and 128:
 * ringkit with a registered region (READ_FIXED), ringkit with plain buffers
 * (READ), raw liburing (READ), and a pread(2) loop (one at a time: what a
 * runtime without io_uring does on one thread). Prints IOPS, best of
 * alternating rounds, with ratios to liburing and to pread.
 *
 *   ringkit-bench-randread [FILE [MiB]]   (default: a 256 MiB temp file) */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "ringkit.h"

#define BLOCK 4096
#define READS 400000
#define MAXQD 128

static int fd;
static uint64_t nblocks;

static int64_t next_offset(uint64_t *seed)
{
	return (int64_t)(bench_rand(seed) % nblocks) * BLOCK;
}

/* Keeps qd reads in flight. Per-op state (the buffer index) is kept by op
 * slot, looked up for the whole batch before new reads are queued: the
 * reap freed those slots and new preps may reuse them. */
static double run_ringkit(unsigned qd, int fixed)
{
	rk_ring *ring;
	rk_region *rg;
	if (rk_ring_create(MAXQD, 0, &ring) < 0 || rk_region_create(BLOCK, qd, 0, &rg) < 0)
		bench_die("ringkit setup", 0);
	if (fixed && rk_ring_register_region(ring, rg) < 0)
		bench_die("rk_ring_register_region", 0);
	static int32_t by_slot[4 * MAXQD];
	int32_t chunk[MAXQD], done_chunk[MAXQD];
	for (unsigned i = 0; i < qd; i++)
		chunk[i] = rk_chunk_alloc(rg);
	uint64_t seed = 42;
	rk_cqe c[MAXQD];
	unsigned issued = 0, completed = 0;

	double t0 = bench_now();
	for (unsigned i = 0; i < qd; i++, issued++) {
		int64_t id = fixed ? rk_prep_read_chunk(ring, fd, rg, chunk[i], BLOCK, next_offset(&seed), 0)
		                   : rk_prep_read(ring, fd, rk_chunk_ptr(rg, chunk[i]), BLOCK,
		                                  next_offset(&seed), 0);
		by_slot[(uint32_t)id] = chunk[i];
	}
	while (completed < READS) {
		int n = rk_reap(ring, c, MAXQD, 1, -1);
		if (n < 0)
			bench_die("rk_reap", n);
		for (int k = 0; k < n; k++) {
			if (c[k].res != BLOCK)
				bench_die("read", c[k].res);
			done_chunk[k] = by_slot[(uint32_t)c[k].id];
		}
		completed += (unsigned)n;
		for (int k = 0; k < n && issued < READS; k++, issued++) {
			int64_t id = fixed ? rk_prep_read_chunk(ring, fd, rg, done_chunk[k], BLOCK,
			                                        next_offset(&seed), 0)
			                   : rk_prep_read(ring, fd, rk_chunk_ptr(rg, done_chunk[k]), BLOCK,
			                                  next_offset(&seed), 0);
			by_slot[(uint32_t)id] = done_chunk[k];
		}
	}
	double t = bench_now() - t0;
	rk_ring_close(ring);
	for (unsigned i = 0; i < qd; i++)
		rk_chunk_free(rg, chunk[i]);
	rk_region_destroy(rg);
	return completed / t;
}

static double run_liburing(unsigned qd)
{
	struct io_uring ring;
	if (io_uring_queue_init(MAXQD, &ring, 0) < 0)
		bench_die("io_uring_queue_init", 0);
	static char bufs[MAXQD][BLOCK] __attribute__((aligned(4096)));
	uint64_t seed = 42;
	struct io_uring_cqe *cqes[MAXQD];
	unsigned issued = 0, completed = 0;

	double t0 = bench_now();
	for (unsigned i = 0; i < qd; i++, issued++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		io_uring_prep_read(sqe, fd, bufs[i], BLOCK, (uint64_t)next_offset(&seed));
		sqe->user_data = i;
	}
	while (completed < READS) {
		io_uring_submit_and_wait(&ring, 1);
		unsigned n = io_uring_peek_batch_cqe(&ring, cqes, MAXQD);
		for (unsigned k = 0; k < n; k++) {
			if (cqes[k]->res != BLOCK)
				bench_die("read", cqes[k]->res);
			uint64_t b = cqes[k]->user_data;
			if (issued < READS) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
				io_uring_prep_read(sqe, fd, bufs[b], BLOCK, (uint64_t)next_offset(&seed));
				sqe->user_data = b;
				issued++;
			}
		}
		io_uring_cq_advance(&ring, n);
		completed += n;
	}
	double t = bench_now() - t0;
	io_uring_queue_exit(&ring);
	return completed / t;
}

static double run_pread(void)
{
	static char buf[BLOCK] __attribute__((aligned(4096)));
	uint64_t seed = 42;
	double t0 = bench_now();
	for (unsigned i = 0; i < READS; i++)
		if (pread(fd, buf, BLOCK, next_offset(&seed)) != BLOCK)
			bench_die("pread", errno);
	return READS / (bench_now() - t0);
}

static double max2(double a, double b)
{
	return a > b ? a : b;
}

int main(int argc, char **argv)
{
	char tmp[] = "/var/tmp/ringkit-randread.XXXXXX";
	const char *path = argc > 1 ? argv[1] : NULL;
	uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 256;
	if (!path) {
		fd = mkstemp(tmp);
		if (fd < 0)
			bench_die("mkstemp", errno);
		unlink(tmp);
		static char chunk[1 << 20];
		uint64_t s = 7;
		for (uint64_t m = 0; m < mib; m++) {
			for (size_t i = 0; i < sizeof(chunk); i += 8)
				*(uint64_t *)(chunk + i) = bench_rand(&s);
			if (write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
				bench_die("write", errno);
		}
	} else if ((fd = open(path, O_RDONLY)) < 0) {
		bench_die("open", errno);
	}
	off_t size = lseek(fd, 0, SEEK_END);
	nblocks = (uint64_t)size / BLOCK;
	run_pread(); /* pulls the file into the page cache */

	printf("4 KiB random reads of a cached %lld MiB file, IOPS, best of %d rounds\n",
	       (long long)(size >> 20), BENCH_ROUNDS);
	double pr = 0;
	for (int r = 0; r < BENCH_ROUNDS; r++)
		pr = max2(pr, run_pread());
	printf("pread loop                 %10.0f\n", pr);
	const unsigned qds[] = {32, 128};
	for (int q = 0; q < 2; q++) {
		double lu = 0, fx = 0, pl = 0;
		for (int r = 0; r < BENCH_ROUNDS; r++) {
			lu = max2(lu, run_liburing(qds[q]));
			fx = max2(fx, run_ringkit(qds[q], 1));
			pl = max2(pl, run_ringkit(qds[q], 0));
		}
		printf("qd %-3u liburing           %10.0f   (%.2fx pread)\n", qds[q], lu, lu / pr);
		printf("qd %-3u ringkit fixed      %10.0f   %.3fx liburing  %.2fx pread\n", qds[q], fx,
		       fx / lu, fx / pr);
		printf("qd %-3u ringkit plain      %10.0f   %.3fx liburing  %.2fx pread\n", qds[q], pl,
		       pl / lu, pl / pr);
		fflush(stdout);
	}
	close(fd);
	return 0;
}
