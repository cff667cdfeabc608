/*
 * The registry: the process's rings that no kernel posts messages into,
 * by fd. A ring is listed when its backend has a post_message hook (the
 * fallback's fd is an eventfd, not an io_uring): rk_ring_create_ex lists
 * it, rk_ring_close takes it out before the backend closes it, so a ring
 * found here is never closing. Messages to it are posted under the lock,
 * so the ring cannot be freed in between; its fd names nothing else while
 * it is listed (the ring owns the descriptor).
 *
 * Lock order: the registry, then whatever lock the target's post_message
 * takes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

struct reg_entry {
	int fd;
	rk_ring *ring;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct reg_entry *regs;
static uint32_t nregs, capregs;
static uint32_t nregs_hint; /* read without the lock: 0 means no ring is listed */

/* fork(): the lock is taken around it so the child finds it free; the
 * child's copy names the parent's rings (rk__check_ring refuses them there
 * with -ECHILD), so it starts empty. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&reg_mu);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&reg_mu);
}

static void fork_child(void)
{
	nregs = capregs = 0;
	regs = NULL; /* the parent's array: this process's copy is left alone */
	__atomic_store_n(&nregs_hint, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg_mu);
}

static void watch_forks(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

int rk__registry_add(rk_ring *ring)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, watch_forks);
	pthread_mutex_lock(&reg_mu);
	if (nregs == capregs) {
		uint32_t cap = capregs ? 2 * capregs : 8;
		struct reg_entry *r = realloc(regs, cap * sizeof(*r));
		if (!r) {
			pthread_mutex_unlock(&reg_mu);
			return -ENOMEM;
		}
		regs = r;
		capregs = cap;
	}
	regs[nregs++] = (struct reg_entry){.fd = ring->fd, .ring = ring};
	__atomic_store_n(&nregs_hint, nregs, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg_mu);
	return 0;
}

/* With the last ring gone, so is the array: nothing stays allocated behind
 * a library that may be dlclose'd. */
bool rk__registry_remove(rk_ring *ring)
{
	bool found = false;
	pthread_mutex_lock(&reg_mu);
	for (uint32_t i = 0; i < nregs; i++) {
		if (regs[i].ring == ring) {
			regs[i] = regs[--nregs];
			found = true;
			break;
		}
	}
	__atomic_store_n(&nregs_hint, nregs, __ATOMIC_RELAXED);
	if (nregs == 0) {
		free(regs);
		regs = NULL;
		capregs = 0;
	}
	pthread_mutex_unlock(&reg_mu);
	return found;
}

bool rk__registry_empty(void)
{
	pthread_mutex_lock(&reg_mu);
	bool none = nregs == 0;
	pthread_mutex_unlock(&reg_mu);
	return none;
}

static rk_ring *find(int fd)
{
	for (uint32_t i = 0; i < nregs; i++)
		if (regs[i].fd == fd)
			return regs[i].ring;
	return NULL;
}

bool rk__registry_has(int fd)
{
	if (!__atomic_load_n(&nregs_hint, __ATOMIC_RELAXED))
		return false;
	pthread_mutex_lock(&reg_mu);
	bool found = find(fd) != NULL;
	pthread_mutex_unlock(&reg_mu);
	return found;
}

bool rk__registry_post(int fd, uint64_t data, int32_t res, int32_t *result)
{
	if (!__atomic_load_n(&nregs_hint, __ATOMIC_RELAXED))
		return false;
	pthread_mutex_lock(&reg_mu);
	rk_ring *target = find(fd);
	if (target)
		*result = target->be->post_message(target, data, res);
	pthread_mutex_unlock(&reg_mu);
	return target != NULL;
}

bool rk__registry_post_fd(int fd, int file, uint32_t file_index, uint64_t data, bool skip,
                          int32_t *result)
{
	if (!__atomic_load_n(&nregs_hint, __ATOMIC_RELAXED))
		return false;
	pthread_mutex_lock(&reg_mu);
	rk_ring *target = find(fd);
	if (target)
		*result = target->be->post_fd(target, file, file_index, data, skip);
	pthread_mutex_unlock(&reg_mu);
	return target != NULL;
}
