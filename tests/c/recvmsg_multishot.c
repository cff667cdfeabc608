/* rk_prep_recvmsg_multishot: one UDP socket receives many datagrams from
 * several senders into a provided-buffer group; rk_recvmsg_out decodes each
 * chunk (the sender's address, the payload) without a C struct of the
 * kernel's; a datagram larger than a chunk's payload area comes truncated
 * with MSG_TRUNC; chunks too small for the areas are refused (-EMSGSIZE);
 * the decoder refuses bad arguments. Both backends alike; skips where the
 * kernel lacks it (Linux 6.0). */
#include "check.h"

#define SENDERS 3
#define EACH    40
#define CHUNK   128
#define NCHUNKS 32
#define NAMECAP 32

static int udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	return fd;
}

static rk_cqe next(rk_ring *ring, int64_t id)
{
	rk_cqe c = reap_one(ring);
	CHECK_EQ(c.id, id);
	return c;
}

int main(void)
{
	rk_ring *ring = create_ring(64, 0);
	int has = rk_ring_feature(ring, RK_FEATURE_RECVMSG_MULTISHOT);
	CHECK(has == 0 || has == 1);
	rk_region *rg;
	CHECK_EQ(rk_region_create(CHUNK, NCHUNKS, 0, &rg), 0);
	CHECK_EQ(rk_ring_provide_region(ring, rg, 3), 3);
	int rx = udp_socket();
	struct sockaddr_in to;
	bind_loopback(rx, &to);
	if (!has) {
		CHECK_EQ(rk_prep_recvmsg_multishot(ring, rx, 3, NAMECAP, 0, 0, 0), -EOPNOTSUPP);
		SKIP("kernel without multishot recvmsg (Linux 6.0)");
	}
	CHECK_EQ(rk_prep_recvmsg_multishot(NULL, rx, 3, NAMECAP, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_recvmsg_multishot(ring, rx, 3, RK_RECVMSG_NAME_MAX + 1, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_recvmsg_multishot(ring, rx, 3, 0, RK_RECVMSG_CONTROL_MAX + 1, 0, 0),
	         -EINVAL);
	CHECK_EQ(rk_prep_recvmsg_multishot(ring, rx, 3, NAMECAP, 0, MSG_WAITALL, 0), -EINVAL);
	CHECK_EQ(rk_prep_recvmsg_multishot(ring, rx, 9, NAMECAP, 0, 0, 0), -ENOENT);
	CHECK_EQ(rk_prep_recvmsg_multishot(ring, -1, 3, NAMECAP, 0, 0, 0), -EBADF);

	/* Through the descriptor path. */
	rk_op_desc d = {.op = RK_OP_RECVMSG_MULTISHOT, .fd = rx, .arg2 = 3, .fd2 = NAMECAP};
	int64_t ms;
	CHECK_EQ(rk_submit_batch(ring, &d, 1, &ms), 1);

	int tx[SENDERS];
	uint16_t port[SENDERS];
	for (int s = 0; s < SENDERS; s++) {
		tx[s] = udp_socket();
		struct sockaddr_in me;
		bind_loopback(tx[s], &me);
		port[s] = ntohs(me.sin_port);
	}
	int seen[SENDERS] = {0};
	for (int i = 0; i < EACH; i++) {
		for (int s = 0; s < SENDERS; s++) {
			char msg[32];
			int len = snprintf(msg, sizeof(msg), "from %d #%d", s, i);
			CHECK_EQ(sendto(tx[s], msg, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to)),
			         len);
		}
		for (int k = 0; k < SENDERS; k++) {
			rk_cqe c = next(ring, ms);
			CHECK(c.res > 0);
			CHECK(c.flags & RK_CQE_F_MORE);
			CHECK(c.flags & RK_CQE_F_BUFFER);
			int32_t chunk = (int32_t)(c.flags >> RK_CQE_BUFFER_SHIFT);
			uint32_t v[RK_RECVMSG_OUT_COUNT];
			CHECK_EQ(rk_recvmsg_out(rg, chunk, (uint32_t)c.res, NAMECAP, 0, v,
			                        RK_RECVMSG_OUT_COUNT), RK_RECVMSG_OUT_COUNT);
			const unsigned char *base = rk_chunk_ptr(rg, chunk);
			CHECK_EQ(v[RK_RECVMSG_OUT_NAME], RK_RECVMSG_OUT_HDR);
			CHECK_EQ(v[RK_RECVMSG_OUT_NAME_LEN], sizeof(struct sockaddr_in));
			CHECK_EQ(v[RK_RECVMSG_OUT_NAME_TOTAL], sizeof(struct sockaddr_in));
			CHECK_EQ(v[RK_RECVMSG_OUT_CONTROL_LEN], 0);
			CHECK_EQ(v[RK_RECVMSG_OUT_PAYLOAD], RK_RECVMSG_OUT_HDR + NAMECAP);
			CHECK_EQ(v[RK_RECVMSG_OUT_FLAGS], 0);
			struct sockaddr_in from;
			memcpy(&from, base + v[RK_RECVMSG_OUT_NAME], sizeof(from));
			CHECK_EQ(from.sin_family, AF_INET);
			CHECK_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
			int s = -1;
			for (int j = 0; j < SENDERS; j++)
				if (ntohs(from.sin_port) == port[j])
					s = j;
			CHECK(s >= 0);
			char want[32];
			int len = snprintf(want, sizeof(want), "from %d #%d", s, seen[s]++);
			CHECK_EQ(v[RK_RECVMSG_OUT_PAYLOAD_LEN], len);
			CHECK_EQ(v[RK_RECVMSG_OUT_PAYLOAD_TOTAL], len);
			CHECK(memcmp(base + v[RK_RECVMSG_OUT_PAYLOAD], want, (size_t)len) == 0);
			CHECK_EQ(rk_ring_recycle_chunk(ring, rg, chunk), 0);
		}
	}
	for (int s = 0; s < SENDERS; s++)
		CHECK_EQ(seen[s], EACH);

	/* Larger than the payload area: truncated, MSG_TRUNC. */
	char big[200];
	fill_pattern((unsigned char *)big, sizeof(big), 0, 5);
	CHECK_EQ(sendto(tx[0], big, sizeof(big), 0, (struct sockaddr *)&to, sizeof(to)), 200);
	rk_cqe c = next(ring, ms);
	CHECK_EQ(c.res, CHUNK);
	int32_t chunk = (int32_t)(c.flags >> RK_CQE_BUFFER_SHIFT);
	uint32_t v[RK_RECVMSG_OUT_COUNT];
	CHECK_EQ(rk_recvmsg_out(rg, chunk, (uint32_t)c.res, NAMECAP, 0, v, RK_RECVMSG_OUT_COUNT),
	         RK_RECVMSG_OUT_COUNT);
	uint32_t area = CHUNK - RK_RECVMSG_OUT_HDR - NAMECAP;
	CHECK_EQ(v[RK_RECVMSG_OUT_PAYLOAD_LEN], area);
	CHECK(v[RK_RECVMSG_OUT_FLAGS] & MSG_TRUNC);
	CHECK(memcmp((const char *)rk_chunk_ptr(rg, chunk) + v[RK_RECVMSG_OUT_PAYLOAD], big, area) ==
	      0);

	/* The decoder's refusals. */
	CHECK_EQ(rk_recvmsg_out(NULL, chunk, 64, 0, 0, v, 1), -EINVAL);
	CHECK_EQ(rk_recvmsg_out(rg, -1, 64, 0, 0, v, 1), -EINVAL);
	CHECK_EQ(rk_recvmsg_out(rg, NCHUNKS, 64, 0, 0, v, 1), -EINVAL);
	CHECK_EQ(rk_recvmsg_out(rg, chunk, CHUNK + 1, 0, 0, v, 1), -EINVAL);
	CHECK_EQ(rk_recvmsg_out(rg, chunk, 15, 0, 0, v, 1), -EINVAL);
	CHECK_EQ(rk_recvmsg_out(rg, chunk, 64, NAMECAP, 64, v, 1), -EINVAL);
	CHECK_EQ(rk_recvmsg_out(rg, chunk, 64, 0, 0, NULL, 1), -EINVAL);
	CHECK_EQ(rk_recvmsg_out(rg, chunk, 64, 0, 0, NULL, 0), 0);
	CHECK_EQ(rk_recvmsg_out(rg, chunk, 64, NAMECAP, 0, v, 2), 2);
	CHECK_EQ(rk_ring_recycle_chunk(ring, rg, chunk), 0);

	CHECK_EQ(rk_cancel_sync(ring, ms, -1), 0);
	c = next(ring, ms);
	CHECK_EQ(c.res, -ECANCELED);

	/* Chunks too small for header + name + control. */
	CHECK_EQ(rk_prep_recvmsg_multishot(ring, rx, 3, NAMECAP, CHUNK - 16 - NAMECAP + 1, 0, 0),
	         -EMSGSIZE);
	/* MSG_DONTWAIT: an empty socket ends it at once. */
	c = next(ring, rk_prep_recvmsg_multishot(ring, rx, 3, NAMECAP, 0, MSG_DONTWAIT, 0));
	CHECK_EQ(c.res, -EAGAIN);
	CHECK_EQ(c.flags & RK_CQE_F_MORE, 0);

	for (int s = 0; s < SENDERS; s++)
		close(tx[s]);
	close(rx);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_region_destroy(rg), 0);
	return 0;
}
