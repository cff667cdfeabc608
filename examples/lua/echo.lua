--[[ echo.lua — a TCP echo server on ringkit.loop.

  lua5.4 examples/lua/echo.lua PORT [SECONDS]   (or luajit, or ringkit-lua-host)

Sends every connection's bytes back, on 127.0.0.1 only (PORT 0: a free port,
printed as "listening on 127.0.0.1:PORT"). A multishot accept feeds the
connections; each reads through a multishot recv over a shared pool of
chunks and writes each chunk back before taking the next one, so a client
that does not read stops being read from (back pressure through the pool).
Stops cleanly on SIGINT/SIGTERM or after SECONDS, printing "bye".
]]
local USAGE = "usage: echo.lua PORT [SECONDS]\n"
local argv = arg or {}
if argv[1] == "--help" or argv[1] == "-h" then
  io.stdout:write(USAGE, "An echo server on 127.0.0.1:PORT (0: a free port, printed);\n",
    "SIGINT, SIGTERM or SECONDS elapsed stops it.\n")
  os.exit(0)
end
local function bad(fmt, ...)
  io.stderr:write("echo.lua: ", string.format(fmt, ...), "\n", USAGE)
  os.exit(2)
end
if not argv[1] or argv[3] then bad(argv[3] and "too many arguments" or "missing PORT") end
-- tonumber alone takes "0x50", "8e1" and " 80" as ports.
local port = argv[1]:match("^%d+$") and tonumber(argv[1])
if not port or port > 65535 then
  bad("port '%s': expected a decimal number from 0 to 65535", argv[1])
end
local seconds = argv[2] and tonumber(argv[2])
if argv[2] and not (seconds and seconds > 0 and seconds < math.huge) then
  bad("SECONDS '%s': expected a positive number", argv[2])
end

local loop = require "ringkit.loop"
local rk = loop.rk

local L = assert(loop.new())
L:run(function()
  local lfd, bound = loop.tcp_listen("127.0.0.1", port)
  if not lfd then
    io.stderr:write("echo.lua: cannot listen on 127.0.0.1:" .. port .. ": " .. bound .. "\n")
    os.exit(1)
  end
  local sfd = assert(rk.signalfd({ "INT", "TERM" }))
  print(string.format("listening on 127.0.0.1:%d", bound))
  io.stdout:flush()
  local pool = assert(loop.pool(16384, 64))

  local conns, stopping = {}, false
  local acceptor = loop.spawn(function()
    for fd in loop.accepts(lfd) do
      local t
      t = loop.spawn(function()
        for data in loop.recvs(fd, pool) do
          if not loop.send(fd, data) then break end
        end
        rk.close(fd) -- synchronous: works in a cancelled task too
        conns[t] = nil
      end)
      conns[t] = true
    end
  end)
  local signals, timer
  local function stop(why)
    if stopping then return end
    stopping = true
    print("stopping: " .. why)
    acceptor:cancel()
    for t in pairs(conns) do t:cancel() end
    signals:cancel()
    if timer then timer:cancel() end
  end
  signals = loop.spawn(function()
    local d = loop.read(sfd, 128)
    if d then stop("signal " .. (d:byte(1) + 256 * d:byte(2))) end
  end)
  if seconds then
    timer = loop.spawn(function()
      if loop.sleep(seconds) then stop(seconds .. " s elapsed") end
    end)
  end
  acceptor:join()
  for t in pairs(conns) do t:join() end
  rk.close(sfd)
  rk.close(lfd)
end)
L:close()
print("bye")
