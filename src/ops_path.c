/*
 * Prep functions for ops that name files by path. The kernel reads a path
 * when the op runs, not when it is prepared, so every path is copied into op
 * storage: the caller's string may be a moving GC's object.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "ids.h"

/* Length of a path including its NUL, or a negative errno. */
static int path_size(const char *path)
{
	if (!path)
		return -EFAULT;
	size_t n = strnlen(path, PATH_MAX);
	if (n >= PATH_MAX)
		return -ENAMETOOLONG;
	return (int)n + 1;
}

/* Copies `prefix` bytes of zeroed room followed by path; *out points at the
 * copied path. -EBUSY when op storage is exhausted. */
static int copy_path_after(rk_ring *ring, struct rk_op *op, size_t prefix, const char *path,
                           int size, unsigned char **room, const char **out)
{
	unsigned char *p = rk__op_storage(ring, op, prefix + (size_t)size);
	if (!p)
		return -EBUSY;
	memset(p, 0, prefix);
	memcpy(p + prefix, path, (size_t)size);
	if (room)
		*room = p;
	*out = (const char *)(p + prefix);
	return 0;
}

int rk__copy_path(rk_ring *ring, struct rk_op *op, const char *path, const char **out)
{
	int size = path_size(path);
	if (size < 0)
		return size;
	return copy_path_after(ring, op, 0, path, size, NULL, out);
}

int rk__copy_paths(rk_ring *ring, struct rk_op *op, const char *a, const char *b,
                   const char **outa, const char **outb)
{
	int sa = path_size(a), sb = path_size(b);
	if (sa < 0)
		return sa;
	if (sb < 0)
		return sb;
	unsigned char *p = rk__op_storage(ring, op, (size_t)sa + (size_t)sb);
	if (!p)
		return -EBUSY;
	memcpy(p, a, (size_t)sa);
	memcpy(p + sa, b, (size_t)sb);
	*outa = (const char *)p;
	*outb = (const char *)(p + sa);
	return 0;
}

/* Begins an op whose only pointer argument is one path, copied. */
static int64_t begin_path_op(rk_ring *ring, uint32_t code, const char *path, uint32_t flags,
                             struct rk_op **op, struct io_uring_sqe **sqe, const char **copy)
{
	int64_t ret = rk__op_begin(ring, code, flags, op, sqe);
	if (ret < 0)
		return ret;
	ret = rk__copy_path(ring, *op, path, copy);
	if (ret < 0)
		rk__op_abort(ring, *op);
	return ret;
}

static int64_t begin_two_path_op(rk_ring *ring, uint32_t code, const char *a, const char *b,
                                 uint32_t flags,
                                 struct rk_op **op, struct io_uring_sqe **sqe,
                                 const char **ca, const char **cb)
{
	int64_t ret = rk__op_begin(ring, code, flags, op, sqe);
	if (ret < 0)
		return ret;
	ret = rk__copy_paths(ring, *op, a, b, ca, cb);
	if (ret < 0)
		rk__op_abort(ring, *op);
	return ret;
}

int64_t rk_prep_openat(rk_ring *ring, int dfd, const char *path, int32_t oflags, uint32_t mode,
                       uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	const char *p;
	int64_t ret = begin_path_op(ring, RK_OP_OPENAT, path, flags, &op, &sqe, &p);
	if (ret < 0)
		return ret;
	io_uring_prep_openat(sqe, dfd, p, oflags, mode);
	op->kind = RK_KIND_FD;
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_openat2(rk_ring *ring, int dfd, const char *path, uint64_t oflags, uint64_t mode,
                        uint64_t resolve, uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin(ring, RK_OP_OPENAT2, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	int size = path_size(path);
	unsigned char *room;
	const char *p;
	ret = size < 0 ? size : copy_path_after(ring, op, sizeof(struct open_how), path, size,
	                                        &room, &p);
	if (ret < 0) {
		rk__op_abort(ring, op);
		return ret;
	}
	struct open_how *how = (struct open_how *)room;
	how->flags = oflags;
	how->mode = mode;
	how->resolve = resolve;
	io_uring_prep_openat2(sqe, dfd, p, how);
	op->kind = RK_KIND_FD;
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_statx(rk_ring *ring, int dfd, const char *path, int32_t at_flags, uint32_t mask,
                      void *statxbuf, uint32_t flags)
{
	if (!ring)
		return -EINVAL;
	if (!statxbuf)
		return -EFAULT;
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	const char *p;
	int64_t ret = begin_path_op(ring, RK_OP_STATX, path, flags, &op, &sqe, &p);
	if (ret < 0)
		return ret;
	io_uring_prep_statx(sqe, dfd, p, at_flags, mask, statxbuf);
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_unlinkat(rk_ring *ring, int dfd, const char *path, int32_t at_flags,
                         uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	const char *p;
	int64_t ret = begin_path_op(ring, RK_OP_UNLINKAT, path, flags, &op, &sqe, &p);
	if (ret < 0)
		return ret;
	io_uring_prep_unlinkat(sqe, dfd, p, at_flags);
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_mkdirat(rk_ring *ring, int dfd, const char *path, uint32_t mode, uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	const char *p;
	int64_t ret = begin_path_op(ring, RK_OP_MKDIRAT, path, flags, &op, &sqe, &p);
	if (ret < 0)
		return ret;
	io_uring_prep_mkdirat(sqe, dfd, p, mode);
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_renameat(rk_ring *ring, int olddfd, const char *oldpath, int newdfd,
                         const char *newpath, uint32_t rename_flags, uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	const char *a, *b;
	int64_t ret = begin_two_path_op(ring, RK_OP_RENAMEAT, oldpath, newpath, flags, &op, &sqe,
	                                &a, &b);
	if (ret < 0)
		return ret;
	io_uring_prep_renameat(sqe, olddfd, a, newdfd, b, rename_flags);
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_linkat(rk_ring *ring, int olddfd, const char *oldpath, int newdfd,
                       const char *newpath, int32_t at_flags, uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	const char *a, *b;
	int64_t ret = begin_two_path_op(ring, RK_OP_LINKAT, oldpath, newpath, flags, &op, &sqe,
	                                &a, &b);
	if (ret < 0)
		return ret;
	io_uring_prep_linkat(sqe, olddfd, a, newdfd, b, at_flags);
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_symlinkat(rk_ring *ring, const char *target, int newdfd, const char *linkpath,
                          uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	const char *a, *b;
	int64_t ret = begin_two_path_op(ring, RK_OP_SYMLINKAT, target, linkpath, flags, &op, &sqe,
	                                &a, &b);
	if (ret < 0)
		return ret;
	io_uring_prep_symlinkat(sqe, a, newdfd, b);
	return rk__op_commit(ring, op, sqe, flags);
}
