-- ring:restrict{...}: a ring limited to the ops named. The module passes
-- names and flags to rk_ring_restrict; the core refuses the rest with
-- nil, msg, EACCES, on both backends (the suite runs them both).
local T = require "harness"
local rk, K = T.rk, T.K
local FIXED = K.RK_FIXED_FILE

local function restrictable() return assert(rk.ring(8, K.RK_RING_RESTRICTABLE)) end

T.test("disabled until restricted", function()
  local r = restrictable()
  T.fails(K.EBADFD, r:nop())
  T.fails(K.EBADFD, r:submit())
  T.fails(K.EBADFD, r:reap(8, 1, -1))
  T.raises("unknown op 'nope'", r.restrict, r, { "nope" })
  T.raises("table expected", r.restrict, r, "nop")
  T.eq(r:restrict{ "nop" }, true)
  T.eq(T.wait(r, assert(r:nop())), 0)
  r:close()
  local plain = assert(rk.ring(8))
  T.fails(K.EINVAL, plain:restrict{ "nop" })
  plain:close()
end)

T.test("listed ops run, the others fail with EACCES, once and for all", function()
  local r = restrictable()
  local a, b = assert(rk.socketpair())
  T.eq(r:restrict{ "nop", "send", "recv", K.RK_OP_WRITE }, true)
  T.fails(K.EPERM, r:restrict{ "nop", "send", "recv", "timeout" })
  T.eq(T.wait(r, assert(r:send(a, "hi", 0))), 2)
  local n, data = T.wait(r, assert(r:recv(b, 16, 0)))
  T.eq(n, 2); T.eq(data, "hi")
  T.eq(T.wait(r, assert(r:write(a, "w", -1))), 1)
  T.fails(K.EACCES, r:timeout(1000))
  T.fails(K.EACCES, r:closefd(a))
  T.fails(K.EACCES, r:socket(K.AF_INET, K.SOCK_STREAM))
  T.fails(K.EACCES, r:register_files(4))
  T.eq(r:inflight(), 0)
  r:close()
  rk.close(a); rk.close(b)
end)

T.test("fixed files only: every op on a slot the host filled", function()
  local r = restrictable()
  local a, b = assert(rk.socketpair())
  assert(r:register_files(2))
  T.eq(r:update_files(0, { a, b }), 2)
  T.eq(r:restrict{ "send", "recv", "nop", fixed_files_only = true }, true)
  T.fails(K.EACCES, r:send(a, "raw", 0))
  T.fails(K.EACCES, r:nop())
  T.eq(T.wait(r, assert(r:nop(FIXED))), 0)
  T.eq(T.wait(r, assert(r:send(0, "slot", 0, FIXED))), 4)
  local n, data = T.wait(r, assert(r:recv(1, 16, 0, FIXED)))
  T.eq(n, 4); T.eq(data, "slot")
  T.fails(K.EACCES, r:update_files(0, { b }))
  T.fails(K.EACCES, r:unregister_files())
  r:close()
  rk.close(a); rk.close(b)
end)

T.test("allow_files keeps the file table's calls", function()
  local r = restrictable()
  T.eq(r:restrict{ "nop", allow_files = true }, true)
  T.eq(r:register_files(2), true)
  T.eq(r:unregister_files(), true)
  r:close()
end)

T.done()
