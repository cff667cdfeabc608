/*
 * ringkit for Lua 5.4: socket addresses, provided-buffer groups, and the
 * synchronous socket helpers of the module.
 *
 * Addresses are built here, in C, from Lua values: ring:bind(fd, host, port)
 * with a numeric IPv4 or IPv6 host ("127.0.0.1", "::1", "[fe80::1%eth0]")
 * and a port, or a unix socket path with no port ("/run/x.sock", "@abstract").
 * The core copies what the kernel reads (bind, connect, sendmsg); the peer
 * address accept writes lands in a binding-owned buffer that comes back with
 * the completion as a string (rk.decode_sockaddr turns it into host, port).
 * Regions provided as buffer groups are kept alive by the ring's user value
 * while provided.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lringkit.h"

/* ------------------------------------------------------------------------ */
/* Addresses                                                                */
/* ------------------------------------------------------------------------ */

/* Parses a numeric IPv4/IPv6 host and a port into ss. Returns 0, or -EINVAL
 * when host is not a numeric address (a message is pushed then). */
static int ip_addr(lua_State *L, const char *host, size_t hl, int port,
                   struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 4];
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* "[::1]" */
		host++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof buf || memchr(host, '\0', hl))
		goto bad;
	memcpy(buf, host, hl);
	buf[hl] = '\0';
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof *sin;
		return 0;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char *scope = strchr(buf, '%');
	if (scope) {
		*scope++ = '\0';
		char *end;
		unsigned long id = strtoul(scope, &end, 10);
		if (*scope && !*end && id <= UINT32_MAX)
			sin6->sin6_scope_id = (uint32_t)id;
		else if (!(sin6->sin6_scope_id = if_nametoindex(scope)))
			goto bad;
	}
	if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof *sin6;
		return 0;
	}
bad:
	lua_pushfstring(L, "invalid address '%s' (a numeric IPv4 or IPv6 address expected)",
	                hl > 64 ? "..." : host);
	return -EINVAL;
}

/* The address given by the Lua values at idx (host) and idx + 1 (port):
 * host + port: IPv4/IPv6; host alone: a unix socket path ("@name": abstract).
 * Wrong types and a port out of 0..65535 raise. Returns 0, or -errno with a
 * message pushed. */
int lrk_addr_args(lua_State *L, int idx, struct sockaddr_storage *ss, socklen_t *len)
{
	size_t hl;
	const char *host = luaL_checklstring(L, idx, &hl);
	if (lua_isnoneornil(L, idx + 1)) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		memset(ss, 0, sizeof *ss);
		if (hl == 0 || memchr(host, '\0', hl)) {
			lua_pushliteral(L, "invalid unix socket path (a port is needed for an IP address)");
			return -EINVAL;
		}
		if (hl >= sizeof un->sun_path) {
			lua_pushliteral(L, "unix socket path too long");
			return -ENAMETOOLONG;
		}
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, host, hl);
		if (host[0] == '@') { /* abstract: no NUL terminator counted */
			un->sun_path[0] = '\0';
			*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + hl);
		} else {
			*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + hl + 1);
		}
		return 0;
	}
	lua_Integer port = luaL_checkinteger(L, idx + 1);
	luaL_argcheck(L, port >= 0 && port <= 65535, idx + 1, "port out of range 0..65535");
	return ip_addr(L, host, hl, (int)port, ss, len);
}

/* Pushes host, port, family for the len bytes of a sockaddr (port nil for a
 * unix socket); returns the count, or fail values. */
static int push_decoded(lua_State *L, const void *p, size_t len)
{
	sa_family_t fam;
	if (len < sizeof fam)
		return lrk_fail_msg(L, EINVAL, "address too short");
	memcpy(&fam, p, sizeof fam);
	char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	if (fam == AF_INET && len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;
		memcpy(&sin, p, sizeof sin);
		inet_ntop(AF_INET, &sin.sin_addr, text, sizeof text);
		lua_pushstring(L, text);
		lua_pushinteger(L, ntohs(sin.sin_port));
	} else if (fam == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6;
		memcpy(&sin6, p, sizeof sin6);
		inet_ntop(AF_INET6, &sin6.sin6_addr, text, sizeof text);
		if (sin6.sin6_scope_id)
			lua_pushfstring(L, "%s%%%d", text, (int)sin6.sin6_scope_id);
		else
			lua_pushstring(L, text);
		lua_pushinteger(L, ntohs(sin6.sin6_port));
	} else if (fam == AF_UNIX) {
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t n = len > off ? len - off : 0;
		const char *path = (const char *)p + off;
		if (n > 0 && path[0] == '\0') { /* abstract: "@name" */
			while (n > 1 && path[n - 1] == '\0')
				n--; /* a binding buffer is zero-filled past the name */
			lua_pushliteral(L, "@");
			lua_pushlstring(L, path + 1, n - 1);
			lua_concat(L, 2);
		} else {
			lua_pushlstring(L, path, strnlen(path, n));
		}
		lua_pushnil(L);
	} else {
		return lrk_fail_msg(L, EAFNOSUPPORT, "unknown or truncated address");
	}
	lua_pushinteger(L, fam);
	return 3;
}

size_t lrk_sockaddr_len(const void *storage)
{
	sa_family_t fam;
	memcpy(&fam, storage, sizeof fam);
	if (fam == AF_INET)
		return sizeof(struct sockaddr_in);
	if (fam == AF_INET6)
		return sizeof(struct sockaddr_in6);
	if (fam != AF_UNIX)
		return sizeof(struct sockaddr_storage);
	/* The kernel's length is not returned: cut the zero fill. */
	const char *b = storage;
	size_t off = offsetof(struct sockaddr_un, sun_path), len = sizeof(struct sockaddr_un);
	while (len > off && b[len - 1] == '\0')
		len--;
	return len > off && b[off] != '\0' ? len + 1 : len; /* a path keeps its terminator */
}

/* rk.decode_sockaddr(s) -> host, port, family (port nil for unix sockets)
 * | nil, msg, errno. s: the peer address accept's completion carries. */
static int l_decode_sockaddr(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	return push_decoded(L, s, len);
}

static int name_of(lua_State *L, int peer)
{
	int fd = lrk_fd_arg(L, 1, NULL);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	socklen_t len = sizeof ss;
	int ret = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
	               : getsockname(fd, (struct sockaddr *)&ss, &len);
	if (ret < 0)
		return lrk_fail(L, -errno);
	return push_decoded(L, &ss, len < sizeof ss ? len : sizeof ss);
}

/* rk.getsockname(fd), rk.getpeername(fd) -> host, port, family | nil, msg, errno */
static int l_getsockname(lua_State *L) { return name_of(L, 0); }
static int l_getpeername(lua_State *L) { return name_of(L, 1); }

/* ------------------------------------------------------------------------ */
/* Synchronous fd helpers (none of these block)                             */
/* ------------------------------------------------------------------------ */

/* rk.socketpair([type [, domain]]) -> fd1, fd2 | nil, msg, errno
 * (AF_UNIX, SOCK_STREAM by default; always close-on-exec) */
static int l_socketpair(lua_State *L)
{
	int32_t type = lrk_i32_arg(L, 1, SOCK_STREAM);
	int32_t domain = lrk_i32_arg(L, 2, AF_UNIX);
	int sv[2];
	if (socketpair(domain, type | SOCK_CLOEXEC, 0, sv) < 0)
		return lrk_fail(L, -errno);
	lua_pushinteger(L, sv[0]);
	lua_pushinteger(L, sv[1]);
	return 2;
}

/* rk.close(fd) -> true | nil, msg, errno: closes a raw fd now (one the ring
 * made: socket, accept, open). */
static int l_close(lua_State *L)
{
	lua_Integer fd = luaL_checkinteger(L, 1);
	luaL_argcheck(L, fd >= 0 && fd <= INT32_MAX, 1, "fd out of range");
	return lrk_true(L, close((int)fd) < 0 ? -errno : 0);
}

/* rk.setsockopt(fd, level, name, value) -> true | nil, msg, errno, for the
 * integer options (value an integer or a boolean): SO_REUSEADDR, ... */
static int l_setsockopt(lua_State *L)
{
	int fd = lrk_fd_arg(L, 1, NULL);
	int32_t level = lrk_i32_arg(L, 2, 0);
	int32_t name = lrk_i32_arg(L, 3, 0);
	int v;
	if (lua_isboolean(L, 4))
		v = lua_toboolean(L, 4);
	else
		v = lrk_i32_arg(L, 4, 0);
	return lrk_true(L, setsockopt(fd, level, name, &v, sizeof v) < 0 ? -errno : 0);
}

/* rk.bind_sync(fd, host [, port]), rk.listen_sync(fd [, backlog]): the plain
 * syscalls, for kernels without IORING_OP_BIND/LISTEN (before 6.11), where
 * ring:bind and ring:listen give EOPNOTSUPP. Neither blocks. */
static int l_bind_sync(lua_State *L)
{
	int fd = lrk_fd_arg(L, 1, NULL);
	struct sockaddr_storage ss;
	socklen_t len;
	int err = lrk_addr_args(L, 2, &ss, &len);
	if (err < 0)
		return lrk_fail_msg(L, -err, lua_tostring(L, -1));
	return lrk_true(L, bind(fd, (struct sockaddr *)&ss, len) < 0 ? -errno : 0);
}

static int l_listen_sync(lua_State *L)
{
	int fd = lrk_fd_arg(L, 1, NULL);
	return lrk_true(L, listen(fd, lrk_i32_arg(L, 2, SOMAXCONN)) < 0 ? -errno : 0);
}

static const struct { const char *name; int signo; } signal_names[] = {
	{"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"TERM", SIGTERM},
	{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"CHLD", SIGCHLD}, {"WINCH", SIGWINCH},
	{"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
};

static int signal_arg(lua_State *L, int idx)
{
	if (lua_type(L, idx) == LUA_TSTRING) {
		const char *s = lua_tostring(L, idx);
		if (strncmp(s, "SIG", 3) == 0)
			s += 3;
		for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
			if (strcmp(s, signal_names[i].name) == 0)
				return signal_names[i].signo;
		return luaL_argerror(L, idx, "unknown signal name");
	}
	lua_Integer n = luaL_checkinteger(L, idx);
	luaL_argcheck(L, n >= 1 && n < 65, idx, "signal number out of range");
	return (int)n;
}

/* rk.signalfd(signals) -> fd | nil, msg, errno. signals: a name ("INT",
 * "SIGTERM"), a number, or a list of them. Blocks them for the calling
 * thread and returns a signalfd that becomes readable (128 bytes per signal,
 * the signal number in the first 4) when one arrives: read it through the
 * ring (loop.read) to handle signals inside an IO loop. */
static int l_signalfd(lua_State *L)
{
	sigset_t set;
	sigemptyset(&set);
	if (lua_istable(L, 1)) {
		lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
		luaL_argcheck(L, n > 0, 1, "no signal given");
		for (lua_Integer i = 1; i <= n; i++) {
			lua_rawgeti(L, 1, i);
			sigaddset(&set, signal_arg(L, lua_gettop(L)));
			lua_pop(L, 1);
		}
	} else {
		sigaddset(&set, signal_arg(L, 1));
	}
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return lrk_fail(L, -errno);
	int fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (fd < 0)
		return lrk_fail(L, -errno);
	lua_pushinteger(L, fd);
	return 1;
}

/* ------------------------------------------------------------------------ */
/* Provided buffers and multishot ops                                       */
/* ------------------------------------------------------------------------ */

/* ring:provide_region(region [, group]) -> group | nil, msg, errno: every
 * free chunk of the region goes to the kernel as buffer group `group` (nil
 * or rk.RK_GROUP_ANY: the lowest id the ring does not use). The ring keeps the
 * region alive while provided. */
static int ring_provide_region(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_region *g = lrk_check_region(L, 2);
	uint16_t group = (uint16_t)lrk_int(L, 3, RK_ARG_U16, 1, RK_GROUP_ANY);
	int ret = rk_ring_provide_region(r->ring, g->region, group);
	if (ret < 0)
		return lrk_fail(L, ret);
	lrk_keep_region(L, 1, 2, LRK_KEEP_PROVIDED, 1);
	lua_pushinteger(L, ret);
	return 1;
}

/* ring:recycle_chunk(region, chunk) -> true | nil, msg, errno: hands a chunk
 * a completion gave the caller back to the kernel. */
static int ring_recycle_chunk(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_region *g = lrk_check_region(L, 2);
	lua_Integer c = luaL_checkinteger(L, 3);
	luaL_argcheck(L, c >= 0 && c < rk_region_nchunks(g->region), 3, "chunk index out of range");
	return lrk_true(L, rk_ring_recycle_chunk(r->ring, g->region, (int32_t)c));
}

/* ring:take_chunk(region, chunk, len) -> string | nil, msg, errno: the first
 * len bytes of a chunk a completion handed over, copied out, and the chunk
 * given back to the kernel — region:read and recycle_chunk in one call (the
 * per-receive path of a server). */
static int ring_take_chunk(lua_State *L)
{
	lrk_ring *r = lrk_check_ring(L, 1);
	lrk_region *g = lrk_check_region(L, 2);
	lua_Integer c = luaL_checkinteger(L, 3);
	lua_Integer len = luaL_checkinteger(L, 4);
	luaL_argcheck(L, c >= 0 && c < rk_region_nchunks(g->region), 3, "chunk index out of range");
	luaL_argcheck(L, len >= 0 && len <= rk_region_chunk_size(g->region), 4,
	              "length out of range");
	/* Copied first: once recycled, the kernel may write the chunk. */
	lua_pushlstring(L, rk_chunk_ptr(g->region, (int32_t)c), (size_t)len);
	int ret = rk_ring_recycle_chunk(r->ring, g->region, (int32_t)c);
	if (ret < 0)
		return lrk_fail(L, ret);
	return 1;
}

/* ring:unprovide_region(region) -> true | nil, msg, errno (EBUSY while an
 * op selects from it); the chunks the kernel held become free. */
static int ring_unprovide_region(lua_State *L)
{
	return lrk_ring_region_call(L, rk_ring_unprovide_region, LRK_KEEP_PROVIDED, 0);
}

const luaL_Reg lrk_ring_group_methods[] = {
	{"provide_region", ring_provide_region},
	{"recycle_chunk", ring_recycle_chunk},
	{"take_chunk", ring_take_chunk},
	{"unprovide_region", ring_unprovide_region},
	{NULL, NULL},
};

const luaL_Reg lrk_net_funcs[] = {
	{"decode_sockaddr", l_decode_sockaddr},
	{"getsockname", l_getsockname},
	{"getpeername", l_getpeername},
	{"socketpair", l_socketpair},
	{"close", l_close},
	{"setsockopt", l_setsockopt},
	{"bind_sync", l_bind_sync},
	{"listen_sync", l_listen_sync},
	{"signalfd", l_signalfd},
	{NULL, NULL},
};
