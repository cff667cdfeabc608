/*
 * Cancellation in the fallback: by id (cancel, poll_remove,
 * timeout_remove, rk_cancel_sync), by a link timeout that fired, and of
 * everything (rk_ring_cancel_all, close). What waits — in the worker queue,
 * for readiness, on a timer, behind RK_DRAIN, paused — completes with
 * -ECANCELED at once; what is making its call finishes it (-EALREADY).
 */
#include <errno.h>
#include <time.h>

#include "fb.h"

static int cancel_slot(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot);

/* The targets of cancel, poll_remove and timeout_remove: the op the id
 * names, while the fallback holds it. */
static uint32_t find(rk_ring *ring, int64_t id)
{
	if (id < 0 || (uint32_t)id >= ring->capacity)
		return RK_NONE;
	struct fb_op *x = fbx(ring, (uint32_t)id);
	if (x->id != id || x->st == FB_IDLE || x->st == FB_DONE)
		return RK_NONE;
	return (uint32_t)id;
}

int32_t rk__fb_cancel_op(rk_ring *ring, struct fb_ctx *ctx, const struct io_uring_sqe *sqe)
{
	uint32_t target = find(ring, (int64_t)sqe->addr);
	if (target == RK_NONE)
		return -ENOENT;
	uint8_t top = fb_sqe(ring, target)->opcode;
	if (sqe->opcode == IORING_OP_TIMEOUT_REMOVE) {
		if (top != IORING_OP_TIMEOUT || fbx(ring, target)->st != FB_TIMER)
			return -ENOENT;
	} else if (sqe->opcode == IORING_OP_POLL_REMOVE) {
		if (top != IORING_OP_POLL_ADD)
			return -ENOENT;
	}
	return cancel_slot(ring, ctx, target);
}

/* Cancels one op the fallback holds: 0 when it was stopped (it completes
 * with -ECANCELED), -EALREADY when it is making its call (it completes as
 * that call ends: with -ECANCELED if the call would wait, else with its
 * result), -ENOENT when it cannot be found (a chain member not started
 * yet, as in the kernel). */
static int cancel_slot(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	if (x->st == FB_RUNNING) { /* its thread owns x->done and the rest now */
		x->cancel = 1;
		return -EALREADY;
	}
	/* Bytes an earlier call moved (MSG_WAITALL) are not lost: they are the
	 * result. Timers use x->done otherwise. */
	int32_t res = x->st != FB_TIMER && x->done > 0 && x->done <= INT32_MAX ? (int32_t)x->done
	                                                                      : -ECANCELED;
	switch (x->st) {
	case FB_QUEUED: {
		uint32_t *p = &fb->wq_head, prev = RK_NONE;
		while (*p != slot) {
			prev = *p;
			p = &fbx(ring, *p)->next;
		}
		*p = x->next;
		if (fb->wq_tail == slot)
			fb->wq_tail = prev;
		fb->nqueued--;
		break;
	}
	case FB_ARMED:
		rk__fb_disarm(ring, slot);
		break;
	case FB_TIMER:
		rk__fb_timer_del(ring, slot);
		rk__fb_uncount(ring, slot);
		if (fb_sqe(ring, slot)->opcode == IORING_OP_LINK_TIMEOUT)
			fbx(ring, x->target)->lt = RK_NONE; /* its op goes on unbounded */
		break;
	case FB_STALLED: {
		uint32_t *p = &fb->stalled_head;
		while (*p != slot)
			p = &fbx(ring, *p)->next;
		*p = x->next;
		break;
	}
	case FB_DRAINING: {
		uint32_t *p = &fb->drain_head, prev = RK_NONE;
		while (*p != slot) {
			prev = *p;
			p = &fbx(ring, *p)->next;
		}
		*p = x->next;
		if (fb->drain_tail == slot)
			fb->drain_tail = prev;
		fb->active++; /* never started */
		break;
	}
	default:
		return -ENOENT;
	}
	x->cancel = 2;
	rk__fb_finish(ring, ctx, slot, res, 0);
	return 0;
}

/* A timer of the service thread is due. A timeout completes with -ETIME;
 * a link timeout cancels the op it bounds and completes with -ETIME, or
 * with the cancel's error when that op is making its call (-EALREADY). */
void rk__fb_timer_fired(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot)
{
	struct fb_op *x = fbx(ring, slot);
	if (fb_sqe(ring, slot)->opcode == IORING_OP_TIMEOUT) {
		rk__fb_uncount(ring, slot);
		rk__fb_finish(ring, ctx, slot, -ETIME, 0);
		return;
	}
	uint32_t target = x->target;
	fbx(ring, target)->lt = RK_NONE;
	int r = cancel_slot(ring, ctx, target);
	rk__fb_finish(ring, ctx, slot, r == 0 ? -ETIME : r, 0);
}

/* Cancels everything the fallback holds (close and cancel_all): what waits
 * completes with -ECANCELED at once, what runs when its call ends. */
static int cancel_everything_locked(rk_ring *ring, struct fb_ctx *ctx)
{
	int n = 0;
	for (uint32_t slot = 0; slot < ring->capacity; slot++) {
		struct fb_op *x = fbx(ring, slot);
		switch (x->st) {
		case FB_QUEUED:
		case FB_ARMED:
		case FB_TIMER:
		case FB_STALLED:
		case FB_DRAINING:
		case FB_RUNNING:
			cancel_slot(ring, ctx, slot);
			n++;
			break;
		default:
			break;
		}
	}
	return n;
}

int rk__fb_cancel_all(rk_ring *ring)
{
	struct rk_fb *fb = ring->fb;
	int n = rk__cancel_staged(ring, true);
	n += (int)ring->in_kernel;
	struct fb_ctx ctx = {.kind = FB_CALLER, .head = RK_NONE, .tail = RK_NONE};
	pthread_mutex_lock(&fb->mu);
	cancel_everything_locked(ring, &ctx);
	rk__fb_run(ring, &ctx);
	rk__fb_flush_signals(ring, &ctx);
	rk__fb_sync_signal(ring);
	pthread_mutex_unlock(&fb->mu);
	return n;
}

/* rk_cancel_sync: cancels, and waits out an op that is making its call
 * (bounded by timeout_ns). 0 when the op ended cancelled. */
int rk__fb_cancel_sync(rk_ring *ring, struct rk_op *op, int64_t id, int64_t timeout_ns)
{
	struct rk_fb *fb = ring->fb;
	if (op->state == RK_OP_STAGED)
		rk__fb_submit(ring, false);
	int64_t deadline = timeout_ns >= 0 ? rk__time_add(rk__fb_sys_now(0), timeout_ns) : -1;
	struct fb_ctx ctx = {.kind = FB_CALLER, .head = RK_NONE, .tail = RK_NONE};
	uint32_t slot = (uint32_t)id;
	int r;
	pthread_mutex_lock(&fb->mu);
	for (;;) {
		struct fb_op *x = fbx(ring, slot);
		if (x->id == id && x->st == FB_DONE) {
			/* 0: our cancel stopped it; -EALREADY: it was making its
			 * call and completed with its own result. */
			r = x->cancel == 2 ? 0 : x->cancel == 1 ? -EALREADY : -ENOENT;
			break;
		}
		uint32_t target = find(ring, id);
		r = target == RK_NONE ? -ENOENT : cancel_slot(ring, &ctx, target);
		if (r != -EALREADY)
			break;
		/* Making its call: wait until it is done with it. */
		rk__fb_run(ring, &ctx);
		rk__fb_flush_signals(ring, &ctx);
		if (deadline >= 0 && deadline < RK_TIME_NEVER) {
			int64_t left = deadline - rk__fb_sys_now(0);
			if (left <= 0) {
				r = -ETIME;
				break;
			}
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			int64_t at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + left;
			ts.tv_sec = at / 1000000000;
			ts.tv_nsec = at % 1000000000;
			pthread_cond_timedwait(&fb->idle_cv, &fb->mu, &ts);
		} else {
			pthread_cond_wait(&fb->idle_cv, &fb->mu);
		}
	}
	rk__fb_run(ring, &ctx);
	rk__fb_flush_signals(ring, &ctx);
	rk__fb_sync_signal(ring);
	pthread_mutex_unlock(&fb->mu);
	return r;
}

/* Close: cancels everything, then drains (discarding) until no op is
 * left, for at most timeout_ns. 0, or -ETIMEDOUT. */
int rk__fb_quiesce(rk_ring *ring, int64_t timeout_ns)
{
	struct rk_fb *fb = ring->fb;
	struct fb_ctx ctx = {.kind = FB_CALLER, .head = RK_NONE, .tail = RK_NONE};
	pthread_mutex_lock(&fb->mu);
	fb->stopping = true;
	cancel_everything_locked(ring, &ctx);
	rk__fb_run(ring, &ctx);
	rk__fb_flush_signals(ring, &ctx);
	pthread_mutex_unlock(&fb->mu);

	int64_t deadline = rk__time_add(rk__fb_sys_now(0), timeout_ns);
	rk_cqe scratch[64];
	for (;;) {
		while (rk__fb_drain(ring, scratch, 64) > 0)
			;
		if (ring->in_kernel == 0)
			return 0;
		int64_t left = deadline - rk__fb_sys_now(0);
		if (left <= 0)
			return -ETIMEDOUT;
		rk__fb_sys_wait(ring->fd, left < 20000000 ? left : 20000000);
	}
}
