/*
 * ringkit-lua-host: the "embed in a VM" path. A host program creates a Lua
 * 5.4 VM, links the ringkit module in statically (no ringkit.so and no
 * libringkit.so on any search path), preloads it with luaL_requiref, preloads
 * the coroutine loop `ringkit.loop` from a copy of loop.lua compiled into the
 * binary, and runs the script named on the command line:
 *
 *   ringkit-lua-host script.lua [args...]     (arg[0] = script, arg[1..] = args)
 *
 * Exit status: 0 when the script ran to the end, 1 on a Lua error (printed
 * with a traceback), or the integer a script passes to os.exit.
 */
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_ringkit(lua_State *L);
extern const char lrk_loop_lua[];
extern const size_t lrk_loop_lua_len;

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
	return 1;
}

static int load_loop(lua_State *L)
{
	if (luaL_loadbuffer(L, lrk_loop_lua, lrk_loop_lua_len, "=ringkit/loop.lua") != LUA_OK)
		return lua_error(L);
	lua_pushvalue(L, 1); /* the module name, as require passes it */
	lua_call(L, 1, 1);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s script.lua [args...]\n", argv[0]);
		return 2;
	}
	lua_State *L = luaL_newstate();
	if (!L) {
		fprintf(stderr, "cannot create a Lua state\n");
		return 1;
	}
	luaL_openlibs(L);

	/* ringkit is part of this binary: package.loaded.ringkit = the module. */
	luaL_requiref(L, "ringkit", luaopen_ringkit, 0);
	lua_pop(L, 1);

	/* require "ringkit.loop" finds the embedded source. Nothing is looked
	 * up on disk for either module: C modules are not searched at all. */
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, load_loop);
	lua_setfield(L, -2, "ringkit.loop");
	lua_pop(L, 1);
	lua_getglobal(L, "package");
	lua_pushliteral(L, "");
	lua_setfield(L, -2, "cpath");
	lua_pop(L, 1);

	/* The global `arg`, as the stand-alone interpreter builds it. */
	lua_createtable(L, argc - 2, 2);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i - 1);
	}
	lua_setglobal(L, "arg");

	int status = 1;
	lua_pushcfunction(L, traceback);
	if (luaL_loadfile(L, argv[1]) != LUA_OK) {
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
	} else {
		for (int i = 2; i < argc; i++)
			lua_pushstring(L, argv[i]);
		if (lua_pcall(L, argc - 2, 0, 1) != LUA_OK)
			fprintf(stderr, "%s\n", lua_tostring(L, -1));
		else
			status = 0;
	}
	lua_close(L); /* runs __gc: rings close, in-flight ops are drained */
	return status;
}
