/* A receive that took a provided chunk and completed, but was not reaped
 * when the ring closed: close drops the completion, so the caller never
 * learns the chunk is its own. The chunk must come back free with the
 * group instead of staying owned by nobody (found by the API fuzzer: the
 * region ended one chunk short and could never be whole again). */
#include <sys/socket.h>
#include <time.h>

#include "check.h"

int main(void)
{
	int sv[2];
	make_socketpair(SOCK_STREAM, sv);
	rk_region *rg;
	CHECK_EQ(rk_region_create(256, 4, 0, &rg), 0);
	for (int multishot = 0; multishot < 2; multishot++) {
		rk_ring *ring;
		CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
		CHECK_EQ(rk_ring_provide_region(ring, rg, 1), 1);
		CHECK_EQ(rk_region_chunks_free(rg), 0); /* all with the kernel */
		if (multishot) {
			CHECK(rk_prep_recv_multishot(ring, sv[0], 1, 0, 0) >= 0);
		} else {
			CHECK(rk_prep_recv_select(ring, sv[0], 1, 0, 0, 0) >= 0);
			CHECK(rk_prep_recv_select(ring, sv[0], 1, 0, 0, 0) >= 0);
		}
		CHECK(rk_submit(ring) > 0);
		for (int i = 0; i < 2; i++) { /* two messages, two chunks */
			CHECK_EQ(send(sv[1], "hello", 5, 0), 5);
			struct timespec ts = {0, 10000000};
			nanosleep(&ts, NULL);
		}
		CHECK_EQ(rk_ring_close(ring), 0); /* completions unreaped */
		CHECK_EQ(rk_region_chunks_free(rg), 4);
		CHECK_EQ(rk_region_busy(rg), 0);
	}
	CHECK_EQ(rk_region_destroy(rg), 0);
	return 0;
}
