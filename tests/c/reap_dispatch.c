/* rk_reap_dispatch: one callback per completion, in order; stopping early
 * leaves the rest in the ring; a callback may prepare ops (which can take the
 * slot just freed) and reap; waits honour wait_nr, timeouts and signals. */
#include <poll.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>

#include "check.h"

#define MAXREC 64

struct rec {
	int64_t id;
	int32_t res;
	uint32_t flags;
};

struct ctx {
	struct rec got[MAXREC];
	int n;
	int stop_at;          /* return non-zero on this callback (1-based), 0: never */
	rk_ring *ring;
	int prep_in_cb;       /* callbacks that still prepare a NOP */
	int64_t prepped[8];
	int nprepped;
	int reap_in_cb;       /* the first callback reaps everything else itself */
	int reaped_inside;
};

static int on_cqe(void *p, int64_t id, int32_t res, uint32_t flags)
{
	struct ctx *c = p;
	CHECK(c->n < MAXREC);
	c->got[c->n++] = (struct rec){id, res, flags};
	if (c->prep_in_cb > 0) {
		c->prep_in_cb--;
		c->prepped[c->nprepped++] = rk_prep_nop(c->ring, 0);
	}
	if (c->reap_in_cb) {
		c->reap_in_cb = 0;
		rk_cqe rest[MAXREC];
		int r = rk_reap(c->ring, rest, MAXREC, 0, 0);
		CHECK(r >= 0);
		c->reaped_inside = r;
	}
	return c->stop_at && c->n == c->stop_at;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static int has_id(const struct ctx *c, int64_t id)
{
	for (int i = 0; i < c->n; i++)
		if (c->got[i].id == id)
			return 1;
	return 0;
}

int main(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	struct ctx c;

	/* Argument errors. */
	memset(&c, 0, sizeof(c));
	CHECK_EQ(rk_reap_dispatch(NULL, on_cqe, &c, 8, 0, 0), -EINVAL);
	CHECK_EQ(rk_reap_dispatch(ring, NULL, &c, 8, 0, 0), -EINVAL);
	CHECK_EQ(rk_reap_dispatch(ring, on_cqe, &c, 8, 0, 0), 0); /* nothing live */

	/* Every completion once, with the record rk_reap would have given. */
	int64_t ids[6];
	for (int i = 0; i < 5; i++)
		ids[i] = rk_prep_nop(ring, 0);
	memset(&c, 0, sizeof(c));
	CHECK_EQ(rk_reap_dispatch(ring, on_cqe, &c, 16, 5, 1000000000), 5);
	CHECK_EQ(c.n, 5);
	for (int i = 0; i < 5; i++) {
		CHECK(has_id(&c, ids[i]));
		CHECK_EQ(c.got[i].res, 0);
		CHECK_EQ(c.got[i].flags, 0);
	}
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);

	/* max bounds the callbacks; the rest stay queued. */
	for (int i = 0; i < 6; i++)
		ids[i] = rk_prep_nop(ring, 0);
	CHECK_EQ(rk_submit(ring), 6);
	memset(&c, 0, sizeof(c));
	CHECK_EQ(rk_reap_dispatch(ring, on_cqe, &c, 2, 2, 1000000000), 2);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 4);

	/* A non-zero return stops after that callback: nothing is lost or
	 * delivered twice, the remaining completions come with the next call. */
	c.stop_at = 3;
	CHECK_EQ(rk_reap_dispatch(ring, on_cqe, &c, 16, 0, 0), 1);
	CHECK_EQ(c.n, 3);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 3);
	rk_cqe rest[8];
	CHECK_EQ(rk_reap(ring, rest, 8, 3, 1000000000), 3);
	for (int i = 0; i < 3; i++) {
		CHECK(!has_id(&c, rest[i].id));
		c.got[c.n++] = (struct rec){rest[i].id, rest[i].res, rest[i].flags};
	}
	for (int i = 0; i < 6; i++)
		CHECK(has_id(&c, ids[i]));

	/* The slot is free when the callback runs: an op prepared there can
	 * take it again (in a one-slot table it must), with a new generation,
	 * and is dispatched by the same call. */
	rk_ring *one;
	CHECK_EQ(rk_ring_create_ex(1, 0, 0, 1, 0, &one), 0);
	CHECK_EQ(stat_of(one, RK_STAT_CAPACITY), 1);
	int64_t a = rk_prep_nop(one, 0);
	CHECK_EQ(rk_prep_nop(one, 0), -EBUSY);
	memset(&c, 0, sizeof(c));
	c.ring = one;
	c.prep_in_cb = 1;
	CHECK_EQ(rk_reap_dispatch(one, on_cqe, &c, 16, 2, 1000000000), 2);
	CHECK_EQ(c.nprepped, 1);
	int64_t b = c.prepped[0];
	CHECK(b >= 0);
	CHECK_EQ((uint32_t)b, (uint32_t)a); /* same slot */
	CHECK(b != a);                       /* different id */
	CHECK_EQ(c.got[0].id, a);
	CHECK_EQ(c.got[1].id, b);
	CHECK_EQ(stat_of(one, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(rk_ring_close(one), 0);

	/* A callback may reap itself: it takes what dispatch would have had. */
	for (int i = 0; i < 4; i++)
		ids[i] = rk_prep_nop(ring, 0);
	CHECK_EQ(rk_submit(ring), 4);
	memset(&c, 0, sizeof(c));
	c.ring = ring;
	c.reap_in_cb = 1;
	CHECK_EQ(rk_reap_dispatch(ring, on_cqe, &c, 16, 0, 0), 1);
	CHECK_EQ(c.reaped_inside, 3);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);

	/* max 0 only submits. */
	uint64_t before = stat_of(ring, RK_STAT_SUBMITTED);
	int64_t n1 = rk_prep_nop(ring, 0);
	memset(&c, 0, sizeof(c));
	CHECK_EQ(rk_reap_dispatch(ring, on_cqe, &c, 0, 0, 0), 0);
	CHECK_EQ(c.n, 0);
	CHECK_EQ(stat_of(ring, RK_STAT_SUBMITTED), before + 1);
	CHECK_EQ(run_one(ring, n1), 0);

	/* wait_nr waits for a timeout op; timeout_ns bounds the wait. */
	int64_t t = rk_prep_timeout(ring, 30000000, 0, 0, 0);
	memset(&c, 0, sizeof(c));
	int64_t t0 = now_ms();
	CHECK_EQ(rk_reap_dispatch(ring, on_cqe, &c, 4, 1, -1), 1);
	CHECK(now_ms() - t0 >= 25);
	CHECK_EQ(c.got[0].id, t);
	CHECK_EQ(c.got[0].res, -ETIME);

	t = rk_prep_timeout(ring, 10000000000LL, 0, 0, 0);
	memset(&c, 0, sizeof(c));
	t0 = now_ms();
	CHECK_EQ(rk_reap_dispatch(ring, on_cqe, &c, 4, 1, 0), 0); /* no waiting */
	CHECK_EQ(rk_reap_dispatch(ring, on_cqe, &c, 4, 1, 40000000), 0);
	int64_t waited = now_ms() - t0;
	CHECK(waited >= 35 && waited < 5000);

	/* A signal interrupts the wait: -EINTR, and the op stays live. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {.it_value = {.tv_usec = 30000}};
	setitimer(ITIMER_REAL, &it, NULL);
	CHECK_EQ(rk_reap_dispatch(ring, on_cqe, &c, 4, 1, -1), -EINTR);
	CHECK_EQ(c.n, 0);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 1);
	CHECK_EQ(rk_cancel_sync(ring, t, 1000000000), 0);
	CHECK_EQ(rk_reap_dispatch(ring, on_cqe, &c, 4, 1, 1000000000), 1);
	CHECK_EQ(c.got[0].id, t);
	CHECK_EQ(c.got[0].res, -ECANCELED);

	/* Multishot: every MORE completion is dispatched, then the final one. */
	int p[2];
	make_pipe(p);
	int64_t pm = rk_prep_poll_multishot(ring, p[0], POLLIN, 0);
	CHECK(pm >= 0);
	CHECK_EQ(rk_submit(ring), 1);
	CHECK_EQ(write(p[1], "x", 1), 1);
	memset(&c, 0, sizeof(c));
	CHECK_EQ(rk_reap_dispatch(ring, on_cqe, &c, 4, 1, 1000000000), 1);
	CHECK_EQ(c.got[0].id, pm);
	CHECK(c.got[0].flags & RK_CQE_F_MORE);
	CHECK(c.got[0].res & POLLIN);
	CHECK(rk_prep_poll_remove(ring, pm, 0) >= 0);
	CHECK_EQ(rk_reap_dispatch(ring, on_cqe, &c, 4, 2, 1000000000), 2);
	int finals = 0;
	for (int i = 1; i < c.n; i++)
		if (c.got[i].id == pm) {
			CHECK(!(c.got[i].flags & RK_CQE_F_MORE));
			CHECK_EQ(c.got[i].res, -ECANCELED);
			finals++;
		}
	CHECK_EQ(finals, 1);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	close_pair(p);

	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
