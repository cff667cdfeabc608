/* rk_ring_restrict, on both backends (the default one and RK_RING_FALLBACK):
 * a RESTRICTABLE ring refuses preps, submits and reaps (-EBADFD) until it
 * is restricted; then an op not listed fails with -EACCES, direct or in a
 * batch, taking no slot and posting no completion, while listed ops run;
 * RK_RESTRICT_FIXED_FILES refuses every op without RK_FIXED_FILE; the
 * ring-level calls the flags do not keep answer -EACCES; a second restrict
 * -EPERM. On io_uring the kernel's half is checked too: a register
 * operation not allowed is refused by the kernel itself (-EACCES), where it
 * worked before the restriction. A ring allowing only copy runs copies of
 * every strategy, and refuses the ops they are made of. */
#include <linux/io_uring.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include "check.h"

static uint32_t backend_flag;

static int count_cqe(void *ctx, int64_t id, int32_t res, uint32_t flags)
{
	(void)ctx, (void)id, (void)res, (void)flags;
	return 0;
}

static rk_ring *restrictable(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, RK_RING_RESTRICTABLE | backend_flag, &ring), 0);
	return ring;
}

static int64_t write_str(rk_ring *ring, int fd, const char *s, uint32_t flags)
{
	return rk_prep_write(ring, fd, s, (uint32_t)strlen(s), -1, flags);
}

/* Before rk_ring_restrict: nothing runs, nothing waits. */
static void disabled_until_restricted(void)
{
	rk_ring *ring = restrictable();
	rk_cqe c;
	CHECK_EQ(rk_prep_nop(ring, 0), -EBADFD);
	CHECK_EQ(rk_submit(ring), -EBADFD);
	CHECK_EQ(rk_reap(ring, &c, 1, 1, -1), -EBADFD);
	CHECK_EQ(rk_reap_dispatch(ring, count_cqe, NULL, 4, 1, -1), -EBADFD);
	rk_op_desc d = {.op = RK_OP_NOP};
	int64_t id;
	CHECK_EQ(rk_prep_batch(ring, &d, 1, &id), 0);
	CHECK_EQ(id, -EBADFD);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	/* Argument errors. */
	uint32_t bad = RK_OP_COUNT, nop = RK_OP_NOP;
	CHECK_EQ(rk_ring_restrict(NULL, &nop, 1, 0), -EINVAL);
	CHECK_EQ(rk_ring_restrict(ring, NULL, 1, 0), -EINVAL);
	CHECK_EQ(rk_ring_restrict(ring, &bad, 1, 0), -EINVAL);
	CHECK_EQ(rk_ring_restrict(ring, &nop, 1, 1u << 31), -EINVAL);
	/* A refused call leaves the ring waiting. */
	CHECK_EQ(rk_prep_nop(ring, 0), -EBADFD);
	CHECK_EQ(rk_ring_restrict(ring, &nop, 1, 0), 0);
	CHECK_EQ(run_one(ring, rk_prep_nop(ring, 0)), 0);
	CHECK_EQ(rk_ring_close(ring), 0);

	/* A ring created without RK_RING_RESTRICTABLE cannot be restricted. */
	CHECK_EQ(rk_ring_create(8, backend_flag, &ring), 0);
	CHECK_EQ(rk_ring_restrict(ring, &nop, 1, 0), -EINVAL);
	CHECK_EQ(run_one(ring, rk_prep_nop(ring, 0)), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
}

static void allowlist(void)
{
	rk_ring *ring = restrictable();
	int p[2];
	make_pipe(p);
	const uint32_t ops[] = {RK_OP_NOP, RK_OP_READ, RK_OP_WRITE, RK_OP_WRITE};
	CHECK_EQ(rk_ring_restrict(ring, ops, 4, 0), 0);
	CHECK_EQ(rk_ring_restrict(ring, ops, 4, 0), -EPERM);
	CHECK_EQ(rk_ring_restrict(ring, ops, 1, RK_RESTRICT_FILES), -EPERM);

	/* Allowed ops run. */
	CHECK_EQ(run_one(ring, write_str(ring, p[1], "hello", 0)), 5);
	char buf[8] = {0};
	CHECK_EQ(run_one(ring, rk_prep_read(ring, p[0], buf, sizeof(buf), -1, 0)), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);

	/* The others fail at once, and take no slot. */
	CHECK_EQ(rk_prep_fsync(ring, p[1], 0, 0, 0), -EACCES);
	CHECK_EQ(rk_prep_timeout(ring, 1000, 0, 0, 0), -EACCES);
	CHECK_EQ(rk_prep_close(ring, p[1], 0), -EACCES);
	CHECK_EQ(rk_prep_socket(ring, AF_INET, SOCK_STREAM, 0, 0), -EACCES);
	CHECK_EQ(rk_prep_openat(ring, AT_FDCWD, "/etc/passwd", O_RDONLY, 0, 0), -EACCES);
	CHECK_EQ(rk_prep_read_chunk(ring, p[0], NULL, 0, 0, 0, 0), -EINVAL); /* args first */
	CHECK_EQ(rk_prep_fsync(ring, -1, 0, 0, 0), -EBADF);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);

	/* In a batch: the walk stops at the refused entry. */
	rk_op_desc d[3] = {{.op = RK_OP_NOP}, {.op = RK_OP_TIMEOUT, .off = 1000}, {.op = RK_OP_NOP}};
	int64_t ids[3];
	CHECK_EQ(rk_prep_batch(ring, d, 3, ids), 1);
	CHECK_EQ(ids[1], -EACCES);
	CHECK_EQ(run_one(ring, ids[0]), 0);
	CHECK_EQ(rk_submit_batch(ring, d + 1, 2, ids), 0);
	CHECK_EQ(ids[0], -EACCES);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	rk_cqe c;
	CHECK_EQ(rk_reap(ring, &c, 1, 0, 0), 0); /* no completion for refused preps */

	/* Ring-level calls the flags did not keep. */
	int efd = eventfd(0, EFD_CLOEXEC);
	CHECK(efd >= 0);
	CHECK_EQ(rk_ring_register_files(ring, 4), -EACCES);
	CHECK_EQ(rk_ring_register_eventfd(ring, efd, 0), -EACCES);
	rk_region *region;
	CHECK_EQ(rk_region_create(4096, 2, 0, &region), 0);
	CHECK_EQ(rk_ring_register_region(ring, region), -EACCES);
	CHECK_EQ(rk_ring_provide_region(ring, region, 1), -EACCES);
	/* Cancels always work: a read that waits, then cancel_all. */
	int64_t id = rk_prep_read(ring, p[0], buf, sizeof(buf), -1, 0);
	CHECK(id >= 0);
	CHECK_EQ(rk_submit(ring), 1);
	CHECK_EQ(rk_ring_cancel_all(ring), 1);
	CHECK_EQ(run_one(ring, id), -ECANCELED);

	/* A read left in flight: close still cancels it and returns. */
	CHECK(rk_prep_read(ring, p[0], buf, sizeof(buf), -1, 0) >= 0);
	CHECK_EQ(rk_submit(ring), 1);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_region_destroy(region), 0);
	close(efd);
	close(p[0]);
	close(p[1]);
}

/* Every op on a slot of the file table the host filled. */
static void fixed_files_only(void)
{
	rk_ring *ring = restrictable();
	int p[2];
	make_pipe(p);
	CHECK_EQ(rk_ring_register_files(ring, 2), 0);
	CHECK_EQ(rk_ring_update_files(ring, 0, p, 2), 2);
	const uint32_t ops[] = {RK_OP_NOP, RK_OP_READ, RK_OP_WRITE, RK_OP_CLOSE, RK_OP_TIMEOUT};
	CHECK_EQ(rk_ring_restrict(ring, ops, 5, RK_RESTRICT_FIXED_FILES), 0);

	CHECK_EQ(write_str(ring, p[1], "raw", 0), -EACCES);
	CHECK_EQ(rk_prep_nop(ring, 0), -EACCES);
	CHECK_EQ(rk_prep_close(ring, 1, RK_FIXED_FILE), -EACCES);
	CHECK_EQ(rk_prep_close(ring, p[1], 0), -EACCES);
	CHECK_EQ(run_one(ring, rk_prep_nop(ring, RK_FIXED_FILE)), 0);
	CHECK_EQ(run_one(ring, rk_prep_timeout(ring, 1000, 0, 0, RK_FIXED_FILE)), -ETIME);
	CHECK_EQ(run_one(ring, write_str(ring, 1, "slot", RK_FIXED_FILE)), 4);
	char buf[8] = {0};
	CHECK_EQ(run_one(ring, rk_prep_read(ring, 0, buf, sizeof(buf), -1, RK_FIXED_FILE)), 4);
	CHECK(memcmp(buf, "slot", 4) == 0);
	/* The table is the host's: no slot can be pointed at another fd. */
	CHECK_EQ(rk_ring_update_files(ring, 0, p, 1), -EACCES);
	CHECK_EQ(rk_ring_unregister_files(ring), -EACCES);
	CHECK_EQ(rk_ring_register_files(ring, 4), -EACCES);
	CHECK_EQ(rk_ring_close(ring), 0);
	close(p[0]);
	close(p[1]);

	/* RK_RESTRICT_FILES keeps the table's calls. */
	ring = restrictable();
	make_pipe(p);
	CHECK_EQ(rk_ring_register_files(ring, 2), 0);
	CHECK_EQ(rk_ring_restrict(ring, ops, 3, RK_RESTRICT_FIXED_FILES | RK_RESTRICT_FILES), 0);
	CHECK_EQ(rk_ring_update_files(ring, 0, p, 2), 2);
	CHECK_EQ(run_one(ring, write_str(ring, 1, "ok", RK_FIXED_FILE)), 2);
	CHECK_EQ(rk_ring_unregister_files(ring), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	close(p[0]);
	close(p[1]);
}

/* A ring allowing only copy: every strategy copies (on io_uring the
 * kernel lets the copy's own splices, reads, writes and fallocate through),
 * while those ops, prepared by the caller, are refused. */
static void copy_only(void)
{
	rk_ring *ring = restrictable();
	const uint32_t copy = RK_OP_COPY;
	CHECK_EQ(rk_ring_restrict(ring, &copy, 1, 0), 0);
	static char dir[64]; /* one for both backends: make_tmpdir keeps one */
	if (!dir[0])
		strcpy(dir, make_tmpdir());
	char path[128];
	size_t n = (3u << 20) + 333;
	unsigned char *src = malloc(n), *got = malloc(n);
	CHECK(src != NULL && got != NULL);
	fill_pattern(src, n, 0, 5);
	snprintf(path, sizeof(path), "%s/copy-in", dir);
	int in = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(in >= 0);
	CHECK_EQ(pwrite(in, src, n, 0), (ssize_t)n);
	const uint32_t strategies[] = {0, RK_COPY_SPLICE, RK_COPY_READ_WRITE,
	                               RK_COPY_READ_WRITE | RK_COPY_LANES(1) | RK_COPY_NO_PREALLOC};
	for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++) {
		snprintf(path, sizeof(path), "%s/copy-out%zu", dir, i);
		int out = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		CHECK(out >= 0);
		CHECK_EQ(run_one(ring, rk_prep_copy(ring, in, 0, out, 0, n, strategies[i], 0)),
		         (int32_t)n);
		CHECK_EQ(pread(out, got, n, 0), (ssize_t)n);
		CHECK(memcmp(got, src, n) == 0);
		close(out);
	}

	/* The ops a copy is made of stay refused to the caller. */
	int p[2];
	make_pipe(p);
	CHECK_EQ(rk_prep_read(ring, in, got, 16, 0, 0), -EACCES);
	CHECK_EQ(rk_prep_write(ring, in, src, 16, 0, 0), -EACCES);
	CHECK_EQ(rk_prep_splice(ring, in, 0, p[1], -1, 16, 0, 0), -EACCES);
	CHECK_EQ(rk_prep_fallocate(ring, in, 0, 0, 4096, 0), -EACCES);
	CHECK_EQ(rk_prep_nop(ring, 0), -EACCES);
	CHECK_EQ(rk_prep_fsync(ring, in, 0, 0, 0), -EACCES);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	rk_cqe c;
	CHECK_EQ(rk_reap(ring, &c, 1, 0, 0), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	close_pair(p);
	close(in);
	free(src);
	free(got);
}

/* io_uring only: the kernel enforces the restriction too. */
static void kernel_side(void)
{
	rk_ring *ring;
	int ret = rk_ring_create(8, RK_RING_RESTRICTABLE | RK_RING_NO_FALLBACK, &ring);
	if (ret < 0) {
		fprintf(stderr, "no io_uring ring with IORING_SETUP_R_DISABLED: %s\n",
		        rk_strerror(ret));
		return;
	}
	unsigned char probe[sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op)];
	memset(probe, 0, sizeof(probe));
	long r = syscall(__NR_io_uring_register, rk_ring_fd(ring), IORING_REGISTER_PROBE, probe, 256);
	CHECK_EQ(r, 0);
	uint32_t nop = RK_OP_NOP;
	CHECK_EQ(rk_ring_restrict(ring, &nop, 1, 0), 0);
	memset(probe, 0, sizeof(probe));
	r = syscall(__NR_io_uring_register, rk_ring_fd(ring), IORING_REGISTER_PROBE, probe, 256);
	CHECK_EQ(r, -1);
	CHECK_EQ(errno, EACCES);
	CHECK_EQ(run_one(ring, rk_prep_nop(ring, 0)), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
}

int main(void)
{
	const uint32_t backends[] = {0, RK_RING_FALLBACK};
	for (int i = 0; i < 2; i++) {
		backend_flag = backends[i];
		disabled_until_restricted();
		allowlist();
		fixed_files_only();
		copy_only();
	}
	kernel_side();
	return 0;
}
