/*
 * The io_uring backend's setup and teardown: io_uring_setup, the three
 * mappings, the probe, the close path that waits for the kernel before
 * freeing anything it may still write, and the registrations (eventfd,
 * files, fixed buffers, buffer rings) that are kernel calls here.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "uring.h"

static uint32_t setup_flags_for(uint32_t flags)
{
	uint32_t f = 0;
	if (flags & RK_RING_SQPOLL)
		f |= IORING_SETUP_SQPOLL;
	if (flags & (RK_RING_SINGLE_ISSUER | RK_RING_DEFER_TASKRUN))
		f |= IORING_SETUP_SINGLE_ISSUER;
	if (flags & RK_RING_DEFER_TASKRUN)
		f |= IORING_SETUP_DEFER_TASKRUN;
	if (flags & RK_RING_COOP_TASKRUN)
		f |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	if (flags & RK_RING_CLAMP)
		f |= IORING_SETUP_CLAMP;
	/* Restrictions can be registered only before a ring is first enabled. */
	if (flags & RK_RING_RESTRICTABLE)
		f |= IORING_SETUP_R_DISABLED;
	return f;
}

static void unmap_rings(rk_ring *ring)
{
	if (ring->sq.sqes)
		rk__sys_munmap(ring->sq.sqes, ring->sqes_map_len);
	if (ring->cq_map && ring->cq_map != ring->sq_map)
		rk__sys_munmap(ring->cq_map, ring->cq_map_len);
	if (ring->sq_map)
		rk__sys_munmap(ring->sq_map, ring->sq_map_len);
	ring->sq.sqes = NULL;
	ring->sq_map = ring->cq_map = NULL;
}

static int map_rings(rk_ring *ring, const struct io_uring_params *p)
{
	const int prot = PROT_READ | PROT_WRITE;
	const int mflags = MAP_SHARED | MAP_POPULATE;

	ring->sq_map_len = p->sq_off.array + p->sq_entries * sizeof(uint32_t);
	ring->cq_map_len = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
	if (p->features & IORING_FEAT_SINGLE_MMAP) {
		if (ring->cq_map_len > ring->sq_map_len)
			ring->sq_map_len = ring->cq_map_len;
		ring->cq_map_len = ring->sq_map_len;
	}
	void *sq = rk__sys_mmap(ring->sq_map_len, prot, mflags, ring->fd, IORING_OFF_SQ_RING);
	if (sq == MAP_FAILED)
		return -errno;
	ring->sq_map = sq;
	if (p->features & IORING_FEAT_SINGLE_MMAP) {
		ring->cq_map = sq;
	} else {
		void *cq = rk__sys_mmap(ring->cq_map_len, prot, mflags, ring->fd, IORING_OFF_CQ_RING);
		if (cq == MAP_FAILED) {
			int err = -errno;
			unmap_rings(ring);
			return err;
		}
		ring->cq_map = cq;
	}
	ring->sqes_map_len = p->sq_entries * sizeof(struct io_uring_sqe);
	void *sqes = rk__sys_mmap(ring->sqes_map_len, prot, mflags, ring->fd, IORING_OFF_SQES);
	if (sqes == MAP_FAILED) {
		int err = -errno;
		unmap_rings(ring);
		return err;
	}

	unsigned char *s = ring->sq_map, *c = ring->cq_map;
	ring->sq.khead = (uint32_t *)(s + p->sq_off.head);
	ring->sq.ktail = (uint32_t *)(s + p->sq_off.tail);
	ring->sq.kflags = (uint32_t *)(s + p->sq_off.flags);
	ring->sq.kdropped = (uint32_t *)(s + p->sq_off.dropped);
	ring->sq.mask = *(uint32_t *)(s + p->sq_off.ring_mask);
	ring->sq.entries = *(uint32_t *)(s + p->sq_off.ring_entries);
	ring->sq.sqes = sqes;
	ring->sq.tail = ring->sq.published = *ring->sq.ktail;
	ring->sq.next = ring->sq.stop = ring->sq.mark = NULL; /* counted before a resize */
	/* SQEs are always written in ring order, so the indirection array is
	 * the identity, set once (NO_SQARRAY: the kernel has none). */
	if (!(p->flags & IORING_SETUP_NO_SQARRAY)) {
		ring->sq.array = (uint32_t *)(s + p->sq_off.array);
		for (uint32_t i = 0; i < ring->sq.entries; i++)
			ring->sq.array[i] = i;
	}

	ring->cq.khead = (uint32_t *)(c + p->cq_off.head);
	ring->cq.ktail = (uint32_t *)(c + p->cq_off.tail);
	ring->cq.koverflow = (uint32_t *)(c + p->cq_off.overflow);
	ring->cq.kflags = p->cq_off.flags ? (uint32_t *)(c + p->cq_off.flags) : NULL;
	ring->cq.mask = *(uint32_t *)(c + p->cq_off.ring_mask);
	ring->cq.entries = *(uint32_t *)(c + p->cq_off.ring_entries);
	ring->cq.cqes = (struct io_uring_cqe *)(c + p->cq_off.cqes);
	return 0;
}

/* IORING_REGISTER_RESIZE_RINGS moves both queues to new memory: the SQ
 * entries the kernel has not consumed and the CQEs not yet reaped are
 * copied, up to the tail it sees; our mappings of the old queues stay
 * valid but dead, and are replaced. */
static int uring_resize(rk_ring *ring, uint32_t sq, uint32_t cq)
{
	/* Entries written but not yet published (a chain held back behind
	 * ops in the overflow queue) are past that tail: they are copied
	 * over by hand. */
	rk__sq_count(ring);
	uint32_t held = ring->sq.tail - ring->sq.published;
	if (ring->sq.tail - rk__load_acquire(ring->sq.khead) > sq)
		return -EBUSY;
	struct io_uring_sqe *keep = NULL;
	if (held) {
		keep = rk__calloc(held, sizeof(*keep));
		if (!keep)
			return -ENOMEM;
		for (uint32_t i = 0; i < held; i++)
			keep[i] = ring->sq.sqes[(ring->sq.published + i) & ring->sq.mask];
	}
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.sq_entries = sq;
	p.cq_entries = cq;
	p.flags = IORING_SETUP_CQSIZE | (ring->setup_flags & IORING_SETUP_CLAMP);
	int ret = rk__sys_register(ring->fd, RK_IORING_REGISTER_RESIZE_RINGS, &p, 1);
	if (ret < 0) {
		rk__free(keep);
		/* The CQEs waiting (a multishot op's many) do not fit. */
		return ret == -EOVERFLOW ? -EBUSY : ret;
	}
	/* The kernel filled in the new offsets; flags and features are the
	 * ring's own. */
	p.flags = ring->setup_flags;
	p.features = ring->features;
	struct rk_sq old_sq = ring->sq;
	struct rk_cq old_cq = ring->cq;
	void *old_sq_map = ring->sq_map, *old_cq_map = ring->cq_map;
	size_t old_lens[3] = {ring->sq_map_len, ring->cq_map_len, ring->sqes_map_len};
	/* map_rings, failing, unmaps what it finds in the ring: only its own. */
	ring->sq.sqes = NULL;
	ring->sq_map = ring->cq_map = NULL;
	ret = map_rings(ring, &p);
	if (ret < 0) {
		/* The kernel's queues are the new ones, which cannot be mapped:
		 * the ring keeps its dead mappings (nothing faults) and is shut
		 * as a ring waiting for rk_ring_restrict is (-EBADFD), which no
		 * open ring can become again: only rk_ring_close is left. */
		rk__ring_disable(ring);
		ring->sq = old_sq;
		ring->cq = old_cq;
		ring->sq_map = old_sq_map;
		ring->cq_map = old_cq_map;
		ring->sq_map_len = old_lens[0];
		ring->cq_map_len = old_lens[1];
		ring->sqes_map_len = old_lens[2];
		rk__sq_forget_room(&ring->sq);
		rk__free(keep);
		return ret;
	}
	if (old_sq.sqes)
		rk__sys_munmap(old_sq.sqes, old_lens[2]);
	if (old_cq_map && old_cq_map != old_sq_map)
		rk__sys_munmap(old_cq_map, old_lens[1]);
	rk__sys_munmap(old_sq_map, old_lens[0]);
	/* map_rings took the tail from the kernel: the held entries follow,
	 * unpublished still. No room is known in the new SQ yet (none is
	 * always safe: rk__op_sqe_slow refills it). */
	for (uint32_t i = 0; i < held; i++)
		ring->sq.sqes[ring->sq.tail++ & ring->sq.mask] = keep[i];
	rk__sq_forget_room(&ring->sq);
	rk__free(keep);
	return 0;
}

/* A probe that fails fails the ring: left empty, it would make every
 * opcode look unsupported for the ring's whole life. */
static int load_probe(rk_ring *ring)
{
	size_t len = sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op);
	struct io_uring_probe *probe = rk__calloc(1, len);
	if (!probe)
		return -ENOMEM;
	int ret = rk__sys_register(ring->fd, IORING_REGISTER_PROBE, probe, 256);
	if (ret >= 0) {
		for (unsigned i = 0; i < probe->ops_len && i < 256; i++)
			if (probe->ops[i].flags & IO_URING_OP_SUPPORTED)
				ring->probe[probe->ops[i].op] = 1;
		ret = 0;
	}
	rk__free(probe);
	return ret;
}

static int uring_create(rk_ring *ring, uint32_t entries, uint32_t flags, uint32_t cq_entries,
                        uint32_t capacity, uint32_t sq_thread_idle_ms)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	/* SUBMIT_ALL: an SQE that fails early still completes on its own and
	 * does not stop the rest of the batch. NO_SQARRAY (Linux 6.6): the
	 * kernel takes SQEs in ring order, without reading an index array for
	 * each one. */
	p.flags = setup_flags_for(flags) | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_NO_SQARRAY;
	if (cq_entries) {
		p.flags |= IORING_SETUP_CQSIZE;
		p.cq_entries = cq_entries;
	}
	if (flags & RK_RING_SQPOLL)
		p.sq_thread_idle = sq_thread_idle_ms;
	int fd = rk__sys_setup(entries, &p);
	if (fd == -EINVAL) {
		/* Before 6.6: the index array it is. */
		p.flags &= ~IORING_SETUP_NO_SQARRAY;
		memset(&p.sq_off, 0, sizeof(p.sq_off));
		memset(&p.cq_off, 0, sizeof(p.cq_off));
		fd = rk__sys_setup(entries, &p);
	}
	if (fd == -EINVAL) {
		/* Kernels before 5.18 lack SUBMIT_ALL; they behave the same for
		 * us except that a failing SQE ends the batch early. */
		p.flags &= ~IORING_SETUP_SUBMIT_ALL;
		memset(&p.sq_off, 0, sizeof(p.sq_off));
		memset(&p.cq_off, 0, sizeof(p.cq_off));
		fd = rk__sys_setup(entries, &p);
	}
	if (fd < 0)
		return fd;
	ring->be = &rk__uring_backend;
	ring->fd = fd;
	ring->setup_flags = p.flags;
	ring->rk_flags = flags;
	ring->features = p.features;

	int ret = map_rings(ring, &p);
	if (ret == 0) {
		if (capacity == 0)
			capacity = 4 * ring->sq.entries;
		if (capacity < ring->sq.entries)
			capacity = ring->sq.entries;
		ret = rk__table_init(ring, capacity);
		if (ret == 0)
			ret = load_probe(ring);
	}
	if (ret < 0) {
		rk__table_free(ring);
		unmap_rings(ring);
		close(fd);
		memset(ring, 0, sizeof(*ring));
		return ret;
	}
	return 0;
}

/* Closing a ring inherited through fork() frees this process's copy only:
 * the kernel's ring, its ops and its buffer groups are the parent's. */
static void uring_close_inherited(rk_ring *ring)
{
	unmap_rings(ring);
	close(ring->fd);
}

static int uring_close(rk_ring *ring)
{
	/* Ops that never reached the kernel are simply forgotten. */
	rk__sq_count(ring);
	rk__forget_unsubmitted(ring);
	rk__cancel_staged(ring, false);

	int ret = 0;
	if (ring->in_kernel > 0)
		ret = rk__wait_idle(ring, RK_CLOSE_TIMEOUT_NS);

	rk__ring_drop_regions(ring);
	if (ret == 0) /* the kernel holds nothing: provided chunks come back */
		rk__ring_drop_groups(ring, true);
	unmap_rings(ring);
	close(ring->fd);
	if (ret < 0) {
		/* The kernel may still write paths, iovecs or chunks of ops it
		 * holds: leaking the table is the only safe choice. */
		return ret;
	}
	rk__table_free(ring);
	return 0;
}

static int uring_set_eventfd(rk_ring *ring, int fd, uint32_t flags)
{
	if (fd < 0)
		return rk__sys_register(ring->fd, IORING_UNREGISTER_EVENTFD, NULL, 0);
	uint32_t op = (flags & RK_EVENTFD_ASYNC) ? IORING_REGISTER_EVENTFD_ASYNC
	                                         : IORING_REGISTER_EVENTFD;
	int ret = rk__sys_register(ring->fd, op, &fd, 1);
	return ret < 0 ? ret : 0;
}

/* IORING_REGISTER_SYNC_CANCEL needs no SQE and no slot, but finds only ops
 * the kernel holds: submit what is queued first; what the kernel still did
 * not take is cancelled here (src/uring/cancel.c). */
static int uring_cancel_sync(rk_ring *ring, struct rk_op *op, int64_t target_id,
                             int64_t timeout_ns)
{
	if (op->state == RK_OP_STAGED || rk__sq_used(ring)) {
		rk__flush_and_enter(ring, false);
		if (op->state == RK_OP_STAGED || rk__sq_used(ring)) {
			uint32_t index;
			if (rk__cancel_unsubmitted(ring, op, &index))
				return 0;
			if (index != RK_NONE) {
				int ret = rk__wait_sq_taken(ring, index, timeout_ns);
				if (ret < 0)
					return ret;
			}
		}
	}
	struct io_uring_sync_cancel_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.addr = (uint64_t)target_id;
	reg.fd = -1;
	/* The kernel adds the timeout to its clock: past RK_TIME_NEVER is "no
	 * limit", which also keeps that sum from overflowing. */
	bool never = timeout_ns < 0 || timeout_ns >= RK_TIME_NEVER;
	reg.timeout.tv_sec = never ? -1 : timeout_ns / 1000000000;
	reg.timeout.tv_nsec = never ? -1 : timeout_ns % 1000000000;
	int ret = rk__sys_register(ring->fd, IORING_REGISTER_SYNC_CANCEL, &reg, 1);
	return ret > 0 ? 0 : ret;
}

/* The file table is always registered sparse: slots start empty. */
static int uring_files_register(rk_ring *ring, uint32_t nslots)
{
	struct io_uring_rsrc_register reg;
	memset(&reg, 0, sizeof(reg));
	reg.nr = nslots;
	reg.flags = IORING_RSRC_REGISTER_SPARSE;
	int ret = rk__sys_register(ring->fd, IORING_REGISTER_FILES2, &reg, sizeof(reg));
	return ret < 0 ? ret : 0;
}

/* The kernel takes its own reference to each file during the call, so the
 * caller's array is not kept. */
static int uring_files_update(rk_ring *ring, uint32_t offset, const int32_t *fds, uint32_t n)
{
	struct io_uring_rsrc_update2 up;
	memset(&up, 0, sizeof(up));
	up.offset = offset;
	up.data = (uint64_t)(uintptr_t)fds;
	up.nr = n;
	return rk__sys_register(ring->fd, IORING_REGISTER_FILES_UPDATE2, &up, sizeof(up));
}

static int uring_files_unregister(rk_ring *ring)
{
	int ret = rk__sys_register(ring->fd, IORING_UNREGISTER_FILES, NULL, 0);
	return ret < 0 ? ret : 0;
}

/* The ring's fixed-buffer table is created sparse, once, with a slot per
 * region: registering a region later is one update of one slot, and regions
 * come and go without re-registering the others. */
static int uring_buffer_slot(rk_ring *ring, int slot, void *base, size_t len)
{
	if (!ring->buffers_registered) {
		struct io_uring_rsrc_register reg;
		memset(&reg, 0, sizeof(reg));
		reg.nr = RK_RING_MAX_REGIONS;
		reg.flags = IORING_RSRC_REGISTER_SPARSE;
		int ret = rk__sys_register(ring->fd, IORING_REGISTER_BUFFERS2, &reg, sizeof(reg));
		if (ret < 0)
			return ret;
		ring->buffers_registered = 1;
	}
	struct iovec iov = {.iov_base = base, .iov_len = len};
	struct io_uring_rsrc_update2 up;
	memset(&up, 0, sizeof(up));
	up.offset = (uint32_t)slot;
	up.data = (uint64_t)(uintptr_t)&iov;
	up.nr = 1;
	int ret = rk__sys_register(ring->fd, IORING_REGISTER_BUFFERS_UPDATE, &up, sizeof(up));
	return ret < 0 ? ret : 0;
}

static int uring_group_register(rk_ring *ring, struct rk_group *g, uint32_t entries)
{
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)g->br;
	reg.ring_entries = entries;
	reg.bgid = g->bgid;
	reg.pad = g->inc ? IOU_PBUF_RING_INC : 0; /* the kernel's flags */
	int ret = rk__sys_register(ring->fd, IORING_REGISTER_PBUF_RING, &reg, 1);
	return ret < 0 ? ret : 0;
}

static int uring_group_unregister(rk_ring *ring, struct rk_group *g)
{
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.bgid = g->bgid;
	int ret = rk__sys_register(ring->fd, IORING_UNREGISTER_PBUF_RING, &reg, 1);
	return ret < 0 ? ret : 0;
}

/* The kernel cannot post into a listed ring: the message goes now, and the
 * op is complete at once with what posting it gave (the SQE begun is
 * simply not used). A fixed file is a slot of this ring's table, which
 * never holds a ring: the kernel answers for it. */
static int64_t uring_prep_msg_ring(rk_ring *ring, struct rk_op *op, struct io_uring_sqe *sqe,
                                   int target_fd, uint64_t data, int32_t res, uint32_t flags)
{
	int32_t r;
	if (!(flags & RK_FIXED_FILE) && rk__registry_post(target_fd, data, res, &r))
		return rk__op_commit_local(ring, op, r);
	return rk__msg_prep(ring, op, sqe, target_fd, data, res, flags);
}

static void uring_stats(rk_ring *ring, uint64_t *v)
{
	v[RK_STAT_CQ_OVERFLOW] = __atomic_load_n(ring->cq.koverflow, __ATOMIC_RELAXED);
	v[RK_STAT_FEATURES] = ring->features;
}

const struct rk_backend rk__uring_backend = {
	.id = RK_BACKEND_URING,
	.create = uring_create,
	.submit = rk__flush_and_enter,
	.reap = rk__uring_reap,
	.close = uring_close,
	.close_inherited = uring_close_inherited,
	.cancel_all = rk__cancel_everything,
	.cancel_sync = uring_cancel_sync,
	.set_eventfd = uring_set_eventfd,
	.files_register = uring_files_register,
	.files_update = uring_files_update,
	.files_unregister = uring_files_unregister,
	.buffer_slot = uring_buffer_slot,
	.group_register = uring_group_register,
	.group_unregister = uring_group_unregister,
	.stats = uring_stats,
	.prep_msg_ring = uring_prep_msg_ring,
	.files_alloc_range = rk__uring_files_alloc_range,
	.feature = rk__uring_feature,
	.prep_msg_fd = rk__uring_prep_msg_fd,
	.restrict_ops = rk__uring_restrict,
	.resize = uring_resize,
};
