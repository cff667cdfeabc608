"""The C half of EventLoop's stream transport (_aioloop.Stream, stream.c):
what a message's path does beyond the common case — writes of mutable
buffers, coalescing, large partial sends, more sends than the ring has op
slots, a protocol that raises, a peer that goes away — against asyncio's
semantics. The CPython suites cover the rest of the transport."""
import asyncio
import socket
import threading

import pytest

from ringkit import aio


def run(coro):
    return aio.run(coro)


class Collect(asyncio.Protocol):
    def __init__(self):
        self.got = bytearray()
        self.lost = None
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.got += data

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self.lost = exc
        if not self.done.done():
            self.done.set_result(None)


async def pair(protocol=None):
    """A transport of ours on one end of a socketpair and a plain
    non-blocking socket on the other."""
    a, b = socket.socketpair()
    loop = asyncio.get_running_loop()
    tr, proto = await loop.connect_accepted_socket(protocol or Collect, a)
    b.setblocking(False)
    return tr, proto, b


async def direct_pair(protocol=None):
    """pair() with the transport switched to direct receives (stream.c,
    "Receiving"): the pool's receive ends and the next one is direct."""
    tr, proto, b = await pair(protocol)
    tr._direct = True
    tr._stop_reading()
    return tr, proto, b


async def read_all(sock, n):
    loop = asyncio.get_running_loop()
    got = bytearray()
    while len(got) < n:
        chunk = await loop.sock_recv(sock, 1 << 20)
        if not chunk:
            break
        got += chunk
    return bytes(got)


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def serve_echo_to(clients, backlog):
    """Runs clients(port, errors) in a thread against an Echo server on the
    running loop until it returns; asserts it recorded no errors."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=backlog)
    port = server.sockets[0].getsockname()[1]
    errors = []

    def run_clients():
        try:
            clients(port, errors)
        except Exception as e:  # reported by the assertion below
            errors.append(e)
    t = threading.Thread(target=run_clients)
    t.start()
    while t.is_alive():
        await asyncio.sleep(0.05)
    server.close()
    await server.wait_closed()
    assert errors == []


def test_transport_is_the_c_stream_and_an_asyncio_transport():
    async def main():
        tr, _, b = await pair()
        from ringkit import _aioloop
        assert isinstance(tr, _aioloop.Stream)
        assert isinstance(tr, asyncio.Transport)
        assert tr.get_write_buffer_size() == 0
        tr.close()
        b.close()
    run(main())


def test_writes_of_mutable_buffers_are_copied_and_a_pass_is_one_stream():
    async def main():
        tr, _, b = await pair()
        ba = bytearray(b"abc")
        mv = memoryview(bytearray(b"defg"))[1:3]
        tr.write(b"0")
        tr.write(ba)
        tr.write(mv)
        tr.write(b"")
        tr.writelines([b"x", bytearray(b"y"), b"z"])
        ba[:] = b"XXX"          # after write(): the peer still gets the old bytes
        mv[:] = b"__"
        assert tr.get_write_buffer_size() == 9
        got = await read_all(b, 9)
        assert got == b"0abcefxyz"
        with pytest.raises(TypeError):
            tr.write("text")
        tr.close()
        b.close()
    run(main())


def test_large_write_partly_sent_pauses_and_arrives_whole():
    async def main():
        tr, proto, b = await pair()
        paused, resumed = [], []
        proto.pause_writing = lambda: paused.append(1)
        proto.resume_writing = lambda: resumed.append(1)
        tr.set_write_buffer_limits(high=1 << 16)
        data = bytes(range(256)) * (4 << 12)  # 4 MiB, more than the socket takes
        tr.write(data)
        tr.write(b"tail")
        assert tr.get_write_buffer_size() > 0
        assert paused == [1]
        got = await read_all(b, len(data) + 4)
        assert got == data + b"tail"
        for _ in range(20):
            if not tr.get_write_buffer_size():
                break
            await asyncio.sleep(0.01)
        assert tr.get_write_buffer_size() == 0
        assert resumed == [1]
        tr.close()
        b.close()
    run(main())


def test_more_sends_than_the_op_table_holds():
    # 600 connections each echoing in the same pass: 600 receives plus 600
    # sends are more ops than the loop ring's table holds, so sends meet
    # EBUSY and go out a pass later. Every byte must come back.
    n = 600

    def clients(port, errors):
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
        for i, s in enumerate(socks):
            s.sendall(b"%04d" % i * 256)
        for i, s in enumerate(socks):
            s.settimeout(20)
            got = b""
            while len(got) < 1024:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            if got != b"%04d" % i * 256:
                errors.append((i, len(got)))
        for s in socks:
            s.close()
    run(serve_echo_to(clients, n))


def test_data_received_raising_goes_to_the_handler_and_closes():
    class Boom(Collect):
        def data_received(self, data):
            raise ValueError("boom")

    async def main():
        loop = asyncio.get_running_loop()
        seen = []
        loop.set_exception_handler(lambda loop, ctx: seen.append(ctx))
        a, b = socket.socketpair()
        tr, proto = await loop.connect_accepted_socket(Boom, a)
        b.sendall(b"x")
        await asyncio.wait_for(proto.done, 5)
        assert isinstance(proto.lost, ValueError)
        assert seen and seen[0]["message"] == "Fatal error: protocol.data_received() call failed."
        assert seen[0]["exception"] is proto.lost
        assert seen[0]["exception"].__traceback__ is not None
        b.close()
    run(main())


def test_keyboard_interrupt_from_data_received_propagates():
    class Interrupt(Collect):
        def data_received(self, data):
            raise KeyboardInterrupt

    async def main():
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        tr, proto = await loop.connect_accepted_socket(Interrupt, a)
        b.sendall(b"x")
        try:
            await asyncio.sleep(5)
        finally:
            tr.abort()
            b.close()
    with pytest.raises(KeyboardInterrupt):
        run(main())


def test_writes_to_a_closed_peer_end_the_transport():
    async def main():
        tr, proto, b = await pair()
        b.close()
        for _ in range(200):
            if tr.is_closing():
                break
            tr.write(b"x" * 100)
            await asyncio.sleep(0.005)
        await asyncio.wait_for(proto.done, 5)
        assert proto.lost is None or isinstance(proto.lost, OSError)
        tr.write(b"after")  # dropped, as asyncio drops writes after the loss
        assert tr.get_write_buffer_size() == 0
    run(main())


def test_more_connections_than_op_slots_wait_their_turn(monkeypatch):
    # A loop ring with room for fewer readers than connections: the ones
    # without a slot wait (asleep) until others close, then are served.
    monkeypatch.setattr(aio, "_LOOP_CAPACITY", 256)  # its least: the SQ size
    n = 300

    def clients(port, errors):
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
        for i, s in enumerate(socks):
            s.settimeout(20)
            s.sendall(b"%04d" % i)
            got = s.recv(16)
            if got != b"%04d" % i:
                errors.append((i, got))
            s.close()

    async def main():
        assert aio.ring().ring.stats()["capacity"] == 256
        await serve_echo_to(clients, n)
    run(main())


def test_large_messages_are_received_directly_and_small_ones_from_the_pool():
    # A connection whose messages fill half a pool chunk several times in a
    # row receives straight into bytes objects (stream.c, "Receiving"), and
    # goes back to the pool when they get small; not a byte changes.
    async def main():
        tr, proto, b = await pair()
        loop = asyncio.get_running_loop()
        big = tr._direct_size * 3 // 4
        sent = bytearray()
        modes = []
        for i in range(8):
            msg = bytes([i]) * big
            await loop.sock_sendall(b, msg)
            sent += msg
            while len(proto.got) < len(sent):
                await asyncio.sleep(0.001)
            modes.append(tr._direct)
        assert modes[-1], modes
        for i in range(8):
            msg = b"small %d" % i
            await loop.sock_sendall(b, msg)
            sent += msg
            while len(proto.got) < len(sent):
                await asyncio.sleep(0.001)
            modes.append(tr._direct)
        assert not modes[-1], modes
        assert bytes(proto.got) == bytes(sent)
        tr.close()
        b.close()
        await asyncio.wait_for(proto.done, 5)
    run(main())


def test_direct_receives_pause_resume_and_close():
    async def main():
        tr, proto, b = await direct_pair()
        loop = asyncio.get_running_loop()
        big = tr._direct_size
        await loop.sock_sendall(b, b"a" * big)
        while len(proto.got) < big:
            await asyncio.sleep(0.001)
        assert tr._direct
        tr.pause_reading()
        await loop.sock_sendall(b, b"b" * 1000)
        await asyncio.sleep(0.05)
        got_paused = len(proto.got)
        tr.resume_reading()
        while len(proto.got) < big + 1000:
            await asyncio.sleep(0.001)
        assert got_paused == big
        assert bytes(proto.got) == b"a" * big + b"b" * 1000
        # closing with the readiness poll armed: its cancel completes and
        # nothing is left behind
        tr.close()
        await asyncio.wait_for(proto.done, 5)
        assert tr._recv_op is None
        assert not aio.ring()._streams
        b.close()
    run(main())


def test_eof_during_a_direct_receive():
    async def main():
        tr, proto, b = await direct_pair()
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(b, b"x" * 100)
        b.shutdown(socket.SHUT_WR)
        await asyncio.wait_for(proto.done, 5)
        assert bytes(proto.got) == b"x" * 100 and proto.lost is None
        b.close()
    run(main())


def test_direct_receives_drain_what_one_readiness_brings():
    # Large messages are received at readiness (stream.c, direct_read):
    # one poll completion must drain the socket, since the poll fires again
    # only for new data. Several buffers' worth arrive at once, then
    # nothing more: all of it must be delivered.
    async def main():
        tr, proto, b = await direct_pair()
        loop = asyncio.get_running_loop()
        while tr._recv_op is None or tr._recv_op == tr._recv_cancelled:
            await asyncio.sleep(0.001)
        data = bytes(range(256)) * (tr._direct_size * 5 // 256 + 7)
        b.setblocking(True)
        b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        await loop.run_in_executor(None, b.sendall, data)
        deadline = loop.time() + 5
        while len(proto.got) < len(data) and loop.time() < deadline:
            await asyncio.sleep(0.001)
        assert bytes(proto.got) == data
        tr.close()
        await asyncio.wait_for(proto.done, 5)
        b.close()
    run(main())


class PauseEach(Collect):
    """Pauses reading after every message; the test resumes it."""

    def data_received(self, data):
        super().data_received(data)
        self.transport.pause_reading()


def test_direct_receive_paused_inside_data_received():
    # data_received pauses while the socket still holds data: the drain
    # stops there, and each resume_reading brings more, in order.
    async def main():
        tr, proto, b = await direct_pair(PauseEach)
        loop = asyncio.get_running_loop()
        b.setblocking(True)
        data = bytes(range(251)) * (tr._direct_size * 3 // 251)
        # more than the socket buffers hold: the sender finishes only as
        # the paused reader is resumed
        sending = loop.run_in_executor(None, b.sendall, data)
        deadline = loop.time() + 10
        while len(proto.got) < len(data) and loop.time() < deadline:
            await asyncio.sleep(0.01)
            tr.resume_reading()
        await asyncio.wait_for(sending, 5)
        assert bytes(proto.got) == data
        tr.close()
        await asyncio.wait_for(proto.done, 5)
        assert not aio.ring()._streams
        b.close()
    run(main())
