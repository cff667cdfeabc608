--[[ NOP ops/s from Lua against the C core, in the same process.
  Lua 5.4:  ringkit-lua-bench nop.lua [N] [reps]      (C loop = global c_nop_bench)
  LuaJIT:   luajit nop.lua [N] [reps]                  (C loop = librkbench.so via ffi;
            RKBENCH_LIB=<builddir>/bench/lua/librkbench.so, RINGKIT_LIB=... libringkit.so)
For each batch size both loops run alternately `reps` times; the median of
each is reported with the ratio Lua/C. Batch sizes: RKBENCH_BATCHES (default
256,64,16,1 — largest first: under LuaJIT, running batch 1 first gets the
binding's reap loop blacklisted by the JIT, and it then stays interpreted for
the larger batches too, about 0.2x C, unless RKBENCH_REJIT=1 makes the bench
call rk.rejit() between batch sizes; see doc/benchmarks-lua.md).
]]
local is_jit = rawget(_G, "jit") ~= nil
local rk = is_jit and require "ringkit_ffi" or require "ringkit"
local c_nop = rawget(_G, "c_nop_bench")
if not c_nop then
  local ffi = require "ffi"
  ffi.cdef "double rkbench_c_nop(uint32_t entries, uint32_t batch, uint64_t n);"
  local lib = ffi.load(os.getenv("RKBENCH_LIB") or "rkbench")
  c_nop = function(e, b, n) return lib.rkbench_c_nop(e, b, n) end
end

local N = tonumber(arg and arg[1]) or 2000000
local reps = tonumber(arg and arg[2]) or 5
local ENTRIES = 256
local BATCHES = {}
for b in (os.getenv("RKBENCH_BATCHES") or "256,64,16,1"):gmatch("%d+") do BATCHES[#BATCHES + 1] = tonumber(b) end

-- The Lua loop, loaded afresh for each batch size: under LuaJIT, bytecode
-- blacklisted while running batch 1 (an inner loop of one iteration) would
-- otherwise stay interpreted for the larger batches (jit.flush keeps it).
local lua_nop_src = [[
local rk = ...
return function(entries, batch, n)
  local ring = assert(rk.ring(entries))
  local t = {}
  local rounds = math.floor(n / batch)
  local t0 = rk.now()
  for _ = 1, rounds do
    for _ = 1, batch do ring:nop() end
    local got = 0
    while got < batch do got = got + ring:reap(batch, batch - got, nil, t) end
  end
  local dt = rk.now() - t0
  ring:close()
  return rounds * batch / dt
end
]]
local load_ = loadstring or load
local function fresh_lua_nop() return assert(load_(lua_nop_src, "=lua_nop"))(rk) end

local function median(t)
  table.sort(t)
  return t[math.floor((#t + 1) / 2)]
end

local runtime = is_jit and (jit.version .. " + ringkit_ffi") or (_VERSION .. " + ringkit C module")
print(string.format("# NOP ops/s, %s, N=%d per run, %d runs each, ring of %d", runtime, N, reps, ENTRIES))
print(string.format("%-8s %14s %14s %8s", "batch", "C ops/s", "Lua ops/s", "Lua/C"))
for _, batch in ipairs(BATCHES) do
  local n = batch == 1 and math.floor(N / 4) or N
  local cs, ls = {}, {}
  if os.getenv("RKBENCH_REJIT") and rk.rejit then rk.rejit() end
  local lua_nop = fresh_lua_nop()
  lua_nop(ENTRIES, batch, math.floor(n / 10)) -- warm up (and JIT-compile)
  for _ = 1, reps do
    cs[#cs + 1] = c_nop(ENTRIES, batch, n)
    ls[#ls + 1] = lua_nop(ENTRIES, batch, n)
  end
  local c, l = median(cs), median(ls)
  print(string.format("%-8d %14.0f %14.0f %8.2f", batch, c, l, l / c))
end
