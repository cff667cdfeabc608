/*
 * ringkit for Lua 5.4: what every method shares — error returns, the
 * conversion of arguments, and the per-slot side table that keeps alive what
 * the kernel may still touch (see lringkit.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include <lualib.h>

#include "lringkit.h"

int lrk_fail(lua_State *L, int err)
{
	if (err > 0)
		err = -err;
	return lrk_fail_msg(L, -err, rk_strerror(err));
}

int lrk_fail_msg(lua_State *L, int err, const char *msg)
{
	lua_pushnil(L);
	lua_pushstring(L, msg);
	lua_pushinteger(L, err);
	return 3;
}

int lrk_count(lua_State *L, int64_t n)
{
	if (n < 0)
		return lrk_fail(L, (int)n);
	lua_pushinteger(L, (lua_Integer)n);
	return 1;
}

int lrk_true(lua_State *L, int ret)
{
	if (ret < 0)
		return lrk_fail(L, ret);
	lua_pushboolean(L, 1);
	return 1;
}

/* Every ring method carries the ring metatable as upvalue 1: comparing with
 * it is cheaper than luaL_checkudata's registry lookup on the hot path;
 * luaL_checkudata still produces the error. */
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

int64_t lrk_int(lua_State *L, int idx, int type, int def_ok, int64_t def)
{
	int isint;
	lua_Integer v = lua_tointegerx(L, idx, &isint);
	if (!isint) {
		if (def_ok && lua_isnoneornil(L, idx))
			return def;
		v = luaL_checkinteger(L, idx); /* raises, or converts a float like 1e6 */
	}
	switch (type) {
	case RK_ARG_S32: /* flag words (O_*, AT_*) may be written as unsigned values */
		if (v < INT32_MIN || v > (lua_Integer)UINT32_MAX)
			luaL_argerror(L, idx, "out of range for a 32-bit value");
		return (int32_t)(uint32_t)v;
	case RK_ARG_U32:
		if (v < 0 || v > (lua_Integer)UINT32_MAX)
			luaL_argerror(L, idx, "out of range for a 32-bit unsigned value");
		return v;
	case RK_ARG_U16:
		if (v < 0 || v > 65535)
			luaL_argerror(L, idx, "out of range 0..65535");
		return v;
	default:
		return v;
	}
}

void lrk_anchor(lua_State *L, lrk_anchors *a, int idx)
{
	if (a->n == LRK_MAX_ANCHORS)
		luaL_error(L, "ringkit: too many anchors for one op");
	a->idx[a->n++] = lua_absindex(L, idx);
}

/* A Lua file handle (io.open) or a ring is kept alive until the op
 * completes, so its fd cannot be closed and reused under the kernel's feet. */
int lrk_fd_arg(lua_State *L, int idx, lrk_anchors *a)
{
	if (lua_isinteger(L, idx)) {
		lua_Integer fd = lua_tointeger(L, idx);
		if (fd < INT32_MIN || fd > INT32_MAX)
			luaL_argerror(L, idx, "fd out of range");
		return (int)fd;
	}
	int fd;
	luaL_Stream *s = luaL_testudata(L, idx, LUA_FILEHANDLE);
	lrk_ring *r = s ? NULL : luaL_testudata(L, idx, LRK_RING_MT);
	if (s) {
		if (!s->closef || !s->f)
			luaL_argerror(L, idx, "attempt to use a closed file");
		fd = fileno(s->f);
	} else if (r) {
		if (!r->ring)
			luaL_argerror(L, idx, "target ring is closed");
		fd = rk_ring_fd(r->ring);
	} else {
		return (int)luaL_argerror(L, idx, "integer fd or file handle expected");
	}
	if (a)
		lrk_anchor(L, a, idx);
	return fd;
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

int lrk_commit(lua_State *L, lrk_ring *r, int64_t id, int ref, enum lrk_kind kind, void *buf,
               uint32_t cap)
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
		s->cap = cap;
	}
	lua_pushinteger(L, (lua_Integer)id);
	return 1;
}

void *lrk_malloc0(lua_State *L, size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (!p)
		luaL_error(L, "not enough memory");
	return p;
}

/* Sets or clears one reason (bit) for the ring to keep a region alive; the
 * entry goes when no reason is left. */
void lrk_keep_region(lua_State *L, int ring_idx, int region_idx, int bit, int on)
{
	ring_idx = lua_absindex(L, ring_idx);
	region_idx = lua_absindex(L, region_idx);
	lua_getiuservalue(L, ring_idx, 1);
	lua_pushvalue(L, region_idx);
	lua_rawget(L, -2);
	lua_Integer mask = lua_tointeger(L, -1); /* nil (absent) -> 0 */
	lua_pop(L, 1);
	mask = on ? (mask | bit) : (mask & ~(lua_Integer)bit);
	lua_pushvalue(L, region_idx);
	if (mask)
		lua_pushinteger(L, mask);
	else
		lua_pushnil(L);
	lua_rawset(L, -3);
	lua_pop(L, 1);
}

/* ring:<call>(region) for the calls that only take the pair and change why
 * the ring keeps the region: true | nil, msg, errno. */
int lrk_ring_region_call(lua_State *L, int (*call)(rk_ring *, rk_region *), int bit, int on)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_region *g = lrk_check_region(L, 2);
	int ret = call(r->ring, g->region);
	if (ret < 0)
		return lrk_fail(L, ret);
	lrk_keep_region(L, 1, 2, bit, on);
	lua_pushboolean(L, 1);
	return 1;
}
