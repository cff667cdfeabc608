/*
 * ringkit for Lua 5.4: regions, pinned memory outside the Lua heap carved into
 * chunks named by index. Chunk contents are reached by copying (region:read,
 * region:write): a chunk read by read_chunk and written back by write_chunk
 * never enters the Lua heap at all.
 */
#include <errno.h>
#include <string.h>

#include "lringkit.h"

lrk_region *lrk_check_region(lua_State *L, int idx)
{
	lrk_region *g = luaL_checkudata(L, idx, LRK_REGION_MT);
	if (!g->region)
		luaL_argerror(L, idx, "region is destroyed");
	return g;
}

/* rk.region(chunk_size, nchunks [, flags]) -> region | nil, msg, errno */
int lrk_region_new(lua_State *L)
{
	uint32_t size = lrk_u32_arg(L, 1, 0);
	uint32_t n = lrk_u32_arg(L, 2, 0);
	uint32_t flags = lrk_u32_arg(L, 3, 0);
	lrk_region *g = lua_newuserdatauv(L, sizeof *g, 0);
	g->region = NULL;
	luaL_setmetatable(L, LRK_REGION_MT);
	int err = rk_region_create(size, n, flags, &g->region);
	if (err < 0)
		return lrk_fail(L, err);
	return 1;
}

static int32_t chunk_arg(lua_State *L, lrk_region *g, int idx)
{
	lua_Integer c = luaL_checkinteger(L, idx);
	if (c < 0 || c >= rk_region_nchunks(g->region))
		luaL_argerror(L, idx, "chunk index out of range");
	return (int32_t)c;
}

/* region:alloc() -> chunk | nil, msg, errno (ENOBUFS when none is free) */
static int region_alloc(lua_State *L)
{
	lrk_region *g = lrk_check_region(L, 1);
	return lrk_count(L, rk_chunk_alloc(g->region));
}

/* region:free(chunk) -> true | nil, msg, errno (EBUSY in flight, EINVAL not allocated) */
static int region_free(lua_State *L)
{
	lrk_region *g = lrk_check_region(L, 1);
	return lrk_true(L, rk_chunk_free(g->region, (int32_t)luaL_checkinteger(L, 2)));
}

/* Checks [off, off+len) against the chunk size; len defaults to the rest. */
static void span_args(lua_State *L, lrk_region *g, int ilen, int ioff, size_t *len, size_t *off)
{
	lua_Integer size = rk_region_chunk_size(g->region);
	lua_Integer o = luaL_optinteger(L, ioff, 0);
	luaL_argcheck(L, o >= 0 && o <= size, ioff, "offset out of chunk");
	lua_Integer l = luaL_optinteger(L, ilen, size - o);
	luaL_argcheck(L, l >= 0 && l <= size - o, ilen, "length out of chunk");
	*len = (size_t)l;
	*off = (size_t)o;
}

/* region:read(chunk [, len [, offset]]) -> string (a copy of the bytes) */
static int region_read(lua_State *L)
{
	lrk_region *g = lrk_check_region(L, 1);
	int32_t c = chunk_arg(L, g, 2);
	size_t len, off;
	span_args(L, g, 3, 4, &len, &off);
	const char *p = rk_chunk_ptr(g->region, c);
	lua_pushlstring(L, p + off, len);
	return 1;
}

/* region:write(chunk, s [, offset]) -> bytes written. The caller must not
 * write a chunk while an op of the kernel uses it (as in C). */
static int region_write(lua_State *L)
{
	lrk_region *g = lrk_check_region(L, 1);
	int32_t c = chunk_arg(L, g, 2);
	size_t n;
	const char *s = luaL_checklstring(L, 3, &n);
	lua_Integer size = rk_region_chunk_size(g->region);
	lua_Integer off = luaL_optinteger(L, 4, 0);
	luaL_argcheck(L, off >= 0 && off <= size, 4, "offset out of chunk");
	luaL_argcheck(L, (lua_Integer)n <= size - off, 3, "string longer than the chunk");
	memcpy((char *)rk_chunk_ptr(g->region, c) + off, s, n);
	lua_pushinteger(L, (lua_Integer)n);
	return 1;
}

/* region:recvmsg_out(chunk, len, name_cap [, control_cap]) -> table of
 * offsets and lengths (name, name_len, control, control_len, payload,
 * payload_len, flags, name_total, payload_total) | nil, msg, errno */
static int region_recvmsg_out(lua_State *L)
{
	static const char *const keys[RK_RECVMSG_OUT_COUNT] = {
		"name", "name_len", "control", "control_len", "payload", "payload_len", "flags",
		"name_total", "payload_total"};
	lrk_region *g = lrk_check_region(L, 1);
	int32_t c = chunk_arg(L, g, 2);
	uint32_t len = lrk_u32_arg(L, 3, 0);
	uint32_t ncap = lrk_u32_arg(L, 4, 0);
	uint32_t ccap = lrk_u32_arg(L, 5, 0);
	uint32_t v[RK_RECVMSG_OUT_COUNT];
	int r = rk_recvmsg_out(g->region, c, len, ncap, ccap, v, RK_RECVMSG_OUT_COUNT);
	if (r < 0)
		return lrk_fail(L, r);
	lua_createtable(L, 0, RK_RECVMSG_OUT_COUNT);
	for (int i = 0; i < r; i++) {
		lua_pushinteger(L, v[i]);
		lua_setfield(L, -2, keys[i]);
	}
	return 1;
}

static int region_chunk_size(lua_State *L)
{
	lua_pushinteger(L, rk_region_chunk_size(lrk_check_region(L, 1)->region));
	return 1;
}

static int region_nchunks(lua_State *L)
{
	lua_pushinteger(L, rk_region_nchunks(lrk_check_region(L, 1)->region));
	return 1;
}

static int region_chunks_free(lua_State *L)
{
	lua_pushinteger(L, rk_region_chunks_free(lrk_check_region(L, 1)->region));
	return 1;
}

/* region:destroy() -> true | nil, msg, errno (EBUSY: a chunk is in flight or
 * the region is registered with an open ring: an explicit destroy does not
 * give up memory the kernel may still write). Idempotent. */
static int region_destroy(lua_State *L)
{
	lrk_region *g = luaL_checkudata(L, 1, LRK_REGION_MT);
	if (g->region) {
		if (rk_region_busy(g->region))
			return lrk_fail(L, -EBUSY);
		rk_region_destroy(g->region);
		g->region = NULL;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* Collected (or closed) while busy — registered with a ring collected in the
 * same cycle: the core frees it when that ring lets go. */
static int region_gc(lua_State *L)
{
	lrk_region *g = luaL_checkudata(L, 1, LRK_REGION_MT);
	if (g->region) {
		rk_region_destroy(g->region);
		g->region = NULL;
	}
	return 0;
}

static int region_tostring(lua_State *L)
{
	lrk_region *g = luaL_checkudata(L, 1, LRK_REGION_MT);
	if (!g->region)
		lua_pushfstring(L, "ringkit.region (%p, destroyed)", (void *)g);
	else
		lua_pushfstring(L, "ringkit.region (%p, %d chunks of %d bytes, %d free)", (void *)g,
		                (int)rk_region_nchunks(g->region), (int)rk_region_chunk_size(g->region),
		                (int)rk_region_chunks_free(g->region));
	return 1;
}

static const luaL_Reg region_methods[] = {
	{"alloc", region_alloc},
	{"free", region_free},
	{"read", region_read},
	{"write", region_write},
	{"chunk_size", region_chunk_size},
	{"recvmsg_out", region_recvmsg_out},
	{"nchunks", region_nchunks},
	{"chunks_free", region_chunks_free},
	{"destroy", region_destroy},
	{"close", region_destroy},
	{NULL, NULL},
};

void lrk_region_register_mt(lua_State *L)
{
	luaL_newmetatable(L, LRK_REGION_MT);
	lua_pushcfunction(L, region_gc);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, region_gc);
	lua_setfield(L, -2, "__close");
	lua_pushcfunction(L, region_tostring);
	lua_setfield(L, -2, "__tostring");
	luaL_newlib(L, region_methods);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
}
