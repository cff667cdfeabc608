/*
 * The registered file table and the direct ops that fill it. The table is
 * always registered sparse: slots start empty and are filled one range at a
 * time (update) or by the kernel itself (direct open/accept/socket), so a
 * runtime never has to know its files up front.
 *
 * Direct ops name their target slot in sqe->file_index as slot + 1 (0 means
 * "a normal fd"), or IORING_FILE_INDEX_ALLOC for "any free slot".
 */
#include <errno.h>

#include "ids.h"

int rk_ring_register_files(rk_ring *ring, uint32_t nslots)
{
	int err = rk__check_ring(ring);
	if (err || (err = rk__restrict_call(ring, RK_RESTRICT_FILES)))
		return err;
	if (nslots == 0 || nslots > RK_FILES_MAX)
		return -EINVAL;
	if (ring->nfiles)
		return -EBUSY;
	int ret = ring->be->files_register(ring, nslots);
	if (ret < 0)
		return ret;
	ring->nfiles = nslots;
	return 0;
}

/* The backend takes its own reference to each file during the call, so the
 * caller's array is not kept. */
int rk_ring_update_files(rk_ring *ring, uint32_t offset, const int32_t *fds, uint32_t n)
{
	int err = rk__check_ring(ring);
	if (err || (err = rk__restrict_call(ring, RK_RESTRICT_FILES)))
		return err;
	if (!ring->nfiles)
		return -ENXIO;
	if (offset > ring->nfiles || n > ring->nfiles - offset)
		return -EINVAL;
	if (!fds && n)
		return -EFAULT;
	if (n == 0)
		return 0;
	return ring->be->files_update(ring, offset, fds, n);
}

int rk_ring_unregister_files(rk_ring *ring)
{
	int err = rk__check_ring(ring);
	if (err || (err = rk__restrict_call(ring, RK_RESTRICT_FILES)))
		return err;
	if (!ring->nfiles)
		return -ENXIO;
	int ret = ring->be->files_unregister(ring);
	if (ret < 0)
		return ret;
	ring->nfiles = 0;
	return 0;
}

/* -ENXIO without a table, -EINVAL for an index outside it; ALLOC passes
 * when alloc is allowed. */
static int check_index(rk_ring *ring, uint32_t file_index, bool alloc)
{
	if (!ring->nfiles)
		return -ENXIO;
	if (file_index == RK_FILE_INDEX_ALLOC)
		return alloc ? 0 : -EINVAL;
	return file_index < ring->nfiles ? 0 : -EINVAL;
}

static void set_target(struct io_uring_sqe *sqe, uint32_t file_index)
{
	sqe->file_index = file_index == RK_FILE_INDEX_ALLOC ? IORING_FILE_INDEX_ALLOC
	                                                    : file_index + 1;
}

int64_t rk_prep_openat_direct(rk_ring *ring, int dfd, const char *path, int32_t oflags,
                              uint32_t mode, uint32_t file_index, uint32_t flags)
{
	if (!ring)
		return -EINVAL;
	int64_t ret = check_index(ring, file_index, true);
	if (ret < 0)
		return ret;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	if ((ret = rk__op_begin(ring, RK_OP_OPENAT_DIRECT, flags, &op, &sqe)) < 0)
		return ret;
	const char *p;
	if ((ret = rk__copy_path(ring, op, path, &p)) < 0) {
		rk__op_abort(ring, op);
		return ret;
	}
	io_uring_prep_openat(sqe, dfd, p, oflags, mode);
	set_target(sqe, file_index);
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_accept_direct(rk_ring *ring, int fd, uint32_t file_index, int32_t accept_flags,
                              uint32_t flags)
{
	if (!ring)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	int64_t ret = check_index(ring, file_index, true);
	if (ret < 0)
		return ret;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	if ((ret = rk__op_begin(ring, RK_OP_ACCEPT_DIRECT, flags, &op, &sqe)) < 0)
		return ret;
	io_uring_prep_accept(sqe, fd, NULL, NULL, accept_flags);
	set_target(sqe, file_index);
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_accept_multishot_direct(rk_ring *ring, int fd, int32_t accept_flags,
                                        uint32_t flags)
{
	if (!ring)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	int64_t ret = check_index(ring, RK_FILE_INDEX_ALLOC, true);
	if (ret < 0)
		return ret;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	if ((ret = rk__op_begin(ring, RK_OP_ACCEPT_MULTISHOT_DIRECT, flags, &op, &sqe)) < 0)
		return ret;
	io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, accept_flags);
	set_target(sqe, RK_FILE_INDEX_ALLOC);
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_socket_direct(rk_ring *ring, int32_t domain, int32_t type, int32_t protocol,
                              uint32_t file_index, uint32_t flags)
{
	if (!ring)
		return -EINVAL;
	if (!ring->probe[IORING_OP_SOCKET])
		return -EOPNOTSUPP;
	int64_t ret = check_index(ring, file_index, true);
	if (ret < 0)
		return ret;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	if ((ret = rk__op_begin(ring, RK_OP_SOCKET_DIRECT, flags, &op, &sqe)) < 0)
		return ret;
	io_uring_prep_socket(sqe, domain, type, protocol, 0);
	set_target(sqe, file_index);
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_close_fixed(rk_ring *ring, uint32_t slot, uint32_t flags)
{
	if (!ring)
		return -EINVAL;
	int64_t ret = check_index(ring, slot, false);
	if (ret < 0)
		return ret;
	if (flags & RK_FIXED_FILE)
		return -EINVAL; /* the slot is the target, not the op's file */
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	if ((ret = rk__op_begin(ring, RK_OP_CLOSE_FIXED, flags, &op, &sqe)) < 0)
		return ret;
	io_uring_prep_close_direct(sqe, slot);
	return rk__op_commit(ring, op, sqe, flags);
}

/* The kernel takes the slot as a fixed-file fd of the op itself. */
int64_t rk_prep_fixed_fd_install(rk_ring *ring, uint32_t slot, uint32_t install_flags,
                                 uint32_t flags)
{
	if (!ring)
		return -EINVAL;
	if (!ring->probe[RK_IORING_OP_FIXED_FD_INSTALL])
		return -EOPNOTSUPP;
	int64_t ret = check_index(ring, slot, false);
	if (ret < 0)
		return ret;
	if (install_flags & ~RK_FIXED_FD_NO_CLOEXEC)
		return -EINVAL;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	if ((ret = rk__op_begin(ring, RK_OP_FIXED_FD_INSTALL, flags, &op, &sqe)) < 0)
		return ret;
	io_uring_prep_rw(RK_IORING_OP_FIXED_FD_INSTALL, sqe, (int)slot, NULL, 0, 0);
	sqe->rw_flags = (int)install_flags;
	op->kind = RK_KIND_FD;
	return rk__op_commit(ring, op, sqe, flags | RK_FIXED_FILE);
}
