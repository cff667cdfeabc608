-- Lua 5.4 only: to-be-closed variables, __gc and idempotent close.
local T = require "harness"
local rk, K = T.rk, T.K
local dir = T.tmpdir()

T.test("<close> ring and region close at scope end", function()
  local saved_r, saved_g
  do
    local r <close> = assert(rk.ring(16))
    local g <close> = assert(rk.region(4096, 2))
    saved_r, saved_g = r, g
    assert(r:nop())
    T.eq(r:closed(), false)
  end
  T.eq(saved_r:closed(), true)
  assert(tostring(saved_r):find("closed"))
  assert(tostring(saved_g):find("destroyed"))
  assert(saved_r:close()) -- idempotent
end)

T.test("<close> runs on error and cancels in-flight ops", function()
  local fifo = T.fifo(dir)
  local ring
  local ok, err = pcall(function()
    local r <close> = assert(rk.ring(16))
    ring = r
    local p = T.wait(r, r:open(fifo, K.O_RDWR))
    for _ = 1, 8 do assert(r:read(p, 100)) end
    assert(r:write(p, string.rep("z", 50)))
    r:submit()
    error("boom")
  end)
  T.eq(ok, false); assert(err:find("boom"))
  T.eq(ring:closed(), true)
end)

T.test("close settles ops: an fd opened despite the cancel is closed", function()
  local r = assert(rk.ring(16))
  local path = dir .. "/x"
  T.writefile(path, "x")
  for _ = 1, 20 do assert(r:open(path)) end
  assert(r:close())
  -- No fd of ours remains from those opens: the next open gets a low fd.
  local r2 = assert(rk.ring(4))
  local fd = T.wait(r2, r2:open(path))
  assert(fd < 20, "fd " .. fd .. " suggests leaked fds")
  r2:closefd(fd); r2:reap(4, 1)
  r2:close()
end)

T.test("region registered with a ring, both collected in one cycle", function()
  for order = 1, 2 do
    do
      local r, g
      if order == 1 then r = assert(rk.ring(8)); g = assert(rk.region(4096, 4))
      else g = assert(rk.region(4096, 4)); r = assert(rk.ring(8)) end
      r:register_region(g)
    end
    collectgarbage("collect"); collectgarbage("collect")
  end
end)

T.test("__gc after close and close after __gc-safe states", function()
  local r = assert(rk.ring(8))
  r:nop()
  r:close()
  r = nil
  collectgarbage("collect")
  local g = assert(rk.region(4096, 1))
  assert(g:destroy())
  g = nil
  collectgarbage("collect")
end)

T.done()
