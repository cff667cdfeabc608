/* rk_ring_close from inside a rk_reap_dispatch callback (a runtime's `with`
 * block or __close running there): the close happens at once, the handle
 * lives on until the dispatch returns -EBADF, every call on it meanwhile
 * answers -EBADF, and nothing is read after it is freed (ASan). */
#include <poll.h>

#include "check.h"

struct ctx {
	rk_ring *ring;
	int calls;
	int close_ret;
	int nested;      /* the first callback dispatches again; the inner one closes */
	int inner_ret;
	int after[4];    /* what calls on the closed handle answered */
};

static int closing_cb(void *p, int64_t id, int32_t res, uint32_t flags)
{
	(void)id;
	(void)res;
	(void)flags;
	struct ctx *c = p;
	c->calls++;
	if (c->nested) {
		c->nested = 0;
		c->inner_ret = rk_reap_dispatch(c->ring, closing_cb, c, 8, 1, 1000000000);
		c->after[3] = rk_ring_fd(c->ring);
		return 0;
	}
	c->close_ret = rk_ring_close(c->ring);
	rk_cqe cqe;
	c->after[0] = (int)rk_prep_nop(c->ring, 0);
	c->after[1] = rk_reap(c->ring, &cqe, 1, 0, 0);
	c->after[2] = rk_ring_close(c->ring);
	return 0; /* "go on": the dispatch must stop anyway */
}

static void one(int nested)
{
	int fds_before = count_fds();
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
	int p[2];
	make_pipe(p);
	/* An op still in flight when the callback closes, and completions
	 * that are never dispatched. */
	CHECK(rk_prep_poll_add(ring, p[0], POLLIN, 0) >= 0);
	for (int i = 0; i < 4; i++)
		CHECK(rk_prep_nop(ring, 0) >= 0);
	struct ctx c = {.ring = ring, .nested = nested};
	CHECK_EQ(rk_reap_dispatch(ring, closing_cb, &c, 8, 1, 1000000000), -EBADF);
	CHECK_EQ(c.calls, nested ? 2 : 1);
	CHECK_EQ(c.close_ret, 0);
	CHECK_EQ(c.after[0], -EBADF);
	CHECK_EQ(c.after[1], -EBADF);
	CHECK_EQ(c.after[2], -EBADF);
	if (nested) {
		CHECK_EQ(c.inner_ret, -EBADF);
		CHECK_EQ(c.after[3], -EBADF);
	}
	close_pair(p);
	CHECK_EQ(count_fds(), fds_before); /* the ring's descriptors went with the close */
}

int main(void)
{
	one(0);
	one(1);
	/* A close outside any dispatch still frees at once and reports 0. */
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
