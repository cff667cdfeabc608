--[[ http.lua — a minimal HTTP/1.1 keep-alive server on ringkit.loop.

  lua5.4 examples/lua/http.lua PORT [SECONDS]      (LUA_CPATH/LUA_PATH as for the tests)
  luajit examples/lua/http.lua PORT [SECONDS]      (RINGKIT_LIB as well)
  ringkit-lua-host examples/lua/http.lua PORT [SECONDS]

Answers "Hello, world!\n" to every request, on 127.0.0.1 only. PORT 0 picks
a free port; the first line printed says which ("listening on
http://127.0.0.1:PORT/"). Stops cleanly on SIGINT or SIGTERM, or after
SECONDS when given: it stops accepting, cancels the connections' IO, closes
every fd and prints "bye".

One multishot accept feeds every connection; each connection is a task
reading through one multishot recv over a pool of chunks shared by all
connections. Requests end at "\r\n\r\n" (plus a Content-Length body, which
is skipped); pipelined requests in one read are all answered with one send.
Signals arrive through a signalfd read by the ring, like any other IO.
]]
local loop = require "ringkit.loop"
local rk = loop.rk

local port = tonumber(arg and arg[1] or "")
local seconds = tonumber(arg and arg[2] or "")
if not port or port < 0 or port > 65535 or (arg[2] and not seconds) then
  io.stderr:write("usage: http.lua PORT [SECONDS]\n")
  os.exit(2)
end

local BODY = "Hello, world!\n"
local OK = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " .. #BODY ..
  "\r\n\r\n" .. BODY
local OK_CLOSE = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " .. #BODY ..
  "\r\nConnection: close\r\n\r\n" .. BODY
local TOO_LARGE = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n" ..
  "Connection: close\r\n\r\n"
local NOT_IMPLEMENTED = "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n" ..
  "Connection: close\r\n\r\n"
local BODY_TOO_LARGE = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n" ..
  "Connection: close\r\n\r\n"
local MAX_HEAD, MAX_BODY = 65536, 1048576

-- Answers every complete request at the start of buf. Returns the rest of
-- buf, the responses, and whether the connection must close afterwards.
local function parse(buf)
  local out, pos = {}, 1
  while true do
    local e = buf:find("\r\n\r\n", pos, true)
    if not e then
      if #buf - pos + 1 > MAX_HEAD then out[#out + 1] = TOO_LARGE; return "", out, true end
      break
    end
    local head = buf:sub(pos, e + 1):lower()
    if head:find("\ntransfer%-encoding:") then
      out[#out + 1] = NOT_IMPLEMENTED
      return "", out, true
    end
    local body = tonumber(head:match("\ncontent%-length:[ \t]*(%d+)") or "0")
    if body > MAX_BODY then out[#out + 1] = BODY_TOO_LARGE; return "", out, true end
    if e + 3 + body > #buf then break end -- the body is still coming
    pos = e + 4 + body
    local conn = head:match("\nconnection:[ \t]*([%w%-]+)")
    local http10 = head:find("^[^\r]* http/1%.0\r")
    if conn == "close" or (http10 and conn ~= "keep-alive") then
      out[#out + 1] = OK_CLOSE
      return "", out, true
    end
    out[#out + 1] = OK
  end
  return buf:sub(pos), out, false
end

local function serve(fd)
  local buf = ""
  local s = loop.recvs(fd)
  for data in s do
    local out, close
    buf, out, close = parse(buf .. data)
    if out[1] and not loop.send(fd, table.concat(out)) then break end
    if close then break end
  end
  s:close()
  rk.close(fd) -- synchronous: works in a cancelled task too
end

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
