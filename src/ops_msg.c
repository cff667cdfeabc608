/*
 * sendmsg and recvmsg. The kernel reads a msghdr, its iovec array, the
 * address and the control data when the op runs, and recvmsg writes the
 * address, the control data and three msghdr fields back when it completes:
 * all of it lives in one block of op storage, laid out below. The caller's
 * memory is touched only by its own data buffers (the kernel) and, for
 * recvmsg, by rk_reap, which copies the results out when it hands over the
 * final completion.
 *
 * Received descriptors are the one resource here that can leak: the kernel
 * installs them in our fd table before the completion is posted. So every
 * SCM_RIGHTS fd is either written to the caller's array as the completion is
 * delivered, or closed — when the array is too small, or when the ring is
 * closing and nobody will ever see the completion.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ids.h"

/* The head of a msg op's storage; the address, control and iovec areas
 * follow it in that order, each 8-byte aligned. */
struct msg_store {
	struct msghdr msg;
	void *name_out;   /* recvmsg: the caller's address buffer */
	int32_t *out;     /* recvmsg: the caller's result array */
	uint32_t name_cap;
	uint32_t fds_cap;
};

#define ALIGN8(n) (((size_t)(n) + 7) & ~(size_t)7)

_Static_assert(sizeof(struct msg_store) % 8 == 0, "msg areas stay aligned");
_Static_assert(ALIGN8(sizeof(struct msg_store)) + RK_SOCKADDR_MAX +
                       CMSG_SPACE(RK_MSG_FDS_MAX * sizeof(int)) +
                       RK_MSG_IOV_MAX * sizeof(struct iovec) <=
                   RK_SPILL_BYTES,
               "the largest msg op fits a spill block");

/* Checks shared by both directions, in the documented order. */
static int64_t check_msg(rk_ring *ring, int fd, const rk_iovec *iov, uint32_t niov,
                         const void *name, uint32_t namelen, const void *fds, uint32_t nfds)
{
	if (!ring)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (niov > RK_MSG_IOV_MAX || namelen > RK_SOCKADDR_MAX || nfds > RK_MSG_FDS_MAX)
		return -EINVAL;
	if ((!iov && niov) || (!name && namelen) || (!fds && nfds))
		return -EFAULT;
	return 0;
}

/* Takes a slot and lays out its storage; *st is zeroed up to the iovecs,
 * which are copied. */
static int64_t begin_msg(rk_ring *ring, uint32_t code, uint32_t flags, const rk_iovec *iov,
                         uint32_t niov, uint32_t namelen, uint32_t nfds, struct rk_op **op,
                         struct io_uring_sqe **sqe, struct msg_store **st)
{
	size_t name_off = sizeof(struct msg_store);
	size_t ctl_off = name_off + ALIGN8(namelen);
	size_t ctl_len = nfds ? CMSG_SPACE(nfds * sizeof(int)) : 0;
	size_t iov_off = ctl_off + ctl_len;
	size_t total = iov_off + (size_t)niov * sizeof(struct iovec);

	int64_t ret = rk__op_begin(ring, code, flags, op, sqe);
	if (ret < 0)
		return ret;
	unsigned char *p = rk__op_storage(ring, *op, total);
	if (!p) {
		rk__op_abort(ring, *op);
		return -EBUSY;
	}
	memset(p, 0, iov_off);
	if (niov)
		memcpy(p + iov_off, iov, (size_t)niov * sizeof(struct iovec));
	struct msg_store *s = (struct msg_store *)p;
	s->msg.msg_name = namelen ? p + name_off : NULL;
	s->msg.msg_namelen = namelen;
	s->msg.msg_control = ctl_len ? p + ctl_off : NULL;
	s->msg.msg_controllen = ctl_len;
	s->msg.msg_iov = niov ? (struct iovec *)(p + iov_off) : NULL;
	s->msg.msg_iovlen = niov;
	*st = s;
	return 0;
}

static int64_t prep_sendmsg(rk_ring *ring, uint32_t code, uint8_t opcode, int fd,
                            const rk_iovec *iov, uint32_t niov, const void *addr,
                            uint32_t addrlen, const int32_t *fds, uint32_t nfds,
                            int32_t msg_flags, uint32_t flags)
{
	int64_t ret = check_msg(ring, fd, iov, niov, addr, addrlen, fds, nfds);
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < nfds; i++)
		if (fds[i] < 0)
			return -EBADF;
	if (!ring->probe[opcode])
		return -EOPNOTSUPP;
	if (opcode == IORING_OP_SENDMSG_ZC && (ring->drained || (flags & RK_DRAIN)))
		return -EINVAL; /* see rk_prep_send_zc */
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	struct msg_store *st;
	ret = begin_msg(ring, code, flags, iov, niov, addrlen, nfds, &op, &sqe, &st);
	if (ret < 0)
		return ret;
	if (addrlen)
		memcpy(st->msg.msg_name, addr, addrlen);
	if (nfds) {
		struct cmsghdr *cm = CMSG_FIRSTHDR(&st->msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	io_uring_prep_sendmsg(sqe, fd, &st->msg, (unsigned)msg_flags);
	sqe->opcode = opcode;
	if (opcode == IORING_OP_SENDMSG_ZC)
		ring->zc_sent = true;
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_sendmsg(rk_ring *ring, int fd, const rk_iovec *iov, uint32_t niov,
                        const void *addr, uint32_t addrlen, const int32_t *fds, uint32_t nfds,
                        int32_t msg_flags, uint32_t flags)
{
	return prep_sendmsg(ring, RK_OP_SENDMSG, IORING_OP_SENDMSG, fd, iov, niov, addr, addrlen,
	                    fds, nfds, msg_flags, flags);
}

int64_t rk_prep_sendmsg_zc(rk_ring *ring, int fd, const rk_iovec *iov, uint32_t niov,
                           const void *addr, uint32_t addrlen, const int32_t *fds, uint32_t nfds,
                           int32_t msg_flags, uint32_t flags)
{
	return prep_sendmsg(ring, RK_OP_SENDMSG_ZC, IORING_OP_SENDMSG_ZC, fd, iov, niov, addr,
	                    addrlen, fds, nfds, msg_flags, flags);
}

int64_t rk_prep_recvmsg(rk_ring *ring, int fd, const rk_iovec *iov, uint32_t niov, void *name,
                        uint32_t name_cap, int32_t *out, uint32_t fds_cap, int32_t msg_flags,
                        uint32_t flags)
{
	int64_t ret = check_msg(ring, fd, iov, niov, name, name_cap, out, fds_cap);
	if (ret < 0)
		return ret;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	struct msg_store *st;
	ret = begin_msg(ring, RK_OP_RECVMSG, flags, iov, niov, name_cap, fds_cap, &op, &sqe, &st);
	if (ret < 0)
		return ret;
	st->name_out = name;
	st->out = out;
	st->name_cap = name_cap;
	st->fds_cap = fds_cap;
	op->kind = RK_KIND_RECVMSG;
	io_uring_prep_recvmsg(sqe, fd, &st->msg, (unsigned)msg_flags);
	return rk__op_commit(ring, op, sqe, flags);
}

static void close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

/* Hands recvmsg's results to the caller, or closes the fds it received when
 * the completion is being discarded. */
static void settle_recvmsg(rk_ring *ring, struct rk_op *op, int32_t res)
{
	struct msg_store *st = (struct msg_store *)rk__op_storage_base(ring, op);
	bool deliver = !ring->discarding;
	uint32_t nfds = 0;

	if (res >= 0 && st->msg.msg_control) {
		/* The kernel wrote back how much control data it stored. */
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&st->msg); cm; cm = CMSG_NXTHDR(&st->msg, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
			    cm->cmsg_len < CMSG_LEN(0))
				continue;
			size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int fds[RK_MSG_FDS_MAX];
			if (n > RK_MSG_FDS_MAX)
				n = RK_MSG_FDS_MAX;
			memcpy(fds, CMSG_DATA(cm), n * sizeof(int));
			size_t keep = 0;
			if (deliver) {
				keep = st->fds_cap - nfds < n ? st->fds_cap - nfds : n;
				memcpy(st->out + RK_MSG_FDS + nfds, fds, keep * sizeof(int));
				nfds += (uint32_t)keep;
			}
			close_fds(fds + keep, n - keep);
		}
	}
	if (!deliver)
		return;
	uint32_t namelen = 0;
	if (res >= 0 && st->name_cap) {
		namelen = st->msg.msg_namelen < st->name_cap ? st->msg.msg_namelen : st->name_cap;
		memcpy(st->name_out, st->msg.msg_name, namelen);
	}
	if (st->out) {
		st->out[RK_MSG_NAMELEN] = (int32_t)namelen;
		st->out[RK_MSG_FLAGS] = res >= 0 ? st->msg.msg_flags : 0;
		st->out[RK_MSG_NFDS] = (int32_t)nfds;
	}
}

void rk__op_settle(rk_ring *ring, struct rk_op *op, int32_t res, uint32_t cqe_flags)
{
	switch (op->kind) {
	case RK_KIND_FD:
		/* Multishot accept posts an fd with every completion. */
		if (ring->discarding && res >= 0)
			close(res);
		break;
	case RK_KIND_RECVMSG:
		if (!(cqe_flags & IORING_CQE_F_MORE))
			settle_recvmsg(ring, op, res);
		break;
	default:
		break;
	}
}
