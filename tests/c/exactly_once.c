/* Exactly one final completion per op, over 10^6 NOPs prepared in random
 * batches with random cancels of live and stale ids mixed in. Every id
 * handed out is tracked by slot: a second completion, a completion for an
 * id never handed out, or a lost one fails the test. */
#include "check.h"

#define TOTAL 1000000

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

int main(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create_ex(64, 0, 0, 512, 0, &ring), 0);
	uint32_t cap = (uint32_t)stat_of(ring, RK_STAT_CAPACITY);
	int64_t *live = calloc(cap, sizeof(int64_t)); /* id in each slot, -1 when free */
	for (uint32_t i = 0; i < cap; i++)
		live[i] = -1;
	int64_t last_done = -1; /* a recently completed id: a stale cancel target */
	long prepared = 0, completed = 0, cancels = 0, stale = 0;
	rk_cqe c[512];

	while (prepared < TOTAL || completed < prepared) {
		uint32_t batch = 1 + next_rand() % 300;
		for (uint32_t i = 0; i < batch && prepared < TOTAL; i++) {
			int64_t id;
			uint32_t r = next_rand() % 16;
			if (r == 0 && last_done >= 0) {
				id = rk_prep_cancel(ring, last_done, 0);
				if (id == -ENOENT) {
					stale++;
					continue;
				}
			} else if (r == 1) {
				int64_t target = live[next_rand() % cap];
				if (target < 0)
					continue;
				id = rk_prep_cancel(ring, target, 0);
				cancels++;
			} else {
				id = rk_prep_nop(ring, 0);
			}
			if (id == -EBUSY)
				break; /* table full: reap first */
			CHECK(id >= 0);
			uint32_t slot = (uint32_t)id;
			CHECK(slot < cap);
			CHECK_EQ(live[slot], -1); /* a slot is never handed out twice */
			live[slot] = id;
			prepared++;
		}
		int n = rk_reap(ring, c, 512, next_rand() % 4 == 0 ? 1 : 0, 1000000000);
		CHECK(n >= 0);
		for (int i = 0; i < n; i++) {
			uint32_t slot = (uint32_t)c[i].id;
			CHECK(slot < cap);
			CHECK_EQ(live[slot], c[i].id); /* known, live, not yet completed */
			CHECK((c[i].flags & RK_CQE_F_MORE) == 0);
			live[slot] = -1;
			last_done = c[i].id;
			completed++;
		}
	}
	CHECK_EQ(completed, TOTAL);
	for (uint32_t i = 0; i < cap; i++)
		CHECK_EQ(live[i], -1);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_COMPLETED), TOTAL);
	fprintf(stderr, "%ld ops, %ld cancels of live ids, %ld stale cancels refused\n", completed,
	        cancels, stale);
	CHECK(stale > 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	free(live);
	return 0;
}
