--[[ copy.lua — copy a file through ringkit.loop with the core's copy op.

  copy.lua SRC DST [--lanes N] [--chunk BYTES] [--create MIB] [--no-verify] [--quiet] [--cleanup]

The whole copy is one op (ring:copy, rk_prep_copy): the core runs it in
parallel lanes of its own sub-ops (splices through pipes, or reads and
writes) and posts one completion, so this task makes one call per copy,
not one per chunk, and the data never enters the Lua heap. --lanes (1..8)
and --chunk (a power of two from 4096 to 16 MiB) tune the core's copy;
without them the core chooses. A copy moves at most 0x7ffff000 bytes, so a
longer file takes a few ops. --create writes MIB MiB of pseudo-random data
to SRC first (not timed). Afterwards the copy is compared with the source
byte for byte (not timed) unless --no-verify; --cleanup removes both files
at the end. Prints one line of figures; exits 1 on any failure.
Runs under lua5.4 (with ringkit.so), the embedding host ringkit-lua-host,
and LuaJIT (ringkit_ffi).
]]
local USAGE = "usage: copy.lua SRC DST [--lanes N] [--chunk BYTES] [--create MIB] [--no-verify]" ..
  " [--quiet] [--cleanup]\n"
local function bad(fmt, ...)
  io.stderr:write("copy.lua: ", string.format(fmt, ...), "\n", USAGE)
  os.exit(2)
end
-- A whole decimal number in [lo, hi] (tonumber alone takes "0x10" and "1e3").
local function number(opt, v, lo, hi)
  if v == nil then bad("%s needs a value", opt) end
  local n = v:match("^%d+$") and tonumber(v)
  if not n or n < lo or n > hi then
    bad("%s '%s': expected a decimal number from %d to %d", opt, v, lo, hi)
  end
  return n
end

-- n = 2^k -> k, else nil; and v * 2^k. Integer arithmetic only, which
-- LuaJIT (no bit operators) and 5.4 (integers stay integers) share.
local function log2(n)
  local k = 0
  while n > 1 and n % 2 == 0 do n, k = n / 2, k + 1 end
  return n == 1 and k or nil
end
local function shl(v, k)
  for _ = 1, k do v = v * 2 end
  return v
end

local src, dst
local lanes, chunk, create, verify, quiet, cleanup = 0, 0, nil, true, false, false
local i = 1
local argv = arg or {}
while argv[i] do
  local a = argv[i]
  if a == "--help" or a == "-h" then
    io.stdout:write(USAGE, "Copies SRC to DST as one copy op of the core, in N lanes of ",
      "CHUNK bytes (default: the core's choice).\n")
    os.exit(0)
  elseif a == "--lanes" then i = i + 1; lanes = number(a, argv[i], 1, 8)
  elseif a == "--chunk" then
    i = i + 1; chunk = number(a, argv[i], 4096, 16 * 1048576)
    if not log2(chunk) then bad("--chunk '%s': expected a power of two", argv[i]) end
  elseif a == "--create" then i = i + 1; create = number(a, argv[i], 0, 1048576)
  elseif a == "--no-verify" then verify = false
  elseif a == "--quiet" then quiet = true
  elseif a == "--cleanup" then cleanup = true
  elseif a:sub(1, 2) == "--" then bad("unknown option '%s'", a)
  elseif not src then src = a
  elseif not dst then dst = a
  else bad("unexpected argument '%s'", a) end
  i = i + 1
end
if not src or not dst then bad(src and "missing DST" or "missing SRC and DST") end

local loop = require "ringkit.loop"
local unpack_ = table.unpack or unpack
local rk = loop.rk

if create then
  -- 1 MiB of LCG bytes, each MiB of the file stamped with its index so no
  -- two blocks are equal, plus a tail that is not a multiple of the chunk.
  local f = assert(io.open(src, "wb"))
  local x, parts = 88172645, {}
  for j = 1, 65536 do
    local b = {}
    for k = 1, 16 do
      x = (x * 1103515245 + 12345) % 2147483648
      b[k] = math.floor(x / 8388608) % 256
    end
    parts[j] = string.char(unpack_(b))
  end
  local base = table.concat(parts)
  for k = 1, create do
    f:write(string.format("%016d", k), base:sub(17))
  end
  f:write(string.rep("tail", 777))
  f:close()
end

local function check(v, err, errno)
  if v == nil then error(string.format("%s (errno %s)", tostring(err), tostring(errno)), 2) end
  return v
end

local K = rk.constants
-- RK_COPY_LANES(lanes) | RK_COPY_CHUNK(log2(chunk)); 0: the core's choice.
local copy_flags = shl(lanes, K.RK_COPY_LANES_SHIFT)
if chunk > 0 then copy_flags = copy_flags + shl(log2(chunk), K.RK_COPY_CHUNK_SHIFT) end
local L = check(loop.new({ entries = 64 }))

local bytes, t0, t1
L:run(function()
  -- Errors name the file. ringkit's text for an errno can carry a hint for
  -- other ops (ENOENT's names cancel): only the first part is about files.
  local function fail(what, path, err)
    err = tostring(err):gsub(" %(for .*%)$", "")
    io.stderr:write(string.format("copy.lua: %s '%s': %s\n", what, path, err))
    os.exit(1)
  end
  local fin, err = loop.open(src, "r")
  if not fin then fail("cannot open", src, err) end
  local st
  st, err = loop.stat(src)
  if not st then fail("cannot stat", src, err) end
  if math.floor(st.mode / 4096) % 16 == 4 then -- S_IFDIR
    fail("cannot copy", src, "Is a directory")
  end
  -- Opening DST truncates it: if it is SRC under another name (or a hard
  -- link), that would destroy the source before the first read.
  local dst_st = loop.stat(dst)
  if dst_st and dst_st.ino == st.ino and dst_st.dev_major == st.dev_major and
      dst_st.dev_minor == st.dev_minor then
    io.stderr:write(string.format("copy.lua: '%s' and '%s' are the same file\n", src, dst))
    os.exit(1)
  end
  local size = st.size
  local fout
  fout, err = loop.open(dst, "w")
  if not fout then fail("cannot open", dst, err) end
  t0 = rk.now()
  local off = 0
  while off < size do
    local n = check(loop.call("copy", fin, off, fout, off, size - off, copy_flags))
    if n == 0 then -- a copy that silently comes out shorter loses data
      io.stderr:write(string.format(
        "copy.lua: '%s' ended at byte %d of the %d it had when the copy began; '%s' is incomplete\n",
        src, off, size, dst))
      os.exit(1)
    end
    off = off + n
  end
  check(loop.close(fin))
  check(loop.close(fout))
  t1 = rk.now()
  bytes = size
end)

local stats = L.stats
L:close()

local secs = t1 - t0
if verify then
  local a, b = assert(io.open(src, "rb")), assert(io.open(dst, "rb"))
  local off = 0
  while true do
    local x, y = a:read(1048576), b:read(1048576)
    if x ~= y then
      io.stderr:write(string.format("copy.lua: MISMATCH near offset %d\n", off))
      os.exit(1)
    end
    if not x then break end
    off = off + #x
  end
  a:close(); b:close()
  if off ~= bytes then
    io.stderr:write("copy.lua: size mismatch\n")
    os.exit(1)
  end
end
if not quiet then
  print(string.format(
    "copy.lua: %.1f MiB in %.3f s = %.0f MiB/s (lanes %s, chunk %s, %d ops, %d reaps%s) [%s]",
    bytes / 1048576, secs, bytes / 1048576 / secs, lanes > 0 and tostring(lanes) or "default",
    chunk > 0 and (math.floor(chunk / 1024) .. " KiB") or "default", stats.ops, stats.reaps,
    verify and ", verified" or "", _VERSION))
end
if cleanup then
  os.remove(src)
  os.remove(dst)
end
