/*
 * The fallback's threads: the worker pool (calls that block on disk) and
 * the service thread (readiness through epoll, and the timers). Both start
 * on first need, so a ring that only ever runs cached reads and sockets
 * that are ready has neither, and end with the ring.
 *
 * Readiness (sys.c: epoll): each descriptor some op waits on has one oneshot
 * registration, armed for the union of what its waiters want; when it
 * fires, the service thread takes the waiters the event concerns (in
 * submission order) and makes their calls, or hands them to a worker when
 * they belong there (splice). A multishot poll instead owns an
 * edge-triggered registration of a duplicate of its descriptor, so it
 * reports new readiness, as the kernel's multishot poll does, rather than
 * the level the others need.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fb.h"

/* ---- worker pool ------------------------------------------------------ */

static void *worker_main(void *arg)
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
		uint32_t slot = fb->wq_head;
		fb->wq_head = fbx(ring, slot)->next;
		if (fb->wq_head == RK_NONE)
			fb->wq_tail = RK_NONE;
		fb->nqueued--;
		rk__fb_ctx_push(ring, &ctx, slot);
		rk__fb_run(ring, &ctx);
		rk__fb_flush_signals(ring, &ctx);
	}
	pthread_mutex_unlock(&fb->mu);
	return NULL;
}

int rk__fb_queue_work(rk_ring *ring, uint32_t slot)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	x->st = FB_QUEUED;
	x->next = RK_NONE;
	if (fb->wq_tail == RK_NONE)
		fb->wq_head = slot;
	else
		fbx(ring, fb->wq_tail)->next = slot;
	fb->wq_tail = slot;
	fb->nqueued++;
	/* One more worker while queued work outnumbers the idle ones. */
	if (fb->nqueued > fb->idle && fb->nworkers < FB_MAX_WORKERS) {
		int r = rk__fb_sys_spawn(&fb->workers[fb->nworkers], worker_main, ring);
		if (r == 0)
			fb->nworkers++;
		else if (fb->nworkers == 0) {
			/* No thread to run it: take it back, the caller fails it. */
			fb->wq_head = fb->wq_tail = RK_NONE;
			fb->nqueued = 0;
			return r;
		}
	}
	pthread_cond_signal(&fb->work_cv);
	return 0;
}

/* ---- the service thread ----------------------------------------------- */

static void *service_main(void *arg);

static int ensure_service(rk_ring *ring)
{
	struct rk_fb *fb = ring->fb;
	if (fb->svc_started)
		return 0;
	int r = rk__fb_sys_spawn(&fb->svc, service_main, ring);
	if (r < 0)
		return r;
	fb->svc_started = true;
	return 0;
}

void rk__fb_kick(rk_ring *ring)
{
	struct rk_fb *fb = ring->fb;
	if (fb->svc_started && fb->svc_sleeping && !fb->kicked) {
		rk__fb_sys_signal(fb->kickfd, 1);
		fb->kicked = true;
	}
}

static int ensure_fdw(rk_ring *ring, int fd)
{
	struct rk_fb *fb = ring->fb;
	if ((uint32_t)fd < fb->nfdw)
		return 0;
	uint32_t n = fb->nfdw ? fb->nfdw : 64;
	while (n <= (uint32_t)fd)
		n *= 2;
	struct fb_fdw *w = realloc(fb->fdw, n * sizeof(*w));
	if (!w)
		return -ENOMEM;
	for (uint32_t i = fb->nfdw; i < n; i++)
		w[i] = (struct fb_fdw){.head = RK_NONE, .tail = RK_NONE};
	fb->fdw = w;
	fb->nfdw = n;
	return 0;
}

static uint32_t wanted(rk_ring *ring, const struct fb_fdw *w)
{
	uint32_t ev = 0;
	for (uint32_t s = w->head; s != RK_NONE; s = fbx(ring, s)->next)
		ev |= fbx(ring, s)->events;
	return ev;
}

static bool owns_registration(const struct io_uring_sqe *sqe)
{
	return sqe->opcode == IORING_OP_POLL_ADD && (sqe->len & IORING_POLL_ADD_MULTI);
}

/* An op that waits holds the file it names, as the kernel's file reference
 * does: it waits on, and makes its calls through, a duplicate of the
 * descriptor (closed when the op ends). So the caller may close the fd
 * meanwhile, and a file that gets the number next is never touched. */
static int hold_file(struct fb_op *x, int *fd)
{
	if (*fd == x->own[0] || *fd == x->own[1])
		return 0;
	int i = *fd == x->fd ? 0 : 1;
	if (x->own[i] >= 0)
		return 0; /* cannot happen: own[i] is what fd/fd_in name then */
	int d = rk__fb_sys_dup(*fd);
	if (d < 0)
		return d;
	x->own[i] = d;
	if (i == 0)
		x->fd = d;
	else
		x->fd_in = d;
	*fd = d;
	return 0;
}

int rk__fb_arm(rk_ring *ring, uint32_t slot, uint32_t events)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	const struct io_uring_sqe *sqe = fb_sqe(ring, slot);
	int r = ensure_service(ring);
	if (r < 0)
		return r;
	if (owns_registration(sqe)) {
		if (x->own[1] < 0) {
			int d = rk__fb_sys_dup(x->fd);
			if (d < 0)
				return d;
			x->own[1] = d;
		}
		r = rk__fb_sys_watch_edge(fb->epfd, x->own[1], rk__fb_poll_events(sqe), FB_TAG_OWNED | slot,
		                          x->phase);
		if (r < 0)
			return r;
		x->phase = 1;
		x->st = FB_ARMED;
		return 0;
	}
	int fd = x->wfd >= 0 ? x->wfd : x->fd;
	if (fd < 0)
		return -EBADF;
	if ((r = hold_file(x, &fd)) < 0)
		return r;
	if ((r = ensure_fdw(ring, fd)) < 0)
		return r;
	struct fb_fdw *w = &fb->fdw[fd];
	x->wfd = fd;
	x->events = events;
	x->next = RK_NONE;
	uint32_t prev_tail = w->tail;
	if (w->tail == RK_NONE)
		w->head = slot;
	else
		fbx(ring, w->tail)->next = slot;
	w->tail = slot;
	r = rk__fb_sys_watch_oneshot(fb->epfd, fd, wanted(ring, w), &w->in_epoll);
	if (r < 0) {
		/* Undo: it never waited. */
		w->tail = prev_tail;
		if (prev_tail == RK_NONE)
			w->head = RK_NONE;
		else
			fbx(ring, prev_tail)->next = RK_NONE;
		return r;
	}
	x->st = FB_ARMED;
	return 0;
}

void rk__fb_disarm(rk_ring *ring, uint32_t slot)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	if (owns_registration(fb_sqe(ring, slot))) {
		if (x->phase)
			rk__fb_sys_unwatch(fb->epfd, x->own[1]);
		x->phase = 0;
		return;
	}
	struct fb_fdw *w = &fb->fdw[x->wfd];
	uint32_t *p = &w->head, prev = RK_NONE;
	while (*p != slot) {
		prev = *p;
		p = &fbx(ring, *p)->next;
	}
	*p = x->next;
	if (w->tail == slot)
		w->tail = prev;
	/* Its registration stays armed for what the others want, or fires
	 * once for nothing. */
}

void rk__fb_forget_owned(rk_ring *ring, uint32_t slot)
{
	struct fb_op *x = fbx(ring, slot);
	if (owns_registration(fb_sqe(ring, slot)) && x->phase) {
		rk__fb_sys_unwatch(ring->fb->epfd, x->own[1]);
		x->phase = 0;
	}
}

void rk__fb_drop_fd(rk_ring *ring, int fd)
{
	struct rk_fb *fb = ring->fb;
	if (fd >= 0 && (uint32_t)fd < fb->nfdw && fb->fdw[fd].in_epoll) {
		rk__fb_sys_unwatch(fb->epfd, fd);
		fb->fdw[fd].in_epoll = 0;
	}
}

/* A descriptor became ready: its waiters the event concerns run (or go to
 * a worker), the others wait on under a re-armed registration. */
static void fd_ready(rk_ring *ring, struct fb_ctx *ctx, int fd, uint32_t revents)
{
	struct rk_fb *fb = ring->fb;
	if ((uint32_t)fd >= fb->nfdw)
		return;
	struct fb_fdw *w = &fb->fdw[fd];
	uint32_t keep_head = RK_NONE, keep_tail = RK_NONE;
	uint32_t s = w->head;
	while (s != RK_NONE) {
		struct fb_op *x = fbx(ring, s);
		uint32_t next = x->next;
		if ((x->events & revents) || (revents & (POLLERR | POLLHUP))) {
			if (rk__fb_home(fb_sqe(ring, s)) == FB_HOME_WORKER) {
				int r = rk__fb_queue_work(ring, s);
				if (r < 0)
					rk__fb_finish(ring, ctx, s, r, 0);
			} else {
				x->st = FB_RUNNING;
				rk__fb_ctx_push(ring, ctx, s);
			}
		} else {
			x->next = RK_NONE;
			if (keep_tail == RK_NONE)
				keep_head = s;
			else
				fbx(ring, keep_tail)->next = s;
			keep_tail = s;
		}
		s = next;
	}
	w->head = keep_head;
	w->tail = keep_tail;
	if (keep_head != RK_NONE &&
	    rk__fb_sys_watch_oneshot(fb->epfd, fd, wanted(ring, w), &w->in_epoll) < 0) {
		/* The descriptor is gone (closed under us): they can never be
		 * ready; let their calls say so. */
		for (s = keep_head; s != RK_NONE;) {
			uint32_t next = fbx(ring, s)->next;
			fbx(ring, s)->st = FB_RUNNING;
			rk__fb_ctx_push(ring, ctx, s);
			s = next;
		}
		w->head = w->tail = RK_NONE;
	}
}

/* A multishot poll's edge: one more completion with the ready mask. */
static void owned_ready(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot, uint32_t revents)
{
	struct rk_fb *fb = ring->fb;
	if (slot >= ring->capacity)
		return;
	struct fb_op *x = fbx(ring, slot);
	const struct io_uring_sqe *sqe = fb_sqe(ring, slot);
	if (x->st != FB_ARMED || !owns_registration(sqe))
		return; /* cancelled or paused since */
	uint32_t mask = revents & (sqe->poll32_events | POLLERR | POLLHUP);
	if (!mask)
		return;
	rk__fb_post(ring, ctx, slot, (int32_t)mask, IORING_CQE_F_MORE);
	if (!rk__fb_cq_room(ring)) {
		x->st = FB_STALLED;
		x->next = fb->stalled_head;
		fb->stalled_head = slot;
	}
}

/* ---- timers: one binary heap of slots per clock, by deadline ---------- */

static bool earlier(rk_ring *ring, uint32_t a, uint32_t b)
{
	return fbx(ring, a)->deadline < fbx(ring, b)->deadline;
}

static void heap_set(rk_ring *ring, uint32_t *h, uint32_t i, uint32_t slot)
{
	h[i] = slot;
	fbx(ring, slot)->heap = i;
}

static void sift_up(rk_ring *ring, uint32_t *h, uint32_t i)
{
	uint32_t slot = h[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!earlier(ring, slot, h[parent]))
			break;
		heap_set(ring, h, i, h[parent]);
		i = parent;
	}
	heap_set(ring, h, i, slot);
}

static void sift_down(rk_ring *ring, uint32_t *h, uint32_t n, uint32_t i)
{
	uint32_t slot = h[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && earlier(ring, h[c + 1], h[c]))
			c++;
		if (!earlier(ring, h[c], slot))
			break;
		heap_set(ring, h, i, h[c]);
		i = c;
	}
	heap_set(ring, h, i, slot);
}

int rk__fb_timer_add(rk_ring *ring, uint32_t slot)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	int r = ensure_service(ring);
	if (r < 0)
		return r;
	uint32_t *h = fb->heap[x->clock];
	uint32_t i = fb->nheap[x->clock]++;
	h[i] = slot;
	sift_up(ring, h, i);
	if (h[0] == slot)
		rk__fb_kick(ring); /* it may have to wake sooner */
	return 0;
}

void rk__fb_timer_del(rk_ring *ring, uint32_t slot)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	if (x->heap == RK_NONE)
		return;
	uint32_t c = x->clock, i = x->heap;
	uint32_t *h = fb->heap[c];
	uint32_t last = h[--fb->nheap[c]];
	x->heap = RK_NONE;
	if (i == fb->nheap[c])
		return;
	heap_set(ring, h, i, last);
	sift_down(ring, h, fb->nheap[c], i);
	sift_up(ring, h, fbx(ring, last)->heap);
}

/* Fires what is due; returns how long until the next timer (ns), or -1. */
static int64_t fire_due(rk_ring *ring, struct fb_ctx *ctx)
{
	struct rk_fb *fb = ring->fb;
	int64_t next = -1;
	for (int c = 0; c < FB_NCLOCKS; c++) {
		if (!fb->nheap[c])
			continue;
		int64_t now = rk__fb_sys_now(c);
		while (fb->nheap[c]) {
			uint32_t slot = fb->heap[c][0];
			int64_t left = fbx(ring, slot)->deadline - now;
			if (left > 0) {
				if (next < 0 || left < next)
					next = left;
				break;
			}
			rk__fb_timer_del(ring, slot);
			rk__fb_timer_fired(ring, ctx, slot);
		}
	}
	return next;
}

static void *service_main(void *arg)
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
