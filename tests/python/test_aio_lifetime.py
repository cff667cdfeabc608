"""ringkit.aio: a connection's fd closed while its ops are in flight, and its
number reused by the next accept. No op of the old connection may touch the
new one: not its data, not its receives, not its errors."""
import asyncio
import os
import socket

import pytest

from ringkit import aio
from conftest import listener


async def _accept_same_number(lsock, old_fd, client):
    """Connects client (made before old_fd was closed, so that it does not
    take the number) and accepts it through aio: the kernel gives the lowest
    free number, old_fd."""
    client.connect(lsock.getsockname())
    fd, _ = await aio.accept(lsock.fileno())
    if fd != old_fd:
        # The number went elsewhere first (the fallback's duplicates take
        # free numbers too): give it to the new connection as a reused
        # number would be.
        os.dup2(fd, old_fd)
        os.close(fd)
        fd = old_fd
    return client, fd


async def _recv_exactly(sock, n, timeout=10):
    """n bytes from sock without blocking the loop (which submits our sends)."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    got = bytearray()
    while len(got) < n:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, n - len(got)), timeout)
        assert chunk, "connection ended after %d of %d bytes" % (len(got), n)
        got += chunk
    return bytes(got)


async def _quiet_for(sock, seconds):
    """What sock receives within `seconds` (it should be nothing)."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    try:
        return await asyncio.wait_for(loop.sock_recv(sock, 65536), seconds)
    except asyncio.TimeoutError:
        return b""


def test_close_with_stream_multishot_and_sends_in_flight():
    async def main():
        lsock, _ = listener()
        with lsock, aio.BufferPool(4096, 64) as pool:
            old_client = socket.create_connection(lsock.getsockname())
            old_fd, _ = await aio.accept(lsock.fileno())

            # In flight on the old connection: a RecvStream, a second
            # multishot receive (an iterator in a task) and sends queued this
            # very pass, then the fd closed at once, in the same pass.
            stream = pool.stream(old_fd)
            got_old = []

            async def drain_old():
                async for data in pool.recv(old_fd):
                    got_old.append(data)

            it_task = asyncio.create_task(drain_old())
            await asyncio.sleep(0)  # the iterator's receive is armed
            aio.send_nowait(old_fd, b"old-1 ")
            aio.send_nowait(old_fd, b"old-2")
            it_task.cancel()
            new_client = socket.socket()
            stream.close()
            os.close(old_fd)
            await asyncio.gather(it_task, return_exceptions=True)

            new_client, new_fd = await _accept_same_number(lsock, old_fd, new_client)
            # The old client got what was queued for it before the close.
            assert await _recv_exactly(old_client, 11) == b"old-1 old-2"
            # The old client resets: its late errors belong to nobody now.
            old_client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  b"\x01\x00\x00\x00\x00\x00\x00\x00")
            old_client.close()

            # The new connection sees none of it and works on its own.
            assert await _quiet_for(new_client, 0.2) == b""
            new_stream = pool.stream(new_fd)
            new_client.sendall(b"ping")
            assert await asyncio.wait_for(new_stream.recv(), 5) == b"ping"
            aio.send_nowait(new_fd, b"pong")
            assert await _recv_exactly(new_client, 4) == b"pong"
            assert got_old == []  # the old receive never saw the new data
            new_stream.close()
            os.close(new_fd)
            new_client.close()
        aio.close()

    asyncio.run(main())


def test_send_error_of_a_closed_connection_is_not_the_next_ones():
    """A send_nowait that fails after its connection was closed (the peer
    reset it) must not be raised by the next connection with that fd."""
    async def main():
        lsock, _ = listener()
        with lsock, aio.BufferPool(4096, 16) as pool:
            for _ in range(20):
                client = socket.create_connection(lsock.getsockname())
                fd, _ = await aio.accept(lsock.fileno())
                stream = pool.stream(fd)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()  # reset: the sends below fail (EPIPE/ECONNRESET)
                await asyncio.sleep(0.01)
                for _ in range(3):
                    aio.send_nowait(fd, b"x" * 1000)
                client2 = socket.socket()
                stream.close()
                os.close(fd)
                await asyncio.sleep(0.01)  # the failures arrive
                # The next connection, same fd number, sends without error.
                client2, fd2 = await _accept_same_number(lsock, fd, client2)
                aio.send_nowait(fd2, b"ok")
                await asyncio.sleep(0)
                aio.send_nowait(fd2, b"!")
                assert await _recv_exactly(client2, 3) == b"ok!"
                await aio.close_fd(fd2)
                client2.close()
        aio.close()

    asyncio.run(main())


def test_large_send_in_flight_survives_close_and_reuse():
    """A send_nowait bigger than the socket buffers is still in flight when
    the fd is closed; it finishes on the old connection only."""
    async def main():
        lsock, _ = listener()
        with lsock, aio.BufferPool(4096, 16) as pool:
            old_client = socket.create_connection(lsock.getsockname())
            old_fd, _ = await aio.accept(lsock.fileno())
            stream = pool.stream(old_fd)
            big = os.urandom(4 << 20)
            aio.send_nowait(old_fd, big)
            new_client = socket.socket()
            stream.close()
            # Closed through the ring: ordered after the send, which holds
            # the socket until it is done.
            await aio.close_fd(old_fd)
            new_client, new_fd = await _accept_same_number(lsock, old_fd, new_client)
            assert await _recv_exactly(old_client, len(big)) == big
            assert await _quiet_for(new_client, 0.1) == b""
            os.close(new_fd)
            new_client.close()
            old_client.close()
        aio.close()

    asyncio.run(main())


def test_cancel_op_of_an_op_that_just_ended_is_no_error():
    # A transport's send fails and its receive ended in the same reaped
    # batch: stopping the receive then names an op that is gone.
    async def main():
        r = aio.ring()
        op = r.ring.nop()
        r.submit()
        while r.ring.stats()["inflight"]:
            await asyncio.sleep(0.001)
        with pytest.raises(FileNotFoundError):
            r.ring.cancel(op)  # the ring's own answer: no live op
        r.cancel_op(op)        # the aio layer's: nothing left to stop
        return True

    assert asyncio.run(main())
