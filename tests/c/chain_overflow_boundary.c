/* A linked chain that starts in the SQ and continues in the overflow queue
 * must still reach the kernel whole: when its head fails, every later member
 * completes with -ECANCELED (a chain split across two submissions would run
 * the members as independent ops and they would succeed). */
#include <errno.h>

#include "check.h"

int main(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create_ex(4, 0, 0, 64, 0, &ring), 0);
	rk_cqe c[64];
	char buf[8];

	for (int fill = 0; fill < 4; fill++) {
		/* `fill` independent ops first, so the chain starts at every
		 * possible position relative to the end of the SQ. */
		for (int i = 0; i < fill; i++)
			CHECK(rk_prep_nop(ring, 0) >= 0);
		int64_t head = rk_prep_read(ring, 1000, buf, sizeof(buf), 0, RK_LINK); /* -EBADF */
		int64_t mid = rk_prep_nop(ring, RK_LINK);
		int64_t last = rk_prep_nop(ring, 0);
		CHECK(head >= 0 && mid >= 0 && last >= 0);
		int n = reap_n(ring, c, fill + 3);
		CHECK_EQ(res_of(c, n, head), -EBADF);
		CHECK_EQ(res_of(c, n, mid), -ECANCELED);
		CHECK_EQ(res_of(c, n, last), -ECANCELED);
	}

	/* A hardlink chain goes on after a failure: the next op still runs. */
	int64_t bad = rk_prep_read(ring, 1000, buf, sizeof(buf), 0, RK_HARDLINK);
	int64_t after = rk_prep_nop(ring, 0);
	int n = reap_n(ring, c, 2);
	CHECK_EQ(res_of(c, n, bad), -EBADF);
	CHECK_EQ(res_of(c, n, after), 0);

	/* A chain may not outgrow the SQ: three links plus the closing op fill
	 * a 4-entry SQ, a fourth link is refused, and nothing is lost. */
	for (int i = 0; i < 3; i++)
		CHECK(rk_prep_nop(ring, RK_LINK) >= 0);
	CHECK_EQ(rk_prep_nop(ring, RK_LINK), -EINVAL);
	CHECK(rk_prep_nop(ring, 0) >= 0);
	reap_n(ring, c, 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(c[i].res, 0);

	/* cancel_all before submission: ops written to the SQ but never
	 * published, and ops still in the overflow queue, all complete with
	 * -ECANCELED exactly once. */
	for (int i = 0; i < 3; i++)
		CHECK(rk_prep_nop(ring, 0) >= 0);
	CHECK(rk_prep_nop(ring, RK_LINK) >= 0);
	CHECK(rk_prep_nop(ring, RK_LINK) >= 0);
	CHECK(rk_prep_nop(ring, 0) >= 0);
	CHECK_EQ(rk_ring_cancel_all(ring), 6);
	reap_n(ring, c, 6);
	for (int i = 0; i < 6; i++)
		CHECK_EQ(c[i].res, -ECANCELED);
	CHECK_EQ(rk_reap(ring, c, 64, 0, 0), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);

	/* A prep that fails after taking its slot (a receive from a group
	 * that does not exist) leaves the chain as it was: closing it, or
	 * adding to it, counts only when the op is queued. */
	for (int i = 0; i < 3; i++)
		CHECK(rk_prep_nop(ring, RK_LINK) >= 0);
	CHECK_EQ(rk_prep_recv_select(ring, 0, 999, 8, 0, 0), -ENOENT);
	CHECK_EQ(rk_prep_nop(ring, RK_LINK), -EINVAL); /* still three links long */
	CHECK(rk_prep_nop(ring, 0) >= 0);
	reap_n(ring, c, 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(c[i].res, 0);
	CHECK(rk_prep_nop(ring, RK_LINK) >= 0);
	CHECK_EQ(rk_prep_recv_select(ring, 0, 999, 8, 0, RK_LINK), -ENOENT);
	CHECK(rk_prep_nop(ring, RK_LINK) >= 0);
	CHECK(rk_prep_nop(ring, RK_LINK) >= 0); /* three links: the failed one did not count */
	CHECK(rk_prep_nop(ring, 0) >= 0);
	reap_n(ring, c, 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(c[i].res, 0);
	/* Unlinked ops after a chain take the prep's common path again. */
	CHECK(rk_prep_nop(ring, 0) >= 0);
	CHECK(rk_prep_nop(ring, RK_LINK) >= 0);
	CHECK(rk_prep_nop(ring, 0) >= 0);
	reap_n(ring, c, 3);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(c[i].res, 0);

	/* And the ring still works afterwards. */
	CHECK(rk_prep_nop(ring, 0) >= 0);
	reap_n(ring, c, 1);
	CHECK_EQ(c[0].res, 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
