/* Drives the example servers as a client would.
 *
 *   example_servers SERVER_BINARY echo|http
 *
 * Starts the server on port 0, reads the port it printed, checks its
 * answers over real loopback connections, then stops it with SIGTERM and
 * requires a clean exit (status 0) — under the sanitizers, a leak or an
 * error in the server fails this test. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "check.h"

static pid_t server;
static int port;

static void start(const char *binary)
{
	int out[2];
	CHECK_EQ(pipe(out), 0);
	server = fork();
	CHECK(server >= 0);
	if (server == 0) {
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execl(binary, binary, "0", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	FILE *f = fdopen(out[0], "r");
	char line[128];
	CHECK(fgets(line, sizeof(line), f) != NULL);
	CHECK_EQ(sscanf(line, "listening on 127.0.0.1:%d", &port), 1);
	fclose(f);
}

static void stop(void)
{
	CHECK_EQ(kill(server, SIGTERM), 0);
	int status;
	CHECK_EQ(waitpid(server, &status, 0), server);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "server ended with status %#x\n", status);
		exit(1);
	}
}

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                         .sin_addr = {htonl(INADDR_LOOPBACK)}};
	CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	int one = 1;
	CHECK_EQ(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	struct timeval tv = {.tv_sec = 10};
	CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

static void write_all(int fd, const void *buf, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, (const char *)buf + off, len - off);
		CHECK(w > 0);
		off += (size_t)w;
	}
}

static void read_exact(int fd, void *buf, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t r = read(fd, (char *)buf + off, len - off);
		CHECK(r > 0); /* a timeout or early close fails here */
		off += (size_t)r;
	}
}

/* Nothing more arrives within a short while. */
static void expect_quiet(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 100), 0);
}

static void test_echo(void)
{
	enum { CONNS = 8, PIECE = 8192, TOTAL = 200000 };
	static unsigned char data[TOTAL], back[TOTAL];
	fill_pattern(data, TOTAL, 0, 1);
	int fds[CONNS];
	for (int i = 0; i < CONNS; i++)
		fds[i] = dial();
	/* Round robin over the connections, one piece at a time, each piece
	 * echoed whole before the next; piece sizes vary down to one byte. */
	size_t off[CONNS] = {0};
	for (int round = 0; off[0] < TOTAL; round++) {
		for (int i = 0; i < CONNS; i++) {
			size_t len = (size_t)(round % 5 == 0 ? 1 : PIECE / (1 + i % 3));
			if (len > TOTAL - off[i])
				len = TOTAL - off[i];
			if (len == 0)
				continue;
			write_all(fds[i], data + off[i], len);
			read_exact(fds[i], back + off[i], len);
			CHECK(memcmp(back + off[i], data + off[i], len) == 0);
			off[i] += len;
		}
	}
	expect_quiet(fds[0]);
	/* One big write echoed back while we still write: read concurrently. */
	int fd = fds[1];
	size_t w = 0, r = 0;
	while (r < TOTAL) {
		struct pollfd p = {.fd = fd, .events = POLLIN | (w < TOTAL ? POLLOUT : 0)};
		CHECK(poll(&p, 1, 10000) > 0);
		if ((p.revents & POLLOUT) && w < TOTAL) {
			ssize_t n = send(fd, data + w, TOTAL - w, MSG_DONTWAIT);
			CHECK(n > 0 || errno == EAGAIN);
			if (n > 0)
				w += (size_t)n;
		}
		if (p.revents & POLLIN) {
			ssize_t n = recv(fd, back + r, TOTAL - r, MSG_DONTWAIT);
			CHECK(n > 0);
			r += (size_t)n;
		}
	}
	CHECK(memcmp(back, data, TOTAL) == 0);
	/* A half-close ends the echo: the server closes its side. */
	for (int i = 0; i < CONNS; i++) {
		CHECK_EQ(shutdown(fds[i], SHUT_WR), 0);
		char b;
		CHECK_EQ(read(fds[i], &b, 1), 0);
		close(fds[i]);
	}
	/* A reset connection does not disturb the server. */
	fd = dial();
	write_all(fd, "x", 1);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
	fd = dial();
	write_all(fd, "still here", 10);
	read_exact(fd, back, 10);
	CHECK(memcmp(back, "still here", 10) == 0);
	close(fd);
}

static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n"
                           "\r\nHello, world!\n";
#define RESP_LEN (sizeof(RESP) - 1)
static const char REQ[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n";
#define REQ_LEN (sizeof(REQ) - 1)

static void expect_responses(int fd, int n)
{
	char buf[RESP_LEN];
	for (int i = 0; i < n; i++) {
		read_exact(fd, buf, RESP_LEN);
		CHECK(memcmp(buf, RESP, RESP_LEN) == 0);
	}
}

static void test_http(void)
{
	/* One request, one response, and the connection stays open. */
	int fd = dial();
	write_all(fd, REQ, REQ_LEN);
	expect_responses(fd, 1);
	expect_quiet(fd);
	write_all(fd, REQ, REQ_LEN);
	expect_responses(fd, 1);

	/* 100 pipelined requests in one write. */
	static char many[REQ_LEN * 100];
	for (int i = 0; i < 100; i++)
		memcpy(many + i * REQ_LEN, REQ, REQ_LEN);
	write_all(fd, many, sizeof(many));
	expect_responses(fd, 100);
	expect_quiet(fd);

	/* A request dribbled in byte by byte, the end marker split too. */
	for (size_t i = 0; i < REQ_LEN; i++) {
		write_all(fd, REQ + i, 1);
		if (i + 1 < REQ_LEN && i % 7 == 0)
			expect_quiet(fd);
	}
	expect_responses(fd, 1);
	/* Pipelined requests whose boundaries straddle writes. */
	write_all(fd, many, REQ_LEN * 2 + 3);
	expect_responses(fd, 2);
	write_all(fd, many + REQ_LEN * 2 + 3, REQ_LEN * 3 - 3);
	expect_responses(fd, 3);
	expect_quiet(fd);
	close(fd);

	/* Many connections, each several requests in a row. */
	int fds[50];
	for (int i = 0; i < 50; i++)
		fds[i] = dial();
	for (int round = 0; round < 20; round++)
		for (int i = 0; i < 50; i++) {
			write_all(fds[i], REQ, REQ_LEN);
			expect_responses(fds[i], 1);
		}
	for (int i = 0; i < 50; i++)
		close(fds[i]);

	/* Pipelining a lot without reading gets the client dropped, never
	 * the server stuck: once the server owes too much it closes, so the
	 * client's reads end (after the responses that made it) instead of
	 * timing out; afterwards the server still answers others. */
	fd = dial();
	static char flood[REQ_LEN * 1000];
	for (int i = 0; i < 1000; i++)
		memcpy(flood + i * REQ_LEN, REQ, REQ_LEN);
	for (int stalls = 0; stalls < 3;) {
		ssize_t n = send(fd, flood, sizeof(flood), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN)
			break; /* reset: dropped */
		if (n < 0) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			stalls += poll(&p, 1, 200) == 0;
		}
	}
	static char sink[1 << 16];
	ssize_t r;
	while ((r = read(fd, sink, sizeof(sink))) > 0)
		;
	CHECK(r == 0 || errno == ECONNRESET);
	close(fd);
	fd = dial();
	write_all(fd, REQ, REQ_LEN);
	expect_responses(fd, 1);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	start(argv[1]);
	if (strcmp(argv[2], "echo") == 0)
		test_echo();
	else if (strcmp(argv[2], "http") == 0)
		test_http();
	else
		return 2;
	stop();
	return 0;
}
