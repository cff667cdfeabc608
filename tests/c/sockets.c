/* Socket ops over loopback: socket, bind, listen, connect, accept (with the
 * peer address), send, recv, shutdown — each through the ring. Addresses
 * are overwritten right after the prep to prove the core copied them.
 * Errors come back as the kernel's (-ECONNREFUSED) or at prep time. */
#include "check.h"

static rk_ring *ring;

int main(void)
{
	ring = create_ring(16, 0);
	require_op(ring, "IORING_OP_BIND", "Linux 6.11+");
	require_op(ring, "IORING_OP_LISTEN", "Linux 6.11+");

	int lfd = run_one(ring, rk_prep_socket(ring, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, 0));
	CHECK(lfd >= 0);
	int one = 1;
	CHECK_EQ(setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	struct sockaddr_in sa = loopback(0);
	int64_t id = rk_prep_bind(ring, lfd, &sa, sizeof(sa), 0);
	memset(&sa, 0xff, sizeof(sa)); /* copied: this must not matter */
	CHECK_EQ(run_one(ring, id), 0);
	CHECK_EQ(run_one(ring, rk_prep_listen(ring, lfd, 16, 0)), 0);
	socklen_t sl = sizeof(sa);
	CHECK_EQ(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	CHECK_EQ(sa.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	CHECK(sa.sin_port != 0);

	int cfd = run_one(ring, rk_prep_socket(ring, AF_INET, SOCK_STREAM, 0, 0));
	CHECK(cfd >= 0);
	struct sockaddr_in peer;
	memset(&peer, 0, sizeof(peer));
	int64_t acc = rk_prep_accept(ring, lfd, &peer, sizeof(peer), SOCK_CLOEXEC, 0);
	struct sockaddr_in target = sa;
	int64_t con = rk_prep_connect(ring, cfd, &target, sizeof(target), 0);
	memset(&target, 0, sizeof(target));
	rk_cqe c[4];
	reap_n(ring, c, 2);
	int afd = res_of(c, 2, acc);
	CHECK(afd >= 0);
	CHECK_EQ(res_of(c, 2, con), 0);
	CHECK_EQ(peer.sin_family, AF_INET);
	CHECK_EQ(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	struct sockaddr_in local;
	sl = sizeof(local);
	CHECK_EQ(getsockname(cfd, (struct sockaddr *)&local, &sl), 0);
	CHECK_EQ(peer.sin_port, local.sin_port); /* the client's own address */

	/* recv waits for data; send delivers it; both ways. */
	char buf[64];
	int64_t rv = rk_prep_recv(ring, afd, buf, sizeof(buf), 0, 0);
	CHECK_EQ(rk_reap(ring, c, 4, 1, 20000000), 0);
	CHECK_EQ(run_one(ring, rk_prep_send(ring, cfd, "ping", 4, MSG_NOSIGNAL, 0)), 4);
	CHECK_EQ(run_one(ring, rv), 4);
	CHECK(memcmp(buf, "ping", 4) == 0);
	CHECK_EQ(run_one(ring, rk_prep_send(ring, afd, "pong!", 5, 0, 0)), 5);
	CHECK_EQ(run_one(ring, rk_prep_recv(ring, cfd, buf, 5, MSG_WAITALL, 0)), 5);
	CHECK(memcmp(buf, "pong!", 5) == 0);

	/* shutdown(SHUT_WR) on one side: the other reads end of stream. */
	CHECK_EQ(run_one(ring, rk_prep_shutdown(ring, cfd, SHUT_WR, 0)), 0);
	CHECK_EQ(run_one(ring, rk_prep_recv(ring, afd, buf, sizeof(buf), 0, 0)), 0);

	/* A batch of socket ops through descriptors. */
	rk_op_desc d[2];
	memset(d, 0, sizeof(d));
	d[0] = (rk_op_desc){.op = RK_OP_SEND, .fd = afd, .len = 3, .addr = (uintptr_t)"abc"};
	d[1] = (rk_op_desc){.op = RK_OP_RECV, .fd = cfd, .len = 3, .addr = (uintptr_t)buf,
	                    .arg1 = MSG_WAITALL};
	int64_t ids[2];
	CHECK_EQ(rk_submit_batch(ring, d, 2, ids), 2);
	reap_n(ring, c, 2);
	CHECK_EQ(res_of(c, 2, ids[0]), 3);
	CHECK_EQ(res_of(c, 2, ids[1]), 3);
	CHECK(memcmp(buf, "abc", 3) == 0);

	/* Errors. */
	close(afd);
	close(cfd);
	cfd = run_one(ring, rk_prep_socket(ring, AF_INET, SOCK_STREAM, 0, 0));
	struct sockaddr_in nobody = loopback(1);
	CHECK_EQ(run_one(ring, rk_prep_connect(ring, cfd, &nobody, sizeof(nobody), 0)), -ECONNREFUSED);
	CHECK_EQ(run_one(ring, rk_prep_accept(ring, cfd, NULL, 0, 0, 0)), -EINVAL); /* not listening */
	CHECK_EQ(run_one(ring, rk_prep_socket(ring, 12345, SOCK_STREAM, 0, 0)), -EAFNOSUPPORT);
	CHECK_EQ(rk_prep_bind(ring, cfd, &sa, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_bind(ring, cfd, &sa, RK_SOCKADDR_MAX + 1, 0), -EINVAL);
	CHECK_EQ(rk_prep_bind(ring, cfd, NULL, sizeof(sa), 0), -EFAULT);
	CHECK_EQ(rk_prep_connect(ring, -1, &sa, sizeof(sa), 0), -EBADF);
	CHECK_EQ(rk_prep_listen(ring, -1, 1, 0), -EBADF);
	CHECK_EQ(rk_prep_send(ring, cfd, NULL, 1, 0, 0), -EFAULT);
	CHECK_EQ(rk_prep_recv(ring, -1, buf, 1, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_shutdown(ring, cfd, 7, 0), -EINVAL);
	CHECK_EQ(rk_prep_socket(NULL, AF_INET, SOCK_STREAM, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_accept(NULL, 0, NULL, 0, 0, 0), -EINVAL);

	/* A unix socketpair through the same ops. */
	int sv[2];
	make_socketpair(SOCK_STREAM, sv);
	CHECK_EQ(run_one(ring, rk_prep_send(ring, sv[0], "unix", 4, 0, 0)), 4);
	CHECK_EQ(run_one(ring, rk_prep_recv(ring, sv[1], buf, sizeof(buf), 0, 0)), 4);

	close_pair(sv);
	close(cfd);
	close(lfd);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
