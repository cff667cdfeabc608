/* rk_ring_resize where the kernel or memory fails it, at the core's seam
 * (fault.h): an io_uring_enter that takes nothing leaves entries written
 * but unpublished (a chain held back behind the overflow queue), which the
 * resize carries over by hand, the chain whole; a refused registration
 * changes nothing; new queues that cannot be mapped leave a ring shut
 * (-EBADFD) that still closes, with every mapping and allocation given
 * back. io_uring only (the
 * fallback has no such calls); skips where the kernel cannot resize. */
#include "check.h"
#include "fault.h"

static rk_ring *resizable(void)
{
	rk_ring *ring = create_ring(8, RK_RING_DEFER_TASKRUN | RK_RING_NO_FALLBACK);
	if (rk_ring_feature(ring, RK_FEATURE_RESIZE) != 1) {
		CHECK_EQ(rk_ring_close(ring), 0);
		SKIP("kernel without IORING_REGISTER_RESIZE_RINGS (Linux 6.13)");
	}
	return ring;
}

int main(void)
{
	if (getenv("RINGKIT_BACKEND") && strcmp(getenv("RINGKIT_BACKEND"), "fallback") == 0)
		SKIP("the io_uring backend's seam");
	long allocs = fault_live_allocs(), maps = fault_live_maps();

	/* Seven NOPs fill the SQ but one entry, a chain of two takes the last
	 * entry and the overflow queue: the submit publishes the seven only,
	 * and the kernel (made busy) takes none of them. */
	rk_ring *ring = resizable();
	int64_t ids[9];
	for (int i = 0; i < 7; i++)
		CHECK((ids[i] = rk_prep_nop(ring, 0)) >= 0);
	CHECK((ids[7] = rk_prep_nop(ring, RK_LINK)) >= 0);
	CHECK((ids[8] = rk_prep_nop(ring, 0)) >= 0);
	CHECK_EQ(stat_of(ring, RK_STAT_OVERFLOW_QUEUE), 1);
	fault_arm(FAULT_ENTER, 1, EBUSY, false);
	CHECK_EQ(rk_ring_resize(ring, 16, 0), 0);
	CHECK_EQ(fault_fired(), 1);
	fault_disarm();
	CHECK_EQ(stat_of(ring, RK_STAT_SQ_ENTRIES), 16);
	rk_cqe c[9];
	reap_n(ring, c, 9);
	for (int i = 0; i < 9; i++) {
		CHECK_EQ(c[i].id, ids[i]); /* in order: the chain came through whole */
		CHECK_EQ(c[i].res, 0);
	}

	/* The kernel refuses: nothing changed, the ring works on. */
	CHECK((ids[0] = rk_prep_nop(ring, 0)) >= 0);
	fault_arm(FAULT_REGISTER, 1, ENOMEM, false);
	CHECK_EQ(rk_ring_resize(ring, 32, 0), -ENOMEM);
	fault_disarm();
	CHECK_EQ(stat_of(ring, RK_STAT_SQ_ENTRIES), 16);
	CHECK_EQ(run_one(ring, ids[0]), 0);
	CHECK_EQ(run_one(ring, rk_prep_nop(ring, 0)), 0);
	CHECK_EQ(rk_ring_close(ring), 0);

	/* The new queues cannot be mapped, at each of the mappings: the
	 * error comes back, and the ring still closes, leaving nothing. */
	for (long n = 1; n <= 3; n++) {
		ring = resizable();
		fault_arm(FAULT_MMAP, n, ENOMEM, false);
		int r = rk_ring_resize(ring, 16, 0);
		long fired = fault_fired();
		fault_disarm();
		CHECK(fired <= 1);
		CHECK_EQ(r, fired ? -ENOMEM : 0);
		if (fired) { /* shut: only close is left */
			CHECK_EQ(rk_prep_nop(ring, 0), -EBADFD);
			CHECK_EQ(rk_submit(ring), -EBADFD);
			CHECK_EQ(rk_reap(ring, c, 1, 0, 0), -EBADFD);
			CHECK_EQ(rk_ring_resize(ring, 8, 0), -EBADFD);
		} else {
			CHECK_EQ(run_one(ring, rk_prep_nop(ring, 0)), 0);
		}
		CHECK_EQ(rk_ring_close(ring), 0);
	}
	CHECK_EQ(fault_live_allocs(), allocs);
	CHECK_EQ(fault_live_maps(), maps);
	return 0;
}
