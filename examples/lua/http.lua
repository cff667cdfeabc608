--[[ http.lua — a minimal HTTP/1.1 keep-alive server on ringkit.loop.

  lua5.4 examples/lua/http.lua PORT [SECONDS]      (LUA_CPATH/LUA_PATH as for the tests)
  luajit examples/lua/http.lua PORT [SECONDS]      (RINGKIT_LIB as well)
  ringkit-lua-host examples/lua/http.lua PORT [SECONDS]

Answers "Hello, world!\n" to every request, on 127.0.0.1 only (400 Bad
Request and close for a request line that is not HTTP/1.x; Connection:
close, and HTTP/1.0 without keep-alive, close after the answer). PORT 0 picks
a free port; the first line printed says which ("listening on
http://127.0.0.1:PORT/"). Stops cleanly on SIGINT or SIGTERM, or after
SECONDS when given: it stops accepting, cancels the connections' IO, closes
every fd and prints "bye".

One multishot accept feeds every connection; each connection is a task
reading through one multishot recv over a pool of chunks shared by all
connections and answering through a loop.sender (its send is not waited
for). Requests end at "\r\n\r\n" (plus a Content-Length body, which is
skipped); pipelined requests in one read are all answered with one send.
Signals arrive through a signalfd read by the ring, like any other IO.
]]
local USAGE = "usage: http.lua PORT [SECONDS]\n"
local argv = arg or {}
if argv[1] == "--help" or argv[1] == "-h" then
  io.stdout:write(USAGE, 'A keep-alive HTTP server answering "Hello, world!" on 127.0.0.1:PORT\n',
    "(0: a free port, printed); SIGINT, SIGTERM or SECONDS elapsed stops it.\n")
  os.exit(0)
end
local function bad(fmt, ...)
  io.stderr:write("http.lua: ", string.format(fmt, ...), "\n", USAGE)
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

local BODY = "Hello, world!\n"
local OK = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " .. #BODY ..
  "\r\n\r\n" .. BODY
local OK_CLOSE = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " .. #BODY ..
  "\r\nConnection: close\r\n\r\n" .. BODY
local TOO_LARGE = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n" ..
  "Connection: close\r\n\r\n"
local NOT_IMPLEMENTED = "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n" ..
  "Connection: close\r\n\r\n"
local BAD_REQUEST = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
local BODY_TOO_LARGE = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n" ..
  "Connection: close\r\n\r\n"
local MAX_HEAD, MAX_BODY = 65536, 1048576

local find, sub, byte, lower, match = string.find, string.sub, string.byte, string.lower, string.match

-- Answers every complete request at the start of buf. Returns the rest of
-- buf, the responses (nil when none is complete yet), and whether the
-- connection must close afterwards. The headers that matter (Content-Length,
-- Connection, Transfer-Encoding) all start with C or T: a head without a
-- header line starting so is answered without lowering or pattern searches
-- (a pattern search tries a match at every byte; plain searches are memchr).
local function parse(buf)
  local resp, pos, n = nil, 1, #buf
  while true do
    while byte(buf, pos) == 13 and byte(buf, pos + 1) == 10 do pos = pos + 2 end -- empty lines
    local e = find(buf, "\r\n\r\n", pos, true)
    if not e then
      if n - pos + 1 > MAX_HEAD then return "", (resp or "") .. TOO_LARGE, true end
      break
    end
    local le = find(buf, "\n", pos, true) -- the end of the request line
    -- "METHOD TARGET HTTP/1.x", else 400: anchored, so tried at pos only.
    if not find(buf, "^[!-~]+ [^ \r\n]+ HTTP/1%.%d\r\n", pos) then
      return "", (resp or "") .. BAD_REQUEST, true
    end
    local http10 = byte(buf, le - 2) == 48 and lower(sub(buf, le - 10, le - 2)) == " http/1.0"
    local body, conn = 0, nil
    local p = le + 1 -- the start of each header line
    while p <= e do
      local c = byte(buf, p)
      if c == 67 or c == 99 or c == 84 or c == 116 then -- C c T t: look closer
        local head = lower(sub(buf, pos, e + 1))
        if find(head, "\ntransfer-encoding:", 1, true) then
          return "", (resp or "") .. NOT_IMPLEMENTED, true
        end
        body = tonumber(match(head, "\ncontent%-length:[ \t]*(%d+)") or "0")
        if body > MAX_BODY then return "", (resp or "") .. BODY_TOO_LARGE, true end
        conn = match(head, "\nconnection:[ \t]*([%w%-]+)")
        break
      end
      p = find(buf, "\n", p, true) + 1
    end
    if e + 3 + body > n then break end -- the body is still coming
    pos = e + 4 + body
    if conn == "close" or (http10 and conn ~= "keep-alive") then
      return "", (resp or "") .. OK_CLOSE, true
    end
    resp = resp and resp .. OK or OK
    if pos > n then return "", resp, false end
  end
  return pos > n and "" or sub(buf, pos), resp, false
end

-- One connection: requests come from one multishot recv; responses leave
-- through a sender (one send in flight, not waited for), so the task goes
-- straight back to receiving.
local function serve(fd)
  local buf, resp, close = "", nil, false
  local s = loop.recvs(fd)
  local out = loop.sender(fd)
  for data in s do
    buf, resp, close = parse(buf == "" and data or buf .. data)
    if resp and not out:send(resp) then break end
    if close then break end
  end
  out:flush() -- the last response has left (or failed) before the close
  s:close()
  rk.close(fd) -- synchronous: works in a cancelled task too
end

-- Lua 5.4's generational collector suits a server whose garbage (request
-- strings) dies young: about 5% less CPU per request here. LuaJIT has none.
pcall(collectgarbage, "generational")
local L = assert(loop.new())
L:run(function()
  local lfd, bound = loop.tcp_listen("127.0.0.1", port)
  if not lfd then
    io.stderr:write("http.lua: cannot listen on 127.0.0.1:" .. port .. ": " .. bound .. "\n")
    os.exit(1)
  end
  local sfd = assert(rk.signalfd({ "INT", "TERM" }))
  print(string.format("listening on http://127.0.0.1:%d/", bound))
  io.stdout:flush()

  local conns, stopping = {}, false
  local acceptor = loop.spawn(function()
    while not stopping do
      local s = loop.accepts(lfd)
      for fd in s do
        local t
        t = loop.spawn(function()
          serve(fd)
          conns[t] = nil
        end)
        conns[t] = true
      end
      s:close()
      if not stopping then -- EMFILE or the like: try again shortly
        io.stderr:write("http.lua: accept: " .. tostring(s.err) .. "\n")
        loop.sleep(0.1)
      end
    end
  end)
  local timer, signals
  local function stop(why)
    if stopping then return end
    stopping = true
    print("stopping: " .. why)
    acceptor:cancel()
    for t in pairs(conns) do t:cancel() end
    if timer then timer:cancel() end
    signals:cancel()
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
