-- The scenario runner for Lua: under lua5.4 with the C module `ringkit`,
-- under LuaJIT with the ffi module `ringkit_ffi` (one API, so one file).
--   lua5.4 run.lua SCENARIO.json...   (LUA_CPATH/LUA_PATH as tests/lua)
-- A straight interpreter of the steps of README.md; exits 1 naming the
-- scenario, the step and both values at the first unmet expectation.
local rk = rawget(_G, "jit") and require "ringkit_ffi" or require "ringkit"
local K = rk.constants
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local json = require "json"

local scenario, step_no, step_op = "?", 0, "load"
local stat = io.open("/proc/self/stat")
local pid = stat:read("*n") -- this process (neither Lua has getpid)
stat:close()
local names, bufs

local function fail(fmt, ...)
  error({ msg = string.format("FAIL %s step %d (%s): " .. fmt, scenario, step_no, step_op, ...) }, 0)
end

-- A binding call's outcome as one integer: its value (true: 0), or -errno
-- for the nil, message, errno of an expected failure.
local function result(v, msg, e)
  if v == nil then
    if type(e) ~= "number" then fail("call failed without an errno: %s", tostring(msg)) end
    return -e
  end
  return v == true and 0 or v
end

local function allowed(spec, got)
  if type(spec) == "table" then
    for _, s in ipairs(spec) do if allowed(s, got) then return true end end
    return false
  end
  if type(spec) == "number" then return spec == got end
  local neg = spec:sub(1, 1) == "-"
  local v = K[neg and spec:sub(2) or spec] or fail("no errno constant %s", spec)
  return got == (neg and -v or v)
end

local function show(spec)
  if type(spec) ~= "table" then return tostring(spec) end
  local t = {}
  for i, s in ipairs(spec) do t[i] = tostring(s) end
  return table.concat(t, " or ")
end

local function expect(spec, got, what)
  if spec ~= nil and not allowed(spec, got) then
    fail("%s: expected %s, got %s (%s)", what, show(spec), tostring(got),
      type(got) == "number" and got < 0 and rk.strerror(got) or "ok")
  end
end

local function ring_of(step)
  return names[step.ring or "r"] or fail("ring %s is not open", step.ring or "r")
end

local function value(step, key)
  local v = step[key]
  if type(v) == "number" then return v end
  return names[v] or fail("unknown name %s", tostring(v))
end

local function flags(step)
  local f = 0
  for _, n in ipairs(step.flags or {}) do f = f + (K["RK_" .. n] or fail("no flag RK_%s", n)) end
  return f
end

local function prep(step, ret)
  if step.expect ~= nil then expect(step.expect, ret, "prep result")
  elseif ret < 0 then fail("prep failed: %s", rk.strerror(ret)) end
  if ret >= 0 and step.as then names[step.as] = ret end
end

local function region_call(step, method, ...)
  local r = ring_of(step)
  expect(step.expect, result(r[method](r, names[step.region], ...)), step.op)
end

local steps = {}
local open_rings, open_regions, open_fds

function steps.ring(step)
  local r = assert(rk.ring(step.entries or 8))
  names[step.as] = r
  open_rings[#open_rings + 1] = r
end

function steps.close_ring(step)
  local r = ring_of(step)
  local t0 = rk.now()
  local ret = result(r:close())
  local took = (rk.now() - t0) * 1000
  names[step.ring or "r"] = nil
  expect(0, ret, "close")
  if took >= (step.expect_ms_below or 1000) then fail("close took %d ms", took) end
end

function steps.socketpair(step)
  local a, b = rk.socketpair()
  if not a then fail("socketpair: %s", tostring(b)) end
  names[step.as .. ".a"], names[step.as .. ".b"] = a, b
  open_fds[#open_fds + 1] = a
  open_fds[#open_fds + 1] = b
end

function steps.sleep(step)
  local t = rk.now() + step.ms / 1000
  while rk.now() < t do end -- neither Lua has a sleep; a short spin
end

function steps.region(step)
  local g = assert(rk.region(step.chunk_size, step.nchunks))
  names[step.as] = g
  open_regions[#open_regions + 1] = g
end

function steps.chunk(step) names[step.as] = assert(names[step.region]:alloc()) end

function steps.destroy_region(step)
  expect(step.expect, result(names[step.region]:destroy()), "destroy_region")
end

function steps.provide(step) region_call(step, "provide_region", step.group) end
function steps.unprovide(step) region_call(step, "unprovide_region") end
function steps.register_region(step) region_call(step, "register_region") end
function steps.unregister_region(step) region_call(step, "unregister_region") end
function steps.recycle(step) region_call(step, "recycle_chunk", value(step, "chunk")) end

function steps.nop(step) local r = ring_of(step); prep(step, result(r:nop(flags(step)))) end

function steps.read(step)
  local r = ring_of(step)
  prep(step, result(r:read(value(step, "fd"), step.len, -1, flags(step))))
end

function steps.write(step)
  local r = ring_of(step)
  prep(step, result(r:write(value(step, "fd"), step.data, -1, flags(step))))
end

function steps.read_chunk(step)
  local r = ring_of(step)
  prep(step, result(r:read_chunk(value(step, "fd"), names[step.region], value(step, "chunk"),
    step.len, -1, flags(step))))
end

function steps.recv_select(step)
  local r = ring_of(step)
  prep(step, result(r:recv_select(value(step, "fd"), step.group, step.len, 0, flags(step))))
end

function steps.timeout(step)
  local r = ring_of(step)
  prep(step, result(r:timeout(step.ns, step.count or 0, 0, flags(step))))
end

function steps.link_timeout(step)
  local r = ring_of(step)
  prep(step, result(r:link_timeout(step.ns, 0, flags(step))))
end

function steps.cancel(step)
  local r = ring_of(step)
  prep(step, result(r:cancel(value(step, "target"), flags(step))))
end

function steps.submit(step)
  local ret = result(ring_of(step):submit())
  if ret < 0 then fail("submit: %s", rk.strerror(ret)) end
end

function steps.inflight(step) expect(step.expect, ring_of(step):inflight(), "live ops") end

function steps.reap(step)
  local r = ring_of(step)
  local want, nwant, seq, nseen = {}, 0, {}, 0
  for _, e in ipairs(step.expect) do
    want[names[e.id] or fail("unknown op %s", e.id)] = e
    nwant = nwant + 1
  end
  local deadline = rk.now() + (step.timeout_ms or 5000) / 1000
  local t = {}
  while nwant == 0 or nseen < nwant do
    local left = deadline - rk.now()
    if left <= 0 then break end
    local n, msg, e = r:reap(64, 1, math.floor(left * 1e9), t)
    if not n and e ~= K.EINTR then fail("reap: %s", tostring(msg)) end
    for i = 1, 3 * (n or 0), 3 do
      local id, res, extra = t[i], t[i + 1], t[i + 2]
      local ex = want[id] or fail("unexpected completion: id %s res %s", tostring(id), tostring(res))
      if seq[id] then fail("op %s completed twice", ex.id) end
      nseen = nseen + 1
      seq[id] = nseen
      expect(ex.res, res, "res of " .. ex.id)
      local data = type(extra) == "string" and extra or nil
      if ex.chunk_as then
        local chunk = rk.cqe_chunk(extra)
        if not chunk then fail("op %s: expected a provided buffer, flags %s", ex.id, tostring(extra)) end
        names[ex.chunk_as] = chunk
        data = names[ex.region]:read(chunk, math.max(res, 0))
      end
      if ex.data and data ~= ex.data then
        fail("data of %s: expected %q, got %s", ex.id, ex.data, data and string.format("%q", data) or "nil")
      end
    end
  end
  for id, ex in pairs(want) do
    if not seq[id] then fail("op %s did not complete in time", ex.id) end
    if ex.after and seq[names[ex.after]] > seq[id] then
      fail("op %s completed before %s", ex.id, ex.after)
    end
  end
end

-- Neither Lua lists a directory: a child ls counts this process's
-- descriptors (the pipe it answers through included, every time alike).
-- Counted by a child (neither Lua can list a directory), leaving pipes out:
-- popen's own pipe is one, and its write end is open here while the child
-- runs until popen closes it, a race that would count it or not. No
-- scenario makes pipes of its own.
function steps.fd_count(step)
  local p = io.popen("ls -l /proc/" .. pid .. "/fd | grep -- '->' | grep -v 'pipe:'")
  local n = 0
  for _ in p:lines() do n = n + 1 end
  p:close()
  if step.as then names[step.as] = n else expect(value(step, "expect"), n, "open descriptors") end
end

-- Neither Lua has a signal API. The stand-alone interpreters (lua.c,
-- luajit.c) install a SIGINT handler while the script runs, which makes the
-- VM raise "interrupted!" as soon as control is back in Lua. A child shell
-- sends this process SIGINT after after_ms; the reap must end with that
-- error (or nil, msg, EINTR) instead of waiting on.
function steps.interrupt_reap(step)
  local r = ring_of(step)
  local after = step.after_ms or 50
  local t0 = rk.now()
  local child = io.popen(string.format("sleep %.3f; kill -INT %d", after / 1000, pid))
  local got
  local ok, err = pcall(function() got = { r:reap(8, 1, 5e9) } end)
  local took = (rk.now() - t0) * 1000
  child:close()
  local outcome
  if not ok and tostring(err):find("interrupted!", 1, true) then outcome = "EINTR"
  elseif ok and got[1] == nil and got[3] == K.EINTR then outcome = "EINTR"
  else outcome = ok and ("returned " .. tostring(got[1])) or tostring(err) end
  if outcome ~= "EINTR" then fail("reap: expected the binding's EINTR outcome, got %s", outcome) end
  if took < after / 2 then fail("reap ended after %d ms, before the signal", took) end
  if took >= (step.expect_ms_below or 2000) then fail("reap took %d ms", took) end
end

-- README.md, "mixed": the same draws and checks in every runner.
function steps.mixed(step)
  local r = ring_of(step)
  local count, x = step.count, step.seed
  local cap = tonumber(os.getenv("RINGKIT_SCENARIO_MIXED_MAX") or "")
  if cap and cap < count then count = cap end
  local link, etime = K.RK_LINK, -K.ETIME
  local sa, sb = rk.socketpair()
  local stale = assert(r:nop(0))
  local t = {}
  local n = r:reap(64, 1, nil, t)
  if n ~= 1 or t[1] ~= stale then fail("could not make a stale id") end
  local live, nlive = {}, 0
  local draws, ops, done = 0, 0, 0
  local function add(id, res, msg)
    if not id then fail("draw %d: prep failed: %s", draws, tostring(res)) end
    live[id] = msg
    nlive = nlive + 1
    ops = ops + 1
  end
  while draws < count do
    for _ = 1, math.min(16, count - draws) do
      x = x * 48271 % 2147483647
      local k = x % 4
      if k == 0 then
        local id, msg = r:nop(0); add(id, msg, 0)
      elseif k == 1 then
        local id, msg = r:timeout(1000, 0, 0, 0); add(id, msg, etime)
      elseif k == 2 then
        local id, msg = r:write(sb, "x", -1, link); add(id, msg, 1)
        id, msg = r:read(sa, 1, -1, 0); add(id, msg, 1)
      else
        local res = result(r:cancel(stale, 0))
        if res ~= -K.ENOENT then fail("draw %d: cancel of a stale id returned %s", draws, tostring(res)) end
      end
      draws = draws + 1
    end
    while nlive > 0 do
      n = r:reap(64, 1, 5e9, t)
      if not n or n == 0 then fail("no completion in 5 s with %d ops live", nlive) end
      for i = 1, 3 * n, 3 do
        local want = live[t[i]]
        if want == nil then fail("completion of id %s: not a live op (twice, or unknown)", tostring(t[i])) end
        if t[i + 1] ~= want then fail("op id %s: expected res %d, got %d", tostring(t[i]), want, t[i + 1]) end
        live[t[i]] = nil
        nlive = nlive - 1
        done = done + 1
      end
    end
  end
  n = r:reap(64, 0, 0, t)
  if n ~= 0 then fail("%s completions after every op had its final one", tostring(n)) end
  if done ~= ops then fail("%d ops, %d final completions", ops, done) end
  rk.close(sa)
  rk.close(sb)
end

local function run_file(path)
  scenario, step_no, step_op = path:match("[^/]*$"), 0, "load"
  local f = io.open(path) or fail("cannot open %s", path)
  local ok, doc = pcall(json.decode, f:read("*a"))
  f:close()
  if not ok then fail("%s", tostring(doc)) end
  names, open_rings, open_regions, open_fds = {}, {}, {}, {}
  for i, step in ipairs(doc.steps) do
    step_no, step_op = i, step.op
    local fn = steps[step.op] or fail("unknown step")
    local okstep, err = pcall(fn, step)
    if not okstep then
      if type(err) == "table" then error(err, 0) end
      fail("%s", tostring(err)) -- a binding call that raised
    end
  end
  for _, r in ipairs(open_rings) do r:close() end
  for _, g in ipairs(open_regions) do pcall(g.destroy, g) end
  for _, fd in ipairs(open_fds) do rk.close(fd) end
  print("ok " .. scenario)
end

for _, path in ipairs(arg) do
  local ok, err = pcall(run_file, path)
  if not ok then
    io.stderr:write((type(err) == "table" and err.msg or tostring(err)) .. "\n")
    os.exit(1)
  end
end
