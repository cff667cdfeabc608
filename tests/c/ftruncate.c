/* rk_prep_ftruncate (IORING_OP_FTRUNCATE, Linux 6.9+), directly and as an
 * rk_op_desc, with the errors of ftruncate(2); on io_uring it skips only
 * when the kernel lacks the op, on the fallback it always runs. */
#include <sys/stat.h>

#include "check.h"

static off_t size_of(int fd)
{
	struct stat st;
	CHECK_EQ(fstat(fd, &st), 0);
	return st.st_size;
}

int main(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	const char *dir = make_tmpdir();
	char path[128];
	snprintf(path, sizeof(path), "%s/f", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "0123456789", 10), 10);

	/* Argument checks come first, whatever the kernel has. */
	CHECK_EQ(rk_prep_ftruncate(NULL, fd, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_ftruncate(ring, -1, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_ftruncate(ring, fd, -1, 0), -EINVAL);

	int64_t kop;
	CHECK_EQ(rk_constant("IORING_OP_FTRUNCATE", &kop), 0);
	int64_t id = rk_prep_ftruncate(ring, fd, 4, 0);
	if (id == -EOPNOTSUPP) {
		CHECK(!is_fallback(ring));
		CHECK_EQ(rk_ring_probe(ring, (uint32_t)kop), 0);
		SKIP("the kernel has no IORING_OP_FTRUNCATE (Linux 6.9+)");
	}
	CHECK_EQ(rk_ring_probe(ring, (uint32_t)kop), 1);
	CHECK_EQ(run_one(ring, id), 0);
	CHECK_EQ(size_of(fd), 4);
	CHECK_EQ(run_one(ring, rk_prep_ftruncate(ring, fd, 8192, 0)), 0);
	CHECK_EQ(size_of(fd), 8192);

	/* The descriptor path: the length travels in off. */
	rk_op_desc d;
	memset(&d, 0, sizeof(d));
	d.op = RK_OP_FTRUNCATE;
	d.fd = fd;
	d.off = 100;
	CHECK_EQ(rk_prep_batch(ring, &d, 1, &id), 1);
	CHECK_EQ(run_one(ring, id), 0);
	CHECK_EQ(size_of(fd), 100);
	d.off = -5;
	CHECK_EQ(rk_prep_batch(ring, &d, 1, &id), 0);
	CHECK_EQ(id, -EINVAL);

	/* Linked after a write, ordered as any chain. */
	CHECK(rk_prep_write(ring, fd, "abcdef", 6, 0, RK_LINK) >= 0);
	id = rk_prep_ftruncate(ring, fd, 3, 0);
	rk_cqe c[2];
	reap_n(ring, c, 2);
	CHECK_EQ(c[0].res, 6);
	CHECK_EQ(c[1].id, id);
	CHECK_EQ(c[1].res, 0);
	CHECK_EQ(size_of(fd), 3);
	char buf[8];
	CHECK_EQ(pread(fd, buf, sizeof(buf), 0), 3);
	CHECK(memcmp(buf, "abc", 3) == 0);

	/* ftruncate(2)'s errors: a descriptor not open for writing, not a
	 * regular file, not open at all. */
	int ro = open(path, O_RDONLY);
	CHECK(ro >= 0);
	CHECK_EQ(run_one(ring, rk_prep_ftruncate(ring, ro, 0, 0)), -EINVAL);
	int p[2];
	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(run_one(ring, rk_prep_ftruncate(ring, p[1], 0, 0)), -EINVAL);
	close(p[0]);
	close(p[1]);
	CHECK_EQ(run_one(ring, rk_prep_ftruncate(ring, p[1], 0, 0)), -EBADF);
	CHECK_EQ(size_of(fd), 3);

	/* Its row. */
	const rk_op_info *info = rk_op_info_of(RK_OP_FTRUNCATE);
	CHECK(info != NULL);
	CHECK(strcmp(info->name, "ftruncate") == 0);
	CHECK_EQ(info->opcode, kop);
	CHECK_EQ(info->nargs, 2);
	CHECK_EQ(info->args[1].offset, 16); /* off */
	CHECK_EQ(info->args[1].type, RK_ARG_S64);
	CHECK(info->args[2].name == NULL);

	close(ro);
	close(fd);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
