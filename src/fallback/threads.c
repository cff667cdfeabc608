/*
 * The fallback's threads: the workers (calls that block on disk) and the
 * service thread (readiness through epoll, and the timers). They drive
 * ops out of the places wait.c keeps: a worker takes queued work and makes
 * its calls, the service thread takes what became ready or fell due and
 * makes their calls, or hands them to a worker when they belong there
 * (splice). Both start on first need (wait.c) and end with the ring.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fb.h"

/* ---- workers ---------------------------------------------------------- */

void *rk__fb_worker_main(void *arg)
{
	rk_ring *ring = arg;
	struct rk_fb *fb = ring->fb;
	struct fb_ctx ctx = {.kind = FB_WORKER, .head = RK_NONE, .tail = RK_NONE};
	pthread_mutex_lock(&fb->mu);
	for (;;) {
		while (fb->wq_head == RK_NONE && !fb->stopping) {
			fb->idle++;
			pthread_cond_wait(&fb->work_cv, &fb->mu);
			fb->idle--;
		}
		if (fb->wq_head == RK_NONE)
			break; /* stopping, and nothing left */
		rk__fb_ctx_push(ring, &ctx, rk__fb_take_work(ring));
		rk__fb_run(ring, &ctx);
		rk__fb_flush_signals(ring, &ctx);
	}
	pthread_mutex_unlock(&fb->mu);
	return NULL;
}

/* ---- the service thread ----------------------------------------------- */

/* A descriptor became ready: its waiters the event concerns run, or go
 * to a worker; those whose descriptor is gone run, to let their calls say
 * so. */
static void fd_ready(rk_ring *ring, struct fb_ctx *ctx, int fd, uint32_t revents)
{
	uint32_t gone;
	uint32_t s = rk__fb_take_ready(ring, fd, revents, &gone);
	while (s != RK_NONE) {
		struct fb_op *x = fbx(ring, s);
		uint32_t next = x->next;
		if (rk__fb_home(fb_sqe(ring, s)) == FB_HOME_WORKER) {
			int r = rk__fb_queue_work(ring, s);
			if (r < 0)
				rk__fb_finish(ring, ctx, s, r, 0);
		} else {
			x->st = FB_RUNNING;
			rk__fb_ctx_push(ring, ctx, s);
		}
		s = next;
	}
	for (s = gone; s != RK_NONE;) {
		uint32_t next = fbx(ring, s)->next;
		fbx(ring, s)->st = FB_RUNNING;
		rk__fb_ctx_push(ring, ctx, s);
		s = next;
	}
}

/* A multishot poll's edge: one more completion with the ready mask. */
static void owned_ready(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot, uint32_t revents)
{
	if (slot >= ring->capacity)
		return;
	struct fb_op *x = fbx(ring, slot);
	const struct io_uring_sqe *sqe = fb_sqe(ring, slot);
	if (x->st != FB_ARMED || !rk__fb_owns_registration(sqe))
		return; /* cancelled or paused since */
	uint32_t mask = revents & (sqe->poll32_events | POLLERR | POLLHUP);
	if (!mask)
		return;
	rk__fb_post(ring, ctx, slot, (int32_t)mask, IORING_CQE_F_MORE);
	if (!rk__fb_cq_room(ring))
		rk__fb_stall(ring, slot);
}

/* ---- timers: one binary heap of slots per clock, by deadline ---------- */

/* Fires what is due; returns how long until the next timer (ns), or -1. */
static int64_t fire_due(rk_ring *ring, struct fb_ctx *ctx)
{
	struct rk_fb *fb = ring->fb;
	int64_t next = -1;
	for (int c = 0; c < FB_NCLOCKS; c++) {
		if (!fb->nheap[c])
			continue;
		int64_t now = rk__fb_sys_now(c);
		uint32_t slot;
		while ((slot = rk__fb_timer_due(ring, c, now, &next)) != RK_NONE)
			rk__fb_timer_fired(ring, ctx, slot);
	}
	return next;
}

void *rk__fb_service_main(void *arg)
{
	rk_ring *ring = arg;
	struct rk_fb *fb = ring->fb;
	struct fb_ctx ctx = {.kind = FB_SERVICE, .head = RK_NONE, .tail = RK_NONE};
	struct fb_event ev[64];
	pthread_mutex_lock(&fb->mu);
	while (!fb->stopping) {
		int64_t timeout = fire_due(ring, &ctx);
		if (ctx.head != RK_NONE) {
			rk__fb_run(ring, &ctx);
			timeout = 0; /* calls took time: look at the clocks again */
		}
		rk__fb_flush_signals(ring, &ctx);
		if (fb->stopping)
			break;
		fb->svc_sleeping = true;
		pthread_mutex_unlock(&fb->mu);
		int n = rk__fb_sys_poll_wait(fb->epfd, ev, 64, timeout);
		pthread_mutex_lock(&fb->mu);
		fb->svc_sleeping = false;
		for (int i = 0; i < n; i++) {
			uint64_t tag = ev[i].tag;
			if (tag == FB_TAG_KICK) {
				rk__fb_sys_unsignal(fb->kickfd);
				fb->kicked = false;
			} else if (tag & FB_TAG_OWNED) {
				owned_ready(ring, &ctx, (uint32_t)tag, ev[i].events);
			} else {
				fd_ready(ring, &ctx, (int)(uint32_t)tag, ev[i].events);
			}
		}
		rk__fb_run(ring, &ctx);
		rk__fb_flush_signals(ring, &ctx);
	}
	pthread_mutex_unlock(&fb->mu);
	return NULL;
}

/* Ends the threads (the ring is stopping: nothing is queued or armed any
 * more). join false: a worker is stuck in a call past close's bound, so
 * they are left to end on their own with the ring's memory. */
void rk__fb_stop_threads(rk_ring *ring, bool join)
{
	struct rk_fb *fb = ring->fb;
	pthread_mutex_lock(&fb->mu);
	fb->stopping = true;
	pthread_cond_broadcast(&fb->work_cv);
	if (fb->svc_started && !fb->kicked) {
		rk__fb_sys_signal(fb->kickfd, 1);
		fb->kicked = true;
	}
	pthread_mutex_unlock(&fb->mu);
	for (uint32_t i = 0; i < fb->nworkers; i++) {
		if (join)
			pthread_join(fb->workers[i], NULL);
		else
			pthread_detach(fb->workers[i]);
	}
	if (fb->svc_started) {
		if (join)
			pthread_join(fb->svc, NULL);
		else
			pthread_detach(fb->svc);
	}
	fb->nworkers = 0;
	fb->svc_started = false;
}
