"""A minimal HTTP/1.1 keep-alive server on ringkit.aio: multishot accept, a
shared pool of provided buffers for multishot receives, one coroutine per
connection, the same small response to every request. 127.0.0.1 only.

    python3 http_aio.py PORT [SECONDS]    (runs until SIGINT/SIGTERM or SECONDS)

Requests are read by _http.parse (shared with http_asyncio.py): 400 for what
is not HTTP/1.x, Connection: close and HTTP/1.0 close after the answer.
"""
import asyncio
import os
import signal
import socket

import _http
from ringkit import aio


async def serve(fd, pool):
    stream = pool.stream(fd)
    pending = b""
    try:
        while True:
            data = await stream.recv()
            if not data:
                break
            # Answer every complete request in what arrived (pipelining).
            answers, pending, close = _http.parse(pending + data if pending else data)
            if answers:
                aio.send_nowait(fd, answers)
            if close:
                break  # the answers still go out: send_nowait keeps a duplicate fd
    except ConnectionError:
        pass
    finally:
        stream.close()
        os.close(fd)


async def main(port, seconds):
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(1024)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
    pool = aio.BufferPool(4096, 512)
    conns = set()

    async def acceptor():
        async for fd in aio.accept_iter(lsock.fileno()):
            task = asyncio.create_task(serve(fd, pool))
            conns.add(task)
            task.add_done_callback(conns.discard)

    acc = asyncio.create_task(acceptor())
    print("http_aio listening on 127.0.0.1:%d" % lsock.getsockname()[1], flush=True)
    try:
        await asyncio.wait_for(stop, seconds)
    except (asyncio.CancelledError, asyncio.TimeoutError):
        pass
    acc.cancel()
    for t in list(conns):
        t.cancel()
    await asyncio.gather(acc, *conns, return_exceptions=True)
    pool.close()
    aio.close()
    lsock.close()


if __name__ == "__main__":
    asyncio.run(main(*_http.command_line(__doc__)))
