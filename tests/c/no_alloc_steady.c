/* Steady state allocates nothing: after a warm-up, 10^5 ops of each kind —
 * prepared directly and through batches, submitted and reaped — make no
 * heap allocation. Linked against the static library with malloc & co.
 * wrapped, so the core's own calls are counted. */
#include <linux/stat.h>
#include <poll.h>

#include "check.h"

static long allocations;
static int counting;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);

void *__wrap_malloc(size_t n)
{
	allocations += counting;
	return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t s)
{
	allocations += counting;
	return __real_calloc(n, s);
}
void *__wrap_realloc(void *p, size_t n)
{
	allocations += counting;
	return __real_realloc(p, n);
}
int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
	allocations += counting;
	return __real_posix_memalign(p, a, n);
}
void *__wrap_aligned_alloc(size_t a, size_t n)
{
	allocations += counting;
	return __real_aligned_alloc(a, n);
}

#define ROUNDS 100000
#define BATCH 50

static rk_ring *ring;
static rk_region *rg;
static int fd, dfd, p[2];
static unsigned char buf[4096];
static struct statx stx;

static void one_round(int kind)
{
	rk_iovec iov[12];
	for (int i = 0; i < 12; i++)
		iov[i] = (rk_iovec){(uintptr_t)buf + i * 16, 16};
	char longname[200];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	rk_op_desc d[BATCH];
	int64_t ids[BATCH];
	int n = 0;
	/* Long paths and big iovec arrays borrow spill blocks (capacity / 8 of
	 * them): keep those batches within the pool. */
	int batch = (kind == 3 || kind == 8) ? 16 : BATCH;
	for (int i = 0; i < batch; i++) {
		int64_t id = -1;
		switch (kind) {
		case 0: id = rk_prep_nop(ring, 0); break;
		case 1: id = rk_prep_read(ring, fd, buf, 512, 0, 0); break;
		case 2: id = rk_prep_write(ring, fd, buf, 512, 4096, 0); break;
		case 3: id = rk_prep_readv(ring, fd, iov, 12, 0, 0, 0); break; /* spills */
		case 4: id = rk_prep_writev(ring, fd, iov, 4, 0, 0, 0); break;
		case 5: id = rk_prep_read_chunk(ring, fd, rg, i % 4, 256, 0, 0); break;
		case 6: id = rk_prep_write_chunk(ring, fd, rg, i % 4, 256, 8192, 0); break;
		case 7: id = rk_prep_statx(ring, dfd, "f", 0, STATX_SIZE, &stx, 0); break;
		case 8: id = rk_prep_openat(ring, dfd, longname, O_RDONLY, 0, 0); break; /* -ENOENT */
		case 9: id = rk_prep_timeout(ring, 0, 0, 0, 0); break;
		case 10: id = rk_prep_poll_add(ring, p[1], POLLOUT, 0); break;
		case 11: {
			int64_t t = rk_prep_read(ring, p[0], buf, 1, -1, 0);
			id = rk_prep_cancel(ring, t, 0);
			n++;
			i++;
			break;
		}
		case 12:
			d[i] = (rk_op_desc){.op = RK_OP_READ, .fd = fd, .len = 64, .addr = (uintptr_t)buf};
			id = 0;
			break;
		}
		if (id < 0)
			fprintf(stderr, "kind %d op %d: %s\n", kind, i, rk_strerror((int)id));
		CHECK(id >= 0);
		n++;
	}
	if (kind == 12)
		CHECK_EQ(rk_submit_batch(ring, d, BATCH, ids), BATCH);
	rk_cqe c[2 * BATCH];
	reap_n(ring, c, n);
}

int main(void)
{
	fd = scratch_file(&dfd);
	CHECK_EQ(write(fd, buf, sizeof(buf)), sizeof(buf));
	make_pipe(p);
	CHECK_EQ(rk_ring_create(64, 0, &ring), 0);
	CHECK_EQ(rk_region_create(256, 4, 0, &rg), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(rk_chunk_alloc(rg), i);
	CHECK_EQ(rk_ring_register_region(ring, rg), 0);

	for (int kind = 0; kind <= 12; kind++) {
		for (int w = 0; w < 10; w++) /* warm-up: nothing should be lazy anyway */
			one_round(kind);
		allocations = 0;
		counting = 1;
		for (int r = 0; r < ROUNDS / (kind == 3 || kind == 8 ? 16 : BATCH); r++)
			one_round(kind);
		counting = 0;
		if (allocations) {
			fprintf(stderr, "op kind %d: %ld allocations in steady state\n", kind, allocations);
			return 1;
		}
	}
	CHECK_EQ(rk_ring_close(ring), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(rk_chunk_free(rg, i), 0);
	CHECK_EQ(rk_region_destroy(rg), 0);
	return 0;
}
