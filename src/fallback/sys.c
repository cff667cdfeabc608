/*
 * The fallback backend's syscall seam. Everything Linux-specific the
 * fallback needs beyond POSIX threads and file calls is here, each with the
 * portable call a port to macOS or the BSDs would put in its place:
 *   eventfd           a pipe (the read end polled, one byte written)
 *   epoll (oneshot)   kqueue with EV_ONESHOT, or poll(2) over the wait lists
 *   epoll_pwait2      kevent's timespec timeout
 *   RWF_NOWAIT        (exec.c) poll(2) with a zero timeout before the call
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/epoll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fb.h"

int rk__fb_sys_eventfd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

void rk__fb_sys_signal(int fd, uint64_t n)
{
	/* Cannot fail but at the counter's 2^64-2 limit, which a reader
	 * resets long before. */
	ssize_t r = write(fd, &n, sizeof(n));
	(void)r;
}

void rk__fb_sys_unsignal(int fd)
{
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof(v)); /* non-blocking: -EAGAIN when clear */
	(void)r;
}

/* Waits until fd is readable: 1, 0 after timeout_ns (< 0: no limit), or
 * -EINTR when a signal arrived. */
int rk__fb_sys_wait(int fd, int64_t timeout_ns)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct timespec ts, *tsp = NULL;
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	int r = ppoll(&p, 1, tsp, NULL);
	if (r < 0)
		return -errno;
	return r;
}

int rk__fb_sys_poller(void)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* poll(2) and epoll share their bit values on Linux; a kqueue port maps
 * POLLIN/POLLOUT to EVFILT_READ/EVFILT_WRITE here. */
_Static_assert(POLLIN == EPOLLIN && POLLOUT == EPOLLOUT && POLLERR == EPOLLERR &&
                       POLLHUP == EPOLLHUP && POLLPRI == EPOLLPRI,
               "poll and epoll bits agree");

/* (Re)arms fd for events, oneshot, tagged with the fd number. A
 * registration may be left over from a file that had this number before
 * (the caller closed it, or it lives on in another process): MOD and ADD
 * fall back on each other. */
int rk__fb_sys_watch_oneshot(int ep, int fd, uint32_t events, uint8_t *in_set)
{
	struct epoll_event ev = {.events = events | EPOLLONESHOT, .data.u64 = (uint32_t)fd};
	int op = *in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	for (int tries = 0; tries < 2; tries++) {
		if (epoll_ctl(ep, op, fd, &ev) == 0) {
			*in_set = 1;
			return 0;
		}
		int err = errno;
		if (op == EPOLL_CTL_MOD && err == ENOENT)
			op = EPOLL_CTL_ADD;
		else if (op == EPOLL_CTL_ADD && err == EEXIST)
			op = EPOLL_CTL_MOD;
		else
			return -err; /* EPERM: not pollable (a regular file); EBADF */
	}
	return -EIO;
}

/* Edge triggered: reports new readiness (a multishot poll); modify re-arms
 * an existing registration, which reports current readiness once. */
int rk__fb_sys_watch_edge(int ep, int fd, uint32_t events, uint64_t tag, bool modify)
{
	struct epoll_event ev = {.events = events | EPOLLET, .data.u64 = tag};
	return epoll_ctl(ep, modify ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int rk__fb_sys_watch_level(int ep, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = {.events = events, .data.u64 = tag};
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

void rk__fb_sys_unwatch(int ep, int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
}

int rk__fb_sys_poll_wait(int ep, struct fb_event *out, int n, int64_t timeout_ns)
{
	static int no_pwait2;
	struct epoll_event ev[64];
	if (n > 64)
		n = 64;
	int r = -1;
	bool done = false;
	if (timeout_ns >= RK_TIME_NEVER) /* a timer of the end of time */
		timeout_ns = -1;
	if (!__atomic_load_n(&no_pwait2, __ATOMIC_RELAXED)) {
		struct timespec ts, *tsp = NULL;
		if (timeout_ns >= 0) {
			ts.tv_sec = timeout_ns / 1000000000;
			ts.tv_nsec = timeout_ns % 1000000000;
			tsp = &ts;
		}
		r = epoll_pwait2(ep, ev, n, tsp, NULL);
		if (r >= 0 || errno != ENOSYS)
			done = true;
		else
			__atomic_store_n(&no_pwait2, 1, __ATOMIC_RELAXED);
	}
	if (!done) {
		/* Before Linux 5.11: milliseconds, rounded up so a timer never
		 * fires early. */
		int ms = -1;
		if (timeout_ns >= 0)
			ms = timeout_ns / 1000000 >= INT_MAX ? INT_MAX
			                                      : (int)((timeout_ns + 999999) / 1000000);
		r = epoll_wait(ep, ev, n, ms);
	}
	if (r < 0)
		return -errno;
	for (int i = 0; i < r; i++) {
		out[i].tag = ev[i].data.u64;
		out[i].events = ev[i].events & ~(uint32_t)(EPOLLET | EPOLLONESHOT);
	}
	return r;
}

/* Threads of the fallback block every signal: a runtime expects its
 * signals (Ctrl-C in Python) on its own threads, and a SIGPIPE raised by a
 * write on a worker must not kill the process. */
int rk__fb_sys_spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -r;
}

int64_t rk__fb_sys_now(int clock)
{
	static const clockid_t ids[FB_NCLOCKS] = {CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME};
	struct timespec ts;
	clock_gettime(ids[clock], &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int rk__fb_sys_dup(int fd)
{
	int r = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return r < 0 ? -errno : r;
}

/* What the kernel knows of fd and userspace can only ask /proc: whether it
 * is an eventfd or an io_uring (the name /proc/self/fd gives its anonymous
 * inode). fstat sets files, sockets and pipes apart first (an anonymous
 * inode has no file type), so only anonymous inodes pay for the look-up.
 * Without /proc an anonymous inode passes as an eventfd and as no ring. */
static int anon_kind(int fd, const char *what)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((st.st_mode & S_IFMT) != 0)
		return 0;
	char path[48], link[48];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -ENOENT;
	link[n] = 0;
	return strcmp(link, what) == 0;
}

int rk__fb_sys_is_eventfd(int fd)
{
	int r = anon_kind(fd, "anon_inode:[eventfd]");
	return r == -ENOENT ? 1 : r;
}

bool rk__fb_sys_is_uring(int fd)
{
	return anon_kind(fd, "anon_inode:[io_uring]") == 1;
}
