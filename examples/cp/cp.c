/*
 * ringkit-cp: a parallel file copy on ringkit, in the spirit of OCaml uring's
 * urcp.
 *
 *   ringkit-cp [--chunk KiB] [--depth N] [--fsync] [--verify] [--quiet] SRC DST
 *
 * One region of `depth` chunks is registered with the ring, so reads and
 * writes use the kernel's fixed buffers (no per-op page pinning). Each chunk
 * carries one block of the file through two steps — read it, then write it at
 * the same offset — and up to `depth` blocks are in flight at once, so the
 * kernel always has work queued in both directions.
 *
 * Short reads and short writes are normal (signals, page-cache pressure, a
 * file still growing): the remainder is resubmitted at the advanced file
 * offset *and* the advanced position in the chunk, to the same fd. A short
 * read at EOF just ends that block early.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ringkit.h"

enum step { IDLE, READING, WRITING };

/* One block of the file, travelling through one chunk. */
struct block {
	enum step step;
	int32_t chunk;
	int64_t offset; /* file offset of the block's first byte */
	uint32_t want;  /* bytes in this block */
	uint32_t done;  /* bytes finished in the current step */
	uint32_t got;   /* bytes read (the write's target) */
};

struct copy {
	rk_ring *ring;
	rk_region *region;
	int in, out;
	int64_t size, next_offset;
	uint32_t chunk_size;
	struct block *blocks;
	struct block **by_slot; /* the block each live op works for, by op slot */
	uint32_t capacity;
	int inflight;
};

static void die(const char *what, int err)
{
	fprintf(stderr, "ringkit-cp: %s: %s\n", what, rk_strerror(err));
	exit(1);
}

static void track(struct copy *c, int64_t id, struct block *b)
{
	if (id < 0)
		die("queueing an op", (int)id);
	c->by_slot[(uint32_t)id] = b; /* low 32 bits of an id are its slot */
	c->inflight++;
}

/* Queues the read of what remains of the block's current step. */
static void queue_read(struct copy *c, struct block *b)
{
	b->step = READING;
	int64_t id;
	if (b->done == 0)
		id = rk_prep_read_chunk(c->ring, c->in, c->region, b->chunk, b->want, b->offset, 0);
	else /* short read: continue where it stopped, in the file and in the chunk */
		id = rk_prep_read(c->ring, c->in, (char *)rk_chunk_ptr(c->region, b->chunk) + b->done,
		                  b->want - b->done, b->offset + b->done, 0);
	track(c, id, b);
}

static void queue_write(struct copy *c, struct block *b)
{
	b->step = WRITING;
	int64_t id;
	if (b->done == 0)
		id = rk_prep_write_chunk(c->ring, c->out, c->region, b->chunk, b->got, b->offset, 0);
	else
		id = rk_prep_write(c->ring, c->out,
		                   (char *)rk_chunk_ptr(c->region, b->chunk) + b->done,
		                   b->got - b->done, b->offset + b->done, 0);
	track(c, id, b);
}

/* Gives an idle block the next stretch of the file; false at the end. */
static int start_block(struct copy *c, struct block *b)
{
	if (c->next_offset >= c->size)
		return 0;
	int64_t left = c->size - c->next_offset;
	b->offset = c->next_offset;
	b->want = left < c->chunk_size ? (uint32_t)left : c->chunk_size;
	b->done = b->got = 0;
	c->next_offset += b->want;
	queue_read(c, b);
	return 1;
}

static void complete(struct copy *c, struct block *b, const rk_cqe *e)
{
	c->inflight--;
	if (e->res == -EINTR || e->res == -EAGAIN) {
		/* Nothing was transferred: retry the same step. */
		b->step == READING ? queue_read(c, b) : queue_write(c, b);
		return;
	}
	if (e->res < 0)
		die(b->step == READING ? "read" : "write", e->res);

	if (b->step == READING) {
		b->done += (uint32_t)e->res;
		if (e->res > 0 && b->done < b->want) {
			queue_read(c, b);
			return;
		}
		/* Done, or EOF came early (the file shrank): write what we have. */
		b->got = b->done;
		b->done = 0;
		if (b->got == 0) {
			b->step = IDLE;
			return;
		}
		queue_write(c, b);
		return;
	}
	b->done += (uint32_t)e->res;
	if (e->res == 0)
		die("write", -EIO); /* no progress: the device refuses more */
	if (b->done < b->got) {
		queue_write(c, b);
		return;
	}
	b->step = IDLE;
	start_block(c, b);
}

static int files_equal(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	int same = fa && fb;
	static char ba[1 << 16], bb[1 << 16];
	while (same) {
		size_t na = fread(ba, 1, sizeof(ba), fa), nb = fread(bb, 1, sizeof(bb), fb);
		if (na != nb || memcmp(ba, bb, na) != 0)
			same = 0;
		if (na == 0)
			break;
	}
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return same;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void usage(void)
{
	fprintf(stderr, "usage: ringkit-cp [--chunk KiB] [--depth N] [--fsync] [--verify] [--quiet] SRC DST\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint32_t chunk_kib = 512, depth = 16;
	int verify = 0, quiet = 0, sync = 0, i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc)
			chunk_kib = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--depth") == 0 && i + 1 < argc)
			depth = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--fsync") == 0)
			sync = 1;
		else if (strcmp(argv[i], "--verify") == 0)
			verify = 1;
		else if (strcmp(argv[i], "--quiet") == 0)
			quiet = 1;
		else
			usage();
	}
	if (argc - i != 2 || chunk_kib == 0 || chunk_kib > 65536 || depth == 0 || depth > 4096)
		usage();
	const char *src = argv[i], *dst = argv[i + 1];

	struct copy c = {0};
	c.chunk_size = chunk_kib * 1024;
	c.in = open(src, O_RDONLY);
	if (c.in < 0)
		die(src, -errno);
	struct stat st;
	if (fstat(c.in, &st) < 0)
		die(src, -errno);
	c.out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, st.st_mode & 07777);
	if (c.out < 0)
		die(dst, -errno);
	c.size = st.st_size;

	int ret = rk_ring_create(depth * 2, 0, &c.ring);
	if (ret < 0)
		die("creating the ring", ret);
	ret = rk_region_create(c.chunk_size, depth, 0, &c.region);
	if (ret < 0)
		die("creating the region", ret);
	ret = rk_ring_register_region(c.ring, c.region);
	if (ret < 0 && !quiet) /* an optimisation only: the copy works without */
		fprintf(stderr, "ringkit-cp: region not registered (%s), using plain reads/writes\n",
		        rk_strerror(ret));

	uint64_t stats[RK_STAT_COUNT];
	rk_ring_stats(c.ring, stats, RK_STAT_COUNT);
	c.capacity = (uint32_t)stats[RK_STAT_CAPACITY];
	c.by_slot = calloc(c.capacity, sizeof(*c.by_slot));
	c.blocks = calloc(depth, sizeof(*c.blocks));
	if (!c.by_slot || !c.blocks)
		die("allocating", -ENOMEM);

	double t0 = now();
	for (uint32_t b = 0; b < depth; b++) {
		c.blocks[b].chunk = rk_chunk_alloc(c.region);
		start_block(&c, &c.blocks[b]);
	}
	rk_cqe done[256];
	struct block *owner[256];
	while (c.inflight > 0) {
		int n = rk_reap(c.ring, done, 256, 1, -1);
		if (n == -EINTR)
			continue;
		if (n < 0)
			die("reaping", n);
		/* The reap freed every returned op's slot, and handling one record
		 * queues new ops that may take those slots: find all owners first. */
		for (int k = 0; k < n; k++)
			owner[k] = c.by_slot[(uint32_t)done[k].id];
		for (int k = 0; k < n; k++)
			complete(&c, owner[k], &done[k]);
	}
	if (sync && fsync(c.out) < 0)
		die("fsync", -errno);
	double secs = now() - t0;

	rk_ring_close(c.ring);
	for (uint32_t b = 0; b < depth; b++)
		rk_chunk_free(c.region, c.blocks[b].chunk);
	rk_region_destroy(c.region);
	close(c.in);
	close(c.out);
	free(c.by_slot);
	free(c.blocks);

	if (!quiet)
		printf("copied %lld bytes in %.3f s: %.1f MiB/s\n", (long long)c.size, secs,
		       (double)c.size / (1024.0 * 1024.0) / (secs > 0 ? secs : 1e-9));
	if (verify) {
		if (!files_equal(src, dst)) {
			fprintf(stderr, "ringkit-cp: verify: %s and %s differ\n", src, dst);
			return 1;
		}
		if (!quiet)
			printf("verified: identical\n");
	}
	return 0;
}
