/*
 * The fallback backend: the same op records (the SQEs the preps write),
 * carried out with plain syscalls where io_uring is refused.
 *
 * Threads and who owns what
 *   The caller's thread (the ring's single issuer) owns the op table, as on
 *   io_uring. Ops it submits are handed to the fallback, which keeps its own
 *   per-slot record (struct fb_op) under one mutex per ring, fb->mu. Three
 *   kinds of thread run ops:
 *     - the caller's thread, inside rk_submit/rk_reap: cheap calls, and the
 *       first, non-blocking try of socket and pipe IO (MSG_DONTWAIT,
 *       RWF_NOWAIT) — what io_uring does inline;
 *     - the service thread: an epoll set of descriptors ops wait on (one
 *       oneshot registration per descriptor, a FIFO of waiting ops each) and
 *       the timers; it makes the call once the descriptor is ready;
 *     - up to FB_MAX_WORKERS workers for calls that block on disk (regular
 *       files, fsync, open, path ops), io_uring's io-wq.
 *   A thread that finishes an op posts its completion into the ring's
 *   completion queue (fb->cq, 16-byte rk_cqe records) and, with the same
 *   lock held, starts what the completion unblocks: the next op of a linked
 *   chain, an op held by RK_DRAIN, a count timeout. So chains and drains
 *   make progress whether or not anyone is reaping, as in the kernel.
 *
 *   The caller's thread drains fb->cq in rk_reap and releases slots there,
 *   exactly as it drains the kernel's CQ. A fallback thread never touches an
 *   op after posting its final completion: from then on the slot is the
 *   caller's again.
 *
 * Stages, and the direction of calls
 *   An op's life here is a state machine (enum fb_state below): staged by
 *   a prep, submitted, started, waiting somewhere, running its call,
 *   completed, reaped. One file per stage, each calling only the files
 *   below it:
 *
 *     ring.c     the backend's hooks: create, close, the registrations
 *                (eventfd, buffers, groups; the file table's are files.c's)
 *     cancel.c   the caller's cancels (cancel_all, cancel_sync, close's quiesce)
 *     submit.c   the caller's two ends: staged ops handed over (chains
 *                linked, RK_DRAIN held), completions drained and reaped
 *     threads.c  the threads' loops: workers and the service thread take
 *                what wait.c says is due and run it through core.c
 *     core.c     the transitions, under fb->mu: start (where it runs),
 *                run and apply a call's verdict, post, finish and what a
 *                final completion unblocks (chain, link timeout, drain,
 *                count timeouts), cancel one op
 *     wait.c     the places ops wait (worker queue, readiness, timers,
 *                RK_DRAIN hold, stalled multishots), a way in and out of each
 *     exec.c     the calls, one per opcode, returning a verdict (no lock)
 *     net.c      the socket calls
 *     files.c    the file table: registrations, fixed files, installs
 *     sys.c      the syscall seam
 *
 *   So a call never reaches back into the stage that made it: a stage
 *   that is done with an op says so in what it returns (a verdict, a
 *   slot taken out of a wait) and the caller moves it on. The recursion an
 *   op's life needs (a completion starts the next op of a chain, which may
 *   complete at once) stays inside core.c. The one reference upwards: the
 *   threads start on first need, so wait.c hands threads.c's loops to
 *   rk__fb_sys_spawn. Messages leave through the core (rk__msg_send) and
 *   come in through the post_message hook (ring.c).
 *
 * Waking
 *   The ring's fd (rk_ring_fd) is an eventfd that is readable while fb->cq
 *   holds completions: written when the queue goes from empty to non-empty,
 *   read back when rk_reap empties it, both under fb->mu. rk_reap waits on
 *   it with ppoll, so a signal interrupts the wait (-EINTR) as on io_uring.
 *   A registered eventfd is written once per batch of completions posted,
 *   with the number posted.
 */
#ifndef RK_FB_H
#define RK_FB_H

#include <poll.h>
#include <pthread.h>

#include "ids.h"

#define FB_MAX_WORKERS 4
#define FB_NCLOCKS     3

enum fb_state {
	FB_IDLE = 0,  /* not the fallback's: free, staged, local, or reaped */
	FB_LINKED,    /* waits for the op before it in its chain */
	FB_DRAINING,  /* RK_DRAIN: waits until every earlier op completed */
	FB_QUEUED,    /* in the worker queue */
	FB_RUNNING,   /* a thread is making its call */
	FB_ARMED,     /* waits for its descriptor to become ready */
	FB_TIMER,     /* a timeout or an armed link timeout */
	FB_LT_IDLE,   /* a link timeout whose op has not started yet */
	FB_STALLED,   /* a multishot op paused while the completion queue is full */
	FB_DONE,      /* final completion posted, not yet reaped */
};

struct fb_op {
	int64_t id;          /* the op's id while the fallback holds it */
	uint8_t st;          /* enum fb_state */
	uint8_t cancel;      /* cancel (or close) asked while it was RUNNING */
	uint8_t clock;       /* timers: index of its clock */
	uint8_t counted;     /* a count timeout in fb->counted */
	uint8_t phase;       /* exec's own progress (connect in flight, ...) */
	uint8_t regular;     /* 0 unknown, 1 a regular file or block device, 2 not */
	uint32_t link;       /* the next op of its chain, or RK_NONE */
	uint32_t lt;         /* the link timeout bounding it, or RK_NONE */
	uint32_t target;     /* a link timeout: the op it bounds */
	uint32_t next;       /* worker queue, descriptor wait list, run list */
	uint32_t heap;       /* index in its clock's timer heap */
	int32_t fd;          /* descriptor the call uses (a fixed file resolved) */
	int32_t fd_in;       /* splice/tee: the input descriptor */
	int32_t wfd;         /* the descriptor it waits on (fd, or fd_in) */
	int32_t own[2];      /* our duplicates of fixed files, closed when done */
	uint32_t events;     /* readiness it waits for */
	int64_t done;        /* bytes moved by earlier calls (MSG_WAITALL, ...) */
	int64_t deadline;    /* timers: absolute ns on its clock */
	uint64_t seq;        /* count timeouts: the CQE count it completes at */
};

/* What a readiness event names: a descriptor's wait list (the fd number),
 * a registration owned by one op (a multishot poll, edge triggered on a
 * duplicate of its fd: the slot), or the wakeup eventfd. */
#define FB_TAG_OWNED (1ull << 32)
#define FB_TAG_KICK  (1ull << 33)

/* Ops waiting for one descriptor, in submission order. */
struct fb_fdw {
	uint32_t head, tail;
	uint8_t in_epoll;    /* we registered it (it may be disarmed: oneshot) */
};

/* An exec context: the thread running ops and the ops it still has to run
 * (a list through fb_op.next). */
enum fb_ctx_kind {
	FB_CALLER,   /* the ring's own thread, in rk_submit/rk_reap/... */
	FB_SERVICE,  /* the service thread */
	FB_WORKER,   /* a worker: may block */
	FB_FOREIGN,  /* another ring's thread posting a message: runs nothing */
};
struct fb_ctx {
	int kind;
	uint32_t head, tail;
	uint32_t posted;     /* completions posted in this lock hold */
};

struct rk_fb {
	pthread_mutex_t mu;
	pthread_cond_t work_cv;  /* workers: work queued or stopping */
	pthread_cond_t idle_cv;  /* an op stopped RUNNING (cancel_sync, close) */
	struct fb_op *x;         /* per slot */

	/* Completion queue: posted by any thread, drained by the caller. Room
	 * for two final-or-notification records per slot is always kept, so
	 * only multishot records and messages can find it full. */
	rk_cqe *cq;
	uint32_t cq_mask, cq_head, cq_tail, cq_reserve;
	uint32_t posted_async;   /* for RK_EVENTFD_ASYNC: posted off the caller's thread */
	uint64_t seq;            /* completions posted, timeouts excluded */
	bool signalled;          /* ring eventfd written since last emptied */
	int user_efd;            /* our duplicate of the registered eventfd, or -1 */
	bool user_async;

	/* Ops started and not finally completed, for RK_DRAIN. */
	uint32_t active;
	uint32_t drain_head, drain_tail;

	/* Worker pool */
	pthread_t workers[FB_MAX_WORKERS];
	uint32_t nworkers, idle, nqueued;
	uint32_t wq_head, wq_tail;

	/* Service thread: epoll, timers, stalled multishots */
	pthread_t svc;
	bool svc_started;
	int epfd, kickfd;
	bool kicked;
	int64_t svc_until;       /* monotonic ns it sleeps until, -1 forever */
	bool svc_sleeping;
	struct fb_fdw *fdw;
	uint32_t nfdw;
	uint32_t *heap[FB_NCLOCKS];
	uint32_t nheap[FB_NCLOCKS];
	uint32_t *counted;       /* count timeouts (slots) */
	uint32_t ncounted;
	uint32_t stalled_head;   /* list through fb_op.next */

	bool stopping;
	uint32_t sq_head;        /* always 0: makes the preps stage every op */

	/* Registered files: our own duplicates, -1 for an empty slot. */
	int32_t *files;
	uint32_t alloc_lo, alloc_hi; /* RK_FILE_INDEX_ALLOC picks in [lo, hi) */
};

/* ---- the stages, top to bottom ---------------------------------------- */

/* ring.c (the backend's hooks) is the top and declares nothing. */

/* cancel.c: the caller's cancels. */
RK_HIDDEN int rk__fb_cancel_all(rk_ring *ring);
RK_HIDDEN int rk__fb_cancel_sync(rk_ring *ring, struct rk_op *op, int64_t id, int64_t timeout_ns);
RK_HIDDEN int rk__fb_quiesce(rk_ring *ring, int64_t timeout_ns);

/* submit.c: the caller's two ends. */
RK_HIDDEN int rk__fb_submit(rk_ring *ring, bool getevents);
RK_HIDDEN int rk__fb_reap(rk_ring *ring, rk_cqe *out, uint32_t max, uint32_t wait_nr,
                          int64_t timeout_ns);
RK_HIDDEN uint32_t rk__fb_drain(rk_ring *ring, rk_cqe *out, uint32_t max);
RK_HIDDEN void rk__fb_sync_signal(rk_ring *ring);

/* threads.c: the threads' loops (wait.c starts them) and their end. */
RK_HIDDEN void *rk__fb_worker_main(void *ring);
RK_HIDDEN void *rk__fb_service_main(void *ring);
RK_HIDDEN void rk__fb_stop_threads(rk_ring *ring, bool join);

/* core.c: an op's transitions, with fb->mu held. */
RK_HIDDEN void rk__fb_start(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot);
RK_HIDDEN void rk__fb_run(rk_ring *ring, struct fb_ctx *ctx);
RK_HIDDEN void rk__fb_ctx_push(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot);
RK_HIDDEN void rk__fb_post(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot, int32_t res,
                           uint32_t cflags);
RK_HIDDEN void rk__fb_finish(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot, int32_t res,
                             uint32_t cflags);
RK_HIDDEN void rk__fb_flush_signals(rk_ring *ring, struct fb_ctx *ctx);
RK_HIDDEN bool rk__fb_cq_room(rk_ring *ring);
RK_HIDDEN int rk__fb_post_message_locked(rk_ring *ring, uint64_t data, int32_t res);
RK_HIDDEN uint32_t rk__fb_find(rk_ring *ring, int64_t id);
RK_HIDDEN int rk__fb_cancel_slot(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot);
RK_HIDDEN void rk__fb_cancel_everything(rk_ring *ring, struct fb_ctx *ctx);
RK_HIDDEN void rk__fb_timer_fired(rk_ring *ring, struct fb_ctx *ctx, uint32_t slot);

/* wait.c: where ops wait, ways in and out. */
RK_HIDDEN int rk__fb_queue_work(rk_ring *ring, uint32_t slot);
RK_HIDDEN uint32_t rk__fb_take_work(rk_ring *ring);
RK_HIDDEN bool rk__fb_hold_drain(rk_ring *ring, uint32_t slot);
RK_HIDDEN uint32_t rk__fb_take_drained(rk_ring *ring);
RK_HIDDEN void rk__fb_stall(rk_ring *ring, uint32_t slot);
RK_HIDDEN uint32_t rk__fb_take_stalled(rk_ring *ring);
RK_HIDDEN int rk__fb_arm(rk_ring *ring, uint32_t slot, uint32_t events);
RK_HIDDEN void rk__fb_disarm(rk_ring *ring, uint32_t slot);
RK_HIDDEN void rk__fb_drop_fd(rk_ring *ring, int fd);
RK_HIDDEN void rk__fb_forget_owned(rk_ring *ring, uint32_t slot);
RK_HIDDEN uint32_t rk__fb_take_ready(rk_ring *ring, int fd, uint32_t revents, uint32_t *gone);
RK_HIDDEN void rk__fb_kick(rk_ring *ring);
/* Sets a timer's deadline; false when it is already due. */
RK_HIDDEN bool rk__fb_set_deadline(rk_ring *ring, uint32_t slot);
RK_HIDDEN int rk__fb_timer_add(rk_ring *ring, uint32_t slot);
RK_HIDDEN void rk__fb_timer_del(rk_ring *ring, uint32_t slot);
RK_HIDDEN void rk__fb_count_add(rk_ring *ring, uint32_t slot, uint64_t seq);
RK_HIDDEN uint32_t rk__fb_take_counted(rk_ring *ring, uint64_t seq, uint32_t *i);
RK_HIDDEN void rk__fb_uncount(rk_ring *ring, uint32_t slot);
RK_HIDDEN uint32_t rk__fb_timer_due(rk_ring *ring, int clock, int64_t now, int64_t *next);
RK_HIDDEN int rk__fb_unwait(rk_ring *ring, uint32_t slot, int32_t *res);

/* exec.c: makes an op's call. Runs without fb->mu. */
enum fb_verdict {
	FB_FINAL,    /* complete with res/cflags */
	FB_MORE,     /* post res/cflags with MORE, call again at once */
	FB_MORE_WAIT,/* post res/cflags with MORE, then wait for events again */
	FB_WAIT,     /* wait for events on the op's fd, then call again */
	FB_PUNT,     /* would block on disk: hand to a worker */
};
struct fb_result {
	int verdict;
	int32_t res;
	uint32_t cflags;
	uint32_t events;
};
RK_HIDDEN struct fb_result rk__fb_exec(rk_ring *ring, uint32_t slot, int kind);

/* Verdicts, for the call files. */
static inline struct fb_result final(int32_t res)
{
	return (struct fb_result){.verdict = FB_FINAL, .res = res};
}

static inline struct fb_result final_err(void)
{
	return final(-errno);
}

static inline struct fb_result wait_for(struct fb_op *x, int fd, uint32_t events)
{
	x->wfd = fd;
	return (struct fb_result){.verdict = FB_WAIT, .events = events};
}

static inline struct fb_result punt(void)
{
	return (struct fb_result){.verdict = FB_PUNT};
}

/* Bytes already moved by earlier calls, or the error. */
static inline struct fb_result done_or(struct fb_op *x, int32_t err)
{
	return final(x->done > 0 ? (int32_t)x->done : err);
}

static inline bool ready_now(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	return poll(&p, 1, 0) > 0;
}


/* net.c: the socket calls. */
RK_HIDDEN struct fb_result rk__fb_xfer(struct fb_op *x, const struct io_uring_sqe *sqe, bool send);
/* Multishot recvmsg into a chunk: header, name, control, payload. */
RK_HIDDEN struct fb_result rk__fb_recvmsg_select(rk_ring *ring, uint32_t slot, struct fb_op *x,
                                                 const struct io_uring_sqe *sqe);
RK_HIDDEN struct fb_result rk__fb_recv_select(rk_ring *ring, uint32_t slot, struct fb_op *x,
                                              const struct io_uring_sqe *sqe);
RK_HIDDEN bool rk__fb_zc_capable(int fd);
RK_HIDDEN struct fb_result rk__fb_sendmsg_op(struct fb_op *x, const struct io_uring_sqe *sqe);
RK_HIDDEN struct fb_result rk__fb_recvmsg_op(struct fb_op *x, const struct io_uring_sqe *sqe);
RK_HIDDEN struct fb_result rk__fb_accept_op(rk_ring *ring, struct fb_op *x,
                                            const struct io_uring_sqe *sqe);
RK_HIDDEN struct fb_result rk__fb_connect_op(struct fb_op *x, const struct io_uring_sqe *sqe);

/* Where an op runs first (exec.c). */
enum fb_home {
	FB_HOME_NOW,     /* under fb->mu, no call: nop, cancels, timers */
	FB_HOME_TRY,     /* a non-blocking try on the current thread */
	FB_HOME_WORKER,  /* a worker (the caller's thread never blocks on disk) */
	FB_HOME_WAIT,    /* the service thread, after readiness (accept, buffer selection) */
};
RK_HIDDEN int rk__fb_home(const struct io_uring_sqe *sqe);
RK_HIDDEN bool rk__fb_supported(uint8_t opcode);

/* files.c: the file table. */
RK_HIDDEN int rk__fb_files_register(rk_ring *ring, uint32_t nslots);
RK_HIDDEN int rk__fb_files_update(rk_ring *ring, uint32_t offset, const int32_t *fds, uint32_t n);
RK_HIDDEN int rk__fb_files_unregister(rk_ring *ring);
RK_HIDDEN void rk__fb_close_files(rk_ring *ring);
RK_HIDDEN int rk__fb_files_alloc_range(rk_ring *ring, uint32_t offset, uint32_t len);
/* IORING_MSG_SEND_FD from this ring (the exec), into this ring (post_fd). */
RK_HIDDEN int32_t rk__fb_send_file(rk_ring *ring, const struct io_uring_sqe *sqe);
RK_HIDDEN int rk__fb_post_fd(rk_ring *target, int file, uint32_t file_index, uint64_t data,
                             bool skip);
/* fd is a ring's: an io_uring or a listed ring of this process. */
RK_HIDDEN bool rk__fb_is_ring_fd(int fd);
/* The descriptors an op's call uses, fixed files resolved (-EBADF for an
 * empty slot or one the opcode refuses). */
RK_HIDDEN int rk__fb_resolve_files(rk_ring *ring, uint32_t slot);
/* A new descriptor, or its install into the file table (direct ops: res 0
 * or the slot chosen). */
RK_HIDDEN struct fb_result rk__fb_new_fd(rk_ring *ring, const struct io_uring_sqe *sqe, int fd);
/* IORING_OP_MSG_RING, on the sender's thread. */
RK_HIDDEN int rk__fb_send_message(rk_ring *ring, uint32_t slot, int fd, bool fixed,
                                  uint64_t data, int32_t res);

/* sys.c: the fallback's syscall seam. The readiness set (epoll), the
 * eventfds, the clocks and thread creation live here and nowhere else;
 * each says what a portable build would use instead. */
RK_HIDDEN int rk__fb_sys_eventfd(void);
RK_HIDDEN void rk__fb_sys_signal(int fd, uint64_t n);
RK_HIDDEN void rk__fb_sys_unsignal(int fd);
RK_HIDDEN int rk__fb_sys_wait(int fd, int64_t timeout_ns);
/* Readiness, in poll(2) bits (POLLIN, POLLOUT, POLLERR, POLLHUP). */
struct fb_event {
	uint64_t tag;
	uint32_t events;
};
RK_HIDDEN int rk__fb_sys_poller(void);
RK_HIDDEN int rk__fb_sys_watch_oneshot(int ep, int fd, uint32_t events, uint8_t *in_set);
RK_HIDDEN int rk__fb_sys_watch_edge(int ep, int fd, uint32_t events, uint64_t tag, bool modify);
RK_HIDDEN int rk__fb_sys_watch_level(int ep, int fd, uint32_t events, uint64_t tag);
RK_HIDDEN void rk__fb_sys_unwatch(int ep, int fd);
RK_HIDDEN int rk__fb_sys_poll_wait(int ep, struct fb_event *ev, int n, int64_t timeout_ns);
RK_HIDDEN int rk__fb_sys_spawn(pthread_t *t, void *(*fn)(void *), void *arg);
RK_HIDDEN int64_t rk__fb_sys_now(int clock);
RK_HIDDEN int rk__fb_sys_dup(int fd);
/* 1 when fd is an eventfd, 0 when it is not, -EBADF when not open. */
RK_HIDDEN int rk__fb_sys_is_eventfd(int fd);
/* fd is an io_uring instance (the kernel refuses to close or hold one). */
RK_HIDDEN bool rk__fb_sys_is_uring(int fd);
/* net.c: an accept waits only on a listening socket with valid flags; a
 * receive into provided buffers only on a socket that does not listen. */
RK_HIDDEN bool rk__fb_accept_waits(int fd);
RK_HIDDEN bool rk__fb_waits_first(const struct io_uring_sqe *sqe, int fd);

static inline struct fb_op *fbx(rk_ring *ring, uint32_t slot)
{
	return &ring->fb->x[slot];
}

static inline const struct io_uring_sqe *fb_sqe(rk_ring *ring, uint32_t slot)
{
	return &ring->ops[slot].sqe;
}

/* A poll op's mask as the fallback waits for it. io_uring takes
 * EPOLLEXCLUSIVE, EPOLLET and EPOLLONESHOT along with the events; one
 * waiter per op makes them meaningless here, and epoll refuses
 * EPOLLEXCLUSIVE with ONESHOT or on a re-arm. */
static inline uint32_t rk__fb_poll_events(const struct io_uring_sqe *sqe)
{
	return sqe->poll32_events & ~(uint32_t)(1u << 28 | 1u << 30 | 1u << 31);
}

/* A multishot poll: it owns an edge-triggered registration of its own. */
static inline bool rk__fb_owns_registration(const struct io_uring_sqe *sqe)
{
	return sqe->opcode == IORING_OP_POLL_ADD && (sqe->len & IORING_POLL_ADD_MULTI);
}

/* What an op that starts by waiting (accept, a receive into provided
 * buffers, a poll) waits for. */
static inline uint32_t rk__fb_wait_events(const struct io_uring_sqe *sqe)
{
	if (sqe->opcode == IORING_OP_POLL_ADD)
		return rk__fb_poll_events(sqe);
	return POLLIN;
}

#endif
