-- ringkit.loop: direct-style tasks, many at once, cancellation, joins.
local T = require "harness"
local loop = require "ringkit.loop"
local rk, K = T.rk, T.K
local dir = T.tmpdir()

T.test("a task reads and writes a file in direct style", function()
  local L = assert(loop.new())
  local out = L:run(function(path)
    local fd = assert(loop.open(path, "w+"))
    T.eq(loop.write(fd, "direct style", 0), 12)
    assert(loop.fsync(fd))
    local s = assert(loop.read(fd, 100, 0))
    assert(loop.close(fd))
    local st = assert(loop.stat(path))
    T.eq(st.size, 12)
    return s
  end, dir .. "/a")
  T.eq(out, "direct style")
  L:close()
end)

T.test("1000 concurrent tasks: sleeps, writes at offsets, reads back", function()
  local L = assert(loop.new({ entries = 128 }))
  local path = dir .. "/many"
  local n = 1000
  local order = {}
  L:run(function()
    local fd = assert(loop.open(path, "w+"))
    local tasks = {}
    for i = 1, n do
      tasks[i] = loop.spawn(function()
        assert(loop.sleep((n - i) % 7 * 0.001))
        local s = string.format("%07d\n", i)
        T.eq(loop.write(fd, s, (i - 1) * 8), 8)
        local back = assert(loop.read(fd, 8, (i - 1) * 8))
        T.eq(back, s)
        order[#order + 1] = i
        return i * 2
      end)
    end
    for i = 1, n do
      local ok, v = tasks[i]:join()
      assert(ok); T.eq(v, i * 2)
    end
    assert(loop.close(fd))
  end)
  T.eq(#order, n)
  local content = T.readfile(path)
  T.eq(#content, 8 * n)
  for i = 1, n do T.eq(content:sub(8 * i - 7, 8 * i), string.format("%07d\n", i)) end
  T.eq(L.pending, 0)
  assert(L.stats.ops >= 3 * n)
  L:close()
end)

T.test("cancelling a waiting task cancels its op", function()
  local L = assert(loop.new())
  local fifo = T.fifo(dir)
  local got = {}
  L:run(function()
    local p = assert(loop.open(fifo, K.O_RDWR))
    local sleeper = loop.spawn(function()
      local ok, err, errno = loop.sleep(30)
      got.sleep = { ok, errno }
      -- later IO of a cancelled task fails at once
      local v, _, e2 = loop.read(p, 1)
      got.after = { v, e2 }
    end)
    local reader = loop.spawn(function()
      local v, err, errno = loop.read(p, 10)
      got.read = { v, errno }
    end)
    local t0 = rk.now()
    assert(loop.sleep(0.01))
    assert(sleeper:cancel()); assert(reader:cancel())
    T.eq(sleeper:cancel(), false) -- once
    sleeper:join(); reader:join()
    assert(rk.now() - t0 < 5, "cancel did not interrupt the sleep")
    assert(loop.close(p))
  end)
  T.eq(got.sleep[1], nil); T.eq(got.sleep[2], K.ECANCELED)
  T.eq(got.after[1], nil); T.eq(got.after[2], K.ECANCELED)
  T.eq(got.read[1], nil); assert(got.read[2] == K.ECANCELED or got.read[2] == K.EINTR)
  T.eq(L.pending, 0)
  L:close()
end)

T.test("cancelling with the op table full: the cancel waits for a slot", function()
  local L = assert(loop.new({ ring = assert(rk.ring_ex(4, 0, 0, 8)) }))
  local results = {}
  L:run(function()
    local sleepers = {}
    for i = 1, 7 do -- with this task's own op, the table (8 slots) fills up
      sleepers[i] = loop.spawn(function()
        local ok, _, errno = loop.sleep(i == 1 and 0.05 or 30)
        results[i] = ok and "slept" or errno
      end)
    end
    loop.yield() -- let them all start sleeping
    local t0 = rk.now()
    for i = 2, 7 do sleepers[i]:cancel() end
    for i = 1, 7 do sleepers[i]:join() end
    assert(rk.now() - t0 < 5, "cancels were not retried")
  end)
  T.eq(results[1], "slept")
  for i = 2, 7 do T.eq(results[i], K.ECANCELED) end
  L.ring:close()
end)

T.test("with_timeout cancels the IO of a slow body, not of a fast one", function()
  local L = assert(loop.new())
  local fifo = T.fifo(dir)
  L:run(function()
    local p = assert(loop.open(fifo, K.O_RDWR))
    local v, msg, errno = loop.with_timeout(0.02, function()
      return loop.read(p, 10) -- nothing arrives
    end)
    T.eq(v, nil); T.eq(errno, K.ETIME); assert(type(msg) == "string")
    -- the task is usable again afterwards
    T.eq(loop.write(p, "ok"), 2)
    local a, b = loop.with_timeout(5, function() return loop.read(p, 10), "second" end)
    T.eq(a, "ok"); T.eq(b, "second")
    local ok, err = pcall(loop.with_timeout, 5, function() error("inner") end)
    T.eq(ok, false); assert(tostring(err):find("inner"))
    assert(loop.close(p))
  end)
  T.eq(L.pending, 0)
  L:close()
end)

T.test("a task's error propagates from run with its traceback; join catches", function()
  local L = assert(loop.new())
  local ok, err = pcall(L.run, L, function()
    loop.sleep(0.001)
    error("task failed here")
  end)
  T.eq(ok, false); assert(tostring(err):find("task failed here"))
  L:close()
  L = assert(loop.new())
  L:run(function()
    local t = loop.spawn(function() error("caught") end)
    local ok2, e = t:join()
    T.eq(ok2, false); assert(e:find("caught"))
  end)
  L:close()
end)

T.test("IO outside a task raises; yield interleaves tasks", function()
  T.raises("outside a loop task", loop.read, 0, 1)
  local L = assert(loop.new())
  local trace = {}
  L:run(function()
    local a = loop.spawn(function() for i = 1, 3 do trace[#trace + 1] = "a" .. i; loop.yield() end end)
    local b = loop.spawn(function() for i = 1, 3 do trace[#trace + 1] = "b" .. i; loop.yield() end end)
    a:join(); b:join()
  end)
  T.eq(table.concat(trace, " "), "a1 b1 a2 b2 a3 b3")
  L:close()
end)

T.test("module-level default loop and loop.call for any op", function()
  local r = loop.run(function()
    local res = assert(loop.call("nop"))
    T.eq(res, 0)
    assert(loop.mkdir(dir .. "/m"))
    assert(loop.rename(dir .. "/m", dir .. "/n"))
    assert(loop.rmdir(dir .. "/n"))
    local v, msg, errno = loop.unlink(dir .. "/nope")
    T.eq(v, nil); T.eq(errno, K.ENOENT); assert(type(msg) == "string")
    return "done"
  end)
  T.eq(r, "done")
end)

T.done()
