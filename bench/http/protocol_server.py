"""The fast-Python servers of bench/http/run.sh: the HTTP/1.1 keep-alive
server of examples/python/http_aio.py written as an asyncio.Protocol (no
streams, no coroutine per connection), the same response to every request
and the same request counting, on the event loop named: uvloop (the peer to
beat), ringkit (ringkit.aio.EventLoop) or asyncio (the default loop).
127.0.0.1 only.

    python3 protocol_server.py LOOP PORT [SECONDS]   (until SIGINT/SIGTERM or SECONDS)

Exits with status 77 when the loop asked for is not installed (Debian:
python3-uvloop; ringkit: PYTHONPATH=<build>/bindings/python).
"""
import asyncio
import signal
import sys


def new_loop(name):
    try:
        if name == "uvloop":
            import uvloop
            return uvloop.new_event_loop()
        if name == "ringkit":
            from ringkit import aio
            return aio.new_event_loop()
    except ImportError as e:
        print("protocol_server.py: no %s (%s)" % (name, e), file=sys.stderr)
        sys.exit(77)
    if name == "asyncio":
        return asyncio.new_event_loop()
    sys.exit("protocol_server.py: LOOP is uvloop, ringkit or asyncio, not %r" % name)


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
    print("protocol_server (%s) listening on 127.0.0.1:%d"
          % (type(loop).__module__.split(".")[0], server.sockets[0].getsockname()[1]),
          flush=True)
    try:
        await asyncio.wait_for(stop, seconds)
    except (asyncio.CancelledError, asyncio.TimeoutError):
        pass
    server.close()


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: protocol_server.py uvloop|ringkit|asyncio PORT [SECONDS]")
    loop = new_loop(sys.argv[1])
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main(int(sys.argv[2]),
                                     float(sys.argv[3]) if len(sys.argv) > 3 else None))
    finally:
        loop.close()
