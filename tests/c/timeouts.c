/* Timeouts on every clock, absolute and relative, count-based completion,
 * timeout_remove, link_timeout on a chain, and cancel by id. */
#include <time.h>

#include "check.h"

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t elapsed_of(rk_ring *ring, int64_t id, int32_t want)
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	CHECK_EQ(run_one(ring, id), want);
	return now_ns(CLOCK_MONOTONIC) - t0;
}

int main(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	rk_cqe c[8];
	const int64_t ms = 1000000;

	/* Relative, on each clock: -ETIME after (at least) the time asked. */
	const uint32_t clocks[] = {0, RK_TIMEOUT_BOOTTIME, RK_TIMEOUT_REALTIME};
	for (int i = 0; i < 3; i++) {
		int64_t t = elapsed_of(ring, rk_prep_timeout(ring, 20 * ms, 0, clocks[i], 0), -ETIME);
		CHECK(t >= 19 * ms && t < 2000 * ms);
	}
	/* Absolute, on each clock's own time base. */
	const clockid_t ids[] = {CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME};
	for (int i = 0; i < 3; i++) {
		int64_t when = now_ns(ids[i]) + 20 * ms;
		int64_t t = elapsed_of(
			ring, rk_prep_timeout(ring, when, 0, RK_TIMEOUT_ABS | clocks[i], 0), -ETIME);
		CHECK(t >= 15 * ms && t < 2000 * ms);
	}
	/* An absolute time in the past fires at once. */
	CHECK_EQ(run_one(ring, rk_prep_timeout(ring, 1, 0, RK_TIMEOUT_ABS, 0)), -ETIME);

	/* Count-based: completes with 0 after 2 other completions. */
	int64_t to = rk_prep_timeout(ring, 10000 * ms, 2, 0, 0);
	CHECK(to >= 0);
	CHECK(rk_prep_nop(ring, 0) >= 0);
	CHECK(rk_prep_nop(ring, 0) >= 0);
	reap_n(ring, c, 3);
	int seen = 0;
	for (int i = 0; i < 3; i++)
		if (c[i].id == to) {
			CHECK_EQ(c[i].res, 0);
			seen = 1;
		}
	CHECK(seen);

	/* timeout_remove: the timeout ends with -ECANCELED, the remove with 0. */
	to = rk_prep_timeout(ring, 10000 * ms, 0, 0, 0);
	CHECK_EQ(rk_submit(ring), 1);
	int64_t rm = rk_prep_timeout_remove(ring, to, 0);
	reap_n(ring, c, 2);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(c[i].res, c[i].id == to ? -ECANCELED : 0);
	CHECK(rm >= 0);
	CHECK_EQ(rk_prep_timeout_remove(ring, to, 0), -ENOENT);

	/* link_timeout: a pipe read that never completes is cancelled after
	 * 20 ms; one that completes first cancels the timeout instead. */
	int p[2];
	make_pipe(p);
	char buf[8];
	int64_t rd = rk_prep_read(ring, p[0], buf, sizeof(buf), -1, RK_LINK);
	int64_t lt = rk_prep_link_timeout(ring, 20 * ms, 0, 0);
	CHECK(rd >= 0 && lt >= 0);
	reap_n(ring, c, 2);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(c[i].res, c[i].id == rd ? -ECANCELED : -ETIME);
	CHECK_EQ(write(p[1], "ab", 2), 2);
	rd = rk_prep_read(ring, p[0], buf, sizeof(buf), -1, RK_LINK);
	lt = rk_prep_link_timeout(ring, 10000 * ms, 0, 0);
	reap_n(ring, c, 2);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(c[i].res, c[i].id == rd ? 2 : -ECANCELED);
	/* A link_timeout needs an op before it that opened a chain. */
	CHECK_EQ(rk_prep_link_timeout(ring, ms, 0, 0), -EINVAL);

	/* cancel by id: a pending pipe read. */
	rd = rk_prep_read(ring, p[0], buf, sizeof(buf), -1, 0);
	CHECK_EQ(rk_submit(ring), 1);
	int64_t cn = rk_prep_cancel(ring, rd, 0);
	reap_n(ring, c, 2);
	for (int i = 0; i < 2; i++) {
		if (c[i].id == rd)
			CHECK(c[i].res == -ECANCELED || c[i].res == -EINTR);
		else
			CHECK(c[i].id == cn && (c[i].res == 0 || c[i].res == -EALREADY));
	}

	CHECK_EQ(rk_prep_timeout(ring, -1, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_timeout(ring, ms, 0, 1u << 7, 0), -EINVAL);
	CHECK_EQ(rk_prep_timeout(ring, ms, 0, RK_TIMEOUT_BOOTTIME | RK_TIMEOUT_REALTIME, 0), -EINVAL);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
