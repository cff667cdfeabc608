/* How a ring's backend is chosen (ringkit.h, "Backends"): the create flags
 * first, then RINGKIT_BACKEND, then io_uring with the fallback when setup is
 * refused. A fallback ring answers like an io_uring ring of the same sizes
 * (powers of two, the kernel's limits and RK_RING_CLAMP), probes what it
 * implements, and reports itself in rk_ring_backend and RK_STAT_BACKEND. */
#include <stdlib.h>

#include "check.h"

static int uring_ok; /* io_uring is allowed here */

static int backend_of(uint32_t flags, const char *env)
{
	if (env)
		CHECK_EQ(setenv("RINGKIT_BACKEND", env, 1), 0);
	else
		CHECK_EQ(unsetenv("RINGKIT_BACKEND"), 0);
	rk_ring *ring;
	int ret = rk_ring_create(8, flags, &ring);
	if (ret < 0) {
		CHECK(ring == NULL);
		return ret;
	}
	int be = rk_ring_backend(ring);
	uint64_t st[RK_STAT_COUNT];
	CHECK_EQ(rk_ring_stats(ring, st, RK_STAT_COUNT), RK_STAT_COUNT);
	CHECK_EQ(st[RK_STAT_BACKEND], be);
	CHECK_EQ(rk_ring_close(ring), 0);
	return be;
}

static void sizes(void)
{
	rk_ring *ring;
	/* The SQ rounds up to a power of two, the CQ is twice that. */
	CHECK_EQ(rk_ring_create_ex(5, RK_RING_FALLBACK, 0, 0, 0, &ring), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_SQ_ENTRIES), 8);
	CHECK_EQ(stat_of(ring, RK_STAT_CQ_ENTRIES), 16);
	CHECK_EQ(stat_of(ring, RK_STAT_CAPACITY), 32);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_ring_create_ex(4, RK_RING_FALLBACK, 100, 9, 0, &ring), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_CQ_ENTRIES), 128);
	CHECK_EQ(stat_of(ring, RK_STAT_CAPACITY), 9);
	CHECK_EQ(rk_ring_close(ring), 0);
	/* io_uring's limits, and CLAMP. */
	CHECK_EQ(rk_ring_create(1u << 20, RK_RING_FALLBACK, &ring), -EINVAL);
	CHECK_EQ(rk_ring_create(1u << 20, RK_RING_FALLBACK | RK_RING_CLAMP, &ring), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_SQ_ENTRIES), 32768);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_ring_create_ex(8, RK_RING_FALLBACK, 1u << 20, 0, 0, &ring), -EINVAL);
	/* Setup modes are accepted. */
	CHECK_EQ(rk_ring_create(8, RK_RING_FALLBACK | RK_RING_SQPOLL | RK_RING_DEFER_TASKRUN |
	                               RK_RING_COOP_TASKRUN,
	                        &ring),
	         0);
	/* What it implements, whatever this kernel's io_uring knows. */
	const char *ops[] = {"IORING_OP_NOP", "IORING_OP_READ", "IORING_OP_BIND",
	                     "IORING_OP_LISTEN", "IORING_OP_SEND_ZC", "IORING_OP_MSG_RING",
	                     "IORING_OP_FIXED_FD_INSTALL", "IORING_OP_LINK_TIMEOUT"};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		CHECK_EQ(rk_ring_probe(ring, opcode(ops[i])), 1);
	CHECK_EQ(rk_ring_probe(ring, opcode("IORING_OP_FUTEX_WAIT")), 0); /* not offered by ringkit */
	CHECK_EQ(stat_of(ring, RK_STAT_FEATURES), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
}

int main(void)
{
	rk_ring *probe;
	uring_ok = rk_ring_create(8, RK_RING_NO_FALLBACK, &probe) == 0;
	if (uring_ok)
		CHECK_EQ(rk_ring_close(probe), 0);
	const int U = RK_BACKEND_URING, F = RK_BACKEND_FALLBACK;
	const int auto_be = uring_ok ? U : F;

	/* Flags win over the environment. */
	CHECK_EQ(backend_of(RK_RING_FALLBACK, NULL), F);
	CHECK_EQ(backend_of(RK_RING_FALLBACK, "uring"), F);
	CHECK_EQ(backend_of(RK_RING_FALLBACK | RK_RING_NO_FALLBACK, NULL), -EINVAL);
	if (uring_ok) {
		CHECK_EQ(backend_of(RK_RING_NO_FALLBACK, NULL), U);
		CHECK_EQ(backend_of(RK_RING_NO_FALLBACK, "fallback"), U);
	} else {
		CHECK(backend_of(RK_RING_NO_FALLBACK, NULL) < 0);
	}
	/* The environment sets the default. */
	CHECK_EQ(backend_of(0, NULL), auto_be);
	CHECK_EQ(backend_of(0, ""), auto_be);
	CHECK_EQ(backend_of(0, "auto"), auto_be);
	CHECK_EQ(backend_of(0, "fallback"), F);
	if (uring_ok)
		CHECK_EQ(backend_of(0, "uring"), U);
	else
		CHECK(backend_of(0, "uring") < 0); /* io_uring_setup's own error */
	CHECK_EQ(backend_of(0, "fallbak"), -EINVAL); /* a misspelt switch is not ignored */
	CHECK_EQ(unsetenv("RINGKIT_BACKEND"), 0);
	CHECK_EQ(rk_ring_backend(NULL), -EINVAL);

	int64_t v;
	CHECK_EQ(rk_constant("RK_RING_FALLBACK", &v), 0);
	CHECK_EQ(v, RK_RING_FALLBACK);
	CHECK_EQ(rk_constant("RK_BACKEND_FALLBACK", &v), 0);
	CHECK_EQ(v, RK_BACKEND_FALLBACK);
	sizes();
	return 0;
}
