"""Socket ops, multishot accept/recv with provided buffers, on 127.0.0.1."""
import errno
import os
import socket
import struct

import pytest

import ringkit
from conftest import complete, fd_count, listener, result


def test_tcp_round_trip_through_the_ring(ring):
    s = result(ring, ring.socket(socket.AF_INET, socket.SOCK_STREAM))
    assert s >= 0
    if ring.probe("BIND") and ring.probe("LISTEN"):
        assert result(ring, ring.bind(s, ("127.0.0.1", 0))) == 0
        assert result(ring, ring.listen(s, 16)) == 0
    else:
        with pytest.raises(OSError):
            ring.bind(s, ("127.0.0.1", 0))
        pytest.skip("kernel lacks IORING_OP_BIND/LISTEN")
    lsock = socket.socket(fileno=s)
    port = lsock.getsockname()[1]
    c = result(ring, ring.socket(socket.AF_INET, socket.SOCK_STREAM))
    addr = bytearray(128)
    acc = ring.accept(s, addr)
    con = ring.connect(c, ("127.0.0.1", port))
    done = complete(ring, acc, con)
    assert done[con][0] == 0
    a = done[acc][0]
    assert a >= 0
    peer = ringkit.decode_address(addr)
    csock = socket.socket(fileno=os.dup(c))
    assert peer == csock.getsockname()
    csock.close()
    assert result(ring, ring.send(c, b"ping")) == 4
    buf = bytearray(16)
    assert result(ring, ring.recv(a, buf)) == 4
    assert buf[:4] == b"ping"
    assert result(ring, ring.shutdown(c, socket.SHUT_WR)) == 0
    assert result(ring, ring.recv(a, buf)) == 0  # end of stream
    for fd in (a, c):
        assert result(ring, ring.close_fd(fd)) == 0
    lsock.close()


def test_peer_address_decoding():
    for addr in [("127.0.0.1", 8080), ("::1", 443, 0, 0), "/tmp/sock", b"\0abstract"]:
        raw = ringkit.encode_address(addr)
        back = ringkit.decode_address(raw)
        if isinstance(addr, tuple):
            assert back[:2] == addr[:2]
        elif isinstance(addr, bytes):
            assert back == addr
        else:
            assert back == addr


def test_ipv6_connect(ring):
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    s.listen()
    c = socket.socket(socket.AF_INET6)
    assert result(ring, ring.connect(c, ("::1", s.getsockname()[1]))) == 0
    c.close()
    s.close()


def test_socketpair_send_recv_and_short_reads(ring):
    a, b = socket.socketpair()
    payload = os.urandom(100_000)
    sent = 0
    got = bytearray()
    buf = bytearray(8192)
    b.setblocking(False)
    while sent < len(payload) or len(got) < len(payload):
        ids = []
        if sent < len(payload):
            ids.append(("s", ring.send(a, memoryview(payload)[sent:])))
        ids.append(("r", ring.recv(b, buf)))
        done = complete(ring, *[i for _, i in ids])
        for kind, i in ids:
            res = ringkit.check(done[i][0])
            if kind == "s":
                sent += res  # a short send resumes where it stopped
            else:
                got += buf[:res]
    assert bytes(got) == payload
    a.close()
    b.close()


def test_peer_reset_mid_stream(ring):
    s, port = listener()
    c = socket.create_connection(("127.0.0.1", port))
    srv, _ = s.accept()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    r = ring.recv(srv, bytearray(100))
    ring.submit()
    c.close()  # RST
    assert result(ring, r) in (-errno.ECONNRESET, 0)
    res = result(ring, ring.send(srv, b"x" * 10, msg_flags=socket.MSG_NOSIGNAL))
    assert res in (-errno.EPIPE, -errno.ECONNRESET)
    srv.close()
    s.close()


def test_accept_storm_with_cancels_returns_fds(ring):
    base = fd_count()
    s, port = listener()
    m = ring.accept_multishot(s)
    ring.submit()
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
    accepted = []
    while len(accepted) < 40:
        for op, res, flags in ring.reap(wait=1, timeout=5):
            assert op == m and res >= 0 and flags & ringkit.CQE_F_MORE
            accepted.append(res)
    pending = [ring.accept(s) for _ in range(10)]
    ring.submit()
    ring.cancel_sync(m)
    for p in pending:
        ring.cancel(p)
    done = complete(ring, m, *pending)
    assert done[m][0] == -errno.ECANCELED
    for p in pending:
        assert done[p][0] == -errno.ECANCELED
    for fd in accepted:
        os.close(fd)
    for c in clients:
        c.close()
    s.close()
    assert fd_count() == base


def test_multishot_recv_through_enobufs_and_rearm(ring):
    a, b = socket.socketpair()
    region = ringkit.Region(64, 4)
    ring.provide_region(region, 3)
    received = bytearray()
    msgs = [bytes([65 + i]) * 40 for i in range(10)]
    op = ring.recv_multishot(b, 3)
    ring.submit()
    held = []
    rearms = 0
    for m in msgs:
        a.send(m)
        while True:
            recs = ring.reap(wait=1, timeout=5)
            assert recs
            progressed = False
            for op_id, res, flags in recs:
                assert op_id == op
                if flags & ringkit.CQE_F_BUFFER:
                    chunk = flags >> ringkit.CQE_BUFFER_SHIFT
                    received += region.view(chunk, res)
                    held.append(chunk)
                    progressed = True
                if not flags & ringkit.CQE_F_MORE:
                    assert res == -errno.ENOBUFS or res > 0
                    # group ran dry: give chunks back, re-arm
                    for c in held:
                        ring.recycle_chunk(region, c)
                    held.clear()
                    op = ring.recv_multishot(b, 3)
                    ring.submit()
                    rearms += 1
            if progressed:
                break
        if len(held) == 4:
            pass  # the next message finds the group empty
    assert bytes(received) == b"".join(msgs)
    assert rearms >= 1
    ring.cancel_sync(op)
    complete(ring, op)
    with pytest.raises(OSError):
        region.close()  # still provided
    for c in held:
        ring.recycle_chunk(region, c)
    ring.unprovide_region(region)
    region.close()
    a.close()
    b.close()


def test_recv_select_and_group_errors(ring):
    a, b = socket.socketpair()
    region = ringkit.Region(128, 2)
    with pytest.raises(OSError) as e:
        ring.recv_select(b, 5)
    assert e.value.errno == errno.ENOENT
    ring.provide_region(region, 5)
    with pytest.raises(OSError) as e:
        ring.provide_region(region, 6)
    assert e.value.errno == errno.EBUSY
    a.send(b"select me")
    op = ring.recv_select(b, 5)
    done = complete(ring, op)
    res, flags = done[op]
    assert res == 9 and flags & ringkit.CQE_F_BUFFER
    chunk = flags >> ringkit.CQE_BUFFER_SHIFT
    assert bytes(region.view(chunk, res)) == b"select me"
    with pytest.raises(OSError) as e:
        ring.recycle_chunk(region, 99)
    assert e.value.errno == errno.EINVAL
    ring.recycle_chunk(region, chunk)
    ring.unprovide_region(region)
    with pytest.raises(OSError):
        ring.unprovide_region(region)
    region.close()
    a.close()
    b.close()
