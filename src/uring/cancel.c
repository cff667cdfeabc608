/*
 * rk_cancel_sync of an op the kernel has not taken yet. The kernel's sync
 * cancel only finds ops it holds; an op still in the overflow queue, or in
 * SQ entries the kernel has not consumed, is ours to settle. It completes
 * locally with -ECANCELED, as rk_ring_cancel_all completes what it finds
 * unsubmitted, and so do the ops a soft link from it chains to: the kernel
 * fails the rest of a chain when an op without IOSQE_IO_HARDLINK fails.
 */
#include <sched.h>

#include "uring.h"

#define LINKS (IOSQE_IO_LINK | IOSQE_IO_HARDLINK)

/* Whether the next op of the sequence belongs to the cancelled block:
 * after an op that links on, when the target's link is a soft one. */
static bool block_goes_on(bool soft, uint8_t prev_flags)
{
	return soft && (prev_flags & LINKS);
}

static void settle_one(rk_ring *ring, struct rk_op *op)
{
	rk__op_complete_local(ring, op, -ECANCELED);
}

/* An SQ entry the kernel has not consumed becomes a NOP of our own: its
 * completion carries RK_UD_INTERNAL and is dropped, and the links of the
 * chain around it stay as the kernel would see them. */
static void unwrite_entry(rk_ring *ring, struct io_uring_sqe *sqe)
{
	struct rk_op *op = rk__op_lookup(ring, (int64_t)sqe->user_data);
	uint8_t flags = sqe->flags & (LINKS | IOSQE_IO_DRAIN);
	io_uring_prep_nop(sqe);
	sqe->flags = flags;
	sqe->user_data = RK_UD_INTERNAL;
	if (op) {
		ring->in_kernel--;
		settle_one(ring, op);
	}
}

/* Takes staged ops from `start` (prev: the staged op before it, or RK_NONE
 * when it is the head) out of the overflow queue while they belong to the
 * block. pred_flags points at the flags of the op before the segment (a
 * staged copy or an SQ entry of ours), or is NULL. */
static void unstage(rk_ring *ring, uint32_t prev, uint32_t start, bool soft,
                    uint8_t *pred_flags)
{
	uint32_t s = start;
	uint8_t last = 0;
	do {
		struct rk_op *op = &ring->ops[s];
		uint32_t next = op->next;
		last = op->sqe.flags;
		ring->staged_count--;
		settle_one(ring, op);
		s = next;
	} while (s != RK_NONE && block_goes_on(soft, last));
	if (prev == RK_NONE)
		ring->staged_head = s;
	else
		ring->ops[prev].next = s;
	if (s == RK_NONE) {
		ring->staged_tail = prev;
		if (last & LINKS)
			ring->chain_len = 0; /* the chain being prepared ended here */
	}
	/* The op before the segment linked into it: unless the chain goes on
	 * after it (a hard link from the target), that op now ends the chain,
	 * or it would link to an unrelated op. */
	if (pred_flags && (!(last & LINKS) || s == RK_NONE))
		*pred_flags &= (uint8_t)~LINKS;
}

bool rk__cancel_unsubmitted(rk_ring *ring, struct rk_op *target, uint32_t *sq_index)
{
	struct rk_sq *sq = &ring->sq;
	uint64_t ud = (uint64_t)rk__op_id(ring, target);
	/* Without SQPOLL the kernel reads the SQ only inside our own
	 * io_uring_enter, so even published entries it has not consumed are
	 * still ours to rewrite; with SQPOLL only the unpublished ones are. */
	uint32_t head = rk__load_acquire(sq->khead);
	uint32_t mine = ring->setup_flags & IORING_SETUP_SQPOLL ? sq->published : head;
	bool in_block = false, soft = false;
	uint8_t *pred_flags = NULL;

	*sq_index = RK_NONE;
	for (uint32_t i = head; i != sq->tail; i++) {
		struct io_uring_sqe *sqe = &sq->sqes[i & sq->mask];
		if (!in_block) {
			if (sqe->user_data != ud) {
				pred_flags = (int32_t)(i - mine) >= 0 ? &sqe->flags : NULL;
				continue;
			}
			if ((int32_t)(i - mine) < 0) {
				*sq_index = i; /* the kernel's to take: wait for it */
				return false;
			}
			in_block = true;
			soft = (sqe->flags & LINKS) == IOSQE_IO_LINK;
		} else if (!block_goes_on(soft, *pred_flags)) {
			return true;
		}
		pred_flags = &sqe->flags;
		unwrite_entry(ring, sqe);
	}
	if (in_block && !block_goes_on(soft, *pred_flags))
		return true;

	uint32_t prev = RK_NONE;
	for (uint32_t s = ring->staged_head; s != RK_NONE; prev = s, s = ring->ops[s].next) {
		struct rk_op *op = &ring->ops[s];
		if (in_block || op == target) {
			if (!in_block)
				soft = (op->sqe.flags & LINKS) == IOSQE_IO_LINK;
			unstage(ring, prev, s, soft, pred_flags);
			return true;
		}
		pred_flags = &op->sqe.flags;
	}
	if (!in_block)
		return false;
	/* The block ran to the end of what is prepared: a chain still being
	 * prepared ends with it. */
	*pred_flags &= (uint8_t)~LINKS;
	ring->chain_len = 0;
	return true;
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
