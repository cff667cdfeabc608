-- `require "ringkit"` under LuaJIT, installed in Lua 5.1's module tree (which
-- LuaJIT reads): the ffi module, so scripts written for the Lua 5.4 C module
-- run unchanged. Plain Lua 5.1 has no ffi: say so instead of failing inside.
if not rawget(_G, "jit") then
  error("ringkit: this Lua 5.1 tree's module is for LuaJIT (it needs ffi); use Lua 5.4 or LuaJIT", 2)
end
return require "ringkit_ffi"
