/* Fault injection at the core's seam (src/sys.c). A test links the static
 * library with the linker's --wrap for every seam function (see
 * tests/c/meson.build: fault_wrap_args), so the core's calls land in the
 * wrappers of fault.c, which pass them through — or fail the Nth call of a
 * site with a chosen errno, once or from then on. The wrappers also keep the
 * balance of allocations and mappings, so a test can assert that everything
 * the core took was given back. */
#ifndef RK_TEST_FAULT_H
#define RK_TEST_FAULT_H

#include <stdbool.h>

enum fault_site {
	FAULT_ALLOC,    /* rk__calloc: returns NULL (the core answers -ENOMEM) */
	FAULT_SETUP,    /* rk__sys_setup (io_uring_setup) */
	FAULT_ENTER,    /* rk__sys_enter (io_uring_enter) */
	FAULT_REGISTER, /* rk__sys_register (io_uring_register) */
	FAULT_MMAP,     /* rk__sys_mmap: MAP_FAILED with errno set */
	FAULT_MLOCK,    /* rk__sys_mlock */
	FAULT_NSITES,
	FAULT_ANY = FAULT_NSITES, /* counts the calls of every site together */
};

/* Resets the counters, then fails call number n (1-based, counted from now)
 * of `site` with -err; when persistent, every later call of that site fails
 * too. n 0 arms nothing (counting only). */
void fault_arm(enum fault_site site, long n, int err, bool persistent);
/* Stops failing; counters keep running. */
void fault_disarm(void);
/* Calls of a site since the last fault_arm (FAULT_ANY: of all sites). */
long fault_calls(enum fault_site site);
/* Failures injected since the last fault_arm. */
long fault_fired(void);
/* Allocations not yet freed, mappings not yet unmapped, bytes mlocked and
 * not unlocked: since program start. */
long fault_live_allocs(void);
long fault_live_maps(void);
const char *fault_site_name(enum fault_site site);

#endif
