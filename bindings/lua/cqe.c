/*
 * ringkit for Lua 5.4: what a completion becomes — its third value, shaped
 * from what the op's slot held (see enum lrk_kind).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "lringkit.h"

static void push_statx(lua_State *L, const struct statx *x)
{
	lua_createtable(L, 0, 16);
#define F(name, val) (lua_pushinteger(L, (lua_Integer)(val)), lua_setfield(L, -2, name))
#define T(name, ts) (lua_pushnumber(L, (lua_Number)(ts).tv_sec + (lua_Number)(ts).tv_nsec * 1e-9), \
                     lua_setfield(L, -2, name))
	F("mask", x->stx_mask);
	F("blksize", x->stx_blksize);
	F("attributes", x->stx_attributes);
	F("nlink", x->stx_nlink);
	F("uid", x->stx_uid);
	F("gid", x->stx_gid);
	F("mode", x->stx_mode);
	F("ino", x->stx_ino);
	F("size", x->stx_size);
	F("blocks", x->stx_blocks);
	F("dev_major", x->stx_dev_major);
	F("dev_minor", x->stx_dev_minor);
	T("atime", x->stx_atime);
	T("btime", x->stx_btime);
	T("ctime", x->stx_ctime);
	T("mtime", x->stx_mtime);
#undef F
#undef T
}

static const char *msg_data(const lrk_msgbuf *m)
{
	return (const char *)&m->out[RK_MSG_FDS + m->fds_cap];
}

/* recvmsg's table: { data = string, addr = string | nil, fds = { int, ... },
 * flags = int }. */
static void push_msg(lua_State *L, const lrk_msgbuf *m, int32_t res)
{
	lua_createtable(L, 0, 4);
	lua_pushlstring(L, msg_data(m), (uint32_t)res < m->cap ? (size_t)res : m->cap);
	lua_setfield(L, -2, "data");
	int32_t namelen = m->out[RK_MSG_NAMELEN];
	if (namelen > 0) {
		lua_pushlstring(L, (const char *)m->name,
		                (size_t)namelen < sizeof m->name ? (size_t)namelen : sizeof m->name);
		lua_setfield(L, -2, "addr");
	}
	int32_t nfds = m->out[RK_MSG_NFDS];
	if (nfds < 0 || (uint32_t)nfds > m->fds_cap)
		nfds = 0;
	lua_createtable(L, nfds, 0);
	for (int32_t i = 0; i < nfds; i++) {
		lua_pushinteger(L, m->out[RK_MSG_FDS + i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "fds");
	lua_pushinteger(L, m->out[RK_MSG_FLAGS] & ~MSG_CMSG_CLOEXEC); /* ours, not news */
	lua_setfield(L, -2, "flags");
}

/* The third value of a completion, and the release of what its slot held. */
void lrk_push_extra(lua_State *L, lrk_ring *r, const rk_cqe *c)
{
	if (c->id < 0) { /* a message from a ring: its value; it names no slot */
		lua_pushinteger(L, (lua_Integer)(c->id & RK_MSG_VALUE_MASK));
		return;
	}
	uint32_t slot = (uint32_t)c->id;
	lrk_slot *s = slot < r->capacity ? &r->slots[slot] : NULL;
	if (!s || (c->flags & RK_CQE_F_MORE)) {
		lua_pushinteger(L, c->flags);
		return;
	}
	if (s->ref == LUA_NOREF && !s->buf) {
		lua_pushinteger(L, c->flags);
		return;
	}
	if (s->kind == LRK_BUF && c->res >= 0)
		lua_pushlstring(L, s->buf, (uint32_t)c->res < s->cap ? (size_t)c->res : s->cap);
	else if (s->kind == LRK_RECVMSG && c->res >= 0)
		push_msg(L, s->buf, c->res);
	else if (s->kind == LRK_ACCEPT && c->res >= 0)
		lua_pushlstring(L, s->buf, lrk_sockaddr_len(s->buf));
	else if (s->kind == LRK_STATX && c->res >= 0)
		push_statx(L, s->buf);
	else
		lua_pushinteger(L, c->flags);
	lrk_release_slot(L, s);
}
