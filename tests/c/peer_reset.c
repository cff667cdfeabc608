/* A peer that resets the connection (close with SO_LINGER 0 sends RST)
 * mid-stream: a recv waiting in the kernel, a recv after unread data, a
 * multishot recv from provided buffers and a send all report the reset as
 * the kernel's errno in their completion; nothing crashes, every op ends
 * with one final completion, chunks come back to the caller. */
#include <signal.h>

#include "check.h"

static rk_ring *ring;

static void pair(int *client, int *server)
{
	struct sockaddr_in sa;
	int lfd = tcp_listener(&sa, 1);
	*client = tcp_connect(&sa);
	*server = run_one(ring, rk_prep_accept(ring, lfd, NULL, 0, SOCK_CLOEXEC, 0));
	CHECK(*server >= 0);
	close(lfd);
}

static void reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
}

/* Receives until a result <= 0; returns it and the bytes seen. */
static int32_t recv_until_end(int fd, size_t *bytes)
{
	char b[4096];
	*bytes = 0;
	for (int i = 0; i < 1000; i++) {
		int32_t r = run_one(ring, rk_prep_recv(ring, fd, b, sizeof(b), 0, 0));
		if (r <= 0)
			return r;
		*bytes += (size_t)r;
	}
	CHECK(!"recv never ended");
	return 0;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	int c, s;
	char b[64];

	/* 1. A recv waiting in the kernel when the RST arrives. */
	pair(&c, &s);
	int64_t rv = rk_prep_recv(ring, s, b, sizeof(b), 0, 0);
	CHECK_EQ(rk_submit(ring), 1);
	CHECK_EQ(rk_reap(ring, NULL, 0, 0, 0), 0);
	reset(c);
	CHECK_EQ(run_one(ring, rv), -ECONNRESET);
	/* The error is reported once; the socket is then simply closed. */
	int32_t r = run_one(ring, rk_prep_send(ring, s, "late", 4, MSG_NOSIGNAL, 0));
	CHECK(r == -EPIPE || r == -ECONNRESET);
	close(s);

	/* 2. Data in flight, then the reset: the reader gets some data or none,
	 * then exactly the reset. */
	pair(&c, &s);
	static char big[64 * 1024];
	CHECK_EQ(write(c, big, sizeof(big)), (ssize_t)sizeof(big));
	CHECK_EQ(run_one(ring, rk_prep_recv(ring, s, b, sizeof(b), MSG_WAITALL, 0)), sizeof(b));
	reset(c);
	size_t bytes;
	CHECK_EQ(recv_until_end(s, &bytes), -ECONNRESET);
	CHECK(bytes <= sizeof(big) - sizeof(b));
	close(s);

	/* 3. A send into a reset connection, repeated until the error shows. */
	pair(&c, &s);
	reset(c);
	r = 0;
	for (int i = 0; i < 100 && r >= 0; i++)
		r = run_one(ring, rk_prep_send(ring, s, big, sizeof(big), MSG_NOSIGNAL, 0));
	CHECK(r == -ECONNRESET || r == -EPIPE);
	close(s);

	/* 4. Multishot recv from provided buffers: messages, then the reset
	 * ends the op; the chunks it filled are the caller's. */
	rk_region *rg;
	CHECK_EQ(rk_region_create(256, 8, 0, &rg), 0);
	CHECK_EQ(rk_ring_provide_region(ring, rg, 3), 3);
	pair(&c, &s);
	int64_t ms = rk_prep_recv_multishot(ring, s, 3, 0, 0);
	CHECK_EQ(rk_submit(ring), 1);
	CHECK_EQ(write(c, "first", 5), 5);
	rk_cqe cq = reap_one(ring);
	CHECK_EQ(cq.id, ms);
	CHECK_EQ(cq.res, 5);
	CHECK(cq.flags & RK_CQE_F_MORE);
	CHECK_EQ(rk_ring_recycle_chunk(ring, rg, (int32_t)(cq.flags >> RK_CQE_BUFFER_SHIFT)), 0);
	reset(c);
	cq = reap_one(ring);
	CHECK_EQ(cq.id, ms);
	CHECK_EQ(cq.res, -ECONNRESET);
	CHECK_EQ(cq.flags & RK_CQE_F_MORE, 0);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(rk_ring_unprovide_region(ring, rg), 0);
	CHECK_EQ(rk_region_chunks_free(rg), 8);
	CHECK_EQ(rk_region_destroy(rg), 0);
	close(s);

	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
