"""The reference for http_aio.py: the same HTTP/1.1 keep-alive server on
plain asyncio streams (no ringkit), one coroutine per connection, the same
response. 127.0.0.1 only.

    python3 http_asyncio.py PORT [SECONDS]
"""
import asyncio
import signal

import _http


async def serve(reader, writer):
    pending = b""
    try:
        while True:
            data = await reader.read(4096)
            if not data:
                break
            answers, pending, close = _http.parse(pending + data if pending else data)
            if answers:
                writer.write(answers)
                await writer.drain()
            if close:
                break
    except ConnectionError:
        pass
    finally:
        writer.close()
        try:
            # Without it, a reset found by the close is left in a future
            # nobody reads ("Future exception was never retrieved").
            await writer.wait_closed()
        except ConnectionError:
            pass


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
    asyncio.run(main(*_http.command_line(__doc__)))
