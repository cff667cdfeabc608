--[[ ringkit_ffi — the ringkit binding for LuaJIT, over the flat C ABI with ffi.

  local rk = require "ringkit_ffi"      -- loads libringkit.so (RINGKIT_LIB overrides)
  local ring = assert(rk.ring(256))
  local id = ring:nop()
  local n, id1, res1, extra1 = ring:reap(64, 1)

The same API as the Lua 5.4 C module `ringkit` (see bindings/lua/ringkit.c),
with these differences:
  - fd arguments are integers (LuaJIT file handles expose no fd), or a ring
    (msg_ring's target);
  - ids are Lua numbers (doubles). They are exact while a slot's generation
    is below 2^21 (two million reuses of one slot); cancel/poll_remove/
    timeout_remove look the exact 64-bit id up by slot, so a stale id is
    still refused (ENOENT) rather than matched to the slot's next op;
  - no __close (Lua 5.1); rings and regions are closed by ring:close() /
    region:destroy() or by the garbage collector (ffi.gc).
Memory the kernel touches later stays anchored in a per-slot Lua table until
the op's final completion: write strings (LuaJIT strings do not move), ffi
read buffers, regions, statx buffers.
]]
local ffi = require "ffi"
local bit = require "bit"
local module_chunk = debug.getinfo(1, "f").func

ffi.cdef [[
typedef struct rk_ring rk_ring;
typedef struct rk_region rk_region;
typedef struct rk_cqe { int64_t id; int32_t res; uint32_t flags; } rk_cqe;
typedef struct rk_cqe_view { uint32_t lo, hi; int32_t res; uint32_t flags; } rk_cqe_view;
typedef struct rk_iovec { uint64_t base; uint64_t len; } rk_iovec;
typedef struct rk_statx_ts { int64_t sec; uint32_t nsec; int32_t reserved; } rk_statx_ts;
typedef struct rk_statx {
  uint32_t mask, blksize; uint64_t attributes; uint32_t nlink, uid, gid; uint16_t mode, spare0;
  uint64_t ino, size, blocks, attributes_mask;
  rk_statx_ts atime, btime, ctime, mtime;
  uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
  uint64_t spare[14];
} rk_statx;
struct rk_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clk, struct rk_timespec *ts);
int close(int fd);

uint32_t rk_version(void);
const char *rk_strerror(int err);
int rk_constant(const char *name, int64_t *value);
int rk_constant_at(uint32_t index, const char **name, int64_t *value);
int rk_ring_create(uint32_t entries, uint32_t flags, rk_ring **out);
int rk_ring_create_ex(uint32_t entries, uint32_t flags, uint32_t cq_entries, uint32_t capacity,
                      uint32_t sq_thread_idle_ms, rk_ring **out);
int rk_ring_close(rk_ring *ring);
int rk_ring_cancel_all(rk_ring *ring);
int rk_ring_fd(rk_ring *ring);
int rk_ring_backend(rk_ring *ring);
int rk_ring_probe(rk_ring *ring, uint32_t opcode);
int rk_ring_register_eventfd(rk_ring *ring, int fd, uint32_t flags);
int rk_ring_unregister_eventfd(rk_ring *ring);
int rk_ring_stats(rk_ring *ring, uint64_t *out, uint32_t n);
int64_t rk_prep_nop(rk_ring *ring, uint32_t flags);
int rk_cancel_sync(rk_ring *ring, int64_t target_id, int64_t timeout_ns);
typedef struct rk_op_desc {
  uint8_t op; uint8_t reserved0[3]; uint32_t flags; int32_t fd; uint32_t len; int64_t off;
  uint64_t addr, addr2; int64_t arg1, arg2; int32_t fd2; uint32_t reserved1;
} rk_op_desc;
typedef struct rk_op_arg {
  const char* name; uint8_t offset, width, type, role, of; uint8_t reserved[3];
} rk_op_arg;
typedef struct rk_op_info {
  const char* name; uint8_t op, nargs, result, multishot, opcode; uint8_t reserved[3];
  const rk_op_arg* args;
} rk_op_info;
const rk_op_info *rk_op_info_of(uint32_t op);
int rk_prep_batch(rk_ring *ring, const rk_op_desc *descs, uint32_t n, int64_t *ids);
int rk_submit(rk_ring *ring);
int rk_reap(rk_ring *ring, rk_cqe *out, uint32_t max, uint32_t wait_nr, int64_t timeout_ns);
int rk_region_create(uint32_t chunk_size, uint32_t nchunks, uint32_t flags, rk_region **out);
int rk_region_destroy(rk_region *region);
int rk_region_busy(rk_region *region);
int rk_recvmsg_out(rk_region *region, int32_t chunk, uint32_t len, uint32_t name_cap, uint32_t control_cap, uint32_t *out, uint32_t n);
int32_t rk_chunk_alloc(rk_region *region);
int rk_chunk_free(rk_region *region, int32_t chunk);
void *rk_chunk_ptr(rk_region *region, int32_t chunk);
int64_t rk_region_chunk_size(rk_region *region);
int64_t rk_region_nchunks(rk_region *region);
int64_t rk_region_chunks_free(rk_region *region);
int rk_ring_register_region(rk_ring *ring, rk_region *region);
int rk_ring_unregister_region(rk_ring *ring, rk_region *region);
int rk_ring_provide_region(rk_ring *ring, rk_region *region, uint16_t group);
int rk_ring_recycle_chunk(rk_ring *ring, rk_region *region, int32_t chunk);
int rk_ring_unprovide_region(rk_ring *ring, rk_region *region);
int64_t rk_prep_recvmsg(rk_ring *ring, int fd, const rk_iovec *iov, uint32_t niov, void *name, uint32_t name_cap, int32_t *out, uint32_t fds_cap, int32_t msg_flags, uint32_t flags);
int rk_ring_register_files(rk_ring *ring, uint32_t nslots);
int rk_ring_update_files(rk_ring *ring, uint32_t offset, const int32_t *fds, uint32_t n);
int rk_ring_unregister_files(rk_ring *ring);
int rk_ring_file_alloc_range(rk_ring *ring, uint32_t offset, uint32_t len);
int rk_ring_feature(rk_ring *ring, uint32_t feature);
int rk_ring_restrict(rk_ring *ring, const uint32_t *ops, uint32_t n, uint32_t flags);
int rk_ring_resize(rk_ring *ring, uint32_t sq_entries, uint32_t cq_entries);

typedef struct rk_sa_in { uint16_t family; uint8_t port[2]; uint8_t addr[4]; uint8_t zero[8]; } rk_sa_in;
typedef struct rk_sa_in6 { uint16_t family; uint8_t port[2]; uint32_t flowinfo; uint8_t addr[16];
                           uint32_t scope_id; } rk_sa_in6;
typedef struct rk_sa_un { uint16_t family; char path[108]; } rk_sa_un;
int inet_pton(int af, const char *src, void *dst);
const char *inet_ntop(int af, const void *src, char *dst, uint32_t size);
unsigned int if_nametoindex(const char *ifname);
int socketpair(int domain, int type, int protocol, int sv[2]);
int getsockname(int fd, void *addr, uint32_t *len);
int getpeername(int fd, void *addr, uint32_t *len);
int setsockopt(int fd, int level, int name, const void *val, uint32_t len);
int bind(int fd, const void *addr, uint32_t len);
int listen(int fd, int backlog);
int sigemptyset(void *set);
int sigaddset(void *set, int signo);
int sigprocmask(int how, const void *set, void *old);
int signalfd(int fd, const void *mask, int flags);
]]

local function load_lib()
  local candidates = { os.getenv("RINGKIT_LIB"), "ringkit", "libringkit.so.0" }
  local errs = {}
  for i = 1, 3 do
    local name = candidates[i]
    if name and name ~= "" then
      local ok, lib = pcall(ffi.load, name)
      if ok then return lib end
      errs[#errs + 1] = tostring(lib)
    end
  end
  error("ringkit_ffi: cannot load libringkit (set RINGKIT_LIB): " .. table.concat(errs, "; "), 3)
end

local C = load_lib()
local M = { lib = C, _VERSION = "ringkit_ffi for " .. (jit and jit.version or _VERSION) }

local MAX_VALUES_BATCH = 1024
local TWO32 = 4294967296
local ring_pp = ffi.typeof("rk_ring *[1]")
local region_pp = ffi.typeof("rk_region *[1]")
local cqe_arr = ffi.typeof("rk_cqe[?]")
local view_ptr = ffi.typeof("rk_cqe_view *")
local u8_arr = ffi.typeof("uint8_t[?]")
local iov_arr = ffi.typeof("rk_iovec[?]")
local i64_arr = ffi.typeof("int64_t[?]")
local stats_arr = ffi.typeof("uint64_t[11]")
local statx_ptr = ffi.typeof("rk_statx *")
local MORE = 2

local function strerror(err)
  err = tonumber(err)
  if err > 0 then err = -err end
  return ffi.string(C.rk_strerror(err))
end
M.strerror = strerror

local function fail(err)
  err = tonumber(err)
  return nil, strerror(err), -err
end

-- Constants: rk.constants.NAME and rk.NAME.
do
  local consts = {}
  local name, value = ffi.new("const char *[1]"), ffi.new("int64_t[1]")
  local i = 0
  while C.rk_constant_at(i, name, value) == 0 do
    local n, v = ffi.string(name[0]), tonumber(value[0])
    consts[n] = v
    M[n] = v
    i = i + 1
  end
  M.constants = consts
end
local K = M.constants
local AT_FDCWD, O_CLOEXEC = K.AT_FDCWD, K.O_CLOEXEC
local AF_INET, AF_INET6, AF_UNIX = K.AF_INET, K.AF_INET6, K.AF_UNIX
local SOCK_STREAM, SOCK_CLOEXEC, MSG_NOSIGNAL = K.SOCK_STREAM, K.SOCK_CLOEXEC, K.MSG_NOSIGNAL

function M.version()
  local v = C.rk_version()
  return v, string.format("%d.%d.%d", bit.rshift(v, 16), bit.band(bit.rshift(v, 8), 0xff),
    bit.band(v, 0xff))
end

function M.constant(name)
  local v = ffi.new("int64_t[1]")
  if C.rk_constant(name, v) < 0 then return nil end
  return tonumber(v[0])
end

do
  local ts = ffi.new("struct rk_timespec")
  function M.now()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
  end
end

--- rk.rejit(): re-enables JIT compilation of every function of this module.
-- LuaJIT blacklists a loop whose traces keep aborting — the reap loop, after
-- a long phase of one completion per call — and it then stays interpreted
-- (about 5x slower) even once batches grow. Call this when a program's IO
-- pattern changes phase; it is cheap (no effect on anything compiled).
function M.rejit()
  if jit then jit.on(module_chunk, true) end
end

-- Kinds of what a slot holds (what the completion's third value becomes):
-- K_BUF the data, K_STATX a table, K_ACCEPT the peer address, K_MSG
-- (anchor = { data, name, out, fds_cap }) recvmsg's table. (At close the
-- core closes fds and takes back chunks nobody saw.)
local K_ANCHOR, K_BUF, K_STATX, K_ACCEPT, K_MSG = 1, 2, 3, 4, 5
local F_BUFFER = 1
local KEEP_REGISTERED, KEEP_PROVIDED = 1, 2

local Ring = {}
Ring.__index = Ring
local Region = {}
Region.__index = Region

local leaked = {} -- anchors of rings whose close timed out: kept forever

-- Closes a ring — the core cancels what is in flight, waits until the kernel
-- is done and disposes of what completions nobody will see carried (fds,
-- chunks) — then lets go of the anchors. st is the ring's shared state (also
-- held by the ffi.gc finalizer, which must not reference the ring table).
local function close_state(st)
  local p = st.ptr
  if p == nil then return 0 end
  st.ptr = nil
  local rc = C.rk_ring_close(p)
  if rc ~= 0 then leaked[#leaked + 1] = st.anchors end
  st.anchors, st.kinds = {}, {}
  st.regions = {} -- a closed ring no longer keeps its regions alive
  return rc
end

local function new_ring(entries, flags, cq, cap, idle)
  local pp = ring_pp()
  local err = C.rk_ring_create_ex(entries or 256, flags or 0, cq or 0, cap or 0, idle or 0, pp)
  if err < 0 then return fail(err) end
  local p = pp[0]
  local stats = stats_arr()
  C.rk_ring_stats(p, stats, 10)
  local ncq = 256
  local cqes = cqe_arr(ncq)
  local st = { ptr = p, anchors = {}, kinds = {}, regions = {}, cqes = cqes, ncqes = ncq }
  local token = ffi.gc(ffi.new("uint8_t[1]"), function() close_state(st) end)
  return setmetatable({
    st = st, token = token,
    capacity = tonumber(stats[4]), cqes = cqes, view = ffi.cast(view_ptr, cqes), ncqes = ncq,
    exact = i64_arr(tonumber(stats[4])), -- slot -> full id, for cancel by number
  }, Ring)
end

function M.ring(entries, flags) return new_ring(entries, flags) end
function M.ring_ex(entries, flags, cq, cap, idle) return new_ring(entries, flags, cq, cap, idle) end

local function check(self)
  local p = self.st.ptr
  if p == nil then error("ring is closed", 3) end
  return p
end

-- Records an op: returns the id as a number, or nil, msg, errno.
local function commit(self, id, anchor, kind)
  if id < 0 then return fail(id) end
  local slot = tonumber(bit.band(id, 0xffffffffLL))
  self.exact[slot] = id
  if anchor ~= nil then
    self.st.anchors[slot] = anchor
    self.st.kinds[slot] = kind or K_ANCHOR
  end
  return tonumber(id)
end

local function exact_id(self, id)
  local slot = id % TWO32
  if slot < self.capacity then
    local e = self.exact[slot]
    if tonumber(e) == id then return e end
  end
  return id
end

function Ring:nop(flags)
  local id = C.rk_prep_nop(check(self), flags or 0)
  if id < 0 then return fail(id) end
  local lo = tonumber(bit.band(id, 0xffffffffLL))
  self.exact[lo] = id
  return tonumber(id)
end

local function region_ptr(g)
  if getmetatable(g) ~= Region then error("bad argument (region expected)", 3) end
  local p = g.s.ptr
  if p == nil then error("region is destroyed", 3) end
  return p
end

function Ring:cancel_sync(target, timeout)
  local p = check(self)
  local ret = C.rk_cancel_sync(p, exact_id(self, target), timeout or -1)
  if ret < 0 then return fail(ret) end
  return true
end

-- Sockets ---------------------------------------------------------------
-- Addresses are built here from a numeric IPv4/IPv6 host and a port, or a
-- unix socket path (port nil; "@name" is abstract), as in the C module.

local sa_buf = ffi.typeof("uint8_t[128]")
local sa_in_ptr = ffi.typeof("rk_sa_in *")
local sa_in6_ptr = ffi.typeof("rk_sa_in6 *")
local sa_un_ptr = ffi.typeof("rk_sa_un *")
local u32_box = ffi.typeof("uint32_t[1]")
local int2 = ffi.typeof("int[2]")
local int_box = ffi.typeof("int[1]")
local SUN_PATH_OFF = 2

-- st.regions: region -> bit mask of why the ring keeps it (KEEP_*).
local function keep_region(st, g, b, on)
  local m = st.regions[g] or 0
  m = on and bit.bor(m, b) or bit.band(m, bit.bnot(b))
  st.regions[g] = m ~= 0 and m or nil
end

local function check_port(port, argn)
  if type(port) ~= "number" or port ~= math.floor(port) or port < 0 or port > 65535 then
    error("bad argument #" .. argn .. " (port out of range 0..65535)", 4)
  end
end

-- -> buffer, length | nil, msg, errno (an invalid host); raises on misuse.
local function sockaddr(host, port, argn)
  if type(host) ~= "string" then
    error("bad argument #" .. argn .. " (string expected, got " .. type(host) .. ")", 3)
  end
  local buf = sa_buf()
  if port == nil then
    if #host == 0 or host:find("\0", 1, true) then
      return nil, "invalid unix socket path (a port is needed for an IP address)", K.EINVAL
    end
    if #host >= 108 then return nil, "unix socket path too long", K.ENAMETOOLONG end
    local un = ffi.cast(sa_un_ptr, buf)
    un.family = AF_UNIX
    ffi.copy(un.path, host, #host)
    if host:sub(1, 1) == "@" then
      un.path[0] = 0
      return buf, SUN_PATH_OFF + #host
    end
    return buf, SUN_PATH_OFF + #host + 1
  end
  check_port(port, argn + 1)
  local h = host:match("^%[(.*)%]$") or host
  if #h > 0 and not h:find("\0", 1, true) then
    local sin = ffi.cast(sa_in_ptr, buf)
    if C.inet_pton(AF_INET, h, sin.addr) == 1 then
      sin.family = AF_INET
      sin.port[0], sin.port[1] = bit.rshift(port, 8), bit.band(port, 255)
      return buf, 16
    end
    local sin6 = ffi.cast(sa_in6_ptr, buf)
    local addr, scope = h:match("^([^%%]*)%%(.*)$")
    local ok = true
    if addr then
      h = addr
      local id = tonumber(scope:match("^%d+$") or "")
      if id and id <= 4294967295 then sin6.scope_id = id
      else
        sin6.scope_id = #scope > 0 and C.if_nametoindex(scope) or 0
        ok = sin6.scope_id ~= 0
      end
    end
    if ok and C.inet_pton(AF_INET6, h, sin6.addr) == 1 then
      sin6.family = AF_INET6
      sin6.port[0], sin6.port[1] = bit.rshift(port, 8), bit.band(port, 255)
      return buf, 28
    end
  end
  return nil, "invalid address '" .. (#host > 64 and "..." or host) ..
    "' (a numeric IPv4 or IPv6 address expected)", K.EINVAL
end

local ntop_buf = ffi.new("char[64]")

-- host, port, family of len bytes at p (port nil for unix) | nil, msg, errno
local function decode(p, len)
  if len < 2 then return nil, "address too short", K.EINVAL end
  local fam = ffi.cast("uint16_t *", p)[0]
  if fam == AF_INET and len >= 16 then
    local sin = ffi.cast(sa_in_ptr, p)
    C.inet_ntop(AF_INET, sin.addr, ntop_buf, 64)
    return ffi.string(ntop_buf), sin.port[0] * 256 + sin.port[1], fam
  elseif fam == AF_INET6 and len >= 28 then
    local sin6 = ffi.cast(sa_in6_ptr, p)
    C.inet_ntop(AF_INET6, sin6.addr, ntop_buf, 64)
    local host = ffi.string(ntop_buf)
    if sin6.scope_id ~= 0 then host = host .. "%" .. tonumber(sin6.scope_id) end
    return host, sin6.port[0] * 256 + sin6.port[1], fam
  elseif fam == AF_UNIX then
    local n = len > SUN_PATH_OFF and len - SUN_PATH_OFF or 0
    local path = ffi.string(ffi.cast("const char *", p) + SUN_PATH_OFF, n)
    if n > 0 and path:byte(1) == 0 then
      return "@" .. path:sub(2):gsub("%z+$", ""), nil, fam
    end
    return (path:match("^[^%z]*")), nil, fam
  end
  return nil, "unknown or truncated address", K.EAFNOSUPPORT
end

-- The peer address accept wrote into a 128-byte buffer, as a string.
local function peer_string(buf)
  local fam = ffi.cast("uint16_t *", buf)[0]
  local len = 128
  if fam == AF_INET then len = 16
  elseif fam == AF_INET6 then len = 28
  elseif fam == AF_UNIX then
    len = 110
    while len > SUN_PATH_OFF and buf[len - 1] == 0 do len = len - 1 end
    if len > SUN_PATH_OFF and buf[SUN_PATH_OFF] ~= 0 then len = len + 1 end
  end
  return ffi.string(buf, len)
end

--- rk.decode_sockaddr(s) -> host, port, family | nil, msg, errno
function M.decode_sockaddr(s)
  if type(s) ~= "string" then error("bad argument #1 to 'decode_sockaddr' (string expected)", 2) end
  return decode(s, #s)
end

local function name_of(fn, fd)
  local buf, len = sa_buf(), u32_box(128)
  if fn(fd, buf, len) < 0 then return fail(-ffi.errno()) end
  return decode(buf, math.min(len[0], 128))
end
function M.getsockname(fd) return name_of(C.getsockname, fd) end
function M.getpeername(fd) return name_of(C.getpeername, fd) end

function M.socketpair(type_, domain)
  local sv = int2()
  if C.socketpair(domain or AF_UNIX, bit.bor(type_ or SOCK_STREAM, SOCK_CLOEXEC), 0, sv) < 0 then
    return fail(-ffi.errno())
  end
  return sv[0], sv[1]
end

function M.close(fd)
  if type(fd) ~= "number" or fd < 0 then error("bad argument #1 to 'close' (fd expected)", 2) end
  if ffi.C.close(fd) < 0 then return fail(-ffi.errno()) end
  return true
end

function M.setsockopt(fd, level, name, value)
  local v = int_box(value == true and 1 or (value == false and 0) or value)
  if C.setsockopt(fd, level, name, v, 4) < 0 then return fail(-ffi.errno()) end
  return true
end

function M.bind_sync(fd, host, port)
  local sa, len, errno = sockaddr(host, port, 2)
  if not sa then return nil, len, errno end
  if C.bind(fd, sa, len) < 0 then return fail(-ffi.errno()) end
  return true
end

function M.listen_sync(fd, backlog)
  if C.listen(fd, backlog or 4096) < 0 then return fail(-ffi.errno()) end
  return true
end

-- Linux's numbers on x86, arm and most other architectures.
local signals = { HUP = 1, INT = 2, QUIT = 3, USR1 = 10, USR2 = 12, PIPE = 13, ALRM = 14,
                  TERM = 15, CHLD = 17, WINCH = 28 }

local function signo(v)
  if type(v) == "string" then
    return signals[v:gsub("^SIG", "")] or error("bad argument #1 to 'signalfd' (unknown signal name)", 4)
  end
  if type(v) ~= "number" or v < 1 or v >= 65 then
    error("bad argument #1 to 'signalfd' (signal number out of range)", 4)
  end
  return v
end

--- rk.signalfd(signals) -> fd | nil, msg, errno (see the C module)
function M.signalfd(sigs)
  local set = ffi.new("uint8_t[128]")
  C.sigemptyset(set)
  if type(sigs) == "table" then
    if #sigs == 0 then error("bad argument #1 to 'signalfd' (no signal given)", 2) end
    for i = 1, #sigs do C.sigaddset(set, signo(sigs[i])) end
  else
    C.sigaddset(set, signo(sigs))
  end
  if C.sigprocmask(0, set, nil) < 0 then return fail(-ffi.errno()) end -- SIG_BLOCK
  local fd = C.signalfd(-1, set, O_CLOEXEC)
  if fd < 0 then return fail(-ffi.errno()) end
  return fd
end

function M.cqe_chunk(flags)
  if bit.band(flags, F_BUFFER) == 0 then return nil end
  return bit.rshift(flags, 16)
end

function M.cqe_more(flags) return bit.band(flags, MORE) ~= 0 end

local function check_group(group)
  if type(group) ~= "number" or group < 0 or group > 65535 or group ~= math.floor(group) then
    error("bad argument (group id out of range 0..65535)", 3)
  end
  return group
end

--- ring:provide_region(region [, group]) -> group: as the C module (nil or
-- rk.RK_GROUP_ANY: the lowest id the ring does not use).
function Ring:provide_region(g, group)
  local p, rp = check(self), region_ptr(g)
  if group == nil then group = K.RK_GROUP_ANY else check_group(group) end
  local r = C.rk_ring_provide_region(p, rp, group)
  if r < 0 then return fail(r) end
  keep_region(self.st, g, KEEP_PROVIDED, true)
  return r
end

function Ring:recycle_chunk(g, c)
  local p, rp = check(self), region_ptr(g)
  if type(c) ~= "number" or c < 0 or c >= g.n then
    error("bad argument #2 to 'recycle_chunk' (chunk index out of range)", 2)
  end
  local r = C.rk_ring_recycle_chunk(p, rp, c)
  if r < 0 then return fail(r) end
  return true
end

--- ring:take_chunk(region, chunk, len) -> string: copies a chunk's first len
-- bytes out and recycles it, as the C module.
function Ring:take_chunk(g, c, len)
  local p, rp = check(self), region_ptr(g)
  if type(c) ~= "number" or c < 0 or c >= g.n then
    error("bad argument #2 to 'take_chunk' (chunk index out of range)", 2)
  end
  if type(len) ~= "number" or len < 0 or len > g.chunk_bytes then
    error("bad argument #3 to 'take_chunk' (length out of range)", 2)
  end
  local s = ffi.string(C.rk_chunk_ptr(rp, c), len)
  local r = C.rk_ring_recycle_chunk(p, rp, c)
  if r < 0 then return fail(r) end
  return s
end

function Ring:unprovide_region(g)
  local p, rp = check(self), region_ptr(g)
  local r = C.rk_ring_unprovide_region(p, rp)
  if r < 0 then return fail(r) end
  keep_region(self.st, g, KEEP_PROVIDED, false)
  return true
end

-- sendmsg / recvmsg, zero-copy sends ------------------------------------

local msg_table -- recvmsg's completion table (used by extra, below)

local i32_arr = ffi.typeof("int32_t[?]")
local MSG_CMSG_CLOEXEC = K.MSG_CMSG_CLOEXEC
local MSG_FDS_MAX, FILES_MAX = K.RK_MSG_FDS_MAX, K.RK_FILES_MAX
local IOV_MAX = 1024 -- the core's limit for writev (sendmsg: RK_MSG_IOV_MAX)
local MSG_MAX_BYTES = 2147483647

local function argerr(name, n, msg) error("bad argument #" .. n .. " to '" .. name .. "' (" .. msg .. ")", 3) end

local function is_int(v)
  return type(v) == "number" and v == math.floor(v) and v >= -2147483648 and v <= 4294967295
end

-- data: a string or a list of strings -> iovec array, count, anchor
local function data_iov(name, data)
  if type(data) == "string" then
    local iov = iov_arr(1)
    iov[0].base = ffi.cast("uint64_t", ffi.cast("uintptr_t", ffi.cast("const char *", data)))
    iov[0].len = #data
    return iov, 1, data
  end
  if type(data) ~= "table" then argerr(name, 2, "string or list of strings expected") end
  local n = #data
  if n > IOV_MAX then argerr(name, 2, "too many strings") end
  local keep, iov, total = {}, iov_arr(n > 0 and n or 1), 0
  for i = 1, n do
    local s = data[i]
    if type(s) ~= "string" then argerr(name, 2, "strings expected") end
    keep[i] = s
    iov[i - 1].base = ffi.cast("uint64_t", ffi.cast("uintptr_t", ffi.cast("const char *", s)))
    iov[i - 1].len = #s
    total = total + #s
  end
  if total > MSG_MAX_BYTES then argerr(name, 2, "strings too long for one message") end
  return iov, n, keep
end

-- a list of integer fds (or nil) -> int32 array, count
local function fds_arr(name, n_arg, fds, max)
  if fds == nil then return nil, 0 end
  if type(fds) ~= "table" then argerr(name, n_arg, "table expected, got " .. type(fds)) end
  local n = #fds
  if n > max then argerr(name, n_arg, "too many fds") end
  local a = i32_arr(n > 0 and n or 1)
  for i = 1, n do
    local fd = fds[i]
    if type(fd) ~= "number" or fd ~= math.floor(fd) or fd < -2147483648 or fd > 2147483647 then
      argerr(name, n_arg, "a list of integer fds expected")
    end
    a[i - 1] = fd
  end
  return a, n
end

-- A length or a list of lengths (readv, recvmsg) -> iovecs over one buffer
-- of their total: iovec array, count, the buffer.
local function length_iov(name, n, lens)
  if type(lens) ~= "table" then lens = { lens } end
  local total = 0
  for i = 1, #lens do
    local l = lens[i]
    if type(l) ~= "number" or l < 0 or l ~= math.floor(l) then
      argerr(name, n, #lens == 1 and "length out of range" or "lengths must be integers >= 0")
    end
    total = total + l
  end
  if total > MSG_MAX_BYTES then argerr(name, n, "total length too large") end
  local buf, iov, pos = u8_arr(total), iov_arr(#lens > 0 and #lens or 1), 0
  for i = 1, #lens do
    iov[i - 1].base = ffi.cast("uintptr_t", buf + pos)
    iov[i - 1].len = lens[i]
    pos = pos + lens[i]
  end
  return iov, #lens, buf
end

--- ring:recvmsg(fd, len [, fds_cap [, msg_flags [, flags]]]): the third value
-- of its completion is { data, addr, fds, flags }, as the C module.
function Ring:recvmsg(fd, len, cap, mf, flags)
  local p = check(self)
  local iov, niov, data = length_iov("recvmsg", 2, len)
  cap = cap or 0
  if type(cap) ~= "number" or cap < 0 or cap > MSG_FDS_MAX or cap ~= math.floor(cap) then
    argerr("recvmsg", 3, "fds_cap out of range 0..253")
  end
  local m = { data = data, name = sa_buf(), out = i32_arr(3 + cap), fds_cap = cap }
  return commit(self, C.rk_prep_recvmsg(p, fd, iov, niov, m.name, 128, m.out, cap,
    bit.bor(mf or 0, MSG_CMSG_CLOEXEC), flags or 0), m, K_MSG)
end

msg_table = function(m, res)
  local cap = ffi.sizeof(m.data)
  local out = m.out
  local t = { data = ffi.string(m.data, res < cap and res or cap),
              flags = bit.band(out[1], bit.bnot(MSG_CMSG_CLOEXEC)) }
  local namelen = out[0]
  if namelen > 0 then t.addr = ffi.string(m.name, namelen < 128 and namelen or 128) end
  local fds = {}
  for k = 0, math.min(out[2], m.fds_cap) - 1 do fds[k + 1] = out[3 + k] end
  t.fds = fds
  return t
end

--- ring:send_zc(fd, data [, msg_flags [, zc_flags [, flags]]]): two
function M.cqe_notif(flags) return bit.band(flags, 8) ~= 0 end

-- Registered files and direct ops ------------------------------------------

function Ring:register_files(n)
  if not is_int(n) then argerr("register_files", 1, "integer expected") end
  local r = C.rk_ring_register_files(check(self), n)
  if r < 0 then return fail(r) end
  return true
end

function Ring:update_files(off, fds)
  local p = check(self)
  if not is_int(off) or off < 0 then argerr("update_files", 1, "offset out of range") end
  local a, n = fds_arr("update_files", 2, fds, FILES_MAX)
  if a == nil then argerr("update_files", 2, "table expected, got nil") end
  local r = C.rk_ring_update_files(p, off, a, n)
  if r < 0 then return fail(r) end
  return r
end

function Ring:file_alloc_range(off, len)
  if not is_int(off) or off < 0 then argerr("file_alloc_range", 1, "offset out of range") end
  if not is_int(len) or len < 0 then argerr("file_alloc_range", 2, "len out of range") end
  local r = C.rk_ring_file_alloc_range(check(self), off, len)
  if r < 0 then return fail(r) end
  return true
end

function Ring:feature(f)
  if type(f) == "string" then
    f = K[f] or K["RK_FEATURE_" .. f] or error("unknown feature name", 2)
  end
  local r = C.rk_ring_feature(check(self), f)
  if r < 0 then return fail(r) end
  return r == 1
end

-- ring:resize(sq_entries [, cq_entries]): as the C module's.
function Ring:resize(sq, cq)
  cq = cq or 0
  if not is_int(sq) or sq < 0 or sq > 0xffffffff then argerr("resize", 1, "sq_entries out of range") end
  if not is_int(cq) or cq < 0 or cq > 0xffffffff then argerr("resize", 2, "cq_entries out of range") end
  local r = C.rk_ring_resize(check(self), sq, cq)
  if r < 0 then return fail(r) end
  return true
end

function Ring:unregister_files()
  local r = C.rk_ring_unregister_files(check(self))
  if r < 0 then return fail(r) end
  return true
end

-- ring:restrict{"read", ... [, fixed_files_only = true] [, allow_files = true]
-- [, allow_regions = true] [, allow_eventfd = true]}: as the C module's.
local restrict_keys = { fixed_files_only = "RK_RESTRICT_FIXED_FILES",
  allow_files = "RK_RESTRICT_FILES", allow_regions = "RK_RESTRICT_REGIONS",
  allow_eventfd = "RK_RESTRICT_EVENTFD" }
local op_codes
function Ring:restrict(t)
  local p = check(self)
  if type(t) ~= "table" then argerr("restrict", 1, "table expected") end
  if not op_codes then
    op_codes = {}
    for op = 0, K.RK_OP_COUNT - 1 do op_codes[ffi.string(C.rk_op_info_of(op).name)] = op end
  end
  local n = #t
  local ops = ffi.new("uint32_t[?]", n > 0 and n or 1)
  for i = 1, n do
    local v = t[i]
    if is_int(v) then
      ops[i - 1] = (v >= 0 and v < K.RK_OP_COUNT) and v or K.RK_OP_COUNT
    elseif type(v) == "string" and op_codes[v] then
      ops[i - 1] = op_codes[v]
    elseif type(v) == "string" then
      argerr("restrict", 1, "unknown op '" .. v .. "'")
    else
      argerr("restrict", 1, "a list of op names expected")
    end
  end
  local flags = 0
  for key, name in pairs(restrict_keys) do
    if t[key] then flags = bit.bor(flags, K[name]) end
  end
  local r = C.rk_ring_restrict(p, ops, n, flags)
  if r < 0 then return fail(r) end
  return true
end

-- Ops from the core's table ---------------------------------------------------
-- Every op of rk_op_info_of is a Ring method, ring:<name> and
-- ring:prep_<name> (RK_OP_CLOSE is ring:closefd: ring:close closes the ring).
-- Its row becomes the Lua source of one function, straight-line for the JIT,
-- that converts the arguments as the C module's ops.c does (see there for
-- how the Lua arguments differ from the C ones), fills an rk_op_desc and
-- calls rk_prep_batch.

-- The Lua API's own facts about arguments: ringkit/policy.def, found on
-- package.path beside this module's ringkit/loop.lua, and run with P, PK and
-- NOTE as its only globals (ops.c includes the same file as C). A row:
-- { op, argument, how, value }.
local policy = {}
do
  local file = package.searchpath("ringkit.policy", (package.path:gsub("%.lua", ".def")))
  if not file then error("ringkit_ffi: ringkit/policy.def not found on package.path", 0) end
  local chunk = assert(loadfile(file))
  local valued = { def = true, creat = true, bor = true } -- the others' numbers are 0
  local function P(op, arg, how, v)
    policy[#policy + 1] = { op, arg, how, valued[how] and v or nil }
  end
  local function PK(op, arg, how, names)
    local v = 0
    for n in names:gmatch("[^|]+") do
      v = bit.bor(v, K[n] or error("ringkit/policy.def: unknown constant " .. n, 0))
    end
    P(op, arg, how, v)
  end
  setfenv(chunk, { P = P, PK = PK, NOTE = function() end })
  chunk()
end

local A = K -- RK_ARG_*, RK_ROLE_*, RK_RESULT_*
local desc_field = {}
for _, f in ipairs { "fd", "len", "off", "addr", "addr2", "arg1", "arg2", "fd2" } do
  desc_field[ffi.offsetof("rk_op_desc", f)] = f
end

-- What generated code may use.
local H = {
  C = C, ffi = ffi, bor = bit.bor, band = bit.band, tobit = bit.tobit, check = check,
  commit = commit, exact_id = exact_id, region_ptr = region_ptr, sockaddr = sockaddr,
  data_iov = data_iov, fds_arr = fds_arr, length_iov = length_iov, argerr = argerr,
  u8_arr = u8_arr, sa_buf = sa_buf, type = type, K_BUF = K_BUF, K_STATX = K_STATX,
  K_ACCEPT = K_ACCEPT,
  d = ffi.new("rk_op_desc"), ids = ffi.new("int64_t[1]"), MSG_FDS_MAX = MSG_FDS_MAX,
  AT_FDCWD = AT_FDCWD, CREAT = bit.bor(K.O_CREAT, K.O_TMPFILE), cast = ffi.cast,
  uptr = ffi.typeof("uintptr_t"), cstr = ffi.typeof("const char *"),
}
local H_names = {}

-- An fd that is not a number: a ring (msg_ring's target), kept alive.
function H.fdobj(v, name, n)
  if getmetatable(v) ~= Ring then argerr(name, n, "integer fd expected") end
  if v.st.ptr == nil then argerr(name, n, "target ring is closed") end
  return C.rk_ring_fd(v.st.ptr), v
end
for k in pairs(H) do H_names[#H_names + 1] = k end

-- The source of the method for one row.
local function method_source(info)
  local name, nargs = ffi.string(info.name), info.nargs
  local args, params, code = {}, {}, {}
  for i = 0, nargs - 1 do
    local a = info.args[i]
    args[i] = { name = ffi.string(a.name), f = desc_field[a.offset], width = a.width,
                type = a.type, role = a.role, of = a.of }
  end
  local function emit(...) code[#code + 1] = string.format(...) end
  local kind = "nil"
  for i = 0, nargs - 1 do
    local a = args[i]
    local v = "a_" .. a.name
    local pol = {}
    for _, q in ipairs(policy) do
      if (q[1] == "*" or q[1] == name) and q[2] == a.name then
        if q[3] == "bor" then pol.bits = bit.bor(pol.bits or 0, q[4])
        else pol.how, pol.def = q[3], q[4] end
      end
    end
    local len -- the argument that measures this one
    for j = 0, nargs - 1 do
      if args[j].role == A.RK_ROLE_LEN and args[j].of == i then len = args[j] end
    end
    local role, f = a.role, "d." .. a.f
    local n = #params + 1 -- its position after self, for errors
    if role ~= A.RK_ROLE_LEN and not (role == A.RK_ROLE_PTR_WRITE and a.name ~= "buf") then
      params[n] = v
    end
    if role == A.RK_ROLE_LEN then -- set with its pointer
    elseif role == A.RK_ROLE_FD then
      local def = a.name:find("dfd") and " or AT_FDCWD" or ""
      emit("local %s = %s%s", v, v, def)
      emit("if type(%s) ~= 'number' then %s, keep = fdobj(%s, %q, %d) end", v, v, v, name, n)
      emit("%s = %s", f, v)
    elseif role == A.RK_ROLE_REGION then
      emit("%s = cast(uptr, region_ptr(%s)); keep = %s", f, v, v)
    elseif role == A.RK_ROLE_PTR_READ then
      emit("if type(%s) ~= 'string' then argerr(%q, %d, 'string expected') end", v, name, n)
      emit("%s = cast(uptr, cast(cstr, %s)); d.%s = #%s; keep = %s", f, v, len.f, v, v)
    elseif role == A.RK_ROLE_PTR_WRITE then
      if a.name == "buf" then
        emit("if type(%s) ~= 'number' or %s < 0 or %s > 2147483647 then", v, v, v)
        emit("argerr(%q, %d, 'length out of range') end", name, n)
        -- exactly len: with MSG_TRUNC a recv's res may be larger (see extra)
        emit("keep = u8_arr(%s); %s = cast(uptr, keep); d.%s = %s", v, f, len.f, v)
        kind = "K_BUF"
      elseif a.name == "statxbuf" then
        emit("keep = u8_arr(256); %s = cast(uptr, keep)", f)
        kind = "K_STATX"
      else -- accept's peer address
        emit("keep = sa_buf(); %s = cast(uptr, keep); d.%s = 128", f, len.f)
        kind = "K_ACCEPT"
      end
    elseif role == A.RK_ROLE_PTR_COPIED and not len then
      emit("if type(%s) ~= 'string' then argerr(%q, %d, 'string expected') end", v, name, n)
      emit("%s = cast(uptr, cast(cstr, %s))", f, v)
    elseif role == A.RK_ROLE_PTR_COPIED and a.name == "fds" then
      emit("local fa, nf = fds_arr(%q, %d, %s, MSG_FDS_MAX)", name, n, v)
      emit("if fa then %s = cast(uptr, fa) end; d.%s = nf", f, len.f)
    elseif role == A.RK_ROLE_PTR_COPIED then -- a socket address: host, port
      params[n + 1] = v .. "_port"
      emit("local sa, alen, e")
      if pol.how == "opt" then
        emit("if %s == nil and %s_port ~= nil then", v, v)
        emit("argerr(%q, %d, 'a host is needed with a port') end", name, n)
        emit("if %s ~= nil then", v)
      end
      emit("sa, alen, e = sockaddr(%s, %s_port, %d)", v, v, n)
      emit("if not sa then return nil, alen, e end; %s = cast(uptr, sa); d.%s = alen", f, len.f)
      if pol.how == "opt" then emit("end") end
    elseif role == A.RK_ROLE_IOV_READ then
      emit("local iov, niov; iov, niov, keep = data_iov(%q, %s); %s = cast(uptr, iov); d.%s = niov",
        name, v, f, len.f)
    elseif role == A.RK_ROLE_IOV_WRITE then
      emit("local iov, niov; iov, niov, keep = length_iov(%q, %d, %s); %s = cast(uptr, iov); d.%s = niov",
        name, n, v, f, len.f)
      kind = "K_BUF"
    elseif role == A.RK_ROLE_ID then
      emit("%s = exact_id(self, %s)", f, v)
    else -- a number: VALUE, CHUNK, GROUP, FILE_INDEX
      local def = "0"
      if pol.how == "chunk" then
        def = "a_region.chunk_bytes"
      elseif pol.how == "creat" then
        def = string.format("(band(a_oflags or 0, CREAT) ~= 0 and %d or 0)", pol.def)
      elseif pol.def then
        def = tostring(pol.def)
      elseif role == A.RK_ROLE_FILE_INDEX and pol.how ~= "req" then
        def = tostring(K.RK_FILE_INDEX_ALLOC)
      elseif pol.how == "req" or role == A.RK_ROLE_GROUP then
        def = "nil"
      end
      -- The checks inline, so each method stays one straight trace.
      if def ~= "nil" then emit("if %s == nil then %s = %s end", v, v, def) end
      emit("if type(%s) ~= 'number' and type(%s) ~= 'cdata' then", v, v)
      emit("argerr(%q, %d, 'number expected, got ' .. type(%s)) end", name, n, v)
      if a.type == A.RK_ARG_U32 and def == "nil" then
        emit("if %s < 0 or %s > 4294967295 then argerr(%q, %d, 'out of range') end", v, v, name, n)
      end
      local x = v
      if role == A.RK_ROLE_GROUP then
        emit("if type(%s) ~= 'number' or %s < 0 or %s > 65535 then", v, v, v)
        emit("argerr(%q, %d, 'group id out of range 0..65535') end", name, n)
      end
      if pol.bits then x = string.format("bor(%s, %d)", x, pol.bits) end
      if a.type == A.RK_ARG_S32 and a.width == 8 then x = "tobit(" .. x .. ")" end
      emit("%s = %s", f, x)
    end
  end
  params[#params + 1] = "flags"
  return string.format([[
local H = ...
local %s = H.%s
return function(self, %s)
  local p = check(self)
  local keep
  ffi.fill(d, 64)
  d.op = %d
  %s
  d.flags = flags or 0
  C.rk_prep_batch(p, d, 1, ids)
  return commit(self, ids[0], keep, %s)
end
]], table.concat(H_names, ", "), table.concat(H_names, ", H."), table.concat(params, ", "),
    info.op, table.concat(code, "\n  "), kind)
end

-- nop keeps a direct call: the same-run micro-benchmark measured the
-- generated one slower; for read/write/send/recv it measured no difference.
local custom = { recvmsg = true, nop = true }
for op = 0, K.RK_OP_COUNT - 1 do
  local info = C.rk_op_info_of(op)
  local name = ffi.string(info.name)
  if not custom[name] then
    local src = method_source(info)
    local f = assert(load(src, "=ringkit_ffi:" .. name))(H)
    Ring[name == "close" and "closefd" or name] = f
  end
  Ring["prep_" .. name] = Ring[name == "close" and "closefd" or name]
end
function Ring:open(...) return self:openat(nil, ...) end
function Ring:open_direct(...) return self:openat_direct(nil, ...) end

local function statx_table(buf)
  local x = ffi.cast(statx_ptr, buf)
  local function ts(t) return tonumber(t.sec) + tonumber(t.nsec) * 1e-9 end
  return {
    mask = x.mask, blksize = x.blksize, attributes = tonumber(x.attributes), nlink = x.nlink,
    uid = x.uid, gid = x.gid, mode = x.mode, ino = tonumber(x.ino), size = tonumber(x.size),
    blocks = tonumber(x.blocks), dev_major = x.dev_major, dev_minor = x.dev_minor,
    atime = ts(x.atime), btime = ts(x.btime), ctime = ts(x.ctime), mtime = ts(x.mtime),
  }
end

-- The third value of a completion; releases what the slot anchored.
local function extra(st, slot, res, flags)
  local a = st.anchors[slot]
  if a == nil or bit.band(flags, MORE) ~= 0 then return flags end
  local kind = st.kinds[slot]
  st.anchors[slot] = nil
  st.kinds[slot] = nil
  if res >= 0 then
    if kind == K_BUF then
      local cap = ffi.sizeof(a)
      return ffi.string(a, res < cap and res or cap)
    end
    if kind == K_MSG then return msg_table(a, res) end
    if kind == K_STATX then return statx_table(a) end
    if kind == K_ACCEPT then return peer_string(a) end
  end
  return flags
end

--- ring:reap([max [, wait [, timeout_ns [, t]]]]): as the C module.
function Ring:reap(max, wait, timeout, t)
  local p = check(self)
  max = max or 256
  wait = wait or 0
  if not t and max > MAX_VALUES_BATCH then max = MAX_VALUES_BATCH end
  if wait > max then wait = max end
  if max > self.ncqes then
    self.cqes = cqe_arr(max)
    self.view = ffi.cast(view_ptr, self.cqes)
    self.ncqes = max
    self.st.cqes, self.st.ncqes = self.cqes, max
  end
  local n = C.rk_reap(p, self.cqes, max, wait, timeout or -1)
  if n < 0 then return fail(n) end
  local view, st = self.view, self.st
  local out = t or {}
  local j = 0
  for i = 0, n - 1 do
    local v = view[i]
    local lo, hi, res = v.lo, v.hi, v.res
    if hi < 0x80000000 then
      out[j + 1] = hi * TWO32 + lo
      out[j + 2] = res
      out[j + 3] = extra(st, lo, res, v.flags)
    else -- a message from another ring: id -1 - value, the value third
      hi = hi - 0x80000000
      local value = hi * TWO32 + lo
      out[j + 1] = -1 - value
      out[j + 2] = res
      out[j + 3] = hi < 0x200000 and value or bit.band(self.cqes[i].id, 0x7fffffffffffffffLL)
    end
    j = j + 3
  end
  if t then return n end
  return n, unpack(out, 1, 3 * n)
end

function Ring:submit()
  local n = C.rk_submit(check(self))
  if n < 0 then return fail(n) end
  return n
end

function Ring:cancel_all()
  local n = C.rk_ring_cancel_all(check(self))
  if n < 0 then return fail(n) end
  return n
end

function Ring:fd() return C.rk_ring_fd(check(self)) end

function Ring:probe(op)
  if type(op) == "string" then
    op = K[op] or K["IORING_OP_" .. op] or error("unknown opcode name", 2)
  end
  local r = C.rk_ring_probe(check(self), op)
  if r < 0 then return fail(r) end
  return r == 1
end

local stat_names = { "inflight", "overflow_queue", "sq_entries", "cq_entries", "capacity",
  "submitted", "completed", "cq_overflow", "cqes", "features", "backend" }

function Ring:stats()
  local s = stats_arr()
  local n = C.rk_ring_stats(check(self), s, 11)
  local t = {}
  for i = 1, n do t[stat_names[i]] = tonumber(s[i - 1]) end
  return t
end

function Ring:inflight()
  local s = stats_arr()
  C.rk_ring_stats(check(self), s, 1)
  return tonumber(s[0])
end

function Ring:register_eventfd(fd, flags)
  local r = C.rk_ring_register_eventfd(check(self), fd, flags or 0)
  if r < 0 then return fail(r) end
  return true
end

function Ring:unregister_eventfd()
  local r = C.rk_ring_unregister_eventfd(check(self))
  if r < 0 then return fail(r) end
  return true
end

function Ring:register_region(g)
  local r = C.rk_ring_register_region(check(self), region_ptr(g))
  if r < 0 then return fail(r) end
  keep_region(self.st, g, KEEP_REGISTERED, true)
  return true
end

function Ring:unregister_region(g)
  local r = C.rk_ring_unregister_region(check(self), region_ptr(g))
  if r < 0 then return fail(r) end
  keep_region(self.st, g, KEEP_REGISTERED, false)
  return true
end

function Ring:close()
  local rc = close_state(self.st)
  if rc < 0 then return fail(rc) end
  return true
end

function Ring:closed() return self.st.ptr == nil end

Ring.__tostring = function(self)
  if self.st.ptr == nil then return "ringkit.ring (closed)" end
  return string.format("ringkit.ring (fd %d, %d live of %d)", C.rk_ring_fd(self.st.ptr),
    self:inflight(), self.capacity)
end

-- Regions --------------------------------------------------------------

function M.region(size, n, flags)
  local pp = region_pp()
  local err = C.rk_region_create(size, n, flags or 0, pp)
  if err < 0 then return fail(err) end
  -- The finalizer holds the state, not the region table (whose token it is).
  -- Collected while busy (registered with a ring collected in the same
  -- cycle), the core frees it when that ring lets go.
  local s = { ptr = pp[0] }
  local token = ffi.gc(ffi.new("uint8_t[1]"), function()
    if s.ptr ~= nil then
      C.rk_region_destroy(s.ptr)
      s.ptr = nil
    end
  end)
  return setmetatable({ s = s, chunk_bytes = size, n = n, token = token }, Region)
end

function Region:alloc()
  local c = C.rk_chunk_alloc(region_ptr(self))
  if c < 0 then return fail(c) end
  return c
end

function Region:free(c)
  local r = C.rk_chunk_free(region_ptr(self), c)
  if r < 0 then return fail(r) end
  return true
end

function Region:read(c, len, off)
  local p = region_ptr(self)
  assert(c >= 0 and c < self.n, "bad argument #1 to 'read' (chunk index out of range)")
  off = off or 0
  len = len or (self.chunk_bytes - off)
  assert(off >= 0 and len >= 0 and off + len <= self.chunk_bytes, "span out of chunk")
  return ffi.string(ffi.cast("const char *", C.rk_chunk_ptr(p, c)) + off, len)
end

function Region:write(c, s, off)
  local p = region_ptr(self)
  assert(c >= 0 and c < self.n, "bad argument #1 to 'write' (chunk index out of range)")
  off = off or 0
  assert(off >= 0 and off + #s <= self.chunk_bytes, "string longer than the chunk")
  ffi.copy(ffi.cast("char *", C.rk_chunk_ptr(p, c)) + off, s, #s)
  return #s
end

local recvmsg_keys = { "name", "name_len", "control", "control_len", "payload", "payload_len",
  "flags", "name_total", "payload_total" }
local u32_arr = ffi.typeof("uint32_t[?]")

function Region:recvmsg_out(c, len, name_cap, control_cap)
  local v = u32_arr(#recvmsg_keys)
  local r = C.rk_recvmsg_out(region_ptr(self), c, len, name_cap or 0, control_cap or 0, v,
                             #recvmsg_keys)
  if r < 0 then return fail(r) end
  local t = {}
  for i = 1, r do t[recvmsg_keys[i]] = tonumber(v[i - 1]) end
  return t
end

function Region:chunk_size() return tonumber(C.rk_region_chunk_size(region_ptr(self))) end
function Region:nchunks() return tonumber(C.rk_region_nchunks(region_ptr(self))) end
function Region:chunks_free() return tonumber(C.rk_region_chunks_free(region_ptr(self))) end

-- An explicit destroy refuses (EBUSY) while the kernel may still write the
-- memory, as the C module's.
function Region:destroy()
  local s = self.s
  if s.ptr ~= nil then
    if C.rk_region_busy(s.ptr) == 1 then return fail(-K.EBUSY) end
    C.rk_region_destroy(s.ptr)
    s.ptr = nil
  end
  return true
end
Region.close = Region.destroy

Region.__tostring = function(self)
  if self.s.ptr == nil then return "ringkit.region (destroyed)" end
  return string.format("ringkit.region (%d chunks of %d bytes, %d free)", self.n,
    self.chunk_bytes, self:chunks_free())
end

return M
