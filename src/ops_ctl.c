/*
 * Prep functions for ops about other ops and about time: poll, timeouts and
 * cancellation. Ops that target another op carry its full id to the kernel,
 * so a stale id can never hit the slot's next tenant; one that names no live
 * op is refused here with -ENOENT.
 */
#include <errno.h>

#include "ids.h"

#define RK_TIMEOUT_FLAGS (RK_TIMEOUT_ABS | RK_TIMEOUT_BOOTTIME | RK_TIMEOUT_REALTIME)

int64_t rk_prep_poll_add(rk_ring *ring, int fd, uint32_t poll_mask, uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin_fd(ring, RK_OP_POLL_ADD, fd, false, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	io_uring_prep_poll_add(sqe, fd, poll_mask);
	return rk__op_commit(ring, op, sqe, flags);
}

/* Shared by poll_remove, timeout_remove and cancel. */
static int64_t prep_targeted(rk_ring *ring, uint32_t code, uint8_t opcode, int64_t target_id,
                             uint32_t flags)
{
	if (!ring)
		return -EINVAL;
	if (!rk__op_lookup(ring, target_id))
		return -ENOENT;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin(ring, code, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	io_uring_prep_rw(opcode, sqe, -1, NULL, 0, 0);
	sqe->addr = (uint64_t)target_id;
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_poll_remove(rk_ring *ring, int64_t target_id, uint32_t flags)
{
	return prep_targeted(ring, RK_OP_POLL_REMOVE, IORING_OP_POLL_REMOVE, target_id, flags);
}

int64_t rk_prep_timeout_remove(rk_ring *ring, int64_t target_id, uint32_t flags)
{
	return prep_targeted(ring, RK_OP_TIMEOUT_REMOVE, IORING_OP_TIMEOUT_REMOVE, target_id, flags);
}

/* How long cancelling a copy waits for a sub-op making its call. */
#define COPY_CANCEL_WAIT_NS 1000000000LL

int64_t rk_prep_cancel(rk_ring *ring, int64_t target_id, uint32_t flags)
{
	struct rk_op *target = ring ? rk__op_lookup(ring, target_id) : NULL;
	if (target && target->state == RK_OP_ENGINE && !rk__check_ring(ring)) {
		/* A copy is no kernel op: the core cancels its sub-ops now,
		 * and this op completes at once, as a cancel that found it. */
		struct rk_op *op;
		struct io_uring_sqe *sqe;
		int64_t ret = rk__op_begin(ring, RK_OP_CANCEL, flags, &op, &sqe);
		if (ret < 0)
			return ret;
		rk__copy_cancel(ring, target, COPY_CANCEL_WAIT_NS);
		return rk__op_commit_local(ring, op, 0);
	}
	return prep_targeted(ring, RK_OP_CANCEL, IORING_OP_ASYNC_CANCEL, target_id, flags);
}

/* The timespec lives in op storage: the kernel reads it when the op is
 * issued, not when it is prepared. */
static int64_t prep_time(rk_ring *ring, uint32_t code, uint8_t opcode, int64_t ns, uint32_t count,
                         uint32_t timeout_flags, uint32_t flags)
{
	if (!ring)
		return -EINVAL;
	if (ns < 0 || (timeout_flags & ~RK_TIMEOUT_FLAGS))
		return -EINVAL;
	if ((timeout_flags & RK_TIMEOUT_BOOTTIME) && (timeout_flags & RK_TIMEOUT_REALTIME))
		return -EINVAL;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin(ring, code, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	struct __kernel_timespec *ts = rk__op_storage(ring, op, sizeof(*ts));
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	io_uring_prep_rw(opcode, sqe, -1, ts, 1, count);
	sqe->timeout_flags = timeout_flags;
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_timeout(rk_ring *ring, int64_t ns, uint32_t count, uint32_t timeout_flags,
                        uint32_t flags)
{
	return prep_time(ring, RK_OP_TIMEOUT, IORING_OP_TIMEOUT, ns, count, timeout_flags, flags);
}

int64_t rk_prep_link_timeout(rk_ring *ring, int64_t ns, uint32_t timeout_flags, uint32_t flags)
{
	/* It bounds the op before it, which must have opened a chain. */
	if (ring && ring->chain_len == 0)
		return -EINVAL;
	return prep_time(ring, RK_OP_LINK_TIMEOUT, IORING_OP_LINK_TIMEOUT, ns, 0, timeout_flags, flags);
}

/* Needs no slot, so a runtime can still cancel when the table is full; the
 * backend does the rest. */
int rk_cancel_sync(rk_ring *ring, int64_t target_id, int64_t timeout_ns)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	struct rk_op *op = rk__op_lookup(ring, target_id);
	if (!op || op->state == RK_OP_LOCAL)
		return -ENOENT;
	if (op->state == RK_OP_ENGINE)
		return rk__copy_cancel(ring, op, timeout_ns);
	return ring->be->cancel_sync(ring, op, target_id, timeout_ns);
}
