# frozen_string_literal: true
#
# http.rb — a minimal HTTP/1.1 keep-alive server on Ringkit::Scheduler.
#
#   ruby examples/ruby/http.rb [--threads] PORT [SECONDS]
#
# Answers "Hello, world!\n" to every request, on 127.0.0.1 only, with the
# answers of examples/lua/http.lua: 400 Bad Request and close for a request
# line that is not HTTP/1.x, 501 for Transfer-Encoding, 413 and 431 for a
# body or head too large; Connection: close, and HTTP/1.0 without
# keep-alive, close after the answer. PORT 0 picks a free port; the first
# line printed says which ("listening on http://127.0.0.1:PORT/").
#
# Each connection is a fiber running plain socket code (readpartial, then
# one write with the answers to every request the read completed: pipelined
# requests are answered together), which the scheduler turns into ring ops;
# --threads runs the same code on a thread per connection with no scheduler
# (server.rb). Requests end at "\r\n\r\n" (plus a Content-Length body,
# which is skipped). Stops cleanly on SIGINT/SIGTERM or after SECONDS.
require_relative "server"

module HTTP
  BODY = "Hello, world!\n"
  OK = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: #{BODY.bytesize}" \
       "\r\n\r\n#{BODY}"
  OK_CLOSE = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: #{BODY.bytesize}" \
             "\r\nConnection: close\r\n\r\n#{BODY}"
  TOO_LARGE = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n" \
              "Connection: close\r\n\r\n"
  NOT_IMPLEMENTED = "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
  BAD_REQUEST = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
  BODY_TOO_LARGE = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
  MAX_HEAD = 65_536
  MAX_BODY = 1_048_576
  CHUNK = 65_536

  # "METHOD TARGET HTTP/1.x": \G anchors it where the match is tried.
  REQUEST_LINE = %r{\G[!-~]+ [^ \r\n]+ HTTP/1\.\d\r\n}
  # Every header that matters (Content-Length, Connection,
  # Transfer-Encoding) starts with C or T: a head without such a line is
  # answered without lowering it or searching it further.
  INTERESTING = /\n[ct]/i

  module_function

  # Answers every complete request at the start of buf (a binary String).
  # Returns the rest of buf, the answers (nil when no request is complete
  # yet), and whether the connection closes after them.
  def parse(buf)
    resp = nil
    pos = 0
    n = buf.bytesize
    loop do
      pos += 2 while buf.getbyte(pos) == 13 && buf.getbyte(pos + 1) == 10 # empty lines
      e = buf.index("\r\n\r\n", pos)
      unless e
        return ["", "#{resp}#{TOO_LARGE}", true] if n - pos > MAX_HEAD

        break
      end
      return ["", "#{resp}#{BAD_REQUEST}", true] unless REQUEST_LINE.match?(buf, pos)

      le = buf.index("\n", pos) # the end of the request line: "... HTTP/1.x\r\n"
      http10 = buf.getbyte(le - 2) == 48 # "0"
      body = 0
      conn = nil
      head = buf.byteslice(pos, e + 2 - pos)
      if INTERESTING.match?(head)
        head = head.downcase
        return ["", "#{resp}#{NOT_IMPLEMENTED}", true] if head.include?("\ntransfer-encoding:")

        body = head[/\ncontent-length:[ \t]*(\d+)/, 1].to_i
        return ["", "#{resp}#{BODY_TOO_LARGE}", true] if body > MAX_BODY

        conn = head[/\nconnection:[ \t]*([\w-]+)/, 1]
      end
      break if e + 4 + body > n # the body is still coming

      pos = e + 4 + body
      return ["", "#{resp}#{OK_CLOSE}", true] if conn == "close" || (http10 && conn != "keep-alive")

      resp = resp ? resp + OK : OK
      return ["", resp, false] if pos >= n
    end
    [pos >= n ? "" : buf.byteslice(pos, n - pos), resp, false]
  end

  # One connection: read, answer what is complete, until EOF or a close.
  def serve(sock)
    data = String.new(capacity: CHUNK)
    buf = String.new
    loop do
      sock.readpartial(CHUNK, data)
      buf << data
      rest, resp, close = parse(buf)
      sock.write(resp) if resp
      break if close

      buf = rest.empty? ? String.new : rest # "" is a frozen literal
    end
  rescue EOFError
    nil # the peer is done: everything it sent has been answered
  end
end

Example::Server.main("http.rb",
                     "A keep-alive HTTP server answering \"Hello, world!\" on 127.0.0.1:PORT\n" \
                     "(0: a free port, printed).\n",
                     "listening on http://127.0.0.1:%d/") { |sock| HTTP.serve(sock) }
