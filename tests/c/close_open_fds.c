/* rk_ring_close drops the completions of ops still in the ring. When such an
 * op had already produced an fd — an openat or accept that completed but was
 * not reaped, or succeeded despite the cancel — the caller never learns the
 * fd, so close must close it: no fd leaks, and no fd the caller does own
 * (another op's byte count that happens to equal an fd) is touched. */
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include "check.h"

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	CHECK(d != NULL);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

int main(void)
{
	const char *dir = make_tmpdir();
	int dfd = open(dir, O_DIRECTORY | O_RDONLY);
	int fd = openat(dfd, "f", O_RDWR | O_CREAT, 0600);
	CHECK_EQ(write(fd, "0123456789", 10), 10);
	/* A listening socket with connections waiting: accepts complete. */
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	CHECK_EQ(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	CHECK_EQ(listen(ls, 16), 0);
	CHECK_EQ(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
	int cs[4];
	for (int i = 0; i < 4; i++) {
		cs[i] = socket(AF_INET, SOCK_STREAM, 0);
		CHECK_EQ(connect(cs[i], (struct sockaddr *)&a, sizeof(a)), 0);
	}

	for (int round = 0; round < 2; round++) {
		int before = open_fds();
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
		CHECK(open_fds() > before); /* the ring fd, the opened files */
		CHECK_EQ(rk_ring_close(ring), 0);
		CHECK_EQ(open_fds(), before);
		CHECK(fcntl(fd, F_GETFD) >= 0 && fcntl(dfd, F_GETFD) >= 0);
		for (int i = 0; i < 4; i++) /* reconnect for the next round */
			if (round == 0 && i < 2) {
				close(cs[i]);
				cs[i] = socket(AF_INET, SOCK_STREAM, 0);
				CHECK_EQ(connect(cs[i], (struct sockaddr *)&a, sizeof(a)), 0);
			}
	}
	return 0;
}
