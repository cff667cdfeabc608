/* Fail-at-N: the core's allocations and kernel entry points (io_uring_setup,
 * _enter, _register, mmap, mlock) are failed one at a time, at call N of the
 * site, for N = 1, 2, ... until a full scenario runs without the fault being
 * reached — once (a transient failure) and from then on (a broken
 * environment), for every site and a few errnos each. After every run:
 *   - nothing crashed or hung (an alarm catches a wait that never returns);
 *   - every failure was reported as the injected negative errno by the call
 *     that met it (never a silent wrong answer), and no call failed without
 *     a fault being injected;
 *   - in "once" mode the call succeeds when repeated and the scenario goes on
 *     to the end on the same ring; "from then on", the fault is lifted and the
 *     ring must still be usable and cleanly closable;
 *   - every accepted op got exactly one final completion (the tracker below
 *     checks ids slot by slot), chunks are back with their owner;
 *   - every allocation and mapping the core made was given back, and no fd
 *     leaked (under ASan, LeakSanitizer checks the rest at exit).
 * Linked with the static library and --wrap on the seam (tests/c/fault.c). */
#include <linux/stat.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/eventfd.h>

#include "check.h"
#include "fault.h"

#define CAP 64
#define GROUP 7

/* ------------------------------------------------------------------------ */
/* The run being made, printed when a check fails or the alarm fires.        */

static struct {
	enum fault_site site;
	long n;
	int err;
	bool persistent;
	bool active;
} run;

static void describe_run(void)
{
	if (run.active)
		fprintf(stderr, "  during: fault at %s call %ld, %s, %s\n", fault_site_name(run.site),
		        run.n, strerror(run.err), run.persistent ? "from then on" : "once");
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "fault_at_n: a call did not return (hang)\n";
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	describe_run();
	_exit(1);
}

/* ------------------------------------------------------------------------ */
/* Exactly-once tracker: the live id of every slot.                          */

static int64_t live[CAP];
static int nlive;
static long accepted, finals;
static int32_t took[64]; /* chunks the kernel handed us through recv */
static int ntook;

static void track(int64_t id)
{
	CHECK(id >= 0);
	uint32_t slot = (uint32_t)id;
	CHECK(slot < CAP);
	CHECK_EQ(live[slot], -1); /* a live slot is never handed out again */
	live[slot] = id;
	nlive++;
	accepted++;
}

static void on_cqe(const rk_cqe *c)
{
	uint32_t slot = (uint32_t)c->id;
	CHECK(c->id >= 0 && slot < CAP);
	CHECK_EQ(live[slot], c->id); /* a completion for an op that is live */
	if (c->flags & RK_CQE_F_BUFFER) {
		CHECK(ntook < 64);
		took[ntook++] = (int32_t)(c->flags >> RK_CQE_BUFFER_SHIFT);
	}
	if (!(c->flags & RK_CQE_F_MORE)) {
		live[slot] = -1;
		nlive--;
		finals++;
	}
}

/* Ops the ring dropped at close: they get no completion, by contract. */
static void forget_all(void)
{
	for (int i = 0; i < CAP; i++)
		live[i] = -1;
	nlive = 0;
}

/* ------------------------------------------------------------------------ */
/* Calls under fault                                                          */

static bool stopped; /* "from then on": the scenario gave up, recovery follows */

static int expected_errno(void)
{
	return run.site == FAULT_ALLOC ? ENOMEM : run.err;
}

/* The documented translations: a submit refused with -EBUSY (CQ overflow) is
 * retried later, and rk_reap reports -EAGAIN when only such refused ops are
 * left to wait for. */
static bool translated(long r)
{
	return r == -EAGAIN && run.site == FAULT_ENTER && run.err == EBUSY;
}

/* A call failed with r: it must be the injected fault, reported as is. */
static void failed_call(long r, long fired_before, const char *what, int line)
{
	if (fault_fired() == fired_before) {
		fprintf(stderr, "line %d: %s failed with %ld (%s) though no fault was injected\n", line,
		        what, r, strerror((int)-r));
		describe_run();
		exit(1);
	}
	if (r != -expected_errno() && !translated(r)) {
		fprintf(stderr, "line %d: %s failed with %ld (%s), not the injected -%d\n", line, what,
		        r, strerror((int)-r), expected_errno());
		describe_run();
		exit(1);
	}
}

/* Evaluates expr into var. A failure must be the injected one; "once", the
 * repeated call must then succeed; "from then on", it is tried three times
 * (each must fail the same way or succeed) and the scenario stops. */
#define CALL(var, expr)                                                                \
	do {                                                                           \
		for (int try_ = 0;; try_++) {                                          \
			long fb_ = fault_fired();                                      \
			var = (expr);                                                  \
			if (var >= 0)                                                  \
				break;                                                 \
			failed_call((long)var, fb_, #expr, __LINE__);                  \
			if (!run.persistent && try_ > 0) {                             \
				fprintf(stderr, "line %d: %s failed again after a one-time " \
				        "fault\n", __LINE__, #expr);                   \
				describe_run();                                        \
				exit(1);                                               \
			}                                                              \
			if (try_ == 2) {                                               \
				stopped = true;                                        \
				break;                                                 \
			}                                                              \
		}                                                                      \
	} while (0)

/* Reaps until at most `target` tracked ops are live. A failing reap must be
 * the injected fault; under a fault "from then on" that keeps the ring from
 * progressing, the scenario stops. Without one, the ops must all arrive. */
static void settle(rk_ring *ring, int target, int64_t first_timeout_ns)
{
	rk_cqe c[32];
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int64_t timeout = first_timeout_ns;
	while (nlive > target) {
		long fb = fault_fired();
		int r = rk_reap(ring, c, 32, 1, timeout);
		timeout = 20000000;
		if (r < 0) {
			if (r != -EINTR || run.err != EINTR || fault_fired() == fb)
				failed_call(r, fb, "rk_reap", __LINE__);
			if (run.persistent) {
				stopped = true;
				return;
			}
			continue;
		}
		for (int i = 0; i < r; i++)
			on_cqe(&c[i]);
		clock_gettime(CLOCK_MONOTONIC, &t);
		double waited = (double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) * 1e-9;
		if (waited > 1.0 && r == 0) {
			if (run.persistent && fault_fired() > fb) {
				stopped = true; /* absorbed, retried, never progressing */
				return;
			}
			if (waited > 5.0) {
				fprintf(stderr, "%d ops never completed (live:", nlive - target);
				for (int i = 0; i < CAP; i++)
					if (live[i] >= 0)
						fprintf(stderr, " %llx", (unsigned long long)live[i]);
				fprintf(stderr, "; in flight %llu, overflow queue %llu)\n",
				        (unsigned long long)stat_of(ring, RK_STAT_INFLIGHT),
				        (unsigned long long)stat_of(ring, RK_STAT_OVERFLOW_QUEUE));
				describe_run();
				exit(1);
			}
		}
	}
}

/* ------------------------------------------------------------------------ */
/* The scenario: every public function that reaches the seam, on one ring.   */

static int fd, dfd, p[2], sv[2], efd;
static unsigned char filebuf[16384];
static char longpath[220];

struct world {
	rk_ring *ring;
	rk_region *ra, *rb; /* ra: registered fixed buffer; rb: provided group */
	bool registered, provided, eventfd;
	int32_t c0, c1;
};

static void prep_ops(struct world *w)
{
	static unsigned char rbuf[12][64];
	static char pbuf[2][8];
	rk_iovec iov[12];
	for (int i = 0; i < 12; i++)
		iov[i] = (rk_iovec){(uintptr_t)rbuf[i], 64};
	rk_ring *ring = w->ring;
	fill_pattern(rk_chunk_ptr(w->ra, w->c0), 4096, 0, 3);
	fill_pattern(rk_chunk_ptr(w->ra, w->c1), 4096, 4096, 3);
	track(rk_prep_write_chunk(ring, fd, w->ra, w->c0, 4096, 0, 0));
	track(rk_prep_write_chunk(ring, fd, w->ra, w->c1, 4096, 4096, 0));
	track(rk_prep_nop(ring, RK_LINK));
	track(rk_prep_nop(ring, 0));
	track(rk_prep_readv(ring, fd, iov, 12, 8192, 0, 0)); /* spill block */
	track(rk_prep_openat(ring, dfd, longpath, O_RDONLY, 0, 0)); /* spill, -ENOENT */
	track(rk_prep_timeout(ring, 1000000, 0, 0, 0));
	track(rk_prep_read(ring, p[0], pbuf[0], 8, -1, 0));
	track(rk_prep_read(ring, p[0], pbuf[1], 8, -1, 0));
	track(rk_prep_poll_add(ring, p[1], POLLOUT, 0));
	if (w->provided)
		track(rk_prep_recv_select(ring, sv[0], GROUP, 0, 0, 0));
	rk_op_desc d[4];
	int64_t ids[4];
	for (int i = 0; i < 4; i++)
		d[i] = (rk_op_desc){.op = RK_OP_NOP};
	CHECK_EQ(rk_prep_batch(ring, d, 4, ids), 4);
	for (int i = 0; i < 4; i++)
		track(ids[i]);
	CHECK(stat_of(ring, RK_STAT_OVERFLOW_QUEUE) > 0); /* more ops than the SQ */
}

/* The one pipe read still pending after the first settle. */
static int64_t pending_read(void)
{
	for (int i = 0; i < CAP; i++)
		if (live[i] >= 0)
			return live[i];
	return -1;
}

static void scenario(struct world *w)
{
	long r;
	CALL(r, rk_region_create(4096, 8, 0, &w->ra));
	if (stopped)
		return;
	CALL(r, rk_region_create(4096, 4, RK_REGION_LOCKED, &w->rb));
	if (stopped)
		return;
	CALL(r, rk_ring_create_ex(8, 0, 0, CAP, 0, &w->ring));
	if (stopped)
		return;
	rk_ring *ring = w->ring;
	CHECK_EQ(rk_ring_probe(ring, opcode("IORING_OP_READ")), 1); /* the probe was not lost */
	CALL(r, rk_ring_register_eventfd(ring, efd, 0));
	if (stopped)
		return;
	w->eventfd = true;
	CALL(r, rk_ring_register_region(ring, w->ra));
	if (stopped)
		return;
	w->registered = true;
	CALL(r, rk_ring_provide_region(ring, w->rb, GROUP));
	if (stopped)
		return;
	w->provided = true;
	CHECK_EQ(w->c0 = rk_chunk_alloc(w->ra), 0);
	CHECK_EQ(w->c1 = rk_chunk_alloc(w->ra), 1);

	/* Phase 1: more ops than the SQ, through the overflow queue. */
	prep_ops(w);
	CALL(r, rk_submit(ring));
	if (stopped)
		return;
	CHECK_EQ(write(p[1], "12345678", 8), 8);
	CHECK_EQ(send(sv[1], "hello", 5, 0), 5);
	settle(ring, 1, -1); /* everything but one of the two pipe reads */
	if (stopped)
		return;

	/* Phase 2: cancels, a multishot recv, chunk ops with a blocking reap. */
	int64_t pr = pending_read();
	CHECK(pr >= 0);
	int64_t ms = rk_prep_recv_multishot(ring, sv[0], GROUP, 0, 0);
	track(ms);
	int64_t cid = rk_prep_cancel(ring, pr, 0);
	track(cid);
	CHECK_EQ(rk_prep_cancel(ring, cid + ((int64_t)1 << 32), 0), -ENOENT); /* stale */
	CHECK_EQ(rk_prep_cancel(ring, (int64_t)CAP + 5, 0), -ENOENT);         /* random */
	CALL(r, rk_submit(ring));
	if (stopped)
		return;
	CALL(r, rk_cancel_sync(ring, ms, 1000000000));
	if (stopped)
		return;
	/* A target that has not reached the kernel yet: cancel_sync submits it. */
	static char pbuf[8];
	int64_t pr2 = rk_prep_read(ring, p[0], pbuf, 8, -1, 0);
	track(pr2);
	CALL(r, rk_cancel_sync(ring, pr2, 1000000000));
	if (stopped)
		return;
	settle(ring, 0, -1);
	if (stopped)
		return;
	for (int i = 0; i < ntook; i++)
		CHECK_EQ(rk_ring_recycle_chunk(ring, w->rb, took[i]), 0);
	ntook = 0;
	track(rk_prep_read_chunk(ring, fd, w->ra, w->c1, 4096, 0, 0)); /* fixed */
	settle(ring, 0, -1);
	if (stopped)
		return;
	CHECK(memcmp(rk_chunk_ptr(w->ra, w->c1), rk_chunk_ptr(w->ra, w->c0), 4096) == 0);

	/* Phase 3: take everything back, then close with ops in flight. */
	CALL(r, rk_ring_unregister_region(ring, w->ra));
	if (stopped)
		return;
	w->registered = false;
	CALL(r, rk_ring_unprovide_region(ring, w->rb));
	if (stopped)
		return;
	w->provided = false;
	CALL(r, rk_ring_unregister_eventfd(ring));
	if (stopped)
		return;
	w->eventfd = false;
	track(rk_prep_read_chunk(ring, fd, w->ra, w->c1, 4096, 4096, 0)); /* plain read */
	settle(ring, 0, -1);
	if (stopped)
		return;
	CHECK(memcmp(rk_chunk_ptr(w->ra, w->c1), filebuf + 4096, 4096) == 0);
	CHECK_EQ(rk_ring_cancel_all(ring), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	/* Once, close with ops in the kernel: the wait for them must survive
	 * the fault. (A ring whose io_uring_enter keeps failing cannot wait for
	 * the kernel: close would give up after its bound with -ETIMEDOUT.) */
	if (!run.persistent) {
		static char late[8];
		track(rk_prep_read(ring, p[0], late, 8, -1, 0));
		track(rk_prep_timeout(ring, 3600LL * 1000000000, 0, 0, 0));
		CALL(r, rk_submit(ring));
	}
	CHECK_EQ(rk_ring_close(ring), 0); /* waits for the kernel despite faults */
	w->ring = NULL;
	forget_all();
}

/* Lifts the fault, proves the ring (if any) still works, settles every
 * accepted op, closes and frees everything. */
static void recover(struct world *w)
{
	fault_disarm();
	if (w->ring) {
		/* Still usable: a NOP goes through. */
		int64_t nop = rk_prep_nop(w->ring, 0);
		track(nop);
		rk_cqe c[32];
		for (int tries = 0; live[(uint32_t)nop] == nop; tries++) {
			CHECK(tries < 100);
			int r = rk_reap(w->ring, c, 32, 1, 50000000);
			CHECK(r >= 0);
			for (int i = 0; i < r; i++)
				on_cqe(&c[i]);
		}
		CHECK(rk_ring_cancel_all(w->ring) >= 0);
		settle(w->ring, 0, -1);
		CHECK_EQ(stat_of(w->ring, RK_STAT_INFLIGHT), 0);
		CHECK_EQ(rk_ring_close(w->ring), 0);
		w->ring = NULL;
	}
	CHECK_EQ(nlive, 0);
	rk_region *rs[2] = {w->ra, w->rb};
	for (int k = 0; k < 2; k++) {
		if (!rs[k])
			continue;
		int64_t n = rk_region_nchunks(rs[k]);
		for (int32_t c = 0; c < n; c++)
			rk_chunk_free(rs[k], c); /* 0, or -EINVAL when not allocated */
		CHECK_EQ(rk_region_chunks_free(rs[k]), n); /* no chunk lost */
		CHECK_EQ(rk_region_destroy(rs[k]), 0);
	}
	/* A drained socket for the next run: recv may have left data. */
	char junk[64];
	while (recv(sv[0], junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	struct pollfd pfd = {.fd = p[0], .events = POLLIN};
	while (poll(&pfd, 1, 0) == 1 && read(p[0], junk, sizeof(junk)) > 0)
		;
}

/* One run with the fault armed. Returns how many faults were injected. */
static long one_run(enum fault_site site, long n, int err, bool persistent)
{
	struct world w = {.c0 = -1, .c1 = -1};
	forget_all();
	stopped = false;
	ntook = 0;
	run.site = site;
	run.n = n;
	run.err = err;
	run.persistent = persistent;
	run.active = true;
	int fds = count_fds();
	long allocs = fault_live_allocs(), maps = fault_live_maps();
	alarm(30);
	fault_arm(site, n, err, persistent);
	scenario(&w);
	long fired = fault_fired();
	recover(&w);
	alarm(0);
	CHECK_EQ(fault_live_allocs(), allocs);
	CHECK_EQ(fault_live_maps(), maps);
	CHECK_EQ(count_fds(), fds);
	run.active = false;
	return fired;
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	atexit(describe_run);
	fd = scratch_file(&dfd);
	fill_pattern(filebuf, sizeof(filebuf), 0, 3);
	CHECK_EQ(write(fd, filebuf, sizeof(filebuf)), sizeof(filebuf));
	CHECK_EQ(pipe2(p, O_NONBLOCK), 0);
	CHECK_EQ(fcntl(p[0], F_SETFL, 0), 0); /* reads through the ring block */
	make_socketpair(SOCK_STREAM, sv);
	efd = eventfd(0, EFD_CLOEXEC);
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;

	/* A clean run counts the calls of every site. */
	one_run(FAULT_ANY, 0, 0, false);
	long base[FAULT_NSITES + 1];
	for (int s = 0; s <= FAULT_NSITES; s++)
		base[s] = fault_calls(s);
	printf("clean run: alloc %ld, setup %ld, enter %ld, register %ld, mmap %ld, mlock %ld\n",
	       base[FAULT_ALLOC], base[FAULT_SETUP], base[FAULT_ENTER], base[FAULT_REGISTER],
	       base[FAULT_MMAP], base[FAULT_MLOCK]);

	static const struct {
		enum fault_site site;
		int err;
	} plans[] = {
		{FAULT_ALLOC, ENOMEM},    {FAULT_SETUP, ENOMEM},    {FAULT_SETUP, EPERM},
		{FAULT_SETUP, ENOSYS},    {FAULT_SETUP, EINVAL},    {FAULT_ENTER, ENOMEM},
		{FAULT_ENTER, EINTR},     {FAULT_ENTER, EAGAIN},    {FAULT_ENTER, EBUSY},
		{FAULT_REGISTER, ENOMEM}, {FAULT_REGISTER, EINTR},  {FAULT_MMAP, ENOMEM},
		{FAULT_MLOCK, EPERM},     {FAULT_ANY, ENOMEM},
	};
	long total = 0;
	for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++) {
		for (int persistent = 0; persistent < 2; persistent++) {
			long n = 1, injected = 0;
			for (;; n++) {
				long fired = one_run(plans[i].site, n, plans[i].err, persistent);
				if (fired == 0)
					break; /* N past the last call: the scenario ran whole */
				injected += fired;
				CHECK(n < 10000);
			}
			total += n;
			printf("%-8s %-7s %-12s: %3ld runs, %4ld failures injected\n",
			       fault_site_name(plans[i].site), strerrorname_np(plans[i].err),
			       persistent ? "from then on" : "once", n, injected);
		}
	}
	printf("%ld runs, all clean\n", total);

	/* A submit that fails for good leaves its ops unseen by the kernel:
	 * close forgets them at once instead of waiting out its bound. (An
	 * io_uring_enter fault: on an io_uring ring, whatever RINGKIT_BACKEND
	 * says; the fallback never enters io_uring.) */
	long allocs = fault_live_allocs(), maps = fault_live_maps();
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, RK_RING_NO_FALLBACK, &ring), 0);
	static char b[8];
	fault_arm(FAULT_ENTER, 1, ENOMEM, true);
	CHECK(rk_prep_read(ring, p[0], b, 8, -1, 0) >= 0);
	CHECK(rk_prep_nop(ring, 0) >= 0);
	CHECK_EQ(rk_submit(ring), -ENOMEM);
	rk_cqe c[4];
	CHECK_EQ(rk_reap(ring, c, 4, 1, -1), -ENOMEM); /* never a wait for nothing */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(rk_ring_close(ring), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(t1.tv_sec - t0.tv_sec < 2);
	fault_disarm();
	CHECK_EQ(fault_live_allocs(), allocs);
	CHECK_EQ(fault_live_maps(), maps);

	/* Close cannot unregister a provided group: the ring fd's close drops
	 * the kernel's side anyway, and the chunks come back free. (This and
	 * what follows are io_uring's kernel calls failing: io_uring rings.) */
	rk_region *grp;
	CHECK_EQ(rk_region_create(256, 4, 0, &grp), 0);
	CHECK_EQ(rk_ring_create(8, RK_RING_NO_FALLBACK, &ring), 0);
	CHECK_EQ(rk_ring_provide_region(ring, grp, 1), 1);
	fault_arm(FAULT_REGISTER, 1, ENOMEM, true);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK(fault_fired() > 0);
	fault_disarm();
	CHECK_EQ(rk_region_chunks_free(grp), 4);
	CHECK_EQ(rk_region_destroy(grp), 0);

	/* A ring that cannot reach the kernel at all while it holds an op:
	 * close gives up after its bound, -ETIMEDOUT, and keeps (leaks) what
	 * the kernel might still write. In a child, so the deliberate leak
	 * does not count as one. */
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK_EQ(rk_ring_create(8, RK_RING_NO_FALLBACK, &ring), 0);
		CHECK(rk_prep_read(ring, p[0], b, 8, -1, 0) >= 0);
		CHECK_EQ(rk_submit(ring), 1);
		fault_arm(FAULT_ANY, 1, ENOMEM, true);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		CHECK_EQ(rk_ring_close(ring), -ETIMEDOUT);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		CHECK(t1.tv_sec - t0.tv_sec >= 9 && t1.tv_sec - t0.tv_sec < 20);
		printf("close without the kernel: -ETIMEDOUT after %ld s\n",
		       (long)(t1.tv_sec - t0.tv_sec));
		child_exit(0);
	}
	CHECK_EQ(wait_exit(pid), 0);
	return 0;
}
