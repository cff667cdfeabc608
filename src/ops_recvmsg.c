/*
 * Multishot recvmsg into provided buffers, and the decoder of the chunks
 * it fills. The kernel lays each chunk out as a struct
 * io_uring_recvmsg_out header, the name area (name_cap bytes, the size the
 * prep's msghdr asked for), the control area (control_cap), then the
 * payload; the header says how much of each was used.
 */
#include <string.h>
#include <sys/socket.h>

#include "ids.h"

_Static_assert(sizeof(struct io_uring_recvmsg_out) == RK_RECVMSG_OUT_HDR,
               "the header's size is part of the ABI");

int64_t rk_prep_recvmsg_multishot(rk_ring *ring, int fd, uint16_t group, uint32_t name_cap,
                                  uint32_t control_cap, int32_t msg_flags, uint32_t flags)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	if (!ring->probe[IORING_OP_RECVMSG] || !rk__feature(ring, RK_FEATURE_RECVMSG_MULTISHOT))
		return -EOPNOTSUPP;
	/* The kernel refuses MSG_WAITALL on a multishot receive. */
	if (name_cap > RK_RECVMSG_NAME_MAX || control_cap > RK_RECVMSG_CONTROL_MAX ||
	    (msg_flags & MSG_WAITALL))
		return -EINVAL;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int g;
	int64_t ret = rk__op_begin_group(ring, RK_OP_RECVMSG_MULTISHOT, fd, group, flags, &op, &sqe,
	                                 &g);
	if (ret < 0)
		return ret;
	/* Incremental consumption would split one datagram's header, name
	 * and payload across completions: recv ops only. */
	if (ring->groups[g].inc) {
		rk__op_abort(ring, op);
		return -EINVAL;
	}
	/* Every chunk of a group has the region's size: one too small for the
	 * areas would end the op at its first message (-EFAULT). */
	if ((uint64_t)RK_RECVMSG_OUT_HDR + name_cap + control_cap >
	    ring->groups[g].region->chunk_size) {
		rk__op_abort(ring, op);
		return -EMSGSIZE;
	}
	/* The kernel reads only the two sizes (the areas are in each chunk),
	 * at prep or later: the msghdr lives in op storage until the end. */
	struct msghdr *m = rk__op_storage(ring, op, sizeof(*m));
	memset(m, 0, sizeof(*m));
	m->msg_namelen = name_cap;
	m->msg_controllen = control_cap;
	io_uring_prep_rw(IORING_OP_RECVMSG, sqe, fd, m, 1, 0);
	sqe->msg_flags = (uint32_t)msg_flags;
	sqe->buf_group = group;
	sqe->ioprio |= IORING_RECV_MULTISHOT;
	op->group = (uint8_t)(g + 1);
	ring->groups[g].users++;
	return rk__op_commit(ring, op, sqe, flags | IOSQE_BUFFER_SELECT);
}

int rk_recvmsg_out(rk_region *region, int32_t chunk, uint32_t len, uint32_t name_cap,
                   uint32_t control_cap, uint32_t *out, uint32_t n)
{
	if (!region || chunk < 0 || (uint32_t)chunk >= region->nchunks || (!out && n))
		return -EINVAL;
	uint64_t areas = (uint64_t)RK_RECVMSG_OUT_HDR + name_cap + control_cap;
	if (len > region->chunk_size || len < areas)
		return -EINVAL;
	struct io_uring_recvmsg_out h;
	memcpy(&h, region->base + (size_t)chunk * region->chunk_size, sizeof(h));
	if (h.controllen > control_cap)
		return -EINVAL;
	uint32_t v[RK_RECVMSG_OUT_COUNT] = {
		[RK_RECVMSG_OUT_NAME] = RK_RECVMSG_OUT_HDR,
		[RK_RECVMSG_OUT_NAME_LEN] = h.namelen < name_cap ? h.namelen : name_cap,
		[RK_RECVMSG_OUT_CONTROL] = RK_RECVMSG_OUT_HDR + name_cap,
		[RK_RECVMSG_OUT_CONTROL_LEN] = h.controllen,
		[RK_RECVMSG_OUT_PAYLOAD] = (uint32_t)areas,
		[RK_RECVMSG_OUT_PAYLOAD_LEN] = len - (uint32_t)areas,
		[RK_RECVMSG_OUT_FLAGS] = h.flags,
		[RK_RECVMSG_OUT_NAME_TOTAL] = h.namelen,
		[RK_RECVMSG_OUT_PAYLOAD_TOTAL] = h.payloadlen,
	};
	if (n > RK_RECVMSG_OUT_COUNT)
		n = RK_RECVMSG_OUT_COUNT;
	if (n)
		memcpy(out, v, n * sizeof(uint32_t));
	return (int)n;
}
