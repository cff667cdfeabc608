/*
 * Where the fallback's ops wait, and how they leave: the worker queue
 * (calls that block on disk), the readiness registrations (epoll, through
 * sys.c), the timer heaps, the stalled list and the RK_DRAIN hold. Each
 * place has a way in (core.c puts an op there) and ways out: the threads
 * take what is due (threads.c), a cancel takes an op back (rk__fb_unwait).
 * Nothing here completes an op; everything runs with fb->mu held.
 *
 * Readiness: each descriptor some op waits on has one oneshot
 * registration, armed for the union of what its waiters want; when it
 * fires, the waiters the event concerns leave together, in submission
 * order. A multishot poll instead owns an edge-triggered registration of
 * a duplicate of its descriptor, so it reports new readiness, as the
 * kernel's multishot poll does, rather than the level the others need.
 *
 * The threads start on first need, here: a ring that only ever runs
 * cached reads and sockets that are ready has none. (Their start routines
 * are threads.c's; starting a thread is the one reference upwards.)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fb.h"

/* The lists here run through fb_op.next, from *head to *tail. */
static void list_append(rk_ring *ring, uint32_t *head, uint32_t *tail, uint32_t slot)
{
	fbx(ring, slot)->next = RK_NONE;
	if (*tail == RK_NONE)
		*head = slot;
	else
		fbx(ring, *tail)->next = slot;
	*tail = slot;
}

static uint32_t list_pop(rk_ring *ring, uint32_t *head, uint32_t *tail)
{
	uint32_t slot = *head;
	if (slot == RK_NONE)
		return RK_NONE;
	*head = fbx(ring, slot)->next;
	if (*head == RK_NONE)
		*tail = RK_NONE;
	return slot;
}

/* slot must be on the list; tail NULL: a list without one (a stack). */
static void list_remove(rk_ring *ring, uint32_t *head, uint32_t *tail, uint32_t slot)
{
	uint32_t *p = head, prev = RK_NONE;
	while (*p != slot) {
		prev = *p;
		p = &fbx(ring, *p)->next;
	}
	*p = fbx(ring, slot)->next;
	if (tail && *tail == slot)
		*tail = prev;
}

/* ---- the worker queue ------------------------------------------------- */

int rk__fb_queue_work(rk_ring *ring, uint32_t slot)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	x->st = FB_QUEUED;
	list_append(ring, &fb->wq_head, &fb->wq_tail, slot);
	fb->nqueued++;
	/* One more worker while queued work outnumbers the idle ones. */
	if (fb->nqueued > fb->idle && fb->nworkers < FB_MAX_WORKERS) {
		int r = rk__fb_sys_spawn(&fb->workers[fb->nworkers], rk__fb_worker_main, ring);
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

/* A worker's next op, or RK_NONE. */
uint32_t rk__fb_take_work(rk_ring *ring)
{
	struct rk_fb *fb = ring->fb;
	uint32_t slot = list_pop(ring, &fb->wq_head, &fb->wq_tail);
	if (slot != RK_NONE)
		fb->nqueued--;
	return slot;
}

/* ---- the RK_DRAIN hold, and multishots paused on a full queue --------- */

/* Ops held by RK_DRAIN start once nothing earlier is active; a drain op
 * itself starts alone and holds the rest until it completed. Holds slot
 * (a chain's first op) when it must wait so: true when held. */
bool rk__fb_hold_drain(rk_ring *ring, uint32_t slot)
{
	struct rk_fb *fb = ring->fb;
	bool drain = fb_sqe(ring, slot)->flags & IOSQE_IO_DRAIN;
	if (fb->drain_head == RK_NONE && !(drain && fb->active > 0))
		return false;
	fbx(ring, slot)->st = FB_DRAINING;
	list_append(ring, &fb->drain_head, &fb->drain_tail, slot);
	return true;
}

/* The next held op that may start now, or RK_NONE. */
uint32_t rk__fb_take_drained(rk_ring *ring)
{
	struct rk_fb *fb = ring->fb;
	uint32_t slot = fb->drain_head;
	if (slot == RK_NONE)
		return RK_NONE;
	if ((fb_sqe(ring, slot)->flags & IOSQE_IO_DRAIN) && fb->active > 0)
		return RK_NONE;
	return list_pop(ring, &fb->drain_head, &fb->drain_tail);
}

void rk__fb_stall(rk_ring *ring, uint32_t slot)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	x->st = FB_STALLED;
	x->next = fb->stalled_head;
	fb->stalled_head = slot;
}

uint32_t rk__fb_take_stalled(rk_ring *ring)
{
	struct rk_fb *fb = ring->fb;
	uint32_t slot = fb->stalled_head;
	if (slot != RK_NONE)
		fb->stalled_head = fbx(ring, slot)->next;
	return slot;
}

/* ---- readiness -------------------------------------------------------- */

static int ensure_service(rk_ring *ring)
{
	struct rk_fb *fb = ring->fb;
	if (fb->svc_started)
		return 0;
	int r = rk__fb_sys_spawn(&fb->svc, rk__fb_service_main, ring);
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
	if (rk__fb_owns_registration(sqe)) {
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
	uint32_t prev_tail = w->tail;
	list_append(ring, &w->head, &w->tail, slot);
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
	if (rk__fb_owns_registration(fb_sqe(ring, slot))) {
		if (x->phase)
			rk__fb_sys_unwatch(fb->epfd, x->own[1]);
		x->phase = 0;
		return;
	}
	struct fb_fdw *w = &fb->fdw[x->wfd];
	list_remove(ring, &w->head, &w->tail, slot);
	/* Its registration stays armed for what the others want, or fires
	 * once for nothing. */
}

void rk__fb_forget_owned(rk_ring *ring, uint32_t slot)
{
	struct fb_op *x = fbx(ring, slot);
	if (rk__fb_owns_registration(fb_sqe(ring, slot)) && x->phase) {
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

/* A descriptor became ready: the waiters the event concerns leave (a
 * list through fb_op.next, in submission order), the others wait on under
 * a re-armed registration. When that fails the descriptor is gone (closed
 * under us): they can never be ready, and leave too, in *gone. */
uint32_t rk__fb_take_ready(rk_ring *ring, int fd, uint32_t revents, uint32_t *gone)
{
	struct rk_fb *fb = ring->fb;
	*gone = RK_NONE;
	if ((uint32_t)fd >= fb->nfdw)
		return RK_NONE;
	struct fb_fdw *w = &fb->fdw[fd];
	uint32_t keep_head = RK_NONE, keep_tail = RK_NONE;
	uint32_t ready_head = RK_NONE, ready_tail = RK_NONE;
	for (uint32_t s = w->head; s != RK_NONE;) {
		struct fb_op *x = fbx(ring, s);
		uint32_t next = x->next;
		if ((x->events & revents) || (revents & (POLLERR | POLLHUP)))
			list_append(ring, &ready_head, &ready_tail, s);
		else
			list_append(ring, &keep_head, &keep_tail, s);
		s = next;
	}
	w->head = keep_head;
	w->tail = keep_tail;
	if (keep_head != RK_NONE &&
	    rk__fb_sys_watch_oneshot(fb->epfd, fd, wanted(ring, w), &w->in_epoll) < 0) {
		*gone = keep_head;
		w->head = w->tail = RK_NONE;
	}
	return ready_head;
}

/* ---- timers: one binary heap of slots per clock, by deadline ---------- */

static int64_t timespec_ns(const struct io_uring_sqe *sqe)
{
	const struct __kernel_timespec *ts = (const struct __kernel_timespec *)(uintptr_t)sqe->addr;
	/* The prep split a non-negative int64: this cannot overflow. */
	return ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static uint8_t clock_of(uint32_t timeout_flags)
{
	if (timeout_flags & IORING_TIMEOUT_BOOTTIME)
		return 1;
	if (timeout_flags & IORING_TIMEOUT_REALTIME)
		return 2;
	return 0;
}

/* Sets a timer's deadline; returns false when it is already due. */
bool rk__fb_set_deadline(rk_ring *ring, uint32_t slot)
{
	const struct io_uring_sqe *sqe = fb_sqe(ring, slot);
	struct fb_op *x = fbx(ring, slot);
	x->clock = clock_of(sqe->timeout_flags);
	int64_t now = rk__fb_sys_now(x->clock);
	int64_t ns = timespec_ns(sqe);
	x->deadline = (sqe->timeout_flags & IORING_TIMEOUT_ABS) ? ns : rk__time_add(now, ns);
	return x->deadline > now;
}

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

/* Count timeouts also wait for the CQE count: fb->counted, each with its
 * index there in x->done. */
void rk__fb_count_add(rk_ring *ring, uint32_t slot, uint64_t seq)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	x->seq = seq;
	x->counted = 1;
	x->done = fb->ncounted;
	fb->counted[fb->ncounted++] = slot;
}

/* From index *i on, the first count timeout due at CQE count seq, taken
 * off the list (*i stays where the next look starts); RK_NONE when none. */
uint32_t rk__fb_take_counted(rk_ring *ring, uint64_t seq, uint32_t *i)
{
	struct rk_fb *fb = ring->fb;
	for (; *i < fb->ncounted; (*i)++) {
		uint32_t slot = fb->counted[*i];
		if (fbx(ring, slot)->seq <= seq) {
			rk__fb_uncount(ring, slot);
			return slot;
		}
	}
	return RK_NONE;
}

void rk__fb_uncount(rk_ring *ring, uint32_t slot)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	if (!x->counted)
		return;
	uint32_t i = (uint32_t)x->done;
	uint32_t last = fb->counted[--fb->ncounted];
	fb->counted[i] = last;
	fbx(ring, last)->done = i;
	x->counted = 0;
}

/* The first timer of clock c that is due at `now`, taken off its heap;
 * RK_NONE when none is, with *next lowered to how long until the first. */
uint32_t rk__fb_timer_due(rk_ring *ring, int c, int64_t now, int64_t *next)
{
	struct rk_fb *fb = ring->fb;
	if (!fb->nheap[c])
		return RK_NONE;
	uint32_t slot = fb->heap[c][0];
	int64_t left = fbx(ring, slot)->deadline - now;
	if (left > 0) {
		if (*next < 0 || left < *next)
			*next = left;
		return RK_NONE;
	}
	rk__fb_timer_del(ring, slot);
	return slot;
}

/* ---- leaving early: cancellation -------------------------------------- */

/* Takes an op the fallback holds out of where it waits: 0, and *res is
 * what it completes with (-ECANCELED, or the bytes an earlier call moved);
 * -EALREADY when it is making its call (its thread owns it now);
 * -ENOENT when it waits nowhere (a chain member not started yet, as in
 * the kernel, or done). */
int rk__fb_unwait(rk_ring *ring, uint32_t slot, int32_t *res)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	if (x->st == FB_RUNNING)
		return -EALREADY;
	/* Bytes an earlier call moved (MSG_WAITALL) are not lost: they are the
	 * result. Timers use x->done otherwise. */
	*res = x->st != FB_TIMER && x->done > 0 && x->done <= INT32_MAX ? (int32_t)x->done
	                                                               : -ECANCELED;
	switch (x->st) {
	case FB_QUEUED:
		list_remove(ring, &fb->wq_head, &fb->wq_tail, slot);
		fb->nqueued--;
		break;
	case FB_ARMED:
		rk__fb_disarm(ring, slot);
		break;
	case FB_TIMER:
		rk__fb_timer_del(ring, slot);
		rk__fb_uncount(ring, slot);
		if (fb_sqe(ring, slot)->opcode == IORING_OP_LINK_TIMEOUT)
			fbx(ring, x->target)->lt = RK_NONE; /* its op goes on unbounded */
		break;
	case FB_STALLED:
		list_remove(ring, &fb->stalled_head, NULL, slot);
		break;
	case FB_DRAINING:
		list_remove(ring, &fb->drain_head, &fb->drain_tail, slot);
		fb->active++; /* never started */
		break;
	default:
		return -ENOENT;
	}
	return 0;
}
