/*
 * Messages between rings. A message is a CQE posted into another ring's
 * completion queue with user_data and res chosen by the sender. The
 * target's rk_reap must never mistake it for one of its own ops (that would
 * free a slot the kernel still owns), so the user_data we send always has
 * the top bit set: op ids are non-negative, and the drains hand negative
 * ones out as messages. All ones stays reserved for the core's internal ops.
 *
 * Who posts it depends on the target, never on a test of the sender's
 * backend here: the kernel posts into an io_uring, given its fd
 * (IORING_OP_MSG_RING); a ring whose backend has a post_message hook is in
 * the registry (registry.c), and the library posts into it. The sender's
 * backend prepares the op (its prep_msg_ring hook): the io_uring backend
 * posts into a listed ring as the op is prepared, since the kernel running
 * its ops could not; the fallback runs the op as any other, through
 * rk__msg_send.
 */
#include <errno.h>
#include <pthread.h>

#include "ids.h"

/* What a message's completion carries as its id: the value, with the sign
 * bit that tells it from an op id (so it names no slot). */
static uint64_t msg_data(int64_t value)
{
	return (uint64_t)value | (UINT64_C(1) << 63);
}

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
	int64_t ret = rk__op_begin(ring, RK_OP_MSG_RING, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	return ring->be->prep_msg_ring(ring, op, sqe, target_fd, msg_data(value), res, flags);
}

int64_t rk__msg_prep(rk_ring *ring, struct rk_op *op, struct io_uring_sqe *sqe, int target_fd,
                     uint64_t data, int32_t res, uint32_t flags)
{
	/* addr 0 is IORING_MSG_DATA: post len as res and off as user_data. */
	io_uring_prep_msg_ring(sqe, target_fd, (unsigned)res, data, 0);
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_msg_ring_fd(rk_ring *ring, int target_fd, uint32_t src_slot, uint32_t dst_slot,
                            int64_t value, uint32_t msg_flags, uint32_t flags)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	if (target_fd < 0)
		return -EBADF;
	if (value < 0 || value > RK_MSG_VALUE_MAX || (msg_flags & ~RK_MSG_RING_CQE_SKIP))
		return -EINVAL;
	if (!ring->probe[IORING_OP_MSG_RING] || !rk__feature(ring, RK_FEATURE_MSG_SEND_FD))
		return -EOPNOTSUPP;
	if (!ring->nfiles)
		return -ENXIO;
	/* No table is larger than RK_FILES_MAX: a larger dst_slot + 1 could
	 * even read as IORING_FILE_INDEX_ALLOC. */
	if (src_slot >= ring->nfiles || (dst_slot >= RK_FILES_MAX && dst_slot != RK_FILE_INDEX_ALLOC))
		return -EINVAL;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin(ring, RK_OP_MSG_RING_FD, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	return ring->be->prep_msg_fd(ring, op, sqe, target_fd, src_slot, dst_slot, msg_data(value),
	                             msg_flags, flags);
}

int64_t rk__msg_fd_prep(rk_ring *ring, struct rk_op *op, struct io_uring_sqe *sqe, int target_fd,
                        uint32_t src_slot, uint32_t dst_slot, uint64_t data, uint32_t msg_flags,
                        uint32_t flags)
{
	/* As io_msg_ring_prep reads it: the source slot in addr3 (a slot, not
	 * slot + 1), the target's in file_index. */
	io_uring_prep_rw(IORING_OP_MSG_RING, sqe, target_fd, (void *)(uintptr_t)IORING_MSG_SEND_FD,
	                 0, data);
	sqe->addr3 = src_slot;
	sqe->file_index = dst_slot == RK_FILE_INDEX_ALLOC ? IORING_FILE_INDEX_ALLOC : dst_slot + 1;
	sqe->msg_ring_flags = msg_flags & RK_MSG_RING_CQE_SKIP ? IORING_MSG_RING_CQE_SKIP : 0;
	return rk__op_commit(ring, op, sqe, flags);
}

/* ---- senders that are no io_uring ------------------------------------- */

/* To an io_uring the kernel posts, from a small private io_uring of the
 * process, made on first need (when io_uring is refused here, no io_uring
 * ring can exist either, and the target cannot be one). It is a ring of
 * the io_uring backend used through the core's own calls, never listed. */
static pthread_mutex_t helper_mu = PTHREAD_MUTEX_INITIALIZER;
static rk_ring *helper;
static bool helper_failed;

static void fork_prepare(void)
{
	pthread_mutex_lock(&helper_mu);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&helper_mu);
}

/* The child's copy is the parent's ring: left alone, as rk__check_ring
 * leaves inherited rings. */
static void fork_child(void)
{
	helper = NULL;
	helper_failed = false;
	pthread_mutex_unlock(&helper_mu);
}

static void watch_forks(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static rk_ring *make_helper(void)
{
	rk_ring *h = rk__calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	if (rk__uring_backend.create(h, 2, 0, 0, 0, 0) < 0) {
		rk__free(h);
		return NULL;
	}
	h->epoch = rk__fork_epoch;
	return h;
}

static int32_t send_by_kernel(int fd, uint64_t data, int32_t res)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, watch_forks);
	int32_t r = -EBADFD;
	pthread_mutex_lock(&helper_mu);
	if (!helper && !helper_failed && !(helper = make_helper()))
		helper_failed = true;
	if (helper) {
		struct rk_op *op;
		struct io_uring_sqe *sqe;
		int64_t id = helper->probe[IORING_OP_MSG_RING]
		                     ? rk__op_begin(helper, RK_OP_MSG_RING, 0, &op, &sqe)
		                     : -EOPNOTSUPP;
		if (id >= 0)
			id = rk__msg_prep(helper, op, sqe, fd, data, res, 0);
		rk_cqe c;
		if (id >= 0 && helper->be->reap(helper, &c, 1, 1, -1) == 1)
			r = c.res;
		else if (id < 0)
			r = (int32_t)id;
	}
	pthread_mutex_unlock(&helper_mu);
	return r;
}

int32_t rk__msg_send(int fd, uint64_t data, int32_t res)
{
	int32_t r;
	if (rk__registry_post(fd, data, res, &r))
		return r;
	return send_by_kernel(fd, data, res);
}

void rk__msg_release(void)
{
	pthread_mutex_lock(&helper_mu);
	if (helper && helper->be->close(helper) == 0)
		rk__free(helper);
	helper = NULL;
	helper_failed = false;
	pthread_mutex_unlock(&helper_mu);
}
