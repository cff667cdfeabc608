/* Every exported function with hostile but legal arguments — NULLs, huge and
 * negative values, every single flag bit, descriptors that are closed, of the
 * wrong kind or the ring's own — on both backends: no crash, no sanitizer
 * report (the C suite runs under ASan+UBSan in CI), and the same answer from
 * the io_uring and the fallback backend, except for the differences listed in
 * `documented` below, each of which ringkit.h's "Backends" section explains.
 *
 * Each probe runs in a fresh environment (ring, region, pipes, sockets, a
 * file, a directory), so one answer cannot change the next. An answer is how
 * the prep ended (its errno), or the op's first completion within a bound, or
 * "pending". The list of exported functions comes from doc/abi.json (argv[1]):
 * a function without a probe fails the test. Without io_uring (refused here)
 * the fallback still runs every probe and only the comparison is skipped. */
#include <limits.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <signal.h>
#include <stddef.h>

#include "check.h"

/* How long an op may take to count as done: short, and when only one
 * backend's answer is "pending", both run again with the long bound, so a
 * slow machine cannot make a difference out of a late completion. */
#define PENDING_SHORT_NS 30000000
#define PENDING_LONG_NS 2000000000
static int64_t pending_ns = PENDING_SHORT_NS;

struct env {
	rk_ring *ring;
	uint32_t backend;  /* RK_RING_NO_FALLBACK or RK_RING_FALLBACK */
	rk_region *rg;     /* 4 chunks of 64 bytes, chunk `chunk` allocated */
	int32_t chunk;
	rk_region *grp;    /* provided as group 1 when `want & W_GROUP` */
	int pr[2];         /* an empty pipe */
	int pd[2];         /* a pipe holding data */
	int sv[2];         /* a connected unix stream pair, data waiting on sv[0] */
	int lfd;           /* a listening unix socket, no connection waiting */
	int file;          /* a regular file of 5 bytes, read-write */
	int dirfd;         /* an empty directory */
	int efd;           /* an eventfd */
	int udp;           /* an unbound datagram socket */
	int closed;        /* a descriptor number that is not open */
	struct sockaddr_un addr; /* the listener's (abstract) address */
	socklen_t addrlen;
	char buf[256];
	char dir[128];
};

enum { W_FILES = 1, W_GROUP = 2 };

static unsigned uniq;

static void env_open(struct env *e, uint32_t backend, int want)
{
	memset(e, 0, sizeof(*e));
	e->backend = backend;
	CHECK_EQ(rk_ring_create(8, backend, &e->ring), 0);
	CHECK_EQ(rk_region_create(64, 4, 0, &e->rg), 0);
	e->chunk = rk_chunk_alloc(e->rg);
	CHECK(e->chunk >= 0);
	make_pipe(e->pr);
	make_pipe(e->pd);
	CHECK_EQ(write(e->pd[1], "pipedata", 8), 8);
	make_socketpair(SOCK_STREAM, e->sv);
	CHECK_EQ(write(e->sv[1], "sockdata", 8), 8);
	e->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(e->lfd >= 0);
	e->addr.sun_family = AF_UNIX;
	int n = snprintf(e->addr.sun_path + 1, sizeof(e->addr.sun_path) - 1, "rk-hostile-%d-%u",
	                 (int)getpid(), uniq++);
	e->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	CHECK_EQ(bind(e->lfd, (struct sockaddr *)&e->addr, e->addrlen), 0);
	CHECK_EQ(listen(e->lfd, 8), 0);
	snprintf(e->dir, sizeof(e->dir), "%s/%u", check_tmpdir, uniq++);
	CHECK_EQ(mkdir(e->dir, 0700), 0);
	e->dirfd = open(e->dir, O_RDONLY | O_DIRECTORY);
	CHECK(e->dirfd >= 0);
	e->file = openat(e->dirfd, "file", O_RDWR | O_CREAT, 0600);
	CHECK(e->file >= 0);
	CHECK_EQ(write(e->file, "hello", 5), 5);
	e->efd = eventfd(0, 0);
	CHECK(e->efd >= 0);
	e->udp = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK(e->udp >= 0);
	/* Well above the descriptors a ring may open meanwhile. */
	e->closed = fcntl(0, F_DUPFD_CLOEXEC, 900);
	CHECK(e->closed >= 900);
	close(e->closed);
	if (want & W_FILES)
		CHECK_EQ(rk_ring_register_files(e->ring, 4), 0);
	if (want & W_GROUP) {
		CHECK_EQ(rk_region_create(64, 4, 0, &e->grp), 0);
		CHECK_EQ(rk_ring_provide_region(e->ring, e->grp, 1), 1);
	}
}

static void env_close(struct env *e)
{
	CHECK_EQ(rk_ring_close(e->ring), 0);
	CHECK_EQ(rk_region_destroy(e->rg), 0);
	if (e->grp)
		CHECK_EQ(rk_region_destroy(e->grp), 0);
	/* Closing what a probe may already have closed (a close op): the
	 * numbers are ours, nobody reuses them in between. */
	int fds[] = {e->pr[0], e->pr[1], e->pd[0], e->pd[1], e->sv[0], e->sv[1],
	             e->lfd,   e->file,  e->dirfd, e->efd, e->udp};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		close(fds[i]);
}

/* ---- answers ------------------------------------------------------------ */

enum { A_CALL, A_PREP, A_RES, A_FD, A_MORE, A_PENDING };

struct answer {
	int kind;
	int64_t v;
};

static const char *show(struct answer a, char *out, size_t n)
{
	switch (a.kind) {
	case A_CALL:
		snprintf(out, n, "returns %lld", (long long)a.v);
		break;
	case A_PREP:
		snprintf(out, n, "prep %lld", (long long)a.v);
		break;
	case A_RES:
		snprintf(out, n, "res %lld", (long long)a.v);
		break;
	case A_FD:
		snprintf(out, n, "res a new fd");
		break;
	case A_MORE:
		snprintf(out, n, "res %lld with MORE", (long long)a.v);
		break;
	default:
		snprintf(out, n, "pending");
	}
	return out;
}

static struct answer call(int64_t v)
{
	return (struct answer){A_CALL, v};
}

/* A prep's id: its first completion, or pending. fd_res: a result >= 0 is
 * a new descriptor (or slot), compared as such and closed. */
static struct answer op_fd(struct env *e, int64_t id, int fd_res)
{
	if (id < 0)
		return (struct answer){A_PREP, id};
	rk_cqe c[16];
	const int tries = 10;
	for (int t = 0; t < tries; t++) {
		int n = rk_reap(e->ring, c, 16, 1, pending_ns / tries);
		CHECK(n >= 0 || n == -EINTR);
		for (int i = 0; i < n; i++) {
			if (c[i].id != id)
				continue;
			int32_t res = c[i].res;
			if (fd_res && res >= 0) {
				if (fd_res == 1) /* a descriptor; 2: a slot of the file table */
					close(res);
				return (struct answer){(c[i].flags & RK_CQE_F_MORE) ? A_MORE : A_FD, -1};
			}
			if (c[i].flags & RK_CQE_F_MORE)
				return (struct answer){A_MORE, res};
			return (struct answer){A_RES, res};
		}
	}
	return (struct answer){A_PENDING, 0};
}

static struct answer op(struct env *e, int64_t id)
{
	return op_fd(e, id, 0);
}

/* ---- probes ------------------------------------------------------------- */

/* Values a probe is run with. */
enum { V_FD, V_BIT, V_NUM, V_ONE };

struct probe {
	const char *name;   /* what it calls: the exported function(s) */
	int values;         /* V_* */
	int want;           /* W_* */
	struct answer (*fn)(struct env *e, int64_t v);
};

static int fd_of(struct env *e, int64_t v)
{
	switch (v) {
	case 0: return -1;
	case 1: return e->closed;
	case 2: return INT32_MAX;
	case 3: return e->file;
	case 4: return e->pr[0];
	case 5: return e->pr[1];
	case 6: return e->sv[0];
	case 7: return e->lfd;
	case 8: return rk_ring_fd(e->ring);
	case 9: return e->dirfd;
	case 10: return e->efd;
	default: return e->udp;
	}
}

static const char *const fd_names[] = {"-1",          "closed", "INT32_MAX", "file",
                                       "pipe_r_empty", "pipe_w", "sock",     "listener",
                                       "ring_fd",     "dir",    "eventfd",  "dgram"};
#define NFDS ((int64_t)(sizeof(fd_names) / sizeof(fd_names[0])))

static const int64_t nums[] = {0, 1, -1, 2, 63, 64, 65, 4096, INT32_MAX, (int64_t)INT32_MAX + 1,
                               UINT32_MAX, (int64_t)UINT32_MAX + 1, INT64_MAX, INT64_MIN,
                               INT32_MIN, -4096};
#define NNUMS ((int64_t)(sizeof(nums) / sizeof(nums[0])))

#define E __attribute__((unused)) struct env *e, __attribute__((unused)) int64_t v
#define FD fd_of(e, v)
#define BIT (v < 32 ? (uint32_t)1 << v : v == 32 ? 0u : UINT32_MAX)
#define NUM nums[v]
#define IOV1(p, n) ((rk_iovec[1]){{(uintptr_t)(p), (n)}})

static char sbuf[RK_STATX_SIZE];

/* fds */
static struct answer f_read(E) { return op(e, rk_prep_read(e->ring, FD, e->buf, 16, -1, 0)); }
static struct answer f_write(E) { return op(e, rk_prep_write(e->ring, FD, "x", 1, -1, 0)); }
static struct answer f_readv(E) { return op(e, rk_prep_readv(e->ring, FD, IOV1(e->buf, 16), 1, -1, 0, 0)); }
static struct answer f_writev(E) { return op(e, rk_prep_writev(e->ring, FD, IOV1("xy", 2), 1, -1, 0, 0)); }
static struct answer f_read_chunk(E) { return op(e, rk_prep_read_chunk(e->ring, FD, e->rg, e->chunk, 16, -1, 0)); }
static struct answer f_write_chunk(E) { return op(e, rk_prep_write_chunk(e->ring, FD, e->rg, e->chunk, 1, -1, 0)); }
static struct answer f_fsync(E) { return op(e, rk_prep_fsync(e->ring, FD, 0, 0, 0)); }
static struct answer f_fdatasync(E) { return op(e, rk_prep_fdatasync(e->ring, FD, 0, 0, 0)); }
static struct answer f_openat(E) { return op_fd(e, rk_prep_openat(e->ring, FD, "nothere", O_RDONLY, 0, 0), 1); }
static struct answer f_openat2(E) { return op_fd(e, rk_prep_openat2(e->ring, FD, "nothere", O_RDONLY, 0, 0, 0), 1); }
static struct answer f_close(E) { return op(e, rk_prep_close(e->ring, FD, 0)); }
static struct answer f_close_other_ring(E)
{
	/* A ring of the other backend (or the same), closed by fd. */
	rk_ring *r;
	uint32_t other = v ? RK_RING_FALLBACK : RK_RING_NO_FALLBACK;
	if (rk_ring_create(8, other, &r) < 0)
		return call(-1);
	struct answer a = op(e, rk_prep_close(e->ring, rk_ring_fd(r), 0));
	CHECK(fcntl(rk_ring_fd(r), F_GETFD) >= 0); /* still open */
	CHECK_EQ(rk_ring_close(r), 0);
	return a;
}
static struct answer f_statx(E) { return op(e, rk_prep_statx(e->ring, FD, "", AT_EMPTY_PATH, 0x7ff, sbuf, 0)); }
static struct answer f_unlinkat(E) { return op(e, rk_prep_unlinkat(e->ring, FD, "nothere", 0, 0)); }
static struct answer f_mkdirat(E) { return op(e, rk_prep_mkdirat(e->ring, FD, "newdir", 0700, 0)); }
static struct answer f_renameat(E) { return op(e, rk_prep_renameat(e->ring, FD, "nothere", FD, "other", 0, 0)); }
static struct answer f_linkat(E) { return op(e, rk_prep_linkat(e->ring, FD, "nothere", FD, "other", 0, 0)); }
static struct answer f_symlinkat(E) { return op(e, rk_prep_symlinkat(e->ring, "target", FD, "link", 0)); }
static struct answer f_fallocate(E) { return op(e, rk_prep_fallocate(e->ring, FD, 0, 0, 4096, 0)); }
static struct answer f_fadvise(E) { return op(e, rk_prep_fadvise(e->ring, FD, 0, 0, POSIX_FADV_NORMAL, 0)); }
static struct answer f_ftruncate(E) { return op(e, rk_prep_ftruncate(e->ring, FD, 3, 0)); }
static struct answer f_splice_in(E) { return op(e, rk_prep_splice(e->ring, FD, -1, e->pr[1], -1, 4, 0, 0)); }
static struct answer f_splice_out(E) { return op(e, rk_prep_splice(e->ring, e->pd[0], -1, FD, -1, 4, 0, 0)); }
static struct answer f_copy_in(E) { return op(e, rk_prep_copy(e->ring, FD, 0, e->file, 64, 4, 0, 0)); }
static struct answer f_copy_out(E) { return op(e, rk_prep_copy(e->ring, e->file, 0, FD, 64, 4, 0, 0)); }
static struct answer f_tee(E) { return op(e, rk_prep_tee(e->ring, FD, e->pr[1], 4, 0, 0)); }
static struct answer f_poll_add(E) { return op(e, rk_prep_poll_add(e->ring, FD, POLLIN, 0)); }
static struct answer f_poll_multishot(E) { return op(e, rk_prep_poll_multishot(e->ring, FD, POLLOUT, 0)); }
static struct answer f_bind(E)
{
	struct sockaddr_un a = e->addr;
	a.sun_path[1] = 'b';
	return op(e, rk_prep_bind(e->ring, FD, &a, e->addrlen, 0));
}
static struct answer f_listen(E) { return op(e, rk_prep_listen(e->ring, FD, 4, 0)); }
static struct answer f_connect(E) { return op(e, rk_prep_connect(e->ring, FD, &e->addr, e->addrlen, 0)); }
static struct answer f_accept(E) { return op_fd(e, rk_prep_accept(e->ring, FD, NULL, 0, 0, 0), 1); }
static struct answer f_accept_ms(E) { return op_fd(e, rk_prep_accept_multishot(e->ring, FD, 0, 0), 1); }
static struct answer f_accept_direct(E) { return op_fd(e, rk_prep_accept_direct(e->ring, FD, RK_FILE_INDEX_ALLOC, 0, 0), 2); }
static struct answer f_accept_ms_direct(E) { return op_fd(e, rk_prep_accept_multishot_direct(e->ring, FD, 0, 0), 2); }
static struct answer f_send(E) { return op(e, rk_prep_send(e->ring, FD, "x", 1, 0, 0)); }
static struct answer f_recv(E) { return op(e, rk_prep_recv(e->ring, FD, e->buf, 16, 0, 0)); }
static struct answer f_shutdown(E) { return op(e, rk_prep_shutdown(e->ring, FD, SHUT_WR, 0)); }
static struct answer f_send_zc(E) { return op(e, rk_prep_send_zc(e->ring, FD, "x", 1, 0, 0, 0)); }
static struct answer f_sendmsg(E) { return op(e, rk_prep_sendmsg(e->ring, FD, IOV1("x", 1), 1, NULL, 0, NULL, 0, 0, 0)); }
static struct answer f_sendmsg_zc(E) { return op(e, rk_prep_sendmsg_zc(e->ring, FD, IOV1("x", 1), 1, NULL, 0, NULL, 0, 0, 0)); }
static int32_t msg_out[RK_MSG_FDS + RK_MSG_FDS_MAX];
static struct answer f_recvmsg(E) { return op(e, rk_prep_recvmsg(e->ring, FD, IOV1(e->buf, 16), 1, NULL, 0, msg_out, 1, 0, 0)); }
static struct answer f_recv_select(E) { return op(e, rk_prep_recv_select(e->ring, FD, 1, 0, 0, 0)); }
static struct answer f_recv_ms(E) { return op(e, rk_prep_recv_multishot(e->ring, FD, 1, 0, 0)); }
static struct answer f_msg_ring(E) { return op(e, rk_prep_msg_ring(e->ring, FD, 1, 0, 0)); }
static struct answer f_register_eventfd(E) { return call(rk_ring_register_eventfd(e->ring, FD, 0)); }
static struct answer f_update_files(E)
{
	int32_t fd = FD;
	return call(rk_ring_update_files(e->ring, 0, &fd, 1));
}
static struct answer f_fixed_read(E)
{
	/* A slot holding the descriptor, read through RK_FIXED_FILE. */
	int32_t fd = FD;
	int r = rk_ring_update_files(e->ring, 0, &fd, 1);
	if (r < 0)
		return call(r);
	return op(e, rk_prep_read(e->ring, 0, e->buf, 16, -1, RK_FIXED_FILE));
}

/* every bit of a flags argument (32: none, 33: all) */
static struct answer b_sqe_flags(E) { return op(e, rk_prep_nop(e->ring, BIT)); }
static struct answer b_timeout_flags(E) { return op(e, rk_prep_timeout(e->ring, 1000000, 0, BIT, 0)); }
static struct answer b_link_timeout_flags(E)
{
	/* Bounding a poll that waits: with RK_TIMEOUT_ABS the time is past. */
	int64_t head = rk_prep_poll_add(e->ring, e->pr[0], POLLIN, RK_LINK);
	CHECK(head >= 0);
	return op(e, rk_prep_link_timeout(e->ring, 1000000000, BIT, 0));
}
static struct answer b_accept_flags(E) { return op_fd(e, rk_prep_accept(e->ring, e->lfd, NULL, 0, (int32_t)BIT, 0), 1); }
static struct answer b_accept_connected(E) { return op_fd(e, rk_prep_accept(e->ring, e->sv[0], NULL, 0, (int32_t)BIT, 0), 1); }
static struct answer b_accept_ms_flags(E) { return op_fd(e, rk_prep_accept_multishot(e->ring, e->lfd, (int32_t)BIT, 0), 1); }
static struct answer b_send_flags(E) { return op(e, rk_prep_send(e->ring, e->sv[0], "x", 1, (int32_t)BIT, 0)); }
static struct answer b_recv_flags(E) { return op(e, rk_prep_recv(e->ring, e->sv[0], e->buf, 4, (int32_t)BIT, 0)); }
static struct answer b_sendmsg_flags(E) { return op(e, rk_prep_sendmsg(e->ring, e->sv[0], IOV1("x", 1), 1, NULL, 0, NULL, 0, (int32_t)BIT, 0)); }
static struct answer b_recvmsg_flags(E) { return op(e, rk_prep_recvmsg(e->ring, e->sv[0], IOV1(e->buf, 4), 1, NULL, 0, msg_out, 1, (int32_t)BIT, 0)); }
static struct answer b_readv_file(E) { return op(e, rk_prep_readv(e->ring, e->file, IOV1(e->buf, 4), 1, 0, (int32_t)BIT, 0)); }
static struct answer b_readv_empty_pipe(E) { return op(e, rk_prep_readv(e->ring, e->pr[0], IOV1(e->buf, 4), 1, -1, (int32_t)BIT, 0)); }
static struct answer b_readv_pipe(E) { return op(e, rk_prep_readv(e->ring, e->pd[0], IOV1(e->buf, 4), 1, -1, (int32_t)BIT, 0)); }
static struct answer b_writev_pipe(E) { return op(e, rk_prep_writev(e->ring, e->pr[1], IOV1("ab", 2), 1, -1, (int32_t)BIT, 0)); }
static struct answer b_poll_mask(E) { return op(e, rk_prep_poll_add(e->ring, e->pr[1], BIT, 0)); }
static struct answer b_splice_flags(E) { return op(e, rk_prep_splice(e->ring, e->pd[0], -1, e->pr[1], -1, 4, BIT, 0)); }
static struct answer b_copy_flags(E) { return op(e, rk_prep_copy(e->ring, e->file, 0, e->file, 64, 4, BIT, 0)); }
static struct answer b_copy_sqe_flags(E) { return op(e, rk_prep_copy(e->ring, e->file, 0, e->file, 64, 4, 0, BIT)); }
static struct answer b_tee_flags(E) { return op(e, rk_prep_tee(e->ring, e->pd[0], e->pr[1], 4, BIT, 0)); }
static struct answer b_open_flags(E)
{
	char name[32];
	snprintf(name, sizeof(name), "open-%lld", (long long)v);
	return op_fd(e, rk_prep_openat(e->ring, e->dirfd, name, (int32_t)BIT, 0600, 0), 1);
}
static struct answer b_open_mode(E)
{
	/* O_CREAT with every mode bit: the kernel keeps what it knows. */
	return op_fd(e, rk_prep_openat(e->ring, e->dirfd, "created", O_CREAT | O_RDWR, BIT, 0), 1);
}
static struct answer b_openat2_mode(E) { return op_fd(e, rk_prep_openat2(e->ring, e->dirfd, "created2", O_CREAT | O_RDWR, BIT, 0, 0), 1); }
static struct answer b_openat2_resolve(E) { return op_fd(e, rk_prep_openat2(e->ring, e->dirfd, "file", O_RDONLY, 0, BIT, 0), 1); }
static struct answer b_statx_flags(E) { return op(e, rk_prep_statx(e->ring, e->dirfd, "file", (int32_t)BIT, 0x7ff, sbuf, 0)); }
static struct answer b_unlink_flags(E) { return op(e, rk_prep_unlinkat(e->ring, e->dirfd, "nothere", (int32_t)BIT, 0)); }
static struct answer b_rename_flags(E) { return op(e, rk_prep_renameat(e->ring, e->dirfd, "nothere", e->dirfd, "x", BIT, 0)); }
static struct answer b_link_flags(E) { return op(e, rk_prep_linkat(e->ring, e->dirfd, "nothere", e->dirfd, "x", (int32_t)BIT, 0)); }
static struct answer b_mkdir_mode(E) { return op(e, rk_prep_mkdirat(e->ring, e->dirfd, "d", BIT, 0)); }
static struct answer b_fallocate_mode(E) { return op(e, rk_prep_fallocate(e->ring, e->file, (int32_t)BIT, 0, 4096, 0)); }
static struct answer b_fadvise_advice(E) { return op(e, rk_prep_fadvise(e->ring, e->file, 0, 0, (int32_t)BIT, 0)); }
static struct answer b_socket_type(E) { return op_fd(e, rk_prep_socket(e->ring, AF_UNIX, (int32_t)(SOCK_STREAM | BIT), 0, 0), 1); }
static struct answer b_socket_domain(E) { return op_fd(e, rk_prep_socket(e->ring, (int32_t)BIT, SOCK_STREAM, 0, 0), 1); }
static struct answer b_socket_direct(E) { return op_fd(e, rk_prep_socket_direct(e->ring, AF_UNIX, (int32_t)(SOCK_DGRAM | BIT), 0, RK_FILE_INDEX_ALLOC, 0), 2); }
static struct answer b_zc_flags(E) { return op(e, rk_prep_send_zc(e->ring, e->sv[0], "x", 1, 0, BIT, 0)); }
static struct answer b_cancel_flags(E)
{
	int64_t t = rk_prep_timeout(e->ring, 1000000000, 0, 0, 0);
	CHECK(t >= 0);
	return op(e, rk_prep_cancel(e->ring, t, BIT));
}
static struct answer b_install_flags(E)
{
	int32_t fd = e->file;
	CHECK_EQ(rk_ring_update_files(e->ring, 0, &fd, 1), 1);
	return op_fd(e, rk_prep_fixed_fd_install(e->ring, 0, BIT, 0), 1);
}
static struct answer b_eventfd_flags(E) { return call(rk_ring_register_eventfd(e->ring, e->efd, BIT)); }
static struct answer b_region_flags(E)
{
	rk_region *r = NULL;
	int ret = rk_region_create(64, 1, BIT & ~RK_REGION_LOCKED, &r);
	if (ret == 0)
		CHECK_EQ(rk_region_destroy(r), 0);
	return call(ret);
}
static struct answer b_ring_flags(E)
{
	rk_ring *r = NULL;
	uint32_t f = BIT;
	if (f & (RK_RING_FALLBACK | RK_RING_NO_FALLBACK))
		f = (f & ~(RK_RING_FALLBACK | RK_RING_NO_FALLBACK)) | RK_RING_FALLBACK | RK_RING_NO_FALLBACK;
	else
		f |= e->backend;
	int ret = rk_ring_create(8, f, &r);
	if (ret == 0)
		CHECK_EQ(rk_ring_close(r), 0);
	return call(ret);
}

/* numbers */
static struct answer n_read_len(E) { return op(e, rk_prep_read(e->ring, e->file, e->buf, (uint32_t)NUM, 0, 0)); }
static struct answer n_read_off(E) { return op(e, rk_prep_read(e->ring, e->file, e->buf, 16, NUM, 0)); }
static struct answer n_write_off(E) { return op(e, rk_prep_write(e->ring, e->file, "x", 1, NUM, 0)); }
static rk_iovec many[1024]; /* the most niov may name (RK_IOV_MAX) */
static struct answer n_readv_niov(E)
{
	for (int i = 0; i < 1024; i++)
		many[i] = (rk_iovec){(uintptr_t)e->buf, 1};
	return op(e, rk_prep_readv(e->ring, e->file, many, (uint32_t)NUM, 0, 0, 0));
}
static struct answer n_readv_null(E) { return op(e, rk_prep_readv(e->ring, e->file, NULL, (uint32_t)NUM, 0, 0, 0)); }
static struct answer n_chunk(E) { return op(e, rk_prep_read_chunk(e->ring, e->file, e->rg, (int32_t)NUM, 4, 0, 0)); }
static struct answer n_chunk_len(E) { return op(e, rk_prep_write_chunk(e->ring, e->file, e->rg, e->chunk, (uint32_t)NUM, 0, 0)); }
static struct answer n_fsync_range(E) { return op(e, rk_prep_fsync(e->ring, e->file, NUM, (uint32_t)NUM, 0)); }
static struct answer n_fallocate(E) { return op(e, rk_prep_fallocate(e->ring, e->file, 0, NUM, NUM, 0)); }
static struct answer n_fadvise(E) { return op(e, rk_prep_fadvise(e->ring, e->file, NUM, (uint32_t)NUM, 0, 0)); }
static struct answer n_ftruncate(E) { return op(e, rk_prep_ftruncate(e->ring, e->file, NUM, 0)); }
static struct answer n_splice_len(E) { return op(e, rk_prep_splice(e->ring, e->pd[0], -1, e->pr[1], -1, (uint32_t)NUM, 0, 0)); }
static struct answer n_splice_off(E) { return op(e, rk_prep_splice(e->ring, e->file, NUM, e->pr[1], -1, 4, 0, 0)); }
static struct answer n_copy_len(E) { return op(e, rk_prep_copy(e->ring, e->file, 0, e->file, 1 << 20, (uint64_t)NUM, 0, 0)); }
static struct answer n_copy_off_in(E) { return op(e, rk_prep_copy(e->ring, e->file, NUM, e->file, 1 << 20, 4, 0, 0)); }
static struct answer n_copy_off_out(E) { return op(e, rk_prep_copy(e->ring, e->file, 0, e->file, NUM, 4, 0, 0)); }
static struct answer n_timeout_ns(E) { return op(e, rk_prep_timeout(e->ring, NUM, 0, 0, 0)); }
static struct answer n_timeout_abs(E) { return op(e, rk_prep_timeout(e->ring, NUM, 0, RK_TIMEOUT_ABS, 0)); }
static struct answer n_timeout_count(E) { return op(e, rk_prep_timeout(e->ring, 1000000, (uint32_t)NUM, 0, 0)); }
static struct answer n_link_timeout(E)
{
	int64_t head = rk_prep_poll_add(e->ring, e->pr[0], POLLIN, RK_LINK);
	CHECK(head >= 0);
	int64_t lt = rk_prep_link_timeout(e->ring, NUM, 0, 0);
	if (lt < 0)
		return (struct answer){A_PREP, lt};
	return op(e, head);
}
static struct answer n_link_timeout_alone(E) { return op(e, rk_prep_link_timeout(e->ring, NUM, 0, 0)); }
static struct answer n_cancel_id(E) { return op(e, rk_prep_cancel(e->ring, NUM, 0)); }
static struct answer n_poll_remove_id(E) { return op(e, rk_prep_poll_remove(e->ring, NUM, 0)); }
static struct answer n_timeout_remove_id(E) { return op(e, rk_prep_timeout_remove(e->ring, NUM, 0)); }
static struct answer n_cancel_sync(E) { return call(rk_cancel_sync(e->ring, NUM, 1000000)); }
static struct answer n_cancel_sync_timeout(E)
{
	int64_t t = rk_prep_timeout(e->ring, 1000000000, 0, 0, 0);
	CHECK(t >= 0);
	return call(rk_cancel_sync(e->ring, t, NUM));
}
static struct answer n_listen_backlog(E)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = e->addr;
	a.sun_path[1] = 'L';
	CHECK_EQ(bind(s, (struct sockaddr *)&a, e->addrlen), 0);
	struct answer r = op(e, rk_prep_listen(e->ring, s, (int32_t)NUM, 0));
	close(s);
	return r;
}
static struct answer n_shutdown_how(E) { return op(e, rk_prep_shutdown(e->ring, e->sv[0], (int32_t)NUM, 0)); }
static struct answer n_bind_len(E)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = e->addr;
	a.sun_path[1] = 'B';
	struct answer r = op(e, rk_prep_bind(e->ring, s, &a, (uint32_t)NUM, 0));
	close(s);
	return r;
}
static struct answer n_connect_len(E) { return op(e, rk_prep_connect(e->ring, e->sv[0], &e->addr, (uint32_t)NUM, 0)); }
static struct answer n_accept_addrlen(E)
{
	/* A connection waits; the kernel writes at most addrlen bytes. */
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_EQ(connect(c, (struct sockaddr *)&e->addr, e->addrlen), 0);
	static struct sockaddr_un peer;
	uint32_t len = NUM < 0 || NUM > (int64_t)sizeof(peer) ? (uint32_t)sizeof(peer) : (uint32_t)NUM;
	struct answer r = op_fd(e, rk_prep_accept(e->ring, e->lfd, &peer, len, 0, 0), 1);
	close(c);
	return r;
}
static struct answer n_send_len(E) { return op(e, rk_prep_send(e->ring, e->sv[0], sbuf, (uint32_t)(NUM < 0 || NUM > 64 ? 64 : NUM), 0, 0)); }
static struct answer n_recv_len(E) { return op(e, rk_prep_recv(e->ring, e->sv[0], e->buf, (uint32_t)(NUM < 0 || NUM > 256 ? 256 : NUM), 0, 0)); }
static struct answer n_recv_select_len(E) { return op(e, rk_prep_recv_select(e->ring, e->sv[0], 1, (uint32_t)NUM, 0, 0)); }
static struct answer n_recv_select_group(E) { return op(e, rk_prep_recv_select(e->ring, e->sv[0], (uint16_t)NUM, 0, 0, 0)); }
static struct answer n_sendmsg_nfds(E)
{
	static int32_t fds[RK_MSG_FDS_MAX + 2];
	for (int i = 0; i < RK_MSG_FDS_MAX + 2; i++)
		fds[i] = e->file;
	uint32_t n = NUM < 0 || NUM > RK_MSG_FDS_MAX + 2 ? RK_MSG_FDS_MAX + 1 : (uint32_t)NUM;
	return op(e, rk_prep_sendmsg(e->ring, e->sv[0], IOV1("x", 1), 1, NULL, 0, fds, n, 0, 0));
}
static struct answer n_sendmsg_fd(E)
{
	int32_t fd = (int32_t)NUM;
	return op(e, rk_prep_sendmsg(e->ring, e->sv[0], IOV1("x", 1), 1, NULL, 0, &fd, 1, 0, 0));
}
static struct answer n_sendmsg_addrlen(E) { return op(e, rk_prep_sendmsg(e->ring, e->sv[0], IOV1("x", 1), 1, &e->addr, (uint32_t)NUM, NULL, 0, 0, 0)); }
static struct answer n_recvmsg_fds_cap(E)
{
	/* Three descriptors come with the data: fds_cap bounds what is kept. */
	int before = count_fds();
	int32_t fds[3] = {e->file, e->pr[0], e->pr[1]};
	rk_iovec one[1] = {{(uintptr_t) "y", 1}};
	CHECK(run_one(e->ring, rk_prep_sendmsg(e->ring, e->sv[1], one, 1, NULL, 0, fds, 3, 0, 0)) == 1);
	uint32_t cap = NUM < 0 || NUM > RK_MSG_FDS_MAX + 1 ? UINT32_MAX : (uint32_t)NUM;
	struct answer r = op(e, rk_prep_recvmsg(e->ring, e->sv[0], IOV1(e->buf, 64), 1, NULL, 0,
	                                        msg_out, cap, 0, 0));
	if (r.kind == A_RES && r.v >= 0) {
		CHECK(msg_out[RK_MSG_NFDS] <= 3 && (uint32_t)msg_out[RK_MSG_NFDS] <= cap);
		for (int i = 0; i < msg_out[RK_MSG_NFDS]; i++)
			close(msg_out[RK_MSG_FDS + i]);
		CHECK_EQ(count_fds(), before); /* those beyond fds_cap were closed */
		r.v = r.v * 1000 + msg_out[RK_MSG_NFDS] * 10 + (msg_out[RK_MSG_FLAGS] & MSG_CTRUNC ? 1 : 0);
	}
	return r;
}
static struct answer n_recvmsg_name_cap(E)
{
	static char name[256];
	return op(e, rk_prep_recvmsg(e->ring, e->sv[0], IOV1(e->buf, 4), 1, name, (uint32_t)NUM, msg_out, 0, 0, 0));
}
static struct answer n_msg_ring_value(E) { return op(e, rk_prep_msg_ring(e->ring, rk_ring_fd(e->ring), NUM, (int32_t)NUM, 0)); }
static struct answer n_msg_ring_fd_src(E) { return op(e, rk_prep_msg_ring_fd(e->ring, rk_ring_fd(e->ring), (uint32_t)NUM, 0, 1, 0, 0)); }
static struct answer n_msg_ring_fd_dst(E) { return op(e, rk_prep_msg_ring_fd(e->ring, e->pr[0], 0, (uint32_t)NUM, 1, 0, 0)); }
static struct answer n_msg_ring_fd_value(E) { return op(e, rk_prep_msg_ring_fd(e->ring, e->pr[0], 0, 0, NUM, 0, 0)); }
static struct answer b_msg_ring_fd_flags(E) { return op(e, rk_prep_msg_ring_fd(e->ring, rk_ring_fd(e->ring), 0, 0, 1, BIT, 0)); }
static struct answer n_recvmsg_ms_name(E) { return op(e, rk_prep_recvmsg_multishot(e->ring, e->udp, 1, (uint32_t)NUM, 0, 0, 0)); }
static struct answer n_recvmsg_ms_control(E) { return op(e, rk_prep_recvmsg_multishot(e->ring, e->udp, 1, 16, (uint32_t)NUM, 0, 0)); }
static struct answer n_recvmsg_ms_group(E) { return op(e, rk_prep_recvmsg_multishot(e->ring, e->udp, (uint16_t)NUM, 16, 0, 0, 0)); }
static struct answer b_recvmsg_ms_flags(E) { return op(e, rk_prep_recvmsg_multishot(e->ring, e->udp, 1, 16, 0, (int32_t)BIT, 0)); }
static struct answer n_recvmsg_out_len(E)
{
	uint32_t out[RK_RECVMSG_OUT_COUNT];
	return call(rk_recvmsg_out(e->rg, e->chunk, (uint32_t)NUM, 16, 0, out, RK_RECVMSG_OUT_COUNT));
}
static struct answer n_recvmsg_out_chunk(E)
{
	uint32_t out[RK_RECVMSG_OUT_COUNT];
	return call(rk_recvmsg_out(e->rg, (int32_t)NUM, 64, 0, 0, out, RK_RECVMSG_OUT_COUNT));
}
static struct answer n_recvmsg_out_caps(E)
{
	uint32_t out[RK_RECVMSG_OUT_COUNT];
	return call(rk_recvmsg_out(e->rg, e->chunk, 64, (uint32_t)NUM, (uint32_t)NUM, out, 2));
}
static struct answer n_probe(E) { return call(rk_ring_probe(e->ring, (uint32_t)NUM)); }
static struct answer n_stats(E)
{
	uint64_t st[RK_STAT_COUNT];
	return call(rk_ring_stats(e->ring, st, (uint32_t)(NUM < 0 ? UINT32_MAX : NUM > UINT32_MAX ? UINT32_MAX : NUM)));
}
static struct answer n_reap(E)
{
	rk_cqe c[4];
	uint32_t wait = (uint32_t)NUM;
	return call(rk_reap(e->ring, c, 4, wait, NUM < 0 ? 0 : 1000000));
}
static struct answer n_reap_timeout(E)
{
	/* A wait for two when only one can come: the deadline is computed,
	 * then nothing live is left to wait for (deterministic). */
	rk_cqe c[4];
	CHECK(rk_prep_nop(e->ring, 0) >= 0);
	return call(rk_reap(e->ring, c, 4, 2, NUM));
}
static int stop_fn(void *ctx, int64_t id, int32_t res, uint32_t flags)
{
	(void)ctx; (void)id; (void)res; (void)flags;
	return 0;
}
static struct answer n_dispatch(E)
{
	CHECK(rk_prep_nop(e->ring, 0) >= 0);
	return call(rk_reap_dispatch(e->ring, stop_fn, NULL, (uint32_t)NUM, (uint32_t)NUM, 1000000));
}
static struct answer n_dispatch_timeout(E)
{
	CHECK(rk_prep_nop(e->ring, 0) >= 0);
	return call(rk_reap_dispatch(e->ring, stop_fn, NULL, 4, 2, NUM));
}
static struct answer n_register_files(E) { return call(rk_ring_register_files(e->ring, (uint32_t)(NUM > (1 << 16) ? UINT32_MAX : NUM))); }
static struct answer n_update_files(E)
{
	int32_t fd = e->file;
	return call(rk_ring_update_files(e->ring, (uint32_t)NUM, &fd, 1));
}
static struct answer n_update_files_value(E)
{
	int32_t fd = (int32_t)NUM;
	return call(rk_ring_update_files(e->ring, 0, &fd, 1));
}
static struct answer n_file_alloc_range_off(E) { return call(rk_ring_file_alloc_range(e->ring, (uint32_t)NUM, 1)); }
static struct answer n_file_alloc_range_len(E) { return call(rk_ring_file_alloc_range(e->ring, 1, (uint32_t)NUM)); }
static struct answer n_feature(E) { return call(rk_ring_feature(e->ring, (uint32_t)NUM)); }
static struct answer n_close_fixed(E) { return op(e, rk_prep_close_fixed(e->ring, (uint32_t)NUM, 0)); }
static struct answer n_install_slot(E) { return op_fd(e, rk_prep_fixed_fd_install(e->ring, (uint32_t)NUM, 0, 0), 1); }
static struct answer n_open_direct_slot(E) { return op_fd(e, rk_prep_openat_direct(e->ring, e->dirfd, "file", O_RDONLY, 0, (uint32_t)NUM, 0), 2); }
static struct answer n_socket_direct_slot(E) { return op_fd(e, rk_prep_socket_direct(e->ring, AF_UNIX, SOCK_DGRAM, 0, (uint32_t)NUM, 0), 2); }
static struct answer n_recycle(E) { return call(rk_ring_recycle_chunk(e->ring, e->grp, (int32_t)NUM)); }
static struct answer n_provide_group(E)
{
	rk_region *r;
	CHECK_EQ(rk_region_create(64, 2, 0, &r), 0);
	int ret = rk_ring_provide_region(e->ring, r, (uint16_t)NUM);
	if (ret >= 0)
		CHECK_EQ(rk_ring_unprovide_region(e->ring, r), 0);
	CHECK_EQ(rk_region_destroy(r), 0);
	return call(ret);
}
static struct answer n_region_create(E)
{
	rk_region *r = NULL;
	uint32_t size = NUM > (1 << 20) || NUM < 0 ? UINT32_MAX : (uint32_t)NUM;
	int ret = rk_region_create(size, (uint32_t)(NUM < 0 ? UINT32_MAX : NUM > 64 ? UINT32_MAX : NUM), 0, &r);
	if (ret == 0)
		CHECK_EQ(rk_region_destroy(r), 0);
	return call(ret);
}
static struct answer n_chunk_calls(E)
{
	int32_t c = (int32_t)NUM;
	int64_t r = rk_chunk_free(e->rg, c);
	r = r * 1000 + (rk_chunk_ptr(e->rg, c) != NULL);
	return call(r);
}
static struct answer n_ring_create(E)
{
	rk_ring *r = NULL;
	int ret = rk_ring_create((uint32_t)NUM, e->backend, &r);
	if (ret == 0)
		CHECK_EQ(rk_ring_close(r), 0);
	return call(ret);
}
static struct answer n_ring_create_ex(E)
{
	rk_ring *r = NULL;
	uint32_t n = (uint32_t)NUM;
	int ret = rk_ring_create_ex(8, e->backend, n, n > (1u << 16) ? n : n * 4, 0, &r);
	if (ret == 0)
		CHECK_EQ(rk_ring_close(r), 0);
	return call(ret);
}
static struct answer n_strerror(E) { return call(rk_strerror((int)NUM) != NULL); }
/* Words for any error and any sizes, hostile ones included: never NULL,
 * never empty, the same on both backends. */
static struct answer n_create_strerror(E)
{
	const char *m = rk_ring_create_strerror((int)NUM, NUM, 0, NUM, NUM, NUM);
	return call(m != NULL && m[0] != '\0');
}
static struct answer b_create_strerror(E)
{
	const char *m = rk_ring_create_strerror(-EINVAL, 8, BIT, 0, 0, 0);
	return call(m != NULL && m[0] != '\0');
}
/* A restricted ring of the env's backend: the restrict call's answer, then
 * a NOP's and a timeout's prep, folded into one number. */
static struct answer restricted(E, const uint32_t *ops, uint32_t n, uint32_t flags)
{
	rk_ring *r = NULL;
	CHECK_EQ(rk_ring_create(8, RK_RING_RESTRICTABLE | e->backend, &r), 0);
	int64_t acc = rk_ring_restrict(r, ops, n, flags);
	int64_t id = rk_prep_nop(r, 0);
	acc = acc * 1000 + (id >= 0 ? 1 : id);
	id = rk_prep_timeout(r, 1000, 0, 0, RK_FIXED_FILE);
	acc = acc * 1000 + (id >= 0 ? 1 : id);
	CHECK_EQ(rk_ring_close(r), 0);
	return call(acc);
}
static struct answer n_restrict_op(E)
{
	uint32_t op = (uint32_t)NUM;
	return restricted(e, v, &op, 1, 0);
}
static struct answer n_restrict_count(E)
{
	uint32_t ops[4] = {RK_OP_NOP, RK_OP_NOP, RK_OP_TIMEOUT, RK_OP_READ};
	return restricted(e, v, NUM >= 0 && NUM <= 4 ? ops : NULL, (uint32_t)NUM, 0);
}
static struct answer b_restrict_flags(E)
{
	uint32_t ops[2] = {RK_OP_NOP, RK_OP_TIMEOUT};
	return restricted(e, v, ops, 2, BIT);
}
/* A resize of a fresh DEFER_TASKRUN ring of the env's backend: its answer,
 * then a NOP's result in the resized queues, folded into one number. The
 * size checks come first on both backends; a kernel that cannot resize
 * then refuses what the fallback does, so only those checks compare. */
static struct answer resized(E, uint32_t sq, uint32_t cq)
{
	(void)v;
	rk_ring *r = NULL;
	CHECK_EQ(rk_ring_create(8, RK_RING_DEFER_TASKRUN | e->backend, &r), 0);
	int64_t acc = rk_ring_resize(r, sq, cq);
	if (acc == -EOPNOTSUPP && rk_ring_feature(r, RK_FEATURE_RESIZE) != 1)
		acc = 0;
	acc = acc * 1000 + run_one(r, rk_prep_nop(r, 0));
	CHECK_EQ(rk_ring_close(r), 0);
	return call(acc);
}
static struct answer n_resize_sq(E) { return resized(e, v, (uint32_t)NUM, 0); }
static struct answer n_resize_cq(E) { return resized(e, v, 8, (uint32_t)NUM); }
static struct answer n_constant_at(E)
{
	const char *name;
	int64_t val;
	return call(rk_constant_at((uint32_t)NUM, &name, &val) < 0 ? -1 : 0);
}
static struct answer n_op_info(E)
{
	const rk_op_info *info = rk_op_info_of((uint32_t)NUM);
	return call(info ? info->op : -1);
}
static struct answer n_batch(E)
{
	/* Every op code with every field set to the same hostile number. */
	rk_op_desc d;
	int64_t id;
	uint64_t acc = 0;
	for (int opc = 0; opc <= RK_OP_COUNT; opc++) {
		memset(&d, 0, sizeof(d));
		d.op = (uint8_t)opc;
		d.fd = -1;
		d.len = (uint32_t)NUM;
		d.off = NUM;
		d.arg1 = NUM;
		d.arg2 = NUM;
		d.fd2 = -1;
		int r = rk_prep_batch(e->ring, &d, 1, &id);
		acc = acc * 3 + (r == 1 ? 1 : id == -EINVAL ? 0 : id == -EBADF ? 2 : 3);
		if (r == 1)
			op(e, id);
	}
	return call((int64_t)(acc >> 1));
}

/* one value */
static struct answer o_nulls(E)
{
	(void)v;
	uint64_t acc = 0;
	rk_cqe c;
	acc = acc * 7 + rk_reap(e->ring, NULL, 1, 0, 0);
	acc = acc * 7 + rk_reap(e->ring, NULL, 0, 0, 0);
	acc = acc * 7 + rk_reap(e->ring, &c, 0, 5, -1);
	acc = acc * 7 + rk_reap_dispatch(e->ring, NULL, NULL, 1, 0, 0);
	acc = acc * 7 + rk_prep_batch(e->ring, NULL, 1, NULL);
	acc = acc * 7 + rk_prep_batch(e->ring, NULL, 0, NULL);
	acc = acc * 7 + rk_submit_batch(e->ring, NULL, 0, NULL);
	acc = acc * 7 + (int)rk_prep_read(e->ring, e->file, NULL, 0, 0, 0);
	acc = acc * 7 + (int)rk_prep_openat(e->ring, AT_FDCWD, NULL, 0, 0, 0);
	acc = acc * 7 + (int)rk_prep_statx(e->ring, e->dirfd, "file", 0, 0, NULL, 0);
	acc = acc * 7 + (int)rk_prep_recvmsg(e->ring, e->sv[0], NULL, 0, NULL, 0, NULL, 1, 0, 0);
	acc = acc * 7 + (int)rk_prep_sendmsg(e->ring, e->sv[0], NULL, 0, NULL, 4, NULL, 0, 0, 0);
	acc = acc * 7 + (int)rk_prep_bind(e->ring, e->sv[0], NULL, 4, 0);
	acc = acc * 7 + (int)rk_prep_connect(e->ring, e->sv[0], NULL, 4, 0);
	acc = acc * 7 + rk_ring_update_files(e->ring, 0, NULL, 1);
	acc = acc * 7 + rk_ring_provide_region(e->ring, NULL, 1);
	acc = acc * 7 + rk_ring_recycle_chunk(e->ring, NULL, 0);
	acc = acc * 7 + rk_ring_unprovide_region(e->ring, NULL);
	acc = acc * 7 + rk_ring_unprovide_region(e->ring, e->rg);
	acc = acc * 7 + rk_ring_unregister_region(e->ring, e->rg);
	acc = acc * 7 + rk_ring_unregister_files(e->ring);
	acc = acc * 7 + rk_ring_unregister_eventfd(e->ring);
	acc = acc * 7 + rk_ring_restrict(e->ring, NULL, 1, 0);
	acc = acc * 7 + rk_ring_restrict(e->ring, NULL, 0, 0); /* not RESTRICTABLE */
	acc = acc * 7 + rk_ring_restrict(NULL, NULL, 0, 0);
	acc = acc * 7 + rk_ring_resize(NULL, 8, 0);
	acc = acc * 7 + rk_ring_resize(e->ring, 8, 0); /* not DEFER_TASKRUN */
	acc = acc * 7 + rk_constant(NULL, NULL);
	acc = acc * 7 + rk_constant("", NULL);
	return call((int64_t)(acc >> 1));
}
static struct answer o_ring_state(E)
{
	/* The calls on a ring that answer with the ring's own state. */
	(void)v;
	uint64_t acc = 0;
	acc = acc * 7 + (rk_ring_fd(e->ring) >= 0);
	acc = acc * 7 + (rk_ring_backend(e->ring) > 0);
	acc = acc * 7 + rk_ring_cancel_all(e->ring);
	acc = acc * 7 + rk_submit(e->ring);
	acc = acc * 7 + (rk_version() > 0);
	acc = acc * 7 + rk_region_chunk_size(e->rg) + rk_region_nchunks(e->rg) +
	      rk_region_chunks_free(e->rg) + rk_region_busy(e->rg);
	acc = acc * 7 + (rk_chunk_alloc(e->rg) >= 0);
	acc = acc * 7 + rk_ring_register_region(e->ring, e->rg);
	acc = acc * 7 + rk_ring_register_region(e->ring, e->rg);
	acc = acc * 7 + rk_region_busy(e->rg); /* destroying it now would leave a zombie */
	acc = acc * 7 + rk_ring_unregister_region(e->ring, e->rg);
	int64_t val;
	acc = acc * 7 + rk_constant("RK_LINK", &val) + (int)val;
	acc = acc * 7 + rk_constant("NOPE", &val);
	return call((int64_t)(acc >> 1));
}
static struct answer o_dispatch_null_fn(E)
{
	(void)v;
	CHECK(rk_prep_nop(e->ring, 0) >= 0);
	return call(rk_reap_dispatch(e->ring, NULL, NULL, 1, 1, 0));
}

#define P(name, vals, want, fn) {name, vals, want, fn}
static const struct probe probes[] = {
	P("rk_prep_read", V_FD, 0, f_read),
	P("rk_prep_write", V_FD, 0, f_write),
	P("rk_prep_readv", V_FD, 0, f_readv),
	P("rk_prep_writev", V_FD, 0, f_writev),
	P("rk_prep_read_chunk", V_FD, 0, f_read_chunk),
	P("rk_prep_write_chunk", V_FD, 0, f_write_chunk),
	P("rk_prep_fsync", V_FD, 0, f_fsync),
	P("rk_prep_fdatasync", V_FD, 0, f_fdatasync),
	P("rk_prep_openat", V_FD, 0, f_openat),
	P("rk_prep_openat2", V_FD, 0, f_openat2),
	P("rk_prep_close", V_FD, 0, f_close),
	P("rk_prep_close/other_ring", V_NUM, 0, f_close_other_ring),
	P("rk_prep_statx", V_FD, 0, f_statx),
	P("rk_prep_unlinkat", V_FD, 0, f_unlinkat),
	P("rk_prep_mkdirat", V_FD, 0, f_mkdirat),
	P("rk_prep_renameat", V_FD, 0, f_renameat),
	P("rk_prep_linkat", V_FD, 0, f_linkat),
	P("rk_prep_symlinkat", V_FD, 0, f_symlinkat),
	P("rk_prep_fallocate", V_FD, 0, f_fallocate),
	P("rk_prep_fadvise", V_FD, 0, f_fadvise),
	P("rk_prep_ftruncate", V_FD, 0, f_ftruncate),
	P("rk_prep_splice/in", V_FD, 0, f_splice_in),
	P("rk_prep_splice/out", V_FD, 0, f_splice_out),
	P("rk_prep_copy/in", V_FD, 0, f_copy_in),
	P("rk_prep_copy/out", V_FD, 0, f_copy_out),
	P("rk_prep_tee", V_FD, 0, f_tee),
	P("rk_prep_poll_add", V_FD, 0, f_poll_add),
	P("rk_prep_poll_multishot", V_FD, 0, f_poll_multishot),
	P("rk_prep_bind", V_FD, 0, f_bind),
	P("rk_prep_listen", V_FD, 0, f_listen),
	P("rk_prep_connect", V_FD, 0, f_connect),
	P("rk_prep_accept", V_FD, 0, f_accept),
	P("rk_prep_accept_multishot", V_FD, 0, f_accept_ms),
	P("rk_prep_accept_direct", V_FD, W_FILES, f_accept_direct),
	P("rk_prep_accept_multishot_direct", V_FD, W_FILES, f_accept_ms_direct),
	P("rk_prep_send", V_FD, 0, f_send),
	P("rk_prep_recv", V_FD, 0, f_recv),
	P("rk_prep_shutdown", V_FD, 0, f_shutdown),
	P("rk_prep_send_zc", V_FD, 0, f_send_zc),
	P("rk_prep_sendmsg", V_FD, 0, f_sendmsg),
	P("rk_prep_sendmsg_zc", V_FD, 0, f_sendmsg_zc),
	P("rk_prep_recvmsg", V_FD, 0, f_recvmsg),
	P("rk_prep_recv_select", V_FD, W_GROUP, f_recv_select),
	P("rk_prep_recv_multishot", V_FD, W_GROUP, f_recv_ms),
	P("rk_prep_msg_ring", V_FD, 0, f_msg_ring),
	P("rk_ring_register_eventfd", V_FD, 0, f_register_eventfd),
	P("rk_ring_update_files", V_FD, W_FILES, f_update_files),
	P("rk_ring_update_files/fixed_read", V_FD, W_FILES, f_fixed_read),

	P("rk_prep_nop/flags", V_BIT, 0, b_sqe_flags),
	P("rk_prep_timeout/timeout_flags", V_BIT, 0, b_timeout_flags),
	P("rk_prep_link_timeout/timeout_flags", V_BIT, 0, b_link_timeout_flags),
	P("rk_prep_accept/accept_flags", V_BIT, 0, b_accept_flags),
	P("rk_prep_accept/connected", V_BIT, 0, b_accept_connected),
	P("rk_prep_accept_multishot/accept_flags", V_BIT, 0, b_accept_ms_flags),
	P("rk_prep_send/msg_flags", V_BIT, 0, b_send_flags),
	P("rk_prep_recv/msg_flags", V_BIT, 0, b_recv_flags),
	P("rk_prep_sendmsg/msg_flags", V_BIT, 0, b_sendmsg_flags),
	P("rk_prep_recvmsg/msg_flags", V_BIT, 0, b_recvmsg_flags),
	P("rk_prep_readv/file", V_BIT, 0, b_readv_file),
	P("rk_prep_readv/empty_pipe", V_BIT, 0, b_readv_empty_pipe),
	P("rk_prep_readv/pipe", V_BIT, 0, b_readv_pipe),
	P("rk_prep_writev/pipe", V_BIT, 0, b_writev_pipe),
	P("rk_prep_poll_add/mask", V_BIT, 0, b_poll_mask),
	P("rk_prep_splice/splice_flags", V_BIT, 0, b_splice_flags),
	P("rk_prep_tee/splice_flags", V_BIT, 0, b_tee_flags),
	P("rk_prep_copy/copy_flags", V_BIT, 0, b_copy_flags),
	P("rk_prep_copy/flags", V_BIT, 0, b_copy_sqe_flags),
	P("rk_prep_openat/oflags", V_BIT, 0, b_open_flags),
	P("rk_prep_openat/mode", V_BIT, 0, b_open_mode),
	P("rk_prep_openat2/mode", V_BIT, 0, b_openat2_mode),
	P("rk_prep_openat2/resolve", V_BIT, 0, b_openat2_resolve),
	P("rk_prep_statx/at_flags", V_BIT, 0, b_statx_flags),
	P("rk_prep_unlinkat/at_flags", V_BIT, 0, b_unlink_flags),
	P("rk_prep_renameat/rename_flags", V_BIT, 0, b_rename_flags),
	P("rk_prep_linkat/at_flags", V_BIT, 0, b_link_flags),
	P("rk_prep_mkdirat/mode", V_BIT, 0, b_mkdir_mode),
	P("rk_prep_fallocate/mode", V_BIT, 0, b_fallocate_mode),
	P("rk_prep_fadvise/advice", V_BIT, 0, b_fadvise_advice),
	P("rk_prep_socket/type", V_BIT, 0, b_socket_type),
	P("rk_prep_socket/domain", V_BIT, 0, b_socket_domain),
	P("rk_prep_socket_direct/type", V_BIT, W_FILES, b_socket_direct),
	P("rk_prep_send_zc/zc_flags", V_BIT, 0, b_zc_flags),
	P("rk_prep_cancel/flags", V_BIT, 0, b_cancel_flags),
	P("rk_prep_fixed_fd_install/flags", V_BIT, W_FILES, b_install_flags),
	P("rk_ring_register_eventfd/flags", V_BIT, 0, b_eventfd_flags),
	P("rk_region_create/flags", V_BIT, 0, b_region_flags),
	P("rk_ring_create/flags", V_BIT, 0, b_ring_flags),

	P("rk_prep_read/len", V_NUM, 0, n_read_len),
	P("rk_prep_read/offset", V_NUM, 0, n_read_off),
	P("rk_prep_write/offset", V_NUM, 0, n_write_off),
	P("rk_prep_readv/niov", V_NUM, 0, n_readv_niov),
	P("rk_prep_readv/null", V_NUM, 0, n_readv_null),
	P("rk_prep_read_chunk/chunk", V_NUM, 0, n_chunk),
	P("rk_prep_write_chunk/len", V_NUM, 0, n_chunk_len),
	P("rk_prep_fsync/range", V_NUM, 0, n_fsync_range),
	P("rk_prep_fallocate/range", V_NUM, 0, n_fallocate),
	P("rk_prep_fadvise/range", V_NUM, 0, n_fadvise),
	P("rk_prep_ftruncate/len", V_NUM, 0, n_ftruncate),
	P("rk_prep_splice/len", V_NUM, 0, n_splice_len),
	P("rk_prep_splice/off_in", V_NUM, 0, n_splice_off),
	P("rk_prep_copy/len", V_NUM, 0, n_copy_len),
	P("rk_prep_copy/off_in", V_NUM, 0, n_copy_off_in),
	P("rk_prep_copy/off_out", V_NUM, 0, n_copy_off_out),
	P("rk_prep_timeout/ns", V_NUM, 0, n_timeout_ns),
	P("rk_prep_timeout/abs", V_NUM, 0, n_timeout_abs),
	P("rk_prep_timeout/count", V_NUM, 0, n_timeout_count),
	P("rk_prep_link_timeout/ns", V_NUM, 0, n_link_timeout),
	P("rk_prep_link_timeout/alone", V_NUM, 0, n_link_timeout_alone),
	P("rk_prep_cancel/id", V_NUM, 0, n_cancel_id),
	P("rk_prep_poll_remove/id", V_NUM, 0, n_poll_remove_id),
	P("rk_prep_timeout_remove/id", V_NUM, 0, n_timeout_remove_id),
	P("rk_cancel_sync/id", V_NUM, 0, n_cancel_sync),
	P("rk_cancel_sync/timeout", V_NUM, 0, n_cancel_sync_timeout),
	P("rk_prep_listen/backlog", V_NUM, 0, n_listen_backlog),
	P("rk_prep_shutdown/how", V_NUM, 0, n_shutdown_how),
	P("rk_prep_bind/addrlen", V_NUM, 0, n_bind_len),
	P("rk_prep_connect/addrlen", V_NUM, 0, n_connect_len),
	P("rk_prep_accept/addrlen", V_NUM, 0, n_accept_addrlen),
	P("rk_prep_send/len", V_NUM, 0, n_send_len),
	P("rk_prep_recv/len", V_NUM, 0, n_recv_len),
	P("rk_prep_recv_select/len", V_NUM, W_GROUP, n_recv_select_len),
	P("rk_prep_recv_select/group", V_NUM, W_GROUP, n_recv_select_group),
	P("rk_prep_sendmsg/nfds", V_NUM, 0, n_sendmsg_nfds),
	P("rk_prep_sendmsg/fd", V_NUM, 0, n_sendmsg_fd),
	P("rk_prep_sendmsg/addrlen", V_NUM, 0, n_sendmsg_addrlen),
	P("rk_prep_recvmsg/fds_cap", V_NUM, 0, n_recvmsg_fds_cap),
	P("rk_prep_recvmsg/name_cap", V_NUM, 0, n_recvmsg_name_cap),
	P("rk_prep_msg_ring/value", V_NUM, 0, n_msg_ring_value),
	P("rk_prep_msg_ring_fd/src_slot", V_NUM, W_FILES, n_msg_ring_fd_src),
	P("rk_prep_msg_ring_fd/dst_slot", V_NUM, W_FILES, n_msg_ring_fd_dst),
	P("rk_prep_msg_ring_fd/value", V_NUM, W_FILES, n_msg_ring_fd_value),
	P("rk_prep_msg_ring_fd/msg_flags", V_BIT, W_FILES, b_msg_ring_fd_flags),
	P("rk_prep_recvmsg_multishot/name_cap", V_NUM, W_GROUP, n_recvmsg_ms_name),
	P("rk_prep_recvmsg_multishot/control_cap", V_NUM, W_GROUP, n_recvmsg_ms_control),
	P("rk_prep_recvmsg_multishot/group", V_NUM, W_GROUP, n_recvmsg_ms_group),
	P("rk_prep_recvmsg_multishot/msg_flags", V_BIT, W_GROUP, b_recvmsg_ms_flags),
	P("rk_recvmsg_out/len", V_NUM, 0, n_recvmsg_out_len),
	P("rk_recvmsg_out/chunk", V_NUM, 0, n_recvmsg_out_chunk),
	P("rk_recvmsg_out/caps", V_NUM, 0, n_recvmsg_out_caps),
	P("rk_ring_probe", V_NUM, 0, n_probe),
	P("rk_ring_stats", V_NUM, 0, n_stats),
	P("rk_reap/wait_nr", V_NUM, 0, n_reap),
	P("rk_reap/timeout", V_NUM, 0, n_reap_timeout),
	P("rk_reap_dispatch/max", V_NUM, 0, n_dispatch),
	P("rk_reap_dispatch/timeout", V_NUM, 0, n_dispatch_timeout),
	P("rk_ring_register_files", V_NUM, 0, n_register_files),
	P("rk_ring_update_files/offset", V_NUM, W_FILES, n_update_files),
	P("rk_ring_update_files/value", V_NUM, W_FILES, n_update_files_value),
	P("rk_prep_close_fixed/slot", V_NUM, W_FILES, n_close_fixed),
	P("rk_ring_file_alloc_range/offset", V_NUM, W_FILES, n_file_alloc_range_off),
	P("rk_ring_file_alloc_range/len", V_NUM, W_FILES, n_file_alloc_range_len),
	P("rk_ring_feature", V_NUM, 0, n_feature),
	P("rk_prep_fixed_fd_install/slot", V_NUM, W_FILES, n_install_slot),
	P("rk_prep_openat_direct/slot", V_NUM, W_FILES, n_open_direct_slot),
	P("rk_prep_socket_direct/slot", V_NUM, W_FILES, n_socket_direct_slot),
	P("rk_ring_recycle_chunk", V_NUM, W_GROUP, n_recycle),
	P("rk_ring_provide_region/group", V_NUM, 0, n_provide_group),
	P("rk_region_create/sizes", V_NUM, 0, n_region_create),
	P("rk_chunk_free+rk_chunk_ptr", V_NUM, 0, n_chunk_calls),
	P("rk_ring_create/entries", V_NUM, 0, n_ring_create),
	P("rk_ring_create_ex/sizes", V_NUM, 0, n_ring_create_ex),
	P("rk_strerror", V_NUM, 0, n_strerror),
	P("rk_ring_create_strerror/sizes", V_NUM, 0, n_create_strerror),
	P("rk_ring_create_strerror/flags", V_BIT, 0, b_create_strerror),
	P("rk_constant_at", V_NUM, 0, n_constant_at),
	P("rk_ring_restrict/op", V_NUM, 0, n_restrict_op),
	P("rk_ring_restrict/n", V_NUM, 0, n_restrict_count),
	P("rk_ring_restrict/flags", V_BIT, 0, b_restrict_flags),
	P("rk_ring_resize/sq", V_NUM, 0, n_resize_sq),
	P("rk_ring_resize/cq", V_NUM, 0, n_resize_cq),
	P("rk_op_info_of", V_NUM, 0, n_op_info),
	P("rk_prep_batch+rk_submit_batch", V_NUM, 0, n_batch),

	P("nulls", V_ONE, 0, o_nulls),
	P("ring_state", V_ONE, 0, o_ring_state),
	P("rk_reap_dispatch/null_fn", V_ONE, 0, o_dispatch_null_fn),
};
#define NPROBES (sizeof(probes) / sizeof(probes[0]))

/* The functions the probes above call without naming them in a probe name. */
static const char *const also_called[] = {
	"rk_version", "rk_constant", "rk_ring_backend", "rk_ring_close", "rk_ring_cancel_all",
	"rk_ring_fd", "rk_ring_unregister_eventfd", "rk_prep_nop", "rk_submit",
	"rk_ring_unprovide_region", "rk_ring_unregister_files", "rk_region_destroy",
	"rk_chunk_alloc", "rk_region_chunk_size", "rk_region_nchunks", "rk_region_chunks_free",
	"rk_region_busy", "rk_ring_register_region", "rk_ring_unregister_region",
	"rk_submit_batch",
};

/* Differences ringkit.h's "Backends" section lists; value NULL: every
 * value. Nothing else may differ. */
static const struct {
	const char *probe, *value, *why;
} documented[] = {
	{"rk_ring_probe", NULL, "rk_ring_probe reports what the fallback implements"},
	{"rk_ring_feature", NULL, "rk_ring_feature reports what the fallback emulates"},
};

static int is_documented(const char *probe, const char *value)
{
	for (size_t i = 0; i < sizeof(documented) / sizeof(documented[0]); i++)
		if (strcmp(documented[i].probe, probe) == 0 &&
		    (!documented[i].value || strcmp(documented[i].value, value) == 0))
			return 1;
	return 0;
}

static int64_t nvalues(int kind)
{
	switch (kind) {
	case V_FD: return NFDS;
	case V_BIT: return 34;
	case V_NUM: return NNUMS;
	default: return 1;
	}
}

static const char *value_name(int kind, int64_t v, char *out, size_t n)
{
	switch (kind) {
	case V_FD:
		return fd_names[v];
	case V_BIT:
		if (v < 32)
			snprintf(out, n, "bit %lld", (long long)v);
		else
			snprintf(out, n, v == 32 ? "none" : "all bits");
		return out;
	case V_NUM:
		snprintf(out, n, "%lld", (long long)nums[v]);
		return out;
	default:
		return "-";
	}
}

/* Every function doc/abi.json lists has a probe. */
static void check_coverage(const char *abi_json)
{
	FILE *f = fopen(abi_json, "r");
	CHECK(f != NULL);
	static char text[1 << 20];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	const char *p = strstr(text, "\"functions\"");
	CHECK(p != NULL);
	int missing = 0, seen = 0;
	while ((p = strstr(p, "\"name\": \"rk_")) != NULL) {
		p += 9;
		char name[64];
		size_t k = 0;
		while (p[k] && p[k] != '"' && k < sizeof(name) - 1) {
			name[k] = p[k];
			k++;
		}
		name[k] = 0;
		seen++;
		int found = 0;
		for (size_t i = 0; i < NPROBES && !found; i++) {
			const char *q = strstr(probes[i].name, name);
			size_t l = strlen(name);
			found = q && (q[l] == 0 || q[l] == '/' || q[l] == '+') &&
			        (q == probes[i].name || q[-1] == '+');
		}
		for (size_t i = 0; i < sizeof(also_called) / sizeof(also_called[0]) && !found; i++)
			found = strcmp(also_called[i], name) == 0;
		if (!found) {
			fprintf(stderr, "no probe calls %s\n", name);
			missing++;
		}
	}
	CHECK(seen > 80);
	CHECK_EQ(missing, 0);
}

static struct answer run(uint32_t backend, const struct probe *p, int64_t v)
{
	struct env e;
	if (getenv("HOSTILE_TRACE"))
		fprintf(stderr, "%s %lld %u\n", p->name, (long long)v, backend);
	env_open(&e, backend, p->want);
	struct answer a = p->fn(&e, v);
	env_close(&e);
	return a;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		check_coverage(argv[1]);
	make_tmpdir();
	signal(SIGPIPE, SIG_IGN);
	rk_ring *probe_ring;
	int have_uring = rk_ring_create(8, RK_RING_NO_FALLBACK, &probe_ring) == 0;
	if (have_uring)
		rk_ring_close(probe_ring);
	else
		fprintf(stderr, "io_uring refused here: fallback only, nothing to compare\n");

	int fds_before = count_fds();
	int mismatches = 0, runs = 0;
	for (size_t i = 0; i < NPROBES; i++) {
		const struct probe *p = &probes[i];
		for (int64_t v = 0; v < nvalues(p->values); v++) {
			struct answer fb = run(RK_RING_FALLBACK, p, v);
			runs++;
			if (!have_uring)
				continue;
			struct answer ur = run(RK_RING_NO_FALLBACK, p, v);
			if ((fb.kind == A_PENDING) != (ur.kind == A_PENDING)) {
				pending_ns = PENDING_LONG_NS;
				fb = run(RK_RING_FALLBACK, p, v);
				ur = run(RK_RING_NO_FALLBACK, p, v);
				pending_ns = PENDING_SHORT_NS;
			}
			if (fb.kind == ur.kind && fb.v == ur.v)
				continue;
			char vb[32], a1[64], a2[64];
			const char *vn = value_name(p->values, v, vb, sizeof(vb));
			int doc = is_documented(p->name, vn);
			fprintf(stderr, "%s%s (%s): io_uring %s, fallback %s\n",
			        doc ? "documented: " : "", p->name, vn, show(ur, a1, sizeof(a1)),
			        show(fb, a2, sizeof(a2)));
			mismatches += !doc;
		}
	}
	CHECK_EQ(count_fds(), fds_before); /* nothing leaked on either backend */
	fprintf(stderr, "%d probes per backend, %d undocumented differences\n", runs, mismatches);
	CHECK_EQ(mismatches, 0);
	return 0;
}
