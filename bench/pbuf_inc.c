/* Receiving 100 KiB messages through a multishot recv into a buffer group:
 * a plain group (every completion uses up a chunk) against an incremental
 * one (RK_REGION_INCREMENTAL: completions fill one chunk until it is
 * used up), same region geometry, alternating rounds in one run. Prints
 * MiB/s, completions and chunk recycles per MiB for each, and the ratio
 * of the incremental group's rate to the plain one's (best rounds).
 *
 *   ringkit-bench-pbuf-inc [MiB per round] [chunk KiB] */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "ringkit.h"

#define MSG (100 * 1024)
#define NCHUNKS 64

struct sender {
	int fd;
	size_t total;
};

static void *send_all(void *arg)
{
	struct sender *s = arg;
	static char msg[MSG];
	memset(msg, 'x', sizeof(msg));
	for (size_t done = 0; done < s->total;) {
		size_t n = s->total - done < MSG ? s->total - done : MSG;
		for (size_t k = 0; k < n;) {
			ssize_t w = write(s->fd, msg + k, n - k);
			if (w <= 0)
				bench_die("write", (long)w);
			k += (size_t)w;
		}
		done += n;
	}
	return NULL;
}

struct result {
	double secs;
	uint64_t cqes, recycles;
};

static struct result round_once(uint32_t flags, uint32_t chunk, size_t total)
{
	rk_ring *ring;
	rk_region *rg;
	int r;
	if ((r = rk_ring_create(64, 0, &ring)) < 0)
		bench_die("rk_ring_create", r);
	if ((r = rk_region_create(chunk, NCHUNKS, flags, &rg)) < 0)
		bench_die("rk_region_create", r);
	if ((r = rk_ring_provide_region(ring, rg, 0)) < 0)
		bench_die("rk_ring_provide_region", r);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		bench_die("socketpair", -1);
	struct sender s = {sv[0], total};
	struct result res = {0};
	double t0 = bench_now();
	pthread_t th;
	pthread_create(&th, NULL, send_all, &s);
	int64_t ms = rk_prep_recv_multishot(ring, sv[1], 0, 0, 0);
	size_t got = 0;
	rk_cqe c[64];
	while (got < total) {
		int n = rk_reap(ring, c, 64, 1, -1);
		if (n < 0)
			bench_die("rk_reap", n);
		for (int i = 0; i < n; i++) {
			if (c[i].res <= 0) { /* the group ran dry: re-arm */
				if (c[i].res != -ENOBUFS)
					bench_die("recv", c[i].res);
				ms = rk_prep_recv_multishot(ring, sv[1], 0, 0, 0);
				continue;
			}
			res.cqes++;
			got += (size_t)c[i].res;
			if (!(c[i].flags & RK_CQE_F_BUF_MORE)) {
				rk_ring_recycle_chunk(ring, rg, (int32_t)(c[i].flags >> RK_CQE_BUFFER_SHIFT));
				res.recycles++;
			}
			if (!(c[i].flags & RK_CQE_F_MORE) && got < total)
				ms = rk_prep_recv_multishot(ring, sv[1], 0, 0, 0);
		}
	}
	res.secs = bench_now() - t0;
	pthread_join(th, NULL);
	rk_cancel_sync(ring, ms, -1);
	close(sv[0]);
	close(sv[1]);
	rk_ring_close(ring);
	rk_region_destroy(rg);
	return res;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
	uint32_t chunk = (argc > 2 ? (uint32_t)atol(argv[2]) : 64) * 1024;
	size_t total = mib << 20;
	rk_ring *probe;
	if (rk_ring_create(8, RK_RING_NO_FALLBACK, &probe) < 0 ||
	    rk_ring_feature(probe, RK_FEATURE_PBUF_INC) != 1) {
		fprintf(stderr, "no io_uring with IOU_PBUF_RING_INC here\n");
		return 77;
	}
	rk_ring_close(probe);
	struct result best[2] = {{1e9, 0, 0}, {1e9, 0, 0}};
	for (int round = 0; round < BENCH_ROUNDS; round++) {
		for (int k = 0; k < 2; k++) {
			struct result r = round_once(k ? RK_REGION_INCREMENTAL : 0, chunk, total);
			if (r.secs < best[k].secs)
				best[k] = r;
		}
	}
	for (int k = 0; k < 2; k++)
		printf("%-11s %8.0f MiB/s  %6.1f completions/MiB  %6.1f recycles/MiB\n",
		       k ? "incremental" : "plain", (double)mib / best[k].secs,
		       (double)best[k].cqes / (double)mib, (double)best[k].recycles / (double)mib);
	printf("incremental/plain rate: %.2fx (best of %d alternating rounds, %zu MiB each, "
	       "%u KiB chunks x %d, 100 KiB messages)\n",
	       best[0].secs / best[1].secs, BENCH_ROUNDS, mib, chunk / 1024, NCHUNKS);
	return 0;
}
