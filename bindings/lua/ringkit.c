/*
 * ringkit for Lua 5.4: the module table, the ring userdata, submission and
 * completion. Ops live in ops.c, completions take shape in cqe.c, regions in
 * region.c.
 *
 *   local rk = require "ringkit"
 *   local ring <close> = assert(rk.ring(64))
 *   local id = ring:nop()
 *   local n, id1, res1, extra1 = ring:reap(64, 1)
 *
 * Expected failures return nil, message, errno (errno positive, as luaposix);
 * misuse (wrong argument types, a closed ring) raises through luaL_argerror.
 * Ids, results and sizes are Lua integers (64-bit in 5.4).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lualib.h>

#include "lringkit.h"

/* Values mode pushes 3 values per completion: cap a batch. */
#define LRK_MAX_VALUES_BATCH 1024
#define LRK_MAX_BATCH (1u << 20)

/* ------------------------------------------------------------------------ */
/* Module functions                                                         */
/* ------------------------------------------------------------------------ */

static int ring_new_ex(lua_State *L, uint32_t entries, uint32_t flags, uint32_t cq, uint32_t cap,
                       uint32_t idle)
{
	lrk_ring *r = lua_newuserdatauv(L, sizeof *r, 1);
	memset(r, 0, sizeof *r);
	luaL_setmetatable(L, LRK_RING_MT);
	lua_newtable(L); /* regions registered with this ring, kept alive by it */
	lua_setiuservalue(L, -2, 1);

	rk_ring *ring;
	int err = rk_ring_create_ex(entries, flags, cq, cap, idle, &ring);
	if (err < 0)
		return lrk_fail(L, err);
	uint64_t st[RK_STAT_COUNT];
	rk_ring_stats(ring, st, RK_STAT_COUNT);
	r->capacity = (uint32_t)st[RK_STAT_CAPACITY];
	r->ncqes = 256;
	r->slots = malloc(sizeof *r->slots * r->capacity);
	r->cqes = malloc(sizeof *r->cqes * r->ncqes);
	if (!r->slots || !r->cqes) {
		free(r->slots);
		free(r->cqes);
		r->slots = NULL;
		r->cqes = NULL;
		rk_ring_close(ring);
		return luaL_error(L, "not enough memory");
	}
	for (uint32_t i = 0; i < r->capacity; i++) {
		r->slots[i].ref = LUA_NOREF;
		r->slots[i].kind = LRK_NONE;
		r->slots[i].cap = 0;
		r->slots[i].buf = NULL;
	}
	r->ring = ring;
	return 1;
}

/* rk.ring([entries [, flags]]) -> ring | nil, msg, errno */
static int l_ring(lua_State *L)
{
	uint32_t entries = lrk_u32_arg(L, 1, 256);
	uint32_t flags = lrk_u32_arg(L, 2, 0);
	return ring_new_ex(L, entries, flags, 0, 0, 0);
}

/* rk.ring_ex(entries, flags, cq_entries, capacity, sq_thread_idle_ms) */
static int l_ring_ex(lua_State *L)
{
	return ring_new_ex(L, lrk_u32_arg(L, 1, 256), lrk_u32_arg(L, 2, 0), lrk_u32_arg(L, 3, 0),
	                   lrk_u32_arg(L, 4, 0), lrk_u32_arg(L, 5, 0));
}

static int l_version(lua_State *L)
{
	uint32_t v = rk_version();
	lua_pushinteger(L, v);
	lua_pushfstring(L, "%d.%d.%d", (int)(v >> 16), (int)((v >> 8) & 0xff), (int)(v & 0xff));
	return 2;
}

static int l_strerror(lua_State *L)
{
	lua_Integer e = luaL_checkinteger(L, 1);
	lua_pushstring(L, rk_strerror((int)(e > 0 ? -e : e)));
	return 1;
}

/* rk.now() -> seconds on CLOCK_MONOTONIC (a float), for timing IO */
static int l_now(lua_State *L)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
	return 1;
}

/* rk.cqe_chunk(flags) -> the chunk a provided-buffer completion filled, or
 * nil when its flags carry no buffer */
static int l_cqe_chunk(lua_State *L)
{
	lua_Integer f = luaL_checkinteger(L, 1);
	if (f & RK_CQE_F_BUFFER)
		lua_pushinteger(L, (lua_Integer)((uint32_t)f >> RK_CQE_BUFFER_SHIFT));
	else
		lua_pushnil(L);
	return 1;
}

/* rk.cqe_more(flags) -> true while a multishot op stays armed */
static int l_cqe_more(lua_State *L)
{
	lua_pushboolean(L, (luaL_checkinteger(L, 1) & RK_CQE_F_MORE) != 0);
	return 1;
}

/* rk.cqe_notif(flags) -> true for the notification that ends a zero-copy
 * send (the kernel no longer reads its data) */
static int l_cqe_notif(lua_State *L)
{
	lua_pushboolean(L, (luaL_checkinteger(L, 1) & RK_CQE_F_NOTIF) != 0);
	return 1;
}

static int l_constant(lua_State *L)
{
	int64_t v;
	if (rk_constant(luaL_checkstring(L, 1), &v) < 0) {
		lua_pushnil(L);
		return 1;
	}
	lua_pushinteger(L, (lua_Integer)v);
	return 1;
}

/* ------------------------------------------------------------------------ */
/* Ring methods                                                             */
/* ------------------------------------------------------------------------ */

static void ensure_cqes(lua_State *L, lrk_ring *r, uint32_t max)
{
	if (max <= r->ncqes)
		return;
	rk_cqe *n = realloc(r->cqes, sizeof *n * max);
	if (!n)
		luaL_error(L, "not enough memory");
	r->cqes = n;
	r->ncqes = max;
}

/* ring:reap([max [, wait [, timeout_ns [, t]]]])
 *   Submits, waits until `wait` completions are ready (timeout_ns nil or < 0:
 *   no limit; 0: do not wait) and takes up to `max` (default 256).
 *   Without t: returns n, then id, res, extra for each completion.
 *   With t:    fills t[3i-2], t[3i-1], t[3i] (i = 1..n) and returns n.
 *   extra: the data (string) of read/readv/recv into a binding buffer, the
 *   statx table, recvmsg's table, else the CQE flags. A record whose id is
 *   negative is a message another ring sent (msg_ring): res as sent, extra
 *   the message's value. Errors: nil, msg, errno (EINTR: call again). */
static int ring_reap(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lua_Integer max = luaL_optinteger(L, 2, 256);
	lua_Integer wait = luaL_optinteger(L, 3, 0);
	int64_t timeout = lua_isnoneornil(L, 4) ? -1 : (int64_t)luaL_checkinteger(L, 4);
	int has_t = !lua_isnoneornil(L, 5);
	luaL_argcheck(L, max >= 0, 2, "max must be >= 0");
	luaL_argcheck(L, wait >= 0, 3, "wait must be >= 0");
	if (has_t)
		luaL_checktype(L, 5, LUA_TTABLE);
	if (!has_t && max > LRK_MAX_VALUES_BATCH)
		max = LRK_MAX_VALUES_BATCH;
	if (max > LRK_MAX_BATCH)
		max = LRK_MAX_BATCH;
	if (wait > max)
		wait = max;
	ensure_cqes(L, r, (uint32_t)max);

	int n = rk_reap(r->ring, r->cqes, (uint32_t)max, (uint32_t)wait, timeout);
	if (n < 0)
		return lrk_fail(L, n);
	const rk_cqe *c = r->cqes;
	if (has_t) {
		for (int i = 0; i < n; i++) {
			lua_pushinteger(L, (lua_Integer)c[i].id);
			lua_rawseti(L, 5, 3 * i + 1);
			lua_pushinteger(L, c[i].res);
			lua_rawseti(L, 5, 3 * i + 2);
			lrk_push_extra(L, r, &c[i]);
			lua_rawseti(L, 5, 3 * i + 3);
		}
		lua_pushinteger(L, n);
		return 1;
	}
	luaL_checkstack(L, 3 * n + 1, "too many completions");
	lua_pushinteger(L, n);
	for (int i = 0; i < n; i++) {
		lua_pushinteger(L, (lua_Integer)c[i].id);
		lua_pushinteger(L, c[i].res);
		lrk_push_extra(L, r, &c[i]);
	}
	return 3 * n + 1;
}

/* ring:submit() -> number of ops the kernel took | nil, msg, errno */
static int ring_submit(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	return lrk_count(L, rk_submit(r->ring));
}

static int ring_cancel_all(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	return lrk_count(L, rk_ring_cancel_all(r->ring));
}

static int ring_fd(lua_State *L)
{
	lua_pushinteger(L, rk_ring_fd(lrk_check_ring(L, 1)->ring));
	return 1;
}

/* ring:probe(opcode) -> boolean; opcode an integer or a name ("READ" or
 * "IORING_OP_READ"). */
static int ring_probe(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lua_Integer op;
	if (lua_type(L, 2) == LUA_TSTRING) {
		const char *name = lua_tostring(L, 2);
		int64_t v;
		if (rk_constant(name, &v) < 0) {
			lua_pushfstring(L, "IORING_OP_%s", name);
			if (rk_constant(lua_tostring(L, -1), &v) < 0)
				return luaL_argerror(L, 2, "unknown opcode name");
			lua_pop(L, 1);
		}
		op = v;
	} else {
		op = luaL_checkinteger(L, 2);
	}
	luaL_argcheck(L, op >= 0 && op <= 255, 2, "opcode out of range");
	int ret = rk_ring_probe(r->ring, (uint32_t)op);
	if (ret < 0)
		return lrk_fail(L, ret);
	lua_pushboolean(L, ret);
	return 1;
}

static int ring_stats(lua_State *L)
{
	static const char *const names[RK_STAT_COUNT] = {
		"inflight", "overflow_queue", "sq_entries", "cq_entries", "capacity",
		"submitted", "completed", "cq_overflow", "cqes", "features", "backend",
	};
	lrk_ring *r = lrk_check_ring(L, 1);
	uint64_t st[RK_STAT_COUNT] = {0};
	int n = rk_ring_stats(r->ring, st, RK_STAT_COUNT);
	lua_createtable(L, 0, RK_STAT_COUNT);
	for (int i = 0; i < n && i < RK_STAT_COUNT; i++) {
		lua_pushinteger(L, (lua_Integer)st[i]);
		lua_setfield(L, -2, names[i]);
	}
	return 1;
}

/* ring:inflight() -> live ops (prepared, final completion not yet reaped) */
static int ring_inflight(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	uint64_t v = 0;
	rk_ring_stats(r->ring, &v, 1);
	lua_pushinteger(L, (lua_Integer)v);
	return 1;
}

static int ring_register_eventfd(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	int fd = lrk_fd_arg(L, 2, NULL);
	return lrk_true(L, rk_ring_register_eventfd(r->ring, fd, lrk_u32_arg(L, 3, 0)));
}

static int ring_unregister_eventfd(lua_State *L)
{
	return lrk_true(L, rk_ring_unregister_eventfd(lrk_check_ring(L, 1)->ring));
}

/* ring:cancel_sync(id [, timeout_ns]) -> true | nil, msg, errno
 * Cancels without taking a slot (works with the op table full); the
 * target's own completion still comes through reap. */
static int ring_cancel_sync(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	int64_t target = (int64_t)luaL_checkinteger(L, 2);
	return lrk_true(L, rk_cancel_sync(r->ring, target, (int64_t)luaL_optinteger(L, 3, -1)));
}

/* ring:register_files(nslots) -> true | nil, msg, errno */
static int ring_register_files(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	return lrk_true(L, rk_ring_register_files(r->ring, lrk_u32_arg(L, 2, 0)));
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
	return lrk_count(L, rk_ring_update_files(r->ring, off, fds, (uint32_t)n));
}

/* ring:file_alloc_range(offset, len) -> true | nil, msg, errno */
static int ring_file_alloc_range(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	uint32_t off = lrk_u32_arg(L, 2, 0);
	return lrk_true(L, rk_ring_file_alloc_range(r->ring, off, lrk_u32_arg(L, 3, 0)));
}

/* ring:resize(sq_entries [, cq_entries]) -> true | nil, msg, errno
 * rk_ring_resize (cq_entries 0 or absent: twice the SQ); the ring needs
 * RK_RING_DEFER_TASKRUN. */
static int ring_resize(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	uint32_t sq = lrk_u32_arg(L, 2, 0);
	return lrk_true(L, rk_ring_resize(r->ring, sq, lrk_u32_arg(L, 3, 0)));
}

/* ring:feature(feature) -> boolean; feature an integer or a name
 * ("FILE_ALLOC_RANGE" or "RK_FEATURE_FILE_ALLOC_RANGE"). */
static int ring_feature(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lua_Integer f;
	if (lua_type(L, 2) == LUA_TSTRING) {
		const char *name = lua_tostring(L, 2);
		int64_t v;
		if (rk_constant(name, &v) < 0) {
			lua_pushfstring(L, "RK_FEATURE_%s", name);
			if (rk_constant(lua_tostring(L, -1), &v) < 0)
				return luaL_argerror(L, 2, "unknown feature name");
			lua_pop(L, 1);
		}
		f = v;
	} else {
		f = luaL_checkinteger(L, 2);
	}
	luaL_argcheck(L, f >= 0 && f <= UINT32_MAX, 2, "feature out of range");
	int ret = rk_ring_feature(r->ring, (uint32_t)f);
	if (ret < 0)
		return lrk_fail(L, ret);
	lua_pushboolean(L, ret);
	return 1;
}

/* ring:restrict{"read", "write", ... [, fixed_files_only = true]
 *   [, allow_files = true] [, allow_regions = true] [, allow_eventfd = true]}
 *   -> true | nil, msg, errno
 * rk_ring_restrict: ops by their names in the op table (rk_op_info_of's:
 * "read", "read_chunk", ...; the op behind ring:closefd is "close") or
 * RK_OP_* codes. An unknown name is a
 * programming error (raised). */
static int ring_restrict(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
	luaL_argcheck(L, n <= 16 * RK_OP_COUNT, 2, "too many ops");
	uint32_t *ops = lua_newuserdatauv(L, sizeof(uint32_t) * (size_t)(n ? n : 1), 0);
	for (lua_Integer i = 0; i < n; i++) {
		lua_rawgeti(L, 2, i + 1);
		int isint;
		lua_Integer code = lua_tointegerx(L, -1, &isint);
		if (isint) {
			ops[i] = code >= 0 && code < RK_OP_COUNT ? (uint32_t)code : RK_OP_COUNT;
		} else {
			const char *name = lua_tostring(L, -1);
			if (!name || lua_type(L, -1) != LUA_TSTRING)
				luaL_argerror(L, 2, "a list of op names expected");
			ops[i] = lrk_op_code(name);
			if (ops[i] == RK_OP_COUNT)
				luaL_argerror(L, 2, lua_pushfstring(L, "unknown op '%s'", name));
		}
		lua_pop(L, 1);
	}
	static const struct {
		const char *key;
		uint32_t flag;
	} keys[] = {{"fixed_files_only", RK_RESTRICT_FIXED_FILES},
	            {"allow_files", RK_RESTRICT_FILES},
	            {"allow_regions", RK_RESTRICT_REGIONS},
	            {"allow_eventfd", RK_RESTRICT_EVENTFD}};
	uint32_t flags = 0;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		lua_getfield(L, 2, keys[k].key);
		if (lua_toboolean(L, -1))
			flags |= keys[k].flag;
		lua_pop(L, 1);
	}
	return lrk_true(L, rk_ring_restrict(r->ring, ops, (uint32_t)n, flags));
}

/* ring:unregister_files() -> true | nil, msg, errno (ENXIO: no table) */
static int ring_unregister_files(lua_State *L)
{
	return lrk_true(L, rk_ring_unregister_files(lrk_check_ring(L, 1)->ring));
}

/* ring:register_region(region) -> true | nil, msg, errno (ENOMEM: over
 * RLIMIT_MEMLOCK; the region stays usable unregistered). The ring keeps the
 * region alive while registered. */
static int ring_register_region(lua_State *L)
{
	return lrk_ring_region_call(L, rk_ring_register_region, LRK_KEEP_REGISTERED, 1);
}

static int ring_unregister_region(lua_State *L)
{
	return lrk_ring_region_call(L, rk_ring_unregister_region, LRK_KEEP_REGISTERED, 0);
}

/* Closes the ring — the core cancels what is in flight, waits until the
 * kernel is done and disposes of what completions nobody will see carried
 * (fds, chunks) — then releases what the slots anchored. Idempotent.
 * Returns 0 or rk_ring_close's error (then the anchors are kept forever, as
 * the kernel may still touch them). Never raises: it runs from __gc. */
static int ring_do_close(lua_State *L, int idx)
{
	lrk_ring *r = luaL_checkudata(L, idx, LRK_RING_MT);
	if (!r->ring)
		return 0;
	int rc = rk_ring_close(r->ring);
	r->ring = NULL;
	if (rc == 0) {
		for (uint32_t i = 0; i < r->capacity; i++)
			lrk_release_slot(L, &r->slots[i]);
	} else {
		r->leaked = 1; /* refs stay in the registry, buffers stay allocated */
	}
	free(r->slots);
	free(r->cqes);
	r->slots = NULL;
	r->cqes = NULL;
	/* A closed ring no longer keeps its regions alive (one destroyed while
	 * registered here was freed by the close). */
	lua_newtable(L);
	lua_setiuservalue(L, idx, 1);
	return rc;
}

/* ring:close() -> true | nil, msg, errno */
static int ring_close(lua_State *L)
{
	return lrk_true(L, ring_do_close(L, 1));
}

static int ring_gc(lua_State *L)
{
	ring_do_close(L, 1);
	return 0;
}

static int ring_closed(lua_State *L)
{
	lrk_ring *r = luaL_checkudata(L, 1, LRK_RING_MT);
	lua_pushboolean(L, r->ring == NULL);
	return 1;
}

static int ring_tostring(lua_State *L)
{
	lrk_ring *r = luaL_checkudata(L, 1, LRK_RING_MT);
	if (!r->ring) {
		lua_pushfstring(L, "ringkit.ring (%p, closed)", (void *)r);
	} else {
		uint64_t live = 0;
		rk_ring_stats(r->ring, &live, 1);
		lua_pushfstring(L, "ringkit.ring (%p, fd %d, %d live of %d)", (void *)r,
		                rk_ring_fd(r->ring), (int)live, (int)r->capacity);
	}
	return 1;
}

static const luaL_Reg ring_methods[] = {
	{"reap", ring_reap},
	{"submit", ring_submit},
	{"cancel_all", ring_cancel_all},
	{"fd", ring_fd},
	{"probe", ring_probe},
	{"stats", ring_stats},
	{"inflight", ring_inflight},
	{"register_eventfd", ring_register_eventfd},
	{"unregister_eventfd", ring_unregister_eventfd},
	{"register_region", ring_register_region},
	{"unregister_region", ring_unregister_region},
	{"cancel_sync", ring_cancel_sync},
	{"register_files", ring_register_files},
	{"update_files", ring_update_files},
	{"unregister_files", ring_unregister_files},
	{"file_alloc_range", ring_file_alloc_range},
	{"feature", ring_feature},
	{"restrict", ring_restrict},
	{"resize", ring_resize},
	{"close", ring_close},
	{"closed", ring_closed},
	{NULL, NULL},
};

static const luaL_Reg ring_meta[] = {
	{"__gc", ring_gc},
	{"__close", ring_gc},
	{"__tostring", ring_tostring},
	{NULL, NULL},
};

static const luaL_Reg module_funcs[] = {
	{"ring", l_ring},
	{"ring_ex", l_ring_ex},
	{"region", lrk_region_new},
	{"version", l_version},
	{"strerror", l_strerror},
	{"constant", l_constant},
	{"now", l_now},
	{"cqe_chunk", l_cqe_chunk},
	{"cqe_more", l_cqe_more},
	{"cqe_notif", l_cqe_notif},
	{NULL, NULL},
};

int luaopen_ringkit(lua_State *L)
{
	luaL_checkversion(L);
	luaL_newmetatable(L, LRK_RING_MT);
	luaL_setfuncs(L, ring_meta, 0);
	lua_newtable(L);
	lua_pushvalue(L, -2);
	luaL_setfuncs(L, ring_methods, 1);
	lua_pushvalue(L, -2);
	luaL_setfuncs(L, lrk_ring_group_methods, 1);
	lrk_register_ops(L);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	lrk_region_register_mt(L);

	luaL_newlib(L, module_funcs);
	luaL_setfuncs(L, lrk_net_funcs, 0);
	/* Every constant of the core, as rk.constants.NAME and rk.NAME. */
	lua_newtable(L);
	const char *name;
	int64_t value;
	for (uint32_t i = 0; rk_constant_at(i, &name, &value) == 0; i++) {
		lua_pushinteger(L, (lua_Integer)value);
		lua_setfield(L, -2, name);
		lua_pushinteger(L, (lua_Integer)value);
		lua_setfield(L, -3, name);
	}
	lua_setfield(L, -2, "constants");
	lua_pushliteral(L, "ringkit for " LUA_VERSION);
	lua_setfield(L, -2, "_VERSION");
	return 1;
}
