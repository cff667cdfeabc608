/*
 * Soak: a mixed workload on one ring for a given time, under a 1 kHz timer
 * signal, checking that nothing accumulates.
 *
 *   soak [SECONDS] [--max-rss-growth PCT]
 *
 * The workload, all driven by completions:
 *   files        workers write a chunk of a registered region to their part
 *                of a temporary file, read it back (into another chunk, or
 *                into plain memory) and verify it;
 *   sockets      clients on 127.0.0.1 connect (through the ring), send a
 *                message, read the echo and verify it, and after a few round
 *                trips close (through the ring) and connect again; a
 *                multishot accept feeds echo servers, which receive into
 *                provided chunks, recycle them and echo back;
 *   timeouts     short timers re-armed forever, long ones removed;
 *   cancels      pipe reads that never complete, ended by a link timeout, a
 *                cancel op or a synchronous cancel;
 *   rings        every few seconds the ring is closed — with everything in
 *                flight, or after cancel_all and a drain — and a new one
 *                takes over the same regions and sockets.
 * SIGALRM fires every millisecond (no SA_RESTART): waits return -EINTR.
 *
 * It prints ops done, RSS, open fds and chunks in use at the start and the
 * end (and every 10 s). After the workload is torn down, open fds and
 * chunks in use must be back at their start values; with --max-rss-growth,
 * RSS at the end may exceed RSS after the warm-up by at most PCT percent.
 * Exit status 0 when all holds, 1 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../c/fd_count.h"
#include "ringkit.h"

#define DIE(...)                                                                     \
	do {                                                                         \
		fprintf(stderr, "soak:%d: ", __LINE__);                              \
		fprintf(stderr, __VA_ARGS__);                                        \
		fprintf(stderr, "\n");                                               \
		exit(1);                                                             \
	} while (0)
#define CHECK(c)                                                                     \
	do {                                                                         \
		if (!(c))                                                            \
			DIE("check failed: %s", #c);                                 \
	} while (0)

#define CAPACITY 512
#define NFILE 8
#define NCLIENT 8
#define NSERVER 32
#define NTIMER 4
#define NCANCEL 4
#define CHUNK 4096
#define GCHUNK 2048
#define GROUP 5
#define MSG_MAX 2048
#define ROUND_TRIPS 16

enum kind {
	K_NONE,
	K_FILE_WRITE, K_FILE_READ,
	K_CONNECT, K_CSEND, K_CRECV, K_CCLOSE,
	K_ACCEPT, K_SRECV, K_SSEND, K_SCLOSE,
	K_TIMER, K_LONG, K_LONG_REMOVE,
	K_PIPE_READ, K_LINK_TIMEOUT, K_CANCEL,
};

static struct {
	uint8_t kind;
	uint16_t idx;
} slots[CAPACITY];

static rk_ring *ring, *idle; /* idle: one read that never completes */
static rk_region *fixed, *group;
static int file_fd, pipe_fd[2], listener;
static struct sockaddr_in addr;
static uint64_t ops_done, eintr, rings_made, verified;
static volatile sig_atomic_t ticks;
static bool stopping;

struct file_worker {
	int32_t wchunk, rchunk;
	unsigned char *plain; /* every fourth read goes to plain memory */
	uint32_t block, seq;
	bool busy;
};
struct client {
	int fd;
	int round;
	uint32_t len, got, seq;
	unsigned char out[MSG_MAX], in[MSG_MAX];
	enum { C_IDLE, C_CONNECTING, C_SENDING, C_RECEIVING, C_CLOSING } state;
};
struct server {
	int fd; /* -1: free */
	uint32_t len, sent;
	unsigned char buf[GCHUNK];
	bool closing, busy;
};
struct timer {
	bool busy;
	int64_t long_id;
	uint32_t n;
};
struct canceller {
	int live; /* ops of this canceller in flight */
	uint32_t n;
	char buf[8];
};

static struct file_worker files[NFILE];
static struct client clients[NCLIENT];
static struct server servers[NSERVER];
static struct timer timers[NTIMER];
static struct canceller cancels[NCANCEL];
static bool accepting;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	CHECK(f && fscanf(f, "%ld %ld", &pages, &resident) == 2);
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int open_fds(void)
{
	int n = open_fd_count();
	CHECK(n >= 0);
	return n;
}

static int64_t chunks_in_use(void)
{
	return rk_region_nchunks(fixed) - rk_region_chunks_free(fixed) +
	       rk_region_nchunks(group) - rk_region_chunks_free(group);
}

static void on_tick(int sig)
{
	(void)sig;
	ticks++;
}

static uint32_t rnd(void)
{
	static uint64_t s = 0x9e3779b97f4a7c15ull;
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return (uint32_t)s;
}

static void fill(unsigned char *p, uint32_t len, uint32_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7);
}

static bool same(const unsigned char *p, uint32_t len, uint32_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != (unsigned char)(seed * 131 + i * 7))
			return false;
	return true;
}

/* Queues an op: remembers who gets its completion. -EBUSY (table full)
 * leaves the caller's state unchanged, to be retried on a later pass. */
static bool queued(int64_t id, uint8_t kind, int idx)
{
	if (id == -EBUSY)
		return false;
	if (id < 0)
		DIE("prep for kind %d: %s", kind, rk_strerror((int)id));
	uint32_t slot = (uint32_t)id;
	CHECK(slot < CAPACITY && slots[slot].kind == K_NONE);
	slots[slot].kind = kind;
	slots[slot].idx = (uint16_t)idx;
	return true;
}

/* ------------------------------------------------------------------------ */
/* Starting work                                                              */

static void file_start(int i)
{
	struct file_worker *w = &files[i];
	w->block = (w->block + 1) % 16;
	w->seq++;
	fill(rk_chunk_ptr(fixed, w->wchunk), CHUNK, w->seq * 16 + (uint32_t)i);
	int64_t off = ((int64_t)i * 16 + w->block) * CHUNK;
	if (queued(rk_prep_write_chunk(ring, file_fd, fixed, w->wchunk, CHUNK, off, 0),
	           K_FILE_WRITE, i))
		w->busy = true;
}

static void file_read(int i)
{
	struct file_worker *w = &files[i];
	int64_t off = ((int64_t)i * 16 + w->block) * CHUNK;
	int64_t id = w->seq % 4 == 0 ? rk_prep_read(ring, file_fd, w->plain, CHUNK, off, 0)
	                             : rk_prep_read_chunk(ring, file_fd, fixed, w->rchunk, CHUNK,
	                                                  off, 0);
	if (!queued(id, K_FILE_READ, i))
		DIE("table full for a file read"); /* its write's slot was just freed */
}

static void client_start(int i)
{
	struct client *c = &clients[i];
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(c->fd >= 0);
	if (!queued(rk_prep_connect(ring, c->fd, &addr, sizeof(addr), 0), K_CONNECT, i)) {
		close(c->fd);
		c->fd = -1;
		return;
	}
	c->state = C_CONNECTING;
	c->round = 0;
}

static void client_send(int i)
{
	struct client *c = &clients[i];
	c->seq++;
	c->len = 1 + rnd() % MSG_MAX;
	c->got = 0;
	fill(c->out, c->len, c->seq + (uint32_t)i * 1000);
	if (!queued(rk_prep_send(ring, c->fd, c->out, c->len, MSG_NOSIGNAL, 0), K_CSEND, i))
		DIE("table full for a send");
	c->state = C_SENDING;
}

static void client_recv(int i)
{
	struct client *c = &clients[i];
	if (!queued(rk_prep_recv(ring, c->fd, c->in + c->got, c->len - c->got, 0, 0), K_CRECV, i))
		DIE("table full for a recv");
	c->state = C_RECEIVING;
}

static void client_close(int i)
{
	struct client *c = &clients[i];
	if (!queued(rk_prep_close(ring, c->fd, 0), K_CCLOSE, i))
		DIE("table full for a close");
	c->state = C_CLOSING;
}

static void accept_start(void)
{
	if (queued(rk_prep_accept_multishot(ring, listener, SOCK_CLOEXEC, 0), K_ACCEPT, 0))
		accepting = true;
}

static void server_recv(int i)
{
	if (!queued(rk_prep_recv_select(ring, servers[i].fd, GROUP, 0, 0, 0), K_SRECV, i))
		DIE("table full for a server recv");
	servers[i].busy = true;
}

static void server_send(int i)
{
	struct server *s = &servers[i];
	if (!queued(rk_prep_send(ring, s->fd, s->buf + s->sent, s->len - s->sent, MSG_NOSIGNAL, 0),
	            K_SSEND, i))
		DIE("table full for a server send");
}

static void server_close(int i)
{
	if (!queued(rk_prep_close(ring, servers[i].fd, 0), K_SCLOSE, i))
		DIE("table full for a server close");
	servers[i].closing = true;
}

static void timer_start(int i)
{
	struct timer *t = &timers[i];
	t->n++;
	if (t->n % 8 == 0 && t->long_id < 0) {
		int64_t id = rk_prep_timeout(ring, 10LL * 1000000000, 0, 0, 0);
		if (queued(id, K_LONG, i))
			t->long_id = id;
	}
	int64_t ns = 100000 + rnd() % 1900000;
	if (queued(rk_prep_timeout(ring, ns, 0, 0, 0), K_TIMER, i))
		t->busy = true;
}

static void cancel_start(int i)
{
	struct canceller *x = &cancels[i];
	x->n++;
	switch (x->n % 3) {
	case 0: { /* a link timeout ends the read */
		int64_t r = rk_prep_read(ring, pipe_fd[0], x->buf, 8, -1, RK_LINK);
		if (!queued(r, K_PIPE_READ, i))
			return;
		if (!queued(rk_prep_link_timeout(ring, 200000, 0, 0), K_LINK_TIMEOUT, i))
			DIE("table full for a link timeout");
		x->live = 2;
		break;
	}
	case 1: { /* a cancel op ends it */
		int64_t r = rk_prep_read(ring, pipe_fd[0], x->buf, 8, -1, 0);
		if (!queued(r, K_PIPE_READ, i))
			return;
		if (!queued(rk_prep_cancel(ring, r, 0), K_CANCEL, i))
			DIE("table full for a cancel");
		x->live = 2;
		break;
	}
	default: { /* a synchronous cancel ends it */
		int64_t r = rk_prep_read(ring, pipe_fd[0], x->buf, 8, -1, 0);
		if (!queued(r, K_PIPE_READ, i))
			return;
		x->live = 1;
		int ret = rk_cancel_sync(ring, r, 1000000000);
		if (ret < 0 && ret != -ENOENT && ret != -EALREADY && ret != -EINTR && ret != -EAGAIN)
			DIE("cancel_sync: %s", rk_strerror(ret));
		break;
	}
	}
}

/* Arms whatever is idle. */
static void kick(void)
{
	if (stopping)
		return;
	for (int i = 0; i < NFILE; i++)
		if (!files[i].busy)
			file_start(i);
	for (int i = 0; i < NCLIENT; i++)
		if (clients[i].state == C_IDLE)
			client_start(i);
	if (!accepting)
		accept_start();
	for (int i = 0; i < NTIMER; i++)
		if (!timers[i].busy)
			timer_start(i);
	for (int i = 0; i < NTIMER; i++)
		if (timers[i].long_id >= 0 && timers[i].n % 8 == 4 &&
		    queued(rk_prep_timeout_remove(ring, timers[i].long_id, 0), K_LONG_REMOVE, i))
			timers[i].n++;
	for (int i = 0; i < NCANCEL; i++)
		if (!cancels[i].live)
			cancel_start(i);
}

/* ------------------------------------------------------------------------ */
/* Completions                                                                */

static int free_server(void)
{
	for (int i = 0; i < NSERVER; i++)
		if (servers[i].fd < 0)
			return i;
	return -1;
}

/* After a close that dropped ops: an fd whose close op may or may not have
 * run is closed unless it already is (nothing else opens fds meanwhile). */
static void close_if_open(int fd)
{
	if (fcntl(fd, F_GETFD) >= 0)
		close(fd);
}

/* Ended by cancel_all (draining before a ring is closed). */
static bool cancelled(int32_t res)
{
	return res == -ECANCELED || res == -EINTR;
}

/* Who a completion is for, taken (and its slot cleared) before any
 * completion of the batch is handled: handling one prepares new ops, which
 * may reuse the slots of the others. */
struct owner {
	uint8_t kind;
	uint16_t idx;
};

static struct owner take(const rk_cqe *c)
{
	uint32_t slot = (uint32_t)c->id;
	CHECK(slot < CAPACITY && slots[slot].kind != K_NONE);
	struct owner o = {slots[slot].kind, slots[slot].idx};
	if (!(c->flags & RK_CQE_F_MORE))
		slots[slot].kind = K_NONE;
	return o;
}

static void complete(const rk_cqe *c, struct owner o)
{
	uint8_t kind = o.kind;
	int i = o.idx;
	bool more = c->flags & RK_CQE_F_MORE;
	ops_done++;
	switch (kind) {
	case K_FILE_WRITE:
		if (cancelled(c->res)) {
			files[i].busy = false;
			break;
		}
		if (c->res != CHUNK)
			DIE("file write: %d", c->res);
		file_read(i);
		break;
	case K_FILE_READ: {
		struct file_worker *w = &files[i];
		if (cancelled(c->res)) {
			w->busy = false;
			break;
		}
		if (c->res != CHUNK)
			DIE("file read: %d", c->res);
		const unsigned char *p = w->seq % 4 == 0 ? w->plain : rk_chunk_ptr(fixed, w->rchunk);
		if (!same(p, CHUNK, w->seq * 16 + (uint32_t)i))
			DIE("file worker %d read back other bytes", i);
		verified++;
		w->busy = false;
		break;
	}
	case K_CONNECT:
		if (cancelled(c->res)) {
			client_close(i);
			break;
		}
		if (c->res < 0)
			DIE("connect: %s", rk_strerror(c->res));
		client_send(i);
		break;
	case K_CSEND:
		if (cancelled(c->res)) {
			client_close(i);
			break;
		}
		if (c->res != (int32_t)clients[i].len)
			DIE("client send: %d of %u", c->res, clients[i].len);
		client_recv(i);
		break;
	case K_CRECV: {
		struct client *cl = &clients[i];
		if (cancelled(c->res)) {
			client_close(i);
			break;
		}
		if (c->res <= 0)
			DIE("client recv: %d", c->res);
		cl->got += (uint32_t)c->res;
		if (cl->got < cl->len) {
			client_recv(i);
			break;
		}
		if (!same(cl->in, cl->len, cl->seq + (uint32_t)i * 1000))
			DIE("client %d: the echo differs", i);
		verified++;
		if (++cl->round < ROUND_TRIPS && !stopping)
			client_send(i);
		else
			client_close(i);
		break;
	}
	case K_CCLOSE:
		if (c->res < 0 && !cancelled(c->res))
			DIE("client close: %d", c->res);
		if (c->res < 0)
			close_if_open(clients[i].fd);
		clients[i].fd = -1;
		clients[i].state = C_IDLE;
		break;
	case K_ACCEPT: {
		if (!more)
			accepting = false;
		if (c->res < 0) {
			if (c->res != -ECANCELED && c->res != -EINTR)
				DIE("accept: %s", rk_strerror(c->res));
			break;
		}
		int s = free_server();
		if (s < 0)
			DIE("more than %d connections", NSERVER);
		servers[s] = (struct server){.fd = c->res};
		server_recv(s);
		break;
	}
	case K_SRECV: {
		struct server *s = &servers[i];
		s->busy = false;
		if (c->res == 0 || c->res == -ECONNRESET || cancelled(c->res)) {
			server_close(i);
			break;
		}
		if (c->res < 0)
			DIE("server recv: %s", rk_strerror(c->res));
		CHECK(c->flags & RK_CQE_F_BUFFER);
		int32_t chunk = (int32_t)(c->flags >> RK_CQE_BUFFER_SHIFT);
		memcpy(s->buf, rk_chunk_ptr(group, chunk), (size_t)c->res);
		CHECK(rk_ring_recycle_chunk(ring, group, chunk) == 0);
		s->len = (uint32_t)c->res;
		s->sent = 0;
		s->busy = true;
		server_send(i);
		break;
	}
	case K_SSEND: {
		struct server *s = &servers[i];
		if (cancelled(c->res) || c->res == -EPIPE || c->res == -ECONNRESET) {
			s->busy = false;
			server_close(i);
			break;
		}
		if (c->res < 0)
			DIE("server send: %s", rk_strerror(c->res));
		s->sent += (uint32_t)c->res;
		if (s->sent < s->len)
			server_send(i);
		else
			server_recv(i);
		break;
	}
	case K_SCLOSE:
		if (c->res < 0 && !cancelled(c->res))
			DIE("server close: %d", c->res);
		if (c->res < 0)
			close_if_open(servers[i].fd);
		servers[i].fd = -1;
		servers[i].closing = false;
		break;
	case K_TIMER:
		if (c->res != -ETIME && !cancelled(c->res))
			DIE("timer: %d", c->res);
		timers[i].busy = false;
		break;
	case K_LONG:
		if (c->res != -ECANCELED)
			DIE("long timer: %d", c->res);
		timers[i].long_id = -1;
		break;
	case K_LONG_REMOVE:
		if (c->res != 0 && c->res != -ENOENT && !cancelled(c->res))
			DIE("timeout_remove: %d", c->res);
		break;
	case K_PIPE_READ:
		if (c->res != -ECANCELED && c->res != -EINTR)
			DIE("pipe read: %d", c->res);
		cancels[i].live--;
		break;
	case K_LINK_TIMEOUT:
		/* -ENOENT: it fired while a cancel_all was taking the read. */
		if (c->res != -ETIME && c->res != -EALREADY && c->res != -ENOENT && !cancelled(c->res))
			DIE("link timeout: %d", c->res);
		cancels[i].live--;
		break;
	case K_CANCEL:
		if (c->res != 0 && c->res != -EALREADY && c->res != -ENOENT && !cancelled(c->res))
			DIE("cancel: %d", c->res);
		cancels[i].live--;
		break;
	}
}

static int reap(int64_t timeout_ns)
{
	rk_cqe c[128];
	int r = rk_reap(ring, c, 128, 1, timeout_ns);
	if (r == -EINTR) {
		eintr++;
		return 0;
	}
	if (r < 0)
		DIE("rk_reap: %s", rk_strerror(r));
	struct owner o[128];
	for (int k = 0; k < r; k++)
		o[k] = take(&c[k]);
	for (int k = 0; k < r; k++)
		complete(&c[k], o[k]);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Rings come and go                                                          */

static void new_ring(void)
{
	int r = rk_ring_create_ex(64, 0, 0, CAPACITY, 0, &ring);
	if (r < 0)
		DIE("rk_ring_create_ex: %s", rk_strerror(r));
	r = rk_ring_register_region(ring, fixed);
	if (r < 0 && r != -ENOMEM) /* RLIMIT_MEMLOCK: plain reads and writes then */
		DIE("register: %s", rk_strerror(r));
	CHECK(rk_ring_provide_region(ring, group, GROUP) == GROUP);
	rings_made++;
}

/* Closes the ring. With everything in flight (abrupt), or the way a
 * runtime does before closing: cancel everything and take every
 * completion. Either way every worker starts afresh on the next ring. */
static void drop_ring(bool abrupt)
{
	if (!abrupt) {
		stopping = true;
		for (int tries = 0;; tries++) {
			uint64_t st[RK_STAT_COUNT];
			CHECK(rk_ring_stats(ring, st, RK_STAT_COUNT) == RK_STAT_COUNT);
			if (!st[RK_STAT_INFLIGHT])
				break;
			if (tries % 50 == 0)
				rk_ring_cancel_all(ring);
			if (tries > 5000)
				DIE("%llu ops never completed", (unsigned long long)st[RK_STAT_INFLIGHT]);
			reap(10000000);
		}
		stopping = false;
	}
	CHECK(rk_ring_close(ring) == 0);
	ring = NULL;
	for (int i = 0; i < CAPACITY; i++)
		slots[i].kind = K_NONE;
	for (int i = 0; i < NFILE; i++)
		files[i].busy = false;
	for (int i = 0; i < NCLIENT; i++) {
		struct client *c = &clients[i];
		if (c->state == C_CLOSING)
			close_if_open(c->fd);
		else if (c->state != C_IDLE)
			close(c->fd);
		c->fd = -1;
		c->state = C_IDLE;
	}
	for (int i = 0; i < NSERVER; i++) {
		struct server *s = &servers[i];
		if (s->fd >= 0) {
			if (s->closing)
				close_if_open(s->fd);
			else
				close(s->fd);
		}
		s->fd = -1;
		s->closing = s->busy = false;
	}
	accepting = false;
	for (int i = 0; i < NTIMER; i++) {
		timers[i].busy = false;
		timers[i].long_id = -1;
	}
	for (int i = 0; i < NCANCEL; i++)
		cancels[i].live = 0;
}

/* ------------------------------------------------------------------------ */

static void print_line(const char *what, double t)
{
	printf("%-6s t=%6.1fs ops=%llu verified=%llu rss=%ldKiB fds=%d chunks=%lld rings=%llu "
	       "eintr=%llu ticks=%ld\n",
	       what, t, (unsigned long long)ops_done, (unsigned long long)verified, rss_kib(),
	       open_fds(), (long long)chunks_in_use(), (unsigned long long)rings_made,
	       (unsigned long long)eintr, (long)ticks);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	double seconds = 20;
	double max_growth = -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--max-rss-growth") == 0 && i + 1 < argc)
			max_growth = atof(argv[++i]);
		else
			seconds = atof(argv[i]);
	}
	signal(SIGPIPE, SIG_IGN);

	char path[] = "/tmp/ringkit-soak.XXXXXX";
	file_fd = mkstemp(path);
	CHECK(file_fd >= 0);
	unlink(path);
	CHECK(ftruncate(file_fd, (off_t)NFILE * 16 * CHUNK) == 0);
	CHECK(pipe2(pipe_fd, O_CLOEXEC) == 0);
	listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(addr);
	CHECK(bind(listener, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	CHECK(listen(listener, 128) == 0);
	CHECK(getsockname(listener, (struct sockaddr *)&addr, &alen) == 0);
	CHECK(rk_region_create(CHUNK, 2 * NFILE, 0, &fixed) == 0);
	CHECK(rk_region_create(GCHUNK, 64, 0, &group) == 0);

	/* The baseline: everything but the workload exists. */
	int fds0 = open_fds();
	int64_t chunks0 = chunks_in_use();
	double t0 = now();
	print_line("start", 0);

	for (int i = 0; i < NFILE; i++) {
		files[i].wchunk = rk_chunk_alloc(fixed);
		files[i].rchunk = rk_chunk_alloc(fixed);
		files[i].plain = malloc(CHUNK);
	}
	for (int i = 0; i < NSERVER; i++)
		servers[i].fd = -1;
	for (int i = 0; i < NCLIENT; i++)
		clients[i].fd = -1;
	for (int i = 0; i < NTIMER; i++)
		timers[i].long_id = -1;
	new_ring();

	struct sigaction sa = {.sa_handler = on_tick}; /* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 1000}, {0, 1000}};
	setitimer(ITIMER_REAL, &it, NULL);

	/* RSS settles once every region chunk has been touched and each kind
	 * of ring close has happened a few times: measure the growth after. */
	double warm = seconds / 10 > 10 ? seconds / 10 : seconds / 2 < 10 ? seconds / 2 : 10;

	/* Waits interrupted by the timer: a second ring whose one op never
	 * completes is waited on now and then, so rk_reap sleeps there. */
	CHECK(rk_ring_create(4, 0, &idle) == 0);
	static char never[8];
	CHECK(rk_prep_read(idle, pipe_fd[0], never, 8, -1, 0) >= 0);
	double next_idle = 0.05;
	long rss_warm = -1;
	double next_print = 10, next_recycle = 2.5;
	unsigned recycles = 0;
	for (;;) {
		double t = now() - t0;
		if (t >= seconds)
			break;
		if (rss_warm < 0 && t >= warm) {
			rss_warm = rss_kib();
			print_line("warm", t);
		}
		if (t >= next_print) {
			print_line("run", t);
			next_print += 10;
		}
		if (t >= next_recycle) {
			drop_ring(recycles++ % 2 == 0);
			new_ring();
			next_recycle += 2.5;
		}
		if (t >= next_idle) {
			rk_cqe c;
			int r = rk_reap(idle, &c, 1, 1, 3000000);
			if (r == -EINTR)
				eintr++;
			else if (r != 0)
				DIE("idle ring: %d", r);
			next_idle += 0.05;
		}
		kick();
		reap(5000000);
	}
	long rss_end = rss_kib();
	print_line("end", now() - t0);

	/* Tear down: settle everything, close the ring, give chunks back. */
	drop_ring(false);
	CHECK(rk_ring_close(idle) == 0);
	it = (struct itimerval){{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &it, NULL);
	for (int i = 0; i < NFILE; i++) {
		CHECK(rk_chunk_free(fixed, files[i].wchunk) == 0);
		CHECK(rk_chunk_free(fixed, files[i].rchunk) == 0);
		free(files[i].plain);
	}
	print_line("after", now() - t0);

	int fds1 = open_fds();
	int64_t chunks1 = chunks_in_use();
	double growth = rss_warm > 0 ? 100.0 * (double)(rss_end - rss_warm) / (double)rss_warm : 0;
	printf("summary: %.0f s, %llu ops (%.0f/s), %llu verified, %llu rings, %llu EINTR; "
	       "fds %d -> %d, chunks in use %lld -> %lld, RSS %ld KiB after warm-up -> %ld KiB "
	       "(%+.2f%%)\n",
	       seconds, (unsigned long long)ops_done, (double)ops_done / seconds,
	       (unsigned long long)verified, (unsigned long long)rings_made,
	       (unsigned long long)eintr, fds0, fds1, (long long)chunks0, (long long)chunks1,
	       rss_warm, rss_end, growth);
	int status = 0;
	if (fds1 != fds0) {
		printf("FAIL: %d fds more than at the start\n", fds1 - fds0);
		status = 1;
	}
	if (chunks1 != chunks0) {
		printf("FAIL: %lld chunks in use more than at the start\n", (long long)(chunks1 - chunks0));
		status = 1;
	}
	if (max_growth >= 0 && growth > max_growth) {
		printf("FAIL: RSS grew %.2f%% (limit %.2f%%)\n", growth, max_growth);
		status = 1;
	}
	if (!eintr || !ops_done)
		printf("note: %llu EINTR, %llu ops\n", (unsigned long long)eintr,
		       (unsigned long long)ops_done);
	CHECK(rk_region_destroy(fixed) == 0);
	CHECK(rk_region_destroy(group) == 0);
	close(listener);
	close(file_fd);
	close(pipe_fd[0]);
	close(pipe_fd[1]);
	return status;
}
