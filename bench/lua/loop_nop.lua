--[=[ The coroutine loop's cost per op: TASKS tasks each await K NOPs
  (loop.call("nop")), so every op is one prep, one yield, one completion and
  one resume. Prints ops/s; compare with nop.lua's raw binding figures.
  lua5.4 loop_nop.lua [tasks [ops_per_task]]     (LUA_CPATH/LUA_PATH as for the tests)
  luajit loop_nop.lua ...                          (RINGKIT_LIB as well)
]=]
local loop = require "ringkit.loop"
local rk = loop.rk
local TASKS = tonumber(arg and arg[1]) or 64
local K = tonumber(arg and arg[2]) or 20000
local L = assert(loop.new({ entries = 256 }))
local t0
L:run(function()
  t0 = rk.now()
  local ts = {}
  for i = 1, TASKS do
    ts[i] = loop.spawn(function()
      for _ = 1, K do loop.call("nop") end
    end)
  end
  for i = 1, TASKS do ts[i]:join() end
end)
local dt = rk.now() - t0
print(string.format("ringkit.loop: %d tasks x %d awaited NOPs: %.0f ops/s (%.0f ns/op, %d reaps) [%s]",
  TASKS, K, TASKS * K / dt, dt / (TASKS * K) * 1e9, L.stats.reaps,
  rawget(_G, "jit") and "LuaJIT ffi" or _VERSION))
L:close()
