/*
 * Prep functions for ops on open file descriptors: data transfer, sync,
 * space management and pipes. Argument checks come before a slot is taken,
 * so a rejected call leaves the table exactly as it was.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "ids.h"

_Static_assert(sizeof(rk_iovec) == sizeof(struct iovec), "rk_iovec must match struct iovec");
_Static_assert(sizeof(rk_cqe) == 16, "rk_cqe is 16 bytes");
_Static_assert(sizeof(rk_op_desc) == 64, "rk_op_desc is 64 bytes");

static inline __attribute__((always_inline)) int64_t prep_nop_at(rk_ring *ring, uint32_t flags,
                                                                  bool straight)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin(ring, RK_OP_NOP, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	io_uring_prep_nop(sqe);
	if (straight)
		rk__op_in_sq(op, sqe);
	return rk__op_commit(ring, op, sqe, flags);
}

__attribute__((noinline)) static int64_t prep_nop_checked(rk_ring *ring, uint32_t flags)
{
	return prep_nop_at(ring, flags, false);
}

int64_t rk_prep_nop(rk_ring *ring, uint32_t flags)
{
	if (__builtin_expect(!rk__op_straight(ring, flags), 0))
		return prep_nop_checked(ring, flags);
	return prep_nop_at(ring, flags, true);
}

static inline __attribute__((always_inline)) int64_t
prep_rw_at(rk_ring *ring, uint32_t code, uint8_t opcode, int fd, const void *buf, uint32_t len,
           int64_t offset, uint32_t flags, bool straight)
{
	if (!ring)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (!buf && len)
		return -EFAULT;
	if (offset < -1)
		return -EINVAL;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin(ring, code, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	io_uring_prep_rw(opcode, sqe, fd, buf, len, (uint64_t)offset);
	if (straight)
		rk__op_in_sq(op, sqe);
	return rk__op_commit(ring, op, sqe, flags);
}

/* rk_prep_read and rk_prep_write: the straight path inline; the rest in a
 * copy with every check, out of line and with the public call's arguments,
 * so that the straight path reaches it by a jump (rk__op_straight). */
#define RK_PREP_RW(name, CODE, OPCODE, bufty)                                                      \
	__attribute__((noinline)) static int64_t name##_checked(                                   \
	    rk_ring *ring, int fd, bufty buf, uint32_t len, int64_t offset, uint32_t flags)        \
	{                                                                                          \
		return prep_rw_at(ring, CODE, OPCODE, fd, buf, len, offset, flags, false);         \
	}                                                                                          \
	int64_t rk_##name(rk_ring *ring, int fd, bufty buf, uint32_t len, int64_t offset,          \
	                  uint32_t flags)                                                          \
	{                                                                                          \
		if (__builtin_expect(!rk__op_straight(ring, flags), 0))                            \
			return name##_checked(ring, fd, buf, len, offset, flags);                  \
		return prep_rw_at(ring, CODE, OPCODE, fd, buf, len, offset, flags, true);          \
	}

RK_PREP_RW(prep_read, RK_OP_READ, IORING_OP_READ, void *)
RK_PREP_RW(prep_write, RK_OP_WRITE, IORING_OP_WRITE, const void *)

/* The iovec array is copied into op storage: the kernel reads it when the op
 * runs, which may be long after the caller's array is gone. */
static int64_t prep_rwv(rk_ring *ring, uint32_t code, uint8_t opcode, int fd, const rk_iovec *iov,
                        uint32_t niov, int64_t offset, int32_t rw_flags, uint32_t flags)
{
	if (!ring)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (niov > RK_IOV_MAX || offset < -1)
		return -EINVAL;
	if (!iov && niov)
		return -EFAULT;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin(ring, code, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	struct iovec *copy = rk__op_storage(ring, op, (size_t)niov * sizeof(*copy));
	if (!copy) {
		rk__op_abort(ring, op);
		return -EBUSY;
	}
	if (niov)
		memcpy(copy, iov, (size_t)niov * sizeof(*copy));
	io_uring_prep_rw(opcode, sqe, fd, copy, niov, (uint64_t)offset);
	sqe->rw_flags = rw_flags;
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_readv(rk_ring *ring, int fd, const rk_iovec *iov, uint32_t niov, int64_t offset,
                      int32_t rw_flags, uint32_t flags)
{
	return prep_rwv(ring, RK_OP_READV, IORING_OP_READV, fd, iov, niov, offset, rw_flags, flags);
}

int64_t rk_prep_writev(rk_ring *ring, int fd, const rk_iovec *iov, uint32_t niov,
                       int64_t offset, int32_t rw_flags, uint32_t flags)
{
	return prep_rwv(ring, RK_OP_WRITEV, IORING_OP_WRITEV, fd, iov, niov, offset, rw_flags, flags);
}

/* A chunk read or write, with the region's fixed-buffer index in the ring
 * (-1: none) already known. */
static inline __attribute__((always_inline)) int64_t
prep_chunk_at(rk_ring *ring, bool write, int fd, rk_region *region, int32_t chunk, uint32_t len,
              int64_t offset, uint32_t flags, int index, bool straight)
{
	if (fd < 0)
		return -EBADF;
	/* A negative chunk is a huge one: nchunks stays within RK_MAX_CAPACITY. */
	if ((uint32_t)chunk >= region->nchunks || region->allocated[chunk] != RK_CHUNK_CALLER)
		return -EINVAL;
	if (len > region->chunk_size || offset < -1)
		return -EINVAL;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin(ring, write ? RK_OP_WRITE_CHUNK : RK_OP_READ_CHUNK, flags, &op,
	                           &sqe);
	if (ret < 0)
		return ret;
	unsigned char *buf = region->base + (size_t)chunk * region->chunk_size;
	if (index >= 0)
		io_uring_prep_rw(write ? IORING_OP_WRITE_FIXED : IORING_OP_READ_FIXED, sqe, fd,
		                 buf, len, (uint64_t)offset);
	else
		io_uring_prep_rw(write ? IORING_OP_WRITE : IORING_OP_READ, sqe, fd, buf, len,
		                 (uint64_t)offset);
	if (index >= 0)
		sqe->buf_index = (uint16_t)index;
	op->region = region;
	op->chunk = chunk;
	op->held |= RK_HELD_CHUNK;
	rk__region_pin(region, chunk);
	if (straight)
		rk__op_in_sq(op, sqe);
	return rk__op_commit(ring, op, sqe, flags);
}

/* The read and the write when the region's hint misses or the prep is off
 * its straight path (rk__op_straight): out of line, and with the public
 * call's arguments, so that the common prep reaches them by a jump and
 * keeps nothing on the stack around a call. */
#define RK_CHUNK_FIND(name, write)                                                                \
	__attribute__((noinline)) static int64_t name(rk_ring *ring, int fd, rk_region *region,    \
	                                              int32_t chunk, uint32_t len,                 \
	                                              int64_t offset, uint32_t flags)              \
	{                                                                                          \
		return prep_chunk_at(ring, write, fd, region, chunk, len, offset, flags,            \
		                     rk__ring_region_find(ring, region), false);                    \
	}
RK_CHUNK_FIND(read_chunk_find, false)
RK_CHUNK_FIND(write_chunk_find, true)

static inline __attribute__((always_inline)) int64_t
prep_chunk(rk_ring *ring, bool write, int fd, rk_region *region, int32_t chunk, uint32_t len,
           int64_t offset, uint32_t flags)
{
	if (!ring || !region)
		return -EINVAL;
	int index;
	if (!rk__op_straight(ring, flags) || !rk__ring_region_hint(ring, region, &index))
		return (write ? write_chunk_find : read_chunk_find)(ring, fd, region, chunk, len,
		                                                      offset, flags);
	return prep_chunk_at(ring, write, fd, region, chunk, len, offset, flags, index, true);
}

int64_t rk_prep_read_chunk(rk_ring *ring, int fd, rk_region *region, int32_t chunk, uint32_t len,
                           int64_t offset, uint32_t flags)
{
	return prep_chunk(ring, false, fd, region, chunk, len, offset, flags);
}

int64_t rk_prep_write_chunk(rk_ring *ring, int fd, rk_region *region, int32_t chunk,
                            uint32_t len, int64_t offset, uint32_t flags)
{
	return prep_chunk(ring, true, fd, region, chunk, len, offset, flags);
}

static int64_t prep_sync(rk_ring *ring, uint32_t code, int fd, int64_t offset, uint32_t len,
                         uint32_t fsync_flags, uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin_fd(ring, code, fd, offset < 0, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	io_uring_prep_fsync(sqe, fd, fsync_flags);
	sqe->off = (uint64_t)offset;
	sqe->len = len;
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_fsync(rk_ring *ring, int fd, int64_t offset, uint32_t len, uint32_t flags)
{
	return prep_sync(ring, RK_OP_FSYNC, fd, offset, len, 0, flags);
}

int64_t rk_prep_fdatasync(rk_ring *ring, int fd, int64_t offset, uint32_t len, uint32_t flags)
{
	return prep_sync(ring, RK_OP_FDATASYNC, fd, offset, len, IORING_FSYNC_DATASYNC, flags);
}

int64_t rk_prep_close(rk_ring *ring, int fd, uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin_fd(ring, RK_OP_CLOSE, fd, false, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	/* Closing a fixed file names its table index, not a fixed-file fd. */
	if (flags & RK_FIXED_FILE) {
		io_uring_prep_close_direct(sqe, (unsigned)fd);
		flags &= ~RK_FIXED_FILE;
	} else {
		/* The kernel refuses to close an io_uring (-EBADF); a listed
		 * ring's fd (a fallback ring's) is an eventfd it would close: it
		 * closes no fd at all instead, which completes with the same
		 * -EBADF, in its place in any chain, on both backends. */
		io_uring_prep_close(sqe, rk__registry_has(fd) ? -1 : fd);
	}
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_fallocate(rk_ring *ring, int fd, int32_t mode, int64_t offset, int64_t len,
                          uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin_fd(ring, RK_OP_FALLOCATE, fd, offset < 0 || len <= 0, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	io_uring_prep_fallocate(sqe, fd, mode, (off_t)offset, (off_t)len);
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_fadvise(rk_ring *ring, int fd, int64_t offset, uint32_t len, int32_t advice,
                        uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin_fd(ring, RK_OP_FADVISE, fd, offset < 0, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	io_uring_prep_fadvise(sqe, fd, (uint64_t)offset, (off_t)len, advice);
	return rk__op_commit(ring, op, sqe, flags);
}

/* Newer than liburing 2.3: the SQE is laid out as the kernel's
 * io_ftruncate_prep reads it (the length in off, every other field 0). */
int64_t rk_prep_ftruncate(rk_ring *ring, int fd, int64_t len, uint32_t flags)
{
	if (ring && fd >= 0 && len >= 0 && !ring->probe[RK_IORING_OP_FTRUNCATE])
		return -EOPNOTSUPP;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin_fd(ring, RK_OP_FTRUNCATE, fd, len < 0, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	io_uring_prep_rw(RK_IORING_OP_FTRUNCATE, sqe, fd, NULL, 0, (uint64_t)len);
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_splice(rk_ring *ring, int fd_in, int64_t off_in, int fd_out, int64_t off_out,
                       uint32_t nbytes, uint32_t splice_flags, uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	/* The smaller fd is negative when either is. */
	int64_t ret = rk__op_begin_fd(ring, RK_OP_SPLICE, fd_in < fd_out ? fd_in : fd_out,
	                              off_in < -1 || off_out < -1, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	io_uring_prep_splice(sqe, fd_in, off_in, fd_out, off_out, nbytes, splice_flags);
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_tee(rk_ring *ring, int fd_in, int fd_out, uint32_t nbytes,
                    uint32_t splice_flags, uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin_fd(ring, RK_OP_TEE, fd_in < fd_out ? fd_in : fd_out, false, flags,
	                              &op, &sqe);
	if (ret < 0)
		return ret;
	io_uring_prep_tee(sqe, fd_in, fd_out, nbytes, splice_flags);
	return rk__op_commit(ring, op, sqe, flags);
}
