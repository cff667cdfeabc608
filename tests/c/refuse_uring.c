/* refuse_uring ERRNO COMMAND [ARGS...]: runs COMMAND with io_uring_setup
 * failing with ERRNO (a name such as EPERM, ENOSYS, ENOMEM, EINVAL, or a
 * number), through a seccomp filter. The binding tests run Python and Lua
 * under it to check what a refused io_uring looks like there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refuse.h"

static const struct {
	const char *name;
	int value;
} names[] = {{"EPERM", EPERM}, {"ENOSYS", ENOSYS}, {"ENOMEM", ENOMEM},
             {"EINVAL", EINVAL}, {"EACCES", EACCES}, {"EMFILE", EMFILE}};

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s ERRNO command [args...]\n", argv[0]);
		return 2;
	}
	int err = atoi(argv[1]);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(argv[1], names[i].name) == 0)
			err = names[i].value;
	if (err <= 0) {
		fprintf(stderr, "%s: unknown errno %s\n", argv[0], argv[1]);
		return 2;
	}
	int ret = refuse_io_uring_setup(err);
	if (ret < 0) {
		fprintf(stderr, "%s: cannot install the seccomp filter: %s\n", argv[0], strerror(-ret));
		return 77;
	}
	execvp(argv[2], argv + 2);
	fprintf(stderr, "%s: %s: %s\n", argv[0], argv[2], strerror(errno));
	return 127;
}
