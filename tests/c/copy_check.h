/* What the copy tests (copy.c, copy_direct.c) share: files in a private
 * directory, a byte-for-byte check of a range, and stopping a copy in
 * flight. Include after check.h. */
#ifndef RK_TEST_COPY_CHECK_H
#define RK_TEST_COPY_CHECK_H

static char dir[64]; /* main sets it: strcpy(dir, make_tmpdir()) */
static int nfile;

/* A new file in dir holding data[0..len) (empty for data NULL). */
static int new_file(const unsigned char *data, size_t len)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/f%d", dir, nfile++);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	if (data && len)
		CHECK_EQ(pwrite(fd, data, len, 0), (ssize_t)len);
	return fd;
}

static void check_bytes(int fd, off_t at, const unsigned char *want, size_t len)
{
	unsigned char *got = malloc(len ? len : 1);
	CHECK(got != NULL);
	CHECK_EQ(pread(fd, got, len, at), (ssize_t)len);
	CHECK(memcmp(got, want, len) == 0);
	free(got);
}

enum how { BY_PREP_CANCEL, BY_CANCEL_SYNC, BY_CANCEL_ALL, BY_CLOSE };

/* Cancels copy `id` of n bytes as `how` says (not BY_CLOSE) and reaps its
 * one completion, and the cancel op's if there is one: the copy may have
 * finished first; a stopped copy says -ECANCELED. Returns its result. */
static int32_t cancel_copy(rk_ring *ring, int64_t id, uint64_t n, enum how how)
{
	int64_t cid = -1;
	if (how == BY_PREP_CANCEL)
		CHECK((cid = rk_prep_cancel(ring, id, 0)) >= 0);
	else if (how == BY_CANCEL_SYNC)
		CHECK_EQ(rk_cancel_sync(ring, id, -1), 0);
	else
		CHECK(rk_ring_cancel_all(ring) >= 1);
	rk_cqe c[2];
	int want = cid >= 0 ? 2 : 1;
	CHECK_EQ(reap_n(ring, c, want), want);
	int32_t res = res_of(c, want, id);
	CHECK(res == -ECANCELED || res == (int32_t)n);
	if (cid >= 0)
		CHECK_EQ(res_of(c, want, cid), 0);
	return res;
}

#endif
