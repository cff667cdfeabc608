/*
 * The fallback's calls: one per opcode (the socket ones in net.c), reading
 * the op record (the SQE the prep wrote, in the io_uring layout liburing's
 * prep helpers define) and returning a verdict for core.c: a result, more
 * results to come, "wait for readiness", or "needs a worker".
 *
 * The rule that keeps the non-blocking threads non-blocking: off a worker
 * (may_block false) every call is made so that it cannot wait — MSG_DONTWAIT
 * on sockets, RWF_NOWAIT on files, SPLICE_F_NONBLOCK on pipes, a zero-timeout
 * poll before accept on a blocking listener, O_NONBLOCK around connect —
 * and "it would block" becomes FB_WAIT (a pollable descriptor) or FB_PUNT
 * (a regular file: its page cache misses block no matter what).
 *
 * Results keep the kernel's meaning: bytes, a new fd, 0, or -errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <linux/stat.h>
#include <poll.h>
#include <stdio.h> /* renameat2 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fb.h"

/* The RWF_* bits Linux 6.18 knows: HIPRI, DSYNC, SYNC, NOWAIT, APPEND,
 * NOAPPEND, ATOMIC, DONTCACHE, NOSIGNAL. A kernel that knows fewer refuses
 * the rest itself (-EOPNOTSUPP), as io_uring does. */
#define RK_RWF_KNOWN 0x1ffu
#define RWF_ATOMIC_BIT 0x40u
#define RWF_DONTCACHE_BIT 0x80u

/* Regular files and block devices never report readiness: a call that
 * would block on them needs a worker. */
static bool is_regular(struct fb_op *x, int fd)
{
	if (!x->regular) {
		struct stat st;
		x->regular = fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) ||
		                                     S_ISDIR(st.st_mode))
		                     ? 1
		                     : 2;
	}
	return x->regular == 1;
}

/* The iovecs still to move after x->done bytes: the op's own array, or
 * after a partial call a trimmed copy in `room`. */
static int remaining(struct fb_op *x, const struct io_uring_sqe *sqe, bool vec, struct iovec *room,
                     struct iovec **iov)
{
	if (!vec) {
		room->iov_base = (char *)PTR(sqe->addr) + x->done;
		room->iov_len = sqe->len - (size_t)x->done;
		*iov = room;
		return 1;
	}
	struct iovec *v = PTR(sqe->addr);
	int n = (int)sqe->len;
	if (!x->done) {
		*iov = v;
		return n;
	}
	uint64_t skip = (uint64_t)x->done;
	while (n > 0 && skip >= v->iov_len) {
		skip -= v->iov_len;
		v++;
		n--;
	}
	for (int i = 0; i < n; i++)
		room[i] = v[i];
	if (n > 0) {
		room[0].iov_base = (char *)room[0].iov_base + skip;
		room[0].iov_len -= skip;
	}
	*iov = room;
	return n;
}

static ssize_t rw_call(bool write, int fd, const struct iovec *iov, int n, off_t off, int rwf)
{
	ssize_t r;
	do
		r = write ? pwritev2(fd, iov, n, off, rwf) : preadv2(fd, iov, n, off, rwf);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == ESPIPE && off != -1) /* a pipe or socket given an offset */
		return rw_call(write, fd, iov, n, -1, rwf);
	return r;
}

/* read, write, readv, writev and the fixed-buffer forms. A partial NOWAIT
 * read of a regular file (part of it cached) goes on in a worker, as
 * io_uring's io-wq would finish it. */
static struct fb_result rw(struct fb_op *x, const struct io_uring_sqe *sqe, bool write, bool vec,
                           int kind)
{
	bool may_block = kind == FB_WORKER;
	int fd = x->fd;
	int rwf = sqe->rw_flags;
	/* As io_uring's kiocb_set_rw_flags, before any try: unknown bits
	 * -EOPNOTSUPP (so they are never taken for a file without RWF_NOWAIT),
	 * RWF_HIPRI -EINVAL on a ring without IOPOLL (ringkit has none). */
	if (rwf & ~RK_RWF_KNOWN)
		return final(-EOPNOTSUPP);
	if (rwf & RWF_HIPRI)
		return final(-EINVAL);
	bool user_nowait = rwf & RWF_NOWAIT;
	struct iovec room[RK_IOV_MAX], *iov;
	int n = remaining(x, sqe, vec, room, &iov);
	uint64_t want = 0;
	for (int i = 0; i < n; i++)
		want += iov[i].iov_len;
	off_t off = sqe->off == UINT64_MAX ? -1 : (off_t)(sqe->off + (uint64_t)x->done);

	bool blocking = may_block && is_regular(x, fd);
	ssize_t r = rw_call(write, fd, iov, n, off, blocking ? rwf : rwf | RWF_NOWAIT);
	if (r >= 0) {
		x->done += r;
		if (!blocking && r > 0 && (uint64_t)r < want && !user_nowait && is_regular(x, fd))
			return punt(); /* partly cached: a worker moves the rest */
		return final((int32_t)x->done);
	}
	int err = errno;
	if (x->done > 0)
		return final((int32_t)x->done);
	if (err == EAGAIN) {
		if (user_nowait)
			return final(-EAGAIN);
		if (is_regular(x, fd))
			return punt();
		return wait_for(x, fd, write ? POLLOUT : POLLIN);
	}
	/* Refused by the flags, not for a missing RWF_NOWAIT: a read with
	 * RWF_ATOMIC, or RWF_DONTCACHE, which only some filesystems' files
	 * take (kiocb_set_rw_flags answers -EOPNOTSUPP for both at once). */
	if (err == EOPNOTSUPP && !is_regular(x, fd) &&
	    ((rwf & RWF_DONTCACHE_BIT) || (!write && (rwf & RWF_ATOMIC_BIT))))
		return final(-EOPNOTSUPP);
	if (err == EOPNOTSUPP && !blocking) {
		/* No RWF_NOWAIT here (a named FIFO, a tty, some devices): a worker
		 * for files; for the rest readiness, then the plain call on the
		 * service thread only, the ring's one consumer, so that no other
		 * of its calls takes the data in between. A write is cut to what
		 * readiness promises (PIPE_BUF) so it cannot block either. */
		if (is_regular(x, fd))
			return punt();
		if (kind != FB_SERVICE || !ready_now(fd, write ? POLLOUT : POLLIN))
			return wait_for(x, fd, write ? POLLOUT : POLLIN);
		if (write && want > PIPE_BUF) {
			room[0] = iov[0];
			if (room[0].iov_len > PIPE_BUF)
				room[0].iov_len = PIPE_BUF;
			iov = room;
			n = 1;
		}
		r = rw_call(write, fd, iov, n, off, rwf);
		if (r < 0)
			return final_err();
		x->done += r;
		return final((int32_t)x->done);
	}
	return final(-err);
}

static struct fb_result poll_op(struct fb_op *x, const struct io_uring_sqe *sqe)
{
	uint32_t events = rk__fb_poll_events(sqe);
	struct pollfd p = {.fd = x->fd, .events = (short)events};
	int r = poll(&p, 1, 0);
	if (r < 0)
		return final_err();
	if (p.revents & POLLNVAL)
		return final(-EBADF); /* the kernel resolves the file first */
	if (r == 0)
		return wait_for(x, x->fd, events);
	return final(p.revents & (int32_t)(events | POLLERR | POLLHUP | POLLNVAL));
}

/* A socket end of a splice: SPLICE_F_NONBLOCK covers only the pipe ends,
 * so a call on a socket that is not ready would block the worker where
 * nothing can interrupt it (io_uring's cancel can). A listening socket
 * fails at once (-ENOTCONN), as anything else that cannot splice does. */
static bool blocking_end(int fd, short events)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	int listening = 0;
	socklen_t len = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || listening)
		return false;
	return !ready_now(fd, events);
}

/* splice and tee with SPLICE_F_NONBLOCK: a pipe end that is not ready is
 * waited for, the input first; so is a socket or device end. */
static struct fb_result splice_op(struct fb_op *x, const struct io_uring_sqe *sqe, bool tee_op)
{
	if (!tee_op && blocking_end(x->fd_in, POLLIN))
		return wait_for(x, x->fd_in, POLLIN);
	if (!tee_op && blocking_end(x->fd, POLLOUT))
		return wait_for(x, x->fd, POLLOUT);
	unsigned flags = (sqe->splice_flags & ~SPLICE_F_FD_IN_FIXED) | SPLICE_F_NONBLOCK;
	loff_t in_off = (loff_t)sqe->splice_off_in, out_off = (loff_t)sqe->off;
	loff_t *pin = sqe->splice_off_in == UINT64_MAX || tee_op ? NULL : &in_off;
	loff_t *pout = sqe->off == UINT64_MAX || tee_op ? NULL : &out_off;
	ssize_t r;
	do
		r = tee_op ? tee(x->fd_in, x->fd, sqe->len, flags)
		           : splice(x->fd_in, pin, x->fd, pout, sqe->len, flags);
	while (r < 0 && errno == EINTR);
	if (r >= 0)
		return final((int32_t)r);
	if (errno != EAGAIN || (sqe->splice_flags & SPLICE_F_NONBLOCK))
		return final_err();
	if (!ready_now(x->fd_in, POLLIN))
		return wait_for(x, x->fd_in, POLLIN);
	return wait_for(x, x->fd, POLLOUT);
}

/* openat and openat2 as io_uring makes them: first with O_NONBLOCK (and
 * only cached lookups, for openat2's RESOLVE_CACHED), which it then clears,
 * unless O_CREAT, O_TRUNC or O_TMPFILE make that pointless; the plain call
 * only when that one answers -EAGAIN. So a FIFO opened for reading does not
 * wait for a writer, and one opened for writing without a reader fails with
 * -ENXIO, on both backends. */
static struct fb_result open_op(rk_ring *ring, const struct io_uring_sqe *sqe,
                                const struct open_how *user, bool two)
{
	struct open_how how = *user;
	if (sqe->file_index && (how.flags & O_CLOEXEC))
		return final(-EINVAL);
	if (sqe->file_index)
		how.flags |= O_CLOEXEC;
	how.flags |= O_LARGEFILE;
	bool user_nonblock = how.flags & O_NONBLOCK;
	int fd = -1;
	if (!(how.flags & (O_CREAT | O_TRUNC | __O_TMPFILE))) {
		struct open_how nb = how;
		nb.flags |= O_NONBLOCK;
		fd = two ? (int)syscall(SYS_openat2, sqe->fd, PTR(sqe->addr), &nb, sizeof(nb))
		         : openat(sqe->fd, PTR(sqe->addr), (int)nb.flags, (mode_t)nb.mode);
		if (fd >= 0 && !user_nonblock)
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		if (fd >= 0 || errno != EAGAIN)
			return rk__fb_new_fd(ring, sqe, fd);
	}
	fd = two ? (int)syscall(SYS_openat2, sqe->fd, PTR(sqe->addr), &how, sizeof(how))
	         : openat(sqe->fd, PTR(sqe->addr), (int)how.flags, (mode_t)how.mode);
	return rk__fb_new_fd(ring, sqe, fd);
}

/* The kernel's close refuses an io_uring's fd (-EBADF): here that is an
 * io_uring and the descriptors this ring made for itself at creation. (A
 * fallback ring's fd never gets here: rk_prep_close turned it into -1.)
 * No registry look-up: the caller's thread holds fb->mu through the close
 * and the posting of its completion, so that an accept cannot hand out the
 * freed number and post before it, which io_uring never does either. */
static bool refused_close(rk_ring *ring, int fd)
{
	struct rk_fb *fb = ring->fb;
	return fd == ring->fd || fd == fb->epfd || fd == fb->kickfd || rk__fb_sys_is_uring(fd);
}

static struct fb_result close_op(rk_ring *ring, const struct io_uring_sqe *sqe)
{
	if (!sqe->file_index) {
		if (refused_close(ring, sqe->fd))
			return final(-EBADF);
		return final(close(sqe->fd) < 0 && errno != EINTR ? -errno : 0);
	}
	struct rk_fb *fb = ring->fb;
	uint32_t i = sqe->file_index - 1;
	int fd = -1;
	pthread_mutex_lock(&fb->mu);
	if (i < ring->nfiles) {
		fd = fb->files[i];
		fb->files[i] = -1;
	}
	pthread_mutex_unlock(&fb->mu);
	if (fd < 0)
		return final(i < ring->nfiles ? -EBADF : -EINVAL);
	close(fd);
	return final(0);
}

static struct fb_result fd_install(rk_ring *ring, const struct io_uring_sqe *sqe)
{
	struct rk_fb *fb = ring->fb;
	uint32_t i = (uint32_t)sqe->fd;
	int cmd = (sqe->rw_flags & RK_FIXED_FD_NO_CLOEXEC) ? F_DUPFD : F_DUPFD_CLOEXEC;
	int32_t res;
	pthread_mutex_lock(&fb->mu);
	if (i >= ring->nfiles || fb->files[i] < 0)
		res = -EBADF;
	else if ((res = fcntl(fb->files[i], cmd, 0)) < 0)
		res = -errno;
	pthread_mutex_unlock(&fb->mu);
	return final(res);
}

/* The calls of the op table's exec column (src/ops.def): fbx_<exec>. */
struct fbx_call {
	rk_ring *ring;
	uint32_t slot;
	struct fb_op *x;
	const struct io_uring_sqe *sqe;
	int kind;
};
#define FBX(exec) static struct fb_result fbx_##exec(const struct fbx_call *c)
#define fbx_none NULL /* NOW ops: core.c carries them out without a call */

static int32_t zero_or_errno(int r)
{
	return r < 0 ? -errno : 0;
}

FBX(read) { return rw(c->x, c->sqe, false, false, c->kind); }
FBX(write) { return rw(c->x, c->sqe, true, false, c->kind); }
FBX(readv) { return rw(c->x, c->sqe, false, true, c->kind); }
FBX(writev) { return rw(c->x, c->sqe, true, true, c->kind); }
FBX(fsync)
{
	bool data = c->sqe->fsync_flags & IORING_FSYNC_DATASYNC;
	return final(zero_or_errno(data ? fdatasync(c->x->fd) : fsync(c->x->fd)));
}
FBX(openat)
{
	struct open_how how = {.flags = c->sqe->open_flags, .mode = c->sqe->len};
	return open_op(c->ring, c->sqe, &how, false);
}
FBX(openat2) { return open_op(c->ring, c->sqe, PTR(c->sqe->off), true); }
FBX(close) { return close_op(c->ring, c->sqe); }
FBX(statx)
{
	const struct io_uring_sqe *sqe = c->sqe;
	return final(zero_or_errno(statx(sqe->fd, PTR(sqe->addr), (int)sqe->statx_flags, sqe->len,
	                                 PTR(sqe->off))));
}
FBX(unlinkat)
{
	const struct io_uring_sqe *sqe = c->sqe;
	return final(zero_or_errno(unlinkat(sqe->fd, PTR(sqe->addr), (int)sqe->unlink_flags)));
}
FBX(mkdirat)
{
	const struct io_uring_sqe *sqe = c->sqe;
	return final(zero_or_errno(mkdirat(sqe->fd, PTR(sqe->addr), (mode_t)sqe->len)));
}
FBX(renameat)
{
	const struct io_uring_sqe *sqe = c->sqe;
	return final(zero_or_errno(
		renameat2(sqe->fd, PTR(sqe->addr), (int)sqe->len, PTR(sqe->off), sqe->rename_flags)));
}
FBX(linkat)
{
	const struct io_uring_sqe *sqe = c->sqe;
	return final(zero_or_errno(linkat(sqe->fd, PTR(sqe->addr), (int)sqe->len, PTR(sqe->off),
	                                  (int)sqe->hardlink_flags)));
}
FBX(symlinkat)
{
	const struct io_uring_sqe *sqe = c->sqe;
	return final(zero_or_errno(symlinkat(PTR(sqe->addr), sqe->fd, PTR(sqe->off))));
}
FBX(fallocate)
{
	const struct io_uring_sqe *sqe = c->sqe;
	return final(zero_or_errno(
		fallocate(c->x->fd, (int)sqe->len, (off_t)sqe->off, (off_t)sqe->addr)));
}
FBX(fadvise)
{
	const struct io_uring_sqe *sqe = c->sqe;
	return final(-posix_fadvise(c->x->fd, (off_t)sqe->off, (off_t)sqe->len,
	                            (int)sqe->fadvise_advice));
}
FBX(ftruncate) { return final(zero_or_errno(ftruncate(c->x->fd, (off_t)c->sqe->off))); }
FBX(splice) { return splice_op(c->x, c->sqe, false); }
FBX(tee) { return splice_op(c->x, c->sqe, true); }
FBX(poll) { return poll_op(c->x, c->sqe); }
FBX(socket)
{
	const struct io_uring_sqe *sqe = c->sqe;
	int type = (int)sqe->off;
	if (sqe->file_index && (type & SOCK_CLOEXEC))
		return final(-EINVAL);
	if (sqe->file_index)
		type |= SOCK_CLOEXEC;
	return rk__fb_new_fd(c->ring, sqe, socket(sqe->fd, type, (int)sqe->len));
}
FBX(bind)
{
	return final(zero_or_errno(bind(c->x->fd, PTR(c->sqe->addr), (socklen_t)c->sqe->off)));
}
FBX(listen) { return final(zero_or_errno(listen(c->x->fd, (int)c->sqe->len))); }
FBX(connect) { return rk__fb_connect_op(c->x, c->sqe); }
FBX(accept) { return rk__fb_accept_op(c->ring, c->x, c->sqe); }
FBX(send) { return rk__fb_xfer(c->x, c->sqe, true); }
FBX(send_zc)
{
	if (!rk__fb_zc_capable(c->x->fd))
		return final(-EOPNOTSUPP);
	return rk__fb_xfer(c->x, c->sqe, true);
}
FBX(recv)
{
	if (c->sqe->flags & IOSQE_BUFFER_SELECT)
		return rk__fb_recv_select(c->ring, c->slot, c->x, c->sqe);
	return rk__fb_xfer(c->x, c->sqe, false);
}
FBX(shutdown) { return final(zero_or_errno(shutdown(c->x->fd, (int)c->sqe->len))); }
FBX(sendmsg) { return rk__fb_sendmsg_op(c->x, c->sqe); }
FBX(sendmsg_zc)
{
	if (!rk__fb_zc_capable(c->x->fd))
		return final(-EOPNOTSUPP);
	return rk__fb_sendmsg_op(c->x, c->sqe);
}
FBX(recvmsg) { return rk__fb_recvmsg_op(c->x, c->sqe); }
FBX(recvmsg_multishot) { return rk__fb_recvmsg_select(c->ring, c->slot, c->x, c->sqe); }
FBX(msg_ring)
{
	const struct io_uring_sqe *sqe = c->sqe;
	if (sqe->addr == IORING_MSG_SEND_FD)
		return final(rk__fb_send_file(c->ring, sqe));
	return final(rk__fb_send_message(c->ring, c->slot, sqe->fd, sqe->flags & IOSQE_FIXED_FILE,
	                                 sqe->off, (int32_t)sqe->len));
}
FBX(fd_install) { return fd_install(c->ring, c->sqe); }

/* The op table as the fallback reads it: it sees SQEs, not RK_OP_* codes.
 * Ops that share a kernel opcode are told apart as the kernel tells them:
 * by buffer selection (a GROUP argument sets IOSQE_BUFFER_SELECT) and by
 * the opcode's multishot bit. Rows that still match alike (OPENAT and
 * OPENAT_DIRECT, ACCEPT and ACCEPT_DIRECT, ...) have the same home and
 * exec; the first one answers. */
struct fb_row {
	uint8_t opcode, select, multishot, home;
	struct fb_result (*exec)(const struct fbx_call *c);
};
#define A(n, f, t, r) || RK_ROLE_##r == RK_ROLE_GROUP
#define L(n, f, t, o)
#define OP(NAME, name, opcode, result, multishot, home, exec, args) \
	{(uint8_t)opcode, 0 args, multishot, FB_HOME_##home, fbx_##exec},
static const struct fb_row rows[] = {
#include "../ops.def"
};
#undef OP
#undef L
#undef A
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static bool sqe_multishot(const struct io_uring_sqe *sqe)
{
	switch (sqe->opcode) {
	case IORING_OP_RECV:
	case IORING_OP_RECVMSG:
		return sqe->ioprio & IORING_RECV_MULTISHOT;
	case IORING_OP_ACCEPT:
		return sqe->ioprio & IORING_ACCEPT_MULTISHOT;
	case IORING_OP_POLL_ADD:
		return sqe->len & IORING_POLL_ADD_MULTI;
	default:
		return false;
	}
}

/* The rows by kernel opcode, so finding an SQE's row (twice per op: its
 * home, then its exec) looks at the two or three rows of its opcode, not all
 * of them. 1 + the row's index, 0 for none. Built once, by the first
 * rk__fb_supported (every fallback ring asks it for its probe before it
 * takes an op). */
_Static_assert(NROWS < 255, "row indexes are uint8_t");
static uint8_t first_row[256], next_row[NROWS];
static pthread_once_t rows_indexed = PTHREAD_ONCE_INIT;

static void index_rows(void)
{
	for (size_t i = NROWS; i-- > 0;) {
		next_row[i] = first_row[rows[i].opcode];
		first_row[rows[i].opcode] = (uint8_t)(i + 1);
	}
}

static const struct fb_row *row_of(const struct io_uring_sqe *sqe)
{
	bool select = sqe->flags & IOSQE_BUFFER_SELECT, multishot = sqe_multishot(sqe);
	for (unsigned i = first_row[sqe->opcode]; i; i = next_row[i - 1])
		if (rows[i - 1].select == select && rows[i - 1].multishot == multishot)
			return &rows[i - 1];
	return NULL;
}

struct fb_result rk__fb_exec(rk_ring *ring, uint32_t slot, int kind)
{
	const struct io_uring_sqe *sqe = fb_sqe(ring, slot);
	struct fb_op *x = fbx(ring, slot);
	x->wfd = x->fd;
	const struct fb_row *row = row_of(sqe);
	if (!row || !row->exec)
		return final(-EINVAL);
	struct fbx_call c = {ring, slot, x, sqe, kind};
	return row->exec(&c);
}

int rk__fb_home(const struct io_uring_sqe *sqe)
{
	const struct fb_row *row = row_of(sqe);
	return row ? row->home : FB_HOME_TRY;
}

bool rk__fb_supported(uint8_t opcode)
{
	pthread_once(&rows_indexed, index_rows);
	return first_row[opcode] != 0;
}
