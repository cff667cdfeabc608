/* The same contract in every setup mode: plain, SQPOLL, DEFER_TASKRUN,
 * COOP_TASKRUN and SINGLE_ISSUER|CLAMP. For each: ops beyond the SQ wait in
 * the overflow queue, a CQ far smaller than the burst loses nothing, a timer
 * signal interrupts a blocking wait with -EINTR while the pending op
 * survives, and close with a pending read returns promptly. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static void on_alarm(int sig)
{
	(void)sig;
}

static void exercise(uint32_t flags, const char *name)
{
	rk_ring *ring;
	int ret = rk_ring_create_ex(4, flags, 8, 256, 0, &ring);
	if (lacks_mode(ret)) {
		fprintf(stderr, "%s: not available here (%s)\n", name, rk_strerror(ret));
		return;
	}
	CHECK_EQ(ret, 0);
	rk_cqe c[256];

	for (int i = 0; i < 200; i++)
		CHECK(rk_prep_nop(ring, 0) >= 0);
	CHECK(stat_of(ring, RK_STAT_OVERFLOW_QUEUE) > 0);
	CHECK_EQ(rk_submit(ring), 200);
	CHECK_EQ(stat_of(ring, RK_STAT_OVERFLOW_QUEUE), 0);
	reap_n(ring, c, 200);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_COMPLETED), 200);

	int p[2];
	make_pipe(p);
	char b[8];
	int64_t rd = rk_prep_read(ring, p[0], b, sizeof(b), -1, 0);
	CHECK(rd >= 0);
	struct itimerval it = {{0, 0}, {0, 50000}};
	CHECK_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);
	CHECK_EQ(rk_reap(ring, c, 8, 1, -1), -EINTR);
	CHECK_EQ(write(p[1], "hi", 2), 2);
	CHECK_EQ(rk_reap(ring, c, 8, 1, 2000000000), 1);
	CHECK_EQ(c[0].id, rd);
	CHECK_EQ(c[0].res, 2);

	CHECK(rk_prep_read(ring, p[0], b, sizeof(b), -1, 0) >= 0);
	CHECK(rk_prep_timeout(ring, 60000000000LL, 0, 0, 0) >= 0);
	CHECK(rk_submit(ring) >= 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(rk_ring_close(ring), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(t1.tv_sec - t0.tv_sec < 3);
	close_pair(p);
	fprintf(stderr, "%s: ok\n", name);
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: the wait must see EINTR */
	CHECK_EQ(sigaction(SIGALRM, &sa, NULL), 0);

	exercise(0, "plain");
	exercise(RK_RING_SQPOLL, "sqpoll");
	exercise(RK_RING_DEFER_TASKRUN, "defer_taskrun");
	exercise(RK_RING_COOP_TASKRUN, "coop_taskrun");
	exercise(RK_RING_SINGLE_ISSUER | RK_RING_CLAMP, "single_issuer");
	return 0;
}
