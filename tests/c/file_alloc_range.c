/* rk_ring_file_alloc_range: RK_FILE_INDEX_ALLOC picks slots only inside the
 * range, a full range is -ENFILE, slots named by number are not confined, a
 * freed slot in the range is picked again, and a new table starts with the
 * whole of it. Both backends alike; skips where the kernel lacks the
 * registration (Linux 6.0). */
#include "check.h"

static int32_t socket_into(rk_ring *ring, uint32_t file_index)
{
	return run_one(ring, rk_prep_socket_direct(ring, AF_INET, SOCK_DGRAM, 0, file_index, 0));
}

static int32_t open_into(rk_ring *ring, uint32_t file_index)
{
	return run_one(ring, rk_prep_openat_direct(ring, AT_FDCWD, "/dev/null", O_RDONLY, 0,
	                                           file_index, 0));
}

int main(void)
{
	rk_ring *ring = create_ring(16, 0);
	require_op(ring, "IORING_OP_SOCKET", "Linux 5.19");
	int fds = count_fds();

	CHECK_EQ(rk_ring_file_alloc_range(NULL, 0, 1), -EINVAL);
	CHECK_EQ(rk_ring_file_alloc_range(ring, 0, 1), -ENXIO);
	CHECK_EQ(rk_ring_register_files(ring, 8), 0);
	int has = rk_ring_feature(ring, RK_FEATURE_FILE_ALLOC_RANGE);
	CHECK(has == 0 || has == 1);
	if (!has) {
		CHECK_EQ(rk_ring_file_alloc_range(ring, 4, 3), -EOPNOTSUPP);
		SKIP("kernel without IORING_REGISTER_FILE_ALLOC_RANGE (Linux 6.0)");
	}
	CHECK(is_fallback(ring) || has);
	CHECK_EQ(rk_ring_file_alloc_range(ring, 9, 0), -EINVAL);
	CHECK_EQ(rk_ring_file_alloc_range(ring, 8, 1), -EINVAL);
	CHECK_EQ(rk_ring_file_alloc_range(ring, 1, UINT32_MAX), -EINVAL);
	CHECK_EQ(rk_ring_file_alloc_range(ring, 8, 0), 0); /* empty: nothing to pick */
	CHECK_EQ(socket_into(ring, RK_FILE_INDEX_ALLOC), -ENFILE);

	CHECK_EQ(rk_ring_file_alloc_range(ring, 4, 3), 0);
	unsigned seen = 0;
	for (int i = 0; i < 3; i++) {
		int32_t slot = i == 1 ? open_into(ring, RK_FILE_INDEX_ALLOC)
		                      : socket_into(ring, RK_FILE_INDEX_ALLOC);
		CHECK(slot >= 4 && slot <= 6);
		CHECK(!(seen & 1u << slot));
		seen |= 1u << slot;
	}
	CHECK_EQ(socket_into(ring, RK_FILE_INDEX_ALLOC), -ENFILE);
	CHECK_EQ(open_into(ring, RK_FILE_INDEX_ALLOC), -ENFILE);
	/* Outside the range by number: still the caller's. */
	CHECK_EQ(socket_into(ring, 0), 0);
	CHECK_EQ(open_into(ring, 7), 0);
	/* A slot freed in the range is the one free slot to pick. */
	CHECK_EQ(run_one(ring, rk_prep_close_fixed(ring, 5, 0)), 0);
	CHECK_EQ(socket_into(ring, RK_FILE_INDEX_ALLOC), 5);
	CHECK_EQ(count_fds(), fds + table_fds(ring, 5));

	/* A new table: the whole of it again. */
	CHECK_EQ(rk_ring_unregister_files(ring), 0);
	CHECK_EQ(count_fds(), fds);
	CHECK_EQ(rk_ring_register_files(ring, 2), 0);
	CHECK_EQ(socket_into(ring, RK_FILE_INDEX_ALLOC), 0);
	CHECK_EQ(socket_into(ring, RK_FILE_INDEX_ALLOC), 1);
	CHECK_EQ(socket_into(ring, RK_FILE_INDEX_ALLOC), -ENFILE);

	/* A restricted ring: a file-table call, allowed only with the table's. */
	for (int files = 0; files < 2; files++) {
		rk_ring *r;
		CHECK_EQ(rk_ring_create(8, RK_RING_RESTRICTABLE, &r), 0);
		uint32_t ops[] = {RK_OP_SOCKET_DIRECT};
		CHECK_EQ(rk_ring_restrict(r, ops, 1, files ? RK_RESTRICT_FILES : 0), 0);
		if (!files) {
			CHECK_EQ(rk_ring_file_alloc_range(r, 0, 1), -EACCES);
		} else {
			CHECK_EQ(rk_ring_register_files(r, 4), 0);
			CHECK_EQ(rk_ring_feature(r, RK_FEATURE_FILE_ALLOC_RANGE), 1);
			CHECK_EQ(rk_ring_file_alloc_range(r, 3, 1), 0);
			CHECK_EQ(socket_into(r, RK_FILE_INDEX_ALLOC), 3);
		}
		CHECK_EQ(rk_ring_close(r), 0);
	}

	CHECK_EQ(rk_ring_feature(ring, 1000), 0);
	CHECK_EQ(rk_ring_feature(NULL, RK_FEATURE_FILE_ALLOC_RANGE), -EINVAL);
	int own = ring_fds(ring, 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(count_fds(), fds - own);
	return 0;
}
