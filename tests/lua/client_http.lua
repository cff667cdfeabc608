-- Drives examples/lua/http.lua (started by server_test.sh) on 127.0.0.1:PORT:
-- sequential keep-alive requests, pipelined requests in one send, a request
-- split over several sends, a POST body that must not be taken for a
-- request, concurrent connections, "Connection: close" and HTTP/1.0.
-- Exits non-zero on any unexpected byte.
local loop = require "ringkit.loop"
local port = assert(tonumber(arg[1]), "usage: client_http.lua PORT")
local BODY = "Hello, world!\n"

local Conn = {}
Conn.__index = Conn

local function connect()
  local fd = assert(loop.tcp_connect("127.0.0.1", port))
  return setmetatable({ fd = fd, buf = "" }, Conn)
end

function Conn:send(s) assert(loop.send(self.fd, s) == #s) end

-- Receives more bytes, giving up after 5 s (a missing response fails the
-- test instead of hanging it).
local function more(fd)
  local d, err = loop.with_timeout(5, loop.recv, fd, 4096)
  return assert(d, "no response: " .. tostring(err))
end

-- Reads one response: status code, headers (lower-case names), body.
function Conn:response()
  while not self.buf:find("\r\n\r\n", 1, true) do
    local d = more(self.fd)
    assert(d ~= "", "connection closed before a response")
    self.buf = self.buf .. d
  end
  local e = self.buf:find("\r\n\r\n", 1, true)
  local head = self.buf:sub(1, e + 1)
  self.buf = self.buf:sub(e + 4)
  local code = tonumber(head:match("^HTTP/1%.1 (%d%d%d) "))
  assert(code, "bad status line: " .. head:sub(1, 40))
  local h = {}
  for k, v in head:gmatch("\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do h[k:lower()] = v end
  local len = assert(tonumber(h["content-length"]), "no Content-Length")
  while #self.buf < len do
    local d = more(self.fd)
    assert(d ~= "", "connection closed inside a body")
    self.buf = self.buf .. d
  end
  local body = self.buf:sub(1, len)
  self.buf = self.buf:sub(len + 1)
  return code, h, body
end

function Conn:hello(n, what)
  for i = 1, n do
    local code, h, body = self:response()
    assert(code == 200, what .. ": status " .. code)
    assert(body == BODY, what .. ": body " .. string.format("%q", body))
    assert(h["content-length"] == tostring(#BODY))
  end
end

-- Nothing more arrives within a short while (no stray response).
function Conn:quiet(what)
  assert(self.buf == "", what .. ": unexpected bytes " .. string.format("%q", self.buf))
  local d, _, errno = loop.with_timeout(0.05, loop.recv, self.fd, 100)
  assert(d == nil and errno == loop.rk.constants.ETIME,
    what .. ": unexpected " .. string.format("%q", tostring(d)))
end

function Conn:eof(what)
  assert(self.buf == "", what .. ": bytes before the end")
  local d = loop.recv(self.fd, 100)
  assert(d == "" or d == nil, what .. ": expected the server to close, got " .. tostring(d))
end

function Conn:close() assert(loop.close(self.fd)) end

local GET = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: client_http\r\n\r\n"

loop.run(function()
  local a = connect()
  for i = 1, 3 do a:send(GET); a:hello(1, "keep-alive #" .. i) end
  a:send(GET .. GET .. GET .. GET); a:hello(4, "pipelined")
  a:quiet("after pipelined")
  for _, piece in ipairs { "GET /split HT", "TP/1.1\r\nHost: x\r", "\n\r", "\n" } do
    a:send(piece)
    loop.sleep(0.01)
  end
  a:hello(1, "split request")
  a:send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\nGET / HTTP/1.1\r\n\r\n" .. GET)
  a:hello(2, "POST with a request-looking body, then GET")
  a:quiet("after POST")

  -- concurrent connections, each with its own keep-alive sequence
  local tasks = {}
  for i = 1, 8 do
    tasks[i] = loop.spawn(function()
      local c = connect()
      for _ = 1, 5 do c:send(GET); c:hello(1, "concurrent " .. i) end
      c:send(GET .. GET); c:hello(2, "concurrent pipelined " .. i)
      c:close()
    end)
  end
  for i = 1, 8 do assert(tasks[i]:join()) end

  a:send("GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
  local code, h = a:response()
  assert(code == 200 and h.connection == "close")
  a:eof("Connection: close")
  a:close()

  local b = connect()
  b:send("GET / HTTP/1.0\r\n\r\n")
  b:hello(1, "HTTP/1.0")
  b:eof("HTTP/1.0 without keep-alive")
  b:close()
end)
print("client_http: all responses as expected")
