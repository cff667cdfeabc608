/* Link timeouts and chains around them, beyond tests/c/timeouts.c: one that
 * is due at once, one that ends a longer chain, one whose op completes
 * first with the chain going on, and a drained chain cancelled with its
 * link timeout before it started — after which a drain op still runs at
 * once (nothing is left counted as in flight). */
#include "check.h"

int main(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	int p[2];
	make_pipe(p);
	char b[8];
	rk_cqe c[8];

	/* Due at once: the read never gets a chance. */
	int64_t rd = rk_prep_read(ring, p[0], b, sizeof(b), -1, RK_LINK);
	int64_t lt = rk_prep_link_timeout(ring, 0, 0, 0);
	reap_n(ring, c, 2);
	CHECK_EQ(res_of(c, 2, rd), -ECANCELED);
	CHECK_EQ(res_of(c, 2, lt), -ETIME);

	/* The op completes first; the chain goes on past its link timeout. */
	int64_t a = rk_prep_nop(ring, RK_LINK);
	lt = rk_prep_link_timeout(ring, 10000000000LL, 0, RK_LINK);
	int64_t z = rk_prep_nop(ring, 0);
	reap_n(ring, c, 3);
	CHECK_EQ(res_of(c, 3, a), 0);
	CHECK_EQ(res_of(c, 3, lt), -ECANCELED);
	CHECK_EQ(res_of(c, 3, z), 0);

	/* The timeout fires: the rest of the chain is cancelled. */
	rd = rk_prep_read(ring, p[0], b, sizeof(b), -1, RK_LINK);
	lt = rk_prep_link_timeout(ring, 20000000, 0, RK_LINK);
	z = rk_prep_nop(ring, 0);
	reap_n(ring, c, 3);
	CHECK_EQ(res_of(c, 3, rd), -ECANCELED);
	CHECK_EQ(res_of(c, 3, lt), -ETIME);
	CHECK_EQ(res_of(c, 3, z), -ECANCELED);

	/* A drain op with a link timeout, held behind a long timeout, is
	 * cancelled before it started (with rk_cancel_sync: a cancel op would
	 * itself wait behind the drain op on io_uring). The kernel may not find
	 * a held op (-ENOENT): then it starts once the timeout is gone, and is
	 * cancelled as a running read. */
	int64_t t = rk_prep_timeout(ring, 30000000000LL, 0, 0, 0);
	CHECK_EQ(rk_submit(ring), 1);
	a = rk_prep_read(ring, p[0], b, sizeof(b), -1, RK_DRAIN | RK_LINK);
	lt = rk_prep_link_timeout(ring, 10000000000LL, 0, 0);
	CHECK_EQ(rk_submit(ring), 2);
	CHECK_EQ(rk_reap(ring, c, 8, 1, 20000000), 0);
	int r = rk_cancel_sync(ring, a, 1000000000);
	CHECK(r == 0 || r == -ENOENT);
	CHECK_EQ(rk_cancel_sync(ring, t, 1000000000), 0);
	if (r == -ENOENT) {
		CHECK_EQ(rk_reap(ring, c, 1, 1, 20000000), 1); /* the timeout */
		CHECK_EQ(c[0].id, t);
		CHECK_EQ(rk_cancel_sync(ring, a, 1000000000), 0);
		reap_n(ring, c + 1, 2);
	} else {
		reap_n(ring, c, 3);
	}
	CHECK_EQ(res_of(c, 3, t), -ECANCELED);
	CHECK_EQ(res_of(c, 3, a), -ECANCELED);
	CHECK_EQ(res_of(c, 3, lt), -ECANCELED);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);

	/* Nothing is left in flight: a drain op runs at once. */
	CHECK_EQ(run_one(ring, rk_prep_nop(ring, RK_DRAIN)), 0);
	close_pair(p);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
