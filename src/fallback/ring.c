/*
 * The fallback backend's rings: creation, close, the registrations (which
 * are bookkeeping here, not kernel calls; the file table's are in files.c),
 * and messages: no kernel posts
 * into a fallback ring, so its backend has a post_message hook and its
 * rings are in the core's registry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fb.h"

/* A ring is taken out of the registry before it closes, so a target found
 * there is not stopping. */
static int fb_post_message(rk_ring *target, uint64_t data, int32_t res)
{
	pthread_mutex_lock(&target->fb->mu);
	int r = target->fb->stopping ? -EBADFD : rk__fb_post_message_locked(target, data, res);
	pthread_mutex_unlock(&target->fb->mu);
	return r;
}

/* ---- create and close ------------------------------------------------- */

/* locks false: in a child of fork(), where a parent's thread may have held
 * them at the fork, they are neither taken nor destroyed. */
static void fb_free(rk_ring *ring, bool locks)
{
	struct rk_fb *fb = ring->fb;
	if (!fb)
		return;
	rk__free(fb->x);
	rk__free(fb->cq);
	for (int c = 0; c < FB_NCLOCKS; c++)
		rk__free(fb->heap[c]);
	rk__free(fb->counted);
	rk__free(fb->files);
	free(fb->fdw);
	if (locks) {
		pthread_mutex_destroy(&fb->mu);
		pthread_cond_destroy(&fb->work_cv);
		pthread_cond_destroy(&fb->idle_cv);
	}
	rk__free(fb);
	ring->fb = NULL;
}

/* Records waiting for rk_reap: room for two (result and notification) of
 * every slot, plus the CQ size for multishot records and messages. */
static uint32_t record_queue_size(uint32_t capacity, uint32_t cq)
{
	return rk__pow2_at_least(2 * (uint64_t)capacity + (cq > 64 ? cq : 64));
}

static int fb_create(rk_ring *ring, uint32_t entries, uint32_t flags, uint32_t cq_entries,
                     uint32_t capacity, uint32_t sq_thread_idle_ms)
{
	(void)sq_thread_idle_ms; /* no poll thread to idle */
	uint32_t sq, cq;
	int ret = rk__ring_sizes(entries, flags, cq_entries, &sq, &cq);
	if (ret < 0)
		return ret;
	if (capacity == 0)
		capacity = 4 * sq;
	if (capacity < sq)
		capacity = sq;

	memset(ring, 0, sizeof(*ring));
	struct rk_fb *fb = rk__calloc(1, sizeof(*fb));
	if (!fb)
		return -ENOMEM;
	ring->fb = fb;
	ring->be = &rk__fallback_backend;
	ring->rk_flags = flags;
	fb->epfd = fb->kickfd = fb->user_efd = -1;
	fb->stalled_head = fb->wq_head = fb->wq_tail = RK_NONE;
	fb->drain_head = fb->drain_tail = RK_NONE;
	pthread_mutex_init(&fb->mu, NULL);
	pthread_cond_init(&fb->work_cv, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fb->idle_cv, &ca);
	pthread_condattr_destroy(&ca);

	/* No SQ: every prepared op is staged in its slot (the preps see an SQ
	 * that is always full) and handed over whole at submit. */
	ring->sq.entries = sq;
	ring->sq.mask = sq - 1;
	ring->sq.khead = &fb->sq_head;
	ring->sq.tail = sq;
	ring->cq.entries = cq;

	uint32_t ncq = record_queue_size(capacity, cq);
	fb->cq = rk__calloc(ncq, sizeof(rk_cqe));
	fb->cq_mask = ncq - 1;
	fb->cq_reserve = 2 * capacity;
	fb->x = rk__calloc(capacity, sizeof(struct fb_op));
	for (int c = 0; c < FB_NCLOCKS; c++)
		fb->heap[c] = rk__calloc(capacity, sizeof(uint32_t));
	fb->counted = rk__calloc(capacity, sizeof(uint32_t));
	if (!fb->cq || !fb->x || !fb->heap[0] || !fb->heap[1] || !fb->heap[2] || !fb->counted) {
		ret = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < capacity; i++) {
		fb->x[i].link = fb->x[i].lt = fb->x[i].heap = RK_NONE;
		fb->x[i].own[0] = fb->x[i].own[1] = -1;
	}
	if ((ret = rk__table_init(ring, capacity)) < 0)
		goto fail;
	for (int op = 0; op < 256; op++)
		ring->probe[op] = rk__fb_supported((uint8_t)op);
	/* The service thread starts on first need; its descriptors exist from
	 * the start, so a ring's descriptor count never changes under the
	 * caller. */
	if ((ret = rk__fb_sys_poller()) < 0)
		goto fail;
	fb->epfd = ret;
	if ((ret = rk__fb_sys_eventfd()) < 0)
		goto fail;
	fb->kickfd = ret;
	if ((ret = rk__fb_sys_watch_level(fb->epfd, fb->kickfd, POLLIN, FB_TAG_KICK)) < 0)
		goto fail;
	if ((ret = rk__fb_sys_eventfd()) < 0)
		goto fail;
	ring->fd = ret;
	return 0;
fail:
	if (fb->epfd >= 0)
		close(fb->epfd);
	if (fb->kickfd >= 0)
		close(fb->kickfd);
	rk__table_free(ring);
	fb_free(ring, true);
	memset(ring, 0, sizeof(*ring));
	return ret;
}

/* Everything the ring holds open: its file table, the duplicate of a
 * registered eventfd, the epoll set, the wakeup eventfd, its own fd. */
static void close_fds(rk_ring *ring)
{
	struct rk_fb *fb = ring->fb;
	rk__fb_close_files(ring);
	if (fb->user_efd >= 0)
		close(fb->user_efd);
	if (fb->epfd >= 0)
		close(fb->epfd);
	if (fb->kickfd >= 0)
		close(fb->kickfd);
	close(ring->fd);
}

static int fb_close(rk_ring *ring)
{
	rk__cancel_staged(ring, false);
	ring->discarding = true;
	int ret = rk__fb_quiesce(ring, RK_CLOSE_TIMEOUT_NS);
	rk__fb_stop_threads(ring, ret == 0);
	rk__ring_drop_regions(ring);
	if (ret < 0) {
		/* A worker is still in a call with the ring's memory: leave it
		 * all to it, as the io_uring backend leaves it to the kernel. */
		close(ring->fd);
		return ret;
	}
	rk__ring_drop_groups(ring, true);
	close_fds(ring);
	rk__table_free(ring);
	fb_free(ring, true);
	return 0;
}

/* In a child of fork(): the threads are the parent's (they do not exist
 * here); the descriptors are this process's copies. */
static void fb_close_inherited(rk_ring *ring)
{
	close_fds(ring);
	fb_free(ring, false);
}

/* ---- registrations ---------------------------------------------------- */

static int fb_set_eventfd(rk_ring *ring, int fd, uint32_t flags)
{
	struct rk_fb *fb = ring->fb;
	int d = -1;
	if (fd >= 0) {
		/* As the kernel's eventfd_ctx_fdget: an eventfd or -EINVAL. */
		int r = rk__fb_sys_is_eventfd(fd);
		if (r < 0)
			return r;
		if (r == 0)
			return -EINVAL;
		if ((d = rk__fb_sys_dup(fd)) < 0)
			return d;
	}
	pthread_mutex_lock(&fb->mu);
	int old = fb->user_efd;
	fb->user_efd = d;
	fb->user_async = flags & RK_EVENTFD_ASYNC;
	pthread_mutex_unlock(&fb->mu);
	if (old >= 0)
		close(old);
	return 0;
}

/* Fixed buffers need no pinning here: the table is the shared code's. */
static int fb_buffer_slot(rk_ring *ring, int slot, void *base, size_t len)
{
	(void)slot;
	(void)base;
	(void)len;
	ring->buffers_registered = 1;
	return 0;
}

/* A buffer group's ring is read by the service thread as the kernel reads
 * it: from head to the tail the caller publishes. */
static int fb_group_register(rk_ring *ring, struct rk_group *g, uint32_t entries)
{
	(void)ring;
	(void)entries;
	g->head = 0;
	return 0;
}

static int fb_group_unregister(rk_ring *ring, struct rk_group *g)
{
	(void)ring;
	(void)g;
	return 0;
}

static void fb_stats(rk_ring *ring, uint64_t *v)
{
	/* The first SQ-full of staged ops is "in the SQ"; the rest overflow. */
	v[RK_STAT_OVERFLOW_QUEUE] =
		ring->staged_count > ring->sq.entries ? ring->staged_count - ring->sq.entries : 0;
	v[RK_STAT_CQ_OVERFLOW] = 0;
	v[RK_STAT_FEATURES] = 0;
}

/* The fallback emulates every feature rk_ring_feature names: their calls
 * behave here as on a kernel that has them. */
static int fb_feature(rk_ring *ring, uint32_t feature)
{
	(void)ring;
	(void)feature;
	return 1;
}

/* The emulated SQ and CQ are sizes only (the SQ always looks full, so every
 * op is staged): a resize changes the sizes, under the rule the kernel
 * applies to its CQ, and grows the record queue where a larger CQ would let
 * more multishot records wait before one pauses. */
static int fb_resize(rk_ring *ring, uint32_t sq, uint32_t cq)
{
	struct rk_fb *fb = ring->fb;
	uint32_t ncq = record_queue_size(ring->capacity, cq);
	rk_cqe *grown = ncq > fb->cq_mask + 1 ? rk__calloc(ncq, sizeof(rk_cqe)) : NULL;
	if (ncq > fb->cq_mask + 1 && !grown)
		return -ENOMEM;
	pthread_mutex_lock(&fb->mu);
	uint32_t waiting = fb->cq_tail - fb->cq_head;
	if (waiting > cq) {
		pthread_mutex_unlock(&fb->mu);
		rk__free(grown);
		return -EBUSY;
	}
	if (grown) {
		for (uint32_t i = 0; i < waiting; i++)
			grown[i] = fb->cq[(fb->cq_head + i) & fb->cq_mask];
		rk__free(fb->cq);
		fb->cq = grown;
		fb->cq_mask = ncq - 1;
		fb->cq_head = 0;
		fb->cq_tail = waiting;
	}
	pthread_mutex_unlock(&fb->mu);
	ring->sq.entries = sq;
	ring->sq.mask = sq - 1;
	ring->sq.tail = sq;
	ring->cq.entries = cq;
	return 0;
}

const struct rk_backend rk__fallback_backend = {
	.id = RK_BACKEND_FALLBACK,
	.create = fb_create,
	.submit = rk__fb_submit,
	.reap = rk__fb_reap,
	.close = fb_close,
	.close_inherited = fb_close_inherited,
	.cancel_all = rk__fb_cancel_all,
	.cancel_sync = rk__fb_cancel_sync,
	.set_eventfd = fb_set_eventfd,
	.files_register = rk__fb_files_register,
	.files_update = rk__fb_files_update,
	.files_unregister = rk__fb_files_unregister,
	.buffer_slot = fb_buffer_slot,
	.group_register = fb_group_register,
	.group_unregister = fb_group_unregister,
	.stats = fb_stats,
	.prep_msg_ring = rk__msg_prep,
	.post_message = fb_post_message,
	.files_alloc_range = rk__fb_files_alloc_range,
	.feature = fb_feature,
	.prep_msg_fd = rk__msg_fd_prep,
	.post_fd = rk__fb_post_fd,
	.resize = fb_resize,
};
