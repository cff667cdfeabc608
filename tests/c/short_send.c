/* Short sends are normal: a non-blocking send into small socket buffers
 * moves only part of the data, and the caller resubmits the remainder from
 * the advanced buffer offset. Driven through one ring with a send and a
 * recv in flight at once, 4 MiB arrive intact and in order. A MSG_WAITALL
 * send instead completes whole, the kernel retrying internally. */
#include "check.h"

#define LEN (4u << 20)

static rk_ring *ring;
static unsigned char data[LEN], back[LEN];

/* Streams data from c to s with at most one send and one recv in flight.
 * Returns how many sends it took. */
static int stream(int c, int s, int32_t send_flags)
{
	uint32_t sent = 0, recvd = 0;
	int64_t sid = -1, rid = -1;
	int sends = 0, shorts = 0;
	memset(back, 0, sizeof(back));
	/* Until every byte arrived and the last send completed: the recv may
	 * take the last bytes before the send's completion is posted (on the
	 * fallback a worker thread runs the send, and a MSG_WAITALL send
	 * completes only once all of it has moved). */
	while (recvd < LEN || sid >= 0) {
		if (sid < 0 && sent < LEN) {
			sid = rk_prep_send(ring, c, data + sent, LEN - sent, send_flags | MSG_NOSIGNAL, 0);
			CHECK(sid >= 0);
			sends++;
		}
		if (rid < 0 && recvd < LEN) {
			rid = rk_prep_recv(ring, s, back + recvd, LEN - recvd, 0, 0);
			CHECK(rid >= 0);
		}
		rk_cqe cq = reap_one(ring);
		if (cq.id == sid) {
			sid = -1;
			if (cq.res == -EAGAIN)
				continue; /* buffers full: the recv drains them */
			CHECK(cq.res > 0);
			CHECK(sent + (uint32_t)cq.res <= LEN);
			if ((uint32_t)cq.res < LEN - sent)
				shorts++;
			sent += (uint32_t)cq.res;
		} else {
			CHECK_EQ(cq.id, rid);
			rid = -1;
			CHECK(cq.res > 0);
			recvd += (uint32_t)cq.res;
			CHECK(recvd <= sent || sid >= 0); /* never more than was handed over */
		}
	}
	CHECK_EQ(sent, LEN);
	CHECK(sid < 0 && rid < 0);
	CHECK(memcmp(data, back, LEN) == 0);
	return shorts;
}

int main(void)
{
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
	fill_pattern(data, LEN, 0, 5);
	int c, s;
	tcp_pair_sized(&c, &s, 16384); /* small buffers: sends come up short */

	/* Non-blocking: the first send alone cannot move 4 MiB. */
	int32_t first = run_one(ring, rk_prep_send(ring, c, data, LEN, MSG_DONTWAIT, 0));
	CHECK(first > 0 && (uint32_t)first < LEN);
	char *sink = malloc((size_t)first);
	size_t got = 0;
	while (got < (size_t)first) {
		int32_t r = run_one(ring, rk_prep_recv(ring, s, sink + got, (uint32_t)first - got, 0, 0));
		CHECK(r > 0);
		CHECK(memcmp(sink + got, data + got, (size_t)r) == 0);
		got += (size_t)r;
	}
	free(sink);

	CHECK(stream(c, s, MSG_DONTWAIT) > 1);
	/* MSG_WAITALL: one send, whole. */
	CHECK_EQ(stream(c, s, MSG_WAITALL), 0);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	close(c);
	close(s);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
