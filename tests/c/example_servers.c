/* Drives the example servers as a client would.
 *
 *   example_servers echo|http|http-semantics COMMAND [ARG...]
 *
 * Starts the server (COMMAND ARG... 0: port 0), reads the port from the
 * first line it prints ("...listening on ...127.0.0.1:PORT"), checks its
 * answers over real loopback connections, then stops it with SIGTERM and
 * requires a clean exit (status 0) — under the sanitizers, a leak or an
 * error in the server fails this test.
 *   echo            the echo servers: round trips, a client that sends MiBs
 *                   before it reads (back-pressure, no drop), half-close
 *   http            the C server's keep-alive, pipelining and flood limit
 *   http-semantics  every HTTP server: 400 for what is not HTTP/1.x,
 *                   Connection: close, HTTP/1.0, answers owed at a FIN */
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>

#include "check.h"

static pid_t server;
static int port;

/* A failed check exits: the server must not outlive the test. */
static void kill_server(void)
{
	if (server > 0)
		kill(server, SIGKILL);
}

static void start(char **cmd)
{
	atexit(kill_server);
	int out[2];
	make_pipe(out);
	server = fork();
	CHECK(server >= 0);
	if (server == 0) {
		dup2(out[1], 1);
		close_pair(out);
		execvp(cmd[0], cmd);
		_exit(127);
	}
	close(out[1]);
	FILE *f = fdopen(out[0], "r");
	char line[128];
	CHECK(fgets(line, sizeof(line), f) != NULL);
	const char *at = strstr(line, "127.0.0.1:");
	CHECK(strstr(line, "listening on") != NULL && at != NULL);
	CHECK_EQ(sscanf(at, "127.0.0.1:%d", &port), 1);
	fclose(f);
}

static void stop(void)
{
	CHECK_EQ(kill(server, SIGTERM), 0);
	int status;
	CHECK_EQ(waitpid(server, &status, 0), server);
	server = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "server ended with status %#x\n", status);
		exit(1);
	}
}

static int dial(void)
{
	struct sockaddr_in sa = loopback((uint16_t)port);
	int fd = tcp_connect(&sa);
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

/* A client that writes MiBs before it reads anything: the server stops
 * reading from it (back-pressure) instead of dropping it, and every byte
 * comes back in order once the client reads. */
static void test_echo_flood(void)
{
	enum { FLOOD = 8 << 20 };
	unsigned char *data = malloc(FLOOD), *back = malloc(FLOOD);
	CHECK(data && back);
	fill_pattern(data, FLOOD, 0, 3);
	int fd = dial();
	size_t w = 0, r = 0;
	/* Write until done or the server has stopped taking bytes for a while. */
	while (w < FLOOD) {
		ssize_t n = send(fd, data + w, FLOOD - w, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			w += (size_t)n;
			continue;
		}
		CHECK(n < 0 && errno == EAGAIN);
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, 300) == 0)
			break;
	}
	/* Far more than a connection's queue in the server: the rest sits in
	 * the sockets' buffers while the server waits. */
	CHECK(w >= 1 << 20);
	/* Now read it all back, writing the rest meanwhile. */
	while (r < FLOOD) {
		struct pollfd p = {.fd = fd, .events = POLLIN | (w < FLOOD ? POLLOUT : 0)};
		CHECK(poll(&p, 1, 10000) > 0);
		if ((p.revents & POLLOUT) && w < FLOOD) {
			ssize_t n = send(fd, data + w, FLOOD - w, MSG_DONTWAIT | MSG_NOSIGNAL);
			CHECK(n > 0 || errno == EAGAIN);
			if (n > 0)
				w += (size_t)n;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(fd, back + r, FLOOD - r, MSG_DONTWAIT);
			if (n <= 0)
				fprintf(stderr, "echo flood: the server ended the connection after "
				                "%zu of %zu bytes back\n", r, w);
			CHECK(n > 0);
			r += (size_t)n;
		}
	}
	CHECK(memcmp(back, data, FLOOD) == 0);
	/* A half-close with bytes unread by the server: they come back, then EOF. */
	write_all(fd, data, 100000);
	CHECK_EQ(shutdown(fd, SHUT_WR), 0);
	read_exact(fd, back, 100000);
	CHECK(memcmp(back, data, 100000) == 0);
	char b;
	CHECK_EQ(read(fd, &b, 1), 0);
	close(fd);
	free(data);
	free(back);
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
	test_echo_flood();
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
#define REQ_TEXT "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n"
static const char REQ[] = REQ_TEXT;
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

/* Responses read one at a time from a connection, pipelined ones too. */
struct reader {
	int fd;
	size_t len;
	char buf[1 << 16];
};

struct response {
	int code;
	int close;     /* it carries "Connection: close" */
	char body[64];
};

/* Reads the next response; 0 at EOF before its first byte. */
static int next_response(struct reader *rd, struct response *out)
{
	char *end;
	while (!(end = memmem(rd->buf, rd->len, "\r\n\r\n", 4))) {
		CHECK(rd->len < sizeof(rd->buf));
		ssize_t n = read(rd->fd, rd->buf + rd->len, sizeof(rd->buf) - rd->len);
		if (n < 0 && errno == ECONNRESET && rd->len == 0)
			return 0; /* closed with our unread requests: the kernel resets */
		CHECK(n >= 0); /* a timeout fails here */
		if (n == 0) {
			CHECK_EQ(rd->len, 0); /* no partial response */
			return 0;
		}
		rd->len += (size_t)n;
	}
	size_t head = (size_t)(end - rd->buf) + 4;
	char h[4096];
	CHECK(head < sizeof(h));
	for (size_t i = 0; i < head; i++) /* header names are case-insensitive */
		h[i] = (char)(rd->buf[i] >= 'A' && rd->buf[i] <= 'Z' ? rd->buf[i] + 32 : rd->buf[i]);
	h[head] = '\0';
	CHECK_EQ(sscanf(h, "http/1.1 %d ", &out->code), 1);
	const char *cl = strstr(h, "\r\ncontent-length:");
	CHECK(cl != NULL);
	size_t body = strtoul(cl + 17, NULL, 10);
	CHECK(body < sizeof(out->body));
	out->close = strstr(h, "\r\nconnection: close\r\n") != NULL;
	while (rd->len < head + body) {
		ssize_t n = read(rd->fd, rd->buf + rd->len, sizeof(rd->buf) - rd->len);
		CHECK(n > 0);
		rd->len += (size_t)n;
	}
	memcpy(out->body, rd->buf + head, body);
	out->body[body] = '\0';
	memmove(rd->buf, rd->buf + head + body, rd->len - head - body);
	rd->len -= head + body;
	return 1;
}

static struct reader *open_reader(void)
{
	struct reader *rd = calloc(1, sizeof(*rd));
	CHECK(rd != NULL);
	rd->fd = dial();
	return rd;
}

static void close_reader(struct reader *rd)
{
	close(rd->fd);
	free(rd);
}

/* The next response has this code, says Connection: close when the server
 * closes after it, and a 200 says hello. */
static void expect_code(struct reader *rd, int code, int then_close, const char *what)
{
	struct response r;
	if (!next_response(rd, &r)) {
		fprintf(stderr, "%s: the connection ended before a response\n", what);
		exit(1);
	}
	if (r.code != code || (then_close && !r.close) || (code == 200 && strcmp(r.body, "Hello, world!\n"))) {
		fprintf(stderr, "%s: got %d%s, expected %d%s\n", what, r.code,
		        r.close ? " (Connection: close)" : "", code, then_close ? " (Connection: close)" : "");
		exit(1);
	}
}

static void expect_eof(struct reader *rd, const char *what)
{
	struct response r;
	if (next_response(rd, &r)) {
		fprintf(stderr, "%s: a response (%d) where the server should have closed\n", what,
		        r.code);
		exit(1);
	}
}

/* One connection: send req, expect `codes` (0 ends the list), then EOF when
 * the last one closes, else a connection that still answers. */
static void exchange(const char *req, const int *codes, int closes, const char *what)
{
	struct reader *rd = open_reader();
	write_all(rd->fd, req, strlen(req));
	for (int i = 0; codes[i]; i++)
		expect_code(rd, codes[i], closes && !codes[i + 1], what);
	if (closes) {
		expect_eof(rd, what);
	} else {
		expect_quiet(rd->fd);
		write_all(rd->fd, REQ, REQ_LEN);
		expect_code(rd, 200, 0, what);
	}
	close_reader(rd);
}

static void test_http_semantics(void)
{
	static const int bad[] = {400, 0}, ok[] = {200, 0}, two[] = {200, 200, 0},
	                 ok_bad[] = {200, 400, 0};
	/* Not HTTP/1.x: 400, then the server closes. */
	exchange("garbage\r\n\r\n", bad, 1, "garbage");
	exchange("GET / HTTP/2.0\r\nHost: x\r\n\r\n", bad, 1, "HTTP/2.0");
	exchange("GET /\r\n\r\n", bad, 1, "no version");
	exchange("GET / HTTP/1.1 extra\r\n\r\n", bad, 1, "a word after the version");
	exchange(" HTTP/1.1\r\n\r\n", bad, 1, "no method");
	exchange("GET / HTTP/1.1\r\n\r\ngarbage\r\n\r\n", ok_bad, 1, "a request, then garbage");
	/* Connection: close, in any case, ends the connection after its answer;
	 * what was pipelined after it is not answered. */
	exchange("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", ok, 1, "Connection: close");
	exchange("GET / HTTP/1.1\r\nconnection:Close\r\n\r\n", ok, 1, "connection:Close");
	exchange("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nCONNECTION: close\r\n\r\n" REQ_TEXT, two, 1,
	         "pipelined, then Connection: close");
	/* Headers that only look alike keep the connection. */
	exchange("GET / HTTP/1.1\r\nCache-Control: close\r\nX-Connection: close\r\n"
	         "Content-Type: close\r\n\r\n", ok, 0, "look-alike headers");
	exchange("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", ok, 0, "1.1 keep-alive");
	/* HTTP/1.0: closes after the answer unless it asks for keep-alive. */
	exchange("GET / HTTP/1.0\r\n\r\n", ok, 1, "HTTP/1.0");
	exchange("GET / HTTP/1.0\r\nHost: x\r\n\r\nGET / HTTP/1.0\r\n\r\n", ok, 1,
	         "pipelined HTTP/1.0");
	exchange("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", ok, 0, "HTTP/1.0 keep-alive");
	/* The same after plain requests (servers may take a shortcut for a
	 * run of requests they have seen before). */
	exchange(REQ_TEXT REQ_TEXT "GET / HTTP/1.1\r\nConnection: close\r\n\r\n" REQ_TEXT,
	         (const int[]){200, 200, 200, 0}, 1, "plain requests, then Connection: close");
	exchange(REQ_TEXT REQ_TEXT "garbage\r\n\r\n", (const int[]){200, 200, 400, 0}, 1,
	         "plain requests, then garbage");
	exchange(REQ_TEXT "GET / HTTP/1.0\r\n\r\n", two, 1, "a plain request, then HTTP/1.0");
	/* A half-close with requests unanswered: every answer, then EOF. */
	struct reader *rd = open_reader();
	static char many[REQ_LEN * 50];
	for (int i = 0; i < 50; i++)
		memcpy(many + i * REQ_LEN, REQ, REQ_LEN);
	write_all(rd->fd, many, sizeof(many));
	CHECK_EQ(shutdown(rd->fd, SHUT_WR), 0);
	for (int i = 0; i < 50; i++)
		expect_code(rd, 200, 0, "answers owed at a half-close");
	expect_eof(rd, "after a half-close");
	close_reader(rd);
	/* A half-close inside a request: no answer, EOF. */
	rd = open_reader();
	write_all(rd->fd, REQ, REQ_LEN - 2);
	CHECK_EQ(shutdown(rd->fd, SHUT_WR), 0);
	expect_eof(rd, "half a request, then a half-close");
	close_reader(rd);
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 30)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	char *cmd[32];
	for (int i = 2; i < argc; i++)
		cmd[i - 2] = argv[i];
	cmd[argc - 2] = "0";
	cmd[argc - 1] = NULL;
	start(cmd);
	if (strcmp(argv[1], "echo") == 0)
		test_echo();
	else if (strcmp(argv[1], "http") == 0)
		test_http();
	else if (strcmp(argv[1], "http-semantics") == 0)
		test_http_semantics();
	else
		return 2;
	stop();
	return 0;
}
