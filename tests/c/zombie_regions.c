/* rk_region_destroy on a region in use: it answers 1 and the region lives on
 * as a zombie — ops on its chunks complete into its memory — until the last
 * use ends: the op's completion is reaped, the ring it is registered with or
 * provided to closes. That release frees it exactly once: linked with the
 * seam's wrappers (tests/c/fault.c), the balance of mappings and allocations
 * says so, and an ASan build catches a use after free or a second free. */
#include <sys/socket.h>
#include <time.h>

#include "check.h"
#include "fault.h"

/* What one region takes at the seam: its mapping, and the struct with its
 * three per-chunk arrays. */
#define REGION_MAPS   1
#define REGION_ALLOCS 4

struct balance {
	long maps, allocs;
};

static struct balance balance_now(void)
{
	return (struct balance){fault_live_maps(), fault_live_allocs()};
}

/* The region was freed between `before` and now, and nothing else was. */
static void freed_since(struct balance before, int line)
{
	struct balance b = balance_now();
	if (b.maps != before.maps - REGION_MAPS || b.allocs != before.allocs - REGION_ALLOCS) {
		fprintf(stderr, "line %d: maps %ld -> %ld, allocs %ld -> %ld: the region was not "
		        "freed exactly once\n", line, before.maps, b.maps, before.allocs, b.allocs);
		exit(1);
	}
}

/* Nothing taken since `before` is still held. */
static void balanced(struct balance before, int line)
{
	struct balance b = balance_now();
	if (b.maps != before.maps || b.allocs != before.allocs) {
		fprintf(stderr, "line %d: maps %ld -> %ld, allocs %ld -> %ld\n", line, before.maps,
		        b.maps, before.allocs, b.allocs);
		exit(1);
	}
}

static rk_region *region(void)
{
	rk_region *rg;
	CHECK_EQ(rk_region_create(4096, 4, 0, &rg), 0);
	return rg;
}

static rk_ring *ring(void)
{
	rk_ring *r;
	CHECK_EQ(rk_ring_create(8, 0, &r), 0);
	return r;
}

/* Idle: freed at once. */
static void idle(void)
{
	rk_region *rg = region();
	struct balance b = balance_now();
	CHECK_EQ(rk_region_destroy(rg), 0);
	freed_since(b, __LINE__);
}

/* An op in flight: the kernel still writes the chunk after the destroy (a
 * region unmapped under it would give -EFAULT), and reaping its completion
 * frees the region. */
static void op_in_flight(void)
{
	rk_ring *r = ring();
	int p[2];
	CHECK_EQ(pipe(p), 0);
	rk_region *rg = region();
	int32_t c = rk_chunk_alloc(rg);
	int64_t id = rk_prep_read_chunk(r, p[0], rg, c, 16, -1, 0);
	CHECK(id >= 0);
	CHECK(rk_submit(r) >= 0);
	CHECK_EQ(rk_region_destroy(rg), 1);
	CHECK_EQ(write(p[1], "written late", 12), 12);
	struct balance b = balance_now();
	rk_cqe cqe = reap_one(r);
	CHECK_EQ(cqe.id, id);
	CHECK_EQ(cqe.res, 12);
	freed_since(b, __LINE__);
	CHECK_EQ(rk_ring_close(r), 0);
	close(p[0]);
	close(p[1]);
}

/* Several ops on chunks of it: the last completion frees it. */
static void last_of_many(void)
{
	rk_ring *r = ring();
	int p[2];
	CHECK_EQ(pipe(p), 0);
	rk_region *rg = region();
	int64_t ids[3];
	for (int i = 0; i < 3; i++) {
		ids[i] = rk_prep_read_chunk(r, p[0], rg, rk_chunk_alloc(rg), 1, -1, 0);
		CHECK(ids[i] >= 0);
	}
	CHECK(rk_submit(r) >= 0);
	CHECK_EQ(rk_region_destroy(rg), 1);
	for (int i = 0; i < 3; i++) {
		struct balance b = balance_now();
		CHECK_EQ(write(p[1], "x", 1), 1);
		CHECK_EQ(reap_one(r).res, 1);
		if (i < 2)
			balanced(b, __LINE__);
		else
			freed_since(b, __LINE__);
	}
	CHECK_EQ(rk_ring_close(r), 0);
	close(p[0]);
	close(p[1]);
}

/* The ring closed first, with the op still in flight: close cancels it and
 * waits for the kernel, then the region goes. */
static void ring_closed_first(void)
{
	struct balance start = balance_now();
	rk_ring *r = ring();
	int p[2];
	CHECK_EQ(pipe(p), 0);
	rk_region *rg = region();
	CHECK(rk_prep_read_chunk(r, p[0], rg, rk_chunk_alloc(rg), 16, -1, 0) >= 0);
	CHECK(rk_submit(r) >= 0);
	CHECK_EQ(rk_region_destroy(rg), 1);
	CHECK_EQ(rk_ring_close(r), 0);
	balanced(start, __LINE__);
	close(p[0]);
	close(p[1]);
}

/* Registered with two rings (fixed buffers) and idle: it lives until the
 * second ring closes. RLIMIT_MEMLOCK may refuse the registration. */
static void registered(void)
{
	struct balance start = balance_now();
	rk_ring *a = ring(), *b = ring();
	rk_region *rg = region();
	if (rk_ring_register_region(a, rg) == -ENOMEM) {
		CHECK_EQ(rk_region_destroy(rg), 0);
		CHECK_EQ(rk_ring_close(a), 0);
		CHECK_EQ(rk_ring_close(b), 0);
		fprintf(stderr, "registered: RLIMIT_MEMLOCK too low, not run\n");
		return;
	}
	CHECK_EQ(rk_ring_register_region(b, rg), 0);
	CHECK_EQ(rk_region_destroy(rg), 1);
	/* What closing a ring like these gives back by itself. */
	struct balance before_c = balance_now();
	rk_ring *c = ring();
	struct balance ring_only = balance_now();
	CHECK_EQ(rk_ring_close(c), 0);
	balanced(before_c, __LINE__);
	ring_only.maps -= before_c.maps;
	ring_only.allocs -= before_c.allocs;

	struct balance mid = balance_now();
	CHECK_EQ(rk_ring_close(a), 0);
	CHECK_EQ(balance_now().maps, mid.maps - ring_only.maps); /* the region stays: b has it */
	CHECK_EQ(balance_now().allocs, mid.allocs - ring_only.allocs);
	CHECK_EQ(rk_ring_close(b), 0);
	balanced(start, __LINE__);
}

/* Provided as a buffer group with a multishot receive armed on it, a
 * message taken: the ring's close ends the receive, takes the group back
 * and frees the region. */
static void provided(void)
{
	struct balance start = balance_now();
	rk_ring *r = ring();
	int sv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	rk_region *rg = region();
	int group = rk_ring_provide_region(r, rg, RK_GROUP_ANY);
	CHECK_EQ(group, 0);
	int64_t ms = rk_prep_recv_multishot(r, sv[0], (uint16_t)group, 0, 0);
	CHECK(ms >= 0);
	CHECK(rk_submit(r) >= 0);
	CHECK_EQ(send(sv[1], "hello", 5, 0), 5);
	rk_cqe cqe = reap_one(r);
	CHECK_EQ(cqe.id, ms);
	CHECK_EQ(cqe.res, 5);
	CHECK(cqe.flags & RK_CQE_F_MORE);
	CHECK_EQ(rk_region_destroy(rg), 1);
	CHECK_EQ(send(sv[1], "again", 5, 0), 5); /* into a chunk of the zombie */
	struct timespec ts = {0, 10000000};
	nanosleep(&ts, NULL);
	CHECK_EQ(rk_ring_close(r), 0);
	balanced(start, __LINE__);
	close(sv[0]);
	close(sv[1]);
}

/* Registered and provided to one ring, an op in flight on a chunk the caller
 * allocated: the op's completion is not the last use, the close is. */
static void registered_and_provided(void)
{
	struct balance start = balance_now();
	rk_ring *r = ring();
	int p[2];
	CHECK_EQ(pipe(p), 0);
	rk_region *rg = region();
	int registered = rk_ring_register_region(r, rg) == 0;
	int32_t c = rk_chunk_alloc(rg); /* the caller's: not given to the kernel */
	CHECK_EQ(rk_ring_provide_region(r, rg, 5), 5);
	int64_t id = rk_prep_read_chunk(r, p[0], rg, c, 4, -1, 0);
	CHECK(id >= 0);
	CHECK(rk_submit(r) >= 0);
	CHECK_EQ(rk_region_destroy(rg), 1);
	CHECK_EQ(write(p[1], "four", 4), 4);
	struct balance b = balance_now();
	CHECK_EQ(reap_one(r).res, 4);
	balanced(b, __LINE__); /* still provided (and registered) */
	CHECK_EQ(rk_ring_close(r), 0);
	balanced(start, __LINE__);
	(void)registered;
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	idle();
	op_in_flight();
	last_of_many();
	ring_closed_first();
	registered();
	provided();
	registered_and_provided();
	return 0;
}
