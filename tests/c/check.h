/* Minimal checks for the core's internal-behaviour tests: print where and
 * what, then fail the program. Exit 77 tells meson the test was skipped. */
#ifndef RK_CORE_CHECK_H
#define RK_CORE_CHECK_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringkit.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
			        #cond);                                               \
			exit(1);                                                      \
		}                                                                     \
	} while (0)

#define CHECK_EQ(a, b)                                                                \
	do {                                                                          \
		long long a_ = (long long)(a), b_ = (long long)(b);                   \
		if (a_ != b_) {                                                       \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld (%s)\n",   \
			        __FILE__, __LINE__, #a, #b, a_, b_,                   \
			        a_ < 0 ? rk_strerror((int)a_) : "");                  \
			exit(1);                                                      \
		}                                                                     \
	} while (0)

#define SKIP(why)                                       \
	do {                                            \
		fprintf(stderr, "skipped: %s\n", why); \
		exit(77);                               \
	} while (0)

/* Reaps until n records arrived, failing after a bounded wait. */
static inline int reap_n(rk_ring *ring, rk_cqe *out, int n)
{
	int got = 0;
	for (int tries = 0; got < n && tries < 100; tries++) {
		int r = rk_reap(ring, out + got, (uint32_t)(n - got), (uint32_t)(n - got),
		                100000000);
		CHECK(r >= 0);
		got += r;
	}
	CHECK_EQ(got, n);
	return got;
}

static inline uint64_t stat_of(rk_ring *ring, int index)
{
	uint64_t v[RK_STAT_COUNT];
	CHECK_EQ(rk_ring_stats(ring, v, RK_STAT_COUNT), RK_STAT_COUNT);
	return v[index];
}

/* A fresh directory under /tmp, removed with everything in it at exit. */
static char check_tmpdir[64];

static inline void check_rmtree(void)
{
	char cmd[96];
	if (check_tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", check_tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", check_tmpdir);
	}
}

static inline const char *make_tmpdir(void)
{
	strcpy(check_tmpdir, "/tmp/ringkit-test.XXXXXX");
	CHECK(mkdtemp(check_tmpdir) != NULL);
	atexit(check_rmtree);
	return check_tmpdir;
}

/* Ends a forked child without the parent's atexit work (removing the
 * temporary directory) and without LeakSanitizer (a child may leak on
 * purpose). A coverage build (RK_COVERAGE, tests/c/meson.build) exits
 * normally instead, so every module writes its counters. */
static inline void child_exit(int code)
{
	fflush(NULL);
#ifdef RK_COVERAGE
	check_tmpdir[0] = 0;
	exit(code);
#else
	_exit(code);
#endif
}

/* Writes len bytes of a position-dependent pattern (byte i = i * 7 + seed). */
static inline void fill_pattern(unsigned char *buf, size_t len, size_t start, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((start + i) * 7 + seed);
}

/* Reaps exactly one record and returns it; fails after a bounded wait. */
static inline rk_cqe reap_one(rk_ring *ring)
{
	rk_cqe c;
	reap_n(ring, &c, 1);
	return c;
}

/* Submits what is queued and reaps one record, which must be op `id`. */
static inline int32_t run_one(rk_ring *ring, int64_t id)
{
	CHECK(id >= 0);
	rk_cqe c = reap_one(ring);
	CHECK_EQ(c.id, id);
	return c.res;
}

/* Open descriptors of this process, to prove none leaked. */
#include <dirent.h>
static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	CHECK(d != NULL);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Descriptors a ring holds, as ringkit.h documents under "Backends": the
 * io_uring fd; or the fallback's eventfd, epoll instance and wakeup
 * eventfd, plus its duplicate of a registered eventfd. */
static inline int ring_fds(rk_ring *ring, int eventfd_registered)
{
	if (rk_ring_backend(ring) == RK_BACKEND_FALLBACK)
		return 3 + eventfd_registered;
	return 1;
}

/* Descriptors behind n filled slots of a ring's file table: none on
 * io_uring (the kernel holds files, not descriptors); the fallback's table
 * holds descriptors of its own (close-on-exec, never handed out). */
static inline int table_fds(rk_ring *ring, int n)
{
	return rk_ring_backend(ring) == RK_BACKEND_FALLBACK ? n : 0;
}

/* Descriptors behind n ops waiting for readiness: none on io_uring; on the
 * fallback each holds a duplicate of its fd, as the kernel holds the file. */
static inline int waiting_fds(rk_ring *ring, int n)
{
	return rk_ring_backend(ring) == RK_BACKEND_FALLBACK ? n : 0;
}

static inline int is_fallback(rk_ring *ring)
{
	return rk_ring_backend(ring) == RK_BACKEND_FALLBACK;
}
#endif
