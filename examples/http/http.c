/*
 * ringkit-http: a minimal HTTP/1.1 keep-alive server on ringkit, answering
 * every request with the same small response ("Hello, world!\n").
 *
 *   ringkit-http PORT       (0: any free port; binds 127.0.0.1 only)
 *
 * Prints "listening on 127.0.0.1:PORT" once ready; exits cleanly on SIGINT
 * or SIGTERM.
 *
 * The shape of a fast io_uring server, in as little code as it takes:
 *   - one multishot accept for all connections;
 *   - one multishot recv per connection from a provided-buffer region: idle
 *     connections hold no buffer, and a chunk goes back to the kernel as
 *     soon as it was parsed;
 *   - requests end at an empty line (bodies are not supported); the parser
 *     keeps its state across chunks, so a request split over reads or many
 *     pipelined in one read are both counted exactly. It reads no more of
 *     a request than it needs: the request line's last word (HTTP/1.x, or
 *     400 Bad Request and close), and of the header lines only those that
 *     start with C, looking for Connection: close / keep-alive (HTTP/1.0
 *     closes after its answer unless it asks for keep-alive); the rest of
 *     a header line is skipped with memchr;
 *   - responses are all the same bytes, so what a connection owes is just a
 *     byte count, sent from one static buffer of repeated responses; one send
 *     in flight per connection keeps them in order, and a short send simply
 *     leaves the rest owed. An answer after which the connection closes
 *     (Connection: close, HTTP/1.0, 400) is sent once the owed ones left;
 *   - a client that half-closes gets every answer it asked for before its
 *     FIN; then the server closes.
 */
#define SERVER_NAME "ringkit-http"
#include "../common/server.h"

#define CHUNK_SIZE 4096
#define NCHUNKS    1024
#define GROUP      0
#define MAX_CONNS  65536
#define MAX_OWED   (1u << 20) /* a client that pipelines this much without reading is dropped */
#define REPEAT     64

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 14\r\n"
                               "\r\n"
                               "Hello, world!\n";
#define RESP_LEN (sizeof(RESPONSE) - 1)

/* The answers after which the connection closes. */
enum final { FINAL_NONE, FINAL_OK, FINAL_BAD };
static const char *const FINALS[] = {
	"",
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n"
	"Connection: close\r\n\r\nHello, world!\n",
	"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
};

/* Where in a request head the bytes so far end. */
enum parse_state {
	P_START,   /* before a request line (empty lines there are ignored) */
	P_LINE,    /* in the request line */
	P_HEADER,  /* at the start of a header line */
	P_END_CR,  /* after the \r of the empty line */
	P_NAME,    /* matching "connection:" */
	P_SPACE,   /* before its value */
	P_VALUE,   /* matching "close" / "keep-alive" */
	P_SKIP,    /* in a header line of no interest */
};
#define V_CLOSE 1u
#define V_KEEP  2u

struct conn {
	int fd;            /* -1: unused */
	uint8_t recv_armed, want_rearm, closing, sending;
	uint8_t peer_done; /* the peer half-closed: close once the answers left */
	uint8_t final;     /* enum final: the last answer, once the owed ones left */
	uint8_t state;     /* enum parse_state */
	uint8_t pos;       /* bytes of the word being matched so far */
	uint8_t spaces;    /* in the request line (capped) */
	uint8_t cands;     /* V_*: the values the one being read may still be */
	uint8_t http10, close_tok, keep_tok;
	uint8_t before;    /* the request line's byte before the last 8 */
	uint64_t last8;    /* its last 8 bytes, the latest lowest */
	uint32_t owed;     /* response bytes not yet sent */
	uint32_t offset;   /* position in the response of the next byte to send */
	uint32_t final_sent;
};

/* What a live op is for (struct op_info's kind). */
enum op_kind { OP_NONE, OP_ACCEPT, OP_RECV, OP_SEND };

static rk_ring *ring;
static rk_region *region;
static struct conn *conns;
static char responses[RESP_LEN * REPEAT];
static int listen_fd, waiting_for_chunks;

static void arm_recv(struct conn *c)
{
	track(rk_prep_recv_multishot(ring, c->fd, GROUP, 0, 0), OP_RECV, c->fd);
	c->recv_armed = 1;
	if (c->want_rearm)
		waiting_for_chunks--;
	c->want_rearm = 0;
}

/* Sends what is owed: the repeated responses first, then the final one. */
static void send_owed(struct conn *c)
{
	const char *p;
	uint32_t len;
	if (c->owed) {
		p = responses + c->offset;
		len = (uint32_t)sizeof(responses) - c->offset;
		if (len > c->owed)
			len = c->owed;
	} else {
		p = FINALS[c->final] + c->final_sent;
		len = (uint32_t)strlen(p);
	}
	track(rk_prep_send(ring, c->fd, p, len, MSG_NOSIGNAL, 0), OP_SEND, c->fd);
	c->sending = 1;
}

static int owes(const struct conn *c)
{
	return c->owed || (c->final && FINALS[c->final][c->final_sent]);
}

/* Starts closing: shutdown ends the live recv (and fails a live send), and
 * the fd is closed once neither is in flight, so no op ever names an fd
 * number that may already belong to a new connection. */
static void start_close(struct conn *c)
{
	if (!c->closing)
		shutdown(c->fd, SHUT_RDWR);
	c->closing = 1;
}

static void maybe_close(struct conn *c)
{
	if (!c->closing || c->recv_armed || c->sending)
		return;
	if (c->want_rearm)
		waiting_for_chunks--;
	close(c->fd);
	c->fd = -1;
}

static unsigned char lower(unsigned char b)
{
	return b >= 'A' && b <= 'Z' ? (unsigned char)(b + 32) : b;
}

/* The request line is done: "METHOD TARGET HTTP/1.x". */
static int request_line_ok(struct conn *c)
{
	static const uint64_t http1 = 0x485454502f312eULL; /* "HTTP/1." */
	unsigned char minor = (unsigned char)c->last8;
	if (c->spaces != 2 || c->before != ' ' || c->last8 >> 8 != http1 || minor < '0' ||
	    minor > '9')
		return 0;
	c->http10 = minor == '0';
	return 1;
}

/* The head ended: counts it, or sets the final answer when the connection
 * closes after it. Returns whether parsing goes on. */
static int request_done(struct conn *c, uint32_t *n)
{
	int keep = c->http10 ? c->keep_tok : !c->close_tok;
	c->state = P_START;
	c->spaces = c->http10 = c->close_tok = c->keep_tok = 0;
	c->last8 = c->before = 0;
	if (keep) {
		(*n)++;
		return 1;
	}
	c->final = FINAL_OK;
	return 0;
}

/* A header line of no interest: jumps to its '\n' (the next one starts
 * after it), or returns 0 when it goes on in the next chunk. */
static int skip_line(struct conn *c, const unsigned char *buf, uint32_t len, uint32_t *i)
{
	const unsigned char *nl = memchr(buf + *i, '\n', len - *i);
	if (!nl) {
		c->state = P_SKIP;
		return 0;
	}
	*i = (uint32_t)(nl - buf);
	c->state = P_HEADER;
	return 1;
}

/* Counts the keep-alive requests that end in buf[0..len), carrying the
 * state across calls; stops at a request after which the connection
 * closes (c->final set: the rest of the bytes is not looked at). */
static uint32_t parse_requests(struct conn *c, const unsigned char *buf, uint32_t len)
{
	static const char name[] = "connection:", close_v[] = "close", keep_v[] = "keep-alive";
	uint32_t n = 0;
	for (uint32_t i = 0; i < len && !c->final; i++) {
		unsigned char b = buf[i];
		switch (c->state) {
		case P_START:
			if (b == '\r' || b == '\n')
				break;
			c->state = P_LINE;
			/* fall through */
		case P_LINE:
			if (b == '\n') {
				if (!request_line_ok(c))
					c->final = FINAL_BAD;
				c->state = P_HEADER;
			} else if (b != '\r') {
				c->spaces += b == ' ' && c->spaces < 3;
				c->before = (uint8_t)(c->last8 >> 56);
				c->last8 = c->last8 << 8 | b;
			}
			break;
		case P_HEADER:
			if (b == '\n') {
				request_done(c, &n);
			} else if (b == '\r') {
				c->state = P_END_CR;
			} else if (lower(b) == 'c') {
				c->state = P_NAME;
				c->pos = 1;
			} else if (!skip_line(c, buf, len, &i)) {
				return n;
			}
			break;
		case P_END_CR:
			if (b == '\n')
				request_done(c, &n);
			else
				c->state = b == '\r' ? P_END_CR : P_SKIP;
			break;
		case P_NAME:
			if (lower(b) == (unsigned char)name[c->pos]) {
				if (++c->pos == sizeof(name) - 1)
					c->state = P_SPACE;
			} else {
				c->state = b == '\n' ? P_HEADER : P_SKIP;
			}
			break;
		case P_SPACE:
			if (b == ' ' || b == '\t')
				break;
			c->state = P_VALUE;
			c->pos = 0;
			c->cands = V_CLOSE | V_KEEP;
			/* fall through */
		case P_VALUE:
			if (b == ',' || b == ';' || b == ' ' || b == '\t' || b == '\r' || b == '\n') {
				c->close_tok |= (c->cands & V_CLOSE) && c->pos == sizeof(close_v) - 1;
				c->keep_tok |= (c->cands & V_KEEP) && c->pos == sizeof(keep_v) - 1;
				c->state = b == '\n' ? P_HEADER : P_SKIP;
			} else {
				unsigned char l = lower(b);
				if (c->pos >= sizeof(close_v) - 1 || (unsigned char)close_v[c->pos] != l)
					c->cands &= (uint8_t)~V_CLOSE;
				if (c->pos >= sizeof(keep_v) - 1 || (unsigned char)keep_v[c->pos] != l)
					c->cands &= (uint8_t)~V_KEEP;
				if (c->pos < 255)
					c->pos++;
			}
			break;
		case P_SKIP:
			if (!skip_line(c, buf, len, &i))
				return n;
			break;
		}
	}
	return n;
}

static void on_accept(int32_t res, uint32_t flags)
{
	int fd = server_accepted(ring, listen_fd, OP_ACCEPT, res, flags, MAX_CONNS);
	if (fd < 0)
		return;
	struct conn *c = &conns[fd];
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	arm_recv(c);
}

static void on_recv(struct conn *c, int32_t res, uint32_t flags)
{
	if (!(flags & RK_CQE_F_MORE))
		c->recv_armed = 0;
	if (res > 0) {
		int32_t chunk = (int32_t)(flags >> RK_CQE_BUFFER_SHIFT);
		/* After the final answer is set, what follows is not looked at. */
		uint32_t n = c->final ? 0
		                      : parse_requests(c, rk_chunk_ptr(region, chunk), (uint32_t)res);
		rk_ring_recycle_chunk(ring, region, chunk);
		if (!c->closing) {
			if (c->owed + (uint64_t)n * RESP_LEN > MAX_OWED) {
				start_close(c);
			} else {
				c->owed += n * (uint32_t)RESP_LEN;
				if (owes(c) && !c->sending)
					send_owed(c);
				if (!c->recv_armed)
					arm_recv(c); /* the kernel ended it after the last chunk */
			}
		}
	} else if (res == -ENOBUFS && !c->closing) {
		c->want_rearm = 1;
		waiting_for_chunks++;
	} else if (!c->recv_armed) {
		if (res == 0 && !c->closing) {
			/* A FIN: what was asked before it is still answered. */
			c->peer_done = 1;
			if (!owes(c) && !c->sending)
				start_close(c);
		} else {
			start_close(c); /* a reset or another error */
		}
	}
	maybe_close(c);
}

static void on_send(struct conn *c, int32_t res)
{
	c->sending = 0;
	if (res < 0) {
		start_close(c);
	} else if (c->owed) {
		c->owed -= (uint32_t)res;
		c->offset = (uint32_t)((c->offset + (uint32_t)res) % RESP_LEN);
	} else {
		c->final_sent += (uint32_t)res;
	}
	if (!c->closing) {
		if (owes(c))
			send_owed(c);
		else if (c->final || c->peer_done)
			start_close(c); /* the last answer left */
	}
	maybe_close(c);
}

int main(int argc, char **argv)
{
	int port = server_start(argc, argv, "A keep-alive HTTP server answering \"Hello, world!\"");
	for (int i = 0; i < REPEAT; i++)
		memcpy(responses + i * RESP_LEN, RESPONSE, RESP_LEN);

	int err = rk_ring_create(1024, RK_RING_SINGLE_ISSUER | RK_RING_DEFER_TASKRUN, &ring);
	if (err == -EINVAL) /* a kernel without DEFER_TASKRUN */
		err = rk_ring_create(1024, 0, &ring);
	if (err < 0)
		die("creating the ring", err);
	server_setup(ring, CHUNK_SIZE, NCHUNKS, GROUP, &region);
	conns = calloc(MAX_CONNS, sizeof(*conns));
	if (!conns)
		die("allocating", -ENOMEM);
	for (int i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;

	listen_fd = server_listen(port, 4096, 1); /* TCP_NODELAY: answers leave at once */
	server_accept(ring, listen_fd, OP_ACCEPT);

	rk_cqe cqes[256];
	struct op_info infos[256];
	while (!stopping) {
		int n = server_reap(ring, cqes, infos, 256);
		for (int i = 0; i < n; i++) {
			struct op_info info = infos[i];
			if (info.kind == OP_RECV)
				on_recv(&conns[info.fd], cqes[i].res, cqes[i].flags);
			else if (info.kind == OP_SEND)
				on_send(&conns[info.fd], cqes[i].res);
			else if (info.kind == OP_ACCEPT)
				on_accept(cqes[i].res, cqes[i].flags);
		}
		/* Every chunk of this batch went back to the kernel already. */
		if (waiting_for_chunks)
			for (int i = 0; i < MAX_CONNS && waiting_for_chunks; i++)
				if (conns[i].fd >= 0 && conns[i].want_rearm)
					arm_recv(&conns[i]);
	}

	rk_ring_close(ring); /* cancels and waits for everything in flight */
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	close(listen_fd);
	rk_region_destroy(region);
	free(ops);
	free(conns);
	fprintf(stderr, "ringkit-http: stopped\n");
	return 0;
}
