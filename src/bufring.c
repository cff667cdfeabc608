/*
 * Provided buffers: a region handed to the kernel as a buffer group
 * (IORING_REGISTER_PBUF_RING), so multishot receives take chunks as data
 * arrives instead of pinning one per idle connection.
 *
 * Every chunk has one owner at a time — free, the caller, or the kernel — and
 * ownership only moves at well-defined points: provide (free -> kernel), a
 * completion naming the chunk (kernel -> caller), recycle (caller -> kernel)
 * and unprovide or ring close (kernel -> free). The kernel can therefore never
 * write into a chunk the caller believes is its own.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ids.h"

#define RK_MAX_GROUP_CHUNKS 32768 /* buffer ids are 16 bits */

static struct rk_group *group_of_region(rk_ring *ring, rk_region *region)
{
	for (int i = 0; i < RK_RING_MAX_GROUPS; i++)
		if (ring->groups[i].region == region)
			return &ring->groups[i];
	return NULL;
}

void rk__put_chunk(struct rk_group *g, uint32_t chunk)
{
	rk_region *region = g->region;
	struct io_uring_buf *buf = &g->br->bufs[g->tail & g->mask];
	buf->addr = (uint64_t)(uintptr_t)(region->base + (size_t)chunk * region->chunk_size);
	buf->len = region->chunk_size;
	buf->bid = (uint16_t)chunk;
	region->allocated[chunk] = RK_CHUNK_KERNEL;
	g->tail++;
}

/* The kernel reads the tail with acquire semantics: entries first, then it. */
static void publish_tail(struct rk_group *g)
{
	__atomic_store_n(&g->br->tail, g->tail, __ATOMIC_RELEASE);
}

/* The ring has at most RK_RING_MAX_GROUPS groups, so one of the ids
 * 0..RK_RING_MAX_GROUPS is always free. */
static uint16_t lowest_free_id(rk_ring *ring)
{
	for (uint16_t id = 0;; id++) {
		bool used = false;
		for (int i = 0; i < RK_RING_MAX_GROUPS; i++)
			used |= ring->groups[i].region && ring->groups[i].bgid == id;
		if (!used)
			return id;
	}
}

int rk_ring_provide_region(rk_ring *ring, rk_region *region, uint16_t group)
{
	int err = rk__check_ring(ring);
	if (err || (err = rk__restrict_call(ring, RK_RESTRICT_REGIONS)))
		return err;
	if (!region || region->nchunks > RK_MAX_GROUP_CHUNKS)
		return -EINVAL;
	if (region->provided_to)
		return -EBUSY;
	if (region->incremental && !rk__feature(ring, RK_FEATURE_PBUF_INC))
		return -EOPNOTSUPP;
	struct rk_group *g = NULL;
	for (int i = 0; i < RK_RING_MAX_GROUPS; i++) {
		if (ring->groups[i].region && ring->groups[i].bgid == group)
			return -EEXIST;
		if (!ring->groups[i].region && !g)
			g = &ring->groups[i];
	}
	if (!g)
		return -ENOSPC;
	if (group == RK_GROUP_ANY)
		group = lowest_free_id(ring);

	uint32_t entries = 1;
	while (entries < region->nchunks)
		entries <<= 1;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = (entries * sizeof(struct io_uring_buf) + page - 1) / page * page;
	void *br = rk__sys_mmap(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED)
		return -errno;
	*g = (struct rk_group){.region = region, .br = br, .br_len = len, .mask = entries - 1,
	                       .bgid = group, .inc = region->incremental};
	int ret = ring->be->group_register(ring, g, entries);
	if (ret < 0) {
		memset(g, 0, sizeof(*g));
		rk__sys_munmap(br, len);
		return ret;
	}
	region->provided_to = ring;
	/* Every free chunk goes to the kernel; the caller keeps what it holds. */
	while (region->nfree)
		rk__put_chunk(g, region->free_stack[--region->nfree]);
	publish_tail(g);
	return group;
}

int rk_ring_recycle_chunk(rk_ring *ring, rk_region *region, int32_t chunk)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	if (!region)
		return -EINVAL;
	struct rk_group *g = group_of_region(ring, region);
	if (!g)
		return -ENOENT;
	if (chunk < 0 || (uint32_t)chunk >= region->nchunks)
		return -EINVAL;
	/* The kernel writes into it still: a recycle now would provide it
	 * twice, and the caller could not know which bytes are final. */
	if (region->allocated[chunk] == RK_CHUNK_FILLING)
		return -EBUSY;
	if (region->allocated[chunk] != RK_CHUNK_CALLER)
		return -EINVAL;
	if (region->inflight[chunk])
		return -EBUSY;
	rk__put_chunk(g, (uint32_t)chunk);
	publish_tail(g);
	return 0;
}

/* Frees our side of a group: chunks the backend held become free again. */
static void release_group(struct rk_group *g)
{
	rk_region *region = g->region;
	for (uint32_t c = 0; c < region->nchunks; c++) {
		if (region->allocated[c] == RK_CHUNK_KERNEL ||
		    region->allocated[c] == RK_CHUNK_FILLING) {
			region->allocated[c] = RK_CHUNK_FREE;
			region->free_stack[region->nfree++] = c;
		}
	}
	region->provided_to = NULL;
	rk__sys_munmap(g->br, g->br_len);
	memset(g, 0, sizeof(*g));
	rk__region_settle(region);
}

/* Unregisters the buffer ring from the backend, then releases the group. */
static int drop_group(rk_ring *ring, struct rk_group *g)
{
	int ret = ring->be->group_unregister(ring, g);
	if (ret < 0)
		return ret;
	release_group(g);
	return 0;
}

int rk_ring_unprovide_region(rk_ring *ring, rk_region *region)
{
	int err = rk__check_ring(ring);
	if (err || (err = rk__restrict_call(ring, RK_RESTRICT_REGIONS)))
		return err;
	if (!region)
		return -EINVAL;
	struct rk_group *g = group_of_region(ring, region);
	if (!g)
		return -ENOENT;
	if (g->users)
		return -EBUSY;
	return drop_group(ring, g);
}

/* At ring close, after the kernel gave every op back. The ring fd closes
 * next, which drops the kernel's side even if unregistering failed. A ring
 * inherited through fork() must not tell the kernel: the group is the
 * parent's. */
void rk__ring_drop_groups(rk_ring *ring, bool tell_kernel)
{
	for (int i = 0; i < RK_RING_MAX_GROUPS; i++) {
		struct rk_group *g = &ring->groups[i];
		if (g->region && (!tell_kernel || drop_group(ring, g) < 0))
			release_group(g);
	}
}

/* A completion named a chunk: it is the caller's from now on. */
void rk__group_took_chunk(rk_ring *ring, const struct rk_op *op, uint32_t cqe_flags)
{
	/* A completion close drops hands nothing over: the chunk stays the
	 * kernel's and comes back free with the group. */
	if (!op->group || ring->discarding)
		return;
	rk_region *region = ring->groups[op->group - 1].region;
	uint32_t chunk = cqe_flags >> RK_CQE_BUFFER_SHIFT;
	if (region && chunk < region->nchunks)
		region->allocated[chunk] =
			cqe_flags & IORING_CQE_F_BUF_MORE ? RK_CHUNK_FILLING : RK_CHUNK_CALLER;
}

void rk__group_release(rk_ring *ring, struct rk_op *op)
{
	ring->groups[op->group - 1].users--;
	op->group = 0;
}

/* Finds the ring's group with id bgid; its index + 1 tags the op. */
int rk__group_index(rk_ring *ring, uint16_t bgid)
{
	for (int i = 0; i < RK_RING_MAX_GROUPS; i++)
		if (ring->groups[i].region && ring->groups[i].bgid == bgid)
			return i;
	return -1;
}

int64_t rk__op_begin_group(rk_ring *ring, uint32_t code, int fd, uint16_t group, uint32_t flags,
                           struct rk_op **op, struct io_uring_sqe **sqe, int *g)
{
	int64_t ret = rk__op_begin_fd(ring, code, fd, false, flags, op, sqe);
	if (ret < 0)
		return ret;
	if ((*g = rk__group_index(ring, group)) < 0) {
		rk__op_abort(ring, *op);
		return -ENOENT;
	}
	return 0;
}

static int64_t prep_select(rk_ring *ring, int fd, uint16_t group, uint32_t len,
                           int32_t msg_flags, bool multishot, uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int g;
	int64_t ret = rk__op_begin_group(ring, multishot ? RK_OP_RECV_MULTISHOT : RK_OP_RECV_SELECT,
	                                 fd, group, flags, &op, &sqe, &g);
	if (ret < 0)
		return ret;
	io_uring_prep_rw(IORING_OP_RECV, sqe, fd, NULL, len, 0);
	sqe->msg_flags = (uint32_t)msg_flags;
	sqe->buf_group = group;
	if (multishot)
		sqe->ioprio |= IORING_RECV_MULTISHOT;
	op->group = (uint8_t)(g + 1);
	ring->groups[g].users++;
	return rk__op_commit(ring, op, sqe, flags | IOSQE_BUFFER_SELECT);
}

int64_t rk_prep_recv_select(rk_ring *ring, int fd, uint16_t group, uint32_t len,
                            int32_t msg_flags, uint32_t flags)
{
	return prep_select(ring, fd, group, len, msg_flags, false, flags);
}

int64_t rk_prep_recv_multishot(rk_ring *ring, int fd, uint16_t group, int32_t msg_flags,
                               uint32_t flags)
{
	return prep_select(ring, fd, group, 0, msg_flags, true, flags);
}

int64_t rk_prep_accept_multishot(rk_ring *ring, int fd, int32_t accept_flags, uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin_fd(ring, RK_OP_ACCEPT_MULTISHOT, fd, false, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, accept_flags);
	op->kind = RK_KIND_FD;
	return rk__op_commit(ring, op, sqe, flags);
}

int64_t rk_prep_poll_multishot(rk_ring *ring, int fd, uint32_t poll_mask, uint32_t flags)
{
	struct rk_op *op;
	struct io_uring_sqe *sqe;
	int64_t ret = rk__op_begin_fd(ring, RK_OP_POLL_MULTISHOT, fd, false, flags, &op, &sqe);
	if (ret < 0)
		return ret;
	io_uring_prep_poll_multishot(sqe, fd, poll_mask);
	return rk__op_commit(ring, op, sqe, flags);
}
