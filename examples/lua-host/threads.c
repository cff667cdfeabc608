/*
 * ringkit-lua-threads: one ring per thread, passing work between them with
 * messages (IORING_OP_MSG_RING). Lua has no threads of its own, so the host
 * does what a server embedding Lua would: it starts N pthreads, each with
 * its own Lua 5.4 VM (ringkit linked in statically and ringkit.loop
 * preloaded, as ringkit-lua-host), and runs the same script in each:
 *
 *   ringkit-lua-threads script.lua [args...]
 *
 * Thread 1 runs the script with ... = "producer", args...; thread 2 with
 * ... = "worker", args.... Each VM also has a module `host`:
 *
 *   host.role            "producer" or "worker"
 *   host.publish(fd)     makes this thread's ring fd known to the other one
 *   host.peer()          waits until the other thread published, returns its fd
 *
 * Rings are used by the thread that made them only; the only thing that
 * crosses threads is a ring fd (an integer) and, through the kernel, the
 * messages themselves. Exit status 0 when both scripts ran to the end, 1
 * when either raised an error (printed with a traceback).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_ringkit(lua_State *L);
extern const char lrk_loop_lua[];
extern const size_t lrk_loop_lua_len;

#define NTHREADS 2

static const char *const roles[NTHREADS] = {"producer", "worker"};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t published = PTHREAD_COND_INITIALIZER;
static int ring_fds[NTHREADS] = {-1, -1};

struct thread_arg {
	int index;
	int argc;
	char **argv;
	int status;
};

static int thread_index(lua_State *L)
{
	return (int)lua_tointeger(L, lua_upvalueindex(1));
}

/* host.publish(fd) */
static int l_publish(lua_State *L)
{
	lua_Integer fd = luaL_checkinteger(L, 1);
	luaL_argcheck(L, fd >= 0 && fd <= 0x7fffffff, 1, "fd out of range");
	pthread_mutex_lock(&lock);
	ring_fds[thread_index(L)] = (int)fd;
	pthread_cond_broadcast(&published);
	pthread_mutex_unlock(&lock);
	return 0;
}

/* host.peer() -> the other thread's ring fd (waits until it is published) */
static int l_peer(lua_State *L)
{
	int other = (thread_index(L) + 1) % NTHREADS;
	pthread_mutex_lock(&lock);
	while (ring_fds[other] < 0)
		pthread_cond_wait(&published, &lock);
	int fd = ring_fds[other];
	pthread_mutex_unlock(&lock);
	lua_pushinteger(L, fd);
	return 1;
}

static int open_host(lua_State *L)
{
	static const luaL_Reg funcs[] = {{"publish", l_publish}, {"peer", l_peer}, {NULL, NULL}};
	lua_newtable(L);
	lua_pushvalue(L, lua_upvalueindex(1));
	luaL_setfuncs(L, funcs, 1);
	lua_pushstring(L, roles[thread_index(L)]);
	lua_setfield(L, -2, "role");
	return 1;
}

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
	lua_pushvalue(L, 1);
	lua_call(L, 1, 1);
	return 1;
}

static void *run_script(void *p)
{
	struct thread_arg *t = p;
	t->status = 1;
	lua_State *L = luaL_newstate();
	if (!L) {
		fprintf(stderr, "cannot create a Lua state\n");
		return NULL;
	}
	luaL_openlibs(L);
	luaL_requiref(L, "ringkit", luaopen_ringkit, 0);
	lua_pop(L, 1);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, load_loop);
	lua_setfield(L, -2, "ringkit.loop");
	lua_pushinteger(L, t->index);
	lua_pushcclosure(L, open_host, 1);
	lua_setfield(L, -2, "host");
	lua_pop(L, 1);
	lua_getglobal(L, "package");
	lua_pushliteral(L, "");
	lua_setfield(L, -2, "cpath");
	lua_pop(L, 1);

	/* arg[0] = script, arg[1] = role, arg[2..] = the command's args */
	lua_createtable(L, t->argc, 1);
	lua_pushstring(L, t->argv[1]);
	lua_rawseti(L, -2, 0);
	lua_pushstring(L, roles[t->index]);
	lua_rawseti(L, -2, 1);
	for (int i = 2; i < t->argc; i++) {
		lua_pushstring(L, t->argv[i]);
		lua_rawseti(L, -2, i);
	}
	lua_setglobal(L, "arg");

	lua_pushcfunction(L, traceback);
	if (luaL_loadfile(L, t->argv[1]) != LUA_OK) {
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
	} else {
		lua_pushstring(L, roles[t->index]);
		for (int i = 2; i < t->argc; i++)
			lua_pushstring(L, t->argv[i]);
		if (lua_pcall(L, t->argc - 1, 0, 1) != LUA_OK)
			fprintf(stderr, "[%s] %s\n", roles[t->index], lua_tostring(L, -1));
		else
			t->status = 0;
	}
	/* A thread that failed before publishing must not leave its peer
	 * waiting forever: publish an fd that is no ring (its sends fail). */
	pthread_mutex_lock(&lock);
	if (ring_fds[t->index] < 0) {
		ring_fds[t->index] = 0x7fffffff;
		pthread_cond_broadcast(&published);
	}
	pthread_mutex_unlock(&lock);
	lua_close(L);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s script.lua [args...]\n", argv[0]);
		return 2;
	}
	pthread_t threads[NTHREADS];
	struct thread_arg args[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		args[i] = (struct thread_arg){.index = i, .argc = argc, .argv = argv, .status = 1};
		if (pthread_create(&threads[i], NULL, run_script, &args[i]) != 0) {
			fprintf(stderr, "cannot start a thread\n");
			return 1;
		}
	}
	int status = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(threads[i], NULL);
		status |= args[i].status;
	}
	return status;
}
