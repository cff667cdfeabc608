-- ringkit.loop over sockets: direct-style echo, an accept storm with
-- cancels (fds back to baseline), multishot recv through ENOBUFS and re-arm
-- without losing data, chunk views, a peer reset mid-stream, and bad input.
local T = require "harness"
local loop = require "ringkit.loop"
local rk, K = T.rk, T.K

-- Deterministic bytes: block i of n bytes.
local function block(i, n)
  local s = string.format("[%06d]", i)
  return (s .. string.rep(string.char(97 + i % 26), n)):sub(1, n)
end

local function run(fn, opts)
  local L = assert(loop.new(opts))
  local out = { L:run(fn) }
  T.eq(L.pending, 0, "ops left in flight")
  L:close()
  return (table.unpack or unpack)(out)
end

T.test("echo over TCP: accept with the peer address, send/recv 256 KiB, shutdown", function()
  local base = T.fdcount()
  run(function()
    local lfd, port = assert(loop.tcp_listen("127.0.0.1", 0))
    assert(port > 0)
    local server = loop.spawn(function()
      local cfd, host, peer_port = assert(loop.accept(lfd))
      T.eq(host, "127.0.0.1"); assert(peer_port > 0)
      local total = 0
      while true do
        local data = assert(loop.recv(cfd, 65536))
        if data == "" then break end
        total = total + #data
        T.eq(loop.send(cfd, data), #data)
      end
      assert(loop.shutdown(cfd, "w"))
      assert(loop.close(cfd))
      return total
    end)
    local c = assert(loop.tcp_connect("127.0.0.1", port))
    local sent = {}
    local reader = loop.spawn(function()
      local got = {}
      while true do
        local data = assert(loop.recv(c, 100000))
        if data == "" then break end
        got[#got + 1] = data
      end
      return table.concat(got)
    end)
    for i = 1, 64 do
      sent[i] = block(i, 4096)
      T.eq(loop.send(c, sent[i]), 4096)
    end
    assert(loop.shutdown(c, K.SHUT_WR))
    local ok, echoed = reader:join()
    assert(ok, echoed)
    T.eq(#echoed, 64 * 4096)
    T.eq(echoed, table.concat(sent))
    local ok2, total = server:join()
    assert(ok2); T.eq(total, 64 * 4096)
    assert(loop.close(c))
    assert(loop.close(lfd))
  end)
  T.eq(T.fdcount(), base)
end)

T.test("echo over a socketpair with a recvs stream and the default pool", function()
  run(function()
    local a, b = assert(rk.socketpair())
    local server = loop.spawn(function()
      local n = 0
      for data in loop.recvs(b) do
        n = n + #data
        assert(loop.send(b, data))
      end
      assert(loop.close(b))
      return n
    end)
    local want = {}
    for i = 1, 20 do want[i] = block(i, 1000 + i) end
    local all = table.concat(want)
    local got = {}
    local reader = loop.spawn(function()
      local n = 0
      while n < #all do
        local d = assert(loop.recv(a, 65536))
        assert(#d > 0, "early end of stream")
        got[#got + 1] = d
        n = n + #d
      end
    end)
    for i = 1, 20 do assert(loop.send(a, want[i])) end
    assert(reader:join())
    T.eq(table.concat(got), all)
    assert(loop.shutdown(a, "w"))
    local ok, n = server:join()
    assert(ok); T.eq(n, #all)
    assert(loop.close(a))
  end)
end)

T.test("accept storm with cancels: every client served, fds back to baseline", function()
  local base = T.fdcount()
  local N = 200
  local stats = { served = 0, oneshot = 0, oneshot_cancelled = 0, streams = 0 }
  run(function()
    local lfd, port = assert(loop.tcp_listen("127.0.0.1", 0, 512))
    local function serve(cfd)
      loop.spawn(function()
        local d = loop.recv(cfd, 16)
        if d and d ~= "" then assert(loop.send(cfd, "ok:" .. d)) end
        assert(loop.close(cfd))
        stats.served = stats.served + 1
      end)
    end
    -- one-shot acceptors, cancelled after a random short while; an accept
    -- that completed anyway hands its fd over, which is served
    local acceptors = {}
    for i = 1, 40 do
      acceptors[i] = loop.spawn(function()
        local cfd, _, errno = loop.accept(lfd)
        if cfd then
          stats.oneshot = stats.oneshot + 1
          serve(cfd)
        else
          assert(errno == K.ECANCELED or errno == K.EINTR, "accept errno " .. tostring(errno))
          stats.oneshot_cancelled = stats.oneshot_cancelled + 1
        end
      end)
    end
    -- half of them are cancelled while surely waiting (no client yet), the
    -- rest at random moments of the storm, racing their completions
    assert(loop.sleep(0.005))
    for i = 1, 20 do assert(acceptors[i]:cancel()) end
    local cancel_task = loop.spawn(function()
      for i = 21, 40 do
        loop.sleep(math.random() * 0.002)
        acceptors[i]:cancel()
      end
    end)
    -- multishot accept streams, closed mid-storm with fds still queued
    local done = false
    local stream_task = loop.spawn(function()
      while not done do
        stats.streams = stats.streams + 1
        local s = loop.accepts(lfd)
        local k = 0
        for cfd in s do
          serve(cfd)
          k = k + 1
          if k == 7 or done then break end
          if k % 3 == 0 then loop.yield() end
        end
        s:close() -- queued fds are closed: their clients see end of stream
      end
    end)
    -- the clients: some get "ok:", some a closed connection (queued in a
    -- closed stream) and retry
    local clients = {}
    for i = 1, N do
      clients[i] = loop.spawn(function()
        for _ = 1, 50 do
          local c = assert(loop.tcp_connect("127.0.0.1", port))
          local r
          if loop.send(c, tostring(i)) then r = loop.recv(c, 64) end
          assert(loop.close(c))
          if r == "ok:" .. i then return true end
          loop.sleep(0.001)
        end
        error("client " .. i .. " never served")
      end)
    end
    for i = 1, N do assert(clients[i]:join()) end
    done = true
    cancel_task:join()
    for i = 1, 40 do acceptors[i]:join() end
    -- wake the stream task if it waits: one last connection
    local c = assert(loop.tcp_connect("127.0.0.1", port))
    assert(loop.close(c))
    stream_task:join()
    assert(loop.close(lfd))
  end)
  print(string.format("     served %d, one-shot accepts %d (%d cancelled), streams %d", stats.served, stats.oneshot, stats.oneshot_cancelled, stats.streams))
  assert(stats.served >= N, "served " .. stats.served)
  T.eq(stats.oneshot + stats.oneshot_cancelled, 40)
  assert(stats.oneshot_cancelled >= 20, "cancelled " .. stats.oneshot_cancelled)
  assert(stats.streams > 1, "the stream was never closed and re-made")
  T.eq(T.fdcount(), base)
end)

T.test("multishot recv through ENOBUFS: re-armed, nothing lost, chunks all back", function()
  run(function()
    local pool = assert(loop.pool(1024, 4))
    local a, b = assert(rk.socketpair())
    local sent = {}
    for i = 1, 64 do sent[i] = block(i, 1000) end
    local writer = loop.spawn(function()
      for i = 1, 64 do assert(loop.send(a, sent[i])) end
      assert(loop.shutdown(a, "w"))
    end)
    local s = loop.recvs(b, pool)
    -- let the kernel fill all four chunks and run the group dry first
    assert(loop.sleep(0.05))
    local got, maxheld = {}, 0
    for data in s do
      got[#got + 1] = data
      if pool.held > maxheld then maxheld = pool.held end
    end
    T.eq(s.err, nil); T.eq(s.errno, nil)
    T.eq(table.concat(got), table.concat(sent))
    assert(s.rearms >= 1, "never ran out of buffers (rearms " .. s.rearms .. ")")
    T.eq(pool.held, 0)
    assert(maxheld <= 4)
    writer:join()
    assert(loop.close(a)); assert(loop.close(b))
    assert(pool:close())
  end)
end)

T.test("chunk views: valid until the next item, recycled after; close gives them back", function()
  run(function()
    local pool = assert(loop.pool(512, 2))
    local a, b = assert(rk.socketpair(K.SOCK_SEQPACKET))
    local msgs = {}
    for i = 1, 10 do msgs[i] = block(i, 100 + i) end
    loop.spawn(function()
      for i = 1, 10 do assert(loop.send(a, msgs[i])) end
    end)
    local s = loop.recvs(b, pool, { views = true })
    for i = 1, 10 do
      local v = assert(s:next())
      T.eq(v.len, #msgs[i]); T.eq(v:string(), msgs[i])
      T.eq(v:string(6), msgs[i]:sub(1, 6))
      T.eq(v:string(4, 2), msgs[i]:sub(3, 6))
      assert(pool.held >= 1 and pool.held <= 2)
    end
    s:close()
    T.eq(pool.held, 0)
    T.eq(s:next(), nil) -- closed
    assert(loop.close(a)); assert(loop.close(b))
  end)
end)

T.test("peer reset mid-stream: send fails with EPIPE/ECONNRESET, recvs ends, no signal", function()
  run(function()
    local lfd, port = assert(loop.tcp_listen("127.0.0.1", 0))
    local result = {}
    local server = loop.spawn(function()
      local cfd = assert(loop.accept(lfd))
      local reader = loop.spawn(function()
        local s = loop.recvs(cfd)
        for _ in s do end
        result.recv_errno = s.errno
      end)
      local big = string.rep("z", 65536)
      for _ = 1, 10000 do
        local n, _, errno = loop.send(cfd, big)
        if not n then result.send_errno = errno; break end
      end
      reader:join()
      assert(loop.close(cfd))
    end)
    local c = assert(loop.tcp_connect("127.0.0.1", port))
    assert(loop.send(c, "hello"))
    assert(#assert(loop.recv(c, 10)) > 0)
    -- close with unread data: the kernel answers with a reset
    assert(loop.close(c))
    server:join()
    assert(result.send_errno == K.EPIPE or result.send_errno == K.ECONNRESET,
      "send errno " .. tostring(result.send_errno))
    assert(result.recv_errno == nil or result.recv_errno == K.ECONNRESET,
      "recv errno " .. tostring(result.recv_errno))
    assert(loop.close(lfd))
  end)
end)

T.test("a task cancelled while it waits on a stream; a stream closed by another task", function()
  run(function()
    local lfd = assert(loop.tcp_listen("127.0.0.1", 0))
    local got = {}
    local waiter = loop.spawn(function()
      local s = loop.accepts(lfd)
      got.first = { s:next() }
    end)
    loop.yield(); loop.yield()
    assert(waiter:cancel())
    waiter:join()
    T.eq(got.first[1], nil); T.eq(got.first[3], K.ECANCELED)
    local s
    local owner = loop.spawn(function()
      s = loop.accepts(lfd)
      got.second = { s:next() }
    end)
    loop.yield(); loop.yield()
    s:close()
    owner:join()
    T.eq(got.second[1], nil); T.eq(got.second[2], nil) -- just the end
    -- a stream left open by its task is closed when the task ends
    local left
    loop.spawn(function()
      left = loop.polls(lfd, K.POLLIN)
      local a, b = assert(rk.socketpair())
      local p = loop.polls(b, K.POLLIN)
      assert(loop.send(a, "x"))
      local mask = assert(p:next())
      assert(mask % (2 * K.POLLIN) >= K.POLLIN)
      assert(loop.close(a)); assert(loop.close(b))
    end):join()
    T.eq(left.closed, true)
    assert(loop.close(lfd))
  end)
end)

T.test("senders: many sends not waited for leave in order; errors stick; flush", function()
  run(function()
    local a, b = assert(rk.socketpair())
    local out = loop.sender(a)
    local want, total = {}, 0
    for i = 1, 200 do
      want[i] = block(i, 1000 + i)
      total = total + #want[i]
    end
    local reader = loop.spawn(function() -- more than the socket buffers hold
      local got, n = {}, 0
      while n < total do
        local d = assert(loop.recv(b, 65536))
        got[#got + 1] = d
        n = n + #d
      end
      return table.concat(got)
    end)
    for i = 1, 200 do
      T.eq(out:send(want[i]), true)
      if i % 50 == 0 then T.churn() end
    end
    T.eq(out:flush(), true)
    T.eq(out.op, nil)
    local ok, got = reader:join()
    assert(ok, got)
    T.eq(got, table.concat(want))
    -- The peer goes away: a send (or the flush after it) fails, and the
    -- sender stays failed.
    loop.close(b)
    local okk, err, errno = out:send("into the void")
    if okk then okk, err, errno = out:flush() end
    T.eq(okk, nil)
    assert(errno == K.EPIPE or errno == K.ECONNRESET, "errno " .. tostring(errno))
    T.fails(errno, out:send("again"))
    T.fails(errno, out:flush())
    loop.close(a)
    -- A sender on a direct file.
    local c, d = assert(rk.socketpair())
    assert(loop.register_files(4))
    T.eq(loop.update_files(0, { c }), 1)
    rk.close(c)
    local ds = loop.sender(loop.direct(0))
    T.eq(ds:send("direct"), true)
    T.eq(ds:flush(), true)
    T.eq(loop.recv(d, 16), "direct")
    loop.close(loop.direct(0)); loop.close(d)
  end)
end)

T.test("a cancelled task waiting in sender:flush gets ECANCELED; the loop still settles", function()
  run(function()
    local a, b = assert(rk.socketpair())
    local big = string.rep("x", 4 * 1024 * 1024) -- more than the socket buffers
    local out = loop.sender(a)
    local t = loop.spawn(function()
      assert(out:send(big))
      return out:flush()
    end)
    loop.sleep(0.01)
    t:cancel()
    local ok, v, msg, errno = t:join()
    assert(ok)
    T.fails(K.ECANCELED, v, msg, errno)
    T.fails(K.ECANCELED, out:send("more"))
    loop.close(a); loop.close(b)
  end)
end)

T.test("loop.new: opts.flags replaces the default flags; bad flags fail", function()
  -- The default (SINGLE_ISSUER + DEFER_TASKRUN, with fallbacks) is what
  -- every other loop test runs on.
  local L2 = assert(loop.new { flags = 0 })
  T.eq(L2:run(function() return loop.sleep(0.001) end), true)
  L2:close()
  local L3 = assert(loop.new { flags = K.RK_RING_COOP_TASKRUN, msg_target = true })
  T.eq(L3:run(function() assert(loop.send_message(L3:fd(), 1, 2)); return loop.message() end), 1)
  L3:close()
  T.fails(K.EINVAL, loop.new { flags = 1073741824 })
end)

T.test("bad input: nil, msg, errno from IO calls, argument errors for misuse", function()
  run(function()
    local s = assert(loop.socket())
    T.fails(K.EINVAL, loop.bind(s, "no.such.host", 80))
    T.fails(K.EINVAL, loop.connect(s, "999.1.1.1", 80))
    T.fails(K.EBADF, loop.accept(-1))
    T.fails(K.EBADF, loop.send(-1, "x"))
    T.fails(K.EBADF, loop.recv(-1, 1))
    T.fails(K.ENOTCONN, loop.recv(s, 10))
    T.fails(K.EINVAL, loop.accept(s)) -- not listening
    T.fails(K.EINVAL, loop.tcp_listen("1.2.3.4.5", 0))
    local lfd, port = assert(loop.tcp_listen("127.0.0.1", 0))
    local held = T.fdcount()
    T.fails(K.EADDRINUSE, loop.tcp_listen("127.0.0.1", port))
    T.eq(T.fdcount(), held) -- the failed listener's socket was closed
    local probe = assert(loop.socket("inet", "stream"))
    assert(loop.bind(probe, "127.0.0.1", 0))
    local _, refused = rk.getsockname(probe)
    T.fails(K.ECONNREFUSED, loop.tcp_connect("127.0.0.1", refused))
    T.raises("bad socket domain", loop.socket, "nope")
    T.raises("bad shutdown mode", loop.shutdown, s, "sideways")
    T.raises("", loop.bind, s, "127.0.0.1", 123456)
    -- a stream on something that is not a socket ends with that error
    local st = loop.recvs(-1)
    T.fails(K.EBADF, st:next())
    T.fails(K.EBADF, st:next()) -- and stays ended
    local a, b = assert(rk.socketpair())
    local f = assert(loop.open("/dev/null"))
    local ns = loop.recvs(f)
    T.fails(K.ENOTSOCK, ns:next())
    assert(loop.close(f))
    assert(loop.close(a)); assert(loop.close(b))
    for _, fd in ipairs { s, lfd, probe } do assert(loop.close(fd)) end
  end)
  local st = loop.accepts(0)
  T.raises("outside a task", st.next, st)
end)

T.done()
