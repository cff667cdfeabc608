/* The wrappers behind fault.h. Each seam function of src/sys.c is renamed by
 * the linker (--wrap=rk__sys_setup, ...): the core's call reaches
 * __wrap_rk__sys_setup here, and __real_rk__sys_setup is the original. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include "fault.h"

struct io_uring_params;

int __real_rk__sys_setup(uint32_t entries, struct io_uring_params *p);
int __real_rk__sys_enter(int fd, uint32_t to_submit, uint32_t min_complete, uint32_t flags,
                         void *arg, size_t argsz);
int __real_rk__sys_register(int fd, uint32_t opcode, const void *arg, uint32_t nr_args);
void *__real_rk__sys_mmap(size_t len, int prot, int flags, int fd, uint64_t off);
int __real_rk__sys_munmap(void *p, size_t len);
int __real_rk__sys_mlock(void *p, size_t len);
void *__real_rk__calloc(size_t n, size_t size);
void __real_rk__free(void *p);

static struct {
	long calls[FAULT_NSITES + 1];
	enum fault_site site;
	long at;
	int err;
	bool persistent, armed;
	long fired;
} f;

static long live_allocs, live_maps;

static const char *const names[] = {"alloc", "setup", "enter", "register", "mmap", "mlock",
                                    "any"};

void fault_arm(enum fault_site site, long n, int err, bool persistent)
{
	for (int i = 0; i <= FAULT_NSITES; i++)
		f.calls[i] = 0;
	f.site = site;
	f.at = n;
	f.err = err;
	f.persistent = persistent;
	f.armed = n > 0;
	f.fired = 0;
}

void fault_disarm(void)
{
	f.armed = false;
}

long fault_calls(enum fault_site site)
{
	return f.calls[site];
}

long fault_fired(void)
{
	return f.fired;
}

long fault_live_allocs(void)
{
	return live_allocs;
}

long fault_live_maps(void)
{
	return live_maps;
}

const char *fault_site_name(enum fault_site site)
{
	return names[site];
}

/* Counts a call of `site`; returns the errno to fail it with, or 0. */
static int hit(enum fault_site site)
{
	long n = ++f.calls[site];
	f.calls[FAULT_ANY]++;
	if (!f.armed || (f.site != site && f.site != FAULT_ANY))
		return 0;
	long k = f.site == FAULT_ANY ? f.calls[FAULT_ANY] : n;
	if (k == f.at || (f.persistent && k > f.at)) {
		f.fired++;
		return f.err;
	}
	return 0;
}

int __wrap_rk__sys_setup(uint32_t entries, struct io_uring_params *p)
{
	int err = hit(FAULT_SETUP);
	return err ? -err : __real_rk__sys_setup(entries, p);
}

int __wrap_rk__sys_enter(int fd, uint32_t to_submit, uint32_t min_complete, uint32_t flags,
                         void *arg, size_t argsz)
{
	int err = hit(FAULT_ENTER);
	return err ? -err : __real_rk__sys_enter(fd, to_submit, min_complete, flags, arg, argsz);
}

int __wrap_rk__sys_register(int fd, uint32_t opcode, const void *arg, uint32_t nr_args)
{
	int err = hit(FAULT_REGISTER);
	return err ? -err : __real_rk__sys_register(fd, opcode, arg, nr_args);
}

void *__wrap_rk__sys_mmap(size_t len, int prot, int flags, int fd, uint64_t off)
{
	int err = hit(FAULT_MMAP);
	if (err) {
		errno = err;
		return MAP_FAILED;
	}
	void *p = __real_rk__sys_mmap(len, prot, flags, fd, off);
	if (p != MAP_FAILED)
		live_maps++;
	return p;
}

int __wrap_rk__sys_munmap(void *p, size_t len)
{
	int ret = __real_rk__sys_munmap(p, len);
	if (ret == 0)
		live_maps--;
	return ret;
}

int __wrap_rk__sys_mlock(void *p, size_t len)
{
	int err = hit(FAULT_MLOCK);
	return err ? -err : __real_rk__sys_mlock(p, len);
}

void *__wrap_rk__calloc(size_t n, size_t size)
{
	if (hit(FAULT_ALLOC))
		return NULL;
	void *p = __real_rk__calloc(n, size);
	if (p)
		live_allocs++;
	return p;
}

void __wrap_rk__free(void *p)
{
	if (p)
		live_allocs--;
	__real_rk__free(p);
}
