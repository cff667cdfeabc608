/* Cancelling an op that is already running where it may block: an open of
 * a FIFO for writing, which waits for a reader (O_CREAT keeps io_uring from
 * its non-blocking first try: it runs in an io-wq worker, on the fallback in
 * one of its workers). The pair of results is one the contract
 * allows — target -EINTR/-ECANCELED with cancel 0 or -EALREADY, or target
 * success with -EALREADY/-ENOENT — and the target completes exactly once,
 * at the latest when a reader comes. A bounded rk_cancel_sync of such an op
 * returns in about its bound.
 *
 * io_uring interrupts the open in its worker with a signal, and the kernel
 * (6.x) then reports the open's internal -ERESTARTSYS (512) rather than
 * -EINTR: accepted here as "interrupted", it is the kernel's answer. */
#include <sys/stat.h>

#include "check.h"

#define ERESTARTSYS 512 /* the kernel's own, include/linux/errno.h */

static int interrupted(int32_t res)
{
	return res == -EINTR || res == -ECANCELED || res == -ERESTARTSYS;
}

/* A reader for a moment: the pending open completes. */
static void unblock(const char *fifo)
{
	int r = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (r >= 0) {
		usleep(20000);
		close(r);
	}
}

static void check_pair(rk_ring *ring, int64_t target, int64_t cancel, const char *fifo)
{
	rk_cqe c[2];
	int got = 0, tres = 0, cres = 0, seen_t = 0, seen_c = 0;
	for (int tries = 0; got < 2 && tries < 200; tries++) {
		int n = rk_reap(ring, c, 2, 1, 20000000);
		CHECK(n >= 0);
		for (int i = 0; i < n; i++) {
			if (c[i].id == target) {
				CHECK(!seen_t);
				seen_t = 1;
				tres = c[i].res;
			} else {
				CHECK_EQ(c[i].id, cancel);
				CHECK(!seen_c);
				seen_c = 1;
				cres = c[i].res;
			}
			got++;
		}
		if (seen_c && !seen_t)
			unblock(fifo); /* not stopped: let it finish */
	}
	CHECK_EQ(got, 2);
	fprintf(stderr, "open %d, cancel %d\n", tres, cres);
	if (tres >= 0) {
		close(tres);
		CHECK(cres == -EALREADY || cres == -ENOENT);
	} else {
		CHECK(interrupted(tres));
		CHECK(cres == 0 || cres == -EALREADY);
	}
}

int main(void)
{
	const char *dir = make_tmpdir();
	char fifo[128];
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	CHECK_EQ(mkfifo(fifo, 0600), 0);
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);

	int64_t op = rk_prep_openat(ring, AT_FDCWD, fifo, O_WRONLY | O_CREAT | O_CLOEXEC, 0600, 0);
	CHECK(op >= 0);
	CHECK_EQ(rk_submit(ring), 1);
	rk_cqe c;
	CHECK_EQ(rk_reap(ring, &c, 1, 1, 50000000), 0); /* it waits for a reader */
	int64_t cn = rk_prep_cancel(ring, op, 0);
	CHECK(cn >= 0);
	check_pair(ring, op, cn, fifo);

	/* rk_cancel_sync with a bound: 0 (stopped), -EALREADY (it could not
	 * be stopped and ended), or -ETIME (still running at the bound). */
	op = rk_prep_openat(ring, AT_FDCWD, fifo, O_WRONLY | O_CREAT | O_CLOEXEC, 0600, 0);
	CHECK_EQ(rk_submit(ring), 1);
	CHECK_EQ(rk_reap(ring, &c, 1, 1, 50000000), 0);
	double t0 = now();
	int r = rk_cancel_sync(ring, op, 100000000);
	CHECK(now() - t0 < 2.0);
	fprintf(stderr, "cancel_sync %d\n", r);
	CHECK(r == 0 || r == -EALREADY || r == -ETIME);
	if (r != 0)
		unblock(fifo);
	c = reap_one(ring);
	CHECK_EQ(c.id, op);
	fprintf(stderr, "open %d\n", c.res);
	if (c.res >= 0)
		close(c.res);
	else
		CHECK(interrupted(c.res));
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);

	/* Without O_CREAT both backends open without waiting: a reader at
	 * once, a writer with no reader -ENXIO (io_uring's non-blocking try). */
	int rd = run_one(ring, rk_prep_openat(ring, AT_FDCWD, fifo, O_RDONLY | O_CLOEXEC, 0, 0));
	CHECK(rd >= 0);
	CHECK_EQ(fcntl(rd, F_GETFL) & O_NONBLOCK, 0); /* the try's O_NONBLOCK is gone */
	close(rd);
	CHECK_EQ(run_one(ring, rk_prep_openat(ring, AT_FDCWD, fifo, O_WRONLY | O_CLOEXEC, 0, 0)),
	         -ENXIO);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
