/* More multishot completions than the completion queue holds: 300
 * connections to a multishot accept on a ring with a 16-entry CQ, none
 * reaped until all are connected. Nothing is lost or duplicated: io_uring
 * ends the op on overflow with a last completion without MORE (the caller
 * arms it again, the connections wait in the backlog), the fallback pauses
 * the op while its queue is full and takes the rest once there is room. */
#include "check.h"

#define CONNS 300

int main(void)
{
	struct sockaddr_in sa;
	int lfd = tcp_listener(&sa, CONNS);

	rk_ring *ring;
	CHECK_EQ(rk_ring_create_ex(8, 0, 16, 8, 0, &ring), 0);
	int64_t acc = rk_prep_accept_multishot(ring, lfd, SOCK_CLOEXEC, 0);
	CHECK_EQ(rk_submit(ring), 1);
	static int clients[CONNS];
	for (int i = 0; i < CONNS; i++)
		clients[i] = tcp_connect(&sa);
	int accepted = 0, rearms = 0;
	static unsigned char seen[1 << 16];
	while (accepted < CONNS) {
		rk_cqe c[32];
		int n = rk_reap(ring, c, 32, 1, 2000000000LL);
		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			CHECK_EQ(c[i].id, acc);
			CHECK(c[i].res >= 0);
			if (!(c[i].flags & RK_CQE_F_MORE)) { /* ended: arm it again */
				acc = rk_prep_accept_multishot(ring, lfd, SOCK_CLOEXEC, 0);
				CHECK(acc >= 0);
				rearms++;
			}
			CHECK(c[i].res < (1 << 16) && !seen[c[i].res]);
			seen[c[i].res] = 1;
			close(c[i].res);
			seen[c[i].res] = 0; /* the number may come back */
			accepted++;
		}
	}
	CHECK_EQ(accepted, CONNS);
	fprintf(stderr, "%d accepted, multishot armed again %d times\n", accepted, rearms);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 1);
	CHECK_EQ(rk_cancel_sync(ring, acc, -1), 0);
	rk_cqe c = reap_one(ring);
	CHECK_EQ(c.id, acc);
	CHECK_EQ(c.res, -ECANCELED);
	CHECK_EQ(rk_ring_close(ring), 0);
	for (int i = 0; i < CONNS; i++)
		close(clients[i]);
	close(lfd);
	return 0;
}
