-- Expected failures return nil, message, errno; misuse raises.
local T = require "harness"
local rk, K = T.rk, T.K
local dir = T.tmpdir()

T.test("ring creation failure returns nil, msg, errno", function()
  T.fails(K.EINVAL, rk.ring(0))
end)

T.test("prep errors: bad fd, stale cancel target, bad flags", function()
  local r = assert(rk.ring(16))
  T.fails(K.EBADF, r:read(-1, 10))
  T.fails(K.EBADF, r:write(-5, "x"))
  T.fails(K.ENOENT, r:cancel(123456789))
  local id = r:nop()
  r:reap(8, 1)
  T.fails(K.ENOENT, r:cancel(id)) -- a completed (stale) id
  T.fails(K.ENOENT, r:poll_remove(id))
  T.fails(K.ENOENT, r:timeout_remove(id))
  T.fails(K.EINVAL, r:nop(1048576))
  T.fails(K.EINVAL, r:timeout(-1))
  r:close()
end)

T.test("kernel errors come back as negative results", function()
  local r = assert(rk.ring(16))
  local id = r:open(dir .. "/does/not/exist")
  T.eq(T.wait(r, id), -K.ENOENT)
  id = r:read(987, 10) -- not an open fd
  T.eq(T.wait(r, id), -K.EBADF)
  r:close()
end)

T.test("a full op table returns EBUSY, then recovers", function()
  local r = assert(rk.ring_ex(4, 0, 0, 8))
  local n = 0
  while true do
    local id, msg, errno = r:nop()
    if not id then
      T.eq(errno, K.EBUSY); assert(msg:find("reap") or #msg > 0)
      break
    end
    n = n + 1
  end
  T.eq(n, 8)
  T.eq(r:reap(16, 8), 8)
  assert(r:nop())
  r:close()
end)

T.test("region errors", function()
  T.fails(K.EINVAL, rk.region(0, 4))
  local g = assert(rk.region(4096, 2))
  local a, b = g:alloc(), g:alloc()
  T.fails(K.ENOBUFS, g:alloc())
  assert(g:free(a))
  T.fails(K.EINVAL, g:free(a)) -- double free
  local r = assert(rk.ring(8))
  local fifo = T.fifo(dir)
  local p = T.wait(r, r:open(fifo, K.O_RDWR))
  local id = assert(r:read_chunk(p, g, b, 16))
  r:submit()
  T.fails(K.EBUSY, g:free(b)) -- in flight
  T.fails(K.EBUSY, g:destroy())
  r:cancel(id)
  T.wait(r, id)
  assert(g:free(b))
  r:closefd(p); r:reap(8, 1)
  r:close()
  assert(g:destroy())
end)

T.test("misuse raises: wrong types, closed ring, destroyed region", function()
  local r = assert(rk.ring(8))
  T.raises("", r.write, r, 1, {})
  T.raises("", r.read, r, 1, "ten")
  T.raises("", r.read_chunk, r, 1, {}, 0)
  if not T.jit then
    T.raises("bad argument", r.read, r, "x", 1)
    T.raises("bad argument", r.nop, r, -1)
    T.raises("bad argument", r.reap, r, -1)
    T.raises("bad argument", r.nop, {})
    T.raises("bad argument", r.read, r, io.stdout, -1)
  end
  r:close()
  T.raises("closed", r.nop, r)
  T.raises("closed", r.reap, r)
  assert(r:close(), "close is idempotent")
  local g = assert(rk.region(4096, 1))
  g:destroy()
  T.raises("destroyed", g.alloc, g)
end)

if not T.jit then
  T.test("Lua file handles as fds are anchored", function()
    local r = assert(rk.ring(8))
    local path = dir .. "/fh"
    T.writefile(path, "from a FILE*")
    local f = assert(io.open(path, "rb"))
    local id = assert(r:read(f, 64, 0))
    f = nil
    collectgarbage("collect")
    local res, data = T.wait(r, id)
    T.eq(res, 12); T.eq(data, "from a FILE*")
    local f2 = assert(io.open(path, "rb")); f2:close()
    T.raises("closed file", r.read, r, f2, 1)
    r:close()
  end)
end

T.test("closing a ring never closes fds it does not own", function()
  -- Slots that served an open op are reused by splices whose results (byte
  -- counts) equal fds we hold: tearing the ring down with those completions
  -- unreaped must close only fds that an open op produced.
  local path = dir .. "/small"
  T.writefile(path, string.rep("y", 64))
  local r2 = assert(rk.ring(8))
  local held = {}
  for i = 1, 4 do held[i] = T.wait(r2, r2:open(path)) end
  local r = assert(rk.ring_ex(8, 0, 0, 8))
  local p = T.wait(r, r:open(T.fifo(dir), K.O_RDWR))
  local out = T.wait(r, r:open(dir .. "/sink", K.O_WRONLY + K.O_CREAT, 420))
  for _ = 1, 3 do -- stamp every slot with an open op
    local ids = {}
    for i = 1, 6 do ids[i] = assert(r:open(path)) end
    for i = 1, 6 do T.wait(r, r:closefd(T.wait(r, ids[i]))) end
  end
  T.wait(r, r:write(p, string.rep("z", 200)))
  for i = 1, 4 do assert(r:splice(p, -1, out, -1, held[i])) end
  r:submit()
  T.wait(r2, r2:timeout(50e6)) -- let the splices complete, unreaped
  assert(r:close())
  for i = 1, 4 do
    local res = T.wait(r2, r2:read(held[i], 2, 0))
    T.eq(res, 2, "read of held fd " .. held[i])
  end
  r2:close()
end)

T.done()
