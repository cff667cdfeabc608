-- Tiny test harness shared by the Lua test scripts: runs under lua5.4 with
-- the C module and under LuaJIT with ringkit_ffi.
--   local T = require "harness"
--   T.test("name", function() ... end)
--   T.done()   -- prints a summary, exits 1 on any failure
local T = {}
T.jit = rawget(_G, "jit") ~= nil
T.rk = T.jit and require "ringkit_ffi" or require "ringkit"
T.K = T.rk.constants
local tests, failed = {}, 0

function T.test(name, fn) tests[#tests + 1] = { name, fn } end

function T.eq(a, b, what)
  if a ~= b then
    error(string.format("%s: expected %s, got %s", what or "value", tostring(b), tostring(a)), 2)
  end
end

-- Asserts an expected failure: nil, message (string), errno (positive).
function T.fails(errno, v, msg, e, what)
  if v ~= nil or type(msg) ~= "string" or e ~= errno then
    error(string.format("%s: expected nil, msg, %d; got %s, %s, %s", what or "call", errno,
      tostring(v), tostring(msg), tostring(e)), 2)
  end
end

-- Asserts that fn(...) raises (a programming error).
function T.raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then error("expected an error matching '" .. pattern .. "'", 2) end
  if not tostring(err):find(pattern) then
    error("error '" .. tostring(err) .. "' does not match '" .. pattern .. "'", 2)
  end
end

-- Reaps until the op `id` completes and returns its res, extra. Completions
-- of other ops are kept per ring (and copied into `others` when given), so
-- a later T.wait for them still finds them.
local backlog = setmetatable({}, { __mode = "k" })
function T.wait(ring, id, others)
  local b = backlog[ring]
  if not b then b = {}; backlog[ring] = b end
  for _ = 1, 1000 do
    local hit = b[id]
    if hit then b[id] = nil; return hit[1], hit[2] end
    local t = {}
    local n = assert(ring:reap(64, 1, 5e9, t))
    for i = 1, 3 * n, 3 do
      b[t[i]] = { t[i + 1], t[i + 2] }
      if others and t[i] ~= id then others[t[i]] = b[t[i]] end
    end
  end
  error("op " .. tostring(id) .. " never completed")
end

function T.tmpdir()
  -- os.tmpname creates a unique file (mkstemp): its name plus ".d" is ours.
  local name = os.tmpname()
  local d = name .. ".d"
  assert(os.execute("mkdir '" .. d .. "'"), "mkdir " .. d)
  os.remove(name)
  T.dirs = T.dirs or {}
  T.dirs[#T.dirs + 1] = d
  return d
end

function T.rmtree(d) os.execute("rm -rf '" .. d .. "'") end

-- A pipe's two fds, through the shell-free trick of /proc: LuaJIT and 5.4
-- have no pipe(); io.popen gives a FILE, so we open a FIFO instead.
function T.fifo(dir)
  T.nfifo = (T.nfifo or 0) + 1
  local path = dir .. "/fifo" .. T.nfifo
  local ok = os.execute("mkfifo '" .. path .. "'")
  assert(ok == true or ok == 0, "mkfifo " .. path)
  return path
end

function T.readfile(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read(T.jit and "*a" or "a")
  f:close()
  return s
end

function T.writefile(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- This process's id, from /proc/self/stat (read by this process itself).
function T.pid()
  if not T._pid then
    local f = assert(io.open("/proc/self/stat", "rb"))
    T._pid = tonumber(f:read(T.jit and "*l" or "l"):match("^(%d+)"))
    f:close()
  end
  return T._pid
end

-- How many fds this process has open, after a full collection. Anonymous
-- pipes are not counted: io.popen's own pipe end is open or not depending
-- on when `ls` reads the directory (the tests that count use none).
function T.fdcount()
  collectgarbage("collect") -- rings of earlier tests left to the GC close now
  collectgarbage("collect")
  local p = assert(io.popen("ls -l /proc/" .. T.pid() .. "/fd"))
  local n = 0
  for line in p:lines() do
    if line:find(" -> ", 1, true) and not line:find("-> pipe:", 1, true) then n = n + 1 end
  end
  p:close()
  return n
end

-- A fresh string nobody else references (not interned as a constant).
function T.payload(i, len)
  return (string.format("<%08d>", i) .. string.rep(string.char(65 + i % 26), len)):sub(1, len)
end

-- Allocates and drops many strings, then collects: memory the kernel still
-- uses would be reused (and overwritten) if an anchor were missing.
function T.churn()
  local t = {}
  for i = 1, 20000 do t[i % 100 + 1] = string.rep("#", 100 + i % 400) .. i end
  collectgarbage("collect")
  collectgarbage("collect")
end

function T.done()
  math.randomseed(os.time())
  for _, t in ipairs(tests) do
    local ok, err = xpcall(t[2], debug.traceback)
    if ok then
      print("ok   " .. t[1])
    else
      failed = failed + 1
      print("FAIL " .. t[1] .. "\n" .. tostring(err))
    end
  end
  for _, d in ipairs(T.dirs or {}) do T.rmtree(d) end
  print(string.format("%d tests, %d failed (%s)", #tests, failed, T.jit and "LuaJIT ffi" or _VERSION))
  os.exit(failed == 0 and 0 or 1, true) -- close the state: every __gc runs
end

return T
