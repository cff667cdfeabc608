-- sendmsg / recvmsg (scatter/gather, SCM_RIGHTS descriptors, addresses,
-- truncation) and zero-copy sends through the ring, then through
-- ringkit.loop. Runs under lua5.4 (C module), LuaJIT (ffi) and the host.
local T = require "harness"
local rk, K = T.rk, T.K

-- Reaps until op id's final completion; returns every completion of it as
-- { res, extra } in order (a zero-copy send has two).
local function completions(r, id, n)
  local got = {}
  for _ = 1, 1000 do
    if #got >= n then return got end
    local t = {}
    local k = assert(r:reap(1, 1, 5e9, t))
    if k == 1 then
      T.eq(t[1], id, "completion of another op")
      got[#got + 1] = { t[2], t[3] }
    end
  end
  error("op " .. tostring(id) .. " did not complete " .. n .. " times")
end

-- Is value s anchored by ring r (held so the collector cannot free it)?
-- 5.4: a registry reference to it (alone or in an anchor table); LuaJIT:
-- the ring's per-slot anchor table.
local function anchored(r, s)
  local function holds(v)
    if v == s then return true end
    if type(v) == "table" then
      for _, x in pairs(v) do if x == s then return true end end
    end
    return false
  end
  if T.jit then
    for _, v in pairs(r.st.anchors) do if holds(v) then return true end end
    return false
  end
  for _, v in pairs(debug.getregistry()) do if holds(v) then return true end end
  return false
end

-- fd flags as /proc/self/fdinfo tells them (octal), for O_CLOEXEC checks.
local function fd_flags(fd)
  local f = assert(io.open("/proc/" .. T.pid() .. "/fdinfo/" .. fd, "rb"))
  local s = f:read(T.jit and "*a" or "a")
  f:close()
  return tonumber(s:match("flags:%s*(%d+)"), 8)
end
local O_CLOEXEC = K.O_CLOEXEC

local function tcp_pair(r)
  local lfd = T.wait(r, r:socket(K.AF_INET, K.SOCK_STREAM))
  assert(rk.bind_sync(lfd, "127.0.0.1", 0))
  assert(rk.listen_sync(lfd, 4))
  local _, port = rk.getsockname(lfd)
  local c = T.wait(r, r:socket(K.AF_INET, K.SOCK_STREAM))
  local acc = assert(r:accept(lfd))
  T.eq(T.wait(r, assert(r:connect(c, "127.0.0.1", port))), 0)
  local s = T.wait(r, acc)
  assert(s >= 0)
  rk.close(lfd)
  return c, s
end

T.test("fds passed over a socketpair are usable, and the fd count comes back", function()
  local base = T.fdcount()
  local r = assert(rk.ring(16))
  local a, b = assert(rk.socketpair())
  local x1, x2 = assert(rk.socketpair()) -- the descriptors to pass
  -- Receiver first: it waits in the kernel; scattered over two buffers.
  local rid = assert(r:recvmsg(b, { 3, 16 }, 4))
  local sid = assert(r:sendmsg(a, { "hel", "lo, fds" }, nil, nil, { x1, x2 }))
  local others = {}
  T.eq(T.wait(r, sid, others), 10)
  local res, m = T.wait(r, rid)
  T.eq(res, 10)
  T.eq(m.data, "hello, fds")
  T.eq(m.addr, nil, "a stream peer has no address")
  T.eq(m.flags % (2 * K.MSG_CTRUNC) < K.MSG_CTRUNC, true, "no MSG_CTRUNC")
  T.eq(#m.fds, 2)
  local y1, y2 = m.fds[1], m.fds[2]
  assert(y1 ~= x1 and y2 ~= x2 and y1 ~= y2, "new descriptors")
  assert(fd_flags(y1) % (2 * O_CLOEXEC) >= O_CLOEXEC, "received close-on-exec")
  -- y1 is x1's socket: what goes in at y1 comes out at x2, and back.
  T.eq(T.wait(r, assert(r:send(y1, "via y1"))), 6)
  local n, data = T.wait(r, assert(r:recv(x2, 16)))
  T.eq(n, 6); T.eq(data, "via y1")
  T.eq(T.wait(r, assert(r:send(x1, "to y2"))), 5)
  n, data = T.wait(r, assert(r:recv(y2, 16)))
  T.eq(data, "to y2")
  for _, fd in ipairs { y1, y2, x1, x2, a, b } do assert(rk.close(fd)) end
  r:close()
  T.eq(T.fdcount(), base)
end)

T.test("more fds than room: MSG_CTRUNC, none leaked; none at all: the same", function()
  local base = T.fdcount()
  local r = assert(rk.ring(16))
  local a, b = assert(rk.socketpair())
  local x1, x2 = assert(rk.socketpair())
  T.eq(T.wait(r, assert(r:sendmsg(a, "x", nil, nil, { x1, x2, x1 }))), 1)
  local res, m = T.wait(r, assert(r:recvmsg(b, 8, 1)))
  T.eq(res, 1); T.eq(m.data, "x")
  assert(m.flags % (2 * K.MSG_CTRUNC) >= K.MSG_CTRUNC, "MSG_CTRUNC expected")
  T.eq(#m.fds, 1)
  rk.close(m.fds[1])
  -- fds_cap 0: the kernel drops them all.
  T.eq(T.wait(r, assert(r:sendmsg(a, "y", nil, nil, { x2 }))), 1)
  res, m = T.wait(r, assert(r:recvmsg(b, 8)))
  T.eq(m.data, "y"); T.eq(#m.fds, 0)
  assert(m.flags % (2 * K.MSG_CTRUNC) >= K.MSG_CTRUNC, "MSG_CTRUNC expected")
  for _, fd in ipairs { x1, x2, a, b } do rk.close(fd) end
  r:close()
  T.eq(T.fdcount(), base)
end)

T.test("a closed ring closes the fds of recvmsg completions nobody saw", function()
  local base = T.fdcount()
  local a, b = assert(rk.socketpair())
  local x1, x2 = assert(rk.socketpair())
  do
    local r = assert(rk.ring(8))
    assert(r:recvmsg(b, 8, 4))
    assert(r:submit())
    -- Sent through another ring, so r's completion is never reaped by
    -- the caller: r's close must leave no received descriptor behind
    -- (whether it was posted by then or is settled by the close).
    local r2 = assert(rk.ring(8))
    T.eq(T.wait(r2, assert(r2:sendmsg(a, "z", nil, nil, { x1, x2, x1 }))), 1)
    T.wait(r2, r2:timeout(20e6))
    r2:close()
    r:close()
  end
  for _, fd in ipairs { x1, x2, a, b } do rk.close(fd) end
  T.eq(T.fdcount(), base)
end)

T.test("datagrams: MSG_TRUNC when cut, data clamped to the buffer", function()
  local r = assert(rk.ring(16))
  local a, b = assert(rk.socketpair(K.SOCK_DGRAM))
  T.eq(T.wait(r, assert(r:sendmsg(a, { "data", "gram" }))), 8)
  local res, m = T.wait(r, assert(r:recvmsg(b, 4)))
  T.eq(res, 4); T.eq(m.data, "data")
  assert(m.flags % (2 * K.MSG_TRUNC) >= K.MSG_TRUNC, "MSG_TRUNC expected")
  -- With MSG_TRUNC asked for, res is the datagram's real length; the data
  -- is still only what the buffer held.
  T.eq(T.wait(r, assert(r:sendmsg(a, "0123456789"))), 10)
  res, m = T.wait(r, assert(r:recvmsg(b, { 2, 1 }, 0, K.MSG_TRUNC)))
  T.eq(res, 10); T.eq(m.data, "012")
  -- recv too (regression: the data of a recv is never longer than its buffer).
  T.eq(T.wait(r, assert(r:send(a, "abcdefgh"))), 8)
  local data
  res, data = T.wait(r, assert(r:recv(b, 3, K.MSG_TRUNC)))
  T.eq(res, 8); T.eq(data, "abc")
  T.eq(T.wait(r, assert(r:send(a, "q"))), 1)
  res, data = T.wait(r, assert(r:recv(b, 0, K.MSG_TRUNC)))
  T.eq(res, 1); T.eq(data, "")
  -- A full datagram: no flags.
  T.eq(T.wait(r, assert(r:sendmsg(a, "ok"))), 2)
  res, m = T.wait(r, assert(r:recvmsg(b, 16)))
  T.eq(res, 2); T.eq(m.flags, 0); T.eq(m.data, "ok")
  rk.close(a); rk.close(b)
  r:close()
end)

T.test("UDP: destination given to sendmsg, source address from recvmsg", function()
  local r = assert(rk.ring(16))
  local u1 = T.wait(r, r:socket(K.AF_INET, K.SOCK_DGRAM))
  local u2 = T.wait(r, r:socket(K.AF_INET, K.SOCK_DGRAM))
  assert(rk.bind_sync(u1, "127.0.0.1", 0))
  assert(rk.bind_sync(u2, "127.0.0.1", 0))
  local _, p1 = rk.getsockname(u1)
  local _, p2 = rk.getsockname(u2)
  local rid = assert(r:recvmsg(u2, 64))
  T.eq(T.wait(r, assert(r:sendmsg(u1, "datagram", "127.0.0.1", p2))), 8)
  local res, m = T.wait(r, rid)
  T.eq(res, 8); T.eq(m.data, "datagram")
  local host, port, fam = rk.decode_sockaddr(m.addr)
  T.eq(host, "127.0.0.1"); T.eq(port, p1); T.eq(fam, K.AF_INET)
  -- A host that is not an address: nil, msg, EINVAL, nothing prepared.
  T.fails(K.EINVAL, r:sendmsg(u1, "x", "localhost", p2))
  T.eq(r:inflight(), 0)
  rk.close(u1); rk.close(u2)
  r:close()
end)

T.test("sendmsg data lists are anchored until the completion (GC in between)", function()
  local r = assert(rk.ring(64))
  local a, b = assert(rk.socketpair(K.SOCK_SEQPACKET))
  local ids = {}
  for i = 1, 16 do
    ids[i] = assert(r:sendmsg(a, { T.payload(i, 100), T.payload(i + 100, 50) }))
  end
  T.churn() -- nothing submitted yet: the kernel reads after this
  for i = 1, 16 do
    local res, m = T.wait(r, assert(r:recvmsg(b, 200)))
    T.eq(res, 150)
    T.eq(m.data, T.payload(i, 100) .. T.payload(i + 100, 50), "message " .. i)
  end
  for i = 1, 16 do T.eq(T.wait(r, ids[i]), 150) end
  rk.close(a); rk.close(b)
  r:close()
end)

T.test("send_zc: the result (MORE) then the notification (NOTIF); anchored until the latter",
  function()
  local r = assert(rk.ring(16))
  if not r:probe("SEND_ZC") then print("skip: no IORING_OP_SEND_ZC"); r:close(); return end
  local c, s = tcp_pair(r)
  local rr = assert(rk.ring(16)) -- the receiving side: r reaps only the send
  local data = T.payload(7, 200000)
  local id = assert(r:send_zc(c, data, K.MSG_WAITALL, K.RK_SEND_ZC_REPORT_USAGE))
  assert(r:submit())
  T.churn()
  -- Consume it on the other side (the notification waits for that).
  local got = {}
  local total = 0
  while total < #data do
    local n, d = T.wait(rr, assert(rr:recv(s, 65536)))
    assert(n > 0, "recv " .. n)
    got[#got + 1] = d
    total = total + n
  end
  T.eq(table.concat(got), data)
  local cs = completions(r, id, 1)
  T.eq(cs[1][1], #data)
  T.eq(rk.cqe_more(cs[1][2]), true); T.eq(rk.cqe_notif(cs[1][2]), false)
  assert(anchored(r, data), "data released before the notification")
  T.eq(r:inflight(), 1)
  cs = completions(r, id, 1)
  T.eq(rk.cqe_more(cs[1][2]), false); T.eq(rk.cqe_notif(cs[1][2]), true)
  -- Loopback copies, and REPORT_USAGE says so (bit 31: negative as int32).
  T.eq(cs[1][1] < 0, true, "ZC_COPIED reported")
  assert(not anchored(r, data), "data still anchored after the notification")
  T.eq(r:inflight(), 0)
  -- sendmsg_zc: the same two completions.
  if r:probe("SENDMSG_ZC") then
    local d2 = T.payload(8, 300)
    id = assert(r:sendmsg_zc(c, { d2, "!" }))
    assert(r:submit())
    local n, back = T.wait(rr, assert(rr:recv(s, 301, K.MSG_WAITALL)))
    local all = completions(r, id, 2)
    T.eq(all[1][1], 301); T.eq(rk.cqe_more(all[1][2]), true)
    T.eq(rk.cqe_notif(all[2][2]), true)
    T.eq(back:sub(1, 301), d2 .. "!")
    assert(n >= 301)
  end
  rk.close(c); rk.close(s)
  rr:close()
  r:close()
end)

T.test("send_zc on a socket that cannot send: one final completion all the same", function()
  local r = assert(rk.ring(8))
  if not r:probe("SEND_ZC") then r:close(); return end
  local lone = T.wait(r, r:socket(K.AF_INET, K.SOCK_STREAM))
  local id = assert(r:send_zc(lone, "nowhere"))
  local finals, err = 0, nil
  for _ = 1, 2 do
    if finals == 1 then break end
    local c = completions(r, id, 1)[1]
    if not rk.cqe_notif(c[2]) then err = c[1] end
    if not rk.cqe_more(c[2]) then finals = finals + 1 end
  end
  T.eq(finals, 1)
  assert(err == -K.EPIPE or err == -K.ENOTCONN, "error " .. tostring(err))
  T.eq(r:inflight(), 0)
  rk.close(lone)
  r:close()
end)

T.test("bad input: argument errors, or nil, msg, errno", function()
  local r = assert(rk.ring(8))
  local a, b = assert(rk.socketpair())
  T.raises("string or list of strings", r.sendmsg, r, a, 42)
  T.raises("strings expected", r.sendmsg, r, a, { "x", 3 })
  T.raises("integer fds", r.sendmsg, r, a, "x", nil, nil, { "nope" })
  T.raises("table expected", r.sendmsg, r, a, "x", nil, nil, 5)
  T.raises("host is needed", r.sendmsg, r, a, "x", nil, 80)
  local many = {}
  for i = 1, 254 do many[i] = a end
  T.raises("too many fds", r.sendmsg, r, a, "x", nil, nil, many)
  T.raises("length", r.recvmsg, r, b, -1)
  T.raises("lengths", r.recvmsg, r, b, { 1, "x" })
  T.raises("fds_cap", r.recvmsg, r, b, 8, 254)
  T.raises("string expected", r.send_zc, r, a, nil)
  T.fails(K.EBADF, r:sendmsg(-1, "x"))
  T.fails(K.EBADF, r:sendmsg(a, "x", nil, nil, { -1 }))
  T.fails(K.EBADF, r:recvmsg(-1, 8))
  T.fails(K.EBADF, r:send_zc(-1, "x"))
  T.fails(K.EINVAL, r:send_zc(a, "x", 0, 1024)) -- unknown zc_flags
  T.eq(r:inflight(), 0)
  r:close()
  T.raises("closed", r.sendmsg, r, a, "x")
  rk.close(a); rk.close(b)
end)

-- ringkit.loop ---------------------------------------------------------------

local loop = require "ringkit.loop"

T.test("loop: sendmsg/recvmsg with fds, datagram addresses, send_zc", function()
  local base = T.fdcount()
  local L = assert(loop.new())
  L:run(function()
    local a, b = assert(rk.socketpair())
    local x1, x2 = assert(rk.socketpair())
    local rt = loop.spawn(function() return loop.recvmsg(b, 64, 2) end)
    T.eq(loop.sendmsg(a, { "two ", "fds" }, nil, nil, { x1, x2 }), 7)
    local ok, data, m = rt:join()
    assert(ok, data)
    T.eq(data, "two fds"); T.eq(#m.fds, 2); T.eq(m.host, nil)
    T.eq(loop.send(m.fds[1], "ping"), 4)
    T.eq(loop.recv(x2, 16), "ping")
    for _, fd in ipairs(m.fds) do loop.close(fd) end
    for _, fd in ipairs { a, b, x1, x2 } do loop.close(fd) end

    local u1 = assert(loop.socket("inet", "dgram"))
    local u2 = assert(loop.socket("inet", "dgram"))
    assert(loop.bind(u1, "127.0.0.1", 0)); assert(loop.bind(u2, "127.0.0.1", 0))
    local _, p1 = rk.getsockname(u1)
    local _, p2 = rk.getsockname(u2)
    T.eq(loop.sendmsg(u1, "hello udp", "127.0.0.1", p2), 9)
    data, m = loop.recvmsg(u2, 5)
    T.eq(data, "hello"); T.eq(m.host, "127.0.0.1"); T.eq(m.port, p1)
    assert(m.flags % (2 * K.MSG_TRUNC) >= K.MSG_TRUNC)
    T.fails(K.EINVAL, loop.sendmsg(u1, "x", "not-an-address", p2))
    loop.close(u1); loop.close(u2)

    local lfd, port = assert(loop.tcp_listen("127.0.0.1", 0))
    local c = assert(loop.tcp_connect("127.0.0.1", port))
    local s = assert(loop.accept(lfd))
    local big = T.payload(3, 300000)
    local reader = loop.spawn(function()
      local parts, n = {}, 0
      while n < #big do
        local d = assert(loop.recv(s, 65536))
        if d == "" then break end
        parts[#parts + 1] = d
        n = n + #d
      end
      return table.concat(parts)
    end)
    if L.ring:probe("SEND_ZC") then
      T.eq(loop.send_zc(c, big), #big)
      T.churn()
    else
      T.eq(loop.send(c, big), #big)
    end
    local ok2, got = reader:join()
    assert(ok2, got)
    T.eq(got, big)
    for _, fd in ipairs { lfd, c, s } do loop.close(fd) end
  end)
  T.eq(L.pending, 0) -- the notification was waited for before run returned
  L:close()
  T.eq(T.fdcount(), base)
end)

T.test("loop: a task cancelled in recvmsg gets ECANCELED", function()
  local L = assert(loop.new())
  L:run(function()
    local a, b = assert(rk.socketpair())
    local t = loop.spawn(function() return loop.recvmsg(b, 8, 1) end)
    loop.yield()
    t:cancel()
    local ok, v, msg, errno = t:join()
    assert(ok)
    T.fails(K.ECANCELED, v, msg, errno)
    loop.close(a); loop.close(b)
  end)
  L:close()
end)

T.done()
