/*
 * ringkit for Lua 5.4: every op of the core's table (rk_op_info_of) as a ring
 * method, ring:<name>(...) and ring:prep_<name>(...) (ring:closefd and
 * ring:prep_close for the op that closes an fd: ring:close closes the ring).
 * One C closure per op, with a plan built from its row as upvalue, turns the
 * Lua arguments into an rk_op_desc for rk_prep_batch.
 *
 * The Lua arguments are the C ones after the ring, with these changes:
 *   - memory the op writes is the binding's: a buffer (read, recv) is given
 *     by its length, readv's by a list of lengths, and the data comes back
 *     as a string, the completion's third value; statx's struct comes back
 *     as a table, accept's peer address as a string (rk.decode_sockaddr);
 *   - memory the op reads is a string (write, send) or a list of strings
 *     (writev, sendmsg; these also take one string), anchored until the
 *     final completion; lengths are not arguments;
 *   - a socket address is two arguments, host and port (net.c); a list of
 *     fds (sendmsg) a table of integers;
 *   - an fd may be a Lua file handle, or a ring (msg_ring's target), kept
 *     alive until the completion; a dfd nil means AT_FDCWD;
 *   - trailing arguments may be nil: the defaults below, else 0.
 * Each returns the op id, or nil, msg, errno. recvmsg, whose one allocation
 * holds data, address and the core's result record, is written out below.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "lringkit.h"

#define LRK_MAX_IOV 1024 /* the core's limit for readv/writev */
#define LRK_MAX_ARGS 10
#define LRK_BUF_MAX INT32_MAX /* a completion's res cannot count more */

/* What the Lua API adds to the op table's rows, by argument name:
 * ringkit/policy.def, which the LuaJIT binding reads too. Its names are
 * resolved once per Lua state, in lrk_register_ops. */
enum { P_DEF, P_REQ, P_OR, P_CREAT, P_CHUNK, P_OPT };
#define ANY 0xff
static const struct policy_row {
	const char *op, *arg, *how, *names;
	int64_t v;
} policy_rows[] = {
#define NOTE(text)
#define P(op, arg, how, v) {op, arg, how, NULL, v},
#define PK(op, arg, how, names) {op, arg, how, names, 0},
#include "ringkit/policy.def"
#undef NOTE
#undef P
#undef PK
};
#define NPOLICY (sizeof policy_rows / sizeof policy_rows[0])

typedef struct policy {
	uint8_t op, how;
	const char *arg;
	int64_t v;
} policy;

/* How one argument is taken from Lua. */
enum {
	X_SKIP,   /* a length, derived from its pointer argument */
	X_INT,    /* an integer of the argument's type */
	X_FD,     /* lrk_fd_arg, anchored */
	X_REGION, /* a region, anchored */
	X_WBUF,   /* a length: a binding buffer of it, returned as a string */
	X_OUT,    /* no Lua value: a binding buffer the completion returns */
	X_RBUF,   /* a string, anchored */
	X_PATH,   /* a string, copied by the core */
	X_ADDR,   /* host, port: a socket address, copied by the core */
	X_FDS,    /* a list of integer fds, copied by the core */
	X_RIOV,   /* a string or a list of strings, anchored */
	X_WIOV,   /* a list of lengths: one binding buffer, returned as a string */
};

typedef struct plan_arg {
	uint8_t x, idx, req, how; /* X_*, Lua index, must be given, P_* of its default */
	uint8_t len;              /* index of its length argument, or 0xff */
	int64_t def, bits;
} plan_arg;

typedef struct plan {
	const rk_op_info *info;
	uint8_t kind, flags_idx;
	uint8_t lists; /* anchors a list it builds on the stack */
	plan_arg a[LRK_MAX_ARGS];
} plan;

static void put(rk_op_desc *d, const rk_op_arg *a, int64_t v)
{
	char *f = (char *)d + a->offset;
	if (a->width == 4) {
		uint32_t x = (uint32_t)v;
		memcpy(f, &x, 4);
	} else {
		memcpy(f, &v, 8);
	}
}

static uint32_t list_len(lua_State *L, int idx, uint32_t max, const char *what)
{
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
	if (n > (lua_Integer)max)
		luaL_argerror(L, idx, what);
	return (uint32_t)n;
}

/* The strings at idx (one, or a list: a private copy of it is anchored, so
 * changing the table afterwards cannot release one) as iovecs. */
static uint32_t string_iov(lua_State *L, int idx, rk_iovec *iov, lrk_anchors *a)
{
	if (lua_type(L, idx) == LUA_TSTRING) {
		size_t len;
		iov[0].base = (uint64_t)(uintptr_t)lua_tolstring(L, idx, &len);
		iov[0].len = len;
		lrk_anchor(L, a, idx);
		return 1;
	}
	if (!lua_istable(L, idx))
		return (uint32_t)luaL_argerror(L, idx, "string or list of strings expected");
	uint32_t n = list_len(L, idx, LRK_MAX_IOV, "too many strings");
	lua_createtable(L, (int)n, 0);
	for (uint32_t i = 0; i < n; i++) {
		if (lua_rawgeti(L, idx, i + 1) != LUA_TSTRING)
			luaL_argerror(L, idx, "strings expected");
		size_t len;
		iov[i].base = (uint64_t)(uintptr_t)lua_tolstring(L, -1, &len);
		iov[i].len = len;
		lua_rawseti(L, -2, i + 1);
	}
	lrk_anchor(L, a, -1);
	return n;
}

/* A length or a list of lengths at idx as iovecs over one buffer of the
 * returned total bytes (bases are offsets until the buffer exists). */
static uint64_t length_iov(lua_State *L, int idx, rk_iovec *iov, uint32_t *niov)
{
	uint64_t total = 0;
	if (!lua_istable(L, idx)) {
		lua_Integer l = luaL_checkinteger(L, idx);
		luaL_argcheck(L, l >= 0 && l <= LRK_BUF_MAX, idx, "length out of range");
		iov[0].base = 0;
		iov[0].len = (uint64_t)l;
		*niov = 1;
		return (uint64_t)l;
	}
	*niov = list_len(L, idx, LRK_MAX_IOV, "too many lengths");
	for (uint32_t i = 0; i < *niov; i++) {
		lua_rawgeti(L, idx, i + 1);
		int isint;
		lua_Integer l = lua_tointegerx(L, -1, &isint);
		luaL_argcheck(L, isint && l >= 0, idx, "lengths must be integers >= 0");
		lua_pop(L, 1);
		iov[i].base = total;
		iov[i].len = (uint64_t)l;
		total += (uint64_t)l;
		luaL_argcheck(L, total <= LRK_BUF_MAX, idx, "total length too large");
	}
	return total;
}

static uint32_t fds_list(lua_State *L, int idx, int32_t *out)
{
	if (lua_isnoneornil(L, idx))
		return 0;
	uint32_t n = list_len(L, idx, RK_MSG_FDS_MAX, "too many fds");
	for (uint32_t i = 0; i < n; i++) {
		lua_rawgeti(L, idx, i + 1);
		int isint;
		lua_Integer fd = lua_tointegerx(L, -1, &isint);
		if (!isint || fd < INT32_MIN || fd > INT32_MAX)
			luaL_argerror(L, idx, "a list of integer fds expected");
		out[i] = (int32_t)fd;
		lua_pop(L, 1);
	}
	return n;
}

/* The generic op method: upvalue 1 the ring metatable, 2 the op's plan. */
static int op_call(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	const plan *p = lua_touserdata(L, lua_upvalueindex(2));
	const rk_op_info *info = p->info;
	rk_op_desc d;
	memset(&d, 0, sizeof d);
	lrk_anchors a = {0};
	int64_t val[LRK_MAX_ARGS];
	rk_region *region = NULL;
	struct sockaddr_storage ss;
	int32_t fds[RK_MSG_FDS_MAX];
	rk_iovec iov[LRK_MAX_IOV];
	int buf_arg = -1; /* the argument that gets the binding buffer */
	size_t buf_size = 0;
	uint32_t wiov = 0; /* iovecs over the binding buffer */
	if (p->lists)
		lua_settop(L, p->flags_idx); /* a list anchored below cannot take an argument's place */
	for (int i = 0; i < info->nargs; i++) {
		const plan_arg *x = &p->a[i];
		const rk_op_arg *arg = &info->args[i];
		int idx = x->idx;
		int64_t v = 0, len = 0;
		switch (x->x) {
		case X_SKIP:
			continue;
		case X_INT:
			if (x->how == P_CHUNK && lua_isnoneornil(L, idx))
				v = rk_region_chunk_size(region);
			else if (x->how == P_CREAT)
				v = lrk_int(L, idx, arg->type, 1,
				            (val[x->len] & (O_CREAT | O_TMPFILE)) ? x->def : 0);
			else
				v = lrk_int(L, idx, arg->type, !x->req, x->def) | x->bits;
			break;
		case X_FD:
			v = x->req || !lua_isnoneornil(L, idx) ? lrk_fd_arg(L, idx, &a) : AT_FDCWD;
			break;
		case X_REGION:
			region = lrk_check_region(L, idx)->region;
			lrk_anchor(L, &a, idx);
			v = (int64_t)(uintptr_t)region;
			break;
		case X_WBUF:
			len = lrk_int(L, idx, RK_ARG_U32, 0, 0);
			luaL_argcheck(L, len <= LRK_BUF_MAX, idx, "length out of range");
			buf_arg = i;
			buf_size = (size_t)len;
			break;
		case X_OUT:
			buf_arg = i;
			buf_size = p->kind == LRK_STATX ? RK_STATX_SIZE : sizeof ss;
			len = (int64_t)buf_size;
			break;
		case X_RBUF: {
			size_t n;
			v = (int64_t)(uintptr_t)luaL_checklstring(L, idx, &n);
			luaL_argcheck(L, n <= UINT32_MAX, idx, "string too long");
			lrk_anchor(L, &a, idx);
			len = (int64_t)n;
			break;
		}
		case X_PATH:
			v = (int64_t)(uintptr_t)luaL_checkstring(L, idx);
			break;
		case X_ADDR: {
			socklen_t sl = 0;
			if (x->req || !lua_isnoneornil(L, idx)) {
				int err = lrk_addr_args(L, idx, &ss, &sl);
				if (err < 0)
					return lrk_fail_msg(L, -err, lua_tostring(L, -1));
				v = (int64_t)(uintptr_t)&ss;
			} else if (!lua_isnoneornil(L, idx + 1)) {
				return luaL_argerror(L, idx, "a host is needed with a port");
			}
			len = sl;
			break;
		}
		case X_FDS:
			len = fds_list(L, idx, fds);
			v = len ? (int64_t)(uintptr_t)fds : 0;
			break;
		case X_RIOV:
			len = string_iov(L, idx, iov, &a);
			v = (int64_t)(uintptr_t)iov;
			break;
		case X_WIOV: {
			uint32_t n;
			buf_size = length_iov(L, idx, iov, &n);
			buf_arg = i;
			wiov = n;
			len = n;
			v = (int64_t)(uintptr_t)iov;
			break;
		}
		}
		val[i] = v;
		put(&d, arg, v);
		if (x->len != 0xff && x->x != X_INT)
			put(&d, &info->args[x->len], len);
	}
	d.op = info->op;
	d.flags = lrk_u32_arg(L, p->flags_idx, 0);
	void *buf = NULL;
	if (buf_arg >= 0) {
		buf = p->kind == LRK_BUF ? malloc(buf_size ? buf_size : 1) : calloc(1, buf_size);
		if (!buf)
			return luaL_error(L, "not enough memory");
		for (uint32_t i = 0; i < wiov; i++)
			iov[i].base += (uint64_t)(uintptr_t)buf;
		if (!wiov)
			put(&d, &info->args[buf_arg], (int64_t)(uintptr_t)buf);
	}
	int ref = lrk_ref(L, &a);
	int64_t id;
	rk_prep_batch(r->ring, &d, 1, &id);
	return lrk_commit(L, r, id, ref, p->kind, buf, (uint32_t)buf_size);
}

/* Fast paths for the hottest ops: nop, and read, write, recv, send, whose
 * rk_prep_* is called directly (argument 3 an offset or msg_flags, taken
 * with the plan's default and bits). They stay because a same-run
 * micro-benchmark (ns per op prep + reap) measured the generic closure
 * slower on them; anything else goes through op_call. */
static int op_nop(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	int64_t id = rk_prep_nop(r->ring, lua_gettop(L) < 2 ? 0 : lrk_u32_arg(L, 2, 0));
	if (id >= 0) {
		lua_pushinteger(L, (lua_Integer)id);
		return 1;
	}
	return lrk_fail(L, (int)id);
}

static int op_io(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	const plan *p = lua_touserdata(L, lua_upvalueindex(2));
	const plan_arg *x = &p->a[3];
	uint8_t op = p->info->op;
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	int64_t v3 = lrk_int(L, 4, p->info->args[3].type, 1, x->def) | x->bits;
	uint32_t flags = lrk_u32_arg(L, 5, 0);
	int64_t id;
	if (p->kind == LRK_BUF) {
		int64_t len = lrk_int(L, 3, RK_ARG_U32, 0, 0);
		luaL_argcheck(L, len <= LRK_BUF_MAX, 3, "length out of range");
		void *buf = malloc(len ? (size_t)len : 1);
		if (!buf)
			return luaL_error(L, "not enough memory");
		int ref = lrk_ref(L, &a);
		id = op == RK_OP_READ ? rk_prep_read(r->ring, fd, buf, (uint32_t)len, v3, flags)
		                      : rk_prep_recv(r->ring, fd, buf, (uint32_t)len, (int32_t)v3, flags);
		return lrk_commit(L, r, id, ref, LRK_BUF, buf, (uint32_t)len);
	}
	size_t n;
	const char *s = luaL_checklstring(L, 3, &n);
	luaL_argcheck(L, n <= UINT32_MAX, 3, "string too long");
	lrk_anchor(L, &a, 3);
	int ref = lrk_ref(L, &a);
	id = op == RK_OP_WRITE ? rk_prep_write(r->ring, fd, s, (uint32_t)n, v3, flags)
	                       : rk_prep_send(r->ring, fd, s, (uint32_t)n, (int32_t)v3, flags);
	return lrk_commit(L, r, id, ref, LRK_NONE, NULL, 0);
}

/* ring:open(path, ...) and ring:open_direct(path, ...): openat and
 * openat_direct with dfd nil (upvalue 2 is their plan). */
static int op_open(lua_State *L)
{
	lua_pushnil(L);
	lua_insert(L, 2);
	return op_call(L);
}

/* ring:recvmsg(fd, len [, fds_cap [, msg_flags [, flags]]]): len an integer
 * or a list of lengths (scattered, then joined); fds_cap how many received
 * descriptors to take (0..253, default 0: any sent are dropped and
 * MSG_CTRUNC set); msg_flags as the policy says. The completion's third
 * value is a table: data (res bytes, or the buffer's worth when MSG_TRUNC
 * made res larger), addr (the source address as a string for
 * rk.decode_sockaddr, nil when the kernel gave none), fds (a list of the
 * received descriptors, yours to close) and flags (MSG_TRUNC, MSG_CTRUNC). */
static int op_recvmsg(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	const plan *p = lua_touserdata(L, lua_upvalueindex(2));
	lrk_anchors a = {0};
	int fd = lrk_fd_arg(L, 2, &a);
	rk_iovec iov[LRK_MAX_IOV];
	uint32_t niov;
	uint64_t total = length_iov(L, 3, iov, &niov);
	lua_Integer cap = luaL_optinteger(L, 4, 0);
	luaL_argcheck(L, cap >= 0 && cap <= RK_MSG_FDS_MAX, 4, "fds_cap out of range 0..253");
	int32_t mf = lrk_i32_arg(L, 5, 0) | (int32_t)p->a[p->info->nargs - 1].bits;
	uint32_t flags = lrk_u32_arg(L, 6, 0);
	size_t head = sizeof(lrk_msgbuf) + sizeof(int32_t) * (RK_MSG_FDS + (size_t)cap);
	lrk_msgbuf *m = lrk_malloc0(L, head + (size_t)total);
	m->cap = (uint32_t)total;
	m->fds_cap = (uint32_t)cap;
	for (uint32_t i = 0; i < niov; i++)
		iov[i].base += (uint64_t)(uintptr_t)m + head;
	int ref = lrk_ref(L, &a);
	int64_t id = rk_prep_recvmsg(r->ring, fd, iov, niov, m->name, sizeof m->name, m->out,
	                             m->fds_cap, mf, flags);
	return lrk_commit(L, r, id, ref, LRK_RECVMSG, m, 0);
}

static int has_arg(const rk_op_info *info, const char *name)
{
	for (int i = 0; i < info->nargs; i++)
		if (strcmp(info->args[i].name, name) == 0)
			return i;
	return -1;
}

/* The plan of one row: how each argument is taken, what the slot holds. */
static void build(lua_State *L, plan *p, const rk_op_info *info, const policy *pol)
{
	memset(p, 0, sizeof *p);
	p->info = info;
	if (info->nargs > LRK_MAX_ARGS)
		luaL_error(L, "ringkit: op %s has too many arguments", info->name);
	int idx = 2;
	for (int i = 0; i < info->nargs; i++) {
		const rk_op_arg *arg = &info->args[i];
		plan_arg *x = &p->a[i];
		x->len = 0xff;
		for (int j = 0; j < info->nargs; j++)
			if (info->args[j].role == RK_ROLE_LEN && info->args[j].of == i)
				x->len = (uint8_t)j;
		switch (arg->role) {
		case RK_ROLE_LEN: x->x = X_SKIP; break;
		case RK_ROLE_FD: x->x = X_FD; x->req = strstr(arg->name, "dfd") == NULL; break;
		case RK_ROLE_REGION: x->x = X_REGION; break;
		case RK_ROLE_PTR_READ: x->x = X_RBUF; break;
		case RK_ROLE_PTR_WRITE:
			x->x = strcmp(arg->name, "buf") == 0 ? X_WBUF : X_OUT;
			p->kind = x->x == X_WBUF ? LRK_BUF
			          : strcmp(arg->name, "statxbuf") == 0 ? LRK_STATX : LRK_ACCEPT;
			break;
		case RK_ROLE_IOV_READ: x->x = X_RIOV; p->lists = 1; break;
		case RK_ROLE_IOV_WRITE: x->x = X_WIOV; p->kind = LRK_BUF; break;
		case RK_ROLE_PTR_COPIED:
			x->x = x->len == 0xff ? X_PATH : strcmp(arg->name, "fds") == 0 ? X_FDS : X_ADDR;
			x->req = 1;
			break;
		default: /* VALUE, ID, CHUNK, GROUP, FILE_INDEX */
			x->x = X_INT;
			x->req = arg->role == RK_ROLE_ID || arg->role == RK_ROLE_GROUP;
			x->def = arg->role == RK_ROLE_FILE_INDEX ? RK_FILE_INDEX_ALLOC : 0;
		}
		for (size_t k = 0; k < NPOLICY; k++) {
			const policy *q = &pol[k];
			if ((q->op != ANY && q->op != info->op) || strcmp(q->arg, arg->name) != 0)
				continue;
			if (q->how == P_OR) {
				x->bits |= q->v;
			} else {
				x->how = q->how;
				x->def = q->v;
				x->req = q->how == P_REQ;
			}
		}
		if (x->how == P_CREAT)
			x->len = (uint8_t)has_arg(info, "oflags");
		if (x->x == X_SKIP || x->x == X_OUT)
			continue;
		x->idx = (uint8_t)idx;
		idx += x->x == X_ADDR ? 2 : 1;
	}
	p->flags_idx = (uint8_t)idx;
}

/* Sets methods[name] (and methods[prep], prep not NULL) to f with upvalues
 * the ring metatable and p; the stack ends with the metatable, the methods. */
static void set_method(lua_State *L, const char *name, const char *prep, lua_CFunction f,
                       const plan *p)
{
	for (const char *n = name; n; n = n == name ? prep : NULL) {
		lua_pushvalue(L, -2);
		lua_pushlightuserdata(L, (void *)p);
		lua_pushcclosure(L, f, 2);
		lua_setfield(L, -2, n);
	}
}

uint32_t lrk_op_code(const char *name)
{
	uint32_t op = 0;
	while (op < RK_OP_COUNT && strcmp(rk_op_info_of(op)->name, name) != 0)
		op++;
	return op;
}

/* policy_rows with op names as codes and constant names as values; an
 * unknown name is a bug in policy.def, raised. */
static void resolve_policy(lua_State *L, policy *out)
{
	static const char *const hows[] = {"def", "req", "bor", "creat", "chunk", "opt"};
	for (size_t k = 0; k < NPOLICY; k++) {
		const struct policy_row *r = &policy_rows[k];
		policy *q = &out[k];
		q->arg = r->arg;
		q->v = r->v;
		q->op = ANY;
		if (strcmp(r->op, "*") != 0) {
			uint32_t op = lrk_op_code(r->op);
			if (op == RK_OP_COUNT)
				luaL_error(L, "ringkit/policy.def: unknown op %s", r->op);
			q->op = (uint8_t)op;
		}
		size_t h = 0;
		while (h < sizeof hows / sizeof hows[0] && strcmp(hows[h], r->how) != 0)
			h++;
		if (h == sizeof hows / sizeof hows[0])
			luaL_error(L, "ringkit/policy.def: unknown how %s", r->how);
		q->how = (uint8_t)h;
		for (const char *n = r->names; n && *n;) {
			char name[64];
			size_t len = strcspn(n, "|");
			int64_t v;
			if (len >= sizeof name)
				luaL_error(L, "ringkit/policy.def: constant name too long");
			memcpy(name, n, len);
			name[len] = 0;
			if (rk_constant(name, &v) < 0)
				luaL_error(L, "ringkit/policy.def: unknown constant %s", name);
			q->v |= v;
			n += len + (n[len] == '|');
		}
	}
}

void lrk_register_ops(lua_State *L)
{
	policy pol[NPOLICY];
	resolve_policy(L, pol);
	/* The plans live as long as the Lua state. */
	plan *plans = lua_newuserdatauv(L, sizeof(plan) * RK_OP_COUNT, 0);
	lua_setfield(L, LUA_REGISTRYINDEX, "ringkit.plans");
	for (uint32_t op = 0; op < RK_OP_COUNT; op++) {
		const rk_op_info *info = rk_op_info_of(op);
		char prep[64];
		build(L, &plans[op], info, pol);
		snprintf(prep, sizeof prep, "prep_%s", info->name);
		lua_CFunction f = op_call;
		if (op == RK_OP_NOP)
			f = op_nop;
		else if (op == RK_OP_READ || op == RK_OP_WRITE || op == RK_OP_RECV || op == RK_OP_SEND)
			f = op_io;
		else if (op == RK_OP_RECVMSG)
			f = op_recvmsg;
		set_method(L, op == RK_OP_CLOSE ? "closefd" : info->name, prep, f, &plans[op]);
	}
	set_method(L, "open", NULL, op_open, &plans[RK_OP_OPENAT]);
	set_method(L, "open_direct", NULL, op_open, &plans[RK_OP_OPENAT_DIRECT]);
}
