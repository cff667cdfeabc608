/* The kernel's half of rk_ring_restrict (io_uring only): SQEs that the
 * core's check would never let through, written into the SQ past it as
 * stray memory writes could, are refused by the kernel itself with an
 * -EACCES completion — an opcode not allowed, and under
 * RK_RESTRICT_FIXED_FILES an SQE without IOSQE_FIXED_FILE. Skips (77)
 * where io_uring or IORING_SETUP_R_DISABLED is refused. */
#include "check.h"
#include "ids.h"

static rk_ring *restricted(uint32_t flags)
{
	rk_ring *ring;
	int ret = rk_ring_create(8, RK_RING_RESTRICTABLE | RK_RING_NO_FALLBACK, &ring);
	if (ret < 0) {
		fprintf(stderr, "%s\n", rk_strerror(ret));
		SKIP("no io_uring ring with IORING_SETUP_R_DISABLED");
	}
	const uint32_t ops[] = {RK_OP_NOP, RK_OP_WRITE};
	CHECK_EQ(rk_ring_restrict(ring, ops, 2, flags), 0);
	return ring;
}

/* Queues an SQE for an allowed op's slot, rewritten by `rewrite` after the
 * core's checks. */
static int32_t smuggle(rk_ring *ring, uint32_t flags, void (*rewrite)(struct io_uring_sqe *, int),
                       int fd)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	CHECK_EQ(rk__op_begin(ring, RK_OP_NOP, flags, &op, &sqe), 0);
	io_uring_prep_nop(sqe);
	rewrite(sqe, fd);
	int64_t id = rk__op_commit(ring, op, sqe, flags);
	return run_one(ring, id);
}

static void to_fsync(struct io_uring_sqe *sqe, int fd)
{
	io_uring_prep_fsync(sqe, fd, 0);
}

static void to_nop(struct io_uring_sqe *sqe, int fd)
{
	(void)fd;
	io_uring_prep_nop(sqe);
}

int main(void)
{
	int dirfd;
	int fd = scratch_file(&dirfd);

	rk_ring *ring = restricted(0);
	CHECK_EQ(smuggle(ring, 0, to_nop, fd), 0);
	CHECK_EQ(smuggle(ring, 0, to_fsync, fd), -EACCES);
	CHECK_EQ(rk_ring_close(ring), 0);

	/* Fixed files only: rk__op_commit writes the flags it is given. */
	ring = restricted(RK_RESTRICT_FIXED_FILES);
	CHECK_EQ(smuggle(ring, RK_FIXED_FILE, to_nop, fd), 0);
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	CHECK_EQ(rk__op_begin(ring, RK_OP_NOP, RK_FIXED_FILE, &op, &sqe), 0);
	io_uring_prep_nop(sqe);
	CHECK_EQ(run_one(ring, rk__op_commit(ring, op, sqe, 0)), -EACCES);
	CHECK_EQ(rk_ring_close(ring), 0);
	close(fd);
	close(dirfd);
	return 0;
}
