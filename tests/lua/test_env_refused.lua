-- io_uring refused at setup: run under tests/c/refuse_uring ERRNO (a
-- seccomp filter failing io_uring_setup), with RK_REFUSED=ERRNO. Asked for
-- io_uring only (RK_RING_NO_FALLBACK), ring creation returns nil,
-- rk_strerror's advice, errno — for every setup mode; asked nothing, it
-- returns a working ring on the fallback backend. Regions keep working.
local T = require "harness"
local rk, K = T.rk, T.K
local name = assert(os.getenv("RK_REFUSED"), "set RK_REFUSED to the refused errno's name")
local advice = { EPERM = "seccomp", ENOSYS = "Linux 5.19", ENOMEM = "RLIMIT_MEMLOCK",
                 EINVAL = "setup mode" }

T.test("refused setup gives nil, advice, " .. name, function()
  local want = assert(K[name], name)
  for _, mode in ipairs { 0, K.RK_RING_SQPOLL, K.RK_RING_SINGLE_ISSUER, K.RK_RING_COOP_TASKRUN } do
    local flags = mode + K.RK_RING_NO_FALLBACK -- distinct bits (LuaJIT has no `|`)
    local r, msg, e = rk.ring(8, flags)
    T.fails(want, r, msg, e, "rk.ring(8, " .. flags .. ")")
    T.eq(msg, rk.strerror(want), "message")
    assert(msg:find(advice[name], 1, true), msg)
    T.fails(want, rk.ring_ex(8, flags, 64, 64, 0))
  end
  print("  " .. name .. ": " .. select(2, rk.ring(8, K.RK_RING_NO_FALLBACK)))
end)

T.test("refused setup without a word against it: the fallback, " .. name, function()
  for _, mode in ipairs { 0, K.RK_RING_SQPOLL, K.RK_RING_DEFER_TASKRUN } do
    local r = assert(rk.ring(8, mode))
    T.eq(r:stats().backend, K.RK_BACKEND_FALLBACK)
    local id = assert(r:nop())
    local n, got, res = r:reap(4, 1)
    T.eq(n, 1); T.eq(got, id); T.eq(res, 0)
    assert(r:close())
  end
end)

T.test("regions do not need io_uring", function()
  local g = assert(rk.region(4096, 2))
  assert(g:alloc())
  g:destroy()
end)

T.done()
