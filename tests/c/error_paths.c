/* The error returns of the public functions that invalid_args does not
 * reach: an unknown flag (and a full table) refused by every prep kind after
 * its own argument checks; the spill pool running dry for long iovec arrays
 * and paths; region geometry and registration limits; NULL regions on the
 * provided-buffer calls; a recycle of a chunk an op uses; a fixed-file close;
 * a capacity below the SQ; and close with locally completed ops unreaped.
 * Each refusal leaves the table as it was. */
#include <limits.h>
#include <linux/stat.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "check.h"

#define BAD (1u << 12) /* not an RK_* op flag */

/* Every prep kind, with `flags`: each must return `expect`. */
static void every_prep(rk_ring *ring, rk_region *rg, int32_t chunk, int fd, uint32_t flags,
                       int expect)
{
	static char buf[64];
	static struct statx stx;
	rk_iovec iov[1] = {{(uintptr_t)buf, 8}};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int64_t r[] = {
		rk_prep_nop(ring, flags),
		rk_prep_read(ring, fd, buf, 8, 0, flags),
		rk_prep_write(ring, fd, buf, 8, 0, flags),
		rk_prep_readv(ring, fd, iov, 1, 0, 0, flags),
		rk_prep_writev(ring, fd, iov, 1, 0, 0, flags),
		rk_prep_read_chunk(ring, fd, rg, chunk, 8, 0, flags),
		rk_prep_write_chunk(ring, fd, rg, chunk, 8, 0, flags),
		rk_prep_fsync(ring, fd, 0, 0, flags),
		rk_prep_fdatasync(ring, fd, 0, 0, flags),
		rk_prep_openat(ring, AT_FDCWD, "x", 0, 0, flags),
		rk_prep_openat2(ring, AT_FDCWD, "x", 0, 0, 0, flags),
		rk_prep_close(ring, fd, flags),
		rk_prep_statx(ring, AT_FDCWD, "x", 0, 0, &stx, flags),
		rk_prep_unlinkat(ring, AT_FDCWD, "x", 0, flags),
		rk_prep_mkdirat(ring, AT_FDCWD, "x", 0, flags),
		rk_prep_renameat(ring, AT_FDCWD, "x", AT_FDCWD, "y", 0, flags),
		rk_prep_linkat(ring, AT_FDCWD, "x", AT_FDCWD, "y", 0, flags),
		rk_prep_symlinkat(ring, "x", AT_FDCWD, "y", flags),
		rk_prep_fallocate(ring, fd, 0, 0, 1, flags),
		rk_prep_fadvise(ring, fd, 0, 0, 0, flags),
		rk_prep_splice(ring, fd, -1, fd, -1, 1, 0, flags),
		rk_prep_tee(ring, fd, fd, 1, 0, flags),
		rk_prep_poll_add(ring, fd, POLLIN, flags),
		rk_prep_poll_multishot(ring, fd, POLLIN, flags),
		rk_prep_timeout(ring, 1, 0, 0, flags),
		rk_prep_socket(ring, AF_INET, SOCK_STREAM, 0, flags),
		rk_prep_bind(ring, fd, &sa, sizeof(sa), flags),
		rk_prep_listen(ring, fd, 1, flags),
		rk_prep_connect(ring, fd, &sa, sizeof(sa), flags),
		rk_prep_accept(ring, fd, buf, sizeof(buf), 0, flags),
		rk_prep_accept_multishot(ring, fd, 0, flags),
		rk_prep_send(ring, fd, buf, 8, 0, flags),
		rk_prep_recv(ring, fd, buf, 8, 0, flags),
		rk_prep_shutdown(ring, fd, SHUT_RD, flags),
		rk_prep_recv_select(ring, fd, 1, 0, 0, flags),
		rk_prep_recv_multishot(ring, fd, 1, 0, flags),
	};
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		if (r[i] == -EOPNOTSUPP)
			continue; /* bind/listen on kernels before 6.11 */
		if (r[i] != expect) {
			fprintf(stderr, "prep #%zu returned %lld, expected %d\n", i, (long long)r[i],
			        expect);
			exit(1);
		}
	}
}

static int count_one(void *ctx, int64_t id, int32_t res, uint32_t flags)
{
	(void)id, (void)res, (void)flags;
	++*(int *)ctx;
	return 0;
}

/* The registered-file, message and dispatch calls: NULL rings, unknown
 * flags after their own checks, the kernel refusing a file table larger
 * than RLIMIT_NOFILE, the spill pool running dry for long iovec arrays,
 * and rk_reap_dispatch's clamps and deadline. */
static void files_and_messages(int fd)
{
	static char b[16];
	rk_iovec iov = {(uintptr_t)b, sizeof(b)};
	int32_t out[RK_MSG_FDS + 1];
	CHECK_EQ(rk_prep_openat_direct(NULL, AT_FDCWD, "x", 0, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_accept_direct(NULL, fd, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_accept_multishot_direct(NULL, fd, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_socket_direct(NULL, AF_INET, SOCK_STREAM, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_close_fixed(NULL, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_fixed_fd_install(NULL, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_msg_ring(NULL, fd, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_reap_dispatch(NULL, count_one, NULL, 1, 0, 0), -EINVAL);

	rk_ring *ring;
	CHECK_EQ(rk_ring_create_ex(8, 0, 0, 32, 0, &ring), 0);
	int n = 0;
	CHECK_EQ(rk_reap_dispatch(ring, NULL, &n, 1, 0, 0), -EINVAL);
	struct rlimit old, low = {.rlim_cur = 64, .rlim_max = 0};
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	low.rlim_max = old.rlim_max;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	int ret = rk_ring_register_files(ring, 4096);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	CHECK(ret < 0); /* -EMFILE: over the fd limit */
	CHECK_EQ(rk_ring_register_files(ring, 4), 0);
	CHECK_EQ(rk_prep_openat_direct(ring, AT_FDCWD, "x", 0, 0, 0, BAD), -EINVAL);
	CHECK_EQ(rk_prep_accept_direct(ring, fd, 0, 0, BAD), -EINVAL);
	CHECK_EQ(rk_prep_accept_multishot_direct(ring, fd, 0, BAD), -EINVAL);
	CHECK_EQ(rk_prep_socket_direct(ring, AF_INET, SOCK_STREAM, 0, 0, BAD), -EINVAL);
	CHECK_EQ(rk_prep_close_fixed(ring, 0, BAD), -EINVAL);
	int64_t r = rk_prep_fixed_fd_install(ring, 0, 0, BAD);
	CHECK(r == -EINVAL || r == -EOPNOTSUPP);
	CHECK_EQ(rk_prep_msg_ring(ring, rk_ring_fd(ring), 1, 0, BAD), -EINVAL);
	CHECK_EQ(rk_prep_sendmsg(ring, fd, &iov, 1, NULL, 0, NULL, 0, 0, BAD), -EINVAL);
	CHECK_EQ(rk_prep_recvmsg(ring, fd, &iov, 1, NULL, 0, out, 1, 0, BAD), -EINVAL);

	/* Long iovec arrays spill; the pool (4 blocks) runs dry. */
	static rk_iovec many[RK_MSG_IOV_MAX];
	for (int i = 0; i < RK_MSG_IOV_MAX; i++)
		many[i] = (rk_iovec){(uintptr_t)b, 1};
	for (int i = 0; i < 4; i++)
		CHECK(rk_prep_sendmsg(ring, fd, many, RK_MSG_IOV_MAX, NULL, 0, NULL, 0, 0, 0) >= 0);
	CHECK_EQ(rk_prep_sendmsg(ring, fd, many, RK_MSG_IOV_MAX, NULL, 0, NULL, 0, 0, 0), -EBUSY);
	CHECK_EQ(rk_prep_recvmsg(ring, fd, many, RK_MSG_IOV_MAX, NULL, 0, out, 1, 0, 0), -EBUSY);

	/* Dispatch: wait_nr beyond max is clamped; a deadline that passes. */
	n = 0;
	while (n < 4)
		CHECK(rk_reap_dispatch(ring, count_one, &n, 1, 5, 1000000000) >= 0);
	static char pb[8];
	int p[2];
	make_pipe(p);
	CHECK(rk_prep_read(ring, p[0], pb, 8, -1, 0) >= 0);
	CHECK_EQ(rk_reap_dispatch(ring, count_one, &n, 4, 2, 2000000), 0); /* times out */
	CHECK_EQ(rk_ring_close(ring), 0);
	close_pair(p);
}

int main(void)
{
	int fd = scratch_file(NULL);

	/* A capacity below the SQ is raised to it. */
	rk_ring *ring;
	CHECK_EQ(rk_ring_create_ex(8, 0, 0, 2, 0, &ring), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_CAPACITY), 8);
	rk_region *rg, *grp;
	CHECK_EQ(rk_region_create(64, 4, 0, &rg), 0);
	int32_t chunk = rk_chunk_alloc(rg);
	CHECK_EQ(rk_region_create(64, 4, 0, &grp), 0);
	CHECK_EQ(rk_ring_provide_region(ring, grp, 1), 1);

	/* An unknown flag, after each prep's own checks passed. */
	every_prep(ring, rg, chunk, fd, BAD, -EINVAL);
	CHECK_EQ(rk_prep_link_timeout(ring, 1, 0, BAD), -EINVAL); /* needs an open chain */
	CHECK(rk_prep_nop(ring, RK_LINK) >= 0);
	CHECK_EQ(rk_prep_link_timeout(ring, 1, 0, BAD), -EINVAL);
	CHECK_EQ(rk_prep_cancel(ring, 12345, BAD), -ENOENT); /* target first */
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 1);

	/* A full table: every prep kind says -EBUSY. */
	for (int i = 1; i < 8; i++)
		CHECK(rk_prep_nop(ring, 0) >= 0);
	every_prep(ring, rg, chunk, fd, 0, -EBUSY);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 8);

	/* Ops completed locally (cancelled before they reached the kernel) and
	 * never reaped are released by close. */
	CHECK_EQ(rk_ring_cancel_all(ring), 8);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_region_chunks_free(grp), 4);

	/* The spill pool (capacity / 8 blocks, at least 4) running dry. */
	CHECK_EQ(rk_ring_create_ex(8, 0, 0, 32, 0, &ring), 0);
	static rk_iovec many[1024];
	static char b;
	for (int i = 0; i < 1024; i++)
		many[i] = (rk_iovec){(uintptr_t)&b, 1};
	char longp[PATH_MAX - 1];
	memset(longp, 'p', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	int64_t held[4];
	for (int i = 0; i < 4; i++)
		CHECK((held[i] = rk_prep_readv(ring, fd, many, 1024, 0, 0, 0)) >= 0);
	CHECK_EQ(rk_prep_readv(ring, fd, many, 1024, 0, 0, 0), -EBUSY);
	CHECK_EQ(rk_prep_openat(ring, AT_FDCWD, longp, 0, 0, 0), -EBUSY);
	CHECK_EQ(rk_prep_openat2(ring, AT_FDCWD, longp, 0, 0, 0, 0), -EBUSY);
	CHECK_EQ(rk_prep_renameat(ring, AT_FDCWD, longp, AT_FDCWD, "y", 0, 0), -EBUSY);
	CHECK_EQ(rk_prep_openat(ring, AT_FDCWD, "short", 0, 0, 0) >= 0, 1); /* inline: fine */
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 5);
	rk_cqe c[8];
	reap_n(ring, c, 5);
	CHECK(rk_prep_openat(ring, AT_FDCWD, longp, 0, 0, 0) >= 0); /* blocks came back */
	reap_n(ring, c, 1);

	/* A fixed-file close names a table index: none is registered. */
	CHECK(run_one(ring, rk_prep_close(ring, 3, RK_FIXED_FILE)) < 0);

	/* Provided-buffer calls: NULL regions, and a recycle of a chunk in use. */
	CHECK_EQ(rk_ring_provide_region(ring, grp, 1), 1);
	CHECK_EQ(rk_ring_recycle_chunk(ring, NULL, 0), -EINVAL);
	CHECK_EQ(rk_ring_unprovide_region(ring, NULL), -EINVAL);
	CHECK_EQ(rk_ring_provide_region(ring, NULL, 2), -EINVAL);
	CHECK_EQ(rk_ring_unprovide_region(ring, rg), -ENOENT);
	CHECK_EQ(rk_ring_unregister_region(ring, NULL), -EINVAL);
	CHECK_EQ(rk_ring_unprovide_region(ring, grp), 0);
	int p[2];
	make_pipe(p);
	CHECK_EQ(rk_region_chunks_free(grp), 4);
	int32_t mine = rk_chunk_alloc(grp);
	CHECK_EQ(rk_ring_provide_region(ring, grp, 1), 1);
	int64_t rd = rk_prep_read_chunk(ring, p[0], grp, mine, 8, -1, 0);
	CHECK(rd >= 0);
	CHECK_EQ(rk_ring_recycle_chunk(ring, grp, mine), -EBUSY);
	CHECK_EQ(rk_ring_recycle_chunk(ring, grp, 99), -EINVAL);
	CHECK_EQ(write(p[1], "12345678", 8), 8);
	CHECK_EQ(run_one(ring, rd), 8);
	CHECK_EQ(rk_ring_recycle_chunk(ring, grp, mine), 0);

	/* Region limits. */
	rk_region *big;
	CHECK_EQ(rk_region_create(1u << 30, 65, 0, &big), -EINVAL); /* over 64 GiB */
	CHECK_EQ(rk_region_create(4096, (1u << 18) + 1, 0, &big), 0); /* 1 GiB + 4 KiB */
	CHECK_EQ(rk_ring_register_region(ring, big), -EINVAL);        /* over 1 GiB */
	CHECK_EQ(rk_region_destroy(big), 0);
	rk_region *small[RK_RING_MAX_REGIONS + 1];
	for (int i = 0; i <= RK_RING_MAX_REGIONS; i++)
		CHECK_EQ(rk_region_create(4096, 1, 0, &small[i]), 0);
	int ret = rk_ring_register_region(ring, small[0]);
	if (ret == -ENOMEM) {
		fprintf(stderr, "RLIMIT_MEMLOCK too low to register: slot limit not checked\n");
	} else {
		CHECK_EQ(ret, 0);
		for (int i = 1; i < RK_RING_MAX_REGIONS; i++)
			CHECK_EQ(rk_ring_register_region(ring, small[i]), 0);
		CHECK_EQ(rk_ring_register_region(ring, small[RK_RING_MAX_REGIONS]), -ENOSPC);
		CHECK_EQ(rk_ring_register_region(ring, small[3]), 0); /* already: fine */
	}

	CHECK_EQ(rk_ring_close(ring), 0);
	files_and_messages(fd);
	for (int i = 0; i <= RK_RING_MAX_REGIONS; i++)
		CHECK_EQ(rk_region_destroy(small[i]), 0);
	CHECK_EQ(rk_region_chunks_free(grp), 4); /* recycled, then back with the group */
	CHECK_EQ(rk_region_destroy(grp), 0);
	CHECK_EQ(rk_chunk_free(rg, chunk), 0);
	CHECK_EQ(rk_region_destroy(rg), 0);
	return 0;
}
