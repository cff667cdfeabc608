-- Socket ops, provided-buffer groups and multishot ops through the ring
-- methods (lua5.4 C module, LuaJIT ffi): addresses built from Lua values,
-- peer addresses decoded, anchors kept across MORE completions, resources
-- handed over during teardown released, bad input refused without a crash.
local T = require "harness"
local rk, K = T.rk, T.K
local dir = T.tmpdir()

local function run(r, id, ...)
  assert(id, ...)
  return T.wait(r, id)
end

-- Reaps until `count` completions of op `id` arrived; returns them as
-- { {res, extra}, ... } in order. Completions of other ops (and further ones
-- of this op) wait in a per-ring list for later calls.
local unclaimed = setmetatable({}, { __mode = "k" })
local function collect(r, id, count)
  local list = unclaimed[r] or {}
  unclaimed[r] = list
  local got, t = {}, {}
  for _ = 1, 1000 do
    local i = 1
    while i <= #list and #got < count do
      if list[i][1] == id then
        got[#got + 1] = { list[i][2], list[i][3] }
        table.remove(list, i)
      else
        i = i + 1
      end
    end
    if #got >= count then return got end
    local n = assert(r:reap(64, 1, 5e9, t))
    for j = 1, 3 * n, 3 do list[#list + 1] = { t[j], t[j + 1], t[j + 2] } end
  end
  error("op " .. tostring(id) .. ": " .. #got .. " of " .. count .. " completions")
end

local function has_bind(r) return r:probe("BIND") and r:probe("LISTEN") end

-- The end of a receive test: the multishot receive ms on r cancelled (its
-- last completion -ECANCELED), region g taken back from r, the socketpair
-- a, b closed, both rings closed. g is destroyed unless keep_region.
local function end_receive(r, r2, ms, g, a, b, keep_region)
  assert(r:cancel_sync(ms))
  T.eq(collect(r, ms, 1)[1][1], -K.ECANCELED)
  assert(r:unprovide_region(g))
  if not keep_region then assert(g:destroy()) end
  assert(rk.close(a)); assert(rk.close(b))
  r:close(); r2:close()
end

-- A listening TCP socket made by the ring on host:0; returns fd, port.
local function listener(r, host, family)
  local fd = run(r, r:socket(family or K.AF_INET, K.SOCK_STREAM))
  assert(fd >= 0, "socket: " .. tostring(fd))
  assert(rk.setsockopt(fd, K.SOL_SOCKET, K.SO_REUSEADDR, true))
  if has_bind(r) then
    local res = run(r, r:bind(fd, host, 0))
    if res < 0 then rk.close(fd); return nil, -res end
    T.eq(run(r, r:listen(fd, 64)), 0)
  else
    T.fails(K.EOPNOTSUPP, r:bind(fd, host, 0))
    local ok, _, errno = rk.bind_sync(fd, host, 0)
    if not ok then rk.close(fd); return nil, errno end
    assert(rk.listen_sync(fd, 64))
  end
  local h, port = assert(rk.getsockname(fd))
  return fd, port, h
end

T.test("TCP over 127.0.0.1: socket, bind, listen, connect, accept with peer, send, recv, shutdown", function()
  local r = assert(rk.ring(64))
  local lfd, port, h = listener(r, "127.0.0.1")
  T.eq(h, "127.0.0.1"); assert(port > 0)
  local cfd = run(r, r:socket(K.AF_INET))
  assert(cfd >= 0)
  local acc = assert(r:accept(lfd))
  local con = assert(r:connect(cfd, "127.0.0.1", port))
  local afd, peer = T.wait(r, acc)
  T.eq(T.wait(r, con), 0)
  assert(afd >= 0, "accept: " .. tostring(afd))
  T.eq(type(peer), "string")
  local ph, pp, pf = rk.decode_sockaddr(peer)
  local ch, cp = rk.getsockname(cfd)
  T.eq(ph, "127.0.0.1"); T.eq(pf, K.AF_INET); T.eq(pp, cp); T.eq(ch, "127.0.0.1")
  local qh, qp = rk.getpeername(afd)
  T.eq(qh, ph); T.eq(qp, pp)
  T.eq(select(2, rk.getpeername(cfd)), port)

  -- a recv waiting before the data arrives; the sent string is collected
  -- before submission and must still be what the kernel sends
  local rv = assert(r:recv(afd, 100))
  local sid = assert(r:send(cfd, T.payload(7, 60)))
  T.churn()
  T.eq(T.wait(r, sid), 60)
  local n, data = T.wait(r, rv)
  T.eq(n, 60); T.eq(data, T.payload(7, 60))
  -- and back, with MSG_WAITALL
  T.eq(run(r, r:send(afd, "pong!")), 5)
  n, data = run(r, r:recv(cfd, 5, K.MSG_WAITALL))
  T.eq(n, 5); T.eq(data, "pong!")
  -- shutdown(SHUT_WR): the peer reads end of stream as 0, ""
  T.eq(run(r, r:shutdown(cfd, K.SHUT_WR)), 0)
  n, data = run(r, r:recv(afd, 100))
  T.eq(n, 0); T.eq(data, "")
  -- prep_ aliases exist for the new ops
  assert(r.prep_socket and r.prep_accept_multishot and r.prep_recv_select)
  for _, fd in ipairs { afd, cfd } do T.eq(run(r, r:closefd(fd)), 0) end
  assert(rk.close(lfd))
  T.eq(r:inflight(), 0)
  r:close()
end)

T.test("IPv6 ::1 and the [::1] form", function()
  local r = assert(rk.ring(16))
  local lfd, port = listener(r, "::1", K.AF_INET6)
  if not lfd then
    print("     (no IPv6 loopback here: errno " .. tostring(port) .. ")")
    r:close()
    return
  end
  local cfd = run(r, r:socket(K.AF_INET6))
  local acc = assert(r:accept(lfd))
  local con = assert(r:connect(cfd, "[::1]", port))
  local afd, peer = T.wait(r, acc)
  T.eq(T.wait(r, con), 0)
  local h, p, f = rk.decode_sockaddr(peer)
  T.eq(h, "::1"); T.eq(f, K.AF_INET6); T.eq(p, select(2, rk.getsockname(cfd)))
  T.eq(run(r, r:send(cfd, "six")), 3)
  T.eq(select(2, run(r, r:recv(afd, 10))), "six")
  for _, fd in ipairs { afd, cfd, lfd } do assert(rk.close(fd)) end
  r:close()
end)

T.test("unix sockets: a path, an abstract name, an unnamed peer", function()
  local r = assert(rk.ring(16))
  local names = { dir .. "/sock", "@ringkit-test-" .. T.pid() .. "-" .. math.random(1e9) }
  for _, name in ipairs(names) do
    local lfd = run(r, r:socket(K.AF_UNIX, K.SOCK_STREAM))
    if has_bind(r) then
      T.eq(run(r, r:bind(lfd, name)), 0)
      T.eq(run(r, r:listen(lfd)), 0)
    else
      assert(rk.bind_sync(lfd, name)); assert(rk.listen_sync(lfd))
    end
    local h, p, f = rk.getsockname(lfd)
    T.eq(h, name); T.eq(p, nil); T.eq(f, K.AF_UNIX)
    local cfd = run(r, r:socket(K.AF_UNIX))
    local acc = assert(r:accept(lfd))
    T.eq(run(r, r:connect(cfd, name)), 0)
    local afd, peer = T.wait(r, acc)
    assert(afd >= 0)
    local ph, pp, pf = rk.decode_sockaddr(peer)
    T.eq(ph, ""); T.eq(pp, nil); T.eq(pf, K.AF_UNIX) -- the client did not bind
    T.eq(rk.getpeername(cfd), name)
    for _, fd in ipairs { afd, cfd, lfd } do assert(rk.close(fd)) end
  end
  r:close()
end)

T.test("a socketpair; a send to a closed peer is EPIPE, not a SIGPIPE", function()
  local r = assert(rk.ring(16))
  local a, b = rk.socketpair()
  assert(a and b and a ~= b)
  T.eq(run(r, r:send(a, "through the pair")), 16)
  T.eq(select(2, run(r, r:recv(b, 64))), "through the pair")
  local d1, d2 = assert(rk.socketpair(K.SOCK_DGRAM))
  T.eq(run(r, r:send(d1, "one")), 3); T.eq(run(r, r:send(d1, "two")), 3)
  T.eq(select(2, run(r, r:recv(d2, 64))), "one")
  T.eq(select(2, run(r, r:recv(d2, 64))), "two")
  assert(rk.close(b))
  T.eq(run(r, r:send(a, "nobody listens")), -K.EPIPE) -- the process survives
  for _, fd in ipairs { a, d1, d2 } do assert(rk.close(fd)) end
  r:close()
end)

T.test("sends anchored until submitted, under GC (datagrams, compared as sets)", function()
  local r = assert(rk.ring(128))
  local a, b = assert(rk.socketpair(K.SOCK_DGRAM))
  local n = 60
  for i = 1, n do assert(r:send(a, T.payload(i, 200))) end
  T.churn()
  local t, got = {}, 0
  while got < n do
    local k = assert(r:reap(128, 1, nil, t))
    for j = 1, 3 * k, 3 do T.eq(t[j + 1], 200) end
    got = got + k
  end
  local want = {}
  for i = 1, n do want[T.payload(i, 200)] = true end
  for _ = 1, n do
    local res, data = run(r, r:recv(b, 512))
    T.eq(res, 200)
    assert(want[data], "unexpected datagram " .. data:sub(1, 20))
    want[data] = nil
  end
  assert(rk.close(a)); assert(rk.close(b))
  r:close()
end)

T.test("provided buffers: multishot recv until ENOBUFS, recycle, re-arm; recv_select", function()
  local r = assert(rk.ring(32))
  local r2 = assert(rk.ring(16)) -- the sends: r reaps only the multishot
  local g = assert(rk.region(64, 4))
  assert(r:provide_region(g, 7))
  T.eq(g:chunks_free(), 0) -- all the kernel's now
  T.fails(K.EBUSY, r:provide_region(g, 8))
  T.fails(K.EBUSY, g:destroy())
  local a, b = assert(rk.socketpair(K.SOCK_DGRAM))
  local ms = assert(r:recv_multishot(b, 7))
  T.fails(K.ENOENT, r:recv_multishot(b, 99)) -- no such group
  assert(r:submit())
  T.fails(K.EBUSY, r:unprovide_region(g)) -- an op selects from it
  local chunks = {}
  for i = 1, 4 do
    local msg = "message " .. i
    T.eq(run(r2, r2:send(a, msg)), #msg)
    local c = collect(r, ms, 1)[1]
    T.eq(c[1], #msg)
    T.eq(rk.cqe_more(c[2]), true)
    local chunk = rk.cqe_chunk(c[2])
    assert(chunk and chunk >= 0 and chunk < 4)
    T.eq(g:read(chunk, c[1]), msg)
    chunks[i] = chunk
  end
  -- the group is empty: the next message ends the op with -ENOBUFS
  T.eq(run(r2, r2:send(a, "fifth")), 5)
  local c = collect(r, ms, 1)[1]
  T.eq(c[1], -K.ENOBUFS); T.eq(rk.cqe_more(c[2]), false); T.eq(rk.cqe_chunk(c[2]), nil)
  T.eq(r:inflight(), 0)
  -- ours now: recycle three, keep one; the re-armed op gets "fifth"
  for i = 1, 3 do assert(r:recycle_chunk(g, chunks[i])) end
  T.fails(K.EINVAL, r:recycle_chunk(g, chunks[1])) -- the kernel's again
  ms = assert(r:recv_multishot(b, 7))
  c = collect(r, ms, 1)[1]
  T.eq(c[1], 5); T.eq(g:read(rk.cqe_chunk(c[2]), 5), "fifth")
  assert(r:recycle_chunk(g, rk.cqe_chunk(c[2])))
  -- cancel ends it with one final ECANCELED
  assert(r:cancel_sync(ms))
  c = collect(r, ms, 1)[1]
  T.eq(c[1], -K.ECANCELED); T.eq(rk.cqe_more(c[2]), false)
  -- a one-shot recv that selects a chunk
  T.eq(run(r2, r2:send(a, "single")), 6)
  local res, flags = run(r, r:recv_select(b, 7))
  T.eq(res, 6)
  local single = rk.cqe_chunk(flags)
  T.eq(g:read(single, 6), "single")
  -- unprovide: the kernel's chunks become free, we keep our two
  assert(r:unprovide_region(g))
  T.fails(K.ENOENT, r:unprovide_region(g))
  T.eq(g:chunks_free(), 2)
  assert(g:free(chunks[4])); assert(g:free(single))
  assert(g:destroy())
  assert(rk.close(a)); assert(rk.close(b))
  r:close()
  r2:close()
end)

T.test("recvmsg_multishot: datagrams decoded with region:recvmsg_out", function()
  local r = assert(rk.ring(16))
  local r2 = assert(rk.ring(8))
  if not r:feature("RECVMSG_MULTISHOT") then r:close(); r2:close(); return end
  local g = assert(rk.region(128, 4))
  assert(r:provide_region(g, 4))
  local a, b = assert(rk.socketpair(K.SOCK_DGRAM))
  T.fails(K.EMSGSIZE, r:recvmsg_multishot(b, 4, 16, 100))
  local ms = assert(r:recvmsg_multishot(b, 4, 16))
  assert(r:submit())
  for i = 1, 6 do
    local msg = "datagram " .. i
    T.eq(run(r2, r2:send(a, msg)), #msg)
    local c = collect(r, ms, 1)[1]
    local chunk = rk.cqe_chunk(c[2])
    local o = assert(g:recvmsg_out(chunk, c[1], 16))
    T.eq(o.payload, K.RK_RECVMSG_OUT_HDR + 16)
    T.eq(o.payload_len, #msg)
    T.eq(o.flags, 0)
    T.eq(g:read(chunk, o.payload_len, o.payload), msg)
    assert(r:recycle_chunk(g, chunk))
  end
  T.fails(K.EINVAL, g:recvmsg_out(0, 200, 16))
  end_receive(r, r2, ms, g, a, b)
end)

T.test("an incremental region: chunks filled across completions, BUF_MORE refused", function()
  local r = assert(rk.ring(16))
  local r2 = assert(rk.ring(8))
  if not r:feature("PBUF_INC") then r:close(); r2:close(); return end
  local g = assert(rk.region(256, 4, K.RK_REGION_INCREMENTAL))
  assert(r:provide_region(g, 2))
  local a, b = assert(rk.socketpair())
  local ms = assert(r:recv_multishot(b, 2))
  assert(r:submit())
  local off, got, sent = {}, {}, {}
  for i = 1, 12 do
    local msg = string.rep(string.char(64 + i), 20 * i)
    sent[#sent + 1] = msg
    T.eq(run(r2, r2:send(a, msg)), #msg)
    local need = #msg
    while need > 0 do
      local c = collect(r, ms, 1)[1]
      local chunk = rk.cqe_chunk(c[2])
      local o = off[chunk] or 0
      got[#got + 1] = g:read(chunk, c[1], o)
      need = need - c[1]
      if math.floor(c[2] / K.RK_CQE_F_BUF_MORE) % 2 == 1 then -- RK_CQE_F_BUF_MORE
        off[chunk] = o + c[1]
        T.fails(K.EBUSY, r:recycle_chunk(g, chunk))
      else
        off[chunk] = 0
        assert(r:recycle_chunk(g, chunk))
      end
    end
  end
  T.eq(table.concat(got), table.concat(sent))
  end_receive(r, r2, ms, g, a, b)
end)

T.test("take_chunk: a completion's chunk copied out and recycled in one call", function()
  local r = assert(rk.ring(16))
  local r2 = assert(rk.ring(8)) -- the sends: r reaps only the multishot
  local g = assert(rk.region(64, 2))
  assert(r:provide_region(g, 3))
  local a, b = assert(rk.socketpair(K.SOCK_DGRAM))
  local ms = assert(r:recv_multishot(b, 3))
  assert(r:submit())
  for i = 1, 5 do -- 5 messages through 2 chunks: each taken chunk is the kernel's again
    local msg = "take " .. i
    T.eq(run(r2, r2:send(a, msg)), #msg)
    local c = collect(r, ms, 1)[1]
    T.eq(c[1], #msg)
    local chunk = rk.cqe_chunk(c[2])
    T.eq(r:take_chunk(g, chunk, c[1]), msg)
    T.fails(K.EINVAL, r:take_chunk(g, chunk, 1)) -- not ours any more
  end
  T.raises("length out of range", r.take_chunk, r, g, 0, 65)
  T.raises("chunk index out of range", r.take_chunk, r, g, 2, 1)
  end_receive(r, r2, ms, g, a, b, true)
  T.eq(g:chunks_free(), 2)
end)

T.test("the ring keeps a provided region alive; closing gives the chunks back", function()
  local r = assert(rk.ring(16))
  local r2 = assert(rk.ring(16))
  local weak = setmetatable({}, { __mode = "v" })
  do
    local g = assert(rk.region(128, 2))
    assert(r:provide_region(g, 1))
    weak[1] = g
  end
  T.churn()
  assert(weak[1], "a provided region was collected")
  local a, b = assert(rk.socketpair())
  local ms = assert(r:recv_multishot(b, 1))
  T.eq(run(r2, r2:send(a, "kept")), 4)
  local c = collect(r, ms, 1)[1]
  T.eq(c[1], 4); T.eq(weak[1]:read(rk.cqe_chunk(c[2]), 4), "kept")
  -- close with the op armed and one chunk ours: the ring gives the group back
  r:close()
  T.eq(weak[1]:chunks_free(), 1)
  T.churn()
  T.eq(weak[1], nil) -- no longer kept by the closed ring
  assert(rk.close(a)); assert(rk.close(b))
  r2:close()
end)

T.test("multishot accept: many fds from one op; ring close closes unreaped ones", function()
  local base = T.fdcount()
  local r = assert(rk.ring(16))
  local r2 = assert(rk.ring(64))
  local lfd, port = listener(r, "127.0.0.1")
  local acc = assert(r:accept_multishot(lfd))
  assert(r:submit())
  -- three connections reaped and closed by us
  local clients = {}
  for i = 1, 3 do
    clients[i] = run(r2, r2:socket(K.AF_INET))
    T.eq(run(r2, r2:connect(clients[i], "127.0.0.1", port)), 0)
    local c = collect(r, acc, 1)[1]
    assert(c[1] >= 0); T.eq(rk.cqe_more(c[2]), true)
    assert(rk.close(c[1]))
  end
  T.eq(r:inflight(), 1) -- still one op
  -- five more accepted but never reaped: closing the ring must close them
  local before = T.fdcount()
  for i = 4, 8 do
    clients[i] = run(r2, r2:socket(K.AF_INET))
    T.eq(run(r2, r2:connect(clients[i], "127.0.0.1", port)), 0)
  end
  -- the kernel accepts them into r's completion queue (task work runs on
  -- our syscalls); wait until all five are in our fd table
  for _ = 1, 200 do
    assert(r:submit())
    if T.fdcount() - before == 10 then break end
    run(r2, r2:timeout(10e6))
  end
  T.eq(T.fdcount() - before, 10, "5 clients + 5 accepted, unreaped")
  -- the fallback backend's ring holds three descriptors (ringkit.h, "Backends")
  -- and its waiting accept a duplicate of the listener ("Descriptors")
  local ring_fds = r:stats().backend == K.RK_BACKEND_FALLBACK and 3 + 1 or 1
  assert(r:close())
  T.eq(T.fdcount() - before, 5 - ring_fds, "ring fds and the 5 accepted fds closed")
  for i = 1, 8 do assert(rk.close(clients[i])) end
  assert(rk.close(lfd))
  r2:close()
  T.eq(T.fdcount(), base)
end)

T.test("multishot poll: a completion per readiness, poll_remove ends it", function()
  local r = assert(rk.ring(16))
  local r2 = assert(rk.ring(16))
  local a, b = assert(rk.socketpair())
  local pl = assert(r:poll_multishot(b, K.POLLIN))
  assert(r:submit())
  for i = 1, 3 do
    T.eq(run(r2, r2:send(a, "x")), 1)
    local c = collect(r, pl, 1)[1]
    assert(c[1] % (2 * K.POLLIN) >= K.POLLIN, "POLLIN in " .. c[1])
    T.eq(rk.cqe_more(c[2]), true)
    T.eq(select(2, run(r2, r2:recv(b, 8))), "x")
  end
  local rm = assert(r:poll_remove(pl))
  local c = collect(r, pl, 1)[1]
  T.eq(c[1], -K.ECANCELED); T.eq(rk.cqe_more(c[2]), false)
  T.eq(collect(r, rm, 1)[1][1], 0)
  T.eq(r:inflight(), 0)
  assert(rk.close(a)); assert(rk.close(b))
  r:close()
  r2:close()
end)

if not T.jit then
  T.test("a multishot op's anchors survive its MORE completions, go with the final one", function()
    local r = assert(rk.ring(16))
    local fifo = T.fifo(dir)
    local w = run(r, r:open(fifo, K.O_RDWR))
    local weak = setmetatable({}, { __mode = "v" })
    local pl
    do
      local f = assert(io.open(fifo, "r+"))
      weak[1] = f
      pl = assert(r:poll_multishot(f, K.POLLIN))
    end
    assert(r:submit())
    T.churn()
    assert(weak[1], "the file handle of an armed poll was collected")
    for i = 1, 3 do
      T.eq(collect(r, assert(r:write(w, "x")), 1)[1][1], 1)
      local c = collect(r, pl, 1)[1]
      T.eq(rk.cqe_more(c[2]), true)
      T.churn()
      assert(weak[1], "collected after MORE completion " .. i)
      T.eq(collect(r, assert(r:read(weak[1], 1)), 1)[1][2], "x")
    end
    local rm = assert(r:poll_remove(pl))
    local c = collect(r, pl, 1)[1]
    T.eq(c[1], -K.ECANCELED); T.eq(rk.cqe_more(c[2]), false)
    T.eq(collect(r, rm, 1)[1][1], 0)
    T.churn()
    T.eq(weak[1], nil) -- released with the final completion
    T.eq(run(r, r:closefd(w)), 0)
    r:close()
  end)
end

T.test("a signalfd read through the ring", function()
  local r = assert(rk.ring(8))
  local fd = assert(rk.signalfd({ "USR1" }))
  local rd = assert(r:read(fd, 128))
  assert(r:submit())
  os.execute("kill -USR1 " .. T.pid())
  local res, data = T.wait(r, rd)
  T.eq(res, 128)
  T.eq(data:byte(1) + 256 * data:byte(2), 10) -- SIGUSR1 (x86, arm)
  assert(rk.close(fd))
  r:close()
end)

T.test("bad addresses and arguments: nil, msg, errno or an argument error", function()
  local r = assert(rk.ring(16))
  local s = run(r, r:socket(K.AF_INET))
  for _, bad in ipairs { "nonsense", "1.2.3.4.5", "", "::g", "127.0.0.1%", "[::1", "fe80::1%nosuchif0" } do
    local v, msg, e = r:bind(s, bad, 80)
    T.fails(K.EINVAL, v, msg, e, "bind " .. bad)
    T.fails(K.EINVAL, r:connect(s, bad, 80))
    T.fails(K.EINVAL, rk.bind_sync(s, bad, 80))
  end
  T.fails(K.EINVAL, r:bind(s, "127.0.0.1\0junk", 80))
  T.fails(K.ENAMETOOLONG, r:bind(s, "/" .. string.rep("p", 200)))
  T.raises("", r.bind, r, s, "127.0.0.1", 65536)
  T.raises("", r.bind, r, s, "127.0.0.1", -1)
  T.raises("", r.connect, r, s, {}, 1)
  T.raises("", r.send, r, s, {})
  T.raises("", r.recv, r, s, -1)
  T.raises("", r.recv_multishot, r, s, 70000)
  T.raises("", rk.decode_sockaddr, {})
  T.raises("", rk.signalfd, "NOSUCHSIGNAL")
  T.raises("", rk.close, -1)
  local g = assert(rk.region(64, 2))
  T.raises("", r.recycle_chunk, r, g, 2)
  T.fails(K.ENOENT, r:recycle_chunk(g, 0)) -- not provided to this ring
  T.fails(K.ENOENT, r:unprovide_region(g))
  T.fails(K.EINVAL, rk.decode_sockaddr("x"))
  T.fails(K.EAFNOSUPPORT, rk.decode_sockaddr("\255\255" .. string.rep("\0", 20)))
  T.fails(K.EBADF, rk.close(1000000))
  T.fails(K.EBADF, rk.getsockname(1000000))
  T.fails(K.ENOTCONN, rk.getpeername(s))
  T.fails(K.EBADF, r:send(-1, "x"))
  T.fails(K.EBADF, r:recv(-1, 1))
  T.fails(K.EBADF, r:accept(-1))
  T.fails(K.EINVAL, r:shutdown(s, 7))
  -- kernel errors come back as negative results
  local probe = run(r, r:socket(K.AF_INET))
  if has_bind(r) then T.eq(run(r, r:bind(probe, "127.0.0.1", 0)), 0)
  else assert(rk.bind_sync(probe, "127.0.0.1", 0)) end
  local _, refused_port = rk.getsockname(probe) -- bound, not listening
  T.eq(run(r, r:connect(s, "127.0.0.1", refused_port)), -K.ECONNREFUSED)
  T.eq(run(r, r:accept(probe)), -K.EINVAL) -- not listening
  T.eq(run(r, r:socket(12345)), -K.EAFNOSUPPORT)
  T.eq(run(r, r:recv(probe, 10)), -K.ENOTCONN)
  assert(rk.close(s)); assert(rk.close(probe))
  r:close()
  T.raises("closed", r.socket, r, K.AF_INET)
  T.raises("closed", r.provide_region, r, g, 1)
  g:destroy()
end)

T.test("provide_region picks a free group id when given none, and returns the id", function()
  local r = assert(rk.ring(8))
  local g1, g2, g3 = assert(rk.region(64, 1)), assert(rk.region(64, 1)), assert(rk.region(64, 1))
  T.eq(r:provide_region(g1, 1), 1)
  T.eq(r:provide_region(g2), 0)
  T.eq(r:provide_region(g3, rk.RK_GROUP_ANY), 2)
  assert(r:unprovide_region(g2))
  T.eq(r:provide_region(g2), 0)
  r:close()
  g1:destroy(); g2:destroy(); g3:destroy()
end)

T.test("a region and its ring collected together, in either order", function()
  for _ = 1, 20 do
    local r = assert(rk.ring(8))
    local g = assert(rk.region(64, 2))
    local c = assert(g:alloc()) -- the caller's: provide hands the kernel the rest
    assert(r:provide_region(g))
    local a, b = assert(rk.socketpair())
    assert(r:read_chunk(a, g, c, 8, 0))
    assert(r:submit())
    r, g = nil, nil -- the region's __gc may run first: the core frees it after the ring's
    collectgarbage(); collectgarbage()
    assert(rk.close(a)); assert(rk.close(b))
  end
end)

T.done()
