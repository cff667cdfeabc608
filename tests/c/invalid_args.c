/* Every public function with NULL or invalid arguments: a documented
 * negative errno (or NULL for rk_chunk_ptr), never a crash, and the ring
 * stays usable. */
#include <limits.h>
#include <poll.h>

#include "check.h"

struct got_one {
	int64_t id;
	int32_t res;
};

static int got_fn(void *ctx, int64_t id, int32_t res, uint32_t flags)
{
	(void)flags;
	struct got_one *g = ctx;
	g->id = id;
	g->res = res;
	return 0;
}

int main(void)
{
	rk_ring *ring;
	rk_region *rg;
	rk_cqe c[4];
	char buf[8];
	int64_t v;
	uint64_t st[RK_STAT_COUNT];
	int64_t ids[2];
	rk_op_desc d[1];
	memset(d, 0, sizeof(d));
	rk_iovec iov[1] = {{(uintptr_t)buf, 8}};

	/* NULL ring everywhere. */
	CHECK_EQ(rk_ring_close(NULL), -EINVAL);
	CHECK_EQ(rk_ring_cancel_all(NULL), -EINVAL);
	CHECK_EQ(rk_ring_fd(NULL), -EINVAL);
	CHECK_EQ(rk_ring_probe(NULL, 0), -EINVAL);
	CHECK_EQ(rk_ring_register_eventfd(NULL, 0, 0), -EINVAL);
	CHECK_EQ(rk_ring_unregister_eventfd(NULL), -EINVAL);
	CHECK_EQ(rk_ring_stats(NULL, st, 1), -EINVAL);
	CHECK_EQ(rk_submit(NULL), -EINVAL);
	CHECK_EQ(rk_reap(NULL, c, 4, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_batch(NULL, d, 1, ids), -EINVAL);
	CHECK_EQ(rk_submit_batch(NULL, d, 1, ids), -EINVAL);
	CHECK_EQ(rk_ring_register_region(NULL, NULL), -EINVAL);
	CHECK_EQ(rk_ring_unregister_region(NULL, NULL), -EINVAL);
	CHECK_EQ(rk_prep_nop(NULL, 0), -EINVAL);
	CHECK_EQ(rk_prep_read(NULL, 0, buf, 8, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_write(NULL, 0, buf, 8, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_readv(NULL, 0, iov, 1, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_writev(NULL, 0, iov, 1, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_read_chunk(NULL, 0, NULL, 0, 1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_write_chunk(NULL, 0, NULL, 0, 1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_fsync(NULL, 0, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_fdatasync(NULL, 0, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_openat(NULL, AT_FDCWD, "x", 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_openat2(NULL, AT_FDCWD, "x", 0, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_close(NULL, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_statx(NULL, AT_FDCWD, "x", 0, 0, buf, 0), -EINVAL);
	CHECK_EQ(rk_prep_unlinkat(NULL, AT_FDCWD, "x", 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_mkdirat(NULL, AT_FDCWD, "x", 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_renameat(NULL, AT_FDCWD, "x", AT_FDCWD, "y", 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_linkat(NULL, AT_FDCWD, "x", AT_FDCWD, "y", 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_symlinkat(NULL, "x", AT_FDCWD, "y", 0), -EINVAL);
	CHECK_EQ(rk_prep_fallocate(NULL, 0, 0, 0, 1, 0), -EINVAL);
	CHECK_EQ(rk_prep_fadvise(NULL, 0, 0, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_splice(NULL, 0, -1, 1, -1, 1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_tee(NULL, 0, 1, 1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_poll_add(NULL, 0, 1, 0), -EINVAL);
	CHECK_EQ(rk_prep_poll_remove(NULL, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_timeout(NULL, 1, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_timeout_remove(NULL, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_link_timeout(NULL, 1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_cancel(NULL, 0, 0), -EINVAL);

	/* NULL out pointers and bad creation arguments. */
	CHECK_EQ(rk_ring_create(8, 0, NULL), -EINVAL);
	CHECK_EQ(rk_ring_create(8, 1u << 20, &ring), -EINVAL);
	CHECK(ring == NULL);
	CHECK_EQ(rk_ring_create_ex(8, 0, 0, 0, 0, NULL), -EINVAL);
	CHECK_EQ(rk_region_create(64, 1, 0, NULL), -EINVAL);
	CHECK_EQ(rk_region_destroy(NULL), -EINVAL);
	CHECK_EQ(rk_chunk_alloc(NULL), -EINVAL);
	CHECK_EQ(rk_chunk_free(NULL, 0), -EINVAL);
	CHECK(rk_chunk_ptr(NULL, 0) == NULL);
	CHECK_EQ(rk_region_chunk_size(NULL), -EINVAL);
	CHECK_EQ(rk_region_nchunks(NULL), -EINVAL);
	CHECK_EQ(rk_region_chunks_free(NULL), -EINVAL);
	CHECK_EQ(rk_region_busy(NULL), -EINVAL);
	CHECK_EQ(rk_constant(NULL, &v), -EINVAL);
	CHECK_EQ(rk_constant("RK_LINK", NULL), -EINVAL);
	CHECK_EQ(rk_constant("NO_SUCH_CONSTANT", &v), -ENOENT);
	const char *name;
	CHECK_EQ(rk_constant_at(0, NULL, &v), -EINVAL);
	CHECK_EQ(rk_constant_at(1u << 30, &name, &v), -ENOENT);

	/* A real ring, bad arguments per op. */
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
	CHECK_EQ(rk_region_create(64, 2, 0, &rg), 0);
	CHECK_EQ(rk_prep_nop(ring, 1u << 5), -EINVAL); /* buffer select: not a ringkit flag */
	CHECK_EQ(rk_prep_nop(ring, 1u << 6), -EINVAL); /* CQE skip would break exactly-once */
	CHECK_EQ(rk_prep_read(ring, -1, buf, 8, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_read(ring, 0, NULL, 8, 0, 0), -EFAULT);
	CHECK_EQ(rk_prep_read(ring, 0, buf, 8, -2, 0), -EINVAL);
	CHECK_EQ(rk_prep_write(ring, -5, buf, 8, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_write(ring, 1, NULL, 1, 0, 0), -EFAULT);
	CHECK_EQ(rk_prep_readv(ring, 0, NULL, 1, 0, 0, 0), -EFAULT);
	CHECK_EQ(rk_prep_readv(ring, 0, iov, 100000, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_writev(ring, -1, iov, 1, 0, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_fsync(ring, -1, 0, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_fsync(ring, 0, -1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_openat(ring, AT_FDCWD, NULL, 0, 0, 0), -EFAULT);
	char huge[5000];
	memset(huge, 'a', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = 0;
	CHECK_EQ(rk_prep_openat(ring, AT_FDCWD, huge, 0, 0, 0), -ENAMETOOLONG);
	CHECK_EQ(rk_prep_openat2(ring, AT_FDCWD, huge, 0, 0, 0, 0), -ENAMETOOLONG);
	CHECK_EQ(rk_prep_renameat(ring, AT_FDCWD, "a", AT_FDCWD, huge, 0, 0), -ENAMETOOLONG);
	CHECK_EQ(rk_prep_renameat(ring, AT_FDCWD, NULL, AT_FDCWD, "b", 0, 0), -EFAULT);
	CHECK_EQ(rk_prep_symlinkat(ring, "a", AT_FDCWD, NULL, 0), -EFAULT);
	CHECK_EQ(rk_prep_close(ring, -1, 0), -EBADF);
	CHECK_EQ(rk_prep_cancel(ring, 12345, 0), -ENOENT);
	CHECK_EQ(rk_prep_read_chunk(ring, 0, rg, 0, 1, 0, 0), -EINVAL); /* not allocated */
	CHECK_EQ(rk_chunk_free(rg, 0), -EINVAL);
	CHECK_EQ(rk_chunk_free(rg, 2), -EINVAL);
	CHECK_EQ(rk_chunk_free(rg, -3), -EINVAL);
	CHECK_EQ(rk_ring_register_eventfd(ring, -1, 0), -EBADF);
	CHECK_EQ(rk_ring_register_eventfd(ring, 0, 99), -EINVAL);
	CHECK_EQ(rk_ring_unregister_eventfd(ring), -ENXIO);
	CHECK_EQ(rk_ring_stats(ring, NULL, 3), -EINVAL);
	CHECK_EQ(rk_ring_stats(ring, NULL, 0), 0);
	CHECK_EQ(rk_ring_unregister_region(ring, rg), -ENOENT);
	CHECK_EQ(rk_ring_register_region(ring, NULL), -EINVAL);

	/* Times at the end of time: no overflow (UBSan aborts on one), and a
	 * deadline past it means "never", as on io_uring. */
	const int64_t huge_ns[] = {INT64_MAX, INT64_MAX - 1000000000, INT64_MAX / 2};
	for (size_t i = 0; i < sizeof(huge_ns) / sizeof(huge_ns[0]); i++) {
		/* A wait bounded by the end of time for an op that completes. */
		int64_t t = rk_prep_timeout(ring, 1000000, 0, 0, 0);
		CHECK(t >= 0);
		CHECK_EQ(rk_reap(ring, c, 4, 1, huge_ns[i]), 1);
		CHECK_EQ(c[0].id, t);
		CHECK_EQ(c[0].res, -ETIME);
		t = rk_prep_timeout(ring, 1000000, 0, 0, 0);
		struct got_one g = {0};
		CHECK_EQ(rk_reap_dispatch(ring, got_fn, &g, 4, 1, huge_ns[i]), 1);
		CHECK_EQ(g.id, t);
		/* Timers that never fire, on each clock, relative and linked. */
		const uint32_t tflags[] = {0, RK_TIMEOUT_BOOTTIME, RK_TIMEOUT_REALTIME, RK_TIMEOUT_ABS};
		for (size_t k = 0; k < sizeof(tflags) / sizeof(tflags[0]); k++) {
			t = rk_prep_timeout(ring, huge_ns[i], 0, tflags[k], 0);
			CHECK(t >= 0);
			CHECK_EQ(rk_reap(ring, c, 4, 1, 20000000), 0);
			CHECK_EQ(rk_cancel_sync(ring, t, huge_ns[i]), 0);
			CHECK_EQ(run_one(ring, t), -ECANCELED);
		}
		int p[2];
		make_pipe(p);
		int64_t poll = rk_prep_poll_add(ring, p[0], POLLIN, RK_LINK);
		int64_t lt = rk_prep_link_timeout(ring, huge_ns[i], 0, 0);
		CHECK(poll >= 0 && lt >= 0);
		CHECK_EQ(rk_reap(ring, c, 4, 1, 20000000), 0);
		CHECK_EQ(write(p[1], "x", 1), 1);
		reap_n(ring, c, 2);
		for (int k = 0; k < 2; k++)
			CHECK_EQ(c[k].res, c[k].id == poll ? POLLIN : -ECANCELED);
		close_pair(p);
	}

	CHECK(rk_strerror(INT_MIN) != NULL);
	CHECK(rk_strerror(INT_MAX) != NULL);

	/* A batch field wider than its argument: refused, never truncated
	 * into another valid value. */
	int32_t ch = rk_chunk_alloc(rg);
	CHECK(ch >= 0);
	memset(d, 0, sizeof(d));
	d[0] = (rk_op_desc){.op = RK_OP_READ_CHUNK, .fd = 0, .len = 1, .addr = (uintptr_t)rg,
	                    .arg1 = ((int64_t)1 << 32) + ch};
	CHECK_EQ(rk_prep_batch(ring, d, 1, ids), 0);
	CHECK_EQ(ids[0], -EINVAL);
	d[0] = (rk_op_desc){.op = RK_OP_READV, .fd = 0, .len = 1, .addr = (uintptr_t)iov,
	                    .arg1 = (int64_t)1 << 32};
	CHECK_EQ(rk_prep_batch(ring, d, 1, ids), 0);
	CHECK_EQ(ids[0], -EINVAL);
	d[0] = (rk_op_desc){.op = RK_OP_POLL_ADD, .fd = 0, .arg1 = -1};
	CHECK_EQ(rk_prep_batch(ring, d, 1, ids), 0);
	CHECK_EQ(ids[0], -EINVAL);
	d[0] = (rk_op_desc){.op = RK_OP_RECV_SELECT, .fd = 0, .arg2 = 65536};
	CHECK_EQ(rk_prep_batch(ring, d, 1, ids), 0);
	CHECK_EQ(ids[0], -EINVAL);
	d[0] = (rk_op_desc){.op = RK_OP_OPENAT, .fd = AT_FDCWD, .addr = (uintptr_t)"x",
	                    .arg2 = (int64_t)1 << 32};
	CHECK_EQ(rk_prep_batch(ring, d, 1, ids), 0);
	CHECK_EQ(ids[0], -EINVAL);
	CHECK_EQ(rk_chunk_free(rg, ch), 0);

	/* None of that left anything behind. */
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(run_one(ring, rk_prep_nop(ring, 0)), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_region_destroy(rg), 0);
	return 0;
}
