/*
 * Stateful fuzzing of the public API: the input is a program of API calls
 * (one opcode byte, then the bytes its arguments need) run against a real
 * ring with safe targets only — NOPs, timeouts, a pipe, a socketpair and
 * files in a private temporary directory. A model of the library's state
 * runs alongside and is checked after every step:
 *
 *   exactly once   every completion names a live op, a multishot record
 *                  comes only from a multishot op, every op's final record
 *                  comes once, and the ring's in-flight count is the model's;
 *   ids            a prep's error is the one the model predicts (-ENOENT for
 *                  a stale or random cancel target, -EBUSY for a full table,
 *                  -EINVAL for an unknown flag or a chain longer than the SQ);
 *   chunks         every chunk has the owner the model says (free, caller,
 *                  kernel), chunk calls answer as the model predicts
 *                  (-ENOBUFS, -EINVAL, -EBUSY), a buffer completion names a
 *                  chunk the kernel held, regions are busy exactly when
 *                  the model says so;
 *   resources      at the end of every input the ring is closed, every chunk
 *                  comes back, every region is destroyed and no fd is left.
 *
 * Built three ways: with libFuzzer (tools/fuzz.sh, clang), and as a plain
 * program replaying the seed corpus (tests/fuzz/replay.c) in the normal and
 * the sanitizer builds of the test command.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../c/fd_count.h"
#include "input.h"
#include "ringkit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                                   \
	do {                                                                        \
		fprintf(stderr, "api_fuzz:%d: ", __LINE__);                         \
		fprintf(stderr, __VA_ARGS__);                                       \
		fprintf(stderr, "\n");                                              \
		abort();                                                            \
	} while (0)
#define CHECK(c)                                                                    \
	do {                                                                        \
		if (!(c))                                                           \
			FAIL("check failed: %s", #c);                               \
	} while (0)
#define CHECK_EQ(a, b)                                                              \
	do {                                                                        \
		long long a_ = (long long)(a), b_ = (long long)(b);                 \
		if (a_ != b_)                                                       \
			FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);             \
	} while (0)

/* ------------------------------------------------------------------------ */
/* The model                                                                  */

#define MAXCAP 64
#define NREGIONS 2
#define MAXCHUNKS 16
#define NGROUPS 2
#define NPATHS 4

enum kind {
	K_PLAIN,  /* nothing to release */
	K_CHUNK,  /* pins region/chunk until final */
	K_OPEN,   /* res is an fd we must close */
	K_SELECT, /* recv from a group: one record, may carry a chunk */
	K_MULTI,  /* multishot: many records */
	K_MULTI_SELECT,
	K_CLOSE,  /* closes fd `chunk`, which we owned */
	K_RECVMSG, /* result array msgout[chunk]: fds received are ours */
};

static int32_t msgout[64][RK_MSG_FDS + 2];
static bool msgout_used[64];

struct mop {
	const char *what;
	uint32_t flags;
	int64_t id; /* -1: slot free */
	uint8_t kind;
	int8_t region, group;
	int32_t chunk;
};

enum owner { FREE, CALLER, KERNEL };

struct mregion {
	rk_region *h;
	uint32_t csize, n;
	uint8_t owner[MAXCHUNKS];
	uint32_t pins[MAXCHUNKS];
	bool registered;
	int group; /* bgid it is provided as, or -1 */
};

static struct {
	rk_ring *ring;
	uint32_t capacity, sq_entries, chain_len;
	struct mop ops[MAXCAP];
	uint32_t live;
	struct mregion rg[NREGIONS];
	uint32_t group_users[NGROUPS]; /* bgid 1..NGROUPS: live ops selecting */
	int64_t stale[8];              /* ids that completed recently */
	unsigned nstale, stale_pos;
	int owned[64]; /* fds the ring's ops produced */
	unsigned nowned;
	unsigned dropped_opens; /* open ops a ring close dropped */
	unsigned messages;      /* msg_ring messages sent to the ring, not yet seen */
	bool drained, zc_sent;  /* the ring used RK_DRAIN / a zero-copy send */
	bool sqpoll;
	int pipe[2], sock[2];
	bool eventfd;
	int efd;
} m;

static int tmpdir_fd = -1, file_fd = -1;
static unsigned char buf[8][4096];
static const char *const paths[NPATHS] = {"a", "b", "c/d", "long-name-xxxxxxxxxxxxxxxxxxxxxxxxxx"};

static char tmpdir[32];

static void remove_tmpdir(void)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	(void)!system(cmd);
}

/* A private directory with one 64 KiB file, for the whole process. */
static void setup_once(void)
{
	if (tmpdir_fd >= 0)
		return;
	strcpy(tmpdir, "/tmp/ringkit-fuzz.XXXXXX");
	CHECK(mkdtemp(tmpdir) != NULL);
	atexit(remove_tmpdir);
	tmpdir_fd = open(tmpdir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	CHECK(tmpdir_fd >= 0);
	file_fd = openat(tmpdir_fd, "file", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	CHECK(file_fd >= 0);
	CHECK(mkdirat(tmpdir_fd, "c", 0700) == 0);
	static unsigned char zero[65536];
	CHECK(write(file_fd, zero, sizeof(zero)) == (ssize_t)sizeof(zero));
}

static int count_fds(void)
{
	int n = open_fd_count();
	CHECK(n >= 0);
	return n;
}

/* ------------------------------------------------------------------------ */
/* Model updates                                                              */

static const char *cur_what = "";
static uint32_t cur_flags;
static bool trace;

static void own_fd(int fd)
{
	if (m.nowned < 64)
		m.owned[m.nowned++] = fd;
	else
		close(fd);
}

/* A close op ended without our seeing it succeed (failed, cancelled or
 * dropped with the ring): if the fd is still open it is ours again, unless
 * an open op's result already reused the number. */
static void reown(int fd)
{
	for (unsigned i = 0; i < m.nowned; i++)
		if (m.owned[i] == fd)
			return;
	if (fcntl(fd, F_GETFD) >= 0)
		own_fd(fd);
}

static void track(int64_t id, uint8_t kind, int region, int32_t chunk, int group)
{
	CHECK(id >= 0);
	uint32_t slot = (uint32_t)id;
	if (slot >= m.capacity)
		FAIL("id %llx: slot beyond capacity %u", (unsigned long long)id, m.capacity);
	if (m.ops[slot].id != -1)
		FAIL("slot %u handed out while op %llx lives", slot,
		     (unsigned long long)m.ops[slot].id);
	for (unsigned i = 0; i < m.nstale; i++)
		if (m.stale[i] == id)
			FAIL("id %llx reused", (unsigned long long)id);
	m.ops[slot] = (struct mop){.what = cur_what, .flags = cur_flags, .id = id, .kind = kind, .region = (int8_t)region,
	                           .group = (int8_t)group, .chunk = chunk};
	m.live++;
	if (region >= 0)
		m.rg[region].pins[chunk]++;
	if (group > 0)
		m.group_users[group - 1]++;
}

static struct mregion *region_of_group(int group)
{
	for (int i = 0; i < NREGIONS; i++)
		if (m.rg[i].h && m.rg[i].group == group)
			return &m.rg[i];
	return NULL;
}

static void release(struct mop *op)
{
	if (op->region >= 0)
		m.rg[op->region].pins[op->chunk]--;
	if (op->group > 0)
		m.group_users[op->group - 1]--;
	m.stale[m.stale_pos++ % 8] = op->id;
	if (m.nstale < 8)
		m.nstale++;
	if (op->kind == K_CLOSE)
		reown(op->chunk);
	if (op->kind == K_RECVMSG)
		msgout_used[op->chunk] = false;
	op->id = -1;
	m.live--;
}

static void on_cqe(const rk_cqe *c)
{
	if (c->id < 0) { /* a message from rk_prep_msg_ring: no op, no slot */
		int64_t value = c->id & RK_MSG_VALUE_MASK;
		if (!m.messages || value > 255 || c->res != (int32_t)value * 3)
			FAIL("unexpected message %llx res %d", (unsigned long long)c->id, c->res);
		m.messages--;
		return;
	}
	uint32_t slot = (uint32_t)c->id;
	if (c->id < 0 || slot >= m.capacity || m.ops[slot].id != c->id)
		FAIL("completion for id %llx, which is not live", (unsigned long long)c->id);
	struct mop *op = &m.ops[slot];
	bool multi = op->kind == K_MULTI || op->kind == K_MULTI_SELECT;
	if ((c->flags & RK_CQE_F_MORE) && !multi)
		FAIL("a MORE record for a single-shot op %llx", (unsigned long long)c->id);
	if (c->flags & RK_CQE_F_BUFFER) {
		if (op->group <= 0)
			FAIL("a buffer record for op %llx, which selects from no group",
			     (unsigned long long)c->id);
		struct mregion *r = region_of_group(op->group);
		CHECK(r != NULL);
		uint32_t chunk = c->flags >> RK_CQE_BUFFER_SHIFT;
		CHECK(chunk < r->n);
		if (r->owner[chunk] != KERNEL)
			FAIL("buffer record names chunk %u, which the kernel did not hold", chunk);
		r->owner[chunk] = CALLER;
	}
	if (op->kind == K_OPEN && c->res >= 0)
		own_fd(c->res);
	if (op->kind == K_CLOSE && c->res == 0)
		op->kind = K_PLAIN; /* closed for good */
	if (op->kind == K_RECVMSG) {
		int32_t *out = msgout[op->chunk];
		if (c->res < 0)
			CHECK(out[RK_MSG_NFDS] == 0);
		for (int32_t i = 0; i < out[RK_MSG_NFDS]; i++)
			own_fd(out[RK_MSG_FDS + i]);
	}
	if (!(c->flags & RK_CQE_F_MORE))
		release(op);
}

static void check_state(void)
{
	if (m.ring) {
		uint64_t st[RK_STAT_COUNT];
		CHECK_EQ(rk_ring_stats(m.ring, st, RK_STAT_COUNT), RK_STAT_COUNT);
		if (st[RK_STAT_INFLIGHT] != m.live)
			FAIL("ring says %llu ops live, model %u", (unsigned long long)st[RK_STAT_INFLIGHT],
			     m.live);
	}
	for (int i = 0; i < NREGIONS; i++) {
		struct mregion *r = &m.rg[i];
		if (!r->h)
			continue;
		uint32_t nfree = 0, pins = 0;
		for (uint32_t c = 0; c < r->n; c++) {
			nfree += r->owner[c] == FREE;
			pins += r->pins[c];
		}
		CHECK_EQ(rk_region_chunks_free(r->h), nfree);
		bool busy = pins || (r->registered && m.ring) || (r->group > 0 && m.ring);
		CHECK_EQ(rk_region_busy(r->h), busy);
	}
}

/* The ring was closed: its ops are dropped, its registrations gone. */
static void model_closed(void)
{
	for (uint32_t s = 0; s < MAXCAP; s++)
		if (m.ops[s].id != -1) {
			if (m.ops[s].kind == K_OPEN)
				m.dropped_opens++;
			release(&m.ops[s]);
		}
	m.nstale = m.stale_pos = 0; /* a new ring starts its generations afresh */
	m.messages = 0;             /* messages to a closed ring are dropped */
	for (int i = 0; i < NREGIONS; i++) {
		struct mregion *r = &m.rg[i];
		r->registered = false;
		if (r->group > 0) {
			for (uint32_t c = 0; c < r->n; c++)
				if (r->owner[c] == KERNEL)
					r->owner[c] = FREE;
			r->group = -1;
		}
	}
	m.ring = NULL;
	m.eventfd = false;
	m.chain_len = 0;
}

/* ------------------------------------------------------------------------ */
/* Preps: the result must be what the model predicts                         */

#define SQE_FLAGS (RK_DRAIN | RK_LINK | RK_HARDLINK | RK_ASYNC)

static uint32_t op_flags(struct input *in)
{
	uint8_t b = u8(in);
	uint32_t f = 0;
	if ((b & 0x7) == 1)
		f |= RK_LINK;
	if ((b & 0x7) == 2)
		f |= RK_HARDLINK;
	if (b & 0x8)
		f |= RK_ASYNC;
	/* Not on SQPOLL rings: there an op the kernel starts after a drain can
	 * end up blocking in an io-wq worker of the poll thread where no
	 * cancel reaches it, and close times out (doc/reliability.md). */
	if ((b & 0x30) == 0x30 && !m.sqpoll)
		f |= RK_DRAIN;
	if (b == 0xff)
		f |= 1u << 12; /* unknown */
	return f;
}

/* pre: the argument error checked before a slot is taken (0: none); post:
 * one checked after (the group of a recv). spills: the op may borrow a
 * spill block, whose pool can run dry (-EBUSY). */
static bool prep_ok(int64_t id, int pre, uint32_t flags, int post, bool spills)
{
	int expect = pre;
	if (!expect && (flags & ~(uint32_t)(SQE_FLAGS | RK_FIXED_FILE)))
		expect = -EINVAL;
	if (!expect && (flags & RK_DRAIN)) { /* drains and zero-copy sends exclude each other */
		if (m.zc_sent)
			expect = -EINVAL;
		else
			m.drained = true;
	}
	if (!expect && (flags & (RK_LINK | RK_HARDLINK)) && m.chain_len + 1 >= m.sq_entries)
		expect = -EINVAL;
	if (!expect && m.live == m.capacity)
		expect = -EBUSY;
	if (!expect)
		expect = post;
	if (!expect && spills && id == -EBUSY)
		return false;
	if (expect) {
		if (id != expect)
			FAIL("prep returned %lld, the model expected %d", (long long)id, expect);
		return false;
	}
	if (id < 0)
		FAIL("prep failed with %lld (%s), the model expected success", (long long)id,
		     rk_strerror((int)id));
	if (flags & (RK_LINK | RK_HARDLINK))
		m.chain_len++;
	else
		m.chain_len = 0;
	return true;
}

/* A target id: a live one, a stale one, a live one with another
 * generation, or anything at all. */
static int64_t pick_target(struct input *in, bool *live)
{
	uint8_t how = u8(in);
	uint8_t k = u8(in);
	int64_t id = (int64_t)u64(in) & INT64_MAX;
	*live = false;
	if (how % 4 <= 1 && m.live) {
		for (uint32_t i = 0, seen = 0; i < m.capacity; i++)
			if (m.ops[(i + k) % m.capacity].id != -1 && seen++ == 0)
				id = m.ops[(i + k) % m.capacity].id;
		if (how % 4 == 1)
			id += (int64_t)1 << 32; /* same slot, another generation */
	} else if (how % 4 == 2 && m.nstale) {
		id = m.stale[k % m.nstale];
	} else if (how % 8 == 7) {
		id = -(id & 0xffff) - 1;
	}
	uint32_t slot = (uint32_t)id;
	*live = id >= 0 && slot < m.capacity && m.ops[slot].id == id;
	return id;
}

static int region_arg(struct input *in)
{
	return u8(in) % NREGIONS;
}

#define NPREPS 21

static void prep_step(struct input *in, uint8_t what)
{
	rk_ring *ring = m.ring;
	uint32_t flags = op_flags(in);
	int64_t id;
	static const char *const names[NPREPS] = {"nop", "file rw", "rw vectored", "chunk rw",
		"timeout", "link timeout", "pipe rw", "poll", "cancel", "cancel", "openat",
		"path op", "recv group", "recv group", "send/recv", "close", "sync/alloc/advise",
		"sendmsg/recvmsg", "msg_ring", "send_zc", "batch"};
	cur_what = names[what % NPREPS];
	cur_flags = flags;
	if (trace)
		fprintf(stderr, "prep %s flags %#x\n", cur_what, flags);
	switch (what % NPREPS) {
	case 0:
		id = rk_prep_nop(ring, flags);
		if (prep_ok(id, 0, flags, 0, false))
			track(id, K_PLAIN, -1, 0, 0);
		break;
	case 1: { /* file read/write */
		uint32_t len = u16(in) % 4097;
		int64_t off = (int64_t)(u16(in) % 70000);
		bool write = u8(in) & 1;
		unsigned char *b = buf[u8(in) % 8];
		id = write ? rk_prep_write(ring, file_fd, b, len, off, flags)
		           : rk_prep_read(ring, file_fd, b, len, off, flags);
		if (prep_ok(id, 0, flags, 0, false))
			track(id, K_PLAIN, -1, 0, 0);
		break;
	}
	case 2: { /* vectored: over 9 iovecs spill */
		uint32_t n = u8(in) % 24;
		rk_iovec iov[24];
		for (uint32_t i = 0; i < n; i++)
			iov[i] = (rk_iovec){(uintptr_t)buf[i % 8], 1 + (u8(in) % 64)};
		bool write = n & 1;
		id = write ? rk_prep_writev(ring, file_fd, iov, n, 0, 0, flags)
		           : rk_prep_readv(ring, file_fd, iov, n, 4096, 0, flags);
		if (prep_ok(id, 0, flags, 0, n > 9))
			track(id, K_PLAIN, -1, 0, 0);
		break;
	}
	case 3: { /* chunk read/write */
		int ri = region_arg(in);
		struct mregion *r = &m.rg[ri];
		int32_t chunk = (int32_t)(u8(in) % (MAXCHUNKS + 2)) - 1;
		uint32_t len = u16(in) % 9000;
		bool write = u8(in) & 1;
		int pre = 0;
		if (!r->h)
			pre = -EINVAL;
		else if (chunk < 0 || (uint32_t)chunk >= r->n || r->owner[chunk] != CALLER)
			pre = -EINVAL;
		else if (len > r->csize)
			pre = -EINVAL;
		id = write ? rk_prep_write_chunk(ring, file_fd, r->h, chunk, len, 8192, flags)
		           : rk_prep_read_chunk(ring, file_fd, r->h, chunk, len, 8192, flags);
		if (prep_ok(id, pre, flags, 0, false))
			track(id, K_CHUNK, ri, chunk, 0);
		break;
	}
	case 4: { /* timeout: short, or by count, or long (cancel/close ends it) */
		uint8_t t = u8(in);
		int64_t ns = t < 200 ? (int64_t)t * 10000 : 3600LL * 1000000000;
		uint32_t count = u8(in) % 3;
		id = rk_prep_timeout(ring, ns, count, 0, flags);
		if (prep_ok(id, 0, flags, 0, false))
			track(id, K_PLAIN, -1, 0, 0);
		break;
	}
	case 5: { /* link timeout: only after a link */
		int64_t ns = (int64_t)u8(in) * 10000;
		id = rk_prep_link_timeout(ring, ns, 0, flags);
		if (prep_ok(id, m.chain_len == 0 ? -EINVAL : 0, flags, 0, false))
			track(id, K_PLAIN, -1, 0, 0);
		break;
	}
	case 6: { /* pipe read (pending until data) or write */
		bool write = u8(in) & 1;
		uint32_t len = 1 + u8(in) % 64;
		id = write ? rk_prep_write(ring, m.pipe[1], buf[0], len, -1, flags)
		           : rk_prep_read(ring, m.pipe[0], buf[1 + len % 7], len, -1, flags);
		if (prep_ok(id, 0, flags, 0, false))
			track(id, K_PLAIN, -1, 0, 0);
		break;
	}
	case 7: { /* poll, one-shot or multishot */
		bool multi = u8(in) & 1;
		int fd = u8(in) & 1 ? m.pipe[0] : m.sock[0];
		id = multi ? rk_prep_poll_multishot(ring, fd, POLLIN, flags)
		           : rk_prep_poll_add(ring, fd, POLLIN, flags);
		if (prep_ok(id, 0, flags, 0, false))
			track(id, multi ? K_MULTI : K_PLAIN, -1, 0, 0);
		break;
	}
	case 8:
	case 9: { /* cancel, poll_remove, timeout_remove of any id */
		bool live;
		int64_t target = pick_target(in, &live);
		uint8_t which = u8(in) % 3;
		id = which == 0   ? rk_prep_cancel(ring, target, flags)
		     : which == 1 ? rk_prep_poll_remove(ring, target, flags)
		                  : rk_prep_timeout_remove(ring, target, flags);
		if (prep_ok(id, live ? 0 : -ENOENT, flags, 0, false))
			track(id, K_PLAIN, -1, 0, 0);
		break;
	}
	case 10: { /* openat of a name in the private directory: res is an fd */
		const char *p = paths[u8(in) % NPATHS];
		int32_t of = u8(in) & 1 ? O_RDONLY : O_RDWR | O_CREAT;
		id = rk_prep_openat(ring, tmpdir_fd, p, of | O_CLOEXEC, 0600, flags);
		if (prep_ok(id, 0, flags, 0, false))
			track(id, K_OPEN, -1, 0, 0);
		break;
	}
	case 11: { /* path ops in the private directory */
		static struct statx stx;
		const char *a = paths[u8(in) % NPATHS], *b = paths[u8(in) % NPATHS];
		switch (u8(in) % 4) {
		case 0: id = rk_prep_statx(ring, tmpdir_fd, a, 0, STATX_SIZE, &stx, flags); break;
		case 1: id = rk_prep_unlinkat(ring, tmpdir_fd, a, 0, flags); break;
		case 2: id = rk_prep_mkdirat(ring, tmpdir_fd, a, 0700, flags); break;
		default: id = rk_prep_renameat(ring, tmpdir_fd, a, tmpdir_fd, b, 0, flags); break;
		}
		if (prep_ok(id, 0, flags, 0, false))
			track(id, K_PLAIN, -1, 0, 0);
		break;
	}
	case 12:
	case 13: { /* recv from a group, one-shot or multishot */
		int group = 1 + u8(in) % NGROUPS;
		bool multi = u8(in) & 1;
		id = multi ? rk_prep_recv_multishot(ring, m.sock[0], (uint16_t)group, 0, flags)
		           : rk_prep_recv_select(ring, m.sock[0], (uint16_t)group, 0, 0, flags);
		int post = region_of_group(group) ? 0 : -ENOENT;
		if (prep_ok(id, 0, flags, post, false))
			track(id, multi ? K_MULTI_SELECT : K_SELECT, -1, 0, group);
		break;
	}
	case 14: { /* send / recv through the ring on the socketpair */
		bool send = u8(in) & 1;
		uint32_t len = 1 + u8(in) % 200;
		id = send ? rk_prep_send(ring, m.sock[1], buf[2], len, MSG_DONTWAIT, flags)
		          : rk_prep_recv(ring, m.sock[0], buf[3], len, 0, flags);
		if (prep_ok(id, 0, flags, 0, false))
			track(id, K_PLAIN, -1, 0, 0);
		break;
	}
	case 15: { /* close an fd an open op produced */
		if (!m.nowned)
			break;
		unsigned k = u8(in) % m.nowned;
		int fd = m.owned[k];
		id = rk_prep_close(ring, fd, flags & ~RK_FIXED_FILE);
		if (prep_ok(id, 0, flags & ~RK_FIXED_FILE, 0, false)) {
			m.owned[k] = m.owned[--m.nowned];
			track(id, K_CLOSE, -1, fd, 0);
		}
		break;
	}
	case 16: { /* fsync / fallocate / fadvise on the file */
		uint8_t k = u8(in) % 3;
		id = k == 0 ? rk_prep_fdatasync(ring, file_fd, 0, 0, flags)
		     : k == 1 ? rk_prep_fallocate(ring, file_fd, 0, 0, 4096, flags)
		              : rk_prep_fadvise(ring, file_fd, 0, 4096, POSIX_FADV_NORMAL, flags);
		if (prep_ok(id, 0, flags, 0, false))
			track(id, K_PLAIN, -1, 0, 0);
		break;
	}
	case 17: { /* sendmsg (maybe passing the pipe's read end) / recvmsg */
		static unsigned char mbuf[2][256];
		rk_iovec iov[2] = {{(uintptr_t)mbuf[0], 1 + u8(in) % 200},
		                   {(uintptr_t)mbuf[1], 1 + u8(in) % 56}};
		uint32_t niov = 1 + (u8(in) & 1);
		if (u8(in) & 1) {
			int32_t fds[1] = {m.pipe[0]};
			uint32_t nfds = u8(in) & 1;
			id = rk_prep_sendmsg(ring, m.sock[1], iov, niov, NULL, 0, fds, nfds,
			                     MSG_DONTWAIT, flags);
			if (prep_ok(id, 0, flags, 0, false))
				track(id, K_PLAIN, -1, 0, 0);
		} else {
			/* The result array is written when the completion is
			 * reaped: each op gets its own until then. */
			int k = 0;
			while (k < MAXCAP && msgout_used[k])
				k++;
			CHECK(k < MAXCAP);
			uint32_t cap = u8(in) % 3;
			id = rk_prep_recvmsg(ring, m.sock[0], iov, niov, NULL, 0, msgout[k], cap,
			                     MSG_CMSG_CLOEXEC, flags);
			if (prep_ok(id, 0, flags, 0, false)) {
				msgout_used[k] = true;
				track(id, K_RECVMSG, -1, k, 0);
			}
		}
		break;
	}
	case 18: { /* a message to this very ring: a record with a negative id */
		int64_t value = u8(in);
		id = rk_prep_msg_ring(ring, rk_ring_fd(ring), value, (int32_t)value * 3, flags);
		if (id == -EOPNOTSUPP)
			break;
		if (prep_ok(id, 0, flags, 0, false)) {
			track(id, K_PLAIN, -1, 0, 0);
			m.messages++;
		}
		break;
	}
	case 19: { /* zero-copy send: a result, then a notification */
		uint32_t len = 1 + u8(in) % 200;
		id = rk_prep_send_zc(ring, m.sock[1], buf[6], len, MSG_DONTWAIT, 0, flags);
		if (id == -EOPNOTSUPP)
			break;
		int pre = m.drained || (flags & RK_DRAIN) ? -EINVAL : 0;
		if (prep_ok(id, pre, flags, 0, false)) {
			m.zc_sent = true;
			track(id, K_MULTI, -1, 0, 0);
		}
		break;
	}
	default: { /* a batch of descriptors, some of them invalid */
		rk_op_desc d[8];
		int64_t ids[8];
		uint32_t n = 1 + u8(in) % 8;
		int expect_fail = -1; /* index of the first invalid descriptor */
		for (uint32_t i = 0; i < n; i++) {
			uint8_t k = u8(in) % 8;
			d[i] = (rk_op_desc){.op = RK_OP_NOP};
			if (k == 1)
				d[i] = (rk_op_desc){.op = RK_OP_READ, .fd = file_fd, .len = 512,
				                    .addr = (uintptr_t)buf[4]};
			else if (k == 2)
				d[i] = (rk_op_desc){.op = RK_OP_TIMEOUT, .off = 10000};
			else if (k == 3)
				d[i] = (rk_op_desc){.op = RK_OP_WRITE, .fd = file_fd, .len = 100,
				                    .off = 20000, .addr = (uintptr_t)buf[5]};
			else if (k == 6 && expect_fail < 0)
				d[i].reserved1 = 1, expect_fail = (int)i;
			else if (k == 7 && expect_fail < 0)
				d[i].op = 200, expect_fail = (int)i;
		}
		int r = rk_prep_batch(ring, d, n, ids);
		CHECK(r >= 0 && (uint32_t)r <= n);
		for (int i = 0; i < r; i++) {
			if (!prep_ok(ids[i], 0, 0, 0, false))
				FAIL("batch accepted op %d the model refused", i);
			track(ids[i], K_PLAIN, -1, 0, 0);
		}
		if ((uint32_t)r < n) {
			/* The one that stopped it: invalid, or the table was full. */
			CHECK(ids[r] < 0);
			CHECK(r == expect_fail || (ids[r] == -EBUSY && m.live == m.capacity));
		} else {
			CHECK(expect_fail < 0);
		}
		break;
	}
	}
}

/* ------------------------------------------------------------------------ */
/* Everything else                                                            */

static void reap(uint32_t max, uint32_t wait, int64_t timeout)
{
	rk_cqe c[64];
	int r = rk_reap(m.ring, c, max, wait, timeout);
	if (r == -EINTR) /* libFuzzer's own SIGALRM (-timeout) */
		return;
	if (r < 0)
		FAIL("rk_reap: %d (%s)", r, rk_strerror(r));
	CHECK((uint32_t)r <= max);
	for (int i = 0; i < r; i++)
		on_cqe(&c[i]);
}

static void create_ring(struct input *in)
{
	uint32_t entries = 1 + u8(in) % 16;
	uint8_t f = u8(in);
	uint32_t flags = 0;
	if (f & 1)
		flags |= RK_RING_SINGLE_ISSUER;
	if ((f & 6) == 2)
		flags |= RK_RING_DEFER_TASKRUN;
	if ((f & 6) == 4)
		flags |= RK_RING_COOP_TASKRUN;
	if (f == 0xf0)
		flags |= RK_RING_SQPOLL;
	uint32_t capacity = u8(in) % MAXCAP;
	int r = rk_ring_create_ex(entries, flags, 0, capacity, 10, &m.ring);
	if (r < 0) {
		/* capacity under the SQ is raised to it; over 4x entries is fine */
		FAIL("rk_ring_create_ex(%u, %#x, cap %u): %s", entries, flags, capacity,
		     rk_strerror(r));
	}
	uint64_t st[RK_STAT_COUNT];
	CHECK_EQ(rk_ring_stats(m.ring, st, RK_STAT_COUNT), RK_STAT_COUNT);
	m.capacity = (uint32_t)st[RK_STAT_CAPACITY];
	m.drained = m.zc_sent = false;
	m.sqpoll = flags & RK_RING_SQPOLL;
	m.sq_entries = (uint32_t)st[RK_STAT_SQ_ENTRIES];
	CHECK(m.capacity <= MAXCAP);
	m.chain_len = 0;
}

static void dump_live(void)
{
	for (uint32_t s = 0; s < MAXCAP; s++)
		if (m.ops[s].id != -1)
			fprintf(stderr, "  live: %llx kind %d (%s, flags %#x)\n",
			        (unsigned long long)m.ops[s].id, m.ops[s].kind, m.ops[s].what,
			        m.ops[s].flags);
}

static void close_ring(void)
{
	int r = rk_ring_close(m.ring);
	if (r < 0) {
		dump_live();
		FAIL("rk_ring_close: %s", rk_strerror(r));
	}
	model_closed();
}

static void region_step(struct input *in, uint8_t what)
{
	int ri = region_arg(in);
	struct mregion *r = &m.rg[ri];
	switch (what % 9) {
	case 0: { /* create */
		if (r->h)
			break;
		uint32_t csize = 64u << (u8(in) % 8);
		uint32_t n = 1 + u8(in) % MAXCHUNKS;
		uint32_t flags = u8(in) == 0xaa ? RK_REGION_LOCKED : 0;
		CHECK_EQ(rk_region_create(csize, n, flags, &r->h), 0);
		*r = (struct mregion){.h = r->h, .csize = csize, .n = n, .group = -1};
		break;
	}
	case 1: { /* destroy */
		if (!r->h)
			break;
		uint32_t pins = 0;
		for (uint32_t c = 0; c < r->n; c++)
			pins += r->pins[c];
		bool busy = pins || (r->registered && m.ring) || (r->group > 0 && m.ring);
		CHECK_EQ(rk_region_busy(r->h), busy);
		if (busy)
			break; /* destroying it would leave a zombie: tests/c/zombie_regions.c */
		CHECK_EQ(rk_region_destroy(r->h), 0);
		r->h = NULL;
		break;
	}
	case 2: { /* chunk alloc */
		if (!r->h)
			break;
		int32_t c = rk_chunk_alloc(r->h);
		uint32_t nfree = 0;
		for (uint32_t i = 0; i < r->n; i++)
			nfree += r->owner[i] == FREE;
		if (!nfree) {
			CHECK_EQ(c, -ENOBUFS);
			break;
		}
		CHECK(c >= 0 && (uint32_t)c < r->n);
		if (r->owner[c] != FREE)
			FAIL("chunk_alloc gave chunk %d, which is not free", c);
		r->owner[c] = CALLER;
		break;
	}
	case 3: { /* chunk free */
		if (!r->h)
			break;
		int32_t c = (int32_t)(u8(in) % (MAXCHUNKS + 2)) - 1;
		int expect = 0;
		if (c < 0 || (uint32_t)c >= r->n || r->owner[c] != CALLER)
			expect = -EINVAL;
		else if (r->pins[c])
			expect = -EBUSY;
		CHECK_EQ(rk_chunk_free(r->h, c), expect);
		if (!expect)
			r->owner[c] = FREE;
		break;
	}
	case 4: { /* register */
		if (!r->h || !m.ring)
			break;
		int ret = rk_ring_register_region(m.ring, r->h);
		if (ret == -ENOMEM) /* RLIMIT_MEMLOCK: stays usable unregistered */
			break;
		CHECK_EQ(ret, 0);
		r->registered = true;
		break;
	}
	case 5: { /* unregister */
		if (!r->h || !m.ring)
			break;
		uint32_t pins = 0;
		for (uint32_t c = 0; c < r->n; c++)
			pins += r->pins[c];
		int expect = !r->registered ? -ENOENT : pins ? -EBUSY : 0;
		CHECK_EQ(rk_ring_unregister_region(m.ring, r->h), expect);
		if (!expect)
			r->registered = false;
		break;
	}
	case 6: { /* provide as a group */
		if (!r->h || !m.ring)
			break;
		int group = 1 + u8(in) % NGROUPS;
		int expect = r->group > 0 ? -EBUSY : region_of_group(group) ? -EEXIST : 0;
		CHECK_EQ(rk_ring_provide_region(m.ring, r->h, (uint16_t)group), expect ? expect : group);
		if (!expect) {
			r->group = group;
			for (uint32_t c = 0; c < r->n; c++)
				if (r->owner[c] == FREE)
					r->owner[c] = KERNEL;
		}
		break;
	}
	case 7: { /* recycle */
		if (!r->h || !m.ring)
			break;
		int32_t c = (int32_t)(u8(in) % (MAXCHUNKS + 2)) - 1;
		int expect = 0;
		if (r->group <= 0)
			expect = -ENOENT;
		else if (c < 0 || (uint32_t)c >= r->n || r->owner[c] != CALLER)
			expect = -EINVAL;
		else if (r->pins[c])
			expect = -EBUSY;
		CHECK_EQ(rk_ring_recycle_chunk(m.ring, r->h, c), expect);
		if (!expect)
			r->owner[c] = KERNEL;
		break;
	}
	default: { /* unprovide */
		if (!r->h || !m.ring)
			break;
		int expect = r->group <= 0 ? -ENOENT : m.group_users[r->group - 1] ? -EBUSY : 0;
		CHECK_EQ(rk_ring_unprovide_region(m.ring, r->h), expect);
		if (!expect) {
			for (uint32_t c = 0; c < r->n; c++)
				if (r->owner[c] == KERNEL)
					r->owner[c] = FREE;
			r->group = -1;
		}
		break;
	}
	}
}

static void step(struct input *in)
{
	uint8_t op = u8(in);
	if (!m.ring) {
		if (op % 4 == 0)
			region_step(in, u8(in));
		else
			create_ring(in);
		return;
	}
	switch (op % 16) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
		prep_step(in, u8(in));
		break;
	case 5: {
		int r = rk_submit(m.ring);
		if (r < 0 && r != -EINTR)
			FAIL("rk_submit: %s", rk_strerror(r));
		break;
	}
	case 6:
	case 7: {
		uint8_t b = u8(in);
		reap(b % 65, (b >> 6) & 1, (b & 0x80) ? 1000000 : 0);
		break;
	}
	case 8: { /* cancel_sync any id, briefly */
		bool live;
		int64_t target = pick_target(in, &live);
		int r = rk_cancel_sync(m.ring, target, 1000000);
		if (!live && r != -ENOENT)
			FAIL("cancel_sync of a dead id returned %d", r);
		if (live && r != 0 && r != -ENOENT && r != -EALREADY && r != -ETIME && r != -EAGAIN &&
		    r != -EINTR)
			FAIL("cancel_sync returned %d (%s)", r, rk_strerror(r));
		break;
	}
	case 9: {
		int r = rk_ring_cancel_all(m.ring);
		CHECK(r >= 0 && (uint32_t)r <= m.live);
		m.chain_len = 0;
		break;
	}
	case 10: /* feed the pipe and the socket from outside */
		if (u8(in) & 1)
			(void)!write(m.pipe[1], "datadatadatadata", 1 + u8(in) % 16);
		else
			(void)!send(m.sock[1], "0123456789abcdef", 1 + u8(in) % 16, MSG_DONTWAIT);
		break;
	case 11:
	case 12:
		region_step(in, u8(in));
		break;
	case 13:
		if (u8(in) & 1) {
			int expect = m.eventfd ? -EBUSY : 0;
			CHECK_EQ(rk_ring_register_eventfd(m.ring, m.efd, 0), expect);
			m.eventfd = true;
		} else {
			CHECK_EQ(rk_ring_unregister_eventfd(m.ring), m.eventfd ? 0 : -ENXIO);
			m.eventfd = false;
		}
		break;
	case 14:
		if (u8(in) < 32)
			close_ring();
		break;
	default:
		break;
	}
}

/* Ends an input: settles or drops every op, closes the ring, gives every
 * chunk back, destroys the regions and checks that no fd is left. */
static void finish(int fds_before, bool settle)
{
	if (m.ring) {
		if (m.live && settle) {
			/* Half the time: see every op's completion first. An op
			 * the kernel issues only after a cancel_all (held back
			 * behind a DRAIN, or the next of a hard link) needs
			 * another: repeat it now and then, as a runtime would. */
			for (int i = 0; i < 200 && m.live; i++) {
				if (i % 10 == 0)
					rk_ring_cancel_all(m.ring);
				reap(64, 1, 5000000);
			}
			if (m.live) {
				dump_live();
				FAIL("%u ops never completed after cancel_all", m.live);
			}
		}
		close_ring();
	}
	for (int i = 0; i < NREGIONS; i++) {
		struct mregion *r = &m.rg[i];
		if (!r->h)
			continue;
		for (uint32_t c = 0; c < r->n; c++) {
			CHECK_EQ(r->pins[c], 0);
			if (r->owner[c] == CALLER)
				CHECK_EQ(rk_chunk_free(r->h, (int32_t)c), 0);
			else
				CHECK_EQ(r->owner[c], FREE);
		}
		CHECK_EQ(rk_region_chunks_free(r->h), r->n);
		CHECK_EQ(rk_region_destroy(r->h), 0);
		r->h = NULL;
	}
	for (unsigned i = 0; i < m.nowned; i++)
		close(m.owned[i]);
	m.nowned = 0;
	close(m.pipe[0]);
	close(m.pipe[1]);
	close(m.sock[0]);
	close(m.sock[1]);
	close(m.efd);
	int fds = count_fds();
	if (fds != fds_before)
		FAIL("%d fds leaked", fds - fds_before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup_once();
	trace = getenv("RK_FUZZ_TRACE") != NULL;
	int fds_before = count_fds();
	memset(&m, 0, sizeof(m));
	for (int i = 0; i < MAXCAP; i++)
		m.ops[i].id = -1;
	for (int i = 0; i < NREGIONS; i++)
		m.rg[i].group = -1;
	memset(msgout_used, 0, sizeof(msgout_used));
	CHECK(pipe2(m.pipe, O_CLOEXEC) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, m.sock) == 0);
	CHECK(fcntl(m.pipe[1], F_SETFL, O_NONBLOCK) == 0);
	m.efd = eventfd(0, EFD_CLOEXEC);
	CHECK(m.efd >= 0);
	struct input in = {data, size};
	for (int steps = 0; in.left && steps < 400; steps++) {
		step(&in);
		check_state();
	}
	finish(fds_before, size && (data[size - 1] & 1));
	return 0;
}
