"""The fast-Python servers of bench/http/run.sh and bench/python/loops.sh:
the HTTP/1.1 keep-alive server of examples/python/http_aio.py written as an
asyncio.Protocol (no streams, no coroutine per connection), the same
response to every request and the same request counting, on the event loop
named: uvloop (the peer to
beat), ringkit (ringkit.aio.EventLoop) or asyncio (the default loop).
127.0.0.1 only.

    python3 protocol_server.py LOOP PORT [SECONDS]   (until SIGINT/SIGTERM or SECONDS)

Exits with status 77 when the loop asked for is not installed (Debian:
python3-uvloop; ringkit: PYTHONPATH=<build>/bindings/python): see
bench/python/eventloops.py.
"""
import asyncio
import os
import sys

# The loop chosen by name and the run until a signal, shared with the
# servers of bench/python/loops.sh.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import eventloops  # noqa: E402


BODY = b"Hello, world!\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
            % (len(BODY), BODY))


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.pending = b""

    def data_received(self, data):
        pending = self.pending + data
        n = pending.count(b"\r\n\r\n")
        if n:
            pending = pending[pending.rfind(b"\r\n\r\n") + 4:]
            self.transport.write(RESPONSE * n)
        self.pending = pending

    def eof_received(self):
        return False  # the transport closes once what was written has left


if __name__ == "__main__":
    eventloops.main(sys.argv[0], eventloops.protocol_start(Http))
