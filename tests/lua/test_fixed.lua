-- The registered file table through the ring: registration, updates, ops
-- naming slots with RK_FIXED_FILE, direct open/accept/socket, close_fixed,
-- fixed_fd_install, refusals; then direct files in ringkit.loop.
local T = require "harness"
local rk, K = T.rk, T.K
local FIXED = K.RK_FIXED_FILE
local dir = T.tmpdir()

local function fd_flags(fd)
  local f = assert(io.open("/proc/" .. T.pid() .. "/fdinfo/" .. fd, "rb"))
  local s = f:read(T.jit and "*a" or "a")
  f:close()
  return tonumber(s:match("flags:%s*(%d+)"), 8)
end
local function cloexec(fd) return fd_flags(fd) % (2 * K.O_CLOEXEC) >= K.O_CLOEXEC end

-- Descriptors behind n filled slots: none on io_uring (the kernel holds
-- files); the fallback backend's table holds descriptors of its own
-- (ringkit.h, "Backends").
local function table_fds(r, n)
  return r:stats().backend == K.RK_BACKEND_FALLBACK and n or 0
end

-- Descriptors held by n ops waiting for readiness: the fallback backend
-- duplicates each one's fd, as io_uring holds its file (ringkit.h,
-- "Descriptors").
local function waiting_fds(r, n)
  return r:stats().backend == K.RK_BACKEND_FALLBACK and n or 0
end

local function listener()
  local r = assert(rk.ring(4))
  local lfd = T.wait(r, r:socket(K.AF_INET, K.SOCK_STREAM))
  r:close()
  assert(rk.bind_sync(lfd, "127.0.0.1", 0))
  assert(rk.listen_sync(lfd, 16))
  local _, port = rk.getsockname(lfd)
  return lfd, port
end

T.test("before a table: ENXIO; bad sizes; registering twice: EBUSY", function()
  local r = assert(rk.ring(8))
  T.fails(K.ENXIO, r:update_files(0, { 0 }))
  T.fails(K.ENXIO, r:unregister_files())
  T.fails(K.ENXIO, r:open_direct(dir .. "/x", 0, 0, 0))
  T.fails(K.ENXIO, r:accept_direct(0, 0))
  T.fails(K.ENXIO, r:accept_multishot_direct(0))
  T.fails(K.ENXIO, r:socket_direct(K.AF_INET, K.SOCK_STREAM, 0, 0))
  T.fails(K.ENXIO, r:close_fixed(0))
  T.fails(K.EINVAL, r:register_files(0))
  T.fails(K.EINVAL, r:register_files(K.RK_FILES_MAX + 1))
  T.eq(r:register_files(8), true)
  T.fails(K.EBUSY, r:register_files(8))
  -- Outside the table, and other refusals.
  T.fails(K.EINVAL, r:open_direct(dir .. "/x", 0, 0, 8))
  T.fails(K.EINVAL, r:socket_direct(K.AF_INET, K.SOCK_STREAM, 0, 8))
  T.fails(K.EINVAL, r:close_fixed(8))
  T.fails(K.EINVAL, r:close_fixed(0, FIXED))
  T.fails(K.EBADF, r:accept_direct(-1, 0))
  T.fails(K.EINVAL, r:update_files(7, { -1, -1 }))
  T.fails(K.EBADF, r:update_files(0, { 999 }))
  T.raises("integer fds", r.update_files, r, 0, { "x" })
  T.raises("table expected", r.update_files, r, 0, nil)
  T.raises("out of range", r.close_fixed, r, -1)
  T.raises("bad argument", r.fixed_fd_install, r, "x")
  T.eq(r:inflight(), 0)
  T.eq(r:unregister_files(), true)
  T.fails(K.ENXIO, r:unregister_files())
  T.eq(r:register_files(2), true) -- a new table
  r:close() -- with a table: the ring drops it
  T.raises("closed", r.register_files, r, 4)
end)

T.test("update_files, ops on slots with RK_FIXED_FILE, skip and clear", function()
  local base = T.fdcount()
  local r = assert(rk.ring(16))
  assert(r:register_files(8))
  local a, b = assert(rk.socketpair())
  T.eq(r:update_files(0, { a, b }), 2)
  rk.close(a); rk.close(b) -- the table holds its own references
  T.eq(T.wait(r, assert(r:send(0, "fixed", 0, FIXED))), 5)
  local n, data = T.wait(r, assert(r:recv(1, 16, 0, FIXED)))
  T.eq(n, 5); T.eq(data, "fixed")
  T.eq(T.wait(r, assert(r:write(1, "back", -1, FIXED))), 4)
  n, data = T.wait(r, assert(r:read(0, 16, -1, FIXED)))
  T.eq(data, "back")
  -- Skip keeps slot 0, -1 empties slot 1 (its last reference: slot 0's peer
  -- is gone, so reading it gives end of stream).
  T.eq(r:update_files(0, { K.RK_FILES_SKIP, -1 }), 2)
  n, data = T.wait(r, assert(r:recv(0, 16, 0, FIXED)))
  T.eq(n, 0); T.eq(data, "")
  T.eq(T.wait(r, assert(r:recv(1, 16, 0, FIXED))), -K.EBADF)
  T.eq(T.wait(r, assert(r:close_fixed(0))), 0)
  T.eq(T.wait(r, assert(r:close_fixed(0))), -K.EBADF) -- already empty
  r:close()
  T.eq(T.fdcount(), base)
end)

T.test("open_direct into a slot and into any slot; no fd allocated; install", function()
  T.writefile(dir .. "/data", "direct!")
  local r = assert(rk.ring(16))
  assert(r:register_files(8))
  local before = T.fdcount()
  T.eq(T.wait(r, assert(r:open_direct(dir .. "/data", K.O_RDONLY, 0, 2))), 0)
  local slot = T.wait(r, assert(r:openat_direct(nil, dir .. "/data", K.O_RDONLY)))
  assert(slot >= 0 and slot < 8 and slot ~= 2, "slot " .. slot)
  T.eq(T.fdcount(), before + table_fds(r, 2))
  local n, data = T.wait(r, assert(r:read(2, 16, 0, FIXED)))
  T.eq(n, 7); T.eq(data, "direct!")
  n, data = T.wait(r, assert(r:read(slot, 3, 4, FIXED)))
  T.eq(data, "ct!")
  T.eq(T.wait(r, assert(r:open_direct(dir .. "/nonexistent", K.O_RDONLY, 0, 3))), -K.ENOENT)
  if r:probe("FIXED_FD_INSTALL") then
    local fd = T.wait(r, assert(r:fixed_fd_install(slot)))
    assert(fd >= 0, "install " .. fd)
    assert(cloexec(fd), "installed close-on-exec")
    n, data = T.wait(r, assert(r:read(fd, 7, 0)))
    T.eq(data, "direct!")
    rk.close(fd)
    fd = T.wait(r, assert(r:fixed_fd_install(slot, K.RK_FIXED_FD_NO_CLOEXEC)))
    assert(fd >= 0 and not cloexec(fd), "installed without close-on-exec")
    rk.close(fd)
    T.fails(K.EINVAL, r:fixed_fd_install(slot, 2))
  end
  T.eq(T.wait(r, assert(r:close_fixed(2))), 0)
  T.eq(T.wait(r, assert(r:close_fixed(slot))), 0)
  T.eq(T.fdcount(), before)
  r:close()
end)

T.test("accept_direct, accept_multishot_direct, socket_direct until ENFILE", function()
  local lfd, port = listener()
  local r = assert(rk.ring(16))
  assert(r:register_files(8))
  local before = T.fdcount()
  local c0 = T.wait(r, r:socket(K.AF_INET, K.SOCK_STREAM))
  local acc = assert(r:accept_direct(lfd, 5))
  T.eq(T.wait(r, assert(r:connect(c0, "127.0.0.1", port))), 0)
  T.eq(T.wait(r, acc), 0)
  T.eq(T.fdcount(), before + 1 + table_fds(r, 1)) -- only the client's socket
  T.eq(T.wait(r, assert(r:send(c0, "hi"))), 2)
  local n, data = T.wait(r, assert(r:recv(5, 8, 0, FIXED)))
  T.eq(data, "hi")
  T.eq(T.wait(r, assert(r:close_fixed(5))), 0)
  n = T.wait(r, assert(r:recv(c0, 8)))
  T.eq(n, 0) -- the server side is really closed
  rk.close(c0)

  -- Multishot into free slots: three connections, three distinct slots.
  local ms = assert(r:accept_multishot_direct(lfd))
  assert(r:submit())
  local slots, clients = {}, {}
  for i = 1, 3 do
    clients[i] = T.wait(r, r:socket(K.AF_INET, K.SOCK_STREAM))
    local cid = assert(r:connect(clients[i], "127.0.0.1", port))
    local got, t = {}, {}
    while not (got[cid] and got[ms]) do
      local k = assert(r:reap(4, 1, 5e9, t))
      for j = 1, 3 * k, 3 do
        got[t[j]] = true
        if t[j] == ms then
          assert(rk.cqe_more(t[j + 2]))
          assert(t[j + 1] >= 0 and t[j + 1] < 8, "slot " .. t[j + 1])
          for _, s in ipairs(slots) do assert(s ~= t[j + 1], "slot reused") end
          slots[#slots + 1] = t[j + 1]
        end
      end
    end
  end
  T.eq(#slots, 3)
  T.eq(T.fdcount(), before + 3 + table_fds(r, 3) + waiting_fds(r, 1)) -- + the waiting accept
  assert(r:cancel_sync(ms))
  T.eq(T.wait(r, ms), -K.ECANCELED)
  for i = 1, 3 do
    T.eq(T.wait(r, assert(r:close_fixed(slots[i]))), 0)
    T.eq(T.wait(r, assert(r:recv(clients[i], 1))), 0)
    rk.close(clients[i])
  end
  T.eq(T.fdcount(), before)

  -- A full table: ALLOC answers -ENFILE after every slot was taken.
  local count = 0
  while true do
    local res = T.wait(r, assert(r:socket_direct(K.AF_INET, K.SOCK_STREAM)))
    if res == -K.ENFILE then break end
    assert(res >= 0 and res < 8, "socket_direct " .. res)
    count = count + 1
    assert(count <= 8)
  end
  T.eq(count, 8)
  T.eq(T.fdcount(), before + table_fds(r, 8))
  r:close() -- closes the eight sockets with the table
  rk.close(lfd)
end)

-- ringkit.loop ---------------------------------------------------------------

T.test("file_alloc_range confines the slots socket_direct picks", function()
  local r = assert(rk.ring(8))
  T.fails(K.ENXIO, r:file_alloc_range(0, 1))
  assert(r:register_files(8))
  T.raises("unknown feature", r.feature, r, "NO_SUCH_THING")
  if not r:feature("FILE_ALLOC_RANGE") then
    T.fails(K.EOPNOTSUPP, r:file_alloc_range(2, 2))
    r:close()
    return
  end
  T.eq(r:feature(K.RK_FEATURE_FILE_ALLOC_RANGE), true)
  T.fails(K.EINVAL, r:file_alloc_range(7, 2))
  T.eq(r:file_alloc_range(2, 2), true)
  local seen = {}
  for _ = 1, 2 do
    local slot = T.wait(r, assert(r:socket_direct(K.AF_INET, K.SOCK_DGRAM, 0, K.RK_FILE_INDEX_ALLOC)))
    assert(slot == 2 or slot == 3, "slot " .. slot)
    assert(not seen[slot], "slot reused")
    seen[slot] = true
  end
  T.eq(T.wait(r, assert(r:socket_direct(K.AF_INET, K.SOCK_DGRAM, 0, K.RK_FILE_INDEX_ALLOC))),
       -K.ENFILE)
  r:close()
end)

local loop = require "ringkit.loop"

T.test("loop: direct files — open, read, install, close; direct accepts served", function()
  T.writefile(dir .. "/loopdata", "loop direct")
  local base = T.fdcount()
  local L = assert(loop.new())
  L:run(function()
    T.raises("direct file expected", loop.install, 3)
    T.fails(K.ENXIO, loop.open_direct(dir .. "/loopdata"))
    assert(loop.register_files(16))
    local f = assert(loop.open_direct(dir .. "/loopdata", "r"))
    T.eq(loop.read(f, 4, 5), "dire")
    if L.ring:probe("FIXED_FD_INSTALL") then
      local installed = { loop.install(f) }
      T.eq(#installed, 1) -- the fd alone
      local fd = installed[1]
      T.eq(loop.read(fd, 4), "loop")
      loop.close(fd)
    end
    T.eq(loop.close(f), true)
    T.fails(K.EBADF, loop.read(f, 4))
    T.fails(K.ENOENT, loop.open_direct(dir .. "/missing"))
    -- A direct socket pair of sorts: a socketpair's ends in slots 10 and 11.
    local a, b = assert(rk.socketpair())
    T.eq(loop.update_files(10, { a, b }), 2)
    rk.close(a); rk.close(b)
    local da, db = loop.direct(10), loop.direct(11)
    T.eq(loop.send(da, "over slots"), 10)
    T.eq(loop.recv(db, 64), "over slots")
    T.eq(loop.sendmsg(db, { "msg ", "too" }), 7)
    local data = loop.recvmsg(da, 64)
    T.eq(data, "msg too")
    T.eq(loop.write(da, "w"), 1)
    T.eq(loop.read(db, 1), "w")
    T.eq(loop.shutdown(da, "w"), true)
    T.eq(loop.recv(db, 8), "")
    loop.close(da); loop.close(db)

    -- An echo server whose connections are direct files.
    local lfd, port = assert(loop.tcp_listen("127.0.0.1", 0))
    local served = 0
    local server = loop.spawn(function()
      local s = loop.accepts(lfd, { direct = true })
      for conn in s do
        assert(getmetatable(conn) == getmetatable(da), "a direct file")
        loop.spawn(function()
          for d in loop.recvs(conn) do
            if not loop.send(conn, d) then break end
          end
          loop.close(conn)
          served = served + 1
        end)
      end
    end)
    loop.sleep(0.001) -- the server's accept is armed (the fallback holds a duplicate)
    local before = T.fdcount()
    for i = 1, 3 do
      local c = assert(loop.tcp_connect("127.0.0.1", port))
      T.eq(loop.send(c, "echo " .. i), 6)
      T.eq(loop.recv(c, 64), "echo " .. i)
      loop.close(c)
    end
    while served < 3 do loop.sleep(0.001) end
    T.eq(T.fdcount(), before) -- the server side never took an fd
    server:cancel()
    server:join()
    loop.close(lfd)
  end)
  L:close()
  T.eq(T.fdcount(), base)
end)

T.done()
