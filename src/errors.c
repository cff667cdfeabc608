/*
 * Version and error text. The errors ring setup and registration return are
 * the ones users meet first and understand least (a container's seccomp
 * profile, a sysctl, a memlock limit), so those say what to do about them.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "internal.h"

uint32_t rk_version(void)
{
	return (RK_VERSION_MAJOR << 16) | (RK_VERSION_MINOR << 8) | RK_VERSION_PATCH;
}

struct hint {
	int err;
	const char *text;
};

static const struct hint hints[] = {
	{EPERM, "Operation not permitted (creating a ring: io_uring is refused here, by a "
	        "seccomp filter such as a container runtime's default profile, or by sysctl "
	        "kernel.io_uring_disabled: 2 disables it, 1 allows only members of "
	        "kernel.io_uring_group; allow io_uring for this process or run elsewhere; "
	        "submitting to an SQPOLL ring: the effective user or group changed since the "
	        "ring was created, and its kernel thread would still act as the old one: "
	        "create a new ring; without RK_RING_NO_FALLBACK or RINGKIT_BACKEND=uring, a "
	        "refused setup gives a ring on ringkit's fallback backend instead)"},
	{ECHILD, "No child processes (for a ring: it was created by another process and "
	         "inherited through fork(); it cannot be used here, create a new ring in this "
	         "process; closing it frees only this process's copy)"},
	{ENOSYS, "Function not implemented (creating a ring: this kernel has no io_uring, "
	         "it is too old or built without CONFIG_IO_URING; ringkit's io_uring backend needs "
	         "Linux 5.19 or newer, its fallback backend runs anywhere)"},
	{EINVAL, "Invalid argument (an argument is out of its documented range; creating a ring: "
	         "a size is too large, this kernel lacks a requested setup mode such as "
	         "SQPOLL, DEFER_TASKRUN or COOP_TASKRUN, or RINGKIT_BACKEND is not "
	         "fallback, uring or auto)"},
	{ENOMEM, "Cannot allocate memory (for a ring or a registered region this usually "
	         "means the locked-memory limit is too low: raise RLIMIT_MEMLOCK, see ulimit -l, "
	         "or use smaller rings and regions; unregistered regions keep working)"},
	{EBUSY, "Device or resource busy (the op table is full: reap completions first; or a "
	        "chunk or region is still used by an op in flight or registered with an open "
	        "ring)"},
	{ENOBUFS, "No buffer space available (every chunk of the region is allocated)"},
	{ETIMEDOUT, "Connection timed out (closing a ring: the kernel still holds ops after "
	            "the wait; their memory was kept, keep your buffers alive too)"},
	{ENOENT, "No such file or directory (for cancel, poll_remove and timeout_remove: the "
	         "target id names no live op)"},
	{ENOSPC, "No space left on device (or: the ring has no free region slot)"},
};

const char *rk_strerror(int err)
{
	if (err == INT_MIN)
		return "Unknown error"; /* -INT_MIN is not an int */
	if (err < 0)
		err = -err;
	if (err == 0)
		return "Success";
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (hints[i].err == err)
			return hints[i].text;
	/* strerrordesc_np returns static strings: thread-safe, no buffer. */
	const char *s = strerrordesc_np(err);
	return s ? s : "Unknown error";
}
