/*
 * The fallback's op life cycle: submission (chains, link timeouts,
 * RK_DRAIN), starting an op where it runs, posting completions, the
 * cancellations, and the caller's side of the completion queue.
 *
 * Everything here runs with fb->mu held, except the calls themselves
 * (rk__fb_exec) in rk__fb_run, and the slot releases in drain().
 */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "fb.h"

#define LINKS (IOSQE_IO_LINK | IOSQE_IO_HARDLINK)

static void start(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot);
static int cancel_slot(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot);

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

static void uncount(rk_ring *ring, uint32_t slot)
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

/* A completion counts towards count timeouts (io_uring counts every CQE
 * but those of timeouts). */
static void count_completion(rk_ring *ring, struct fb_ctx *ctx)
{
	struct rk_fb *fb = ring->fb;
	fb->seq++;
	for (uint32_t i = 0; i < fb->ncounted;) {
		uint32_t slot = fb->counted[i];
		if (fbx(ring, slot)->seq > fb->seq) {
			i++;
			continue;
		}
		uncount(ring, slot);
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

/* The ring's eventfd is readable exactly while the queue holds records.
 * The caller's own thread leaves it to this, at the end of its rk_submit,
 * rk_reap, ... call: a reap that posts inline and drains what it posted
 * then makes no eventfd call at all. */
static void sync_signal(rk_ring *ring)
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
	struct rk_fb *fb = ring->fb;
	while (fb->drain_head != RK_NONE) {
		uint32_t slot = fb->drain_head;
		bool drain = fb_sqe(ring, slot)->flags & IOSQE_IO_DRAIN;
		if (drain && fb->active > 0)
			return;
		fb->drain_head = fbx(ring, slot)->next;
		if (fb->drain_head == RK_NONE)
			fb->drain_tail = RK_NONE;
		start(ring, ctx, slot);
		if (drain)
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
			start(ring, ctx, next);
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

/* The fd an op's call uses: a fixed file is duplicated for the op's
 * lifetime (the slot may be replaced while the op runs, as the kernel's
 * file reference allows). -EBADF for an empty or missing slot. */
static int resolve_fixed(rk_ring *ring, int32_t index, int32_t *fd, int32_t *own)
{
	struct rk_fb *fb = ring->fb;
	if (index < 0 || (uint32_t)index >= ring->nfiles || fb->files[index] < 0)
		return -EBADF;
	int d = rk__fb_sys_dup(fb->files[index]);
	if (d < 0)
		return d;
	*fd = *own = d;
	return 0;
}

static int resolve_files(rk_ring *ring, uint32_t slot)
{
	const struct io_uring_sqe *sqe = fb_sqe(ring, slot);
	struct fb_op *x = fbx(ring, slot);
	x->fd = sqe->fd;
	x->fd_in = -1;
	uint8_t op = sqe->opcode;
	if (op == IORING_OP_SPLICE || op == IORING_OP_TEE) {
		x->fd_in = sqe->splice_fd_in;
		if (sqe->splice_flags & SPLICE_F_FD_IN_FIXED) {
			int r = resolve_fixed(ring, sqe->splice_fd_in, &x->fd_in, &x->own[1]);
			if (r < 0)
				return r;
		}
	}
	if (!(sqe->flags & IOSQE_FIXED_FILE))
		return 0;
	switch (op) {
	case IORING_OP_MSG_RING:          /* the slot names the target ring */
	case RK_IORING_OP_FIXED_FD_INSTALL: /* the slot is the file to install */
	case IORING_OP_NOP:
	case IORING_OP_TIMEOUT:
	case IORING_OP_LINK_TIMEOUT:
	case IORING_OP_TIMEOUT_REMOVE:
	case IORING_OP_POLL_REMOVE:
	case IORING_OP_ASYNC_CANCEL:
		return 0;
	case IORING_OP_OPENAT:
	case IORING_OP_OPENAT2:
	case IORING_OP_STATX:
	case IORING_OP_UNLINKAT:
	case IORING_OP_MKDIRAT:
	case IORING_OP_RENAMEAT:
	case IORING_OP_LINKAT:
	case IORING_OP_SYMLINKAT:
	case IORING_OP_SOCKET:
	case IORING_OP_CLOSE:
		return -EBADF; /* the kernel refuses a fixed file for these */
	default:
		return resolve_fixed(ring, sqe->fd, &x->fd, &x->own[0]);
	}
}

static int64_t timespec_ns(const struct io_uring_sqe *sqe)
{
	const struct __kernel_timespec *ts = (const struct __kernel_timespec *)(uintptr_t)sqe->addr;
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
static bool set_deadline(rk_ring *ring, uint32_t slot)
{
	const struct io_uring_sqe *sqe = fb_sqe(ring, slot);
	struct fb_op *x = fbx(ring, slot);
	x->clock = clock_of(sqe->timeout_flags);
	int64_t now = rk__fb_sys_now(x->clock);
	int64_t ns = timespec_ns(sqe);
	x->deadline = (sqe->timeout_flags & IORING_TIMEOUT_ABS) ? ns : now + ns;
	return x->deadline > now;
}

static void start_timeout(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	if (!set_deadline(ring, slot)) {
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
	if (count) {
		x->seq = fb->seq + count;
		x->counted = 1;
		x->done = fb->ncounted;
		fb->counted[fb->ncounted++] = slot;
	}
}

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

static int32_t do_cancel(rk_ring *ring, struct fb_ctx *ctx, const struct io_uring_sqe *sqe)
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

/* A timer of the service thread is due. A timeout completes with -ETIME;
 * a link timeout cancels the op it bounds and completes with -ETIME, or
 * with the cancel's error when that op is making its call (-EALREADY). */
void rk__fb_timer_fired(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot)
{
	struct fb_op *x = fbx(ring, slot);
	if (fb_sqe(ring, slot)->opcode == IORING_OP_TIMEOUT) {
		uncount(ring, slot);
		rk__fb_finish(ring, ctx, slot, -ETIME, 0);
		return;
	}
	uint32_t target = x->target;
	fbx(ring, target)->lt = RK_NONE;
	int r = cancel_slot(ring, ctx, target);
	rk__fb_finish(ring, ctx, slot, r == 0 ? -ETIME : r, 0);
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
		rk__fb_finish(ring, ctx, slot, do_cancel(ring, ctx, sqe), 0);
		break;
	default:
		rk__fb_finish(ring, ctx, slot, -EINVAL, 0);
		break;
	}
}

static uint32_t wait_events(const struct io_uring_sqe *sqe)
{
	if (sqe->opcode == IORING_OP_POLL_ADD)
		return sqe->poll32_events;
	return POLLIN;
}

/* Starts an op: it becomes active, its link timeout starts counting, and it
 * runs where it belongs. */
static void start(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot)
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
		set_deadline(ring, lt); /* already due: the service thread fires it at once */
		int r = rk__fb_timer_add(ring, lt);
		if (r < 0) {
			x->lt = RK_NONE;
			rk__fb_post(ring, ctx, lt, r, 0);
		}
	}
	int r = resolve_files(ring, slot);
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
		r = rk__fb_arm(ring, slot, wait_events(sqe));
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
			x->st = FB_STALLED; /* rk_reap re-arms it once there is room */
			x->next = ring->fb->stalled_head;
			ring->fb->stalled_head = slot;
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

/* Cancels one op the fallback holds: 0 when it was stopped (it completes
 * with -ECANCELED), -EALREADY when it is making its call (it completes as
 * that call ends: with -ECANCELED if the call would wait, else with its
 * result), -ENOENT when it cannot be found (a chain member not started
 * yet, as in the kernel). */
static int cancel_slot(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot)
{
	struct rk_fb *fb = ring->fb;
	struct fb_op *x = fbx(ring, slot);
	int32_t res = x->done > 0 && x->done <= INT32_MAX ? (int32_t)x->done : -ECANCELED;
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
		uncount(ring, slot);
		if (fb_sqe(ring, slot)->opcode == IORING_OP_LINK_TIMEOUT)
			fbx(ring, x->target)->lt = RK_NONE; /* its op goes on unbounded */
		res = -ECANCELED;
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
	case FB_RUNNING:
		x->cancel = 1;
		return -EALREADY;
	default:
		return -ENOENT;
	}
	x->cancel = 2;
	rk__fb_finish(ring, ctx, slot, res, 0);
	return 0;
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
	ring->chain_len = 0;
	ring->total_submitted += (uint64_t)n;

	while (heads_head != RK_NONE) {
		uint32_t slot = heads_head;
		heads_head = fbx(ring, slot)->next;
		bool drain = fb_sqe(ring, slot)->flags & IOSQE_IO_DRAIN;
		if (fb->drain_head != RK_NONE || (drain && fb->active > 0)) {
			struct fb_op *x = fbx(ring, slot);
			x->st = FB_DRAINING;
			x->next = RK_NONE;
			if (fb->drain_tail == RK_NONE)
				fb->drain_head = slot;
			else
				fbx(ring, fb->drain_tail)->next = slot;
			fb->drain_tail = slot;
			continue;
		}
		start(ring, &ctx, slot);
	}
	rk__fb_run(ring, &ctx);
	rk__fb_flush_signals(ring, &ctx);
	if (sync)
		sync_signal(ring);
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
	struct rk_fb *fb = ring->fb;
	while (fb->stalled_head != RK_NONE && rk__fb_cq_room(ring)) {
		uint32_t slot = fb->stalled_head;
		fb->stalled_head = fbx(ring, slot)->next;
		int r = rk__fb_arm(ring, slot, wait_events(fb_sqe(ring, slot)));
		if (r < 0)
			rk__fb_finish(ring, ctx, slot, r, 0);
	}
}

/* Copies up to max records out of the completion queue, then settles and
 * releases them in the op table (the caller's, so without the lock). */
static uint32_t drain(rk_ring *ring, rk_cqe *out, uint32_t max)
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
	sync_signal(ring);
	pthread_mutex_unlock(&fb->mu);

	uint32_t kept = 0;
	for (uint32_t i = 0; i < n; i++) {
		rk_cqe e = out[i];
		if (e.id < 0) { /* a message from another ring */
			if (!ring->discarding)
				out[kept++] = e;
			continue;
		}
		struct rk_op *op = &ring->ops[(uint32_t)e.id];
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
	ring->total_cqes += n;
	return kept;
}

static uint32_t drain_local(rk_ring *ring, rk_cqe *out, uint32_t max)
{
	uint32_t n = 0;
	while (ring->local_head != RK_NONE && n < max) {
		struct rk_op *op = &ring->ops[ring->local_head];
		ring->local_head = op->next;
		out[n].id = rk__op_id(ring, op);
		out[n].res = op->res;
		out[n].flags = 0;
		if (op->kind)
			rk__op_settle(ring, op, op->res, 0);
		n++;
		ring->total_cqes++;
		ring->total_completed++;
		rk__op_release(ring, op);
	}
	if (ring->local_head == RK_NONE)
		ring->local_tail = RK_NONE;
	return n;
}

int rk__fb_reap(rk_ring *ring, rk_cqe *out, uint32_t max, uint32_t wait_nr, int64_t timeout_ns)
{
	if (ring->staged_head != RK_NONE)
		submit(ring, max == 0); /* a reap syncs the eventfd as it drains */
	if (max == 0)
		return 0; /* a submit-only call: leave completions queued */
	uint32_t got = drain_local(ring, out, max);
	got += drain(ring, out + got, max - got);
	if (got >= wait_nr || timeout_ns == 0)
		return (int)got;

	int64_t deadline = timeout_ns > 0 ? rk__fb_sys_now(0) + timeout_ns : -1;
	while (got < wait_nr) {
		if (ring->in_kernel == 0 && !(ring->rk_flags & RK_RING_MSG_TARGET))
			break; /* nothing live can complete: never wait for it */
		int64_t left = -1;
		if (deadline >= 0) {
			left = deadline - rk__fb_sys_now(0);
			if (left <= 0)
				break;
		}
		int r = rk__fb_sys_wait(ring->fd, left);
		got += drain(ring, out + got, max - got);
		if (r == -EINTR && got == 0)
			return -EINTR;
		if (r == -EINTR)
			break;
	}
	return (int)got;
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
	sync_signal(ring);
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
	int64_t deadline = timeout_ns >= 0 ? rk__fb_sys_now(0) + timeout_ns : -1;
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
		if (deadline >= 0) {
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
	sync_signal(ring);
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

	int64_t deadline = rk__fb_sys_now(0) + timeout_ns;
	rk_cqe scratch[64];
	for (;;) {
		while (drain(ring, scratch, 64) > 0)
			;
		if (ring->in_kernel == 0)
			return 0;
		int64_t left = deadline - rk__fb_sys_now(0);
		if (left <= 0)
			return -ETIMEDOUT;
		rk__fb_sys_wait(ring->fd, left < 20000000 ? left : 20000000);
	}
}
