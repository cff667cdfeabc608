/*
 * rk_cancel_sync of an op the kernel has not taken yet. The kernel's sync
 * cancel only finds ops it holds; an op still in the overflow queue, or in
 * SQ entries the kernel has not consumed, is ours to settle. It completes
 * locally with -ECANCELED, as rk_ring_cancel_all completes what it finds
 * unsubmitted, and so do the ops a soft link from it chains to: the kernel
 * fails the rest of a chain when an op without IOSQE_IO_HARDLINK fails.
 *
 * The cancelled ops are taken out of the queue they wait in, as if never
 * prepared, so nothing of them reaches the kernel. Ops prepared around them
 * keep their order; the op before them, which linked into them, then ends
 * its chain (unless a hard link goes on past them), or it would link to an
 * unrelated op.
 */
#include <sched.h>

#include "uring.h"

#define LINKS (IOSQE_IO_LINK | IOSQE_IO_HARDLINK)

static void settle(rk_ring *ring, struct rk_op *op, bool in_sq)
{
	if (in_sq)
		ring->in_kernel--; /* counted when written into the SQ */
	else
		ring->staged_count--;
	rk__op_complete_local(ring, op, -ECANCELED);
}

/* Takes SQ entries [start, end) out, moving the later ones down. Without
 * SQPOLL published entries may go too: the kernel reads the SQ only inside
 * our own io_uring_enter. */
static void drop_entries(rk_ring *ring, uint32_t start, uint32_t end)
{
	struct rk_sq *sq = &ring->sq;
	uint32_t n = end - start;
	for (uint32_t j = end; j != sq->tail; j++)
		sq->sqes[(j - n) & sq->mask] = sq->sqes[j & sq->mask];
	sq->tail -= n;
	rk__sq_forget_room(sq);
	if ((int32_t)(sq->published - start) > 0) {
		uint32_t published_gone = (int32_t)(sq->published - end) >= 0 ? n : sq->published - start;
		sq->published -= published_gone;
		rk__store_release(sq->ktail, sq->published);
	}
}

/* Cancels the block that starts at SQ position `start`, or (start == the
 * tail) at staged slot `sstart`, whose staged predecessor is `sprev`.
 * pred: the flags of the op before the block, when they are ours to change. */
static void cancel_block(rk_ring *ring, uint32_t start, uint32_t sprev, uint32_t sstart,
                         uint8_t *pred)
{
	struct rk_sq *sq = &ring->sq;
	uint8_t last = 0;
	bool soft, more = true, follows;

	if (start != sq->tail) {
		soft = (sq->sqes[start & sq->mask].flags & LINKS) == IOSQE_IO_LINK;
		uint32_t end = start;
		while (more && end != sq->tail) {
			struct io_uring_sqe *sqe = &sq->sqes[end & sq->mask];
			last = sqe->flags;
			struct rk_op *op = rk__op_lookup(ring, (int64_t)sqe->user_data);
			if (op)
				settle(ring, op, true);
			end++;
			more = soft && (last & LINKS);
		}
		follows = end != sq->tail || ring->staged_head != RK_NONE;
		drop_entries(ring, start, end);
		sprev = RK_NONE; /* the block may go on with the first staged op */
		sstart = ring->staged_head;
	} else {
		soft = (ring->ops[sstart].sqe.flags & LINKS) == IOSQE_IO_LINK;
	}
	if (more) {
		uint32_t s = sstart;
		while (more && s != RK_NONE) {
			struct rk_op *op = &ring->ops[s];
			s = op->next;
			last = op->sqe.flags;
			settle(ring, op, false);
			more = soft && (last & LINKS);
		}
		if (sprev == RK_NONE)
			ring->staged_head = s;
		else
			ring->ops[sprev].next = s;
		if (s == RK_NONE)
			ring->staged_tail = sprev;
		follows = s != RK_NONE;
	}
	/* A chain still being prepared ends with the block. */
	if (!follows && (last & LINKS))
		rk__chain_end(ring);
	if (pred && (!(last & LINKS) || !follows))
		*pred &= (uint8_t)~LINKS;
}

bool rk__cancel_unsubmitted(rk_ring *ring, struct rk_op *target, uint32_t *sq_index)
{
	struct rk_sq *sq = &ring->sq;
	uint64_t ud = (uint64_t)rk__op_id(ring, target);
	rk__sq_count(ring);
	uint32_t head = rk__load_acquire(sq->khead);
	uint32_t mine = ring->setup_flags & IORING_SETUP_SQPOLL ? sq->published : head;
	uint8_t *pred = NULL;

	*sq_index = RK_NONE;
	for (uint32_t i = head; i != sq->tail; i++) {
		struct io_uring_sqe *sqe = &sq->sqes[i & sq->mask];
		if (sqe->user_data == ud) {
			if ((int32_t)(i - mine) < 0) {
				*sq_index = i; /* the poll thread's to take: wait for it */
				return false;
			}
			cancel_block(ring, i, RK_NONE, RK_NONE, pred);
			return true;
		}
		pred = (int32_t)(i - mine) >= 0 ? &sqe->flags : NULL;
	}
	uint32_t prev = RK_NONE;
	for (uint32_t s = ring->staged_head; s != RK_NONE; prev = s, s = ring->ops[s].next) {
		if (&ring->ops[s] == target) {
			cancel_block(ring, sq->tail, prev, s, pred);
			return true;
		}
		pred = &ring->ops[s].sqe.flags;
	}
	return false;
}

/* SQPOLL: the poll thread takes published entries when it gets to them.
 * Waits until it took entry `index`, at most timeout_ns (< 0: no limit). */
int rk__wait_sq_taken(rk_ring *ring, uint32_t index, int64_t timeout_ns)
{
	int64_t start = rk__now_ns();
	while ((int32_t)(rk__load_acquire(ring->sq.khead) - index) <= 0) {
		if (rk__load_acquire(ring->sq.kflags) & IORING_SQ_NEED_WAKEUP)
			rk__sys_enter(ring->fd, 0, 0, IORING_ENTER_SQ_WAKEUP, NULL, 0);
		if (timeout_ns >= 0 && rk__now_ns() - start >= timeout_ns)
			return -ETIME;
		sched_yield();
	}
	return 0;
}
