/*
 * Cancellation as the caller asks for it: rk_ring_cancel_all,
 * rk_cancel_sync (which waits out an op making its call) and close's
 * quiesce. What waits — in the worker queue, for readiness, on a timer,
 * behind RK_DRAIN, paused — completes with -ECANCELED at once; what is
 * making its call finishes it (-EALREADY). Taking one op back is core.c's
 * (rk__fb_cancel_slot), as cancel ops and link timeouts do it too.
 */
#include <errno.h>
#include <time.h>

#include "fb.h"

int rk__fb_cancel_all(rk_ring *ring)
{
	struct rk_fb *fb = ring->fb;
	int n = rk__cancel_staged(ring, true);
	n += (int)ring->in_kernel;
	struct fb_ctx ctx = {.kind = FB_CALLER, .head = RK_NONE, .tail = RK_NONE};
	pthread_mutex_lock(&fb->mu);
	rk__fb_cancel_everything(ring, &ctx);
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
		uint32_t target = rk__fb_find(ring, id);
		r = target == RK_NONE ? -ENOENT : rk__fb_cancel_slot(ring, &ctx, target);
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
			int64_t at = rk__fb_sys_now(0) + left; /* idle_cv waits on CLOCK_MONOTONIC */
			struct timespec ts;
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
	rk__fb_cancel_everything(ring, &ctx);
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
