/*
 * ringkit-lua-bench: a Lua 5.4 VM with ringkit linked in (as in the
 * embedding host) plus the C timing loop as the global c_nop_bench, so the
 * Lua loop and the C loop run in the same process on the same core code.
 *   ringkit-lua-bench nop.lua [args...]
 */
#include <stdio.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_ringkit(lua_State *L);
double rkbench_c_nop(uint32_t entries, uint32_t batch, uint64_t n);

static int l_c_nop(lua_State *L)
{
	lua_Integer entries = luaL_checkinteger(L, 1), batch = luaL_checkinteger(L, 2);
	lua_Integer n = luaL_checkinteger(L, 3);
	luaL_argcheck(L, entries > 0 && batch > 0 && n > 0, 1, "positive values expected");
	lua_pushnumber(L, rkbench_c_nop((uint32_t)entries, (uint32_t)batch, (uint64_t)n));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s nop.lua [args...]\n", argv[0]);
		return 2;
	}
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	luaL_requiref(L, "ringkit", luaopen_ringkit, 0);
	lua_pop(L, 1);
	lua_pushcfunction(L, l_c_nop);
	lua_setglobal(L, "c_nop_bench");
	lua_createtable(L, argc, 0);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i - 1);
	}
	lua_setglobal(L, "arg");
	int status = luaL_dofile(L, argv[1]);
	if (status != LUA_OK)
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
	lua_close(L);
	return status == LUA_OK ? 0 : 1;
}
