/* What the C scenario runner's files share. */
#ifndef SCEN_RUNNER_H
#define SCEN_RUNNER_H

#include <ringkit.h>

#include <stdint.h>

/* Reports the failed expectation with the scenario and step, and exits 1. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* The mixed step on ring, count draws from seed (README.md, "mixed"). */
void run_mixed(rk_ring *ring, int64_t count, int64_t seed);

#endif
