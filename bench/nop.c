/* NOP throughput: ringkit against raw liburing in the same process, at
 * batch sizes 1, 8, 32 and 256, plus ringkit's descriptor-batch path. Each
 * configuration runs BENCH_ROUNDS alternating rounds; the best of each side
 * is printed with their ratio. NOPs are the worst case for a wrapper: the
 * kernel's own work per op is smallest, so ringkit's overhead shows most. */
#include <liburing.h>
#include <string.h>

#include "bench.h"
#include "ringkit.h"

#define OPS 2000000

/* ringkit: B direct preps per batch, or (descs) one rk_prep_batch call
 * with B NOP descriptors; then reap the batch. */
static double run_ringkit(unsigned batch, int descs)
{
	rk_ring *ring;
	if (rk_ring_create(256, 0, &ring) < 0)
		bench_die("rk_ring_create", 0);
	rk_cqe c[256];
	rk_op_desc d[256];
	int64_t ids[256];
	memset(d, 0, sizeof(d)); /* op 0 is RK_OP_NOP */
	double t0 = bench_now();
	for (unsigned done = 0; done < OPS; done += batch) {
		if (descs) {
			if (rk_prep_batch(ring, d, batch, ids) != (int)batch)
				bench_die("rk_prep_batch", 0);
		} else {
			for (unsigned i = 0; i < batch; i++)
				rk_prep_nop(ring, 0);
		}
		for (unsigned got = 0; got < batch;) {
			int n = rk_reap(ring, c, 256, batch - got, -1);
			if (n < 0)
				bench_die("rk_reap", n);
			got += (unsigned)n;
		}
	}
	double t = bench_now() - t0;
	rk_ring_close(ring);
	return OPS / t;
}

/* What a careful C program on liburing does: prep, submit-and-wait, peek
 * the batch, advance. */
static double run_liburing(unsigned batch)
{
	struct io_uring ring;
	if (io_uring_queue_init(256, &ring, 0) < 0)
		bench_die("io_uring_queue_init", 0);
	struct io_uring_cqe *cqes[256];
	double t0 = bench_now();
	for (unsigned done = 0; done < OPS; done += batch) {
		for (unsigned i = 0; i < batch; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			io_uring_prep_nop(sqe);
			sqe->user_data = i;
		}
		io_uring_submit_and_wait(&ring, batch);
		for (unsigned got = 0; got < batch;) {
			unsigned n = io_uring_peek_batch_cqe(&ring, cqes, 256);
			io_uring_cq_advance(&ring, n);
			got += n;
			if (!n && got < batch && io_uring_wait_cqe(&ring, cqes) < 0)
				bench_die("io_uring_wait_cqe", 0);
		}
	}
	double t = bench_now() - t0;
	io_uring_queue_exit(&ring);
	return OPS / t;
}

static double max2(double a, double b)
{
	return a > b ? a : b;
}

int main(void)
{
	const unsigned batches[] = {1, 8, 32, 256};
	printf("NOP ops/s, best of %d alternating rounds of %d ops\n", BENCH_ROUNDS, OPS);
	printf("%-6s %14s %14s %14s %8s %8s\n", "batch", "liburing", "ringkit", "rk batch-desc",
	       "rk/uring", "desc/uring");
	for (int b = 0; b < 4; b++) {
		double lu = 0, rk = 0, rd = 0;
		for (int r = 0; r < BENCH_ROUNDS; r++) {
			lu = max2(lu, run_liburing(batches[b]));
			rk = max2(rk, run_ringkit(batches[b], 0));
			rd = max2(rd, run_ringkit(batches[b], 1));
		}
		printf("%-6u %12.2f M %12.2f M %12.2f M %8.3f %8.3f\n", batches[b], lu / 1e6, rk / 1e6,
		       rd / 1e6, rk / lu, rd / lu);
		fflush(stdout);
	}
	return 0;
}
