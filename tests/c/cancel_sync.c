/* rk_cancel_sync cancels without a slot: with the op table full of pending
 * timeouts, rk_prep_cancel answers -EBUSY but rk_cancel_sync cancels each
 * one, and every timeout's completion (-ECANCELED) arrives exactly once.
 * Stale ids, staged ops and a bounded wait behave as documented. */
#include "check.h"

int main(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create_ex(4, 0, 0, 8, 0, &ring), 0);
	int64_t ids[8];
	for (int i = 0; i < 8; i++)
		CHECK((ids[i] = rk_prep_timeout(ring, 30LL * 1000000000, 0, 0, 0)) >= 0);
	CHECK_EQ(rk_prep_cancel(ring, ids[0], 0), -EBUSY);
	/* ids[4..7] are still staged (SQ of 4): rk_cancel_sync submits first. */
	for (int i = 0; i < 8; i++)
		CHECK_EQ(rk_cancel_sync(ring, ids[i], -1), 0);
	rk_cqe c[8];
	reap_n(ring, c, 8);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(c[i].res, -ECANCELED);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);

	/* Stale, unknown and finished targets. */
	CHECK_EQ(rk_cancel_sync(ring, ids[0], -1), -ENOENT);
	CHECK_EQ(rk_cancel_sync(ring, -5, 0), -ENOENT);
	int64_t nop = rk_prep_nop(ring, 0);
	CHECK_EQ(rk_submit(ring), 1);
	CHECK_EQ(rk_cancel_sync(ring, nop, -1), -ENOENT); /* done in the kernel, not reaped */
	reap_n(ring, c, 1);

	/* A pipe read is cancelled the same way, with a finite timeout. */
	int p[2];
	make_pipe(p);
	char b[4];
	int64_t rd = rk_prep_read(ring, p[0], b, sizeof(b), -1, 0);
	CHECK_EQ(rk_cancel_sync(ring, rd, 1000000000), 0);
	CHECK_EQ(run_one(ring, rd), -ECANCELED);
	CHECK_EQ(rk_cancel_sync(NULL, 0, 0), -EINVAL);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
