/* Every file op against real files and directories in a temp dir: the
 * results must match what the equivalent syscalls would have done. */
#include <linux/openat2.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "check.h"

static rk_ring *ring;
static int dfd;

static void test_open_write_read_close(void)
{
	int fd = run_one(ring, rk_prep_openat(ring, dfd, "data", O_RDWR | O_CREAT | O_EXCL, 0640, 0));
	CHECK(fd >= 0);
	CHECK_EQ(run_one(ring, rk_prep_openat(ring, dfd, "data", O_RDWR | O_CREAT | O_EXCL, 0640, 0)),
	         -EEXIST);
	CHECK_EQ(run_one(ring, rk_prep_openat(ring, dfd, "missing", O_RDONLY, 0, 0)), -ENOENT);

	unsigned char out[8192], in[8192];
	fill_pattern(out, sizeof(out), 0, 1);
	CHECK_EQ(run_one(ring, rk_prep_write(ring, fd, out, sizeof(out), 0, 0)), sizeof(out));
	memset(in, 0, sizeof(in));
	CHECK_EQ(run_one(ring, rk_prep_read(ring, fd, in, sizeof(in), 0, 0)), sizeof(in));
	CHECK(memcmp(in, out, sizeof(in)) == 0);
	/* Reading past the end returns 0, a partial read returns what is there. */
	CHECK_EQ(run_one(ring, rk_prep_read(ring, fd, in, 100, 8192, 0)), 0);
	CHECK_EQ(run_one(ring, rk_prep_read(ring, fd, in, 100, 8150, 0)), 42);
	/* offset -1: the file position, which advances. */
	CHECK_EQ(lseek(fd, 10, SEEK_SET), 10);
	CHECK_EQ(run_one(ring, rk_prep_read(ring, fd, in, 5, -1, 0)), 5);
	CHECK(memcmp(in, out + 10, 5) == 0);
	CHECK_EQ(lseek(fd, 0, SEEK_CUR), 15);

	/* Vectored IO with the iovec array gone (overwritten) after the prep:
	 * the core copied it. */
	unsigned char a[100], b[300];
	rk_iovec iov[2] = {{(uintptr_t)a, sizeof(a)}, {(uintptr_t)b, sizeof(b)}};
	int64_t id = rk_prep_readv(ring, fd, iov, 2, 1000, 0, 0);
	memset(iov, 0xff, sizeof(iov));
	CHECK_EQ(run_one(ring, id), 400);
	CHECK(memcmp(a, out + 1000, 100) == 0 && memcmp(b, out + 1100, 300) == 0);

	rk_iovec wv[3] = {{(uintptr_t)"abc", 3}, {(uintptr_t)"", 0}, {(uintptr_t)"defg", 4}};
	id = rk_prep_writev(ring, fd, wv, 3, 20000, 0, 0);
	memset(wv, 0, sizeof(wv));
	CHECK_EQ(run_one(ring, id), 7);
	char back[8];
	CHECK_EQ(pread(fd, back, 7, 20000), 7);
	CHECK(memcmp(back, "abcdefg", 7) == 0);

	/* Many iovecs spill out of the slot's inline storage. */
	static unsigned char one[1024][4];
	rk_iovec many[1024];
	for (int i = 0; i < 1024; i++)
		many[i] = (rk_iovec){(uintptr_t)one[i], 4};
	CHECK_EQ(run_one(ring, rk_prep_readv(ring, fd, many, 1024, 0, 0, 0)), 4096);
	CHECK(memcmp(one, out, 4096) == 0);
	CHECK_EQ(rk_prep_readv(ring, fd, many, 1025, 0, 0, 0), -EINVAL);

	CHECK_EQ(run_one(ring, rk_prep_fsync(ring, fd, 0, 0, 0)), 0);
	CHECK_EQ(run_one(ring, rk_prep_fdatasync(ring, fd, 0, 4096, 0)), 0);
	CHECK_EQ(run_one(ring, rk_prep_fdatasync(ring, fd, 4096, 0, 0)), 0);

	CHECK_EQ(run_one(ring, rk_prep_close(ring, fd, 0)), 0);
	CHECK_EQ(fcntl(fd, F_GETFD), -1); /* really closed */
	CHECK_EQ(run_one(ring, rk_prep_close(ring, fd, 0)), -EBADF);
}

static void test_openat2(void)
{
	CHECK_EQ(mkdirat(dfd, "jail", 0755), 0);
	int jail = openat(dfd, "jail", O_DIRECTORY | O_RDONLY);
	CHECK(jail >= 0);
	int fd = run_one(ring, rk_prep_openat2(ring, jail, "inside", O_CREAT | O_RDWR, 0600,
	                                      RESOLVE_BENEATH, 0));
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(run_one(ring, rk_prep_openat2(ring, jail, "../data", O_RDONLY, 0, RESOLVE_BENEATH, 0)),
	         -EXDEV);
	CHECK_EQ(run_one(ring, rk_prep_openat2(ring, jail, "../data", O_RDONLY, 0, 0, 0)) >= 0, 1);
	close(jail);
}

static void test_statx(void)
{
	struct statx stx;
	memset(&stx, 0, sizeof(stx));
	CHECK_EQ(run_one(ring, rk_prep_statx(ring, dfd, "data", 0, STATX_BASIC_STATS, &stx, 0)), 0);
	struct stat st;
	CHECK_EQ(fstatat(dfd, "data", &st, 0), 0);
	CHECK_EQ(stx.stx_size, st.st_size);
	CHECK_EQ(stx.stx_mode, st.st_mode);
	CHECK_EQ(stx.stx_ino, st.st_ino);
	CHECK_EQ(run_one(ring, rk_prep_statx(ring, dfd, "nope", 0, STATX_SIZE, &stx, 0)), -ENOENT);
	CHECK_EQ(rk_prep_statx(ring, dfd, "data", 0, STATX_SIZE, NULL, 0), -EFAULT);
}

static void test_namespace_ops(void)
{
	struct stat st;
	CHECK_EQ(run_one(ring, rk_prep_mkdirat(ring, dfd, "dir", 0750, 0)), 0);
	CHECK_EQ(fstatat(dfd, "dir", &st, 0), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(run_one(ring, rk_prep_mkdirat(ring, dfd, "dir", 0750, 0)), -EEXIST);

	CHECK_EQ(run_one(ring, rk_prep_renameat(ring, dfd, "dir", dfd, "dir2", 0, 0)), 0);
	CHECK_EQ(fstatat(dfd, "dir2", &st, 0), 0);
	CHECK_EQ(run_one(ring, rk_prep_renameat(ring, dfd, "data", dfd, "dir2", RENAME_NOREPLACE, 0)),
	         -EEXIST);

	CHECK_EQ(run_one(ring, rk_prep_linkat(ring, dfd, "data", dfd, "hard", 0, 0)), 0);
	CHECK_EQ(fstatat(dfd, "data", &st, 0), 0);
	CHECK_EQ(st.st_nlink, 2);

	CHECK_EQ(run_one(ring, rk_prep_symlinkat(ring, "data", dfd, "soft", 0)), 0);
	char target[64] = {0};
	CHECK_EQ(readlinkat(dfd, "soft", target, sizeof(target) - 1), 4);
	CHECK(strcmp(target, "data") == 0);

	CHECK_EQ(run_one(ring, rk_prep_unlinkat(ring, dfd, "soft", 0, 0)), 0);
	CHECK_EQ(run_one(ring, rk_prep_unlinkat(ring, dfd, "hard", 0, 0)), 0);
	CHECK_EQ(run_one(ring, rk_prep_unlinkat(ring, dfd, "dir2", 0, 0)), -EISDIR);
	CHECK_EQ(run_one(ring, rk_prep_unlinkat(ring, dfd, "dir2", AT_REMOVEDIR, 0)), 0);
	CHECK_EQ(fstatat(dfd, "dir2", &st, 0), -1);

	/* A 200-byte name does not fit the slot's inline storage: it is copied
	 * into spill storage and must arrive whole. */
	char longname[201];
	memset(longname, 'x', 200);
	longname[200] = 0;
	CHECK_EQ(run_one(ring, rk_prep_mkdirat(ring, dfd, longname, 0700, 0)), 0);
	CHECK_EQ(fstatat(dfd, longname, &st, 0), 0);
	CHECK_EQ(run_one(ring, rk_prep_renameat(ring, dfd, longname, dfd, "short", 0, 0)), 0);
	CHECK_EQ(run_one(ring, rk_prep_unlinkat(ring, dfd, "short", AT_REMOVEDIR, 0)), 0);
}

static void test_space_ops(void)
{
	int fd = openat(dfd, "space", O_RDWR | O_CREAT, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(run_one(ring, rk_prep_fallocate(ring, fd, 0, 0, 1 << 20, 0)), 0);
	struct stat st;
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_size, 1 << 20);
	CHECK_EQ(run_one(ring, rk_prep_fallocate(ring, fd, FALLOC_FL_KEEP_SIZE, 1 << 20, 4096, 0)), 0);
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_size, 1 << 20);
	CHECK_EQ(rk_prep_fallocate(ring, fd, 0, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_fallocate(ring, fd, 0, -1, 10, 0), -EINVAL);
	CHECK_EQ(run_one(ring, rk_prep_fadvise(ring, fd, 0, 4096, POSIX_FADV_WILLNEED, 0)), 0);
	CHECK_EQ(run_one(ring, rk_prep_fadvise(ring, fd, 0, 0, POSIX_FADV_DONTNEED, 0)), 0);
	CHECK_EQ(run_one(ring, rk_prep_fadvise(ring, fd, 0, 0, 12345, 0)), -EINVAL);
	close(fd);
}

int main(void)
{
	const char *dir = make_tmpdir();
	dfd = open(dir, O_DIRECTORY | O_RDONLY);
	CHECK(dfd >= 0);
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	test_open_write_read_close();
	test_openat2();
	test_statx();
	test_namespace_ops();
	test_space_ops();
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	close(dfd);
	return 0;
}
