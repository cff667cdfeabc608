/* RK_DRAIN: the op starts only once every op submitted before it has
 * completed, and ops submitted after it wait for it. A 30 ms timeout ahead
 * of a drain NOP holds the NOP and the NOP after it; a pipe read ahead of a
 * drain op holds it until the read completes. */
#include <time.h>

#include "check.h"

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	rk_cqe c[8];

	int64_t t0 = now_ns();
	int64_t to = rk_prep_timeout(ring, 30000000, 0, 0, 0);
	int64_t d = rk_prep_nop(ring, RK_DRAIN);
	int64_t n = rk_prep_nop(ring, 0);
	CHECK(to >= 0 && d >= 0 && n >= 0);
	reap_n(ring, c, 3);
	CHECK_EQ(c[0].id, to);
	CHECK_EQ(c[0].res, -ETIME);
	CHECK_EQ(c[1].id, d);
	CHECK_EQ(c[2].id, n);
	CHECK(now_ns() - t0 >= 29000000);

	/* Held behind a read that waits for data. */
	int p[2];
	make_pipe(p);
	char b[4];
	int64_t rd = rk_prep_read(ring, p[0], b, sizeof(b), -1, 0);
	d = rk_prep_nop(ring, RK_DRAIN);
	CHECK_EQ(rk_reap(ring, c, 8, 1, 30000000), 0); /* neither completes */
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 2);
	CHECK_EQ(write(p[1], "go", 2), 2);
	reap_n(ring, c, 2);
	CHECK_EQ(c[0].id, rd);
	CHECK_EQ(c[0].res, 2);
	CHECK_EQ(c[1].id, d);
	CHECK_EQ(c[1].res, 0);

	/* Nothing ahead: a drain op runs at once. */
	CHECK_EQ(run_one(ring, rk_prep_nop(ring, RK_DRAIN)), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	close_pair(p);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
