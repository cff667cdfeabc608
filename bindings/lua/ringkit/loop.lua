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

local function fail(res)
  return nil, rk.strerror(res), -res
end

--- loop.new([opts]) -> loop. opts.ring: an existing ring; opts.entries:
-- SQ size of a new ring (default 256); opts.batch: completions per reap.
function M.new(opts)
  opts = opts or {}
  local ring = opts.ring
  if not ring then
    local err, errno
    ring, err, errno = rk.ring(opts.entries or 256)
    if not ring then return nil, err, errno end
  end
  return setmetatable({
    ring = ring,
    own_ring = not opts.ring,
    waiting = {},     -- op id -> task (false for ops no task waits on)
    pending = 0,      -- ops prepared by the loop, final completion not reaped
    runq = {}, rhead = 1, rtail = 0,
    tasks = 0,        -- tasks not finished
    batch = opts.batch or 256,
    reaped = {},      -- reusable completion table for ring:reap
    blocked = {},     -- tasks waiting for a free op-table slot
    cancels = {},     -- cancelled tasks whose cancel op found the table full
    current = nil,
    stats = { ops = 0, reaps = 0, resumes = 0 },
  }, Loop)
end

-- Queues a task to be resumed with res, extra (a completion's values; the
-- common case, stored without a table) or, when given, the packed args.
local function enqueue(self, task, res, extra, args)
  local t = self.rtail + 1
  self.rtail = t
  self.runq[t] = task
  task.res, task.extra, task.resume_args = res, extra, args
end

--- loop:spawn(fn, ...) -> task: fn(...) runs as a new task on the next turn.
function Loop:spawn(fn, ...)
  local task = setmetatable({ co = co_create(fn), loop = self, status = "ready",
                              op = nil, cancelled = false, joiners = nil }, Task)
  self.tasks = self.tasks + 1
  enqueue(self, task, nil, nil, pack(...))
  return task
end

local function finish(self, task, ok, ...)
  self.tasks = self.tasks - 1
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

local function after_resume(self, task, prev_running, prev_current, ok, ...)
  running, self.current = prev_running, prev_current
  if co_status(task.co) == "dead" then
    finish(self, task, ok, ...)
  elseif task.status == "running" then
    -- Yielded without going through the loop (a nested coroutine's yield
    -- leaking out): a programming error in the task.
    task.status = "failed"
    error("ringkit.loop: a task yielded outside a loop IO call", 0)
  end
end

local function step(self, task)
  local args, res, extra = task.resume_args, task.res, task.extra
  task.resume_args, task.res, task.extra = nil, nil, nil
  task.status = "running"
  local prev_running, prev_current = running, self.current
  running, self.current = self, task
  self.stats.resumes = self.stats.resumes + 1
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
  while self.rhead <= self.rtail do
    local h = self.rhead
    local task = self.runq[h]
    self.runq[h] = nil
    self.rhead = h + 1
    step(self, task)
  end
  self.rhead, self.rtail = 1, 0
  if self.pending == 0 then return false end
  local t = self.reaped
  -- A cancel waiting for a free slot is retried every millisecond.
  local timeout = self.cancels[1] and 1000000 or nil
  local n, err, errno = self.ring:reap(self.batch, wait == false and 0 or 1, timeout, t)
  if not n then
    if errno == C.EINTR then return true end
    error("ringkit.loop: reap failed: " .. tostring(err))
  end
  self.stats.reaps = self.stats.reaps + 1
  local waiting = self.waiting
  for i = 1, 3 * n, 3 do
    local id = t[i]
    local task = waiting[id]
    if task ~= nil then
      waiting[id] = nil
      self.pending = self.pending - 1
      if task then
        task.op = nil
        task.status = "ready"
        enqueue(self, task, t[i + 1], t[i + 2])
      end
    end
  end
  local c = self.cancels
  if c[1] then
    self.cancels = {}
    for i = 1, #c do
      if c[i].op then send_cancel(self, c[i]) end
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
-- fails or the task was cancelled).
local function await(name, ...)
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
  self.waiting[id] = task
  self.pending = self.pending + 1
  self.stats.ops = self.stats.ops + 1
  task.op = id
  task.status = "waiting"
  return co_yield()
end
M.await = await

-- res < 0 -> nil, msg, errno; else res, extra.
local function result(res, extra, errno)
  if res == nil then return nil, extra, errno end
  if res < 0 then return fail(res) end
  return res, extra
end

-- Asks the kernel to cancel the op `task` waits on. With the op table full
-- the cancel is retried after the next reap (never dropped).
send_cancel = function(self, task)
  local id, _, errno = self.ring:cancel(task.op)
  if id then
    self.waiting[id] = false
    self.pending = self.pending + 1
  elseif errno == EBUSY then
    -- No slot for a cancel op: cancel synchronously, which needs none (the
    -- op's own completion still arrives); if the kernel cannot stop it at
    -- once, retry after the next reap.
    if not self.ring:cancel_sync(task.op, 0) then
      local c = self.cancels
      c[#c + 1] = task
    end
  end
end

--- task:cancel(): cancels the op the task waits on (its IO call returns
-- nil, msg, ECANCELED) and makes its later IO calls fail the same way.
function Task:cancel()
  if self.cancelled or self.status == "done" or self.status == "failed" then return false end
  self.cancelled = true
  if self.op then send_cancel(self.loop, self) end
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
-- calls failed with ECANCELED until it returned. Errors in fn propagate.
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
  if fired then return fail(-ETIME) end
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

-- IO -------------------------------------------------------------------

--- loop.read(fd, len [, offset]) -> string ("" at end of file) | nil, msg, errno
function M.read(fd, len, offset)
  local res, data, errno = await("read", fd, len, offset or -1)
  if res == nil then return nil, data, errno end
  if res < 0 then return fail(res) end
  return data
end

--- loop.write(fd, data [, offset]) -> #data: the whole string, resubmitting
-- the rest after a short write at the advanced offset.
function M.write(fd, data, offset)
  offset = offset or -1
  local done, len = 0, #data
  while true do
    local res, err, errno = await("write", fd, done == 0 and data or data:sub(done + 1), offset)
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
function M.open(path, mode, perm)
  local flags = mode or O_RDONLY
  if type(mode) == "string" then
    flags = modes[mode:gsub("b", "")]
    if not flags then error("ringkit.loop: bad open mode '" .. mode .. "'", 2) end
  end
  return result(await("openat", nil, path, flags, perm or 420))
end

--- loop.close(fd) -> true
function M.close(fd)
  local res, err, errno = result(await("closefd", fd))
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

return M
