/* A stale id never reaches the slot's next tenant: after op A completes and
 * op B takes A's slot, cancel/poll_remove/timeout_remove of A's id are
 * refused with -ENOENT and B completes untouched. Ids carry the slot in the
 * low 32 bits and a generation above it. */
#include <poll.h>

#include "check.h"

int main(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create_ex(4, 0, 0, 4, 0, &ring), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_CAPACITY), 4);
	int p[2];
	make_pipe(p);

	int64_t a = rk_prep_nop(ring, 0);
	CHECK_EQ(run_one(ring, a), 0);
	/* The next op takes the same slot, with a new generation. */
	char buf[4];
	int64_t b = rk_prep_read(ring, p[0], buf, sizeof(buf), -1, 0);
	CHECK_EQ((uint32_t)b, (uint32_t)a);
	CHECK(b != a);
	CHECK_EQ((uint64_t)b >> 32, ((uint64_t)a >> 32) + 1);

	CHECK_EQ(rk_prep_cancel(ring, a, 0), -ENOENT);
	CHECK_EQ(rk_prep_poll_remove(ring, a, 0), -ENOENT);
	CHECK_EQ(rk_prep_timeout_remove(ring, a, 0), -ENOENT);
	CHECK_EQ(rk_prep_cancel(ring, -1, 0), -ENOENT);
	CHECK_EQ(rk_prep_cancel(ring, 1000, 0), -ENOENT);            /* slot out of range */
	CHECK_EQ(rk_prep_cancel(ring, (int64_t)7 << 32 | 3, 0), -ENOENT); /* free slot */
	rk_cqe c[4];
	CHECK_EQ(rk_reap(ring, c, 4, 1, 30000000), 0); /* B is still pending */
	CHECK_EQ(write(p[1], "ok", 2), 2);
	CHECK_EQ(run_one(ring, b), 2);

	/* A cancel that targets a live op but is issued after it completed in
	 * the kernel (but before it was reaped) gets -ENOENT from the kernel. */
	int64_t n = rk_prep_nop(ring, 0);
	CHECK_EQ(rk_submit(ring), 1);
	int64_t cn = rk_prep_cancel(ring, n, 0);
	CHECK(cn >= 0);
	reap_n(ring, c, 2);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(c[i].res, c[i].id == n ? 0 : -ENOENT);

	/* Generations advance on every reuse: many rounds on a 4-slot table
	 * never repeat an id. */
	int64_t seen_last[4] = {-1, -1, -1, -1};
	for (int round = 0; round < 1000; round++) {
		int64_t id = rk_prep_nop(ring, 0);
		CHECK(id >= 0 && id != seen_last[(uint32_t)id]);
		seen_last[(uint32_t)id] = id;
		CHECK_EQ(run_one(ring, id), 0);
	}
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
