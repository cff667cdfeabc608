"""The reference for http_aio.py: the same HTTP/1.1 keep-alive server on
plain asyncio streams (no ringkit), one coroutine per connection, the same
response. 127.0.0.1 only.

    python3 http_asyncio.py PORT [SECONDS]
"""
import asyncio
import signal
import sys

BODY = b"Hello, world!\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
            % (len(BODY), BODY))


async def serve(reader, writer):
    pending = b""
    try:
        while True:
            data = await reader.read(4096)
            if not data:
                break
            pending += data
            n = pending.count(b"\r\n\r\n")
            if n:
                pending = pending[pending.rfind(b"\r\n\r\n") + 4:]
                writer.write(RESPONSE * n)
                await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(port, seconds):
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024,
                                        reuse_address=True)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
    print("http_asyncio listening on 127.0.0.1:%d" % server.sockets[0].getsockname()[1],
          flush=True)
    try:
        await asyncio.wait_for(stop, seconds)
    except (asyncio.CancelledError, asyncio.TimeoutError):
        pass
    server.close()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: http_asyncio.py PORT [SECONDS]")
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else None))
