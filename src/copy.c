/*
 * rk_prep_copy: a file-to-file copy run by the core as one op.
 *
 * A runtime crossing its FFI once per chunk pays for every crossing; here it
 * crosses once per copy. The copy is an engine that owns a few lanes, each
 * with a pipe (splice: file -> pipe -> file, the page cache copied once, as
 * copy_file_range does) or a buffer (read -> write; the reads with O_DIRECT
 * for a source out of the page cache, copy_direct.c). A lane carries one
 * range at a time through sub-ops: a read-side op, then the write-side ops
 * for what it got. Lanes run in parallel, so the backend's workers (io-wq,
 * or the fallback's threads) move several ranges at once.
 *
 * Sub-ops are ordinary ops in the op table (kind RK_KIND_COPY), so
 * everything the core does with ops (the overflow queue, both backends,
 * cancel, close) applies to them unchanged. Their completions never reach
 * the caller: both backends' completion paths hand them to rk__copy_cqe
 * before copying anything out. The copy's own op (state RK_OP_ENGINE) is
 * never in a backend; its one completion is written when the last sub-op
 * of the engine has come back.
 *
 * Slots: each lane keeps one slot for the copy's lifetime (neither free nor
 * live between its sub-ops), so a copy that starts can always go on; one
 * that cannot have 1 + lanes slots does not start (-EBUSY).
 *
 * Reads through buffers (read/write, direct reads): where the table has
 * room, the copy has one lane more than it reads in flight (its depth, the
 * lanes asked for). That lane preallocates alongside the first reads, not
 * before them as a splice copy does (the reads need no blocks, and a cold
 * fallocate waits on the disk too); then it carries ranges as the others
 * do. A lane that would read past the depth is parked, and goes on when a
 * read completes, so the disk's queue stays as deep as the lanes asked for
 * while one lane's bytes are written.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copy_direct.h"
#include "ids.h"

/* What one read or write may move (the kernel's MAX_RW_COUNT): a longer
 * len copies this much, as copy_file_range(2) does. */
#define COPY_MAX 0x7ffff000u
#define LANES_MAX 8
/* The choice when copy_flags leaves it to the core: doc/benchmarks.md,
 * "Copy (issue 18)", has the measurements behind it. */
#define DEFAULT_LANES 4
#define DEFAULT_CHUNK (1u << 20)
/* The same when the source is read with O_DIRECT (copy_direct.c): the
 * depth of the disk's queue is the lanes' reads in flight. */
#define DIRECT_LANES 8
#define DIRECT_CHUNK (1u << 20)

enum lane_phase { LANE_IDLE = 0, LANE_READ, LANE_DIRECT, LANE_WRITE, LANE_ALLOC };

struct lane {
	uint32_t slot;      /* its reserved slot */
	uint8_t phase;      /* enum lane_phase of the sub-op in flight (IDLE: none) */
	bool deferred;      /* its next sub-op waits for a chain being prepared */
	bool parked;        /* its next range waits for a read to complete */
	int pipe[2];
	unsigned char *buf;
	uint64_t cur, end;  /* source range still to read, relative to off_in */
	uint64_t wpos;      /* where the pending bytes go, relative to off_out */
	uint32_t pending;   /* bytes read, not yet written */
	uint32_t boff;      /* read/write mode: buffer offset of the pending bytes */
};

struct rk_copy {
	struct rk_copy *next, *prev; /* ring->copies */
	uint32_t parent;             /* the copy's own slot */
	int fd_in, fd_out;
	int64_t off_in, off_out;
	uint64_t len, assigned;      /* relative: bytes to copy, handed to lanes so far */
	uint64_t eof;                /* relative position of the first 0-byte read, or len */
	uint64_t copied;
	uint64_t prealloc;           /* bytes to fallocate at off_out, until it is queued */
	int32_t err;                 /* first error, or -ECANCELED */
	uint32_t chunk, nlanes, inflight;
	uint32_t depth, reading;     /* read-side sub-ops in flight: at most, now
	                              * (nlanes is depth, or one more: spare_lane) */
	int dfd;                     /* fd_in's file open with O_DIRECT, or -1 */
	uint32_t dalign;             /* the offset alignment dfd's reads need */
	uint64_t dend;               /* relative: where dfd's reads stop */
	unsigned char *dbuf;         /* with dfd: every lane's buffer, one block */
	uint8_t sqe_flags;           /* RK_ASYNC from the caller */
	bool splice;
	struct lane lanes[];
};

struct sub_ref {
	struct rk_copy *c;
	uint32_t lane;
};

/* Whether the copy has a lane more than its depth: that lane runs the
 * fallocate beside the first reads, instead of before them. */
static bool spare_lane(const struct rk_copy *c)
{
	return c->nlanes > c->depth;
}

static uint32_t default_lanes(uint64_t len, uint32_t chunk, uint32_t lanes)
{
	uint64_t need = (len + chunk - 1) / chunk;
	return need < lanes ? (uint32_t)need : lanes;
}

/* Free slots of the table, counted up to upto. */
static uint32_t free_slots(const rk_ring *ring, uint32_t upto)
{
	uint32_t n = 0;
	for (uint32_t s = ring->free_head; s != RK_NONE && n < upto; s = ring->ops[s].next)
		n++;
	return n;
}

static void engine_free(struct rk_copy *c)
{
	for (uint32_t i = 0; i < c->nlanes; i++) {
		struct lane *l = &c->lanes[i];
		if (l->pipe[0] >= 0)
			close(l->pipe[0]);
		if (l->pipe[1] >= 0)
			close(l->pipe[1]);
		if (!c->dbuf)
			free(l->buf);
	}
	if (c->dfd >= 0)
		close(c->dfd);
	free(c->dbuf);
	free(c);
}

static void unlink_engine(rk_ring *ring, struct rk_copy *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		ring->copies = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

/* A lane's slot between sub-ops: retired (its id stale), on no list. */
static void retire_sub(rk_ring *ring, struct rk_op *op)
{
	if (op->state == RK_OP_KERNEL)
		ring->in_kernel--;
	op->state = RK_OP_FREE;
	op->gen = (op->gen + 1) & RK_GEN_MASK;
	op->kind = RK_KIND_PLAIN;
	op->next = RK_NONE;
	ring->live--;
}

static void give_back(rk_ring *ring, uint32_t slot)
{
	struct rk_op *op = &ring->ops[slot];
	op->kind = RK_KIND_PLAIN;
	op->next = ring->free_head;
	ring->free_head = slot;
}

/* Where a read of *n bytes at cur goes: the O_DIRECT descriptor for the
 * aligned part before dend, fd_in for the rest (the range's unaligned head
 * and tail, the file's last partial block, the rest of a short read); *n is
 * cut to the part. */
static int read_fd(const struct rk_copy *c, uint64_t cur, uint32_t *n)
{
	if (c->dfd < 0 || cur >= c->dend)
		return c->fd_in;
	uint32_t mis = (uint32_t)((uint64_t)c->off_in + cur) & (c->dalign - 1);
	if (mis) {
		if (*n > c->dalign - mis)
			*n = c->dalign - mis;
		return c->fd_in;
	}
	if (*n > c->dend - cur)
		*n = (uint32_t)(c->dend - cur);
	if (*n < c->dalign)
		return c->fd_in;
	*n &= ~(c->dalign - 1);
	return c->dfd;
}

/* Queues lane i's next sub-op: the read side when nothing is pending, else
 * the write side for the pending bytes. */
static void queue_sub(rk_ring *ring, struct rk_copy *c, uint32_t i)
{
	struct lane *l = &c->lanes[i];
	if (ring->chain_len) {
		/* The caller is between the ops of a linked chain: a sub-op
		 * queued now would join it. rk__copy_kick queues it later. */
		l->deferred = true;
		return;
	}
	l->deferred = false;
	struct rk_op *op = &ring->ops[l->slot];
	struct io_uring_sqe *sqe = rk__op_sqe(ring, op);
	if (c->prealloc && i == c->nlanes - 1) {
		/* Blocks allocated in one call, ahead of the writes, spare each
		 * write the filesystem's per-block reservation (ext4's delayed
		 * allocation); KEEP_SIZE leaves the size to the writes, so a
		 * copy that ends early leaves the file as long as what it
		 * wrote. Beside the first reads, a write that comes before it
		 * (a read faster than a cold fallocate) is only done the slow
		 * way. Always the last lane: the one the reads can spare. */
		io_uring_prep_fallocate(sqe, c->fd_out, FALLOC_FL_KEEP_SIZE, (off_t)c->off_out,
		                        (off_t)c->prealloc);
		c->prealloc = 0;
		l->phase = LANE_ALLOC;
	} else if (l->pending == 0) {
		uint32_t n = (uint32_t)(l->end - l->cur);
		int64_t src = c->off_in + (int64_t)l->cur;
		if (c->splice) {
			io_uring_prep_splice(sqe, c->fd_in, src, l->pipe[1], -1, n, 0);
			l->phase = LANE_READ;
		} else {
			int fd = read_fd(c, l->cur, &n);
			io_uring_prep_read(sqe, fd, l->buf, n, (uint64_t)src);
			l->phase = fd == c->fd_in ? LANE_READ : LANE_DIRECT;
		}
		c->reading++;
	} else {
		int64_t dst = c->off_out + (int64_t)l->wpos;
		if (c->splice)
			io_uring_prep_splice(sqe, l->pipe[0], -1, c->fd_out, dst, l->pending, 0);
		else
			io_uring_prep_write(sqe, c->fd_out, l->buf + l->boff, l->pending, (uint64_t)dst);
		l->phase = LANE_WRITE;
	}
	op->kind = RK_KIND_COPY;
	struct sub_ref ref = {c, i};
	memcpy(op->inl, &ref, sizeof(ref));
	rk__op_commit(ring, op, sqe, c->sqe_flags);
	c->inflight++;
}

/* Gives lane i its next range, parks it while depth reads are in flight,
 * or leaves it idle when no range is left. */
static void next_range(rk_ring *ring, struct rk_copy *c, uint32_t i)
{
	struct lane *l = &c->lanes[i];
	uint64_t limit = c->eof;
	l->phase = LANE_IDLE;
	l->parked = false;
	if (c->err || c->assigned >= limit)
		return;
	if (c->reading >= c->depth) {
		/* Its range is taken when it reads: ranges go to the disk in
		 * the order of the file. */
		l->parked = true;
		return;
	}
	l->cur = c->assigned;
	uint64_t end = l->cur + c->chunk;
	if (c->dfd >= 0) /* ranges on the file's chunk boundaries: aligned reads */
		end -= (uint64_t)(c->off_in + (int64_t)end) & (c->chunk - 1);
	l->end = end < limit ? end : limit;
	c->assigned = l->end;
	queue_sub(ring, c, i);
}

/* Parked lanes go on while the reads in flight are fewer than the depth
 * (or go idle, once no range is left). */
static void unpark(rk_ring *ring, struct rk_copy *c)
{
	for (uint32_t i = 0; i < c->nlanes && c->reading < c->depth; i++)
		if (c->lanes[i].parked)
			next_range(ring, c, i);
}

/* The copy's one completion: into out when a completion path is copying
 * records (returns 1), else a local completion rk_reap delivers. When the
 * ring is closing nobody will see it. */
static int finish(rk_ring *ring, struct rk_copy *c, rk_cqe *out)
{
	struct rk_op *parent = &ring->ops[c->parent];
	int32_t res = c->err ? c->err : (int32_t)c->copied;
	for (uint32_t i = 0; i < c->nlanes; i++)
		give_back(ring, c->lanes[i].slot);
	unlink_engine(ring, c);
	engine_free(c);
	if (ring->discarding) {
		rk__op_release(ring, parent);
		return 0;
	}
	if (!out) {
		rk__op_complete_local(ring, parent, res);
		return 0;
	}
	out->id = rk__op_id(ring, parent);
	out->res = res;
	out->flags = 0;
	ring->total_completed++;
	rk__op_release(ring, parent);
	return 1;
}

int rk__copy_cqe(rk_ring *ring, struct rk_op *op, int32_t res, rk_cqe *out)
{
	struct sub_ref ref;
	memcpy(&ref, op->inl, sizeof(ref));
	struct rk_copy *c = ref.c;
	struct lane *l = &c->lanes[ref.lane];
	uint8_t phase = l->phase;
	retire_sub(ring, op);
	c->inflight--;
	l->phase = LANE_IDLE;
	if (phase == LANE_READ || phase == LANE_DIRECT)
		c->reading--;

	if (phase == LANE_ALLOC) {
		/* Preallocation only spares the writes work: failed or not
		 * (a filesystem without fallocate), the lanes start now, or
		 * this one joins those that started beside it. */
		if (!c->err && !ring->discarding)
			for (uint32_t i = 0; i < c->nlanes; i++)
				if (!spare_lane(c) || i == ref.lane)
					next_range(ring, c, i);
		goto settled;
	}
	if (phase == LANE_DIRECT && res == -EINVAL && !c->err) {
		/* A direct read the file refuses after all (a size that
		 * changed, a filesystem's own rule): this one and the rest
		 * read through fd_in. */
		c->dend = 0;
		res = 0;
		phase = LANE_IDLE;
	}
	if (res < 0 && !c->err)
		c->err = res;
	if (!c->err && (phase == LANE_READ || phase == LANE_DIRECT)) {
		if (res == 0) {
			/* End of file: no lane reads past here. */
			if (l->cur < c->eof)
				c->eof = l->cur;
		} else {
			l->pending = (uint32_t)res;
			l->wpos = l->cur;
			l->boff = 0;
			l->cur += (uint32_t)res;
		}
	} else if (!c->err && phase == LANE_WRITE) {
		if (res == 0) {
			c->err = -EIO; /* a file that takes nothing would never end */
		} else {
			c->copied += (uint32_t)res;
			l->pending -= (uint32_t)res;
			l->wpos += (uint32_t)res;
			l->boff += (uint32_t)res;
		}
	}
	if (!c->err && !ring->discarding) {
		if (l->pending || l->cur < (l->end < c->eof ? l->end : c->eof))
			queue_sub(ring, c, ref.lane);
		else
			next_range(ring, c, ref.lane);
		unpark(ring, c);
	}
settled:
	if (c->inflight > 0)
		return 0;
	bool waiting = false;
	for (uint32_t i = 0; i < c->nlanes; i++)
		waiting |= c->lanes[i].deferred;
	return waiting && !c->err && !ring->discarding ? 0 : finish(ring, c, out);
}

void rk__copy_kick(rk_ring *ring)
{
	if (ring->chain_len || ring->discarding)
		return;
	for (struct rk_copy *c = ring->copies; c; c = c->next)
		for (uint32_t i = 0; i < c->nlanes; i++)
			if (c->lanes[i].deferred)
				queue_sub(ring, c, i);
	/* Sub-ops queued while completions were drained, or just now: with
	 * nothing queued this is no syscall. */
	ring->be->submit(ring, false);
}

int rk__copy_cancel(rk_ring *ring, struct rk_op *parent, int64_t timeout_ns)
{
	struct rk_copy *c;
	memcpy(&c, parent->inl, sizeof(c));
	if (!c->err)
		c->err = -ECANCELED;
	for (uint32_t i = 0; i < c->nlanes; i++) {
		struct lane *l = &c->lanes[i];
		l->deferred = false;
		if (l->phase == LANE_IDLE)
			continue;
		struct rk_op *op = &ring->ops[l->slot];
		/* Cancelled or not, its completion comes back through the
		 * engine, which then sees err and goes no further. */
		ring->be->cancel_sync(ring, op, rk__op_id(ring, op), timeout_ns);
	}
	if (c->inflight == 0)
		finish(ring, c, NULL);
	return 0;
}

void rk__copy_cancel_all(rk_ring *ring)
{
	for (struct rk_copy *c = ring->copies; c; c = c->next) {
		if (!c->err)
			c->err = -ECANCELED;
		for (uint32_t i = 0; i < c->nlanes; i++)
			c->lanes[i].deferred = false;
	}
	for (struct rk_copy *c = ring->copies, *next; c; c = next) {
		next = c->next;
		if (c->inflight == 0)
			finish(ring, c, NULL);
	}
}

void rk__copy_free_all(rk_ring *ring)
{
	while (ring->copies) {
		struct rk_copy *c = ring->copies;
		ring->copies = c->next;
		engine_free(c);
	}
}

/* The file an end of the copy names: a regular file (or block device) open
 * for reading (input) or writing (output), not appending. */
static int check_end(int fd, bool output, struct stat *st)
{
	if (fstat(fd, st) < 0)
		return -errno;
	if (S_ISDIR(st->st_mode))
		return -EISDIR;
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode))
		return -ESPIPE; /* offsets are required: no pipes, sockets, ttys */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	int acc = fl & O_ACCMODE;
	if (output ? acc == O_RDONLY : acc == O_WRONLY)
		return -EBADF;
	if (output && (fl & O_APPEND))
		return -EINVAL;
	return 0;
}

static int make_lane(struct lane *l, bool splice, uint32_t *chunk)
{
	if (!splice) {
		l->buf = aligned_alloc(4096, *chunk);
		return l->buf ? 0 : -ENOMEM;
	}
	if (pipe2(l->pipe, O_CLOEXEC) < 0)
		return -errno;
	/* A pipe as large as a chunk moves it in one splice each way; the
	 * pipe's own size (a sysctl limits it) makes a smaller chunk. */
	int got = fcntl(l->pipe[1], F_SETPIPE_SZ, (int)*chunk);
	if (got < 0)
		got = fcntl(l->pipe[1], F_GETPIPE_SZ);
	if (got > 0 && (uint32_t)got < *chunk)
		*chunk = (uint32_t)got;
	return 0;
}

/* What to preallocate at off_out: the bytes the source has for this copy,
 * when they make the destination (a regular file) longer and are more than
 * one chunk (a shorter copy would pay a round trip to save little). */
static uint64_t prealloc_len(const struct rk_copy *c, const struct stat *si, const struct stat *so,
                             uint32_t copy_flags, bool can_fallocate)
{
	if ((copy_flags & RK_COPY_NO_PREALLOC) || !can_fallocate || !S_ISREG(si->st_mode) ||
	    !S_ISREG(so->st_mode) || si->st_size <= c->off_in)
		return 0;
	uint64_t n = (uint64_t)(si->st_size - c->off_in);
	if (n > c->len)
		n = c->len;
	if (n <= c->chunk || (uint64_t)c->off_out + n <= (uint64_t)so->st_size)
		return 0;
	return n;
}

int64_t rk_prep_copy(rk_ring *ring, int fd_in, int64_t off_in, int fd_out, int64_t off_out,
                     uint64_t len, uint32_t copy_flags, uint32_t flags)
{
	if (!ring)
		return -EINVAL;
	if (fd_in < 0 || fd_out < 0)
		return -EBADF;
	if (off_in < 0 || off_out < 0 || (flags & ~RK_ASYNC) ||
	    (copy_flags & ~(RK_COPY_SPLICE | RK_COPY_READ_WRITE | RK_COPY_NO_PREALLOC |
	                    RK_COPY_DIRECT | RK_COPY_NO_DIRECT | RK_COPY_LANES_MASK |
	                    RK_COPY_CHUNK_MASK)) ||
	    (copy_flags & RK_COPY_SPLICE && copy_flags & RK_COPY_READ_WRITE) ||
	    (copy_flags & RK_COPY_DIRECT && copy_flags & (RK_COPY_SPLICE | RK_COPY_NO_DIRECT)))
		return -EINVAL;
	int err = rk__check_ring(ring);
	if (err)
		return err;
	if (ring->chain_len)
		return -EINVAL; /* no SQE of its own to link: see rk_prep_copy */
	if (len > COPY_MAX)
		len = COPY_MAX;
	if ((uint64_t)INT64_MAX - (uint64_t)off_in < len ||
	    (uint64_t)INT64_MAX - (uint64_t)off_out < len)
		return -EINVAL;
	struct stat si, so;
	if ((err = check_end(fd_in, false, &si)) < 0 || (err = check_end(fd_out, true, &so)) < 0)
		return err;
	/* copy_file_range's rule: a file may copy onto itself, not onto an
	 * overlapping range. */
	if (si.st_dev == so.st_dev && si.st_ino == so.st_ino &&
	    (uint64_t)off_in < (uint64_t)off_out + len && (uint64_t)off_out < (uint64_t)off_in + len)
		return -EINVAL;

	if (copy_flags & RK_COPY_SPLICE && !ring->probe[IORING_OP_SPLICE])
		return -EOPNOTSUPP;
	uint32_t shift = (copy_flags & RK_COPY_CHUNK_MASK) >> RK_COPY_CHUNK_SHIFT;
	uint32_t chunk = shift ? 1u << (shift < 12 ? 12 : shift > 24 ? 24 : shift) : 0;
	/* Direct reads when asked for, or when no strategy is named and the
	 * source is mostly not in the page cache (copy_direct.c). */
	struct rk_direct_align da = {0, 0};
	int dfd = -1;
	if (len && ((copy_flags & RK_COPY_DIRECT) ||
	            !(copy_flags & (RK_COPY_SPLICE | RK_COPY_READ_WRITE | RK_COPY_NO_DIRECT))))
		dfd = rk__copy_direct_open(fd_in, &si, off_in, len, copy_flags & RK_COPY_DIRECT,
		                           chunk ? chunk : DIRECT_CHUNK, &da);
	if (!chunk)
		chunk = dfd >= 0 ? DIRECT_CHUNK : DEFAULT_CHUNK;
	bool splice = dfd < 0 && !(copy_flags & RK_COPY_READ_WRITE) &&
	              ring->probe[IORING_OP_SPLICE];
	uint32_t nlanes = (copy_flags & RK_COPY_LANES_MASK) >> RK_COPY_LANES_SHIFT;
	if (nlanes > LANES_MAX)
		nlanes = LANES_MAX;
	if (nlanes == 0) {
		nlanes = default_lanes(len, chunk, dfd >= 0 ? DIRECT_LANES : DEFAULT_LANES);
		/* More lanes only where the table has room: a copy that would
		 * start without direct reads starts with them. */
		if (nlanes > DEFAULT_LANES && free_slots(ring, nlanes + 1) < nlanes + 1)
			nlanes = DEFAULT_LANES;
	}
	if (len == 0)
		nlanes = 0;
	/* Reading through buffers: one lane more than reads in flight, where
	 * the table has room (see the top of this file). */
	uint32_t depth = nlanes;
	if (!splice && nlanes && free_slots(ring, nlanes + 2) == nlanes + 2)
		nlanes++;

	/* The copy's slot and its lanes', all or none. */
	struct rk_op *parent;
	struct io_uring_sqe *unused;
	int64_t ret = rk__op_begin(ring, RK_OP_COPY, 0, &parent, &unused);
	if (ret < 0) {
		if (dfd >= 0)
			close(dfd);
		return ret;
	}
	if (len == 0)
		return rk__op_commit_local(ring, parent, 0);
	struct rk_copy *c = calloc(1, sizeof(*c) + nlanes * sizeof(struct lane));
	if (!c) {
		if (dfd >= 0)
			close(dfd);
		rk__op_abort(ring, parent);
		return -ENOMEM;
	}
	c->dfd = dfd;
	if (dfd >= 0) {
		/* Direct reads up to the file's last whole block: the rest is
		 * read through fd_in, as O_DIRECT at an unaligned end of file
		 * is each filesystem's own affair. */
		uint64_t whole = (uint64_t)si.st_size & ~(uint64_t)(da.off - 1);
		c->dalign = da.off;
		c->dend = whole > (uint64_t)off_in ? whole - (uint64_t)off_in : 0;
		if (!(c->dbuf = rk__copy_direct_buffers((size_t)nlanes * chunk, da.mem))) {
			engine_free(c);
			rk__op_abort(ring, parent);
			return -ENOMEM;
		}
	}
	c->fd_in = fd_in;
	c->fd_out = fd_out;
	c->off_in = off_in;
	c->off_out = off_out;
	c->len = c->eof = len;
	c->sqe_flags = (uint8_t)flags;
	c->splice = splice;
	c->parent = parent->slot;
	for (uint32_t i = 0; i < nlanes; i++) {
		c->lanes[i].pipe[0] = c->lanes[i].pipe[1] = -1;
		c->lanes[i].slot = RK_NONE;
	}
	c->nlanes = nlanes;
	err = 0;
	for (uint32_t i = 0; i < nlanes && !err; i++) {
		if (ring->free_head == RK_NONE) {
			err = -EBUSY;
			break;
		}
		c->lanes[i].slot = ring->free_head;
		ring->free_head = ring->ops[ring->free_head].next;
		ring->ops[c->lanes[i].slot].next = RK_NONE;
		if (dfd >= 0)
			c->lanes[i].buf = c->dbuf + (size_t)i * chunk;
		else
			err = make_lane(&c->lanes[i], splice, &chunk);
	}
	if (err) {
		for (uint32_t i = nlanes; i-- > 0;)
			if (c->lanes[i].slot != RK_NONE)
				give_back(ring, c->lanes[i].slot);
		engine_free(c);
		rk__op_abort(ring, parent);
		return err;
	}
	c->chunk = chunk;
	c->depth = depth;
	c->prealloc = prealloc_len(c, &si, &so, copy_flags, ring->probe[IORING_OP_FALLOCATE]);

	memcpy(parent->inl, &c, sizeof(c));
	parent->state = RK_OP_ENGINE;
	ring->live++;
	c->next = ring->copies;
	if (c->next)
		c->next->prev = c;
	ring->copies = c;
	/* The reads first: they are what the copy waits for. */
	for (uint32_t i = 0; i < nlanes; i++)
		if (c->prealloc && i == nlanes - 1)
			queue_sub(ring, c, i);
		else if (!c->prealloc || spare_lane(c))
			next_range(ring, c, i);
	return rk__op_id(ring, parent);
}
