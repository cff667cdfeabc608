/* rk_ring_resize: a DEFER_TASKRUN ring grows and shrinks while ops are in
 * flight, queued and unsubmitted, and completed but unreaped: every op
 * completes exactly once, with its own result, and the new queues carry new
 * ops. Refused cleanly: bad sizes (-EINVAL), a ring without DEFER_TASKRUN
 * (-EOPNOTSUPP), a CQ smaller than the ops still to complete or a chain
 * being prepared (-EBUSY, nothing changed), a restrictable ring (-EBADFD,
 * then -EACCES), a child of fork() (-ECHILD), more multishot completions
 * waiting than the new CQ holds (-EBUSY). Both backends alike; skips
 * where the kernel lacks it (Linux 6.13). */
#include <sys/socket.h>
#include <sys/wait.h>

#include "check.h"

#define MAXIDS 256

struct expect {
	int64_t id[MAXIDS];
	int32_t res[MAXIDS];
	int seen[MAXIDS];
	int n;
};

static void expect(struct expect *e, int64_t id, int32_t res)
{
	CHECK(id >= 0);
	CHECK(e->n < MAXIDS);
	e->id[e->n] = id;
	e->res[e->n] = res;
	e->seen[e->n] = 0;
	e->n++;
}

/* Prepares n NOPs, each expected to complete with 0. */
static void expect_nops(rk_ring *ring, struct expect *e, int n)
{
	for (int i = 0; i < n; i++)
		expect(e, rk_prep_nop(ring, 0), 0);
}

/* Reaps exactly n completions of expected ops, each of an op not seen yet
 * and with its own result. */
static void reap_expected(rk_ring *ring, struct expect *e, int n)
{
	rk_cqe c[MAXIDS];
	CHECK(n <= MAXIDS);
	reap_n(ring, c, n);
	for (int k = 0; k < n; k++) {
		int i = 0;
		while (i < e->n && e->id[i] != c[k].id)
			i++;
		CHECK(i < e->n);
		CHECK_EQ(e->seen[i], 0);
		CHECK_EQ(c[k].res, e->res[i]);
		e->seen[i] = 1;
	}
}

/* Reaps until every expected op has completed, exactly once; nothing else
 * may arrive. */
static void reap_all(rk_ring *ring, struct expect *e)
{
	int left = 0;
	for (int i = 0; i < e->n; i++)
		left += !e->seen[i];
	reap_expected(ring, e, left);
	rk_cqe c;
	CHECK_EQ(rk_reap(ring, &c, 1, 0, 0), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	e->n = 0;
}

static void sizes_are(rk_ring *ring, uint64_t sq, uint64_t cq)
{
	CHECK_EQ(stat_of(ring, RK_STAT_SQ_ENTRIES), sq);
	CHECK_EQ(stat_of(ring, RK_STAT_CQ_ENTRIES), cq);
}

/* A multishot receive's completions are many per op: when more wait in the
 * CQ than the new one holds, the resize is refused; they are carried over
 * whole into one that holds them, in order. */
static void multishot_waiting(void)
{
	rk_ring *ring = create_ring(8, RK_RING_DEFER_TASKRUN);
	rk_region *rg;
	CHECK_EQ(rk_region_create(64, 16, 0, &rg), 0);
	CHECK_EQ(rk_ring_provide_region(ring, rg, 1), 1);
	int sv[2];
	make_socketpair(SOCK_DGRAM | SOCK_CLOEXEC, sv);
	int64_t ms = rk_prep_recv_multishot(ring, sv[1], 1, 0, 0);
	CHECK(ms >= 0);
	CHECK_EQ(rk_submit(ring), 1);
	for (unsigned char i = 0; i < 6; i++)
		CHECK_EQ(write(sv[0], &i, 1), 1);
	/* Until the receive has posted more than 4 (the fallback's thread, or
	 * the kernel's task work, may lag): a resize that went through
	 * changed nothing anyone can see. */
	int busy = 0;
	for (int tries = 0; tries < 200 && !busy; tries++) {
		rk_submit(ring);
		int r = rk_ring_resize(ring, 2, 4);
		CHECK(r == 0 || r == -EBUSY);
		busy = r == -EBUSY;
		if (!busy)
			usleep(10000);
	}
	CHECK(busy);
	CHECK_EQ(rk_ring_resize(ring, 8, 16), 0);
	rk_cqe c[6];
	reap_n(ring, c, 6);
	for (int i = 0; i < 6; i++) {
		CHECK_EQ(c[i].id, ms);
		CHECK_EQ(c[i].res, 1);
		CHECK(c[i].flags & RK_CQE_F_MORE);
		int32_t chunk = (int32_t)(c[i].flags >> RK_CQE_BUFFER_SHIFT);
		CHECK_EQ(*(unsigned char *)rk_chunk_ptr(rg, chunk), i);
		CHECK_EQ(rk_ring_recycle_chunk(ring, rg, chunk), 0);
	}
	CHECK_EQ(rk_cancel_sync(ring, ms, -1), 0);
	rk_cqe last = reap_one(ring);
	CHECK_EQ(last.id, ms);
	CHECK_EQ(last.res, -ECANCELED);
	close_pair(sv);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_region_destroy(rg), 0);
}

int main(void)
{
	/* Without DEFER_TASKRUN: refused, whatever the kernel can do. */
	rk_ring *plain = create_ring(8, 0);
	CHECK_EQ(rk_ring_resize(plain, 16, 0), -EOPNOTSUPP);
	sizes_are(plain, 8, 16);
	CHECK_EQ(rk_ring_close(plain), 0);
	CHECK_EQ(rk_ring_resize(NULL, 16, 0), -EINVAL);

	rk_ring *ring = create_ring(8, RK_RING_DEFER_TASKRUN);
	int has = rk_ring_feature(ring, RK_FEATURE_RESIZE);
	CHECK(has == 0 || has == 1);
	if (!has) {
		CHECK_EQ(rk_ring_resize(ring, 16, 0), -EOPNOTSUPP);
		CHECK_EQ(rk_ring_close(ring), 0);
		SKIP("kernel without IORING_REGISTER_RESIZE_RINGS (Linux 6.13)");
	}
	uint64_t capacity = stat_of(ring, RK_STAT_CAPACITY);
	CHECK_EQ(capacity, 32);

	/* Bad sizes. */
	CHECK_EQ(rk_ring_resize(ring, 0, 0), -EINVAL);
	CHECK_EQ(rk_ring_resize(ring, 16, 8), -EINVAL);      /* CQ below SQ */
	CHECK_EQ(rk_ring_resize(ring, 65536, 0), -EINVAL);   /* beyond the SQ limit */
	CHECK_EQ(rk_ring_resize(ring, 8, 1u << 20), -EINVAL);/* beyond the CQ limit */
	CHECK_EQ(rk_ring_resize(ring, 64, 0), -EINVAL);      /* beyond the op table */
	sizes_are(ring, 8, 16);
	CHECK_EQ(rk_ring_resize(ring, 5, 9), 0);             /* rounded up */
	sizes_are(ring, 8, 16);

	struct expect e = {.n = 0};
	int p[2][2];
	make_pipe(p[0]);
	make_pipe(p[1]);
	static char buf[4][16];

	/* Grow, with four kinds of ops in the ring: reads in flight on
	 * empty pipes, NOPs completed and unreaped, NOPs submitted, and NOPs
	 * prepared beyond the SQ (the overflow queue). */
	for (int i = 0; i < 2; i++)
		expect(&e, rk_prep_read(ring, p[i][0], buf[i], 5, -1, 0), 5);
	expect_nops(ring, &e, 4);
	CHECK_EQ(rk_submit(ring), 6);
	expect_nops(ring, &e, 10);
	CHECK(stat_of(ring, RK_STAT_OVERFLOW_QUEUE) > 0);
	CHECK_EQ(rk_ring_resize(ring, 32, 64), 0);
	sizes_are(ring, 32, 64);
	CHECK_EQ(stat_of(ring, RK_STAT_OVERFLOW_QUEUE), 0); /* submitted first */
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 16);
	/* The new SQ takes a whole SQ-full at once. */
	expect_nops(ring, &e, 14);
	CHECK_EQ(stat_of(ring, RK_STAT_OVERFLOW_QUEUE), 0);
	CHECK_EQ(write(p[0][1], "hello", 5), 5);
	CHECK_EQ(write(p[1][1], "world", 5), 5);
	reap_all(ring, &e);
	CHECK_EQ(memcmp(buf[0], "hello", 5), 0);
	CHECK_EQ(memcmp(buf[1], "world", 5), 0);

	/* Shrinking below the ops still to complete is refused, nothing
	 * changed; with fewer it succeeds and they complete. */
	for (int i = 0; i < 2; i++)
		expect(&e, rk_prep_read(ring, p[i][0], buf[i + 2], 3, -1, 0), 3);
	expect_nops(ring, &e, 8);
	CHECK_EQ(rk_submit(ring), 10);
	CHECK_EQ(rk_ring_resize(ring, 4, 8), -EBUSY);
	sizes_are(ring, 32, 64);
	reap_expected(ring, &e, 8); /* the NOPs: the reads wait for data */
	expect_nops(ring, &e, 1);
	CHECK_EQ(rk_submit(ring), 1);
	CHECK_EQ(rk_ring_resize(ring, 2, 0), 0);
	sizes_are(ring, 2, 4);
	/* More ops than the new SQ: the overflow queue takes the rest. */
	expect_nops(ring, &e, 5);
	CHECK_EQ(write(p[0][1], "abc", 3), 3);
	CHECK_EQ(write(p[1][1], "xyz", 3), 3);
	reap_all(ring, &e);
	CHECK_EQ(memcmp(buf[2], "abc", 3), 0);
	CHECK_EQ(memcmp(buf[3], "xyz", 3), 0);

	/* A chain being prepared is not cut by the resize's submit. */
	CHECK_EQ(rk_ring_resize(ring, 8, 0), 0);
	int64_t a = rk_prep_nop(ring, RK_LINK);
	CHECK(a >= 0);
	CHECK_EQ(rk_ring_resize(ring, 16, 0), -EBUSY);
	expect(&e, a, 0);
	expect_nops(ring, &e, 1);
	CHECK_EQ(rk_ring_resize(ring, 16, 0), 0);
	sizes_are(ring, 16, 32);
	reap_all(ring, &e);

	/* A CQ far larger than the op table, completions waiting: they come
	 * through (the fallback grows its record queue to match). */
	expect_nops(ring, &e, 3);
	CHECK_EQ(rk_submit(ring), 3);
	CHECK_EQ(rk_ring_resize(ring, 16, 4096), 0);
	sizes_are(ring, 16, 4096);
	expect_nops(ring, &e, 20);
	reap_all(ring, &e);

	/* A child of fork() owns none of it. */
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		child_exit(rk_ring_resize(ring, 8, 0) == -ECHILD ? 0 : 1);
	CHECK_EQ(wait_exit(pid), 0);
	sizes_are(ring, 16, 4096);
	CHECK_EQ(rk_ring_close(ring), 0);

	/* A restrictable ring: not before rk_ring_restrict, not after. */
	rk_ring *rr = create_ring(8, RK_RING_DEFER_TASKRUN | RK_RING_RESTRICTABLE);
	CHECK_EQ(rk_ring_resize(rr, 16, 0), -EBADFD);
	uint32_t ops[] = {RK_OP_NOP};
	CHECK_EQ(rk_ring_restrict(rr, ops, 1, 0), 0);
	CHECK_EQ(rk_ring_resize(rr, 16, 0), -EACCES);
	CHECK_EQ(rk_ring_close(rr), 0);

	for (int i = 0; i < 2; i++)
		close_pair(p[i]);
	multishot_waiting();
	return 0;
}
