/*
 * ringkit for Lua 5.4: one ring method per rk_prep_* of the core. Arguments
 * follow the C order after the ring; trailing ones are optional (flags 0,
 * offset -1 = current position, dfd nil = AT_FDCWD). Each returns the op id,
 * or nil, msg, errno. Also reachable as ring:prep_<name> (ring:prep_close for
 * the op that closes an fd, since ring:close closes the ring).
 *
 * Memory the kernel touches later is owned here until the final completion:
 * a string a write reads from is anchored by a registry reference; a read
 * without a region lands in a malloc'd buffer that comes back as a string
 * with the completion.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lringkit.h"

#define LRK_MAX_IOV 1024

static int dfd_arg(lua_State *L, int idx, lrk_anchors *a)
{
	if (lua_isnoneornil(L, idx))
		return AT_FDCWD;
	return lrk_fd_arg(L, idx, a);
}

static uint32_t len_arg(lua_State *L, int idx)
{
	lua_Integer n = luaL_checkinteger(L, idx);
	luaL_argcheck(L, n >= 0 && n <= (lua_Integer)UINT32_MAX, idx, "length out of range");
	return (uint32_t)n;
}

static void *xmalloc(lua_State *L, size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		luaL_error(L, "not enough memory");
	return p;
}

static int op_nop(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	int64_t id = rk_prep_nop(r->ring, lua_gettop(L) < 2 ? 0 : lrk_u32_arg(L, 2, 0));
	if (id >= 0) { /* the hot path: nothing to anchor */
		lua_pushinteger(L, (lua_Integer)id);
		return 1;
	}
	return lrk_fail(L, (int)id);
}

/* ring:read(fd, len [, offset [, flags]]): the data comes back as the
 * completion's third value. */
static int op_read(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	uint32_t len = len_arg(L, 3);
	int64_t off = lrk_i64_arg(L, 4, -1);
	uint32_t flags = lrk_u32_arg(L, 5, 0);
	void *buf = xmalloc(L, len);
	int ref = lrk_ref(L, &a);
	return lrk_commit_buf(L, r, rk_prep_read(r->ring, fd, buf, len, off, flags), ref, buf, len);
}

/* ring:write(fd, data [, offset [, flags]]): data (a string) is anchored
 * until the completion; the kernel reads it in place. */
static int op_write(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	size_t len;
	const char *s = luaL_checklstring(L, 3, &len);
	luaL_argcheck(L, len <= UINT32_MAX, 3, "string too long for one write");
	lrk_anchor(L, &a, 3);
	int64_t off = lrk_i64_arg(L, 4, -1);
	uint32_t flags = lrk_u32_arg(L, 5, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_write(r->ring, fd, s, (uint32_t)len, off, flags), ref,
	                  LRK_NONE, NULL);
}

/* ring:readv(fd, {len1, len2, ...} [, offset [, rw_flags [, flags]]]): one
 * binding buffer split into those iovecs; the data comes back as one string. */
static int op_readv(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	luaL_checktype(L, 3, LUA_TTABLE);
	lua_Integer n = (lua_Integer)lua_rawlen(L, 3);
	luaL_argcheck(L, n >= 1 && n <= LRK_MAX_IOV, 3, "1..1024 lengths expected");
	int64_t off = lrk_i64_arg(L, 4, -1);
	int32_t rwf = lrk_i32_arg(L, 5, 0);
	uint32_t flags = lrk_u32_arg(L, 6, 0);
	rk_iovec iov[LRK_MAX_IOV];
	uint64_t total = 0;
	for (lua_Integer i = 0; i < n; i++) {
		lua_rawgeti(L, 3, i + 1);
		lua_Integer l = lua_tointeger(L, -1);
		luaL_argcheck(L, lua_isinteger(L, -1) && l >= 0, 3, "lengths must be integers >= 0");
		lua_pop(L, 1);
		iov[i].len = (uint64_t)l;
		total += (uint64_t)l;
	}
	luaL_argcheck(L, total <= INT32_MAX, 3, "total length too large");
	char *buf = xmalloc(L, total);
	for (lua_Integer i = 0, pos = 0; i < n; i++) {
		iov[i].base = (uint64_t)(uintptr_t)(buf + pos);
		pos += (lua_Integer)iov[i].len;
	}
	int ref = lrk_ref(L, &a);
	return lrk_commit_buf(L, r, rk_prep_readv(r->ring, fd, iov, (uint32_t)n, off, rwf, flags), ref,
	                      buf, (uint32_t)total);
}

/* ring:writev(fd, {s1, s2, ...} [, offset [, rw_flags [, flags]]]): the
 * strings are anchored (a private copy of the list, so changing the table
 * afterwards cannot release them). */
static int op_writev(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	luaL_checktype(L, 3, LUA_TTABLE);
	lua_Integer n = (lua_Integer)lua_rawlen(L, 3);
	luaL_argcheck(L, n >= 1 && n <= LRK_MAX_IOV, 3, "1..1024 strings expected");
	int64_t off = lrk_i64_arg(L, 4, -1);
	int32_t rwf = lrk_i32_arg(L, 5, 0);
	uint32_t flags = lrk_u32_arg(L, 6, 0);
	rk_iovec iov[LRK_MAX_IOV];
	lua_createtable(L, (int)n, 0);
	int keep = lua_gettop(L);
	for (lua_Integer i = 0; i < n; i++) {
		lua_rawgeti(L, 3, i + 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_argerror(L, 3, "strings expected");
		size_t len;
		const char *s = lua_tolstring(L, -1, &len);
		iov[i].base = (uint64_t)(uintptr_t)s;
		iov[i].len = len;
		lua_rawseti(L, keep, i + 1);
	}
	lrk_anchor(L, &a, keep);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_writev(r->ring, fd, iov, (uint32_t)n, off, rwf, flags), ref,
	                  LRK_NONE, NULL);
}

/* ring:read_chunk(fd, region, chunk [, len [, offset [, flags]]]) and
 * write_chunk: zero-copy through a region chunk (len defaults to the chunk
 * size); the region is kept alive until the completion. */
static int chunk_op(lua_State *L, int write)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	lrk_region *g = lrk_check_region(L, 3);
	lrk_anchor(L, &a, 3);
	int32_t chunk = lrk_i32_arg(L, 4, -1);
	uint32_t len = lua_isnoneornil(L, 5) ? (uint32_t)rk_region_chunk_size(g->region) : len_arg(L, 5);
	int64_t off = lrk_i64_arg(L, 6, -1);
	uint32_t flags = lrk_u32_arg(L, 7, 0);
	int ref = lrk_ref(L, &a);
	int64_t id = write ? rk_prep_write_chunk(r->ring, fd, g->region, chunk, len, off, flags)
	                   : rk_prep_read_chunk(r->ring, fd, g->region, chunk, len, off, flags);
	return lrk_commit(L, r, id, ref, LRK_NONE, NULL);
}

static int op_read_chunk(lua_State *L) { return chunk_op(L, 0); }
static int op_write_chunk(lua_State *L) { return chunk_op(L, 1); }

/* ring:fsync(fd [, offset [, len [, flags]]]), ring:fdatasync(...) */
static int sync_op(lua_State *L, int data)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	int64_t off = lrk_i64_arg(L, 3, 0);
	uint32_t len = lrk_u32_arg(L, 4, 0);
	uint32_t flags = lrk_u32_arg(L, 5, 0);
	int ref = lrk_ref(L, &a);
	int64_t id = data ? rk_prep_fdatasync(r->ring, fd, off, len, flags)
	                  : rk_prep_fsync(r->ring, fd, off, len, flags);
	return lrk_commit(L, r, id, ref, LRK_NONE, NULL);
}

static int op_fsync(lua_State *L) { return sync_op(L, 0); }
static int op_fdatasync(lua_State *L) { return sync_op(L, 1); }

/* ring:openat(dfd, path [, oflags [, mode [, flags]]]): res is the new fd */
static int op_openat(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int dfd = dfd_arg(L, 2, &a);
	const char *path = luaL_checkstring(L, 3);
	int32_t oflags = lrk_i32_arg(L, 4, O_RDONLY);
	uint32_t mode = lrk_u32_arg(L, 5, 0644);
	uint32_t flags = lrk_u32_arg(L, 6, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_openat(r->ring, dfd, path, oflags | O_CLOEXEC, mode, flags),
	                  ref, LRK_OPEN, NULL);
}

/* ring:open(path [, oflags [, mode [, flags]]]) = openat(AT_FDCWD, ...) */
static int op_open(lua_State *L)
{
	lua_pushnil(L);
	lua_insert(L, 2);
	return op_openat(L);
}

/* ring:openat2(dfd, path [, oflags [, mode [, resolve [, flags]]]]) */
static int op_openat2(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int dfd = dfd_arg(L, 2, &a);
	const char *path = luaL_checkstring(L, 3);
	uint64_t oflags = (uint64_t)(uint32_t)lrk_i32_arg(L, 4, O_RDONLY) | O_CLOEXEC;
	uint64_t mode = (uint64_t)luaL_optinteger(L, 5, (oflags & (O_CREAT | O_TMPFILE)) ? 0644 : 0);
	uint64_t resolve = (uint64_t)luaL_optinteger(L, 6, 0);
	uint32_t flags = lrk_u32_arg(L, 7, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_openat2(r->ring, dfd, path, oflags, mode, resolve, flags),
	                  ref, LRK_OPEN, NULL);
}

/* ring:closefd(fd [, flags]) (also ring:prep_close) */
static int op_closefd(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	int fd = lrk_fd_arg(L, 2, NULL);
	return lrk_commit(L, r, rk_prep_close(r->ring, fd, lrk_u32_arg(L, 3, 0)), LUA_NOREF,
	                  LRK_NONE, NULL);
}

/* ring:statx(dfd, path [, at_flags [, mask [, flags]]]): the completion's
 * third value is a table (size, mode, mtime, ...). */
static int op_statx(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int dfd = dfd_arg(L, 2, &a);
	const char *path = luaL_checkstring(L, 3);
	int32_t at = lrk_i32_arg(L, 4, 0);
	uint32_t mask = lrk_u32_arg(L, 5, STATX_BASIC_STATS | STATX_BTIME);
	uint32_t flags = lrk_u32_arg(L, 6, 0);
	void *buf = xmalloc(L, RK_STATX_SIZE);
	memset(buf, 0, RK_STATX_SIZE);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_statx(r->ring, dfd, path, at, mask, buf, flags), ref,
	                  LRK_STATX, buf);
}

/* ring:unlinkat(dfd, path [, at_flags [, flags]]) */
static int op_unlinkat(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int dfd = dfd_arg(L, 2, &a);
	const char *path = luaL_checkstring(L, 3);
	int32_t at = lrk_i32_arg(L, 4, 0);
	uint32_t flags = lrk_u32_arg(L, 5, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_unlinkat(r->ring, dfd, path, at, flags), ref, LRK_NONE, NULL);
}

/* ring:mkdirat(dfd, path [, mode [, flags]]) */
static int op_mkdirat(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int dfd = dfd_arg(L, 2, &a);
	const char *path = luaL_checkstring(L, 3);
	uint32_t mode = lrk_u32_arg(L, 4, 0755);
	uint32_t flags = lrk_u32_arg(L, 5, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_mkdirat(r->ring, dfd, path, mode, flags), ref, LRK_NONE, NULL);
}

/* ring:renameat(olddfd, oldpath, newdfd, newpath [, rename_flags [, flags]]) */
static int op_renameat(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int od = dfd_arg(L, 2, &a);
	const char *op = luaL_checkstring(L, 3);
	int nd = dfd_arg(L, 4, &a);
	const char *np = luaL_checkstring(L, 5);
	uint32_t rf = lrk_u32_arg(L, 6, 0);
	uint32_t flags = lrk_u32_arg(L, 7, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_renameat(r->ring, od, op, nd, np, rf, flags), ref, LRK_NONE,
	                  NULL);
}

/* ring:linkat(olddfd, oldpath, newdfd, newpath [, at_flags [, flags]]) */
static int op_linkat(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int od = dfd_arg(L, 2, &a);
	const char *op = luaL_checkstring(L, 3);
	int nd = dfd_arg(L, 4, &a);
	const char *np = luaL_checkstring(L, 5);
	int32_t at = lrk_i32_arg(L, 6, 0);
	uint32_t flags = lrk_u32_arg(L, 7, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_linkat(r->ring, od, op, nd, np, at, flags), ref, LRK_NONE,
	                  NULL);
}

/* ring:symlinkat(target, newdfd, linkpath [, flags]) */
static int op_symlinkat(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	const char *target = luaL_checkstring(L, 2);
	int nd = dfd_arg(L, 3, &a);
	const char *lp = luaL_checkstring(L, 4);
	uint32_t flags = lrk_u32_arg(L, 5, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_symlinkat(r->ring, target, nd, lp, flags), ref, LRK_NONE,
	                  NULL);
}

/* ring:fallocate(fd, mode, offset, len [, flags]) */
static int op_fallocate(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	int32_t mode = lrk_i32_arg(L, 3, 0);
	int64_t off = (int64_t)luaL_checkinteger(L, 4);
	int64_t len = (int64_t)luaL_checkinteger(L, 5);
	uint32_t flags = lrk_u32_arg(L, 6, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_fallocate(r->ring, fd, mode, off, len, flags), ref, LRK_NONE,
	                  NULL);
}

/* ring:fadvise(fd, offset, len, advice [, flags]) */
static int op_fadvise(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	int64_t off = lrk_i64_arg(L, 3, 0);
	uint32_t len = lrk_u32_arg(L, 4, 0);
	int32_t advice = lrk_i32_arg(L, 5, 0);
	uint32_t flags = lrk_u32_arg(L, 6, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_fadvise(r->ring, fd, off, len, advice, flags), ref, LRK_NONE,
	                  NULL);
}

/* ring:splice(fd_in, off_in, fd_out, off_out, nbytes [, splice_flags [, flags]]) */
static int op_splice(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fin = lrk_fd_arg(L, 2, &a);
	int64_t oin = lrk_i64_arg(L, 3, -1);
	int fout = lrk_fd_arg(L, 4, &a);
	int64_t oout = lrk_i64_arg(L, 5, -1);
	uint32_t n = len_arg(L, 6);
	uint32_t sf = lrk_u32_arg(L, 7, 0);
	uint32_t flags = lrk_u32_arg(L, 8, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_splice(r->ring, fin, oin, fout, oout, n, sf, flags), ref,
	                  LRK_NONE, NULL);
}

/* ring:tee(fd_in, fd_out, nbytes [, splice_flags [, flags]]) */
static int op_tee(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fin = lrk_fd_arg(L, 2, &a);
	int fout = lrk_fd_arg(L, 3, &a);
	uint32_t n = len_arg(L, 4);
	uint32_t sf = lrk_u32_arg(L, 5, 0);
	uint32_t flags = lrk_u32_arg(L, 6, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_tee(r->ring, fin, fout, n, sf, flags), ref, LRK_NONE, NULL);
}

/* ring:poll_add(fd, mask [, flags]): res is the ready mask */
static int op_poll_add(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	uint32_t mask = lrk_u32_arg(L, 3, 0);
	uint32_t flags = lrk_u32_arg(L, 4, 0);
	int ref = lrk_ref(L, &a);
	return lrk_commit(L, r, rk_prep_poll_add(r->ring, fd, mask, flags), ref, LRK_NONE, NULL);
}

/* ring:timeout(ns [, count [, timeout_flags [, flags]]]) */
static int op_timeout(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	int64_t ns = (int64_t)luaL_checkinteger(L, 2);
	uint32_t count = lrk_u32_arg(L, 3, 0);
	uint32_t tf = lrk_u32_arg(L, 4, 0);
	uint32_t flags = lrk_u32_arg(L, 5, 0);
	return lrk_commit(L, r, rk_prep_timeout(r->ring, ns, count, tf, flags), LUA_NOREF, LRK_NONE,
	                  NULL);
}

/* ring:link_timeout(ns [, timeout_flags [, flags]]) */
static int op_link_timeout(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	int64_t ns = (int64_t)luaL_checkinteger(L, 2);
	uint32_t tf = lrk_u32_arg(L, 3, 0);
	uint32_t flags = lrk_u32_arg(L, 4, 0);
	return lrk_commit(L, r, rk_prep_link_timeout(r->ring, ns, tf, flags), LUA_NOREF, LRK_NONE,
	                  NULL);
}

/* ring:cancel(id), poll_remove(id), timeout_remove(id) [, flags] */
static int target_op(lua_State *L, int64_t (*prep)(rk_ring *, int64_t, uint32_t))
{
	lrk_ring *r = lrk_check_ring(L, 1);
	int64_t target = (int64_t)luaL_checkinteger(L, 2);
	uint32_t flags = lrk_u32_arg(L, 3, 0);
	return lrk_commit(L, r, prep(r->ring, target, flags), LUA_NOREF, LRK_NONE, NULL);
}

static int op_cancel(lua_State *L) { return target_op(L, rk_prep_cancel); }
static int op_poll_remove(lua_State *L) { return target_op(L, rk_prep_poll_remove); }
static int op_timeout_remove(lua_State *L) { return target_op(L, rk_prep_timeout_remove); }

/* ring:cancel_sync(id [, timeout_ns]) -> true | nil, msg, errno
 * Cancels without taking a slot (works with the op table full); the
 * target's own completion still comes through reap. */
static int op_cancel_sync(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	int64_t target = (int64_t)luaL_checkinteger(L, 2);
	int64_t timeout = (int64_t)luaL_optinteger(L, 3, -1);
	int ret = rk_cancel_sync(r->ring, target, timeout);
	if (ret < 0)
		return lrk_fail(L, ret);
	lua_pushboolean(L, 1);
	return 1;
}

const luaL_Reg lrk_ring_ops[] = {
	{"nop", op_nop},
	{"read", op_read},
	{"write", op_write},
	{"readv", op_readv},
	{"writev", op_writev},
	{"read_chunk", op_read_chunk},
	{"write_chunk", op_write_chunk},
	{"fsync", op_fsync},
	{"fdatasync", op_fdatasync},
	{"openat", op_openat},
	{"openat2", op_openat2},
	{"open", op_open},
	{"closefd", op_closefd},
	{"statx", op_statx},
	{"unlinkat", op_unlinkat},
	{"mkdirat", op_mkdirat},
	{"renameat", op_renameat},
	{"linkat", op_linkat},
	{"symlinkat", op_symlinkat},
	{"fallocate", op_fallocate},
	{"fadvise", op_fadvise},
	{"splice", op_splice},
	{"tee", op_tee},
	{"poll_add", op_poll_add},
	{"poll_remove", op_poll_remove},
	{"timeout", op_timeout},
	{"timeout_remove", op_timeout_remove},
	{"link_timeout", op_link_timeout},
	{"cancel", op_cancel},
	{"cancel_sync", op_cancel_sync},
	{NULL, NULL},
};
