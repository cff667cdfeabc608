/*
 * ringkit for Lua 5.4: sendmsg/recvmsg with descriptor passing, zero-copy
 * sends, the registered file table with its direct ops, and messages between
 * rings.
 *
 * Anchoring follows ops.c: what the kernel reads (the strings sent, a file
 * handle passed as fd, the target ring of a message) is held by the op's
 * slot until the op's final completion — for a zero-copy send that is the
 * notification (flags with RK_CQE_F_NOTIF), not the result before it. What
 * the kernel writes for recvmsg (data, source address, the core's result
 * array) is one binding-owned allocation that comes back decoded as a table:
 *   { data = string, addr = string | nil, fds = { int, ... }, flags = int }
 * Received descriptors are the caller's (close-on-exec); if the ring is
 * closed before a completion carrying some was handed out, they are closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lringkit.h"

#define LRK_MSG_MAX_BYTES INT32_MAX

/* ------------------------------------------------------------------------ */
/* sendmsg / recvmsg                                                        */
/* ------------------------------------------------------------------------ */

/* The data argument of a send: a string (one iovec) or a list of strings
 * (0..RK_MSG_IOV_MAX iovecs). Fills iov and anchors what it points into: the
 * string itself, or a private copy of the list (so changing the table
 * afterwards cannot release a string). Returns the iovec count. */
static uint32_t data_iov(lua_State *L, int idx, rk_iovec *iov, lrk_anchors *a)
{
	if (lua_type(L, idx) == LUA_TSTRING) {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		luaL_argcheck(L, len <= LRK_MSG_MAX_BYTES, idx, "string too long for one message");
		iov[0].base = (uint64_t)(uintptr_t)s;
		iov[0].len = len;
		lrk_anchor(L, a, idx);
		return 1;
	}
	if (!lua_istable(L, idx))
		return (uint32_t)luaL_argerror(L, idx, "string or list of strings expected");
	lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
	luaL_argcheck(L, n <= RK_MSG_IOV_MAX, idx, "at most 512 strings");
	lua_createtable(L, (int)n, 0);
	int keep = lua_gettop(L);
	uint64_t total = 0;
	for (lua_Integer i = 0; i < n; i++) {
		lua_rawgeti(L, idx, i + 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_argerror(L, idx, "strings expected");
		size_t len;
		const char *s = lua_tolstring(L, -1, &len);
		iov[i].base = (uint64_t)(uintptr_t)s;
		iov[i].len = len;
		total += len;
		lua_rawseti(L, keep, i + 1);
	}
	luaL_argcheck(L, total <= LRK_MSG_MAX_BYTES, idx, "strings too long for one message");
	lrk_anchor(L, a, keep);
	return (uint32_t)n;
}

/* A list of fds (integers) at idx, nil for none: copied into out (the core
 * copies it again). Returns the count. */
static uint32_t fds_arg(lua_State *L, int idx, int32_t *out, uint32_t max)
{
	if (lua_isnoneornil(L, idx))
		return 0;
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
	luaL_argcheck(L, n <= (lua_Integer)max, idx, "too many fds");
	for (lua_Integer i = 0; i < n; i++) {
		lua_rawgeti(L, idx, i + 1);
		int isint;
		lua_Integer fd = lua_tointegerx(L, -1, &isint);
		if (!isint || fd < INT32_MIN || fd > INT32_MAX)
			luaL_argerror(L, idx, "a list of integer fds expected");
		out[i] = (int32_t)fd;
		lua_pop(L, 1);
	}
	return (uint32_t)n;
}

/* ring:sendmsg(fd, data [, host [, port [, fds [, msg_flags [, flags]]]]])
 * and ring:sendmsg_zc(...): data a string or a list of strings (gathered);
 * host + port the destination (an IPv4/IPv6 address with a port, a unix
 * path without; nil on a connected socket); fds a list of integer fds sent
 * as SCM_RIGHTS (keep them open until the completion). MSG_NOSIGNAL is
 * always added. res is the number of bytes sent. The zero-copy variant
 * completes twice (result with MORE, then the notification) and holds data
 * until the notification. */
static int sendmsg_op(lua_State *L, int zc)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lua_settop(L, 8); /* data_iov pushes: arguments keep their indices */
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	rk_iovec iov[RK_MSG_IOV_MAX];
	uint32_t niov = data_iov(L, 3, iov, &a);
	struct sockaddr_storage ss;
	socklen_t alen = 0;
	if (!lua_isnoneornil(L, 4)) {
		int err = lrk_addr_args(L, 4, &ss, &alen);
		if (err < 0)
			return lrk_fail_msg(L, -err, lua_tostring(L, -1));
	} else if (!lua_isnoneornil(L, 5)) {
		return luaL_argerror(L, 4, "a host is needed with a port");
	}
	int32_t fds[RK_MSG_FDS_MAX];
	uint32_t nfds = fds_arg(L, 6, fds, RK_MSG_FDS_MAX);
	int32_t mf = lrk_i32_arg(L, 7, 0) | MSG_NOSIGNAL;
	uint32_t flags = lrk_u32_arg(L, 8, 0);
	int ref = lrk_ref(L, &a);
	const void *addr = alen ? (const void *)&ss : NULL;
	int64_t id = zc ? rk_prep_sendmsg_zc(r->ring, fd, iov, niov, addr, alen, nfds ? fds : NULL,
	                                     nfds, mf, flags)
	                : rk_prep_sendmsg(r->ring, fd, iov, niov, addr, alen, nfds ? fds : NULL, nfds,
	                                  mf, flags);
	return lrk_commit(L, r, id, ref, LRK_NONE, NULL);
}

static int op_sendmsg(lua_State *L) { return sendmsg_op(L, 0); }
static int op_sendmsg_zc(lua_State *L) { return sendmsg_op(L, 1); }

static char *msg_data(lrk_msgbuf *m)
{
	return (char *)&m->out[RK_MSG_FDS + m->fds_cap];
}

/* ring:recvmsg(fd, len [, fds_cap [, msg_flags [, flags]]]): len an integer
 * or a list of lengths (scattered, then joined); fds_cap how many received
 * descriptors to take (0..253, default 0: any sent are dropped and
 * MSG_CTRUNC set). MSG_CMSG_CLOEXEC is always added. The completion's third
 * value is a table: data (res bytes, or the buffer's worth when MSG_TRUNC
 * made res larger), addr (the source address as a string for
 * rk.decode_sockaddr, nil when the kernel gave none), fds (a list of the
 * received descriptors, yours to close) and flags (MSG_TRUNC, MSG_CTRUNC,
 * ...). */
static int op_recvmsg(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	rk_iovec iov[RK_MSG_IOV_MAX];
	uint32_t niov;
	uint64_t total = 0;
	if (lua_istable(L, 3)) {
		lua_Integer n = (lua_Integer)lua_rawlen(L, 3);
		luaL_argcheck(L, n <= RK_MSG_IOV_MAX, 3, "at most 512 lengths");
		for (lua_Integer i = 0; i < n; i++) {
			lua_rawgeti(L, 3, i + 1);
			int isint;
			lua_Integer l = lua_tointegerx(L, -1, &isint);
			luaL_argcheck(L, isint && l >= 0, 3, "lengths must be integers >= 0");
			lua_pop(L, 1);
			iov[i].len = (uint64_t)l;
			total += (uint64_t)l;
			luaL_argcheck(L, total <= LRK_MSG_MAX_BYTES, 3, "total length too large");
		}
		niov = (uint32_t)n;
	} else {
		lua_Integer l = luaL_checkinteger(L, 3);
		luaL_argcheck(L, l >= 0 && l <= LRK_MSG_MAX_BYTES, 3, "length out of range");
		total = (uint64_t)l;
		iov[0].len = total;
		niov = 1;
	}
	lua_Integer cap = luaL_optinteger(L, 4, 0);
	luaL_argcheck(L, cap >= 0 && cap <= RK_MSG_FDS_MAX, 4, "fds_cap out of range 0..253");
	int32_t mf = lrk_i32_arg(L, 5, 0) | MSG_CMSG_CLOEXEC;
	uint32_t flags = lrk_u32_arg(L, 6, 0);
	size_t head = sizeof(lrk_msgbuf) + sizeof(int32_t) * (RK_MSG_FDS + (size_t)cap);
	lrk_msgbuf *m = calloc(1, head + (size_t)total + 1);
	if (!m)
		return luaL_error(L, "not enough memory");
	m->cap = (uint32_t)total;
	m->fds_cap = (uint32_t)cap;
	char *data = msg_data(m);
	for (uint32_t i = 0, pos = 0; i < niov; i++) {
		iov[i].base = (uint64_t)(uintptr_t)(data + pos);
		pos += (uint32_t)iov[i].len;
	}
	int ref = lrk_ref(L, &a);
	int64_t id = rk_prep_recvmsg(r->ring, fd, iov, niov, m->name, sizeof m->name, m->out,
	                             m->fds_cap, mf, flags);
	return lrk_commit(L, r, id, ref, LRK_RECVMSG, m);
}

void lrk_push_msg(lua_State *L, const lrk_msgbuf *m, int32_t res)
{
	lua_createtable(L, 0, 4);
	size_t n = (uint32_t)res < m->cap ? (size_t)res : m->cap;
	lua_pushlstring(L, msg_data((lrk_msgbuf *)m), n);
	lua_setfield(L, -2, "data");
	int32_t namelen = m->out[RK_MSG_NAMELEN];
	if (namelen > 0) {
		lua_pushlstring(L, (const char *)m->name,
		                (size_t)namelen < sizeof m->name ? (size_t)namelen : sizeof m->name);
		lua_setfield(L, -2, "addr");
	}
	int32_t nfds = m->out[RK_MSG_NFDS];
	if (nfds < 0 || (uint32_t)nfds > m->fds_cap)
		nfds = 0;
	lua_createtable(L, nfds, 0);
	for (int32_t i = 0; i < nfds; i++) {
		lua_pushinteger(L, m->out[RK_MSG_FDS + i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "fds");
	lua_pushinteger(L, m->out[RK_MSG_FLAGS] & ~MSG_CMSG_CLOEXEC); /* ours, not news */
	lua_setfield(L, -2, "flags");
}

/* ring:send_zc(fd, data [, msg_flags [, zc_flags [, flags]]]): a zero-copy
 * send. Two completions: the result (bytes sent, flags with MORE), then the
 * notification (flags with NOTIF, no MORE; res 0, or with
 * RK_NOTIF_USAGE_ZC_COPIED set — negative as an int32 — under
 * RK_SEND_ZC_REPORT_USAGE when the kernel copied after all). data stays
 * anchored until the notification. MSG_NOSIGNAL is always added. */
static int op_send_zc(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	size_t len;
	const char *s = luaL_checklstring(L, 3, &len);
	luaL_argcheck(L, len <= UINT32_MAX, 3, "string too long for one send");
	lrk_anchor(L, &a, 3);
	int32_t mf = lrk_i32_arg(L, 4, 0) | MSG_NOSIGNAL;
	uint32_t zcf = lrk_u32_arg(L, 5, 0);
	uint32_t flags = lrk_u32_arg(L, 6, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_send_zc(r->ring, fd, s, (uint32_t)len, mf, zcf, flags), ref,
	                  LRK_NONE, NULL);
}

/* ------------------------------------------------------------------------ */
/* Registered files and direct ops                                          */
/* ------------------------------------------------------------------------ */

static uint32_t index_arg(lua_State *L, int idx)
{
	return lrk_u32_arg(L, idx, RK_FILE_INDEX_ALLOC);
}

/* ring:register_files(nslots) -> true | nil, msg, errno */
static int ring_register_files(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	int ret = rk_ring_register_files(r->ring, lrk_u32_arg(L, 2, 0));
	if (ret < 0)
		return lrk_fail(L, ret);
	lua_pushboolean(L, 1);
	return 1;
}

/* ring:update_files(offset, fds) -> slots processed | nil, msg, errno. fds:
 * a list of integers: an fd puts its file in the slot (close the fd
 * afterwards if you like), -1 empties the slot, rk.RK_FILES_SKIP leaves it. */
static int ring_update_files(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	uint32_t off = lrk_u32_arg(L, 2, 0);
	luaL_checktype(L, 3, LUA_TTABLE);
	lua_Integer n = (lua_Integer)lua_rawlen(L, 3);
	luaL_argcheck(L, n <= (lua_Integer)RK_FILES_MAX, 3, "too many fds");
	int32_t *fds = lua_newuserdatauv(L, sizeof(int32_t) * (size_t)(n ? n : 1), 0);
	for (lua_Integer i = 0; i < n; i++) {
		lua_rawgeti(L, 3, i + 1);
		int isint;
		lua_Integer fd = lua_tointegerx(L, -1, &isint);
		if (!isint || fd < INT32_MIN || fd > INT32_MAX)
			luaL_argerror(L, 3, "a list of integer fds expected");
		fds[i] = (int32_t)fd;
		lua_pop(L, 1);
	}
	int ret = rk_ring_update_files(r->ring, off, fds, (uint32_t)n);
	if (ret < 0)
		return lrk_fail(L, ret);
	lua_pushinteger(L, ret);
	return 1;
}

/* ring:unregister_files() -> true | nil, msg, errno (ENXIO: no table) */
static int ring_unregister_files(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	int ret = rk_ring_unregister_files(r->ring);
	if (ret < 0)
		return lrk_fail(L, ret);
	lua_pushboolean(L, 1);
	return 1;
}

/* ring:openat_direct(dfd, path [, oflags [, mode [, file_index [, flags]]]]):
 * opens into a slot of the file table (file_index nil: any free one; res is
 * then the slot, else 0). No fd is allocated, and no O_CLOEXEC is added. */
static int op_openat_direct(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int dfd = lua_isnoneornil(L, 2) ? AT_FDCWD : lrk_fd_arg(L, 2, &a);
	const char *path = luaL_checkstring(L, 3);
	int32_t oflags = lrk_i32_arg(L, 4, O_RDONLY);
	uint32_t mode = lrk_u32_arg(L, 5, 0644);
	uint32_t index = index_arg(L, 6);
	uint32_t flags = lrk_u32_arg(L, 7, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_openat_direct(r->ring, dfd, path, oflags, mode, index, flags),
	                  ref, LRK_NONE, NULL);
}

/* ring:open_direct(path [, oflags [, mode [, file_index [, flags]]]]) */
static int op_open_direct(lua_State *L)
{
	lua_pushnil(L);
	lua_insert(L, 2);
	return op_openat_direct(L);
}

/* ring:accept_direct(fd [, file_index [, accept_flags [, flags]]]) */
static int op_accept_direct(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	uint32_t index = index_arg(L, 3);
	int32_t af = lrk_i32_arg(L, 4, 0);
	uint32_t flags = lrk_u32_arg(L, 5, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_accept_direct(r->ring, fd, index, af, flags), ref, LRK_NONE,
	                  NULL);
}

/* ring:accept_multishot_direct(fd [, accept_flags [, flags]]): each
 * completion's res is the slot of a new connection. */
static int op_accept_multishot_direct(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	int32_t af = lrk_i32_arg(L, 3, 0);
	uint32_t flags = lrk_u32_arg(L, 4, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_accept_multishot_direct(r->ring, fd, af, flags), ref, LRK_NONE,
	                  NULL);
}

/* ring:socket_direct(domain [, type [, protocol [, file_index [, flags]]]]) */
static int op_socket_direct(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	int32_t domain = lrk_i32_arg(L, 2, AF_INET);
	int32_t type = lrk_i32_arg(L, 3, SOCK_STREAM);
	int32_t proto = lrk_i32_arg(L, 4, 0);
	uint32_t index = index_arg(L, 5);
	uint32_t flags = lrk_u32_arg(L, 6, 0);
	return lrk_commit(L, r, rk_prep_socket_direct(r->ring, domain, type, proto, index, flags),
	                  LUA_NOREF, LRK_NONE, NULL);
}

/* ring:close_fixed(slot [, flags]) */
static int op_close_fixed(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	luaL_checkinteger(L, 2);
	uint32_t slot = lrk_u32_arg(L, 2, 0);
	return lrk_commit(L, r, rk_prep_close_fixed(r->ring, slot, lrk_u32_arg(L, 3, 0)), LUA_NOREF,
	                  LRK_NONE, NULL);
}

/* ring:fixed_fd_install(slot [, install_flags [, flags]]): res is a new fd
 * of the process for the slot's file (close-on-exec unless install_flags is
 * rk.RK_FIXED_FD_NO_CLOEXEC); closed if the ring is torn down first. */
static int op_fixed_fd_install(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	luaL_checkinteger(L, 2);
	uint32_t slot = lrk_u32_arg(L, 2, 0);
	uint32_t inst = lrk_u32_arg(L, 3, 0);
	uint32_t flags = lrk_u32_arg(L, 4, 0);
	return lrk_commit(L, r, rk_prep_fixed_fd_install(r->ring, slot, inst, flags), LUA_NOREF,
	                  LRK_OPEN, NULL);
}

/* ------------------------------------------------------------------------ */
/* Messages between rings                                                   */
/* ------------------------------------------------------------------------ */

/* ring:msg_ring(target, value [, res [, flags]]): posts (value, res) to the
 * target ring — a ring object (kept alive until this op completes) or the
 * integer fd of one (ring:fd()). RK_FIXED_FILE in flags makes the integer a
 * slot of this ring's file table, but the kernel refuses to register ring
 * fds there (update_files gives EBADF), so such a slot never names a ring.
 * value 0..RK_MSG_VALUE_MAX (else nil, msg, EINVAL), res a 32-bit integer
 * (default 0). This op's own completion: res 0 once posted, -EBADFD when the
 * target is not a ring, -EOVERFLOW when its CQ is full. The target's reap
 * returns the message as a record with a negative id, res as sent and the
 * value as the third value. */
static int op_msg_ring(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int target;
	lrk_ring *t = luaL_testudata(L, 2, LRK_RING_MT);
	if (t) {
		if (!t->ring)
			return luaL_argerror(L, 2, "target ring is closed");
		target = rk_ring_fd(t->ring);
		lrk_anchor(L, &a, 2);
	} else {
		lua_Integer fd = luaL_checkinteger(L, 2);
		luaL_argcheck(L, fd >= INT32_MIN && fd <= INT32_MAX, 2, "fd out of range");
		target = (int)fd;
	}
	int64_t value = (int64_t)luaL_checkinteger(L, 3);
	int32_t res = lrk_i32_arg(L, 4, 0);
	uint32_t flags = lrk_u32_arg(L, 5, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_msg_ring(r->ring, target, value, res, flags), ref, LRK_NONE,
	                  NULL);
}

const luaL_Reg lrk_ring_msg_ops[] = {
	{"sendmsg", op_sendmsg},
	{"sendmsg_zc", op_sendmsg_zc},
	{"recvmsg", op_recvmsg},
	{"send_zc", op_send_zc},
	{"openat_direct", op_openat_direct},
	{"open_direct", op_open_direct},
	{"accept_direct", op_accept_direct},
	{"accept_multishot_direct", op_accept_multishot_direct},
	{"socket_direct", op_socket_direct},
	{"close_fixed", op_close_fixed},
	{"fixed_fd_install", op_fixed_fd_install},
	{"msg_ring", op_msg_ring},
	{NULL, NULL},
};

const luaL_Reg lrk_ring_file_methods[] = {
	{"register_files", ring_register_files},
	{"update_files", ring_update_files},
	{"unregister_files", ring_unregister_files},
	{NULL, NULL},
};
