--[=[ threads.lua — one ring per thread, passing work with messages.

  ringkit-lua-threads examples/lua-host/threads.lua [ITEMS [WINDOW]]

Run by examples/lua-host/threads.c in two threads, each with its own Lua VM
and its own ringkit.loop (a message target). The producer sends ITEMS work
items (default 20000) to the worker's ring, at most WINDOW (default 64) at a
time; each message carries the item's number as its value and the item
itself (an integer n) as its res. The worker answers each with the length
of n's Collatz sequence, computed by a task of its own, in a message back
(value = the item's number, res = the answer). The producer checks every
answer, then sends STOP; both loops end when nothing is left in flight.

Messages are 64-bit values plus a 32-bit res: for larger work, a value would
name something both threads can reach (a chunk of a shared region, a slot
of a table in C).
]=]
local loop = require "ringkit.loop"
local host = require "host"
local rk = loop.rk

local role = ...
local items = tonumber(arg[2] or "") or 20000
local window = tonumber(arg[3] or "") or 64
local STOP = rk.RK_MSG_VALUE_MAX

local function work(i) return i * 7919 % 100000 + 1 end

local function collatz(n)
  local steps = 0
  while n ~= 1 do
    if n % 2 == 0 then n = n // 2 else n = 3 * n + 1 end
    steps = steps + 1
  end
  return steps
end

-- The ring: a message target, used by this thread only.
local L = assert(loop.new { msg_target = true,
                            flags = rk.RK_RING_SINGLE_ISSUER | rk.RK_RING_DEFER_TASKRUN })
host.publish(L:fd())
local peer = host.peer()

local function watchdog(seconds, task)
  return loop.spawn(function()
    if loop.sleep(seconds) then
      task:cancel()
      error(role .. ": no progress for " .. seconds .. " s (is the other thread gone?)")
    end
  end)
end

local t0 = rk.now()
if role == "producer" then
  L:run(function()
    local main = loop.current()
    local dog = watchdog(60, main)
    local sent, done, seen = 0, 0, {}
    while done < items do
      while sent < items and sent - done < window do
        sent = sent + 1
        assert(loop.send_message(peer, sent, work(sent)))
      end
      local i, steps = loop.message()
      assert(i, steps)
      assert(i >= 1 and i <= items and not seen[i], "unexpected item " .. tostring(i))
      assert(steps == collatz(work(i)), "wrong answer for item " .. i)
      seen[i] = true
      done = done + 1
    end
    assert(loop.send_message(peer, STOP, 0))
    dog:cancel()
  end)
  local dt = rk.now() - t0
  print(string.format("producer: %d items answered by the worker thread in %.3f s " ..
    "(%.0f round trips/s, %d in flight)", items, dt, items / dt, window))
else
  local answered = 0
  L:run(function()
    local main = loop.current()
    local dog = watchdog(60, main)
    for i, n in loop.messages() do
      if i == STOP then break end
      loop.spawn(function()
        assert(loop.send_message(peer, i, collatz(n)))
        answered = answered + 1
      end)
    end
    dog:cancel()
  end)
  print(string.format("worker: %d items answered", answered))
  assert(answered == items, "answered " .. answered .. " of " .. items)
end
L:close()
