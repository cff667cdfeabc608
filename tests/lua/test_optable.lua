-- Every op of the core's table (the RK_OP_* constants) is a ring method,
-- ring:<name> and ring:prep_<name>, in both modules (RK_OP_CLOSE is
-- ring:closefd: ring:close closes the ring).
local T = require "harness"
local rk, K = T.rk, T.K

T.test("every RK_OP_* has a ring method", function()
  local r = assert(rk.ring(8))
  local n = 0
  for name, code in pairs(K) do
    local op = name:match("^RK_OP_(.+)$")
    if op and op ~= "COUNT" then
      assert(code >= 0 and code < K.RK_OP_COUNT, name)
      local m = op == "CLOSE" and "closefd" or op:lower()
      T.eq(type(r[m]), "function", "ring:" .. m)
      T.eq(type(r["prep_" .. op:lower()]), "function", "ring:prep_" .. op:lower())
      n = n + 1
    end
  end
  T.eq(n, K.RK_OP_COUNT, "RK_OP_* constants")
  r:close()
end)

T.test("a method made from the table prepares its op", function()
  local r = assert(rk.ring(8))
  local a, b = assert(rk.socketpair())
  local id = assert(r:poll_add(a, 4)) -- POLLOUT: ready at once
  T.eq(T.wait(r, id), 4)
  -- An op this kernel or backend may lack: refused at prep or by the kernel.
  local id2, _, errno = r:ftruncate(-1, 0)
  local e = id2 and -T.wait(r, id2) or errno
  assert(e == K.EBADF or e == K.EOPNOTSUPP or e == K.EINVAL, "ftruncate: " .. tostring(e))
  r:close()
  rk.close(a); rk.close(b)
end)

T.done()
