/*
 * The C side of the Lua NOP benchmark: the same loop the Lua scripts run
 * (batch NOP preps, then one reap for the batch), straight on the C core.
 * Linked into ringkit-lua-bench (for Lua 5.4, same process) and built as
 * librkbench.so (for LuaJIT, loaded with ffi into the same process).
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "ringkit.h"

__attribute__((visibility("default"))) double rkbench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs n NOPs in batches of `batch` on a ring of `entries` and returns the
 * ops per second, or a negative errno. */
__attribute__((visibility("default"))) double rkbench_c_nop(uint32_t entries, uint32_t batch,
                                                           uint64_t n)
{
	rk_ring *ring;
	int err = rk_ring_create(entries, 0, &ring);
	if (err < 0)
		return err;
	rk_cqe *cqes = malloc(sizeof *cqes * batch);
	if (!cqes) {
		rk_ring_close(ring);
		return -12;
	}
	volatile int64_t sink = 0;
	uint64_t rounds = n / batch;
	double t0 = rkbench_now();
	for (uint64_t r = 0; r < rounds; r++) {
		for (uint32_t i = 0; i < batch; i++)
			if (rk_prep_nop(ring, 0) < 0)
				return -1;
		int got = 0;
		while (got < (int)batch) {
			int k = rk_reap(ring, cqes, batch, batch - got, -1);
			if (k < 0)
				return k;
			for (int i = 0; i < k; i++)
				sink += cqes[i].id + cqes[i].res; /* touch every record, as Lua does */
			got += k;
		}
	}
	double dt = rkbench_now() - t0;
	free(cqes);
	rk_ring_close(ring);
	(void)sink;
	return (double)(rounds * batch) / dt;
}
