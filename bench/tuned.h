/* The liburing side of the benchmarks, set up as io_uring_queue_init gives
 * it or "tuned" with the kernel features ringkit's own rings use: an honest
 * baseline gets whatever the kernel gives any program.
 *
 * RK_BENCH_TUNED overrides the tuned set (a comma-separated list of
 * submit_all, no_sqarray, ring_fd, single_issuer, defer_taskrun,
 * coop_taskrun; "none" for none), to see what each feature is worth to
 * liburing alone. Unset: what ringkit's rk_ring_create(n, 0, ...) uses. */
#ifndef RK_BENCH_TUNED_H
#define RK_BENCH_TUNED_H

#include <errno.h>
#include <stdint.h>
#include <liburing.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif

#define BENCH_RING_FD (1U << 31) /* not a setup flag: io_uring_register_ring_fd */
#define BENCH_HUGE (1U << 30)    /* not a setup flag: buffers in huge pages */

/* Kept in step with src/uring/setup.c: the features it asks for; and the
 * buffers in huge pages, as the ringkit side's regions are created
 * (RK_REGION_HUGE). */
#define BENCH_RINGKIT_DEFAULT (IORING_SETUP_SUBMIT_ALL | IORING_SETUP_NO_SQARRAY | BENCH_HUGE)

static const struct {
	const char *name;
	unsigned flag;
} bench_features[] = {
	{"submit_all", IORING_SETUP_SUBMIT_ALL},
	{"no_sqarray", IORING_SETUP_NO_SQARRAY},
	{"ring_fd", BENCH_RING_FD},
	{"single_issuer", IORING_SETUP_SINGLE_ISSUER},
	{"defer_taskrun", IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER},
	{"coop_taskrun", IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG},
	{"huge", BENCH_HUGE},
};

static inline unsigned bench_tuned_flags(void)
{
	const char *env = getenv("RK_BENCH_TUNED");
	if (!env)
		return BENCH_RINGKIT_DEFAULT;
	unsigned f = 0;
	for (size_t i = 0; i < sizeof(bench_features) / sizeof(bench_features[0]); i++)
		if (strstr(env, bench_features[i].name))
			f |= bench_features[i].flag;
	return f;
}

/* len bytes of buffers for the liburing side: `plain` (a static array, as
 * a program has them) untuned; tuned with "huge", one mapping on a 2 MiB
 * boundary in transparent huge pages, as ringkit's RK_REGION_HUGE region
 * is. Mapped once, and kept, as the static array is. */
static inline void *bench_buffers(void *plain, size_t len, int tuned)
{
	static void *huge;
	if (!tuned || !(bench_tuned_flags() & BENCH_HUGE))
		return plain;
	if (!huge) {
		const size_t page = 2u << 20, hlen = (len + page - 1) / page * page;
		char *p = mmap(NULL, hlen + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		               -1, 0);
		if (p == MAP_FAILED)
			bench_die("mmap", errno);
		huge = (void *)(((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1));
		madvise(huge, hlen, MADV_HUGEPAGE);
	}
	return huge;
}

static inline const char *bench_tuned_name(void)
{
	static char buf[160];
	unsigned f = bench_tuned_flags();
	buf[0] = 0;
	for (size_t i = 0; i < sizeof(bench_features) / sizeof(bench_features[0]); i++)
		if ((f & bench_features[i].flag) == bench_features[i].flag) {
			if (buf[0])
				strcat(buf, ",");
			strcat(buf, bench_features[i].name);
		}
	return buf[0] ? buf : "none";
}

/* liburing 2.3's io_uring_queue_init_params writes the SQ index array,
 * which a NO_SQARRAY ring does not have (at offset 0 it would overwrite the
 * ring's head and tail): such a ring is set up with the raw syscall and
 * io_uring_queue_mmap, which leaves the array alone. Features the kernel
 * lacks are dropped, as ringkit drops them. */
static inline void bench_liburing_init(struct io_uring *ring, unsigned entries, int tuned)
{
	unsigned f = tuned ? bench_tuned_flags() : 0;
	struct io_uring_params p;
	for (;;) {
		memset(&p, 0, sizeof(p));
		p.flags = f & ~(BENCH_RING_FD | BENCH_HUGE);
		int ret;
		if (p.flags & IORING_SETUP_NO_SQARRAY) {
			int fd = (int)syscall(__NR_io_uring_setup, entries, &p);
			ret = fd < 0 ? -errno : io_uring_queue_mmap(fd, &p, ring);
		} else {
			ret = io_uring_queue_init_params(entries, ring, &p);
		}
		if (ret == 0)
			break;
		if (ret != -EINVAL || !(f & IORING_SETUP_NO_SQARRAY))
			bench_die("io_uring_queue_init", ret);
		f &= ~IORING_SETUP_NO_SQARRAY;
	}
	if ((f & BENCH_RING_FD) && io_uring_register_ring_fd(ring) < 0)
		bench_die("io_uring_register_ring_fd", 0);
}

#endif
