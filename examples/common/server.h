/* The plumbing the C server examples share, so that each of them shows only
 * what its protocol does with completions: the command line, signals, the
 * listening socket, the op table and the reap of a batch.
 *
 * Define SERVER_NAME (the program's name, for messages) before including. */
#ifndef RK_EXAMPLE_SERVER_H
#define RK_EXAMPLE_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "args.h"
#include "ringkit.h"

static volatile sig_atomic_t stopping;

/* What a live op is for, by op slot; kind 0 is "nothing". */
struct op_info {
	uint32_t kind;
	int32_t fd;
};

static struct op_info *ops; /* by op slot: server_setup makes it */

static void die(const char *what, int err)
{
	fprintf(stderr, SERVER_NAME ": %s: %s\n", what, rk_strerror(err));
	exit(1);
}

/* Files a prepared op under its slot; a prep that failed ends the server. */
static int64_t track(int64_t id, uint32_t kind, int fd)
{
	if (id < 0)
		die("queueing an op", (int)id);
	ops[(uint32_t)id] = (struct op_info){kind, fd};
	return id;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* PORT from the command line (exits on --help and on a usage error), and the
 * signals set up: no SA_RESTART, so that a signal interrupts rk_reap with
 * -EINTR; SIGPIPE ignored, so a peer that left fails a send instead. */
static int server_start(int argc, char **argv, const char *what)
{
	if (argc == 2 && arg_is_help(argv[1])) {
		printf("usage: " SERVER_NAME " PORT\n%s on 127.0.0.1:PORT (0: a free port, printed); "
		       "SIGINT or SIGTERM stops it.\n",
		       what);
		exit(0);
	}
	if (argc != 2) {
		fprintf(stderr, "usage: " SERVER_NAME " PORT\n");
		exit(2);
	}
	int port = arg_port(SERVER_NAME, argv[1]);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return port;
}

/* A listening TCP socket on 127.0.0.1:port; prints the port it got. With
 * nodelay, the accepted sockets inherit TCP_NODELAY. */
static int server_listen(int port, int backlog, int nodelay)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (nodelay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, backlog) < 0 || getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		fprintf(stderr, SERVER_NAME ": cannot listen on 127.0.0.1:%d: %s\n", port,
		        strerror(errno));
		exit(1);
	}
	printf("listening on 127.0.0.1:%d\n", ntohs(sa.sin_port));
	fflush(stdout);
	return fd;
}

/* ops, one entry per op slot of the ring, and a region of chunks provided to
 * it as buffer group `group`. */
static void server_setup(rk_ring *ring, uint32_t chunk_size, uint32_t nchunks, uint16_t group,
                         rk_region **region)
{
	uint64_t st[RK_STAT_COUNT];
	rk_ring_stats(ring, st, RK_STAT_COUNT);
	ops = calloc(st[RK_STAT_CAPACITY], sizeof(*ops));
	if (!ops)
		die("allocating", -ENOMEM);
	int err;
	if ((err = rk_region_create(chunk_size, nchunks, 0, region)) < 0 ||
	    (err = rk_ring_provide_region(ring, *region, group)) < 0)
		die("providing buffers", err);
}

/* The multishot accept on listen_fd, filed as op kind `kind`. */
static void server_accept(rk_ring *ring, int listen_fd, uint32_t kind)
{
	track(rk_prep_accept_multishot(ring, listen_fd, SOCK_CLOEXEC, 0), kind, listen_fd);
}

/* An accept's completion: re-arms the multishot accept if the kernel ended it
 * (unless stopping), and returns the new connection's fd, or -1 when there is
 * none to serve (an error; an fd of max_conns or more, closed here: the
 * servers index their connections by fd). */
static int server_accepted(rk_ring *ring, int listen_fd, uint32_t kind, int32_t res,
                           uint32_t flags, int max_conns)
{
	if (!(flags & RK_CQE_F_MORE) && !stopping)
		server_accept(ring, listen_fd, kind);
	if (res < 0)
		return -1;
	if (res >= max_conns) {
		close(res);
		return -1;
	}
	return res;
}

/* Waits for a batch of completions and looks each one's op up into infos[i]
 * (0 when a signal came first). The whole batch is looked up before any is
 * handled: the slots of its final completions are free already, and the
 * handlers' new ops may take them. */
static int server_reap(rk_ring *ring, rk_cqe *cqes, struct op_info *infos, unsigned max)
{
	int n = rk_reap(ring, cqes, max, 1, -1);
	if (n == -EINTR)
		return 0;
	if (n < 0)
		die("reaping", n);
	for (int i = 0; i < n; i++) {
		struct op_info *op = &ops[(uint32_t)cqes[i].id];
		infos[i] = *op;
		if (!(cqes[i].flags & RK_CQE_F_MORE))
			op->kind = 0;
	}
	return n;
}

#endif
