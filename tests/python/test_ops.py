"""Every file, path and control op of Ring, against the real kernel."""
import errno
import os
import select
import stat
import time

import pytest

import ringkit
from conftest import complete, result


def test_nop(ring):
    assert result(ring, ring.nop()) == 0


def test_read_write_at_offsets(ring, datafile, tmp_path):
    path, data = datafile
    fd = os.open(path, os.O_RDONLY)
    buf = bytearray(100)
    assert result(ring, ring.read(fd, buf, 1000)) == 100
    assert bytes(buf) == data[1000:1100]
    mv = memoryview(buf)[10:20]
    assert result(ring, ring.read(fd, mv, 5, length=4)) == 4
    assert bytes(buf[10:14]) == data[5:9]
    os.close(fd)
    out = tmp_path / "out"
    wfd = os.open(out, os.O_RDWR | os.O_CREAT, 0o600)
    assert result(ring, ring.write(wfd, b"hello world", 3)) == 11
    assert result(ring, ring.write(wfd, b"XY", -1)) == 2  # current position: 0
    os.close(wfd)
    assert out.read_bytes() == b"XY\0hello world"


def test_file_objects_are_accepted_and_held(ring, datafile):
    path, data = datafile
    with open(path, "rb") as f:
        buf = bytearray(10)
        assert result(ring, ring.read(f, buf, 0)) == 10
        assert bytes(buf) == data[:10]


def test_readv_writev(ring, tmp_path):
    p = tmp_path / "v"
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    assert result(ring, ring.writev(fd, [b"abc", bytearray(b"def"), memoryview(b"gh")], 0)) == 8
    a, b = bytearray(2), bytearray(6)
    assert result(ring, ring.readv(fd, [a, b], 0)) == 8
    assert (bytes(a), bytes(b)) == (b"ab", b"cdefgh")
    with pytest.raises(ValueError):
        ring.readv(fd, [], 0)
    with pytest.raises(TypeError):
        ring.readv(fd, [b"readonly"], 0)
    os.close(fd)


def test_chunk_ops_and_registered_region(ring, tmp_path):
    region = ringkit.Region(4096, 4)
    try:
        ring.register_region(region)
        registered = True
    except OSError as e:  # RLIMIT_MEMLOCK: the region works unregistered
        assert e.errno == errno.ENOMEM
        registered = False
    c = region.alloc()
    region.view(c)[:5] = b"chunk"
    p = tmp_path / "c"
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    assert result(ring, ring.write_chunk(fd, region, c, 0, length=5)) == 5
    d = region.alloc()
    assert result(ring, ring.read_chunk(fd, region, d, 0)) == 5
    assert bytes(region.view(d, 5)) == b"chunk"
    with pytest.raises(ValueError):
        ring.read_chunk(fd, region, d, 0, length=5000)  # over the chunk size
    with pytest.raises(ValueError):
        ring.read_chunk(fd, region, 3, 0)  # chunk not allocated
    if registered:
        ring.unregister_region(region)
        with pytest.raises(OSError):
            ring.unregister_region(region)
    os.close(fd)
    region.free(c)
    region.free(d)
    region.close()


def test_fsync_fdatasync_fallocate_fadvise(ring, tmp_path):
    fd = os.open(tmp_path / "s", os.O_RDWR | os.O_CREAT, 0o600)
    assert result(ring, ring.fallocate(fd, 0, 8192)) == 0
    assert os.fstat(fd).st_size == 8192
    assert result(ring, ring.fsync(fd)) == 0
    assert result(ring, ring.fsync(fd, datasync=True)) == 0
    assert result(ring, ring.fadvise(fd, 0, 4096, os.POSIX_FADV_DONTNEED)) == 0
    os.close(fd)


def test_open_statx_close(ring, datafile):
    path, data = datafile
    fd = result(ring, ring.openat(path))
    assert fd >= 0
    buf = bytearray(ringkit.STATX_SIZE)
    assert result(ring, ring.statx(path, buf)) == 0
    st = ringkit.parse_statx(buf)
    assert st.size == len(data) and stat.S_ISREG(st.mode)
    assert st.ino == os.stat(path).st_ino
    assert st.mtime_ns == os.stat(path).st_mtime_ns
    with pytest.raises(ValueError):
        ring.statx(path, bytearray(10))
    fd2 = result(ring, ring.openat2(path, os.O_RDONLY, 0, 0))
    assert fd2 >= 0
    assert result(ring, ring.close_fd(fd)) == 0
    assert result(ring, ring.close_fd(fd2)) == 0
    assert result(ring, ring.close_fd(fd2)) == -errno.EBADF


def test_dirfd_relative_paths(ring, tmp_path):
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    (tmp_path / "rel").write_bytes(b"x")
    fd = result(ring, ring.openat("rel", dir_fd=dfd))
    assert fd >= 0
    os.close(fd)
    os.close(dfd)


def test_path_ops(ring, tmp_path):
    d = tmp_path / "dir"
    assert result(ring, ring.mkdirat(d, 0o755)) == 0
    assert d.is_dir()
    assert result(ring, ring.mkdirat(d)) == -errno.EEXIST
    f = d / "f"
    f.write_bytes(b"1")
    assert result(ring, ring.renameat(f, d / "g")) == 0
    assert result(ring, ring.linkat(d / "g", d / "h")) == 0
    assert os.stat(d / "g").st_nlink == 2
    assert result(ring, ring.symlinkat("g", d / "s")) == 0
    assert os.readlink(d / "s") == "g"
    for name in ("g", "h", "s"):
        assert result(ring, ring.unlinkat(d / name)) == 0
    assert result(ring, ring.unlinkat(d, at_flags=0x200)) == 0  # AT_REMOVEDIR
    assert not d.exists()


def test_splice_and_tee(ring, datafile):
    path, data = datafile
    fd = os.open(path, os.O_RDONLY)
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    assert result(ring, ring.splice(fd, 0, w1, -1, 1000)) == 1000
    assert result(ring, ring.tee(r1, w2, 1000)) == 1000
    assert os.read(r1, 2000) == data[:1000]
    assert os.read(r2, 2000) == data[:1000]
    for x in (fd, r1, w1, r2, w2):
        os.close(x)


def test_copy(ring, datafile, tmp_path):
    path, data = datafile
    fd = os.open(path, os.O_RDONLY)
    out = os.open(tmp_path / "copy.bin", os.O_RDWR | os.O_CREAT, 0o600)
    assert result(ring, ring.copy(fd, 1, out, 0, len(data))) == len(data) - 1
    assert os.pread(out, len(data), 0) == data[1:]
    b = ringkit.Batch(2)
    b.copy(fd, 0, out, 0, 1000, copy_flags=ringkit.COPY_READ_WRITE)
    (cid,) = ring.submit_batch(b)
    assert complete(ring, cid)[cid][0] == 1000
    r, w = os.pipe()
    with pytest.raises(OSError) as e:
        ring.copy(fd, 0, w, 0, 10)
    assert e.value.errno == errno.ESPIPE
    for x in (fd, out, r, w):
        os.close(x)


def test_copy_no_prealloc(ring, tmp_path):
    # Many chunks of 4 KiB each, so the copy would preallocate without the flag.
    data = os.urandom(256 * 1024 + 123)
    (tmp_path / "src.bin").write_bytes(data)
    fd = os.open(tmp_path / "src.bin", os.O_RDONLY)
    out = os.open(tmp_path / "dst.bin", os.O_WRONLY | os.O_CREAT, 0o600)
    assert ringkit.COPY_NO_PREALLOC == ringkit.constant("RK_COPY_NO_PREALLOC")
    flags = ringkit.COPY_NO_PREALLOC | (12 << ringkit.constant("RK_COPY_CHUNK_SHIFT"))
    assert result(ring, ring.copy(fd, 0, out, 0, len(data), copy_flags=flags)) == len(data)
    assert (tmp_path / "dst.bin").read_bytes() == data
    for x in (fd, out):
        os.close(x)


def test_copy_direct_flags(ring, tmp_path):
    # Forced direct reads copy byte for byte, the unaligned tail through the
    # caller's fd (or the whole copy, where the filesystem has no O_DIRECT);
    # the two direct flags together are refused.
    data = os.urandom(3 * 1024 * 1024 + 777)
    (tmp_path / "src.bin").write_bytes(data)
    fd = os.open(tmp_path / "src.bin", os.O_RDONLY)
    out = os.open(tmp_path / "dst.bin", os.O_WRONLY | os.O_CREAT, 0o600)
    assert ringkit.COPY_DIRECT == ringkit.constant("RK_COPY_DIRECT")
    assert ringkit.COPY_NO_DIRECT == ringkit.constant("RK_COPY_NO_DIRECT")
    assert result(ring, ring.copy(fd, 0, out, 0, len(data),
                                  copy_flags=ringkit.COPY_DIRECT)) == len(data)
    assert (tmp_path / "dst.bin").read_bytes() == data
    with pytest.raises(OSError) as e:
        ring.copy(fd, 0, out, 0, len(data),
                  copy_flags=ringkit.COPY_DIRECT | ringkit.COPY_NO_DIRECT)
    assert e.value.errno == errno.EINVAL
    for x in (fd, out):
        os.close(x)


def test_poll_add_remove_and_multishot(ring):
    rfd, wfd = os.pipe()
    p = ring.poll_add(rfd, select.POLLIN)
    os.write(wfd, b"x")
    assert result(ring, p) & select.POLLIN
    p = ring.poll_add(rfd, select.POLLOUT)  # never ready for a read end
    ring.submit()
    rm = ring.poll_remove(p)
    done = complete(ring, p, rm)
    assert done[p][0] == -errno.ECANCELED and done[rm][0] == 0
    m = ring.poll_multishot(wfd, select.POLLOUT)
    ring.submit()
    time.sleep(0.01)
    first = ring.reap(wait=1, timeout=5)
    assert first and first[0][0] == m and first[0][2] & ringkit.CQE_F_MORE
    rm = ring.poll_remove(m)
    done = complete(ring, m, rm)
    assert done[m][0] == -errno.ECANCELED
    os.close(rfd)
    os.close(wfd)


def test_timeouts(ring):
    t0 = time.monotonic()
    assert result(ring, ring.timeout(0.02)) == -errno.ETIME
    assert time.monotonic() - t0 >= 0.015
    t = ring.timeout(10)
    ring.submit()
    rm = ring.timeout_remove(t)
    done = complete(ring, t, rm)
    assert done[t][0] == -errno.ECANCELED and done[rm][0] == 0
    rfd, wfd = os.pipe()
    p = ring.poll_add(rfd, select.POLLIN, flags=ringkit.LINK)
    lt = ring.link_timeout(0.01)
    done = complete(ring, p, lt)
    assert done[p][0] == -errno.ECANCELED and done[lt][0] == -errno.ETIME
    os.close(rfd)
    os.close(wfd)


def test_cancel_and_stale_ids(ring):
    rfd, wfd = os.pipe()
    p = ring.poll_add(rfd, select.POLLIN)
    ring.submit()
    c = ring.cancel(p)
    done = complete(ring, p, c)
    assert done[p][0] == -errno.ECANCELED and done[c][0] == 0
    # p is stale now; a new op may reuse its slot, never its id
    p2 = ring.poll_add(rfd, select.POLLIN)
    assert p2 != p
    with pytest.raises(FileNotFoundError):
        ring.cancel(p)
    with pytest.raises(FileNotFoundError):
        ring.cancel_sync(p)
    ring.cancel_sync(p2)
    assert result(ring, p2) == -errno.ECANCELED
    os.close(rfd)
    os.close(wfd)


def test_linked_chain(ring, tmp_path):
    fd = os.open(tmp_path / "l", os.O_RDWR | os.O_CREAT, 0o600)
    w = ring.write(fd, b"linked", 0, flags=ringkit.LINK)
    s = ring.fsync(fd, flags=ringkit.LINK)
    buf = bytearray(6)
    r = ring.read(fd, buf, 0)
    done = complete(ring, w, s, r)
    assert [done[i][0] for i in (w, s, r)] == [6, 0, 6]
    assert bytes(buf) == b"linked"
    os.close(fd)


def test_op_table_full_then_recovers():
    with ringkit.Ring(4, capacity=8) as r:
        ids = [r.nop() for _ in range(8)]
        with pytest.raises(OSError) as e:
            r.nop()
        assert e.value.errno == errno.EBUSY
        complete(r, *ids)
        assert result(r, r.nop()) == 0


def test_reap_max_and_growth(ring):
    ids = [ring.nop() for _ in range(10)]
    got = ring.reap(max=3, wait=3)
    assert len(got) == 3
    rest = []
    while len(got) + len(rest) < 10:
        rest += ring.reap(max=1000, wait=1)
    assert sorted(i for i, _, _ in got + rest) == sorted(ids)
