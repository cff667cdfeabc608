/* rk_prep_copy reading its source with O_DIRECT: byte-exact copies through
 * the direct reads (forced with RK_COPY_DIRECT, so no drop of the page
 * cache is needed) at unaligned offsets and lengths, past the end of the
 * file, of a source with dirty pages; the core's own choice (an evicted
 * source read directly, a cached one spliced); sources that cannot be
 * opened with O_DIRECT copied the old way; the caller's fd untouched; and
 * cancel and close in the middle (no descriptor left behind). Both
 * backends.
 *
 * Whether a copy reads directly is seen in the descriptors it holds while
 * it runs: a direct copy holds one (its O_DIRECT view of the source) and no
 * pipes; a spliced one two per lane. */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "check.h"
#include "copy_check.h"

/* Bytes that differ at every displacement (a short period would hide a
 * read landing a multiple of it away, which aligned pieces could do). */
static unsigned char *noise(size_t len, uint64_t seed)
{
	unsigned char *p = malloc(len ? len : 1);
	CHECK(p != NULL);
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 32);
	}
	return p;
}

/* Runs one copy; *held: the descriptors it held while in flight. */
static int32_t copy_held(rk_ring *ring, int in, int64_t off_in, int out, int64_t off_out,
                         uint64_t len, uint32_t copy_flags, int *held)
{
	int base = count_fds();
	int64_t id = rk_prep_copy(ring, in, off_in, out, off_out, len, copy_flags, 0);
	CHECK(id >= 0);
	if (held)
		*held = count_fds() - base;
	int32_t res = run_one(ring, id);
	rk_cqe c;
	CHECK_EQ(rk_reap(ring, &c, 1, 0, 0), 0);
	CHECK_EQ(count_fds(), base);
	return res;
}

/* Every mix of aligned and unaligned ends, with len inside the file and past
 * its end, for sizes around the alignment and the chunk. */
static void awkward_ranges(rk_ring *ring, uint32_t copy_flags)
{
	static const size_t sizes[] = {1, 511, 4095, 4096, 4097, 65537, (1u << 20) + 3,
	                               (5u << 20) + 777, 3u << 20};
	static const int64_t offs_in[] = {0, 1, 512, 1001, 4096, 65536 + 7};
	static const int64_t offs_out[] = {0, 3, 4096};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		unsigned char *src = noise(n, i + 1);
		int in = new_file(src, n);
		int fl = fcntl(in, F_GETFL);
		for (size_t j = 0; j < sizeof(offs_in) / sizeof(offs_in[0]); j++) {
			int64_t oi = offs_in[j], oo = offs_out[(i + j) % 3];
			size_t have = (size_t)oi < n ? n - (size_t)oi : 0;
			/* A length inside the file (unaligned where it can be)
			 * and one well past its end. */
			uint64_t lens[] = {have > 5000 ? have - 4097 : have, (uint64_t)n * 3 + 1};
			for (int k = 0; k < 2; k++) {
				int out = new_file(NULL, 0);
				size_t want = lens[k] < have ? (size_t)lens[k] : have;
				int held;
				CHECK_EQ(copy_held(ring, in, oi, out, oo, lens[k], copy_flags, &held),
				         (int32_t)want);
				if (want)
					CHECK_EQ(held, 1); /* read directly */
				struct stat st;
				CHECK_EQ(fstat(out, &st), 0);
				CHECK_EQ((size_t)st.st_size, want ? (size_t)oo + want : 0);
				check_bytes(out, oo, src + oi, want);
				close(out);
			}
		}
		/* The caller's descriptor keeps its flags and its offset. */
		CHECK_EQ(fcntl(in, F_GETFL), fl);
		CHECK_EQ(lseek(in, 0, SEEK_CUR), 0);
		close(in);
		free(src);
	}
}

/* Pages written just before the copy, not yet on the disk: the direct
 * reads see them (the kernel writes them back first). */
static void dirty_source(rk_ring *ring)
{
	size_t n = (4u << 20) + 100;
	unsigned char *src = noise(n, 77);
	int in = new_file(src, n);
	CHECK_EQ(fsync(in), 0);
	/* Overwrite parts of it, never synced: some aligned, some not. The
	 * second patch is the first one's head, taken from src (GCC's
	 * -Wnonnull, with the sanitizers' checks of memcpy's arguments, sees
	 * a null patch in a second memcpy of it). */
	unsigned char *patch = noise(300000, 78);
	CHECK_EQ(pwrite(in, patch, 300000, 12345), 300000);
	memcpy(src + 12345, patch, 300000);
	CHECK_EQ(pwrite(in, src + 12345, 8192, 2u << 20), 8192);
	memcpy(src + (2u << 20), src + 12345, 8192);
	int out = new_file(NULL, 0), held;
	CHECK_EQ(copy_held(ring, in, 0, out, 0, n, RK_COPY_DIRECT, &held), (int32_t)n);
	CHECK_EQ(held, 1);
	check_bytes(out, 0, src, n);
	close(out);
	/* A file just written, nothing synced at all. */
	int in2 = new_file(src, n), out2 = new_file(NULL, 0);
	CHECK_EQ(copy_held(ring, in2, 1, out2, 0, n, RK_COPY_DIRECT | RK_COPY_LANES(3), &held),
	         (int32_t)(n - 1));
	check_bytes(out2, 0, src + 1, n - 1);
	close(in2);
	close(out2);
	close(in);
	free(src);
	free(patch);
}

/* The share of [0, n) in the page cache, in pages; -1 without cachestat. */
static long cached_pages(int fd, size_t n)
{
#ifdef __NR_cachestat
	uint64_t range[2] = {0, n}, cs[5];
	if (syscall(__NR_cachestat, fd, range, cs, 0) < 0)
		return -1;
	return (long)cs[0];
#elif defined(__x86_64__) || defined(__aarch64__)
	uint64_t range[2] = {0, n}, cs[5];
	if (syscall(451, fd, range, cs, 0) < 0)
		return -1;
	return (long)cs[0];
#else
	(void)fd, (void)n;
	return -1;
#endif
}

/* copy_flags 0: a source out of the page cache is read directly, a cached
 * one spliced; RK_COPY_NO_DIRECT and the forced strategies never read
 * directly. */
static void core_choice(rk_ring *ring)
{
	size_t n = 8u << 20;
	unsigned char *src = noise(n, 5);
	int in = new_file(src, n), held;
	int out = new_file(NULL, 0);
	/* Cached (just written): spliced, 4 lanes of pipes. */
	CHECK_EQ(copy_held(ring, in, 0, out, 0, n, 0, &held), (int32_t)n);
	CHECK_EQ(held, 8);
	check_bytes(out, 0, src, n);

	CHECK_EQ(fsync(in), 0);
	CHECK_EQ(posix_fadvise(in, 0, 0, POSIX_FADV_DONTNEED), 0);
	long left = cached_pages(in, n);
	if (left < 0 || left * 4 > (long)(n / 4096)) {
		/* No cachestat, or a filesystem that keeps its pages
		 * (tmpfs): the old policy, spliced. */
		printf("core_choice: source still cached (%ld pages), not checked\n", left);
	} else {
		CHECK_EQ(ftruncate(out, 0), 0);
		CHECK_EQ(copy_held(ring, in, 0, out, 0, n, 0, &held), (int32_t)n);
		CHECK_EQ(held, 1);
		check_bytes(out, 0, src, n);
		/* Direct reads do not fill the page cache: still cold. */
		CHECK(cached_pages(in, n) * 4 <= (long)(n / 4096));
		/* A table without room for the direct lanes: as many as the
		 * copy had without direct reads (1 + 4 slots). */
		rk_ring *small;
		CHECK_EQ(rk_ring_create_ex(2, 0, 0, 5, 0, &small), 0);
		CHECK_EQ(ftruncate(out, 0), 0);
		CHECK_EQ(copy_held(small, in, 0, out, 0, n, 0, &held), (int32_t)n);
		CHECK_EQ(held, 1);
		check_bytes(out, 0, src, n);
		CHECK_EQ(rk_ring_close(small), 0);
		CHECK_EQ(ftruncate(out, 0), 0);
		CHECK_EQ(copy_held(ring, in, 0, out, 0, n, RK_COPY_NO_DIRECT, &held), (int32_t)n);
		CHECK_EQ(held, 8);
		CHECK_EQ(posix_fadvise(in, 0, 0, POSIX_FADV_DONTNEED), 0);
		CHECK_EQ(ftruncate(out, 0), 0);
		CHECK_EQ(copy_held(ring, in, 0, out, 0, n, RK_COPY_READ_WRITE, &held), (int32_t)n);
		CHECK_EQ(held, 0);
		check_bytes(out, 0, src, n);
		/* A small copy is not worth the probe. */
		CHECK_EQ(posix_fadvise(in, 0, 0, POSIX_FADV_DONTNEED), 0);
		CHECK_EQ(copy_held(ring, in, 4096, out, 0, 65536, 0, &held), 65536);
		CHECK_EQ(held, 2);
		check_bytes(out, 0, src + 4096, 65536);
	}
	close(in);
	close(out);
	free(src);
}

/* Files without O_DIRECT (procfs: EINVAL) are copied the old way, asked for
 * or not; a memfd either way, byte for byte. */
static void not_reopenable(rk_ring *ring)
{
	int in = open("/proc/version", O_RDONLY);
	if (in >= 0) {
		char want[4096];
		ssize_t n = pread(in, want, sizeof(want), 0);
		CHECK(n > 0);
		int out = new_file(NULL, 0), held;
		CHECK_EQ(copy_held(ring, in, 0, out, 0, sizeof(want),
		                   RK_COPY_DIRECT | RK_COPY_READ_WRITE, &held),
		         (int32_t)n);
		CHECK_EQ(held, 0);
		check_bytes(out, 0, (unsigned char *)want, (size_t)n);
		close(out);
		close(in);
	}
	size_t n = (2u << 20) + 9;
	unsigned char *src = noise(n, 9);
	int m = memfd_create("rk-copy-direct", MFD_CLOEXEC);
	CHECK(m >= 0);
	CHECK_EQ(pwrite(m, src, n, 0), (ssize_t)n);
	int out = new_file(NULL, 0);
	CHECK_EQ(copy_held(ring, m, 7, out, 0, n, RK_COPY_DIRECT, NULL), (int32_t)(n - 7));
	check_bytes(out, 0, src + 7, n - 7);
	close(m);
	close(out);
	free(src);
}

static void flag_errors(rk_ring *ring)
{
	unsigned char b[16] = {0};
	int in = new_file(b, sizeof(b)), out = new_file(NULL, 0);
	CHECK_EQ(rk_prep_copy(ring, in, 0, out, 0, 1, RK_COPY_DIRECT | RK_COPY_SPLICE, 0), -EINVAL);
	CHECK_EQ(rk_prep_copy(ring, in, 0, out, 0, 1, RK_COPY_DIRECT | RK_COPY_NO_DIRECT, 0),
	         -EINVAL);
	int64_t v;
	CHECK_EQ(rk_constant("RK_COPY_DIRECT", &v), 0);
	CHECK_EQ(v, RK_COPY_DIRECT);
	CHECK_EQ(rk_constant("RK_COPY_NO_DIRECT", &v), 0);
	CHECK_EQ(v, RK_COPY_NO_DIRECT);
	/* A file onto itself, directly. */
	size_t n = 1u << 20;
	unsigned char *src = noise(n, 4);
	int f = new_file(src, n), held;
	CHECK_EQ(copy_held(ring, f, 0, f, (int64_t)n + 5, n, RK_COPY_DIRECT, &held), (int32_t)n);
	CHECK_EQ(held, 1);
	check_bytes(f, (off_t)n + 5, src, n);
	close(f);
	close(in);
	close(out);
	free(src);
}

/* Stopped in the middle: one completion (or none, closed), the O_DIRECT
 * descriptor closed either way. */
static void stop_midway(enum how how)
{
	int base = count_fds();
	size_t n = 32u << 20;
	unsigned char *src = noise(n, 6);
	int in = new_file(src, n), out = new_file(NULL, 0);
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	int with_ring = count_fds();
	int64_t id = rk_prep_copy(ring, in, 0, out, 0, n, RK_COPY_DIRECT | RK_COPY_CHUNK(12), 0);
	CHECK(id >= 0);
	CHECK_EQ(count_fds(), with_ring + 1);
	int64_t other = rk_prep_nop(ring, 0);
	rk_cqe c[4];
	CHECK_EQ(rk_reap(ring, c, 1, 1, -1), 1);
	CHECK_EQ(c[0].id, other);
	if (how == BY_CLOSE) {
		CHECK_EQ(rk_ring_close(ring), 0);
	} else {
		cancel_copy(ring, id, n, how);
		CHECK_EQ(count_fds(), with_ring);
		CHECK_EQ(rk_ring_close(ring), 0);
	}
	close(in);
	close(out);
	free(src);
	CHECK_EQ(count_fds(), base);
}

int main(void)
{
	strcpy(dir, make_tmpdir());
	char probe[128];
	snprintf(probe, sizeof(probe), "%s/probe", dir);
	int pfd = open(probe, O_RDWR | O_CREAT | O_DIRECT, 0600);
	if (pfd < 0) {
		printf("no O_DIRECT in %s (%s)\n", dir, strerror(errno));
		return 77;
	}
	close(pfd);
	int base = count_fds();
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(64, 0, &ring), 0);
	flag_errors(ring);
	awkward_ranges(ring, RK_COPY_DIRECT);
	awkward_ranges(ring, RK_COPY_DIRECT | RK_COPY_LANES(3) | RK_COPY_CHUNK(12));
	awkward_ranges(ring, RK_COPY_DIRECT | RK_COPY_READ_WRITE | RK_COPY_NO_PREALLOC |
	                     RK_COPY_LANES(1) | RK_COPY_CHUNK(13));
	dirty_source(ring);
	core_choice(ring);
	not_reopenable(ring);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(count_fds(), base);
	for (int how = BY_PREP_CANCEL; how <= BY_CLOSE; how++)
		stop_midway((enum how)how);
	CHECK_EQ(count_fds(), base);
	return 0;
}
