/*
 * Ring setup and teardown: io_uring_setup, the three mappings, the probe, and
 * the close path that waits for the kernel before freeing anything it may
 * still write.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ids.h"

uint32_t rk__fork_epoch;

static void forked_child(void)
{
	rk__fork_epoch++;
}

static void watch_forks(void)
{
	pthread_atfork(NULL, NULL, forked_child);
}

#define RK_RING_FLAGS (RK_RING_SQPOLL | RK_RING_SINGLE_ISSUER | RK_RING_DEFER_TASKRUN | \
                       RK_RING_COOP_TASKRUN | RK_RING_CLAMP | RK_RING_MSG_TARGET)
#define RK_CLOSE_TIMEOUT_NS (10 * 1000000000LL)

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
	ring->sq.array = (uint32_t *)(s + p->sq_off.array);
	ring->sq.mask = *(uint32_t *)(s + p->sq_off.ring_mask);
	ring->sq.entries = *(uint32_t *)(s + p->sq_off.ring_entries);
	ring->sq.sqes = sqes;
	ring->sq.tail = ring->sq.published = *ring->sq.ktail;
	/* SQEs are always written in ring order, so the indirection array is
	 * the identity, set once. */
	for (uint32_t i = 0; i < ring->sq.entries; i++)
		ring->sq.array[i] = i;

	ring->cq.khead = (uint32_t *)(c + p->cq_off.head);
	ring->cq.ktail = (uint32_t *)(c + p->cq_off.tail);
	ring->cq.koverflow = (uint32_t *)(c + p->cq_off.overflow);
	ring->cq.kflags = p->cq_off.flags ? (uint32_t *)(c + p->cq_off.flags) : NULL;
	ring->cq.mask = *(uint32_t *)(c + p->cq_off.ring_mask);
	ring->cq.entries = *(uint32_t *)(c + p->cq_off.ring_entries);
	ring->cq.cqes = (struct io_uring_cqe *)(c + p->cq_off.cqes);
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

int rk_ring_create_ex(uint32_t entries, uint32_t flags, uint32_t cq_entries, uint32_t capacity,
                      uint32_t sq_thread_idle_ms, rk_ring **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (entries == 0 || (flags & ~RK_RING_FLAGS))
		return -EINVAL;
	if (cq_entries && cq_entries < entries)
		return -EINVAL;
	if (capacity > RK_MAX_CAPACITY)
		return -EINVAL;

	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, watch_forks);

	rk_ring *ring = rk__calloc(1, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	ring->epoch = rk__fork_epoch;
	ring->euid = (uint32_t)geteuid();
	ring->egid = (uint32_t)getegid();

	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	/* SUBMIT_ALL: an SQE that fails early still completes on its own and
	 * does not stop the rest of the batch. */
	p.flags = setup_flags_for(flags) | IORING_SETUP_SUBMIT_ALL;
	if (cq_entries) {
		p.flags |= IORING_SETUP_CQSIZE;
		p.cq_entries = cq_entries;
	}
	if (flags & RK_RING_SQPOLL)
		p.sq_thread_idle = sq_thread_idle_ms;
	int fd = rk__sys_setup(entries, &p);
	if (fd == -EINVAL) {
		/* Kernels before 5.18 lack SUBMIT_ALL; they behave the same for
		 * us except that a failing SQE ends the batch early. */
		p.flags &= ~IORING_SETUP_SUBMIT_ALL;
		memset(&p.sq_off, 0, sizeof(p.sq_off));
		memset(&p.cq_off, 0, sizeof(p.cq_off));
		fd = rk__sys_setup(entries, &p);
	}
	if (fd < 0) {
		rk__free(ring);
		return fd;
	}
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
		rk__free(ring);
		return ret;
	}
	*out = ring;
	return 0;
}

int rk_ring_create(uint32_t entries, uint32_t flags, rk_ring **out)
{
	return rk_ring_create_ex(entries, flags, 0, 0, 0, out);
}

/* Closing a ring inherited through fork() frees this process's copy only:
 * the kernel's ring, its ops and its buffer groups are the parent's. */
static int close_inherited(rk_ring *ring)
{
	for (uint32_t i = 0; i < ring->capacity; i++)
		if (ring->ops[i].state != RK_OP_FREE)
			rk__op_release(ring, &ring->ops[i]); /* unpins this copy's chunks */
	rk__ring_drop_regions(ring);
	rk__ring_drop_groups(ring, false);
	unmap_rings(ring);
	close(ring->fd);
	rk__table_free(ring);
	rk__free(ring);
	return 0;
}

int rk_ring_close(rk_ring *ring)
{
	if (!ring)
		return -EINVAL;
	if (rk__check_ring(ring) == -ECHILD)
		return close_inherited(ring);

	/* Ops that never reached the kernel are simply forgotten. */
	rk__forget_unsubmitted(ring);
	while (ring->staged_head != RK_NONE) {
		struct rk_op *op = &ring->ops[ring->staged_head];
		ring->staged_head = op->next;
		rk__op_release(ring, op);
	}
	while (ring->local_head != RK_NONE) {
		struct rk_op *op = &ring->ops[ring->local_head];
		ring->local_head = op->next;
		rk__op_release(ring, op);
	}

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
	rk__free(ring);
	return 0;
}

int rk_ring_cancel_all(rk_ring *ring)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	return rk__cancel_everything(ring);
}

int rk_ring_fd(rk_ring *ring)
{
	int err = rk__check_ring(ring);
	return err ? err : ring->fd;
}

int rk_ring_probe(rk_ring *ring, uint32_t opcode)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	return opcode < 256 ? ring->probe[opcode] : 0;
}

int rk_ring_register_eventfd(rk_ring *ring, int fd, uint32_t flags)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	if (flags & ~RK_EVENTFD_ASYNC)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (ring->eventfd_registered)
		return -EBUSY;
	uint32_t op = (flags & RK_EVENTFD_ASYNC) ? IORING_REGISTER_EVENTFD_ASYNC
	                                         : IORING_REGISTER_EVENTFD;
	int ret = rk__sys_register(ring->fd, op, &fd, 1);
	if (ret < 0)
		return ret;
	ring->eventfd_registered = 1;
	return 0;
}

int rk_ring_unregister_eventfd(rk_ring *ring)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	if (!ring->eventfd_registered)
		return -ENXIO;
	int ret = rk__sys_register(ring->fd, IORING_UNREGISTER_EVENTFD, NULL, 0);
	if (ret < 0)
		return ret;
	ring->eventfd_registered = 0;
	return 0;
}

int rk_ring_stats(rk_ring *ring, uint64_t *out, uint32_t n)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	if (!out && n)
		return -EINVAL;
	uint64_t v[RK_STAT_COUNT] = {
		[RK_STAT_INFLIGHT] = ring->live,
		[RK_STAT_OVERFLOW_QUEUE] = ring->staged_count,
		[RK_STAT_SQ_ENTRIES] = ring->sq.entries,
		[RK_STAT_CQ_ENTRIES] = ring->cq.entries,
		[RK_STAT_CAPACITY] = ring->capacity,
		[RK_STAT_SUBMITTED] = ring->total_submitted,
		[RK_STAT_COMPLETED] = ring->total_completed,
		[RK_STAT_CQ_OVERFLOW] = __atomic_load_n(ring->cq.koverflow, __ATOMIC_RELAXED),
		[RK_STAT_CQES] = ring->total_cqes,
		[RK_STAT_FEATURES] = ring->features,
	};
	if (n > RK_STAT_COUNT)
		n = RK_STAT_COUNT;
	if (n)
		memcpy(out, v, n * sizeof(uint64_t));
	return (int)n;
}
