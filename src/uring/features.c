/*
 * Kernel features newer than the system liburing (2.3), on io_uring: how
 * the running kernel is asked whether it has one, and the registrations
 * that use them. The constants and structs come from src/compat.h.
 */
#include <string.h>
#include <unistd.h>

#include "uring.h"

/* The probes run on an io_uring of their own, so no state of the
 * caller's ring is touched and a restricted ring (rk_ring_restrict), which
 * may refuse the registration, still gets the kernel's answer. */
static int probe_ring(void)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	return rk__sys_setup(1, &p);
}

/* A register opcode the kernel does not know answers -EINVAL before it
 * reads its argument; one it knows reads it first. An argument it must
 * refuse with another errno tells the two apart without changing
 * anything. */
static bool register_known(uint32_t opcode, const void *arg, uint32_t nr_args, int known_errno)
{
	int fd = probe_ring();
	if (fd < 0)
		return false;
	bool known = rk__sys_register(fd, opcode, arg, nr_args) == known_errno;
	close(fd);
	return known;
}

/* A buffer ring the kernel allocates (IOU_PBUF_RING_MMAP, no memory of
 * ours), incremental: a kernel that lacks the flag answers -EINVAL. */
static int pbuf_inc(void)
{
	int fd = probe_ring();
	if (fd < 0)
		return 0;
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.ring_entries = 1;
	reg.pad = IOU_PBUF_RING_MMAP | IOU_PBUF_RING_INC;
	int ret = rk__sys_register(fd, IORING_REGISTER_PBUF_RING, &reg, 1);
	close(fd);
	return ret == 0;
}

/* A resize of a ring of its own, which must be DEFER_TASKRUN: a kernel
 * without the opcode answers -EINVAL. */
static int can_resize(void)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	int fd = rk__sys_setup(1, &p);
	if (fd < 0)
		return 0;
	memset(&p, 0, sizeof(p));
	p.sq_entries = 1;
	p.cq_entries = 4;
	p.flags = IORING_SETUP_CQSIZE;
	int ret = rk__sys_register(fd, RK_IORING_REGISTER_RESIZE_RINGS, &p, 1);
	close(fd);
	return ret == 0;
}

int rk__uring_feature(rk_ring *ring, uint32_t feature)
{
	switch (feature) {
	case RK_FEATURE_FILE_ALLOC_RANGE: {
		/* off + len overflows: -EOVERFLOW, checked before the table. */
		struct io_uring_file_index_range r = {.off = UINT32_MAX, .len = 1};
		return register_known(IORING_REGISTER_FILE_ALLOC_RANGE, &r, 0, -EOVERFLOW);
	}
	case RK_FEATURE_MSG_SEND_FD:
	case RK_FEATURE_RECVMSG_MULTISHOT:
		/* Came in 6.0 with the alloc range; nothing asks for them
		 * alone without sending a file or receiving a message. */
		return ring->probe[feature == RK_FEATURE_MSG_SEND_FD ? IORING_OP_MSG_RING
		                                                     : IORING_OP_RECVMSG] &&
		       rk__uring_feature(ring, RK_FEATURE_FILE_ALLOC_RANGE);
	case RK_FEATURE_PBUF_INC:
		return pbuf_inc();
	case RK_FEATURE_RESIZE:
		return can_resize();
	}
	return 0;
}

int rk__uring_files_alloc_range(rk_ring *ring, uint32_t offset, uint32_t len)
{
	struct io_uring_file_index_range r;
	memset(&r, 0, sizeof(r));
	r.off = offset;
	r.len = len;
	int ret = rk__sys_register(ring->fd, IORING_REGISTER_FILE_ALLOC_RANGE, &r, 0);
	/* The range was checked against the table: -EINVAL is the kernel not
	 * knowing the opcode. */
	if (ret == -EINVAL)
		return -EOPNOTSUPP;
	return ret < 0 ? ret : 0;
}

/* The kernel cannot install into a listed ring's table, whose files are
 * descriptors of this process, nor can a listed ring reach into the
 * kernel's table: the op completes at once. */
int64_t rk__uring_prep_msg_fd(rk_ring *ring, struct rk_op *op, struct io_uring_sqe *sqe,
                              int target_fd, uint32_t src_slot, uint32_t dst_slot, uint64_t data,
                              uint32_t msg_flags, uint32_t flags)
{
	if (!(flags & RK_FIXED_FILE) && rk__registry_has(target_fd))
		return rk__op_commit_local(ring, op, -EOPNOTSUPP);
	return rk__msg_fd_prep(ring, op, sqe, target_fd, src_slot, dst_slot, data, msg_flags, flags);
}
