"""ringkit.aio at its limits: more ops than the op table holds, aio.close()
with ops in flight, a Ring inherited through fork()."""
import asyncio
import gc
import os
import socket
import subprocess
import sys
import textwrap

import pytest

import ringkit
from ringkit import aio
from conftest import listener


def test_more_reads_than_the_op_table_holds(datafile):
    path, data = datafile

    async def main():
        r = aio.ring()
        cap = r.ring.stats()["capacity"]
        fd = os.open(path, os.O_RDONLY)
        n = cap + cap // 4 + 76
        try:
            # Hot C ops and Python-level ops, mixed, all at once.
            coros = [aio.pread(fd, 16, (i * 16) % len(data)) if i % 2 else
                     aio.readv(fd, [bytearray(16)], (i * 16) % len(data))
                     for i in range(n)]
            got = await asyncio.gather(*coros)
        finally:
            os.close(fd)
        for i, g in enumerate(got):
            off = (i * 16) % len(data)
            if i % 2:
                assert g == data[off:off + 16]
            else:
                assert g == 16
        assert r.ring.stats()["inflight"] == 0
        assert r._drv.backlog == 0
    asyncio.run(main())


def test_waiting_for_a_slot_is_first_come_first_served():
    """Ops that found the table full get slots in the order they asked."""
    async def main():
        r = aio.ring(entries=8)  # an op table of 32
        cap = r.ring.stats()["capacity"]
        rfd, wfd = os.pipe()
        try:
            blockers = [asyncio.ensure_future(aio.read(rfd, bytearray(1)))
                        for _ in range(cap)]
            await asyncio.sleep(0)
            order = []

            async def nop(i):
                await aio.nop()
                order.append(i)
            later = [asyncio.ensure_future(nop(i)) for i in range(40)]
            await asyncio.sleep(0.05)
            assert order == [] and r._drv.backlog > 0
            os.write(wfd, b"x" * cap)
            await asyncio.gather(*blockers, *later)
            assert order == list(range(40))
        finally:
            os.close(rfd)
            os.close(wfd)
        aio.close()
    asyncio.run(main())


def test_a_cancelled_task_waiting_for_a_slot_passes_its_turn_on():
    async def main():
        r = aio.ring(entries=4)  # an op table of 16
        cap = r.ring.stats()["capacity"]
        rfd, wfd = os.pipe()
        try:
            blockers = [asyncio.ensure_future(aio.read(rfd, bytearray(1)))
                        for _ in range(cap)]
            await asyncio.sleep(0)
            waiting = [asyncio.ensure_future(aio.nop()) for _ in range(5)]
            await asyncio.sleep(0.01)
            waiting[0].cancel()
            waiting[2].cancel()
            os.write(wfd, b"x" * cap)
            res = await asyncio.gather(*waiting, return_exceptions=True)
            assert [type(x) for x in res] == [asyncio.CancelledError, int,
                                              asyncio.CancelledError, int, int]
            await asyncio.gather(*blockers)
            assert r._drv.backlog == 0
        finally:
            os.close(rfd)
            os.close(wfd)
        aio.close()
    asyncio.run(main())


def test_send_nowait_with_a_full_table_keeps_order():
    async def main():
        r = aio.ring(entries=4)
        cap = r.ring.stats()["capacity"]
        lsock, _ = listener()
        client = socket.create_connection(lsock.getsockname())
        fd, _ = await aio.accept(lsock.fileno())
        rfd, wfd = os.pipe()
        try:
            blockers = [asyncio.ensure_future(aio.read(rfd, bytearray(1)))
                        for _ in range(cap)]
            await asyncio.sleep(0)
            for i in range(100):
                aio.send_nowait(fd, b"%03d," % i)
            aio.detach(fd)
            os.close(fd)  # safe: what waits goes out on a duplicate
            os.write(wfd, b"x" * cap)
            await asyncio.gather(*blockers)
            loop = asyncio.get_running_loop()
            client.setblocking(False)
            want = b"".join(b"%03d," % i for i in range(100))
            got = b""
            while len(got) < len(want):
                chunk = await asyncio.wait_for(loop.sock_recv(client, 4096), 5)
                assert chunk
                got += chunk
            assert got == want
        finally:
            os.close(rfd)
            os.close(wfd)
            client.close()
            lsock.close()
        aio.close()
    asyncio.run(main())


def test_close_releases_pinned_buffers_at_once():
    async def main():
        rfd, wfd = os.pipe()
        buf = bytearray(16)
        task = asyncio.ensure_future(aio.read(rfd, buf))
        await asyncio.sleep(0.01)
        aio.close()
        with pytest.raises(asyncio.CancelledError):
            await task
        del task
        buf.extend(b"resizable")  # BufferError while anything still pins it
        os.close(rfd)
        os.close(wfd)
    gc.disable()  # no cycle collection may be what frees it
    try:
        asyncio.run(main())
    finally:
        gc.enable()


def test_ring_inherited_through_fork_is_quiet_and_freed():
    """repr() and __del__ never raise; the child's copy is freed by close()
    without a warning about it."""
    code = textwrap.dedent("""
        import gc, os, sys, warnings
        import ringkit
        warnings.simplefilter("error")
        r = ringkit.Ring(8)
        pid = os.fork()
        if pid == 0:
            try:
                text = repr(r)
                assert "ringkit.Ring" in text, text
                del r
                gc.collect()
            except BaseException as e:
                print("child:", repr(e), file=sys.stderr)
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        print(repr(r))
        r.close()
        print(repr(r))
    """)
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr
    assert "closed" in out.stdout.splitlines()[-1]


def test_repr_and_del_of_a_half_made_ring_do_not_raise():
    with pytest.raises(TypeError):
        ringkit.Ring(8, bogus=1)
    r = ringkit.Ring.__new__(ringkit.Ring)
    assert "closed" in repr(r)
    r.__del__()
