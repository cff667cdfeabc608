/*
 * Prep functions for sockets. An address the kernel reads (bind, connect) is
 * copied into op storage; the one it writes (accept's peer) goes to a caller
 * buffer kept alive like a read buffer. bind and listen are newer than the
 * system liburing: their SQE layout comes from the kernel ABI (bind is laid
 * out like connect, listen carries the backlog in len).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "ids.h"

/* -EOPNOTSUPP for an opcode the running kernel does not know, so the
 * failure is immediate and says what it is. */
static int64_t supported(rk_ring *ring, uint8_t opcode)
{
	if (!ring)
		return -EINVAL;
	return ring->probe[opcode] ? 0 : -EOPNOTSUPP;
}

int64_t rk_prep_socket(rk_ring *ring, int32_t domain, int32_t type, int32_t protocol,
                       uint32_t flags)
{
	int64_t ret = supported(ring, IORING_OP_SOCKET);
	if (ret < 0)
		return ret;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	if ((ret = rk__op_begin(ring, RK_OP_SOCKET, flags, &op, &sqe)) < 0)
		return ret;
	io_uring_prep_socket(sqe, domain, type, protocol, 0);
	op->kind = RK_KIND_FD;
	return rk__op_commit(ring, op, sqe, flags);
}

/* bind and connect: the address is copied, the length travels in off. */
static int64_t prep_addr(rk_ring *ring, uint32_t code, uint8_t opcode, int fd, const void *addr,
                         uint32_t addrlen, uint32_t flags)
{
	int64_t ret = supported(ring, opcode);
	if (ret < 0)
		return ret;
	if (!addr)
		return fd < 0 ? -EBADF : -EFAULT;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	ret = rk__op_begin_fd(ring, code, fd, addrlen == 0 || addrlen > RK_SOCKADDR_MAX, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	void *copy = rk__op_storage(ring, op, addrlen);
	memcpy(copy, addr, addrlen);
	io_uring_prep_rw(opcode, sqe, fd, copy, 0, addrlen);
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_bind(rk_ring *ring, int fd, const void *addr, uint32_t addrlen, uint32_t flags)
{
	return prep_addr(ring, RK_OP_BIND, RK_IORING_OP_BIND, fd, addr, addrlen, flags);
}

int64_t rk_prep_connect(rk_ring *ring, int fd, const void *addr, uint32_t addrlen,
                        uint32_t flags)
{
	return prep_addr(ring, RK_OP_CONNECT, IORING_OP_CONNECT, fd, addr, addrlen, flags);
}

int64_t rk_prep_listen(rk_ring *ring, int fd, int32_t backlog, uint32_t flags)
{
	int64_t ret = supported(ring, RK_IORING_OP_LISTEN);
	if (ret < 0)
		return ret;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	if ((ret = rk__op_begin_fd(ring, RK_OP_LISTEN, fd, false, flags, &op, &sqe)) < 0)
		return ret;
	io_uring_prep_rw(RK_IORING_OP_LISTEN, sqe, fd, NULL, (uint32_t)backlog, 0);
	return rk__op_commit(ring, op, sqe, flags);
}

/* The kernel writes the peer address's real length through a socklen_t
 * pointer when the op runs: that word lives in op storage. */
int64_t rk_prep_accept(rk_ring *ring, int fd, void *addr, uint32_t addrlen, int32_t accept_flags,
                       uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin_fd(ring, RK_OP_ACCEPT, fd, false, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	socklen_t *len = NULL;
	if (addr) {
		len = rk__op_storage(ring, op, sizeof(*len));
		*len = addrlen;
	}
	io_uring_prep_accept(sqe, fd, addr ? (struct sockaddr *)addr : NULL, len, accept_flags);
	op->kind = RK_KIND_FD;
	return rk__op_commit(ring, op, sqe, flags);
}

static int64_t prep_xfer(rk_ring *ring, uint32_t code, uint8_t opcode, int fd, const void *buf,
                         uint32_t len, int32_t msg_flags, uint32_t flags)
{
	if (ring && fd >= 0 && !buf && len)
		return -EFAULT;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin_fd(ring, code, fd, false, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	io_uring_prep_rw(opcode, sqe, fd, buf, len, 0);
	sqe->msg_flags = (uint32_t)msg_flags;
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_send(rk_ring *ring, int fd, const void *buf, uint32_t len, int32_t msg_flags,
                     uint32_t flags)
{
	return prep_xfer(ring, RK_OP_SEND, IORING_OP_SEND, fd, buf, len, msg_flags, flags);
}

int64_t rk_prep_recv(rk_ring *ring, int fd, void *buf, uint32_t len, int32_t msg_flags,
                     uint32_t flags)
{
	return prep_xfer(ring, RK_OP_RECV, IORING_OP_RECV, fd, buf, len, msg_flags, flags);
}

int64_t rk_prep_shutdown(rk_ring *ring, int fd, int32_t how, uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin_fd(ring, RK_OP_SHUTDOWN, fd, how < SHUT_RD || how > SHUT_RDWR,
	                              flags, &op, &sqe);
	if (ret < 0)
		return ret;
	io_uring_prep_shutdown(sqe, fd, how);
	return rk__op_commit(ring, op, sqe, flags);
}

/* The kernel reads buf until the notification completion, not just until the
 * result: drain_cq keeps the slot live until the final (notification) CQE,
 * because the result CQE carries MORE. */
int64_t rk_prep_send_zc(rk_ring *ring, int fd, const void *buf, uint32_t len, int32_t msg_flags,
                        uint32_t zc_flags, uint32_t flags)
{
	if (ring && fd >= 0 && !buf && len)
		return -EFAULT;
	if (zc_flags & ~RK_SEND_ZC_REPORT_USAGE)
		return -EINVAL;
	int64_t ret = supported(ring, IORING_OP_SEND_ZC);
	if (ret < 0)
		return ret;
	/* A zero-copy send the kernel holds back behind a drain is never
	 * issued, and every op after it stalls too (Linux 6.18); no cancel
	 * reaches it and close would time out: a ring uses one or the other. */
	if (ring->drained || (flags & RK_DRAIN))
		return -EINVAL;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	if ((ret = rk__op_begin_fd(ring, RK_OP_SEND_ZC, fd, false, flags, &op, &sqe)) < 0)
		return ret;
	io_uring_prep_send_zc(sqe, fd, buf, len, msg_flags, zc_flags);
	ring->zc_sent = true;
	return rk__op_commit(ring, op, sqe, flags);
}
