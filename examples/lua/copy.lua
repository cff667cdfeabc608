--[[ copy.lua — copy a file through ringkit.loop with many reads in flight.

  copy.lua SRC DST [--depth N] [--chunk BYTES] [--create MIB] [--no-verify] [--quiet] [--cleanup]

DEPTH tasks (default 32) each own one chunk of a pinned region (default
256 KiB): a task claims the next block of the file, reads it into its chunk
(read_chunk) and writes it from the same chunk (write_chunk), so the data never
enters the Lua heap. Short reads and writes resume at the advanced offsets.
--create writes MIB MiB of pseudo-random data to SRC first (not timed).
Afterwards the copy is compared with the source byte for byte (not timed)
unless --no-verify; --cleanup removes both files at the end. Prints one line of figures; exits 1 on any failure.
Runs under lua5.4 (with ringkit.so), the embedding host ringkit-lua-host,
and LuaJIT (ringkit_ffi).
]]
local USAGE = "usage: copy.lua SRC DST [--depth N] [--chunk BYTES] [--create MIB] [--no-verify]" ..
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

local src, dst
local depth, chunk, create, verify, quiet, cleanup = 32, 256 * 1024, nil, true, false, false
local i = 1
local argv = arg or {}
while argv[i] do
  local a = argv[i]
  if a == "--help" or a == "-h" then
    io.stdout:write(USAGE, "Copies SRC to DST with DEPTH reads in flight (default 32), ",
      "CHUNK bytes each (default 262144).\n")
    os.exit(0)
  elseif a == "--depth" then i = i + 1; depth = number(a, argv[i], 1, 4096)
  elseif a == "--chunk" then i = i + 1; chunk = number(a, argv[i], 1, 64 * 1048576)
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

local L = check(loop.new({ entries = math.max(64, depth * 2) }))
local region = check(rk.region(chunk, depth))
local registered = L.ring:register_region(region) and true or false

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
  local next_off = 0

  local function copy_block(c, off, len)
    while len > 0 do
      local n = check(loop.read_chunk(fin, region, c, len, off))
      if n == 0 then -- a copy that silently comes out shorter loses data
        io.stderr:write(string.format(
          "copy.lua: '%s' ended at byte %d of the %d it had when the copy began; '%s' is incomplete\n",
          src, off, size, dst))
        os.exit(1)
      end
      local w = 0
      while w < n do
        local m
        if w == 0 then
          m = check(loop.write_chunk(fout, region, c, n, off))
        else -- short write: the rest goes out as a string
          m = check(loop.write(fout, region:read(c, n - w, w), off + w))
        end
        w = w + m
      end
      off, len = off + n, len - n
    end
  end

  local workers = {}
  for k = 1, depth do
    workers[k] = loop.spawn(function()
      local c = check(region:alloc())
      while next_off < size do
        local off = next_off
        next_off = off + chunk
        copy_block(c, off, math.min(chunk, size - off))
      end
      region:free(c)
    end)
  end
  for k = 1, depth do
    local ok, err = workers[k]:join()
    if not ok then error(err, 0) end
  end
  check(loop.close(fin))
  check(loop.close(fout))
  t1 = rk.now()
  bytes = size
end)

local stats = L.stats
L:close()
region:destroy()

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
    "copy.lua: %.1f MiB in %.3f s = %.0f MiB/s (depth %d, chunk %d KiB, region %s, %d ops, %d reaps%s) [%s]",
    bytes / 1048576, secs, bytes / 1048576 / secs, depth, math.floor(chunk / 1024),
    registered and "registered" or "unregistered", stats.ops, stats.reaps,
    verify and ", verified" or "", _VERSION))
end
if cleanup then
  os.remove(src)
  os.remove(dst)
end
