/* io_uring refused at setup, for each way the environment refuses it —
 * EPERM (seccomp, kernel.io_uring_disabled), ENOSYS (no io_uring), ENOMEM
 * (memlock or memory), EINVAL (a setup mode the kernel lacks) — through a
 * real seccomp filter in a child: asked for io_uring only
 * (RK_RING_NO_FALLBACK), rk_ring_create returns exactly that negative errno
 * for every setup mode, writes NULL, allocates nothing it keeps, and
 * rk_strerror says what to do; asked nothing, it returns a working ring on
 * the fallback backend, whatever the errno. Regions keep working. */
#include "check.h"
#include "refuse.h"

static const struct {
	int err;
	const char *advice; /* what rk_strerror must mention */
} cases[] = {
	{EPERM, "seccomp"},
	{ENOSYS, "Linux 5.19"},
	{ENOMEM, "RLIMIT_MEMLOCK"},
	{EINVAL, "setup mode"},
};

static int child(int err, const char *advice)
{
	if (refuse_io_uring_setup(err) < 0)
		return 77;
	static const uint32_t modes[] = {0, RK_RING_SQPOLL, RK_RING_SINGLE_ISSUER,
	                                 RK_RING_DEFER_TASKRUN, RK_RING_COOP_TASKRUN, RK_RING_CLAMP};
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		rk_ring *ring = (rk_ring *)0x1;
		CHECK_EQ(rk_ring_create(8, modes[m] | RK_RING_NO_FALLBACK, &ring), -err);
		CHECK(ring == NULL);
		ring = (rk_ring *)0x1;
		CHECK_EQ(rk_ring_create_ex(8, modes[m] | RK_RING_NO_FALLBACK, 64, 64, 0, &ring), -err);
		CHECK(ring == NULL);
		/* Without the flag: the fallback, which works. */
		CHECK_EQ(rk_ring_create_ex(8, modes[m], 64, 64, 0, &ring), 0);
		CHECK_EQ(rk_ring_backend(ring), RK_BACKEND_FALLBACK);
		CHECK_EQ(run_one(ring, rk_prep_nop(ring, 0)), 0);
		CHECK_EQ(rk_ring_close(ring), 0);
	}
	const char *msg = rk_strerror(-err);
	if (!strstr(msg, advice)) {
		fprintf(stderr, "rk_strerror(-%d) = \"%s\" does not mention \"%s\"\n", err, msg, advice);
		return 1;
	}
	printf("%-7s %s\n", strerrorname_np(err), msg);
	rk_region *rg;
	CHECK_EQ(rk_region_create(4096, 2, 0, &rg), 0);
	CHECK_EQ(rk_chunk_alloc(rg), 0);
	CHECK_EQ(rk_region_destroy(rg), 0);
	return 0;
}

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fflush(NULL);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			child_exit(child(cases[i].err, cases[i].advice));
		}
		int status = wait_exit(pid);
		if (status == 77)
			SKIP("cannot install a seccomp filter here");
		CHECK_EQ(status, 0);
	}
	rk_ring *ring; /* the parent, without a filter, is unaffected */
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
