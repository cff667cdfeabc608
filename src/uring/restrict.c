/*
 * The kernel's half of rk_ring_restrict: the ring was set up with
 * IORING_SETUP_R_DISABLED (setup.c), so IORING_REGISTER_RESTRICTIONS still
 * applies; IORING_REGISTER_ENABLE_RINGS then lets it run. From then on the
 * kernel refuses, with -EACCES, every SQE whose opcode or flags are not
 * allowed and every io_uring_register operation not listed, whatever wrote
 * them: the core's check (restrict.c) is the one a caller meets, this one
 * holds even if the ring's memory were written by other means.
 */
#include <string.h>

#include "uring.h"

/* Every SQE flag ringkit sets: RK_ALLOWED_SQE_FLAGS are the kernel's bits,
 * and recv_select adds buffer selection. Without this entry the kernel
 * would allow no flag at all. */
#define SQE_FLAGS (IOSQE_FIXED_FILE | IOSQE_IO_DRAIN | IOSQE_IO_LINK | IOSQE_IO_HARDLINK | \
                   IOSQE_ASYNC | IOSQE_BUFFER_SELECT)

static const struct {
	uint32_t flag; /* RK_RESTRICT_*; 0: always allowed */
	uint8_t op;
} register_ops[] = {
	/* rk_cancel_sync, rk_ring_cancel_all and close's waits */
	{0, IORING_REGISTER_SYNC_CANCEL},
	{RK_RESTRICT_FILES, IORING_REGISTER_FILES2},
	{RK_RESTRICT_FILES, IORING_REGISTER_FILES_UPDATE2},
	{RK_RESTRICT_FILES, IORING_UNREGISTER_FILES},
	{RK_RESTRICT_REGIONS, IORING_REGISTER_BUFFERS2},
	{RK_RESTRICT_REGIONS, IORING_REGISTER_BUFFERS_UPDATE},
	{RK_RESTRICT_REGIONS, IORING_REGISTER_PBUF_RING},
	{RK_RESTRICT_REGIONS, IORING_UNREGISTER_PBUF_RING},
	{RK_RESTRICT_EVENTFD, IORING_REGISTER_EVENTFD},
	{RK_RESTRICT_EVENTFD, IORING_REGISTER_EVENTFD_ASYNC},
	{RK_RESTRICT_EVENTFD, IORING_UNREGISTER_EVENTFD},
};

#define NREG (sizeof(register_ops) / sizeof(register_ops[0]))

int rk__uring_restrict(rk_ring *ring, const uint8_t *opcodes, uint32_t flags)
{
	struct io_uring_restriction res[256 + NREG + 2];
	uint32_t n = 0;
	memset(res, 0, sizeof(res));
	for (int op = 0; op < 256; op++) {
		if (opcodes[op]) {
			res[n].opcode = IORING_RESTRICTION_SQE_OP;
			res[n++].sqe_op = (uint8_t)op;
		}
	}
	for (size_t i = 0; i < NREG; i++) {
		if (!register_ops[i].flag || (flags & register_ops[i].flag)) {
			res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
			res[n++].register_op = register_ops[i].op;
		}
	}
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = SQE_FLAGS;
	if (flags & RK_RESTRICT_FIXED_FILES) {
		res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
		res[n++].sqe_flags = IOSQE_FIXED_FILE;
	}
	int ret = rk__sys_register(ring->fd, IORING_REGISTER_RESTRICTIONS, res, n);
	if (ret < 0)
		return ret;
	ret = rk__sys_register(ring->fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	return ret < 0 ? ret : 0;
}
