/* ringkit-echo-load HOST PORT CONNS SIZE SECONDS: the load generator of
 * bench/python/loops.sh's echo servers. CONNS connections, each sending a
 * SIZE-byte message and reading its echo back before sending the next, for
 * SECONDS seconds; every echoed byte is compared with what was sent. Prints
 * "key value" lines (connections, size, seconds, messages, errors,
 * messages/s, MB/s); exits 0 when there was no error.
 *
 * Plain epoll and nonblocking sockets, one thread, nothing of ringkit: the
 * same client for every server and loop. A message is written while its echo
 * is read (a 100 KiB message does not fit the socket buffers: writing it all
 * first would deadlock with a server that echoes as it reads). Each message
 * is a different window of a random pattern, so an echo of an earlier
 * message, a reordering or a stray byte does not compare equal.
 *
 * Errors: a connection that fails to connect, is reset or closed by the
 * server, echoes a byte that differs or more bytes than were sent, or
 * completes no message in the whole run. A failed connection is closed and
 * not replaced. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WINDOWS 251 /* distinct message windows in the pattern (a prime) */

struct conn {
	int fd;
	int connected;
	int writing;      /* EPOLLOUT wanted */
	size_t sent, got; /* of the current message */
	uint64_t seq;     /* messages completed */
};

static unsigned char *pattern, *scratch;
static size_t size;
static uint64_t errors;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const unsigned char *message(const struct conn *c, size_t i)
{
	return pattern + (c->seq * 7 + i) % WINDOWS;
}

static void fail(int ep, struct conn *c, size_t i, const char *why, int err)
{
	if (errors < 5)
		fprintf(stderr, "echo_load: connection %zu: %s%s%s\n", i, why, err ? ": " : "",
		        err ? strerror(err) : "");
	errors++;
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

static int want(int ep, struct conn *c, size_t i, int writing)
{
	if (c->writing == writing)
		return 0;
	struct epoll_event ev = {.events = EPOLLIN | (writing ? EPOLLOUT : 0), .data.u64 = i};
	c->writing = writing;
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what the socket takes of the current message. */
static void send_some(int ep, struct conn *c, size_t i)
{
	const unsigned char *msg = message(c, i);
	while (c->sent < size) {
		ssize_t n = send(c->fd, msg + c->sent, size - c->sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			fail(ep, c, i, "send", errno);
			return;
		}
		c->sent += (size_t)n;
	}
	if (want(ep, c, i, c->sent < size) < 0)
		fail(ep, c, i, "epoll_ctl", errno);
}

/* Reads and checks what has come back; starts the next message when the
 * echo is complete and the run goes on. */
static void recv_some(int ep, struct conn *c, size_t i, int more)
{
	for (;;) {
		ssize_t n = recv(c->fd, scratch, size, 0);
		if (n == 0) {
			fail(ep, c, i, "closed by the server", 0);
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			fail(ep, c, i, "recv", errno);
			return;
		}
		if (c->got + (size_t)n > c->sent) {
			fail(ep, c, i, "more bytes echoed than sent", 0);
			return;
		}
		if (memcmp(scratch, message(c, i) + c->got, (size_t)n) != 0) {
			fail(ep, c, i, "echoed bytes differ from those sent", 0);
			return;
		}
		c->got += (size_t)n;
		if (c->got == size) {
			c->seq++;
			c->sent = c->got = 0;
			if (!more)
				return;
			send_some(ep, c, i);
			if (c->fd < 0)
				return;
		}
	}
}

static int parse(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	long port, nconns, lsize, seconds;
	struct sockaddr_in addr = {.sin_family = AF_INET};
	if (argc != 6 || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 ||
	    parse(argv[2], 1, 65535, &port) || parse(argv[3], 1, 10000, &nconns) ||
	    parse(argv[4], 1, 64L << 20, &lsize) || parse(argv[5], 1, 3600, &seconds)) {
		fprintf(stderr, "usage: %s HOST PORT CONNS SIZE SECONDS (HOST: IPv4 address)\n",
		        argv[0]);
		return 2;
	}
	addr.sin_port = htons((uint16_t)port);
	size = (size_t)lsize;
	pattern = malloc(size + WINDOWS);
	scratch = malloc(size);
	struct conn *conns = calloc((size_t)nconns, sizeof(*conns));
	struct epoll_event *events = calloc((size_t)nconns, sizeof(*events));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!pattern || !scratch || !conns || !events || ep < 0) {
		perror("echo_load: setup");
		return 1;
	}
	srand(1);
	for (size_t k = 0; k < size + WINDOWS; k++)
		pattern[k] = (unsigned char)(rand() >> 7);

	for (size_t i = 0; i < (size_t)nconns; i++) {
		struct conn *c = &conns[i];
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			perror("echo_load: socket");
			return 1;
		}
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 && errno != EINPROGRESS) {
			fail(ep, c, i, "connect", errno);
			continue;
		}
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = i};
		c->writing = 1;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			fail(ep, c, i, "epoll_ctl", errno);
	}

	double start = now(), end = start + (double)seconds;
	for (;;) {
		double left = end - now();
		if (left <= 0)
			break;
		int n = epoll_wait(ep, events, (int)nconns, (int)(left * 1000) + 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("echo_load: epoll_wait");
			return 1;
		}
		int more = now() < end;
		for (int k = 0; k < n; k++) {
			size_t i = (size_t)events[k].data.u64;
			struct conn *c = &conns[i];
			if (c->fd < 0)
				continue;
			if (!c->connected) {
				int err = 0;
				socklen_t len = sizeof(err);
				if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
					err = errno;
				if (err) {
					fail(ep, c, i, "connect", err);
					continue;
				}
				if (!(events[k].events & (EPOLLOUT | EPOLLIN)))
					continue;
				c->connected = 1;
				if (more)
					send_some(ep, c, i);
				continue;
			}
			if (events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				recv_some(ep, c, i, more);
			if (c->fd >= 0 && (events[k].events & EPOLLOUT) && c->sent < size && more)
				send_some(ep, c, i);
		}
	}
	double elapsed = now() - start;

	uint64_t messages = 0;
	for (size_t i = 0; i < (size_t)nconns; i++) {
		struct conn *c = &conns[i];
		messages += c->seq;
		if (c->fd >= 0 && c->seq == 0)
			fail(ep, c, i, "completed no message in the run", 0);
		else if (c->fd >= 0)
			close(c->fd);
	}
	printf("connections %ld\nsize %zu\nseconds %.3f\nmessages %llu\nerrors %llu\n"
	       "messages/s %.1f\nMB/s %.1f\n",
	       nconns, size, elapsed, (unsigned long long)messages, (unsigned long long)errors,
	       (double)messages / elapsed, (double)messages * (double)size / elapsed / 1e6);
	return errors ? 1 : 0;
}
