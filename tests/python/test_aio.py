"""ringkit.aio: awaitable ops on any asyncio loop."""
import asyncio
import errno
import gc
import os
import select
import socket
import time

import pytest

import ringkit
from ringkit import aio
from conftest import fd_count


def run(coro):
    return asyncio.run(coro)


def test_file_ops(tmp_path, datafile):
    path, data = datafile

    async def main():
        fd = await aio.open(path)
        buf = bytearray(100)
        assert await aio.read(fd, buf, 10) == 100 and bytes(buf) == data[10:110]
        assert await aio.pread(fd, 5, 0) == data[:5]
        a, b = bytearray(3), bytearray(3)
        assert await aio.readv(fd, [a, b], 0) == 6 and bytes(a + b) == data[:6]
        st = await aio.statx(path)
        assert st.size == len(data)
        await aio.close_fd(fd)
        out = tmp_path / "out"
        wfd = await aio.open(out, os.O_RDWR | os.O_CREAT, 0o600)
        assert await aio.write(wfd, b"hello", 0) == 5
        assert await aio.writev(wfd, [b" ", b"world"], 5) == 6
        await aio.fsync(wfd)
        await aio.fsync(wfd, datasync=True)
        await aio.fallocate(wfd, 0, 4096)
        await aio.fadvise(wfd, 0, 4096, os.POSIX_FADV_NORMAL)
        region = ringkit.Region(4096, 1)
        c = region.alloc()
        assert await aio.read_chunk(wfd, region, c, 0, 11) == 11
        assert bytes(region.view(c, 11)) == b"hello world"
        assert await aio.write_chunk(wfd, region, c, 100, 5) == 5
        region.free(c)
        region.close()
        await aio.close_fd(wfd)
        await aio.mkdir(tmp_path / "d")
        await aio.rename(out, tmp_path / "d" / "o")
        await aio.link(tmp_path / "d" / "o", tmp_path / "d" / "h")
        await aio.symlink("o", tmp_path / "d" / "s")
        for n in ("o", "h", "s"):
            await aio.unlink(tmp_path / "d" / n)
        await aio.unlink(tmp_path / "d", rmdir=True)
        assert not (tmp_path / "d").exists()
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        os.write(w1, b"pipe data")
        assert await aio.tee(r1, w2, 9) == 9
        assert await aio.splice(r1, -1, w2, -1, 9) == 9
        assert os.read(r2, 100) == b"pipe datapipe data"
        assert await aio.poll(w1, select.POLLOUT) & select.POLLOUT
        t0 = time.monotonic()
        await aio.sleep(0.02)
        assert time.monotonic() - t0 >= 0.015
        assert await aio.nop() == 0
        for x in (r1, w1, r2, w2):
            os.close(x)
        aio.close()

    run(main())


def test_errors_raise_oserror_subclasses(tmp_path):
    async def main():
        with pytest.raises(FileNotFoundError):
            await aio.open(tmp_path / "missing")
        with pytest.raises(FileExistsError):
            await aio.mkdir(tmp_path)
        with pytest.raises(OSError) as e:
            await aio.read(10_000, bytearray(1))
        assert e.value.errno == errno.EBADF
        with pytest.raises(TypeError):
            await aio.read(0, b"read-only")
        aio.close()

    run(main())


def test_path_errors_name_their_files(tmp_path):
    # As os.open and os.rename: filename, and filename2 for two-path ops.
    missing, there = tmp_path / "missing", tmp_path / "there"
    there.write_bytes(b"")

    async def raises(cls, aw):
        with pytest.raises(cls) as e:
            await aw
        return e.value

    async def main():
        e = await raises(FileNotFoundError, aio.open(missing))
        assert e.filename == str(missing) and e.filename2 is None
        assert str(missing) in str(e)
        e = await raises(FileNotFoundError, aio.open(os.fsencode(missing)))
        assert e.filename == os.fsencode(missing)
        e = await raises(FileNotFoundError, aio.statx(str(missing)))
        assert e.filename == str(missing)
        e = await raises(FileNotFoundError, aio.unlink(missing))
        assert e.filename == str(missing)
        e = await raises(FileExistsError, aio.mkdir(there))
        assert e.filename == str(there)
        e = await raises(FileNotFoundError, aio.rename(missing, tmp_path / "new"))
        assert (e.filename, e.filename2) == (str(missing), str(tmp_path / "new"))
        e = await raises(FileNotFoundError, aio.link(missing, tmp_path / "new"))
        assert (e.filename, e.filename2) == (str(missing), str(tmp_path / "new"))
        e = await raises(FileExistsError, aio.symlink("target", there))
        assert (e.filename, e.filename2) == ("target", str(there))
        # A prep-time refusal names it too.
        e = await raises(OSError, aio.open("a" * 5000))
        assert e.errno == errno.ENAMETOOLONG and e.filename == "a" * 5000
        aio.close()

    run(main())


def test_many_concurrent_reads(datafile):
    path, data = datafile

    async def main():
        fd = os.open(path, os.O_RDONLY)

        async def one(i):
            return await aio.pread(fd, 512, i * 512)

        parts = await asyncio.gather(*[one(i) for i in range(128)])
        assert b"".join(parts) == data
        os.close(fd)
        aio.close()

    run(main())


def test_cancel_keeps_buffer_pinned_until_final_completion():
    async def main():
        rfd, wfd = os.pipe()
        buf = bytearray(8)
        task = asyncio.create_task(aio.read(rfd, buf))
        await asyncio.sleep(0.02)
        assert aio.ring().ring.stats()["inflight"] == 1
        task.cancel()
        await asyncio.sleep(0)
        with pytest.raises(asyncio.CancelledError):
            await task
        # The task finished only after the op's final completion: the ring
        # no longer holds the buffer.
        assert aio.ring().ring.stats()["inflight"] == 0
        buf.append(0)
        os.close(rfd)
        os.close(wfd)
        aio.close()

    run(main())


def test_cancel_racing_a_completion_still_cancels():
    async def main():
        rfd, wfd = os.pipe()
        buf = bytearray(8)
        task = asyncio.create_task(aio.read(rfd, buf))
        await asyncio.sleep(0.02)
        os.write(wfd, b"data")
        task.cancel()  # the data may already be there: still CancelledError
        with pytest.raises(asyncio.CancelledError):
            await task
        assert aio.ring().ring.stats()["inflight"] == 0
        os.close(rfd)
        os.close(wfd)
        aio.close()

    run(main())


def test_repeated_cancellation_waits_for_completion():
    async def main():
        rfd, wfd = os.pipe()
        task = asyncio.create_task(aio.read(rfd, bytearray(4)))
        await asyncio.sleep(0.01)
        for _ in range(5):
            task.cancel()
            await asyncio.sleep(0)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert aio.ring().ring.stats()["inflight"] == 0
        os.close(rfd)
        os.close(wfd)
        aio.close()

    run(main())


def test_wait_for_timeout_cancels_the_op():
    async def main():
        rfd, wfd = os.pipe()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(aio.read(rfd, bytearray(4)), 0.05)
        assert aio.ring().ring.stats()["inflight"] == 0
        os.close(rfd)
        os.close(wfd)
        aio.close()

    run(main())


def test_cancelled_accept_leaks_no_fd():
    base = fd_count()

    async def main():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        s.setblocking(False)
        tasks = [asyncio.create_task(aio.accept(s.fileno())) for _ in range(5)]
        await asyncio.sleep(0.02)
        c = socket.create_connection(s.getsockname())
        await asyncio.sleep(0.02)
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        accepted = [r for r in results if isinstance(r, tuple)]
        for fd, _ in accepted:
            os.close(fd)
        c.close()
        s.close()
        aio.close()

    run(main())
    gc.collect()
    assert fd_count() == base


def test_one_ring_per_loop():
    rings = []

    async def grab():
        rings.append(aio.ring())
        assert aio.ring() is rings[-1]
        await aio.nop()
        aio.close()

    run(grab())
    run(grab())
    assert rings[0] is not rings[1]
    assert rings[0].closed and rings[1].closed


def test_loop_collection_closes_the_ring_without_warning():
    async def main():
        await aio.nop()
        return aio.ring()

    r = run(main())
    gc.collect()
    assert r.closed


def test_close_with_pending_ops_cancels_awaiters():
    async def main():
        rfd, wfd = os.pipe()
        task = asyncio.create_task(aio.read(rfd, bytearray(4)))
        await asyncio.sleep(0.01)
        aio.close()
        with pytest.raises(asyncio.CancelledError):
            await task
        os.close(rfd)
        os.close(wfd)

    run(main())


def test_socket_echo_with_multishot_accept_and_receiver():
    async def main():
        s = await aio.socket()
        await aio.bind(s, ("127.0.0.1", 0))
        await aio.listen(s, 16)
        probe = socket.socket(fileno=os.dup(s))
        port = probe.getsockname()[1]
        probe.close()

        pool = aio.BufferPool(chunk_size=256, count=2)  # small: forces ENOBUFS re-arms

        async def serve_one(c):
            try:
                async for data in pool.recv(c):
                    await aio.sendall(c, data)
            finally:
                os.close(c)

        async def server():
            handlers = []
            async for c in aio.accept_iter(s):
                handlers.append(asyncio.create_task(serve_one(c)))
                if len(handlers) == 3:
                    break
            await asyncio.gather(*handlers)

        st = asyncio.create_task(server())

        async def client(i):
            c = await aio.socket()
            await aio.connect(c, ("127.0.0.1", port))
            payload = bytes([i]) * 20000
            await aio.sendall(c, payload)
            await aio.shutdown(c)
            got = bytearray()
            buf = bytearray(4096)
            while True:
                n = await aio.recv(c, buf)
                if n == 0:
                    break
                got += buf[:n]
            await aio.close_fd(c)
            return bytes(got) == payload

        assert all(await asyncio.gather(*[client(i) for i in range(3)]))
        await st
        pool.close()
        os.close(s)
        aio.close()

    run(main())
