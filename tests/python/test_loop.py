"""ringkit.aio.EventLoop itself: what the CPython suites do not cover (the
ring under the loop, Ctrl-C in a blocking wait, descriptors closed right
after they stop being watched, the loop's lifetime)."""
import asyncio
import os
import signal
import socket
import threading
import time

import pytest

from ringkit import aio
from conftest import fd_count


def test_backend_repr_and_the_loops_own_ring():
    loop = aio.new_event_loop()
    try:
        assert loop.backend in ("uring", "fallback")
        assert "backend=%s" % loop.backend in repr(loop)

        async def main():
            r = aio.ring()
            assert r._efd == -1  # reaped by the loop itself, no eventfd
            rfd, wfd = os.pipe()
            os.write(wfd, b"hi")
            buf = bytearray(2)
            assert await aio.read(rfd, buf) == 2 and buf == b"hi"
            aio.close()  # the loop's own ring: closes with the loop only
            assert not r.closed
            os.close(rfd)
            os.close(wfd)
            return r
        r = loop.run_until_complete(main())
    finally:
        loop.close()
    assert r.closed
    assert "closed=True" in repr(loop)


def test_closing_the_loop_gives_its_descriptors_back():
    before = fd_count()
    for _ in range(3):
        loop = aio.new_event_loop()
        loop.run_until_complete(asyncio.sleep(0.01))
        loop.close()
    assert fd_count() == before


def test_ctrl_c_interrupts_a_blocking_wait():
    def interrupt():
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=interrupt).start()
    t = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        aio.run(asyncio.sleep(30))
    assert time.monotonic() - t < 5


def test_signal_handler_and_threadsafe_wakeup():
    async def main():
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, got.set_result, "usr1")
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        assert await asyncio.wait_for(got, 5) == "usr1"
        loop.remove_signal_handler(signal.SIGUSR1)
        woken = loop.create_future()
        threading.Timer(0.05, loop.call_soon_threadsafe, (woken.set_result, 1)).start()
        assert await asyncio.wait_for(woken, 5) == 1
        assert await loop.run_in_executor(None, sum, [1, 2, 3]) == 6
    aio.run(main())


def test_remove_reader_then_close_at_once():
    """asyncio closes a descriptor right after it stops watching it; the
    number's next file must not be watched by the old poll."""
    async def main():
        loop = asyncio.get_running_loop()
        for _ in range(50):
            a, b = socket.socketpair()
            loop.add_reader(a, lambda: None)
            loop.remove_reader(a)
            n = a.fileno()
            a.close()
            c, d = socket.socketpair()  # likely takes the number again
            hits = []
            loop.add_reader(c, hits.append, 1)
            d.send(b"x")
            for _ in range(20):
                await asyncio.sleep(0)
                if hits:
                    break
            assert hits, "a reader on a reused fd number (%d) never fired" % n
            loop.remove_reader(c)
            for s in (b, c, d):
                s.close()
    aio.run(main())


def test_level_triggered_readiness():
    """A reader that leaves data unread is called again, as with epoll."""
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        b.send(b"abcdef")
        seen = []

        def one_byte():
            seen.append(a.recv(1))
            if len(seen) == 6:
                loop.remove_reader(a)
        loop.add_reader(a, one_byte)
        for _ in range(100):
            await asyncio.sleep(0)
            if len(seen) == 6:
                break
        assert b"".join(seen) == b"abcdef"
        a.close()
        b.close()
    aio.run(main())


def test_install_sets_the_policy():
    aio.install()
    try:
        async def kind():
            return type(asyncio.get_running_loop())
        assert asyncio.run(kind()) is aio.EventLoop
    finally:
        asyncio.set_event_loop_policy(None)


class _Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class _Collect(asyncio.Protocol):
    def __init__(self, want):
        self.want, self.got = want, bytearray()
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.got += data
        if len(self.got) >= self.want and not self.done.done():
            self.done.set_result(bytes(self.got))

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed early"))


def test_many_connections_at_once_while_transports_send():
    # Connects wait on poll ops while the transports' sends and receives
    # complete around them: no poll completion may be lost to another reap.
    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        async def one(i):
            msg = (b"%d:" % i) * (1 + i * 37)
            tr, pr = await loop.create_connection(lambda: _Collect(len(msg)), "127.0.0.1", port)
            tr.write(msg)
            got = await pr.done
            tr.close()
            return got == msg

        ok = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(200))), 30)
        server.close()
        await server.wait_closed()
        return ok

    assert all(aio.run(main()))


def test_transport_flow_control_and_half_close():
    # A reader that pauses: the writer sees pause_writing above the high
    # water mark, resume_writing once drained; everything arrives in order;
    # write_eof reaches the peer as eof_received; close waits for the buffer.
    big = os.urandom(1 << 24)  # more than both sockets' kernel buffers take

    class Writer(asyncio.Protocol):
        def __init__(self):
            self.paused = self.resumed = 0

        def pause_writing(self):
            self.paused += 1

        def resume_writing(self):
            self.resumed += 1

    class Reader(asyncio.Protocol):
        def __init__(self):
            self.got = bytearray()
            self.eof = asyncio.get_running_loop().create_future()

        def connection_made(self, transport):
            self.transport = transport
            transport.pause_reading()
            asyncio.get_running_loop().call_later(0.2, transport.resume_reading)

        def data_received(self, data):
            assert self.transport.is_reading()
            self.got += data

        def eof_received(self):
            self.eof.set_result(bytes(self.got))
            return True

    async def main():
        loop = asyncio.get_running_loop()
        readers = []
        server = await loop.create_server(lambda: readers.append(Reader()) or readers[-1],
                                          "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        tr, w = await loop.create_connection(Writer, "127.0.0.1", port)
        tr.set_write_buffer_limits(high=1 << 16)
        for k in range(0, len(big), 1 << 16):
            tr.write(big[k:k + (1 << 16)])
        assert tr.get_write_buffer_size() > 0
        tr.write_eof()
        while not readers:  # the server side may not be accepted yet
            await asyncio.sleep(0.01)
        got = await asyncio.wait_for(readers[0].eof, 30)
        tr.close()
        readers[0].transport.close()
        server.close()
        await server.wait_closed()
        return got, w.paused, w.resumed

    got, paused, resumed = aio.run(main())
    assert got == big
    assert paused >= 1 and resumed >= 1


def test_subprocesses_are_watched_through_pidfds():
    # No child watcher is made (no SIGCHLD handler, no thread): the loop
    # polls each child's pidfd in its ring.
    import sys
    asyncio.set_event_loop_policy(aio.EventLoopPolicy())
    try:
        async def main():
            threads = threading.active_count()
            p = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            out, _ = await p.communicate(b"hello")
            codes = [await (await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import sys; sys.exit(%d)" % c)).wait() for c in (0, 3)]
            killed = await asyncio.create_subprocess_exec(sys.executable, "-c",
                                                          "import time; time.sleep(60)")
            killed.kill()
            codes.append(await killed.wait())
            async def shell(i):
                return await (await asyncio.create_subprocess_shell("exit %d" % i)).wait()
            many = await asyncio.gather(*(shell(i % 7) for i in range(20)))
            return out, p.returncode, codes, many, threads == threading.active_count()

        out, rc, codes, many, no_thread = asyncio.run(main())
        assert (out, rc) == (b"HELLO", 0)
        assert codes == [0, 3, -signal.SIGKILL]
        assert many == [i % 7 for i in range(20)]
        assert no_thread
        assert asyncio.get_event_loop_policy()._watcher is None
    finally:
        asyncio.set_event_loop_policy(None)


@pytest.mark.parametrize("runner", [True, False], ids=["asyncio.Runner", "python3.10"])
def test_run_with_and_without_asyncio_runner(monkeypatch, runner):
    # Python 3.10 has no asyncio.Runner: aio.run takes asyncio.run's steps
    # itself there, with the same result, and the same cleanup.
    if not runner:
        monkeypatch.delattr(asyncio, "Runner", raising=False)
    seen = {}

    async def forever():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            seen["cancelled"] = True
            raise

    async def main():
        loop = asyncio.get_running_loop()
        seen["loop"] = loop
        seen["debug"] = loop.get_debug()
        asyncio.ensure_future(forever())
        await asyncio.sleep(0)
        return 42

    assert aio.run(main(), debug=True) == 42
    assert type(seen["loop"]) is aio.EventLoop and seen["loop"].is_closed()
    assert seen["debug"] and seen["cancelled"]
    with pytest.raises(ValueError):
        aio.run(lambda: None)


def test_requires_python_matches_the_apis_used():
    # ringkit.aio needs os.eventfd (Python 3.10); pyproject must not
    # promise less. Debian 12's python3 is 3.11.
    path = os.path.join(os.environ["RINGKIT_SRC"], "bindings", "python", "pyproject.toml")
    with open(path) as f:
        line = next(l for l in f if l.startswith("requires-python"))
    spec = line.split("=", 1)[1].split("#")[0].strip().strip('"')
    assert spec.startswith(">="), spec
    assert tuple(int(x) for x in spec[2:].split(".")) >= (3, 10), spec
    assert hasattr(os, "eventfd")


def test_a_loop_whose_ring_cannot_be_made_raises_and_leaves_nothing():
    import subprocess
    import sys
    code = ("from ringkit import aio\n"
            "try:\n    aio.new_event_loop()\nexcept OSError as e:\n    print('OSError', e.errno)\n"
            "import gc; gc.collect()\n")
    env = dict(os.environ, RINGKIT_BACKEND="bogus")
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "OSError 22", out
    assert out.stderr == "", out.stderr


@pytest.mark.parametrize("make_loop", [aio.new_event_loop, asyncio.new_event_loop],
                         ids=["ringkit", "asyncio"])
def test_what_data_received_schedules_runs_before_connection_lost(make_loop):
    # The peer sends and closes before the server's loop looks: data and EOF
    # arrive in one reap. As on asyncio's loop, a two-step callback chain
    # started in data_received ends before connection_lost (aiohttp creates
    # its request task there and asserts the connection is alive in it).
    loop = make_loop()
    try:
        events = []

        class P(asyncio.Protocol):
            def data_received(self, data):
                events.append(data)
                loop.call_soon(loop.call_soon, events.append, "chain")

            def connection_lost(self, exc):
                events.append("lost")
                done.set_result(None)

        async def main():
            server = await loop.create_server(P, "127.0.0.1", 0)
            s = socket.create_connection(server.sockets[0].getsockname())
            s.sendall(b"hi")
            s.close()  # before the loop runs again: both wait for one reap
            await asyncio.wait_for(done, 10)
            server.close()
            await server.wait_closed()
        done = loop.create_future()
        loop.run_until_complete(main())
        assert events == [b"hi", "chain", "lost"]
    finally:
        loop.close()
