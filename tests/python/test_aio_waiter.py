"""ringkit.aio's C waiters (ringkit._aioloop): the future protocol asyncio
relies on, call-time argument errors, buffer pinning, cancellation and
exceptions escaping from tasks the reaping driver resumes."""
import asyncio
import gc
import os
import random
import sys

import pytest

import ringkit
from ringkit import _aioloop, aio


def run(coro):
    return asyncio.run(coro)


def waiters_alive():
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is _aioloop.Waiter)


def test_future_protocol(datafile):
    path, data = datafile

    async def main():
        loop = asyncio.get_running_loop()
        fd = os.open(path, os.O_RDONLY)
        buf = bytearray(16)
        w = aio.read(fd, buf, 3)
        assert isinstance(w, _aioloop.Waiter)
        assert not w.done() and not w.cancelled() and w.res is None
        assert w.get_loop() is loop and w.id >= 0
        with pytest.raises(asyncio.InvalidStateError):
            w.result()
        seen = []
        w.add_done_callback(lambda f: seen.append(("a", f.result())))
        w.add_done_callback(lambda f: seen.append(("b", f.done())))
        extra = seen.append
        w.add_done_callback(extra)
        assert w.remove_done_callback(extra) == 1
        assert await w == 16 and bytes(buf) == data[3:19]
        assert w.done() and w.result() == 16 and w.exception() is None and w.res == 16
        assert seen == [("a", 16), ("b", True)]
        assert await w == 16  # awaiting a finished waiter again gives its result
        late = loop.create_future()
        w.add_done_callback(lambda f: late.set_result(f.result()))
        assert await late == 16  # callbacks added after completion run soon
        assert "done" in repr(w)
        os.close(fd)
        aio.close()

    run(main())


def test_waiter_is_a_coroutine_for_create_task_and_gather(datafile):
    path, data = datafile

    async def main():
        fd = os.open(path, os.O_RDONLY)
        bufs = [bytearray(8) for _ in range(4)]
        task = asyncio.create_task(aio.read(fd, bufs[0], 0))
        fut = asyncio.ensure_future(aio.read(fd, bufs[1], 8))
        got = await asyncio.gather(task, fut, aio.read(fd, bufs[2], 16),
                                   asyncio.wait_for(aio.read(fd, bufs[3], 24), 5))
        assert got == [8, 8, 8, 8] and b"".join(bufs) == data[:32]
        os.close(fd)
        aio.close()

    run(main())


def test_stepping_by_hand_yields_the_waiter_until_done():
    async def main():
        rfd, wfd = os.pipe()
        w = aio.read(rfd, bytearray(4))
        assert w.send(None) is w and w._asyncio_future_blocking
        w._asyncio_future_blocking = False
        os.write(wfd, b"abcd")
        while not w.done():
            await asyncio.sleep(0.001)
        with pytest.raises(StopIteration) as stop:
            w.send(None)
        assert stop.value.value == 4
        with pytest.raises(ValueError):
            w.throw(ValueError("thrown"))
        assert w.close() is None
        os.close(rfd)
        os.close(wfd)
        aio.close()

    run(main())


def test_errors_at_call_time(tmp_path):
    async def main():
        rfd, wfd = os.pipe()
        with pytest.raises(TypeError):
            aio.read(rfd, b"read-only")
        with pytest.raises(TypeError):
            aio.read(rfd, memoryview(bytearray(8))[::2])
        with pytest.raises(TypeError):
            aio.read("not an fd", bytearray(4))
        with pytest.raises(TypeError):
            aio.read(rfd, bytearray(4), "offset")
        with pytest.raises(TypeError):
            aio.read(rfd)
        with pytest.raises(OSError) as e:
            aio.read(-1, bytearray(4))
        assert e.value.errno == 9  # EBADF, before anything is queued
        with pytest.raises(ValueError):
            aio.send(wfd, b"x", 1 << 40)
        with pytest.raises(TypeError):
            aio.write(wfd, 1234)
        assert aio.ring().ring.stats()["inflight"] == 0
        os.close(rfd)
        os.close(wfd)
        aio.close()

    run(main())
    with pytest.raises(RuntimeError):
        aio.read(0, bytearray(1))


def test_errors_at_completion(tmp_path):
    async def main():
        dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        w = aio.read(dfd, bytearray(8), 0)
        with pytest.raises(IsADirectoryError):
            await w
        assert isinstance(w.exception(), IsADirectoryError) and w.res < 0
        os.close(dfd)
        r = aio.ring()
        # raw: a negative result is the value (a timeout completes with -ETIME)
        assert await r.wait(r.ring.timeout(0.001), raw=True) == -62
        aio.close()

    run(main())


def test_buffer_pinned_until_final_completion_even_unreferenced():
    async def main():
        rfd, wfd = os.pipe()
        buf = bytearray(4)
        w = aio.read(rfd, buf)
        await asyncio.sleep(0.01)
        with pytest.raises(BufferError):
            buf.extend(b"more")
        del buf
        gc.collect()
        os.write(wfd, b"late")
        assert await w == 4
        # After the final completion nothing holds the buffer any more.
        buf2 = bytearray(4)
        assert await aio.write(wfd, buf2) == 4
        buf2.extend(b"ok")
        assert aio.ring().ring._pins == {}
        os.close(rfd)
        os.close(wfd)
        aio.close()

    run(main())


def test_keyboard_interrupt_in_a_woken_task_loses_no_sibling_completion(datafile):
    path, data = datafile
    fd = os.open(path, os.O_RDONLY)
    loop = asyncio.new_event_loop()

    async def boom():
        await aio.read(fd, bytearray(10), 0)
        raise KeyboardInterrupt

    async def ok(i):
        buf = bytearray(10)
        n = await aio.read(fd, buf, i * 10)
        return bytes(buf[:n])

    try:
        first = loop.create_task(boom())
        rest = [loop.create_task(ok(i)) for i in range(8)]
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(first)
        got = loop.run_until_complete(asyncio.gather(*rest))
        assert got == [data[i * 10:i * 10 + 10] for i in range(8)]
        aio.close(loop)
    finally:
        loop.close()
        os.close(fd)


def test_random_cancellations_lose_nothing(datafile):
    path, data = datafile
    rnd = random.Random(7)

    async def reader(fd, i, out):
        buf = bytearray(64)
        off = (i * 64) % (len(data) - 64)
        n = await aio.read(fd, buf, off)
        assert bytes(buf[:n]) == data[off:off + n]
        out.append(i)

    async def main():
        fd = os.open(path, os.O_RDONLY)
        rfd, wfd = os.pipe()
        done, cancelled = [], 0
        for _ in range(20):
            tasks = [asyncio.create_task(reader(fd, i, done)) for i in range(64)]
            tasks += [asyncio.create_task(aio.read(rfd, bytearray(4))) for _ in range(4)]
            await asyncio.sleep(0)
            for t in tasks:
                if rnd.random() < 0.3 or t.get_coro().__class__ is _aioloop.Waiter:
                    t.cancel()
            res = await asyncio.gather(*tasks, return_exceptions=True)
            cancelled += sum(isinstance(r, asyncio.CancelledError) for r in res)
            assert all(r is None or isinstance(r, (int, asyncio.CancelledError)) for r in res)
        r = aio.ring()
        assert r.ring.stats()["inflight"] == 0 and r.ring._pins == {} and r._drv.pending == 0
        assert len(done) + cancelled == 20 * 68 and cancelled >= 80
        os.close(fd)
        os.close(rfd)
        os.close(wfd)
        aio.close()

    run(main())


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is 3.11+")
def test_timeout_and_taskgroup():
    async def main():
        rfd, wfd = os.pipe()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.02):
                await aio.read(rfd, bytearray(4))
        with pytest.raises(ExceptionGroup):
            async with asyncio.TaskGroup() as tg:
                tg.create_task(aio.read(rfd, bytearray(4)))
                tg.create_task(aio.read(rfd, bytearray(4)))
                tg.create_task(aio.read(wfd, bytearray(4)))  # EBADF: cancels the rest
        assert aio.ring().ring.stats()["inflight"] == 0
        os.close(rfd)
        os.close(wfd)
        aio.close()

    run(main())


def test_waiters_are_collected():
    base = waiters_alive()

    async def main():
        rfd, wfd = os.pipe()
        for _ in range(200):
            w = aio.write(wfd, b"x")
            await w
            assert await aio.read(rfd, bytearray(1)) == 1
        t = asyncio.create_task(aio.read(rfd, bytearray(1)))
        await asyncio.sleep(0)
        t.cancel()
        await asyncio.gather(t, return_exceptions=True)
        os.close(rfd)
        os.close(wfd)
        aio.close()

    run(main())
    assert waiters_alive() == base


def test_ring_closed_under_a_running_drain_is_safe(datafile):
    path, _ = datafile

    async def closer(fd):
        await aio.read(fd, bytearray(4), 0)
        aio.close()  # from inside a task the driver resumed

    async def other(fd):
        return await aio.read(fd, bytearray(4), 4)

    async def main():
        fd = os.open(path, os.O_RDONLY)
        rfd, wfd = os.pipe()
        tasks = [asyncio.create_task(closer(fd)), asyncio.create_task(other(fd)),
                 asyncio.create_task(aio.read(rfd, bytearray(4)))]
        res = await asyncio.gather(*tasks, return_exceptions=True)
        assert res[0] is None
        assert res[1] == 4 or isinstance(res[1], asyncio.CancelledError)
        assert isinstance(res[2], asyncio.CancelledError)
        # A fresh ring serves the loop afterwards.
        assert await aio.read(fd, bytearray(4), 0) == 4
        os.close(fd)
        os.close(rfd)
        os.close(wfd)
        aio.close()

    run(main())


def test_ring_ops_and_waiters_mix_with_plain_ring_use():
    async def main():
        r = aio.ring()
        ids = [r.ring.nop() for _ in range(3)]
        got = await asyncio.gather(*[r.wait(i) for i in ids])
        assert got == [0, 0, 0]
        with pytest.raises(ValueError):
            r.wait(-1)
        i = r.ring.nop()
        w = r.wait(i)
        with pytest.raises(ValueError):
            r.wait(i)  # one waiter per op
        await w
        aio.close()
        with pytest.raises(ValueError):
            r.wait(0)

    run(main())


def test_loops_in_two_threads_keep_their_own_rings(datafile):
    import threading
    path, data = datafile
    results, rings = {}, {}

    async def work(name):
        fd = os.open(path, os.O_RDONLY)
        rings[name] = aio.ring()
        got = []

        async def reader(k):
            buf = bytearray(32)
            for i in range(k, 400, 8):
                off = (i * 32) % (len(data) - 32)
                assert await aio.read(fd, buf, off) == 32 and bytes(buf) == data[off:off + 32]
                assert aio.ring() is rings[name]
                got.append(i)

        await asyncio.gather(*[reader(k) for k in range(8)])
        os.close(fd)
        results[name] = len(got)
        aio.close()

    threads = [threading.Thread(target=lambda n=n: asyncio.run(work(n))) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": 400, "b": 400} and rings["a"] is not rings["b"]
