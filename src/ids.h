/*
 * The op table's hot path: taking a slot, queueing an op, finding the op a
 * completion names. Every prep and every completion runs through these, so
 * they are inline; the cold paths (setup, release, storage) live in ids.c.
 */
#ifndef RK_IDS_H
#define RK_IDS_H

#include <errno.h>

#include "internal.h"

#define RK_ALLOWED_SQE_FLAGS (RK_FIXED_FILE | RK_DRAIN | RK_LINK | RK_HARDLINK | RK_ASYNC)

static inline uint32_t rk__op_slot(rk_ring *ring, const struct rk_op *op)
{
	(void)ring;
	return op->slot;
}

/* The chain length once a prep with these flags is committed, set when
 * the prep takes its slot (so that the commit, on every prep's path, never
 * writes it): the slot is marked RK_OP_CHAINED and rk__op_abort puts the
 * length back. Only preps that fail prep_key's compare (a chain is open) or
 * have flags come here; the rest leave a length of 0 as it is. -EBUSY when
 * the table is full, as the slot's pop would say. */
static inline int rk__op_chain(rk_ring *ring, uint32_t flags)
{
	uint32_t len = flags & (RK_LINK | RK_HARDLINK) ? ring->chain_len + 1 : 0;
	if (len == ring->chain_len)
		return 0;
	if (ring->free_head == RK_NONE)
		return -EBUSY;
	ring->ops[ring->free_head].state = RK_OP_CHAINED;
	ring->chain_undo = ring->chain_len;
	ring->chain_len = len;
	rk__ring_key(ring);
	return 0;
}

/* The checks of the flags every op shares, for flags other than 0 and
 * RK_FIXED_FILE, and the chain they continue or end. */
static inline int rk__op_flags(rk_ring *ring, uint32_t flags)
{
	if (flags & ~RK_ALLOWED_SQE_FLAGS)
		return -EINVAL;
	if (flags & RK_DRAIN) {
		if (ring->zc_sent)
			return -EINVAL; /* see rk_prep_send_zc */
		ring->drained = true;
	}
	/* The kernel ends a chain at the end of a submission and we publish
	 * whole chains only: a chain must fit in the SQ. */
	if ((flags & (RK_LINK | RK_HARDLINK)) && ring->chain_len + 1 >= ring->sq.entries)
		return -EINVAL;
	return rk__op_chain(ring, flags);
}

/* Where an op goes when [sq.next, sq.stop), the entries known free, ran
 * out: straight into the SQ when nothing waits ahead of it and the kernel
 * has consumed entries since (the range is refilled from its head, up to
 * the SQ's last entry), else the slot's own staging copy, the overflow
 * queue. */
static inline struct io_uring_sqe *rk__op_sqe_slow(rk_ring *ring, struct rk_op *op)
{
	struct rk_sq *sq = &ring->sq;
	if (ring->staged_head != RK_NONE)
		return &op->sqe;
	uint32_t used = rk__sq_used(ring);
	if (used >= sq->entries)
		return &op->sqe;
	uint32_t at = sq->tail & sq->mask, free = sq->entries - used;
	sq->next = sq->mark = &sq->sqes[at];
	sq->stop = sq->next + (free < sq->entries - at ? free : sq->entries - at);
	return sq->next;
}

/* Where op's SQE is written (rk__op_commit then queues it): the SQ's next
 * entry while [sq.next, sq.stop) has one, else as rk__op_sqe_slow decides.
 * Every SQE of an op goes through here, so that the range stays exact. */
static inline struct io_uring_sqe *rk__op_sqe(rk_ring *ring, struct rk_op *op)
{
	struct io_uring_sqe *next = ring->sq.next;
	if (__builtin_expect(next != ring->sq.stop, 1))
		return next;
	return rk__op_sqe_slow(ring, op);
}

/* Whether ops of this code may post completions with IORING_CQE_F_MORE:
 * multishot ops, and zero-copy sends (their notification follows the
 * result). From ops.def; a constant code folds it to a constant. */
static inline bool rk__op_posts_more(uint32_t code)
{
	switch (code) {
#define OP(NAME, name, opcode, result, multishot, home, exec, args) \
	case RK_OP_##NAME:                                          \
		return (multishot) || RK_RESULT_##result == RK_RESULT_ZC;
#include "ops.def"
#undef OP
	default:
		return false;
	}
}

/* Whether a prep takes rk__op_begin's straight path: an open, unrestricted
 * ring of this process with no chain open, flags 0 or RK_FIXED_FILE, a free
 * slot and an SQ entry known free.
 * A hot prep with many arguments tests this first and jumps to an
 * out-of-line copy of itself with every check otherwise, so that its
 * straight path saves no registers for the checks' sake. */
static inline bool rk__op_straight(const rk_ring *ring, uint32_t flags)
{
	return !rk__ring_unkeyed(ring) && !(flags & ~RK_FIXED_FILE) &&
	       ring->free_head != RK_NONE && ring->sq.next != ring->sq.stop;
}

/* On the straight path (rk__op_straight held before rk__op_begin) the SQE
 * is the SQ's next entry, never the slot's staging copy: says so to the
 * compiler, so that rk__op_commit's test of where it went folds away. */
static inline void rk__op_in_sq(const struct rk_op *op, const struct io_uring_sqe *sqe)
{
	if (sqe == &op->sqe)
		__builtin_unreachable();
}

/* Takes a free slot for a new op `code` (RK_OP_*) and validates the flags
 * every op shares, and the ring's allowlist when it is restricted.
 * *sqe is where the prep writes: straight into the SQ when nothing waits
 * ahead of this op and there is room, else the slot's own staging copy (the
 * overflow queue), so ops always reach the kernel in the order prepared. The
 * op becomes visible only through rk__op_commit(); rk__op_abort() gives the
 * slot back untouched when argument checks fail after this.
 *
 * Every prep runs through here, so the common case (no flags, a free slot,
 * SQ room already known) is the straight path. */
static inline int64_t rk__op_begin(rk_ring *ring, uint32_t code, uint32_t flags,
                                   struct rk_op **out, struct io_uring_sqe **sqe)
{
	int err;
	/* An open, unrestricted ring of this process passes on one compare
	 * (prep_key); code (RK_OP_*) is a constant at every call site. */
	if (__builtin_expect(rk__ring_unkeyed(ring), 0)) {
		if ((err = rk__check_ring(ring)) != 0)
			return err;
		if (ring->gate != RK_GATE_OPEN && (err = rk__gate(ring, code, flags)) < 0)
			return err;
		/* Other flags: rk__op_flags sees to the chain. */
		if (!(flags & ~RK_FIXED_FILE) && (err = rk__op_chain(ring, flags)) != 0)
			return err;
	}
	/* RK_FIXED_FILE alone breaks no rule: a registered file costs no check. */
	if (__builtin_expect((flags & ~RK_FIXED_FILE) != 0, 0) &&
	    (err = rk__op_flags(ring, flags)) != 0)
		return err;
	uint32_t slot = ring->free_head;
	if (__builtin_expect(slot == RK_NONE, 0))
		return -EBUSY;
	struct rk_op *op = &ring->ops[slot];
	ring->free_head = op->next;
	if (rk__op_posts_more(code))
		op->held = RK_HELD_MORE; /* a free slot holds nothing */
	/* No memset of the SQE: every prep goes through io_uring_prep_rw,
	 * which writes all fields but user_data and flags; commit writes those. */
	*sqe = rk__op_sqe(ring, op);
	*out = op;
	return 0;
}

/* rk__op_begin for an op on an fd, with the checks such ops share, in the
 * documented order: NULL ring (-EINVAL), negative fd (-EBADF), then
 * `invalid`, the op's own argument check (-EINVAL). */
static inline int64_t rk__op_begin_fd(rk_ring *ring, uint32_t code, int fd, bool invalid,
                                      uint32_t flags, struct rk_op **op,
                                      struct io_uring_sqe **sqe)
{
	if (!ring)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (invalid)
		return -EINVAL;
	return rk__op_begin(ring, code, flags, op, sqe);
}

/* Gives a slot back, with any storage or chunk pin it took, and the chain
 * length as it was before its prep. */
static inline void rk__op_abort(rk_ring *ring, struct rk_op *op)
{
	if (op->state == RK_OP_CHAINED) {
		op->state = RK_OP_FREE;
		ring->chain_len = ring->chain_undo;
		rk__ring_key(ring);
	}
	if (op->spill != RK_NONE) {
		ring->spill_free[ring->spill_top++] = op->spill;
		op->spill = RK_NONE;
	}
	if (op->region) {
		rk__region_unpin(op->region, op->chunk);
		op->region = NULL;
		op->chunk = -1;
	}
	op->held = 0;
	if (op->group)
		rk__group_release(ring, op);
	op->kind = RK_KIND_PLAIN;
	op->next = ring->free_head;
	ring->free_head = rk__op_slot(ring, op);
}

/* Queues a prepared op: it is either already in the SQ (published by the
 * next submit) or appended to the overflow queue. */
static inline int64_t rk__op_commit(rk_ring *ring, struct rk_op *op, struct io_uring_sqe *sqe, uint32_t flags)
{
	int64_t id = rk__op_id_word(op);

	sqe->user_data = (uint64_t)id;
	sqe->flags = (uint8_t)flags;
	if (__builtin_expect(sqe != &op->sqe, 1)) {
		ring->sq.next = sqe + 1; /* tail, live, in_kernel: rk__sq_count */
		op->state = RK_OP_KERNEL;
	} else {
		uint32_t slot = rk__op_slot(ring, op);
		op->state = RK_OP_STAGED;
		op->next = RK_NONE;
		if (ring->staged_tail == RK_NONE)
			ring->staged_head = slot;
		else
			ring->ops[ring->staged_tail].next = slot;
		ring->staged_tail = slot;
		ring->staged_count++;
		ring->live++;
	}
	/* chain_len: rk__op_chain set it, when it changes */
	return id;
}

/* Queues an op that is already complete, without the backend: rk_reap
 * delivers it with res. (A message from an io_uring ring to a fallback
 * ring, posted when prepared.) */
static inline int64_t rk__op_commit_local(rk_ring *ring, struct rk_op *op, int32_t res)
{
	ring->live++;
	rk__chain_end(ring);
	rk__op_complete_local(ring, op, res);
	return rk__op_id_word(op);
}

/* The live op an id names, or NULL when the id is stale, unknown or free. */
static inline struct rk_op *rk__op_lookup(rk_ring *ring, int64_t id)
{
	if (id < 0)
		return NULL;
	uint32_t slot = (uint32_t)id;
	uint32_t gen = (uint32_t)((uint64_t)id >> 32);
	if (slot >= ring->capacity)
		return NULL;
	struct rk_op *op = &ring->ops[slot];
	if (op->state == RK_OP_FREE || op->gen != gen)
		return NULL;
	return op;
}

static inline int64_t rk__op_id(rk_ring *ring, const struct rk_op *op)
{
	(void)ring;
	return rk__op_id_word(op);
}

/* The start of the op's storage, where rk__op_storage put it. */
static inline unsigned char *rk__op_storage_base(rk_ring *ring, struct rk_op *op)
{
	if (op->spill != RK_NONE)
		return ring->spill + (size_t)op->spill * RK_SPILL_BYTES;
	return op->inl;
}

/* Called once per op, after its final completion was handed out (or when the
 * ring is torn down): unpins, frees storage, retires the id. */
static inline void rk__op_release(rk_ring *ring, struct rk_op *op)
{
	if (op->state == RK_OP_KERNEL)
		ring->in_kernel--;
	op->state = RK_OP_FREE;
	op->gen = (op->gen + 1) & RK_GEN_MASK;
	ring->live--;
	rk__op_abort(ring, op);
}

/* Local completions (rk__op_complete_local) go out first in rk_reap, on
 * both backends: copies up to max and releases their slots. */
static inline uint32_t rk__drain_local(rk_ring *ring, rk_cqe *out, uint32_t max)
{
	uint32_t n = 0;
	while (ring->local_head != RK_NONE && n < max) {
		struct rk_op *op = &ring->ops[ring->local_head];
		ring->local_head = op->next;
		out[n].id = rk__op_id(ring, op);
		out[n].res = op->res;
		out[n].flags = 0;
		if (op->kind) {
			if (op->kind == RK_KIND_COPY) {
				n += (uint32_t)rk__copy_cqe(ring, op, op->res, &out[n]);
				continue;
			}
			rk__op_settle(ring, op, op->res, 0);
		}
		n++;
		ring->total_cqes++;
		ring->total_completed++;
		rk__op_release(ring, op);
	}
	if (ring->local_head == RK_NONE)
		ring->local_tail = RK_NONE;
	return n;
}

#endif
