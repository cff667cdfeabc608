/* Minimal checks for the core's internal-behaviour tests: print where and
 * what, then fail the program. Exit 77 tells meson the test was skipped. */
#ifndef RK_CORE_CHECK_H
#define RK_CORE_CHECK_H

#include <stdio.h>
#include <stdlib.h>

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

#endif
