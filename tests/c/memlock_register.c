/* Registering a region is charged against RLIMIT_MEMLOCK. With the limit
 * low and CAP_IPC_LOCK dropped (in a child: we run as root), registration
 * fails with -ENOMEM and the region keeps working unregistered. Skips when
 * the process cannot drop the capability or the kernel does not charge. */
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "check.h"

static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		data[i].effective &= ~(i == CAP_TO_INDEX(CAP_IPC_LOCK) ? CAP_TO_MASK(CAP_IPC_LOCK) : 0);
		data[i].permitted &= ~(i == CAP_TO_INDEX(CAP_IPC_LOCK) ? CAP_TO_MASK(CAP_IPC_LOCK) : 0);
	}
	return (int)syscall(SYS_capset, &hdr, data);
}

int main(void)
{
	int fd = scratch_file(NULL);
	CHECK_EQ(write(fd, "0123456789", 10), 10);

	rk_ring *probe;
	CHECK_EQ(rk_ring_create(8, 0, &probe), 0);
	int fallback = is_fallback(probe);
	CHECK_EQ(rk_ring_close(probe), 0);
	if (fallback) /* nothing is pinned, so nothing is charged: see ringkit.h */
		SKIP("the fallback backend registers regions without locking memory");

	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {.rlim_cur = 64 * 1024, .rlim_max = 64 * 1024};
		if (drop_ipc_lock() < 0 || setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
			_exit(77);
		rk_ring *ring;
		CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
		rk_region *rg;
		CHECK_EQ(rk_region_create(1 << 20, 16, 0, &rg), 0); /* 16 MiB */
		int ret = rk_ring_register_region(ring, rg);
		if (ret == 0)
			_exit(77); /* this kernel does not charge: nothing to test */
		CHECK_EQ(ret, -ENOMEM);
		CHECK(strstr(rk_strerror(ret), "RLIMIT_MEMLOCK") != NULL);
		/* Unregistered, the chunk ops still work (plain read/write). */
		int32_t ch = rk_chunk_alloc(rg);
		CHECK_EQ(run_one(ring, rk_prep_read_chunk(ring, fd, rg, ch, 10, 0, 0)), 10);
		CHECK(memcmp(rk_chunk_ptr(rg, ch), "0123456789", 10) == 0);
		CHECK_EQ(run_one(ring, rk_prep_write_chunk(ring, fd, rg, ch, 10, 10, 0)), 10);
		/* A locked region over the limit: refused, clearly. */
		rk_region *locked;
		CHECK(rk_region_create(1 << 20, 4, RK_REGION_LOCKED, &locked) < 0);
		CHECK_EQ(rk_ring_close(ring), 0);
		CHECK_EQ(rk_chunk_free(rg, ch), 0);
		CHECK_EQ(rk_region_destroy(rg), 0);
		_exit(0);
	}
	int status = wait_exit(pid);
	if (status == 77)
		SKIP("cannot drop CAP_IPC_LOCK here, or registration is not charged");
	CHECK_EQ(status, 0);
	char back[20];
	CHECK_EQ(pread(fd, back, 20, 0), 20);
	CHECK(memcmp(back, "01234567890123456789", 20) == 0);
	return 0;
}
