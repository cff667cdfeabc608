-- A randomized sequence of ops, cancels and reaps: every op completes exactly
-- once, no completion names an unknown op, stale cancels are refused, and the
-- ring's live count matches ours at every step. RK_SEED=n replays a run.
local T = require "harness"
local rk, K = T.rk, T.K
local dir = T.tmpdir()

local seed = tonumber(os.getenv("RK_SEED")) or os.time()
local steps = tonumber(os.getenv("RK_STEPS")) or 20000

T.test("random ops/cancels/reaps, seed " .. seed, function()
  math.randomseed(seed)
  local rand = math.random
  local r = assert(rk.ring_ex(16, 0, 0, 32))
  local p = T.wait(r, r:open(T.fifo(dir), K.O_RDWR))
  local live, nlive = {}, 0
  local done = {}          -- ids already completed (for stale checks)
  local done_list = {}
  local counts = { prepared = 0, completed = 0, cancels = 0, stale = 0, busy = 0 }
  local t = {}

  local function add(id, kind)
    assert(live[id] == nil and done[id] == nil, "id reused while live or seen: " .. tostring(id))
    live[id] = kind
    nlive = nlive + 1
    counts.prepared = counts.prepared + 1
  end

  local function reap(max, wait)
    local n, err, errno = r:reap(max, wait, 2e6, t)
    if not n then assert(errno == K.EINTR, err); return 0 end
    for i = 1, 3 * n, 3 do
      local id, res = t[i], t[i + 1]
      local kind = live[id]
      assert(kind, "completion for an unknown or already completed op " .. tostring(id))
      live[id] = nil
      nlive = nlive - 1
      done[id] = true
      done_list[#done_list + 1] = id
      counts.completed = counts.completed + 1
      if kind == "nop" then assert(res == 0 or res == -K.ECANCELED, "nop result " .. res) end
      if kind == "read" and res > 0 then assert(type(t[i + 2]) == "string" and #t[i + 2] == res) end
    end
    return n
  end

  local function random_live()
    -- a uniformly chosen live id (linear, the table is small)
    local k = rand(nlive)
    for id in pairs(live) do
      k = k - 1
      if k == 0 then return id end
    end
  end

  for step = 1, steps do
    local x = rand(100)
    local id, err, errno, kind
    if x <= 30 then
      kind = "nop"; id, err, errno = r:nop()
    elseif x <= 40 then
      kind = "timeout"; id, err, errno = r:timeout(rand(0, 2000000))
    elseif x <= 48 then
      kind = "read"; id, err, errno = r:read(p, rand(1, 64))
    elseif x <= 54 then
      kind = "write"; id, err, errno = r:write(p, string.rep("w", rand(1, 32)))
    elseif x <= 58 then
      kind = "poll"; id, err, errno = r:poll_add(p, K.POLLIN)
    elseif x <= 72 then
      if nlive > 0 then
        kind = "cancel"; id, err, errno = r:cancel(random_live())
        counts.cancels = counts.cancels + 1
      end
    elseif x <= 75 then
      if #done_list > 0 then -- a stale target is refused and touches nothing
        local v, _, e = r:cancel(done_list[rand(#done_list)])
        T.eq(v, nil, "stale cancel"); T.eq(e, K.ENOENT, "stale cancel errno")
        counts.stale = counts.stale + 1
      end
    else
      reap(rand(1, 64), rand(0, 1) == 1 and math.min(nlive, rand(1, 4)) or 0)
    end
    if id then
      add(id, kind)
    elseif errno then
      T.eq(errno, K.EBUSY, "prep error " .. tostring(err))
      counts.busy = counts.busy + 1
      reap(64, 1)
    end
    if step % 97 == 0 then T.eq(r:inflight(), nlive, "live count at step " .. step) end
  end

  -- Settle: cancel everything, reap until nothing is live.
  r:cancel_all()
  for _ = 1, 1000 do
    if nlive == 0 then break end
    reap(256, 1)
  end
  T.eq(nlive, 0, "ops left live")
  T.eq(r:inflight(), 0)
  T.eq(counts.completed, counts.prepared)
  print(string.format("  seed %d: %d ops, %d cancels, %d stale cancels refused, %d EBUSY",
    seed, counts.prepared, counts.cancels, counts.stale, counts.busy))
  r:closefd(p); r:reap(4, 1)
  r:close()
end)

T.test("random: close with ops still in flight, repeatedly", function()
  math.randomseed(seed + 1)
  for round = 1, 20 do
    local r = assert(rk.ring(16))
    local p = T.wait(r, r:open(T.fifo(dir), K.O_RDWR))
    for _ = 1, math.random(1, 40) do
      local x = math.random(3)
      if x == 1 then r:read(p, 8) elseif x == 2 then r:timeout(1e9) else r:nop() end
    end
    if round % 2 == 0 then r:submit() end
    assert(r:close())
  end
end)

T.done()
