"""The dlopen-only backend (bindings/ctypes/ringkit_ctypes.py): its
declarations agree with the ABI listing, and it drives a whole scenario --
rings, a registered region, file, pipe and timeout ops, descriptor batches,
cancellation, provided buffers with a multishot recv, completion callbacks --
with nothing but ctypes."""
import contextlib
import ctypes
import errno
import json
import os
import pathlib
import socket
import time

import pytest

import ringkit_ctypes as rk

ROOT = pathlib.Path(os.environ.get("RINGKIT_SRC") or pathlib.Path(__file__).resolve().parents[2])
LISTING = json.loads((ROOT / "doc" / "abi.json").read_text())


def ctype_matches(t, listed):
    """Whether ctypes type t is the listed libffi type."""
    ffi = listed["ffi"]
    if ffi == "pointer":
        if listed.get("callback"):
            return t is rk.CQE_FN
        return t in (ctypes.c_void_p, ctypes.c_char_p)
    if ffi == "void":
        return t is None
    bits = int(ffi.lstrip("suint"))
    signed = ffi.startswith("s")
    return ctypes.sizeof(t) * 8 == bits and (t(-1).value < 0) == signed


@contextlib.contextmanager
def open_ring(entries, flags=0):
    """A ring closed after the block; the test is skipped where io_uring is refused."""
    try:
        r = rk.Ring(entries, flags=flags)
    except PermissionError as e:
        pytest.skip("io_uring refused here: %s" % e)
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def ring():
    with open_ring(32) as r:
        yield r


def complete(ring, *ids, timeout=10.0):
    """Reaps until each id's final completion: {id: (res, flags)}, with the
    records that carried MORE under "more"."""
    want, done, more = set(ids), {}, {}
    deadline = time.monotonic() + timeout
    while want - done.keys():
        assert time.monotonic() < deadline, "no completion for %s" % (want - done.keys())
        for op_id, res, flags in ring.reap(wait=1, timeout=1.0):
            if flags & rk.C.RK_CQE_F_MORE:
                more.setdefault(op_id, []).append((res, flags))
            else:
                assert op_id not in done
                done[op_id] = (res, flags)
    done["more"] = more
    return done


def result(ring, op_id):
    return complete(ring, op_id)[op_id][0]


# -- the binding against the listing --------------------------------------

def test_every_listed_function_is_declared_with_its_types():
    listed = {f["name"]: f for f in LISTING["functions"]}
    assert set(rk.SIGNATURES) == set(listed)
    assert rk.MISSING == []
    for name, (restype, argtypes) in rk.SIGNATURES.items():
        f = listed[name]
        assert ctype_matches(restype, f["returns"]), name
        assert len(argtypes) == len(f["params"]), name
        for t, p in zip(argtypes, f["params"]):
            assert ctype_matches(t, p), "%s(%s)" % (name, p["name"])
        fn = getattr(rk.lib, name)
        assert fn.restype is restype and list(fn.argtypes) == argtypes


def test_callback_type_matches_listing():
    (cb,) = [c for c in LISTING["callbacks"] if c["name"] == "rk_cqe_fn"]
    assert ctype_matches(rk.CQE_FN._restype_, cb["returns"])
    assert len(rk.CQE_FN._argtypes_) == len(cb["params"])
    for t, p in zip(rk.CQE_FN._argtypes_, cb["params"]):
        assert ctype_matches(t, p), p["name"]


@pytest.mark.parametrize("cls", [rk.Cqe, rk.Iovec, rk.OpDesc, rk.OpArg, rk.OpInfo])
def test_struct_layout_matches_listing(cls):
    name = {"Cqe": "rk_cqe", "Iovec": "rk_iovec", "OpDesc": "rk_op_desc", "OpArg": "rk_op_arg",
            "OpInfo": "rk_op_info"}[cls.__name__]
    (st,) = [s for s in LISTING["structs"] if s["name"] == name]
    assert ctypes.sizeof(cls) == st["size"]
    assert ctypes.alignment(cls) == st["align"]
    assert [f[0] for f in cls._fields_] == [f["name"] for f in st["fields"]]
    for f in st["fields"]:
        d = getattr(cls, f["name"])
        assert (d.offset, d.size) == (f["offset"], f["size"]), f["name"]


def test_constants_come_from_the_library():
    for name in LISTING["constants"]:
        assert rk.CONSTANTS[name] == rk.constant(name), name
    assert rk.C.RK_VERSION_MAJOR == rk.ABI_MAJOR
    assert rk.lib.rk_version() == (rk.C.RK_VERSION_MAJOR << 16 | rk.C.RK_VERSION_MINOR << 8
                                   | rk.C.RK_VERSION_PATCH)
    assert rk.C.O_RDONLY == os.O_RDONLY and rk.C.EAGAIN == errno.EAGAIN
    with pytest.raises(KeyError):
        rk.constant("RK_NO_SUCH_THING")


# -- the scenario -----------------------------------------------------------

def test_region_file_pipe_timeout_batch_cancel(ring, tmp_path):
    with rk.Region(4096, 4) as region:
        try:
            ring.register_region(region)  # fixed buffers when memlock allows
            registered = True
        except OSError as e:
            assert e.errno == errno.ENOMEM
            registered = False
        # Region chunks: write one to a file, read it back into another.
        src, dst = region.alloc(), region.alloc()
        pattern = bytes((i * 7) & 0xFF for i in range(4096))
        region.view(src)[:] = pattern
        fd = result(ring, ring.openat(tmp_path / "f", rk.C.O_RDWR | rk.C.O_CREAT, 0o600))
        assert fd >= 0
        w = ring.write_chunk(fd, region, src, 4096, 0)
        assert region.busy()
        with pytest.raises(OSError) as e:
            region.free(src)
        assert e.value.errno == errno.EBUSY
        assert result(ring, w) == 4096
        assert result(ring, ring.read_chunk(fd, region, dst, 4096, 0)) == 4096
        assert region.view(dst).tobytes() == pattern
        assert result(ring, ring.close_fd(fd)) == 0
        region.free(src)
        region.free(dst)
        if registered:
            ring.unregister_region(region)
        assert not region.busy()

    # A pipe read that waits for the ring's own write; a timeout.
    r, w = os.pipe()
    try:
        buf = bytearray(32)
        rd = ring.read(r, buf)
        ring.submit()
        wr = ring.write(w, b"through the pipe")
        done = complete(ring, rd, wr, ring.timeout(0.005))
        assert done[rd][0] == 16 and done[wr][0] == 16
        assert bytes(buf[:16]) == b"through the pipe"
        assert sorted(v[0] for k, v in done.items() if k not in (rd, wr, "more")) == [-errno.ETIME]

        # A batch in one crossing: a read, the write that feeds it, a
        # timeout and a nop, through rk_op_desc records.
        inbuf = bytearray(16)
        descs = (rk.OpDesc * 4)()
        descs[0].op, descs[0].fd, descs[0].off = rk.C.RK_OP_READ, r, -1
        descs[0].addr = ctypes.addressof((ctypes.c_char * 16).from_buffer(inbuf))
        descs[0].len = 16
        payload = ctypes.create_string_buffer(b"batched")
        descs[1].op, descs[1].fd, descs[1].off = rk.C.RK_OP_WRITE, w, -1
        descs[1].addr, descs[1].len = ctypes.addressof(payload), 7
        descs[2].op, descs[2].off = rk.C.RK_OP_TIMEOUT, 1_000_000
        descs[3].op = rk.C.RK_OP_NOP
        ids = ring.submit_batch(descs, keep=[inbuf, payload])
        done = complete(ring, *ids)
        assert [done[i][0] for i in ids] == [7, 7, -errno.ETIME, 0]
        assert bytes(inbuf[:7]) == b"batched"
        # A bad descriptor raises with its errno; the ones before it went.
        bad = (rk.OpDesc * 2)()
        bad[1].op = rk.C.RK_OP_COUNT
        with pytest.raises(OSError) as e:
            ring.submit_batch(bad)
        assert e.value.errno == errno.EINVAL
        assert len(ring.reap(wait=1, timeout=5)) == 1

        # Cancellation: the pair of results; cancel_sync; a linked timeout.
        rd = ring.read(r, bytearray(8))
        ring.submit()
        c = ring.cancel(rd)
        done = complete(ring, rd, c)
        assert done[c][0] == 0 and done[rd][0] in (-errno.ECANCELED, -errno.EINTR)
        with pytest.raises(FileNotFoundError):
            ring.cancel(rd)  # stale id
        rd = ring.read(r, bytearray(8))
        ring.submit()
        ring.cancel_sync(rd, timeout=1)
        assert result(ring, rd) in (-errno.ECANCELED, -errno.EINTR)
        rd = ring.read(r, bytearray(8), flags=rk.C.RK_LINK)
        lt = ring.link_timeout(0.005)
        done = complete(ring, rd, lt)
        assert done[lt][0] == -errno.ETIME
        assert done[rd][0] in (-errno.ECANCELED, -errno.EINTR)
    finally:
        os.close(r)
        os.close(w)

    with pytest.raises(OSError) as e:
        ring.read(-1, bytearray(1))
    assert e.value.errno == errno.EBADF
    assert ring.inflight() == 0


def test_multishot_recv_from_provided_region(ring):
    a, b = socket.socketpair()
    with a, b, rk.Region(64, 8) as region:
        ring.provide_region(region, 3)
        assert region.chunks_free() == 0  # the kernel holds them all
        ms = ring.recv_multishot(a.fileno(), 3)
        ring.submit()
        got = []
        for msg in (b"one", b"two!", b"three"):
            b.send(msg)
            recs = []
            while not recs:
                recs = ring.reap(wait=1, timeout=5)
            (op_id, res, flags), = recs
            assert op_id == ms and flags & rk.C.RK_CQE_F_MORE
            chunk = ring.chunk_of(flags)
            assert chunk is not None and res == len(msg)
            got.append(region.view(chunk, res).tobytes())
            ring.recycle_chunk(region, chunk)  # hand it back to the kernel
        assert got == [b"one", b"two!", b"three"]
        with pytest.raises(OSError) as e:
            ring.unprovide_region(region)
        assert e.value.errno == errno.EBUSY
        b.shutdown(socket.SHUT_WR)
        done = complete(ring, ms)
        assert done[ms] == (0, 0)  # end of stream ends the multishot op
        ring.unprovide_region(region)
        assert region.chunks_free() == 8


def test_dispatch_calls_back_per_completion(ring):
    ids = [ring.nop() for _ in range(3)]
    ring.submit()
    seen = []

    def stop_after_two(op_id, res, flags):
        seen.append((op_id, res))
        return len(seen) == 2

    assert ring.dispatch(stop_after_two, wait=3, timeout=5) == 2
    assert ring.dispatch(stop_after_two, wait=1, timeout=5) == 1  # the third stayed queued
    assert sorted(i for i, _ in seen) == sorted(ids)

    # A callback may prepare ops; they are dispatched by the same call.
    t = ring.timeout(0.001)
    later = []

    def chain(op_id, res, flags):
        if op_id == t:
            later.append(ring.nop())
        seen.append((op_id, res))

    seen.clear()
    assert ring.dispatch(chain, wait=2, timeout=5) == 2
    assert seen == [(t, -errno.ETIME), (later[0], 0)]

    # An exception stops the dispatch and comes out of it.
    ring.nop()
    with pytest.raises(ZeroDivisionError):
        ring.dispatch(lambda *rec: 1 / 0, wait=1, timeout=5)
    assert ring.inflight() == 0


def test_buffers_are_held_until_the_final_completion(ring):
    r, w = os.pipe()
    try:
        buf = bytearray(8)
        rd = ring.read(r, buf)
        ring.submit()
        with pytest.raises(BufferError):
            buf.extend(b"x")  # pinned: the kernel may write into it
        os.write(w, b"ok")
        assert result(ring, rd) == 2
        buf.extend(b"x")  # released with the completion
        assert ring._keep[rd & rk.SLOT_MASK] is None
        with pytest.raises(TypeError):
            ring.read(r, b"immutable")
    finally:
        os.close(r)
        os.close(w)


def test_close_cancels_and_releases(tmp_path):
    ring = rk.Ring(8)
    r, w = os.pipe()
    buf = bytearray(8)
    ring.read(r, buf)
    ring.submit()
    ring.close()  # cancels the read and waits for the kernel
    buf.extend(b"x")
    os.close(r)
    os.close(w)
    with pytest.raises(ValueError):
        ring.nop()


# -- ops from the op table ----------------------------------------------------

def test_every_op_is_a_method_made_from_its_row():
    assert [r.op for r in rk.OPS] == list(range(rk.C.RK_OP_COUNT))
    for row in rk.OPS:
        method = getattr(rk.Ring, "close_fd" if row.name == "close" else row.name)
        params = [a.name for a in row.args if a.role != rk.C.RK_ROLE_LEN]
        assert sorted(list(method.__signature__.parameters)[1:-1]) == sorted(params), row.name


def test_prep_signatures_agree_with_the_op_table():
    width = {rk.C.RK_ARG_S32: (32, True), rk.C.RK_ARG_U32: (32, False),
             rk.C.RK_ARG_U16: (16, False), rk.C.RK_ARG_S64: (64, True),
             rk.C.RK_ARG_U64: (64, False)}
    for row in rk.OPS:
        restype, argtypes = rk.SIGNATURES["rk_prep_" + row.name]
        assert len(argtypes) == len(row.args) + 2, row.name
        for t, a in zip(argtypes[1:], row.args):
            if a.type == rk.C.RK_ARG_PTR:
                assert t in (ctypes.c_void_p, ctypes.c_char_p), (row.name, a.name)
            else:
                bits, signed = width[a.type]
                assert (ctypes.sizeof(t) * 8, t(-1).value < 0) == (bits, signed), (row.name, a.name)


def test_vectored_ops_from_their_rows(ring):
    r, w = os.pipe()
    try:
        assert result(ring, ring.writev(w, [b"ab", bytearray(b"cd")])) == 4
        parts = [bytearray(1), bytearray(3)]
        assert result(ring, ring.readv(r, parts)) == 4
        assert parts == [bytearray(b"a"), bytearray(b"bcd")]
    finally:
        os.close(r)
        os.close(w)


def test_addresses_and_statx_through_the_shared_codecs(ring, tmp_path):
    buf = bytearray(256)
    assert result(ring, ring.statx(str(tmp_path), 0, 0x7FF, buf)) == 0
    assert rk.parse_statx(buf).ino == os.stat(tmp_path).st_ino
    with socket.socket() as srv, socket.socket() as cli:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        peer = bytearray(128)
        acc = ring.accept(srv.fileno(), peer)
        conn = ring.connect(cli.fileno(), srv.getsockname())
        done = complete(ring, acc, conn)
        assert done[conn][0] == 0 and done[acc][0] >= 0
        os.close(done[acc][0])
        assert rk.decode_address(peer) == cli.getsockname()
    # One encoder and one decoder for both Python bindings: the cffi package's files.
    for mod in (rk._sockaddr, rk._statx):
        assert pathlib.Path(mod.__file__).resolve().parent == ROOT / "bindings/python/ringkit"


def test_restrict_through_ctypes():
    with open_ring(8, rk.C.RK_RING_RESTRICTABLE) as r:
        r.restrict(["nop"])
        with pytest.raises(OSError) as e:
            r.timeout(0.001)
        assert e.value.errno == errno.EACCES
        with pytest.raises(OSError) as e:
            r.restrict(["nop"])
        assert e.value.errno == errno.EPERM
        assert complete(r, r.nop())


def test_resize_through_ctypes():
    with open_ring(8, rk.C.RK_RING_DEFER_TASKRUN) as r:
        ids = [r.nop() for _ in range(4)]
        if not check_feature(r, "RK_FEATURE_RESIZE"):
            with pytest.raises(OSError) as e:
                r.resize(16)
            assert e.value.errno == errno.EOPNOTSUPP
            return
        r.resize(16, 64)
        st = r.stats()
        assert (st[rk.C.RK_STAT_SQ_ENTRIES], st[rk.C.RK_STAT_CQ_ENTRIES]) == (16, 64)
        with pytest.raises(OSError) as e:
            r.resize(2, 2)  # four ops still to complete
        assert e.value.errno == errno.EBUSY
        done = complete(r, *ids)
        assert all(res == 0 for res, _ in (done[i] for i in ids))


def check_feature(ring, name):
    return rk.check(rk.lib.rk_ring_feature(ring.handle, rk.CONSTANTS[name])) == 1
