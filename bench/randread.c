/* 4 KiB random reads of a page-cached file at queue depth 32 and 128:
 * ringkit with a registered region (READ_FIXED), ringkit with plain buffers
 * (READ), raw liburing with plain buffers (READ) and with registered ones
 * (READ_FIXED), each as io_uring_queue_init gives it and "tuned" with the
 * setup features ringkit's ring uses (tuned.h); both sides with registered
 * buffers and the file registered too (a fixed file: no fget/fput per read
 * in the kernel), as a program reading one file would; and a pread(2) loop (one at
 * a time: what a runtime without io_uring does on one thread). Prints IOPS,
 * best of alternating rounds, with ratios to liburing and to pread.
 * ringkit's region is created with RK_REGION_HUGE, as a program doing many
 * small reads into it would: its buffers sit in one huge page. liburing's
 * buffers are a static array, or tuned a mapping in huge pages too.
 *
 *   ringkit-bench-randread [FILE]   (default: a 256 MiB temp file)
 *   ringkit-bench-randread -c SIDE QD   one round of one side (fixed, plain,
 *       fixed-file, liburing, liburing-fixed, liburing-fixed-file) on a
 *       16 MiB temp file, for callgrind:
 *       valgrind --tool=callgrind --collect-atstart=no --toggle-collect='run_*'
 *   ringkit-bench-randread -p QD   what the region's huge pages give: best of
 *       9 alternating rounds of liburing plain and ringkit plain and fixed,
 *       the region in 4 KiB pages and in huge pages */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <string.h>
#include <unistd.h>

#include "tuned.h"
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
 * reap freed those slots and new preps may reuse them. Plain reads go to
 * each chunk's address, looked up once (a region's chunks never move), as
 * liburing's side keeps its buffers'. */
/* file: the fd registered as the file table's slot 0, read with
 * RK_FIXED_FILE (fixed buffers too). */
static double run_ringkit(unsigned qd, int fixed, int file, uint32_t region_flags)
{
	rk_ring *ring;
	rk_region *rg;
	if (rk_ring_create(MAXQD, 0, &ring) < 0 || rk_region_create(BLOCK, qd, region_flags, &rg) < 0)
		bench_die("ringkit setup", 0);
	if (fixed && rk_ring_register_region(ring, rg) < 0)
		bench_die("rk_ring_register_region", 0);
	int rfd = fd;
	uint32_t rflags = 0;
	if (file) {
		int32_t one = fd;
		if (rk_ring_register_files(ring, 1) < 0 || rk_ring_update_files(ring, 0, &one, 1) < 0)
			bench_die("rk_ring_register_files", 0);
		rfd = 0;
		rflags = RK_FIXED_FILE;
	}
	static int32_t by_slot[4 * MAXQD];
	int32_t chunk[MAXQD], done_chunk[MAXQD];
	void *addr[MAXQD]; /* by chunk: the region holds qd chunks, 0 to qd - 1 */
	for (unsigned i = 0; i < qd; i++) {
		chunk[i] = rk_chunk_alloc(rg);
		if (chunk[i] < 0 || (uint32_t)chunk[i] >= qd)
			bench_die("rk_chunk_alloc", chunk[i]);
		addr[chunk[i]] = rk_chunk_ptr(rg, chunk[i]);
	}
	uint64_t seed = 42;
	rk_cqe c[MAXQD];
	unsigned issued = 0, completed = 0;

	double t0 = bench_now();
	for (unsigned i = 0; i < qd; i++, issued++) {
		int64_t id = fixed ? rk_prep_read_chunk(ring, rfd, rg, chunk[i], BLOCK,
		                                        next_offset(&seed), rflags)
		                   : rk_prep_read(ring, fd, addr[chunk[i]], BLOCK, next_offset(&seed),
		                                  0);
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
			int64_t id = fixed ? rk_prep_read_chunk(ring, rfd, rg, done_chunk[k], BLOCK,
			                                        next_offset(&seed), rflags)
			                   : rk_prep_read(ring, fd, addr[done_chunk[k]], BLOCK,
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

/* fixed: the buffers registered (io_uring_register_buffers), read with
 * READ_FIXED, as ringkit's registered region is; file: the fd registered
 * too (io_uring_register_files), read with IOSQE_FIXED_FILE. */
static double run_liburing(unsigned qd, int fixed, int tuned, int file)
{
	struct io_uring ring;
	bench_liburing_init(&ring, MAXQD, tuned);
	static char plain_bufs[MAXQD][BLOCK] __attribute__((aligned(4096)));
	char(*bufs)[BLOCK] = bench_buffers(plain_bufs, sizeof(plain_bufs), tuned);
	if (fixed) {
		struct iovec iov = {.iov_base = bufs, .iov_len = sizeof(plain_bufs)};
		if (io_uring_register_buffers(&ring, &iov, 1) < 0)
			bench_die("io_uring_register_buffers", 0);
	}
	int rfd = fd;
	uint8_t sflags = 0;
	if (file) {
		if (io_uring_register_files(&ring, &fd, 1) < 0)
			bench_die("io_uring_register_files", 0);
		rfd = 0;
		sflags = IOSQE_FIXED_FILE;
	}
	uint64_t seed = 42;
	struct io_uring_cqe *cqes[MAXQD];
	unsigned issued = 0, completed = 0;

	double t0 = bench_now();
	for (unsigned i = 0; i < qd; i++, issued++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		if (fixed)
			io_uring_prep_read_fixed(sqe, rfd, bufs[i], BLOCK, (uint64_t)next_offset(&seed), 0);
		else
			io_uring_prep_read(sqe, fd, bufs[i], BLOCK, (uint64_t)next_offset(&seed));
		sqe->flags = sflags;
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
				if (fixed)
					io_uring_prep_read_fixed(sqe, rfd, bufs[b], BLOCK,
					                         (uint64_t)next_offset(&seed), 0);
				else
					io_uring_prep_read(sqe, fd, bufs[b], BLOCK,
					                   (uint64_t)next_offset(&seed));
				sqe->flags = sflags;
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
	int count = argc > 3 && strcmp(argv[1], "-c") == 0;
	int pages = argc > 2 && strcmp(argv[1], "-p") == 0;
	const char *path = argc > 1 && !count && !pages ? argv[1] : NULL;
	uint64_t mib = count ? 16 : 256;
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
	if (pages) {
		unsigned qd = (unsigned)strtoul(argv[2], NULL, 10);
		if (qd < 1 || qd > MAXQD)
			bench_die("qd (1..128)", qd);
		/* liburing plain; ringkit plain and fixed, region in 4 KiB pages;
		 * the same in huge pages */
		double best[5] = {0};
		for (int r = 0; r < 9; r++) {
			best[0] = max2(best[0], run_liburing(qd, 0, 0, 0));
			for (int h = 0; h < 2; h++)
				for (int fixed = 0; fixed < 2; fixed++) {
					double *b = &best[1 + 2 * h + fixed];
					*b = max2(*b, run_ringkit(qd, fixed, 0, h ? RK_REGION_HUGE : 0));
				}
		}
		printf("qd %u, over liburing plain (%.0f IOPS): 4 KiB pages plain %.3f fixed %.3f, "
		       "huge pages plain %.3f fixed %.3f\n",
		       qd, best[0], best[1] / best[0], best[2] / best[0], best[3] / best[0],
		       best[4] / best[0]);
		return 0;
	}
	if (count) {
		unsigned qd = (unsigned)strtoul(argv[3], NULL, 10);
		if (qd < 1 || qd > MAXQD)
			bench_die("qd (1..128)", qd);
		double r;
		const char *side = argv[2];
		int file = strstr(side, "-file") != NULL;
		if (strcmp(side, "fixed") == 0 || strcmp(side, "plain") == 0 ||
		    strcmp(side, "fixed-file") == 0)
			r = run_ringkit(qd, side[0] == 'f', file, RK_REGION_HUGE);
		else if (strcmp(side, "liburing") == 0 || strcmp(side, "liburing-fixed") == 0 ||
		         strcmp(side, "liburing-fixed-file") == 0)
			r = run_liburing(qd, side[8] == '-', 0, file);
		else
			bench_die("side: fixed, plain, fixed-file, liburing, liburing-fixed or "
			          "liburing-fixed-file", 0);
		printf("%s qd %u: %.0f IOPS\n", argv[2], qd, r);
		return 0;
	}

	printf("4 KiB random reads of a cached %lld MiB file, IOPS, best of %d rounds; "
	       "tuned: liburing with %s\n",
	       (long long)(size >> 20), BENCH_ROUNDS, bench_tuned_name());
	double pr = 0;
	for (int r = 0; r < BENCH_ROUNDS; r++)
		pr = max2(pr, run_pread());
	printf("pread loop                   %10.0f\n", pr);
	const unsigned qds[] = {32, 128};
	for (int q = 0; q < 2; q++) {
		/* liburing plain, fixed; the same tuned; fixed with the file
		 * registered; ringkit fixed, plain, fixed with the file */
		double lu[5] = {0}, fx = 0, pl = 0, ff = 0;
		for (int r = 0; r < BENCH_ROUNDS; r++) {
			lu[0] = max2(lu[0], run_liburing(qds[q], 0, 0, 0));
			fx = max2(fx, run_ringkit(qds[q], 1, 0, RK_REGION_HUGE));
			lu[1] = max2(lu[1], run_liburing(qds[q], 1, 0, 0));
			pl = max2(pl, run_ringkit(qds[q], 0, 0, RK_REGION_HUGE));
			lu[2] = max2(lu[2], run_liburing(qds[q], 0, 1, 0));
			lu[3] = max2(lu[3], run_liburing(qds[q], 1, 1, 0));
			ff = max2(ff, run_ringkit(qds[q], 1, 1, RK_REGION_HUGE));
			lu[4] = max2(lu[4], run_liburing(qds[q], 1, 0, 1));
		}
		static const char *name[5] = {"plain", "fixed", "plain tuned", "fixed tuned",
		                              "fixed file"};
		for (int v = 0; v < 5; v++)
			printf("qd %-3u liburing %-11s %10.0f   (%.2fx pread)\n", qds[q], name[v], lu[v],
			       lu[v] / pr);
		printf("qd %-3u ringkit fixed        %10.0f   %.3fx liburing plain  %.3fx fixed  "
		       "%.3fx fixed tuned  %.2fx pread\n",
		       qds[q], fx, fx / lu[0], fx / lu[1], fx / lu[3], fx / pr);
		printf("qd %-3u ringkit plain        %10.0f   %.3fx liburing plain  %.3fx plain tuned  "
		       "%.2fx pread\n",
		       qds[q], pl, pl / lu[0], pl / lu[2], pl / pr);
		printf("qd %-3u ringkit fixed-file   %10.0f   %.3fx liburing plain  %.3fx fixed  "
		       "%.3fx fixed-file  %.2fx pread\n",
		       qds[q], ff, ff / lu[0], ff / lu[1], ff / lu[4], ff / pr);
		fflush(stdout);
	}
	close(fd);
	return 0;
}
