/* The op table may be larger than the SQ: ops beyond the SQ wait in the
 * overflow queue and are flushed on submit/reap; only a full table answers
 * -EBUSY, and reaping makes room again. A CQ far smaller than the number of
 * ops in flight loses nothing. */
#include "check.h"

int main(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create_ex(4, 0, 0, 64, 0, &ring), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_SQ_ENTRIES), 4);
	CHECK_EQ(stat_of(ring, RK_STAT_CAPACITY), 64);

	int64_t ids[64];
	for (int i = 0; i < 64; i++)
		CHECK((ids[i] = rk_prep_nop(ring, 0)) >= 0);
	CHECK_EQ(rk_prep_nop(ring, 0), -EBUSY);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 64);
	CHECK_EQ(stat_of(ring, RK_STAT_OVERFLOW_QUEUE), 60);
	rk_cqe c[64];
	reap_n(ring, c, 64);
	for (int i = 0; i < 64; i++)
		CHECK_EQ(c[i].id, ids[i]); /* nops complete in order */
	CHECK_EQ(stat_of(ring, RK_STAT_OVERFLOW_QUEUE), 0);
	CHECK(rk_prep_nop(ring, 0) >= 0); /* room again */
	reap_n(ring, c, 1);

	/* Default capacity is 4x the SQ. */
	rk_ring *def;
	CHECK_EQ(rk_ring_create(32, 0, &def), 0);
	CHECK_EQ(stat_of(def, RK_STAT_CAPACITY), 4 * stat_of(def, RK_STAT_SQ_ENTRIES));
	CHECK_EQ(stat_of(def, RK_STAT_CQ_ENTRIES), 2 * stat_of(def, RK_STAT_SQ_ENTRIES));
	CHECK_EQ(rk_ring_close(def), 0);
	CHECK_EQ(rk_ring_close(ring), 0);

	/* CQ overflow: SQ 4, CQ 8, 300 ops submitted before any reap. The
	 * kernel keeps what the CQ cannot hold; reaping gets every one. */
	CHECK_EQ(rk_ring_create_ex(4, 0, 8, 512, 0, &ring), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_CQ_ENTRIES), 8);
	for (int i = 0; i < 300; i++)
		CHECK(rk_prep_nop(ring, 0) >= 0);
	CHECK_EQ(rk_submit(ring), 300);
	int total = 0;
	for (int tries = 0; total < 300 && tries < 1000; tries++) {
		int n = rk_reap(ring, c, 64, 1, 100000000);
		CHECK(n >= 0);
		total += n;
	}
	CHECK_EQ(total, 300);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_COMPLETED), 300);
	CHECK_EQ(rk_ring_close(ring), 0);

	/* Sizes. */
	CHECK_EQ(rk_ring_create_ex(8, 0, 4, 0, 0, &ring), -EINVAL); /* CQ below SQ */
	CHECK_EQ(rk_ring_create_ex(8, 0, 0, (1u << 24) + 1, 0, &ring), -EINVAL);
	CHECK_EQ(rk_ring_create(0, 0, &ring), -EINVAL);
	CHECK(rk_ring_create(1u << 20, 0, &ring) < 0);               /* too large */
	CHECK_EQ(rk_ring_create(1u << 20, RK_RING_CLAMP, &ring), 0); /* clamped */
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
