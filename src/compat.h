/*
 * Kernel io_uring ABI newer than the system liburing (2.3).
 *
 * Opcodes are enum members in <liburing/io_uring.h>, so #ifndef cannot tell
 * whether the system header has them: ours carry an RK_ prefix and their
 * values come from the kernel's include/uapi/linux/io_uring.h. Whether the
 * running kernel supports one is always decided by probing, never by these.
 */
#ifndef RK_COMPAT_H
#define RK_COMPAT_H

#include <liburing.h>

#define RK_IORING_OP_READ_MULTISHOT    49
#define RK_IORING_OP_WAITID            50
#define RK_IORING_OP_FUTEX_WAIT        51
#define RK_IORING_OP_FUTEX_WAKE        52
#define RK_IORING_OP_FUTEX_WAITV       53
#define RK_IORING_OP_FIXED_FD_INSTALL  54
#define RK_IORING_OP_FTRUNCATE         55
#define RK_IORING_OP_BIND              56
#define RK_IORING_OP_LISTEN            57
#define RK_IORING_OP_RECV_ZC           58
#define RK_IORING_OP_EPOLL_WAIT        59
#define RK_IORING_OP_READV_FIXED       60
#define RK_IORING_OP_WRITEV_FIXED      61
#define RK_IORING_OP_PIPE              62

/* Setup and feature bits added after liburing 2.3. */
#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif
/* Provided-buffer rings (struct io_uring_buf_reg's flags, liburing 2.3's
 * pad) and the CQE flag of incremental consumption, Linux 6.12. */
#ifndef IOU_PBUF_RING_MMAP
#define IOU_PBUF_RING_MMAP 1
#endif
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif
/* Register opcodes (enum members too) added after liburing 2.3. */
#define RK_IORING_REGISTER_RESIZE_RINGS 33 /* Linux 6.13 */

#ifndef IORING_FEAT_REG_REG_RING
#define IORING_FEAT_REG_REG_RING (1U << 13)
#endif

/* cachestat(2), Linux 6.5: what of a file's range is in the page cache
 * (rk_prep_copy's choice of direct reads). Its number, from the unified
 * syscall table, where the headers predate it. */
#if !defined(__NR_cachestat) && (defined(__x86_64__) || defined(__aarch64__))
#define __NR_cachestat 451
#endif
struct rk_cachestat_range {
	uint64_t off, len;
};
struct rk_cachestat {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

#endif
