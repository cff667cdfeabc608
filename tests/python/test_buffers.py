"""The ring holds a buffer export from submission to final completion."""
import array
import gc
import mmap
import os
import weakref

import pytest

import ringkit
from conftest import complete, result


def test_pinned_bytearray_cannot_be_resized(ring):
    rfd, wfd = os.pipe()
    buf = bytearray(8)
    op = ring.read(rfd, buf)
    ring.submit()
    with pytest.raises(BufferError):
        buf.extend(b"more")
    with pytest.raises(BufferError):
        del buf[0]
    os.write(wfd, b"12345678")
    assert result(ring, op) == 8
    buf.extend(b"more")  # released with the final completion
    assert bytes(buf) == b"12345678more"
    os.close(rfd)
    os.close(wfd)


def test_dropped_buffer_survives_gc_until_completion(ring):
    rfd, wfd = os.pipe()
    buf = array.array("b", bytes(16))  # array objects can be weakly referenced
    alive = weakref.ref(buf)
    op = ring.read(rfd, buf)
    ring.submit()
    del buf
    gc.collect()
    assert alive() is not None, "the kernel's target was freed while in flight"
    os.write(wfd, b"x" * 16)
    assert result(ring, op) == 16
    gc.collect()
    assert alive() is None, "the buffer is not released after its completion"
    os.close(rfd)
    os.close(wfd)


def test_dropped_write_source_survives_gc(ring):
    rfd, wfd = os.pipe()
    payload = array.array("b", b"y" * 32)
    alive = weakref.ref(payload)
    op = ring.write(wfd, payload)
    del payload
    gc.collect()
    assert result(ring, op) == 32
    assert os.read(rfd, 64) == b"y" * 32
    gc.collect()
    assert alive() is None
    os.close(rfd)
    os.close(wfd)


def test_memoryview_slices_and_mmap(ring, datafile):
    path, data = datafile
    fd = os.open(path, os.O_RDONLY)
    big = bytearray(1000)
    assert result(ring, ring.read(fd, memoryview(big)[100:200], 0)) == 100
    assert bytes(big[100:200]) == data[:100]
    m = mmap.mmap(-1, 4096)
    op = ring.read(fd, m, 4096)
    ring.submit()
    assert result(ring, op) == 4096
    assert m[:4096] == data[4096:8192]
    m.close()
    os.close(fd)


def test_mmap_cannot_close_while_pinned(ring):
    rfd, wfd = os.pipe()
    m = mmap.mmap(-1, 4096)
    op = ring.read(rfd, m)
    ring.submit()
    with pytest.raises(BufferError):
        m.close()
    os.write(wfd, b"z")
    assert result(ring, op) == 1
    m.close()
    os.close(rfd)
    os.close(wfd)


def test_numpy_arrays_when_available(ring, datafile):
    np = pytest.importorskip("numpy")
    path, data = datafile
    fd = os.open(path, os.O_RDONLY)
    a = np.zeros(256, dtype=np.uint8)
    assert result(ring, ring.read(fd, a, 0)) == 256
    assert bytes(a) == data[:256]
    os.close(fd)


def test_vectored_buffers_all_pinned(ring):
    rfd, wfd = os.pipe()
    a, b = bytearray(2), bytearray(2)
    op = ring.readv(rfd, [a, b])
    ring.submit()
    for x in (a, b):
        with pytest.raises(BufferError):
            x.append(0)
    os.write(wfd, b"abcd")
    assert result(ring, op) == 4
    a.append(0)
    b.append(0)
    os.close(rfd)
    os.close(wfd)


def test_cancelled_op_keeps_buffer_until_final_completion(ring):
    rfd, wfd = os.pipe()
    buf = bytearray(4)
    op = ring.read(rfd, buf)
    ring.submit()
    c = ring.cancel(op)
    ring.submit()
    with pytest.raises(BufferError):
        buf.append(0)  # the cancel is only a request until op completes
    done = complete(ring, op, c)
    assert done[op][0] < 0
    buf.append(0)
    os.close(rfd)
    os.close(wfd)
