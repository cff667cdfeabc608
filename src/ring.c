/*
 * Rings: choosing a backend, and the public ring calls both backends share.
 * Setup, submission and completion are the backend's (src/uring/,
 * src/fallback/); this file validates arguments and dispatches.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
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
                       RK_RING_COOP_TASKRUN | RK_RING_CLAMP | RK_RING_MSG_TARGET | \
                       RK_RING_FALLBACK | RK_RING_NO_FALLBACK | RK_RING_RESTRICTABLE)

/* io_uring_setup's limits (IORING_MAX_ENTRIES, IORING_MAX_CQ_ENTRIES, twice
 * the SQ's); plain decimals, as refusal() quotes them. */
#define RK_MAX_SQ_ENTRIES 32768
#define RK_MAX_CQ_ENTRIES 65536

int rk__ring_sizes(uint32_t entries, uint32_t flags, uint32_t cq_entries, uint32_t *sq,
                   uint32_t *cq)
{
	if (entries > RK_MAX_SQ_ENTRIES) {
		if (!(flags & RK_RING_CLAMP))
			return -EINVAL;
		entries = RK_MAX_SQ_ENTRIES;
	}
	*sq = rk__pow2_at_least(entries);
	if (cq_entries) {
		if (cq_entries > RK_MAX_CQ_ENTRIES) {
			if (!(flags & RK_RING_CLAMP))
				return -EINVAL;
			cq_entries = RK_MAX_CQ_ENTRIES;
		}
		*cq = rk__pow2_at_least(cq_entries);
		if (*cq < *sq)
			return -EINVAL;
	} else {
		*cq = 2 * *sq;
	}
	return 0;
}

enum choice { AUTO, URING_ONLY, FALLBACK_ONLY };

/* RINGKIT_BACKEND's choice, or -EINVAL for a value it does not know. */
static int env_choice(void)
{
	const char *env = getenv("RINGKIT_BACKEND");
	if (!env || !env[0] || strcmp(env, "auto") == 0)
		return AUTO;
	if (strcmp(env, "uring") == 0 || strcmp(env, "io_uring") == 0)
		return URING_ONLY;
	if (strcmp(env, "fallback") == 0)
		return FALLBACK_ONLY;
	return -EINVAL; /* a misspelt kill switch must not pass unnoticed */
}

/* Create flags first (the program knows what it needs), then the
 * RINGKIT_BACKEND environment variable (the operator's switch), then
 * io_uring with the fallback when setup is refused. */
static int backend_choice(uint32_t flags)
{
	if ((flags & RK_RING_FALLBACK) && (flags & RK_RING_NO_FALLBACK))
		return -EINVAL;
	if (flags & RK_RING_FALLBACK)
		return FALLBACK_ONLY;
	if (flags & RK_RING_NO_FALLBACK)
		return URING_ONLY;
	return env_choice();
}

#define RK_STR_(x) #x
#define RK_STR(x) RK_STR_(x)

/* The first reason rk_ring_create_ex refuses these arguments itself, before
 * any backend is tried, in words; NULL when it takes them. The sizes are
 * int64_t so that rk_ring_create_strerror can explain what a binding could
 * not even pass (a negative size). The one list of these checks: the create
 * call and its explanation cannot drift apart. */
static const char *refusal(int64_t entries, uint32_t flags, int64_t cq_entries,
                           int64_t capacity, int64_t sq_thread_idle_ms)
{
	int clamp = (flags & RK_RING_CLAMP) != 0;
	if (flags & ~RK_RING_FLAGS)
		return "flags: unknown RK_RING_* bits";
	if ((flags & RK_RING_FALLBACK) && (flags & RK_RING_NO_FALLBACK))
		return "RK_RING_FALLBACK and RK_RING_NO_FALLBACK exclude each other";
	if (backend_choice(flags) < 0)
		return "RINGKIT_BACKEND must be auto, uring or fallback (or unset or empty: auto); "
		       "it holds another value";
	if (entries < 1 || entries > UINT32_MAX || (!clamp && entries > RK_MAX_SQ_ENTRIES))
		return "entries must be 1.." RK_STR(RK_MAX_SQ_ENTRIES) " (larger values only "
		       "with RK_RING_CLAMP, which clamps them to that)";
	if (cq_entries < 0 || cq_entries > UINT32_MAX || (cq_entries && cq_entries < entries) ||
	    (!clamp && cq_entries > RK_MAX_CQ_ENTRIES))
		return "cq_entries must be 0 (twice the SQ) or from entries to "
		       RK_STR(RK_MAX_CQ_ENTRIES) " (larger values only with RK_RING_CLAMP)";
	if (capacity < 0 || capacity > RK_MAX_CAPACITY)
		return "capacity must be 0 (4x the SQ) or at most " RK_STR(RK_MAX_CAPACITY)
		       " op slots (less than the SQ size gives the SQ size)";
	if (sq_thread_idle_ms < 0 || sq_thread_idle_ms > UINT32_MAX)
		return "sq_thread_idle_ms must be 0 (the kernel's default) to 4294967295";
	return NULL;
}

/* What io_uring_setup's errors mean where the fallback was forbidden, by
 * the flag or by RINGKIT_BACKEND=uring: only what applies to a ring that
 * could not be created (rk_strerror's words cover every context). */
static const struct {
	int err;
	const char *flag, *env;
} forbidden[] = {
#define RK_EPERM_WHY "Operation not permitted: io_uring is refused here, by a seccomp filter " \
	"such as a container runtime's default profile, or by sysctl " \
	"kernel.io_uring_disabled (2 disables it, 1 allows only members of " \
	"kernel.io_uring_group); allow io_uring for this process or run elsewhere. "
#define RK_ENOSYS_WHY "Function not implemented: this kernel has no io_uring (too old, or " \
	"built without CONFIG_IO_URING; ringkit's io_uring backend needs Linux 5.19 or newer). "
	{EPERM, RK_EPERM_WHY "RK_RING_NO_FALLBACK forbade ringkit's fallback backend, which "
	                     "would run the same API here",
	 RK_EPERM_WHY "RINGKIT_BACKEND=uring forbade ringkit's fallback backend, which would "
	              "run the same API here"},
	{ENOSYS, RK_ENOSYS_WHY "RK_RING_NO_FALLBACK forbade ringkit's fallback backend, which "
	                       "runs anywhere",
	 RK_ENOSYS_WHY "RINGKIT_BACKEND=uring forbade ringkit's fallback backend, which runs "
	               "anywhere"},
	{EINVAL, "Invalid argument: this kernel's io_uring lacks a requested setup mode "
	         "(SQPOLL, SINGLE_ISSUER, DEFER_TASKRUN or COOP_TASKRUN), and "
	         "RK_RING_NO_FALLBACK forbade ringkit's fallback backend, which accepts them",
	 "Invalid argument: this kernel's io_uring lacks a requested setup mode (SQPOLL, "
	 "SINGLE_ISSUER, DEFER_TASKRUN or COOP_TASKRUN), and RINGKIT_BACKEND=uring forbade "
	 "ringkit's fallback backend, which accepts them"},
#undef RK_EPERM_WHY
#undef RK_ENOSYS_WHY
};

const char *rk_ring_create_strerror(int err, int64_t entries, uint32_t flags,
                                    int64_t cq_entries, int64_t capacity,
                                    int64_t sq_thread_idle_ms)
{
	if (err == -EINVAL || err == EINVAL) {
		const char *why = refusal(entries, flags, cq_entries, capacity, sq_thread_idle_ms);
		if (why)
			return why;
	}
	if (backend_choice(flags) == URING_ONLY) {
		int e = err < 0 && err != INT_MIN ? -err : err;
		for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
			if (forbidden[i].err == e)
				return flags & RK_RING_NO_FALLBACK ? forbidden[i].flag
				                                   : forbidden[i].env;
	}
	return rk_strerror(err);
}

int rk_ring_create_ex(uint32_t entries, uint32_t flags, uint32_t cq_entries, uint32_t capacity,
                      uint32_t sq_thread_idle_ms, rk_ring **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (refusal(entries, flags, cq_entries, capacity, sq_thread_idle_ms))
		return -EINVAL;
	int choice = backend_choice(flags);
	if (choice < 0)
		return choice;
	flags &= ~(RK_RING_FALLBACK | RK_RING_NO_FALLBACK);

	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, watch_forks);

	rk_ring *ring = rk__calloc(1, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	int ret = 0;
	if (choice != FALLBACK_ONLY) {
		ret = rk__uring_backend.create(ring, entries, flags, cq_entries, capacity,
		                               sq_thread_idle_ms);
		if (ret == 0 || choice == URING_ONLY)
			goto done;
		/* Refused, whatever the errno (seccomp's EPERM, ENOSYS, a sysctl,
		 * a setup mode this kernel lacks, a memlock limit): the fallback
		 * runs the same API on threads and epoll. */
	}
	ret = rk__fallback_backend.create(ring, entries, flags, cq_entries, capacity,
	                                  sq_thread_idle_ms);
done:
	/* A ring no kernel posts messages into is listed, so that other rings
	 * reach it (msgring.c). */
	if (ret == 0 && ring->be->post_message && (ret = rk__registry_add(ring)) < 0)
		ring->be->close(ring);
	if (ret < 0) {
		rk__free(ring);
		return ret;
	}
	ring->epoch = rk__fork_epoch;
	if (flags & RK_RING_RESTRICTABLE) /* until rk_ring_restrict */
		rk__ring_disable(ring);
	else
		rk__ring_key(ring);
	ring->euid = (uint32_t)geteuid();
	ring->egid = (uint32_t)getegid();
	*out = ring;
	return 0;
}

int rk_ring_create(uint32_t entries, uint32_t flags, rk_ring **out)
{
	return rk_ring_create_ex(entries, flags, 0, 0, 0, out);
}

int rk_ring_close(rk_ring *ring)
{
	if (!ring)
		return -EINVAL;
	if (ring->closed)
		return -EBADF;
	/* A ring inherited through fork(): only this process's copy is freed
	 * (the kernel's ring, the fallback's threads, are the parent's). */
	int ret = 0;
	if (rk__check_ring(ring) == -ECHILD) {
		rk__close_inherited(ring);
	} else {
		/* No more messages into it, before the backend closes it. */
		bool listed = ring->be->post_message && rk__registry_remove(ring);
		ret = ring->be->close(ring);
		/* The kernel is done with the copies' pipes and buffers; after
		 * a timed-out close it may not be: they are left to it. */
		if (ret == 0)
			rk__copy_free_all(ring);
		/* Once its threads are gone (one of them could still have been
		 * sending), the last listed ring takes the private io_uring along. */
		if (listed && ret == 0 && rk__registry_empty())
			rk__msg_release();
	}
	/* The backend released everything but the handle. Inside a dispatch
	 * callback the handle outlives the call: rk_reap_dispatch still reads
	 * it when the callback returns, and frees it then. After a timed-out
	 * close the handle is left, with what the kernel may still touch. */
	if (ring->dispatching) {
		ring->closed = true;
		rk__ring_key(ring);
		ring->close_leaked = ret < 0;
	} else if (ret == 0) {
		rk__free(ring);
	}
	return ret;
}

/* In a child of fork(): the ops are the parent's (in its kernel ring or
 * its threads); this copy unpins its chunks, as do its regions and groups,
 * without telling any kernel. */
void rk__close_inherited(rk_ring *ring)
{
	for (uint32_t i = 0; i < ring->capacity; i++)
		if (ring->ops[i].state != RK_OP_FREE)
			rk__op_release(ring, &ring->ops[i]);
	rk__ring_drop_regions(ring);
	rk__ring_drop_groups(ring, false);
	ring->be->close_inherited(ring);
	rk__copy_free_all(ring);
	rk__table_free(ring);
}

int rk_ring_backend(rk_ring *ring)
{
	int err = rk__check_ring(ring);
	return err ? err : (int)ring->be->id;
}

int rk_ring_cancel_all(rk_ring *ring)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	rk__copy_cancel_all(ring);
	return ring->be->cancel_all(ring);
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

bool rk__feature(rk_ring *ring, uint32_t f)
{
	if (!ring->feature[f])
		ring->feature[f] = ring->be->feature(ring, f) > 0 ? 1 : -1;
	return ring->feature[f] > 0;
}

int rk_ring_feature(rk_ring *ring, uint32_t feature)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	return feature < RK_FEATURE_COUNT ? rk__feature(ring, feature) : 0;
}

int rk_ring_resize(rk_ring *ring, uint32_t sq_entries, uint32_t cq_entries)
{
	int err = rk__check_ring(ring);
	if (err || (err = rk__gate_disabled(ring)))
		return err;
	if (ring->gate == RK_GATE_RESTRICTED)
		return -EACCES;
	uint32_t sq, cq;
	if (sq_entries == 0 || rk__ring_sizes(sq_entries, ring->rk_flags, cq_entries, &sq, &cq) < 0)
		return -EINVAL;
	/* Slots are never moved (the kernel holds pointers into their
	 * storage), so the table cannot grow with the SQ. */
	if (sq > ring->capacity)
		return -EINVAL;
	/* Decided in common code, so that the fallback refuses the same rings
	 * the kernel does (it resizes only DEFER_TASKRUN rings). */
	if (!(ring->rk_flags & RK_RING_DEFER_TASKRUN) || !rk__feature(ring, RK_FEATURE_RESIZE))
		return -EOPNOTSUPP;
	/* The kernel refuses only when the completions already posted do not
	 * fit, which depends on how far the ops have got; counting every op
	 * that may still post one answers alike on both backends, whenever
	 * it is asked. The submit below would end a chain being prepared. */
	rk__sq_count(ring);
	if (ring->live > cq || ring->chain_len)
		return -EBUSY;
	/* Queued ops go first, and completions the backend holds (deferred
	 * task work) are posted: whatever waits is then in the kernel or in
	 * the CQ, which the resize carries over. */
	ring->be->submit(ring, true);
	return ring->be->resize(ring, sq, cq);
}

int rk_ring_register_eventfd(rk_ring *ring, int fd, uint32_t flags)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	if ((err = rk__restrict_call(ring, RK_RESTRICT_EVENTFD)))
		return err;
	if (flags & ~RK_EVENTFD_ASYNC)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (ring->eventfd_registered)
		return -EBUSY;
	/* A ring's fd is never an eventfd to signal: io_uring refuses its own
	 * and every other io_uring (not eventfds); a listed ring's is one (a
	 * fallback ring's), but signalling it would wake that ring's waits
	 * with nothing to reap. */
	if (rk__registry_has(fd))
		return -EINVAL;
	int ret = ring->be->set_eventfd(ring, fd, flags);
	if (ret < 0)
		return ret;
	ring->eventfd_registered = 1;
	return 0;
}

int rk_ring_unregister_eventfd(rk_ring *ring)
{
	int err = rk__check_ring(ring);
	if (err || (err = rk__restrict_call(ring, RK_RESTRICT_EVENTFD)))
		return err;
	if (!ring->eventfd_registered)
		return -ENXIO;
	int ret = ring->be->set_eventfd(ring, -1, 0);
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
	rk__sq_count(ring);
	uint64_t v[RK_STAT_COUNT] = {
		[RK_STAT_INFLIGHT] = ring->live,
		[RK_STAT_OVERFLOW_QUEUE] = ring->staged_count,
		[RK_STAT_SQ_ENTRIES] = ring->sq.entries,
		[RK_STAT_CQ_ENTRIES] = ring->cq.entries,
		[RK_STAT_CAPACITY] = ring->capacity,
		[RK_STAT_SUBMITTED] = ring->total_submitted,
		[RK_STAT_COMPLETED] = ring->total_completed,
		[RK_STAT_CQES] = ring->total_cqes,
		[RK_STAT_BACKEND] = ring->be->id,
	};
	ring->be->stats(ring, v);
	if (n > RK_STAT_COUNT)
		n = RK_STAT_COUNT;
	if (n)
		memcpy(out, v, n * sizeof(uint64_t));
	return (int)n;
}

int rk_submit(rk_ring *ring)
{
	int err = rk__check_ring(ring);
	if (err || (err = rk__gate_disabled(ring)))
		return err;
	int ret = ring->be->submit(ring, true);
	if (__builtin_expect(ring->copies != NULL, 0))
		rk__copy_kick(ring);
	return ret;
}

int rk_reap(rk_ring *ring, rk_cqe *out, uint32_t max, uint32_t wait_nr, int64_t timeout_ns)
{
	int err;
	if (__builtin_expect(rk__ring_unkeyed(ring), 0) &&
	    ((err = rk__check_ring(ring)) != 0 || (err = rk__gate_disabled(ring)) != 0))
		return err;
	if (!out && max)
		return -EINVAL;
	if (wait_nr > max)
		wait_nr = max;
	int ret = ring->be->reap(ring, out, max, wait_nr, timeout_ns);
	/* A copy's sub-ops queued while its completions were drained go to
	 * the backend now, not with the caller's next call. */
	if (__builtin_expect(ring->copies != NULL, 0))
		rk__copy_kick(ring);
	return ret;
}
