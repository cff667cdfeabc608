/* Messages between rings of different backends (ringkit.h, "Backends"):
 * fallback to fallback, io_uring to fallback (posted when the sender
 * prepares it) and fallback to io_uring (through the kernel). A target
 * blocked in rk_reap with nothing of its own in flight (RK_RING_MSG_TARGET)
 * wakes for each. A descriptor that is not a ring answers -EBADFD, as the
 * kernel does. */
#include <pthread.h>

#include "check.h"

static int64_t value_of(const rk_cqe *c)
{
	CHECK(c->id < 0);
	return c->id & RK_MSG_VALUE_MASK;
}

/* Sends `value` from `from` to target_fd (or slot) and checks the sender's
 * completion. */
static void send_msg(rk_ring *from, int target, int64_t value, int32_t res, uint32_t flags,
                     int32_t want)
{
	CHECK_EQ(run_one(from, rk_prep_msg_ring(from, target, value, res, flags)), want);
}

static void expect_msg(rk_ring *to, int64_t value, int32_t res)
{
	rk_cqe c = reap_one(to);
	CHECK_EQ(value_of(&c), value);
	CHECK_EQ(c.res, res);
	CHECK_EQ(c.flags, 0);
}

struct waiter {
	rk_ring *ring;
	int64_t got;
};

static void *wait_one(void *arg)
{
	struct waiter *w = arg;
	rk_cqe c;
	CHECK_EQ(rk_reap(w->ring, &c, 1, 1, -1), 1); /* nothing of its own is live */
	w->got = value_of(&c);
	return NULL;
}

int main(void)
{
	rk_ring *fa, *fb;
	CHECK_EQ(rk_ring_create(8, RK_RING_FALLBACK | RK_RING_MSG_TARGET, &fa), 0);
	CHECK_EQ(rk_ring_create(8, RK_RING_FALLBACK | RK_RING_MSG_TARGET, &fb), 0);

	/* fallback -> fallback, and to itself. */
	send_msg(fa, rk_ring_fd(fb), 1, 11, 0, 0);
	expect_msg(fb, 1, 11);
	int64_t self = rk_prep_msg_ring(fa, rk_ring_fd(fa), 2, -2, 0);
	rk_cqe two[2];
	reap_n(fa, two, 2);
	for (int i = 0; i < 2; i++) {
		if (two[i].id == self) {
			CHECK_EQ(two[i].res, 0);
		} else {
			CHECK_EQ(value_of(&two[i]), 2);
			CHECK_EQ(two[i].res, -2);
		}
	}

	/* A waiter blocked in rk_reap wakes for the message. */
	struct waiter w = {.ring = fb, .got = -1};
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, wait_one, &w), 0);
	usleep(20000);
	send_msg(fa, rk_ring_fd(fb), 3, 0, 0, 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(w.got, 3);

	/* A file table never holds a ring (the kernel refuses ring fds there),
	 * so a fixed-file target is never one: -EBADFD, or -EBADF when empty. */
	CHECK_EQ(rk_ring_register_files(fa, 2), 0);
	int32_t fds[1] = {rk_ring_fd(fb)};
	CHECK_EQ(rk_ring_update_files(fa, 0, fds, 1), -EBADF);
	int pp[2];
	make_pipe(pp);
	fds[0] = pp[0];
	CHECK_EQ(rk_ring_update_files(fa, 0, fds, 1), 1);
	close_pair(pp);
	send_msg(fa, 0, 4, 44, RK_FIXED_FILE, -EBADFD);
	send_msg(fa, 1, 4, 44, RK_FIXED_FILE, -EBADF); /* an empty slot */

	/* Not a ring. */
	int p[2];
	make_pipe(p);
	send_msg(fa, p[0], 5, 0, 0, -EBADFD);

	rk_ring *ur;
	if (rk_ring_create(8, RK_RING_NO_FALLBACK | RK_RING_MSG_TARGET, &ur) == 0) {
		/* io_uring -> fallback: posted when prepared, the op completes at once. */
		send_msg(ur, rk_ring_fd(fb), 6, 66, 0, 0);
		expect_msg(fb, 6, 66);
		/* fallback -> io_uring: the kernel posts it. */
		send_msg(fa, rk_ring_fd(ur), 7, 77, 0, 0);
		expect_msg(ur, 7, 77);
		/* ... so a target closed before the sender reaps had it. */
		rk_ring *gone;
		CHECK_EQ(rk_ring_create(8, RK_RING_FALLBACK, &gone), 0);
		int gone_fd = rk_ring_fd(gone);
		int64_t id = rk_prep_msg_ring(ur, gone_fd, 8, 0, 0);
		CHECK(id >= 0);
		CHECK_EQ(stat_of(gone, RK_STAT_INFLIGHT), 0);
		rk_cqe m;
		CHECK_EQ(rk_reap(gone, &m, 1, 0, 0), 1);
		CHECK_EQ(value_of(&m), 8);
		CHECK_EQ(rk_ring_close(gone), 0);
		CHECK_EQ(run_one(ur, id), 0);
		send_msg(ur, gone_fd, 8, 0, 0, -EBADF); /* no descriptor any more */
		/* A fallback waiter woken by an io_uring sender. */
		w = (struct waiter){.ring = fb, .got = -1};
		CHECK_EQ(pthread_create(&t, NULL, wait_one, &w), 0);
		usleep(20000);
		send_msg(ur, rk_ring_fd(fb), 9, 0, 0, 0);
		CHECK_EQ(pthread_join(t, NULL), 0);
		CHECK_EQ(w.got, 9);
		CHECK_EQ(rk_ring_close(ur), 0);
	} else {
		fprintf(stderr, "io_uring is refused here: mixed-backend messages not tried\n");
	}

	/* A closed ring's fd is no descriptor any more. */
	int fb_fd = rk_ring_fd(fb);
	CHECK_EQ(rk_ring_close(fb), 0);
	send_msg(fa, fb_fd, 10, 0, 0, -EBADF);
	CHECK_EQ(stat_of(fa, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(rk_ring_close(fa), 0);
	close_pair(p);
	return 0;
}
