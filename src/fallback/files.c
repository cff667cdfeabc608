/*
 * The fallback's file table, which is ours here, not the kernel's: the
 * registrations (our own duplicates, -1 for an empty slot), the fixed
 * files an op names resolved when it starts, the new descriptors direct
 * ops install, and the fixed targets of messages. Slots change under
 * fb->mu; an op holds its own duplicate of a fixed file, so the slot may
 * be replaced while it runs, as the kernel's file reference allows.
 */
#include <errno.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fb.h"

/* ---- registration ----------------------------------------------------- */

void rk__fb_close_files(rk_ring *ring)
{
	struct rk_fb *fb = ring->fb;
	for (uint32_t i = 0; i < ring->nfiles; i++)
		if (fb->files[i] >= 0)
			close(fb->files[i]);
	rk__free(fb->files);
	fb->files = NULL;
	ring->nfiles = 0;
}

/* As the kernel's table, at most RLIMIT_NOFILE slots (-EMFILE): here they
 * are real descriptors. */
int rk__fb_files_register(rk_ring *ring, uint32_t nslots)
{
	struct rk_fb *fb = ring->fb;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    nslots > rl.rlim_cur)
		return -EMFILE;
	int32_t *files = rk__calloc(nslots, sizeof(int32_t));
	if (!files)
		return -ENOMEM;
	for (uint32_t i = 0; i < nslots; i++)
		files[i] = -1;
	pthread_mutex_lock(&fb->mu);
	fb->files = files;
	fb->alloc_lo = 0;
	fb->alloc_hi = nslots;
	ring->nfiles = nslots;
	pthread_mutex_unlock(&fb->mu);
	return 0;
}

bool rk__fb_is_ring_fd(int fd)
{
	return rk__registry_has(fd) || rk__fb_sys_is_uring(fd);
}

/* As IORING_REGISTER_FILES_UPDATE2: each fd is duplicated into its slot
 * (the table's own reference), -1 empties a slot, RK_FILES_SKIP leaves it;
 * a bad fd stops the update. Returns how many were done, or the error when
 * none was. */
int rk__fb_files_update(rk_ring *ring, uint32_t offset, const int32_t *fds, uint32_t n)
{
	struct rk_fb *fb = ring->fb;
	uint32_t done = 0;
	int err = 0;
	for (; done < n; done++) {
		int32_t v = fds[done];
		uint32_t i = offset + done;
		if (v == RK_FILES_SKIP)
			continue;
		int d = -1;
		if (v >= 0) {
			if (rk__fb_is_ring_fd(v)) { /* the kernel refuses rings in its table */
				err = -EBADF;
				break;
			}
			if ((d = rk__fb_sys_dup(v)) < 0) {
				err = d;
				break;
			}
		} else if (v != -1) {
			err = -EBADF;
			break;
		}
		pthread_mutex_lock(&fb->mu);
		int old = fb->files[i];
		fb->files[i] = d;
		pthread_mutex_unlock(&fb->mu);
		if (old >= 0)
			close(old);
	}
	return done ? (int)done : err;
}

int rk__fb_files_alloc_range(rk_ring *ring, uint32_t offset, uint32_t len)
{
	struct rk_fb *fb = ring->fb;
	pthread_mutex_lock(&fb->mu);
	fb->alloc_lo = offset;
	fb->alloc_hi = offset + len;
	pthread_mutex_unlock(&fb->mu);
	return 0;
}

int rk__fb_files_unregister(rk_ring *ring)
{
	pthread_mutex_lock(&ring->fb->mu);
	rk__fb_close_files(ring);
	pthread_mutex_unlock(&ring->fb->mu);
	return 0;
}

/* ---- what ops do with it ----------------------------------------------- */

/* The fd an op's call uses: a fixed file is duplicated for the op's
 * lifetime (the slot may be replaced while the op runs, as the kernel's
 * file reference allows). -EBADF for an empty or missing slot. */
static int resolve_fixed(rk_ring *ring, int32_t index, int32_t *fd, int32_t *own)
{
	struct rk_fb *fb = ring->fb;
	if (index < 0 || (uint32_t)index >= ring->nfiles || fb->files[index] < 0)
		return -EBADF;
	int d = rk__fb_sys_dup(fb->files[index]);
	if (d < 0)
		return d;
	*fd = *own = d;
	return 0;
}

int rk__fb_resolve_files(rk_ring *ring, uint32_t slot)
{
	const struct io_uring_sqe *sqe = fb_sqe(ring, slot);
	struct fb_op *x = fbx(ring, slot);
	x->fd = sqe->fd;
	x->fd_in = -1;
	uint8_t op = sqe->opcode;
	if (op == IORING_OP_SPLICE || op == IORING_OP_TEE) {
		/* io_splice_prep's check: SPLICE_F_ALL and the fixed-file bit. */
		if (sqe->splice_flags & ~(SPLICE_F_FD_IN_FIXED | 0xfu))
			return -EINVAL;
		x->fd_in = sqe->splice_fd_in;
		if (sqe->splice_flags & SPLICE_F_FD_IN_FIXED) {
			int r = resolve_fixed(ring, sqe->splice_fd_in, &x->fd_in, &x->own[1]);
			if (r < 0)
				return r;
		}
	}
	if (!(sqe->flags & IOSQE_FIXED_FILE))
		return 0;
	switch (op) {
	case IORING_OP_MSG_RING:          /* the slot names the target ring */
	case RK_IORING_OP_FIXED_FD_INSTALL: /* the slot is the file to install */
	case IORING_OP_NOP:
	case IORING_OP_TIMEOUT:
	case IORING_OP_LINK_TIMEOUT:
	case IORING_OP_TIMEOUT_REMOVE:
	case IORING_OP_POLL_REMOVE:
	case IORING_OP_ASYNC_CANCEL:
		return 0;
	case IORING_OP_OPENAT:
	case IORING_OP_OPENAT2:
	case IORING_OP_STATX:
	case IORING_OP_UNLINKAT:
	case IORING_OP_MKDIRAT:
	case IORING_OP_RENAMEAT:
	case IORING_OP_LINKAT:
	case IORING_OP_SYMLINKAT:
	case IORING_OP_SOCKET:
	case IORING_OP_CLOSE:
		return -EBADF; /* the kernel refuses a fixed file for these */
	default:
		return resolve_fixed(ring, sqe->fd, &x->fd, &x->own[0]);
	}
}

/* A new descriptor into the ring's file table (a direct op, a file passed
 * by a message), fb->mu held: slot + 1 in file_index, or
 * IORING_FILE_INDEX_ALLOC. The table holds the descriptor; res is 0 or the
 * slot chosen. On failure fd is left to the caller. */
static int32_t install_locked(rk_ring *ring, int fd, uint32_t file_index)
{
	struct rk_fb *fb = ring->fb;
	if (!ring->nfiles)
		return -ENXIO;
	if (file_index == IORING_FILE_INDEX_ALLOC) {
		for (uint32_t i = fb->alloc_lo; i < fb->alloc_hi; i++) {
			if (fb->files[i] < 0) {
				fb->files[i] = fd;
				return (int32_t)i;
			}
		}
		return -ENFILE;
	}
	if (file_index - 1 >= ring->nfiles)
		return -EINVAL;
	uint32_t i = file_index - 1;
	if (fb->files[i] >= 0)
		close(fb->files[i]);
	fb->files[i] = fd;
	return 0;
}

static int32_t install(rk_ring *ring, int fd, uint32_t file_index)
{
	pthread_mutex_lock(&ring->fb->mu);
	int32_t res = install_locked(ring, fd, file_index);
	pthread_mutex_unlock(&ring->fb->mu);
	if (res < 0)
		close(fd);
	return res;
}

struct fb_result rk__fb_new_fd(rk_ring *ring, const struct io_uring_sqe *sqe, int fd)
{
	if (fd < 0)
		return final_err();
	if (sqe->file_index)
		return final(install(ring, fd, sqe->file_index));
	return final(fd);
}

/* The fallback's IORING_OP_MSG_RING, on the sender's thread. With `fixed`
 * fd is a slot of the sender's file table, which never holds a ring (as in
 * the kernel, update refuses ring fds): -EBADF for an empty slot, -EBADFD
 * for anything else. */
int rk__fb_send_message(rk_ring *ring, uint32_t slot, int fd, bool fixed, uint64_t data,
                        int32_t res)
{
	(void)slot;
	if (fixed) {
		struct rk_fb *fb = ring->fb;
		pthread_mutex_lock(&fb->mu);
		bool empty = fd < 0 || (uint32_t)fd >= ring->nfiles || fb->files[fd] < 0;
		pthread_mutex_unlock(&fb->mu);
		return empty ? -EBADF : -EBADFD;
	}
	return rk__msg_send(fd, data, res);
}

/* IORING_MSG_SEND_FD into a listed ring, in the kernel's order of checks:
 * the target, then the source slot, then the target's table. */
int32_t rk__fb_send_file(rk_ring *ring, const struct io_uring_sqe *sqe)
{
	int target = sqe->fd;
	if (sqe->flags & IOSQE_FIXED_FILE)
		return rk__fb_send_message(ring, 0, target, true, 0, 0);
	if (!rk__registry_has(target))
		return rk__fb_sys_is_uring(target) ? -EOPNOTSUPP : -EBADFD;
	if (target == ring->fd)
		return -EINVAL;
	struct rk_fb *fb = ring->fb;
	uint64_t src = sqe->addr3;
	pthread_mutex_lock(&fb->mu);
	int d = src < ring->nfiles && fb->files[src] >= 0 ? rk__fb_sys_dup(fb->files[src]) : -EBADF;
	pthread_mutex_unlock(&fb->mu);
	if (d < 0)
		return d;
	int32_t r;
	if (rk__registry_post_fd(target, d, sqe->file_index, sqe->off,
	                         sqe->msg_ring_flags & IORING_MSG_RING_CQE_SKIP, &r))
		return r;
	close(d); /* closed meanwhile */
	return -EBADFD;
}

/* The target's side: install, then post. As in the kernel, a file
 * installed stays when the record finds the CQ full (-EOVERFLOW). */
int rk__fb_post_fd(rk_ring *target, int file, uint32_t file_index, uint64_t data, bool skip)
{
	struct rk_fb *fb = target->fb;
	pthread_mutex_lock(&fb->mu);
	int32_t res = fb->stopping ? -EBADFD : install_locked(target, file, file_index);
	if (res < 0)
		close(file);
	else if (!skip) {
		int r = rk__fb_post_message_locked(target, data, res);
		if (r < 0)
			res = r;
	}
	pthread_mutex_unlock(&fb->mu);
	return res;
}
