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
		/* A fallback ring: no kernel posts into it. The message goes now
		 * and the op is complete at once, with what posting it gave; the
		 * SQE begun above is simply not used. */
		return rk__op_commit_local(ring, op, rk__fb_post_message(token, data, res));
	}
	/* addr 0 is IORING_MSG_DATA: post len as res and off as user_data. */
	io_uring_prep_msg_ring(sqe, target_fd, (unsigned)res, data, 0);
	return rk__op_commit(ring, op, sqe, flags);
}
