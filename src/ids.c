/*
 * The op table: one slot per live op, named by id = generation << 32 | slot.
 *
 * The id travels to the kernel whole as user_data, so a completion or a cancel
 * can only ever match the op it was made for; the generation advances when a
 * slot is released, so a stale id is recognisably stale. Slots, their inline
 * storage and the spill pool are allocated once at ring creation: preparing
 * and reaping ops allocates nothing.
 */
#include <errno.h>

#include "ids.h"

int rk__table_init(rk_ring *ring, uint32_t capacity)
{
	uint32_t size = rk__pow2_at_least(capacity); /* untouched past capacity */
	ring->ops = rk__calloc(size, sizeof(*ring->ops));
	if (!ring->ops)
		return -ENOMEM;
	ring->capacity = capacity;
	ring->table_mask = size - 1;
	for (uint32_t i = 0; i < capacity; i++) {
		ring->ops[i].slot = i;
		ring->ops[i].next = i + 1 < capacity ? i + 1 : RK_NONE;
		ring->ops[i].spill = RK_NONE;
		ring->ops[i].chunk = -1;
	}
	ring->free_head = 0;
	ring->staged_head = ring->staged_tail = RK_NONE;
	ring->local_head = ring->local_tail = RK_NONE;

	/* One spill block per eight slots covers long paths and big iovec arrays
	 * in any realistic mix; the memory is only touched when used. */
	ring->nspill = capacity / 8 > 4 ? capacity / 8 : 4;
	ring->spill = rk__calloc(ring->nspill, RK_SPILL_BYTES);
	ring->spill_free = rk__calloc(ring->nspill, sizeof(uint32_t));
	if (!ring->spill || !ring->spill_free) {
		rk__table_free(ring);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < ring->nspill; i++)
		ring->spill_free[i] = ring->nspill - 1 - i;
	ring->spill_top = ring->nspill;
	return 0;
}

void rk__table_free(rk_ring *ring)
{
	rk__free(ring->ops);
	rk__free(ring->spill);
	rk__free(ring->spill_free);
	ring->ops = NULL;
	ring->spill = NULL;
	ring->spill_free = NULL;
}

/* Storage the kernel may read after this call returns: inline in the slot
 * when it fits, else a spill block. NULL when the pool is exhausted. */
void *rk__op_storage(rk_ring *ring, struct rk_op *op, size_t size)
{
	if (size <= RK_INLINE_BYTES)
		return op->inl;
	if (size > RK_SPILL_BYTES || ring->spill_top == 0)
		return NULL;
	op->spill = ring->spill_free[--ring->spill_top];
	op->held |= RK_HELD_SPILL;
	return ring->spill + (size_t)op->spill * RK_SPILL_BYTES;
}

/* Completes an op that never reached the kernel; rk_reap delivers it. */
void rk__op_complete_local(rk_ring *ring, struct rk_op *op, int32_t res)
{
	uint32_t slot = rk__op_slot(ring, op);
	op->state = RK_OP_LOCAL;
	op->res = res;
	op->next = RK_NONE;
	if (ring->local_tail == RK_NONE)
		ring->local_head = slot;
	else
		ring->ops[ring->local_tail].next = slot;
	ring->local_tail = slot;
}

/* Ops still in the overflow queue never reached a backend: cancel_all
 * completes them locally with -ECANCELED (settle), close drops them and
 * the local completions nobody will reap. Returns how many were staged. */
int rk__cancel_staged(rk_ring *ring, bool settle)
{
	int n = 0;
	while (ring->staged_head != RK_NONE) {
		struct rk_op *op = &ring->ops[ring->staged_head];
		ring->staged_head = op->next;
		ring->staged_count--;
		if (settle)
			rk__op_complete_local(ring, op, -ECANCELED);
		else
			rk__op_release(ring, op);
		n++;
	}
	ring->staged_tail = RK_NONE;
	rk__chain_end(ring);
	if (!settle) {
		while (ring->local_head != RK_NONE) {
			struct rk_op *op = &ring->ops[ring->local_head];
			ring->local_head = op->next;
			rk__op_release(ring, op);
		}
		ring->local_tail = RK_NONE;
	}
	return n;
}
