/*
 * ringkit-echo: a TCP echo server on ringkit.
 *
 *   ringkit-echo PORT       (0: any free port; binds 127.0.0.1 only)
 *
 * Prints "listening on 127.0.0.1:PORT" once ready; exits cleanly on SIGINT
 * or SIGTERM.
 *
 * One multishot accept takes every connection; each connection has one
 * multishot recv that fills chunks the kernel picks from a provided-buffer
 * region, so idle connections hold no memory. A received chunk is sent back
 * as is and recycled to the kernel when its send completed.
 *
 * Two things every io_uring server has to get right, done here:
 *   - At most one send in flight per connection: two sends on one socket
 *     can complete out of order when the first has to wait for room. Chunks
 *     that arrive meanwhile wait in the connection's queue.
 *   - Short sends resubmit the rest of the chunk; a recv that ends with
 *     -ENOBUFS (every chunk busy) is re-armed once chunks come back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/args.h"
#include "ringkit.h"

#define CHUNK_SIZE 4096
#define NCHUNKS    1024
#define GROUP      0
#define MAX_CONNS  4096

struct conn {
	int fd;               /* -1: unused */
	int recv_armed;       /* a multishot recv is live */
	int want_rearm;       /* its recv ended with -ENOBUFS */
	int eof;              /* no more data will come: close once drained */
	int sending;          /* a send is live */
	uint32_t sent;        /* bytes of the queue head already sent */
	int32_t queue[64];    /* chunks to send, in order; lengths in qlen */
	uint32_t qlen[64];
	uint32_t qhead, qcount;
};

/* What a live op is for, by op slot. */
enum op_kind { OP_NONE, OP_ACCEPT, OP_RECV, OP_SEND };
struct op_info {
	enum op_kind kind;
	int fd;
};

static rk_ring *ring;
static rk_region *region;
static struct conn conns[MAX_CONNS];
static struct op_info *ops;
static int listen_fd;
static int waiting_for_chunks; /* connections whose recv ended with -ENOBUFS */
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "ringkit-echo: %s: %s\n", what, rk_strerror(err));
	exit(1);
}

static void die_listen(int port)
{
	fprintf(stderr, "ringkit-echo: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
	exit(1);
}

static void track(int64_t id, enum op_kind kind, int fd)
{
	if (id < 0)
		die("queueing an op", (int)id);
	ops[(uint32_t)id] = (struct op_info){kind, fd};
}

static void arm_recv(struct conn *c)
{
	track(rk_prep_recv_multishot(ring, c->fd, GROUP, 0, 0), OP_RECV, c->fd);
	c->recv_armed = 1;
	if (c->want_rearm)
		waiting_for_chunks--;
	c->want_rearm = 0;
}

static void send_head(struct conn *c)
{
	uint32_t i = c->qhead;
	char *p = (char *)rk_chunk_ptr(region, c->queue[i]) + c->sent;
	track(rk_prep_send(ring, c->fd, p, c->qlen[i] - c->sent, MSG_NOSIGNAL, 0), OP_SEND, c->fd);
	c->sending = 1;
}

/* Closes a connection once nothing of it is in flight. Queued chunks go
 * back to the kernel. */
static void maybe_close(struct conn *c)
{
	if (!c->eof || c->recv_armed || c->sending)
		return;
	if (c->want_rearm)
		waiting_for_chunks--;
	while (c->qcount) {
		rk_ring_recycle_chunk(ring, region, c->queue[c->qhead]);
		c->qhead = (c->qhead + 1) % 64;
		c->qcount--;
	}
	close(c->fd);
	c->fd = -1;
}

static void on_accept(int32_t res, uint32_t flags)
{
	if (!(flags & RK_CQE_F_MORE) && !stopping) /* the multishot ended: re-arm */
		track(rk_prep_accept_multishot(ring, listen_fd, SOCK_CLOEXEC, 0), OP_ACCEPT, listen_fd);
	if (res < 0)
		return;
	if (res >= MAX_CONNS) {
		close(res);
		return;
	}
	struct conn *c = &conns[res];
	memset(c, 0, sizeof(*c));
	c->fd = res;
	arm_recv(c);
}

static void on_recv(struct conn *c, int32_t res, uint32_t flags)
{
	if (!(flags & RK_CQE_F_MORE))
		c->recv_armed = 0;
	if (res > 0) {
		int32_t chunk = (int32_t)(flags >> RK_CQE_BUFFER_SHIFT);
		if (c->qcount == 64 || c->eof) {
			/* The peer sends faster than it reads: drop it. shutdown
			 * ends the live recv, so the connection can close. */
			rk_ring_recycle_chunk(ring, region, chunk);
			if (!c->eof)
				shutdown(c->fd, SHUT_RDWR);
			c->eof = 1;
		} else {
			uint32_t tail = (c->qhead + c->qcount) % 64;
			c->queue[tail] = chunk;
			c->qlen[tail] = (uint32_t)res;
			c->qcount++;
			if (!c->sending)
				send_head(c);
		}
		if (!c->recv_armed && !c->eof)
			arm_recv(c); /* ended with data: the kernel ran out of chunks */
	} else if (res == -ENOBUFS) {
		c->want_rearm = 1;
		waiting_for_chunks++;
	} else if (!c->recv_armed) {
		c->eof = 1; /* 0: the peer closed; <0: reset or another error */
	}
	maybe_close(c);
}

static void on_send(struct conn *c, int32_t res)
{
	c->sending = 0;
	if (res < 0) {
		if (!c->eof)
			shutdown(c->fd, SHUT_RDWR); /* the peer is gone: end the recv too */
		c->eof = 1;
	} else {
		c->sent += (uint32_t)res;
		if (c->sent == c->qlen[c->qhead]) {
			rk_ring_recycle_chunk(ring, region, c->queue[c->qhead]);
			c->qhead = (c->qhead + 1) % 64;
			c->qcount--;
			c->sent = 0;
		}
		if (c->qcount && !c->eof)
			send_head(c);
	}
	maybe_close(c);
}

static int listen_on(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		die_listen(port);
	printf("listening on 127.0.0.1:%d\n", ntohs(sa.sin_port));
	fflush(stdout);
	return fd;
}

int main(int argc, char **argv)
{
	if (argc == 2 && arg_is_help(argv[1])) {
		printf("usage: ringkit-echo PORT\n"
		       "An echo server on 127.0.0.1:PORT (0: a free port, printed); SIGINT or SIGTERM stops it.\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: ringkit-echo PORT\n");
		return 2;
	}
	int port = arg_port("ringkit-echo", argv[1]);
	/* No SA_RESTART: the signal interrupts rk_reap with -EINTR. */
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int err = rk_ring_create(256, 0, &ring);
	if (err < 0)
		die("creating the ring", err);
	uint64_t st[RK_STAT_COUNT];
	rk_ring_stats(ring, st, RK_STAT_COUNT);
	ops = calloc(st[RK_STAT_CAPACITY], sizeof(*ops)); /* one entry per op slot */
	if (!ops)
		die("allocating", -ENOMEM);
	if ((err = rk_region_create(CHUNK_SIZE, NCHUNKS, 0, &region)) < 0 ||
	    (err = rk_ring_provide_region(ring, region, GROUP)) < 0)
		die("providing buffers", err);
	for (int i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;

	listen_fd = listen_on(port);
	track(rk_prep_accept_multishot(ring, listen_fd, SOCK_CLOEXEC, 0), OP_ACCEPT, listen_fd);

	rk_cqe cqes[128];
	struct op_info infos[128];
	while (!stopping) {
		int n = rk_reap(ring, cqes, 128, 1, -1);
		if (n == -EINTR)
			continue;
		if (n < 0)
			die("reaping", n);
		/* Look the whole batch up first: the slots of its final completions
		 * are free already, and the handlers' new ops may take them. */
		for (int i = 0; i < n; i++) {
			struct op_info *op = &ops[(uint32_t)cqes[i].id];
			infos[i] = *op;
			if (!(cqes[i].flags & RK_CQE_F_MORE))
				op->kind = OP_NONE;
		}
		int recycled = 0;
		for (int i = 0; i < n; i++) {
			struct op_info info = infos[i];
			switch (info.kind) {
			case OP_ACCEPT:
				on_accept(cqes[i].res, cqes[i].flags);
				break;
			case OP_RECV:
				on_recv(&conns[info.fd], cqes[i].res, cqes[i].flags);
				break;
			case OP_SEND:
				recycled = 1;
				on_send(&conns[info.fd], cqes[i].res);
				break;
			default:
				break;
			}
		}
		/* Chunks came back: connections that ran dry may receive again. */
		if (recycled && waiting_for_chunks)
			for (int i = 0; i < MAX_CONNS; i++)
				if (conns[i].fd >= 0 && conns[i].want_rearm && !conns[i].eof)
					arm_recv(&conns[i]);
	}

	/* Closing the ring cancels and waits for everything in flight. */
	rk_ring_close(ring);
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	close(listen_fd);
	rk_region_destroy(region);
	free(ops);
	fprintf(stderr, "ringkit-echo: stopped\n");
	return 0;
}
