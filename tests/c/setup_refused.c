/* When io_uring_setup is refused — here by a seccomp filter answering EPERM,
 * as a container runtime's default profile does — rk_ring_create returns a
 * ring on the fallback backend that works; asked for io_uring only
 * (RK_RING_NO_FALLBACK, RINGKIT_BACKEND=uring) it returns -EPERM, writes
 * NULL, and rk_strerror says what to do. Runs in a child so the filter does
 * not outlive the test. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "check.h"

static void refuse_io_uring_setup(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
	CHECK_EQ(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	CHECK_EQ(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

int main(void)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		refuse_io_uring_setup();
		rk_ring *ring = (rk_ring *)0x1;
		CHECK_EQ(rk_ring_create(8, RK_RING_NO_FALLBACK, &ring), -EPERM);
		CHECK(ring == NULL);
		CHECK_EQ(rk_ring_create_ex(8, RK_RING_SQPOLL | RK_RING_NO_FALLBACK, 0, 0, 0, &ring),
		         -EPERM);
		const char *msg = rk_strerror(-EPERM);
		CHECK(strstr(msg, "seccomp") && strstr(msg, "kernel.io_uring_disabled"));
		fprintf(stderr, "refused as expected: %s\n", msg);
		CHECK_EQ(setenv("RINGKIT_BACKEND", "uring", 1), 0);
		CHECK_EQ(rk_ring_create(8, 0, &ring), -EPERM);
		CHECK(ring == NULL);

		/* Without a word against it, the fallback: it works. */
		CHECK_EQ(unsetenv("RINGKIT_BACKEND"), 0);
		CHECK_EQ(rk_ring_create_ex(8, RK_RING_SQPOLL, 0, 0, 0, &ring), 0);
		CHECK_EQ(rk_ring_backend(ring), RK_BACKEND_FALLBACK);
		int p[2];
		make_pipe(p);
		char b[8];
		int64_t rd = rk_prep_read(ring, p[0], b, sizeof(b), -1, 0);
		CHECK(rk_prep_nop(ring, 0) >= 0);
		rk_cqe c = reap_one(ring);
		CHECK_EQ(c.res, 0); /* the nop; the read waits */
		CHECK_EQ(write(p[1], "refused", 7), 7);
		CHECK_EQ(run_one(ring, rd), 7);
		CHECK(memcmp(b, "refused", 7) == 0);
		CHECK_EQ(rk_ring_close(ring), 0);
		/* Regions do not need io_uring and keep working. */
		rk_region *rg;
		CHECK_EQ(rk_region_create(4096, 2, 0, &rg), 0);
		CHECK_EQ(rk_chunk_alloc(rg), 0);
		CHECK_EQ(rk_region_destroy(rg), 0);
		_exit(0);
	}
	CHECK_EQ(wait_exit(pid), 0);

	/* The parent, without the filter, is unaffected. */
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, RK_RING_NO_FALLBACK, &ring), 0);
	CHECK_EQ(rk_ring_backend(ring), RK_BACKEND_URING);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
