/*
 * Differential fuzzing: the two backends are each other's oracle. One input
 * (bytes read as a program, like api_fuzz.c's) runs in lockstep on an
 * io_uring ring and on a fallback ring, each with its own pipe, socketpair,
 * private directory and file holding the same data. After each settle the
 * completions are compared op by op (by the op's index in the program, as
 * the ids may differ): the prep's answer, whether the op completed, its final
 * result and flags (an opened fd only as ">= 0", a chunk only as "a buffer"),
 * the bytes a pipe or socket read got; order only where the contract fixes
 * it (the members of a link chain, a drain after what came before it).
 *
 * The generator keeps results deterministic on both sides: stream reads take
 * 1..7 bytes and stream writes 8..64, at most one read waits on a stream, no
 * stream or path op sits in a chain, behind a drain or in io-wq (RK_ASYNC),
 * timeouts are either short and alone or an hour long (ended by a cancel),
 * link timeouts an hour, cancels only name ops seen waiting at the last
 * settle, feeds, connections and cancels come on a settled ring, path ops
 * and recv_select settle at once.
 *
 * The first step with a mismatch ends the input. A mismatch on an op a
 * known difference (the list below) excuses is counted, not failed; any
 * other one is a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "diff.h"
#include "input.h"
#include "ringkit.h"

/* ------------------------------------------------------------------------ */
/* Known differences: the ONE place that excuses a mismatch. Each entry is a
 * kind of probe the generator makes; a mismatch on such an op is counted,
 * not failed. Delete an entry once the fallback answers as io_uring does:
 * from then on that probe fails the test again when it differs.           */

enum probe {
	P_NONE,
	P_EVENTFD_KIND,   /* register_eventfd of a file, a pipe's write end, the ring's fd */
	P_POLL_BADFD,     /* poll_add on a closed fd or fd INT32_MAX */
	P_ACCEPT_STREAM,  /* accept on a connected unix socket, or accept_flags -1 */
	P_BADFD_INTMAX,   /* recv_select / accept on fd INT32_MAX */
	P_CLOSE_RINGFD,   /* a close op on rk_ring_fd(ring) */
	P_READV_BADFLAGS, /* readv with rw_flags 0xffffffff on an empty pipe */
	P_DRAIN_HELD,     /* an op held behind a drain that waits, and cancels of it */
	P_DRAIN_IN_CHAIN, /* RK_DRAIN on a chain member after the head */
	P_SOCK_NONEMPTY,  /* a recv's flags, when data is left in the socket */
	P_SELECT_CANCEL,  /* the flags of a cancelled recv_select */
	P_POLL_REMOVE,    /* poll_remove of a multishot poll, and that poll */
	P_COUNT
};

static const struct known {
	enum probe probe;
	bool goes_on; /* the two sides' state is the same after it: the input goes on */
	const char *what; /* the issue 15 point, and the two answers */
} known[] = {
	/* Found by this fuzzer (issue 15, "make the two backends each other's
	 * oracle"); not yet in the list: */
	{P_DRAIN_HELD, false, "found by the differential fuzzer: after an RK_DRAIN, io_uring "
	               "(Linux 6.18) holds later ops while ops prepared behind the drain are "
	               "live (a one-hour timeout prepared right after a drain holds every "
	               "later op for the hour), and its cancels do not reach held ops "
	               "(cancel and rk_cancel_sync -ENOENT, rk_ring_cancel_all does not count "
	               "them); the fallback holds only what the drain waits for and cancels "
	               "held ops (0, -ECANCELED)"},
	{P_DRAIN_IN_CHAIN, false, "found by the differential fuzzer: RK_DRAIN on a member of "
	                   "a link chain after its head makes io_uring drain the whole chain "
	                   "(its head waits) and the op after the chain; the fallback ignores "
	                   "it (the member can complete before ops prepared ahead of the "
	                   "chain)"},
	{P_SOCK_NONEMPTY, true, "found by the differential fuzzer: io_uring's recv, recvmsg and "
	                  "recv_select completions carry flag 0x4 (IORING_CQE_F_SOCK_NONEMPTY) "
	                  "when data is left in the socket; the fallback never sets it"},
	{P_SELECT_CANCEL, true, "found by the differential fuzzer: a recv_select cancelled "
	                  "while it waits completes on io_uring with -ECANCELED and "
	                  "RK_CQE_F_BUFFER (a chunk handed to the caller), on the fallback "
	                  "with -ECANCELED and no chunk"},
	{P_POLL_REMOVE, false, "found by the differential fuzzer: poll_remove of a multishot "
	                "poll that is being woken in the same submit (a send into its socket "
	                "just before) answers -EALREADY on io_uring and the poll stays armed; "
	                "the fallback removes it (0, the poll -ECANCELED)"},
};

static const struct known *known_of(enum probe p)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (known[i].probe == p)
			return &known[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* State: the program's ops, and each side's view of them                   */

#define MAXOPS 256
#define CAP 64
#define RBUF 64
#define NPATHS 3

enum kind {
	D_NOP, D_FILE_RW, D_FILE_RWV, D_TIMEOUT, D_LINK_TIMEOUT, D_PIPE_READ, D_PIPE_WRITE,
	D_SOCK_RECV, D_SOCK_SEND, D_POLL, D_CANCEL, D_OPEN, D_PATH, D_CLOSE, D_SYNC,
	D_MSG_RING, D_RECV_SELECT, D_BADFD, D_PROBE, D_SENDMSG, D_RECVMSG, D_CHUNK_RW, D_ACCEPT,
	NKINDS
};

static const char *const kind_names[NKINDS] = {"nop", "file rw", "file rwv", "timeout",
	"link timeout", "pipe read", "pipe write", "sock recv", "sock send", "poll", "cancel",
	"openat", "path op", "close", "sync", "msg_ring", "recv_select", "op on a bad fd",
	"probe", "sendmsg", "recvmsg", "chunk rw", "accept"};

struct dop {
	uint8_t kind, probe;
	bool sure;   /* completes by itself soon: settle waits for it */
	bool multi;  /* multishot: only the final record is compared */
	bool open;   /* res is an fd: compared as >= 0 */
	bool reads;  /* res bytes landed in rbuf: compared */
	bool drain;
	bool settled_live; /* seen waiting on both sides at a settle */
	/* A cancel of it is queued or in flight: a second one before the next
	 * settle races the first (io_uring answers -EALREADY while the first is
	 * tearing the op down, the fallback -ENOENT once it is gone). */
	bool cancel_asked;
	bool compared;     /* final on both sides and compared */
	int chain;   /* >= 0: members of one link chain share it */
	int stream;  /* 0 none, 1 pipe, 2 socket: a reader waiting there */
	char desc[64];
};

struct side {
	const char *name;
	rk_ring *ring;
	rk_region *region;
	int pipe[2], sock[2], dir, file, efd;
	int listener, clients[8], nclients;
	rk_region *fixed;     /* registered with the ring, chunks 0..3 the caller's */
	bool fixed_ok;
	int32_t msgout[MAXOPS][RK_MSG_FDS + 1];
	char dirpath[48];
	int64_t prep[MAXOPS]; /* id or the prep's error */
	bool done[MAXOPS];
	int32_t res[MAXOPS];
	uint32_t flags[MAXOPS];
	int seq[MAXOPS];      /* order of final completions */
	int slot_op[CAP];     /* slot -> op index, -1 */
	int messages;
	int64_t msgsum;
	int owned[MAXOPS];    /* fds opens produced, by op index (-1: none) */
	unsigned char rbuf[MAXOPS][RBUF];
	int nseq;
	bool broken;          /* an rk_reap error: stop */
};

static struct {
	struct dop ops[MAXOPS];
	int n;
	int chain, chain_len;  /* current chain id (-1 none) */
	int held_by;           /* >= 0: a drain waited; every later op gets held_probe
	                        * (io_uring's holding lasts while any op it held
	                        * lives, which the cancels cannot end) */
	uint8_t held_probe;
	bool drain_next;       /* the op after this chain is drained too */
	uint8_t ever_held;     /* the probe of the last held stretch (0: none) */
	bool chain_maybe;      /* a member of the open chain may wait */
	bool path_pending;     /* a path op was prepared: settle before the next */
	bool end;              /* stop after the next settle */
	struct side s[2];
	struct diff_stats *st;
	int verdict;           /* 0 same so far, 1 known difference, -1 mismatch */
	unsigned known_hit;    /* which probes were excused */
	bool verbose, trace;
	int msgs_sent;
} d;

static unsigned char wbuf[RBUF * 2];
static const char *const paths[NPATHS] = {"a", "b", "c/d"};

static void die(const char *what)
{
	perror(what);
	abort();
}

/* A fresh directory and 64 KiB file per side, the same bytes on both. */
static void side_files(struct side *s)
{
	strcpy(s->dirpath, "/tmp/ringkit-diff.XXXXXX");
	if (!mkdtemp(s->dirpath))
		die("mkdtemp");
	s->dir = open(s->dirpath, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (s->dir < 0 || mkdirat(s->dir, "c", 0700) < 0)
		die("open dir");
	s->file = openat(s->dir, "file", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->file < 0)
		die("open file");
	static unsigned char data[65536];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 3);
	if (write(s->file, data, sizeof(data)) != (ssize_t)sizeof(data))
		die("write file");
}

static void side_open(struct side *s, int backend)
{
	memset(s, 0, sizeof(*s));
	s->name = backend == RK_BACKEND_URING ? "io_uring" : "fallback";
	uint32_t flags = backend == RK_BACKEND_URING ? RK_RING_NO_FALLBACK : RK_RING_FALLBACK;
	int r = rk_ring_create_ex(16, flags, 0, CAP, 0, &s->ring);
	if (r < 0) {
		fprintf(stderr, "diff: %s ring: %s\n", s->name, rk_strerror(r));
		abort();
	}
	if (pipe2(s->pipe, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s->sock) < 0)
		die("pipe");
	s->efd = eventfd(0, EFD_CLOEXEC);
	if (s->efd < 0)
		die("eventfd");
	side_files(s);
	if (rk_region_create(256, 8, 0, &s->region) < 0 ||
	    rk_ring_provide_region(s->ring, s->region, 1) < 0)
		die("region");
	if (rk_region_create(4096, 4, 0, &s->fixed) < 0)
		die("region");
	for (int i = 0; i < 4; i++)
		if (rk_chunk_alloc(s->fixed) != i)
			die("chunk");
	/* RLIMIT_MEMLOCK may refuse it on io_uring: then no chunk ops */
	s->fixed_ok = rk_ring_register_region(s->ring, s->fixed) == 0;
	static unsigned listeners;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "ringkit-diff-%d-%u",
	                 (int)getpid(), listeners++);
	s->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listener < 0 ||
	    bind(s->listener, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) < 0 ||
	    listen(s->listener, 16) < 0)
		die("listener");
	s->nclients = 0;
	for (int i = 0; i < CAP; i++)
		s->slot_op[i] = -1;
	for (int i = 0; i < MAXOPS; i++) {
		s->owned[i] = -1;
		s->prep[i] = -1; /* not prepared yet: not live */
	}
}

static void side_close(struct side *s)
{
	if (s->ring) {
		int r = rk_ring_close(s->ring);
		if (r < 0) {
			fprintf(stderr, "diff: %s: rk_ring_close: %s\n", s->name, rk_strerror(r));
			abort();
		}
	}
	for (int i = 0; i < 4; i++)
		(void)rk_chunk_free(s->fixed, i);
	if (rk_region_destroy(s->fixed) < 0) {
		fprintf(stderr, "diff: %s: region still busy after close\n", s->name);
		abort();
	}
	close(s->listener);
	for (int i = 0; i < s->nclients; i++)
		close(s->clients[i]);
	if (rk_region_destroy(s->region) < 0) {
		fprintf(stderr, "diff: %s: region still busy after close\n", s->name);
		abort();
	}
	for (int i = 0; i < MAXOPS; i++)
		if (s->owned[i] >= 0)
			close(s->owned[i]);
	close(s->pipe[0]);
	close(s->pipe[1]);
	close(s->sock[0]);
	close(s->sock[1]);
	close(s->efd);
	close(s->file);
	close(s->dir);
	char cmd[80];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dirpath);
	(void)!system(cmd);
}

/* ------------------------------------------------------------------------ */
/* Completions                                                                */

static void on_cqe(struct side *s, const rk_cqe *c)
{
	if (c->id < 0) {
		s->messages++;
		s->msgsum += (c->id & RK_MSG_VALUE_MASK) * 1000 + c->res;
		return;
	}
	uint32_t slot = (uint32_t)c->id;
	int k = slot < CAP ? s->slot_op[slot] : -1;
	if (k < 0 || s->prep[k] != c->id) {
		fprintf(stderr, "diff: %s: completion for id %llx, which is not live\n", s->name,
		        (unsigned long long)c->id);
		abort();
	}
	if (d.trace)
		fprintf(stderr, "  %s: op %d res %d flags %#x\n", s->name, k, c->res, c->flags);
	if (c->flags & RK_CQE_F_BUFFER)
		(void)rk_ring_recycle_chunk(s->ring, s->region,
		                            (int32_t)(c->flags >> RK_CQE_BUFFER_SHIFT));
	if (c->flags & RK_CQE_F_MORE)
		return;
	s->done[k] = true;
	s->res[k] = c->res;
	s->flags[k] = c->flags;
	s->seq[s->nseq++] = k;
	s->slot_op[slot] = -1;
	if (d.ops[k].open && c->res >= 0)
		s->owned[k] = c->res;
	if (d.ops[k].kind == D_RECVMSG && s->msgout[k][RK_MSG_NFDS] > 0)
		s->owned[k] = s->msgout[k][RK_MSG_FDS];
}

static void reap(struct side *s, int64_t timeout)
{
	if (s->broken)
		return;
	rk_cqe c[64];
	int r = rk_reap(s->ring, c, 64, timeout ? 1 : 0, timeout);
	if (r == -EINTR)
		return;
	if (r < 0) {
		fprintf(stderr, "diff: %s: rk_reap: %s\n", s->name, rk_strerror(r));
		s->broken = true;
		return;
	}
	for (int i = 0; i < r; i++)
		on_cqe(s, &c[i]);
	d.st->records += (uint64_t)r;
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static bool live(struct side *s, int k)
{
	return s->prep[k] >= 0 && !s->done[k];
}

/* Waits until each side's sure ops are done, gives the others a moment, then
 * until both sides agree on what completed (or a bound passes). */
static void settle(void)
{
	int64_t t0 = now_ns();
	for (;;) {
		bool waiting = false;
		for (int k = 0; k < d.n; k++)
			for (int i = 0; i < 2; i++)
				if (d.ops[k].sure && live(&d.s[i], k) && !d.s[i].broken)
					waiting = true;
		if (!waiting || now_ns() - t0 > 3000000000LL)
			break;
		for (int i = 0; i < 2; i++)
			reap(&d.s[i], 1000000);
	}
	bool maybe = false;
	for (int k = 0; k < d.n; k++)
		if (live(&d.s[0], k) || live(&d.s[1], k))
			maybe = true;
	if (maybe || d.msgs_sent)
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 2; j++)
				reap(&d.s[j], 1000000);
	t0 = now_ns();
	for (;;) {
		for (int j = 0; j < 2; j++)
			reap(&d.s[j], 0);
		bool differ = d.s[0].messages != d.s[1].messages;
		for (int k = 0; k < d.n; k++)
			if (live(&d.s[0], k) != live(&d.s[1], k))
				differ = true;
		if (!differ || now_ns() - t0 > 1000000000LL)
			break;
		for (int j = 0; j < 2; j++)
			reap(&d.s[j], 2000000);
	}
	for (int k = 0; k < d.n; k++) {
		if (live(&d.s[0], k) && live(&d.s[1], k))
			d.ops[k].settled_live = true;
		d.ops[k].cancel_asked = false;
	}
}

/* ------------------------------------------------------------------------ */
/* Comparison                                                                 */

/* A difference on op k (-1: none) made by probe p. */
static void vmismatch(enum probe p, int k, const char *fmt, va_list ap)
{
	if (p == P_NONE && d.ever_held) /* the rest of an input after a drain */
		p = (enum probe)d.ever_held;
	const struct known *kn = known_of(p);
	if (kn) {
		if (!(d.known_hit & (1u << p)))
			d.st->known_inputs[p]++;
		d.known_hit |= 1u << p;
		if (d.verdict == 0 && !kn->goes_on)
			d.verdict = 1;
	} else {
		d.verdict = -1;
	}
	if (!kn || d.verbose) {
		fprintf(stderr, "diff: %s", kn ? "known difference: " : "MISMATCH: ");
		if (k >= 0)
			fprintf(stderr, "op %d (%s): ", k, d.ops[k].desc);
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, "\n");
		if (kn)
			fprintf(stderr, "    (%s)\n", kn->what);
	}
}

static void mismatch(int k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mismatch(int k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmismatch(k >= 0 ? (enum probe)d.ops[k].probe : P_NONE, k, fmt, ap);
	va_end(ap);
}

static void mismatch_probe(enum probe p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mismatch_probe(enum probe p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmismatch(p, -1, fmt, ap);
	va_end(ap);
}

static void compare_op(int k)
{
	struct side *a = &d.s[0], *b = &d.s[1];
	struct dop *op = &d.ops[k];
	if ((a->prep[k] < 0 || b->prep[k] < 0) && a->prep[k] != b->prep[k]) {
		mismatch(k, "prep: io_uring %lld, fallback %lld", (long long)a->prep[k],
		         (long long)b->prep[k]);
		return;
	}
	if (a->prep[k] < 0)
		return;
	if (a->done[k] != b->done[k]) {
		struct side *x = a->done[k] ? a : b;
		mismatch(k, "completed on %s only (res %d flags %#x); pending on the other", x->name,
		         x->res[k], x->flags[k]);
		return;
	}
	if (!a->done[k])
		return;
	int32_t ra = a->res[k], rb = b->res[k];
	if (op->open && ra >= 0 && rb >= 0)
		ra = rb = 0;
	uint32_t fa = a->flags[k] & ~((uint32_t)0xffff << RK_CQE_BUFFER_SHIFT);
	uint32_t fb = b->flags[k] & ~((uint32_t)0xffff << RK_CQE_BUFFER_SHIFT);
	if (ra == rb && (fa ^ fb) == 4 && (op->kind == D_SOCK_RECV || op->kind == D_RECV_SELECT ||
	                                op->kind == D_RECVMSG)) {
		mismatch_probe(P_SOCK_NONEMPTY, "op %d (%s): io_uring flags %#x, fallback %#x", k,
		               op->desc, a->flags[k], b->flags[k]);
		return;
	}
	if (ra == rb && ra == -ECANCELED && (fa ^ fb) == RK_CQE_F_BUFFER &&
	    op->kind == D_RECV_SELECT) {
		mismatch_probe(P_SELECT_CANCEL, "op %d (%s): io_uring flags %#x, fallback %#x", k,
		               op->desc, a->flags[k], b->flags[k]);
		return;
	}
	if (ra != rb || fa != fb) {
		mismatch(k, "io_uring res %d flags %#x, fallback res %d flags %#x", a->res[k],
		         a->flags[k], b->res[k], b->flags[k]);
		return;
	}
	if (op->reads && ra > 0 && memcmp(a->rbuf[k], b->rbuf[k], (size_t)ra) != 0)
		mismatch(k, "the %d bytes read differ", ra);
	if (op->kind == D_RECVMSG &&
	    (a->msgout[k][RK_MSG_FLAGS] != b->msgout[k][RK_MSG_FLAGS] ||
	     a->msgout[k][RK_MSG_NFDS] != b->msgout[k][RK_MSG_NFDS]))
		mismatch(k, "recvmsg out: io_uring flags %#x nfds %d, fallback flags %#x nfds %d",
		         (unsigned)a->msgout[k][RK_MSG_FLAGS], a->msgout[k][RK_MSG_NFDS],
		         (unsigned)b->msgout[k][RK_MSG_FLAGS], b->msgout[k][RK_MSG_NFDS]);
}

static int pos_in(struct side *s, int k)
{
	for (int i = 0; i < s->nseq; i++)
		if (s->seq[i] == k)
			return i;
	return -1;
}

/* Order is compared only where the contract fixes it. */
static void compare_order(void)
{
	for (int k = 0; k < d.n; k++) {
		struct dop *op = &d.ops[k];
		for (int i = 0; i < 2; i++) {
			struct side *s = &d.s[i];
			if (!s->done[k] || s->prep[k] < 0)
				continue;
			int pk = pos_in(s, k);
			/* A chain's members complete in order (a link
			 * timeout's record is not ordered with its op). */
			if (op->chain >= 0 && op->kind != D_LINK_TIMEOUT)
				for (int j = k + 1; j < d.n; j++)
					if (d.ops[j].chain == op->chain && d.ops[j].kind != D_LINK_TIMEOUT &&
					    s->done[j] && s->prep[j] >= 0 && pos_in(s, j) < pk)
						mismatch(j, "%s: completed before op %d, earlier in its chain",
						         s->name, k);
			/* A drain completes after every op queued before it. */
			if (op->drain)
				for (int j = 0; j < k; j++)
					if (s->prep[j] >= 0 && s->done[j] && pos_in(s, j) > pk &&
					    !(d.ops[j].chain >= 0 && d.ops[j].chain == op->chain))
						mismatch(k, "%s: a drain completed before op %d", s->name, j);
		}
	}
}

static void compare(void)
{
	for (int k = 0; k < d.n; k++)
		if (!d.ops[k].compared) {
			compare_op(k);
			d.ops[k].compared = !live(&d.s[0], k) && !live(&d.s[1], k);
		}
	compare_order();
	if (d.s[0].messages != d.s[1].messages || d.s[0].msgsum != d.s[1].msgsum)
		mismatch_probe((enum probe)d.ever_held, "messages: io_uring %d (sum %lld), fallback %d (sum %lld)",
		         d.s[0].messages, (long long)d.s[0].msgsum, d.s[1].messages,
		         (long long)d.s[1].msgsum);
	for (int i = 0; i < 2; i++)
		if (d.s[i].broken)
			mismatch(-1, "%s: rk_reap failed", d.s[i].name);
}

static void settle_and_compare(void)
{
	settle();
	compare();
	d.path_pending = false;
	d.st->settles++;
}

/* ------------------------------------------------------------------------ */
/* Preps                                                                      */

static bool any_live_maybe(void)
{
	for (int k = 0; k < d.n; k++)
		if (live(&d.s[0], k) && (!d.ops[k].sure || d.ops[k].drain))
			return true;
	return false;
}

static bool any_live_drain(void)
{
	for (int k = 0; k < d.n; k++)
		if (d.ops[k].drain && (live(&d.s[0], k) || live(&d.s[1], k)))
			return true;
	return false;
}

static bool reader_live(int stream)
{
	for (int k = 0; k < d.n; k++)
		if (d.ops[k].stream == stream && (live(&d.s[0], k) || live(&d.s[1], k)))
			return true;
	return false;
}

/* flags from a byte: links, drain, async where the op allows them. */
static uint32_t op_flags(uint8_t b, bool may_link, bool may_async)
{
	uint32_t f = 0;
	if (may_link && (b & 7) == 1)
		f |= RK_LINK;
	if (may_link && (b & 7) == 2)
		f |= RK_HARDLINK;
	if (may_async && (b & 8))
		f |= RK_ASYNC;
	if ((b & 0x70) == 0x70)
		f |= RK_DRAIN;
	return f;
}

typedef int64_t (*prep_fn)(struct side *s, int k, void *arg);

/* Prepares op k on both sides with fn; returns false when nothing was made. */
static void both(int k, prep_fn fn, void *arg)
{
	for (int i = 0; i < 2; i++) {
		struct side *s = &d.s[i];
		int64_t id = fn(s, k, arg);
		s->prep[k] = id;
		s->done[k] = false;
		if (id >= 0)
			s->slot_op[(uint32_t)id] = k;
	}
	d.st->ops++;
	if (d.trace)
		fprintf(stderr, "op %d: %s -> %lld / %lld%s probe %d\n", k, d.ops[k].desc,
		        (long long)d.s[0].prep[k], (long long)d.s[1].prep[k],
		        d.ops[k].sure ? "" : " (may wait)", d.ops[k].probe);
}

struct args {
	int kind, sub, fdsel;
	uint32_t len, flags, mask;
	int64_t off, ns, target;
	int32_t ioflags;
	const char *pa, *pb;
	int path_op;
};

static int side_fd(struct side *s, int sel)
{
	switch (sel) {
	case 0: return s->pipe[0];
	case 1: return s->pipe[1];
	case 2: return s->sock[0];
	case 3: return s->sock[1];
	case 4: return s->file;
	case 5: return INT32_MAX;
	case 6: return 65000; /* closed: checked at start */
	case 7: return rk_ring_fd(s->ring);
	default: return -1;
	}
}

static int64_t do_prep(struct side *s, int k, void *p)
{
	struct args *a = p;
	rk_ring *r = s->ring;
	unsigned char *rb = s->rbuf[k];
	const unsigned char *wb = wbuf + (k % RBUF);
	switch (a->kind) {
	case D_NOP:
		return rk_prep_nop(r, a->flags);
	case D_FILE_RW:
		return a->sub ? rk_prep_write(r, s->file, wb, a->len, a->off, a->flags)
		              : rk_prep_read(r, s->file, rb, a->len, a->off, a->flags);
	case D_FILE_RWV: {
		rk_iovec iov[2] = {{(uintptr_t)rb, a->len / 2}, {(uintptr_t)(rb + 32), a->len - a->len / 2}};
		rk_iovec wiov[2] = {{(uintptr_t)wb, a->len / 2}, {(uintptr_t)wb, a->len - a->len / 2}};
		return a->sub ? rk_prep_writev(r, s->file, wiov, 2, a->off, 0, a->flags)
		              : rk_prep_readv(r, s->file, iov, 2, a->off, 0, a->flags);
	}
	case D_TIMEOUT:
		return rk_prep_timeout(r, a->ns, 0, 0, a->flags);
	case D_LINK_TIMEOUT:
		return rk_prep_link_timeout(r, a->ns, 0, a->flags);
	case D_PIPE_READ:
		return rk_prep_read(r, s->pipe[0], rb, a->len, -1, a->flags);
	case D_PIPE_WRITE:
		return rk_prep_write(r, s->pipe[1], wb, a->len, -1, a->flags);
	case D_SOCK_RECV:
		return rk_prep_recv(r, s->sock[0], rb, a->len, 0, a->flags);
	case D_SOCK_SEND:
		return rk_prep_send(r, s->sock[1], wb, a->len, MSG_DONTWAIT, a->flags);
	case D_POLL:
		return a->sub ? rk_prep_poll_multishot(r, side_fd(s, a->fdsel), a->mask, a->flags)
		              : rk_prep_poll_add(r, side_fd(s, a->fdsel), a->mask, a->flags);
	case D_CANCEL: {
		int64_t t = a->target >= 0 ? s->prep[a->target] : -a->target;
		return a->sub == 0 ? rk_prep_cancel(r, t, a->flags)
		       : a->sub == 1 ? rk_prep_poll_remove(r, t, a->flags)
		                     : rk_prep_timeout_remove(r, t, a->flags);
	}
	case D_OPEN:
		return rk_prep_openat(r, s->dir, a->pa, a->ioflags | O_CLOEXEC, 0600, a->flags);
	case D_PATH: {
		static struct statx stx[2];
		switch (a->path_op) {
		case 0: return rk_prep_statx(r, s->dir, a->pa, 0, STATX_SIZE, &stx[s == &d.s[1]], a->flags);
		case 1: return rk_prep_unlinkat(r, s->dir, a->pa, 0, a->flags);
		case 2: return rk_prep_mkdirat(r, s->dir, a->pa, 0700, a->flags);
		default: return rk_prep_renameat(r, s->dir, a->pa, s->dir, a->pb, 0, a->flags);
		}
	}
	case D_CLOSE: {
		int fd = s->owned[a->target];
		s->owned[a->target] = -1;
		return rk_prep_close(r, fd, a->flags);
	}
	case D_SYNC:
		return a->sub == 0 ? rk_prep_fdatasync(r, s->file, 0, 0, a->flags)
		       : a->sub == 1 ? rk_prep_fallocate(r, s->file, 0, 0, 4096, a->flags)
		                     : rk_prep_fadvise(r, s->file, 0, 4096, POSIX_FADV_NORMAL, a->flags);
	case D_MSG_RING:
		return rk_prep_msg_ring(r, rk_ring_fd(r), a->len, (int32_t)a->len * 3, a->flags);
	case D_RECV_SELECT:
		return rk_prep_recv_select(r, s->sock[0], 1, a->len, 0, a->flags);
	case D_BADFD: {
		int fd = side_fd(s, a->fdsel);
		switch (a->sub) {
		case 0: return rk_prep_read(r, fd, rb, 8, -1, a->flags);
		case 1: return rk_prep_write(r, fd, wb, 8, -1, a->flags);
		case 2: return rk_prep_recv(r, fd, rb, 8, 0, a->flags);
		case 3: return rk_prep_send(r, fd, wb, 8, MSG_DONTWAIT, a->flags);
		default: return rk_prep_fdatasync(r, fd, 0, 0, a->flags);
		}
	}
	case D_SENDMSG: {
		rk_iovec iov[2] = {{(uintptr_t)wb, a->len / 2}, {(uintptr_t)(wb + 3), a->len - a->len / 2}};
		int32_t fds[1] = {s->pipe[0]};
		return rk_prep_sendmsg(r, s->sock[1], iov, 2, NULL, 0, fds, a->sub, MSG_DONTWAIT,
		                       a->flags);
	}
	case D_RECVMSG: {
		rk_iovec iov[2] = {{(uintptr_t)rb, a->len / 2}, {(uintptr_t)(rb + a->len / 2), a->len - a->len / 2}};
		return rk_prep_recvmsg(r, s->sock[0], iov, 2, NULL, 0, s->msgout[k], a->sub,
		                       MSG_CMSG_CLOEXEC, a->flags);
	}
	case D_CHUNK_RW:
		if (!d.s[0].fixed_ok || !d.s[1].fixed_ok)
			return -ENOTSUP; /* not made: both sides answer alike */
		return a->sub ? rk_prep_write_chunk(r, s->file, s->fixed, (int32_t)a->fdsel, a->len, a->off, a->flags)
		              : rk_prep_read_chunk(r, s->file, s->fixed, (int32_t)a->fdsel, a->len, a->off, a->flags);
	case D_ACCEPT:
		return rk_prep_accept(r, s->listener, NULL, 0, SOCK_CLOEXEC, a->flags);
	default: { /* the probes of the known differences */
		switch (a->sub) {
		case 0: return rk_prep_poll_add(r, side_fd(s, a->fdsel), POLLIN, 0);
		case 1: return rk_prep_accept(r, a->fdsel == 5 ? INT32_MAX : s->sock[0], NULL, 0,
		                              a->ioflags, 0);
		case 2: return rk_prep_recv_select(r, INT32_MAX, 1, 4, 0, 0);
		case 3: return rk_prep_close(r, rk_ring_fd(r), 0);
		default: {
			rk_iovec iov[1] = {{(uintptr_t)rb, 4}};
			return rk_prep_readv(r, s->pipe[0], iov, 1, -1, (int32_t)0xffffffff, 0);
		}
		}
	}
	}
}

static void flush(void)
{
	for (int i = 0; i < 2; i++)
		(void)rk_submit(d.s[i].ring);
	settle_and_compare();
}

/* Decodes one prep from the input and makes it on both sides. */
static void prep_step(struct input *in)
{
	if (d.n >= MAXOPS - 1) {
		d.end = true;
		return;
	}
	uint8_t what = u8(in) % 28, fb = u8(in);
	struct args a = {0};
	struct dop op = {.chain = -1, .sure = true};
	bool stream = false, may_link = true, may_async = false, pathish = false;
	switch (what) {
	case 0: case 1:
		a.kind = D_NOP;
		may_async = true;
		break;
	case 2: case 3:
		a.kind = D_FILE_RW;
		a.sub = u8(in) & 1;
		a.len = u8(in) % (RBUF + 1);
		a.off = (int64_t)(u8(in) % 40) * 2048;
		if (a.sub && a.off + a.len > 65536) /* a write never grows the file */
			a.off = 0;
		/* the bytes read are not compared: a write to the same place in
		 * the same batch is not ordered with the read */
		may_async = true;
		break;
	case 4:
		a.kind = D_FILE_RWV;
		a.sub = u8(in) & 1;
		a.len = 2 + u8(in) % 60;
		a.off = (int64_t)(u8(in) % 32) * 2048;
		may_async = true;
		break;
	case 5: /* short and alone, or an hour (a cancel or the end ends it) */
		a.kind = D_TIMEOUT;
		a.ns = u8(in) < 128 ? 1000000 : 3600LL * 1000000000;
		op.sure = a.ns < 1000000000;
		may_link = false;
		break;
	case 6:
		if (d.chain < 0 || d.s[0].prep[d.n - 1] < 0 || d.ops[d.n - 1].kind == D_LINK_TIMEOUT)
			return;
		/* An hour: the ops a chain may hold complete by themselves, and
		 * a short bound would race the fallback's workers. */
		a.kind = D_LINK_TIMEOUT;
		a.ns = 3600LL * 1000000000;
		may_link = false;
		op.sure = a.ns < 1000000000;
		break;
	case 7:
	case 8: {
		bool pipe = what == 7, write = u8(in) & 1;
		stream = true;
		if (write) {
			a.kind = pipe ? D_PIPE_WRITE : D_SOCK_SEND;
			a.len = 8 + u8(in) % 57;
		} else {
			if (reader_live(pipe ? 1 : 2))
				return;
			a.kind = pipe ? D_PIPE_READ : D_SOCK_RECV;
			a.len = 1 + u8(in) % 7;
			op.stream = pipe ? 1 : 2;
			op.reads = true;
			op.sure = false;
		}
		break;
	}
	case 9: {
		a.kind = D_POLL;
		a.sub = u8(in) & 1;
		uint8_t t = u8(in);
		a.fdsel = t % 4; /* pipe ends and socket ends */
		a.mask = (t & 4 ? POLLIN : 0) | (t & 8 ? POLLOUT : 0);
		if (!a.mask)
			a.mask = POLLIN;
		op.multi = a.sub;
		op.sure = false;
		stream = true; /* a poll woken while a read races it is not ordered */
		break;
	}
	case 10:
	case 11: { /* cancel an op seen waiting, or a made-up id */
		a.kind = D_CANCEL;
		a.sub = u8(in) % 3;
		uint8_t t = u8(in);
		a.target = -(int64_t)(t | 0x100000);
		int seen = 0;
		for (int k = 0; k < d.n; k++)
			if (d.s[0].prep[k] >= 0 && d.s[1].prep[k] >= 0 && live(&d.s[0], k) &&
			    live(&d.s[1], k) && d.ops[k].settled_live && !d.ops[k].cancel_asked &&
			    seen++ == t % 8)
				a.target = k;
		if (a.target >= 0)
			d.ops[a.target].cancel_asked = true;
		break;
	}
	case 12:
		a.kind = D_OPEN;
		a.pa = paths[u8(in) % NPATHS];
		a.ioflags = u8(in) & 1 ? O_RDONLY : O_RDWR | O_CREAT;
		op.open = true;
		pathish = true;
		break;
	case 13:
		a.kind = D_PATH;
		a.path_op = u8(in) % 4;
		a.pa = paths[u8(in) % NPATHS];
		a.pb = paths[u8(in) % NPATHS];
		pathish = true;
		break;
	case 14: {
		a.kind = D_CLOSE;
		int pick = u8(in), seen = 0;
		a.target = -1;
		for (int k = 0; k < d.n; k++)
			if (d.s[0].owned[k] >= 0 && d.s[1].owned[k] >= 0 && seen++ <= pick % 4)
				a.target = k;
		if (a.target < 0)
			return;
		pathish = true;
		break;
	}
	case 15:
		a.kind = D_SYNC;
		a.sub = u8(in) % 3;
		may_async = true;
		break;
	case 16:
		a.kind = D_MSG_RING;
		a.len = u8(in);
		d.msgs_sent++;
		break;
	case 17:
		if (reader_live(2))
			return;
		a.kind = D_RECV_SELECT;
		a.len = 1 + u8(in) % 7;
		op.stream = 2;
		op.sure = false;
		stream = true;
		break;
	case 24: /* sendmsg, maybe passing the pipe's read end, or recvmsg */
		stream = true;
		if (u8(in) & 1) {
			a.kind = D_SENDMSG;
			a.len = 8 + u8(in) % 57;
			a.sub = u8(in) & 1; /* fds */
		} else {
			if (reader_live(2))
				return;
			a.kind = D_RECVMSG;
			a.len = 2 + u8(in) % 6;
			a.sub = u8(in) & 1; /* fds_cap */
			op.stream = 2;
			op.reads = true;
			op.sure = false;
		}
		break;
	case 25: /* a chunk of a registered region from or to the file */
		a.kind = D_CHUNK_RW;
		a.sub = u8(in) & 1;
		a.fdsel = u8(in) % 4;
		a.len = 1 + (uint32_t)u8(in) * 16;
		a.off = (int64_t)(u8(in) % 15) * 4096;
		may_async = true;
		break;
	case 26: /* accept on a listening socket: a connection queued or later */
		if (reader_live(3))
			return;
		a.kind = D_ACCEPT;
		op.stream = 3;
		op.open = true;
		op.sure = false;
		stream = true;
		break;
	case 18:
	case 19: {
		a.kind = D_BADFD;
		a.sub = u8(in) % 5;
		a.fdsel = u8(in) & 1 ? 5 : 6;
		may_link = false;
		break;
	}
	default: { /* a probe for a known difference: alone, then settled */
		a.kind = D_PROBE;
		uint8_t t = u8(in);
		if ((t & 0xe0) || u8(in) >= 64) { /* rarely: a known difference ends the input */
			a.kind = D_NOP;
			break;
		}
		a.sub = t % 5;
		a.fdsel = t & 8 ? 5 : 6;
		a.ioflags = t & 16 ? -1 : SOCK_CLOEXEC;
		static const uint8_t probe_of[5] = {P_POLL_BADFD, P_ACCEPT_STREAM, P_BADFD_INTMAX,
		                                    P_CLOSE_RINGFD, P_READV_BADFLAGS};
		op.probe = probe_of[a.sub];
		if (a.sub == 1 && a.fdsel == 5)
			op.probe = P_BADFD_INTMAX;
		if (a.sub == 4 && reader_live(1))
			return;
		op.sure = false;
		may_link = false;
		if (d.chain >= 0 || any_live_maybe())
			return;
		if (a.sub == 3)
			d.end = true; /* the fallback ring has lost its fd: nothing after */
		break;
	}
	}
	/* Stream ops and path ops are unordered inside a chain or behind a
	 * drain (their issue time differs between the backends). */
	if ((stream || pathish) && (d.chain >= 0 || any_live_drain()))
		return;
	if (pathish && d.path_pending)
		flush();
	if (d.chain >= 0 && !may_link && a.kind != D_LINK_TIMEOUT)
		return;
	if (d.chain >= 0 && d.chain_len >= 8)
		may_link = false; /* chains stay well inside the SQ */
	a.flags = op_flags(fb, may_link && !stream && !pathish, may_async);
	if (stream && (a.flags & RK_DRAIN))
		a.flags &= ~RK_DRAIN;
	if (a.kind == D_PROBE)
		a.flags = 0;
	/* After a drain io_uring (Linux 6.18) holds later ops while ops
	 * prepared behind the drain are live, even when the drain itself had
	 * nothing to wait for, and its cancels do not reach held ops; the
	 * fallback does neither (known differences). So drains are rare, and
	 * the rest of an input after one is excused. */
	uint8_t probe_now = 0;
	if (a.flags & RK_DRAIN) {
		if (d.held_by >= 0 || u8(in) >= 32)
			a.flags &= ~RK_DRAIN;
		else
			probe_now = d.chain >= 0 ? P_DRAIN_IN_CHAIN : P_DRAIN_HELD;
	}
	/* io_uring drains the op after a chain with a drain inside it too. */
	bool drained_next = d.drain_next && d.chain < 0;
	if (d.held_by >= 0 && !op.probe)
		op.probe = d.held_probe;
	if (a.kind == D_CANCEL && a.target >= 0 && d.ops[a.target].probe >= P_DRAIN_HELD &&
	    d.ops[a.target].probe <= P_DRAIN_IN_CHAIN)
		op.probe = d.ops[a.target].probe;
	if (a.kind == D_CANCEL && a.sub == 1 && a.target >= 0 && !op.probe &&
	    d.ops[a.target].kind == D_POLL && d.ops[a.target].multi && !d.ops[a.target].probe)
		op.probe = d.ops[a.target].probe = P_POLL_REMOVE;
	int k = d.n++;
	if (probe_now) {
		op.probe = probe_now;
		int from = probe_now == P_DRAIN_IN_CHAIN ? d.chain : k;
		for (int j = from; j < k; j++)
			if (!d.ops[j].probe)
				d.ops[j].probe = probe_now;
		d.held_by = from;
		d.held_probe = probe_now;
		d.ever_held = probe_now;
		if (probe_now == P_DRAIN_IN_CHAIN)
			d.drain_next = true;
	}
	if (drained_next) {
		d.drain_next = false;
		op.probe = P_DRAIN_IN_CHAIN;
		d.held_by = k;
		d.held_probe = P_DRAIN_IN_CHAIN;
	}
	op.kind = (uint8_t)a.kind;
	op.drain = a.flags & RK_DRAIN;
	op.chain = d.chain;
	if (d.chain >= 0 && d.chain_maybe)
		op.sure = a.kind == D_LINK_TIMEOUT ? op.sure : false;
	if (a.kind == D_LINK_TIMEOUT && op.sure)
		d.chain_maybe = false; /* a short link timeout ends the op it bounds */
	if (any_live_drain() || (op.drain && any_live_maybe()))
		op.sure = false;
	snprintf(op.desc, sizeof(op.desc), "%s sub %d fd %d len %u flags %#x", kind_names[a.kind],
	         a.sub, a.fdsel, a.len, a.flags);
	d.ops[k] = op;
	both(k, do_prep, &a);
	if (d.s[0].prep[k] < 0) {
		d.ops[k].chain = -1; /* not queued: the chain goes on past it */
	} else if (a.flags & (RK_LINK | RK_HARDLINK)) {
		if (d.chain < 0) {
			d.chain = k;
			d.chain_maybe = false;
			d.chain_len = 0;
		}
		d.chain_len++;
		d.ops[k].chain = d.chain;
		if (!d.ops[k].sure)
			d.chain_maybe = true;
	} else if (d.chain >= 0) {
		d.ops[k].chain = d.chain;
		d.chain = -1;
	}
	if (pathish)
		d.path_pending = true;
	/* a recv_select runs on the fallback's service thread: a send later in
	 * the batch could reach it there, where io_uring ran it at submit */
	if (a.kind == D_PROBE || a.kind == D_BADFD || a.kind == D_RECV_SELECT)
		flush();
}

/* ------------------------------------------------------------------------ */
/* Other steps                                                                */

static int pick_waiting(uint8_t t)
{
	int seen = 0, found = -1;
	for (int k = 0; k < d.n; k++)
		if (d.ops[k].settled_live && live(&d.s[0], k) && live(&d.s[1], k) &&
		    seen++ <= t % 4)
			found = k;
	return found;
}

/* Data into the pipe or the socket from outside, the same on both sides. */
static void feed(struct input *in)
{
	/* Settled first: a recv_select the fallback has not yet run would get
	 * what the feed adds, where io_uring ran it at submit. */
	if (d.chain >= 0)
		return;
	flush();
	if (d.verdict)
		return;
	uint8_t t = u8(in);
	size_t len = 8 + t % 57;
	for (int i = 0; i < 2; i++) {
		struct side *s = &d.s[i];
		ssize_t r = t & 0x80 ? write(s->pipe[1], wbuf + (t & 15), len)
		                     : send(s->sock[1], wbuf + (t & 15), len, MSG_DONTWAIT);
		if (r != (ssize_t)len)
			die("feed");
	}
	if (d.trace)
		fprintf(stderr, "feed: %zu bytes into the %s\n", len, t & 0x80 ? "pipe" : "socket");
	flush();
}

static void cancel_sync_step(struct input *in)
{
	/* rk_cancel_sync submits what is queued first on io_uring only (its
	 * cancel goes through the SQ): queue nothing unsettled before it. */
	if (d.chain >= 0)
		return;
	flush();
	if (d.verdict)
		return;
	int k = pick_waiting(u8(in));
	if (k < 0)
		return;
	int r[2];
	for (int i = 0; i < 2; i++)
		r[i] = rk_cancel_sync(d.s[i].ring, d.s[i].prep[k], 500000000);
	if (r[0] != r[1])
		mismatch(k, "rk_cancel_sync: io_uring %d, fallback %d", r[0], r[1]);
	flush();
}

static void cancel_all_step(void)
{
	if (d.chain >= 0)
		return;
	flush();
	if (d.verdict)
		return;
	int r[2];
	for (int i = 0; i < 2; i++)
		r[i] = rk_ring_cancel_all(d.s[i].ring);
	if (d.trace)
		fprintf(stderr, "cancel_all: %d / %d\n", r[0], r[1]);
	if (r[0] != r[1])
		mismatch_probe((enum probe)d.ever_held, "rk_ring_cancel_all: io_uring %d, fallback %d", r[0], r[1]);
	flush();
}

static bool eventfd_on;

static void eventfd_step(struct input *in)
{
	uint8_t t = u8(in);
	int r[2];
	if (eventfd_on) {
		for (int i = 0; i < 2; i++)
			r[i] = rk_ring_unregister_eventfd(d.s[i].ring);
		if (r[0] != r[1])
			mismatch_probe(P_NONE, "unregister_eventfd: io_uring %d, fallback %d", r[0], r[1]);
		eventfd_on = false;
		return;
	}
	/* mostly an eventfd; rarely a regular file, a pipe's write end, the ring's fd */
	int sel = t < 252 ? 0 : t % 4;
	for (int i = 0; i < 2; i++) {
		struct side *s = &d.s[i];
		int fd = sel == 0 ? s->efd : sel == 1 ? s->file : sel == 2 ? s->pipe[1]
		                                                           : rk_ring_fd(s->ring);
		r[i] = rk_ring_register_eventfd(s->ring, fd, 0);
	}
	if (r[0] != r[1])
		mismatch_probe(sel ? P_EVENTFD_KIND : P_NONE,
		               "register_eventfd(kind %d): io_uring %d, fallback %d", sel, r[0], r[1]);
	eventfd_on = r[0] == 0 && r[1] == 0;
	if (r[0] != r[1])
		d.end = true;
}

/* A connection to each side's listener, from outside. */
static void connect_step(void)
{
	if (d.chain >= 0 || d.s[0].nclients >= 8)
		return;
	flush();
	if (d.verdict)
		return;
	for (int i = 0; i < 2; i++) {
		struct side *s = &d.s[i];
		struct sockaddr_un sa;
		socklen_t len = sizeof(sa);
		int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0 || getsockname(s->listener, (struct sockaddr *)&sa, &len) < 0 ||
		    connect(c, (struct sockaddr *)&sa, len) < 0)
			die("connect");
		s->clients[s->nclients++] = c;
	}
	flush();
}

static void submit_step(void)
{
	if (d.chain >= 0) /* a chain is submitted whole */
		return;
	for (int i = 0; i < 2; i++)
		(void)rk_submit(d.s[i].ring);
}

static void step(struct input *in)
{
	uint8_t op = u8(in) % 16;
	if (d.trace && op >= 8)
		fprintf(stderr, "step %s\n", op < 10 ? "settle" : op == 10 ? "feed" : op == 11 ?
		        "cancel_sync" : op == 12 ? "cancel_all" : op == 13 ? "eventfd" : op == 14 ?
		        "submit" : "connect");
	if (op < 8)
		prep_step(in);
	else if (op < 10)
		flush();
	else if (op == 10)
		feed(in);
	else if (op == 11)
		cancel_sync_step(in);
	else if (op == 12)
		cancel_all_step();
	else if (op == 13)
		eventfd_step(in);
	else if (op == 14)
		submit_step();
	else
		connect_step();
}

/* The end of an input: everything settles, the rest is cancelled, every op
 * has its final record on both sides and they agree. */
static void finish(void)
{
	flush();
	if (d.verdict)
		return;
	for (int round = 0; round < 20; round++) {
		bool any = false;
		for (int k = 0; k < d.n; k++)
			if (live(&d.s[0], k) || live(&d.s[1], k))
				any = true;
		if (!any)
			break;
		for (int i = 0; i < 2; i++)
			(void)rk_ring_cancel_all(d.s[i].ring);
		flush();
		if (d.verdict)
			return;
	}
	for (int k = 0; k < d.n; k++)
		if (live(&d.s[0], k) && live(&d.s[1], k))
			mismatch(k, "never completed on either side after cancel_all");
}

static void fill_wbuf(void)
{
	for (size_t i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = (unsigned char)('A' + i % 53);
}

int rk_fuzz_diff_one(const uint8_t *data, size_t size, struct diff_stats *st, bool verbose)
{
	fill_wbuf();
	memset(&d, 0, sizeof(d));
	d.st = st;
	d.verbose = verbose;
	d.trace = getenv("RK_FUZZ_TRACE") != NULL;
	d.chain = -1;
	d.held_by = -1;
	eventfd_on = false;
	side_open(&d.s[0], RK_BACKEND_URING);
	side_open(&d.s[1], RK_BACKEND_FALLBACK);
	struct input in = {data, size};
	for (int steps = 0; in.left && steps < 400 && !d.end && !d.verdict; steps++)
		step(&in);
	if (!d.verdict)
		finish();
	side_close(&d.s[0]);
	side_close(&d.s[1]);
	st->sequences++;
	if (d.verdict < 0)
		st->mismatches++;
	else if (d.verdict > 0)
		st->known++;
	st->known_hit |= d.known_hit;
	return d.verdict;
}

void rk_fuzz_diff_print_known(FILE *out, const struct diff_stats *st)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (st->known_inputs[known[i].probe])
			fprintf(out, "  known difference in %llu inputs: %s\n",
			        (unsigned long long)st->known_inputs[known[i].probe], known[i].what);
}
