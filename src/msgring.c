/*
 * Messages between rings. A message is a CQE the kernel posts into another
 * ring's CQ with user_data and res chosen by the sender. The target's
 * rk_reap must never mistake it for one of its own ops (that would free a
 * slot the kernel still owns), so the user_data we send always has the top
 * bit set: op ids are non-negative, and drain_cq hands negative ones out as
 * messages. All ones stays reserved for the core's internal ops.
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
	/* addr 0 is IORING_MSG_DATA: post len as res and off as user_data. */
	io_uring_prep_msg_ring(sqe, target_fd, (unsigned)res, data, 0);
	return rk__op_commit(ring, op, sqe, flags);
}
