/*
 * An op's transitions in the fallback: starting it where it runs (now, a
 * non-blocking try on the current thread, a worker, or the wait for
 * readiness), applying what its call returned, posting its completions,
 * and what a final completion unblocks: the rest of a linked chain (or its
 * cancellation), the link timeout bounding it, ops held by RK_DRAIN, count
 * timeouts; and cancelling one op (by a cancel op, a link timeout, or the
 * caller through cancel.c). Where ops wait is wait.c's, the calls exec.c's
 * and net.c's; the drivers (submit.c, cancel.c, threads.c) call in here.
 *
 * Everything here runs with fb->mu held, except the calls themselves
 * (rk__fb_exec) that rk__fb_run makes off the caller's thread.
 */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "fb.h"


void rk__fb_ctx_push(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot)
{
	fbx(ring, slot)->next = RK_NONE;
	if (ctx->tail == RK_NONE)
		ctx->head = slot;
	else
		fbx(ring, ctx->tail)->next = slot;
	ctx->tail = slot;
}

static uint32_t ctx_pop(rk_ring *ring, struct fb_ctx *ctx)
{
	uint32_t slot = ctx->head;
	ctx->head = fbx(ring, slot)->next;
	if (ctx->head == RK_NONE)
		ctx->tail = RK_NONE;
	return slot;
}

bool rk__fb_cq_room(rk_ring *ring)
{
	struct rk_fb *fb = ring->fb;
	return fb->cq_mask + 1 - (fb->cq_tail - fb->cq_head) > fb->cq_reserve;
}

static bool is_timeout(uint8_t opcode)
{
	return opcode == IORING_OP_TIMEOUT || opcode == IORING_OP_LINK_TIMEOUT;
}

/* A completion counts towards count timeouts (io_uring counts every CQE
 * but those of timeouts). */
static void count_completion(rk_ring *ring, struct fb_ctx *ctx)
{
	struct rk_fb *fb = ring->fb;
	fb->seq++;
	uint32_t i = 0, slot;
	while ((slot = rk__fb_take_counted(ring, fb->seq, &i)) != RK_NONE) {
		rk__fb_timer_del(ring, slot);
		rk__fb_finish(ring, ctx, slot, 0, 0);
	}
}

static void push_cqe(rk_ring *ring, struct fb_ctx *ctx, int64_t id, int32_t res, uint32_t cflags)
{
	struct rk_fb *fb = ring->fb;
	rk_cqe *e = &fb->cq[fb->cq_tail & fb->cq_mask];
	e->id = id;
	e->res = res;
	e->flags = cflags;
	fb->cq_tail++;
	ctx->posted++;
	if (ctx->kind != FB_CALLER)
		fb->posted_async++;
}

/* Posts one completion record of an op; a final one (no MORE) makes the op
 * the caller's again once reaped. */
void rk__fb_post(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot, int32_t res, uint32_t cflags)
{
	struct fb_op *x = fbx(ring, slot);
	push_cqe(ring, ctx, x->id, res, cflags);
	if (!(cflags & IORING_CQE_F_MORE)) {
		x->st = FB_DONE;
		ring->fb->active--;
	}
	if (!is_timeout(fb_sqe(ring, slot)->opcode))
		count_completion(ring, ctx);
}

/* A message from another ring (rk_prep_msg_ring): a record with a negative
 * id, no op. -EOVERFLOW when only the reserve for finals is left. */
int rk__fb_post_message_locked(rk_ring *ring, uint64_t data, int32_t res)
{
	if (!rk__fb_cq_room(ring))
		return -EOVERFLOW;
	/* Runs on the sender's thread: ops a count timeout unblocks go to
	 * workers (FB_FOREIGN) rather than run here. */
	struct fb_ctx ctx = {.kind = FB_FOREIGN, .head = RK_NONE, .tail = RK_NONE};
	push_cqe(ring, &ctx, (int64_t)data, res, 0);
	count_completion(ring, &ctx);
	rk__fb_flush_signals(ring, &ctx);
	return 0;
}

/* Makes posted completions visible: the ring's eventfd (other threads at
 * once; the caller's at the end of its call, sync_signal), and a
 * registered eventfd by the number posted. */
void rk__fb_flush_signals(rk_ring *ring, struct fb_ctx *ctx)
{
	struct rk_fb *fb = ring->fb;
	if (!ctx->posted)
		return;
	if (ctx->kind != FB_CALLER && !fb->signalled && fb->cq_tail != fb->cq_head) {
		rk__fb_sys_signal(ring->fd, 1);
		fb->signalled = true;
	}
	if (fb->user_efd >= 0) {
		uint64_t n = fb->user_async ? fb->posted_async : ctx->posted;
		if (n)
			rk__fb_sys_signal(fb->user_efd, n);
	}
	fb->posted_async = 0;
	ctx->posted = 0;
}

/* Did this result break the chain? As in the kernel: an error, or a read
 * or write (or a MSG_WAITALL send/recv) that moved less than asked. */
static bool breaks_link(rk_ring *ring, uint32_t slot, int32_t res)
{
	if (res < 0)
		return true;
	const struct io_uring_sqe *sqe = fb_sqe(ring, slot);
	switch (sqe->opcode) {
	case IORING_OP_READ:
	case IORING_OP_WRITE:
	case IORING_OP_READ_FIXED:
	case IORING_OP_WRITE_FIXED:
		return (uint32_t)res < sqe->len;
	case IORING_OP_READV:
	case IORING_OP_WRITEV: {
		const struct iovec *iov = (const struct iovec *)(uintptr_t)sqe->addr;
		uint64_t want = 0;
		for (uint32_t i = 0; i < sqe->len; i++)
			want += iov[i].iov_len;
		return (uint64_t)res < want;
	}
	case IORING_OP_SEND:
	case IORING_OP_RECV:
		return (sqe->msg_flags & MSG_WAITALL) && !(sqe->flags & IOSQE_BUFFER_SELECT) &&
		       (uint32_t)res < sqe->len;
	default:
		return false;
	}
}

/* Closes the duplicates an op held (fixed files, a multishot poll's own
 * descriptor); their epoll registrations go first: a registration outlives
 * the descriptor number while the file stays open elsewhere. */
static void drop_own(rk_ring *ring, uint32_t slot)
{
	struct fb_op *x = fbx(ring, slot);
	rk__fb_forget_owned(ring, slot);
	for (int i = 0; i < 2; i++) {
		if (x->own[i] >= 0) {
			rk__fb_drop_fd(ring, x->own[i]);
			close(x->own[i]);
			x->own[i] = -1;
		}
	}
}

/* Cancels the chain from slot on: every member completes with -ECANCELED,
 * with its link timeout. */
static void fail_chain(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot)
{
	while (slot != RK_NONE) {
		struct fb_op *x = fbx(ring, slot);
		uint32_t next = x->link, lt = x->lt;
		x->link = x->lt = RK_NONE;
		ring->fb->active++; /* it never started; post counts it done */
		rk__fb_post(ring, ctx, slot, -ECANCELED, 0);
		if (lt != RK_NONE) {
			ring->fb->active++;
			rk__fb_post(ring, ctx, lt, -ECANCELED, 0);
		}
		slot = next;
	}
}

/* Ops held by RK_DRAIN start once nothing earlier is active; a drain op
 * itself starts alone and holds the rest until it completed. */
static void release_drained(rk_ring *ring, struct fb_ctx *ctx)
{
	uint32_t slot;
	while ((slot = rk__fb_take_drained(ring)) != RK_NONE) {
		rk__fb_start(ring, ctx, slot);
		if (fb_sqe(ring, slot)->flags & IOSQE_IO_DRAIN)
			return;
	}
}

/* The final completion of an op, and what it unblocks. */
void rk__fb_finish(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot, int32_t res, uint32_t cflags)
{
	struct fb_op *x = fbx(ring, slot);
	uint32_t next = x->link, lt = x->lt;
	bool hard = fb_sqe(ring, slot)->flags & IOSQE_IO_HARDLINK;
	bool broken = !hard && breaks_link(ring, slot, res);
	x->link = x->lt = RK_NONE;
	drop_own(ring, slot);
	rk__fb_post(ring, ctx, slot, res, cflags);
	if (lt != RK_NONE) {
		/* The op finished first: its link timeout is cancelled (or never
		 * started, when the op ended before it started). */
		if (fbx(ring, lt)->st == FB_LT_IDLE)
			ring->fb->active++;
		else
			rk__fb_timer_del(ring, lt);
		rk__fb_post(ring, ctx, lt, -ECANCELED, 0);
	}
	if (next != RK_NONE) {
		if (broken || ring->fb->stopping)
			fail_chain(ring, ctx, next);
		else
			rk__fb_start(ring, ctx, next);
	}
	if (ring->fb->active == 0)
		release_drained(ring, ctx);
}

/* Zero-copy sends copy here: the result (with MORE) and right away the
 * notification that the buffer is free again. */
static void finish_result(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot, int32_t res,
                          uint32_t cflags)
{
	const struct io_uring_sqe *sqe = fb_sqe(ring, slot);
	if (sqe->opcode == IORING_OP_SEND_ZC || sqe->opcode == IORING_OP_SENDMSG_ZC) {
		struct fb_op *x = fbx(ring, slot);
		push_cqe(ring, ctx, x->id, res, IORING_CQE_F_MORE);
		count_completion(ring, ctx);
		uint32_t usage = (sqe->ioprio & RK_SEND_ZC_REPORT_USAGE) ? RK_NOTIF_USAGE_ZC_COPIED : 0;
		rk__fb_finish(ring, ctx, slot, (int32_t)usage, IORING_CQE_F_NOTIF);
		return;
	}
	rk__fb_finish(ring, ctx, slot, res, cflags);
}

/* ---- cancellation: by id, by a link timeout, of everything ----------- */

/* The target an id names, while the fallback holds it; RK_NONE else. */
uint32_t rk__fb_find(rk_ring *ring, int64_t id)
{
	if (id < 0 || (uint32_t)id >= ring->capacity)
		return RK_NONE;
	struct fb_op *x = fbx(ring, (uint32_t)id);
	if (x->id != id || x->st == FB_IDLE || x->st == FB_DONE)
		return RK_NONE;
	return (uint32_t)id;
}

/* Cancels one op the fallback holds: 0 when it was stopped (it completes
 * with -ECANCELED, or with what earlier calls moved), -EALREADY when it is
 * making its call (it completes as that call ends: with -ECANCELED if the
 * call would wait, else with its result), -ENOENT when it cannot be found
 * (a chain member not started yet, as in the kernel). */
int rk__fb_cancel_slot(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot)
{
	struct fb_op *x = fbx(ring, slot);
	int32_t res;
	int r = rk__fb_unwait(ring, slot, &res);
	if (r == -EALREADY)
		x->cancel = 1;
	if (r < 0)
		return r;
	x->cancel = 2;
	rk__fb_finish(ring, ctx, slot, res, 0);
	return 0;
}

/* cancel, poll_remove and timeout_remove. */
static int32_t cancel_op(rk_ring *ring, struct fb_ctx *ctx, const struct io_uring_sqe *sqe)
{
	uint32_t target = rk__fb_find(ring, (int64_t)sqe->addr);
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
	return rk__fb_cancel_slot(ring, ctx, target);
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
	int r = rk__fb_cancel_slot(ring, ctx, target);
	rk__fb_finish(ring, ctx, slot, r == 0 ? -ETIME : r, 0);
}

/* Cancels everything the fallback holds (close and cancel_all): what waits
 * completes with -ECANCELED at once, what runs when its call ends. */
void rk__fb_cancel_everything(rk_ring *ring, struct fb_ctx *ctx)
{
	for (uint32_t slot = 0; slot < ring->capacity; slot++) {
		switch (fbx(ring, slot)->st) {
		case FB_QUEUED:
		case FB_ARMED:
		case FB_TIMER:
		case FB_STALLED:
		case FB_DRAINING:
		case FB_RUNNING:
			rk__fb_cancel_slot(ring, ctx, slot);
			break;
		default:
			break;
		}
	}
}

/* ---- starting ---------------------------------------------------------- */

static void start_timeout(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	if (!rk__fb_set_deadline(ring, slot)) {
		rk__fb_finish(ring, ctx, slot, -ETIME, 0);
		return;
	}
	x->st = FB_TIMER;
	int r = rk__fb_timer_add(ring, slot);
	if (r < 0) {
		rk__fb_finish(ring, ctx, slot, r, 0);
		return;
	}
	uint64_t count = fb_sqe(ring, slot)->off;
	if (count)
		rk__fb_count_add(ring, slot, fb->seq + count);
}

/* Ops that need no call: they complete (or arm) right here. */
static void start_now(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot)
{
	const struct io_uring_sqe *sqe = fb_sqe(ring, slot);
	switch (sqe->opcode) {
	case IORING_OP_NOP:
		rk__fb_finish(ring, ctx, slot, 0, 0);
		break;
	case IORING_OP_TIMEOUT:
		start_timeout(ring, ctx, slot);
		break;
	case IORING_OP_LINK_TIMEOUT:
		/* Reached only when it bounds nothing: a chain ended by a
		 * submission before it. */
		rk__fb_finish(ring, ctx, slot, -EINVAL, 0);
		break;
	case IORING_OP_ASYNC_CANCEL:
	case IORING_OP_POLL_REMOVE:
	case IORING_OP_TIMEOUT_REMOVE:
		rk__fb_finish(ring, ctx, slot, cancel_op(ring, ctx, sqe), 0);
		break;
	default:
		rk__fb_finish(ring, ctx, slot, -EINVAL, 0);
		break;
	}
}

/* Starts an op: it becomes active, its link timeout starts counting, and it
 * runs where it belongs. */
void rk__fb_start(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	const struct io_uring_sqe *sqe = fb_sqe(ring, slot);
	fb->active++;
	if (fb->stopping) {
		rk__fb_finish(ring, ctx, slot, -ECANCELED, 0);
		return;
	}
	if (x->lt != RK_NONE) {
		uint32_t lt = x->lt;
		struct fb_op *t = fbx(ring, lt);
		t->st = FB_TIMER;
		t->target = slot;
		fb->active++;
		rk__fb_set_deadline(ring, lt); /* already due: the service thread fires it at once */
		int r = rk__fb_timer_add(ring, lt);
		if (r < 0) {
			x->lt = RK_NONE;
			rk__fb_post(ring, ctx, lt, r, 0);
		}
	}
	int r = rk__fb_resolve_files(ring, slot);
	if (r < 0) {
		rk__fb_finish(ring, ctx, slot, r, 0);
		return;
	}
	int home = rk__fb_home(sqe);
	/* RK_ASYNC, or a thread that must not run calls: a worker makes the
	 * same non-blocking try. */
	if (home == FB_HOME_TRY && ((sqe->flags & IOSQE_ASYNC) || ctx->kind == FB_FOREIGN))
		home = FB_HOME_WORKER;
	switch (home) {
	case FB_HOME_NOW:
		start_now(ring, ctx, slot);
		break;
	case FB_HOME_TRY:
		x->st = FB_RUNNING;
		rk__fb_ctx_push(ring, ctx, slot);
		break;
	case FB_HOME_WORKER:
		if (ctx->kind == FB_WORKER) {
			x->st = FB_RUNNING;
			rk__fb_ctx_push(ring, ctx, slot);
		} else if ((r = rk__fb_queue_work(ring, slot)) < 0) {
			rk__fb_finish(ring, ctx, slot, r, 0);
		}
		break;
	case FB_HOME_WAIT:
		if (!rk__fb_waits_first(sqe, x->fd)) {
			x->st = FB_RUNNING; /* it fails at once: let the call say how */
			rk__fb_ctx_push(ring, ctx, slot);
			break;
		}
		r = rk__fb_arm(ring, slot, rk__fb_wait_events(sqe));
		if (r == -EPERM) {
			/* Not pollable (a regular file, /dev/null): the call itself
			 * says what is wrong (-ENOTSOCK, ...), as in the kernel. */
			x->st = FB_RUNNING;
			rk__fb_ctx_push(ring, ctx, slot);
		} else if (r < 0) {
			rk__fb_finish(ring, ctx, slot, r, 0);
		}
		break;
	}
}

/* Applies what a call returned. */
static void apply(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot, struct fb_result r)
{
	struct fb_op *x = fbx(ring, slot);
	int32_t cancelled = x->done > 0 && x->done <= INT32_MAX ? (int32_t)x->done : -ECANCELED;
	switch (r.verdict) {
	case FB_FINAL:
		finish_result(ring, ctx, slot, r.res, r.cflags);
		return;
	case FB_MORE:
	case FB_MORE_WAIT:
		rk__fb_post(ring, ctx, slot, r.res, r.cflags | IORING_CQE_F_MORE);
		if (x->cancel || ring->fb->stopping) {
			x->cancel = 2;
			rk__fb_finish(ring, ctx, slot, -ECANCELED, 0);
		} else if (!rk__fb_cq_room(ring)) {
			rk__fb_stall(ring, slot); /* rk_reap re-arms it once there is room */
		} else if (r.verdict == FB_MORE) {
			rk__fb_ctx_push(ring, ctx, slot);
		} else {
			int e = rk__fb_arm(ring, slot, r.events);
			if (e < 0)
				rk__fb_finish(ring, ctx, slot, e, 0);
		}
		return;
	case FB_WAIT:
		if (x->cancel || ring->fb->stopping) {
			x->cancel = 2;
			rk__fb_finish(ring, ctx, slot, cancelled, 0);
		} else {
			int e = rk__fb_arm(ring, slot, r.events);
			if (e < 0)
				rk__fb_finish(ring, ctx, slot, e, 0);
		}
		return;
	case FB_PUNT:
		if (x->cancel || ring->fb->stopping) {
			x->cancel = 2;
			rk__fb_finish(ring, ctx, slot, cancelled, 0);
		} else if (ctx->kind == FB_WORKER) {
			rk__fb_ctx_push(ring, ctx, slot);
		} else {
			int e = rk__fb_queue_work(ring, slot);
			if (e < 0)
				rk__fb_finish(ring, ctx, slot, e, 0);
		}
		return;
	}
}

/* Calls that take locks of their own: the registry and other rings'
 * (messages), or fb->mu for the file table (direct ops). */
static bool takes_locks(const struct io_uring_sqe *sqe)
{
	switch (sqe->opcode) {
	case IORING_OP_MSG_RING:
	case RK_IORING_OP_FIXED_FD_INSTALL:
		return true;
	case IORING_OP_OPENAT:
	case IORING_OP_OPENAT2:
	case IORING_OP_ACCEPT:
	case IORING_OP_SOCKET:
	case IORING_OP_CLOSE:
		return sqe->file_index != 0;
	default:
		return false;
	}
}

/* Runs the ops of ctx's list. Called and returns with fb->mu held.
 *
 * Other threads make their calls without the lock. The caller's thread
 * keeps it through its non-blocking tries: their completions are then
 * posted before anything they cause (a send's before the recv it wakes on
 * the service thread), in the order io_uring's inline completions have. */
void rk__fb_run(rk_ring *ring, struct fb_ctx *ctx)
{
	struct rk_fb *fb = ring->fb;
	while (ctx->head != RK_NONE) {
		uint32_t slot = ctx_pop(ring, ctx);
		fbx(ring, slot)->st = FB_RUNNING;
		bool keep = ctx->kind == FB_CALLER && !takes_locks(fb_sqe(ring, slot));
		if (!keep) {
			rk__fb_flush_signals(ring, ctx);
			pthread_mutex_unlock(&fb->mu);
		}
		struct fb_result r = rk__fb_exec(ring, slot, ctx->kind);
		if (!keep)
			pthread_mutex_lock(&fb->mu);
		apply(ring, ctx, slot, r);
		pthread_cond_broadcast(&fb->idle_cv); /* it is no longer RUNNING */
	}
}

