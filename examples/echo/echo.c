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
 * Three things every io_uring server has to get right, done here:
 *   - At most one send in flight per connection: two sends on one socket
 *     can complete out of order when the first has to wait for room. Chunks
 *     that arrive meanwhile wait in the connection's queue.
 *   - Back-pressure, never a drop: a client that sends faster than it reads
 *     makes its queue grow; past HIGH_CHUNKS queued its multishot recv is
 *     cancelled (chunks that the kernel filled meanwhile still join the
 *     queue: a queue is a list through the chunks themselves, so it can
 *     hold every chunk there is), and it is armed again once the queue is
 *     down to LOW_CHUNKS. The client then waits in TCP flow control.
 *   - Short sends resubmit the rest of the chunk; a recv that ends with
 *     -ENOBUFS (every chunk busy) is re-armed once chunks come back.
 * A client that half-closes gets back everything it sent before its FIN;
 * then the server closes.
 */
#define SERVER_NAME "ringkit-echo"
#include "../common/server.h"

#define CHUNK_SIZE  4096
#define NCHUNKS     1024
#define GROUP       0
#define MAX_CONNS   4096
#define HIGH_CHUNKS 64 /* queued per connection before its recv is paused */
#define LOW_CHUNKS  16 /* ... and resumed */

struct conn {
	int fd;           /* -1: unused */
	int recv_armed;   /* a multishot recv is live (recv_id) */
	int cancelling;   /* its cancel was asked for */
	int paused;       /* no recv: the queue is above the bound */
	int want_rearm;   /* its recv ended with -ENOBUFS */
	int eof;          /* the peer sends no more: close once drained */
	int dead;         /* reset or an error: close without sending */
	int sending;      /* a send is live */
	int64_t recv_id;
	uint32_t sent;    /* bytes of the queue head already sent */
	int32_t head, tail; /* the queue of chunks to send, linked by next_chunk */
	uint32_t queued;
};

/* What a live op is for (struct op_info's kind). */
enum op_kind { OP_NONE, OP_ACCEPT, OP_RECV, OP_SEND, OP_CANCEL };

static rk_ring *ring;
static rk_region *region;
static struct conn conns[MAX_CONNS];
static int32_t next_chunk[NCHUNKS]; /* a queue's links: a chunk is in one queue at most */
static uint32_t chunk_len[NCHUNKS];
static int listen_fd;
static int waiting_for_chunks; /* connections whose recv ended with -ENOBUFS */

static void arm_recv(struct conn *c)
{
	c->recv_id = track(rk_prep_recv_multishot(ring, c->fd, GROUP, 0, 0), OP_RECV, c->fd);
	c->recv_armed = 1;
	c->cancelling = 0;
	c->paused = 0;
	if (c->want_rearm)
		waiting_for_chunks--;
	c->want_rearm = 0;
}

static void send_head(struct conn *c)
{
	char *p = (char *)rk_chunk_ptr(region, c->head) + c->sent;
	track(rk_prep_send(ring, c->fd, p, chunk_len[c->head] - c->sent, MSG_NOSIGNAL, 0), OP_SEND,
	      c->fd);
	c->sending = 1;
}

static void enqueue(struct conn *c, int32_t chunk, uint32_t len)
{
	chunk_len[chunk] = len;
	next_chunk[chunk] = -1;
	if (c->queued)
		next_chunk[c->tail] = chunk;
	else
		c->head = chunk;
	c->tail = chunk;
	c->queued++;
}

static void dequeue(struct conn *c)
{
	int32_t chunk = c->head;
	c->head = next_chunk[chunk];
	c->queued--;
	c->sent = 0;
	rk_ring_recycle_chunk(ring, region, chunk);
}

/* Ends the connection without sending what it queued: shutdown ends a
 * live recv and fails a live send, and the fd closes once neither is in
 * flight, so no op names an fd number a new connection may have taken. */
static void kill_conn(struct conn *c)
{
	if (!c->dead)
		shutdown(c->fd, SHUT_RDWR);
	c->dead = 1;
}

static void maybe_close(struct conn *c)
{
	if (!(c->dead || (c->eof && c->queued == 0)) || c->recv_armed || c->sending)
		return;
	if (c->want_rearm)
		waiting_for_chunks--;
	while (c->queued)
		dequeue(c);
	close(c->fd);
	c->fd = -1;
}

/* Asks the live recv to stop once the queue is past the bound; what it
 * delivers until it ends is still queued. */
static void apply_backpressure(struct conn *c)
{
	if (c->queued < HIGH_CHUNKS || !c->recv_armed || c->cancelling)
		return;
	track(rk_prep_cancel(ring, c->recv_id, 0), OP_CANCEL, c->fd);
	c->cancelling = 1;
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
		if (c->dead) {
			rk_ring_recycle_chunk(ring, region, chunk);
		} else {
			enqueue(c, chunk, (uint32_t)res);
			if (!c->sending)
				send_head(c);
			apply_backpressure(c);
			if (!c->recv_armed) {
				/* Ended with data (the kernel ran out of chunks), or
				 * the cancel took effect. */
				if (c->queued < HIGH_CHUNKS)
					arm_recv(c);
				else
					c->paused = 1;
			}
		}
	} else if (res == -ENOBUFS || res == -ECANCELED) {
		if (c->dead) {
			/* closing anyway */
		} else if (res == -ECANCELED && c->queued <= LOW_CHUNKS) {
			arm_recv(c); /* the sends drained the queue before the cancel landed */
		} else if (res == -ECANCELED || c->queued >= HIGH_CHUNKS) {
			c->paused = 1; /* a send is in flight: on_send resumes it */
		} else {
			c->want_rearm = 1;
			waiting_for_chunks++;
		}
	} else if (!c->recv_armed) {
		if (res == 0)
			c->eof = 1; /* a FIN: what came before it is still echoed */
		else
			kill_conn(c); /* a reset or another error */
	}
	maybe_close(c);
}

static void on_send(struct conn *c, int32_t res)
{
	c->sending = 0;
	if (res < 0) {
		kill_conn(c); /* the peer is gone: end the recv too */
	} else if (!c->dead) {
		c->sent += (uint32_t)res;
		if (c->sent == chunk_len[c->head])
			dequeue(c);
		if (c->queued)
			send_head(c);
		if (c->paused && c->queued <= LOW_CHUNKS && !c->eof)
			arm_recv(c);
	}
	maybe_close(c);
}

int main(int argc, char **argv)
{
	int port = server_start(argc, argv, "An echo server");
	int err = rk_ring_create(256, 0, &ring);
	if (err < 0)
		die("creating the ring", err);
	server_setup(ring, CHUNK_SIZE, NCHUNKS, GROUP, &region);
	for (int i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;

	listen_fd = server_listen(port, 1024, 0);
	server_accept(ring, listen_fd, OP_ACCEPT);

	rk_cqe cqes[128];
	struct op_info infos[128];
	while (!stopping) {
		int n = server_reap(ring, cqes, infos, 128);
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
			case OP_CANCEL: /* its target's own completion says what happened */
			default:
				break;
			}
		}
		/* Chunks came back: connections that ran dry may receive again. */
		if (recycled && waiting_for_chunks)
			for (int i = 0; i < MAX_CONNS; i++)
				if (conns[i].fd >= 0 && conns[i].want_rearm && !conns[i].eof &&
				    !conns[i].dead)
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
