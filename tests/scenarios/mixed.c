/* The "mixed" step of tests/scenarios/README.md for the C runner: exactly
 * one final completion, with the expected result, per op over `count` draws. */
#include "runner.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void run_mixed(rk_ring *ring, int64_t count, int64_t x)
{
	const char *cap = getenv("RINGKIT_SCENARIO_MIXED_MAX");
	if (cap && *cap && atoll(cap) < count)
		count = atoll(cap);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fail("socketpair: %s", strerror(errno));
	enum { B = 16 };
	/* Expected result by slot; ids are compared whole (generation too). */
	struct { int64_t id; int32_t res; } live[256];
	rk_cqe cqes[64];
	int64_t stale = rk_prep_nop(ring, 0);
	if (stale < 0 || rk_reap(ring, cqes, 64, 1, -1) != 1 || cqes[0].id != stale)
		fail("could not make a stale id");
	uint64_t cap_stat[RK_STAT_COUNT];
	rk_ring_stats(ring, cap_stat, RK_STAT_COUNT);
	if (cap_stat[RK_STAT_CAPACITY] < 2 * B || cap_stat[RK_STAT_CAPACITY] > 256)
		fail("mixed needs a ring with 32..256 op slots");
	for (int i = 0; i < 256; i++)
		live[i].id = -1;
	int64_t draws = 0, ops = 0, done = 0;
	int nlive = 0;
	while (draws < count) {
		for (int j = 0; j < B && draws < count; j++, draws++) {
			x = x * 48271 % 2147483647;
			int64_t id[2] = {-1, -1};
			int32_t res[2] = {0, 0};
			switch (x % 4) {
			case 0:
				id[0] = rk_prep_nop(ring, 0);
				break;
			case 1:
				id[0] = rk_prep_timeout(ring, 1000, 0, 0, 0);
				res[0] = -ETIME;
				break;
			case 2:
				id[0] = rk_prep_write(ring, sv[1], "x", 1, -1, RK_LINK);
				res[0] = 1;
				id[1] = -2; /* the read, prepared right after the write */
				res[1] = 1;
				break;
			default: {
				int64_t r = rk_prep_cancel(ring, stale, 0);
				if (r != -ENOENT)
					fail("draw %lld: cancel of a stale id returned %lld", (long long)draws,
					     (long long)r);
				continue;
			}
			}
			for (int k = 0; k < 2; k++) {
				if (id[k] == -1)
					continue;
				if (id[k] == -2) {
					/* res is checked, not the byte: the reads of a batch share it */
					static char scratch[1];
					id[k] = rk_prep_read(ring, sv[0], scratch, 1, -1, 0);
				}
				if (id[k] < 0)
					fail("draw %lld: prep failed: %s", (long long)draws,
					     rk_strerror((int)id[k]));
				uint32_t s = (uint32_t)id[k];
				if (s >= 256 || live[s].id != -1)
					fail("draw %lld: slot %u still live", (long long)draws, s);
				live[s].id = id[k];
				live[s].res = res[k];
				nlive++;
				ops++;
			}
		}
		while (nlive > 0) {
			int n = rk_reap(ring, cqes, 64, 1, 5000000000LL);
			if (n == -EINTR)
				continue;
			if (n <= 0)
				fail("reap: %d with %d ops live", n, nlive);
			for (int i = 0; i < n; i++) {
				uint32_t s = (uint32_t)cqes[i].id;
				if (cqes[i].id < 0 || s >= 256 || live[s].id != cqes[i].id)
					fail("completion of id %lld: not a live op (twice, or unknown)",
					     (long long)cqes[i].id);
				if (cqes[i].res != live[s].res)
					fail("op id %lld: expected res %d, got %d", (long long)cqes[i].id,
					     live[s].res, cqes[i].res);
				live[s].id = -1;
				nlive--;
				done++;
			}
		}
	}
	int n = rk_reap(ring, cqes, 64, 0, 0);
	if (n != 0)
		fail("%d completions after every op had its final one", n);
	if (done != ops)
		fail("%lld ops, %lld final completions", (long long)ops, (long long)done);
	close(sv[0]);
	close(sv[1]);
}

