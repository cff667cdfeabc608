-- Messages between rings (msg_ring) in one Lua state: value and res round
-- trips, the message record's negative id never taken for an op, idle
-- targets, refusals; then messages in ringkit.loop. (Between threads: the
-- lua-host-threads test, examples/lua-host/threads.c.)
local T = require "harness"
local rk, K = T.rk, T.K

-- Reaps from r until n records came; returns them as { id, res, extra }.
local function records(r, n, timeout)
  local got, t = {}, {}
  for _ = 1, 100 do
    if #got >= n then return got end
    local k = assert(r:reap(64, 1, timeout or 5e9, t))
    for j = 1, 3 * k, 3 do got[#got + 1] = { t[j], t[j + 1], t[j + 2] } end
  end
  error("only " .. #got .. " of " .. n .. " records")
end

local function value_eq(a, b) return tostring(a) == tostring(b) end

T.test("value and res round trip; the sender completes with 0", function()
  local a = assert(rk.ring(16))
  local b = assert(rk.ring(16, K.RK_RING_MSG_TARGET))
  local big = T.jit and (2 ^ 53 - 1) or (K.RK_MSG_VALUE_MAX - 1)
  local sent = {
    { 42, -7 }, { 0, 0 }, { 1, 2147483647 }, { 4294967296 + 3, -2147483648 }, { big, 5 },
  }
  local ids = {}
  for i, m in ipairs(sent) do
    -- a ring object, or its fd
    ids[i] = assert(a:msg_ring(i % 2 == 1 and b or b:fd(), m[1], m[2]))
  end
  for i = 1, #sent do T.eq(T.wait(a, ids[i]), 0, "sender's completion") end
  local got = records(b, #sent)
  for i, rec in ipairs(got) do
    assert(rec[1] < 0, "a message's id is negative")
    T.eq(rec[2], sent[i][2], "res")
    assert(value_eq(rec[3], sent[i][1]), "value " .. tostring(rec[3]) .. " ~= " .. tostring(sent[i][1]))
  end
  T.eq(b:inflight(), 0)
  T.eq(b:stats().completed, 0) -- messages are not completions of b's ops
  if T.jit then -- values beyond 2^53 travel as int64 cdata
    local ffi = require "ffi"
    local v = require("bit").rshift(ffi.new("int64_t", -1), 1) - 1 -- RK_MSG_VALUE_MAX
    T.eq(T.wait(a, assert(a:msg_ring(b, v, 1))), 0)
    local rec = records(b, 1)[1]
    T.eq(type(rec[3]), "cdata")
    assert(rec[3] == v, "int64 value " .. tostring(rec[3]))
  else
    T.eq(T.wait(a, assert(a:msg_ring(b, K.RK_MSG_VALUE_MAX, 1))), 0)
    local rec = records(b, 1)[1]
    T.eq(rec[3], K.RK_MSG_VALUE_MAX)
    T.eq(rec[1], math.mininteger + K.RK_MSG_VALUE_MAX) -- the core's id, value | INT64_MIN
    T.eq(rec[1] - math.mininteger, rec[3])
  end
  -- To itself.
  local self_id = assert(a:msg_ring(a, 99, 1))
  local recs = records(a, 2)
  local seen = {}
  for _, rec in ipairs(recs) do
    if rec[1] == self_id then seen.op = rec[2] else seen.msg = rec end
  end
  T.eq(seen.op, 0); T.eq(seen.msg[3], 99); T.eq(seen.msg[2], 1)
  a:close(); b:close()
end)

T.test("a message whose value aliases a live op's slot touches nothing of it", function()
  local b = assert(rk.ring(16, K.RK_RING_MSG_TARGET))
  local a = assert(rk.ring(16))
  local x, y = assert(rk.socketpair())
  local rd = assert(b:recv(y, 64)) -- live, with a binding buffer in its slot
  assert(b:submit())
  local slot = rd % 4294967296
  T.eq(T.wait(a, assert(a:msg_ring(b, slot, 11))), 0)
  T.eq(T.wait(a, assert(a:msg_ring(b, 4294967296 * 5 + slot, 12))), 0)
  local recs = records(b, 2)
  for i, rec in ipairs(recs) do
    assert(rec[1] < 0 and rec[1] ~= rd, "a message, not the recv")
    T.eq(rec[2], 10 + i)
  end
  T.eq(recs[1][3], slot)
  -- A cancel naming a message's id finds no op.
  T.fails(K.ENOENT, b:cancel(recs[1][1]))
  T.fails(K.ENOENT, b:cancel_sync(recs[2][1]))
  T.eq(b:inflight(), 1)
  T.churn()
  T.eq(T.wait(a, assert(a:send(x, "still mine"))), 10)
  local res, data = T.wait(b, rd)
  T.eq(res, 10); T.eq(data, "still mine")
  -- A message waiting in the CQ when the ring closes, next to a live op.
  assert(b:recv(y, 64))
  assert(b:submit())
  T.eq(T.wait(a, assert(a:msg_ring(b, slot, 0))), 0)
  b:close()
  rk.close(x); rk.close(y)
  a:close()
end)

T.test("an idle target's reap waits for messages; a plain ring's does not", function()
  local plain = assert(rk.ring(4))
  local t0 = rk.now()
  T.eq(plain:reap(1, 1), 0)
  assert(rk.now() - t0 < 0.5, "a plain idle ring returns at once")
  local b = assert(rk.ring(4, K.RK_RING_MSG_TARGET))
  t0 = rk.now()
  T.eq(b:reap(1, 1, 50e6), 0)
  assert(rk.now() - t0 >= 0.04, "the target waited for its timeout")
  -- A message that the kernel posts 50 ms later (a timeout linked to the
  -- msg_ring on another ring) wakes the idle target's wait.
  assert(plain:timeout(50e6, 0, 0, K.RK_HARDLINK))
  local m = assert(plain:msg_ring(b, 7, 8))
  assert(plain:submit())
  t0 = rk.now()
  local n, id, res, value = b:reap(1, 1, 5e9)
  T.eq(n, 1); assert(id < 0); T.eq(res, 8); T.eq(value, 7)
  assert(rk.now() - t0 >= 0.03, "it was delivered by the linked op, later")
  T.eq(T.wait(plain, m), 0)
  plain:close(); b:close()
end)

T.test("RK_FIXED_FILE on msg_ring names a slot; a ring fd cannot be put in one", function()
  -- The kernel refuses to register io_uring fds in a file table, so a slot
  -- never holds a ring: the flag is passed through and the kernel answers.
  local a = assert(rk.ring(8))
  local b = assert(rk.ring(8, K.RK_RING_MSG_TARGET))
  assert(a:register_files(2))
  T.fails(K.EBADF, a:update_files(1, { b:fd() }))
  local x, y = assert(rk.socketpair())
  T.eq(a:update_files(0, { x }), 1)
  T.eq(T.wait(a, assert(a:msg_ring(0, 123, -1, K.RK_FIXED_FILE))), -K.EBADFD) -- not a ring
  T.eq(T.wait(a, assert(a:msg_ring(1, 123, -1, K.RK_FIXED_FILE))), -K.EBADF)  -- empty slot
  T.eq(b:reap(1, 1, 10e6), 0)
  rk.close(x); rk.close(y)
  a:close(); b:close()
end)

T.test("msg_ring_fd passes a slot's file to the target's slot", function()
  local a = assert(rk.ring(8))
  local b = assert(rk.ring(8, K.RK_RING_MSG_TARGET))
  if not a:feature("MSG_SEND_FD") then a:close(); b:close(); return end
  assert(a:register_files(2))
  assert(b:register_files(4))
  local x, y = assert(rk.socketpair())
  T.eq(a:update_files(1, { x }), 1)
  T.raises("bad argument", a.msg_ring_fd, a, b) -- the source slot must be given
  local slot = T.wait(a, assert(a:msg_ring_fd(b, 1, nil, 31)))
  assert(slot >= 0 and slot < 4, "slot " .. slot)
  local rec = records(b, 1)[1]
  T.eq(rec[2], slot)
  assert(value_eq(rec[3], 31))
  T.eq(T.wait(a, assert(a:msg_ring_fd(b, 0, 3, 32))), -K.EBADF) -- empty source slot
  T.eq(T.wait(b, assert(b:send(slot, "through b", 0, K.RK_FIXED_FILE))), 9)
  local _, data = T.wait(a, assert(a:recv(y, 16)))
  T.eq(data, "through b")
  rk.close(x); rk.close(y)
  a:close(); b:close()
end)

T.test("refusals: not a ring, bad values, bad arguments", function()
  local a = assert(rk.ring(8))
  local b = assert(rk.ring(8, K.RK_RING_MSG_TARGET))
  local x, y = assert(rk.socketpair())
  T.eq(T.wait(a, assert(a:msg_ring(x, 1, 0))), -K.EBADFD)
  T.fails(K.EBADF, a:msg_ring(-1, 1, 0))
  T.fails(K.EINVAL, a:msg_ring(b, -1, 0))
  if T.jit then
    local max = require("bit").rshift(require("ffi").new("int64_t", -1), 1) -- INT64_MAX
    T.fails(K.EINVAL, a:msg_ring(b, max, 0))
  else
    T.fails(K.EINVAL, a:msg_ring(b, math.maxinteger, 0))
  end
  T.raises("bad argument", a.msg_ring, a, "b", 1)
  T.raises("bad argument", a.msg_ring, a, b, nil)
  T.raises("bad argument", a.msg_ring, a, b, 1, "x")
  T.eq(a:inflight(), 0)
  b:close()
  T.raises("closed", a.msg_ring, a, b, 1)
  rk.close(x); rk.close(y)
  a:close()
end)

-- ringkit.loop ---------------------------------------------------------------

local loop = require "ringkit.loop"

T.test("loop: messages queue in order, wake a waiting task, end on cancel", function()
  local L = assert(loop.new { msg_target = true })
  local other = assert(rk.ring(8))
  local got = {}
  L:run(function()
    -- Queued before anyone waits.
    for i = 1, 3 do T.eq(loop.send_message(L:fd(), i, -i), true) end
    T.eq(T.wait(other, assert(other:msg_ring(L:fd(), 4, -4))), 0)
    local reader = loop.spawn(function()
      for v, r in loop.messages() do got[#got + 1] = { v, r } end
      return "ended"
    end)
    loop.sleep(0.01)
    T.eq(#got, 4)
    -- A waiting task is woken by a later one.
    T.eq(loop.send_message(L.ring, 5, 50), true)
    loop.sleep(0.01)
    T.eq(#got, 5)
    reader:cancel()
    local ok, why = reader:join()
    assert(ok); T.eq(why, "ended")
    T.fails(K.EBADFD, loop.send_message(select(1, rk.socketpair()), 1))
  end)
  for i = 1, 4 do T.eq(got[i][1], i); T.eq(got[i][2], -i) end
  T.eq(got[5][1], 5); T.eq(got[5][2], 50)
  other:close()
  L:close()
end)

T.test("loop: a task waiting for a message keeps an idle loop alive until one comes", function()
  local L = assert(loop.new { msg_target = true })
  local other = assert(rk.ring(8))
  -- Posted by the kernel 50 ms into the run, when nothing of L is live.
  assert(other:timeout(50e6, 0, 0, K.RK_HARDLINK))
  local m = assert(other:msg_ring(L:fd(), 77, 1))
  assert(other:submit())
  local t0 = rk.now()
  local v, res = L:run(function() return loop.message() end)
  T.eq(v, 77); T.eq(res, 1)
  assert(rk.now() - t0 >= 0.03, "the loop waited")
  T.eq(T.wait(other, m), 0)
  other:close()
  L:close()
end)

T.test("loop: message() needs a msg_target loop; outside a task it raises", function()
  local L = assert(loop.new())
  L:run(function()
    T.raises("msg_target", loop.message)
  end)
  L:close()
  T.raises("outside a loop task", loop.message)
end)

T.done()
