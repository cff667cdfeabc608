/*
 * ringkit-lua-host: the "embed in a VM" path. A host program creates a Lua
 * 5.4 VM, links the ringkit module in statically (no ringkit.so and no
 * libringkit.so on any search path), preloads it with luaL_requiref, preloads
 * the coroutine loop `ringkit.loop` from a copy of loop.lua compiled into the
 * binary, and runs the script named on the command line:
 *
 *   ringkit-lua-host script.lua [args...]     (arg[0] = script, arg[1..] = args)
 *
 * A host that runs scripts it does not trust hands them a restricted ring
 * instead (rk_ring_restrict), and nothing to get around it with:
 *
 *   ringkit-lua-host --allow-ops read,write [--fixed-files-only]
 *                    [--file PATH]... [--file-rw PATH]... script.lua [args...]
 *
 * The host makes the ring (the global `ring`), fills its file table with
 * the files named (slot 0, 1, ... in order; --file read-only, --file-rw
 * read-write, created when missing), restricts it to the ops listed, then
 * runs the script in a sandbox: `require "ringkit"` gives the module
 * without its ring constructors and its plain-syscall helpers, and the
 * script gets no io, debug, package.loadlib, os beyond time/clock/date/exit,
 * no dofile/loadfile, and load() reads text only (bytecode could corrupt
 * the VM). Whatever the script then calls, the ring does only what the
 * host allowed: the core refuses the rest (-EACCES), and on io_uring the
 * kernel does too.
 *
 * Exit status: 0 when the script ran to the end, 1 on a Lua error (printed
 * with a traceback), 2 on bad options or a failed setup, or the integer a
 * script passes to os.exit.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_ringkit(lua_State *L);
extern const char lrk_loop_lua[];
extern const size_t lrk_loop_lua_len;

#define MAX_FILES 64

struct sandbox {
	const char *ops;   /* --allow-ops: NULL without a sandbox */
	int fixed;         /* --fixed-files-only */
	int nfiles;
	const char *files[MAX_FILES];
	int rw[MAX_FILES];
};

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

/* The module's functions a sandboxed script keeps: none makes a ring or
 * touches a descriptor outside the ring. */
static const char *const sandbox_funcs[] = {
	"version", "strerror", "constant", "now", "cqe_chunk", "cqe_more", "cqe_notif", "region",
	NULL,
};

/* Run with the full module, before the script: the ring, its files, its
 * restriction. Any failure raises, and the host stops. */
static const char setup_lua[] =
	"local rk, ops, fixed, fds = ...\n"
	"local K = rk.constants\n"
	"local ring = assert(rk.ring(256, K.RK_RING_RESTRICTABLE))\n"
	"if #fds > 0 then\n"
	"  assert(ring:register_files(#fds))\n"
	"  assert(ring:update_files(0, fds))\n"
	"end\n"
	"local list = { fixed_files_only = fixed }\n"
	"for name in ops:gmatch('[^,]+') do list[#list + 1] = name end\n"
	"assert(ring:restrict(list))\n"
	"return ring\n";

/* load(chunk [, name [, mode [, env]]]) with mode forced to text. An env
 * given stays given, one left out stays out (an explicit nil would be the
 * chunk's _ENV). */
static int text_load(lua_State *L)
{
	int n = lua_gettop(L) > 4 ? 4 : lua_gettop(L);
	lua_settop(L, n < 3 ? 3 : n);
	lua_pushliteral(L, "t");
	lua_replace(L, 3);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* Leaves on the stack a table with t's fields that `keep` names. */
static void pick(lua_State *L, int t, const char *const *keep)
{
	lua_newtable(L);
	for (; *keep; keep++) {
		lua_getfield(L, t, *keep);
		lua_setfield(L, -2, *keep);
	}
}

/* The libraries a sandboxed script sees. */
static void open_sandbox_libs(lua_State *L)
{
	luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
	lua_pop(L, 1);
	static const luaL_Reg libs[] = {
		{LUA_COLIBNAME, luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
		{LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},
		{LUA_UTF8LIBNAME, luaopen_utf8},    {LUA_LOADLIBNAME, luaopen_package},
		{NULL, NULL},
	};
	for (const luaL_Reg *l = libs; l->name; l++) {
		luaL_requiref(L, l->name, l->func, 1);
		lua_pop(L, 1);
	}
	/* os: only what reads clocks, and exit. */
	luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
	static const char *const os_keep[] = {"time", "clock", "date", "difftime", "exit", NULL};
	pick(L, lua_gettop(L), os_keep);
	lua_pushvalue(L, -1);
	lua_setglobal(L, LUA_OSLIBNAME);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_insert(L, -2);
	lua_setfield(L, -2, LUA_OSLIBNAME);
	lua_pop(L, 2);

	lua_pushnil(L);
	lua_setglobal(L, "dofile");
	lua_pushnil(L);
	lua_setglobal(L, "loadfile");
	lua_getglobal(L, "load");
	lua_pushcclosure(L, text_load, 1);
	lua_setglobal(L, "load");

	/* require finds preloaded modules only. */
	lua_getglobal(L, LUA_LOADLIBNAME);
	lua_pushnil(L);
	lua_setfield(L, -2, "loadlib");
	lua_pushliteral(L, "");
	lua_setfield(L, -2, "path");
	lua_pushliteral(L, "");
	lua_setfield(L, -2, "cpath");
	lua_getfield(L, -1, "searchers");
	lua_createtable(L, 1, 0);
	lua_rawgeti(L, -2, 1); /* the preload searcher */
	lua_rawseti(L, -2, 1);
	lua_setfield(L, -3, "searchers");
	lua_pop(L, 2);
}

/* The restricted ring as the global `ring`, and the module without its
 * constructors as package.loaded.ringkit. Returns 0, or -1 after printing
 * why. */
static int setup_sandbox(lua_State *L, const struct sandbox *sb)
{
	int fds[MAX_FILES], ok = -1;
	for (int i = 0; i < sb->nfiles; i++) {
		int flags = sb->rw[i] ? O_RDWR | O_CREAT : O_RDONLY;
		fds[i] = open(sb->files[i], flags | O_CLOEXEC, 0644);
		if (fds[i] < 0) {
			perror(sb->files[i]);
			while (i-- > 0)
				close(fds[i]);
			return -1;
		}
	}
	lua_pushcfunction(L, traceback);
	int tb = lua_gettop(L);
	if (luaL_loadbuffer(L, setup_lua, sizeof(setup_lua) - 1, "=sandbox setup") != LUA_OK)
		goto out;
	lua_pushcfunction(L, luaopen_ringkit);
	lua_call(L, 0, 1);
	int full = lua_gettop(L);
	lua_pushvalue(L, full);
	lua_insert(L, full - 1); /* keep a copy below the chunk */
	lua_pushstring(L, sb->ops);
	lua_pushboolean(L, sb->fixed);
	lua_createtable(L, sb->nfiles, 0);
	for (int i = 0; i < sb->nfiles; i++) {
		lua_pushinteger(L, fds[i]);
		lua_rawseti(L, -2, i + 1);
	}
	if (lua_pcall(L, 4, 1, tb) != LUA_OK)
		goto out;
	lua_setglobal(L, "ring");
	/* The module's data (constants) and its harmless functions. */
	int mod = lua_gettop(L);
	lua_newtable(L);
	lua_pushnil(L);
	while (lua_next(L, mod)) {
		if (lua_type(L, -1) != LUA_TFUNCTION) {
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_settable(L, -4);
		} else {
			lua_pop(L, 1);
		}
	}
	for (const char *const *f = sandbox_funcs; *f; f++) {
		lua_getfield(L, mod, *f);
		lua_setfield(L, -2, *f);
	}
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_insert(L, -2);
	lua_setfield(L, -2, "ringkit");
	ok = 0;
out:
	if (ok < 0)
		fprintf(stderr, "sandbox: %s\n", lua_tostring(L, -1));
	lua_settop(L, tb - 1);
	/* The file table holds its own references. */
	for (int i = 0; i < sb->nfiles; i++)
		close(fds[i]);
	return ok;
}

static int usage(const char *prog)
{
	fprintf(stderr,
	        "usage: %s [--allow-ops OP,... [--fixed-files-only] [--file PATH]... "
	        "[--file-rw PATH]...] script.lua [args...]\n",
	        prog);
	return 2;
}

int main(int argc, char **argv)
{
	struct sandbox sb = {0};
	int first = 1;
	while (first < argc && strncmp(argv[first], "--", 2) == 0) {
		const char *opt = argv[first];
		if (strcmp(opt, "--fixed-files-only") == 0) {
			sb.fixed = 1;
			first++;
			continue;
		}
		if (first + 1 >= argc)
			return usage(argv[0]);
		if (strcmp(opt, "--allow-ops") == 0) {
			sb.ops = argv[first + 1];
		} else if (strcmp(opt, "--file") == 0 || strcmp(opt, "--file-rw") == 0) {
			if (sb.nfiles == MAX_FILES)
				return usage(argv[0]);
			sb.rw[sb.nfiles] = opt[6] == '-';
			sb.files[sb.nfiles++] = argv[first + 1];
		} else {
			return usage(argv[0]);
		}
		first += 2;
	}
	if (first >= argc || ((sb.fixed || sb.nfiles) && !sb.ops))
		return usage(argv[0]);
	lua_State *L = luaL_newstate();
	if (!L) {
		fprintf(stderr, "cannot create a Lua state\n");
		return 1;
	}
	if (sb.ops) {
		open_sandbox_libs(L);
		if (setup_sandbox(L, &sb) < 0) {
			lua_close(L);
			return 2;
		}
	} else {
		luaL_openlibs(L);
		/* ringkit is part of this binary: package.loaded.ringkit = the module. */
		luaL_requiref(L, "ringkit", luaopen_ringkit, 0);
		lua_pop(L, 1);
		lua_getglobal(L, "package");
		lua_pushliteral(L, "");
		lua_setfield(L, -2, "cpath");
		lua_pop(L, 1);
	}

	/* require "ringkit.loop" finds the embedded source. Nothing is looked
	 * up on disk for either module: C modules are not searched at all. */
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, load_loop);
	lua_setfield(L, -2, "ringkit.loop");
	lua_pop(L, 1);

	/* The global `arg`, as the stand-alone interpreter builds it. */
	lua_createtable(L, argc - first - 1, 2);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i - first);
	}
	lua_setglobal(L, "arg");

	int status = 1;
	lua_pushcfunction(L, traceback);
	if (luaL_loadfile(L, argv[first]) != LUA_OK) {
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
	} else {
		for (int i = first + 1; i < argc; i++)
			lua_pushstring(L, argv[i]);
		if (lua_pcall(L, argc - first - 1, 0, 1) != LUA_OK)
			fprintf(stderr, "%s\n", lua_tostring(L, -1));
		else
			status = 0;
	}
	lua_close(L); /* runs __gc: rings close, in-flight ops are drained */
	return status;
}
