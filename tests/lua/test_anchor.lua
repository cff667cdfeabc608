-- Buffers the kernel reads or writes stay alive under collectgarbage():
-- strings written are anchored until the final completion, read buffers
-- are owned by the binding until they come back as strings.
local T = require "harness"
local rk, K = T.rk, T.K
local dir = T.tmpdir()

-- A fresh string nobody else references (not interned as a constant).
local function payload(i, len)
  return (string.format("<%08d>", i) .. string.rep(string.char(65 + i % 26), len)):sub(1, len)
end

local function churn()
  -- Allocate and drop lots of strings of the same sizes, so freed memory
  -- would be reused (and overwritten) if an anchor were missing.
  local t = {}
  for i = 1, 20000 do t[i % 100 + 1] = string.rep("#", 100 + i % 400) .. i end
  collectgarbage("collect")
  collectgarbage("collect")
end

T.test("writes prepared, GC, then submitted: file content intact", function()
  local r = assert(rk.ring(256))
  local fd = T.wait(r, r:open(dir .. "/w", K.O_RDWR + K.O_CREAT + K.O_TRUNC, 420))
  local len, n = 300, 200
  for i = 1, n do assert(r:write(fd, payload(i, len), (i - 1) * len)) end
  churn() -- nothing was submitted yet: the kernel reads after this
  local done, t = 0, {}
  while done < n do
    local k = assert(r:reap(256, 1, nil, t))
    for j = 1, 3 * k, 3 do T.eq(t[j + 1], len) end
    done = done + k
  end
  local content = T.readfile(dir .. "/w")
  for i = 1, n do
    T.eq(content:sub((i - 1) * len + 1, i * len), payload(i, len), "block " .. i)
  end
  r:closefd(fd); r:reap(8, 1)
  r:close()
end)

T.test("writes delayed in the kernel behind a timeout (hardlink), GC between", function()
  local r = assert(rk.ring(64))
  local fifo = T.fifo(dir)
  local p = T.wait(r, r:open(fifo, K.O_RDWR))
  local ids = {}
  for i = 1, 8 do
    assert(r:timeout(20e6, 0, 0, K.RK_HARDLINK))
    ids[i] = assert(r:write(p, payload(i, 64)))
  end
  assert(r:submit())
  churn()
  local t, got = {}, 0
  while got < 16 do got = got + assert(r:reap(64, 1, nil, t)) end
  for i = 1, 8 do
    local res, data = T.wait(r, assert(r:read(p, 64)))
    T.eq(res, 64); T.eq(data, payload(i, 64))
  end
  r:closefd(p); r:reap(8, 1)
  r:close()
end)

T.test("reads into binding buffers, GC while the kernel holds them", function()
  local r = assert(rk.ring(64))
  local fifo = T.fifo(dir)
  local p = T.wait(r, r:open(fifo, K.O_RDWR))
  local ids = {}
  for i = 1, 16 do ids[i] = assert(r:read(p, 64)) end
  assert(r:submit())
  churn()
  for i = 1, 16 do T.wait(r, assert(r:write(p, payload(i, 64)))) end
  local seen = {}
  for i = 1, 16 do
    local res, data = T.wait(r, ids[i])
    T.eq(res, 64)
    seen[ids[i]] = data
  end
  -- Which pending read gets which message is the kernel's choice: compare
  -- the sets.
  local want = {}
  for i = 1, 16 do want[payload(i, 64)] = true end
  for i = 1, 16 do
    assert(want[seen[ids[i]]], "unexpected data " .. tostring(seen[ids[i]]))
    want[seen[ids[i]]] = nil
  end
  r:closefd(p); r:reap(8, 1)
  r:close()
end)

T.test("a ring collected with ops in flight closes itself", function()
  local fifo = T.fifo(dir)
  do
    local r = assert(rk.ring(16))
    local p = T.wait(r, r:open(fifo, K.O_RDWR))
    for _ = 1, 4 do r:read(p, 10) end
    for i = 1, 4 do r:write(p, payload(i, 100)) end
    r:submit()
  end
  churn() -- __gc: cancel, drain, close
  local r2 = assert(rk.ring(16))
  T.eq(r2:inflight(), 0)
  r2:close()
end)

T.test("region kept alive by its in-flight op", function()
  local r = assert(rk.ring(16))
  local fifo = T.fifo(dir)
  local p = T.wait(r, r:open(fifo, K.O_RDWR))
  local id
  do
    local g = assert(rk.region(4096, 1))
    id = assert(r:read_chunk(p, g, assert(g:alloc()), 5))
  end
  r:submit()
  churn()
  T.wait(r, r:write(p, "hello"))
  T.eq(T.wait(r, id), 5)
  churn()
  r:closefd(p); r:reap(4, 1)
  r:close()
end)

T.done()
