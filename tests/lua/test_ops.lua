-- Every op of the core through the Lua binding, with its result checked.
local T = require "harness"
local rk, K = T.rk, T.K
local dir = T.tmpdir()

local function ring() return assert(rk.ring(64)) end

-- Runs one op and returns res, extra of its completion.
local function run(r, id, ...)
  assert(id, ...)
  return T.wait(r, id)
end

local function open(r, path, flags, mode)
  local fd = run(r, r:open(path, flags, mode))
  assert(fd >= 0, "open " .. path .. ": " .. tostring(fd))
  return fd
end

T.test("module: version, constants, strerror, now", function()
  local v, s = rk.version()
  assert(type(v) == "number" and s:match("^%d+%.%d+%.%d+$"))
  T.eq(rk.constants.AT_FDCWD, K.AT_FDCWD)
  T.eq(rk.O_CREAT, K.O_CREAT)
  T.eq(rk.constant("EBUSY"), K.EBUSY)
  T.eq(rk.constant("NO_SUCH_CONSTANT"), nil)
  assert(rk.strerror(K.ENOENT):find("No such file"))
  assert(rk.strerror(-K.ENOENT) == rk.strerror(K.ENOENT))
  local a = rk.now(); assert(rk.now() >= a)
  local n = 0
  for _ in pairs(rk.constants) do n = n + 1 end
  assert(n > 100, "constant table has " .. n)
end)

T.test("nop, reap values and table modes, stats, probe, fd", function()
  local r = ring()
  local a, b = r:nop(), r:nop()
  assert(a ~= b)
  local n, id1, res1, x1, id2, res2 = r:reap(64, 2)
  T.eq(n, 2); T.eq(id1, a); T.eq(res1, 0); T.eq(x1, 0); T.eq(id2, b); T.eq(res2, 0)
  for _ = 1, 10 do r:nop() end
  local t = {}
  T.eq(r:reap(64, 10, nil, t), 10)
  T.eq(#t, 30)
  T.eq(r:reap(64, 0), 0)
  local st = r:stats()
  T.eq(st.inflight, 0); T.eq(st.completed, 12); assert(st.capacity >= 64)
  T.eq(r:inflight(), 0)
  T.eq(r:probe("NOP"), true); T.eq(r:probe(K.IORING_OP_READ), true)
  assert(r:fd() >= 0)
  assert(tostring(r):find("ringkit.ring"))
  -- submit then reap with a timeout
  r:nop(); assert(r:submit() >= 1)
  T.eq((r:reap(1, 1, 1e9)), 1)
  T.eq((r:reap(1, 1, 1e6)), 0) -- nothing live: returns at once
  r:close()
end)

T.test("write, read, fsync, fdatasync, fallocate, fadvise, statx", function()
  local r = ring()
  local path = dir .. "/f"
  local fd = open(r, path, K.O_RDWR + K.O_CREAT + K.O_TRUNC, 420)
  T.eq(run(r, r:write(fd, "hello, ring", 0)), 11)
  local res, data = run(r, r:read(fd, 100, 0))
  T.eq(res, 11); T.eq(data, "hello, ring")
  res, data = run(r, r:read(fd, 5, 7))
  T.eq(data, "ring")
  T.eq(run(r, r:fsync(fd)), 0)
  T.eq(run(r, r:fdatasync(fd)), 0)
  T.eq(run(r, r:fallocate(fd, 0, 0, 8192)), 0)
  T.eq(run(r, r:fadvise(fd, 0, 0, K.POSIX_FADV_SEQUENTIAL)), 0)
  local st
  res, st = run(r, r:statx(nil, path))
  T.eq(res, 0); T.eq(st.size, 8192); assert(st.mode % 4096 == 420 or st.mode % 512 == 420)
  assert(type(st.mtime) == "number" and st.mtime > 0)
  T.eq(run(r, r:closefd(fd)), 0)
  r:close()
end)

T.test("readv and writev", function()
  local r = ring()
  local fd = open(r, dir .. "/v", K.O_RDWR + K.O_CREAT + K.O_TRUNC, 420)
  T.eq(run(r, r:writev(fd, { "abc", "", "defg", "h" }, 0)), 8)
  local res, data = run(r, r:readv(fd, { 2, 3, 10 }, 0))
  T.eq(res, 8); T.eq(data, "abcdefgh")
  T.eq(run(r, r:prep_close(fd)), 0)
  r:close()
end)

T.test("region: chunks, read_chunk, write_chunk, registered and not", function()
  local r = ring()
  local g = assert(rk.region(4096, 4))
  T.eq(g:chunk_size(), 4096); T.eq(g:nchunks(), 4); T.eq(g:chunks_free(), 4)
  local fd = open(r, dir .. "/c", K.O_RDWR + K.O_CREAT + K.O_TRUNC, 420)
  for pass = 1, 2 do
    local c = assert(g:alloc())
    T.eq(g:write(c, "zero-copy " .. pass), 11)
    T.eq(run(r, r:write_chunk(fd, g, c, 11, 0)), 11)
    g:write(c, string.rep("x", 64))
    T.eq(run(r, r:read_chunk(fd, g, c, 11, 0)), 11)
    T.eq(g:read(c, 11), "zero-copy " .. pass)
    T.eq(g:read(c, 4, 5), "copy")
    assert(g:free(c))
    if pass == 1 then
      local ok, err, errno = r:register_region(g)
      if not ok then
        T.eq(errno, K.ENOMEM) -- RLIMIT_MEMLOCK: stays usable unregistered
      end
    end
  end
  assert(tostring(g):find("ringkit.region"))
  r:closefd(fd)
  r:close()
  assert(g:destroy()); assert(g:destroy())
end)

T.test("openat, openat2, mkdirat, renameat, linkat, symlinkat, unlinkat", function()
  local r = ring()
  T.eq(run(r, r:mkdirat(nil, dir .. "/d", 493)), 0)
  local dfd = run(r, r:openat(nil, dir .. "/d", K.O_RDONLY + K.O_DIRECTORY))
  assert(dfd >= 0)
  local fd = run(r, r:openat(dfd, "a", K.O_WRONLY + K.O_CREAT, 420))
  assert(fd >= 0); run(r, r:closefd(fd))
  T.eq(run(r, r:renameat(dfd, "a", dfd, "b")), 0)
  T.eq(run(r, r:linkat(dfd, "b", dfd, "c")), 0)
  T.eq(run(r, r:symlinkat("b", dfd, "s")), 0)
  local fd2 = run(r, r:openat2(dfd, "s", K.O_RDONLY, 0, 0))
  assert(fd2 >= 0, rk.strerror(fd2)); run(r, r:closefd(fd2))
  T.eq(run(r, r:openat2(dfd, "../d/b", K.O_RDONLY, 0, K.RESOLVE_BENEATH)), -K.EXDEV)
  for _, name in ipairs { "b", "c", "s" } do T.eq(run(r, r:unlinkat(dfd, name, 0)), 0) end
  T.eq(run(r, r:unlinkat(dfd, "b", 0)), -K.ENOENT)
  run(r, r:closefd(dfd))
  T.eq(run(r, r:unlinkat(nil, dir .. "/d", K.AT_REMOVEDIR)), 0)
  r:close()
end)

T.test("splice and tee through FIFOs", function()
  local r = ring()
  local p1 = open(r, T.fifo(dir), K.O_RDWR)
  local p2 = open(r, T.fifo(dir), K.O_RDWR)
  local fd = open(r, dir .. "/s", K.O_RDWR + K.O_CREAT + K.O_TRUNC, 420)
  run(r, r:write(p1, "spliced!"))
  T.eq(run(r, r:tee(p1, p2, 8)), 8)
  T.eq(run(r, r:splice(p1, -1, fd, 0, 8)), 8)
  local _, data = run(r, r:read(fd, 8, 0))
  T.eq(data, "spliced!")
  local _, d2 = run(r, r:read(p2, 8))
  T.eq(d2, "spliced!")
  for _, f in ipairs { p1, p2, fd } do r:closefd(f) end
  r:reap(64, 3)
  r:close()
end)

T.test("copy: one op, one completion", function()
  local r = ring()
  local a = open(r, dir .. "/copy-a", K.O_RDWR + K.O_CREAT + K.O_TRUNC, 420)
  local b = open(r, dir .. "/copy-b", K.O_RDWR + K.O_CREAT + K.O_TRUNC, 420)
  local text = string.rep("0123456789", 1000) .. "x"
  T.eq(run(r, r:write(a, text, 0)), #text)
  T.eq(run(r, r:copy(a, 0, b, 3, #text + 100)), #text)
  local _, data = run(r, r:read(b, #text, 3))
  T.eq(data, text)
  local p = open(r, T.fifo(dir), K.O_RDWR)
  T.fails(K.ESPIPE, r:copy(a, 0, p, 0, 10))
  for _, f in ipairs { a, b, p } do r:closefd(f) end
  r:reap(64, 3)
  r:close()
end)

T.test("poll_add, poll_remove, timeout, timeout_remove, link_timeout, cancel", function()
  local r = ring()
  local p = open(r, T.fifo(dir), K.O_RDWR)
  -- poll completes when data arrives
  local pid = assert(r:poll_add(p, K.POLLIN))
  T.eq(r:reap(8, 0), 0)
  r:write(p, "x")
  local others = {}
  local mask = T.wait(r, pid, others)
  assert(mask > 0 and mask % 2 == 1, "POLLIN in mask")
  local _, data = run(r, r:read(p, 1))
  T.eq(data, "x")
  -- poll_remove
  pid = assert(r:poll_add(p, K.POLLIN))
  r:submit()
  local rid = assert(r:poll_remove(pid))
  others = {}
  T.eq(T.wait(r, rid, others), 0)
  if not others[pid] then T.eq(T.wait(r, pid), -K.ECANCELED) else T.eq(others[pid][1], -K.ECANCELED) end
  -- timeout fires
  T.eq(run(r, r:timeout(1e6)), -K.ETIME)
  -- timeout with count completes after that many completions
  local tid = assert(r:timeout(5e9, 1))
  r:nop()
  T.eq(T.wait(r, tid), 0)
  -- timeout_remove
  tid = assert(r:timeout(5e9)); r:submit()
  local trid = assert(r:timeout_remove(tid))
  others = {}
  T.eq(T.wait(r, trid, others), 0)
  T.eq(others[tid] and others[tid][1] or T.wait(r, tid), -K.ECANCELED)
  -- link_timeout bounds a read that never completes
  local rid2 = assert(r:read(p, 10, -1, K.RK_LINK))
  local lt = assert(r:link_timeout(2e6))
  others = {}
  T.eq(T.wait(r, lt, others), -K.ETIME)
  T.eq(others[rid2] and others[rid2][1] or T.wait(r, rid2), -K.ECANCELED)
  -- cancel a pending read
  local rd = assert(r:read(p, 10)); r:submit()
  local cid = assert(r:cancel(rd))
  others = {}
  T.eq(T.wait(r, cid, others), 0)
  local rr = others[rd] and others[rd][1] or T.wait(r, rd)
  assert(rr == -K.ECANCELED or rr == -K.EINTR, "cancelled read: " .. rr)
  r:closefd(p); r:reap(8, 1)
  r:close()
end)

T.test("cancel_all and batch of 1000 nops through the overflow queue", function()
  local r = assert(rk.ring_ex(8, 0, 0, 1024))
  T.eq(r:stats().capacity, 1024)
  for _ = 1, 1000 do assert(r:nop()) end
  local total, t = 0, {}
  while total < 1000 do total = total + assert(r:reap(512, 1, nil, t)) end
  T.eq(total, 1000)
  local p = open(r, T.fifo(dir), K.O_RDWR)
  local ids = {}
  for i = 1, 5 do ids[i] = assert(r:read(p, 1)) end
  r:submit()
  T.eq(r:cancel_all(), 5)
  local seen = 0
  while seen < 5 do
    local n = r:reap(16, 1, nil, t)
    for i = 1, 3 * n, 3 do
      assert(t[i + 1] == -K.ECANCELED or t[i + 1] == -K.EINTR); seen = seen + 1
    end
  end
  r:closefd(p)
  r:close()
end)

T.test("cancel_sync: cancels with the op table full", function()
  local r = assert(rk.ring_ex(4, 0, 0, 8, 0))
  local ids = {}
  for i = 1, 8 do ids[i] = assert(r:timeout(30 * 1000000000)) end
  T.fails(K.EBUSY, r:cancel(ids[1]))
  for i = 1, 8 do T.eq(r:cancel_sync(ids[i]), true, "cancel_sync") end
  local t, seen = {}, 0
  while seen < 8 do
    local n = r:reap(8, 1, 2000000000, t)
    assert(n > 0, "completions of cancelled timeouts")
    for i = 1, 3 * n, 3 do T.eq(t[i + 1], -K.ECANCELED, "res"); seen = seen + 1 end
  end
  T.fails(K.ENOENT, r:cancel_sync(ids[1], 0))
  r:close()
end)

T.test("resize: grows and shrinks a DEFER_TASKRUN ring with ops in flight", function()
  local plain = assert(rk.ring(8))
  T.fails(K.EOPNOTSUPP, plain:resize(16))
  plain:close()
  local r = assert(rk.ring(8, K.RK_RING_DEFER_TASKRUN))
  if not r:feature("RESIZE") then
    T.fails(K.EOPNOTSUPP, r:resize(16))
    r:close()
    return
  end
  T.fails(K.EINVAL, r:resize(0))
  T.fails(K.EINVAL, r:resize(16, 8))
  local ids = {}
  for i = 1, 6 do ids[i] = assert(r:nop()) end
  assert(r:submit())
  T.eq(r:resize(16, 64), true)
  T.eq(r:stats().sq_entries, 16)
  T.eq(r:stats().cq_entries, 64)
  for i = 7, 10 do ids[i] = assert(r:nop()) end
  T.fails(K.EBUSY, r:resize(4, 8)) -- ten ops still to complete
  T.eq(r:resize(4, 16), true)
  T.eq(r:stats().sq_entries, 4)
  local seen, got = {}, 0
  while got < 10 do
    local t = {}
    local n = assert(r:reap(64, 1, 5e9, t))
    for i = 1, 3 * n, 3 do
      assert(not seen[t[i]], "completed twice")
      seen[t[i]] = true
      T.eq(t[i + 1], 0)
    end
    got = got + n
  end
  T.eq(r:reap(64, 0, 0), 0)
  for i = 1, 10 do assert(seen[ids[i]], "op lost") end
  r:close()
end)

T.done()
