/* Counting this process's open descriptors, for the leak checks of every
 * test program: tests/c (through check.h), the fuzzers, the scenario runner
 * and the soak. It fails no program itself, since each reports failures its
 * own way (exit, abort for libFuzzer, a scenario's step). */
#ifndef RK_TEST_FD_COUNT_H
#define RK_TEST_FD_COUNT_H

#include <dirent.h>
#include <errno.h>

/* Open descriptors, the listing's own left out; -errno when /proc/self/fd
 * cannot be listed. */
static inline int open_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -errno;
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}
#endif
