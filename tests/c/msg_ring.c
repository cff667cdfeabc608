/* Messages between rings: two threads, one ring each. The main thread
 * steers work items to a worker blocked in rk_reap with nothing of its own
 * in flight (RK_RING_MSG_TARGET); the worker answers each through the main
 * ring. Messages arrive as records with negative ids carrying the sender's
 * value and res, free no slot, and never disturb the target's own ops. */
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"

#define ITEMS 2000
#define STOP  RK_MSG_VALUE_MAX

static pthread_barrier_t ready;
static atomic_int worker_fd = -1;
static int main_fd;

static int64_t value_of(const rk_cqe *c)
{
	CHECK(c->id < 0);
	return c->id & RK_MSG_VALUE_MASK;
}

/* Squares each item and sends it back; counts its own send completions. */
static void *worker(void *arg)
{
	(void)arg;
	rk_ring *ring = create_ring(64, RK_RING_DEFER_TASKRUN | RK_RING_MSG_TARGET);
	atomic_store(&worker_fd, rk_ring_fd(ring));
	pthread_barrier_wait(&ready);
	int sent = 0, acked = 0, stop = 0;
	while (!stop || acked < sent) {
		rk_cqe c[32];
		int n = rk_reap(ring, c, 32, 1, -1); /* blocks: nothing else is live */
		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			if (c[i].id >= 0) { /* our own reply's completion */
				CHECK_EQ(c[i].res, 0);
				acked++;
				continue;
			}
			CHECK_EQ(c[i].flags, 0);
			int64_t v = value_of(&c[i]);
			if (v == STOP) {
				stop = 1;
				continue;
			}
			CHECK_EQ(c[i].res, (int32_t)(v * 3));
			/* At most 32 items are in flight: the table has room. */
			CHECK(rk_prep_msg_ring(ring, main_fd, v, (int32_t)(v * v), 0) >= 0);
			sent++;
		}
	}
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	return NULL;
}

int main(void)
{
	rk_ring *ring = create_ring(64, RK_RING_MSG_TARGET);
	require_op(ring, "IORING_OP_MSG_RING", "Linux 5.18+");
	main_fd = rk_ring_fd(ring);

	/* A message to ourselves, next to a live op of ours that it must not
	 * touch. */
	int p[2];
	make_pipe(p);
	char b[4];
	int64_t rd = rk_prep_read(ring, p[0], b, sizeof(b), -1, 0);
	int64_t self = rk_prep_msg_ring(ring, main_fd, 42, -7, 0);
	CHECK(rd >= 0 && self >= 0);
	rk_cqe c[64];
	reap_n(ring, c, 2);
	int seen = 0;
	for (int i = 0; i < 2; i++) {
		if (c[i].id == self) {
			CHECK_EQ(c[i].res, 0);
			seen |= 1;
		} else {
			CHECK_EQ(value_of(&c[i]), 42);
			CHECK_EQ(c[i].res, -7);
			seen |= 2;
		}
	}
	CHECK_EQ(seen, 3);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 1); /* the read is still live */
	CHECK_EQ(write(p[1], "abc", 3), 3);
	CHECK_EQ(run_one(ring, rd), 3);
	/* The largest value, and a cancel naming a message id finds no op. */
	int64_t big = rk_prep_msg_ring(ring, main_fd, RK_MSG_VALUE_MAX - 1, 1, 0);
	reap_n(ring, c, 2);
	CHECK(c[0].id == big || c[1].id == big);
	const rk_cqe *m = c[0].id == big ? &c[1] : &c[0];
	CHECK_EQ(value_of(m), RK_MSG_VALUE_MAX - 1);
	CHECK_EQ(rk_prep_cancel(ring, m->id, 0), -ENOENT);

	/* Errors: not a ring (in the completion); bad values and fds here. */
	CHECK_EQ(run_one(ring, rk_prep_msg_ring(ring, p[0], 1, 0, 0)), -EBADFD);
	CHECK_EQ(rk_prep_msg_ring(NULL, main_fd, 1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_msg_ring(ring, -1, 1, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_msg_ring(ring, main_fd, -1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_msg_ring(ring, main_fd, INT64_MAX, 0, 0), -EINVAL);

	/* Without RK_RING_MSG_TARGET an idle ring never waits. */
	rk_ring *plain;
	CHECK_EQ(rk_ring_create(4, 0, &plain), 0);
	CHECK_EQ(rk_reap(plain, c, 1, 1, -1), 0);
	CHECK_EQ(rk_ring_close(plain), 0);

	/* Two threads passing work. */
	pthread_t t;
	CHECK_EQ(pthread_barrier_init(&ready, NULL, 2), 0);
	CHECK_EQ(pthread_create(&t, NULL, worker, NULL), 0);
	pthread_barrier_wait(&ready);
	int wfd = atomic_load(&worker_fd);
	static unsigned char replied[ITEMS];
	int sent = 0, acked = 0, replies = 0;
	while (replies < ITEMS || acked < sent) {
		/* Keep up to 32 items in flight towards the worker. */
		while (sent < ITEMS && sent - replies < 32) {
			int64_t id = rk_prep_msg_ring(ring, wfd, sent, sent * 3, 0);
			if (id == -EBUSY)
				break;
			CHECK(id >= 0);
			sent++;
		}
		int n = rk_reap(ring, c, 64, 1, 5000000000LL);
		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			if (c[i].id >= 0) {
				CHECK_EQ(c[i].res, 0);
				acked++;
				continue;
			}
			int64_t v = value_of(&c[i]);
			CHECK(v >= 0 && v < ITEMS);
			CHECK(!replied[v]);
			replied[v] = 1;
			CHECK_EQ(c[i].res, (int32_t)(v * v));
			replies++;
		}
	}
	CHECK_EQ(run_one(ring, rk_prep_msg_ring(ring, wfd, STOP, 0, 0)), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	/* Messages are CQEs but not completions of ours. */
	CHECK(stat_of(ring, RK_STAT_CQES) >= stat_of(ring, RK_STAT_COMPLETED) + ITEMS);

	close_pair(p);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
