/* The registered file table: sparse registration, range updates (set,
 * clear, skip), ops naming slots with RK_FIXED_FILE, direct open / accept /
 * multishot accept / socket into a given or any free slot (no fd is ever
 * allocated: the process's fd count does not move), closing a slot,
 * installing a slot as a normal fd, a full table, unregistering, the batch
 * path, and every refusal. */
#include <signal.h>
#include <sys/stat.h>

#include "check.h"

#define SLOTS 8

static rk_ring *ring;

static void test_update_and_fixed_ops(void)
{
	int p[2];
	make_pipe(p);
	int32_t fds[2] = {p[1], p[0]};
	CHECK_EQ(rk_ring_update_files(ring, 0, fds, 2), 2);
	close(p[0]); /* the table holds its own references */
	close(p[1]);
	char b[8];
	CHECK_EQ(run_one(ring, rk_prep_write(ring, 0, "fixed", 5, -1, RK_FIXED_FILE)), 5);
	CHECK_EQ(run_one(ring, rk_prep_read(ring, 1, b, sizeof(b), -1, RK_FIXED_FILE)), 5);
	CHECK(memcmp(b, "fixed", 5) == 0);

	/* Skip keeps slot 0, -1 empties slot 1: that dropped the last
	 * reference to the read end, so the write end still in slot 0 sees a
	 * broken pipe (an empty slot would be -EBADF). */
	int32_t upd[2] = {RK_FILES_SKIP, -1};
	CHECK_EQ(rk_ring_update_files(ring, 0, upd, 2), 2);
	signal(SIGPIPE, SIG_IGN);
	CHECK_EQ(run_one(ring, rk_prep_write(ring, 0, "x", 1, -1, RK_FIXED_FILE)), -EPIPE);
	CHECK_EQ(run_one(ring, rk_prep_read(ring, 1, b, 1, -1, RK_FIXED_FILE)), -EBADF);
	CHECK_EQ(run_one(ring, rk_prep_close_fixed(ring, 0, 0)), 0);
	CHECK_EQ(run_one(ring, rk_prep_close_fixed(ring, 0, 0)), -EBADF); /* already empty */

	CHECK_EQ(rk_ring_update_files(ring, SLOTS - 1, fds, 2), -EINVAL);
	CHECK_EQ(rk_ring_update_files(ring, SLOTS + 1, fds, 0), -EINVAL);
	CHECK_EQ(rk_ring_update_files(ring, 0, NULL, 1), -EFAULT);
	CHECK_EQ(rk_ring_update_files(ring, 0, NULL, 0), 0);
	int32_t badfd[1] = {999};
	CHECK_EQ(rk_ring_update_files(ring, 0, badfd, 1), -EBADF);
}

static void test_open_direct(const char *dir)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/data", dir);
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK_EQ(write(fd, "direct!", 7), 7);
	close(fd);

	int before = count_fds();
	CHECK_EQ(run_one(ring, rk_prep_openat_direct(ring, AT_FDCWD, path, O_RDONLY, 0, 2, 0)), 0);
	int32_t slot = run_one(ring, rk_prep_openat_direct(ring, AT_FDCWD, path, O_RDONLY, 0,
	                                                    RK_FILE_INDEX_ALLOC, 0));
	CHECK(slot >= 0 && slot < SLOTS && slot != 2);
	CHECK_EQ(count_fds(), before + table_fds(ring, 2));
	char b[8];
	CHECK_EQ(run_one(ring, rk_prep_read(ring, 2, b, sizeof(b), 0, RK_FIXED_FILE)), 7);
	CHECK(memcmp(b, "direct!", 7) == 0);
	CHECK_EQ(run_one(ring, rk_prep_read(ring, slot, b, 3, 4, RK_FIXED_FILE)), 3);
	CHECK(memcmp(b, "ct!", 3) == 0);
	CHECK_EQ(run_one(ring, rk_prep_openat_direct(ring, AT_FDCWD, "/nonexistent/x", O_RDONLY, 0,
	                                              3, 0)),
	         -ENOENT);
	/* Opening into a taken slot replaces its file. */
	CHECK_EQ(run_one(ring, rk_prep_openat_direct(ring, AT_FDCWD, path, O_RDONLY, 0, 2, 0)), 0);

	/* A slot becomes a normal fd of ours. */
	if (has_op(ring, "IORING_OP_FIXED_FD_INSTALL")) {
		int nfd = run_one(ring, rk_prep_fixed_fd_install(ring, (uint32_t)slot, 0, 0));
		CHECK(nfd >= 0);
		CHECK(fcntl(nfd, F_GETFD) & FD_CLOEXEC);
		CHECK_EQ(pread(nfd, b, 7, 0), 7);
		close(nfd);
		nfd = run_one(ring, rk_prep_fixed_fd_install(ring, (uint32_t)slot,
		                                             RK_FIXED_FD_NO_CLOEXEC, 0));
		CHECK(nfd >= 0);
		CHECK_EQ(fcntl(nfd, F_GETFD) & FD_CLOEXEC, 0);
		close(nfd);
		CHECK_EQ(rk_prep_fixed_fd_install(ring, slot, 2, 0), -EINVAL);
	}
	CHECK_EQ(run_one(ring, rk_prep_close_fixed(ring, 2, 0)), 0);
	CHECK_EQ(run_one(ring, rk_prep_close_fixed(ring, (uint32_t)slot, 0)), 0);
	CHECK_EQ(count_fds(), before);
}

/* A listener with a normal fd; connections accepted straight into slots,
 * talked to and closed by slot. */
static void test_accept_direct(void)
{
	struct sockaddr_in sa;
	int lfd = tcp_listener(&sa, 8);

	int before = count_fds();
	int c0 = tcp_connect(&sa);
	CHECK_EQ(run_one(ring, rk_prep_accept_direct(ring, lfd, 5, 0, 0)), 0);
	CHECK_EQ(count_fds(), before + 1 + table_fds(ring, 1)); /* only the client's socket */
	char b[8];
	CHECK_EQ(write(c0, "hi", 2), 2);
	CHECK_EQ(run_one(ring, rk_prep_recv(ring, 5, b, sizeof(b), 0, RK_FIXED_FILE)), 2);
	CHECK_EQ(run_one(ring, rk_prep_send(ring, 5, "yo", 2, 0, RK_FIXED_FILE)), 2);
	CHECK_EQ(read(c0, b, sizeof(b)), 2);
	CHECK_EQ(run_one(ring, rk_prep_close_fixed(ring, 5, 0)), 0);
	CHECK_EQ(read(c0, b, sizeof(b)), 0); /* the server side is really closed */
	close(c0);

	/* Multishot into free slots: three connections, three distinct slots. */
	int64_t ms = rk_prep_accept_multishot_direct(ring, lfd, 0, 0);
	CHECK(ms >= 0);
	CHECK_EQ(rk_submit(ring), 1);
	int cl[3];
	int32_t slots[3];
	for (int i = 0; i < 3; i++) {
		cl[i] = tcp_connect(&sa);
		rk_cqe c = reap_one(ring);
		CHECK_EQ(c.id, ms);
		CHECK(c.flags & RK_CQE_F_MORE);
		CHECK(c.res >= 0 && c.res < SLOTS);
		slots[i] = c.res;
		for (int j = 0; j < i; j++)
			CHECK(slots[j] != slots[i]);
	}
	CHECK_EQ(count_fds(), before + 3 + table_fds(ring, 3) + waiting_fds(ring, 1));
	CHECK_EQ(rk_cancel_sync(ring, ms, -1), 0);
	rk_cqe c = reap_one(ring);
	CHECK_EQ(c.id, ms);
	CHECK_EQ(c.res, -ECANCELED);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(run_one(ring, rk_prep_close_fixed(ring, (uint32_t)slots[i], 0)), 0);
		CHECK_EQ(read(cl[i], b, 1), 0);
		close(cl[i]);
	}
	CHECK_EQ(count_fds(), before);

	/* A full table: ALLOC answers -ENFILE. */
	int n = 0;
	for (;;) {
		int32_t r = run_one(ring, rk_prep_socket_direct(ring, AF_INET, SOCK_STREAM, 0,
		                                                 RK_FILE_INDEX_ALLOC, 0));
		if (r == -ENFILE)
			break;
		CHECK(r >= 0 && r < SLOTS);
		n++;
		CHECK(n <= SLOTS);
	}
	CHECK_EQ(n, SLOTS); /* every slot was given back by the closes above */
	CHECK_EQ(count_fds(), before + table_fds(ring, SLOTS));
	close(lfd);
}

int main(void)
{
	const char *dir = make_tmpdir();
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);

	/* Before a table exists. */
	int32_t fds[1] = {0};
	CHECK_EQ(rk_ring_update_files(ring, 0, fds, 1), -ENXIO);
	CHECK_EQ(rk_ring_unregister_files(ring), -ENXIO);
	CHECK_EQ(rk_prep_openat_direct(ring, AT_FDCWD, "x", 0, 0, 0, 0), -ENXIO);
	CHECK_EQ(rk_prep_accept_direct(ring, 0, 0, 0, 0), -ENXIO);
	CHECK_EQ(rk_prep_accept_multishot_direct(ring, 0, 0, 0), -ENXIO);
	CHECK_EQ(rk_prep_socket_direct(ring, AF_INET, SOCK_STREAM, 0, 0, 0), -ENXIO);
	CHECK_EQ(rk_prep_close_fixed(ring, 0, 0), -ENXIO);
	CHECK_EQ(rk_ring_register_files(NULL, 1), -EINVAL);
	CHECK_EQ(rk_ring_register_files(ring, 0), -EINVAL);
	CHECK_EQ(rk_ring_register_files(ring, RK_FILES_MAX + 1), -EINVAL);

	CHECK_EQ(rk_ring_register_files(ring, SLOTS), 0);
	CHECK_EQ(rk_ring_register_files(ring, SLOTS), -EBUSY);

	/* Indices outside the table, and other refusals. */
	CHECK_EQ(rk_prep_openat_direct(ring, AT_FDCWD, "x", 0, 0, SLOTS, 0), -EINVAL);
	CHECK_EQ(rk_prep_openat_direct(ring, AT_FDCWD, NULL, 0, 0, 0, 0), -EFAULT);
	CHECK_EQ(rk_prep_accept_direct(ring, -1, 0, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_accept_direct(ring, 0, SLOTS, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_socket_direct(ring, AF_INET, SOCK_STREAM, 0, SLOTS, 0), -EINVAL);
	CHECK_EQ(rk_prep_close_fixed(ring, SLOTS, 0), -EINVAL);
	CHECK_EQ(rk_prep_close_fixed(ring, RK_FILE_INDEX_ALLOC, 0), -EINVAL);
	CHECK_EQ(rk_prep_close_fixed(ring, 0, RK_FIXED_FILE), -EINVAL);
	CHECK_EQ(rk_prep_fixed_fd_install(ring, SLOTS, 0, 0),
	         has_op(ring, "IORING_OP_FIXED_FD_INSTALL") ? -EINVAL : -EOPNOTSUPP);
	CHECK_EQ(rk_prep_close_fixed(NULL, 0, 0), -EINVAL);
	CHECK_EQ(rk_ring_update_files(NULL, 0, fds, 1), -EINVAL);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);

	test_update_and_fixed_ops();
	test_open_direct(dir);

	/* Through batch descriptors. */
	char path[128];
	snprintf(path, sizeof(path), "%s/data", dir);
	rk_op_desc d[2] = {
		{.op = RK_OP_OPENAT_DIRECT, .fd = AT_FDCWD, .addr = (uintptr_t)path, .len = 4,
		 .flags = RK_LINK},
		{.op = RK_OP_CLOSE_FIXED, .len = 4},
	};
	int64_t ids[2];
	CHECK_EQ(rk_submit_batch(ring, d, 2, ids), 2);
	rk_cqe c[2];
	reap_n(ring, c, 2);
	CHECK_EQ(c[0].res, 0);
	CHECK_EQ(c[1].res, 0);

	test_accept_direct();

	CHECK_EQ(rk_ring_unregister_files(ring), 0);
	CHECK_EQ(rk_ring_unregister_files(ring), -ENXIO);
	CHECK_EQ(rk_prep_close_fixed(ring, 0, 0), -ENXIO);
	CHECK_EQ(rk_ring_register_files(ring, 2), 0); /* a new table */
	CHECK_EQ(rk_ring_close(ring), 0); /* with files in it: the ring drops them */
	return 0;
}
