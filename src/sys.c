/*
 * The core's only contact with the kernel and the allocator.
 *
 * Calling the syscalls ourselves (instead of liburing's wrappers) is
 * deliberate: liburing's wait helpers retry io_uring_enter on EINTR, which
 * would keep a runtime's signal handlers (Ctrl-C in Python) from running.
 * Keeping every entry point in this one file also gives fault-injection tests
 * a single seam to fail.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

int rk__sys_setup(uint32_t entries, struct io_uring_params *p)
{
	long ret = syscall(__NR_io_uring_setup, entries, p);
	return ret < 0 ? -errno : (int)ret;
}

int rk__sys_enter(int fd, uint32_t to_submit, uint32_t min_complete, uint32_t flags, void *arg,
                  size_t argsz)
{
#if defined(__x86_64__)
	/* The one syscall of every submit and wait, made directly: libc's
	 * syscall() moves every argument down a register and goes through
	 * errno, where the kernel's answer is already the negative errno. */
	register long r10 __asm__("r10") = (long)flags;
	register long r8 __asm__("r8") = (long)arg;
	register long r9 __asm__("r9") = (long)argsz;
	long ret = __NR_io_uring_enter;
	__asm__ volatile("syscall"
	                 : "+a"(ret)
	                 : "D"((long)fd), "S"((long)to_submit), "d"((long)min_complete), "r"(r10),
	                   "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return (int)ret;
#else
	long ret = syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz);
	return ret < 0 ? -errno : (int)ret;
#endif
}

int rk__sys_register(int fd, uint32_t opcode, const void *arg, uint32_t nr_args)
{
	long ret = syscall(__NR_io_uring_register, fd, opcode, arg, nr_args);
	return ret < 0 ? -errno : (int)ret;
}

void *rk__sys_mmap(size_t len, int prot, int flags, int fd, uint64_t off)
{
	return mmap(NULL, len, prot, flags, fd, (off_t)off);
}

int rk__sys_munmap(void *p, size_t len)
{
	return munmap(p, len) < 0 ? -errno : 0;
}

/* The raw syscalls, not libc's wrappers: sanitizer runtimes replace mlock
 * with a no-op, which would make RK_REGION_LOCKED silently lock nothing. */
int rk__sys_mlock(void *p, size_t len)
{
	return syscall(SYS_mlock, p, len) < 0 ? -errno : 0;
}

int rk__sys_munlock(void *p, size_t len)
{
	return syscall(SYS_munlock, p, len) < 0 ? -errno : 0;
}

void *rk__calloc(size_t n, size_t size)
{
	return calloc(n, size);
}

void rk__free(void *p)
{
	free(p);
}
