"""The fast-Python peer for bench/http/run.sh: the HTTP/1.1 keep-alive server
of examples/python/http_aio.py written as an asyncio.Protocol on uvloop (no
streams, no coroutine per connection), the same response to every request
and the same request counting. 127.0.0.1 only.

    python3 uvloop_protocol.py PORT [SECONDS]   (until SIGINT/SIGTERM or SECONDS)

Exits with status 77 when uvloop is not installed (Debian: python3-uvloop).
"""
import asyncio
import signal
import sys

try:
    import uvloop
except ImportError:
    print("uvloop_protocol.py: no uvloop (python3-uvloop)", file=sys.stderr)
    sys.exit(77)

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


async def main(port, seconds):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http, "127.0.0.1", port, backlog=1024,
                                      reuse_address=True)
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.cancel)
    print("uvloop_protocol listening on 127.0.0.1:%d" % server.sockets[0].getsockname()[1],
          flush=True)
    try:
        await asyncio.wait_for(stop, seconds)
    except (asyncio.CancelledError, asyncio.TimeoutError):
        pass
    server.close()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: uvloop_protocol.py PORT [SECONDS]")
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main(int(sys.argv[1]),
                                     float(sys.argv[2]) if len(sys.argv) > 2 else None))
    finally:
        loop.close()
