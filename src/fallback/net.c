/*
 * The fallback's socket calls: send and recv (MSG_WAITALL repeated as
 * io_uring repeats it), receives into provided buffers, sendmsg/recvmsg,
 * accept and connect. Off a worker every call is non-blocking; "it would
 * block" is FB_WAIT, the service thread calls again once ready.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>

#include "fb.h"

/* MSG_WAITALL on a stream socket: io_uring repeats the call until all of
 * it moved (io_net_retry); elsewhere the flag is the kernel's business. */
static bool retries(int fd, int flags)
{
	if (!(flags & MSG_WAITALL))
		return false;
	int type = 0;
	socklen_t len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return false;
	return type == SOCK_STREAM || type == SOCK_SEQPACKET;
}

struct fb_result rk__fb_xfer(struct fb_op *x, const struct io_uring_sqe *sqe, bool send)
{
	int flags = (int)sqe->msg_flags;
	bool user_nowait = flags & MSG_DONTWAIT;
	for (;;) {
		char *buf = (char *)PTR(sqe->addr) + x->done;
		size_t len = sqe->len - (size_t)x->done;
		ssize_t r = send ? sendto(x->fd, buf, len, flags | MSG_DONTWAIT, NULL, 0)
		                 : recvfrom(x->fd, buf, len, flags | MSG_DONTWAIT, NULL, NULL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;
			if (err == EAGAIN && !user_nowait)
				return wait_for(x, x->fd, send ? POLLOUT : POLLIN);
			return done_or(x, -err);
		}
		x->done += r;
		if (r > 0 && (uint64_t)x->done < sqe->len && retries(x->fd, flags) && !user_nowait)
			continue;
		return final((int32_t)x->done);
	}
}

/* The group has no buffer for a receive: -ENOBUFS, unless fd is no socket
 * (the kernel finds the socket before a buffer). */
static struct fb_result no_buffer(struct fb_op *x)
{
	int type;
	socklen_t tlen = sizeof(type);
	if (getsockopt(x->fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0)
		return final_err();
	return final(-ENOBUFS);
}

/* recv into a chunk of a provided-buffer group, taken only when data came
 * (the group's ring is read like the kernel reads it: entries up to the
 * tail the caller published). */
struct fb_result rk__fb_recv_select(rk_ring *ring, uint32_t slot, struct fb_op *x,
                                    const struct io_uring_sqe *sqe)
{
	struct rk_op *op = &ring->ops[slot];
	struct rk_group *g = &ring->groups[op->group - 1];
	bool multishot = sqe->ioprio & IORING_RECV_MULTISHOT;
	int flags = (int)sqe->msg_flags;
	if (sqe->len > INT32_MAX)
		return final(-EINVAL);
	for (;;) {
		uint16_t tail = __atomic_load_n(&g->br->tail, __ATOMIC_ACQUIRE);
		if (g->head == tail)
			return no_buffer(x);
		struct io_uring_buf *b = &g->br->bufs[g->head & g->mask];
		uint32_t len = b->len;
		if (sqe->len && sqe->len < len)
			len = sqe->len;
		ssize_t r = recv(x->fd, PTR(b->addr), len, flags | MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			bool user_nowait = !multishot && (flags & MSG_DONTWAIT);
			if (errno == EAGAIN && !user_nowait)
				return wait_for(x, x->fd, POLLIN);
			return final_err();
		}
		if (r == 0)
			return final(0); /* end of stream: no chunk taken */
		uint32_t cflags = IORING_CQE_F_BUFFER | ((uint32_t)b->bid << IORING_CQE_BUFFER_SHIFT);
		if (g->inc && (uint32_t)r < b->len) {
			/* As io_kbuf_inc_commit: the entry keeps the rest of the
			 * chunk, and the next receive continues there. */
			b->addr += (uint64_t)r;
			b->len -= (uint32_t)r;
			cflags |= IORING_CQE_F_BUF_MORE;
		} else {
			g->head++;
		}
		if (!multishot)
			return (struct fb_result){.verdict = FB_FINAL, .res = (int32_t)r, .cflags = cflags};
		return (struct fb_result){.verdict = FB_MORE, .res = (int32_t)r, .cflags = cflags};
	}
}

/* The kernel offers zero-copy sends on TCP and UDP only (SOCK_SUPPORT_ZC)
 * and refuses the others with -EOPNOTSUPP; the fallback, which copies,
 * answers the same so code tested here behaves the same there. A
 * non-socket gets the send's own error. */
bool rk__fb_zc_capable(int fd)
{
	int domain = 0;
	socklen_t len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return true;
	return domain == AF_INET || domain == AF_INET6;
}

/* sendmsg(2) and recvmsg(2) refuse MSG_CMSG_COMPAT from a 64-bit caller
 * (-EINVAL); io_uring's own msg ops do not look at it: drop it, as it
 * means nothing for a 64-bit msghdr. */
#define RK_MSG_CMSG_COMPAT 0x80000000u

static int msg_call_flags(const struct io_uring_sqe *sqe)
{
	return (int)(sqe->msg_flags & ~RK_MSG_CMSG_COMPAT);
}

/* Clears the control area after the first partial sendmsg: the
 * descriptors went with the first bytes. */
struct fb_result rk__fb_sendmsg_op(struct fb_op *x, const struct io_uring_sqe *sqe)
{
	struct msghdr *msg = PTR(sqe->addr);
	int flags = msg_call_flags(sqe);
	bool user_nowait = flags & MSG_DONTWAIT;
	for (;;) {
		ssize_t r = sendmsg(x->fd, msg, flags | MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;
			if (err == EAGAIN && !user_nowait)
				return wait_for(x, x->fd, POLLOUT);
			return done_or(x, -err);
		}
		x->done += r;
		uint64_t left = 0;
		for (size_t i = 0; i < msg->msg_iovlen; i++)
			left += msg->msg_iov[i].iov_len;
		left -= (uint64_t)r;
		if (r == 0 || left == 0 || !retries(x->fd, flags) || user_nowait)
			return final((int32_t)x->done);
		/* Advance the op's own iovec copy past what went. */
		size_t skip = (size_t)r;
		while (msg->msg_iovlen && skip >= msg->msg_iov->iov_len) {
			skip -= msg->msg_iov->iov_len;
			msg->msg_iov++;
			msg->msg_iovlen--;
		}
		if (msg->msg_iovlen) {
			msg->msg_iov->iov_base = (char *)msg->msg_iov->iov_base + skip;
			msg->msg_iov->iov_len -= skip;
		}
		msg->msg_control = NULL;
		msg->msg_controllen = 0;
	}
}

/* recvmsg writes the address, control and flags back into the msghdr in op
 * storage, where the shared settle code reads them, as with the kernel. A
 * call that would block must not leave its changes behind. */
struct fb_result rk__fb_recvmsg_op(struct fb_op *x, const struct io_uring_sqe *sqe)
{
	struct msghdr *msg = PTR(sqe->addr);
	int flags = msg_call_flags(sqe);
	socklen_t namelen = msg->msg_namelen;
	size_t ctllen = msg->msg_controllen;
	for (;;) {
		ssize_t r = recvmsg(x->fd, msg, flags | MSG_DONTWAIT);
		if (r >= 0)
			return final((int32_t)r);
		int err = errno;
		msg->msg_namelen = namelen;
		msg->msg_controllen = ctllen;
		if (err == EINTR)
			continue;
		if (err == EAGAIN && !(flags & MSG_DONTWAIT))
			return wait_for(x, x->fd, POLLIN);
		return final(-err);
	}
}

/* Whether an accept on fd can wait for a connection: only on a listening
 * socket. Anything else (a connected or unbound socket, a file) makes
 * accept4 fail at once with the kernel's own error, and so it is called at
 * once, as io_uring's accept fails at once. */
bool rk__fb_accept_waits(int fd)
{
	int listening = 0;
	socklen_t len = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
		return false;
	return listening != 0;
}

/* Whether an op that starts by waiting (accept, a receive into provided
 * buffers) may wait: not when its call fails at once on io_uring — bad
 * accept flags, a length over INT32_MAX, an accept on what is not a
 * listener, a receive from what is not a socket or is one that listens.
 * Those make their call at once and answer with its error. */
bool rk__fb_waits_first(const struct io_uring_sqe *sqe, int fd)
{
	if (sqe->opcode == IORING_OP_ACCEPT) {
		if (sqe->accept_flags & ~(uint32_t)(SOCK_CLOEXEC | SOCK_NONBLOCK))
			return false;
		return rk__fb_accept_waits(fd);
	}
	if (sqe->opcode == IORING_OP_RECV) {
		if (sqe->len > INT32_MAX)
			return false;
		int listening = 0;
		socklen_t len = sizeof(listening);
		return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && !listening;
	}
	if (sqe->opcode == IORING_OP_RECVMSG) {
		/* The kernel's first try answers at once for these: MSG_OOB
		 * with what recvmsg says, MSG_DONTWAIT with -EAGAIN. */
		if (sqe->msg_flags & (MSG_OOB | MSG_DONTWAIT))
			return false;
	}
	return true;
}

/* accept: on a blocking listener only once poll says a connection waits
 * (another acceptor outside the ring can still take it first: see the
 * header). */
struct fb_result rk__fb_accept_op(rk_ring *ring, struct fb_op *x, const struct io_uring_sqe *sqe)
{
	bool multishot = sqe->ioprio & IORING_ACCEPT_MULTISHOT;
	int flags = (int)sqe->accept_flags;
	if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK))
		return final(-EINVAL); /* io_accept_prep's check */
	if (sqe->file_index) {
		if (flags & SOCK_CLOEXEC)
			return final(-EINVAL);
		flags |= SOCK_CLOEXEC; /* the table's own descriptor */
	}
	int fl = fcntl(x->fd, F_GETFL);
	if (fl < 0)
		return final_err();
	if (!(fl & O_NONBLOCK) && rk__fb_accept_waits(x->fd) && !ready_now(x->fd, POLLIN))
		return wait_for(x, x->fd, POLLIN);
	int fd;
	do
		fd = accept4(x->fd, PTR(sqe->addr), PTR(sqe->off), flags);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		if (errno == EAGAIN)
			return wait_for(x, x->fd, POLLIN);
		return final_err();
	}
	struct fb_result r = rk__fb_new_fd(ring, sqe, fd);
	if (multishot && r.res >= 0)
		r.verdict = FB_MORE;
	return r;
}

/* connect without blocking: O_NONBLOCK for the one call (restored at
 * once; the connection goes on in the kernel), then readiness and
 * SO_ERROR. */
struct fb_result rk__fb_connect_op(struct fb_op *x, const struct io_uring_sqe *sqe)
{
	if (x->phase) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return final_err();
		return final(-err);
	}
	int fl = fcntl(x->fd, F_GETFL);
	if (fl < 0)
		return final_err();
	if (!(fl & O_NONBLOCK))
		fcntl(x->fd, F_SETFL, fl | O_NONBLOCK);
	int r;
	do
		r = connect(x->fd, PTR(sqe->addr), (socklen_t)sqe->off);
	while (r < 0 && errno == EINTR);
	int err = r < 0 ? errno : 0;
	if (!(fl & O_NONBLOCK))
		fcntl(x->fd, F_SETFL, fl);
	if (err == EINPROGRESS) {
		x->phase = 1;
		return wait_for(x, x->fd, POLLOUT);
	}
	if (err == EAGAIN) /* a unix socket's full backlog: try again when writable */
		return wait_for(x, x->fd, POLLOUT);
	return final(-err);
}

/* Multishot recvmsg into a chunk, laid out as the kernel's
 * io_recvmsg_multishot lays it out: the header, the name area and the
 * control area (the sizes the prep's msghdr gave), the payload. The header
 * has the address's whole length, the control bytes used, the payload as
 * recvmsg returned it and its msg_flags; res is the areas plus the payload
 * bytes that fit. */
struct fb_result rk__fb_recvmsg_select(rk_ring *ring, uint32_t slot, struct fb_op *x,
                                       const struct io_uring_sqe *sqe)
{
	struct rk_op *op = &ring->ops[slot];
	struct rk_group *g = &ring->groups[op->group - 1];
	const struct msghdr *asked = PTR(sqe->addr);
	uint32_t ncap = asked->msg_namelen, ccap = (uint32_t)asked->msg_controllen;
	uint32_t areas = (uint32_t)sizeof(struct io_uring_recvmsg_out) + ncap + ccap;
	int flags = msg_call_flags(sqe);
	for (;;) {
		uint16_t tail = __atomic_load_n(&g->br->tail, __ATOMIC_ACQUIRE);
		if (g->head == tail)
			return no_buffer(x);
		const struct io_uring_buf *b = &g->br->bufs[g->head & g->mask];
		if (b->len < areas)
			return final(-EFAULT);
		unsigned char *base = PTR(b->addr);
		struct sockaddr_storage name;
		struct iovec iov = {base + areas, b->len - areas};
		struct msghdr m = {
			.msg_name = ncap ? &name : NULL,
			.msg_namelen = ncap ? sizeof(name) : 0,
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ccap ? base + sizeof(struct io_uring_recvmsg_out) + ncap : NULL,
			.msg_controllen = ccap,
		};
		ssize_t r = recvmsg(x->fd, &m, flags | MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			if (errno == EAGAIN && !(flags & MSG_DONTWAIT))
				return wait_for(x, x->fd, POLLIN);
			return final_err();
		}
		struct io_uring_recvmsg_out h = {
			.namelen = m.msg_namelen,
			.controllen = (uint32_t)m.msg_controllen,
			.payloadlen = (uint32_t)r,
			.flags = (uint32_t)m.msg_flags,
		};
		memcpy(base, &h, sizeof(h));
		if (ncap)
			memcpy(base + sizeof(h), &name, m.msg_namelen < ncap ? m.msg_namelen : ncap);
		uint32_t copied = (size_t)r < iov.iov_len ? (uint32_t)r : (uint32_t)iov.iov_len;
		uint32_t cflags = IORING_CQE_F_BUFFER | ((uint32_t)b->bid << IORING_CQE_BUFFER_SHIFT);
		g->head++;
		return (struct fb_result){.verdict = FB_MORE, .res = (int32_t)(areas + copied),
		                          .cflags = cflags};
	}
}
