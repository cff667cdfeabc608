/* rk_prep_copy against cp (coreutils, copy_file_range), same file, same run:
 * each round times every strategy against a cp of its own (alternating),
 * page-cached or cold (the page cache dropped before each copy: needs
 * root), and checks every copy byte for byte. Prints each strategy's MiB/s
 * and its pair's cp per round, the ratio, and the median ratio over the
 * rounds (strategies in a rotating order), and each one's median MiB/s and
 * how busy the source's disk was while it ran (its io_ticks over the copy's
 * time: near 100 %, a copy waits on the disk, and no read pattern makes it
 * faster). doc/benchmarks.md, "Copy (issue 18)".
 *
 *   ringkit-bench-copy [MiB [rounds [cached|cold|both]]]   (256 5 both)
 *   BENCH_DIR: where the files go (default /var/tmp)
 *   BENCH_ONLY=name,name,...: only these strategies (default: all)
 *   RINGKIT_BACKEND=fallback: the fallback backend's copy
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "ringkit.h"

struct strategy {
	const char *name;
	uint32_t copy_flags, flags;
};

static const struct strategy strategies[] = {
	{"default", 0, 0},
	{"splice-1x1M", RK_COPY_SPLICE | RK_COPY_LANES(1) | RK_COPY_CHUNK(20), 0},
	{"splice-2x1M", RK_COPY_SPLICE | RK_COPY_LANES(2) | RK_COPY_CHUNK(20), 0},
	{"splice-4x256K", RK_COPY_SPLICE | RK_COPY_LANES(4) | RK_COPY_CHUNK(18), 0},
	{"splice-2x1M-nopre", RK_COPY_SPLICE | RK_COPY_NO_PREALLOC | RK_COPY_LANES(2) |
	                      RK_COPY_CHUNK(20), 0},
	{"splice-4x1M-nopre", RK_COPY_SPLICE | RK_COPY_NO_PREALLOC | RK_COPY_LANES(4) |
	                      RK_COPY_CHUNK(20), 0},
	{"rw-4x1M-async", RK_COPY_READ_WRITE | RK_COPY_LANES(4) | RK_COPY_CHUNK(20), RK_ASYNC},
	{"rw-4x1M", RK_COPY_READ_WRITE | RK_COPY_LANES(4) | RK_COPY_CHUNK(20), 0},
	{"nodirect", RK_COPY_NO_DIRECT, 0},
	{"direct-4x1M", RK_COPY_DIRECT | RK_COPY_LANES(4) | RK_COPY_CHUNK(20), 0},
	{"direct-8x1M", RK_COPY_DIRECT | RK_COPY_LANES(8) | RK_COPY_CHUNK(20), 0},
	{"direct-8x512K", RK_COPY_DIRECT | RK_COPY_LANES(8) | RK_COPY_CHUNK(19), 0},
};
#define NSTRAT (sizeof(strategies) / sizeof(strategies[0]))
#define MAX_ROUNDS 32

static char src[256], dst[256], devstat[64];
static size_t size;
static bool skip[NSTRAT]; /* left out by BENCH_ONLY */

/* The source's disk's busy time so far (ms, the 10th field of its stat in
 * sysfs), or -1 where there is none to read (tmpfs, a filesystem on many
 * devices). */
static long io_ticks(void)
{
	FILE *f = devstat[0] ? fopen(devstat, "r") : NULL;
	long v[10];
	int n = f ? fscanf(f, "%ld %ld %ld %ld %ld %ld %ld %ld %ld %ld", &v[0], &v[1], &v[2],
	                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9])
	          : 0;
	if (f)
		fclose(f);
	return n == 10 ? v[9] : -1;
}

/* t seconds of a copy that began at ticks0: the share of it the disk was
 * busy, or -1. */
static double busy_since(long ticks0, double t)
{
	long t1 = io_ticks();
	return ticks0 < 0 || t1 < 0 ? -1 : (double)(t1 - ticks0) / (t * 1000);
}

static void drop_caches(void)
{
	sync();
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0 || write(fd, "3", 1) != 1) {
		fprintf(stderr, "cannot drop caches (%s): run as root, or 'cached' only\n",
		        strerror(errno));
		exit(1);
	}
	close(fd);
}

/* Before each timed copy: the last one's dirty pages written back (so no
 * copy pays for another's writeback), and cold: the page cache dropped. */
static void settle(int cold)
{
	sync();
	if (cold)
		drop_caches();
}

static void same_or_die(const char *who)
{
	int a = open(src, O_RDONLY), b = open(dst, O_RDONLY);
	struct stat sa, sb;
	if (a < 0 || b < 0 || fstat(a, &sa) || fstat(b, &sb) || sa.st_size != sb.st_size)
		bench_die(who, -1);
	unsigned char *pa = mmap(NULL, size, PROT_READ, MAP_PRIVATE, a, 0);
	unsigned char *pb = mmap(NULL, size, PROT_READ, MAP_PRIVATE, b, 0);
	if (pa == MAP_FAILED || pb == MAP_FAILED || memcmp(pa, pb, size) != 0) {
		fprintf(stderr, "%s: the copy differs\n", who);
		exit(1);
	}
	munmap(pa, size);
	munmap(pb, size);
	close(a);
	close(b);
}

/* Runs argv to its end (stdout to /dev/null when quiet); a failure ends the
 * bench, named what. */
static void run_program(const char *what, char *const argv[], bool quiet)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = quiet ? open("/dev/null", O_WRONLY) : -1;
		if (null >= 0)
			dup2(null, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bench_die(what, st);
}

/* cp's program and libraries into the page cache, untimed: a cold round
 * dropped them, and loading them from the disk is no part of a copy (ours
 * runs in the bench's process, long loaded). */
static void load_cp(void)
{
	run_program("cp --version", (char *[]){"cp", "--version", NULL}, true);
}

static double run_cp(void)
{
	load_cp();
	double t0 = bench_now();
	run_program("cp", (char *[]){"cp", src, dst, NULL}, false);
	return bench_now() - t0;
}

/* As cp does it: open both, copy, close; timed from the first open. */
static double run_ours(const struct strategy *s)
{
	double t0 = bench_now();
	rk_ring *ring;
	int ret = rk_ring_create(64, 0, &ring);
	if (ret < 0)
		bench_die("rk_ring_create", ret);
	int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in < 0 || out < 0)
		bench_die("open", errno);
	uint64_t done = 0;
	while (done < size) {
		int64_t id = rk_prep_copy(ring, in, (int64_t)done, out, (int64_t)done, size - done,
		                          s->copy_flags, s->flags);
		if (id < 0)
			bench_die("rk_prep_copy", id);
		rk_cqe c;
		if ((ret = rk_reap(ring, &c, 1, 1, -1)) != 1)
			bench_die("rk_reap", ret);
		if (c.res <= 0)
			bench_die(s->name, c.res);
		done += (uint64_t)c.res;
	}
	close(in);
	close(out);
	rk_ring_close(ring);
	return bench_now() - t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void series(int rounds, int cold)
{
	double mib = (double)size / (1 << 20);
	double ratio[NSTRAT][MAX_ROUNDS], cps[NSTRAT * MAX_ROUNDS];
	double rate[NSTRAT][MAX_ROUNDS], busy[NSTRAT][MAX_ROUNDS], cpbusy[NSTRAT * MAX_ROUNDS];
	int ncp = 0;
	printf("%s, %.0f MiB, %d rounds (MiB/s of the strategy / of its own cp; ratio)\n",
	       cold ? "cold" : "page-cached", mib, rounds);
	for (int r = 0; r < rounds; r++) {
		if (!cold) { /* warm the source */
			unlink(dst);
			run_cp();
		}
		printf("  round %d:", r + 1);
		/* Each round starts the strategies at another one, and every
		 * strategy is paired with a cp of its own, run right before it
		 * in odd rounds and right after it in even ones: a stall of the
		 * VM's disk or memory (they come and go, for cp as for us) then
		 * spoils one pair, not a round. */
		for (size_t k = 0; k < NSTRAT; k++) {
			size_t i = (k + (size_t)r) % NSTRAT;
			if (skip[i])
				continue;
			double t = 0, tcp = 0;
			for (int half = 0; half < 2; half++) {
				unlink(dst);
				settle(cold);
				long ticks0 = io_ticks();
				if ((half == 0) == (r % 2 == 0)) {
					tcp = run_cp();
					cpbusy[ncp] = busy_since(ticks0, tcp);
					same_or_die("cp");
				} else {
					t = run_ours(&strategies[i]);
					busy[i][r] = busy_since(ticks0, t);
					same_or_die(strategies[i].name);
				}
			}
			ratio[i][r] = tcp / t;
			rate[i][r] = mib / t;
			cps[ncp++] = mib / tcp;
			printf("  %s %.0f/%.0f (%.2fx)", strategies[i].name, mib / t, mib / tcp,
			       ratio[i][r]);
		}
		printf("\n");
		fflush(stdout);
	}
	qsort(cps, (size_t)ncp, sizeof(double), cmp_double);
	qsort(cpbusy, (size_t)ncp, sizeof(double), cmp_double);
	printf("  cp: median %.0f MiB/s (%.0f-%.0f), disk busy %.0f %%\n", cps[ncp / 2], cps[0],
	       cps[ncp - 1], 100 * cpbusy[ncp / 2]); /* < 0: no disk stat */
	printf("  median ratio to cp:");
	for (size_t i = 0; i < NSTRAT; i++) {
		if (skip[i])
			continue;
		qsort(ratio[i], (size_t)rounds, sizeof(double), cmp_double);
		printf("  %s %.2fx", strategies[i].name, ratio[i][rounds / 2]);
	}
	printf("\n  median MiB/s, disk busy:");
	for (size_t i = 0; i < NSTRAT; i++) {
		if (skip[i])
			continue;
		qsort(rate[i], (size_t)rounds, sizeof(double), cmp_double);
		qsort(busy[i], (size_t)rounds, sizeof(double), cmp_double);
		printf("  %s %.0f %.0f %%", strategies[i].name, rate[i][rounds / 2],
		       100 * busy[i][rounds / 2]);
	}
	printf("\n");
}

int main(int argc, char **argv)
{
	int mibs = argc > 1 ? atoi(argv[1]) : 256;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	const char *mode = argc > 3 ? argv[3] : "both";
	if (mibs <= 0 || rounds <= 0 || rounds > MAX_ROUNDS)
		bench_die("arguments", 0);
	const char *dir = getenv("BENCH_DIR") ? getenv("BENCH_DIR") : "/var/tmp";
	snprintf(src, sizeof(src), "%s/rk-bench-copy.%d.src", dir, (int)getpid());
	snprintf(dst, sizeof(dst), "%s/rk-bench-copy.%d.dst", dir, (int)getpid());
	size = (size_t)mibs << 20;
	const char *only = getenv("BENCH_ONLY");
	for (size_t i = 0; only && i < NSTRAT; i++) {
		size_t n = strlen(strategies[i].name);
		const char *p = only;
		skip[i] = true;
		for (; *p; p += strcspn(p, ","), p += *p == ',')
			if (strncmp(p, strategies[i].name, n) == 0 && (p[n] == ',' || !p[n]))
				skip[i] = false;
	}
	struct stat sd;
	if (stat(dir, &sd) == 0)
		snprintf(devstat, sizeof(devstat), "/sys/dev/block/%u:%u/stat", major(sd.st_dev),
		         minor(sd.st_dev));

	int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		bench_die("open", errno);
	unsigned char *buf = malloc(1 << 20);
	uint64_t seed = 88172645463325252ull;
	for (int m = 0; m < mibs; m++) {
		for (size_t i = 0; i < (1 << 20) / 8; i++)
			((uint64_t *)buf)[i] = bench_rand(&seed);
		if (write(fd, buf, 1 << 20) != 1 << 20)
			bench_die("write", errno);
	}
	free(buf);
	close(fd);
	rk_ring *ring;
	if (rk_ring_create(4, 0, &ring) == 0) {
		printf("backend: %s\n", rk_ring_backend(ring) == RK_BACKEND_FALLBACK ? "fallback"
		                                                                      : "io_uring");
		rk_ring_close(ring);
	}
	if (strcmp(mode, "cold") != 0)
		series(rounds, 0);
	if (strcmp(mode, "cached") != 0)
		series(rounds, 1);
	unlink(src);
	unlink(dst);
	return 0;
}
