/*
 * Submission and completion: moving staged ops into the SQ, entering the
 * kernel, and copying completions out of the CQ.
 *
 * Prepared ops are staged in their slot and copied into the SQ here. That one
 * 64-byte copy buys three things: the op table can be larger than the SQ (the
 * staged list is TigerBeetle's overflow queue), linked chains are moved whole
 * so the kernel never sees half a chain in one submission, and the SQ ring is
 * only ever touched in this file.
 */
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "uring.h"

/* Published entries the kernel has not consumed yet: what io_uring_enter
 * should be told to submit. */
static uint32_t sq_to_submit(rk_ring *ring)
{
	return ring->sq.published - rk__load_acquire(ring->sq.khead);
}

/* Makes written SQ entries visible to the kernel. A linked chain whose rest
 * still waits in the overflow queue is held back: the kernel would end it at
 * the end of this submission. */
static void publish(rk_ring *ring)
{
	struct rk_sq *sq = &ring->sq;
	rk__sq_count(ring);
	uint32_t end = sq->tail;
	if (ring->staged_head != RK_NONE)
		while (end != sq->published &&
		       (sq->sqes[(end - 1) & sq->mask].flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK)))
			end--;
	if (end != sq->published) {
		sq->published = end;
		rk__store_release(sq->ktail, end);
	}
}

/* flush_staged with ops waiting in the overflow queue. */
__attribute__((noinline)) static uint32_t flush_staged_slow(rk_ring *ring)
{
	struct rk_sq *sq = &ring->sq;
	uint32_t space = sq->entries - rk__sq_used(ring);
	uint32_t moved = 0;

	while (ring->staged_head != RK_NONE && space > 0) {
		uint32_t n = 1;
		for (uint32_t s = ring->staged_head;
		     (ring->ops[s].sqe.flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK)) &&
		     ring->ops[s].next != RK_NONE;
		     s = ring->ops[s].next)
			n++;
		if (n > space)
			break;
		for (uint32_t i = 0; i < n; i++) {
			struct rk_op *op = &ring->ops[ring->staged_head];
			ring->staged_head = op->next;
			sq->sqes[sq->tail & sq->mask] = op->sqe;
			sq->tail++;
			op->state = RK_OP_KERNEL;
			op->next = RK_NONE;
		}
		ring->staged_count -= n;
		ring->in_kernel += n;
		/* [next, stop) is empty already: ops were waiting. */
		space -= n;
		moved += n;
	}
	if (ring->staged_head == RK_NONE)
		ring->staged_tail = RK_NONE;
	publish(ring);
	return moved;
}

/* Copies overflow-queue ops into free SQ entries, whole chains at a time,
 * then publishes. Returns how many moved. */
static inline uint32_t flush_staged(rk_ring *ring)
{
	if (__builtin_expect(ring->staged_head == RK_NONE, 1)) { /* preps wrote the SQ */
		publish(ring);
		return 0;
	}
	return flush_staged_slow(ring);
}

/* Whether the kernel holds completions we can only get by entering it:
 * overflowed CQEs, deferred task work, or cooperative task work. */
static bool needs_getevents(rk_ring *ring)
{
	if (ring->setup_flags & IORING_SETUP_DEFER_TASKRUN)
		return true;
	return rk__load_acquire(ring->sq.kflags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN);
}

/* The poll thread acts with the credentials of the process that created the
 * ring, whatever the process became since: a ring created as root would
 * still open root's files after setuid(). New ops are refused instead
 * (checked only when there is something to hand over). */
static bool credentials_changed(rk_ring *ring)
{
	return (uint32_t)geteuid() != ring->euid || (uint32_t)getegid() != ring->egid;
}

static int submit_sqpoll(rk_ring *ring)
{
	rk__sq_count(ring);
	if ((ring->staged_head != RK_NONE || ring->sq.tail != ring->sq.published) &&
	    credentials_changed(ring))
		return -EPERM;
	int total = 0;
	for (;;) {
		uint32_t before = ring->sq.published;
		flush_staged(ring);
		uint32_t handed = ring->sq.published - before;
		total += (int)handed;
		ring->total_submitted += handed;
		/* The poll thread may have gone idle: the flag must be read after
		 * the tail store is visible, hence the full fence. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		uint32_t eflags = 0;
		if (rk__load_acquire(ring->sq.kflags) & IORING_SQ_NEED_WAKEUP)
			eflags |= IORING_ENTER_SQ_WAKEUP;
		if (ring->staged_head != RK_NONE)
			eflags |= IORING_ENTER_SQ_WAIT; /* wait for SQ space */
		if (!eflags)
			return total;
		int ret = rk__sys_enter(ring->fd, 0, 0, eflags, NULL, 0);
		if (ret < 0)
			return total ? total : ret;
		if (ring->staged_head == RK_NONE)
			return total;
	}
}

/* Hands every staged op the kernel will take to it. With getevents, also
 * runs pending task work so completions become visible (min_complete 0: this
 * never waits, so a signal can never be swallowed here). Returns how many ops
 * the kernel consumed, or a negative errno when it consumed none. */
static inline int flush_and_enter(rk_ring *ring, bool getevents)
{
	if (ring->setup_flags & IORING_SETUP_SQPOLL)
		return submit_sqpoll(ring);

	int total = 0;
	for (;;) {
		flush_staged(ring);
		uint32_t to_submit = sq_to_submit(ring);
		uint32_t eflags = getevents && needs_getevents(ring) ? IORING_ENTER_GETEVENTS : 0;
		if (to_submit == 0 && !eflags)
			return total;
		int ret = rk__sys_enter(ring->fd, to_submit, 0, eflags, NULL, 0);
		if (ret < 0) {
			/* -EBUSY/-EAGAIN: the kernel wants completions reaped or is
			 * short of memory; the ops stay in the SQ for the next try. */
			if (ret == -EBUSY || ret == -EAGAIN)
				return total;
			return total ? total : ret;
		}
		total += ret;
		ring->total_submitted += (uint64_t)ret;
		if (ring->staged_head == RK_NONE || ret == 0)
			return total;
		getevents = false;
	}
}

int rk__flush_and_enter(rk_ring *ring, bool getevents)
{
	return flush_and_enter(ring, getevents);
}

/* Copies up to max CQEs into out and releases the slots of final
 * completions. Every field is read before the head moves past the entry,
 * since the kernel may then overwrite it.
 *
 * This runs once per completion, so the common release (a final completion
 * of an op with no storage, group or settling to do; a chunk pin is undone
 * inline) is done here with the table's free list in a local; the rest
 * take the general rk__op_release. */
_Static_assert(sizeof(rk_cqe) == 16 && offsetof(struct io_uring_cqe, res) == offsetof(rk_cqe, res) &&
                   offsetof(struct io_uring_cqe, flags) == offsetof(rk_cqe, flags),
               "rk_cqe is a CQE without its extra fields: copied whole");

/* drain_cq's other completions: a provided buffer taken, settling to do,
 * a multishot op going on, storage to free. Writes the record at *o and
 * returns how many it wrote. Out of line, so that the common path keeps
 * its locals in registers. */
__attribute__((noinline)) static uint32_t settle_slow(rk_ring *ring, struct rk_op *op,
                                                      const struct io_uring_cqe *cqe,
                                                      rk_cqe *o)
{
	int32_t res = cqe->res;
	uint32_t flags = cqe->flags;
	if (op->kind == RK_KIND_COPY) /* a copy's sub-op: the copy writes its own record, if any */
		return (uint32_t)rk__copy_cqe(ring, op, res, o);
	memcpy(o, cqe, sizeof(*o));
	if (flags & IORING_CQE_F_BUFFER)
		rk__group_took_chunk(ring, op, flags);
	if (op->kind)
		rk__op_settle(ring, op, res, flags);
	if (flags & IORING_CQE_F_MORE)
		return 1;
	ring->total_completed++;
	rk__op_release(ring, op);
	return 1;
}

/* Where drain_cq writes the record of the CQE at cqe (see delta there). */
static inline rk_cqe *record_at(const struct io_uring_cqe *cqe, uintptr_t delta)
{
	return (rk_cqe *)((uintptr_t)cqe + delta);
}

static inline __attribute__((always_inline)) uint32_t drain_cq_at(rk_ring *restrict ring,
                                                                 rk_cqe *restrict out,
                                                                 uint32_t max)
{
	struct rk_cq *cq = &ring->cq;
	const uint32_t mask = cq->mask, capacity = ring->capacity, table_mask = ring->table_mask;
	const struct io_uring_cqe *cqes = cq->cqes;
	struct rk_op *ops = ring->ops;
	uint32_t head = *cq->khead;
	uint32_t tail = rk__load_acquire(cq->ktail);
	uint32_t slow = 0, free_head = ring->free_head; /* slow: records not of a fast release */
	rk_cqe *o = out;
	/* At most max records out: `end` moves on past every CQE that gives
	 * none, while the CQ has more. */
	uint32_t end = tail - head > max ? head + max : tail;

	while (head != end) {
		/* The entries up to end, or up to the CQ's last one, walked by
		 * pointer: no mask and index per entry. */
		uint32_t at = head & mask, run = end - head;
		if (run > mask + 1 - at)
			run = mask + 1 - at;
		const struct io_uring_cqe *cqe = &cqes[at], *stop = cqe + run;
		head += run;
		/* The entry at cqe gives its record at cqe + delta (bytes), as
		 * the records are CQE-sized: the fast release moves no pointer
		 * of its own. delta goes down by a record for each entry that
		 * gives none. */
		uintptr_t delta = (uintptr_t)o - (uintptr_t)cqe;
		for (; cqe != stop; cqe++) {
			uint64_t ud = cqe->user_data;
			uint32_t slot = (uint32_t)ud;
			struct rk_op *op = &ops[slot & table_mask];
			uint32_t w;
			/* An op's id is never negative: a match says ud is one, and
			 * names this slot (past capacity, none matches). A plain
			 * op's word says it holds nothing, so a NOP or a read into
			 * caller memory pays no test of op->region. Neither word
			 * is one of an op that may post F_MORE (RK_HELD_MORE) or
			 * take a provided buffer (F_BUFFER: it has a group). */
			if (__builtin_expect((uint64_t)rk__op_id_word(op) == ud &&
			                     ((w = rk__op_live_word(op)) == RK_LIVE_WORD(0) ||
			                      w == RK_LIVE_WORD(RK_HELD_CHUNK)), 1)) {
				memcpy(record_at(cqe, delta), cqe, sizeof(rk_cqe));
				if (w != RK_LIVE_WORD(0)) {
					rk__region_unpin(op->region, op->chunk);
					op->region = NULL;
					op->chunk = -1;
					op->held = 0;
				}
				rk__op_free_word(op);
				op->next = free_head;
				free_head = slot;
				continue;
			}
			if ((int64_t)ud < 0) {
				/* Not an op: our own internal cancel, or a message
				 * another ring sent (rk_prep_msg_ring), which names no
				 * slot. */
				if (ud != RK_UD_INTERNAL && !ring->discarding) {
					memcpy(record_at(cqe, delta), cqe, sizeof(rk_cqe));
					slow++;
					continue;
				}
				delta -= sizeof(rk_cqe);
				if (end != tail)
					end++;
				continue;
			}
			if (slot >= capacity || op->gen != (uint32_t)(ud >> 32) ||
			    op->state != RK_OP_KERNEL) {
				delta -= sizeof(rk_cqe);
				if (end != tail)
					end++;
				continue; /* not a live op of ours: nothing to settle */
			}
			ring->free_head = free_head;
			uint32_t wrote = settle_slow(ring, op, cqe, record_at(cqe, delta));
			free_head = ring->free_head;
			delta += wrote * sizeof(rk_cqe) - sizeof(rk_cqe);
			slow += wrote;
			if (!wrote && end != tail)
				end++;
		}
		o = record_at(stop, delta);
	}
	rk__store_release(cq->khead, head);
	ring->free_head = free_head;
	uint32_t n = (uint32_t)(o - out), fast = n - slow;
	ring->live -= fast;
	ring->in_kernel -= fast;
	ring->total_cqes += n;
	ring->total_completed += fast;
	return n;
}

/* drain_cq_at out of line, for every drain but the reap's first. */
__attribute__((noinline)) static uint32_t drain_cq(rk_ring *ring, rk_cqe *out, uint32_t max)
{
	return drain_cq_at(ring, out, max);
}

/* After a drain that gave out[0..got): enters the kernel (without waiting)
 * and drains again while it holds more, up to max: overflowed CQEs are only
 * moved into the CQ as room is made. */
static uint32_t drain_more(rk_ring *ring, rk_cqe *out, uint32_t max, uint32_t got)
{
	while (got < max && needs_getevents(ring)) {
		if (rk__sys_enter(ring->fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
			break;
		uint32_t more = drain_cq(ring, out + got, max - got);
		if (more == 0)
			break;
		got += more;
	}
	return got;
}

/* Drains the CQ, entering the kernel while it holds more (drain_more). */
static uint32_t drain_all_ready(rk_ring *ring, rk_cqe *out, uint32_t max)
{
	return drain_more(ring, out, max, drain_cq(ring, out, max));
}

/* Ops the kernel has taken, as opposed to ops sitting in the SQ unconsumed.
 * Without SQPOLL only our own io_uring_enter consumes SQ entries, so after a
 * submit that failed, nothing would ever complete those; with SQPOLL the poll
 * thread takes every published entry (submit_sqpoll wakes it). */
static uint32_t kernel_held(rk_ring *ring)
{
	rk__sq_count(ring);
	uint32_t queued = ring->setup_flags & IORING_SETUP_SQPOLL
	                          ? ring->sq.tail - ring->sq.published
	                          : rk__sq_used(ring);
	return ring->in_kernel > queued ? ring->in_kernel - queued : 0;
}

/* One blocking wait in the kernel for min_complete CQEs, at most timeout_ns
 * (< 0: unbounded). Returns 0 or the kernel's negative errno (-EINTR, -ETIME).
 * Nothing is submitted here, so the kernel's answer is never hidden behind a
 * submission count. */
static int wait_cqes(rk_ring *ring, uint32_t min_complete, int64_t timeout_ns)
{
	if (timeout_ns < 0 || timeout_ns >= RK_TIME_NEVER)
		return rk__sys_enter(ring->fd, 0, min_complete, IORING_ENTER_GETEVENTS, NULL, 0);
	struct __kernel_timespec ts = {
		.tv_sec = timeout_ns / 1000000000,
		.tv_nsec = timeout_ns % 1000000000,
	};
	struct io_uring_getevents_arg arg = {
		.sigmask = 0,
		.sigmask_sz = 8,
		.ts = (uint64_t)(uintptr_t)&ts,
	};
	int ret = rk__sys_enter(ring->fd, 0, min_complete,
	                        IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
	return ret < 0 ? ret : 0;
}

/* rk__uring_reap once what was ready is out (got records) and more are
 * wanted: hands over what waits and blocks in the kernel. Out of line, so
 * that a reap that finds enough saves no registers for this. */
__attribute__((noinline)) static int reap_wait(rk_ring *ring, rk_cqe *out, uint32_t max,
                                               uint32_t wait_nr, int64_t timeout_ns,
                                               uint32_t got, int sret)
{
	if (sret == -EINTR)
		return got ? (int)got : -EINTR; /* let the runtime handle the signal first */

	int64_t deadline = timeout_ns > 0 ? rk__time_add(rk__now_ns(), timeout_ns) : -1;
	while (got < wait_nr) {
		/* Completions free SQ space for staged ops, and a submit that
		 * failed left its ops in the SQ, where (without SQPOLL) the kernel
		 * takes them only when told: hand them over before waiting
		 * (with what a copy wrote into the SQ while draining). */
		rk__sq_count(ring); /* and what a copy queued while draining */
		if (ring->staged_head != RK_NONE || sq_to_submit(ring) ||
		    ring->sq.tail != ring->sq.published) {
			int s = rk__flush_and_enter(ring, false);
			if (s < 0 && (ring->setup_flags & IORING_SETUP_SQPOLL))
				return got ? (int)got : s; /* the poll thread may sleep on */
			if (s < 0)
				sret = s;
		}
		/* Nothing live can complete: never wait for it, unless the
		 * ring waits for other rings' messages. */
		if (ring->in_kernel == 0 && !(ring->rk_flags & RK_RING_MSG_TARGET))
			break;
		if (ring->in_kernel > 0 && kernel_held(ring) == 0) /* only ops it refused to take */
			return got ? (int)got : (sret < 0 ? sret : -EAGAIN);
		int64_t left = -1;
		if (deadline >= 0) {
			left = deadline - rk__now_ns();
			if (left <= 0)
				break;
		}
		int ret = wait_cqes(ring, wait_nr - got, left);
		got += drain_all_ready(ring, out + got, max - got);
		if (got >= wait_nr || ret == -ETIME)
			break;
		/* -EINTR: the runtime handles the signal and calls again. Nothing
		 * else is retried here: a wait submits nothing, so an error that
		 * repeats would only turn this loop into a spin. */
		if (ret < 0)
			return got ? (int)got : ret;
	}
	return (int)got;
}

int rk__uring_reap(rk_ring *ring, rk_cqe *out, uint32_t max, uint32_t wait_nr,
                   int64_t timeout_ns)
{
	int sret = 0;
	/* Entries written since the last count are the common reason to
	 * submit, and need no count to be seen. */
	if (ring->staged_head != RK_NONE || ring->sq.next != ring->sq.mark || rk__sq_used(ring))
		sret = flush_and_enter(ring, true);
	if (max == 0)
		return sret < 0 ? sret : 0; /* a submit-only call: leave completions queued */

	uint32_t got = ring->local_head != RK_NONE ? rk__drain_local(ring, out, max) : 0;
	/* drain_all_ready, with the first drain inline */
	got += drain_cq_at(ring, out + got, max - got);
	if (got < max && needs_getevents(ring))
		got = drain_more(ring, out, max, got);
	if (got >= wait_nr || timeout_ns == 0)
		return (int)got;
	return reap_wait(ring, out, max, wait_nr, timeout_ns, got, sret);
}

/* Takes back SQ entries written but never published: the kernel has not
 * seen them, so they can complete locally with -ECANCELED (settle true) or
 * be forgotten (close). Returns how many. */
int rk__unwrite_unpublished(rk_ring *ring, bool settle)
{
	struct rk_sq *sq = &ring->sq;
	int n = 0;
	rk__sq_count(ring);
	for (uint32_t i = sq->published; i != sq->tail; i++) {
		struct rk_op *op = rk__op_lookup(ring, (int64_t)sq->sqes[i & sq->mask].user_data);
		if (!op)
			continue;
		ring->in_kernel--;
		if (settle) {
			rk__op_complete_local(ring, op, -ECANCELED);
		} else {
			op->state = RK_OP_STAGED; /* so release does not count it twice */
			rk__op_release(ring, op);
		}
		n++;
	}
	sq->tail = sq->published;
	rk__sq_forget_room(sq);
	return n;
}

/* At close: forgets every SQ entry the kernel has not seen. Without SQPOLL
 * that includes published entries a failed submit left unconsumed: only our
 * own io_uring_enter would hand them over, so close must not wait for them
 * (it would wait out its bound and leak what the kernel never had). */
void rk__forget_unsubmitted(rk_ring *ring)
{
	if (!(ring->setup_flags & IORING_SETUP_SQPOLL)) {
		uint32_t head = rk__load_acquire(ring->sq.khead);
		if (ring->sq.published != head) {
			ring->sq.published = head;
			rk__store_release(ring->sq.ktail, head);
		}
	}
	rk__unwrite_unpublished(ring, false);
}

/* Pushes one internal SQE that cancels every op in the kernel. Its own
 * completion carries RK_UD_INTERNAL and is dropped by drain_cq. */
static void push_cancel_any(rk_ring *ring)
{
	struct rk_sq *sq = &ring->sq;
	if (rk__sq_used(ring) >= sq->entries)
		return; /* SQ full: the caller enters and retries */
	struct io_uring_sqe *sqe = &sq->sqes[sq->tail & sq->mask];
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	sqe->user_data = RK_UD_INTERNAL;
	sq->tail++;
	rk__sq_forget_room(sq);
	publish(ring);
}

/* Cancels every op the kernel has issued, through io_uring_register. The
 * cancel SQE of push_cancel_any is not enough alone: behind a pending
 * RK_DRAIN op the kernel holds every later SQE back, the cancel included,
 * until the ops before the drain complete — which may be the very ops it
 * should cancel. (The SQE stays: under SQPOLL it is the one that reaches the
 * poll thread's workers.) Waits for nothing. */
static void sync_cancel_any(rk_ring *ring)
{
	struct io_uring_sync_cancel_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.fd = -1;
	reg.flags = IORING_ASYNC_CANCEL_ANY;
	/* Each op cancelled may let the kernel start the next one a drain held
	 * back, once the task work its completion queued has run: on the way
	 * out of this very call; with DEFER_TASKRUN only inside GETEVENTS
	 * enters, a few generations deep; under SQPOLL in the poll thread, a
	 * moment later. Cancel again until rounds find nothing (a round or two
	 * more where the next op may still be on its way), at most once per op
	 * held. */
	bool defer = ring->setup_flags & IORING_SETUP_DEFER_TASKRUN;
	bool sqpoll = ring->setup_flags & IORING_SETUP_SQPOLL;
	int misses = 0, patience = defer ? 2 : sqpoll ? 3 : 1;
	for (uint32_t i = 0; i <= ring->in_kernel && misses < patience; i++) {
		int ret = rk__sys_register(ring->fd, IORING_REGISTER_SYNC_CANCEL, &reg, 1);
		misses = ret > 0 ? 0 : misses + 1;
		for (int k = 0; defer && k < 3; k++)
			rk__sys_enter(ring->fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
		if (sqpoll && ret <= 0 && misses < patience) {
			struct timespec ts = {0, 2000000};
			nanosleep(&ts, NULL);
		}
	}
}

/* SQPOLL: the poll thread issues ops when it gets to them. A sync cancel
 * only finds issued ops, so give the thread a moment (bounded) to take
 * what the SQ holds. */
static void wait_sq_consumed(rk_ring *ring, int64_t timeout_ns)
{
	int64_t deadline = rk__now_ns() + timeout_ns;
	while (rk__sq_used(ring) && rk__now_ns() < deadline) {
		if (rk__load_acquire(ring->sq.kflags) & IORING_SQ_NEED_WAKEUP)
			rk__sys_enter(ring->fd, 0, 0, IORING_ENTER_SQ_WAKEUP, NULL, 0);
		sched_yield();
	}
}

/* Cancels everything the kernel holds for this ring and waits, up to
 * timeout_ns, until it has given every op back (completions discarded).
 * Returns 0 or -ETIMEDOUT. Used by close, after staged ops were dropped. */
int rk__wait_idle(rk_ring *ring, int64_t timeout_ns)
{
	ring->discarding = true;
	int64_t deadline = rk__now_ns() + timeout_ns;
	int64_t next_cancel = 0;

	for (rk__sq_count(ring); ring->in_kernel > 0; rk__sq_count(ring)) {
		int64_t now = rk__now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		/* Repeat the cancel now and then: an op still in the SQ when the
		 * first one ran, or re-armed by the kernel, is caught by the next. */
		if (now >= next_cancel) {
			push_cancel_any(ring);
			sync_cancel_any(ring);
			next_cancel = now + 50000000;
		}
		if (ring->setup_flags & IORING_SETUP_SQPOLL)
			submit_sqpoll(ring);
		else if (sq_to_submit(ring))
			rk__sys_enter(ring->fd, sq_to_submit(ring), 0, 0, NULL, 0);
		int64_t left = deadline - rk__now_ns();
		int w = wait_cqes(ring, 1, left < 20000000 ? (left > 0 ? left : 0) : 20000000);
		if (w < 0 && w != -ETIME && w != -EINTR) {
			/* The kernel refuses to wait (-ENOMEM...): retry, not spin. */
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
		rk_cqe discard[64]; /* close delivers nothing: drain into scratch */
		while (drain_all_ready(ring, discard, 64) == 64)
			;
	}
	return 0;
}

/* See rk_ring_cancel_all in ringkit.h. */
int rk__cancel_everything(rk_ring *ring)
{
	int n = rk__unwrite_unpublished(ring, true);
	n += rk__cancel_staged(ring, true);
	if (ring->in_kernel > 0) {
		n += (int)ring->in_kernel;
		push_cancel_any(ring);
		rk__flush_and_enter(ring, true);
		if (ring->setup_flags & IORING_SETUP_SQPOLL)
			wait_sq_consumed(ring, 50000000);
		sync_cancel_any(ring);
	}
	return n;
}
