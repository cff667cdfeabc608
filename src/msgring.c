/*
 * Messages between rings. A message is a CQE the kernel posts into another
 * ring's CQ with user_data and res chosen by the sender. The target's
 * rk_reap must never mistake it for one of its own ops (that would free a
 * slot the kernel still owns), so the user_data we send always has the top
 * bit set: op ids are non-negative, and drain_cq hands negative ones out as
 * messages. All ones stays reserved for the core's internal ops.
 *
 * A fallback ring's fd is an eventfd, not an io_uring: messages to it are
 * posted into its completion queue by the fallback (fallback/ring.c), also
 * when they come from an io_uring ring.
 */
#include <errno.h>

#include "ids.h"

/* What an io_uring ring's message to a fallback ring carries until its
 * op's completion is reaped: the kernel cannot post into a ring that is
 * not an io_uring, so the sender's op is a NOP and the message goes then. */
struct msg_to_fb {
	uint64_t token;
	uint64_t data;
	int32_t res;
};

int64_t rk_prep_msg_ring(rk_ring *ring, int target_fd, int64_t value, int32_t res,
                         uint32_t flags)
{
	if (!ring)
		return -EINVAL;
	if (target_fd < 0)
		return -EBADF;
	if (value < 0 || value > RK_MSG_VALUE_MAX)
		return -EINVAL;
	if (!ring->probe[IORING_OP_MSG_RING])
		return -EOPNOTSUPP;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin(ring, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	uint64_t data = (uint64_t)value | (UINT64_C(1) << 63);
	uint64_t token;
	if (ring->be == &rk__uring_backend && !(flags & RK_FIXED_FILE) &&
	    rk__fb_ring_token(target_fd, &token)) {
		struct msg_to_fb *m = rk__op_storage(ring, op, sizeof(*m));
		*m = (struct msg_to_fb){.token = token, .data = data, .res = res};
		io_uring_prep_nop(sqe);
		op->kind = RK_KIND_MSG;
		return rk__op_commit(ring, op, sqe, flags);
	}
	/* addr 0 is IORING_MSG_DATA: post len as res and off as user_data. */
	io_uring_prep_msg_ring(sqe, target_fd, (unsigned)res, data, 0);
	return rk__op_commit(ring, op, sqe, flags);
}

int32_t rk__msg_settle(rk_ring *ring, struct rk_op *op, int32_t res)
{
	if (res < 0 || ring->discarding)
		return res;
	const struct msg_to_fb *m = (const struct msg_to_fb *)rk__op_storage_base(ring, op);
	return rk__fb_post_message(m->token, m->data, m->res);
}
