/* Minimal checks for the core's internal-behaviour tests: print where and
 * what, then fail the program. Exit 77 tells meson the test was skipped. */
#ifndef RK_CORE_CHECK_H
#define RK_CORE_CHECK_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fd_count.h"
#include "ringkit.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
			        #cond);                                               \
			exit(1);                                                      \
		}                                                                     \
	} while (0)

#define CHECK_EQ(a, b)                                                                \
	do {                                                                          \
		long long a_ = (long long)(a), b_ = (long long)(b);                   \
		if (a_ != b_) {                                                       \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld (%s)\n",   \
			        __FILE__, __LINE__, #a, #b, a_, b_,                   \
			        a_ < 0 ? rk_strerror((int)a_) : "");                  \
			exit(1);                                                      \
		}                                                                     \
	} while (0)

#define SKIP(why)                                       \
	do {                                            \
		fprintf(stderr, "skipped: %s\n", why); \
		exit(77);                               \
	} while (0)

/* Reaps until n records arrived, failing after a bounded wait. */
static inline int reap_n(rk_ring *ring, rk_cqe *out, int n)
{
	int got = 0;
	for (int tries = 0; got < n && tries < 100; tries++) {
		int r = rk_reap(ring, out + got, (uint32_t)(n - got), (uint32_t)(n - got),
		                100000000);
		CHECK(r >= 0);
		got += r;
	}
	CHECK_EQ(got, n);
	return got;
}

static inline uint64_t stat_of(rk_ring *ring, int index)
{
	uint64_t v[RK_STAT_COUNT];
	CHECK_EQ(rk_ring_stats(ring, v, RK_STAT_COUNT), RK_STAT_COUNT);
	return v[index];
}

/* A fresh directory under /tmp, removed with everything in it at exit. */
static char check_tmpdir[64];

static inline void check_rmtree(void)
{
	char cmd[96];
	if (check_tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", check_tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", check_tmpdir);
	}
}

static inline const char *make_tmpdir(void)
{
	strcpy(check_tmpdir, "/tmp/ringkit-test.XXXXXX");
	CHECK(mkdtemp(check_tmpdir) != NULL);
	atexit(check_rmtree);
	return check_tmpdir;
}

/* A new empty file "f", read-write, in a fresh temporary directory
 * (make_tmpdir); *dirfd, unless NULL, receives the directory, opened. */
static inline int scratch_file(int *dirfd)
{
	const char *dir = make_tmpdir();
	int fd;
	if (dirfd) {
		*dirfd = open(dir, O_DIRECTORY | O_RDONLY);
		CHECK(*dirfd >= 0);
		fd = openat(*dirfd, "f", O_RDWR | O_CREAT, 0600);
	} else {
		char path[96];
		snprintf(path, sizeof(path), "%s/f", dir);
		fd = open(path, O_RDWR | O_CREAT, 0600);
	}
	CHECK(fd >= 0);
	return fd;
}

/* Ends a forked child without the parent's atexit work (removing the
 * temporary directory) and without LeakSanitizer (a child may leak on
 * purpose). A coverage build (RK_COVERAGE, tests/c/meson.build) exits
 * normally instead, so every module writes its counters. */
static inline void child_exit(int code)
{
	fflush(NULL);
#ifdef RK_COVERAGE
	check_tmpdir[0] = 0;
	exit(code);
#else
	_exit(code);
#endif
}

/* Writes len bytes of a position-dependent pattern (byte i = i * 7 + seed). */
static inline void fill_pattern(unsigned char *buf, size_t len, size_t start, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((start + i) * 7 + seed);
}

/* Reaps exactly one record and returns it; fails after a bounded wait. */
static inline rk_cqe reap_one(rk_ring *ring)
{
	rk_cqe c;
	reap_n(ring, &c, 1);
	return c;
}

/* Submits what is queued and reaps one record, which must be op `id`. */
static inline int32_t run_one(rk_ring *ring, int64_t id)
{
	CHECK(id >= 0);
	rk_cqe c = reap_one(ring);
	CHECK_EQ(c.id, id);
	return c.res;
}

/* Open descriptors of this process, to prove none leaked. */
static inline int count_fds(void)
{
	int n = open_fd_count();
	CHECK(n >= 0);
	return n;
}

/* Descriptors a ring holds, as ringkit.h documents under "Backends": the
 * io_uring fd; or the fallback's eventfd, epoll instance and wakeup
 * eventfd, plus its duplicate of a registered eventfd. */
static inline int ring_fds(rk_ring *ring, int eventfd_registered)
{
	if (rk_ring_backend(ring) == RK_BACKEND_FALLBACK)
		return 3 + eventfd_registered;
	return 1;
}

/* Descriptors behind n filled slots of a ring's file table: none on
 * io_uring (the kernel holds files, not descriptors); the fallback's table
 * holds descriptors of its own (close-on-exec, never handed out). */
static inline int table_fds(rk_ring *ring, int n)
{
	return rk_ring_backend(ring) == RK_BACKEND_FALLBACK ? n : 0;
}

/* Descriptors behind n ops waiting for readiness: none on io_uring; on the
 * fallback each holds a duplicate of its fd, as the kernel holds the file. */
static inline int waiting_fds(rk_ring *ring, int n)
{
	return rk_ring_backend(ring) == RK_BACKEND_FALLBACK ? n : 0;
}

static inline int is_fallback(rk_ring *ring)
{
	return rk_ring_backend(ring) == RK_BACKEND_FALLBACK;
}

/* ------------------------------------------------------------------------ */
/* Rings that skip cleanly, as liburing's test/helpers.c t_create_ring.      */

/* Whether rk_ring_create's ret refuses a setup mode this kernel or process
 * lacks: -EINVAL for a mode newer than the kernel, -EPERM for SQPOLL
 * unprivileged (seen only where the fallback is forbidden). */
static inline int lacks_mode(int ret)
{
	return ret == -EINVAL || ret == -EPERM;
}

/* A ring with `flags`; exits 77 (skip) when this kernel or process lacks a
 * setup mode asked for. Without a mode, every failure fails. */
static inline rk_ring *create_ring(uint32_t entries, uint32_t flags)
{
	const uint32_t modes = RK_RING_SQPOLL | RK_RING_SINGLE_ISSUER | RK_RING_DEFER_TASKRUN |
	                       RK_RING_COOP_TASKRUN;
	rk_ring *ring;
	int ret = rk_ring_create(entries, flags, &ring);
	if ((flags & modes) && lacks_mode(ret)) {
		fprintf(stderr, "ring flags %#x: %s\n", flags, rk_strerror(ret));
		SKIP("a setup mode this kernel or process lacks");
	}
	CHECK_EQ(ret, 0);
	return ring;
}

/* The value of an IORING_OP_* name (rk_constant knows opcodes newer than
 * the system's headers). */
static inline uint32_t opcode(const char *name)
{
	int64_t v;
	CHECK_EQ(rk_constant(name, &v), 0);
	return (uint32_t)v;
}

/* Whether the ring's backend offers opcode `name`. */
static inline int has_op(rk_ring *ring, const char *name)
{
	int r = rk_ring_probe(ring, opcode(name));
	CHECK(r >= 0);
	return r;
}

/* Exits 77 (skip) unless the ring's backend offers opcode `name`; `since`
 * says which kernel brought it. */
static inline void require_op(rk_ring *ring, const char *name, const char *since)
{
	if (!has_op(ring, name)) {
		fprintf(stderr, "kernel without %s (%s)\n", name, since);
		SKIP("an opcode this kernel lacks");
	}
}

/* The result of op `id` among n records; fails when it is not there. */
static inline int32_t res_of(const rk_cqe *c, int n, int64_t id)
{
	for (int i = 0; i < n; i++)
		if (c[i].id == id)
			return c[i].res;
	fprintf(stderr, "no completion for %lld\n", (long long)id);
	exit(1);
}

/* ------------------------------------------------------------------------ */
/* Descriptors to drive ops with, as liburing's t_create_socket_pair.       */

static inline void make_pipe(int p[2])
{
	CHECK_EQ(pipe(p), 0);
}

/* A connected AF_UNIX pair; type as socketpair(2)'s (SOCK_STREAM, SOCK_DGRAM,
 * with SOCK_CLOEXEC or not). */
static inline void make_socketpair(int type, int sv[2])
{
	CHECK_EQ(socketpair(AF_UNIX, type, 0, sv), 0);
}

/* Closes both ends of a pipe or pair. */
static inline void close_pair(int fd[2])
{
	close(fd[0]);
	close(fd[1]);
}

/* 127.0.0.1:port (port 0: any). */
static inline struct sockaddr_in loopback(uint16_t port)
{
	return (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port),
	                            .sin_addr = {htonl(INADDR_LOOPBACK)}};
}

/* Binds fd to an ephemeral loopback port; *sa receives the address. */
static inline void bind_loopback(int fd, struct sockaddr_in *sa)
{
	*sa = loopback(0);
	CHECK_EQ(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
	socklen_t sl = sizeof(*sa);
	CHECK_EQ(getsockname(fd, (struct sockaddr *)sa, &sl), 0);
}

/* A TCP socket, close-on-exec, with socket option `opt` (SO_SNDBUF,
 * SO_RCVBUF) set to size when size > 0: before connect or listen, since
 * the window is agreed in the handshake. */
static inline int tcp_socket(int opt, int size)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	if (size > 0)
		CHECK_EQ(setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size)), 0);
	return fd;
}

/* Makes fd a loopback listener on an ephemeral port; *sa gets its address. */
static inline int tcp_listen_on(int fd, struct sockaddr_in *sa, int backlog)
{
	bind_loopback(fd, sa);
	CHECK_EQ(listen(fd, backlog), 0);
	return fd;
}

static inline int tcp_connect_from(int fd, const struct sockaddr_in *sa)
{
	CHECK_EQ(connect(fd, (const struct sockaddr *)sa, sizeof(*sa)), 0);
	return fd;
}

/* A TCP listener on an ephemeral loopback port, close-on-exec. */
static inline int tcp_listener(struct sockaddr_in *sa, int backlog)
{
	return tcp_listen_on(tcp_socket(0, 0), sa, backlog);
}

/* A socket connected to sa, close-on-exec; the listener has yet to accept
 * it (a loopback connect completes from the backlog). */
static inline int tcp_connect(const struct sockaddr_in *sa)
{
	return tcp_connect_from(tcp_socket(0, 0), sa);
}

/* Both ends of a loopback TCP connection, close-on-exec; bufsize > 0 sets
 * the client's send and the server's receive buffer, for short sends. */
static inline void tcp_pair_sized(int *client, int *server, int bufsize)
{
	struct sockaddr_in sa;
	int lfd = tcp_listen_on(tcp_socket(SO_RCVBUF, bufsize), &sa, 1);
	*client = tcp_connect_from(tcp_socket(SO_SNDBUF, bufsize), &sa);
	*server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	CHECK(*server >= 0);
	close(lfd);
}

static inline void tcp_pair(int *client, int *server)
{
	tcp_pair_sized(client, server, 0);
}

/* ------------------------------------------------------------------------ */
/* Time and children.                                                        */

/* Seconds on the monotonic clock. */
static inline double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Waits for child pid and returns its exit status; fails when a signal
 * ended it. */
static inline int wait_exit(pid_t pid)
{
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status)) {
		fprintf(stderr, "child %d ended with status %#x\n", (int)pid, status);
		exit(1);
	}
	return WEXITSTATUS(status);
}
#endif
