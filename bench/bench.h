/* Shared by the benchmarks: a clock, a repeatable random stream, and the
 * rule that every figure is the best of several alternating rounds (the
 * machines are shared and noisy; the best round is the least disturbed). */
#ifndef RK_BENCH_H
#define RK_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline uint64_t bench_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static inline void bench_die(const char *what, long err)
{
	fprintf(stderr, "%s failed: %ld\n", what, err);
	exit(1);
}

#define BENCH_ROUNDS 5

#endif
