"""A minimal HTTP/1.1 keep-alive server on ringkit.aio: multishot accept, a
shared pool of provided buffers for multishot receives, one coroutine per
connection, the same small response to every request. 127.0.0.1 only.

    python3 http_aio.py PORT [SECONDS]    (runs until SIGINT/SIGTERM or SECONDS)
"""
import asyncio
import os
import signal
import socket
import sys

from ringkit import aio

BODY = b"Hello, world!\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
            % (len(BODY), BODY))


async def serve(fd, pool):
    stream = pool.stream(fd)
    pending = b""
    try:
        while True:
            data = await stream.recv()
            if not data:
                break
            pending += data
            # Answer every complete request in what arrived (pipelining).
            n = pending.count(b"\r\n\r\n")
            if n:
                pending = pending[pending.rfind(b"\r\n\r\n") + 4:]
                aio.send_nowait(fd, RESPONSE * n)
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
    if len(sys.argv) < 2:
        sys.exit("usage: http_aio.py PORT [SECONDS]")
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else None))
