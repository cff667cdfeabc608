/*
 * rk_ring_restrict: a ring limited, for good, to the ops a host lists, so
 * that code the host does not trust (an embedded script) can be handed the
 * ring and nothing more. The core checks every prep against the list
 * (rk__gate in internal.h, behind the one branch rk__op_begin keeps for it), the
 * same on both backends; a backend with a kernel behind it has the kernel
 * check the same list as well (the restrict_ops hook).
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

#define RK_RESTRICT_ALL (RK_RESTRICT_FIXED_FILES | RK_RESTRICT_FILES | RK_RESTRICT_REGIONS | \
                         RK_RESTRICT_EVENTFD)

int rk_ring_restrict(rk_ring *ring, const uint32_t *ops, uint32_t n, uint32_t flags)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	if ((!ops && n) || (flags & ~RK_RESTRICT_ALL) || !(ring->rk_flags & RK_RING_RESTRICTABLE))
		return -EINVAL;
	if (ring->gate != RK_GATE_DISABLED)
		return -EPERM;
	uint8_t allowed[RK_OP_COUNT] = {0};
	uint8_t opcodes[256] = {0};
	for (uint32_t i = 0; i < n; i++) {
		const rk_op_info *info = rk_op_info_of(ops[i]);
		if (!info)
			return -EINVAL;
		allowed[ops[i]] = RK_ALLOW_ANY;
		opcodes[info->opcode] = 1;
	}
	if (flags & RK_RESTRICT_FIXED_FILES) {
		/* The kernel requires IOSQE_FIXED_FILE of every SQE. close and
		 * close_fixed name their slot as the target and never carry it
		 * (ops_file.c, files.c); fixed_fd_install always does. */
		for (uint32_t op = 0; op < RK_OP_COUNT; op++)
			if (allowed[op] && op != RK_OP_FIXED_FD_INSTALL)
				allowed[op] = RK_ALLOW_FIXED;
		allowed[RK_OP_CLOSE] = allowed[RK_OP_CLOSE_FIXED] = RK_ALLOW_NONE;
	}
	/* A chunk op on a region not registered with the ring is a plain read
	 * or write (ops_file.c). */
	if (allowed[RK_OP_READ_CHUNK])
		opcodes[IORING_OP_READ] = 1;
	if (allowed[RK_OP_WRITE_CHUNK])
		opcodes[IORING_OP_WRITE] = 1;
	/* A copy runs as sub-ops the core prepares itself (copy.c): splices
	 * or reads and writes, after a fallocate. They take no prep, so the
	 * core's list never sees them; the kernel's must let them through. */
	if (allowed[RK_OP_COPY])
		opcodes[IORING_OP_SPLICE] = opcodes[IORING_OP_READ] = opcodes[IORING_OP_WRITE] =
			opcodes[IORING_OP_FALLOCATE] = 1;
	if (ring->be->restrict_ops && (err = ring->be->restrict_ops(ring, opcodes, flags)) < 0)
		return err;
	memcpy(ring->allowed, allowed, sizeof(allowed));
	ring->restrict_flags = flags;
	ring->gate = RK_GATE_RESTRICTED;
	rk__ring_key(ring);
	return 0;
}
