"""The vector paths: read_chunks/write_chunks over int buffers (array.array,
numpy, memoryviews) with ids written into a buffer, and reap_into() writing
completion records into caller memory."""
import array
import errno
import gc
import importlib
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
import weakref

import pytest
from hypothesis import given, settings, strategies as st

import ringkit
from conftest import complete, listener

# The numpy cases skip without it; the property test then draws no numpy.
try:
    importlib.import_module("numpy")
    HAVE_NUMPY = True
except ImportError:
    HAVE_NUMPY = False

CS = 512        # chunk size
NCHUNKS = 8
BLOCKS = 128    # of the data file, each CS bytes


@pytest.fixture
def region():
    r = ringkit.Region(CS, NCHUNKS)
    yield r
    r.close()


@pytest.fixture(scope="module")
def blockpath(tmp_path_factory):
    """A file of BLOCKS blocks of CS bytes, every block different: (path, data)."""
    data = b"".join(struct.pack("=I", i) * (CS // 4) for i in range(BLOCKS))
    p = tmp_path_factory.mktemp("vector") / "blocks.bin"
    p.write_bytes(data)
    return p, data


@pytest.fixture(scope="module")
def blockfile(blockpath):
    """blockpath opened read-only: (fd, data)."""
    path, data = blockpath
    fd = os.open(path, os.O_RDONLY)
    yield fd, data
    os.close(fd)


def np_or_skip():
    return pytest.importorskip("numpy")


def as_kind(kind, values, width):
    """values as the container `kind`; width 4 (chunks) or 8 (offsets)."""
    code = "i" if width == 4 else "q"
    if kind == "list":
        return list(values)
    if kind == "tuple":
        return tuple(values)
    if kind == "range":
        return range(values[0], values[0] + len(values)) if values else range(0)
    if kind == "array":
        return array.array(code, values)
    if kind == "memoryview":
        return memoryview(array.array(code, values))
    if kind == "long":  # array("l"): 8 bytes on LP64, so offsets only
        return array.array("l", values)
    if kind == "numpy":
        np = np_or_skip()
        return np.array(values, dtype=np.int32 if width == 4 else np.int64)
    raise AssertionError(kind)


def reap_records(ring, n, timeout=10.0):
    """Reaps exactly n completions through reap_into: [(id, res, flags)]."""
    out = bytearray(16 * max(n, 1))
    got = 0
    while got < n:
        k = ring.reap_into(memoryview(out)[16 * got:], wait=n - got, timeout=timeout)
        assert k, "no completion within %ss" % timeout
        got += k
    return list(struct.iter_unpack(ringkit.CQE_FORMAT, out[:16 * n]))


def check_blocks(region, chunks, offsets, data, nbytes=CS):
    for c, off in zip(chunks, offsets):
        assert bytes(region.view(c, nbytes)) == data[off:off + nbytes]


@pytest.mark.parametrize("ckind,okind", [
    ("list", "list"), ("tuple", "range"), ("array", "array"), ("array", "long"),
    ("memoryview", "memoryview"), ("numpy", "numpy"), ("array", "numpy"), ("list", "array"),
])
def test_chunk_reads_from_any_int_container(ring, region, blockfile, ckind, okind):
    fd, data = blockfile
    chunks = [region.alloc() for _ in range(4)]
    offsets = [7 * CS, 0, 3 * CS, 100 * CS] if okind != "range" else [5, 6, 7, 8]
    ids = ring.read_chunks(fd, region, as_kind(ckind, chunks, 4), as_kind(okind, offsets, 8))
    assert isinstance(ids, list) and len(set(ids)) == 4
    done = complete(ring, *ids)
    assert [done[i][0] for i in ids] == [CS] * 4
    check_blocks(region, chunks, offsets, data)


def test_write_chunks_from_arrays(ring, region, tmp_path):
    chunks = array.array("i", [region.alloc() for _ in range(3)])
    for c in chunks:
        region.view(c)[:] = bytes([65 + c]) * CS
    fd = os.open(tmp_path / "w", os.O_RDWR | os.O_CREAT, 0o600)
    ids = array.array("q", [0] * 3)
    offsets = array.array("q", [2 * CS, 0, CS])
    assert ring.write_chunks(fd, region, chunks, offsets, ids=ids) == 3
    done = complete(ring, *ids)
    assert [done[i][0] for i in ids] == [CS] * 3
    got = os.pread(fd, 3 * CS, 0)
    for c, off in zip(chunks, offsets):
        assert got[off:off + CS] == bytes([65 + c]) * CS
    os.close(fd)


def bad_chunk_buffers():
    yield b"\0" * 16                      # bytes: format B
    yield bytearray(16)
    yield array.array("d", [0.0, 1.0])
    yield array.array("h", [0, 1])
    yield array.array("q", [0, 1])        # right values, 8-byte items
    yield array.array("I", [0, 1])        # unsigned
    yield memoryview(array.array("i", [0, 1, 2, 3])).cast("B")


def bad_offset_buffers():
    yield b"\0" * 16
    yield array.array("i", [0, 0])       # 4-byte items would be read as half offsets
    yield array.array("d", [0.0, 0.0])
    yield array.array("Q", [0, 0])
    yield memoryview(array.array("q", [0, 0])).cast("B")


@pytest.mark.parametrize("bad", list(bad_chunk_buffers()), ids=repr)
def test_chunks_of_wrong_item_type_are_refused(ring, region, blockfile, bad):
    fd, _ = blockfile
    region.alloc()
    with pytest.raises(TypeError):
        ring.read_chunks(fd, region, bad, [0, 0])
    assert ring.stats()["inflight"] == 0


@pytest.mark.parametrize("bad", list(bad_offset_buffers()), ids=repr)
def test_offsets_of_wrong_item_type_are_refused(ring, region, blockfile, bad):
    fd, _ = blockfile
    c = region.alloc()
    with pytest.raises(TypeError):
        ring.read_chunks(fd, region, [c, c], bad)
    assert ring.stats()["inflight"] == 0


def test_numpy_of_wrong_dtype_or_shape_is_refused(ring, region, blockfile):
    np = np_or_skip()
    fd, _ = blockfile
    c = region.alloc()
    offs = np.zeros(2, dtype=np.int64)
    for bad in (np.zeros(2, np.int16), np.zeros(2, np.uint32), np.zeros(2, np.float32),
                np.zeros(2, np.int64), np.zeros(2, ">i4" if sys.byteorder == "little" else "<i4")):
        with pytest.raises(TypeError):
            ring.read_chunks(fd, region, bad, offs)
    for bad in (np.zeros(2, np.uint64), np.zeros(2, np.float64), np.zeros(2, np.int32),
                np.zeros(2, ">i8" if sys.byteorder == "little" else "<i8")):
        with pytest.raises(TypeError):
            ring.read_chunks(fd, region, np.full(2, c, np.int32), bad)
    with pytest.raises(ValueError):  # 2-D
        ring.read_chunks(fd, region, np.full((1, 2), c, np.int32), offs)
    with pytest.raises(ValueError):  # not contiguous
        ring.read_chunks(fd, region, np.full(4, c, np.int32)[::2], offs)
    with pytest.raises(ValueError):
        ring.read_chunks(fd, region, [c, c], memoryview(array.array("q", [0] * 4))[::2])
    assert ring.stats()["inflight"] == 0


@pytest.mark.parametrize("nchunks,noffsets", [(2, 3), (3, 2), (0, 1)])
def test_lengths_must_match(ring, region, blockfile, nchunks, noffsets):
    fd, _ = blockfile
    c = region.alloc()
    with pytest.raises(ValueError):
        ring.read_chunks(fd, region, array.array("i", [c] * nchunks),
                         array.array("q", [0] * noffsets))
    with pytest.raises(ValueError):
        ring.read_chunks(fd, region, [c] * nchunks, [0] * noffsets)
    assert ring.stats()["inflight"] == 0


def test_ids_buffer_receives_the_ids(ring, region, blockfile):
    fd, data = blockfile
    chunks = array.array("i", [region.alloc() for _ in range(3)])
    ids = array.array("q", [-7] * 5)  # longer than needed: the rest is left alone
    offsets = array.array("q", [CS, 2 * CS, 9 * CS])
    assert ring.read_chunks(fd, region, chunks, offsets, ids=ids) == 3
    assert ids[3:] == array.array("q", [-7, -7]) and len(set(ids[:3])) == 3
    recs = reap_records(ring, 3)
    assert sorted(i for i, _, _ in recs) == sorted(ids[:3])
    assert all(res == CS and flags == 0 for _, res, flags in recs)
    check_blocks(region, chunks, offsets, data)
    assert ring.read_chunks(fd, region, [], [], ids=ids) == 0


def test_ids_into_numpy_and_memoryview(ring, region, blockfile):
    fd, _ = blockfile
    c = region.alloc()
    mv = memoryview(array.array("q", [0] * 2))
    assert ring.read_chunks(fd, region, [c], [0], ids=mv[1:]) == 1
    assert [i for i, _, _ in reap_records(ring, 1)] == [mv[1]]
    np = np_or_skip()
    ids = np.zeros(1, dtype=np.int64)
    assert ring.read_chunks(fd, region, [c], [0], ids=ids) == 1
    assert [i for i, _, _ in reap_records(ring, 1)] == [int(ids[0])]


@pytest.mark.parametrize("bad,exc", [
    (array.array("q", [0]), ValueError),                     # too short for 2 ops
    (array.array("i", [0, 0, 0, 0]), TypeError),             # 4-byte items
    (bytearray(16), TypeError),
    (bytes(16), TypeError),
    (memoryview(array.array("q", [0, 0])).toreadonly(), TypeError),
    ([0, 0], TypeError),                                     # not a buffer
])
def test_bad_ids_buffers_are_refused(ring, region, blockfile, bad, exc):
    fd, _ = blockfile
    c = region.alloc()
    with pytest.raises(exc):
        ring.read_chunks(fd, region, [c, c], [0, 0], ids=bad)
    assert ring.stats()["inflight"] == 0


@pytest.mark.parametrize("with_ids", [False, True])
def test_refused_op_leaves_the_earlier_ones_queued(ring, region, blockfile, with_ids):
    fd, data = blockfile
    c = region.alloc()
    d = region.alloc()
    ids = array.array("q", [0] * 3) if with_ids else None
    with pytest.raises(OSError) as e:  # chunk 7 is not allocated
        ring.read_chunks(fd, region, array.array("i", [c, d, 7]),
                         array.array("q", [CS, 2 * CS, 0]), ids=ids)
    assert e.value.errno == errno.EINVAL
    assert len(e.value.ids) == 2
    if with_ids:
        assert list(ids[:2]) == e.value.ids
    done = complete(ring, *e.value.ids)
    assert all(done[i][0] == CS for i in e.value.ids)
    check_blocks(region, [c, d], [CS, 2 * CS], data)


class Owner:
    """An fd's owner, as a socket or file object is: ops on it hold it."""

    def __init__(self, fd):
        self.fd = fd

    def fileno(self):
        return self.fd


def test_fd_owner_is_held_until_reap_into(ring, region, blockfile):
    fd, data = blockfile
    c = region.alloc()
    f = Owner(fd)
    alive = weakref.ref(f)
    ids = array.array("q", [0])
    assert ring.read_chunks(f, region, array.array("i", [c]), array.array("q", [CS]),
                            ids=ids) == 1
    del f
    gc.collect()
    assert alive() is not None  # the ring holds it until the completion
    assert reap_records(ring, 1) == [(ids[0], CS, 0)]
    gc.collect()
    assert alive() is None
    check_blocks(region, [c], [CS], data)


def register_or_not(ring, region):
    try:
        ring.register_region(region)
    except OSError as e:
        assert e.errno == errno.ENOMEM  # RLIMIT_MEMLOCK: plain reads then


def test_fixed_file_chunk_reads(region, ring, blockpath):  # ring closes first
    path, data = blockpath
    register_or_not(ring, region)
    fd = os.open(path, os.O_RDONLY)
    ring.register_files(4)
    assert ring.update_files(2, [fd]) == 1
    os.close(fd)  # the table holds its own reference
    chunks = array.array("i", [region.alloc() for _ in range(NCHUNKS)])
    offsets = array.array("q", [(i * 37 % BLOCKS) * CS for i in range(NCHUNKS)])
    ids = array.array("q", [0] * NCHUNKS)
    assert ring.read_chunks(2, region, chunks, offsets, ids=ids,
                            flags=ringkit.FIXED_FILE) == NCHUNKS
    recs = reap_records(ring, NCHUNKS)
    assert sorted(recs) == sorted((i, CS, 0) for i in ids)
    check_blocks(region, chunks, offsets, data)
    # length= reads less than a chunk; an empty slot fails at completion
    short, empty = array.array("q", [0]), array.array("q", [0])
    assert ring.read_chunks(2, region, chunks[:1], [CS], length=10, ids=short,
                            flags=ringkit.FIXED_FILE) == 1
    assert ring.read_chunks(3, region, chunks[1:2], [0], ids=empty,
                            flags=ringkit.FIXED_FILE) == 1
    done = {i: r for i, r, _ in reap_records(ring, 2)}
    assert done == {short[0]: 10, empty[0]: -errno.EBADF}
    check_blocks(region, chunks[:1], [CS], data, 10)


def test_reap_into_matches_reap(blockfile, tmp_path):
    """The same ops on two fresh rings: one reaped with reap(), the other
    with reap_into() into a bytearray and a numpy array; same records."""
    fd, data = blockfile

    def run(reaper):
        with ringkit.Ring(16) as ring:
            bufs = [bytearray(100) for _ in range(3)]
            for i, b in enumerate(bufs):
                ring.read(fd, b, i * 1000)
            ring.nop()
            ring.read(999999, bytearray(8))          # no such fd: -EBADF
            ring.timeout(0.001)                      # -ETIME
            ring.read(fd, bytearray(10), len(data) - 4)  # short read: 4
            recs = reaper(ring, 7)
            assert [bytes(b) for b in bufs] == [data[i * 1000:i * 1000 + 100] for i in range(3)]
            return sorted(recs)

    def by_reap(ring, n):
        recs = []
        while len(recs) < n:
            got = ring.reap(wait=n - len(recs), timeout=10)
            assert got
            recs += got
        return recs

    want = run(by_reap)
    assert sorted(r for _, r, _ in want) == sorted([100, 100, 100, 0, -errno.EBADF,
                                                    -errno.ETIME, 4])
    assert run(reap_records) == want
    np = np_or_skip()

    def by_numpy(ring, n):
        out = np.zeros(n, dtype=np.dtype(ringkit.CQE_DTYPE))
        got = 0
        while got < n:
            k = ring.reap_into(out[got:], wait=n - got, timeout=10)
            assert k
            got += k
        assert out.itemsize == ringkit.CQE_SIZE
        return [(int(r["id"]), int(r["res"]), int(r["flags"])) for r in out]

    assert run(by_numpy) == want


def test_reap_into_releases_held_buffers(ring, blockfile):
    fd, data = blockfile
    buf = bytearray(64)
    op = ring.read(fd, buf, 128)
    ring.submit()
    with pytest.raises(BufferError):
        buf.append(0)  # held until reaped
    assert reap_records(ring, 1) == [(op, 64, 0)]
    buf.append(0)
    assert bytes(buf[:64]) == data[128:192]


def test_reap_into_keeps_buffer_held_across_more_records(ring):
    s, port = listener()
    c = socket.create_connection(("127.0.0.1", port))
    srv, _ = s.accept()
    data = bytearray(b"z" * 65536)
    op = ring.send_zc(c, data)
    out = bytearray(16)  # one record per call: the result, then the notification
    records = []
    while not records or records[-1][2] & ringkit.CQE_F_MORE:
        assert ring.reap_into(out, wait=1, timeout=5) == 1
        records.append(struct.unpack(ringkit.CQE_FORMAT, out))
        if records[-1][2] & ringkit.CQE_F_MORE:
            with pytest.raises(BufferError):
                data.append(0)  # still pinned between result and notification
    assert records[0] == (op, 65536, records[0][2]) and records[0][2] & ringkit.CQE_F_MORE
    assert records[-1][0] == op and records[-1][2] & ringkit.CQE_F_NOTIF
    data.append(0)
    got = 0
    while got < 65536:
        got += len(srv.recv(65536))
    for x in (c, srv, s):
        x.close()


def test_reap_into_buffer_checks(ring):
    op = ring.nop()
    for small in (bytearray(0), bytearray(15), memoryview(bytearray(32))[:8]):
        with pytest.raises(ValueError):
            ring.reap_into(small)
    with pytest.raises(ValueError):  # misaligned for 8-byte ids
        ring.reap_into(memoryview(bytearray(40))[4:])
    for ro in (bytes(32), memoryview(bytearray(32)).toreadonly()):
        with pytest.raises(TypeError):
            ring.reap_into(ro)
    with pytest.raises(TypeError):
        ring.reap_into([0] * 4)
    with pytest.raises(ValueError):
        ring.reap_into(bytearray(16), wait=-1)
    with pytest.raises(ValueError):
        ring.reap_into(bytearray(16), timeout=-1)
    out = bytearray(31)  # room for one record; the tail is left alone
    out[16:] = b"\xee" * 15
    assert ring.reap_into(out, wait=1, timeout=10) == 1
    assert struct.unpack_from(ringkit.CQE_FORMAT, out) == (op, 0, 0)
    assert out[16:] == b"\xee" * 15
    ring.close()
    with pytest.raises(ValueError):
        ring.reap_into(bytearray(16))


def test_reap_into_wait_and_timeout(ring):
    out = bytearray(16 * 8)
    assert ring.reap_into(out) == 0  # nothing queued: no wait
    rfd, wfd = os.pipe()
    poll = ring.poll_add(rfd, 1)
    t0 = time.monotonic()
    assert ring.reap_into(out, wait=1, timeout=0.05) == 0
    assert time.monotonic() - t0 >= 0.04
    ids = [ring.nop() for _ in range(3)]
    got = []
    while len(got) < 3:  # wait=3 returns once all three are there (or all fit)
        n = ring.reap_into(out, wait=3 - len(got), timeout=10)
        assert n
        got += [r[0] for r in struct.iter_unpack(ringkit.CQE_FORMAT, out[:16 * n])]
    assert sorted(got) == sorted(ids)
    ids = [ring.nop() for _ in range(3)]
    one = bytearray(16)  # wait beyond the capacity: returns what fits
    assert ring.reap_into(one, wait=3, timeout=10) == 1
    first = struct.unpack(ringkit.CQE_FORMAT, one)[0]
    assert sorted([first] + [i for i, _, _ in reap_records(ring, 2)]) == sorted(ids)
    os.write(wfd, b"x")
    assert reap_records(ring, 1)[0][:2] == (poll, 1)  # POLLIN
    os.close(rfd)
    os.close(wfd)


CHILD = textwrap.dedent("""
    import os, signal, sys, ringkit
    ring = ringkit.Ring(8)
    rfd, wfd = os.pipe()
    ring.poll_add(rfd, 1)          # never completes on its own
    hits = []
    timeout = None
    if sys.argv[1] == "handler":
        signal.signal(signal.SIGUSR1, lambda *a: hits.append(1))
        timeout = 1.0
    print("ready", flush=True)
    try:
        n = ring.reap_into(bytearray(64), wait=1, timeout=timeout)
        print("hits", len(hits), "got", n, flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    ring.close()
""")


@pytest.mark.parametrize("mode,sig", [("int", signal.SIGINT), ("handler", signal.SIGUSR1)])
def test_signals_during_blocking_reap_into(mode, sig):
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-c", CHILD, mode], stdout=subprocess.PIPE,
                         text=True, env=dict(os.environ))
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.2)  # let it block in the wait
    p.send_signal(sig)
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 0
    if mode == "int":
        assert "interrupted" in out, out
    else:
        assert "hits 1 got 0" in out, out
        assert time.monotonic() - t0 >= 1.0  # the wait kept its deadline


KINDS = st.sampled_from(["list", "tuple", "array", "memoryview"] + ["numpy"] * HAVE_NUMPY)
# (chunk, block, skew): distinct chunks, so no two reads share one
READS = st.lists(st.tuples(st.integers(0, NCHUNKS - 1), st.integers(0, BLOCKS - 1),
                           st.integers(0, 3)),
                 min_size=1, max_size=NCHUNKS, unique_by=lambda t: t[0])


@settings(max_examples=40, deadline=None, database=None)
@given(READS, KINDS, KINDS, st.booleans(), st.booleans())
def test_any_container_reads_what_pread_reads(blockfile, pairs, ckind, okind, with_ids,
                                              reap_with_buffer):
    """Each chunk reads block `b` at byte offset b*CS + skew: the same bytes
    os.pread returns, whatever carries the chunk and offset numbers."""
    fd, data = blockfile
    with ringkit.Ring(16) as ring, ringkit.Region(CS, NCHUNKS) as region:
        for _ in range(NCHUNKS):
            region.alloc()
        chunks = [c for c, _, _ in pairs]
        offsets = [b * CS + skew for _, b, skew in pairs]
        ids = array.array("q", [0] * len(pairs)) if with_ids else None
        r = ring.read_chunks(fd, region, as_kind(ckind, chunks, 4), as_kind(okind, offsets, 8),
                             ids=ids)
        if with_ids:
            assert r == len(pairs)
            ids = list(ids)
        else:
            assert len(r) == len(pairs)
            ids = r
        if reap_with_buffer:
            done = {i: res for i, res, _ in reap_records(ring, len(ids))}
        else:
            done = {i: v[0] for i, v in complete(ring, *ids).items() if i != "more"}
        assert sorted(done) == sorted(ids)
        for i, c, off in zip(ids, chunks, offsets):
            want = os.pread(fd, CS, off)
            assert done[i] == len(want)
            assert bytes(region.view(c, len(want))) == want


def test_array_batches_take_the_one_call_path_and_hold_nothing(ring, region, blockfile):
    from ringkit import _vector
    fd, data = blockfile
    chunks = array.array("i", [region.alloc() for _ in range(4)])
    offsets = array.array("q", [CS * b for b in (3, 1, 4, 1)])
    ids = array.array("q", [0] * 4)
    # What Ring.read_chunks hands to ringkit._vector: arrays are taken in
    # place, anything else is left to the general path.
    assert _vector.prep_chunks(ring._h, 0, fd, region._h, [0], offsets[:1], CS, 0,
                               ids) is NotImplemented
    assert _vector.prep_chunks(None, 0, fd, region._h, chunks, offsets, CS, 0,
                               ids) is NotImplemented
    assert _vector.reap_into(ring._h, bytearray(8), 0, -1) is NotImplemented
    assert ring.read_chunks(fd, region, chunks, offsets, ids=ids) == 4
    out = bytearray(16 * 4)
    got = 0
    while got < 4:
        got += ring.reap_into(out, 1)
    check_blocks(region, list(chunks), list(offsets), data)
    # No export outlives a call: the caller may resize its arrays at once.
    chunks.append(0)
    offsets.append(0)
    ids.append(0)
    out.extend(b"x")
    for c in list(chunks)[:4]:
        region.free(c)


def test_closed_ring_or_region_on_the_one_call_path(region, blockfile):
    fd, _ = blockfile
    r = ringkit.Ring(8)
    r.close()
    chunks, offsets, ids = array.array("i", [0]), array.array("q", [0]), array.array("q", [0])
    with pytest.raises(ValueError):
        r.read_chunks(fd, region, chunks, offsets, ids=ids)
    with pytest.raises(ValueError):
        r.reap_into(bytearray(16))
    other = ringkit.Region(CS, 1)
    other.close()
    with ringkit.Ring(8) as live:
        with pytest.raises(ValueError):
            live.read_chunks(fd, other, chunks, offsets, ids=ids)
