/* Provided buffers and multishot ops. A region provided as a buffer group:
 * multishot recv fills chunks the kernel picks, each completion names its
 * chunk and carries MORE until the final one; an empty group ends the op
 * with -ENOBUFS; recycled chunks are used again; chunk ownership (kernel or
 * caller) is enforced. Multishot accept and poll deliver many completions
 * from one op, and one final completion frees the slot. */
#include <poll.h>

#include "check.h"

#define CHUNKS 4

static rk_cqe one_of(rk_ring *ring, int64_t id)
{
	rk_cqe c = reap_one(ring);
	CHECK_EQ(c.id, id);
	return c;
}

static void test_recv_multishot(rk_ring *ring)
{
	rk_region *rg;
	CHECK_EQ(rk_region_create(64, CHUNKS, 0, &rg), 0);
	CHECK_EQ(rk_ring_provide_region(ring, rg, 7), 7);
	CHECK_EQ(rk_region_chunks_free(rg), 0); /* all the kernel's now */
	CHECK_EQ(rk_chunk_alloc(rg), -ENOBUFS);
	CHECK_EQ(rk_chunk_free(rg, 0), -EINVAL);          /* not the caller's */
	CHECK_EQ(rk_ring_recycle_chunk(ring, rg, 0), -EINVAL);
	CHECK_EQ(rk_region_busy(rg), 1);
	CHECK_EQ(rk_ring_provide_region(ring, rg, 8), -EBUSY); /* already provided */

	int sv[2];
	make_socketpair(SOCK_DGRAM, sv);
	int64_t ms = rk_prep_recv_multishot(ring, sv[1], 7, 0, 0);
	CHECK(ms >= 0);
	CHECK_EQ(rk_prep_recv_multishot(ring, sv[1], 99, 0, 0), -ENOENT); /* no such group */
	CHECK_EQ(rk_submit(ring), 1);
	CHECK_EQ(rk_ring_unprovide_region(ring, rg), -EBUSY); /* an op selects from it */

	/* Four messages fill the four chunks; each completion names one. */
	int32_t got[CHUNKS];
	for (int i = 0; i < CHUNKS; i++) {
		char msg[16];
		int len = snprintf(msg, sizeof(msg), "message %d", i);
		CHECK_EQ(send(sv[0], msg, (size_t)len, 0), len);
		rk_cqe c = one_of(ring, ms);
		CHECK_EQ(c.res, len);
		CHECK(c.flags & RK_CQE_F_MORE);
		CHECK(c.flags & RK_CQE_F_BUFFER);
		got[i] = (int32_t)(c.flags >> RK_CQE_BUFFER_SHIFT);
		CHECK(got[i] >= 0 && got[i] < CHUNKS);
		CHECK(memcmp(rk_chunk_ptr(rg, got[i]), msg, (size_t)len) == 0);
	}
	/* The group is empty: the next message ends the op with -ENOBUFS. */
	CHECK_EQ(send(sv[0], "fifth", 5, 0), 5);
	rk_cqe c = one_of(ring, ms);
	CHECK_EQ(c.res, -ENOBUFS);
	CHECK_EQ(c.flags & RK_CQE_F_MORE, 0);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);

	/* The caller owns the four chunks now: recycle three, keep one. */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(rk_ring_recycle_chunk(ring, rg, got[i]), 0);
	CHECK_EQ(rk_ring_recycle_chunk(ring, rg, got[0]), -EINVAL); /* the kernel's again */
	ms = rk_prep_recv_multishot(ring, sv[1], 7, 0, 0);
	c = one_of(ring, ms); /* the queued "fifth" arrives at once */
	CHECK_EQ(c.res, 5);
	CHECK(memcmp(rk_chunk_ptr(rg, (int32_t)(c.flags >> RK_CQE_BUFFER_SHIFT)), "fifth", 5) == 0);
	CHECK_EQ(rk_ring_recycle_chunk(ring, rg, (int32_t)(c.flags >> RK_CQE_BUFFER_SHIFT)), 0);

	/* Cancel ends it with one final -ECANCELED. */
	CHECK_EQ(rk_cancel_sync(ring, ms, -1), 0);
	c = one_of(ring, ms);
	CHECK_EQ(c.res, -ECANCELED);
	CHECK_EQ(c.flags & RK_CQE_F_MORE, 0);

	/* One-shot recv that selects a buffer. */
	CHECK_EQ(send(sv[0], "single", 6, 0), 6);
	int64_t one = rk_prep_recv_select(ring, sv[1], 7, 0, 0, 0);
	c = one_of(ring, one);
	CHECK_EQ(c.res, 6);
	CHECK(c.flags & RK_CQE_F_BUFFER);
	int32_t single = (int32_t)(c.flags >> RK_CQE_BUFFER_SHIFT);
	CHECK(memcmp(rk_chunk_ptr(rg, single), "single", 6) == 0);

	/* Unprovide: the kernel's chunks become free, the caller keeps its two. */
	CHECK_EQ(rk_ring_unprovide_region(ring, rg), 0);
	CHECK_EQ(rk_ring_unprovide_region(ring, rg), -ENOENT);
	CHECK_EQ(rk_region_chunks_free(rg), CHUNKS - 2);
	CHECK_EQ(rk_chunk_free(rg, got[3]), 0);
	CHECK_EQ(rk_chunk_free(rg, single), 0);

	/* Provided again, and left provided: closing the ring gives it back. */
	CHECK_EQ(rk_ring_provide_region(ring, rg, 7), 7);
	close_pair(sv);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_region_chunks_free(rg), CHUNKS);
	CHECK_EQ(rk_region_destroy(rg), 0);
}

static void test_accept_multishot(rk_ring *ring)
{
	struct sockaddr_in sa;
	int lfd = tcp_listener(&sa, 8);

	int64_t acc = rk_prep_accept_multishot(ring, lfd, SOCK_CLOEXEC, 0);
	CHECK_EQ(rk_submit(ring), 1);
	int clients[3];
	for (int i = 0; i < 3; i++) {
		clients[i] = tcp_connect(&sa);
		rk_cqe c = one_of(ring, acc);
		CHECK(c.res >= 0);
		CHECK(c.flags & RK_CQE_F_MORE);
		close(c.res);
	}
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 1); /* still one op */
	CHECK_EQ(rk_cancel_sync(ring, acc, -1), 0);
	rk_cqe c = one_of(ring, acc);
	CHECK_EQ(c.res, -ECANCELED);
	CHECK_EQ(c.flags & RK_CQE_F_MORE, 0);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	for (int i = 0; i < 3; i++)
		close(clients[i]);
	close(lfd);
}

static void test_poll_multishot(rk_ring *ring)
{
	int p[2];
	make_pipe(p);
	int64_t pl = rk_prep_poll_multishot(ring, p[0], POLLIN, 0);
	CHECK_EQ(rk_submit(ring), 1);
	char b[8];
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(write(p[1], "x", 1), 1);
		rk_cqe c = one_of(ring, pl);
		CHECK(c.res & POLLIN);
		CHECK(c.flags & RK_CQE_F_MORE);
		CHECK_EQ(read(p[0], b, sizeof(b)), 1);
	}
	int64_t rm = rk_prep_poll_remove(ring, pl, 0);
	rk_cqe c[2];
	reap_n(ring, c, 2);
	for (int i = 0; i < 2; i++) {
		if (c[i].id == pl) {
			CHECK_EQ(c[i].res, -ECANCELED);
			CHECK_EQ(c[i].flags & RK_CQE_F_MORE, 0);
		} else {
			CHECK_EQ(c[i].id, rm);
			CHECK_EQ(c[i].res, 0);
		}
	}
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	CHECK(stat_of(ring, RK_STAT_CQES) > stat_of(ring, RK_STAT_COMPLETED));
	close_pair(p);
}

int main(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	test_accept_multishot(ring);
	test_poll_multishot(ring);
	test_recv_multishot(ring); /* closes the ring */

	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	rk_region *big;
	CHECK_EQ(rk_region_create(16, 40000, 0, &big), 0);
	CHECK_EQ(rk_ring_provide_region(ring, big, 1), -EINVAL); /* ids are 16 bits */
	CHECK_EQ(rk_region_destroy(big), 0);
	rk_region *rgs[RK_RING_MAX_GROUPS + 1];
	for (int i = 0; i <= RK_RING_MAX_GROUPS; i++)
		CHECK_EQ(rk_region_create(16, 2, 0, &rgs[i]), 0);
	for (int i = 0; i < RK_RING_MAX_GROUPS; i++)
		CHECK_EQ(rk_ring_provide_region(ring, rgs[i], (uint16_t)(100 + i)), 100 + i);
	CHECK_EQ(rk_ring_provide_region(ring, rgs[RK_RING_MAX_GROUPS], 102), -EEXIST);
	CHECK_EQ(rk_ring_provide_region(ring, rgs[RK_RING_MAX_GROUPS], 7), -ENOSPC);
	CHECK_EQ(rk_ring_provide_region(NULL, rgs[0], 0), -EINVAL);
	CHECK_EQ(rk_ring_recycle_chunk(ring, rgs[RK_RING_MAX_GROUPS], 0), -ENOENT);
	CHECK_EQ(rk_ring_close(ring), 0);
	for (int i = 0; i <= RK_RING_MAX_GROUPS; i++)
		CHECK_EQ(rk_region_destroy(rgs[i]), 0);
	return 0;
}
