-- embed.lua IN OUT NAME: writes a C file defining NAME (bytes of IN) and
-- NAME_len, so a host can load a Lua source without finding it on disk.
local inp, out, name = arg[1], arg[2], arg[3]
local f = assert(io.open(inp, "rb"))
local src = f:read("a")
f:close()
local o = assert(io.open(out, "wb"))
o:write("/* generated from ", inp:match("[^/]*$"), " by embed.lua */\n#include <stddef.h>\n")
o:write("const char ", name, "[] = {\n")
for i = 1, #src, 16 do
  local t = {}
  for j = i, math.min(i + 15, #src) do t[#t + 1] = string.format("%d,", src:byte(j)) end
  o:write("\t", table.concat(t), "\n")
end
o:write("};\nconst size_t ", name, "_len = ", #src, ";\n")
o:close()
