/* RK_REGION_INCREMENTAL: a multishot recv into an incrementally consumed
 * group. Messages smaller than a chunk share one chunk, each completion's
 * bytes starting where the last one of that chunk ended; messages larger
 * than a chunk fill several; the stream reassembles byte for byte. While a
 * completion says RK_CQE_F_BUF_MORE its chunk is refused to recycle
 * (-EBUSY) and to free; the completion without it hands the chunk over.
 * Both backends alike; skips where the kernel lacks it (Linux 6.12). */
#include <poll.h>

#include "check.h"

#define CHUNK   4096
#define NCHUNKS 8
#define TOTAL   (64 * 1024)

int main(void)
{
	rk_ring *ring = create_ring(32, 0);
	rk_region *rg;
	CHECK_EQ(rk_region_create(CHUNK, NCHUNKS, RK_REGION_INCREMENTAL, &rg), 0);
	int has = rk_ring_feature(ring, RK_FEATURE_PBUF_INC);
	CHECK(has == 0 || has == 1);
	if (!has) {
		CHECK_EQ(rk_ring_provide_region(ring, rg, 1), -EOPNOTSUPP);
		SKIP("kernel without IOU_PBUF_RING_INC (Linux 6.12)");
	}
	CHECK_EQ(rk_ring_provide_region(ring, rg, 1), 1);
	CHECK_EQ(rk_prep_recvmsg_multishot(ring, 0, 1, 16, 0, 0, 0), -EINVAL); /* recv ops only */

	int sv[2];
	make_socketpair(SOCK_STREAM | SOCK_CLOEXEC, sv);
	int64_t ms = rk_prep_recv_multishot(ring, sv[1], 1, 0, 0);
	CHECK(ms >= 0);
	CHECK_EQ(rk_submit(ring), 1);

	static unsigned char sent[TOTAL], got[TOTAL];
	fill_pattern(sent, TOTAL, 0, 3);
	/* Small and large messages, each sent whole before it is received. */
	static const uint32_t sizes[] = {100, 900, 7000, 3, 4096, 12000, 1, 2500, 9000};
	uint32_t off[NCHUNKS] = {0};
	size_t nsent = 0, ngot = 0;
	int more_seen = 0, refused = 0, shared = 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		CHECK_EQ(write(sv[0], sent + nsent, sizes[i]), sizes[i]);
		nsent += sizes[i];
		while (ngot < nsent) {
			rk_cqe c = reap_one(ring);
			CHECK_EQ(c.id, ms);
			CHECK(c.res > 0);
			CHECK(c.flags & RK_CQE_F_MORE);
			CHECK(c.flags & RK_CQE_F_BUFFER);
			uint32_t chunk = c.flags >> RK_CQE_BUFFER_SHIFT;
			CHECK(chunk < NCHUNKS);
			CHECK(off[chunk] + (uint32_t)c.res <= CHUNK);
			if (off[chunk])
				shared++;
			memcpy(got + ngot, (unsigned char *)rk_chunk_ptr(rg, (int32_t)chunk) + off[chunk],
			       (size_t)c.res);
			ngot += (size_t)c.res;
			off[chunk] += (uint32_t)c.res;
			if (c.flags & RK_CQE_F_BUF_MORE) {
				more_seen++;
				CHECK(off[chunk] < CHUNK);
				/* The kernel fills it still: neither recycled nor freed. */
				CHECK_EQ(rk_ring_recycle_chunk(ring, rg, (int32_t)chunk), -EBUSY);
				CHECK_EQ(rk_chunk_free(rg, (int32_t)chunk), -EINVAL);
				refused++;
			} else {
				CHECK_EQ(off[chunk], CHUNK); /* used up: ours now */
				CHECK_EQ(rk_ring_recycle_chunk(ring, rg, (int32_t)chunk), 0);
				off[chunk] = 0;
			}
		}
		CHECK_EQ(ngot, nsent);
	}
	CHECK(memcmp(got, sent, nsent) == 0);
	CHECK(more_seen > 0 && refused > 0 && shared > 0);

	CHECK_EQ(rk_cancel_sync(ring, ms, -1), 0);
	rk_cqe c = reap_one(ring);
	CHECK_EQ(c.id, ms);
	CHECK_EQ(c.res, -ECANCELED);
	/* A part-filled chunk stays the kernel's; unprovide frees it. */
	CHECK_EQ(rk_ring_unprovide_region(ring, rg), 0);
	CHECK_EQ(rk_region_chunks_free(rg), NCHUNKS);
	close_pair(sv);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_region_destroy(rg), 0);
	return 0;
}
