--[[ ringkit.loop — direct-style IO on coroutines over one ringkit ring.

  local loop = require "ringkit.loop"
  loop.run(function()
    local fd = assert(loop.open("/etc/hostname"))
    local data = assert(loop.read(fd, 4096, 0))
    loop.close(fd)
    print(data)
  end)

Each task is a coroutine. An IO call prepares its op on the ring and yields;
the loop resumes the task with the op's result once the completion has been
reaped. Tasks are only ever resumed by the loop's scheduler, after ring:reap
has returned — never from inside a C call. Cancelling a task cancels the op it
waits on (ring:cancel); the IO call then returns nil, msg, ECANCELED, and so
does every later IO call of that task.

Multishot ops are streams: loop.accepts(fd) and loop.recvs(fd [, pool])
are iterators whose op stays armed in the kernel while the task does other
IO; their completions queue up in the stream until the task asks for them.
A stream belongs to the task that made it and is closed when that task ends,
by stream:close(), or as a <close> variable in Lua 5.4.

Errors follow the module: nil, message, errno. Runs on Lua 5.4 with the C
module and on LuaJIT (5.1) with ringkit_ffi.
]]

local rk
if rawget(_G, "jit") then
  rk = require "ringkit_ffi"
else
  rk = require "ringkit"
end

local co_create, co_resume, co_yield, co_running, co_status =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.running, coroutine.status
local unpack = table.unpack or unpack
local pack = table.pack or function(...) return { n = select("#", ...), ... } end

local C = rk.constants
local ECANCELED, ETIME, EBUSY = C.ECANCELED, C.ETIME, C.EBUSY
local ENOBUFS, EOPNOTSUPP = C.ENOBUFS, C.EOPNOTSUPP
local MSG_TARGET, FIXED, MSG_WAITALL = C.RK_RING_MSG_TARGET, C.RK_FIXED_FILE, C.MSG_WAITALL
local DEFAULT_FLAGS = { C.RK_RING_SINGLE_ISSUER + C.RK_RING_DEFER_TASKRUN, C.RK_RING_COOP_TASKRUN, 0 }
local floor = math.floor
local O_RDONLY, O_WRONLY, O_RDWR = C.O_RDONLY, C.O_WRONLY, C.O_RDWR
local O_CREAT, O_TRUNC, O_APPEND = C.O_CREAT, C.O_TRUNC, C.O_APPEND

local M = { rk = rk }

local Loop = {}
Loop.__index = Loop

local Task = {}
Task.__index = Task

-- The loop currently running a task (saved and restored around each resume,
-- so a loop may run inside a task of another loop).
local running = nil
local send_cancel -- defined with Task:cancel
local unpark      -- defined with the pools

local function fail(res)
  return nil, rk.strerror(res), -res
end

--- loop.new([opts]) -> loop. opts.ring: an existing ring; opts.entries:
-- SQ size of a new ring (default 256); opts.flags: its rk.RK_RING_* flags
-- (default SINGLE_ISSUER + DEFER_TASKRUN where the kernel has them: use the
-- loop from the thread that made it);
-- opts.msg_target: other rings send this loop messages (the ring is made
-- with RK_RING_MSG_TARGET; with opts.ring, say so when it was);
-- opts.batch: completions per reap.
function M.new(opts)
  opts = opts or {}
  local ring = opts.ring
  if not ring then
    local err, errno
    -- A loop's ring is driven by the loop's thread only, so completions
    -- can wait until the loop reaps (DEFER_TASKRUN): no interrupts while
    -- Lua runs, much less kernel time per socket op. Kernels before 6.1
    -- refuse it: then COOP_TASKRUN, then nothing.
    local choices = opts.flags and { opts.flags } or DEFAULT_FLAGS
    for i = 1, #choices do
      local flags = choices[i]
      if opts.msg_target and flags % (2 * MSG_TARGET) < MSG_TARGET then
        flags = flags + MSG_TARGET
      end
      ring, err, errno = rk.ring(opts.entries or 256, flags)
      if ring or errno ~= C.EINVAL then break end
    end
    if not ring then return nil, err, errno end
  end
  return setmetatable({
    ring = ring,
    own_ring = not opts.ring,
    waiting = {},     -- op id -> task, or handler (co = false: a stream, a sender, a
                      -- zero-copy send; its on_cqe takes the completions), or false
                      -- (an op no one waits for)
    pending = 0,      -- ops prepared by the loop, final completion not reaped
    runq = {}, rhead = 1, rtail = 0,
    tasks = 0,        -- tasks not finished
    batch = opts.batch or 256,
    reaped = {},      -- reusable completion table for ring:reap
    blocked = {},     -- tasks waiting for a free op-table slot
    msg_target = opts.msg_target and true or false,
    msgq = {}, mhead = 1, mtail = 0, -- messages no task has taken yet: value, res pairs
    msg_waiters = {}, -- tasks waiting in loop.message
    current = nil,
    stats = { ops = 0, reaps = 0 },
  }, Loop)
end

-- Queues a task to be resumed with res, extra (a completion's values; the
-- common case, stored without a table) or, when given, the packed args.
local function enqueue(self, task, res, extra, args)
  local t = self.rtail + 1
  self.rtail = t
  self.runq[t] = task
  task.res, task.extra = res, extra
  if args then task.resume_args = args end
end

--- loop:spawn(fn, ...) -> task: fn(...) runs as a new task on the next turn.
-- What a task's coroutine returns first when its function returned (a
-- yield through the loop yields nothing): tells a finished task from a
-- suspended one without asking coroutine.status.
local DONE = {}

function Loop:spawn(fn, ...)
  local task = setmetatable({ co = co_create(function(...) return DONE, fn(...) end),
                              loop = self, status = "ready",
                              op = nil, cancelled = false, joiners = nil }, Task)
  self.tasks = self.tasks + 1
  enqueue(self, task, nil, nil, pack(...))
  return task
end

local close_streams -- defined with the streams

local function finish(self, task, ok, ...)
  self.tasks = self.tasks - 1
  if task.streams then close_streams(task) end
  if ok then
    task.status = "done"
    task.result = pack(...)
  else
    task.status = "failed"
    task.error = debug.traceback(task.co, (...))
  end
  local joiners = task.joiners
  if joiners then
    task.joiners = nil
    for i = 1, #joiners do enqueue(self, joiners[i]) end
  end
  if not ok and not task.joined and not self.keep_going then
    error(task.error, 0)
  end
end

local function after_resume(self, task, prev_running, prev_current, ok, first, ...)
  running, self.current = prev_running, prev_current
  if not ok then
    finish(self, task, false, first)
  elseif first == DONE then
    finish(self, task, true, ...)
  elseif task.status == "running" then
    -- Yielded without going through the loop (a nested coroutine's yield
    -- leaking out): a programming error in the task.
    task.status = "failed"
    error("ringkit.loop: a task yielded outside a loop IO call", 0)
  end
end

local function step(self, task)
  local args, res, extra = task.resume_args, task.res, task.extra
  if args then task.resume_args = nil end
  task.res, task.extra = nil, nil
  task.status = "running"
  local prev_running, prev_current = running, self.current
  running, self.current = self, task
  if args then
    after_resume(self, task, prev_running, prev_current,
      co_resume(task.co, unpack(args, 1, args.n)))
  else
    after_resume(self, task, prev_running, prev_current, co_resume(task.co, res, extra))
  end
end

--- Runs one scheduling turn: resumes every ready task, then reaps (waiting
-- when nothing is ready). Returns false when nothing is left to do.
function Loop:turn(wait)
  local runq = self.runq
  local h = self.rhead
  while h <= self.rtail do -- tasks may enqueue others meanwhile
    local task = runq[h]
    runq[h] = nil
    h = h + 1
    self.rhead = h
    step(self, task)
  end
  self.rhead, self.rtail = 1, 0
  -- Nothing in flight: done, unless a task waits for a message (the ring is
  -- a message target: its reap waits for them).
  if self.pending == 0 and not self.msg_waiters[1] then return false end
  local t = self.reaped
  local n, err, errno = self.ring:reap(self.batch, wait == false and 0 or 1, nil, t)
  if not n then
    if errno == C.EINTR then return true end
    error("ringkit.loop: reap failed: " .. tostring(err))
  end
  self.stats.reaps = self.stats.reaps + 1
  local waiting = self.waiting
  for i = 1, 3 * n, 3 do
    local id = t[i]
    local w = waiting[id]
    if w then
      if w.co then -- a task waiting for this op
        waiting[id] = nil
        self.pending = self.pending - 1
        w.op = nil
        w.status = "ready"
        enqueue(self, w, t[i + 1], t[i + 2])
      else -- a handler (co = false): a stream, a sender, a zero-copy send
        w:on_cqe(id, t[i + 1], t[i + 2])
      end
    elseif w == false then -- an op no task waits for
      waiting[id] = nil
      self.pending = self.pending - 1
    elseif id < 0 then -- a message from a ring: its value is the third value
      self:deliver(t[i + 2], t[i + 1])
    end
  end
  local b = self.blocked
  if n > 0 and b[1] then
    self.blocked = {}
    for i = 1, #b do
      b[i].status = "ready"
      enqueue(self, b[i])
    end
  end
  return true
end

--- loop:run([fn, ...]): spawns fn if given, runs until every task finished
-- and every op completed. A task's error is raised from run (with the task's
-- traceback) unless another task joined it. Returns fn's results.
function Loop:run(fn, ...)
  local main = fn and self:spawn(fn, ...)
  while true do
    if not self:turn(true) and self.rhead > self.rtail then break end
  end
  if main then
    if main.status == "done" then return unpack(main.result, 1, main.result.n) end
    if main.status == "failed" then error(main.error, 0) end
  end
end

--- loop:close(): cancels and drains what is in flight, closes an owned ring.
function Loop:close()
  if self.own_ring and self.ring then
    self.ring:close()
  end
  self.ring = nil
end
Loop.__close = Loop.close
Loop.__gc = Loop.close

-- Prepares an op through ring method `name` and suspends the calling task
-- until its completion: returns res, extra (or nil, msg, errno when the prep
-- fails or the task was cancelled). `entry(loop, task)`, when given, makes
-- what the loop files the op under instead of the task itself.
local function await_as(entry, name, ...)
  local self = running
  local task = self and self.current
  if not task or task.co ~= co_running() then
    error("ringkit.loop: IO call outside a loop task", 3)
  end
  if task.cancelled then return fail(-ECANCELED) end
  local ring = self.ring
  local id, err, errno
  while true do
    id, err, errno = ring[name](ring, ...)
    if id then break end
    -- A full op table is back pressure, not an error: wait for completions
    -- to free slots, then try again.
    if errno ~= EBUSY or self.pending == 0 then return nil, err, errno end
    local b = self.blocked
    b[#b + 1] = task
    task.status = "blocked"
    co_yield()
    if task.cancelled then return fail(-ECANCELED) end
  end
  self.waiting[id] = entry and entry(self, task) or task
  self.pending = self.pending + 1
  self.stats.ops = self.stats.ops + 1
  task.op = id
  task.status = "waiting"
  return co_yield()
end

-- Called in tail position, so that await_as's error level still names the
-- IO call's caller.
local function await(name, ...) return await_as(nil, name, ...) end
M.await = await

-- res < 0 -> nil, msg, errno; else res, extra.
local function result(res, extra, errno)
  if res == nil then return nil, extra, errno end
  if res < 0 then return fail(res) end
  return res, extra
end

-- Asks the kernel to cancel the op `task` (a task or a stream) waits on.
send_cancel = function(self, task)
  local id, _, errno = self.ring:cancel(task.op)
  if id then
    self.waiting[id] = false
    self.pending = self.pending + 1
  elseif errno == EBUSY then
    -- No slot for a cancel op: cancel synchronously, which needs none (the
    -- op's own completion still arrives; one the kernel has not taken yet
    -- the ring cancels itself). An op making its call finishes on its own.
    self.ring:cancel_sync(task.op, 0)
  end
end

--- task:cancel(): cancels the op the task waits on (its IO call returns
-- nil, msg, ECANCELED) and makes its later IO calls fail the same way.
function Task:cancel()
  if self.cancelled or self.status == "done" or self.status == "failed" then return false end
  self.cancelled = true
  if self.op then
    send_cancel(self.loop, self)
  elseif self.status == "parked" then -- waiting for a pool's chunk: wake it
    unpark(self)
  end
  return true
end

--- task:join() (from another task): waits until the task finished; returns
-- true and its results, or false and its error.
function Task:join()
  self.joined = true
  if self.status ~= "done" and self.status ~= "failed" then
    local me = running and running.current
    assert(me and me.co == co_running(), "ringkit.loop: join outside a loop task")
    self.joiners = self.joiners or {}
    self.joiners[#self.joiners + 1] = me
    me.status = "joining"
    co_yield()
  end
  if self.status == "done" then return true, unpack(self.result, 1, self.result.n) end
  return false, self.error
end

function Task:done() return self.status == "done" or self.status == "failed" end

-- Messages between rings -----------------------------------------------------

--- loop:fd() -> the loop ring's fd: what another ring's msg_ring (or
-- loop.send_message in another thread's loop) targets.
function Loop:fd() return self.ring:fd() end

-- A message (value, res) reaped from the ring: to the first waiting task,
-- or queued.
function Loop:deliver(value, res)
  local w = self.msg_waiters
  local task = w[1]
  if task then
    table.remove(w, 1)
    task.parked = nil
    task.status = "ready"
    enqueue(self, task, value, res)
  else
    local t = self.mtail + 2
    self.msgq[t - 1], self.msgq[t] = value, res
    self.mtail = t
  end
end

-- Module-level API: a default loop, created on first use.
local default
local function get_default()
  if not default then default = assert(M.new()) end
  return default
end
M.default = get_default

function M.spawn(fn, ...)
  local self = running or get_default()
  return self:spawn(fn, ...)
end

function M.run(fn, ...)
  return get_default():run(fn, ...)
end

--- loop.current() -> the running task (or nil outside tasks).
function M.current()
  return running and running.current
end

--- loop.with_timeout(seconds, fn, ...) -> fn's results, or nil, msg, ETIME
-- when fn did not finish in time: its pending IO was cancelled and its IO
-- calls failed with ECANCELED until it returned. When fn still returned a
-- value (its op completed before the cancel took hold: an accepted fd...),
-- that result is returned rather than lost. Errors in fn propagate.
function M.with_timeout(seconds, fn, ...)
  local self = running
  local me = self and self.current
  assert(me and me.co == co_running(), "ringkit.loop: with_timeout outside a loop task")
  local fired = false
  local timer = self:spawn(function()
    if M.sleep(seconds) and not me.cancelled then
      fired = true
      me:cancel()
    end
  end)
  local r = pack(pcall(fn, ...))
  if fired then
    me.cancelled = false -- the cancellation was scoped to fn
  else
    timer:cancel()
  end
  if not r[1] then error(r[2], 0) end
  if fired and r[2] == nil then return fail(-ETIME) end
  return unpack(r, 2, r.n)
end

--- loop.yield(): lets the other ready tasks run first.
function M.yield()
  local self = running
  local task = self and self.current
  assert(task and task.co == co_running(), "ringkit.loop: yield outside a loop task")
  task.status = "ready"
  enqueue(self, task)
  return co_yield()
end

-- Direct files: slots of the ring's registered file table -------------------

local Direct = {}
Direct.__index = Direct
function Direct:__tostring() return "ringkit.loop direct file (slot " .. self.slot .. ")" end

-- fd -> what a ring op takes and the op flags: an integer fd (or, in 5.4, a
-- file handle) as is; a direct file as its slot with RK_FIXED_FILE.
local function fdf(fd)
  if type(fd) == "table" then
    if getmetatable(fd) ~= Direct then error("ringkit.loop: fd or direct file expected", 3) end
    return fd.slot, FIXED
  end
  return fd, 0
end

--- loop.direct(slot) -> a direct file naming that slot of the loop ring's
-- file table; the loop's IO calls take it where they take an fd.
function M.direct(slot)
  if type(slot) ~= "number" or slot < 0 or slot ~= floor(slot) then
    error("ringkit.loop: bad slot '" .. tostring(slot) .. "'", 2)
  end
  return setmetatable({ slot = slot }, Direct)
end

-- IO -------------------------------------------------------------------

--- loop.read(fd, len [, offset]) -> string ("" at end of file) | nil, msg, errno
function M.read(fd, len, offset)
  local fl = 0
  if type(fd) == "table" then fd, fl = fdf(fd) end
  local res, data, errno = await("read", fd, len, offset or -1, fl)
  if res == nil then return nil, data, errno end
  if res < 0 then return fail(res) end
  return data
end

--- loop.write(fd, data [, offset]) -> #data: the whole string, resubmitting
-- the rest after a short write at the advanced offset.
function M.write(fd, data, offset)
  offset = offset or -1
  local fl = 0
  if type(fd) == "table" then fd, fl = fdf(fd) end
  local done, len = 0, #data
  while true do
    local res, err, errno = await("write", fd, done == 0 and data or data:sub(done + 1), offset, fl)
    if res == nil then return nil, err, errno end
    if res < 0 then return fail(res) end
    done = done + res
    if done >= len or res == 0 then return done end
    if offset >= 0 then offset = offset + res end
  end
end

--- loop.read_chunk(fd, region, chunk [, len [, offset]]) -> bytes read
function M.read_chunk(fd, region, chunk, len, offset)
  return result(await("read_chunk", fd, region, chunk, len, offset or -1))
end

--- loop.write_chunk(fd, region, chunk [, len [, offset]]) -> bytes written
function M.write_chunk(fd, region, chunk, len, offset)
  return result(await("write_chunk", fd, region, chunk, len, offset or -1))
end

local modes = {
  r = O_RDONLY, w = O_WRONLY + O_CREAT + O_TRUNC, a = O_WRONLY + O_CREAT + O_APPEND,
  ["r+"] = O_RDWR, ["w+"] = O_RDWR + O_CREAT + O_TRUNC, ["a+"] = O_RDWR + O_CREAT + O_APPEND,
}

--- loop.open(path [, mode [, perm]]) -> fd. mode: "r", "w", "a", "r+", "w+",
-- "a+" (a trailing "b" is ignored) or O_* flags; perm defaults to 0644.
local function open_flags(mode)
  local flags = mode or O_RDONLY
  if type(mode) == "string" then
    flags = modes[mode:gsub("b", "")]
    if not flags then error("ringkit.loop: bad open mode '" .. mode .. "'", 3) end
  end
  return flags
end

function M.open(path, mode, perm)
  return result(await("openat", nil, path, open_flags(mode), perm or 420))
end

--- loop.close(fd) -> true. A direct file: its slot is closed and emptied.
function M.close(fd)
  local res, err, errno
  if type(fd) == "table" then
    res, err, errno = result(await("close_fixed", (fdf(fd))))
  else
    res, err, errno = result(await("closefd", fd))
  end
  if not res then return nil, err, errno end
  return true
end

--- loop.sleep(seconds) -> true (nil, msg, ECANCELED when cancelled)
function M.sleep(seconds)
  local ns = math.floor(seconds * 1e9 + 0.5)
  local res, err, errno = await("timeout", ns)
  if res == nil then return nil, err, errno end
  if res == -ETIME or res >= 0 then return true end
  return fail(res)
end

--- loop.poll(fd, mask) -> ready mask
function M.poll(fd, mask)
  return result(await("poll_add", fd, mask))
end

--- loop.stat(path [, at_flags]) -> table (size, mode, mtime, ...)
function M.stat(path, at_flags)
  local res, st, errno = await("statx", nil, path, at_flags or 0)
  if res == nil then return nil, st, errno end
  if res < 0 then return fail(res) end
  return st
end

local function ok_only(name)
  return function(...)
    local res, err, errno = result(await(name, ...))
    if not res then return nil, err, errno end
    return true
  end
end

M.fsync = ok_only("fsync")          -- loop.fsync(fd)
M.fdatasync = ok_only("fdatasync")  -- loop.fdatasync(fd)
M.fallocate = ok_only("fallocate")  -- loop.fallocate(fd, mode, offset, len)
M.fadvise = ok_only("fadvise")      -- loop.fadvise(fd, offset, len, advice)
function M.unlink(path) return ok_only("unlinkat")(nil, path, 0) end
function M.rmdir(path) return ok_only("unlinkat")(nil, path, C.AT_REMOVEDIR) end
function M.mkdir(path, mode) return ok_only("mkdirat")(nil, path, mode or 493) end
function M.rename(old, new) return ok_only("renameat")(nil, old, nil, new) end
function M.link(old, new) return ok_only("linkat")(nil, old, nil, new) end
function M.symlink(target, path) return ok_only("symlinkat")(target, nil, path) end

--- loop.splice(fd_in, off_in, fd_out, off_out, nbytes) -> bytes moved
function M.splice(...) return result(await("splice", ...)) end

--- loop.call(method, ...) -> res, extra: any ring op by name, awaited.
function M.call(name, ...) return result(await(name, ...)) end

-- Sockets ----------------------------------------------------------------

local domains = { inet = C.AF_INET, inet6 = C.AF_INET6, unix = C.AF_UNIX }
local socktypes = { stream = C.SOCK_STREAM, dgram = C.SOCK_DGRAM, seqpacket = C.SOCK_SEQPACKET }
local hows = { r = C.SHUT_RD, w = C.SHUT_WR, rw = C.SHUT_RDWR }

--- loop.socket([domain [, type [, protocol]]]) -> fd. domain "inet"
-- (default), "inet6", "unix" or AF_*; type "stream" (default), "dgram",
-- "seqpacket" or SOCK_*. The fd is raw: loop.close(fd) closes it.
function M.socket(domain, stype, protocol)
  local d = domains[domain] or domain or C.AF_INET
  local t = socktypes[stype] or stype or C.SOCK_STREAM
  if type(d) ~= "number" then error("ringkit.loop: bad socket domain '" .. tostring(domain) .. "'", 2) end
  if type(t) ~= "number" then error("ringkit.loop: bad socket type '" .. tostring(stype) .. "'", 2) end
  return result(await("socket", d, t, protocol or 0))
end

--- loop.bind(fd, host, port) -> true. host: a numeric IPv4/IPv6 address
-- ("127.0.0.1", "::1"); or a unix socket path with port nil. On kernels
-- without IORING_OP_BIND (before 6.11) it binds synchronously (it never blocks).
function M.bind(fd, host, port)
  local res, err, errno = await("bind", fd, host, port)
  if res == nil and errno == EOPNOTSUPP then return rk.bind_sync(fd, host, port) end
  res, err, errno = result(res, err, errno)
  if not res then return nil, err, errno end
  return true
end

--- loop.listen(fd [, backlog]) -> true (synchronous before Linux 6.11, as bind)
function M.listen(fd, backlog)
  local res, err, errno = await("listen", fd, backlog)
  if res == nil and errno == EOPNOTSUPP then return rk.listen_sync(fd, backlog) end
  res, err, errno = result(res, err, errno)
  if not res then return nil, err, errno end
  return true
end

--- loop.connect(fd, host, port) -> true
function M.connect(fd, host, port)
  local fd_, fl = fdf(fd)
  local res, err, errno = result(await("connect", fd_, host, port, fl))
  if not res then return nil, err, errno end
  return true
end

--- loop.accept(fd) -> new fd, peer host, peer port (nil for unix sockets)
function M.accept(fd)
  local res, addr, errno = await("accept", fd)
  if res == nil then return nil, addr, errno end
  if res < 0 then return fail(res) end
  local host, port = rk.decode_sockaddr(addr)
  return res, host, port
end

--- loop.send(fd, data [, msg_flags]) -> #data: the whole string, sending the
-- rest after a short send. A peer that went away gives nil, msg, EPIPE or
-- ECONNRESET (never SIGPIPE).
function M.send(fd, data, msg_flags)
  local fl = 0
  if type(fd) == "table" then fd, fl = fdf(fd) end
  local done, len = 0, #data
  while true do
    local res, err, errno = await("send", fd, done == 0 and data or data:sub(done + 1),
      msg_flags or 0, fl)
    if res == nil then return nil, err, errno end
    if res < 0 then return fail(res) end
    done = done + res
    if done >= len or res == 0 then return done end
  end
end

--- loop.recv(fd, len [, msg_flags]) -> string ("" at end of stream)
function M.recv(fd, len, msg_flags)
  local fl = 0
  if type(fd) == "table" then fd, fl = fdf(fd) end
  local res, data, errno = await("recv", fd, len, msg_flags or 0, fl)
  if res == nil then return nil, data, errno end
  if res < 0 then return fail(res) end
  return data
end

--- loop.shutdown(fd [, how]) -> true. how: "r", "w", "rw" (default) or SHUT_*.
function M.shutdown(fd, how)
  local h = hows[how] or how or C.SHUT_RDWR
  if type(h) ~= "number" then error("ringkit.loop: bad shutdown mode '" .. tostring(how) .. "'", 2) end
  local fd_, fl = fdf(fd)
  local res, err, errno = result(await("shutdown", fd_, h, fl))
  if not res then return nil, err, errno end
  return true
end

--- loop.tcp_listen(host, port [, backlog]) -> fd, port: a listening TCP
-- socket (SO_REUSEADDR) on a numeric address; port 0 picks a free port,
-- returned as the second value.
local function family_of(host)
  return type(host) == "string" and host:find(":", 1, true) and "inet6" or "inet"
end

function M.tcp_listen(host, port, backlog)
  local fd, err, errno = M.socket(family_of(host))
  if not fd then return nil, err, errno end
  local ok, bound
  ok, err, errno = rk.setsockopt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, true)
  if ok then ok, err, errno = M.bind(fd, host, port) end
  if ok then ok, err, errno = M.listen(fd, backlog) end
  if ok then
    ok, err, errno = rk.getsockname(fd)
    bound = err
  end
  if not ok then
    rk.close(fd)
    return nil, err, errno
  end
  return fd, bound
end

--- loop.tcp_connect(host, port) -> fd: a TCP socket connected to a numeric
-- address.
function M.tcp_connect(host, port)
  local fd, err, errno = M.socket(family_of(host))
  if not fd then return nil, err, errno end
  local ok
  ok, err, errno = M.connect(fd, host, port)
  if not ok then
    rk.close(fd)
    return nil, err, errno
  end
  return fd
end

-- Messages with descriptors and addresses, zero-copy sends ------------------

local function data_len(data)
  if type(data) == "string" then return #data end
  local n = 0
  for i = 1, #data do n = n + #data[i] end
  return n
end

--- loop.sendmsg(fd, data [, host [, port [, fds [, msg_flags]]]]) -> bytes
-- sent: all of data (a string or a list of strings; a short send on a
-- stream socket is continued, the fds going with the first part). host and
-- port: the destination of a datagram (a unix path with port nil); fds: a
-- list of integer fds passed as SCM_RIGHTS.
function M.sendmsg(fd, data, host, port, fds, msg_flags)
  local f, fl = fdf(fd)
  local res, err, errno = await("sendmsg", f, data, host, port, fds, msg_flags or 0, fl)
  if res == nil then return nil, err, errno end
  if res < 0 then return fail(res) end
  local len = data_len(data)
  if res >= len or res == 0 then return res end
  local rest = (type(data) == "table" and table.concat(data) or data):sub(res + 1)
  local n
  n, err, errno = M.send(fd, rest, msg_flags)
  if not n then return nil, err, errno end
  return res + n
end

--- loop.recvmsg(fd, len [, fds_cap [, msg_flags]]) -> data, msg: msg is
-- ring:recvmsg's table (data, addr, fds, flags) plus host and port decoded
-- from addr when there is one. Received fds (at most fds_cap) are yours to
-- close; flags has MSG_TRUNC when a datagram was cut, MSG_CTRUNC when fds
-- were dropped.
function M.recvmsg(fd, len, fds_cap, msg_flags)
  local f, fl = fdf(fd)
  local res, m, errno = await("recvmsg", f, len, fds_cap or 0, msg_flags or 0, fl)
  if res == nil then return nil, m, errno end
  if res < 0 then return fail(res) end
  if m.addr then
    local host, port = rk.decode_sockaddr(m.addr)
    if host then m.host, m.port = host, port end
  end
  return m.data, m
end

-- A zero-copy send in flight: its task resumes at the result (the first
-- completion); the op stays pending in the loop until the notification, the
-- binding holding the data until then.
local ZcSend = {}
ZcSend.__index = ZcSend

function ZcSend:on_cqe(id, res, flags)
  local lp = self.loop
  if flags % 4 < 2 then -- no MORE: the op is over
    lp.waiting[id] = nil
    lp.pending = lp.pending - 1
  end
  local task = self.task
  if task then
    self.task = nil
    task.op = nil
    task.status = "ready"
    enqueue(lp, task, res, flags)
  end
end

local function zc_entry(lp, task)
  return setmetatable({ co = false, loop = lp, task = task }, ZcSend)
end

local function await_zc(name, ...) return await_as(zc_entry, name, ...) end

--- loop.send_zc(fd, data [, msg_flags [, zc_flags]]) -> #data: a zero-copy
-- send (short sends continued). It returns at the kernel's result; the
-- notification that the kernel no longer reads data comes later, and the
-- loop runs until it has (data stays anchored until then).
function M.send_zc(fd, data, msg_flags, zc_flags)
  local f, fl = fdf(fd)
  local done, len = 0, #data
  while true do
    local res, err, errno = await_zc("send_zc", f, done == 0 and data or data:sub(done + 1),
      msg_flags or 0, zc_flags or 0, fl)
    if res == nil then return nil, err, errno end
    if res < 0 then return fail(res) end
    done = done + res
    if done >= len or res == 0 then return done end
  end
end

--- loop.sendmsg_zc(fd, data [, host [, port [, fds [, msg_flags]]]]) -> bytes
-- sent: loop.sendmsg, zero-copy (returns at the result, as send_zc).
function M.sendmsg_zc(fd, data, host, port, fds, msg_flags)
  local f, fl = fdf(fd)
  local res, err, errno = result(await_zc("sendmsg_zc", f, data, host, port, fds, msg_flags or 0, fl))
  if not res then return nil, err, errno end
  return res
end

-- Senders: one send in flight per connection, not waited for ----------------

local Sender = {}
Sender.__index = Sender

--- loop.sender(fd) -> sender: sender:send(data) hands data to the kernel
-- and returns at once (true), without waiting for the completion — what a
-- request/response server wants: the task goes back to receiving while the
-- response leaves. At most one send is in flight: a send while the previous
-- one is still going waits for it first, so data leaves in order. Sends
-- carry MSG_WAITALL (all of data, or an error). An error ends the sender:
-- that send and every later one return nil, msg, errno (sender.err,
-- sender.errno). sender:flush() waits until nothing is in flight. The
-- string is anchored by the binding until its completion.
function M.sender(fd)
  local f, fl = fdf(fd)
  return setmetatable({ co = false, on_cqe = Sender.on_cqe, loop = running or get_default(),
                        fd = f, fl = fl, op = nil, len = 0,
                        waiter = nil, err = nil, errno = nil }, Sender)
end

-- The completion of the sender's send (from Loop:turn).
function Sender:on_cqe(id, res)
  local lp = self.loop
  lp.waiting[id] = nil
  lp.pending = lp.pending - 1
  self.op = nil
  local w = self.waiter
  if res >= 0 and res < self.len then
    -- MSG_WAITALL: short only when interrupted — by a cancel of the task
    -- waiting for it, or an error after part of the data went.
    res = (w and w.cancelled) and -ECANCELED or -C.EPIPE
  end
  if res < 0 and not self.err then self.err, self.errno = rk.strerror(res), -res end
  if w then
    self.waiter = nil
    w.op = nil
    w.status = "ready"
    enqueue(lp, w)
  end
end

--- sender:flush() -> true when nothing is in flight (waiting for it), or
-- nil, msg, errno when a send failed.
function Sender:flush()
  if self.op then
    local lp = self.loop
    local task = running and running.current
    if not task or task.co ~= co_running() or running ~= lp then
      error("ringkit.loop: sender used outside a task of its loop", 2)
    end
    if self.waiter then error("ringkit.loop: another task waits on this sender", 2) end
    if task.cancelled then return fail(-ECANCELED) end
    self.waiter = task
    task.op = self.op -- cancelling the task cancels the send
    task.status = "waiting"
    co_yield()
    if self.waiter == task then self.waiter = nil; task.op = nil end
    if self.op then return fail(-ECANCELED) end -- woken by a cancel before the completion
  end
  if self.err then return nil, self.err, self.errno end
  return true
end

--- sender:send(data) -> true | nil, msg, errno (see loop.sender)
function Sender:send(data)
  if self.op or self.err then
    local ok, err, errno = self:flush()
    if not ok then return nil, err, errno end
  end
  local lp = self.loop
  local ring = lp.ring
  local id, err, errno = ring:send(self.fd, data, MSG_WAITALL, self.fl)
  if not id then
    if errno ~= EBUSY then return nil, err, errno end
    -- A full op table: wait for a free slot like any IO call.
    local res
    res, err, errno = await("send", self.fd, data, MSG_WAITALL, self.fl)
    if res == nil then return nil, err, errno end
    if res < 0 then return fail(res) end
    return true
  end
  lp.waiting[id] = self
  lp.pending = lp.pending + 1
  lp.stats.ops = lp.stats.ops + 1
  self.op, self.len = id, #data
  return true
end

-- Registered files and direct descriptors ------------------------------------

local function cur_loop() return running or get_default() end

--- loop.register_files(nslots) -> true: gives the loop's ring a file table.
function M.register_files(n) return cur_loop().ring:register_files(n) end

--- loop.update_files(offset, fds) -> count: puts fds' files in slots offset..
-- (-1 empties a slot, rk.RK_FILES_SKIP leaves it). The fds stay yours.
function M.update_files(offset, fds) return cur_loop().ring:update_files(offset, fds) end

--- loop.unregister_files() -> true
function M.unregister_files() return cur_loop().ring:unregister_files() end

local function direct_result(res, err, errno, slot)
  if res == nil then return nil, err, errno end
  if res < 0 then return fail(res) end
  return M.direct(slot or res)
end

--- loop.open_direct(path [, mode [, perm [, slot]]]) -> direct file: opened
-- into a slot (slot nil: any free one); no fd is ever allocated. mode as
-- loop.open.
function M.open_direct(path, mode, perm, slot)
  local res, err, errno = await("openat_direct", nil, path, open_flags(mode), perm or 420, slot)
  return direct_result(res, err, errno, slot)
end

--- loop.accept_direct(fd [, slot]) -> direct file of the new connection
function M.accept_direct(fd, slot)
  local f, fl = fdf(fd)
  local res, err, errno = await("accept_direct", f, slot, 0, fl)
  return direct_result(res, err, errno, slot)
end

--- loop.socket_direct([domain [, type [, protocol [, slot]]]]) -> direct file
-- (domain and type as loop.socket)
function M.socket_direct(domain, stype, protocol, slot)
  local d = domains[domain] or domain or C.AF_INET
  local t = socktypes[stype] or stype or C.SOCK_STREAM
  if type(d) ~= "number" then error("ringkit.loop: bad socket domain '" .. tostring(domain) .. "'", 2) end
  if type(t) ~= "number" then error("ringkit.loop: bad socket type '" .. tostring(stype) .. "'", 2) end
  local res, err, errno = await("socket_direct", d, t, protocol or 0, slot)
  return direct_result(res, err, errno, slot)
end

--- loop.install(file [, cloexec]) -> fd: a process fd for a direct file's
-- file (close-on-exec unless cloexec is false); the slot keeps its file.
function M.install(file, cloexec)
  if getmetatable(file) ~= Direct then error("ringkit.loop: direct file expected", 2) end
  local fd, err, errno = result(await("fixed_fd_install", file.slot,
    cloexec == false and C.RK_FIXED_FD_NO_CLOEXEC or 0))
  if not fd then return nil, err, errno end
  return fd
end

-- Closes a slot without waiting (a stream's queued direct connections).
local function close_slot(lp, slot)
  local ring = lp.ring
  if not ring or ring:closed() then return end
  local id = ring:close_fixed(slot)
  if id then
    lp.waiting[id] = false
    lp.pending = lp.pending + 1
  end
end

-- Messages between rings -----------------------------------------------------

--- loop.send_message(target, value [, res]) -> true once posted: (value, res)
-- to the ring target (a ring, or the fd of one: another loop's loop:fd()).
-- value 0..rk.RK_MSG_VALUE_MAX, res a 32-bit integer. Fails with EBADFD
-- when target is not a ring, EOVERFLOW when its completion queue is full.
function M.send_message(target, value, res)
  local r, err, errno = result(await("msg_ring", target, value, res or 0))
  if not r then return nil, err, errno end
  return true
end

--- loop.message() -> value, res: the next message another ring sent this
-- loop's ring, waiting for one (the loop must be a msg_target). Messages
-- nobody waits for are queued, in order. A task waiting here keeps the loop
-- running; cancelling it returns nil, msg, ECANCELED.
function M.message()
  local self = running
  local task = self and self.current
  if not task or task.co ~= co_running() then
    error("ringkit.loop: loop.message outside a loop task", 2)
  end
  if task.cancelled then return fail(-ECANCELED) end
  local h = self.mhead
  if h <= self.mtail then
    local q = self.msgq
    local v, r = q[h], q[h + 1]
    q[h], q[h + 1] = nil, nil
    if h + 2 > self.mtail then self.mhead, self.mtail = 1, 0 else self.mhead = h + 2 end
    return v, r
  end
  if not self.msg_target then
    error("ringkit.loop: loop.message needs a loop made with msg_target = true", 2)
  end
  local w = self.msg_waiters
  w[#w + 1] = task
  task.parked = w
  task.status = "parked"
  local v, r = co_yield()
  if v ~= nil then return v, r end -- delivered (even if cancelled since: never lost)
  return fail(-ECANCELED)
end

--- loop.messages() -> an iterator over messages: for value, res in
-- loop.messages() do ... end (ends when the task is cancelled).
function M.messages() return M.message end

-- Provided-buffer pools --------------------------------------------------

local Pool = {}
Pool.__index = Pool

--- loop:pool(chunk_size, nchunks) -> pool: a region provided to the loop's
-- ring as a buffer group, for loop.recvs. Receives on many sockets share
-- it: memory goes to the connections that have data, not to idle ones.
-- pool.held counts chunks the program holds (received, not yet recycled).
function Loop:pool(chunk_size, nchunks)
  local region, err, errno = rk.region(chunk_size, nchunks)
  if not region then return nil, err, errno end
  local group
  group, err, errno = self.ring:provide_region(region) -- the ring picks a free id
  if not group then
    region:destroy()
    return nil, err, errno
  end
  return setmetatable({ loop = self, region = region, group = group, n = nchunks, held = 0,
                        waiters = {} }, Pool)
end

--- pool:recycle(chunk) -> true: gives a chunk the program holds back to the
-- kernel (wakes receivers that ran out of buffers).
-- A chunk went back to the kernel: wake receivers that ran out of buffers.
local function returned(pool)
  pool.held = pool.held - 1
  local w = pool.waiters
  if w[1] then
    pool.waiters = {}
    for i = 1, #w do
      w[i].parked = nil
      w[i].status = "ready"
      enqueue(pool.loop, w[i])
    end
  end
end

function Pool:recycle(chunk)
  local ok, err, errno = self.loop.ring:recycle_chunk(self.region, chunk)
  if not ok then return nil, err, errno end
  returned(self)
  return true
end

-- Takes a task parked on a pool out of its wait list and resumes it.
unpark = function(task)
  local list = task.parked
  if not list then return end
  for i = #list, 1, -1 do
    if list[i] == task then table.remove(list, i) end
  end
  task.parked = nil
  task.status = "ready"
  enqueue(task.loop, task)
end

--- pool:close() -> true: takes the group back and frees the region (EBUSY
-- while a receive selects from it).
function Pool:close()
  if self.closed then return true end
  local ring = self.loop.ring
  if ring and not ring:closed() then
    local ok, err, errno = ring:unprovide_region(self.region)
    if not ok then return nil, err, errno end
  end
  self.closed = true
  return self.region:destroy()
end

-- The loop's shared pool for loop.recvs without one: 128 chunks of 16 KiB.
local function default_pool(self)
  local p = self.default_pool
  if not p or p.closed then
    local err, errno
    p, err, errno = self:pool(16384, 128)
    if not p then return nil, err, errno end
    self.default_pool = p
  end
  return p
end

function M.pool(chunk_size, nchunks)
  return (running or get_default()):pool(chunk_size, nchunks)
end

-- Streams: multishot ops ---------------------------------------------------

local Stream = {}
Stream.__index = Stream

local View = {}
View.__index = View

--- view:string([len [, offset]]) -> a copy of the received bytes. A view
-- (region, chunk, len) is valid until the stream's next item.
function View:string(len, off)
  return self.region:read(self.chunk, len or self.len - (off or 0), off)
end

local function new_stream(kind, fd, arg, opts)
  local self = running
  local task = self and self.current
  local f, fl = fdf(fd)
  local s = setmetatable({ co = false, loop = self or get_default(), owner = task, kind = kind,
                           fd = f, fl = fl,
                           direct = opts and opts.direct, arg = arg, views = opts and opts.views,
                           q = {}, qh = 1, qt = 0,
                           op = nil, ended = false, closed = false, nobufs = false,
                           waiter = nil, view = nil, rearms = 0, err = nil, errno = nil },
                         Stream)
  if task then
    task.streams = task.streams or {}
    task.streams[s] = true
  end
  return s
end

local function wake(s)
  local w = s.waiter
  if w then
    s.waiter = nil
    w.op = nil
    w.status = "ready"
    enqueue(s.loop, w)
  end
end

-- A completion of a recv stream's op when its owner waits and nothing is
-- queued — the common case of a request/response server: the data goes to
-- the task at once (copied out, the chunk straight back to the kernel). Set
-- as the stream's own on_cqe (a raw field: no metatable lookup per call).
local function on_cqe_recv(self, id, res, flags)
  local w = self.waiter
  if w and res > 0 and flags % 4 >= 3 and self.qh > self.qt and not w.cancelled then -- MORE, BUFFER
    local lp = self.loop
    self.waiter = nil
    w.op = nil
    w.status = "ready"
    local t = lp.rtail + 1
    lp.rtail = t
    lp.runq[t] = w
    w.res = lp.ring:take_chunk(self.arg.region, floor(flags / 65536), res)
    return
  end
  return Stream.on_cqe(self, id, res, flags)
end

-- A completion of the stream's op (from Loop:turn, after the reap).
function Stream:on_cqe(id, res, flags)
  local final = flags % 4 < 2 -- no RK_CQE_F_MORE
  local lp = self.loop
  if final then
    lp.waiting[id] = nil
    lp.pending = lp.pending - 1
    self.op = nil
  end
  local q = self.q
  if self.kind == "recv" then
    if flags % 2 == 1 then -- RK_CQE_F_BUFFER: the chunk is ours now
      local pool = self.arg
      local chunk = floor(flags / 65536)
      pool.held = pool.held + 1
      if self.closed or res <= 0 then
        pool:recycle(chunk)
      else
        q[self.qt + 1], q[self.qt + 2] = res, chunk
        self.qt = self.qt + 2
      end
    end
    if final and not self.closed then
      if res == -ENOBUFS then
        self.nobufs = true -- re-armed when the queue has been consumed
      elseif res == 0 then
        self.ended = true
      elseif res < 0 then
        self.ended = true
        self.err, self.errno = rk.strerror(res), -res
      end
    end
  else -- "accept" / "poll": res is an fd / a ready mask
    if res >= 0 then
      if self.closed then
        if self.kind == "accept" then
          if self.direct then close_slot(lp, res) else rk.close(res) end
        end
      else
        self.qt = self.qt + 1
        q[self.qt] = res
      end
    elseif final and not self.closed then
      self.ended = true
      self.err, self.errno = rk.strerror(res), -res
    end
  end
  wake(self)
end

-- Prepares the stream's op again; waits for a free slot on a full op table
-- and, after ENOBUFS, for a chunk to come back to the pool.
local function arm(s, task)
  local lp = s.loop
  local kind, pool = s.kind, s.arg
  if s.nobufs then
    while pool.held >= pool.n do
      local w = pool.waiters
      w[#w + 1] = task
      task.parked = w
      task.status = "parked"
      s.parked = task
      co_yield()
      s.parked = nil
      if task.cancelled then return fail(-ECANCELED) end
      if s.closed then return true end
    end
    s.nobufs = false
    s.rearms = s.rearms + 1
  end
  local ring = lp.ring
  while true do
    local id, err, errno
    if kind == "recv" then
      id, err, errno = ring:recv_multishot(s.fd, pool.group, 0, s.fl)
    elseif kind == "accept" then
      if s.direct then
        id, err, errno = ring:accept_multishot_direct(s.fd, 0, s.fl)
      else
        id, err, errno = ring:accept_multishot(s.fd, 0, s.fl)
      end
    else
      id, err, errno = ring:poll_multishot(s.fd, s.arg, s.fl)
    end
    if id then
      lp.waiting[id] = s
      lp.pending = lp.pending + 1
      lp.stats.ops = lp.stats.ops + 1
      s.op = id
      if s.closed then send_cancel(lp, s) end
      return true
    end
    if errno ~= EBUSY or lp.pending == 0 then return nil, err, errno end
    local b = lp.blocked
    b[#b + 1] = task
    task.status = "blocked"
    co_yield()
    if task.cancelled then return fail(-ECANCELED) end
    if s.closed then return true end
  end
end

local function release_view(s)
  local v = s.view
  if v then
    s.view = nil
    s.arg:recycle(v.chunk)
  end
end

--- stream:next() -> the next item: an fd (accepts), a string or a view
-- (recvs), a ready mask (polls); nil at the end (end of stream, or closed);
-- nil, msg, errno when an error ended it (also kept in stream.err/.errno).
-- Also the stream's __call, so `for x in stream do ... end` iterates.
function Stream:next()
  local lp = self.loop
  local task = running and running.current
  if not task or task.co ~= co_running() or running ~= lp then
    error("ringkit.loop: stream used outside a task of its loop", 2)
  end
  if self.waiter then error("ringkit.loop: another task waits on this stream", 2) end
  if self.view then release_view(self) end
  while true do
    if task.cancelled then return fail(-ECANCELED) end
    local qh = self.qh
    if qh <= self.qt then
      local q = self.q
      if self.kind ~= "recv" then
        local v = q[qh]
        q[qh] = nil
        self.qh = qh + 1
        if self.direct then return M.direct(v) end
        return v
      end
      local len, chunk = q[qh], q[qh + 1]
      q[qh], q[qh + 1] = nil, nil
      self.qh = qh + 2
      local pool = self.arg
      if self.views then
        local v = setmetatable({ region = pool.region, chunk = chunk, len = len }, View)
        self.view = v
        return v
      end
      local data = lp.ring:take_chunk(pool.region, chunk, len) -- copy + recycle
      pool.held = pool.held - 1
      if pool.waiters[1] then pool.held = pool.held + 1; returned(pool) end
      return data
    end
    self.qh, self.qt = 1, 0
    if self.closed then return nil end
    if self.ended then
      if self.errno then return nil, self.err, self.errno end
      return nil
    end
    if not self.op then
      local ok, err, errno = arm(self, task)
      if not ok then
        if errno == ECANCELED and task.cancelled then return nil, err, errno end
        self.ended = true
        self.err, self.errno = err, errno
      end
    else
      self.waiter = task
      task.op = self.op -- task:cancel() cancels the multishot op
      task.status = "waiting"
      local data = co_yield()
      if data then return data end -- handed over by on_cqe
      if self.waiter == task then self.waiter = nil; task.op = nil end
    end
  end
end

Stream.__call = Stream.next

--- stream:close() -> true: cancels the multishot op and gives back what is
-- queued (accepted fds are closed, chunks recycled). Idempotent.
function Stream:close()
  if self.closed then return true end
  self.closed = true
  if self.owner and self.owner.streams then self.owner.streams[self] = nil end
  local q = self.q
  if self.kind == "recv" then
    release_view(self)
    for i = self.qh + 1, self.qt, 2 do self.arg:recycle(q[i]) end
  elseif self.kind == "accept" then
    for i = self.qh, self.qt do
      if self.direct then close_slot(self.loop, q[i]) else rk.close(q[i]) end
    end
  end
  self.q, self.qh, self.qt = {}, 1, 0
  local lp = self.loop
  if self.op and lp.ring and not lp.ring:closed() then send_cancel(lp, self) end
  wake(self)
  if self.parked then unpark(self.parked) end
  return true
end
Stream.__close = Stream.close

close_streams = function(task)
  local list = task.streams
  task.streams = nil
  for s in pairs(list) do s:close() end
end

-- A stream is its own iterator (__call). It is not returned as the generic
-- for's closing value: Lua 5.4.4 miscompiles a `break` out of such a loop
-- whose body makes a closure ("attempt to call a nil value"). In 5.4 write
-- `local s <close> = loop.accepts(fd)` to close it at the end of a scope.
local function iterate(s) return s end

--- loop.accepts(fd [, opts]) -> stream of accepted fds (one multishot accept):
--   for cfd in loop.accepts(lfd) do loop.spawn(handle, cfd) end
-- With opts.direct: of direct files (connections accepted into free slots
-- of the ring's file table, no fd allocated).
function M.accepts(fd, opts) return iterate(new_stream("accept", fd, nil, opts)) end

--- loop.recvs(fd [, pool [, opts]]) -> stream of received data: strings, or
-- with opts.views views (region, chunk, len) valid until the next item. One
-- multishot recv over the pool's chunks (the loop's default pool when nil);
-- when the pool runs dry the op is re-armed once chunks come back, without
-- losing data. Ends at end of stream; stream.err/.errno say why otherwise.
function M.recvs(fd, pool, opts)
  local s = new_stream("recv", fd, nil, opts)
  if not s.views then s.on_cqe = on_cqe_recv end
  local err, errno
  if not pool then pool, err, errno = default_pool(s.loop) end
  s.arg = pool
  if not pool then
    s.ended = true
    s.err, s.errno = err, errno
  end
  return iterate(s)
end

--- loop.polls(fd, mask) -> stream of ready masks (one multishot poll)
function M.polls(fd, mask) return iterate(new_stream("poll", fd, mask)) end

return M
