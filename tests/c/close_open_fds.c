/* rk_ring_close drops the completions of ops still in the ring. When such an
 * op had already produced an fd — an openat or accept that completed but was
 * not reaped, or succeeded despite the cancel — the caller never learns the
 * fd, so close must close it: no fd leaks, and no fd the caller does own
 * (another op's byte count that happens to equal an fd) is touched. */
#include "check.h"

int main(void)
{
	int dfd;
	int fd = scratch_file(&dfd);
	CHECK_EQ(write(fd, "0123456789", 10), 10);
	/* A listening socket with connections waiting: accepts complete. */
	struct sockaddr_in a;
	int ls = tcp_listener(&a, 16);
	int cs[4];
	for (int i = 0; i < 4; i++)
		cs[i] = tcp_connect(&a);

	for (int round = 0; round < 2; round++) {
		int before = count_fds();
		rk_ring *ring;
		CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
		/* Byte counts equal to fds this process owns (fd, dfd): reaped
		 * or not, close must never take them for an open's result. */
		static char buf[16];
		CHECK(rk_prep_read(ring, fd, buf, (uint32_t)fd, 0, 0) >= 0);
		CHECK(rk_prep_read(ring, fd, buf, (uint32_t)dfd, 0, 0) >= 0);
		for (int i = 0; i < 6; i++)
			CHECK(rk_prep_openat(ring, dfd, "f", O_RDONLY, 0, 0) >= 0);
		if (round == 0)
			for (int i = 0; i < 2; i++)
				CHECK(rk_prep_accept(ring, ls, NULL, 0, 0, 0) >= 0);
		else
			CHECK(rk_prep_accept_multishot(ring, ls, 0, 0) >= 0);
		CHECK(rk_submit(ring) > 0);
		/* Let the kernel finish them; leave every completion unreaped. */
		rk_cqe none[1];
		CHECK_EQ(rk_reap(ring, none, 0, 0, 0), 0);
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
		CHECK(count_fds() > before); /* the ring fd, the opened files */
		CHECK_EQ(rk_ring_close(ring), 0);
		CHECK_EQ(count_fds(), before);
		CHECK(fcntl(fd, F_GETFD) >= 0 && fcntl(dfd, F_GETFD) >= 0);
		for (int i = 0; i < 4; i++) /* reconnect for the next round */
			if (round == 0 && i < 2) {
				close(cs[i]);
				cs[i] = tcp_connect(&a);
			}
	}
	return 0;
}
