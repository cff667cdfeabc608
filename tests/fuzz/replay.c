/* Replays fuzz inputs through LLVMFuzzerTestOneInput without libFuzzer, so
 * the seed corpus runs in every build of the test command (gcc, plain and
 * ASan+UBSan), and drives the differential mode (diff.c):
 *
 *   api_fuzz FILE_OR_DIR...                  replay through the model fuzzer
 *   api_fuzz --diff [--replay] FILE_OR_DIR...  replay on both backends, compared;
 *                                            exit 1 on a mismatch
 *   api_fuzz --diff --run SECONDS [--out DIR] [--seed N]
 *                                            random inputs on both backends;
 *                                            each mismatching input is written
 *                                            to DIR (replay it as above)
 *
 * RK_FUZZ_VERBOSE=1 describes the known differences too. */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "diff.h"
#include "ringkit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long ran;
static bool diff_mode, verbose;
static struct diff_stats st;
static long failed;

static void run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(1);
	}
	static uint8_t data[1 << 20];
	size_t n = fread(data, 1, sizeof(data), f);
	fclose(f);
	if (diff_mode) {
		if (rk_fuzz_diff_one(data, n, &st, verbose) < 0) {
			fprintf(stderr, "diff: %s: the backends differ\n", path);
			failed++;
		}
	} else {
		LLVMFuzzerTestOneInput(data, n);
	}
	ran++;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		perror(path);
		exit(1);
	}
	if (!S_ISDIR(st.st_mode)) {
		run_file(path);
		return;
	}
	DIR *d = opendir(path);
	char **names = NULL;
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		char full[4096];
		snprintf(full, sizeof(full), "%s/%s", path, names[i]);
		run_file(full);
		free(names[i]);
	}
	free(names);
}

static void print_stats(FILE *out, double secs)
{
	fprintf(out,
	        "diff: %llu sequences, %llu ops, %llu records, %llu settles, %llu stopped at a "
	        "known difference, %llu mismatches, %.0f s\n",
	        (unsigned long long)st.sequences, (unsigned long long)st.ops,
	        (unsigned long long)st.records, (unsigned long long)st.settles,
	        (unsigned long long)st.known, (unsigned long long)st.mismatches, secs);
	rk_fuzz_diff_print_known(out, &st);
	fflush(out);
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Random inputs until the time is up; each mismatching one goes to dir. */
static int run_random(double secs, const char *dir, uint64_t seed)
{
	time_t t0 = time(NULL), last = t0;
	static uint8_t data[2048];
	printf("diff: seed %llu\n", (unsigned long long)seed);
	while (difftime(time(NULL), t0) < secs) {
		size_t n = 16 + xorshift(&seed) % (sizeof(data) - 16);
		for (size_t i = 0; i < n; i++)
			data[i] = (uint8_t)(xorshift(&seed) >> 24);
		if (rk_fuzz_diff_one(data, n, &st, verbose) < 0) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/mismatch-%llu-%llu", dir,
			         (unsigned long long)st.sequences, (unsigned long long)seed);
			FILE *f = fopen(path, "wb");
			if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
				perror(path);
				return 1;
			}
			fprintf(stderr, "diff: input written to %s\n", path);
		}
		if (difftime(time(NULL), last) >= 60) {
			last = time(NULL);
			print_stats(stdout, difftime(last, t0));
		}
	}
	print_stats(stdout, difftime(time(NULL), t0));
	return st.mismatches ? 1 : 0;
}

int main(int argc, char **argv)
{
	int i = 1;
	double run_secs = -1;
	const char *out = ".";
	uint64_t seed = (uint64_t)time(NULL) * 2654435761u | 1;
	verbose = getenv("RK_FUZZ_VERBOSE") != NULL;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (!strcmp(argv[i], "--diff"))
			diff_mode = true;
		else if (!strcmp(argv[i], "--replay"))
			;
		else if (!strcmp(argv[i], "--run") && i + 1 < argc)
			run_secs = atof(argv[++i]);
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0) | 1;
		else
			break;
	}
	if ((run_secs < 0 && i >= argc) || (run_secs >= 0 && !diff_mode)) {
		fprintf(stderr,
		        "usage: %s [--diff [--replay]] FILE_OR_DIR...\n"
		        "       %s --diff --run SECONDS [--out DIR] [--seed N]\n",
		        argv[0], argv[0]);
		return 2;
	}
	if (diff_mode) {
		rk_ring *r;
		int e = rk_ring_create(1, RK_RING_NO_FALLBACK, &r);
		if (e < 0) { /* nothing to compare the fallback with */
			printf("io_uring refused (%s): skipped\n", rk_strerror(e));
			return 77;
		}
		rk_ring_close(r);
		if (getenv("RINGKIT_BACKEND") && strcmp(getenv("RINGKIT_BACKEND"), "auto") &&
		    getenv("RINGKIT_BACKEND")[0]) /* each ring names its backend itself */
			unsetenv("RINGKIT_BACKEND");
		if (fcntl(65000, F_GETFD) >= 0) {
			fprintf(stderr, "fd 65000 is open: the probes use it as a closed fd\n");
			return 2;
		}
	}
	time_t t0 = time(NULL);
	if (run_secs >= 0)
		return run_random(run_secs, out, seed);
	for (; i < argc; i++)
		run_path(argv[i]);
	if (diff_mode) {
		print_stats(stdout, difftime(time(NULL), t0));
		return failed ? 1 : 0;
	}
	printf("%ld inputs replayed, every invariant held\n", ran);
	return 0;
}
