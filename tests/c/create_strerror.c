/* rk_ring_create_strerror says the cause of a refused create first: the
 * argument at fault and its range, an unknown RINGKIT_BACKEND, or (where the
 * fallback was forbidden) io_uring's refusal and what forbade the fallback,
 * without the words of unrelated contexts (SQPOLL's credentials). Every
 * refusal it explains is one rk_ring_create_ex makes. */
#include <stdlib.h>

#include "check.h"

static const char *why(int64_t entries, uint32_t flags, int64_t cq, int64_t cap)
{
	return rk_ring_create_strerror(-EINVAL, entries, flags, cq, cap, 0);
}

static void refused(uint32_t entries, uint32_t flags, uint32_t cq, uint32_t cap,
                    const char *words)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create_ex(entries, flags, cq, cap, 0, &ring), -EINVAL);
	const char *s = why(entries, flags, cq, cap);
	if (!strstr(s, words)) {
		fprintf(stderr, "expected \"%s\" in \"%s\"\n", words, s);
		exit(1);
	}
}

int main(void)
{
	CHECK_EQ(unsetenv("RINGKIT_BACKEND"), 0);
	refused(0, RK_RING_FALLBACK, 0, 0, "entries must be 1..32768");
	refused(40000, RK_RING_FALLBACK, 0, 0, "entries must be 1..32768");
	refused(8, RK_RING_FALLBACK, 4, 0, "cq_entries must be 0");
	refused(8, RK_RING_FALLBACK, 1u << 20, 0, "cq_entries must be 0");
	refused(8, RK_RING_FALLBACK, 0, (1u << 24) + 1, "capacity must be 0 (4x the SQ) or at "
	                                                "most 16777216");
	refused(8, RK_RING_FALLBACK | RK_RING_NO_FALLBACK, 0, 0, "exclude each other");
	refused(8, 1u << 30, 0, 0, "unknown RK_RING_* bits");
	/* What a binding cannot pass, it can still ask about. */
	CHECK(strstr(why(-1, 0, 0, 0), "entries must be 1..32768"));
	CHECK(strstr(why(8, 0, -1, 0), "cq_entries must be"));
	CHECK(strstr(why(8, 0, 0, -5), "capacity must be"));
	CHECK(strstr(rk_ring_create_strerror(-EINVAL, 8, 0, 0, 0, -1), "sq_thread_idle_ms"));

	/* The environment: a bad value is the cause, said first. */
	CHECK_EQ(setenv("RINGKIT_BACKEND", "bogus", 1), 0);
	refused(8, 0, 0, 0, "RINGKIT_BACKEND must be auto, uring or fallback");
	CHECK(strncmp(why(8, 0, 0, 0), "RINGKIT_BACKEND", 15) == 0);
	/* A flag overrides it, so it is no cause then. */
	CHECK(strstr(why(0, RK_RING_FALLBACK, 0, 0), "entries must be"));

	/* io_uring refused with the fallback forbidden: only what applies. */
	const char *s = rk_ring_create_strerror(-EPERM, 8, RK_RING_NO_FALLBACK, 0, 0, 0);
	CHECK(strstr(s, "seccomp") && strstr(s, "RK_RING_NO_FALLBACK forbade"));
	CHECK(!strstr(s, "SQPOLL") && !strstr(s, "RINGKIT_BACKEND"));
	CHECK_EQ(setenv("RINGKIT_BACKEND", "uring", 1), 0);
	s = rk_ring_create_strerror(-EPERM, 8, 0, 0, 0, 0);
	CHECK(strstr(s, "RINGKIT_BACKEND=uring forbade") && !strstr(s, "SQPOLL"));
	s = rk_ring_create_strerror(-ENOSYS, 8, 0, 0, 0, 0);
	CHECK(strstr(s, "5.19") && strstr(s, "RINGKIT_BACKEND=uring forbade"));
	/* Otherwise rk_strerror's words. */
	CHECK_EQ(unsetenv("RINGKIT_BACKEND"), 0);
	CHECK(strcmp(rk_ring_create_strerror(-ENOMEM, 8, 0, 0, 0, 0), rk_strerror(-ENOMEM)) == 0);
	CHECK(strcmp(rk_ring_create_strerror(-EPERM, 8, 0, 0, 0, 0), rk_strerror(-EPERM)) == 0);
	return 0;
}
