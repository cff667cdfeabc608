/* An SQPOLL ring's kernel thread acts with the credentials of the process
 * that created the ring. A ring created as root and used after setuid()
 * would still open root-only files. In a child that drops to nobody, the
 * core refuses to hand new ops to such a ring (-EPERM, with rk_strerror
 * saying why), the refused op never runs, and the ring can still be settled
 * and closed. An ordinary ring created as root is used with the caller's
 * current credentials: the kernel itself refuses (-EACCES). So is a ring on
 * the fallback backend, SQPOLL or not: its threads are the process's own and
 * change credentials with it. Skips when not root or when SQPOLL is
 * unavailable. */
#include <grp.h>
#include <sys/stat.h>

#include "check.h"

#define NOBODY 65534

static char secret[160];

static int in_child(int (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		child_exit(fn());
	return wait_exit(pid);
}

static void drop_to_nobody(void)
{
	CHECK_EQ(setgroups(0, NULL), 0);
	CHECK_EQ(setgid(NOBODY), 0);
	CHECK_EQ(setuid(NOBODY), 0);
	CHECK(open(secret, O_RDONLY) < 0 && errno == EACCES); /* directly: refused */
}

static int sqpoll_child(void)
{
	rk_ring *ring;
	int ret = rk_ring_create(8, RK_RING_SQPOLL, &ring);
	if (ret == -EPERM || ret == -EINVAL || ret == -EOPNOTSUPP)
		return 77;
	CHECK_EQ(ret, 0);
	/* As root, the ring opens the file. */
	int32_t fd = run_one(ring, rk_prep_openat(ring, AT_FDCWD, secret, O_RDONLY, 0, 0));
	CHECK(fd >= 0);
	close(fd);

	drop_to_nobody();
	if (is_fallback(ring)) { /* no kernel thread: the caller's credentials */
		CHECK_EQ(run_one(ring, rk_prep_openat(ring, AT_FDCWD, secret, O_RDONLY, 0, 0)),
		         -EACCES);
		CHECK_EQ(rk_ring_close(ring), 0);
		return 0;
	}
	int64_t id = rk_prep_openat(ring, AT_FDCWD, secret, O_RDONLY, 0, 0);
	CHECK(id >= 0); /* queued: refused when it would be handed over */
	CHECK_EQ(rk_submit(ring), -EPERM);
	rk_cqe c;
	CHECK_EQ(rk_reap(ring, &c, 1, 1, -1), -EPERM);
	CHECK(strstr(rk_strerror(-EPERM), "SQPOLL") != NULL);
	CHECK_EQ(stat_of(ring, RK_STAT_SUBMITTED), 1);
	/* The refused op settles as cancelled; nothing was opened. */
	CHECK_EQ(rk_ring_cancel_all(ring), 1);
	CHECK_EQ(rk_reap(ring, &c, 1, 1, -1), 1);
	CHECK_EQ(c.id, id);
	CHECK_EQ(c.res, -ECANCELED);
	CHECK_EQ(rk_prep_nop(ring, 0) >= 0, 1);
	CHECK_EQ(rk_submit(ring), -EPERM);
	CHECK_EQ(rk_ring_cancel_all(ring), 1);
	CHECK_EQ(rk_reap(ring, &c, 1, 1, -1), 1);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}

/* Privileges dropped for a while (the effective ids only) and taken back:
 * refused while they differ, accepted again once they match. */
static int seteuid_child(void)
{
	rk_ring *ring;
	int ret = rk_ring_create(8, RK_RING_SQPOLL, &ring);
	if (ret < 0)
		return 77;
	CHECK_EQ(setresgid(-1, NOBODY, -1), 0);
	CHECK_EQ(setresuid(-1, NOBODY, -1), 0);
	if (is_fallback(ring)) { /* the fallback's threads follow the process */
		CHECK_EQ(run_one(ring, rk_prep_openat(ring, AT_FDCWD, secret, O_RDONLY, 0, 0)),
		         -EACCES);
		CHECK_EQ(setresuid(-1, 0, -1), 0);
		CHECK_EQ(setresgid(-1, 0, -1), 0);
		int32_t fd = run_one(ring, rk_prep_openat(ring, AT_FDCWD, secret, O_RDONLY, 0, 0));
		CHECK(fd >= 0);
		close(fd);
		CHECK_EQ(rk_ring_close(ring), 0);
		return 0;
	}
	int64_t id = rk_prep_openat(ring, AT_FDCWD, secret, O_RDONLY, 0, 0);
	CHECK(id >= 0);
	CHECK_EQ(rk_submit(ring), -EPERM);
	CHECK_EQ(setresuid(-1, 0, -1), 0);
	CHECK_EQ(rk_submit(ring), -EPERM); /* the group differs still */
	CHECK_EQ(setresgid(-1, 0, -1), 0);
	int32_t fd = run_one(ring, id); /* as root again: it runs */
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}

static int plain_child(void)
{
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(8, 0, &ring), 0);
	drop_to_nobody();
	CHECK_EQ(run_one(ring, rk_prep_openat(ring, AT_FDCWD, secret, O_RDONLY, 0, 0)), -EACCES);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}

int main(void)
{
	if (geteuid() != 0)
		SKIP("needs root to drop privileges");
	const char *dir = make_tmpdir();
	CHECK_EQ(chmod(dir, 0755), 0); /* only the file's own mode protects it */
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	int fd = open(secret, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "root only", 9), 9);
	close(fd);

	CHECK_EQ(in_child(plain_child), 0);
	int r = in_child(sqpoll_child);
	if (r == 77)
		SKIP("SQPOLL rings are not available here");
	CHECK_EQ(r, 0);
	CHECK_EQ(in_child(seteuid_child), 0);
	return 0;
}
