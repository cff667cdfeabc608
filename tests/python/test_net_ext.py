"""sendmsg/recvmsg with fd passing, zero-copy sends, registered files and
direct descriptors, msg_ring between rings and threads."""
import asyncio
import errno
import os
import socket
import threading

import pytest

import ringkit
from ringkit import aio
from conftest import complete, fd_count, listener, result


def test_fd_passing_over_socketpair(ring, tmp_path):
    base = fd_count()
    a, b = socket.socketpair()
    (tmp_path / "f").write_bytes(b"through the socket")
    f1 = os.open(tmp_path / "f", os.O_RDONLY)
    r1, w1 = os.pipe()
    sent = ring.sendmsg(a, [b"fd", b"s!"], fds=[f1, w1])
    buf = bytearray(16)
    msg = ringkit.RecvMsg(fds_cap=4)
    got = ring.recvmsg(b, [buf], msg, msg_flags=socket.MSG_CMSG_CLOEXEC)
    done = complete(ring, sent, got)
    assert done[sent][0] == 4 and done[got][0] == 4 and bytes(buf[:4]) == b"fds!"
    fds = msg.fds
    assert len(fds) == 2 and msg.flags & socket.MSG_CTRUNC == 0
    assert os.pread(fds[0], 100, 0) == b"through the socket"
    os.write(fds[1], b"x")  # a working copy of the pipe's write end
    assert os.read(r1, 1) == b"x"
    for fd in fds + [f1, r1, w1]:
        os.close(fd)
    a.close()
    b.close()
    assert fd_count() == base


def test_recvmsg_truncation_and_fd_overflow_closed(ring):
    base = fd_count()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    r, w = os.pipe()
    assert result(ring, ring.sendmsg(a, [b"0123456789"], fds=[r, w, r])) == 10
    buf = bytearray(4)
    msg = ringkit.RecvMsg(fds_cap=1)
    assert result(ring, ring.recvmsg(b, [buf], msg)) == 4
    assert msg.flags & socket.MSG_TRUNC and msg.flags & socket.MSG_CTRUNC
    assert len(msg.fds) == 1  # the core closed the other two
    os.close(msg.fds[0])
    for x in (r, w):
        os.close(x)
    a.close()
    b.close()
    assert fd_count() == base


def test_sendmsg_to_an_address_and_source_address(ring):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.0.0.1", 0))
    assert result(ring, ring.sendmsg(tx, [b"dgram"], rx.getsockname())) == 5
    buf = bytearray(10)
    msg = ringkit.RecvMsg()
    assert result(ring, ring.recvmsg(rx, [buf], msg)) == 5
    assert msg.address == tx.getsockname() and msg.fds == []
    rx.close()
    tx.close()


def test_recvmsg_bad_arguments(ring):
    with pytest.raises(TypeError):
        ring.recvmsg(0, [bytearray(1)], object())
    with pytest.raises(ValueError):
        ringkit.RecvMsg(fds_cap=1000)
    with pytest.raises(TypeError):
        ring.sendmsg(0, [b"x"], fds=["no"])
    with pytest.raises(OSError) as e:
        ring.sendmsg(0, [b"x"], fds=[-5])
    assert e.value.errno == errno.EBADF


def test_send_zc_holds_buffer_until_notification(ring):
    s, port = listener()
    c = socket.create_connection(("127.0.0.1", port))
    srv, _ = s.accept()
    data = bytearray(b"z" * 65536)
    op = ring.send_zc(c, data, report_usage=True)
    ring.submit()
    records = []
    while True:
        recs = ring.reap(wait=1, timeout=5)
        assert recs
        records += recs
        if any(i == op and not f & ringkit.CQE_F_MORE for i, _, f in recs):
            break
        with pytest.raises(BufferError):
            data.append(0)  # still pinned between result and notification
    first, last = records[0], records[-1]
    assert first[0] == op and first[1] == 65536 and first[2] & ringkit.CQE_F_MORE
    assert last[2] & ringkit.CQE_F_NOTIF
    data.append(0)
    got = b""
    while len(got) < 65536:
        got += srv.recv(65536)
    for x in (c, srv, s):
        x.close()


def test_fixed_files_and_direct_ops(ring, tmp_path):
    (tmp_path / "d").write_bytes(b"direct")
    ring.register_files(8)
    with pytest.raises(OSError) as e:
        ring.register_files(8)
    assert e.value.errno == errno.EBUSY
    slot = result(ring, ring.openat_direct(tmp_path / "d"))
    assert 0 <= slot < 8
    buf = bytearray(6)
    assert result(ring, ring.read(slot, buf, 0, flags=ringkit.FIXED_FILE)) == 6
    assert bytes(buf) == b"direct"
    fd = result(ring, ring.fixed_fd_install(slot))
    assert os.pread(fd, 6, 0) == b"direct"
    os.close(fd)
    r, w = os.pipe()
    assert ring.update_files(5, [w]) == 1
    os.close(w)  # the table holds its own reference
    assert result(ring, ring.write(5, b"via slot", flags=ringkit.FIXED_FILE)) == 8
    assert os.read(r, 100) == b"via slot"
    os.close(r)
    s = result(ring, ring.socket_direct(socket.AF_INET, socket.SOCK_STREAM))
    assert 0 <= s < 8
    for sl in (slot, s, 5):
        assert result(ring, ring.close_fixed(sl)) == 0
    assert result(ring, ring.close_fixed(slot)) == -errno.EBADF
    with pytest.raises(OSError):
        ring.close_fixed(100)
    ring.unregister_files()
    with pytest.raises(OSError) as e:
        ring.unregister_files()
    assert e.value.errno == errno.ENXIO


def test_file_alloc_range(ring):
    with pytest.raises(OSError) as e:
        ring.file_alloc_range(0, 1)
    assert e.value.errno == errno.ENXIO
    ring.register_files(8)
    with pytest.raises(KeyError):
        ring.feature("NO_SUCH_THING")
    if not ring.feature("FILE_ALLOC_RANGE"):
        with pytest.raises(OSError) as e:
            ring.file_alloc_range(2, 2)
        assert e.value.errno == errno.EOPNOTSUPP
        pytest.skip("kernel without IORING_REGISTER_FILE_ALLOC_RANGE (Linux 6.0)")
    assert ring.feature(ringkit.constant("RK_FEATURE_FILE_ALLOC_RANGE"))
    with pytest.raises(OSError) as e:
        ring.file_alloc_range(7, 2)
    assert e.value.errno == errno.EINVAL
    ring.file_alloc_range(2, 2)
    slots = {result(ring, ring.socket_direct(socket.AF_INET, socket.SOCK_DGRAM))
             for _ in range(2)}
    assert slots == {2, 3}
    assert result(ring, ring.socket_direct(socket.AF_INET, socket.SOCK_DGRAM)) == -errno.ENFILE
    for sl in slots:
        assert result(ring, ring.close_fixed(sl)) == 0
    ring.unregister_files()


def test_accept_direct(ring):
    s, port = listener()
    ring.register_files(4)
    acc = ring.accept_direct(s)
    ring.submit()
    c = socket.create_connection(("127.0.0.1", port))
    slot = result(ring, acc)
    assert result(ring, ring.send(slot, b"hi", flags=ringkit.FIXED_FILE)) == 2
    assert c.recv(2) == b"hi"
    assert result(ring, ring.close_fixed(slot)) == 0
    c.close()
    s.close()


def test_msg_ring_fd_passes_a_slot(tmp_path):
    a = ringkit.Ring(8)
    b = ringkit.Ring(8, msg_target=True)
    with a, b:
        if not a.feature("MSG_SEND_FD"):
            pytest.skip("kernel without IORING_MSG_SEND_FD (Linux 6.0)")
        (tmp_path / "f").write_bytes(b"passed")
        a.register_files(2)
        b.register_files(4)
        fd = os.open(tmp_path / "f", os.O_RDONLY)
        a.update_files(0, [fd])
        os.close(fd)
        slot = result(a, a.msg_ring_fd(b, 0, 9))
        assert 0 <= slot < 4
        [(op_id, res, flags)] = b.reap(wait=1, timeout=5)
        assert ringkit.message_value(op_id) == 9 and res == slot
        buf = bytearray(6)
        assert result(b, b.read(slot, buf, 0, flags=ringkit.FIXED_FILE)) == 6
        assert bytes(buf) == b"passed"
        assert result(a, a.msg_ring_fd(b, 0, 10, dst_slot=3, skip_cqe=True)) == 0
        assert b.reap(timeout=0) == []
        assert result(a, a.msg_ring_fd(b, 1, 11)) == -errno.EBADF
        with pytest.raises(ValueError):
            a.msg_ring_fd(b, 0, -1)


def test_recvmsg_multishot_udp(ring):
    if not ring.feature("RECVMSG_MULTISHOT"):
        pytest.skip("kernel without multishot recvmsg (Linux 6.0)")
    region = ringkit.Region(128, 16)
    ring.provide_region(region, 5)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    op = ring.recvmsg_multishot(rx.fileno(), 5, 32)
    ring.submit()
    got = []
    for i in range(4):
        for k, s in enumerate(senders):
            s.sendto(b"%d:%d" % (k, i), rx.getsockname())
        while len(got) < 3 * (i + 1):
            for op_id, res, flags in ring.reap(wait=1, timeout=5):
                assert op_id == op and flags & ringkit.CQE_F_MORE
                chunk = flags >> ringkit.CQE_BUFFER_SHIFT
                o = region.recvmsg_out(chunk, res, 32)
                view = region.view(chunk)
                name = bytes(view[o["name"]:o["name"] + o["name_len"]])
                port = int.from_bytes(name[2:4], "big")
                payload = bytes(view[o["payload"]:o["payload"] + o["payload_len"]])
                got.append((port, payload))
                ring.recycle_chunk(region, chunk)
    ports = {s.getsockname()[1]: k for k, s in enumerate(senders)}
    assert sorted((ports[p], m) for p, m in got) == sorted(
        (k, b"%d:%d" % (k, i)) for k in range(3) for i in range(4))
    senders[0].sendto(b"x" * 200, rx.getsockname())
    [(op_id, res, flags)] = ring.reap(wait=1, timeout=5)
    o = region.recvmsg_out(flags >> ringkit.CQE_BUFFER_SHIFT, res, 32)
    assert o["flags"] & socket.MSG_TRUNC and o["payload_len"] == 128 - 16 - 32
    ring.recycle_chunk(region, flags >> ringkit.CQE_BUFFER_SHIFT)
    with pytest.raises(ValueError):
        region.recvmsg_out(0, 8, 32)
    ring.cancel(op)
    assert complete(ring, op)[op][0] == -errno.ECANCELED
    ring.unprovide_region(region)
    region.close()
    for s in senders + [rx]:
        s.close()


def test_incremental_group_stream(ring):
    if not ring.feature("PBUF_INC"):
        pytest.skip("kernel without IOU_PBUF_RING_INC (Linux 6.12)")
    region = ringkit.Region(1024, 4, incremental=True)
    ring.provide_region(region, 6)
    a, b = socket.socketpair()
    op = ring.recv_multishot(b.fileno(), 6)
    ring.submit()
    data = bytes(range(256)) * 20
    off, got = [0] * 4, bytearray()
    for size in (10, 3000, 500, 1610):
        a.sendall(data[len(got):len(got) + size])
        target = len(got) + size
        while len(got) < target:
            for op_id, res, flags in ring.reap(wait=1, timeout=5):
                chunk = flags >> ringkit.CQE_BUFFER_SHIFT
                got += region.view(chunk)[off[chunk]:off[chunk] + res]
                off[chunk] += res
                if flags & ringkit.constant("RK_CQE_F_BUF_MORE"):
                    with pytest.raises(OSError) as e:
                        ring.recycle_chunk(region, chunk)
                    assert e.value.errno == errno.EBUSY
                else:
                    ring.recycle_chunk(region, chunk)
                    off[chunk] = 0
    assert bytes(got) == data[:len(got)]
    ring.cancel(op)
    complete(ring, op)
    ring.unprovide_region(region)
    region.close()
    a.close()
    b.close()


def test_msg_ring_between_rings_in_threads():
    a = ringkit.Ring(16, msg_target=True)
    b = ringkit.Ring(16, msg_target=True)
    got = []

    def worker():
        # B doubles what it gets and sends it back until it sees 0.
        while True:
            for op_id, res, flags in b.reap(wait=1, timeout=10):
                if op_id < 0:
                    v = ringkit.message_value(op_id)
                    if v == 0:
                        return
                    b.msg_ring(a, v * 2, res)
                    b.submit()

    t = threading.Thread(target=worker)
    t.start()
    sends = [a.msg_ring(b, v, -v) for v in range(1, 51)]
    pending = set(sends)
    while len(got) < 50 or pending:
        for op_id, res, flags in a.reap(wait=1, timeout=10):
            if op_id < 0:
                got.append((ringkit.message_value(op_id), res))
                with pytest.raises(FileNotFoundError):
                    a.cancel(op_id)
            else:
                assert op_id in pending and res == 0
                pending.discard(op_id)
    stop = a.msg_ring(b, 0)
    complete(a, stop)
    t.join(10)
    assert not t.is_alive()
    assert sorted(got) == [(2 * v, -v) for v in range(1, 51)]
    with pytest.raises(ValueError):
        a.msg_ring(b, -1)
    with pytest.raises(ValueError):
        ringkit.message_value(5)
    a.close()
    b.close()


def test_msg_ring_to_a_non_ring_fd(ring):
    r, w = os.pipe()
    assert result(ring, ring.msg_ring(r, 1)) == -errno.EBADFD
    os.close(r)
    os.close(w)


def test_aio_sendmsg_recvmsg_send_zc_and_messages():
    async def main():
        a, b = socket.socketpair()
        r, w = os.pipe()
        assert await aio.sendmsg(a.fileno(), [b"with fd"], fds=[w]) == 7
        data, addr, fds, flags = await aio.recvmsg(b.fileno(), 64, fds_cap=2)
        assert data == b"with fd" and len(fds) == 1
        os.write(fds[0], b"!")
        assert os.read(r, 1) == b"!"
        os.close(fds[0])
        with pytest.raises(OSError) as e:  # zero-copy needs TCP/UDP, not AF_UNIX
            await aio.send_zc(a.fileno(), b"x")
        assert e.value.errno == errno.EOPNOTSUPP
        s, port = listener()
        c = socket.create_connection(("127.0.0.1", port))
        srv, _ = s.accept()
        payload = b"q" * 10000
        assert await aio.send_zc(c.fileno(), payload) == 10000
        got = b""
        while len(got) < 10000:
            got += srv.recv(65536)
        for x in (c, srv, s):
            x.close()
        # a message from a plain ring to this loop's ring
        loop_ring = aio.ring()
        seen = asyncio.get_running_loop().create_future()
        loop_ring.on_message = lambda v, res: seen.set_result((v, res))
        with ringkit.Ring(4) as other:
            assert result(other, other.msg_ring(loop_ring.ring, 42, 7)) == 0
        assert await asyncio.wait_for(seen, 5) == (42, 7)
        for x in (r, w):
            os.close(x)
        a.close()
        b.close()
        aio.close()

    asyncio.run(main())
