-- cd bindings/lua && luarocks make   (offline): builds the Lua 5.4 C module
-- against an installed libringkit, found in luarocks' external-dependency
-- directories (/usr/local, /usr) or given as RINGKIT_DIR=/prefix (or
-- RINGKIT_INCDIR / RINGKIT_LIBDIR), and installs it with ringkit.loop and
-- the LuaJIT ffi module (ringkit_ffi, pure Lua).
rockspec_format = "3.0"
package = "ringkit"
version = "0.2.0-1"
source = {
   url = "git+file://.",
   tag = "v0.2.0",
}
description = {
   summary = "io_uring for Lua: rings, ops by integer id, pinned regions, a coroutine loop",
   detailed = [[
The Lua binding of ringkit, a C library that lets managed runtimes drive Linux
io_uring (with a fallback backend where io_uring is refused): the C module
`ringkit` for Lua 5.4, `ringkit.loop`, a coroutine scheduler for direct-style
IO, and `ringkit_ffi`, the same API for LuaJIT.]],
   license = "MIT",
   labels = { "io_uring", "async", "linux" },
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
external_dependencies = {
   RINGKIT = {
      header = "ringkit.h",
      library = "ringkit",
   },
}
build = {
   type = "builtin",
   modules = {
      ringkit = {
         sources = { "ringkit.c", "support.c", "ops.c", "cqe.c", "net.c", "region.c" },
         defines = { "_GNU_SOURCE" },
         libraries = { "ringkit" },
         incdirs = { "$(RINGKIT_INCDIR)", "." },
         libdirs = { "$(RINGKIT_LIBDIR)" },
      },
      ["ringkit.loop"] = "ringkit/loop.lua",
      ringkit_ffi = "ringkit_ffi.lua",
   },
   -- ringkit_ffi reads the argument policy the C module compiles in
   install = {
      lua = { ["ringkit.policy"] = "ringkit/policy.def" },
   },
}
