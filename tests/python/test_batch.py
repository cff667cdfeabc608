"""Batch: many ops per FFI crossing."""
import errno
import gc
import os

import pytest

import ringkit
from conftest import complete


def test_batch_of_nops_reused(ring):
    b = ringkit.Batch(16)
    for _ in range(16):
        b.nop()
    assert len(b) == 16
    with pytest.raises(ValueError):
        b.nop()
    for _ in range(3):
        ids = ring.submit_batch(b, clear=False)
        assert len(ids) == 16 and len(set(ids)) == 16
        done = complete(ring, *ids)
        assert all(done[i] == (0, 0) for i in ids)
    ring.submit_batch(b)
    assert len(b) == 0


def test_batch_reads_hold_buffers_until_completion(ring, datafile):
    path, data = datafile
    fd = os.open(path, os.O_RDONLY)
    rfd, wfd = os.pipe()
    b = ringkit.Batch(8)
    bufs = [bytearray(100) for _ in range(4)]
    for i, buf in enumerate(bufs):
        b.read(fd, buf, i * 100)
    pipebuf = bytearray(5)
    b.read(rfd, pipebuf)
    ids = ring.submit_batch(b)
    del b
    gc.collect()
    with pytest.raises(BufferError):
        pipebuf.append(0)  # still in flight: export held by the ring
    os.write(wfd, b"hello")
    done = complete(ring, *ids)
    assert [done[i][0] for i in ids] == [100, 100, 100, 100, 5]
    for i, buf in enumerate(bufs):
        assert bytes(buf) == data[i * 100:(i + 1) * 100]
    pipebuf.append(0)
    for x in (fd, rfd, wfd):
        os.close(x)


def test_batch_chunk_ops_and_open(ring, tmp_path):
    region = ringkit.Region(4096, 2)
    c = region.alloc()
    region.view(c)[:3] = b"abc"
    p = tmp_path / "x"
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    b = ringkit.Batch(4)
    b.write_chunk(fd, region, c, 0, length=3, flags=ringkit.LINK)
    b.fsync(fd)
    b.openat(p)
    ids = ring.submit_batch(b)
    with pytest.raises(OSError):
        region.close()  # in flight
    done = complete(ring, *ids)
    assert done[ids[0]][0] == 3 and done[ids[1]][0] == 0 and done[ids[2]][0] >= 0
    os.close(done[ids[2]][0])
    assert p.read_bytes() == b"abc"
    os.close(fd)
    region.free(c)
    region.close()


def test_partial_batch_failure_reports_index(ring):
    b = ringkit.Batch(4)
    b.nop()
    b.nop()
    b.nop(flags=1 << 20)  # invalid flag: refused at prep
    b.nop()
    with pytest.raises(OSError) as e:
        ring.submit_batch(b)
    assert e.value.errno == errno.EINVAL
    assert e.value.index == 2 and len(e.value.ids) == 2
    done = complete(ring, *e.value.ids)
    assert all(done[i] == (0, 0) for i in e.value.ids)
    assert len(b) == 0


def test_batch_bad_arguments():
    b = ringkit.Batch(2)
    with pytest.raises(ValueError):
        b.nop(flags=-1)
    with pytest.raises(ValueError):
        b.read(0, bytearray(2), length=3)
    with pytest.raises(TypeError):
        b.read(0, b"ro")
    with pytest.raises(ValueError):
        b.cancel(-1)
    with pytest.raises(ValueError):
        ringkit.Batch(0)
    assert len(b) == 0


def test_batch_timeout_and_cancel(ring):
    b = ringkit.Batch(2)
    b.timeout(10)
    [t] = ring.submit_batch(b)
    b.cancel(t)
    [c] = ring.submit_batch(b)
    done = complete(ring, t, c)
    assert done[t][0] == -errno.ECANCELED and done[c][0] == 0
