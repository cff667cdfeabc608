/* rk_ring_fd is pollable on both backends: readable while completions wait
 * to be reaped, not readable once they are, so an event loop can watch it
 * instead of blocking in rk_reap. Completions that come from another thread
 * (a pipe read woken by a write, a timer) make it readable on their own. */
#include <poll.h>

#include "check.h"

static int readable(rk_ring *ring, int timeout_ms)
{
	struct pollfd p = {.fd = rk_ring_fd(ring), .events = POLLIN};
	int r = poll(&p, 1, timeout_ms);
	CHECK(r >= 0);
	return r > 0 && (p.revents & POLLIN);
}

int main(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
	rk_cqe c[4];
	CHECK(!readable(ring, 0));

	/* A completion of the submitting call itself. */
	int64_t nop = rk_prep_nop(ring, 0);
	CHECK_EQ(rk_submit(ring), 1);
	CHECK(readable(ring, 1000));
	CHECK_EQ(run_one(ring, nop), 0);
	CHECK(!readable(ring, 0));

	/* One that comes later, woken by another thread's write. */
	int p[2];
	make_pipe(p);
	char b[4];
	int64_t rd = rk_prep_read(ring, p[0], b, sizeof(b), -1, 0);
	CHECK_EQ(rk_submit(ring), 1);
	CHECK(!readable(ring, 30));
	CHECK_EQ(write(p[1], "abc", 3), 3);
	CHECK(readable(ring, 1000));
	CHECK(readable(ring, 0)); /* level: still there until reaped */
	CHECK_EQ(run_one(ring, rd), 3);
	CHECK(!readable(ring, 0));

	/* A timer. */
	int64_t to = rk_prep_timeout(ring, 20000000, 0, 0, 0);
	CHECK_EQ(rk_submit(ring), 1);
	CHECK(readable(ring, 2000));
	CHECK_EQ(run_one(ring, to), -ETIME);

	/* A partial reap leaves it readable. */
	for (int i = 0; i < 3; i++)
		CHECK(rk_prep_nop(ring, 0) >= 0);
	CHECK_EQ(rk_submit(ring), 3);
	CHECK_EQ(rk_reap(ring, c, 1, 1, -1), 1);
	CHECK(readable(ring, 0));
	CHECK_EQ(rk_reap(ring, c, 4, 2, -1), 2);
	CHECK(!readable(ring, 0));

	close_pair(p);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
