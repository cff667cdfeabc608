/*
 * Descriptor batches: a runtime fills an array of 64-byte rk_op_desc records
 * and queues them all with one FFI crossing. Each record is dispatched to the
 * same prep function a direct call would use, so the two paths cannot drift.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

#define PTR(v) ((void *)(uintptr_t)(v))

/* A 64-bit field carries a narrower argument: a value outside the
 * argument's type is refused, never truncated into another valid value
 * (a chunk of 2^32 + 3 must not become chunk 3). */
static bool fits_s32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

static bool fits_u32(int64_t v)
{
	return v >= 0 && v <= UINT32_MAX;
}

/* Which of arg1 / arg2 hold a 32-bit signed (S) or unsigned (U) argument,
 * or a 16-bit group (G); the rest carry 64-bit values or pointers. */
enum { W64 = 0, S32, U32, G16 };

static bool fits(int kind, int64_t v)
{
	switch (kind) {
	case S32:
		return fits_s32(v);
	case U32:
		return fits_u32(v);
	case G16:
		return v >= 0 && v <= UINT16_MAX;
	default:
		return true;
	}
}

static const uint8_t arg_kinds[RK_OP_COUNT][2] = {
	[RK_OP_READV] = {S32, W64},
	[RK_OP_WRITEV] = {S32, W64},
	[RK_OP_READ_CHUNK] = {S32, W64},
	[RK_OP_WRITE_CHUNK] = {S32, W64},
	[RK_OP_OPENAT] = {S32, U32},
	[RK_OP_STATX] = {S32, W64},
	[RK_OP_UNLINKAT] = {S32, W64},
	[RK_OP_MKDIRAT] = {U32, W64},
	[RK_OP_RENAMEAT] = {U32, W64},
	[RK_OP_LINKAT] = {S32, W64},
	[RK_OP_FALLOCATE] = {S32, W64},
	[RK_OP_FADVISE] = {S32, W64},
	[RK_OP_SPLICE] = {U32, W64},
	[RK_OP_TEE] = {U32, W64},
	[RK_OP_POLL_ADD] = {U32, W64},
	[RK_OP_TIMEOUT] = {U32, W64},
	[RK_OP_LINK_TIMEOUT] = {U32, W64},
	[RK_OP_SOCKET] = {S32, S32},
	[RK_OP_LISTEN] = {S32, W64},
	[RK_OP_ACCEPT] = {S32, W64},
	[RK_OP_SEND] = {S32, W64},
	[RK_OP_RECV] = {S32, W64},
	[RK_OP_SHUTDOWN] = {S32, W64},
	[RK_OP_RECV_SELECT] = {S32, G16},
	[RK_OP_RECV_MULTISHOT] = {S32, G16},
	[RK_OP_ACCEPT_MULTISHOT] = {S32, W64},
	[RK_OP_POLL_MULTISHOT] = {U32, W64},
	[RK_OP_SEND_ZC] = {S32, U32},
	[RK_OP_SENDMSG] = {S32, W64},
	[RK_OP_SENDMSG_ZC] = {S32, W64},
	[RK_OP_RECVMSG] = {S32, W64},
	[RK_OP_OPENAT_DIRECT] = {S32, U32},
	[RK_OP_ACCEPT_DIRECT] = {S32, W64},
	[RK_OP_ACCEPT_MULTISHOT_DIRECT] = {S32, W64},
	[RK_OP_SOCKET_DIRECT] = {S32, S32},
	[RK_OP_FIXED_FD_INSTALL] = {U32, W64},
	[RK_OP_MSG_RING] = {S32, W64},
};

static int64_t prep_one(rk_ring *ring, const rk_op_desc *d)
{
	if (d->reserved0[0] || d->reserved0[1] || d->reserved0[2] || d->reserved1)
		return -EINVAL;
	/* nfds / fds_cap travel in off: refuse what would wrap in a uint32_t. */
	if ((d->op == RK_OP_SENDMSG || d->op == RK_OP_SENDMSG_ZC || d->op == RK_OP_RECVMSG) &&
	    !fits_u32(d->off))
		return -EINVAL;
	if (d->op < RK_OP_COUNT &&
	    (!fits(arg_kinds[d->op][0], d->arg1) || !fits(arg_kinds[d->op][1], d->arg2)))
		return -EINVAL;
	switch (d->op) {
	case RK_OP_NOP:
		return rk_prep_nop(ring, d->flags);
	case RK_OP_READ:
		return rk_prep_read(ring, d->fd, PTR(d->addr), d->len, d->off, d->flags);
	case RK_OP_WRITE:
		return rk_prep_write(ring, d->fd, PTR(d->addr), d->len, d->off, d->flags);
	case RK_OP_READV:
		return rk_prep_readv(ring, d->fd, PTR(d->addr), d->len, d->off, (int32_t)d->arg1,
		                     d->flags);
	case RK_OP_WRITEV:
		return rk_prep_writev(ring, d->fd, PTR(d->addr), d->len, d->off, (int32_t)d->arg1,
		                      d->flags);
	case RK_OP_READ_CHUNK:
		return rk_prep_read_chunk(ring, d->fd, PTR(d->addr), (int32_t)d->arg1, d->len, d->off,
		                          d->flags);
	case RK_OP_WRITE_CHUNK:
		return rk_prep_write_chunk(ring, d->fd, PTR(d->addr), (int32_t)d->arg1, d->len, d->off,
		                           d->flags);
	case RK_OP_FSYNC:
		return rk_prep_fsync(ring, d->fd, d->off, d->len, d->flags);
	case RK_OP_FDATASYNC:
		return rk_prep_fdatasync(ring, d->fd, d->off, d->len, d->flags);
	case RK_OP_OPENAT:
		return rk_prep_openat(ring, d->fd, PTR(d->addr), (int32_t)d->arg1, (uint32_t)d->arg2,
		                      d->flags);
	case RK_OP_OPENAT2:
		return rk_prep_openat2(ring, d->fd, PTR(d->addr), (uint64_t)d->arg1,
		                       (uint64_t)d->arg2, (uint64_t)d->off, d->flags);
	case RK_OP_CLOSE:
		return rk_prep_close(ring, d->fd, d->flags);
	case RK_OP_STATX:
		return rk_prep_statx(ring, d->fd, PTR(d->addr), (int32_t)d->arg1, d->len,
		                     PTR(d->addr2), d->flags);
	case RK_OP_UNLINKAT:
		return rk_prep_unlinkat(ring, d->fd, PTR(d->addr), (int32_t)d->arg1, d->flags);
	case RK_OP_MKDIRAT:
		return rk_prep_mkdirat(ring, d->fd, PTR(d->addr), (uint32_t)d->arg1, d->flags);
	case RK_OP_RENAMEAT:
		return rk_prep_renameat(ring, d->fd, PTR(d->addr), d->fd2, PTR(d->addr2),
		                        (uint32_t)d->arg1, d->flags);
	case RK_OP_LINKAT:
		return rk_prep_linkat(ring, d->fd, PTR(d->addr), d->fd2, PTR(d->addr2),
		                      (int32_t)d->arg1, d->flags);
	case RK_OP_SYMLINKAT:
		return rk_prep_symlinkat(ring, PTR(d->addr), d->fd2, PTR(d->addr2), d->flags);
	case RK_OP_FALLOCATE:
		return rk_prep_fallocate(ring, d->fd, (int32_t)d->arg1, d->off, d->arg2, d->flags);
	case RK_OP_FADVISE:
		return rk_prep_fadvise(ring, d->fd, d->off, d->len, (int32_t)d->arg1, d->flags);
	case RK_OP_SPLICE:
		return rk_prep_splice(ring, d->fd, d->off, d->fd2, d->arg2, d->len, (uint32_t)d->arg1,
		                      d->flags);
	case RK_OP_TEE:
		return rk_prep_tee(ring, d->fd, d->fd2, d->len, (uint32_t)d->arg1, d->flags);
	case RK_OP_POLL_ADD:
		return rk_prep_poll_add(ring, d->fd, (uint32_t)d->arg1, d->flags);
	case RK_OP_POLL_REMOVE:
		return rk_prep_poll_remove(ring, (int64_t)d->addr, d->flags);
	case RK_OP_TIMEOUT:
		return rk_prep_timeout(ring, d->off, d->len, (uint32_t)d->arg1, d->flags);
	case RK_OP_TIMEOUT_REMOVE:
		return rk_prep_timeout_remove(ring, (int64_t)d->addr, d->flags);
	case RK_OP_LINK_TIMEOUT:
		return rk_prep_link_timeout(ring, d->off, (uint32_t)d->arg1, d->flags);
	case RK_OP_CANCEL:
		return rk_prep_cancel(ring, (int64_t)d->addr, d->flags);
	case RK_OP_SOCKET:
		return rk_prep_socket(ring, d->fd, (int32_t)d->arg1, (int32_t)d->arg2, d->flags);
	case RK_OP_BIND:
		return rk_prep_bind(ring, d->fd, PTR(d->addr), d->len, d->flags);
	case RK_OP_LISTEN:
		return rk_prep_listen(ring, d->fd, (int32_t)d->arg1, d->flags);
	case RK_OP_CONNECT:
		return rk_prep_connect(ring, d->fd, PTR(d->addr), d->len, d->flags);
	case RK_OP_ACCEPT:
		return rk_prep_accept(ring, d->fd, PTR(d->addr), d->len, (int32_t)d->arg1, d->flags);
	case RK_OP_SEND:
		return rk_prep_send(ring, d->fd, PTR(d->addr), d->len, (int32_t)d->arg1, d->flags);
	case RK_OP_RECV:
		return rk_prep_recv(ring, d->fd, PTR(d->addr), d->len, (int32_t)d->arg1, d->flags);
	case RK_OP_SHUTDOWN:
		return rk_prep_shutdown(ring, d->fd, (int32_t)d->arg1, d->flags);
	case RK_OP_RECV_SELECT:
		return rk_prep_recv_select(ring, d->fd, (uint16_t)d->arg2, d->len, (int32_t)d->arg1,
		                           d->flags);
	case RK_OP_RECV_MULTISHOT:
		return rk_prep_recv_multishot(ring, d->fd, (uint16_t)d->arg2, (int32_t)d->arg1,
		                              d->flags);
	case RK_OP_ACCEPT_MULTISHOT:
		return rk_prep_accept_multishot(ring, d->fd, (int32_t)d->arg1, d->flags);
	case RK_OP_POLL_MULTISHOT:
		return rk_prep_poll_multishot(ring, d->fd, (uint32_t)d->arg1, d->flags);
	case RK_OP_SEND_ZC:
		return rk_prep_send_zc(ring, d->fd, PTR(d->addr), d->len, (int32_t)d->arg1,
		                       (uint32_t)d->arg2, d->flags);
	case RK_OP_SENDMSG:
		return rk_prep_sendmsg(ring, d->fd, PTR(d->addr), d->len, PTR(d->addr2),
		                       (uint32_t)d->fd2, PTR(d->arg2), (uint32_t)d->off,
		                       (int32_t)d->arg1, d->flags);
	case RK_OP_SENDMSG_ZC:
		return rk_prep_sendmsg_zc(ring, d->fd, PTR(d->addr), d->len, PTR(d->addr2),
		                          (uint32_t)d->fd2, PTR(d->arg2), (uint32_t)d->off,
		                          (int32_t)d->arg1, d->flags);
	case RK_OP_RECVMSG:
		return rk_prep_recvmsg(ring, d->fd, PTR(d->addr), d->len, PTR(d->addr2),
		                       (uint32_t)d->fd2, PTR(d->arg2), (uint32_t)d->off,
		                       (int32_t)d->arg1, d->flags);
	case RK_OP_OPENAT_DIRECT:
		return rk_prep_openat_direct(ring, d->fd, PTR(d->addr), (int32_t)d->arg1,
		                             (uint32_t)d->arg2, d->len, d->flags);
	case RK_OP_ACCEPT_DIRECT:
		return rk_prep_accept_direct(ring, d->fd, d->len, (int32_t)d->arg1, d->flags);
	case RK_OP_ACCEPT_MULTISHOT_DIRECT:
		return rk_prep_accept_multishot_direct(ring, d->fd, (int32_t)d->arg1, d->flags);
	case RK_OP_SOCKET_DIRECT:
		return rk_prep_socket_direct(ring, d->fd, (int32_t)d->arg1, (int32_t)d->arg2, d->len,
		                             d->flags);
	case RK_OP_CLOSE_FIXED:
		return rk_prep_close_fixed(ring, d->len, d->flags);
	case RK_OP_FIXED_FD_INSTALL:
		return rk_prep_fixed_fd_install(ring, d->len, (uint32_t)d->arg1, d->flags);
	case RK_OP_MSG_RING:
		return rk_prep_msg_ring(ring, d->fd, d->off, (int32_t)d->arg1, d->flags);
	default:
		return -EINVAL;
	}
}

int rk_prep_batch(rk_ring *ring, const rk_op_desc *descs, uint32_t n, int64_t *ids)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	if (n && (!descs || !ids))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		ids[i] = prep_one(ring, &descs[i]);
		if (ids[i] < 0)
			return (int)i;
	}
	return (int)n;
}

int rk_submit_batch(rk_ring *ring, const rk_op_desc *descs, uint32_t n, int64_t *ids)
{
	int ret = rk_prep_batch(ring, descs, n, ids);
	if (ret > 0)
		ring->be->submit(ring, true);
	return ret;
}
