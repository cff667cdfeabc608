/* The fallback backend next to io_uring, through the same ringkit calls:
 *   - NOPs at batch 1 and 32 (the wrapper's whole cost; the fallback has no
 *     kernel round trip at all, only its lock and its eventfd),
 *   - 4 KiB random reads of a page-cached file at queue depth 32,
 *   - a TCP echo over loopback: one server ring serves C connections
 *     (recv, then send back what came, then recv again) for a client
 *     thread that keeps one 64-byte message per connection in flight
 *     (plain blocking sockets, the same for both backends).
 * Each figure is the best of BENCH_ROUNDS alternating rounds; the ratio is
 * fallback / io_uring. Rings are created with RK_RING_NO_FALLBACK and
 * RK_RING_FALLBACK, whatever RINGKIT_BACKEND says.
 *
 *   ringkit-bench-backends [FILE [MiB]]   (default: a 256 MiB temp file) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "ringkit.h"

#define NOPS 2000000
#define BLOCK 4096
#define READS 400000
#define QD 32
#define MSG 64
#define ECHO_ROUNDS 20000

static const uint32_t backend_flag[2] = {RK_RING_NO_FALLBACK, RK_RING_FALLBACK};
static const char *const backend_name[2] = {"io_uring", "fallback"};

static rk_ring *new_ring(int b, uint32_t entries)
{
	rk_ring *ring;
	int r = rk_ring_create(entries, backend_flag[b], &ring);
	if (r < 0)
		bench_die(b ? "rk_ring_create (fallback)" : "rk_ring_create (io_uring)", r);
	return ring;
}

static void reap_exactly(rk_ring *ring, rk_cqe *c, unsigned n)
{
	for (unsigned got = 0; got < n;) {
		int r = rk_reap(ring, c, 256, n - got, -1);
		if (r < 0)
			bench_die("rk_reap", r);
		got += (unsigned)r;
	}
}

static double nops(int b, unsigned batch)
{
	rk_ring *ring = new_ring(b, 256);
	rk_cqe c[256];
	double t0 = bench_now();
	for (unsigned done = 0; done < NOPS; done += batch) {
		for (unsigned i = 0; i < batch; i++)
			rk_prep_nop(ring, 0);
		reap_exactly(ring, c, batch);
	}
	double t = bench_now() - t0;
	rk_ring_close(ring);
	return NOPS / t;
}

static int file_fd;
static uint64_t nblocks;

static double randread(int b)
{
	rk_ring *ring = new_ring(b, 64);
	static unsigned char bufs[QD][BLOCK];
	static int32_t buf_of[4 * 64];
	uint64_t seed = 42;
	unsigned issued = 0, completed = 0;
	rk_cqe c[QD];
	int32_t done_buf[QD];
	double t0 = bench_now();
	for (int i = 0; i < QD; i++, issued++) {
		int64_t id = rk_prep_read(ring, file_fd, bufs[i], BLOCK,
		                          (int64_t)(bench_rand(&seed) % nblocks) * BLOCK, 0);
		buf_of[(uint32_t)id] = i;
	}
	while (completed < READS) {
		int n = rk_reap(ring, c, QD, 1, -1);
		if (n < 0)
			bench_die("rk_reap", n);
		for (int k = 0; k < n; k++) {
			if (c[k].res != BLOCK)
				bench_die("read", c[k].res);
			done_buf[k] = buf_of[(uint32_t)c[k].id];
		}
		completed += (unsigned)n;
		for (int k = 0; k < n && issued < READS; k++, issued++) {
			int64_t id = rk_prep_read(ring, file_fd, bufs[done_buf[k]], BLOCK,
			                          (int64_t)(bench_rand(&seed) % nblocks) * BLOCK, 0);
			buf_of[(uint32_t)id] = done_buf[k];
		}
	}
	double t = bench_now() - t0;
	rk_ring_close(ring);
	return completed / t;
}

/* ---- echo ---------------------------------------------------------------- */

struct client {
	int *fds;
	int conns;
};

static void *client_main(void *arg)
{
	struct client *cl = arg;
	char msg[MSG], back[MSG];
	memset(msg, 'e', sizeof(msg));
	for (int r = 0; r < ECHO_ROUNDS; r++) {
		for (int i = 0; i < cl->conns; i++)
			if (write(cl->fds[i], msg, MSG) != MSG)
				bench_die("client write", errno);
		for (int i = 0; i < cl->conns; i++) {
			for (int got = 0; got < MSG;) {
				ssize_t n = read(cl->fds[i], back + got, (size_t)(MSG - got));
				if (n <= 0)
					bench_die("client read", errno);
				got += (int)n;
			}
		}
	}
	return NULL;
}

/* Round trips per second with `conns` connections. */
static double echo(int b, int conns)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = {htonl(INADDR_LOOPBACK)}};
	socklen_t sl = sizeof(sa);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		bench_die("listen", errno);
	int cfd[64], sfd[64];
	for (int i = 0; i < conns; i++) {
		int one = 1;
		cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(cfd[i], (struct sockaddr *)&sa, sizeof(sa)) < 0)
			bench_die("connect", errno);
		setsockopt(cfd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		sfd[i] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		setsockopt(sfd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	rk_ring *ring = new_ring(b, 128);
	static char bufs[64][MSG];
	/* Per slot: which connection, and whether it is its recv or its send. */
	static int conn_of[512], is_send[512];
	for (int i = 0; i < conns; i++) {
		int64_t id = rk_prep_recv(ring, sfd[i], bufs[i], MSG, 0, 0);
		conn_of[(uint32_t)id] = i;
		is_send[(uint32_t)id] = 0;
	}
	struct client cl = {.fds = cfd, .conns = conns};
	pthread_t t;
	double t0 = bench_now();
	pthread_create(&t, NULL, client_main, &cl);
	long replies = 0, want = (long)ECHO_ROUNDS * conns;
	rk_cqe c[128];
	int conn[128], snd[128];
	while (replies < want) {
		int n = rk_reap(ring, c, 128, 1, -1);
		if (n < 0)
			bench_die("rk_reap", n);
		for (int k = 0; k < n; k++) {
			conn[k] = conn_of[(uint32_t)c[k].id];
			snd[k] = is_send[(uint32_t)c[k].id];
		}
		for (int k = 0; k < n; k++) {
			if (c[k].res <= 0)
				bench_die(snd[k] ? "send" : "recv", c[k].res);
			int i = conn[k];
			int64_t id;
			if (snd[k]) {
				replies++;
				id = rk_prep_recv(ring, sfd[i], bufs[i], MSG, 0, 0);
			} else {
				/* A short recv is echoed as it came. */
				id = rk_prep_send(ring, sfd[i], bufs[i], (uint32_t)c[k].res, 0, 0);
			}
			conn_of[(uint32_t)id] = i;
			is_send[(uint32_t)id] = !snd[k];
		}
	}
	pthread_join(t, NULL);
	double el = bench_now() - t0;
	rk_ring_close(ring);
	for (int i = 0; i < conns; i++) {
		close(cfd[i]);
		close(sfd[i]);
	}
	close(lfd);
	return replies / el;
}

static char tmp_path[64];

static void cleanup(void)
{
	if (tmp_path[0])
		unlink(tmp_path);
}

static void open_file(int argc, char **argv)
{
	uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 256;
	if (argc > 1) {
		file_fd = open(argv[1], O_RDONLY);
		if (file_fd < 0)
			bench_die("open", errno);
		nblocks = (uint64_t)lseek(file_fd, 0, SEEK_END) / BLOCK;
	} else {
		strcpy(tmp_path, "/tmp/ringkit-bench.XXXXXX");
		file_fd = mkstemp(tmp_path);
		atexit(cleanup);
		static unsigned char chunk[1 << 20];
		uint64_t seed = 7;
		for (uint64_t i = 0; i < mib; i++) {
			for (size_t k = 0; k < sizeof(chunk); k += 8) {
				uint64_t v = bench_rand(&seed);
				memcpy(chunk + k, &v, 8);
			}
			if (write(file_fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
				bench_die("write", errno);
		}
		nblocks = mib * (1 << 20) / BLOCK;
	}
	/* Warm the page cache: these are cached reads. */
	static unsigned char sink[1 << 20];
	for (off_t off = 0; pread(file_fd, sink, sizeof(sink), off) > 0; off += sizeof(sink))
		;
}

typedef double (*bench_fn)(int b, int arg);

static double nops_fn(int b, int batch) { return nops(b, (unsigned)batch); }
static double randread_fn(int b, int arg) { (void)arg; return randread(b); }
static double echo_fn(int b, int conns) { return echo(b, conns); }

static void row(const char *name, bench_fn fn, int arg, const char *unit)
{
	double best[2] = {0, 0};
	for (int r = 0; r < BENCH_ROUNDS; r++)
		for (int b = 0; b < 2; b++) {
			double v = fn(b, arg);
			if (v > best[b])
				best[b] = v;
		}
	printf("%-22s %12.0f %12.0f %8.3f   %s\n", name, best[0], best[1], best[1] / best[0], unit);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	rk_ring *probe;
	if (rk_ring_create(8, RK_RING_NO_FALLBACK, &probe) < 0) {
		fprintf(stderr, "io_uring is refused here: nothing to compare the fallback with\n");
		return 1;
	}
	rk_ring_close(probe);
	open_file(argc, argv);
	printf("best of %d alternating rounds; ratio = %s / %s\n", BENCH_ROUNDS, backend_name[1],
	       backend_name[0]);
	printf("%-22s %12s %12s %8s\n", "", backend_name[0], backend_name[1], "ratio");
	row("nop batch 1", nops_fn, 1, "ops/s");
	row("nop batch 32", nops_fn, 32, "ops/s");
	row("randread 4K qd 32", randread_fn, 0, "reads/s");
	row("echo 1 conn", echo_fn, 1, "round trips/s");
	row("echo 16 conns", echo_fn, 16, "round trips/s");
	return 0;
}
