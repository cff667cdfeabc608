/* Command-line helpers shared by the C examples. A number is decimal, whole
 * and in range, or the example names the argument that is wrong and exits 2
 * (the exit status of a usage error, as in the coreutils). */
#ifndef RK_EXAMPLE_ARGS_H
#define RK_EXAMPLE_ARGS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int arg_is_help(const char *s)
{
	return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

/* strtoul alone takes "-5" as a huge number, "abc" as 0 and "7x" as 7. */
static inline unsigned long arg_number(const char *prog, const char *what, const char *s,
                                       unsigned long min, unsigned long max)
{
	char *end = NULL;
	unsigned long v = 0;
	int ok = s[0] >= '0' && s[0] <= '9';
	if (ok) {
		errno = 0;
		v = strtoul(s, &end, 10);
		ok = errno == 0 && *end == '\0' && v >= min && v <= max;
	}
	if (!ok) {
		fprintf(stderr, "%s: %s '%s': expected a decimal number from %lu to %lu\n", prog,
		        what, s, min, max);
		exit(2);
	}
	return v;
}

/* PORT: 0 asks the kernel for a free port. */
static inline int arg_port(const char *prog, const char *s)
{
	return (int)arg_number(prog, "port", s, 0, 65535);
}

#endif
