/* rk_prep_msg_ring_fd: a registered file passes from one ring's slot to
 * another ring's slot, and the target reads a real file through it; into
 * a chosen slot (replacing what was there) or one the target picks inside
 * its alloc range; with or without the target's record; and the errors of
 * an empty source, a target without a table, a target that is no ring or
 * is the sender. Both rings are of the backend under test; skips where the
 * kernel lacks IORING_MSG_SEND_FD (Linux 6.0). */
#include "check.h"

static int64_t value_of(const rk_cqe *c)
{
	CHECK(c->id < 0);
	return c->id & RK_MSG_VALUE_MASK;
}

/* Reads the target's slot from offset 0: the file's first bytes. */
static void read_slot(rk_ring *ring, uint32_t slot, const char *want)
{
	char buf[16] = {0};
	size_t n = strlen(want);
	CHECK_EQ(run_one(ring, rk_prep_read(ring, (int)slot, buf, (uint32_t)n, 0, RK_FIXED_FILE)),
	         (int)n);
	CHECK(memcmp(buf, want, n) == 0);
}

int main(void)
{
	rk_ring *a = create_ring(16, 0);
	rk_ring *b = create_ring(16, RK_RING_MSG_TARGET);
	require_op(a, "IORING_OP_MSG_RING", "Linux 5.18");
	int fds = count_fds();
	int bfd = rk_ring_fd(b);

	CHECK_EQ(rk_prep_msg_ring_fd(NULL, bfd, 0, 0, 1, 0, 0), -EINVAL);
	int has = rk_ring_feature(a, RK_FEATURE_MSG_SEND_FD);
	CHECK(has == 0 || has == 1);
	if (!has) {
		CHECK_EQ(rk_prep_msg_ring_fd(a, bfd, 0, 0, 1, 0, 0), -EOPNOTSUPP);
		SKIP("kernel without IORING_MSG_SEND_FD (Linux 6.0)");
	}
	/* Prep errors. */
	CHECK_EQ(rk_prep_msg_ring_fd(a, bfd, 0, 0, 1, 0, 0), -ENXIO);
	CHECK_EQ(rk_ring_register_files(a, 4), 0);
	CHECK_EQ(rk_prep_msg_ring_fd(a, -1, 0, 0, 1, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_msg_ring_fd(a, bfd, 4, 0, 1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_msg_ring_fd(a, bfd, 0, 0, -1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_msg_ring_fd(a, bfd, 0, 0, 1, 2, 0), -EINVAL);
	CHECK_EQ(rk_prep_msg_ring_fd(a, bfd, 0, RK_FILES_MAX, 1, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_msg_ring_fd(a, bfd, 0, UINT32_MAX - 1, 1, 0, 0), -EINVAL);

	/* Completion errors: the target has no table yet; the source slot is
	 * empty; the target is no ring, or the sender itself. */
	CHECK_EQ(run_one(a, rk_prep_msg_ring_fd(a, bfd, 0, 0, 1, 0, 0)), -EBADF);
	int dirfd;
	int file = scratch_file(&dirfd);
	CHECK_EQ(pwrite(file, "passed-file", 11, 0), 11);
	int32_t slot0 = file;
	CHECK_EQ(rk_ring_update_files(a, 0, &slot0, 1), 1);
	close(file);
	CHECK_EQ(run_one(a, rk_prep_msg_ring_fd(a, bfd, 0, 0, 1, 0, 0)), -ENXIO);
	CHECK_EQ(run_one(a, rk_prep_msg_ring_fd(a, dirfd, 0, 0, 1, 0, 0)), -EBADFD);
	CHECK_EQ(run_one(a, rk_prep_msg_ring_fd(a, rk_ring_fd(a), 0, 0, 1, 0, 0)), -EINVAL);
	rk_cqe none;
	CHECK_EQ(rk_reap(b, &none, 1, 0, 0), 0); /* no failure left a record */

	/* Into slot 2 of the target, with a record carrying value and slot. */
	CHECK_EQ(rk_ring_register_files(b, 8), 0);
	CHECK_EQ(run_one(a, rk_prep_msg_ring_fd(a, bfd, 0, 2, 77, 0, 0)), 0);
	rk_cqe m = reap_one(b);
	CHECK_EQ(value_of(&m), 77);
	CHECK_EQ(m.res, 0);
	read_slot(b, 2, "passed-file");
	read_slot(a, 0, "passed");  /* the source keeps its file */

	/* Into a slot the target picks, inside its range. */
	CHECK_EQ(rk_ring_file_alloc_range(b, 5, 2), 0);
	int32_t got = run_one(a, rk_prep_msg_ring_fd(a, bfd, 0, RK_FILE_INDEX_ALLOC, 78, 0, 0));
	CHECK(got == 5 || got == 6);
	m = reap_one(b);
	CHECK_EQ(value_of(&m), 78);
	CHECK_EQ(m.res, got);
	read_slot(b, (uint32_t)got, "passed");

	/* No record; through the descriptor path; replacing slot 2's file. */
	int p[2];
	make_pipe(p);
	int32_t slot1 = p[1];
	CHECK_EQ(rk_ring_update_files(a, 1, &slot1, 1), 1);
	rk_op_desc d = {.op = RK_OP_MSG_RING_FD, .fd = bfd, .len = 1, .arg1 = 2, .off = 79,
	                .arg2 = RK_MSG_RING_CQE_SKIP};
	int64_t id;
	CHECK_EQ(rk_submit_batch(a, &d, 1, &id), 1);
	CHECK_EQ(run_one(a, id), 0);
	CHECK_EQ(rk_reap(b, &none, 1, 0, 0), 0);
	CHECK_EQ(run_one(b, rk_prep_write(b, 2, "via b", 5, -1, RK_FIXED_FILE)), 5);
	char buf[8];
	CHECK_EQ(read(p[0], buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "via b", 5) == 0);
	/* The target's table full: -ENFILE, no record. */
	CHECK_EQ(run_one(a, rk_prep_msg_ring_fd(a, bfd, 0, RK_FILE_INDEX_ALLOC, 80, 0, 0)),
	         got == 5 ? 6 : 5);
	reap_one(b);
	CHECK_EQ(run_one(a, rk_prep_msg_ring_fd(a, bfd, 0, RK_FILE_INDEX_ALLOC, 81, 0, 0)), -ENFILE);
	CHECK_EQ(rk_reap(b, &none, 1, 0, 0), 0);

	/* Between backends: refused at completion, nothing installed. */
	rk_ring *f, *u;
	CHECK_EQ(rk_ring_create(8, RK_RING_FALLBACK | RK_RING_MSG_TARGET, &f), 0);
	if (rk_ring_create(8, RK_RING_NO_FALLBACK | RK_RING_MSG_TARGET, &u) == 0) {
		CHECK_EQ(rk_ring_register_files(f, 2), 0);
		CHECK_EQ(rk_ring_register_files(u, 2), 0);
		int32_t w = p[1];
		CHECK_EQ(rk_ring_update_files(f, 0, &w, 1), 1);
		CHECK_EQ(rk_ring_update_files(u, 0, &w, 1), 1);
		CHECK_EQ(run_one(f, rk_prep_msg_ring_fd(f, rk_ring_fd(u), 0, 1, 1, 0, 0)),
		         -EOPNOTSUPP);
		CHECK_EQ(run_one(u, rk_prep_msg_ring_fd(u, rk_ring_fd(f), 0, 1, 1, 0, 0)),
		         -EOPNOTSUPP);
		CHECK_EQ(rk_reap(f, &none, 1, 0, 0), 0);
		CHECK_EQ(rk_reap(u, &none, 1, 0, 0), 0);
		CHECK_EQ(rk_ring_close(u), 0);
	}
	CHECK_EQ(rk_ring_close(f), 0);

	close_pair(p);
	close(dirfd);
	int own = ring_fds(a, 0) + ring_fds(b, 0);
	CHECK_EQ(rk_ring_close(a), 0);
	CHECK_EQ(rk_ring_close(b), 0);
	CHECK_EQ(count_fds(), fds - own);
	return 0;
}
