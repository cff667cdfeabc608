/* A ring created before fork() is the parent's: the child inherits its fd
 * and its shared SQ/CQ mappings, so a child's prep would write into the
 * parent's SQ, its reap would take the parent's completions and its close
 * would cancel the parent's ops. In the child every call on the inherited
 * ring returns -ECHILD, rk_strerror says why, closing it frees only the
 * child's copy, and the child can create a ring of its own; the parent's
 * ring — with an op in the kernel, one queued and not yet submitted, a
 * registered region and a provided group — carries on untouched. */
#include <poll.h>
#include <sys/eventfd.h>

#include "check.h"

static int on_cqe(void *ctx, int64_t id, int32_t res, uint32_t flags)
{
	(void)ctx, (void)id, (void)res, (void)flags;
	return 0;
}

static void child(rk_ring *ring, rk_region *rg, rk_region *grp, int32_t chunk, int efd)
{
	rk_cqe c[4];
	uint64_t st[RK_STAT_COUNT];
	rk_op_desc d = {.op = RK_OP_NOP};
	int64_t id;
	char b[4];
	CHECK_EQ(rk_prep_nop(ring, 0), -ECHILD);
	CHECK_EQ(rk_prep_read(ring, 0, b, 4, 0, 0), -ECHILD);
	CHECK_EQ(rk_prep_read_chunk(ring, 0, rg, chunk, 4, 0, 0), -ECHILD);
	CHECK_EQ(rk_prep_timeout(ring, 1000, 0, 0, 0), -ECHILD);
	CHECK_EQ(rk_prep_batch(ring, &d, 1, &id), -ECHILD);
	CHECK_EQ(rk_submit_batch(ring, &d, 1, &id), -ECHILD);
	CHECK_EQ(rk_submit(ring), -ECHILD);
	CHECK_EQ(rk_reap(ring, c, 4, 0, 0), -ECHILD);
	CHECK_EQ(rk_cancel_sync(ring, 0, 0), -ECHILD);
	CHECK_EQ(rk_ring_cancel_all(ring), -ECHILD);
	CHECK_EQ(rk_ring_fd(ring), -ECHILD);
	CHECK_EQ(rk_ring_probe(ring, 0), -ECHILD);
	CHECK_EQ(rk_ring_stats(ring, st, RK_STAT_COUNT), -ECHILD);
	CHECK_EQ(rk_ring_register_eventfd(ring, efd, 0), -ECHILD);
	CHECK_EQ(rk_ring_unregister_eventfd(ring), -ECHILD);
	CHECK_EQ(rk_ring_register_region(ring, rg), -ECHILD);
	CHECK_EQ(rk_ring_unregister_region(ring, rg), -ECHILD);
	CHECK_EQ(rk_ring_provide_region(ring, rg, 9), -ECHILD);
	CHECK_EQ(rk_ring_recycle_chunk(ring, grp, 0), -ECHILD);
	CHECK_EQ(rk_ring_unprovide_region(ring, grp), -ECHILD);
	CHECK_EQ(rk_reap_dispatch(ring, on_cqe, NULL, 4, 0, 0), -ECHILD);
	CHECK_EQ(rk_ring_register_files(ring, 4), -ECHILD);
	int32_t fds[1] = {0};
	CHECK_EQ(rk_ring_update_files(ring, 0, fds, 1), -ECHILD);
	CHECK_EQ(rk_ring_unregister_files(ring), -ECHILD);
	CHECK_EQ(rk_prep_msg_ring(ring, 0, 1, 0, 0), -ECHILD);
	rk_iovec iov = {(uintptr_t)b, sizeof(b)};
	CHECK_EQ(rk_prep_sendmsg(ring, 0, &iov, 1, NULL, 0, NULL, 0, 0, 0), -ECHILD);
	const char *msg = rk_strerror(-ECHILD);
	CHECK(strstr(msg, "fork()") != NULL);
	fprintf(stderr, "child: %s\n", msg);

	/* Regions are plain memory: the child's copies work. */
	int32_t mine = rk_chunk_alloc(rg);
	CHECK(mine >= 0);
	memcpy(rk_chunk_ptr(rg, mine), "child", 5);

	/* A ring of its own works as usual, with the child's region copy. */
	rk_ring *own;
	CHECK_EQ(rk_ring_create(8, 0, &own), 0);
	CHECK_EQ(rk_ring_register_region(own, rg), 0);
	CHECK_EQ(run_one(own, rk_prep_nop(own, 0)), 0);
	CHECK_EQ(rk_ring_close(own), 0);

	/* Closing the inherited copy frees it and releases the copy's pins,
	 * registrations and group without telling the kernel. */
	CHECK_EQ(rk_chunk_free(rg, chunk), -EBUSY); /* the parent's read pins it */
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_chunk_free(rg, chunk), 0);
	CHECK_EQ(rk_chunk_free(rg, mine), 0);
	CHECK_EQ(rk_region_destroy(rg), 0);
	CHECK_EQ(rk_region_destroy(grp), 0);
	child_exit(0);
}

int main(void)
{
	int p[2], sv[2];
	make_pipe(p);
	make_socketpair(SOCK_STREAM, sv);
	int efd = eventfd(0, EFD_CLOEXEC);
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
	rk_region *rg, *grp;
	CHECK_EQ(rk_region_create(4096, 4, 0, &rg), 0);
	CHECK_EQ(rk_region_create(256, 4, 0, &grp), 0);
	CHECK_EQ(rk_ring_register_region(ring, rg), 0);
	CHECK_EQ(rk_ring_provide_region(ring, grp, 3), 3);
	int32_t chunk = rk_chunk_alloc(rg);

	/* In the kernel: a chunk read from the pipe and a recv from the group.
	 * Queued, not submitted: a NOP. */
	int64_t rd = rk_prep_read_chunk(ring, p[0], rg, chunk, 5, -1, 0);
	int64_t rv = rk_prep_recv_select(ring, sv[0], 3, 0, 0, 0);
	CHECK(rd >= 0 && rv >= 0);
	CHECK_EQ(rk_submit(ring), 2);
	int64_t nop = rk_prep_nop(ring, 0);
	CHECK(nop >= 0);

	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		child(ring, rg, grp, chunk, efd);
	CHECK_EQ(wait_exit(pid), 0);

	/* The parent's ring is intact: each op completes once, with its id. */
	CHECK_EQ(write(p[1], "hello", 5), 5);
	CHECK_EQ(send(sv[1], "world", 5, 0), 5);
	rk_cqe c[3];
	reap_n(ring, c, 3);
	int seen = 0;
	for (int i = 0; i < 3; i++) {
		if (c[i].id == rd) {
			CHECK_EQ(c[i].res, 5);
			seen |= 1;
		} else if (c[i].id == rv) {
			CHECK_EQ(c[i].res, 5);
			CHECK(c[i].flags & RK_CQE_F_BUFFER);
			int32_t ch = (int32_t)(c[i].flags >> RK_CQE_BUFFER_SHIFT);
			CHECK(memcmp(rk_chunk_ptr(grp, ch), "world", 5) == 0);
			CHECK_EQ(rk_ring_recycle_chunk(ring, grp, ch), 0);
			seen |= 2;
		} else {
			CHECK_EQ(c[i].id, nop);
			CHECK_EQ(c[i].res, 0);
			seen |= 4;
		}
	}
	CHECK_EQ(seen, 7);
	CHECK(memcmp(rk_chunk_ptr(rg, chunk), "hello", 5) == 0);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	CHECK_EQ(rk_ring_register_eventfd(ring, efd, 0), 0);
	CHECK_EQ(run_one(ring, rk_prep_nop(ring, 0)), 0);
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(rk_chunk_free(rg, chunk), 0);
	CHECK_EQ(rk_region_destroy(rg), 0);
	CHECK_EQ(rk_region_destroy(grp), 0);
	return 0;
}
