/* rk_prep_copy: byte-exact copies of awkward sizes and offsets with each
 * strategy, the source ending early, the destination's preallocation
 * (sized by the source, the size left to the writes), its argument errors, the slots it
 * takes (one more, reading through buffers, where the table has room), and
 * cancel and close in the middle of a copy (exactly one
 * completion, no descriptor left behind). Both backends. */
#include <sys/socket.h>
#include <sys/stat.h>

#include "check.h"
#include "copy_check.h"

static unsigned char *pattern(size_t len, unsigned seed)
{
	unsigned char *p = malloc(len ? len : 1);
	CHECK(p != NULL);
	fill_pattern(p, len, 0, seed);
	return p;
}

/* The copy's one completion, and nothing else after it. */
static int32_t copy_result(rk_ring *ring, int64_t id)
{
	CHECK(id >= 0);
	int32_t res = run_one(ring, id);
	rk_cqe c;
	CHECK_EQ(rk_reap(ring, &c, 1, 0, 0), 0);
	return res;
}

static void copy_sizes(rk_ring *ring, uint32_t copy_flags)
{
	static const size_t sizes[] = {0, 1, 7, 4095, 4096, 4097, 65537, (1u << 20) + 3,
	                               (5u << 20) + 777};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		unsigned char *src = pattern(n, (unsigned)i);
		int in = new_file(src, n), out = new_file(NULL, 0);
		int64_t id = rk_prep_copy(ring, in, 0, out, 0, n, copy_flags, 0);
		CHECK_EQ(copy_result(ring, id), (int32_t)n);
		struct stat st;
		CHECK_EQ(fstat(out, &st), 0);
		CHECK_EQ((size_t)st.st_size, n);
		check_bytes(out, 0, src, n);
		/* Neither file offset moved. */
		CHECK_EQ(lseek(in, 0, SEEK_CUR), 0);
		CHECK_EQ(lseek(out, 0, SEEK_CUR), 0);
		close(in);
		close(out);
		free(src);
	}
}

static void offsets_and_eof(rk_ring *ring, uint32_t copy_flags)
{
	size_t n = (3u << 20) + 11;
	unsigned char *src = pattern(n, 3);
	int in = new_file(src, n), out = new_file(NULL, 0);

	/* From the middle to an odd offset. */
	int64_t id = rk_prep_copy(ring, in, 1001, out, 3, 200000, copy_flags, 0);
	CHECK_EQ(copy_result(ring, id), 200000);
	check_bytes(out, 3, src + 1001, 200000);

	/* The source ends before len: res says where. */
	CHECK_EQ(ftruncate(out, 0), 0);
	id = rk_prep_copy(ring, in, 4096, out, 0, n * 4, copy_flags, 0);
	CHECK_EQ(copy_result(ring, id), (int32_t)(n - 4096));
	check_bytes(out, 0, src + 4096, n - 4096);
	id = rk_prep_copy(ring, in, (int64_t)n + 5, out, 0, 100, copy_flags, 0);
	CHECK_EQ(copy_result(ring, id), 0);

	/* A file onto itself, not overlapping. */
	id = rk_prep_copy(ring, in, 0, in, (int64_t)n, 100000, copy_flags, 0);
	CHECK_EQ(copy_result(ring, id), 100000);
	check_bytes(in, (off_t)n, src, 100000);
	close(in);
	close(out);
	free(src);
}

static void argument_errors(rk_ring *ring)
{
	unsigned char b[16] = {0};
	int in = new_file(b, sizeof(b)), out = new_file(NULL, 0);
	CHECK_EQ(rk_prep_copy(NULL, in, 0, out, 0, 1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_copy(ring, -1, 0, out, 0, 1, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_copy(ring, in, 0, -1, 0, 1, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_copy(ring, in, -1, out, 0, 1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_copy(ring, in, 0, out, -1, 1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_copy(ring, in, INT64_MAX, out, 0, 2, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_copy(ring, in, 0, out, 0, 1, 0, RK_LINK), -EINVAL);
	CHECK_EQ(rk_prep_copy(ring, in, 0, out, 0, 1, 0, RK_FIXED_FILE), -EINVAL);
	CHECK_EQ(rk_prep_copy(ring, in, 0, out, 0, 1, 1u << 30, 0), -EINVAL);
	CHECK_EQ(rk_prep_copy(ring, in, 0, out, 0, 1, RK_COPY_SPLICE | RK_COPY_READ_WRITE, 0),
	         -EINVAL);
	CHECK_EQ(rk_prep_copy(ring, in, 0, in, 8, 16, 0, 0), -EINVAL); /* overlap */
	CHECK_EQ(rk_prep_copy(ring, 1000000, 0, out, 0, 1, 0, 0), -EBADF);

	/* Pipes and sockets have no offsets. */
	int p[2], sv[2];
	make_pipe(p);
	make_socketpair(SOCK_STREAM, sv);
	CHECK_EQ(rk_prep_copy(ring, in, 0, p[1], 0, 1, 0, 0), -ESPIPE);
	CHECK_EQ(rk_prep_copy(ring, p[0], 0, out, 0, 1, 0, 0), -ESPIPE);
	CHECK_EQ(rk_prep_copy(ring, in, 0, sv[0], 0, 1, 0, 0), -ESPIPE);
	close_pair(p);
	close_pair(sv);
	int d = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK_EQ(rk_prep_copy(ring, d, 0, out, 0, 1, 0, 0), -EISDIR);
	close(d);

	/* Open the wrong way, or appending. */
	char path[128];
	snprintf(path, sizeof(path), "%s/ro", dir);
	int ro = open(path, O_RDONLY | O_CREAT, 0600), wo = open(path, O_WRONLY);
	int ap = open(path, O_WRONLY | O_APPEND);
	CHECK(ro >= 0 && wo >= 0 && ap >= 0);
	CHECK_EQ(rk_prep_copy(ring, in, 0, ro, 0, 1, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_copy(ring, wo, 0, out, 0, 1, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_copy(ring, in, 0, ap, 0, 1, 0, 0), -EINVAL);
	close(ro);
	close(wo);
	close(ap);

	/* Inside a linked chain being prepared. */
	CHECK(rk_prep_nop(ring, RK_LINK) >= 0);
	CHECK_EQ(rk_prep_copy(ring, in, 0, out, 0, 1, 0, 0), -EINVAL);
	CHECK(rk_prep_nop(ring, 0) >= 0);
	rk_cqe c[2];
	CHECK_EQ(reap_n(ring, c, 2), 2);
	close(in);
	close(out);
}

/* A copy of several chunks into a new file preallocates what the source
 * has (not len), and leaves the size to what was written; with
 * RK_COPY_NO_PREALLOC it does not preallocate. Byte-exact either way. */
static void preallocation(rk_ring *ring)
{
	size_t n = (3u << 20) + 5;
	unsigned char *src = pattern(n, 11);
	int in = new_file(src, n);
	const uint32_t flags[] = {0, RK_COPY_NO_PREALLOC, RK_COPY_READ_WRITE,
	                          RK_COPY_READ_WRITE | RK_COPY_NO_PREALLOC};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		int out = new_file(NULL, 0);
		int64_t id = rk_prep_copy(ring, in, 0, out, 0, (uint64_t)n * 100, flags[i], 0);
		CHECK_EQ(copy_result(ring, id), (int32_t)n);
		CHECK_EQ(fsync(out), 0); /* delayed allocation counted as blocks */
		struct stat st;
		CHECK_EQ(fstat(out, &st), 0);
		CHECK_EQ((size_t)st.st_size, n);
		CHECK((uint64_t)st.st_blocks * 512 < 2 * (uint64_t)n);
		check_bytes(out, 0, src, n);

		/* Into the middle of a longer file: nothing past its end. */
		id = rk_prep_copy(ring, in, 0, out, 4096, n - 8192, flags[i], 0);
		CHECK_EQ(copy_result(ring, id), (int32_t)(n - 8192));
		CHECK_EQ(fstat(out, &st), 0);
		CHECK_EQ((size_t)st.st_size, n);
		check_bytes(out, 4096, src, n - 8192);
		close(out);
	}
	close(in);
	free(src);
}

/* A copy takes 1 + lanes slots; -EBUSY, and nothing taken, when fewer. */
static void slots(void)
{
	size_t n = 8u << 20;
	unsigned char *src = pattern(n, 9);
	int in = new_file(src, n), out = new_file(NULL, 0);
	rk_ring *ring;
	CHECK_EQ(rk_ring_create_ex(2, 0, 0, 3, 0, &ring), 0);
	CHECK(rk_prep_nop(ring, 0) >= 0);
	CHECK_EQ(rk_prep_copy(ring, in, 0, out, 0, n, RK_COPY_LANES(2), 0), -EBUSY);
	rk_cqe c;
	CHECK_EQ(reap_n(ring, &c, 1), 1);
	int64_t id = rk_prep_copy(ring, in, 0, out, 0, n, RK_COPY_LANES(2), 0);
	CHECK(id >= 0);
	CHECK_EQ(rk_prep_nop(ring, 0), -EBUSY);
	CHECK_EQ(copy_result(ring, id), (int32_t)n);
	check_bytes(out, 0, src, n);
	/* Every slot back. */
	int64_t ids[3];
	for (int i = 0; i < 3; i++)
		CHECK((ids[i] = rk_prep_nop(ring, 0)) >= 0);
	rk_cqe cs[3];
	CHECK_EQ(reap_n(ring, cs, 3), 3);
	CHECK_EQ(rk_ring_close(ring), 0);
	close(in);
	close(out);
	free(src);
}

/* Reading through buffers, a copy takes one lane more than it reads in
 * flight where the table has room: that lane preallocates beside the first
 * reads, then carries ranges while the others' reads wait (parked) for the
 * depth to allow them. Lengths that are not a multiple of the chunk, a
 * source that ends early, and a table with no room for that lane (the copy
 * runs as it did without it). */
static void spare_lane(void)
{
	size_t n = (37u << 12) + 123;
	unsigned char *src = pattern(n, 13);
	int in = new_file(src, n);
	for (uint32_t lanes = 1; lanes <= 3; lanes++) {
		for (uint32_t room = 0; room <= 1; room++) {
			for (uint32_t pre = 0; pre <= 1; pre++) {
				uint32_t flags = RK_COPY_READ_WRITE | RK_COPY_LANES(lanes) |
				                 RK_COPY_CHUNK(12) | (pre ? 0 : RK_COPY_NO_PREALLOC);
				/* Nops hold what the table has beyond 1 + lanes + room. */
				uint32_t want = 1 + lanes + room;
				rk_ring *ring;
				CHECK_EQ(rk_ring_create_ex(2, 0, 0, want, 0, &ring), 0);
				uint64_t stats[RK_STAT_CAPACITY + 1];
				CHECK_EQ(rk_ring_stats(ring, stats, RK_STAT_CAPACITY + 1),
				         RK_STAT_CAPACITY + 1);
				uint64_t cap = stats[RK_STAT_CAPACITY];
				CHECK(cap >= want);
				for (uint64_t k = want; k < cap; k++)
					CHECK(rk_prep_nop(ring, 0) >= 0);
				int out = new_file(NULL, 0);
				int64_t id = rk_prep_copy(ring, in, 0, out, 0, n, flags, 0);
				CHECK(id >= 0);
				CHECK_EQ(rk_prep_nop(ring, 0), -EBUSY); /* every slot taken */
				int32_t res = -1;
				for (uint64_t k = want; k <= cap; k++) {
					rk_cqe c = reap_one(ring);
					if (c.id == id)
						res = c.res;
				}
				CHECK_EQ(res, (int32_t)n);
				struct stat st;
				CHECK_EQ(fstat(out, &st), 0);
				CHECK_EQ((size_t)st.st_size, n);
				check_bytes(out, 0, src, n);

				/* Past the source's end, from an odd offset. */
				CHECK_EQ(ftruncate(out, 0), 0);
				id = rk_prep_copy(ring, in, 4097, out, 5, n * 3, flags, 0);
				CHECK_EQ(copy_result(ring, id), (int32_t)(n - 4097));
				CHECK_EQ(fstat(out, &st), 0);
				CHECK_EQ((size_t)st.st_size, n - 4097 + 5);
				check_bytes(out, 5, src + 4097, n - 4097);
				CHECK_EQ(rk_ring_close(ring), 0);
				close(out);
			}
		}
	}
	close(in);
	free(src);
}

/* A copy slow enough to be stopped (small chunks, many sub-ops). */
static void stop_midway(uint32_t copy_flags, enum how how)
{
	int base = count_fds();
	size_t n = 32u << 20;
	unsigned char *src = pattern(n, 5);
	int in = new_file(src, n), out = new_file(NULL, 0);
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	int64_t id = rk_prep_copy(ring, in, 0, out, 0, n, copy_flags | RK_COPY_CHUNK(12), 0);
	CHECK(id >= 0);
	int64_t other = rk_prep_nop(ring, 0);
	/* Let it get going: the nop's completion comes with some progress. */
	rk_cqe c[4];
	CHECK_EQ(rk_reap(ring, c, 1, 1, -1), 1);
	CHECK_EQ(c[0].id, other);

	if (how == BY_CLOSE) {
		CHECK_EQ(rk_ring_close(ring), 0);
	} else {
		cancel_copy(ring, id, n, how);
		CHECK_EQ(rk_reap(ring, c, 4, 1, 50 * 1000000LL), 0);
		CHECK_EQ(rk_cancel_sync(ring, id, 0), -ENOENT);
		/* The ring goes on: another copy, whole. */
		CHECK_EQ(ftruncate(out, 0), 0);
		CHECK_EQ(copy_result(ring, rk_prep_copy(ring, in, 0, out, 0, 100003, copy_flags, 0)),
		         100003);
		check_bytes(out, 0, src, 100003);
		CHECK_EQ(rk_ring_close(ring), 0);
	}
	close(in);
	close(out);
	free(src);
	CHECK_EQ(count_fds(), base);
}

static void descriptor(rk_ring *ring)
{
	size_t n = 300001;
	unsigned char *src = pattern(n, 1);
	int in = new_file(src, n), out = new_file(NULL, 0);
	rk_op_desc d;
	memset(&d, 0, sizeof(d));
	d.op = RK_OP_COPY;
	d.fd = in;
	d.fd2 = out;
	d.off = 1;
	d.arg2 = 2;
	d.addr = n - 1;
	int64_t id;
	CHECK_EQ(rk_prep_batch(ring, &d, 1, &id), 1);
	CHECK_EQ(copy_result(ring, id), (int32_t)(n - 1));
	check_bytes(out, 2, src + 1, n - 1);
	d.off = -1;
	CHECK_EQ(rk_prep_batch(ring, &d, 1, &id), 0);
	CHECK_EQ(id, -EINVAL);
	close(in);
	close(out);
	free(src);
}

/* Several copies at once, among other ops, each with its one completion. */
static void concurrent(rk_ring *ring)
{
	enum { N = 3 };
	size_t n = (2u << 20) + 5;
	unsigned char *src = pattern(n, 2);
	int in = new_file(src, n), outs[N];
	int64_t ids[N + 1];
	for (int i = 0; i < N; i++) {
		outs[i] = new_file(NULL, 0);
		ids[i] = rk_prep_copy(ring, in, 0, outs[i], 0, n,
		                      i == 1 ? RK_COPY_READ_WRITE : RK_COPY_LANES(i + 1), 0);
		CHECK(ids[i] >= 0);
	}
	ids[N] = rk_prep_nop(ring, 0);
	rk_cqe c[N + 1];
	CHECK_EQ(reap_n(ring, c, N + 1), N + 1);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(res_of(c, N + 1, ids[i]), (int32_t)n);
		check_bytes(outs[i], 0, src, n);
		close(outs[i]);
	}
	CHECK_EQ(res_of(c, N + 1, ids[N]), 0);
	close(in);
	free(src);
}

int main(void)
{
	strcpy(dir, make_tmpdir());
	int base = count_fds();
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(64, 0, &ring), 0);

	argument_errors(ring);
	copy_sizes(ring, 0);
	copy_sizes(ring, RK_COPY_READ_WRITE);
	copy_sizes(ring, RK_COPY_LANES(3) | RK_COPY_CHUNK(12));
	copy_sizes(ring, RK_COPY_READ_WRITE | RK_COPY_LANES(1) | RK_COPY_CHUNK(13));
	offsets_and_eof(ring, 0);
	offsets_and_eof(ring, RK_COPY_READ_WRITE | RK_COPY_CHUNK(12));
	preallocation(ring);
	descriptor(ring);
	concurrent(ring);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(count_fds(), base);

	slots();
	spare_lane();
	for (int how = BY_PREP_CANCEL; how <= BY_CLOSE; how++) {
		stop_midway(0, (enum how)how);
		stop_midway(RK_COPY_READ_WRITE, (enum how)how);
	}
	CHECK_EQ(count_fds(), base);
	return 0;
}
