/*
 * The fallback's two ends on the caller's thread: handing staged ops over
 * (submit: chains linked up, link timeouts attached, RK_DRAIN held) and
 * taking completions back (rk_reap: the queue drained, slots released in
 * the op table, the ring's eventfd kept in step, waits on it with ppoll).
 */
#include <errno.h>

#include "fb.h"

#define LINKS (IOSQE_IO_LINK | IOSQE_IO_HARDLINK)

/* The ring's eventfd is readable exactly while the queue holds records.
 * The caller's own thread leaves it to this, at the end of its rk_submit,
 * rk_reap, ... call: a reap that posts inline and drains what it posted
 * then makes no eventfd call at all. */
void rk__fb_sync_signal(rk_ring *ring)
{
	struct rk_fb *fb = ring->fb;
	bool pending = fb->cq_tail != fb->cq_head;
	if (pending && !fb->signalled) {
		rk__fb_sys_signal(ring->fd, 1);
		fb->signalled = true;
	} else if (!pending && fb->signalled) {
		rk__fb_sys_unsignal(ring->fd);
		fb->signalled = false;
	}
}

/* Hands every staged op to the fallback: chains are linked up (a chain
 * ends at the end of a submission, as in the kernel), link timeouts attach
 * to the op before them, and each chain's first op starts — or waits, when
 * RK_DRAIN says so. */
static int submit(rk_ring *ring, bool sync)
{
	struct rk_fb *fb = ring->fb;
	if (ring->staged_head == RK_NONE)
		return 0;
	struct fb_ctx ctx = {.kind = FB_CALLER, .head = RK_NONE, .tail = RK_NONE};
	uint32_t heads_head = RK_NONE, heads_tail = RK_NONE;
	uint32_t chain_tail = RK_NONE; /* last op of the open chain */
	bool open = false;             /* the op before linked to the next one */
	int n = 0;

	pthread_mutex_lock(&fb->mu);
	while (ring->staged_head != RK_NONE) {
		uint32_t slot = ring->staged_head;
		struct rk_op *op = &ring->ops[slot];
		ring->staged_head = op->next;
		op->next = RK_NONE;
		op->state = RK_OP_KERNEL;
		ring->in_kernel++;
		n++;
		struct fb_op *x = fbx(ring, slot);
		x->id = rk__op_id(ring, op);
		x->link = x->lt = x->target = RK_NONE;
		x->cancel = 0;
		x->done = 0;
		x->phase = x->regular = 0;
		x->fd = x->fd_in = x->wfd = -1;
		x->heap = RK_NONE;
		x->own[0] = x->own[1] = -1;
		uint8_t flags = op->sqe.flags;
		if (op->sqe.opcode == IORING_OP_LINK_TIMEOUT && open && fbx(ring, chain_tail)->lt == RK_NONE) {
			x->st = FB_LT_IDLE;
			fbx(ring, chain_tail)->lt = slot;
			open = flags & LINKS; /* the chain goes on from the bounded op */
			continue;
		}
		if (open) {
			x->st = FB_LINKED;
			fbx(ring, chain_tail)->link = slot;
		} else {
			/* A new chain (or a lone op): its first op starts below. */
			x->st = FB_LINKED;
			x->next = RK_NONE;
			if (heads_tail == RK_NONE)
				heads_head = slot;
			else
				fbx(ring, heads_tail)->next = slot;
			heads_tail = slot;
		}
		chain_tail = slot;
		open = flags & LINKS;
	}
	ring->staged_tail = RK_NONE;
	ring->staged_count = 0;
	ring->total_submitted += (uint64_t)n;

	while (heads_head != RK_NONE) {
		uint32_t slot = heads_head;
		heads_head = fbx(ring, slot)->next;
		if (!rk__fb_hold_drain(ring, slot))
			rk__fb_start(ring, &ctx, slot);
	}
	rk__fb_run(ring, &ctx);
	rk__fb_flush_signals(ring, &ctx);
	if (sync)
		rk__fb_sync_signal(ring);
	pthread_mutex_unlock(&fb->mu);
	return n;
}

int rk__fb_submit(rk_ring *ring, bool getevents)
{
	(void)getevents;
	return submit(ring, true);
}

/* Multishot ops paused on a full queue go on once there is room. */
static void resume_stalled(rk_ring *ring, struct fb_ctx *ctx)
{
	uint32_t slot;
	while (rk__fb_cq_room(ring) && (slot = rk__fb_take_stalled(ring)) != RK_NONE) {
		int r = rk__fb_arm(ring, slot, rk__fb_wait_events(fb_sqe(ring, slot)));
		if (r < 0)
			rk__fb_finish(ring, ctx, slot, r, 0);
	}
}

/* Copies up to max records out of the completion queue, then settles and
 * releases them in the op table (the caller's, so without the lock). */
uint32_t rk__fb_drain(rk_ring *ring, rk_cqe *out, uint32_t max)
{
	struct rk_fb *fb = ring->fb;
	uint32_t n = 0;
	pthread_mutex_lock(&fb->mu);
	while (fb->cq_head != fb->cq_tail && n < max) {
		rk_cqe e = fb->cq[fb->cq_head & fb->cq_mask];
		fb->cq_head++;
		if (e.id >= 0 && !(e.flags & IORING_CQE_F_MORE))
			fbx(ring, (uint32_t)e.id)->st = FB_IDLE; /* the caller's again */
		out[n++] = e;
	}
	if (fb->stalled_head != RK_NONE) {
		struct fb_ctx ctx = {.kind = FB_CALLER, .head = RK_NONE, .tail = RK_NONE};
		resume_stalled(ring, &ctx);
		rk__fb_run(ring, &ctx);
		rk__fb_flush_signals(ring, &ctx);
	}
	rk__fb_sync_signal(ring);
	pthread_mutex_unlock(&fb->mu);

	uint32_t kept = 0, subs = 0;
	for (uint32_t i = 0; i < n; i++) {
		rk_cqe e = out[i];
		if (e.id < 0) { /* a message from another ring */
			if (!ring->discarding)
				out[kept++] = e;
			continue;
		}
		struct rk_op *op = &ring->ops[(uint32_t)e.id];
		if (op->kind == RK_KIND_COPY) {
			subs++;
			kept += (uint32_t)rk__copy_cqe(ring, op, e.res, &out[kept]);
			continue;
		}
		out[kept++] = e;
		if (e.flags & IORING_CQE_F_BUFFER)
			rk__group_took_chunk(ring, op, e.flags);
		if (op->kind)
			rk__op_settle(ring, op, e.res, e.flags);
		if (!(e.flags & IORING_CQE_F_MORE)) {
			ring->total_completed++;
			rk__op_release(ring, op);
		}
	}
	ring->total_cqes += n - subs;
	return kept;
}

int rk__fb_reap(rk_ring *ring, rk_cqe *out, uint32_t max, uint32_t wait_nr, int64_t timeout_ns)
{
	if (ring->staged_head != RK_NONE)
		submit(ring, max == 0); /* a reap syncs the eventfd as it drains */
	if (max == 0)
		return 0; /* a submit-only call: leave completions queued */
	uint32_t got = rk__drain_local(ring, out, max);
	got += rk__fb_drain(ring, out + got, max - got);
	if (got >= wait_nr || timeout_ns == 0)
		return (int)got;

	int64_t deadline = timeout_ns > 0 ? rk__time_add(rk__fb_sys_now(0), timeout_ns) : -1;
	while (got < wait_nr) {
		if (ring->staged_head != RK_NONE) {
			/* A copy's next sub-ops, queued by the drain. */
			submit(ring, true);
			got += rk__fb_drain(ring, out + got, max - got);
			continue;
		}
		if (ring->in_kernel == 0 && !(ring->rk_flags & RK_RING_MSG_TARGET))
			break; /* nothing live can complete: never wait for it */
		int64_t left = -1;
		if (deadline >= 0 && deadline < RK_TIME_NEVER) {
			left = deadline - rk__fb_sys_now(0);
			if (left <= 0)
				break;
		}
		int r = rk__fb_sys_wait(ring->fd, left);
		got += rk__fb_drain(ring, out + got, max - got);
		if (r == -EINTR && got == 0)
			return -EINTR;
		if (r == -EINTR)
			break;
	}
	return (int)got;
}

