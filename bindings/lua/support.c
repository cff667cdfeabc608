/*
 * ringkit for Lua 5.4: what every method shares — error returns, argument
 * checks, and the per-slot side table that keeps alive what the kernel may
 * still touch (see lringkit.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include <lualib.h>

#include "lringkit.h"

int lrk_fail(lua_State *L, int err)
{
	if (err > 0)
		err = -err;
	lua_pushnil(L);
	lua_pushstring(L, rk_strerror(err));
	lua_pushinteger(L, -err);
	return 3;
}

/* Every ring method carries the ring metatable as upvalue 1: comparing with
 * it is cheaper than luaL_checkudata's registry lookup on the hot path (a
 * NOP costs about 100 ns from Lua); luaL_checkudata still produces the error. */
lrk_ring *lrk_check_ring(lua_State *L, int idx)
{
	lrk_ring *r = lua_touserdata(L, idx);
	if (r && lua_getmetatable(L, idx)) {
		int same = lua_rawequal(L, -1, lua_upvalueindex(1));
		lua_pop(L, 1);
		if (!same)
			r = NULL;
	} else {
		r = NULL;
	}
	if (!r)
		r = luaL_checkudata(L, idx, LRK_RING_MT);
	if (!r->ring)
		luaL_argerror(L, idx, "ring is closed");
	return r;
}

uint32_t lrk_u32_arg(lua_State *L, int idx, lua_Integer def)
{
	lua_Integer v = luaL_optinteger(L, idx, def);
	if (v < 0 || v > (lua_Integer)UINT32_MAX)
		luaL_argerror(L, idx, "out of range for a 32-bit unsigned value");
	return (uint32_t)v;
}

int32_t lrk_i32_arg(lua_State *L, int idx, lua_Integer def)
{
	lua_Integer v = luaL_optinteger(L, idx, def);
	/* Flag words (O_*, AT_*) may be written as unsigned 32-bit values. */
	if (v < INT32_MIN || v > (lua_Integer)UINT32_MAX)
		luaL_argerror(L, idx, "out of range for a 32-bit value");
	return (int32_t)(uint32_t)v;
}

int64_t lrk_i64_arg(lua_State *L, int idx, lua_Integer def)
{
	return (int64_t)luaL_optinteger(L, idx, def);
}

void lrk_anchor(lua_State *L, lrk_anchors *a, int idx)
{
	if (a->n == LRK_MAX_ANCHORS)
		luaL_error(L, "ringkit: too many anchors for one op");
	a->idx[a->n++] = lua_absindex(L, idx);
}

/* An fd argument: an integer, or a Lua file handle (io.open), which is then
 * kept alive until the op completes so its fd cannot be closed and reused
 * under the kernel's feet. */
int lrk_fd_arg(lua_State *L, int idx, lrk_anchors *a)
{
	if (lua_isinteger(L, idx)) {
		lua_Integer fd = lua_tointeger(L, idx);
		if (fd < INT32_MIN || fd > INT32_MAX)
			luaL_argerror(L, idx, "fd out of range");
		return (int)fd;
	}
	luaL_Stream *s = luaL_testudata(L, idx, LUA_FILEHANDLE);
	if (!s)
		return (int)luaL_argerror(L, idx, "integer fd or file handle expected");
	if (!s->closef || !s->f)
		luaL_argerror(L, idx, "attempt to use a closed file");
	if (a)
		lrk_anchor(L, a, idx);
	return fileno(s->f);
}

/* One registry reference to everything an op anchors (a table when more
 * than one value), taken before the prep so a memory error cannot leave an
 * op in the kernel with nothing holding its buffer. */
int lrk_ref(lua_State *L, const lrk_anchors *a)
{
	if (a->n == 0)
		return LUA_NOREF;
	if (a->n == 1) {
		lua_pushvalue(L, a->idx[0]);
	} else {
		lua_createtable(L, a->n, 0);
		for (int i = 0; i < a->n; i++) {
			lua_pushvalue(L, a->idx[i]);
			lua_rawseti(L, -2, i + 1);
		}
	}
	return luaL_ref(L, LUA_REGISTRYINDEX);
}

void lrk_release_slot(lua_State *L, lrk_slot *s)
{
	if (s->ref != LUA_NOREF) {
		luaL_unref(L, LUA_REGISTRYINDEX, s->ref);
		s->ref = LUA_NOREF;
	}
	free(s->buf);
	s->buf = NULL;
	s->kind = LRK_NONE;
}

int lrk_commit(lua_State *L, lrk_ring *r, int64_t id, int ref, enum lrk_kind kind, void *buf)
{
	if (id < 0) {
		if (ref != LUA_NOREF)
			luaL_unref(L, LUA_REGISTRYINDEX, ref);
		free(buf);
		return lrk_fail(L, (int)id);
	}
	if (ref != LUA_NOREF || buf || kind != LRK_NONE) {
		lrk_slot *s = &r->slots[(uint32_t)id];
		s->ref = ref;
		s->kind = (uint8_t)kind;
		s->buf = buf;
	}
	lua_pushinteger(L, (lua_Integer)id);
	return 1;
}

int lrk_commit_buf(lua_State *L, lrk_ring *r, int64_t id, int ref, void *buf, uint32_t cap)
{
	int n = lrk_commit(L, r, id, ref, LRK_BUF, buf);
	if (id >= 0)
		r->slots[(uint32_t)id].cap = cap;
	return n;
}
