/* copy_direct.c: rk_prep_copy's O_DIRECT view of its source. */
#ifndef RK_COPY_DIRECT_H
#define RK_COPY_DIRECT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "internal.h"

struct rk_direct_align {
	uint32_t mem; /* a buffer's address */
	uint32_t off; /* a read's file offset and length */
};

/* A new descriptor reading fd's file (st: fd's fstat) with O_DIRECT, for a
 * copy of len bytes at off with buffers of chunk bytes, and the alignment
 * its reads need; or -1 when the copy reads through fd: the file is not
 * regular, the range is small or mostly cached (unless force), or the file
 * cannot be opened again with O_DIRECT. The caller closes it. */
RK_HIDDEN int rk__copy_direct_open(int fd, const struct stat *st, int64_t off, uint64_t len,
                                   bool force, uint32_t chunk, struct rk_direct_align *align);

/* len bytes of buffers for direct reads, aligned to at least mem_align;
 * free() releases them. NULL when there is no memory. */
RK_HIDDEN void *rk__copy_direct_buffers(size_t len, uint32_t mem_align);

#endif
