/* The network ops through batch descriptors give the same results as the
 * direct calls: multishot accept/poll/recv and recv_select, sendmsg and
 * recvmsg with a passed fd (every field of the table used), direct accept
 * and socket, and msg_ring. */
#include <poll.h>

#include "check.h"

static rk_ring *ring;

static rk_cqe of(int64_t id)
{
	rk_cqe c = reap_one(ring);
	CHECK_EQ(c.id, id);
	return c;
}

int main(void)
{
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	int base = count_fds();
	int64_t ids[4];

	/* accept_multishot, then poll_multishot on the accepted socket. */
	struct sockaddr_in sa;
	int lfd = tcp_listener(&sa, 4);
	rk_op_desc d = {.op = RK_OP_ACCEPT_MULTISHOT, .fd = lfd, .arg1 = SOCK_CLOEXEC};
	CHECK_EQ(rk_submit_batch(ring, &d, 1, ids), 1);
	int c = tcp_connect(&sa);
	rk_cqe cq = of(ids[0]);
	CHECK(cq.res >= 0 && (cq.flags & RK_CQE_F_MORE));
	int s = cq.res;
	CHECK_EQ(rk_cancel_sync(ring, ids[0], -1), 0);
	CHECK_EQ(of(ids[0]).res, -ECANCELED);

	d = (rk_op_desc){.op = RK_OP_POLL_MULTISHOT, .fd = s, .arg1 = POLLIN};
	CHECK_EQ(rk_submit_batch(ring, &d, 1, ids), 1);
	CHECK_EQ(write(c, "ab", 2), 2);
	cq = of(ids[0]);
	CHECK((cq.res & POLLIN) && (cq.flags & RK_CQE_F_MORE));
	CHECK_EQ(rk_cancel_sync(ring, ids[0], -1), 0);
	CHECK_EQ(of(ids[0]).res, -ECANCELED);

	/* recv_select and recv_multishot from group 9. */
	rk_region *rg;
	CHECK_EQ(rk_region_create(64, 4, 0, &rg), 0);
	CHECK_EQ(rk_ring_provide_region(ring, rg, 9), 9);
	d = (rk_op_desc){.op = RK_OP_RECV_SELECT, .fd = s, .len = 1, .arg2 = 9};
	CHECK_EQ(rk_submit_batch(ring, &d, 1, ids), 1);
	cq = of(ids[0]);
	CHECK_EQ(cq.res, 1); /* len 1 of the two bytes */
	int32_t ch = (int32_t)(cq.flags >> RK_CQE_BUFFER_SHIFT);
	CHECK_EQ(*(char *)rk_chunk_ptr(rg, ch), 'a');
	CHECK_EQ(rk_ring_recycle_chunk(ring, rg, ch), 0);
	d = (rk_op_desc){.op = RK_OP_RECV_MULTISHOT, .fd = s, .arg2 = 9};
	CHECK_EQ(rk_submit_batch(ring, &d, 1, ids), 1);
	cq = of(ids[0]);
	CHECK_EQ(cq.res, 1);
	CHECK(cq.flags & RK_CQE_F_MORE);
	ch = (int32_t)(cq.flags >> RK_CQE_BUFFER_SHIFT);
	CHECK_EQ(*(char *)rk_chunk_ptr(rg, ch), 'b');
	CHECK_EQ(rk_ring_recycle_chunk(ring, rg, ch), 0);
	CHECK_EQ(rk_cancel_sync(ring, ids[0], -1), 0);
	CHECK_EQ(of(ids[0]).res, -ECANCELED);
	d.arg2 = 10; /* no such group */
	CHECK_EQ(rk_prep_batch(ring, &d, 1, ids), 0);
	CHECK_EQ(ids[0], -ENOENT);

	/* sendmsg -> recvmsg over a unix datagram pair, with an fd. */
	int sv[2];
	make_socketpair(SOCK_DGRAM | SOCK_CLOEXEC, sv);
	char rbuf[16];
	rk_iovec siov = {(uintptr_t)"msg", 3}, riov = {(uintptr_t)rbuf, sizeof(rbuf)};
	int32_t pass[1] = {lfd};
	int32_t out[RK_MSG_FDS + 2];
	rk_op_desc m[2] = {
		{.op = RK_OP_SENDMSG, .fd = sv[0], .len = 1, .addr = (uintptr_t)&siov,
		 .arg2 = (int64_t)(uintptr_t)pass, .off = 1},
		{.op = RK_OP_RECVMSG, .fd = sv[1], .len = 1, .addr = (uintptr_t)&riov,
		 .arg2 = (int64_t)(uintptr_t)out, .off = 2, .arg1 = MSG_CMSG_CLOEXEC},
	};
	CHECK_EQ(rk_submit_batch(ring, m, 2, ids), 2);
	rk_cqe two[2];
	reap_n(ring, two, 2);
	CHECK_EQ(two[0].res, 3);
	CHECK_EQ(two[1].res, 3);
	CHECK(memcmp(rbuf, "msg", 3) == 0);
	CHECK_EQ(out[RK_MSG_NFDS], 1);
	struct sockaddr_in got;
	socklen_t sl = sizeof(got);
	CHECK_EQ(getsockname(out[RK_MSG_FDS], (struct sockaddr *)&got, &sl), 0);
	CHECK_EQ(got.sin_port, sa.sin_port); /* the listener, received */
	close(out[RK_MSG_FDS]);
	m[1].off = (int64_t)1 << 32; /* an fds_cap that would wrap */
	CHECK_EQ(rk_prep_batch(ring, &m[1], 1, ids), 0);
	CHECK_EQ(ids[0], -EINVAL);

	/* Direct accept and socket into the file table. */
	CHECK_EQ(rk_ring_register_files(ring, 4), 0);
	int c2 = tcp_connect(&sa);
	rk_op_desc dd[2] = {
		{.op = RK_OP_ACCEPT_DIRECT, .fd = lfd, .len = 1},
		{.op = RK_OP_SOCKET_DIRECT, .fd = AF_INET, .arg1 = SOCK_DGRAM, .len = RK_FILE_INDEX_ALLOC},
	};
	CHECK_EQ(rk_submit_batch(ring, dd, 2, ids), 2);
	reap_n(ring, two, 2);
	for (int i = 0; i < 2; i++) {
		if (two[i].id == ids[0])
			CHECK_EQ(two[i].res, 0);
		else
			CHECK(two[i].res >= 0 && two[i].res < 4 && two[i].res != 1);
	}

	/* msg_ring to ourselves. */
	d = (rk_op_desc){.op = RK_OP_MSG_RING, .fd = rk_ring_fd(ring), .off = 77, .arg1 = 5};
	CHECK_EQ(rk_submit_batch(ring, &d, 1, ids), 1);
	reap_n(ring, two, 2);
	int sawmsg = 0;
	for (int i = 0; i < 2; i++) {
		if (two[i].id == ids[0]) {
			CHECK_EQ(two[i].res, 0);
		} else {
			CHECK_EQ(two[i].id, 77 | INT64_MIN);
			CHECK_EQ(two[i].res, 5);
			sawmsg = 1;
		}
	}
	CHECK(sawmsg);

	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	int ring_held = ring_fds(ring, 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_region_destroy(rg), 0);
	close_pair(sv);
	close(c);
	close(c2);
	close(s);
	close(lfd);
	CHECK_EQ(count_fds(), base - ring_held); /* the ring's fds too */
	return 0;
}
