/* rk_reap's edges: a zero-max call only submits and never drops a
 * completion; wait_nr above max or above what is live never blocks; a timed
 * wait with nothing ready returns 0 in about the time asked. */
#include <errno.h>
#include <unistd.h>

#include "check.h"

int main(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
	rk_cqe c[16];

	int64_t id = rk_prep_nop(ring, 0);
	CHECK(id >= 0);
	CHECK_EQ(rk_reap(ring, NULL, 0, 0, 0), 0); /* submit only */
	CHECK_EQ(rk_reap(ring, NULL, 0, 5, -1), 0); /* wait_nr clamped to max 0 */
	CHECK_EQ(rk_reap(ring, c, 16, 1, 1000000000), 1);
	CHECK_EQ(c[0].id, id);
	CHECK_EQ(c[0].res, 0);

	/* Nothing live: an unbounded wait for 4 must return at once. */
	double t0 = now();
	CHECK_EQ(rk_reap(ring, c, 16, 4, -1), 0);
	CHECK(now() - t0 < 1.0);

	/* One live op that will not complete: a 50 ms wait returns 0. */
	int p[2];
	make_pipe(p);
	char b[4];
	int64_t rd = rk_prep_read(ring, p[0], b, sizeof(b), -1, 0);
	CHECK(rd >= 0);
	t0 = now();
	CHECK_EQ(rk_reap(ring, c, 16, 1, 50000000), 0);
	double waited = now() - t0;
	CHECK(waited >= 0.045 && waited < 2.0);

	/* More wanted than live (2 nops + 1 read): returns the 2 nops and then
	 * the read once data arrives, never more than were prepared. */
	CHECK(rk_prep_nop(ring, 0) >= 0);
	CHECK(rk_prep_nop(ring, 0) >= 0);
	CHECK_EQ(rk_reap(ring, c, 16, 2, 1000000000), 2);
	CHECK_EQ(write(p[1], "abc", 3), 3);
	CHECK_EQ(rk_reap(ring, c, 16, 16, 1000000000), 1);
	CHECK_EQ(c[0].id, rd);
	CHECK_EQ(c[0].res, 3);

	CHECK_EQ(rk_reap(NULL, c, 16, 0, 0), -EINVAL);
	CHECK_EQ(rk_reap(ring, NULL, 4, 0, 0), -EINVAL);
	CHECK_EQ(rk_ring_close(ring), 0);
	close_pair(p);
	return 0;
}
