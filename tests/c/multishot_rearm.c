/* A TCP stream of 2 MiB received by multishot recv from a small provided
 * group (4 chunks of 4 KiB). The consumer recycles chunks only when the op
 * has ended, so the group runs dry again and again: each time the op ends with
 * -ENOBUFS (or a final data completion), the caller recycles and re-arms, and the stream continues
 * without a byte lost, duplicated or reordered, up to end of stream (0). */
#include <pthread.h>

#include "check.h"

#define LEN    (2u << 20)
#define CHUNKS 4
#define CHUNK  4096

static unsigned char data[LEN], back[LEN];

static void *writer(void *arg)
{
	int fd = *(int *)arg;
	size_t off = 0;
	while (off < LEN) {
		ssize_t w = write(fd, data + off, LEN - off < 10000 ? LEN - off : 10000);
		CHECK(w > 0);
		off += (size_t)w;
	}
	close(fd);
	return NULL;
}

int main(void)
{
	fill_pattern(data, LEN, 0, 11);
	int c, s;
	tcp_pair(&c, &s);

	rk_ring *ring;
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	rk_region *rg;
	CHECK_EQ(rk_region_create(CHUNK, CHUNKS, 0, &rg), 0);
	CHECK_EQ(rk_ring_provide_region(ring, rg, 1), 1);

	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, writer, &c), 0);

	size_t got = 0;
	int rearms = 0, eof = 0;
	int32_t held[CHUNKS];
	int nheld = 0;
	int64_t ms = rk_prep_recv_multishot(ring, s, 1, 0, 0);
	CHECK(ms >= 0);
	while (!eof) {
		rk_cqe cq = reap_one(ring);
		CHECK_EQ(cq.id, ms);
		if (cq.res > 0) {
			CHECK(cq.flags & RK_CQE_F_BUFFER);
			int32_t ch = (int32_t)(cq.flags >> RK_CQE_BUFFER_SHIFT);
			CHECK(ch >= 0 && ch < CHUNKS && cq.res <= CHUNK);
			CHECK(got + (size_t)cq.res <= LEN);
			memcpy(back + got, rk_chunk_ptr(rg, ch), (size_t)cq.res);
			got += (size_t)cq.res;
			/* Held until the op ends: the group must run dry. */
			CHECK(nheld < CHUNKS);
			held[nheld++] = ch;
		}
		if (cq.flags & RK_CQE_F_MORE)
			continue;
		/* The op ended. */
		if (cq.res == 0 && got == LEN) {
			eof = 1;
		} else if (cq.res == -ENOBUFS || cq.res > 0) {
			/* Dry (or a final data completion): give everything back and
			 * re-arm; no data was lost in between. */
			for (int i = 0; i < nheld; i++)
				CHECK_EQ(rk_ring_recycle_chunk(ring, rg, held[i]), 0);
			nheld = 0;
			ms = rk_prep_recv_multishot(ring, s, 1, 0, 0);
			CHECK(ms >= 0);
			rearms++;
		} else {
			CHECK_EQ(cq.res, 0);
			CHECK(!"end of stream before all data");
		}
	}
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(got, LEN);
	CHECK(memcmp(data, back, LEN) == 0);
	CHECK(rearms >= (int)(LEN / (CHUNKS * CHUNK)) - 1);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	for (int i = 0; i < nheld; i++)
		CHECK_EQ(rk_ring_recycle_chunk(ring, rg, held[i]), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_region_chunks_free(rg), CHUNKS);
	CHECK_EQ(rk_region_destroy(rg), 0);
	close(s);
	return 0;
}
