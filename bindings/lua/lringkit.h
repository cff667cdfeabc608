/*
 * Internals shared by the files of the Lua 5.4 module `ringkit`.
 *
 * Ownership: a ring userdata owns a side table with one entry per op-table
 * slot (slot = id & 0xffffffff). An entry holds what the kernel may still
 * touch or what keeps the fd owner alive: a registry reference (a Lua string a
 * write reads from, a region a chunk op uses, a file handle) and/or a buffer
 * the binding allocated for a read. The entry is released only when the op's
 * final completion has been reaped, or after rk_ring_close() returned 0.
 *
 * Calls go one way: ringkit.c (module, ring) -> ops.c (op methods) ->
 * support.c (arguments, anchors, slots); cqe.c shapes completions, net.c
 * codes socket addresses.
 */
#ifndef LRINGKIT_H
#define LRINGKIT_H

#include <stdint.h>

#include <lua.h>
#include <lauxlib.h>

#include "ringkit.h"

#define LRK_RING_MT   "ringkit.ring"
#define LRK_REGION_MT "ringkit.region"

/* What a slot's buffer becomes in the completion's third value. */
enum lrk_kind {
	LRK_NONE = 0, /* third value: the CQE flags */
	LRK_BUF,      /* binding-owned read buffer: a string of res bytes */
	LRK_STATX,    /* binding-owned struct statx: a table */
	LRK_ACCEPT,   /* accept: binding-owned peer address (a string) */
	LRK_RECVMSG,  /* recvmsg: a binding-owned lrk_msgbuf; a table */
};

typedef struct lrk_slot {
	int ref;        /* LUA_NOREF or a registry reference to the anchored value(s) */
	uint8_t kind;   /* enum lrk_kind */
	uint32_t cap;   /* LRK_BUF: bytes of buf (a recv with MSG_TRUNC may report more) */
	void *buf;      /* malloc'd, owned by the binding until the final completion */
} lrk_slot;

/* What recvmsg's kernel-visible memory looks like: one allocation holding
 * the source address, the core's result array and the data. */
typedef struct lrk_msgbuf {
	uint32_t cap;     /* data bytes */
	uint32_t fds_cap; /* room for received descriptors */
	unsigned char name[RK_SOCKADDR_MAX];
	int32_t out[];    /* RK_MSG_FDS + fds_cap entries, then the data */
} lrk_msgbuf;

typedef struct lrk_ring {
	rk_ring *ring;     /* NULL once closed */
	lrk_slot *slots;   /* capacity entries */
	uint32_t capacity;
	rk_cqe *cqes;      /* reusable completion array */
	uint32_t ncqes;
	int leaked;        /* rk_ring_close timed out: anchors are kept forever */
} lrk_ring;

typedef struct lrk_region {
	rk_region *region; /* NULL once destroyed (the core frees it when its last use ends) */
} lrk_region;

/* Up to LRK_MAX_ANCHORS stack values to keep alive until an op completes. */
#define LRK_MAX_ANCHORS 4
typedef struct lrk_anchors {
	int n;
	int idx[LRK_MAX_ANCHORS];
} lrk_anchors;

/* support.c: errors, argument conversion, anchors and slots */
lrk_ring *lrk_check_ring(lua_State *L, int idx);
int lrk_fail(lua_State *L, int err);
/* nil, msg, errno (errno positive). */
int lrk_fail_msg(lua_State *L, int err, const char *msg);
int lrk_true(lua_State *L, int ret); /* true, or lrk_fail(ret) when ret < 0 */
int lrk_count(lua_State *L, int64_t n); /* n, or lrk_fail(n) when n < 0 */
/* The integer at idx (def when nil and def_ok) as C type `type` (RK_ARG_*):
 * raises when it does not fit. Every integer argument goes through here. */
int64_t lrk_int(lua_State *L, int idx, int type, int def_ok, int64_t def);
#define lrk_u32_arg(L, idx, def) ((uint32_t)lrk_int(L, idx, RK_ARG_U32, 1, def))
#define lrk_i32_arg(L, idx, def) ((int32_t)lrk_int(L, idx, RK_ARG_S32, 1, def))
/* An fd: an integer, a Lua file handle or a ring (its fd); the handle or
 * ring is anchored in a (when a is not NULL). */
int lrk_fd_arg(lua_State *L, int idx, lrk_anchors *a);
void lrk_anchor(lua_State *L, lrk_anchors *a, int idx);
int lrk_ref(lua_State *L, const lrk_anchors *a);
/* Records an op's anchors (ref), slot kind and buffer; pushes the id, or
 * releases them and pushes nil, msg, errno when id < 0. */
int lrk_commit(lua_State *L, lrk_ring *r, int64_t id, int ref, enum lrk_kind kind, void *buf,
               uint32_t cap);
void lrk_release_slot(lua_State *L, lrk_slot *s);
void *lrk_malloc0(lua_State *L, size_t n);
/* The ring's user value maps region -> bit mask of why the ring keeps it
 * alive (LRK_KEEP_*). */
#define LRK_KEEP_REGISTERED 1
#define LRK_KEEP_PROVIDED   2
void lrk_keep_region(lua_State *L, int ring_idx, int region_idx, int bit, int on);
int lrk_ring_region_call(lua_State *L, int (*call)(rk_ring *, rk_region *), int bit, int on);

/* ops.c: every op of the table as a ring method (and as prep_<name>). */
void lrk_register_ops(lua_State *L);
/* The RK_OP_* whose row in the op table is named name, or RK_OP_COUNT. */
uint32_t lrk_op_code(const char *name);

/* cqe.c: a completion's third value. */
void lrk_push_extra(lua_State *L, lrk_ring *r, const rk_cqe *c);

/* net.c: socket addresses, the ring's buffer-group methods, module functions
 * (addresses, socketpair, signals). */
extern const luaL_Reg lrk_ring_group_methods[];
extern const luaL_Reg lrk_net_funcs[];
/* The address at idx (host) and idx + 1 (port): IPv4/IPv6 with a port, a
 * unix path without. Raises on wrong types; returns 0 or -errno with a
 * message pushed. */
struct sockaddr_storage;
int lrk_addr_args(lua_State *L, int idx, struct sockaddr_storage *ss, unsigned int *len);
/* The length of the address in a zero-filled sockaddr_storage (accept's peer). */
size_t lrk_sockaddr_len(const void *storage);

/* region.c */
lrk_region *lrk_check_region(lua_State *L, int idx);
int lrk_region_new(lua_State *L);
void lrk_region_register_mt(lua_State *L);

#endif
