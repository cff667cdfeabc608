# frozen_string_literal: true
#
# echo.rb — a TCP echo server on Ringkit::Scheduler.
#
#   ruby examples/ruby/echo.rb [--threads] PORT [SECONDS]
#
# Sends every connection's bytes back, on 127.0.0.1 only (PORT 0: a free
# port, printed as "listening on 127.0.0.1:PORT"). Each connection is a
# fiber running plain socket code, readpartial then write, that the
# scheduler turns into ring ops; --threads runs the same code on a thread per
# connection with no scheduler (server.rb). A connection's next read waits
# until its last chunk has been written back, so a client that does not
# read stops being read from (back pressure: nothing is dropped or queued
# without bound). Stops cleanly on SIGINT/SIGTERM or after SECONDS, printing
# "bye".
require_relative "server"

CHUNK = 65_536

Example::Server.main("echo.rb", "An echo server on 127.0.0.1:PORT (0: a free port, printed).\n",
                     "listening on 127.0.0.1:%d") do |sock|
  buf = String.new(capacity: CHUNK)
  loop do
    sock.readpartial(CHUNK, buf)
    sock.write(buf)
  end
rescue EOFError
  nil # the peer is done sending: everything it sent has been sent back
end
