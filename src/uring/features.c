/*
 * Kernel features newer than the system liburing (2.3), on io_uring: how
 * the running kernel is asked whether it has one, and the registrations
 * that use them. The constants and structs come from src/compat.h.
 */
#include <string.h>

#include "uring.h"

/* A register opcode the kernel does not know answers -EINVAL before it
 * reads its argument; one it knows reads it first. An argument it must
 * refuse with another errno tells the two apart without changing
 * anything. */
static bool register_known(rk_ring *ring, uint32_t opcode, const void *arg, uint32_t nr_args,
                           int known_errno)
{
	return rk__sys_register(ring->fd, opcode, arg, nr_args) == known_errno;
}

int rk__uring_feature(rk_ring *ring, uint32_t feature)
{
	switch (feature) {
	case RK_FEATURE_FILE_ALLOC_RANGE: {
		/* off + len overflows: -EOVERFLOW, checked before the table. */
		struct io_uring_file_index_range r = {.off = UINT32_MAX, .len = 1};
		return register_known(ring, IORING_REGISTER_FILE_ALLOC_RANGE, &r, 0, -EOVERFLOW);
	}
	}
	return 0;
}

int rk__uring_files_alloc_range(rk_ring *ring, uint32_t offset, uint32_t len)
{
	struct io_uring_file_index_range r;
	memset(&r, 0, sizeof(r));
	r.off = offset;
	r.len = len;
	int ret = rk__sys_register(ring->fd, IORING_REGISTER_FILE_ALLOC_RANGE, &r, 0);
	/* The range was checked against the table: -EINVAL is the kernel not
	 * knowing the opcode. */
	if (ret == -EINVAL)
		return -EOPNOTSUPP;
	return ret < 0 ? ret : 0;
}
