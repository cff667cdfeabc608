/*
 * ringkit — io_uring for managed language runtimes.
 *
 * This header is the whole public ABI. It is flat on purpose: every function
 * takes and returns fixed-width integers, size_t, opaque handle pointers and
 * pointers to caller-owned plain arrays, so a runtime that can only dlopen the
 * library (ctypes, cffi ABI mode, LuaJIT ffi, Java Panama, libffi) can use all
 * of it. Nothing here is an inline function or a macro that a binding would
 * have to re-implement; every constant is also queryable by name at run time
 * through rk_constant().
 *
 * Conventions
 *   - Every function returns >= 0 on success and a negative errno on failure.
 *     Nothing writes the global errno, nothing aborts on caller input.
 *   - A NULL handle gives -EINVAL. A handle that was closed or destroyed must
 *     not be used again (it is freed memory, as with free()).
 *   - A ring is used by one thread at a time, in the process that created
 *     it. After fork() the child's copy refuses every call with -ECHILD
 *     (after the call's own argument checks; it shares the parent's kernel
 *     ring, so using it would corrupt the parent's);
 *     rk_ring_close() on it frees the child's memory and returns 0, leaving
 *     the parent's ring untouched. Regions are plain memory and work in both.
 *
 * Ownership (the rule a garbage-collected runtime relies on)
 *   The library never keeps a pointer into caller memory after a call returns,
 *   except the data buffers of read/write-like ops (and the statx result
 *   buffer, recvmsg's address and result arrays), which the caller passes as
 *   raw pointers: the caller must keep those alive and unmoved until the op's
 *   final completion has been returned by rk_reap() (or rk_ring_close() has
 *   returned). For zero-copy sends that is the notification completion, which
 *   comes after the result. Everything else the kernel reads or writes
 *   asynchronously — paths, socket addresses, iovec arrays, msghdrs and their
 *   control data, timespecs, open_how — is copied into (or allocated in)
 *   per-op storage owned by the ring when the op is prepared.
 *
 * Op ids
 *   Each prepared op occupies a slot of the ring's op table and is named by a
 *   non-negative int64 id: low 32 bits = slot (dense, 0..capacity-1), upper bits
 *   = generation. A stale id (its op already completed) never matches a newer
 *   op. Every op yields exactly one final completion through rk_reap(); its slot
 *   and storage are released only then.
 */
#ifndef RINGKIT_H
#define RINGKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RK_API __attribute__((visibility("default")))
#else
#define RK_API
#endif

#define RK_VERSION_MAJOR 0
#define RK_VERSION_MINOR 2
#define RK_VERSION_PATCH 0

/* ------------------------------------------------------------------------ */
/* Version, errors, constants                                               */
/* ------------------------------------------------------------------------ */

/* (major << 16) | (minor << 8) | patch of the loaded library. */
RK_API uint32_t rk_version(void);

/* A static, thread-safe description of a negative errno (positive values are
 * accepted too). Errors that ring setup and buffer registration return are
 * explained with what to do about them (seccomp, sysctl, RLIMIT_MEMLOCK). Never
 * NULL. */
RK_API const char *rk_strerror(int err);

/* Looks a constant up by name: every RK_* constant of this header, every
 * IORING_OP_* opcode (including those newer than the system liburing), and the
 * O_*, AT_*, RESOLVE_*, STATX_*, POLL*, SPLICE_F_*, FALLOC_FL_*, POSIX_FADV_*,
 * RWF_*, RENAME_*, CLOCK_* and E* values a binding needs. Writes *value and
 * returns 0, or -ENOENT for an unknown name; -EINVAL when name or value is
 * NULL. */
RK_API int rk_constant(const char *name, int64_t *value);

/* Iterates the constant table: for index 0..N-1 writes the name and value and
 * returns 0; returns -ENOENT past the end. Lets a binding import all of them. */
RK_API int rk_constant_at(uint32_t index, const char **name, int64_t *value);

/* ------------------------------------------------------------------------ */
/* Handles and records                                                      */
/* ------------------------------------------------------------------------ */

typedef struct rk_ring rk_ring;
typedef struct rk_region rk_region;

/* One completion, 16 bytes: the op id, the kernel's result (bytes, an fd, 0 or
 * a negative errno) and the kernel's CQE flags (RK_CQE_F_MORE when a multishot
 * op will complete again; buffer id in the upper 16 bits with
 * RK_CQE_F_BUFFER). */
typedef struct rk_cqe {
	int64_t id;
	int32_t res;
	uint32_t flags;
} rk_cqe;

/* Completions with a negative id are not ops: they are messages other rings
 * sent with rk_prep_msg_ring. They free no slot; see "Messages between
 * rings". */

/* A scatter/gather element: same layout as struct iovec on 64-bit Linux.
 * Offsets: base 0, len 8; size 16. */
typedef struct rk_iovec {
	uint64_t base;
	uint64_t len;
} rk_iovec;

/* ------------------------------------------------------------------------ */
/* Rings                                                                    */
/* ------------------------------------------------------------------------ */

/* rk_ring_create flags (setup modes) */
#define RK_RING_SQPOLL        (1u << 0) /* kernel thread polls the SQ */
#define RK_RING_SINGLE_ISSUER (1u << 1) /* only the creating thread submits */
#define RK_RING_DEFER_TASKRUN (1u << 2) /* run completions only inside rk_reap; implies SINGLE_ISSUER */
#define RK_RING_COOP_TASKRUN  (1u << 3) /* no IPI to interrupt the task for completions */
#define RK_RING_CLAMP         (1u << 4) /* clamp too-large sizes instead of failing */
#define RK_RING_MSG_TARGET    (1u << 5) /* other rings send it messages: rk_reap waits even
                                           when no op of its own is live */
#define RK_RING_FALLBACK      (1u << 6) /* use the fallback backend, not io_uring */
#define RK_RING_NO_FALLBACK   (1u << 7) /* io_uring only: its setup error instead of the
                                           fallback */
#define RK_RING_RESTRICTABLE  (1u << 8) /* waits, disabled, for rk_ring_restrict: see
                                           "Restricted rings" */

/* Backends (rk_ring_backend, RK_STAT_BACKEND).
 *
 * A ring is driven by io_uring when the kernel allows it, and otherwise by
 * the fallback backend, which runs the same API with plain syscalls: the
 * same op ids, regions, chunk and buffer-group ownership, flags and
 * completion records, and exactly one final completion per op. Where
 * io_uring is refused — a container's seccomp profile (Docker, containerd),
 * gVisor, sysctl kernel.io_uring_disabled, Android, a kernel without it —
 * code written against ringkit keeps working, only slower.
 *
 * Which backend a new ring gets:
 *   1. RK_RING_FALLBACK: the fallback. RK_RING_NO_FALLBACK: io_uring, or
 *      io_uring_setup's error (-EPERM, -ENOSYS, ...). Both: -EINVAL.
 *   2. Otherwise the environment variable RINGKIT_BACKEND, read at each
 *      create: "fallback" forces the fallback (a kill switch for io_uring,
 *      like libuv's UV_USE_IO_URING=0); "uring" forbids the fallback, so
 *      a refused setup fails as it would without one; unset, empty or
 *      "auto": as 3. Any other value: -EINVAL.
 *   3. io_uring; if io_uring_setup fails with any errno, the fallback.
 *
 * How the fallback runs ops. Cheap calls (nop, close, socket, bind,
 * listen, shutdown, msg_ring, cancels) run on the thread that submits or
 * reaps. Sockets, pipes and other pollable files are tried at once without
 * blocking (MSG_DONTWAIT, RWF_NOWAIT) on that thread; when they would block
 * they wait for readiness in an epoll set watched by the ring's service
 * thread, which then makes the call (accept and receives into provided
 * buffers always wait there first). Reads and writes of regular files that
 * are not in the page cache, fsync, open, statx, the path ops, fallocate,
 * fadvise, splice and tee run on a small pool of worker threads (at most
 * four per ring). Timeouts run on the service thread. Threads start on
 * first need and end with the ring; they block every signal, so signals
 * reach the caller's threads as before.
 *
 * What differs, honestly:
 *   - rk_ring_fd is an eventfd, readable while completions wait to be
 *     reaped; poll it as before. A fallback ring also holds an epoll
 *     instance and a wakeup eventfd (three descriptors from its creation
 *     on), a duplicate of an eventfd registered with it, in its file
 *     table descriptors of its own, and a duplicate of the fd of each op
 *     waiting for readiness (how it holds the op's file), all close-on-exec
 *     and counted against RLIMIT_NOFILE, where the kernel holds files.
 *   - rk_ring_probe reports what the fallback implements: every op this
 *     header offers, whatever the running kernel's io_uring knows.
 *   - Where an answer depends on what the kernel knows of a descriptor, the
 *     fallback asks /proc/self: without /proc mounted it cannot tell an
 *     eventfd from another anonymous-inode descriptor (timerfd, signalfd,
 *     epoll), which rk_ring_register_eventfd then accepts, nor an io_uring
 *     not made by ringkit, which a close op then closes. rw_flags are
 *     checked against the RWF_* bits of Linux 6.18: a bit a later kernel
 *     adds is -EOPNOTSUPP on the fallback where that kernel's io_uring may
 *     take it. tests/c/hostile_args.c holds both backends to the same
 *     answers for every function and hostile argument it tries.
 *   - Setup modes (SQPOLL, SINGLE_ISSUER, DEFER_TASKRUN, COOP_TASKRUN) are
 *     accepted and mean nothing, but for rk_ring_resize, which wants
 *     DEFER_TASKRUN on both; sizes and their limits (powers of two,
 *     RK_RING_CLAMP) are io_uring's. RK_STAT_FEATURES and
 *     RK_STAT_CQ_OVERFLOW are 0. Registering a region costs no locked
 *     memory (no RLIMIT_MEMLOCK charge), and chunk ops on a registered
 *     region are plain reads and writes.
 *   - Zero-copy sends copy: the notification comes right after the result,
 *     with RK_NOTIF_USAGE_ZC_COPIED under RK_SEND_ZC_REPORT_USAGE. As in
 *     the kernel, only TCP and UDP sockets take them (-EOPNOTSUPP else).
 *   - A multishot op whose completions pile up unreaped (more than the CQ
 *     holds, and at least 64) pauses until rk_reap makes room, where
 *     io_uring ends it with a completion without MORE; nothing is lost
 *     either way.
 *   - An op running on a worker (a regular-file read, fsync, open, ...)
 *     cannot be interrupted: cancelling it answers -EALREADY and it
 *     completes with its own result (rk_cancel_sync: -EALREADY once it
 *     ended, -ETIME at the bound); rk_ring_close waits for it (up to its
 *     bound, then -ETIMEDOUT as documented there). An op waiting for
 *     readiness or a timer is cancelled at once, as on io_uring. Opens are
 *     first tried with O_NONBLOCK as io_uring tries them, so a FIFO opened
 *     without O_CREAT/O_TRUNC does not wait for its other end.
 *   - MSG_WAITALL is honoured for send, recv and sendmsg (the call is
 *     repeated until done); recvmsg returns what one call got.
 *   - Drains: the fallback holds back only the ops a drain waits for and
 *     ignores RK_DRAIN on a chain member after its head; io_uring (6.18)
 *     holds every op prepared after a waiting drain, drains a whole chain
 *     for a member's RK_DRAIN, and its cancels do not reach held ops
 *     (-ENOENT), where the fallback cancels them. Do not cancel across a
 *     drain; put RK_DRAIN on chain heads only.
 *   - Receive completions never carry the kernel's IORING_CQE_F_SOCK_NONEMPTY
 *     hint (0x4: more data waits in the socket) on the fallback; it is a
 *     hint on io_uring too, so do not depend on it. A recv_select cancelled
 *     while waiting completes with -ECANCELED and no chunk; io_uring may
 *     hand it a chunk (RK_CQE_F_BUFFER): recycle it if so.
 *   - rk_prep_poll_remove of a multishot poll that io_uring is waking at
 *     that moment (data sent into its socket in the same submit) answers
 *     -EALREADY there, and the poll stays armed; the fallback removes it
 *     (0, the poll -ECANCELED). On -EALREADY, remove it again after a reap.
 *   - The fallback never changes a caller's descriptor flags, except that
 *     connect on a blocking socket sets O_NONBLOCK for the one connect(2)
 *     call. An accept on a blocking listening socket that another thread
 *     or process also accepts from may wait in accept(2) on the service
 *     thread, holding up the ring's other readiness ops: make such
 *     listeners non-blocking (SOCK_NONBLOCK), as every event loop does.
 *     The same holds for reads and writes of files that refuse RWF_NOWAIT
 *     (named FIFOs, ttys) shared with another reader or writer.
 *   - After fork() a fallback ring is the parent's like any ring (-ECHILD
 *     in the child, whose close frees its copy): its threads are not in
 *     the child.
 *   - Messages (rk_prep_msg_ring) travel between any two rings of the
 *     process: fallback to fallback directly; fallback to io_uring through
 *     a small private io_uring when the process may use io_uring; io_uring
 *     to fallback when the sender prepares the op, which is then complete
 *     at once (its res says whether the message was posted; a link flag on
 *     it links nothing). As in the kernel, a file table never holds a ring
 *     (rk_ring_update_files answers -EBADF for one). */
#define RK_BACKEND_URING    1
#define RK_BACKEND_FALLBACK 2

/* RK_BACKEND_URING or RK_BACKEND_FALLBACK; -EINVAL for a NULL ring. */
RK_API int rk_ring_backend(rk_ring *ring);

/* Creates a ring with an SQ of `entries` (rounded up to a power of two by the
 * kernel), a CQ twice that size and an op table of 4x the SQ: the ops queued
 * and in flight together (entries 2: 8 ops). With the table full, every
 * rk_prep_* returns -EBUSY, meaning "reap first": each final completion
 * rk_reap delivers frees a slot (rk_ring_create_ex sizes the table apart;
 * RK_STAT_CAPACITY reports it). Writes *out.
 * The backend is chosen as described above: when io_uring_setup is refused
 * the ring is a fallback ring, unless RK_RING_NO_FALLBACK or
 * RINGKIT_BACKEND=uring asked for the error. Errors: -EINVAL (out NULL,
 * entries 0, unknown flags, RK_RING_FALLBACK with RK_RING_NO_FALLBACK, an
 * unknown RINGKIT_BACKEND, sizes over the limits without RK_RING_CLAMP),
 * -ENOMEM, or (io_uring only) the errno of io_uring_setup: -EPERM (refused
 * by seccomp or sysctl kernel.io_uring_disabled), -ENOSYS (no io_uring in
 * this kernel), ... rk_strerror() says what to do about each. */
RK_API int rk_ring_create(uint32_t entries, uint32_t flags, rk_ring **out);

/* As rk_ring_create, with explicit sizes: cq_entries (0: twice the SQ; else at
 * least the SQ size), capacity = op table size (0: 4x the SQ; at least the SQ
 * size, at most 2^24) and, for RK_RING_SQPOLL, the poll thread's idle time in
 * milliseconds (0: kernel default). */
RK_API int rk_ring_create_ex(uint32_t entries, uint32_t flags, uint32_t cq_entries,
                             uint32_t capacity, uint32_t sq_thread_idle_ms, rk_ring **out);

/* The words for an error rk_ring_create_ex returned for these arguments: the
 * cause that applies, first. -EINVAL names the argument at fault and its
 * valid range (entries, cq_entries, capacity, sq_thread_idle_ms, the flags)
 * or an unknown RINGKIT_BACKEND value; where the fallback was forbidden (by
 * RK_RING_NO_FALLBACK or RINGKIT_BACKEND=uring) the refusal of io_uring and
 * which of the two forbade the fallback; else rk_strerror(err). The sizes
 * are int64_t so that a binding can ask about a value it could not pass (a
 * negative size). Reads RINGKIT_BACKEND as rk_ring_create_ex does. Static,
 * thread-safe, never NULL. */
RK_API const char *rk_ring_create_strerror(int err, int64_t entries, uint32_t flags,
                                           int64_t cq_entries, int64_t capacity,
                                           int64_t sq_thread_idle_ms);

/* Closes a ring. Ops never handed to the kernel are dropped; every op in the
 * kernel is cancelled and the call waits (up to about 10 s) until the kernel is
 * done with all of them. Their completions are not delivered; an fd that a
 * dropped open, accept or socket completion carried is closed, since the
 * caller never learned it. When it returns
 * 0 the caller may release everything it pinned for the ring. If the kernel
 * still holds ops after the bound, the ring fd is closed, the memory the kernel
 * could still touch is deliberately leaked, and -ETIMEDOUT is returned: the
 * caller must then keep its own buffers alive too. Registered regions are
 * unregistered. The handle is invalid afterwards in every case. Called from
 * an rk_reap_dispatch callback (a runtime's `with` block or __close running
 * there), it closes all the same and returns as above, but the handle's own
 * memory is freed only when that rk_reap_dispatch returns (-EBADF): until
 * then every call given the handle answers -EBADF. */
RK_API int rk_ring_close(rk_ring *ring);

/* Asks the kernel to cancel every in-flight op of the ring; ops not yet handed
 * to the kernel complete at once with -ECANCELED. The completions arrive
 * through rk_reap() as usual (what a binding does before closing to settle its
 * futures). Returns the number of ops it targeted. An op the kernel starts
 * only later — held back behind an RK_DRAIN op, or the next op of an
 * RK_HARDLINK chain whose head was cancelled — can escape it: call it again
 * while waiting (rk_ring_close repeats its cancel until the kernel is done). */
RK_API int rk_ring_cancel_all(rk_ring *ring);

/* The ring's file descriptor (owned by the ring; do not close it). */
RK_API int rk_ring_fd(rk_ring *ring);

/* 1 when the running kernel supports the IORING_OP_* opcode, 0 when not,
 * -EINVAL for a NULL ring. */
RK_API int rk_ring_probe(rk_ring *ring, uint32_t opcode);

/* Kernel features that are no opcode, for rk_ring_feature. */
#define RK_FEATURE_FILE_ALLOC_RANGE  0 /* rk_ring_file_alloc_range (Linux 6.0) */
#define RK_FEATURE_MSG_SEND_FD       1 /* rk_prep_msg_ring_fd (Linux 6.0) */
#define RK_FEATURE_RECVMSG_MULTISHOT 2 /* rk_prep_recvmsg_multishot (Linux 6.0) */
#define RK_FEATURE_PBUF_INC          3 /* RK_REGION_INCREMENTAL groups (Linux 6.12) */
#define RK_FEATURE_RESIZE            4 /* rk_ring_resize (Linux 6.13) */

/* 1 when the ring can use the RK_FEATURE_* feature, 0 when not (an unknown
 * feature included), -EINVAL for a NULL ring. On io_uring the running
 * kernel is asked; on the fallback, it is 1 for what the fallback emulates.
 * A call that needs a missing feature answers -EOPNOTSUPP. */
RK_API int rk_ring_feature(rk_ring *ring, uint32_t feature);

/* Resizes the ring's submission and completion queues
 * (IORING_REGISTER_RESIZE_RINGS, Linux 6.13; rk_ring_feature
 * RK_FEATURE_RESIZE) to sq_entries and cq_entries, rounded up to powers of
 * two as rk_ring_create_ex rounds them (cq_entries 0: twice the SQ;
 * RK_RING_CLAMP, if the ring has it, clamps both). Nothing is lost: queued
 * ops are submitted first (as rk_submit), ops in flight stay in flight and
 * keep their ids, and completions not yet reaped are carried over, each
 * still delivered once. The op table keeps its capacity. The kernel resizes
 * only rings whose completions run in the submitting thread: the ring must
 * have been created with RK_RING_DEFER_TASKRUN (which implies
 * RK_RING_SINGLE_ISSUER, and cannot be combined with RK_RING_SQPOLL);
 * RK_FEATURE_RESIZE says whether the kernel can, whatever the ring's
 * flags. As any call entering a single-issuer ring, it must come from the
 * ring's own thread (io_uring: -EEXIST otherwise). The fallback resizes its
 * emulated queues under the same rules, so both backends answer alike.
 * Returns 0, or -EINVAL (sq_entries 0, a size beyond rk_ring_create_ex's
 * limits, cq_entries below sq_entries, or sq_entries beyond the op table's
 * capacity), -EOPNOTSUPP (the ring lacks RK_RING_DEFER_TASKRUN, or the
 * kernel cannot resize), -EBUSY (the new CQ holds fewer entries than the
 * ring has ops prepared and not yet reaped, each of which may still post a
 * completion into it; a linked chain is being prepared, its last op still
 * with RK_LINK or RK_HARDLINK; or the completions already waiting, a
 * multishot op's many, do not fit), -EACCES on a restricted ring, -EBADFD
 * on one waiting for rk_ring_restrict, -ECHILD in a child of fork(). On an
 * error the queues keep their sizes, and what they hold stays; queued ops
 * may have been submitted. -ENOMEM after the kernel resized but the new
 * queues could not be mapped (memory exhausted) leaves a ring that can only
 * be closed: its preps, submits and reaps answer -EBADFD. */
RK_API int rk_ring_resize(rk_ring *ring, uint32_t sq_entries, uint32_t cq_entries);

/* Registers an eventfd that the kernel signals when completions are posted
 * (flags: RK_EVENTFD_ASYNC = only for completions that ran asynchronously).
 * The fd stays the caller's. -EBUSY when one is already registered, -EBADF
 * when fd is not open, -EINVAL when it is not an eventfd — a file, pipe or
 * socket, an io_uring (the ring's own fd included), as the kernel answers —
 * and, on both backends, when it is a fallback ring's fd (an eventfd, but
 * one whose readiness means that ring's completions). */
#define RK_EVENTFD_ASYNC (1u << 0)
RK_API int rk_ring_register_eventfd(rk_ring *ring, int fd, uint32_t flags);

/* Unregisters the eventfd; -ENXIO when none is registered. */
RK_API int rk_ring_unregister_eventfd(rk_ring *ring);

/* Indices of rk_ring_stats() values. */
#define RK_STAT_INFLIGHT       0  /* live ops: prepared and not yet finally reaped */
#define RK_STAT_OVERFLOW_QUEUE 1  /* prepared ops waiting to enter the SQ */
#define RK_STAT_SQ_ENTRIES     2
#define RK_STAT_CQ_ENTRIES     3
#define RK_STAT_CAPACITY       4  /* op table slots */
#define RK_STAT_SUBMITTED      5  /* total ops consumed by the kernel */
#define RK_STAT_COMPLETED      6  /* total final completions delivered */
#define RK_STAT_CQ_OVERFLOW    7  /* kernel's count of CQEs that overflowed the CQ (kept, not lost) */
#define RK_STAT_CQES           8  /* total CQEs delivered, multishot ones included */
#define RK_STAT_FEATURES       9  /* kernel's IORING_FEAT_* bits (0 on the fallback) */
#define RK_STAT_BACKEND        10 /* RK_BACKEND_* */
#define RK_STAT_COUNT          11

/* Copies up to n statistics (uint64_t, indices RK_STAT_*) into out; returns
 * how many were written. */
RK_API int rk_ring_stats(rk_ring *ring, uint64_t *out, uint32_t n);

/* ------------------------------------------------------------------------ */
/* Ops                                                                       */
/* ------------------------------------------------------------------------ */

/* Flags accepted by every rk_prep_* (the kernel's IOSQE_* bits). */
#define RK_FIXED_FILE (1u << 0) /* fd is an index in the registered file table */
#define RK_DRAIN      (1u << 1) /* start only after all earlier ops completed */
#define RK_LINK       (1u << 2) /* next op starts when this one succeeds */
#define RK_HARDLINK   (1u << 3) /* next op starts when this one completes */
#define RK_ASYNC      (1u << 4) /* go straight to the kernel's async workers */

/* Every rk_prep_* returns the op id (>= 0) or a negative errno:
 *   -EINVAL  NULL ring, unknown flags, invalid argument (described per op);
 *            a linked chain longer than the SQ
 *   -EBUSY   the op table (or its storage for long paths/iovecs) is full:
 *            reap completions first
 *   -EFAULT  a NULL pointer where memory is required
 *   -EBADF   a negative fd where an open fd is required
 *   -ENAMETOOLONG a path of PATH_MAX bytes or more
 *   -ENOENT  (cancel, poll_remove, timeout_remove) the target id is not live
 * The op is queued; it reaches the kernel on the next rk_submit() or rk_reap().
 * offset -1 means "the file's current position" where the kernel allows it.
 *
 * Descriptors. A queued op names its fd by number; once submitted it holds
 * the file itself until its final completion, on both backends. So closing
 * the fd after rk_submit() does not disturb the op (a socket stays open
 * until its last op ends: cancel a multishot receive before closing), and
 * closing it before — with the op still queued — lets the op find whatever
 * file gets the number next: submit first, or close through rk_prep_close,
 * which is ordered after the ops queued before it. */

/* Does nothing in the kernel and completes with res 0: measures the per-op
 * cost, or orders work as a link in a chain. */
RK_API int64_t rk_prep_nop(rk_ring *ring, uint32_t flags);

/* Reads up to len bytes into buf (caller keeps buf alive until completion). */
RK_API int64_t rk_prep_read(rk_ring *ring, int fd, void *buf, uint32_t len, int64_t offset,
                            uint32_t flags);
RK_API int64_t rk_prep_write(rk_ring *ring, int fd, const void *buf, uint32_t len,
                             int64_t offset, uint32_t flags);

/* Vectored IO. The iovec array (1..1024 entries) is copied; the buffers it
 * points to are the caller's. rw_flags: RWF_* (0 for none); as in the
 * kernel, res -EOPNOTSUPP for a bit it does not know (or one the file does
 * not take), -EINVAL for RWF_HIPRI (ringkit makes no polled-IO rings). */
RK_API int64_t rk_prep_readv(rk_ring *ring, int fd, const rk_iovec *iov, uint32_t niov,
                             int64_t offset, int32_t rw_flags, uint32_t flags);
RK_API int64_t rk_prep_writev(rk_ring *ring, int fd, const rk_iovec *iov, uint32_t niov,
                              int64_t offset, int32_t rw_flags, uint32_t flags);

/* Reads into / writes from chunk `chunk` of `region`. len <= chunk size, else
 * -EINVAL; the chunk must be allocated (-EINVAL otherwise). Uses the kernel's
 * fixed-buffer ops when the region is registered with this ring, plain
 * read/write otherwise. The chunk counts as in flight until the final
 * completion: it cannot be freed, and a region destroyed meanwhile stays
 * mapped until then (see rk_region_destroy). */
RK_API int64_t rk_prep_read_chunk(rk_ring *ring, int fd, rk_region *region, int32_t chunk,
                                  uint32_t len, int64_t offset, uint32_t flags);
RK_API int64_t rk_prep_write_chunk(rk_ring *ring, int fd, rk_region *region, int32_t chunk,
                                   uint32_t len, int64_t offset, uint32_t flags);

/* fsync / fdatasync of the whole file (len 0) or of [offset, offset+len). */
RK_API int64_t rk_prep_fsync(rk_ring *ring, int fd, int64_t offset, uint32_t len,
                             uint32_t flags);
RK_API int64_t rk_prep_fdatasync(rk_ring *ring, int fd, int64_t offset, uint32_t len,
                                 uint32_t flags);

/* openat(2): path is copied; completion res is the new fd. As openat(2),
 * mode bits beyond 07777 are ignored; openat2 refuses them (res -EINVAL). */
RK_API int64_t rk_prep_openat(rk_ring *ring, int dfd, const char *path, int32_t oflags,
                              uint32_t mode, uint32_t flags);
/* openat2(2): resolve takes RESOLVE_* bits. */
RK_API int64_t rk_prep_openat2(rk_ring *ring, int dfd, const char *path, uint64_t oflags,
                               uint64_t mode, uint64_t resolve, uint32_t flags);
/* close(2). A ring's fd (rk_ring_fd of any ring, either backend) is not
 * closed: res -EBADF, as the kernel answers for an io_uring. */
RK_API int64_t rk_prep_close(rk_ring *ring, int fd, uint32_t flags);

/* statx(2): the kernel writes a struct statx (RK_STATX_SIZE bytes) into
 * statxbuf, which the caller keeps alive like a read buffer. */
#define RK_STATX_SIZE 256
RK_API int64_t rk_prep_statx(rk_ring *ring, int dfd, const char *path, int32_t at_flags,
                             uint32_t mask, void *statxbuf, uint32_t flags);

/* unlinkat(2) (at_flags AT_REMOVEDIR removes a directory), mkdirat(2),
 * renameat2(2) (rename_flags RENAME_*), linkat(2) (at_flags
 * AT_SYMLINK_FOLLOW) and symlinkat(2). Paths are copied; res is 0 or a
 * negative errno. */
RK_API int64_t rk_prep_unlinkat(rk_ring *ring, int dfd, const char *path, int32_t at_flags,
                                uint32_t flags);
RK_API int64_t rk_prep_mkdirat(rk_ring *ring, int dfd, const char *path, uint32_t mode,
                               uint32_t flags);
RK_API int64_t rk_prep_renameat(rk_ring *ring, int olddfd, const char *oldpath, int newdfd,
                                const char *newpath, uint32_t rename_flags, uint32_t flags);
RK_API int64_t rk_prep_linkat(rk_ring *ring, int olddfd, const char *oldpath, int newdfd,
                              const char *newpath, int32_t at_flags, uint32_t flags);
RK_API int64_t rk_prep_symlinkat(rk_ring *ring, const char *target, int newdfd,
                                 const char *linkpath, uint32_t flags);

/* fallocate(2) and posix_fadvise(2). */
RK_API int64_t rk_prep_fallocate(rk_ring *ring, int fd, int32_t mode, int64_t offset,
                                 int64_t len, uint32_t flags);
RK_API int64_t rk_prep_fadvise(rk_ring *ring, int fd, int64_t offset, uint32_t len,
                               int32_t advice, uint32_t flags);

/* ftruncate(2) (IORING_OP_FTRUNCATE, Linux 6.9+): sets fd's size to len
 * (>= 0, else -EINVAL); res 0 or a negative errno. -EOPNOTSUPP here on a
 * kernel without the op. */
RK_API int64_t rk_prep_ftruncate(rk_ring *ring, int fd, int64_t len, uint32_t flags);

/* splice(2) and tee(2): off_in/off_out -1 for pipes or the current position. */
RK_API int64_t rk_prep_splice(rk_ring *ring, int fd_in, int64_t off_in, int fd_out,
                              int64_t off_out, uint32_t nbytes, uint32_t splice_flags,
                              uint32_t flags);
RK_API int64_t rk_prep_tee(rk_ring *ring, int fd_in, int fd_out, uint32_t nbytes,
                           uint32_t splice_flags, uint32_t flags);

/* Copies len bytes from fd_in at off_in to fd_out at off_out as one op:
 * one id, exactly one completion, whose res is the number of bytes copied
 * or a negative errno. The core runs the copy itself, in parallel lanes of
 * sub-ops (splices through pipes of its own, or reads and writes through
 * buffers of its own) that never appear as completions, so a runtime makes
 * one call per copy, not one per chunk. Neither file's offset moves.
 *
 * Both ends must be regular files (or block devices) with offsets >= 0:
 * fd_in open for reading, fd_out for writing and not O_APPEND. A pipe,
 * socket or tty is refused with -ESPIPE, a directory with -EISDIR, a
 * negative fd with -EBADF, one open the wrong way with -EBADF; a negative
 * offset, offset + len past INT64_MAX, overlapping ranges of one file,
 * flags other than RK_ASYNC (a copy cannot be linked: RK_LINK, RK_HARDLINK,
 * RK_DRAIN, RK_FIXED_FILE), or a copy prepared while a linked chain is
 * open give -EINVAL.
 *
 * A copy moves at most 0x7ffff000 bytes (as copy_file_range(2)): a longer
 * len copies that much. res < len otherwise means the source ended at
 * off_in + res, and everything before it was copied. len 0 completes with
 * 0. A sub-op's error ends the copy with that error (what was written
 * before it stays written).
 *
 * copy_flags: 0 lets the core choose (doc/benchmarks.md, "Copy (issue 18)",
 * says what it chooses and why); RK_COPY_SPLICE or RK_COPY_READ_WRITE
 * force a strategy (-EOPNOTSUPP for splice where io_uring lacks it); lanes
 * (RK_COPY_LANES(n), 1..8) and the chunk size (RK_COPY_CHUNK(log2), 12..24)
 * may be set for tuning, 0 for the core's choice. RK_ASYNC in flags is
 * passed to every sub-op.
 *
 * A copy of more than one chunk that makes a regular fd_out longer
 * preallocates the range it will write (fallocate with FALLOC_FL_KEEP_SIZE,
 * as a sub-op: before the splices, beside the first reads through
 * buffers), which spares the writes the filesystem's per-block work;
 * where fallocate fails (a filesystem without it) the copy goes on
 * without. The size is left to the writes, but a copy that ends early
 * (error, cancel, a source that shrank) can leave blocks allocated past
 * fd_out's end, until it is truncated. RK_COPY_NO_PREALLOC turns this off.
 *
 * Direct reads: RK_COPY_DIRECT reads the source with O_DIRECT (into
 * buffers of the core's own, written to fd_out buffered, as
 * RK_COPY_READ_WRITE; -EINVAL with RK_COPY_SPLICE): the source's pages are
 * not put in the page cache, and dirty ones are written back first (the
 * kernel does it), so the bytes are the same. fd_in keeps its file status
 * flags: the copy reads through a new open of the same file
 * (/proc/self/fd/N with O_DIRECT), held while the copy runs and closed
 * when it completes, is cancelled or its ring closes. The aligned part is
 * read directly (STATX_DIOALIGN's alignment, else 4096); an unaligned head
 * or tail and the file's last partial block are read through fd_in. Where
 * the file cannot be opened so (no /proc, a permission, a filesystem
 * without O_DIRECT: -EINVAL) the copy runs as without the flag.
 * RK_COPY_NO_DIRECT never reads directly. With copy_flags naming no
 * strategy (no RK_COPY_SPLICE, _READ_WRITE, _DIRECT or _NO_DIRECT) the core
 * decides, by doc/benchmarks.md's "Cold copies with O_DIRECT reads".
 *
 * Slots: a copy takes 1 + lanes slots of the op table (lanes is 4 by
 * default, 8 with direct reads where 9 slots are free, fewer for a copy of
 * fewer chunks; none for len 0) until its
 * completion is reaped; -EBUSY when fewer are free. Reading through
 * buffers (RK_COPY_READ_WRITE, direct reads) it takes one more where one
 * more is free: a lane that preallocates beside the first reads, then
 * carries ranges as the others do, with never more than lanes reads in
 * flight. With the splice
 * strategy each lane holds a pipe (two descriptors) for the copy's
 * lifetime: -EMFILE when there are none to take; with direct reads the
 * copy holds one descriptor.
 *
 * Cancel (rk_prep_cancel, rk_cancel_sync, rk_ring_cancel_all): the copy's
 * sub-ops are cancelled and it completes once with -ECANCELED, whatever
 * was written already; the cancel op itself completes with 0.
 * rk_ring_close during a copy stops it and releases its pipes and buffers
 * (no completion, as for every op). */
RK_API int64_t rk_prep_copy(rk_ring *ring, int fd_in, int64_t off_in, int fd_out,
                            int64_t off_out, uint64_t len, uint32_t copy_flags,
                            uint32_t flags);
#define RK_COPY_SPLICE     (1u << 0) /* file -> pipe -> file splices */
#define RK_COPY_READ_WRITE (1u << 1) /* reads and writes through buffers */
#define RK_COPY_NO_PREALLOC (1u << 2) /* no fallocate of the destination first */
#define RK_COPY_DIRECT     (1u << 3) /* read the source with O_DIRECT where it can */
#define RK_COPY_NO_DIRECT  (1u << 4) /* never read the source with O_DIRECT */
#define RK_COPY_LANES_SHIFT 8
#define RK_COPY_LANES_MASK  (0xfu << RK_COPY_LANES_SHIFT)
#define RK_COPY_LANES(n)    (((uint32_t)(n) << RK_COPY_LANES_SHIFT) & RK_COPY_LANES_MASK)
#define RK_COPY_CHUNK_SHIFT 16
#define RK_COPY_CHUNK_MASK  (0x1fu << RK_COPY_CHUNK_SHIFT)
#define RK_COPY_CHUNK(log2) (((uint32_t)(log2) << RK_COPY_CHUNK_SHIFT) & RK_COPY_CHUNK_MASK)

/* One-shot poll for POLLIN/POLLOUT/... on fd; res is the ready mask, or
 * -EBADF when fd is not open (never POLLNVAL). EPOLLEXCLUSIVE, EPOLLET and
 * EPOLLONESHOT in the mask are taken as io_uring takes them. */
RK_API int64_t rk_prep_poll_add(rk_ring *ring, int fd, uint32_t poll_mask, uint32_t flags);
/* Removes a poll_add op; the target completes with -ECANCELED, this op with
 * 0, or -ENOENT when it already completed, or -EALREADY (io_uring) when a
 * multishot poll is being woken right then: it stays armed (Backends). */
RK_API int64_t rk_prep_poll_remove(rk_ring *ring, int64_t target_id, uint32_t flags);

/* rk_prep_timeout / rk_prep_link_timeout flags */
#define RK_TIMEOUT_ABS      (1u << 0) /* ns is an absolute time on the clock */
#define RK_TIMEOUT_BOOTTIME (1u << 2) /* CLOCK_BOOTTIME instead of CLOCK_MONOTONIC */
#define RK_TIMEOUT_REALTIME (1u << 3) /* CLOCK_REALTIME */

/* Completes with -ETIME after ns nanoseconds (or at absolute time ns), or
 * with 0 once `count` other completions were posted (count 0: time only).
 * ns must be >= 0; a time past the clock's range (up to INT64_MAX) never
 * comes, as in the kernel. */
RK_API int64_t rk_prep_timeout(rk_ring *ring, int64_t ns, uint32_t count,
                               uint32_t timeout_flags, uint32_t flags);
/* Cancels a pending timeout: it completes with -ECANCELED; this op with 0, or
 * -ENOENT / -EBUSY as the kernel reports. */
RK_API int64_t rk_prep_timeout_remove(rk_ring *ring, int64_t target_id, uint32_t flags);
/* Bounds the previous op, which must carry RK_LINK: if it has not completed
 * after ns, it is cancelled (-ECANCELED) and this completes with -ETIME;
 * otherwise this completes with -ECANCELED. */
RK_API int64_t rk_prep_link_timeout(rk_ring *ring, int64_t ns, uint32_t timeout_flags,
                                    uint32_t flags);

/* Asks the kernel to cancel op target_id. The pair of results is the
 * kernel's: target -ECANCELED/-EINTR with cancel 0 or -EALREADY, or target
 * success with cancel -ENOENT. A stale or unknown target returns -ENOENT here
 * and touches nothing. */
RK_API int64_t rk_prep_cancel(rk_ring *ring, int64_t target_id, uint32_t flags);

/* Cancels op target_id right now, without taking a slot: it works when the
 * op table is full, where rk_prep_cancel answers -EBUSY. Waits until the
 * target is cancelled or timeout_ns passes (< 0: no limit). The target's own
 * completion (-ECANCELED) still arrives through rk_reap. A target the kernel
 * has not taken yet (waiting in the overflow queue behind a full SQ, or in
 * the SQ after a refused submit) is completed with -ECANCELED by the ring
 * itself, as rk_ring_cancel_all does, and so are the ops an RK_LINK from it
 * chains to (the kernel's rule for a failed link; a chain still being
 * prepared then ends, and the next op starts a new one). Returns 0 when it was cancelled, -ENOENT for a stale
 * or unknown id or one that already finished, -EALREADY when it was running
 * and could not be stopped, -ETIME on timeout. */
RK_API int rk_cancel_sync(rk_ring *ring, int64_t target_id, int64_t timeout_ns);

/* ------------------------------------------------------------------------ */
/* Sockets                                                                  */
/* ------------------------------------------------------------------------ */

/* Ops newer than the running kernel (probed at ring creation) are refused
 * here with -EOPNOTSUPP instead of failing later in the kernel. Socket
 * addresses the kernel reads (bind, connect) are copied into op storage, up
 * to RK_SOCKADDR_MAX bytes (-EINVAL beyond). */
#define RK_SOCKADDR_MAX 128

/* socket(2): completion res is the new socket fd. */
RK_API int64_t rk_prep_socket(rk_ring *ring, int32_t domain, int32_t type, int32_t protocol,
                              uint32_t flags);
/* bind(2) and listen(2) (IORING_OP_BIND/LISTEN, Linux 6.11+). */
RK_API int64_t rk_prep_bind(rk_ring *ring, int fd, const void *addr, uint32_t addrlen,
                            uint32_t flags);
RK_API int64_t rk_prep_listen(rk_ring *ring, int fd, int32_t backlog, uint32_t flags);
/* connect(2); the address is copied. */
RK_API int64_t rk_prep_connect(rk_ring *ring, int fd, const void *addr, uint32_t addrlen,
                               uint32_t flags);
/* accept4(2): res is the accepted fd. It fails at once, never waiting:
 * -EINVAL for accept_flags other than SOCK_NONBLOCK/SOCK_CLOEXEC, and with
 * accept4's own error on what does not listen (-EINVAL for a stream socket,
 * -EOPNOTSUPP for a datagram one, -ENOTSOCK). When addr is not NULL the kernel writes
 * the peer's address into it (addrlen bytes at most), so it is kept alive
 * like a read buffer; the address family tells its length. accept_flags:
 * SOCK_NONBLOCK, SOCK_CLOEXEC. */
RK_API int64_t rk_prep_accept(rk_ring *ring, int fd, void *addr, uint32_t addrlen,
                              int32_t accept_flags, uint32_t flags);
/* send(2) / recv(2) with MSG_* flags, given to the kernel as they are (it
 * ignores bits it does not know, as send(2) does); buf as for read/write. */
RK_API int64_t rk_prep_send(rk_ring *ring, int fd, const void *buf, uint32_t len,
                            int32_t msg_flags, uint32_t flags);
RK_API int64_t rk_prep_recv(rk_ring *ring, int fd, void *buf, uint32_t len, int32_t msg_flags,
                            uint32_t flags);
/* shutdown(2): how is SHUT_RD, SHUT_WR or SHUT_RDWR. */
RK_API int64_t rk_prep_shutdown(rk_ring *ring, int fd, int32_t how, uint32_t flags);

/* Zero-copy send (IORING_OP_SEND_ZC, Linux 6.0+). An op with two
 * completions: first the result (res = bytes sent or -errno, flags with
 * RK_CQE_F_MORE), then a notification (res 0, flags with RK_CQE_F_NOTIF and
 * without MORE) once the kernel no longer reads buf. Only the notification
 * is final: the slot is freed and buf may be reused or released only after
 * rk_reap returned it. zc_flags: 0 or RK_SEND_ZC_REPORT_USAGE, with which the
 * notification's res has RK_NOTIF_USAGE_ZC_COPIED set when the kernel copied
 * the data after all (as it does over loopback). -EINVAL for other zc_flags.
 * A notification waits until the network is done with the data: on TCP that
 * can be until the peer acknowledged it, so reap notifications (or close the
 * socket) before closing the ring.
 * A ring uses either zero-copy sends or RK_DRAIN, not both: once it has
 * prepared one, the other is refused with -EINVAL (here, in
 * rk_prep_sendmsg_zc and in every prep given RK_DRAIN). A zero-copy send the
 * kernel holds back behind a drain is never issued, every op after it stalls
 * too, no cancel reaches it and closing the ring times out (Linux 6.18). */
#define RK_SEND_ZC_REPORT_USAGE  (1u << 3)
#define RK_NOTIF_USAGE_ZC_COPIED (1u << 31)
RK_API int64_t rk_prep_send_zc(rk_ring *ring, int fd, const void *buf, uint32_t len,
                               int32_t msg_flags, uint32_t zc_flags, uint32_t flags);

/* sendmsg(2) and recvmsg(2)
 *
 * Both copy the iovec array (0..RK_MSG_IOV_MAX entries; the buffers it points
 * to are the caller's, kept alive as for readv) and build the msghdr and its
 * control data in op storage. */
#define RK_MSG_IOV_MAX 512
#define RK_MSG_FDS_MAX 253 /* the kernel's SCM_MAX_FD */

/* sendmsg: addr (addrlen bytes, at most RK_SOCKADDR_MAX; NULL/0 on a
 * connected socket) is the destination, copied. fds (nfds entries, at most
 * RK_MSG_FDS_MAX) are sent as one SCM_RIGHTS message, copied; the caller keeps
 * those descriptors open until the completion (they are resolved when the op
 * runs) and may close them afterwards: the receiver has its own. A stream
 * socket passes fds only along with at least one byte of data.
 * -EBADF for a negative fd in fds. res is the number of bytes sent. */
RK_API int64_t rk_prep_sendmsg(rk_ring *ring, int fd, const rk_iovec *iov, uint32_t niov,
                               const void *addr, uint32_t addrlen, const int32_t *fds,
                               uint32_t nfds, int32_t msg_flags, uint32_t flags);

/* As rk_prep_sendmsg, zero-copy (IORING_OP_SENDMSG_ZC, Linux 6.1+): the
 * completions and buffer lifetime of rk_prep_send_zc. */
RK_API int64_t rk_prep_sendmsg_zc(rk_ring *ring, int fd, const rk_iovec *iov, uint32_t niov,
                                  const void *addr, uint32_t addrlen, const int32_t *fds,
                                  uint32_t nfds, int32_t msg_flags, uint32_t flags);

/* Indices of recvmsg's result array `out` (RK_MSG_FDS + fds_cap int32s). */
#define RK_MSG_NAMELEN 0 /* bytes of the source address written to name */
#define RK_MSG_FLAGS   1 /* msg_flags the kernel returned: MSG_TRUNC, MSG_CTRUNC, ... */
#define RK_MSG_NFDS    2 /* descriptors received, stored from out[RK_MSG_FDS] on */
#define RK_MSG_FDS     3

/* recvmsg: res is the number of bytes received into the iovec buffers.
 *
 * The source address and the ancillary data land in op storage first; when
 * rk_reap returns the op's completion it has already copied them out: up to
 * name_cap bytes (at most RK_SOCKADDR_MAX; name may be NULL with 0) of the
 * address into name, and the result array out filled as indexed above. So
 * name and out, like the data buffers, stay alive and unmoved until the
 * completion is reaped — a binding holds them as it holds a read buffer. When
 * res < 0, out holds zeros.
 *
 * SCM_RIGHTS descriptors: up to fds_cap (at most RK_MSG_FDS_MAX) received
 * descriptors are written to out[RK_MSG_FDS..] and are the caller's to close.
 * None ever leaks: descriptors beyond fds_cap are closed by the core (the
 * kernel reports MSG_CTRUNC), and so are those of a completion never
 * delivered because the ring was closed. fds_cap 0 receives none (the kernel
 * discards them and sets MSG_CTRUNC). Pass MSG_CMSG_CLOEXEC in msg_flags to
 * receive them close-on-exec. out may be NULL only when fds_cap is 0
 * (-EFAULT otherwise). */
RK_API int64_t rk_prep_recvmsg(rk_ring *ring, int fd, const rk_iovec *iov, uint32_t niov,
                               void *name, uint32_t name_cap, int32_t *out, uint32_t fds_cap,
                               int32_t msg_flags, uint32_t flags);

/* ------------------------------------------------------------------------ */
/* Provided buffers and multishot ops                                       */
/* ------------------------------------------------------------------------ */

/* A region handed to a ring as a group of provided buffers: the kernel picks
 * a chunk for each receive itself, so a runtime need not commit memory to
 * every idle connection. Buffer ids are chunk indices.
 *
 * Ownership: rk_ring_provide_region gives every free chunk of the region to
 * the kernel. A completion with RK_CQE_F_BUFFER names the chunk the kernel
 * filled (chunk = flags >> RK_CQE_BUFFER_SHIFT); from then on the caller owns
 * it as if it had allocated it, and hands it back with rk_ring_recycle_chunk
 * (or keeps it, or frees it with rk_chunk_free). Chunks the kernel holds
 * cannot be allocated, freed or recycled (-EINVAL; -EBUSY for a chunk of an
 * RK_REGION_INCREMENTAL group the kernel is still filling). */
#define RK_RING_MAX_GROUPS  16
#define RK_CQE_BUFFER_SHIFT 16

/* Provides region as buffer group `group` of this ring. Returns the group
 * id used (>= 0), what rk_prep_recv_select and the multishot receives take.
 * RK_GROUP_ANY lets the ring pick: the lowest id this ring does not use
 * (so 65535 itself is never a group id). The region must have at most
 * 32768 chunks (-EINVAL). -EBUSY when the region is already provided (to
 * any ring), -EEXIST when this ring already has that group, -ENOSPC when
 * the ring has RK_RING_MAX_GROUPS groups. A region destroyed while provided
 * stays mapped until the ring is closed (see rk_region_destroy). */
#define RK_GROUP_ANY 0xffff
RK_API int rk_ring_provide_region(rk_ring *ring, rk_region *region, uint16_t group);

/* Gives a chunk the caller owns back to the kernel for the region's group.
 * -ENOENT when the region is not provided to this ring, -EINVAL when the
 * chunk is not the caller's, -EBUSY while an op uses it. */
RK_API int rk_ring_recycle_chunk(rk_ring *ring, rk_region *region, int32_t chunk);

/* Takes the group back from the kernel; the chunks it held become free.
 * -EBUSY while an op that selects from the group is in flight, -ENOENT when
 * the region is not provided to this ring. */
RK_API int rk_ring_unprovide_region(rk_ring *ring, rk_region *region);

/* recv into a chunk the kernel picks from `group`: res is the byte count,
 * flags carry RK_CQE_F_BUFFER and the chunk. len 0: the whole chunk; over
 * INT32_MAX: res -EINVAL. From what is not a socket, or a listening one, it
 * fails at once (-ENOTSOCK, -EINVAL), as recv(2) would.
 * -ENOBUFS (in the completion) when the group is empty; -ENOENT here when the
 * ring has no such group. */
RK_API int64_t rk_prep_recv_select(rk_ring *ring, int fd, uint16_t group, uint32_t len,
                                   int32_t msg_flags, uint32_t flags);

/* Multishot recv from `group`: one completion per received message, each
 * with RK_CQE_F_MORE while the op stays armed; the final one (without MORE)
 * ends it and frees its slot: 0 at end of stream, -ENOBUFS when the group
 * ran dry (recycle chunks and prepare it again), -ECANCELED when cancelled. */
RK_API int64_t rk_prep_recv_multishot(rk_ring *ring, int fd, uint16_t group, int32_t msg_flags,
                                      uint32_t flags);

/* Multishot recvmsg from `group` (IORING_RECV_MULTISHOT on IORING_OP_RECVMSG,
 * Linux 6.0; rk_ring_feature RK_FEATURE_RECVMSG_MULTISHOT): one completion
 * per datagram, with RK_CQE_F_MORE while armed, as rk_prep_recv_multishot.
 * Each completion's chunk holds a header, then name_cap bytes for the
 * sender's address, control_cap bytes for control messages, then the
 * payload; res counts all of it. rk_recvmsg_out decodes a chunk into
 * offsets and lengths, so a runtime needs no C struct. -EMSGSIZE when the
 * group's chunks are smaller than RK_RECVMSG_OUT_HDR + name_cap +
 * control_cap; -EINVAL for name_cap over RK_RECVMSG_NAME_MAX, control_cap
 * over RK_RECVMSG_CONTROL_MAX, or MSG_WAITALL; -ENOENT without such a group;
 * -EOPNOTSUPP on a kernel without it. With MSG_DONTWAIT an empty socket
 * ends it (-EAGAIN). Descriptors a control message
 * carries (SCM_RIGHTS) are the caller's to close. */
#define RK_RECVMSG_OUT_HDR     16    /* bytes of the chunk's header */
#define RK_RECVMSG_NAME_MAX    128   /* a sockaddr_storage */
#define RK_RECVMSG_CONTROL_MAX 65536
RK_API int64_t rk_prep_recvmsg_multishot(rk_ring *ring, int fd, uint16_t group, uint32_t name_cap,
                                         uint32_t control_cap, int32_t msg_flags,
                                         uint32_t flags);

/* Decodes the chunk of one rk_prep_recvmsg_multishot completion: len is its
 * res, name_cap and control_cap those of the prep. Writes up to n values
 * (uint32_t, indices RK_RECVMSG_OUT_*) to out and returns how many; -EINVAL
 * for a NULL region, a chunk outside it, len beyond the chunk or shorter
 * than the header and the two caps, a header that does not fit them, or out
 * NULL with n > 0. Offsets are from the chunk's start. */
#define RK_RECVMSG_OUT_NAME          0 /* offset of the address */
#define RK_RECVMSG_OUT_NAME_LEN      1 /* its bytes in the chunk (at most name_cap) */
#define RK_RECVMSG_OUT_CONTROL       2 /* offset of the control messages */
#define RK_RECVMSG_OUT_CONTROL_LEN   3 /* their bytes */
#define RK_RECVMSG_OUT_PAYLOAD       4 /* offset of the payload */
#define RK_RECVMSG_OUT_PAYLOAD_LEN   5 /* its bytes in the chunk */
#define RK_RECVMSG_OUT_FLAGS         6 /* recvmsg's msg_flags: MSG_TRUNC, MSG_CTRUNC */
#define RK_RECVMSG_OUT_NAME_TOTAL    7 /* the address's whole length */
#define RK_RECVMSG_OUT_PAYLOAD_TOTAL 8 /* the payload as received: with MSG_TRUNC
                                          in msg_flags the datagram's whole length */
#define RK_RECVMSG_OUT_COUNT         9
RK_API int rk_recvmsg_out(rk_region *region, int32_t chunk, uint32_t len, uint32_t name_cap,
                          uint32_t control_cap, uint32_t *out, uint32_t n);

/* Multishot accept: one completion per accepted connection (res = fd) with
 * RK_CQE_F_MORE, until cancelled or an error ends it. */
RK_API int64_t rk_prep_accept_multishot(rk_ring *ring, int fd, int32_t accept_flags,
                                        uint32_t flags);

/* Multishot poll: a completion (res = ready mask, RK_CQE_F_MORE) each time fd
 * becomes ready, until poll_remove or cancel ends it. */
RK_API int64_t rk_prep_poll_multishot(rk_ring *ring, int fd, uint32_t poll_mask, uint32_t flags);

/* ------------------------------------------------------------------------ */
/* Registered files and direct descriptors                                  */
/* ------------------------------------------------------------------------ */

/* A per-ring table of files the kernel holds references to. An op with
 * RK_FIXED_FILE names a table slot instead of an fd, which skips the kernel's
 * per-op fd lookup and reference counting. Direct ops install the file they
 * create (open, accept, socket) into a slot instead of the process's fd
 * table: no fd number is ever allocated, so such a file cannot leak out of
 * the ring; it lives until its slot is closed or updated, the table is
 * unregistered, or the ring is closed. */
#define RK_FILE_INDEX_ALLOC UINT32_MAX /* file_index: any free slot; res is the slot */
#define RK_FILES_SKIP       (-2)       /* rk_ring_update_files: leave this slot as is */

/* Creates the ring's table with nslots empty slots (1..RK_FILES_MAX). -EBUSY
 * when the ring already has one, -EMFILE when nslots exceeds RLIMIT_NOFILE,
 * -EINVAL for 0 or too many. */
#define RK_FILES_MAX (1u << 20)
RK_API int rk_ring_register_files(rk_ring *ring, uint32_t nslots);

/* Sets slots offset..offset+n-1 from fds: an fd puts (a new reference to) its
 * file in the slot, so the caller may close the fd afterwards; -1 empties the
 * slot; RK_FILES_SKIP leaves it. Returns how many slots were processed, or
 * -ENXIO (no table), -EINVAL (range beyond the table), -EFAULT (fds NULL with
 * n > 0), -EBADF (a bad fd; nothing after it is updated). */
RK_API int rk_ring_update_files(rk_ring *ring, uint32_t offset, const int32_t *fds, uint32_t n);

/* Drops the table and every file in it. -ENXIO when the ring has none. Ops
 * in flight keep their own references. */
RK_API int rk_ring_unregister_files(rk_ring *ring);

/* Confines the slots RK_FILE_INDEX_ALLOC picks (direct open, accept and
 * socket) to offset..offset+len-1 of the table (IORING_REGISTER_FILE_ALLOC_RANGE),
 * so the slots outside the range stay the caller's to fill by number; a
 * full range answers -ENFILE. A new table starts with all of it as the
 * range. Ops naming a slot are not confined. -ENXIO without a table,
 * -EINVAL for a range beyond it, -EOPNOTSUPP on a kernel without it
 * (rk_ring_feature RK_FEATURE_FILE_ALLOC_RANGE); the fallback honours it
 * alike. */
RK_API int rk_ring_file_alloc_range(rk_ring *ring, uint32_t offset, uint32_t len);

/* The direct ops refuse with -ENXIO when the ring has no table, -EINVAL when
 * file_index is neither a slot of it nor RK_FILE_INDEX_ALLOC, -EOPNOTSUPP on
 * a kernel without the op. With a slot, res is 0 and a file already in the
 * slot is replaced; with RK_FILE_INDEX_ALLOC res is the slot the kernel chose
 * (-ENFILE when none is free). O_CLOEXEC/SOCK_CLOEXEC are meaningless for a
 * slot (the kernel answers -EINVAL). */
RK_API int64_t rk_prep_openat_direct(rk_ring *ring, int dfd, const char *path, int32_t oflags,
                                     uint32_t mode, uint32_t file_index, uint32_t flags);
RK_API int64_t rk_prep_accept_direct(rk_ring *ring, int fd, uint32_t file_index,
                                     int32_t accept_flags, uint32_t flags);
/* Multishot accept into free slots: each completion's res is a slot. */
RK_API int64_t rk_prep_accept_multishot_direct(rk_ring *ring, int fd, int32_t accept_flags,
                                               uint32_t flags);
RK_API int64_t rk_prep_socket_direct(rk_ring *ring, int32_t domain, int32_t type,
                                     int32_t protocol, uint32_t file_index, uint32_t flags);

/* Closes the file in slot `slot` and empties it (the same as rk_prep_close
 * with RK_FIXED_FILE). -EINVAL for a slot outside the table, -ENXIO without a
 * table; res -EBADF when the slot was empty. */
RK_API int64_t rk_prep_close_fixed(rk_ring *ring, uint32_t slot, uint32_t flags);

/* Installs the file of slot `slot` in the process's fd table
 * (IORING_OP_FIXED_FD_INSTALL, Linux 6.8+): res is a new fd, close-on-exec
 * unless install_flags is RK_FIXED_FD_NO_CLOEXEC. The slot keeps its file. */
#define RK_FIXED_FD_NO_CLOEXEC (1u << 0)
RK_API int64_t rk_prep_fixed_fd_install(rk_ring *ring, uint32_t slot, uint32_t install_flags,
                                        uint32_t flags);

/* ------------------------------------------------------------------------ */
/* Messages between rings                                                   */
/* ------------------------------------------------------------------------ */

/* One ring per thread scales out; rings steer work to each other by posting
 * completions into each other's CQ (IORING_OP_MSG_RING), which also wakes a
 * thread blocked in rk_reap on the target.
 *
 * rk_prep_msg_ring posts (value, res) to the ring whose fd is target_fd
 * (rk_ring_fd of the target). The kernel keeps ring fds out of file tables
 * (registering one fails with -EBADF), so with RK_FIXED_FILE the slot can
 * never hold a ring and the message fails (-EBADF or -EBADFD, the fallback
 * alike). value is 0..RK_MSG_VALUE_MAX, else -EINVAL. The sender's
 * own completion is res 0 once the message is posted, or -EBADFD when
 * target_fd is not a ring, -EOVERFLOW when the target's CQ is full.
 *
 * The target's rk_reap returns the message as a record with
 *   id    = value | INT64_MIN   (negative: never an op id; value = id & RK_MSG_VALUE_MASK)
 *   res   = res as sent
 *   flags = 0
 * It names no op and frees no slot, and a cancel or other call given that id
 * answers -ENOENT. A target that may be idle (no op of its own in flight)
 * when messages come must be created with RK_RING_MSG_TARGET, or rk_reap
 * would not wait for them. Messages posted to a ring while it is being closed
 * are dropped. Only rk_prep_msg_ring may target a ringkit ring: a raw
 * IORING_OP_MSG_RING from elsewhere could forge an op id. */
#define RK_MSG_VALUE_MAX  (INT64_MAX - 1)
#define RK_MSG_VALUE_MASK INT64_MAX
RK_API int64_t rk_prep_msg_ring(rk_ring *ring, int target_fd, int64_t value, int32_t res,
                                uint32_t flags);

/* Passes the file in slot src_slot of this ring's table to slot dst_slot of
 * the table of the ring whose fd is target_fd (IORING_MSG_SEND_FD, Linux 6.0;
 * rk_ring_feature RK_FEATURE_MSG_SEND_FD). dst_slot is a slot or
 * RK_FILE_INDEX_ALLOC (the target's rk_ring_file_alloc_range applies); a file
 * already in it is replaced. The source slot keeps its file. The sender's
 * completion res is 0, or the slot chosen for RK_FILE_INDEX_ALLOC, or -EBADF
 * (src_slot empty), -ENXIO (the target has no table), -EINVAL (dst_slot
 * beyond the target's table, or the target is this ring), -ENFILE (no free
 * slot), -EBADFD (target_fd is no ring). Unless msg_flags has
 * RK_MSG_RING_CQE_SKIP, the target's rk_reap returns a message record as for
 * rk_prep_msg_ring (value | INT64_MIN) whose res is the sender's. Prep
 * errors: -ENXIO (this ring has no table), -EINVAL (src_slot beyond it,
 * value out of range, unknown msg_flags), -EOPNOTSUPP (no such kernel
 * feature). Rings of different backends cannot pass files (-EOPNOTSUPP as
 * the completion: a fallback ring's files are descriptors, an io_uring's
 * are the kernel's). */
#define RK_MSG_RING_CQE_SKIP (1u << 0) /* the target gets no record */
RK_API int64_t rk_prep_msg_ring_fd(rk_ring *ring, int target_fd, uint32_t src_slot,
                                   uint32_t dst_slot, int64_t value, uint32_t msg_flags,
                                   uint32_t flags);

/* ------------------------------------------------------------------------ */
/* Batches: many ops per call                                               */
/* ------------------------------------------------------------------------ */

/* Op codes of rk_op_desc.op */
#define RK_OP_NOP            0
#define RK_OP_READ           1
#define RK_OP_WRITE          2
#define RK_OP_READV          3
#define RK_OP_WRITEV         4
#define RK_OP_READ_CHUNK     5
#define RK_OP_WRITE_CHUNK    6
#define RK_OP_FSYNC          7
#define RK_OP_FDATASYNC      8
#define RK_OP_OPENAT         9
#define RK_OP_OPENAT2        10
#define RK_OP_CLOSE          11
#define RK_OP_STATX          12
#define RK_OP_UNLINKAT       13
#define RK_OP_MKDIRAT        14
#define RK_OP_RENAMEAT       15
#define RK_OP_LINKAT         16
#define RK_OP_SYMLINKAT      17
#define RK_OP_FALLOCATE      18
#define RK_OP_FADVISE        19
#define RK_OP_SPLICE         20
#define RK_OP_TEE            21
#define RK_OP_POLL_ADD       22
#define RK_OP_POLL_REMOVE    23
#define RK_OP_TIMEOUT        24
#define RK_OP_TIMEOUT_REMOVE 25
#define RK_OP_LINK_TIMEOUT   26
#define RK_OP_CANCEL         27
#define RK_OP_SOCKET         28
#define RK_OP_BIND           29
#define RK_OP_LISTEN         30
#define RK_OP_CONNECT        31
#define RK_OP_ACCEPT         32
#define RK_OP_SEND           33
#define RK_OP_RECV           34
#define RK_OP_SHUTDOWN       35
#define RK_OP_RECV_SELECT    36
#define RK_OP_RECV_MULTISHOT 37
#define RK_OP_ACCEPT_MULTISHOT 38
#define RK_OP_POLL_MULTISHOT 39
#define RK_OP_SEND_ZC        40
#define RK_OP_SENDMSG        41
#define RK_OP_SENDMSG_ZC     42
#define RK_OP_RECVMSG        43
#define RK_OP_OPENAT_DIRECT  44
#define RK_OP_ACCEPT_DIRECT  45
#define RK_OP_ACCEPT_MULTISHOT_DIRECT 46
#define RK_OP_SOCKET_DIRECT  47
#define RK_OP_CLOSE_FIXED    48
#define RK_OP_FIXED_FD_INSTALL 49
#define RK_OP_MSG_RING       50
#define RK_OP_FTRUNCATE      51
#define RK_OP_COPY           52
#define RK_OP_MSG_RING_FD    53
#define RK_OP_RECVMSG_MULTISHOT 54
#define RK_OP_COUNT          55

/* A fixed-layout op descriptor, 64 bytes (offsets in brackets). Which field
 * carries which argument of the matching rk_prep_* call (the op table's, as
 * rk_op_info_of gives it; the abi-desc-table test keeps this copy true):
 *
 *   op                       fd         len          off      addr       addr2     arg1           arg2       fd2
 *   NOP                      -          -            -        -          -         -              -          -
 *   READ                     fd         len          offset   buf        -         -              -          -
 *   WRITE                    fd         len          offset   buf        -         -              -          -
 *   READV                    fd         niov         offset   iov        -         rw_flags       -          -
 *   WRITEV                   fd         niov         offset   iov        -         rw_flags       -          -
 *   READ_CHUNK               fd         len          offset   region     -         chunk          -          -
 *   WRITE_CHUNK              fd         len          offset   region     -         chunk          -          -
 *   FSYNC                    fd         len          offset   -          -         -              -          -
 *   FDATASYNC                fd         len          offset   -          -         -              -          -
 *   OPENAT                   dfd        -            -        path       -         oflags         mode       -
 *   OPENAT2                  dfd        -            resolve  path       -         oflags         mode       -
 *   CLOSE                    fd         -            -        -          -         -              -          -
 *   STATX                    dfd        mask         -        path       statxbuf  at_flags       -          -
 *   UNLINKAT                 dfd        -            -        path       -         at_flags       -          -
 *   MKDIRAT                  dfd        -            -        path       -         mode           -          -
 *   RENAMEAT                 olddfd     -            -        oldpath    newpath   rename_flags   -          newdfd
 *   LINKAT                   olddfd     -            -        oldpath    newpath   at_flags       -          newdfd
 *   SYMLINKAT                -          -            -        target     linkpath  -              -          newdfd
 *   FALLOCATE                fd         -            offset   -          -         mode           len        -
 *   FADVISE                  fd         len          offset   -          -         advice         -          -
 *   SPLICE                   fd_in      nbytes       off_in   -          -         splice_flags   off_out    fd_out
 *   TEE                      fd_in      nbytes       -        -          -         splice_flags   -          fd_out
 *   POLL_ADD                 fd         -            -        -          -         poll_mask      -          -
 *   POLL_REMOVE              -          -            -        target_id  -         -              -          -
 *   TIMEOUT                  -          count        ns       -          -         timeout_flags  -          -
 *   TIMEOUT_REMOVE           -          -            -        target_id  -         -              -          -
 *   LINK_TIMEOUT             -          -            ns       -          -         timeout_flags  -          -
 *   CANCEL                   -          -            -        target_id  -         -              -          -
 *   SOCKET                   domain     -            -        -          -         type           protocol   -
 *   BIND                     fd         addrlen      -        addr       -         -              -          -
 *   LISTEN                   fd         -            -        -          -         backlog        -          -
 *   CONNECT                  fd         addrlen      -        addr       -         -              -          -
 *   ACCEPT                   fd         addrlen      -        addr       -         accept_flags   -          -
 *   SEND                     fd         len          -        buf        -         msg_flags      -          -
 *   RECV                     fd         len          -        buf        -         msg_flags      -          -
 *   SHUTDOWN                 fd         -            -        -          -         how            -          -
 *   RECV_SELECT              fd         len          -        -          -         msg_flags      group      -
 *   RECV_MULTISHOT           fd         -            -        -          -         msg_flags      group      -
 *   ACCEPT_MULTISHOT         fd         -            -        -          -         accept_flags   -          -
 *   POLL_MULTISHOT           fd         -            -        -          -         poll_mask      -          -
 *   SEND_ZC                  fd         len          -        buf        -         msg_flags      zc_flags   -
 *   SENDMSG                  fd         niov         nfds     iov        addr      msg_flags      fds        addrlen
 *   SENDMSG_ZC               fd         niov         nfds     iov        addr      msg_flags      fds        addrlen
 *   RECVMSG                  fd         niov         fds_cap  iov        name      msg_flags      out        name_cap
 *   OPENAT_DIRECT            dfd        file_index   -        path       -         oflags         mode       -
 *   ACCEPT_DIRECT            fd         file_index   -        -          -         accept_flags   -          -
 *   ACCEPT_MULTISHOT_DIRECT  fd         -            -        -          -         accept_flags   -          -
 *   SOCKET_DIRECT            domain     file_index   -        -          -         type           protocol   -
 *   CLOSE_FIXED              -          slot         -        -          -         -              -          -
 *   FIXED_FD_INSTALL         -          slot         -        -          -         install_flags  -          -
 *   MSG_RING                 target_fd  -            value    -          -         res            -          -
 *   FTRUNCATE                fd         -            len      -          -         -              -          -
 *   COPY                     fd_in      -            off_in   len        -         copy_flags     off_out    fd_out
 *   MSG_RING_FD              target_fd  src_slot     value    -          -         dst_slot       msg_flags  -
 *   RECVMSG_MULTISHOT        fd         control_cap  -        -          -         msg_flags      group      name_cap
 *
 * Pointers travel as uint64_t (addr, addr2, and arg2 of SENDMSG/RECVMSG); reserved
 * fields must be 0. A 64-bit field that carries a narrower argument (arg1 or
 * arg2 holding a chunk, flags, a mode or a group; off holding nfds or
 * fds_cap) must hold a value of that argument's type (int32_t, uint32_t,
 * uint16_t): -EINVAL otherwise, never truncated into another value. */
typedef struct rk_op_desc {
	uint8_t op;           /* [0]  RK_OP_* */
	uint8_t reserved0[3]; /* [1] */
	uint32_t flags;       /* [4]  RK_LINK, ... */
	int32_t fd;           /* [8] */
	uint32_t len;         /* [12] */
	int64_t off;          /* [16] */
	uint64_t addr;        /* [24] */
	uint64_t addr2;       /* [32] */
	int64_t arg1;         /* [40] */
	int64_t arg2;         /* [48] */
	int32_t fd2;          /* [56] */
	uint32_t reserved1;   /* [60] */
} rk_op_desc;

/* Prepares n ops from descs in order, writing each op's id to ids[i]. Stops
 * at the first op that fails: returns how many were prepared (k < n means
 * ids[k] holds that op's negative errno and descs[k..] were not prepared).
 * Returns -EINVAL for a NULL ring, descs or ids (n > 0). */
RK_API int rk_prep_batch(rk_ring *ring, const rk_op_desc *descs, uint32_t n, int64_t *ids);

/* As rk_prep_batch, then rk_submit(): one call queues and submits N ops.
 * Returns how many were prepared (errors as rk_prep_batch); a submit error is
 * not reported here (the ops stay queued and go with the next submit/reap). */
RK_API int rk_submit_batch(rk_ring *ring, const rk_op_desc *descs, uint32_t n, int64_t *ids);

/* The op table at run time: for each RK_OP_* op, how the arguments of its
 * rk_prep_* call travel in an rk_op_desc, what the binding must keep alive,
 * and what its completions carry. A binding that can only dlopen wraps every
 * op from these rows (as rk_constant spares it the header's constants):
 * convert each argument by type and role, store it at desc + offset with the
 * field's width, set desc.op and desc.flags, call rk_prep_batch. */

/* rk_op_arg.type: the C type of the rk_prep_* parameter. One narrower than
 * its field must fit (rk_prep_batch answers -EINVAL otherwise). */
#define RK_ARG_S32 1
#define RK_ARG_U32 2
#define RK_ARG_U16 3
#define RK_ARG_S64 4
#define RK_ARG_U64 5
#define RK_ARG_PTR 6 /* a pointer, stored as uint64_t */

/* rk_op_arg.role: what the argument means to the binding. */
#define RK_ROLE_VALUE      0  /* a plain number: flags, a mode, an offset, a count */
#define RK_ROLE_FD         1  /* a descriptor (a slot with RK_FIXED_FILE): keep its
                                 owner open until the final completion */
#define RK_ROLE_ID         2  /* an op id of this ring */
#define RK_ROLE_CHUNK      3  /* a chunk index of the region argument */
#define RK_ROLE_GROUP      4  /* a provided-buffer group of this ring */
#define RK_ROLE_REGION     5  /* an rk_region *: keep it until the final completion */
#define RK_ROLE_LEN        6  /* the length or count of the pointer argument `of` */
#define RK_ROLE_PTR_READ   7  /* memory the op reads until its final completion */
#define RK_ROLE_PTR_WRITE  8  /* memory the op writes until its final completion */
#define RK_ROLE_PTR_COPIED 9  /* read during the prep call only (paths, addresses) */
#define RK_ROLE_IOV_READ   10 /* an rk_iovec array, copied at prep; the op reads the
                                 buffers it names until its final completion */
#define RK_ROLE_IOV_WRITE  11 /* an rk_iovec array, copied at prep; the op writes the
                                 buffers it names until its final completion */
#define RK_ROLE_FILE_INDEX 12 /* a registered-file slot, or RK_FILE_INDEX_ALLOC */

/* rk_op_info.result: what a completion's res is when >= 0. */
#define RK_RESULT_NONE       0 /* 0 */
#define RK_RESULT_BYTES      1 /* bytes moved */
#define RK_RESULT_FD         2 /* a new descriptor the caller owns */
#define RK_RESULT_FILE_INDEX 3 /* 0, or the slot chosen for RK_FILE_INDEX_ALLOC */
#define RK_RESULT_CHUNK      4 /* bytes, into the chunk named in the flags
                                  (RK_CQE_F_BUFFER, flags >> RK_CQE_BUFFER_SHIFT) */
#define RK_RESULT_MSG        5 /* bytes; recvmsg's out record and name are filled */
#define RK_RESULT_MASK       6 /* the ready poll events */
#define RK_RESULT_ZC         7 /* bytes, then a notification (RK_CQE_F_NOTIF) ends it */

/* How one argument of an rk_prep_* call travels in an rk_op_desc. */
typedef struct rk_op_arg {
	const char *name;   /* [0]  the rk_prep_* parameter's name: "fd", "buf" */
	uint8_t offset;     /* [8]  byte offset of its rk_op_desc field (8 = fd) */
	uint8_t width;      /* [9]  that field's width in bytes: 4 or 8 */
	uint8_t type;       /* [10] RK_ARG_* */
	uint8_t role;       /* [11] RK_ROLE_* */
	uint8_t of;         /* [12] RK_ROLE_LEN: index in args of the pointer it
	                               measures; otherwise 0xff */
	uint8_t reserved[3];/* [13] */
} rk_op_arg;

/* One row of the op table. */
typedef struct rk_op_info {
	const char *name;      /* [0]  "read", "recv_multishot": rk_prep_<name> */
	uint8_t op;            /* [8]  RK_OP_* */
	uint8_t nargs;         /* [9]  parameters of rk_prep_<name> between ring and flags */
	uint8_t result;        /* [10] RK_RESULT_* */
	uint8_t multishot;     /* [11] 1 when one op gives many completions (RK_CQE_F_MORE) */
	uint8_t opcode;        /* [12] the kernel's IORING_OP_* its SQE carries, for
	                                  rk_ring_probe (READ_CHUNK, WRITE_CHUNK: the fixed-
	                                  buffer opcode; plain READ/WRITE when the region is
	                                  not registered) */
	uint8_t reserved[3];   /* [13] */
	const rk_op_arg *args; /* [16] nargs entries in parameter order, then one
	                                  whose name is NULL */
} rk_op_info;

/* The row of op `op` (0 .. RK_OP_COUNT-1), or NULL for any other value.
 * Static: valid for the life of the process, never freed. Whether the
 * running kernel has the op is rk_ring_probe's answer, not this one's: an op
 * the kernel lacks is refused by its prep with -EOPNOTSUPP. */
RK_API const rk_op_info *rk_op_info_of(uint32_t op);

/* ------------------------------------------------------------------------ */
/* Submission and completion                                                */
/* ------------------------------------------------------------------------ */

/* Hands queued ops to the kernel, the overflow queue first, whole linked
 * chains at a time. Returns how many the kernel consumed, or a negative errno
 * from io_uring_enter (-EINTR, -ENOMEM, ...; queued ops stay queued). Do not
 * submit while a linked chain is still open: the kernel ends a chain at the
 * end of a submission.
 * An RK_RING_SQPOLL ring's kernel thread acts with the credentials of the
 * process that created the ring: once the effective user or group id has
 * changed (setuid, setgid), submitting new ops returns -EPERM (they stay
 * queued; rk_ring_cancel_all and rk_ring_close still work). Dropping
 * capabilities without changing ids is not detected: create SQPOLL rings
 * after dropping privileges. */
RK_API int rk_submit(rk_ring *ring);

/* Submits queued ops, then waits until wait_nr completions are available or
 * timeout_ns has passed (timeout_ns < 0: no limit; 0: do not wait), copies up
 * to max completion records into out and releases the slots of ops whose final
 * completion was copied (a timeout too long for the clock, up to INT64_MAX,
 * is no limit). Returns the number of records (0 on timeout), or:
 *   -EINVAL  NULL ring, or out NULL with max > 0
 *   -EINTR   a signal interrupted the wait and no record was ready; nothing
 *            is lost, call again after handling the signal
 *   other    the submit failed (-ENOMEM, ...; -EAGAIN when the kernel
 *            refused the ops for now) and the kernel holds nothing else to
 *            wait for: the ops stay queued, call again
 * wait_nr is clamped to max and to 0 when no op is live, so a wait can never
 * be for completions that cannot come — except on a ring created with
 * RK_RING_MSG_TARGET, where other rings' messages may come at any time.
 * Records with a negative id are such messages (see rk_prep_msg_ring).
 *
 * The slots of the final completions returned are free when this returns: an
 * op prepared next may reuse one at once. A runtime that keeps per-op objects
 * in an array by slot must look up (and clear) the entries of the whole batch
 * before it prepares new ops while handling them. */
RK_API int rk_reap(rk_ring *ring, rk_cqe *out, uint32_t max, uint32_t wait_nr,
                   int64_t timeout_ns);

/* Callback of rk_reap_dispatch: ctx as given to it, then the three fields of
 * one completion record as plain integers (no struct crosses the call, so a
 * libffi closure, a cffi or ctypes callback or a LuaJIT function can be one).
 * A negative id is a message from rk_prep_msg_ring, as with rk_reap. Return
 * 0 to go on, non-zero to stop after this completion. */
typedef int (*rk_cqe_fn)(void *ctx, int64_t id, int32_t res, uint32_t flags);

/* As rk_reap, but calls fn(ctx, id, res, flags) once per completion, in
 * order, instead of copying records into an array: for backends that want a
 * C function called per completion. Waits (timeout_ns in all, < 0: no limit,
 * 0: not at all) while fewer than wait_nr completions were dispatched, then
 * dispatches what else is ready, up to max in all. Returns how many callbacks
 * ran (the one that returned non-zero included), or -EINVAL (NULL ring or
 * fn), or -EINTR / another error of rk_reap when it came before any callback,
 * or -EBADF when fn closed the ring (below). max 0 only submits, as rk_reap
 * does.
 *
 * Each completion is taken from the ring just before its callback runs, one
 * at a time, so:
 *   - When fn runs for an op's final completion (no RK_CQE_F_MORE), the op's
 *     slot is already free: an op fn prepares may take the same slot at once
 *     (with a new id). Take the runtime's per-slot entry (read and clear it)
 *     before preparing ops in fn.
 *   - Ops fn prepares are submitted before the next completion is taken;
 *     their own completions may be dispatched by the same call.
 *   - When fn returns non-zero, the call returns after that callback; every
 *     later completion stays in the ring for the next rk_reap or
 *     rk_reap_dispatch. Nothing is lost or delivered twice.
 *   - fn may call any ringkit function on the ring, rk_reap included (it then
 *     takes completions this call would have dispatched), and rk_ring_close:
 *     the ring is closed at once (completions not yet dispatched are
 *     dropped, as close drops them), the call returns -EBADF as soon as fn
 *     returns, whatever fn returned, and frees the handle then (the
 *     outermost call, when dispatches nest).
 */
RK_API int rk_reap_dispatch(rk_ring *ring, rk_cqe_fn fn, void *ctx, uint32_t max,
                            uint32_t wait_nr, int64_t timeout_ns);

/* ------------------------------------------------------------------------ */
/* Pinned regions                                                           */
/* ------------------------------------------------------------------------ */

#define RK_REGION_LOCKED (1u << 0) /* mlock the memory (-ENOMEM/-EPERM over RLIMIT_MEMLOCK) */
#define RK_REGION_HUGE   (1u << 1) /* back with huge pages: explicit hugetlb when available,
                                      else transparent huge pages; either way the region
                                      starts on a 2 MiB boundary and takes whole huge pages */
/* Provided as a buffer group, its chunks are consumed incrementally
 * (IOU_PBUF_RING_INC, Linux 6.12; rk_ring_feature RK_FEATURE_PBUF_INC):
 * a receive takes only the bytes it got from the chunk, and the next one
 * continues in the same chunk where it ended, so one chunk holds many small
 * messages and a large one fills whole chunks. A completion's bytes start
 * where the previous completion naming that chunk ended (at 0 after the
 * chunk was provided or recycled). While its flags carry RK_CQE_F_BUF_MORE
 * the kernel goes on filling the chunk: it stays the kernel's, and
 * rk_ring_recycle_chunk refuses it (-EBUSY); the completion without that
 * flag hands it to the caller. rk_ring_provide_region answers -EOPNOTSUPP
 * on a kernel without it; recv ops only (rk_prep_recvmsg_multishot refuses
 * such a group, -EINVAL). */
#define RK_REGION_INCREMENTAL (1u << 2)

/* Creates a region of nchunks chunks of chunk_size bytes each, in page-aligned
 * anonymous memory outside any GC heap, zero-filled. chunk_size 1..1 GiB,
 * nchunks 1..2^24, total at most 64 GiB; -EINVAL otherwise. */
RK_API int rk_region_create(uint32_t chunk_size, uint32_t nchunks, uint32_t flags,
                            rk_region **out);

/* Gives the region up; the handle must not be used again either way.
 * Returns 0 when the memory was freed at once. While the region is in use —
 * an op on one of its chunks not yet reaped, or registered with or provided
 * to a ring that is still open — it returns 1 and the region becomes a
 * zombie: its memory stays mapped, the ops go on, and it is freed when the
 * last use ends (the ops' final completions are reaped, the rings that have
 * it registered or provided are closed). This is for garbage-collected
 * runtimes, whose finalizers run in any order, the region's before the
 * ring's (sqlite3_close_v2 leaves connections zombies for the same reason);
 * a binding that wants an explicit close to refuse asks rk_region_busy first.
 * A ring whose close timed out (-ETIMEDOUT) never lets go of the regions
 * its ops use, so those stay mapped for good. */
RK_API int rk_region_destroy(rk_region *region);

/* Allocates a free chunk: its index, or -ENOBUFS when none is free. */
RK_API int32_t rk_chunk_alloc(rk_region *region);

/* Returns a chunk to the region: -EBUSY while an op uses it, -EINVAL when the
 * index is out of range or the chunk is not allocated (double free). */
RK_API int rk_chunk_free(rk_region *region, int32_t chunk);

/* The chunk's address (chunk_size bytes), or NULL for a NULL region or an
 * index out of range. Valid until the region is destroyed. */
RK_API void *rk_chunk_ptr(rk_region *region, int32_t chunk);

/* Geometry and use of a region; -EINVAL for NULL. */
RK_API int64_t rk_region_chunk_size(rk_region *region);
RK_API int64_t rk_region_nchunks(rk_region *region);
RK_API int64_t rk_region_chunks_free(rk_region *region);

/* 1 while the region is in use (an op of the region is in flight, or an
 * open ring has it registered or provided), so rk_region_destroy would
 * leave it a zombie; else 0. Lets a binding refuse an explicit close of a
 * region whose memory the kernel may still write. */
RK_API int rk_region_busy(rk_region *region);

/* Registers the whole region with the ring as one fixed buffer, so chunk ops
 * skip per-op page pinning. Up to RK_RING_MAX_REGIONS regions per ring.
 * Returns 0 (also when already registered), -ENOMEM when RLIMIT_MEMLOCK is too
 * low (the region stays usable unregistered), -ENOSPC when the ring has no
 * free region slot, -EINVAL for a region over 1 GiB. */
#define RK_RING_MAX_REGIONS 64
RK_API int rk_ring_register_region(rk_ring *ring, rk_region *region);

/* Unregisters; -ENOENT when not registered with this ring, -EBUSY while ops
 * of the region are in flight. */
RK_API int rk_ring_unregister_region(rk_ring *ring, rk_region *region);

/* ------------------------------------------------------------------------ */
/* Restricted rings                                                         */
/* ------------------------------------------------------------------------ */

/* rk_ring_restrict flags */
#define RK_RESTRICT_FIXED_FILES (1u << 0) /* every op must carry RK_FIXED_FILE */
#define RK_RESTRICT_FILES       (1u << 1) /* the file table's calls stay allowed */
#define RK_RESTRICT_REGIONS     (1u << 2) /* the region and buffer-group calls stay allowed */
#define RK_RESTRICT_EVENTFD     (1u << 3) /* the eventfd calls stay allowed */

/* Limits a ring, for good, to the ops listed: `ops` holds n RK_OP_* codes
 * (the rows of rk_op_info_of; duplicates are harmless, n 0 allows none).
 * For a host that hands a ring to code it does not trust (an embedded
 * script): whatever that code calls, the ring does only what the host
 * allowed.
 *
 * Only a ring created with RK_RING_RESTRICTABLE can be restricted. Such a
 * ring is created disabled and waits for this call: until then every
 * rk_prep_* (and rk_prep_batch entry), rk_submit, rk_reap and
 * rk_reap_dispatch answers -EBADFD (at once, never a wait), while the
 * ring-level calls work, so the host registers its files, regions and
 * eventfd first. After it:
 *   - a prep of an op not listed fails with -EACCES, taking no slot and
 *     posting no completion, on both backends; the batch calls stop at its
 *     entry as at any refused entry. The check comes when the op takes its
 *     slot, after the argument checks a prep makes first (a negative fd is
 *     still -EBADF).
 *   - RK_RESTRICT_FIXED_FILES: an op without RK_FIXED_FILE in its flags
 *     fails with -EACCES, so every fd an op names is a slot of the file
 *     table the host filled, never a descriptor of the process. Ops that
 *     name no file (nop, timeout, cancel) carry the flag too, as the
 *     kernel requires it of every SQE; ops that cannot take a registered
 *     file (the path ops, openat, socket, close and close_fixed, whose
 *     SQE names a slot as its target, and copy, whose ends are
 *     descriptors) cannot run.
 *   - rk_ring_register_files, rk_ring_update_files, rk_ring_unregister_files,
 *     rk_ring_file_alloc_range fail with -EACCES unless RK_RESTRICT_FILES;
 *     the region calls
 *     (rk_ring_register_region, rk_ring_unregister_region,
 *     rk_ring_provide_region, rk_ring_unprovide_region) unless
 *     RK_RESTRICT_REGIONS; the eventfd calls unless RK_RESTRICT_EVENTFD.
 *     Cancels (rk_cancel_sync, rk_ring_cancel_all), rk_ring_recycle_chunk,
 *     the queries and rk_ring_close always work.
 * On io_uring the kernel enforces the same list too (defence in depth):
 * the ring is set up with IORING_SETUP_R_DISABLED, and this call
 * registers IORING_REGISTER_RESTRICTIONS — the kernel opcodes of the
 * listed ops (rk_op_info_of's opcode; READ_CHUNK and WRITE_CHUNK add plain
 * READ and WRITE, which they use on an unregistered region; COPY adds the
 * SPLICE, READ, WRITE and FALLOCATE its sub-ops use, which the core alone
 * prepares, so they are no more open to the caller), the SQE flags
 * ringkit sets, IOSQE_FIXED_FILE required under RK_RESTRICT_FIXED_FILES,
 * and the register operations the flags above leave allowed plus
 * IORING_REGISTER_SYNC_CANCEL — then IORING_REGISTER_ENABLE_RINGS. The
 * kernel then refuses anything else the ring's memory could be made to
 * carry, with an -EACCES completion or an -EACCES io_uring_register. (The
 * kernel's classic-BPF filters, IORING_REGISTER_BPF_FILTER, came after
 * Linux 6.18 and are not used.) A kernel without R_DISABLED (before 5.10)
 * refuses the setup, and the ring is a fallback ring, or -EINVAL with
 * RK_RING_NO_FALLBACK. The fallback has no kernel layer: the core's check
 * is the same on both.
 *
 * One-way: a second call fails with -EPERM, and there is no call that
 * lifts a restriction. Errors: -EINVAL (NULL ring, ops NULL with n > 0, a
 * code >= RK_OP_COUNT, unknown flags, a ring created without
 * RK_RING_RESTRICTABLE), -EPERM (already restricted), or the kernel's
 * errno of the registration (the ring then stays disabled: it can only be
 * closed). */
RK_API int rk_ring_restrict(rk_ring *ring, const uint32_t *ops, uint32_t n, uint32_t flags);

/* ------------------------------------------------------------------------ */
/* Constants newer than some system headers, for reference                   */
/* ------------------------------------------------------------------------ */

#define RK_CQE_F_BUFFER (1u << 0)
#define RK_CQE_F_MORE   (1u << 1)
#define RK_CQE_F_NOTIF  (1u << 3) /* the notification that ends a zero-copy send */
#define RK_CQE_F_BUF_MORE (1u << 4) /* RK_REGION_INCREMENTAL: the chunk is still being filled */

#ifdef __cplusplus
}
#endif
#endif /* RINGKIT_H */
