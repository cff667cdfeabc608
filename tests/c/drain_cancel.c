/* Behind a pending RK_DRAIN op the kernel holds back every later SQE until
 * the ops before the drain complete. A cancel carried by an SQE is held back
 * too, so it could never reach the pipe read the drain waits for: cancel_all
 * left every op pending and close waited out its 10 s bound, then leaked.
 * Both must settle everything promptly (found by the API fuzzer) — one
 * cancel_all even for a chain of drained reads, each of which the kernel
 * starts only when the one before is done. The kernel may start the next
 * one a moment later (the SQPOLL thread; task work on a loaded machine), so
 * cancel_all is repeated while waiting, as ringkit.h says it may need to be;
 * what must hold is that everything settles promptly. */
#include "check.h"

#define NOPS 7

static void load(rk_ring *ring, int fd)
{
	static char b[5][8];
	CHECK(rk_prep_read(ring, fd, b[0], 8, -1, 0) >= 0);    /* never completes */
	CHECK(rk_prep_nop(ring, RK_DRAIN) >= 0);               /* waits for it */
	CHECK(rk_prep_read(ring, fd, b[1], 8, -1, 0) >= 0);    /* held back */
	CHECK(rk_prep_timeout(ring, 3600LL * 1000000000, 0, 0, 0) >= 0);
	/* A chain of drained reads: each starts only when the one before is
	 * done, so only one is ever in the kernel's hands to cancel. */
	for (int i = 2; i < 5; i++)
		CHECK(rk_prep_read(ring, fd, b[i], 8, -1, RK_DRAIN) >= 0);
	CHECK(rk_submit(ring) >= 0);
}

int main(void)
{
	int p[2];
	make_pipe(p);
	static const uint32_t modes[] = {0, RK_RING_DEFER_TASKRUN, RK_RING_SQPOLL};
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		rk_ring *ring;
		int r = rk_ring_create(8, modes[m], &ring);
		if (lacks_mode(r))
			continue;
		CHECK_EQ(r, 0);
		load(ring, p[0]);
		double t0 = now();
		CHECK_EQ(rk_ring_cancel_all(ring), NOPS);
		rk_cqe c[NOPS];
		int got = 0, calls = 1;
		while (got < NOPS && now() - t0 < 5) {
			r = rk_reap(ring, c + got, (uint32_t)(NOPS - got), 1, 100000000);
			CHECK(r >= 0);
			got += r;
			if (r == 0) {
				CHECK(rk_ring_cancel_all(ring) >= 0);
				calls++;
			}
		}
		CHECK_EQ(got, NOPS);
		CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
		fprintf(stderr, "mode %#x: %d cancel_all settled it in %.3f s\n", modes[m], calls,
		        now() - t0);

		load(ring, p[0]);
		t0 = now();
		CHECK_EQ(rk_ring_close(ring), 0);
		CHECK(now() - t0 < 2);
		fprintf(stderr, "mode %#x: close took %.3f s\n", modes[m], now() - t0);
	}

	/* A zero-copy send the kernel holds back behind a drain is never issued
	 * and stalls every op after it; no cancel reaches it and close would
	 * wait out its bound. A ring uses one or the other. */
	int sv[2];
	make_socketpair(SOCK_STREAM, sv);
	static char zb[16];
	rk_iovec iov = {(uintptr_t)zb, sizeof(zb)};
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
	int64_t r = rk_prep_send_zc(ring, sv[1], zb, sizeof(zb), 0, 0, RK_DRAIN);
	if (r != -EOPNOTSUPP) {
		CHECK_EQ(r, -EINVAL);
		CHECK_EQ(rk_prep_sendmsg_zc(ring, sv[1], &iov, 1, NULL, 0, NULL, 0, 0, RK_DRAIN),
		         -EINVAL);
		CHECK(rk_prep_send_zc(ring, sv[1], zb, sizeof(zb), 0, 0, 0) >= 0);
		CHECK_EQ(rk_prep_nop(ring, RK_DRAIN), -EINVAL); /* this ring sends zero-copy */
		rk_cqe c[2]; /* the send's result (MORE) and its notification */
		reap_n(ring, c, 2);
		CHECK_EQ(rk_ring_close(ring), 0);

		CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
		CHECK(rk_prep_nop(ring, RK_DRAIN) >= 0);
		CHECK_EQ(rk_prep_send_zc(ring, sv[1], zb, sizeof(zb), 0, 0, 0), -EINVAL);
		CHECK_EQ(rk_prep_sendmsg_zc(ring, sv[1], &iov, 1, NULL, 0, NULL, 0, 0, 0), -EINVAL);
		CHECK(rk_prep_send(ring, sv[1], zb, sizeof(zb), 0, 0) >= 0); /* plain: fine */
		reap_n(ring, c, 2);
	}
	double t0 = now();
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK(now() - t0 < 2);
	return 0;
}
