/* Descriptor batches: many kinds of ops queued through rk_op_desc records in
 * one call give the same results as the direct calls; a bad record stops the
 * batch at its index with its errno, leaving the rest unprepared. */
#include <linux/stat.h>
#include <poll.h>

#include "check.h"

int main(void)
{
	int dfd;
	int fd = scratch_file(&dfd);
	unsigned char data[4096];
	fill_pattern(data, sizeof(data), 0, 9);
	CHECK_EQ(write(fd, data, sizeof(data)), sizeof(data));
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
	rk_region *rg;
	CHECK_EQ(rk_region_create(512, 2, 0, &rg), 0);
	int32_t ch = rk_chunk_alloc(rg);

	unsigned char rbuf[100], v1[10], v2[20];
	rk_iovec iov[2] = {{(uintptr_t)v1, 10}, {(uintptr_t)v2, 20}};
	struct statx stx;
	rk_op_desc d[8];
	memset(d, 0, sizeof(d));
	d[0].op = RK_OP_NOP;
	d[1] = (rk_op_desc){.op = RK_OP_READ, .fd = fd, .len = 100, .off = 50, .addr = (uintptr_t)rbuf};
	d[2] = (rk_op_desc){.op = RK_OP_READV, .fd = fd, .len = 2, .off = 1000, .addr = (uintptr_t)iov};
	d[3] = (rk_op_desc){.op = RK_OP_READ_CHUNK, .fd = fd, .len = 512, .off = 2048,
	                    .addr = (uintptr_t)rg, .arg1 = ch};
	d[4] = (rk_op_desc){.op = RK_OP_STATX, .fd = dfd, .len = STATX_SIZE, .addr = (uintptr_t)"f",
	                    .addr2 = (uintptr_t)&stx};
	d[5] = (rk_op_desc){.op = RK_OP_MKDIRAT, .fd = dfd, .addr = (uintptr_t)"sub", .arg1 = 0700};
	d[6] = (rk_op_desc){.op = RK_OP_TIMEOUT, .off = 1000000, .arg1 = 0};
	d[7] = (rk_op_desc){.op = RK_OP_POLL_ADD, .fd = fd, .arg1 = POLLIN};
	int64_t ids[8];
	CHECK_EQ(rk_submit_batch(ring, d, 8, ids), 8);
	memset(iov, 0, sizeof(iov)); /* the core copied it */
	rk_cqe c[8];
	reap_n(ring, c, 8);
	for (int i = 0; i < 8; i++) {
		int k = -1;
		for (int j = 0; j < 8; j++)
			if (ids[j] == c[i].id)
				k = j;
		CHECK(k >= 0);
		const int32_t want[8] = {0, 100, 30, 512, 0, 0, -ETIME, POLLIN};
		if (k == 7)
			CHECK(c[i].res & POLLIN);
		else
			CHECK_EQ(c[i].res, want[k]);
	}
	CHECK(memcmp(rbuf, data + 50, 100) == 0);
	CHECK(memcmp(v1, data + 1000, 10) == 0 && memcmp(v2, data + 1010, 20) == 0);
	CHECK(memcmp(rk_chunk_ptr(rg, ch), data + 2048, 512) == 0);
	CHECK_EQ(stx.stx_size, 4096);

	/* Stops at the first bad record: index 2 has an unknown op. */
	memset(d, 0, sizeof(d));
	d[2].op = 200;
	CHECK_EQ(rk_prep_batch(ring, d, 5, ids), 2);
	CHECK_EQ(ids[2], -EINVAL);
	reap_n(ring, c, 2);
	/* Reserved fields must be zero; a stale cancel target is -ENOENT. */
	memset(d, 0, sizeof(d));
	d[0].reserved1 = 1;
	CHECK_EQ(rk_prep_batch(ring, d, 1, ids), 0);
	CHECK_EQ(ids[0], -EINVAL);
	d[0] = (rk_op_desc){.op = RK_OP_CANCEL, .addr = (uint64_t)c[0].id};
	CHECK_EQ(rk_prep_batch(ring, d, 1, ids), 0);
	CHECK_EQ(ids[0], -ENOENT);
	CHECK_EQ(rk_prep_batch(ring, NULL, 1, ids), -EINVAL);
	CHECK_EQ(rk_prep_batch(ring, d, 1, NULL), -EINVAL);
	CHECK_EQ(rk_prep_batch(NULL, d, 1, ids), -EINVAL);
	CHECK_EQ(rk_prep_batch(ring, NULL, 0, NULL), 0);

	/* Every op code goes through the dispatcher: a NULL path is -EFAULT,
	 * fds -1 are -EBADF, which proves each record reached its prep. */
	for (uint8_t op = 0; op < RK_OP_COUNT; op++) {
		memset(d, 0, sizeof(d));
		d[0].op = op;
		d[0].fd = -1;
		d[0].fd2 = -1;
		int r = rk_prep_batch(ring, d, 1, ids);
		CHECK(r == 0 || r == 1);
		if (r == 1)
			reap_one(ring);
	}
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_chunk_free(rg, ch), 0);
	CHECK_EQ(rk_region_destroy(rg), 0);
	return 0;
}
