/* rk_cancel_sync of an op the kernel has not taken: the ring completes it
 * with -ECANCELED itself and answers 0 (never -EAGAIN), as rk_ring_cancel_all
 * does for unsubmitted ops. An RK_LINK from it takes the rest of its chain
 * along (the kernel's rule for a failed link), an RK_HARDLINK does not, and
 * the ops around it run as prepared.
 *
 * Both backends: ops staged behind a full SQ are cancelled (the fallback
 * takes every staged op at submit, so there it is an ordinary cancel). On
 * io_uring the kernel is also made to refuse every submit (the seam of
 * tests/c/fault.c): the targets then stay in the overflow queue, or in SQ
 * entries the kernel never consumed, and only the ring can cancel them. */
#include "check.h"
#include "fault.h"

#define MAX 64

struct expect {
	int64_t id;
	int32_t res;
};

/* Reaps n completions and checks each against the expected results. */
static void reap_expect(rk_ring *ring, const struct expect *want, int n)
{
	rk_cqe c[MAX];
	reap_n(ring, c, n);
	for (int i = 0; i < n; i++) {
		int found = 0;
		for (int j = 0; j < n; j++)
			if (want[j].id == c[i].id) {
				if (c[i].res != want[j].res) {
					fprintf(stderr, "op %d: res %d, expected %d\n", j, c[i].res,
					        want[j].res);
					exit(1);
				}
				found = 1;
			}
		CHECK(found);
	}
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
}

/* Reads on an empty pipe, two in the SQ and two staged; the last one is
 * cancelled. */
static void staged_read(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create_ex(2, 0, 0, 16, 0, &ring), 0);
	int p[2];
	CHECK_EQ(pipe(p), 0);
	char buf[4][8];
	int64_t ids[4];
	for (int i = 0; i < 4; i++)
		CHECK((ids[i] = rk_prep_read(ring, p[0], buf[i], 8, -1, 0)) >= 0);
	CHECK_EQ(stat_of(ring, RK_STAT_OVERFLOW_QUEUE), 2);
	CHECK_EQ(rk_cancel_sync(ring, ids[3], -1), 0);
	CHECK_EQ(reap_one(ring).id, ids[3]);
	CHECK_EQ(rk_ring_cancel_all(ring), 3);
	struct expect want[3] = {{ids[0], -ECANCELED}, {ids[1], -ECANCELED}, {ids[2], -ECANCELED}};
	reap_expect(ring, want, 3);
	CHECK_EQ(rk_ring_close(ring), 0);
	close(p[0]);
	close(p[1]);
}

static void add(struct expect *want, int *n, int64_t id, int32_t res)
{
	CHECK(id >= 0);
	want[*n].id = id;
	want[*n].res = res;
	(*n)++;
}

#define NOP(flags, result) add(want, &n, rk_prep_nop(ring, flags), result)

/* An io_uring ring whose submits are all refused (-EBUSY, as a CQ overflow
 * answers), or NULL on the fallback, which has no kernel SQ to refuse. */
static rk_ring *refusing_ring(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create_ex(4, 0, 0, MAX, 0, &ring), 0);
	if (is_fallback(ring)) {
		CHECK_EQ(rk_ring_close(ring), 0);
		return NULL;
	}
	fault_arm(FAULT_ENTER, 1, EBUSY, true);
	return ring;
}

/* io_uring with every submit refused (-EBUSY, as a CQ overflow answers). */
static void refused_submits(void)
{
	rk_ring *ring = refusing_ring();
	if (!ring)
		return;
	struct expect want[MAX];
	int n = 0;
	/* Four in the SQ, published by the refused submit. */
	for (int i = 0; i < 4; i++)
		NOP(0, i == 1 ? -ECANCELED : 0);
	CHECK(rk_submit(ring) >= 0);
	CHECK_EQ(stat_of(ring, RK_STAT_OVERFLOW_QUEUE), 0);
	int64_t in_sq = want[1].id;
	/* Staged: a lone op, a soft chain cancelled in its middle, a hard
	 * chain cancelled in its middle, an open chain cancelled at its head. */
	NOP(0, -ECANCELED);
	int64_t lone = want[n - 1].id;
	NOP(RK_LINK, 0);
	NOP(RK_LINK, -ECANCELED);
	int64_t soft = want[n - 1].id;
	NOP(RK_LINK, -ECANCELED);
	NOP(0, -ECANCELED);
	NOP(0, 0);
	NOP(RK_HARDLINK, 0);
	NOP(RK_HARDLINK, -ECANCELED);
	int64_t hard = want[n - 1].id;
	NOP(0, 0);
	NOP(RK_LINK, -ECANCELED);
	int64_t open = want[n - 1].id;
	CHECK_EQ(stat_of(ring, RK_STAT_OVERFLOW_QUEUE), (uint64_t)n - 4);

	CHECK_EQ(rk_cancel_sync(ring, in_sq, 0), 0);
	CHECK_EQ(rk_cancel_sync(ring, lone, 0), 0);
	CHECK_EQ(rk_cancel_sync(ring, soft, 0), 0);
	CHECK_EQ(rk_cancel_sync(ring, hard, 0), 0);
	CHECK_EQ(rk_cancel_sync(ring, open, 0), 0);
	CHECK(fault_fired() > 0);
	/* The open chain ended with its cancel: this one stands alone. */
	NOP(0, 0);
	fault_disarm();
	reap_expect(ring, want, n);
	CHECK_EQ(rk_ring_close(ring), 0);
}

/* A soft chain that starts in the SQ (held back unpublished, as its rest
 * waits staged) and is cancelled in its middle: the rest goes, across both
 * queues, and the op before it runs alone. */
static void chain_across(void)
{
	rk_ring *ring = refusing_ring();
	if (!ring)
		return;
	struct expect want[MAX];
	int n = 0;
	NOP(0, 0);
	/* Fails: were it still linked to the last op, that would be cancelled. */
	char buf[1];
	CHECK_EQ(fcntl(999, F_GETFD), -1);
	add(want, &n, rk_prep_read(ring, 999, buf, 1, 0, RK_LINK), -EBADF);
	NOP(RK_LINK, -ECANCELED);
	int64_t target = want[n - 1].id;
	NOP(RK_LINK, -ECANCELED); /* the last of the SQ */
	NOP(0, -ECANCELED);       /* staged: the chain's end */
	NOP(0, 0);
	CHECK_EQ(stat_of(ring, RK_STAT_OVERFLOW_QUEUE), 2);
	CHECK(rk_submit(ring) >= 0);
	CHECK_EQ(rk_cancel_sync(ring, target, 0), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_OVERFLOW_QUEUE), 1);
	fault_disarm();
	reap_expect(ring, want, n);
	CHECK_EQ(rk_ring_close(ring), 0);
}

/* SQPOLL: a target the poll thread has yet to take from the SQ is waited
 * for (within the timeout), then cancelled in the kernel. */
static void sqpoll(void)
{
	rk_ring *ring;
	if (rk_ring_create(4, RK_RING_SQPOLL, &ring) < 0)
		return; /* not allowed here: nothing to test */
	int p[2];
	CHECK_EQ(pipe(p), 0);
	char buf[8];
	for (int round = 0; round < 20; round++) {
		int64_t id = rk_prep_read(ring, p[0], buf, sizeof(buf), -1, 0);
		CHECK(id >= 0);
		CHECK_EQ(rk_cancel_sync(ring, id, -1), 0);
		struct expect want = {id, -ECANCELED};
		reap_expect(ring, &want, 1);
	}
	CHECK_EQ(rk_ring_close(ring), 0);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	staged_read();
	refused_submits();
	chain_across();
	sqpoll();
	return 0;
}
