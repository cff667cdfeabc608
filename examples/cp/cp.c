/*
 * ringkit-cp: a parallel file copy on ringkit, in the spirit of OCaml uring's
 * urcp.
 *
 *   ringkit-cp [--chunk KiB] [--depth N] [--fsync] [--verify] [--quiet] SRC DST
 *
 * Between regular files the copy is one op, rk_prep_copy: the core runs the
 * pipeline (splices through pipes of its own, or O_DIRECT reads for a source
 * out of the page cache, several ranges in parallel) and the program makes
 * one call per copy of up to 2 GiB, not one per chunk. --chunk and --depth,
 * when given, become its chunk size (rounded down to a power of two,
 * 4 KiB..16 MiB) and lanes (at most 8).
 *
 * Anything else (a destination such as /dev/null) takes the program's own
 * pipeline: one region of `depth` chunks is registered with the ring, so reads and
 * writes use the kernel's fixed buffers (no per-op page pinning). Each chunk
 * carries one block of the file through two steps — read it, then write it at
 * the same offset — and up to `depth` blocks are in flight at once, so the
 * kernel always has work queued in both directions.
 *
 * Short reads and short writes are normal (signals, page-cache pressure): the
 * remainder is resubmitted at the advanced file offset *and* the advanced
 * position in the chunk, to the same fd. A read that reaches EOF before the
 * size the source had when the copy started is an error: the source shrank
 * under the copy, or its size lies (sysfs files), and a copy that silently
 * comes out shorter is how data gets lost.
 *
 * Like cp, it refuses to copy a file onto itself (the same inode, by any
 * name or hard link): opening the destination truncates it, and that would
 * destroy the source before the first read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/args.h"
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
	const char *src, *dst;
	int in, out;
	int64_t size, next_offset;
	int64_t copied; /* bytes written to the destination */
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

/* For failures of a system call on a named file: errno's own words (the
 * ringkit error text explains ring ops, not open(2)). */
static void die_file(const char *what, const char *path)
{
	fprintf(stderr, "ringkit-cp: %s '%s': %s\n", what, path, strerror(errno));
	exit(1);
}

/* The source ended at `at`, before the size it had when the copy began. */
static void die_short(const struct copy *c, int64_t at)
{
	struct stat st;
	fprintf(stderr, "ringkit-cp: '%s' ended at byte %lld of the %lld it had when the copy began",
	        c->src, (long long)at, (long long)c->size);
	if (fstat(c->in, &st) == 0 && st.st_size != c->size)
		fprintf(stderr, " (it is %lld bytes now: it changed during the copy)",
		        (long long)st.st_size);
	else
		fprintf(stderr, " (its size is not what it holds)");
	fprintf(stderr, "; '%s' is incomplete\n", c->dst);
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
	if (e->res < 0) {
		errno = -e->res;
		die_file(b->step == READING ? "reading" : "writing", b->step == READING ? c->src : c->dst);
	}

	if (b->step == READING) {
		b->done += (uint32_t)e->res;
		if (e->res > 0 && b->done < b->want) {
			queue_read(c, b);
			return;
		}
		if (b->done < b->want)
			die_short(c, b->offset + b->done);
		b->got = b->done;
		b->done = 0;
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
	c->copied += b->got;
	b->step = IDLE;
	start_block(c, b);
}

/* The whole copy as rk_prep_copy ops, each of at most what one op moves.
 * Returns 0, or the prep's error when the core does not copy between these
 * two files (then nothing was written). */
static int copy_with_op(struct copy *c, uint32_t copy_flags)
{
	while (c->copied < c->size) {
		int64_t id = rk_prep_copy(c->ring, c->in, c->copied, c->out, c->copied,
		                          (uint64_t)(c->size - c->copied), copy_flags, 0);
		if (id < 0 && c->copied == 0)
			return (int)id;
		if (id < 0)
			die("queueing the copy", (int)id);
		rk_cqe e;
		int n;
		while ((n = rk_reap(c->ring, &e, 1, 1, -1)) == -EINTR)
			;
		if (n != 1)
			die("reaping", n < 0 ? n : -EIO);
		if (e.res < 0) {
			errno = -e.res;
			die_file("copying", c->src);
		}
		if (e.res == 0)
			die_short(c, c->copied);
		c->copied += e.res;
	}
	return 0;
}

static uint32_t log2_floor(uint64_t v)
{
	uint32_t l = 0;
	while (v >>= 1)
		l++;
	return l;
}

/* Reads both files again and compares them byte for byte, and both with the
 * size the source had when the copy began: a source that changed since, or
 * a destination that does not keep what was written to it, fails. */
static int verify_copy(const struct copy *c)
{
	FILE *fa = fopen(c->src, "rb"), *fb = fopen(c->dst, "rb");
	if (!fa || !fb)
		die_file("verify: cannot open", fa ? c->dst : c->src);
	static char ba[1 << 16], bb[1 << 16];
	int64_t na_total = 0, nb_total = 0;
	int same = 1;
	for (;;) {
		size_t na = fread(ba, 1, sizeof(ba), fa), nb = fread(bb, 1, sizeof(bb), fb);
		na_total += (int64_t)na;
		nb_total += (int64_t)nb;
		if (na != nb || memcmp(ba, bb, na) != 0)
			same = 0;
		if (na == 0 || nb == 0 || !same)
			break;
	}
	int failed = ferror(fa) || ferror(fb);
	fclose(fa);
	fclose(fb);
	if (failed) {
		fprintf(stderr, "ringkit-cp: verify: read error\n");
		return 0;
	}
	if (!same) {
		fprintf(stderr, "ringkit-cp: verify: '%s' and '%s' differ near byte %lld\n", c->src,
		        c->dst, (long long)(na_total < nb_total ? na_total : nb_total));
		return 0;
	}
	if (na_total != c->copied) {
		fprintf(stderr, "ringkit-cp: verify: '%s' holds %lld bytes, %lld were copied\n",
		        c->src, (long long)na_total, (long long)c->copied);
		return 0;
	}
	return 1;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The summary line and --verify, whichever way the copy went. */
static int finish(const struct copy *c, double secs, int quiet, int verify)
{
	if (!quiet)
		printf("copied %lld bytes in %.3f s: %.1f MiB/s\n", (long long)c->copied, secs,
		       (double)c->copied / (1024.0 * 1024.0) / (secs > 0 ? secs : 1e-9));
	if (verify) {
		if (!verify_copy(c))
			return 1;
		if (!quiet)
			printf("verified: identical\n");
	}
	return 0;
}

static const char USAGE[] =
	"usage: ringkit-cp [--chunk KiB] [--depth N] [--fsync] [--verify] [--quiet] SRC DST\n";

static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "ringkit-cp: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", USAGE);
	exit(2);
}

static void help(void)
{
	printf("%s\n"
	       "Copies SRC to DST through io_uring, DEPTH blocks of CHUNK KiB in flight.\n"
	       "  --chunk KiB  block size, 1..65536 (default 512)\n"
	       "  --depth N    blocks in flight, 1..4096 (default 16)\n"
	       "  --fsync      fsync DST before reporting\n"
	       "  --verify     read both files again and compare them\n"
	       "  --quiet      no summary line\n",
	       USAGE);
	exit(0);
}

int main(int argc, char **argv)
{
	uint32_t chunk_kib = 512, depth = 16, copy_flags = 0;
	int verify = 0, quiet = 0, sync = 0, i = 1;
	for (; i < argc && strncmp(argv[i], "-", 1) == 0 && argv[i][1] != '\0'; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (arg_is_help(a))
			help();
		else if ((strcmp(a, "--chunk") == 0 || strcmp(a, "--depth") == 0) && i + 1 == argc)
			usage_error("%s needs a value", a);
		else if (strcmp(a, "--chunk") == 0)
			chunk_kib = (uint32_t)arg_number("ringkit-cp", a, argv[++i], 1, 65536),
			copy_flags |= RK_COPY_CHUNK(log2_floor(chunk_kib * 1024ull) < 12 ? 12
			            : log2_floor(chunk_kib * 1024ull) > 24 ? 24
			            : log2_floor(chunk_kib * 1024ull));
		else if (strcmp(a, "--depth") == 0)
			depth = (uint32_t)arg_number("ringkit-cp", a, argv[++i], 1, 4096),
			copy_flags |= RK_COPY_LANES(depth > 8 ? 8 : depth);
		else if (strcmp(a, "--fsync") == 0)
			sync = 1;
		else if (strcmp(a, "--verify") == 0)
			verify = 1;
		else if (strcmp(a, "--quiet") == 0)
			quiet = 1;
		else
			usage_error("unknown option '%s'", a);
	}
	if (argc - i < 2)
		usage_error("%s", argc - i == 0 ? "missing SRC and DST" : "missing DST");
	if (argc - i > 2)
		usage_error("unexpected argument '%s'", argv[i + 2]);
	const char *src = argv[i], *dst = argv[i + 1];

	struct copy c = {0};
	c.chunk_size = chunk_kib * 1024;
	c.src = src;
	c.dst = dst;
	c.in = open(src, O_RDONLY);
	if (c.in < 0)
		die_file("cannot open", src);
	struct stat st, dst_st;
	if (fstat(c.in, &st) < 0)
		die_file("cannot stat", src);
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		die_file("cannot copy", src);
	}
	/* No O_TRUNC yet: the destination may be the source under another name
	 * (or a hard link to it), and only its inode tells. */
	c.out = open(dst, O_WRONLY | O_CREAT, st.st_mode & 07777);
	if (c.out < 0)
		die_file("cannot open", dst);
	if (fstat(c.out, &dst_st) < 0)
		die_file("cannot stat", dst);
	if (dst_st.st_dev == st.st_dev && dst_st.st_ino == st.st_ino) {
		fprintf(stderr, "ringkit-cp: '%s' and '%s' are the same file\n", src, dst);
		return 1;
	}
	if (S_ISREG(dst_st.st_mode) && ftruncate(c.out, 0) < 0)
		die_file("cannot truncate", dst);
	c.size = st.st_size;

	int ret = rk_ring_create(depth * 2, 0, &c.ring);
	if (ret < 0)
		die("creating the ring", ret);
	double t0 = now();
	/* -ESPIPE and friends: not two regular files; the pipeline below
	 * copies those. */
	if (S_ISREG(dst_st.st_mode) && S_ISREG(st.st_mode) && copy_with_op(&c, copy_flags) == 0) {
		if (sync && fsync(c.out) < 0)
			die_file("cannot fsync", dst);
		double secs = now() - t0;
		rk_ring_close(c.ring);
		close(c.in);
		close(c.out);
		return finish(&c, secs, quiet, verify);
	}
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

	t0 = now();
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
		die_file("cannot fsync", dst);
	double secs = now() - t0;

	rk_ring_close(c.ring);
	for (uint32_t b = 0; b < depth; b++)
		rk_chunk_free(c.region, c.blocks[b].chunk);
	rk_region_destroy(c.region);
	close(c.in);
	close(c.out);
	free(c.by_slot);
	free(c.blocks);
	return finish(&c, secs, quiet, verify);
}
