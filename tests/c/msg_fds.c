/* sendmsg and recvmsg: scatter/gather over a unix stream pair, SCM_RIGHTS
 * descriptors passed and usable on the other side, source and destination
 * addresses over UDP, truncation of data and of descriptors (MSG_TRUNC,
 * MSG_CTRUNC), and no descriptor ever leaked — not when the receiver's array
 * is too small, not when the ring is closed with a completion unreaped.
 * Caller arrays are scribbled over right after each prep to prove the core
 * copied them. */
#include <sys/eventfd.h>

#include "check.h"

static rk_ring *ring;

/* Both ends of a pipe travel over a unix stream pair with the data; the
 * received descriptors are new numbers for the same pipe. */
static void test_fd_passing(void)
{
	int base = count_fds();
	int sv[2];
	make_socketpair(SOCK_STREAM, sv);
	int p[2];
	make_pipe(p);

	/* Receiver first: it waits in the kernel. */
	char r1[3], r2[16];
	rk_iovec riov[2] = {{(uintptr_t)r1, sizeof(r1)}, {(uintptr_t)r2, sizeof(r2)}};
	int32_t out[RK_MSG_FDS + 4];
	memset(out, 0x55, sizeof(out));
	int64_t rid = rk_prep_recvmsg(ring, sv[1], riov, 2, NULL, 0, out, 4, MSG_CMSG_CLOEXEC, 0);
	CHECK(rid >= 0);
	memset(riov, 0, sizeof(riov));
	CHECK_EQ(rk_submit(ring), 1);

	rk_iovec siov[2] = {{(uintptr_t)"hel", 3}, {(uintptr_t)"lo, fds", 7}};
	int32_t fds[2] = {p[1], p[0]};
	int64_t sid = rk_prep_sendmsg(ring, sv[0], siov, 2, NULL, 0, fds, 2, 0, 0);
	CHECK(sid >= 0);
	memset(siov, 0, sizeof(siov));
	fds[0] = fds[1] = -1;
	rk_cqe c[2];
	reap_n(ring, c, 2);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(c[i].res, 10);
	CHECK(memcmp(r1, "hel", 3) == 0 && memcmp(r2, "lo, fds", 7) == 0);
	CHECK_EQ(out[RK_MSG_NFDS], 2);
	CHECK_EQ(out[RK_MSG_NAMELEN], 0);
	CHECK_EQ(out[RK_MSG_FLAGS] & MSG_CTRUNC, 0);
	CHECK_EQ(out[RK_MSG_FDS + 2], 0x55555555); /* nothing past the count */
	int wfd = out[RK_MSG_FDS], rfd = out[RK_MSG_FDS + 1];
	CHECK(wfd != p[1] && rfd != p[0]);
	CHECK(fcntl(wfd, F_GETFD) & FD_CLOEXEC);
	/* The received descriptors are the same pipe. */
	CHECK_EQ(write(wfd, "via fd", 6), 6);
	char b[8];
	CHECK_EQ(read(p[0], b, sizeof(b)), 6);
	CHECK_EQ(write(p[1], "back", 4), 4);
	CHECK_EQ(read(rfd, b, sizeof(b)), 4);
	CHECK(memcmp(b, "back", 4) == 0);
	close(wfd);
	close(rfd);

	/* More fds than the receiver has room for: control room for one fd
	 * holds two (CMSG_SPACE pads), so the kernel installs two and drops the
	 * third (MSG_CTRUNC); the core hands over one and closes the other. */
	int32_t three[3] = {p[0], p[1], p[0]};
	rk_iovec one = {(uintptr_t)"x", 1};
	CHECK_EQ(run_one(ring, rk_prep_sendmsg(ring, sv[0], &one, 1, NULL, 0, three, 3, 0, 0)), 1);
	int32_t small[RK_MSG_FDS + 1];
	rk_iovec rb = {(uintptr_t)b, sizeof(b)};
	CHECK_EQ(run_one(ring, rk_prep_recvmsg(ring, sv[1], &rb, 1, NULL, 0, small, 1, 0, 0)), 1);
	CHECK(small[RK_MSG_FLAGS] & MSG_CTRUNC);
	CHECK_EQ(small[RK_MSG_NFDS], 1);
	close(small[RK_MSG_FDS]);

	/* No room at all (out NULL, fds_cap 0): still no leak. */
	CHECK_EQ(run_one(ring, rk_prep_sendmsg(ring, sv[0], &one, 1, NULL, 0, three, 3, 0, 0)), 1);
	CHECK_EQ(run_one(ring, rk_prep_recvmsg(ring, sv[1], &rb, 1, NULL, 0, NULL, 0, 0, 0)), 1);

	/* More room than fds sent. */
	CHECK_EQ(run_one(ring, rk_prep_sendmsg(ring, sv[0], &one, 1, NULL, 0, three, 1, 0, 0)), 1);
	int32_t many[RK_MSG_FDS + 8];
	CHECK_EQ(run_one(ring, rk_prep_recvmsg(ring, sv[1], &rb, 1, NULL, 0, many, 8, 0, 0)), 1);
	CHECK_EQ(many[RK_MSG_NFDS], 1);
	close(many[RK_MSG_FDS]);

	close_pair(p);
	close_pair(sv);
	CHECK_EQ(count_fds(), base);
}

/* Datagrams: the destination address is copied at prep, the source lands
 * in the caller's name buffer at reap; a datagram longer than the buffers
 * reports MSG_TRUNC. */
static void test_udp_addresses(void)
{
	int a = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int b = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in aa, ba;
	bind_loopback(a, &aa);
	bind_loopback(b, &ba);

	char buf[4];
	rk_iovec riov = {(uintptr_t)buf, sizeof(buf)};
	struct sockaddr_in from;
	memset(&from, 0, sizeof(from));
	int32_t out[RK_MSG_FDS];
	int64_t rid = rk_prep_recvmsg(ring, b, &riov, 1, &from, sizeof(from), out, 0, 0, 0);
	CHECK(rid >= 0);
	struct sockaddr_in to = ba;
	rk_iovec siov = {(uintptr_t)"datagram", 8};
	int64_t sid = rk_prep_sendmsg(ring, a, &siov, 1, &to, sizeof(to), NULL, 0, 0, 0);
	memset(&to, 0, sizeof(to));
	rk_cqe c[2];
	reap_n(ring, c, 2);
	CHECK_EQ(res_of(c, 2, sid), 8);
	CHECK_EQ(res_of(c, 2, rid), 4); /* truncated to the buffer */
	CHECK(memcmp(buf, "data", 4) == 0);
	CHECK(out[RK_MSG_FLAGS] & MSG_TRUNC);
	CHECK_EQ(out[RK_MSG_NAMELEN], sizeof(from));
	CHECK_EQ(from.sin_family, AF_INET);
	CHECK_EQ(from.sin_port, aa.sin_port);
	CHECK_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));

	/* A name buffer smaller than the address gets what fits. */
	unsigned char tiny[4];
	CHECK_EQ(sendto(a, "z", 1, 0, (struct sockaddr *)&ba, sizeof(ba)), 1);
	CHECK_EQ(run_one(ring, rk_prep_recvmsg(ring, b, &riov, 1, tiny, 4, out, 0, 0, 0)), 1);
	CHECK_EQ(out[RK_MSG_NAMELEN], 4);
	CHECK_EQ(tiny[0] | tiny[1] << 8, AF_INET);

	/* A failed recvmsg leaves zeros. */
	out[RK_MSG_NAMELEN] = out[RK_MSG_FLAGS] = out[RK_MSG_NFDS] = 7;
	CHECK_EQ(run_one(ring, rk_prep_recvmsg(ring, b, &riov, 1, &from, sizeof(from), out, 0,
	                                       MSG_DONTWAIT, 0)),
	         -EAGAIN);
	CHECK_EQ(out[RK_MSG_NAMELEN], 0);
	CHECK_EQ(out[RK_MSG_FLAGS], 0);
	CHECK_EQ(out[RK_MSG_NFDS], 0);
	close(a);
	close(b);
}

/* The ring is closed while a recvmsg that received fds waits unreaped in
 * the CQ, and while another still waits in the kernel: the received fds
 * are in our table (counted) and closing the ring closes them. */
static void test_close_unreaped(void)
{
	int base = count_fds();
	rk_ring *r;
	CHECK_EQ(rk_ring_create(8, 0, &r), 0);
	int efd = eventfd(0, EFD_CLOEXEC);
	CHECK_EQ(rk_ring_register_eventfd(r, efd, 0), 0);
	int sv[2];
	make_socketpair(SOCK_STREAM, sv);
	int before = count_fds();

	char b[4];
	rk_iovec rb = {(uintptr_t)b, 1};
	int32_t out[RK_MSG_FDS + 4];
	memset(out, 0, sizeof(out));
	CHECK(rk_prep_recvmsg(r, sv[1], &rb, 1, NULL, 0, out, 4, 0, 0) >= 0);
	CHECK_EQ(rk_submit(r), 1);
	int fds[3] = {sv[0], sv[1], efd};
	char cbuf[CMSG_SPACE(sizeof(fds))];
	struct iovec one = {.iov_base = "y", .iov_len = 1};
	struct msghdr mh = {.msg_iov = &one, .msg_iovlen = 1, .msg_control = cbuf,
	                    .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	CHECK_EQ(sendmsg(sv[0], &mh, 0), 1);
	uint64_t posted;
	CHECK_EQ(read(efd, &posted, sizeof(posted)), sizeof(posted)); /* the CQE is there */
	CHECK_EQ(count_fds(), before + 3); /* installed by the kernel, unseen */

	CHECK(rk_prep_recvmsg(r, sv[1], &rb, 1, NULL, 0, out, 4, 0, 0) >= 0);
	CHECK_EQ(rk_submit(r), 1);
	int ring_held = ring_fds(r, 1);
	CHECK_EQ(rk_ring_close(r), 0);
	CHECK_EQ(out[RK_MSG_NFDS], 0); /* nothing delivered */
	CHECK_EQ(count_fds(), before - ring_held); /* the ring's own fds are gone too */
	close_pair(sv);
	close(efd);
	CHECK_EQ(count_fds(), base);
}

int main(void)
{
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	test_fd_passing();
	test_udp_addresses();

	/* Invalid arguments, in the documented order. */
	char b[1];
	rk_iovec iov = {(uintptr_t)b, 1};
	int32_t out[RK_MSG_FDS + 1];
	int32_t bad[1] = {-1};
	CHECK_EQ(rk_prep_sendmsg(NULL, 0, &iov, 1, NULL, 0, NULL, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_sendmsg(ring, -1, &iov, 1, NULL, 0, NULL, 0, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_sendmsg(ring, 0, &iov, RK_MSG_IOV_MAX + 1, NULL, 0, NULL, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_sendmsg(ring, 0, NULL, 1, NULL, 0, NULL, 0, 0, 0), -EFAULT);
	CHECK_EQ(rk_prep_sendmsg(ring, 0, &iov, 1, NULL, 4, NULL, 0, 0, 0), -EFAULT);
	CHECK_EQ(rk_prep_sendmsg(ring, 0, &iov, 1, b, RK_SOCKADDR_MAX + 1, NULL, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_sendmsg(ring, 0, &iov, 1, NULL, 0, NULL, 1, 0, 0), -EFAULT);
	CHECK_EQ(rk_prep_sendmsg(ring, 0, &iov, 1, NULL, 0, bad, RK_MSG_FDS_MAX + 1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_sendmsg(ring, 0, &iov, 1, NULL, 0, bad, 1, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_recvmsg(NULL, 0, &iov, 1, NULL, 0, out, 1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_recvmsg(ring, -1, &iov, 1, NULL, 0, out, 1, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_recvmsg(ring, 0, &iov, 1, NULL, 0, NULL, 1, 0, 0), -EFAULT);
	CHECK_EQ(rk_prep_recvmsg(ring, 0, &iov, 1, NULL, 8, out, 0, 0, 0), -EFAULT);
	CHECK_EQ(rk_prep_recvmsg(ring, 0, &iov, 1, b, RK_SOCKADDR_MAX + 1, out, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_recvmsg(ring, 0, &iov, 1, NULL, 0, out, RK_MSG_FDS_MAX + 1, 0, 0), -EINVAL);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(rk_ring_close(ring), 0);

	test_close_unreaped();
	return 0;
}
