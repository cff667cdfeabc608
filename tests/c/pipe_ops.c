/* Ops on pipes: splice and tee move data between pipes and files, poll
 * reports readiness, poll_remove cancels a poll, and a read on an empty pipe
 * stays pending until data arrives. */
#include <poll.h>

#include "check.h"

int main(void)
{
	const char *dir = make_tmpdir();
	int dfd = open(dir, O_DIRECTORY | O_RDONLY);
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	int p[2], q[2];
	make_pipe(p);
	make_pipe(q);

	/* A read on an empty pipe is pending, then completes with the data. */
	char buf[64];
	int64_t rd = rk_prep_read(ring, p[0], buf, sizeof(buf), -1, 0);
	CHECK(rd >= 0);
	rk_cqe c[8];
	CHECK_EQ(rk_reap(ring, c, 8, 1, 20000000), 0);
	CHECK_EQ(write(p[1], "hello", 5), 5);
	CHECK_EQ(run_one(ring, rd), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);

	/* poll: pending while empty, POLLIN once written. */
	int64_t pl = rk_prep_poll_add(ring, p[0], POLLIN, 0);
	CHECK_EQ(rk_reap(ring, c, 8, 1, 20000000), 0);
	CHECK_EQ(write(p[1], "x", 1), 1);
	CHECK(run_one(ring, pl) & POLLIN);
	CHECK_EQ(read(p[0], buf, 1), 1);
	/* POLLOUT on a writable pipe is immediate. */
	CHECK(run_one(ring, rk_prep_poll_add(ring, p[1], POLLOUT, 0)) & POLLOUT);

	/* poll_remove: the poll ends with -ECANCELED, the remove with 0. */
	pl = rk_prep_poll_add(ring, p[0], POLLIN, 0);
	CHECK(pl >= 0);
	CHECK_EQ(rk_submit(ring), 1);
	int64_t rm = rk_prep_poll_remove(ring, pl, 0);
	CHECK(rm >= 0);
	reap_n(ring, c, 2);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(c[i].res, c[i].id == pl ? -ECANCELED : 0);
	/* The poll's id is stale now. */
	CHECK_EQ(rk_prep_poll_remove(ring, pl, 0), -ENOENT);

	/* splice: pipe -> file at an offset, then file -> pipe. */
	int fd = openat(dfd, "f", O_RDWR | O_CREAT, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(write(p[1], "spliced!", 8), 8);
	CHECK_EQ(run_one(ring, rk_prep_splice(ring, p[0], -1, fd, 100, 8, 0, 0)), 8);
	CHECK_EQ(pread(fd, buf, 8, 100), 8);
	CHECK(memcmp(buf, "spliced!", 8) == 0);
	CHECK_EQ(run_one(ring, rk_prep_splice(ring, fd, 100, q[1], -1, 8, 0, 0)), 8);
	CHECK_EQ(read(q[0], buf, 8), 8);
	CHECK(memcmp(buf, "spliced!", 8) == 0);

	/* tee: duplicates pipe data without consuming it. */
	CHECK_EQ(write(p[1], "teedata", 7), 7);
	CHECK_EQ(run_one(ring, rk_prep_tee(ring, p[0], q[1], 7, 0, 0)), 7);
	CHECK_EQ(read(q[0], buf, 7), 7);
	CHECK(memcmp(buf, "teedata", 7) == 0);
	CHECK_EQ(read(p[0], buf, 7), 7); /* still there in the source */
	CHECK(memcmp(buf, "teedata", 7) == 0);
	CHECK_EQ(run_one(ring, rk_prep_tee(ring, fd, q[1], 7, 0, 0)), -EINVAL); /* not pipes */

	CHECK_EQ(rk_prep_splice(ring, -1, -1, fd, 0, 1, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_splice(ring, p[0], -2, fd, 0, 1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_tee(ring, p[0], -1, 1, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_poll_add(ring, -1, POLLIN, 0), -EBADF);

	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
