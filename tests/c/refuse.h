/* A seccomp filter that makes io_uring_setup fail with a chosen errno — what
 * a container runtime's default profile does with EPERM — so every layer can
 * be shown to report a refused io_uring clearly. The filter stays for the
 * rest of the process and its children (and survives exec). */
#ifndef RK_TEST_REFUSE_H
#define RK_TEST_REFUSE_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define REFUSE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define REFUSE_ARCH AUDIT_ARCH_AARCH64
#endif

/* Returns 0, or -errno when the filter cannot be installed. */
static inline int refuse_io_uring_setup(int err)
{
	struct sock_filter filter[] = {
#ifdef REFUSE_ARCH
		/* Another ABI's syscall numbers mean other calls: let them be. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, REFUSE_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
#endif
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
}

#endif
