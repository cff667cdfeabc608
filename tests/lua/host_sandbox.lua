-- A hostile script, run by ringkit-lua-host as
--   ringkit-lua-host --allow-ops nop,read,cancel --fixed-files-only --file THIS host_sandbox.lua
-- It tries every way out of its ring the host has to close and exits 0 only
-- when each one failed and the allowed ops still work.
local rk = require "ringkit"
local K = rk.constants
local FIXED = K.RK_FIXED_FILE
local escaped, tried = {}, 0

-- v, msg, errno of a call that must fail (a raised error counts as failed).
local function refused(what, errno, ok, v, msg, e)
  tried = tried + 1
  if not ok then return end                      -- raised: nothing happened
  if v == nil and type(msg) == "string" and (errno == nil or e == errno) then return end
  escaped[#escaped + 1] = string.format("%s: %s %s %s", what, tostring(v), tostring(msg),
                                        tostring(e))
end
local function try(what, errno, fn, ...) refused(what, errno, pcall(fn, ...)) end
local function absent(what, v)
  tried = tried + 1
  if v ~= nil then escaped[#escaped + 1] = what .. " is reachable" end
end

local function wait(id)
  local t = {}
  local n = assert(ring:reap(8, 1, 5e9, t))
  assert(n == 1 and t[1] == id, "one completion for op " .. tostring(id))
  return t[2], t[3]
end

-- What the host allowed works: a NOP and a read of slot 0 (this file).
assert(ring, "the host's ring")
assert(wait(assert(ring:nop(FIXED))) == 0)
local n, data = wait(assert(ring:read(0, 40, 0, FIXED)))
assert(n == 40 and data:sub(1, 20) == "-- A hostile script,", "read of slot 0: " .. tostring(data))

-- 1. Ops not listed, and listed ops on a descriptor of the process.
try("openat", K.EACCES, ring.openat, ring, "/etc/passwd", K.O_RDONLY)
try("write", K.EACCES, ring.write, ring, 0, "x", -1, FIXED)
try("timeout", K.EACCES, ring.timeout, ring, 1000)
try("socket", K.EACCES, ring.socket, ring, K.AF_INET, K.SOCK_STREAM)
try("closefd", K.EACCES, ring.closefd, ring, 0)
try("read of fd 0", K.EACCES, ring.read, ring, 0, 16, -1)
try("nop without FIXED_FILE", K.EACCES, ring.nop, ring)

-- 2. A second restriction, looser than the first.
try("restrict again", K.EPERM, ring.restrict, ring, { "openat", "write" })

-- 3. The file table: point a slot at another descriptor, or make a new one.
try("update_files", K.EACCES, ring.update_files, ring, 0, { 1 })
try("register_files", K.EACCES, ring.register_files, ring, 8)
try("unregister_files", K.EACCES, ring.unregister_files, ring)
local region = rk.region(4096, 2)
try("register_region", K.EACCES, ring.register_region, ring, region)
try("eventfd", K.EACCES, ring.register_eventfd, ring, 1)

-- 4. A fresh, unrestricted ring.
absent("rk.ring", rk.ring)
absent("rk.ring_ex", rk.ring_ex)
absent("ring:ring", getmetatable(ring).__index.ring)
try("msg_ring", K.EACCES, ring.msg_ring, ring, 0, 1, 0, FIXED)
package.loaded.ringkit = nil
try("require a fresh module", nil, require, "ringkit")
package.loaded.ringkit = rk
absent("package.preload.ringkit", package.preload.ringkit)
absent("package.loadlib", package.loadlib)
tried = tried + 1
if #package.searchers ~= 1 then escaped[#escaped + 1] = "C searchers" end
local loop = require "ringkit.loop"
try("loop with its own ring", nil, loop.new)

-- 5. Around the VM: no C loading, no debug, no io, no shell, no bytecode.
absent("debug", debug)
absent("io", io)
absent("os.execute", os.execute)
absent("os.remove", os.remove)
absent("dofile", dofile)
absent("loadfile", loadfile)
local dumped = string.dump(function() return 1 end)
try("load bytecode", nil, load, dumped, "dumped", "b")
assert(load("return 42")() == 42, "text chunks still load")

-- The plain-syscall helpers of the module are gone too.
absent("rk.close", rk.close)
absent("rk.socketpair", rk.socketpair)

if #escaped > 0 then
  print("ESCAPED:\n  " .. table.concat(escaped, "\n  "))
  os.exit(1)
end
print(string.format("sandbox held: %d escapes tried, none worked", tried))
