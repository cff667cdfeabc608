/*
 * Internal structures shared by the core's source files. Nothing here is ABI.
 *
 * The core is split by backend, the way libuv splits src/unix and src/win:
 * everything a caller sees — the op table and ids (ids.c), the preps
 * (ops_*.c), regions, provided-buffer ownership, batches — lives in src/ and
 * is shared. What differs is how a prepared op is carried out, behind
 * struct rk_backend below: src/uring/ hands ops to the kernel's io_uring,
 * src/fallback/ runs them with plain syscalls on threads and epoll where
 * io_uring is refused. Both consume the same op record: the SQE a prep
 * writes (the io_uring backend copies it into the SQ, the fallback
 * interprets it), so a prep's argument checks and storage rules cannot
 * differ between them.
 */
#ifndef RK_INTERNAL_H
#define RK_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <linux/openat2.h>

#include "compat.h"
#include "ringkit.h"

#define RK_HIDDEN __attribute__((visibility("hidden")))

/* user_data of ops the core submits for itself (close-time cancels). Valid ids
 * are non-negative, so the top bit can never collide with one. */
#define RK_UD_INTERNAL UINT64_MAX

#define RK_NONE UINT32_MAX
#define RK_GEN_MASK 0x7fffffffu /* generation fits 31 bits: ids stay >= 0 */
#define RK_MAX_CAPACITY 16777216 /* 2^24, a plain decimal: error text quotes it */
#define RK_IOV_MAX 1024
#define RK_FEATURE_COUNT 5 /* RK_FEATURE_* known to rk_ring_feature */

/* How long rk_ring_close waits for a backend to give every op back before
 * it leaves the ring's memory to it and returns -ETIMEDOUT. */
#define RK_CLOSE_TIMEOUT_NS (10 * 1000000000LL)

#define PTR(v) ((void *)(uintptr_t)(v)) /* a 64-bit pointer field (SQE, descriptor) */

/* Per-op storage: small paths, iovec arrays and timespecs fit inline in the
 * slot; larger ones borrow a block from the ring's spill pool. Both exist from
 * ring creation on, so preparing an op never allocates. */
#define RK_INLINE_BYTES 144
#define RK_SPILL_BYTES  (RK_IOV_MAX * 16) /* 1024 iovecs, or two PATH_MAX paths */

enum rk_op_state {
	RK_OP_FREE = 0,
	RK_OP_STAGED,   /* prepared, waiting in the overflow queue for the SQ */
	RK_OP_KERNEL,   /* in the SQ ring or owned by the kernel */
	RK_OP_LOCAL,    /* completed without the kernel, waiting to be reaped */
	RK_OP_ENGINE,   /* run by the core itself through sub-ops (rk_prep_copy) */
	RK_OP_CHAINED,  /* free, taken by a prep that changed chain_len: an abort undoes it */
};

/* Ops whose completions need more than copying out: a new fd that must be
 * closed if nobody will ever see it, or recvmsg's results to hand over. */
enum rk_op_kind {
	RK_KIND_PLAIN = 0,
	RK_KIND_FD,      /* a res >= 0 is a new fd the caller owns */
	RK_KIND_RECVMSG, /* name, flags and SCM_RIGHTS fds wait in op storage */
	RK_KIND_COPY,    /* a sub-op of a copy: its completion goes to copy.c */
};

struct rk_op {
	struct io_uring_sqe sqe; /* staged copy, written into the SQ on flush */
	uint32_t slot;          /* own index: cheaper than pointer subtraction */
	/* slot and gen make one 64-bit word, the op's id (rk__op_id_word);
	 * state, group, kind and held a 32-bit one, which a completion
	 * compares with what a live plain op's holds (rk__op_live_word). */
	uint32_t gen;
	uint8_t state;
	uint8_t group;          /* provided-buffer group it selects from, index + 1; 0: none */
	uint8_t kind;           /* enum rk_op_kind: what its completions carry besides res */
	uint8_t held;           /* RK_HELD_*: what it holds that its release gives back */
	uint32_t next;          /* free list, overflow queue or local-completion list */
	int32_t res;            /* result of a local completion */
	uint32_t spill;         /* spill block index, or RK_NONE */
	int32_t chunk;          /* chunk pinned by this op, or -1 */
	rk_region *region;
	_Alignas(16) unsigned char inl[RK_INLINE_BYTES];
};

/* A power-of-two slot size keeps slot indexing a shift on the hot path. */
_Static_assert(sizeof(struct rk_op) == 256, "struct rk_op should stay 256 bytes");
_Static_assert(offsetof(struct rk_op, gen) == offsetof(struct rk_op, slot) + 4 &&
                   offsetof(struct rk_op, state) == offsetof(struct rk_op, gen) + 4 &&
                   offsetof(struct rk_op, held) == offsetof(struct rk_op, state) + 3,
               "slot to gen, gen to held and state to held are words");

/* The op's id, ((int64_t)gen << 32) | slot: one load where the bytes lie so. */
static inline int64_t rk__op_id_word(const struct rk_op *op)
{
	uint64_t w;
	memcpy(&w, &op->slot, sizeof(w));
	return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? (int64_t)w
	                                                 : ((int64_t)op->gen << 32) | op->slot;
}

/* Frees a live op that holds nothing (its group, kind and held are 0):
 * the next generation and state FREE in one store of the word from gen to
 * held. */
static inline void rk__op_free_word(struct rk_op *op)
{
	uint64_t w = ((uint64_t)op->gen + 1) & RK_GEN_MASK;
	if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
		w <<= 32;
	memcpy(&op->gen, &w, sizeof(w));
}

/* rk_op.held: a spill block (rk__op_storage), a chunk pin (op->region). */
/* RK_HELD_MORE: the op may post completions with IORING_CQE_F_MORE
 * (rk__op_posts_more), which keeps every completion of it off drain_cq's
 * fast release without a test of each CQE's flags. */
enum { RK_HELD_SPILL = 1, RK_HELD_CHUNK = 2, RK_HELD_MORE = 4 };

/* The word from state to held of a live op in the kernel that selects from
 * no group and has nothing to settle, holding `held`. */
#define RK_LIVE_WORD(held)                                                                        \
	(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__                                                \
	         ? (uint32_t)RK_OP_KERNEL | (uint32_t)(held) << 24                                  \
	         : (uint32_t)RK_OP_KERNEL << 24 | (uint32_t)(held))

/* The word from state to held: a completion's one test for the common
 * release compares it with RK_LIVE_WORD(0), or RK_LIVE_WORD(RK_HELD_CHUNK)
 * for an op that has only a chunk pin to undo. */
static inline uint32_t rk__op_live_word(const struct rk_op *op)
{
	uint32_t w;
	memcpy(&w, &op->state, sizeof(w));
	return w;
}

struct rk_sq {
	uint32_t *khead, *ktail, *kflags, *kdropped, *array;
	uint32_t mask, entries;
	uint32_t tail;           /* our next tail: entries before it are written */
	uint32_t published;      /* what the kernel sees in *ktail */
	struct io_uring_sqe *sqes;
	/* [next, stop): the entries a prep may write from tail on without
	 * looking at the kernel's head, as pointers, so that a prep neither
	 * masks the tail nor counts room down: next is &sqes[tail & mask]
	 * while next != stop; never more than are free, never past the SQ's
	 * last entry, and none while ops wait in the overflow queue (they go
	 * first). Refilled by rk__op_sqe_slow; whatever else moves tail, or
	 * maps the SQ anew, empties it (rk__sq_forget_room: always safe). */
	struct io_uring_sqe *next, *stop;
	/* [mark, next): entries commits wrote that tail, live and in_kernel
	 * do not count yet (rk__sq_count), so that a prep adds to none of
	 * them: whatever reads or moves them counts first. */
	struct io_uring_sqe *mark;
};

/* Empties the SQ's [next, stop): the next prep looks at the kernel's head. */
static inline void rk__sq_forget_room(struct rk_sq *sq)
{
	sq->stop = sq->next;
}

struct rk_cq {
	uint32_t *khead, *ktail, *koverflow, *kflags;
	uint32_t mask, entries;
	struct io_uring_cqe *cqes;
};

/* A region provided to the kernel as a buffer group (IORING_REGISTER_PBUF_RING). */
struct rk_group {
	rk_region *region;       /* NULL: slot unused */
	struct io_uring_buf_ring *br;
	size_t br_len;
	uint32_t mask;
	uint16_t bgid, tail;
	uint16_t head;           /* fallback: next entry it takes (the kernel keeps its own) */
	bool inc;                /* IOU_PBUF_RING_INC: chunks consumed a completion at a time */
	uint32_t users;          /* ops in flight selecting from it */
};

struct rk_fb;

/* What a backend does with a ring. The shared code validates arguments and
 * keeps the op table; a backend moves queued ops to execution and completions
 * back. Every function gets a valid ring of its own backend. The shared code
 * never asks which backend a ring has: what differs is a hook here. */
struct rk_backend {
	uint32_t id;             /* RK_BACKEND_* */
	/* rk_ring_create_ex, arguments checked: on success the ring is
	 * complete (be, table, probe, fd); on failure nothing is left
	 * allocated in it and it may be reused for another backend. */
	int (*create)(rk_ring *ring, uint32_t entries, uint32_t flags, uint32_t cq_entries,
	              uint32_t capacity, uint32_t sq_thread_idle_ms);
	/* Hands queued (staged) ops over; getevents: also make completions the
	 * backend holds visible. Returns how many ops it took, or -errno. */
	int (*submit)(rk_ring *ring, bool getevents);
	/* rk_reap after the NULL-ring check. */
	int (*reap)(rk_ring *ring, rk_cqe *out, uint32_t max, uint32_t wait_nr, int64_t timeout_ns);
	/* rk_ring_close: cancel, wait (bounded), free everything but the
	 * handle itself, which ring.c frees (0) or leaves (< 0). */
	int (*close)(rk_ring *ring);
	/* rk_ring_close in a child of fork(), after rk__close_inherited
	 * released the ops, regions and groups: frees this process's copy of
	 * the backend's own state only, touching nothing the parent still uses
	 * (kernel state, threads). */
	void (*close_inherited)(rk_ring *ring);
	/* rk_ring_cancel_all. */
	int (*cancel_all)(rk_ring *ring);
	/* rk_cancel_sync for a live op that is not a local completion. */
	int (*cancel_sync)(rk_ring *ring, struct rk_op *op, int64_t id, int64_t timeout_ns);
	/* Registers fd as the completion eventfd (fd < 0: unregisters). */
	int (*set_eventfd)(rk_ring *ring, int fd, uint32_t flags);
	/* The registered file table: create (nslots), update, drop. */
	int (*files_register)(rk_ring *ring, uint32_t nslots);
	int (*files_update)(rk_ring *ring, uint32_t offset, const int32_t *fds, uint32_t n);
	int (*files_unregister)(rk_ring *ring);
	/* RK_FILE_INDEX_ALLOC picks within offset..offset+len-1 (checked
	 * against the table); a new table resets it to the whole table. */
	int (*files_alloc_range)(rk_ring *ring, uint32_t offset, uint32_t len);
	/* rk_ring_feature for a known RK_FEATURE_*: 1 or 0. */
	int (*feature)(rk_ring *ring, uint32_t feature);
	/* Fixed-buffer slot `slot` now covers [base, base+len) (base NULL: empty). */
	int (*buffer_slot)(rk_ring *ring, int slot, void *base, size_t len);
	/* A buffer group's ring (g->br, entries) starts or stops being used. */
	int (*group_register)(rk_ring *ring, struct rk_group *g, uint32_t entries);
	int (*group_unregister)(rk_ring *ring, struct rk_group *g);
	/* Fills the backend's own rk_ring_stats values. */
	void (*stats)(rk_ring *ring, uint64_t *v);
	/* rk_prep_msg_ring once checked and begun (data has its top bit set):
	 * prepares sqe and commits op, or completes op at once. rk__msg_prep
	 * is the plain one, an IORING_OP_MSG_RING SQE. */
	int64_t (*prep_msg_ring)(rk_ring *ring, struct rk_op *op, struct io_uring_sqe *sqe,
	                         int target_fd, uint64_t data, int32_t res, uint32_t flags);
	/* Posts a message into `target`, a ring of this backend, from any
	 * thread: 0 or -errno. NULL where the kernel posts messages (by the
	 * ring's fd); a backend with one has its rings in the registry. */
	int (*post_message)(rk_ring *target, uint64_t data, int32_t res);
	/* rk_prep_msg_ring_fd once checked and begun, as prep_msg_ring;
	 * rk__msg_fd_prep is the plain one, an IORING_MSG_SEND_FD SQE. */
	int64_t (*prep_msg_fd)(rk_ring *ring, struct rk_op *op, struct io_uring_sqe *sqe,
	                       int target_fd, uint32_t src_slot, uint32_t dst_slot, uint64_t data,
	                       uint32_t msg_flags, uint32_t flags);
	/* Installs `file` (a descriptor this call takes over, closed on
	 * failure) into `target`'s table at file_index (slot + 1, or
	 * IORING_FILE_INDEX_ALLOC), as the kernel's IORING_MSG_SEND_FD does,
	 * and posts the record unless skip: the slot or 0, or -errno. NULL
	 * where the kernel does it. */
	int (*post_fd)(rk_ring *target, int file, uint32_t file_index, uint64_t data, bool skip);
	/* rk_ring_restrict once the core's list is set: has the kernel
	 * enforce it too (kernel opcodes allowed, rk_ring_restrict flags) and
	 * enables the ring. NULL where there is no kernel to ask. */
	int (*restrict_ops)(rk_ring *ring, const uint8_t *opcodes, uint32_t flags);
	/* rk_ring_resize once checked and submitted: gives the queues sq and
	 * cq entries (powers of two), keeping what they hold; -EBUSY, nothing
	 * changed, when the completions waiting do not fit. */
	int (*resize)(rk_ring *ring, uint32_t sq, uint32_t cq);
};

RK_HIDDEN extern const struct rk_backend rk__uring_backend;
RK_HIDDEN extern const struct rk_backend rk__fallback_backend;

struct rk_ring {
	const struct rk_backend *be;
	int fd;                  /* io_uring fd, or the fallback's eventfd */
	uint32_t epoch;          /* rk__fork_epoch of the process that created it */
	/* epoch while the ring is open and unrestricted, else with bit 32 set
	 * (rk__ring_key): a prep's ring checks are one compare with
	 * rk__fork_epoch, the detailed ones (rk__check_ring, the gate) run
	 * only when it fails. */
	uint64_t prep_key;
	uint32_t setup_flags;    /* IORING_SETUP_* actually used */
	uint32_t features;
	struct rk_sq sq;
	struct rk_cq cq;
	void *sq_map, *cq_map;
	size_t sq_map_len, cq_map_len, sqes_map_len;

	struct rk_op *ops;
	uint32_t capacity;
	/* The table's size, a power of two, less one: the slots from capacity
	 * on are zeroed and never used, so that a completion finds the slot
	 * its user_data names with a mask, no bounds test (no id matches
	 * those slots' zero words). */
	uint32_t table_mask;
	uint32_t free_head;
	uint32_t live;           /* slots not FREE */
	uint32_t in_kernel;      /* slots in state KERNEL */
	uint32_t staged_head, staged_tail, staged_count;
	uint32_t local_head, local_tail;
	/* Length of the linked chain being prepared; while it is not 0,
	 * prep_key sends every prep through rk__op_chain, so a prep that
	 * passes the key's compare leaves it 0 and never writes it. */
	uint32_t chain_len;
	uint32_t chain_undo;     /* chain_len before the prep that changed it (rk__op_chain) */

	unsigned char *spill;    /* spill pool: nspill blocks of RK_SPILL_BYTES */
	uint32_t *spill_free;    /* stack of free block indices */
	uint32_t nspill, spill_top;

	uint32_t rk_flags;       /* RK_RING_* given at creation */
	uint8_t gate;            /* enum rk_gate: nonzero sends preps through rk__gate */
	bool discarding;         /* close drains completions nobody will see */
	bool drained, zc_sent;   /* RK_DRAIN / a zero-copy send was used: see rk_prep_send_zc */
	uint32_t nfiles;         /* slots of the registered file table; 0: none */

	uint8_t probe[256];      /* 1 when the opcode is supported */
	int8_t feature[RK_FEATURE_COUNT]; /* rk__feature: 0 not asked yet, 1 has it, -1 not */
	int eventfd_registered;
	int buffers_registered;  /* sparse fixed-buffer table exists */
	rk_region *regions[RK_RING_MAX_REGIONS];
	struct rk_group groups[RK_RING_MAX_GROUPS];

	uint64_t total_submitted, total_completed, total_cqes;
	uint32_t euid, egid;     /* SQPOLL: the credentials its kernel thread acts with */
	uint32_t dispatching;    /* rk_reap_dispatch calls running on it (nested) */
	bool closed;             /* closed by a dispatch callback: a zombie until the
	                            outermost dispatch returns and frees it */
	bool close_leaked;       /* that close timed out: the handle stays allocated */
	struct rk_fb *fb;        /* fallback backend state; NULL on io_uring */
	struct rk_copy *copies;  /* copies in progress (copy.c) */
	uint32_t restrict_flags; /* RK_RESTRICT_* of rk_ring_restrict */
	uint8_t allowed[RK_OP_COUNT]; /* enum rk_allow of each RK_OP_*: what a prep of it needs */
};

/* A ring's state for restriction (restrict.c). */
enum rk_gate {
	RK_GATE_OPEN = 0,        /* no restriction: the preps' fast path */
	RK_GATE_DISABLED,        /* RK_RING_RESTRICTABLE, not yet restricted: -EBADFD */
	RK_GATE_RESTRICTED,      /* rk_ring_restrict ran: the allowed list decides */
};

/* rk_ring.allowed[code], set by rk_ring_restrict. */
enum rk_allow {
	RK_ALLOW_NONE = 0,       /* refused: -EACCES */
	RK_ALLOW_ANY,            /* allowed */
	RK_ALLOW_FIXED,          /* allowed with RK_FIXED_FILE (RK_RESTRICT_FIXED_FILES) */
	RK_ALLOW_LATER,          /* every op of a disabled ring: -EBADFD */
};

struct rk_region {
	unsigned char *base;
	size_t map_len;
	uint32_t chunk_size, nchunks;
	uint32_t nfree;
	uint32_t *free_stack;    /* free chunk indices */
	uint8_t *allocated;      /* per chunk: RK_CHUNK_FREE, _CALLER or _KERNEL */
	uint32_t *inflight;      /* per chunk: ops using it */
	uint64_t inflight_total;
	uint32_t registrations;  /* open rings it is registered with */
	rk_ring *provided_to;    /* ring it is a buffer group of, or NULL */
	int locked;
	bool zombie;             /* destroyed while in use: freed when the last use ends */
	bool incremental;        /* RK_REGION_INCREMENTAL */
	uint32_t hint;           /* its index in the last ring it was looked up in:
	                            a guess, checked before use */
};

/* FILLING: the kernel's still, part-filled in an incremental group. */
enum rk_chunk_owner { RK_CHUNK_FREE = 0, RK_CHUNK_CALLER, RK_CHUNK_KERNEL, RK_CHUNK_FILLING };

/* fork(): a child inherits the ring's fd and its shared mappings, so its
 * preps and reaps would write into the parent's SQ and take the parent's
 * completions, and its close would cancel the parent's ops. An atfork
 * handler (ring.c) advances rk__fork_epoch in every child: a ring created
 * in another epoch belongs to another process and refuses with -ECHILD. */
extern RK_HIDDEN uint32_t rk__fork_epoch;

/* Recomputes prep_key: after the epoch, closed, gate or chain_len changed. */
static inline void rk__ring_key(rk_ring *ring)
{
	bool slow = ring->closed || ring->gate != RK_GATE_OPEN || ring->chain_len != 0;
	ring->prep_key = (uint64_t)ring->epoch | (uint64_t)slow << 32;
}

/* Whether ring fails its prep_key: NULL, or not an open, unrestricted ring
 * of this process with no chain open. A ring that passes is one no check of
 * a prep (flags aside) or of a reap refuses. */
static inline bool rk__ring_unkeyed(const rk_ring *ring)
{
	return __builtin_expect(!ring, 0) || ring->prep_key != rk__fork_epoch;
}

/* Ends the linked chain being prepared. */
static inline void rk__chain_end(rk_ring *ring)
{
	ring->chain_len = 0;
	rk__ring_key(ring);
}

/* Shuts the ring's gate as rk_ring_restrict finds it: every op waits to be
 * allowed (-EBADFD until then). */
static inline void rk__ring_disable(rk_ring *ring)
{
	ring->gate = RK_GATE_DISABLED;
	memset(ring->allowed, RK_ALLOW_LATER, sizeof(ring->allowed));
	rk__ring_key(ring);
}

/* The check of every public entry point that takes a ring. */
static inline int rk__check_ring(const rk_ring *ring)
{
	if (!ring)
		return -EINVAL;
	if (ring->closed)
		return -EBADF;
	return ring->epoch == rk__fork_epoch ? 0 : -ECHILD;
}

/* sys.c: every kernel entry and allocation goes through here, one seam that
 * fault-injection tests can fail at will. */
RK_HIDDEN int rk__sys_setup(uint32_t entries, struct io_uring_params *p);
RK_HIDDEN int rk__sys_enter(int fd, uint32_t to_submit, uint32_t min_complete, uint32_t flags,
                            void *arg, size_t argsz);
RK_HIDDEN int rk__sys_register(int fd, uint32_t opcode, const void *arg, uint32_t nr_args);
RK_HIDDEN void *rk__sys_mmap(size_t len, int prot, int flags, int fd, uint64_t off);
RK_HIDDEN int rk__sys_munmap(void *p, size_t len);
RK_HIDDEN int rk__sys_mlock(void *p, size_t len);
RK_HIDDEN int rk__sys_munlock(void *p, size_t len);
RK_HIDDEN void *rk__calloc(size_t n, size_t size);
RK_HIDDEN void rk__free(void *p);

/* ids.c: the op table */
RK_HIDDEN int rk__table_init(rk_ring *ring, uint32_t capacity);
RK_HIDDEN void rk__table_free(rk_ring *ring);
RK_HIDDEN void *rk__op_storage(rk_ring *ring, struct rk_op *op, size_t size);
RK_HIDDEN void rk__op_complete_local(rk_ring *ring, struct rk_op *op, int32_t res);

static inline uint32_t rk__load_acquire(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void rk__store_release(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Times in nanoseconds: now + a caller's timeout, saturated, so a deadline
 * past the end of time is INT64_MAX, which every wait reads as "never"
 * (as the kernel's ktime arithmetic saturates). A wait longer than
 * RK_TIME_NEVER is treated as unbounded: centuries away, and a kernel
 * adding it to its own clock must not overflow either. */
#define RK_TIME_NEVER (INT64_MAX / 2)
static inline int64_t rk__time_add(int64_t a, int64_t b)
{
	int64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static inline int64_t rk__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The smallest power of two >= n (n at most 2^31). */
static inline uint32_t rk__pow2_at_least(uint64_t n)
{
	uint64_t p = 1;
	while (p < n)
		p <<= 1;
	return (uint32_t)p;
}

/* Counts the entries commits wrote since the last count into the SQ's
 * tail, and their ops into live and in_kernel. */
static inline void rk__sq_count(rk_ring *ring)
{
	uint32_t n = (uint32_t)(ring->sq.next - ring->sq.mark);
	ring->sq.tail += n;
	ring->live += n;
	ring->in_kernel += n;
	ring->sq.mark = ring->sq.next;
}

/* SQ entries written (published or not) that the kernel has not consumed. */
static inline uint32_t rk__sq_used(rk_ring *ring)
{
	rk__sq_count(ring);
	return ring->sq.tail - rk__load_acquire(ring->sq.khead);
}


/* ops_msg.c: a recvmsg or fd-returning op's completion, before its slot is
 * released; when the ring is discarding, fds nobody will see are closed. */
RK_HIDDEN void rk__op_settle(rk_ring *ring, struct rk_op *op, int32_t res, uint32_t cqe_flags);

/* registry.c: the rings no kernel posts messages into (backends with
 * post_message), by fd. rk_ring_create_ex lists them, rk_ring_close takes
 * them out before the backend closes them. */
RK_HIDDEN int rk__registry_add(rk_ring *ring);
RK_HIDDEN bool rk__registry_remove(rk_ring *ring);
RK_HIDDEN bool rk__registry_empty(void);
RK_HIDDEN bool rk__registry_has(int fd);
/* Posts into the listed ring with that fd (its post_message); false, and
 * nothing posted, when none is listed. */
RK_HIDDEN bool rk__registry_post(int fd, uint64_t data, int32_t res, int32_t *result);
/* The same for a file (post_fd): false, and `file` left open, when none
 * is listed. */
RK_HIDDEN bool rk__registry_post_fd(int fd, int file, uint32_t file_index, uint64_t data,
                                    bool skip, int32_t *result);

/* msgring.c: the plain prep_msg_ring hook; a message from a sender that
 * is no io_uring (a fallback ring's thread): into a listed ring, or by the
 * kernel from the process's private io_uring (-EBADFD where there is
 * none); that io_uring goes once no listed ring is left. */
RK_HIDDEN int64_t rk__msg_prep(rk_ring *ring, struct rk_op *op, struct io_uring_sqe *sqe,
                               int target_fd, uint64_t data, int32_t res, uint32_t flags);
RK_HIDDEN int32_t rk__msg_send(int fd, uint64_t data, int32_t res);
RK_HIDDEN int64_t rk__msg_fd_prep(rk_ring *ring, struct rk_op *op, struct io_uring_sqe *sqe,
                                  int target_fd, uint32_t src_slot, uint32_t dst_slot,
                                  uint64_t data, uint32_t msg_flags, uint32_t flags);

/* ring.c: whether the ring has RK_FEATURE_* f (known), asked once. */
RK_HIDDEN bool rk__feature(rk_ring *ring, uint32_t f);
RK_HIDDEN void rk__msg_release(void);

/* Sizes as io_uring_setup computes them (powers of two, CLAMP); -EINVAL
 * when too large without RK_RING_CLAMP. The fallback sizes its emulated
 * queues with it so both backends answer alike. */
RK_HIDDEN int rk__ring_sizes(uint32_t entries, uint32_t flags, uint32_t cq_entries,
                             uint32_t *sq, uint32_t *cq);

/* ring.c: rk_ring_close in a child of fork(): this process's copy of the
 * ops (their chunk pins), regions and groups, then the backend's part. */
RK_HIDDEN void rk__close_inherited(rk_ring *ring);

/* Shared by both backends' completion paths: drops ops that never reached
 * a backend (close), or completes them with -ECANCELED (cancel_all). */
RK_HIDDEN int rk__cancel_staged(rk_ring *ring, bool settle);

/* copy.c: a sub-op's completion (res), taken out of a completion path
 * before anything is copied out; returns 1 when it wrote the copy's own
 * final completion into *out. kick queues what waited for a chain being
 * prepared and submits; cancel stops one copy, cancel_all every copy;
 * free_all frees what a closed ring's copies left. */
RK_HIDDEN int rk__copy_cqe(rk_ring *ring, struct rk_op *op, int32_t res, rk_cqe *out);
RK_HIDDEN void rk__copy_kick(rk_ring *ring);
RK_HIDDEN int rk__copy_cancel(rk_ring *ring, struct rk_op *parent, int64_t timeout_ns);
RK_HIDDEN void rk__copy_cancel_all(rk_ring *ring);
RK_HIDDEN void rk__copy_free_all(rk_ring *ring);

/* A prep of op `code` (a constant RK_OP_*) on a ring whose gate is not
 * open: 0, or -EBADFD (disabled) / -EACCES (not allowed). Inline and
 * without a call, so that the preps' fast path needs no stack frame for
 * it: an open ring pays only rk__op_begin's prep_key compare. */
static inline int rk__gate(const rk_ring *ring, uint32_t code, uint32_t flags)
{
	switch (ring->allowed[code]) {
	case RK_ALLOW_ANY:
		return 0;
	case RK_ALLOW_FIXED:
		return flags & RK_FIXED_FILE ? 0 : -EACCES;
	case RK_ALLOW_LATER:
		return -EBADFD;
	default:
		return -EACCES;
	}
}
/* A ring-level call that needs `flag` (RK_RESTRICT_FILES, _REGIONS,
 * _EVENTFD) once the ring is restricted: 0 or -EACCES. */
static inline int rk__restrict_call(const rk_ring *ring, uint32_t flag)
{
	return ring->gate == RK_GATE_RESTRICTED && !(ring->restrict_flags & flag) ? -EACCES : 0;
}
/* rk_submit, rk_reap: -EBADFD on a ring still waiting for rk_ring_restrict. */
static inline int rk__gate_disabled(const rk_ring *ring)
{
	return ring->gate == RK_GATE_DISABLED ? -EBADFD : 0;
}

/* region.c */
/* Frees a destroyed (zombie) region once nothing uses it; call it after
 * every release of a use. The region may be gone when it returns. */
RK_HIDDEN void rk__region_settle(rk_region *region);
/* A chunk's use by an op: taken when prepared, given back when released
 * (on every read or write of a chunk, hence inline). */
static inline void rk__region_pin(rk_region *region, int32_t chunk)
{
	region->inflight[chunk]++;
	region->inflight_total++;
}
static inline void rk__region_unpin(rk_region *region, int32_t chunk)
{
	region->inflight[chunk]--;
	region->inflight_total--;
	if (region->zombie)
		rk__region_settle(region);
}
/* The region's fixed-buffer index in the ring, or -1 when it is not
 * registered with it. Every read or write of a chunk asks: the last answer
 * is tried first. */
RK_HIDDEN int rk__ring_region_find(rk_ring *ring, rk_region *region);
/* True, with *index, when that answer needs no search of the ring's table
 * (no fixed buffers, or the hint is right). */
static inline bool rk__ring_region_hint(rk_ring *ring, rk_region *region, int *index)
{
	*index = -1;
	if (!ring->buffers_registered)
		return true;
	*index = (int)region->hint;
	return region->hint < RK_RING_MAX_REGIONS && ring->regions[region->hint] == region;
}
static inline int rk__ring_region_index(rk_ring *ring, rk_region *region)
{
	int index;
	return rk__ring_region_hint(ring, region, &index) ? index
	                                                 : rk__ring_region_find(ring, region);
}
RK_HIDDEN void rk__ring_drop_regions(rk_ring *ring);

/* bufring.c */
RK_HIDDEN void rk__group_release(rk_ring *ring, struct rk_op *op);
RK_HIDDEN void rk__group_took_chunk(rk_ring *ring, const struct rk_op *op, uint32_t cqe_flags);
RK_HIDDEN void rk__ring_drop_groups(rk_ring *ring, bool tell_kernel);
RK_HIDDEN void rk__put_chunk(struct rk_group *g, uint32_t chunk);
/* The index of the ring's group with id bgid, or -1. */
RK_HIDDEN int rk__group_index(rk_ring *ring, uint16_t bgid);
/* rk__op_begin_fd (ids.h) for a receive from buffer group `group`, whose
 * index goes to *g: -ENOENT, the slot given back, when there is none. */
RK_HIDDEN int64_t rk__op_begin_group(rk_ring *ring, uint32_t code, int fd, uint16_t group,
                                     uint32_t flags, struct rk_op **op,
                                     struct io_uring_sqe **sqe, int *g);

/* ops: argument checks shared by the prep files */
RK_HIDDEN int rk__copy_path(rk_ring *ring, struct rk_op *op, const char *path, const char **out);
RK_HIDDEN int rk__copy_paths(rk_ring *ring, struct rk_op *op, const char *a, const char *b,
                             const char **outa, const char **outb);

#endif
