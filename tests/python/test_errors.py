"""Errno results map to the right OSError subclasses; bad arguments raise
ValueError/TypeError; nothing crashes."""
import errno
import os
import socket

import pytest

import ringkit
from conftest import complete, listener, result


def check_result(ring, op_id):
    return ringkit.check(result(ring, op_id))


@pytest.mark.parametrize("code,cls", [
    (errno.ENOENT, FileNotFoundError), (errno.EEXIST, FileExistsError),
    (errno.EAGAIN, BlockingIOError), (errno.EISDIR, IsADirectoryError),
    (errno.ENOTDIR, NotADirectoryError), (errno.EPERM, PermissionError),
    (errno.EACCES, PermissionError), (errno.EPIPE, BrokenPipeError),
    (errno.ECONNREFUSED, ConnectionRefusedError), (errno.ECONNRESET, ConnectionResetError),
    (errno.ECONNABORTED, ConnectionAbortedError), (errno.ETIMEDOUT, TimeoutError),
    (errno.EINTR, InterruptedError), (errno.ECHILD, ChildProcessError),
    (errno.ESRCH, ProcessLookupError), (errno.EINVAL, OSError), (errno.EBADF, OSError),
])
def test_error_helper_maps_every_errno(code, cls):
    e = ringkit.error(-code)
    assert type(e) is cls
    assert e.errno == code and e.strerror == os.strerror(code)
    with pytest.raises(cls):
        ringkit.check(-code)
    assert ringkit.check(5) == 5


def test_real_failures_map_to_subclasses(ring, tmp_path):
    with pytest.raises(FileNotFoundError):
        check_result(ring, ring.openat(tmp_path / "missing"))
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(FileExistsError):
        check_result(ring, ring.openat(tmp_path / "f", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    with pytest.raises(NotADirectoryError):
        check_result(ring, ring.mkdirat(tmp_path / "f" / "sub"))
    dfd = os.open(tmp_path, os.O_RDONLY)
    with pytest.raises(IsADirectoryError):
        check_result(ring, ring.read(dfd, bytearray(10), 0))
    os.close(dfd)
    with pytest.raises(PermissionError):  # hard link to a directory: EPERM
        check_result(ring, ring.linkat(tmp_path, tmp_path / "dirlink"))
    a, b = socket.socketpair()
    with pytest.raises(BlockingIOError):
        check_result(ring, ring.recv(a, bytearray(10), msg_flags=socket.MSG_DONTWAIT))
    rfd, wfd = os.pipe()
    os.close(rfd)
    with pytest.raises(BrokenPipeError):
        check_result(ring, ring.write(wfd, b"x"))
    os.close(wfd)
    a.close()
    b.close()


def test_connection_errors(ring):
    s, port = listener()
    s.close()  # nothing listens there now
    c = socket.socket()
    with pytest.raises(ConnectionRefusedError):
        check_result(ring, ring.connect(c, ("127.0.0.1", port)))
    c.close()


def test_bad_fd_is_an_oserror_in_the_completion(ring):
    assert result(ring, ring.read(10_000, bytearray(4), 0)) == -errno.EBADF
    assert result(ring, ring.close_fd(10_000)) == -errno.EBADF


@pytest.mark.parametrize("call", [
    lambda r: r.read(0, b"read-only bytes"),
    lambda r: r.read(0, "str"),
    lambda r: r.write(0, "str is not a buffer"),
    lambda r: r.write(0, 12),
    lambda r: r.read("0", bytearray(1)),
    lambda r: r.read(1.5, bytearray(1)),
    lambda r: r.openat(12),
    lambda r: r.nop(flags="x"),
    lambda r: r.bind(0, ("127.0.0.1",)),
    lambda r: r.connect(0, (1, 2)),
    lambda r: r.register_region(object()),
])
def test_type_errors(ring, call):
    with pytest.raises(TypeError):
        call(ring)


@pytest.mark.parametrize("call", [
    lambda r: r.read(0, bytearray(4), length=5),
    lambda r: r.read(0, bytearray(4), length=-1),
    lambda r: r.write(0, b"abc", 1 << 70),
    lambda r: r.read(-(1 << 40), bytearray(1)),
    lambda r: r.nop(flags=-1),
    lambda r: r.timeout(-1),
    lambda r: r.cancel(-(1 << 70)),
    lambda r: r.connect(0, ("not an ip", 80)),
    lambda r: r.connect(0, ("127.0.0.1", 70000)),
    lambda r: r.openat("a\0b"),
    lambda r: r.bind(0, "x" * 200),
    lambda r: r.symlinkat("t\0", "l"),
])
def test_value_errors(ring, call):
    with pytest.raises(ValueError):
        call(ring)


def test_invalid_flags_and_fds_are_oserrors(ring):
    with pytest.raises(OSError) as e:
        ring.nop(flags=1 << 20)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        ring.read(-1, bytearray(4))
    assert e.value.errno == errno.EBADF


def test_path_too_long(ring):
    with pytest.raises(OSError) as e:
        ring.openat("a" * 5000)
    assert e.value.errno == errno.ENAMETOOLONG
    assert e.value.filename == "a" * 5000


@pytest.mark.parametrize("call, names", [
    (lambda r, p: r.openat(p), 1), (lambda r, p: r.openat2(p), 1),
    (lambda r, p: r.statx(p, bytearray(256)), 1), (lambda r, p: r.unlinkat(p), 1),
    (lambda r, p: r.mkdirat(p), 1), (lambda r, p: r.openat_direct(p), 1),
    (lambda r, p: r.renameat(p, "b"), 2), (lambda r, p: r.linkat(p, "b"), 2),
    (lambda r, p: r.symlinkat(p, "b"), 2),
])
def test_path_ops_refused_at_prep_name_their_files(ring, call, names):
    # The prep's OSError carries the path(s) as os's calls do.
    long = "a" * 5000
    ring.register_files(2)  # for openat_direct
    with pytest.raises(OSError) as e:
        call(ring, long)
    ring.unregister_files()
    assert e.value.errno == errno.ENAMETOOLONG
    assert e.value.filename == long
    assert e.value.filename2 == ("b" if names == 2 else None)


def test_batch_openat_refused_names_its_file(ring):
    batch = ringkit.Batch(2)
    batch.nop()
    batch.openat("a" * 5000)
    with pytest.raises(OSError) as e:
        ring.submit_batch(batch)
    assert e.value.index == 1 and e.value.filename == "a" * 5000
    ring.reap(wait=1, timeout=5)


def test_stale_cancel_never_touches_new_tenant(ring):
    rfd, wfd = os.pipe()
    first = ring.nop()
    complete(ring, first)
    tenant = ring.poll_add(rfd, 1)  # likely reuses first's slot
    with pytest.raises(FileNotFoundError):
        ring.cancel(first)
    ring.submit()
    assert ring.reap(timeout=0.01) == []  # the tenant is untouched
    os.write(wfd, b"x")
    assert result(ring, tenant) & 1
    os.close(rfd)
    os.close(wfd)


def test_full_op_table_says_to_reap_first(tmp_path):
    # EBUSY from a prep carries the C library's words (rk_strerror), which
    # say what a bare "Device or resource busy" does not; errno stays EBUSY.
    words = ringkit.strerror(-errno.EBUSY)
    assert "op table is full: reap completions first" in words
    with ringkit.Ring(2, capacity=2) as ring:
        ring.nop()
        ring.nop()
        region = ringkit.Region(4096, 2)
        chunk = region.alloc()
        batch = ringkit.Batch(2)
        batch.nop()
        for call in (lambda: ring.nop(), lambda: ring.read(0, bytearray(4)),
                     lambda: ring.write(1, b"x"), lambda: ring.openat(tmp_path / "f"),
                     lambda: ring.poll_add(0, 1), lambda: ring.readv(0, [bytearray(4)]),
                     lambda: ring.read_chunk(0, region, chunk),
                     lambda: ring.read_chunks(0, region, [chunk], [0]),
                     lambda: ring.submit_batch(batch, clear=False)):
            with pytest.raises(OSError) as e:
                call()
            assert e.value.errno == errno.EBUSY
            assert e.value.strerror == words, e.value.strerror
        ring.reap(wait=2, timeout=5)
        ring.nop()  # room again
        ring.reap(wait=1, timeout=5)
    region.close()


def test_ebusy_that_is_not_the_op_table_is_not_worded_as_it(ring):
    # A second eventfd: EBUSY, but no op was refused, so no op-table advice.
    a, b = os.eventfd(0), os.eventfd(0)
    try:
        ring.register_eventfd(a)
        with pytest.raises(OSError) as e:
            ring.register_eventfd(b)
        assert e.value.errno == errno.EBUSY and "op table" not in str(e.value)
        ring.unregister_eventfd()
    finally:
        os.close(a)
        os.close(b)
