-- Drives examples/lua/echo.lua (started by server_test.sh) on 127.0.0.1:PORT:
-- concurrent connections each send patterned data in pieces of varied
-- sizes (1 MiB in all) while reading the echo, and compare it byte for byte.
local loop = require "ringkit.loop"
local port = assert(tonumber(arg[1]), "usage: client_echo.lua PORT")

loop.run(function()
  local tasks = {}
  for i = 1, 8 do
    tasks[i] = loop.spawn(function()
      local fd = assert(loop.tcp_connect("127.0.0.1", port))
      local pieces, total = {}, 0
      for j = 1, 64 do
        local n = 1 + (i * 7919 + j * 104729) % 4096
        pieces[j] = string.rep(string.char(33 + (i + j) % 90), n)
        total = total + n
      end
      local want = table.concat(pieces)
      local reader = loop.spawn(function()
        local got, n = {}, 0
        while n < total do
          local d = assert(loop.recv(fd, 65536))
          assert(d ~= "", "echo connection closed early")
          got[#got + 1] = d
          n = n + #d
        end
        return table.concat(got)
      end)
      for j = 1, 64 do assert(loop.send(fd, pieces[j])) end
      local ok, got = reader:join()
      assert(ok, got)
      assert(got == want, "connection " .. i .. ": echo differs")
      assert(loop.shutdown(fd, "w"))
      assert(loop.recv(fd, 10) == "", "server did not close after our end of stream")
      assert(loop.close(fd))
    end)
  end
  for i = 1, 8 do assert(tasks[i]:join()) end
end)
print("client_echo: every byte came back")
