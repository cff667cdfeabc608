/* NOP throughput: ringkit against raw liburing in the same process, at
 * batch sizes 1, 8, 32 and 256, plus ringkit's descriptor-batch path. Each
 * configuration runs BENCH_ROUNDS alternating rounds; the best of each side
 * is printed with their ratio. NOPs are the worst case for a wrapper: the
 * kernel's own work per op is smallest, so ringkit's overhead shows most.
 *
 * liburing runs twice: as io_uring_queue_init gives it, and "tuned" with
 * the kernel features ringkit's own ring uses (bench_tuned_flags), so that
 * a ratio never credits ringkit with what the kernel gives any program.
 *
 *   ringkit-bench-nop                      the table
 *   ringkit-bench-nop SIDE BATCH [OPS]     one round of one side (ringkit,
 *       desc, liburing, tuned), for callgrind: count inside loop_*, e.g.
 *       valgrind --tool=callgrind --collect-atstart=no --toggle-collect='loop_*' */
#include <liburing.h>
#include <string.h>

#include "tuned.h"
#include "ringkit.h"

#define OPS 2000000

/* Both sides look at every completion as a program would: its result and
 * whose it is. */
static uint64_t sink;

/* ringkit: B direct preps per batch, or (descs) one rk_prep_batch call
 * with B NOP descriptors; then reap the batch. */
__attribute__((noinline)) static void loop_ringkit(rk_ring *ring, unsigned batch, int descs,
                                                   unsigned ops)
{
	rk_cqe c[256];
	rk_op_desc d[256];
	int64_t ids[256];
	uint64_t sum = 0;
	memset(d, 0, sizeof(d)); /* op 0 is RK_OP_NOP */
	for (unsigned done = 0; done < ops; done += batch) {
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
			for (int k = 0; k < n; k++) {
				if (c[k].res < 0)
					bench_die("nop", c[k].res);
				sum += (uint64_t)c[k].id;
			}
			got += (unsigned)n;
		}
	}
	sink += sum;
}

static double run_ringkit(unsigned batch, int descs, unsigned ops)
{
	rk_ring *ring;
	if (rk_ring_create(256, 0, &ring) < 0)
		bench_die("rk_ring_create", 0);
	double t0 = bench_now();
	loop_ringkit(ring, batch, descs, ops);
	double t = bench_now() - t0;
	rk_ring_close(ring);
	return ops / t;
}

/* What a careful C program on liburing does: prep, submit-and-wait, peek
 * the batch, look at each completion, advance. */
__attribute__((noinline)) static void loop_liburing(struct io_uring *ring, unsigned batch,
                                                    unsigned ops)
{
	struct io_uring_cqe *cqes[256];
	uint64_t sum = 0;
	for (unsigned done = 0; done < ops; done += batch) {
		for (unsigned i = 0; i < batch; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
			io_uring_prep_nop(sqe);
			sqe->user_data = i;
		}
		io_uring_submit_and_wait(ring, batch);
		for (unsigned got = 0; got < batch;) {
			unsigned n = io_uring_peek_batch_cqe(ring, cqes, 256);
			for (unsigned k = 0; k < n; k++) {
				if (cqes[k]->res < 0)
					bench_die("nop", cqes[k]->res);
				sum += cqes[k]->user_data;
			}
			io_uring_cq_advance(ring, n);
			got += n;
			if (!n && got < batch && io_uring_wait_cqe(ring, cqes) < 0)
				bench_die("io_uring_wait_cqe", 0);
		}
	}
	sink += sum;
}

static double run_liburing(unsigned batch, int tuned, unsigned ops)
{
	struct io_uring ring;
	bench_liburing_init(&ring, 256, tuned);
	double t0 = bench_now();
	loop_liburing(&ring, batch, ops);
	double t = bench_now() - t0;
	io_uring_queue_exit(&ring);
	return ops / t;
}

static double max2(double a, double b)
{
	return a > b ? a : b;
}

int main(int argc, char **argv)
{
	if (argc > 2) {
		unsigned batch = (unsigned)strtoul(argv[2], NULL, 10);
		unsigned ops = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : OPS / 4;
		if (batch < 1 || batch > 256)
			bench_die("batch (1..256)", batch);
		ops -= ops % batch;
		double r;
		if (strcmp(argv[1], "ringkit") == 0)
			r = run_ringkit(batch, 0, ops);
		else if (strcmp(argv[1], "desc") == 0)
			r = run_ringkit(batch, 1, ops);
		else if (strcmp(argv[1], "liburing") == 0)
			r = run_liburing(batch, 0, ops);
		else if (strcmp(argv[1], "tuned") == 0)
			r = run_liburing(batch, 1, ops);
		else
			bench_die("side: ringkit, desc, liburing or tuned", 0);
		printf("%s batch %u: %.2f M ops/s\n", argv[1], batch, r / 1e6);
		return 0;
	}
	const unsigned batches[] = {1, 8, 32, 256};
	printf("NOP ops/s, best of %d alternating rounds of %d ops; tuned: liburing with %s\n",
	       BENCH_ROUNDS, OPS, bench_tuned_name());
	printf("%-6s %10s %10s %10s %10s %9s %9s %9s\n", "batch", "liburing", "tuned", "ringkit",
	       "rk desc", "rk/uring", "rk/tuned", "desc/ur");
	for (int b = 0; b < 4; b++) {
		double lu = 0, lt = 0, rk = 0, rd = 0;
		for (int r = 0; r < BENCH_ROUNDS; r++) {
			lu = max2(lu, run_liburing(batches[b], 0, OPS));
			rk = max2(rk, run_ringkit(batches[b], 0, OPS));
			lt = max2(lt, run_liburing(batches[b], 1, OPS));
			rd = max2(rd, run_ringkit(batches[b], 1, OPS));
		}
		printf("%-6u %8.2f M %8.2f M %8.2f M %8.2f M %9.3f %9.3f %9.3f\n", batches[b], lu / 1e6,
		       lt / 1e6, rk / 1e6, rd / 1e6, rk / lu, rk / lt, rd / lu);
		fflush(stdout);
	}
	return 0;
}
