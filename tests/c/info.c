/* Version, error text, constants by name, probe, stats and eventfd. */
#include <sys/eventfd.h>
#include <poll.h>

#include "check.h"

int main(void)
{
	CHECK_EQ(rk_version(), (RK_VERSION_MAJOR << 16) | (RK_VERSION_MINOR << 8) | RK_VERSION_PATCH);

	/* rk_strerror: never NULL, negative and positive alike, hints where
	 * ringkit gives an errno a meaning. */
	for (int e = -200; e <= 200; e++)
		CHECK(rk_strerror(e) != NULL && rk_strerror(e)[0] != 0);
	CHECK(strcmp(rk_strerror(-EBADF), rk_strerror(EBADF)) == 0);
	CHECK(strstr(rk_strerror(-EPERM), "seccomp") != NULL);
	CHECK(strstr(rk_strerror(-EPERM), "io_uring_disabled") != NULL);
	CHECK(strstr(rk_strerror(-ENOMEM), "RLIMIT_MEMLOCK") != NULL);
	CHECK(strstr(rk_strerror(-EBUSY), "reap") != NULL);
	CHECK(rk_strerror(-100000) != NULL);
	CHECK(rk_strerror(-2147483647) != NULL);

	/* Constants: RK_*, opcodes (old and newer than liburing 2.3), errnos,
	 * open/stat/poll flags; names are unique; iteration covers them all. */
	int64_t v;
	CHECK_EQ(rk_constant("RK_LINK", &v), 0);
	CHECK_EQ(v, RK_LINK);
	CHECK_EQ(rk_constant("RK_OP_CANCEL", &v), 0);
	CHECK_EQ(v, RK_OP_CANCEL);
	CHECK_EQ(rk_constant("RK_STAT_COUNT", &v), 0);
	CHECK_EQ(v, RK_STAT_COUNT);
	CHECK_EQ(rk_constant("IORING_OP_READ", &v), 0);
	CHECK_EQ(v, 22);
	CHECK_EQ(rk_constant("IORING_OP_BIND", &v), 0);
	CHECK_EQ(v, 56);
	CHECK_EQ(rk_constant("IORING_OP_LISTEN", &v), 0);
	CHECK_EQ(v, 57);
	CHECK_EQ(rk_constant("EAGAIN", &v), 0);
	CHECK_EQ(v, EAGAIN);
	CHECK_EQ(rk_constant("O_CREAT", &v), 0);
	CHECK_EQ(v, O_CREAT);
	CHECK_EQ(rk_constant("AT_FDCWD", &v), 0);
	CHECK_EQ(v, AT_FDCWD);
	CHECK_EQ(rk_constant("POLLIN", &v), 0);
	CHECK_EQ(v, POLLIN);
	CHECK_EQ(rk_constant("rk_link", &v), -ENOENT); /* exact names only */
	const char *name;
	uint32_t n = 0;
	while (rk_constant_at(n, &name, &v) == 0) {
		int64_t again;
		CHECK_EQ(rk_constant(name, &again), 0);
		CHECK_EQ(again, v); /* first match is this one: names are unique */
		n++;
	}
	CHECK(n > 200);

	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
	CHECK(rk_ring_fd(ring) >= 0);
	CHECK_EQ(rk_ring_probe(ring, 0 /* IORING_OP_NOP */), 1);
	CHECK_EQ(rk_ring_probe(ring, 22 /* READ */), 1);
	CHECK_EQ(rk_ring_probe(ring, 255), 0);
	CHECK_EQ(rk_ring_probe(ring, 100000), 0);

	uint64_t st[RK_STAT_COUNT + 4];
	CHECK_EQ(rk_ring_stats(ring, st, RK_STAT_COUNT + 4), RK_STAT_COUNT);
	CHECK_EQ(st[RK_STAT_SQ_ENTRIES], 8);
	CHECK_EQ(st[RK_STAT_CQ_ENTRIES], 16);
	CHECK_EQ(st[RK_STAT_CAPACITY], 32);
	CHECK_EQ(st[RK_STAT_INFLIGHT], 0);
	/* Kernel feature bits; the fallback has none (ringkit.h, "Backends"). */
	CHECK(is_fallback(ring) ? st[RK_STAT_FEATURES] == 0 : st[RK_STAT_FEATURES] != 0);
	CHECK_EQ(st[RK_STAT_BACKEND], rk_ring_backend(ring));
	CHECK_EQ(rk_ring_stats(ring, st, 2), 2);
	for (int i = 0; i < 10; i++)
		CHECK(rk_prep_nop(ring, 0) >= 0);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 10);
	CHECK_EQ(stat_of(ring, RK_STAT_OVERFLOW_QUEUE), 2);
	rk_cqe c[16];
	reap_n(ring, c, 10);
	CHECK_EQ(stat_of(ring, RK_STAT_SUBMITTED), 10);
	CHECK_EQ(stat_of(ring, RK_STAT_COMPLETED), 10);
	CHECK_EQ(stat_of(ring, RK_STAT_CQES), 10);

	/* eventfd: readable once a completion is posted. */
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK_EQ(rk_ring_register_eventfd(ring, efd, 0), 0);
	CHECK_EQ(rk_ring_register_eventfd(ring, efd, 0), -EBUSY);
	struct pollfd pfd = {.fd = efd, .events = POLLIN};
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	CHECK(rk_prep_nop(ring, 0) >= 0);
	CHECK_EQ(rk_submit(ring), 1);
	CHECK_EQ(poll(&pfd, 1, 1000), 1);
	uint64_t count;
	CHECK_EQ(read(efd, &count, sizeof(count)), sizeof(count));
	CHECK(count >= 1);
	reap_n(ring, c, 1);
	CHECK_EQ(rk_ring_unregister_eventfd(ring), 0);
	CHECK(rk_prep_nop(ring, 0) >= 0);
	reap_n(ring, c, 1);
	CHECK_EQ(poll(&pfd, 1, 0), 0); /* no longer signalled */
	CHECK_EQ(rk_ring_register_eventfd(ring, efd, RK_EVENTFD_ASYNC), 0);
	close(efd);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
