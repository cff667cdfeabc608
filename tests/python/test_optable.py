"""Ring and Batch op methods come from the C library's op table
(rk_op_info_of); rings and regions are handles of ringkit._vector."""
import errno
import gc
import inspect
import os
import socket

import pytest

import ringkit
from ringkit import _aioloop, _core, _ops, _vector
from ringkit._ringkit import lib
from conftest import complete


def test_every_op_has_a_ring_method_and_a_batch_method():
    covered = {op for ops in _core.OPS.values() for op in ops}
    assert covered == set(range(lib.RK_OP_COUNT))
    for method in _core.OPS:
        for cls in (ringkit.Ring, ringkit.Batch):
            fn = vars(cls)[method]
            assert fn.__doc__ and list(inspect.signature(fn).parameters)[-1] == "flags"


def test_rows_name_their_prep_and_its_arguments():
    for row in _ops.rows():
        assert hasattr(lib, "rk_prep_" + row.name), row.name
        for a in row.args:
            if a.role == _ops.LEN:
                assert row.args[a.of].role in _ops._POINTERS, (row.name, a.name)


def test_an_op_without_a_spec_takes_its_c_parameters():
    # The worked example of adding an op: its row is all the binding needs.
    covered = {n for spec in _ops._SPECS.values()
               for n in (spec[0] if isinstance(spec[0], tuple) else (spec[0],))[:2]}
    for row in _ops.rows():
        if row.name in covered:
            continue
        params = list(inspect.signature(getattr(ringkit.Ring, row.name)).parameters)
        want = ["length" if a.name == "len" else a.name for a in row.args if a.role != _ops.LEN]
        assert params == ["self"] + want + ["flags"]


def test_batch_gains_every_op(ring, tmp_path):
    a, b = socket.socketpair()
    try:
        batch = ringkit.Batch(8)
        buf = bytearray(5)
        batch.send(a, b"hello")  # an object with fileno(): held until completion
        batch.recv(b.fileno(), buf)
        statbuf = bytearray(ringkit.STATX_SIZE)
        batch.statx(str(tmp_path), statbuf)
        batch.mkdirat(str(tmp_path / "d"))
        ids = ring.submit_batch(batch)
        done = complete(ring, *ids)
        assert [done[i][0] for i in ids] == [5, 5, 0, 0]
        assert buf == b"hello" and os.path.isdir(tmp_path / "d")
        assert ringkit.parse_statx(statbuf).ino == os.stat(tmp_path).st_ino
    finally:
        a.close()
        b.close()


def test_batch_refusal_names_both_paths(ring, tmp_path):
    batch = ringkit.Batch(2)
    batch.renameat(tmp_path / "a", tmp_path / "b", flags=1 << 20)
    with pytest.raises(OSError) as e:
        ring.submit_batch(batch)
    assert e.value.errno == errno.EINVAL and e.value.index == 0
    assert e.value.filename == str(tmp_path / "a")
    assert e.value.filename2 == str(tmp_path / "b")


def test_generated_methods_hold_what_their_roles_say(ring):
    r, w = os.pipe()
    try:
        buf = bytearray(4)
        op = ring.read(r, buf)
        gc.collect()
        with pytest.raises(BufferError):
            buf.append(0)  # PTR_WRITE: held until the final completion
        path = bytearray(b"/nonexistent")
        ring.openat(bytes(path))
        path.append(0)  # PTR_COPIED: copied at prep, never held
        os.write(w, b"abcd")
        assert complete(ring, op)[op][0] == 4
        buf.append(0)
    finally:
        os.close(r)
        os.close(w)
    ring.reap(wait=1, timeout=5)


def test_handles_are_made_and_detached_by_ringkit_vector():
    assert _vector.ring_create(0, 0, 0, 0, 0) == -errno.EINVAL
    assert _vector.ring_create(1 << 32, 0, 0, 0, 0) == -errno.EINVAL
    assert _vector.region_create(4096, 0, 0) == -errno.EINVAL
    with pytest.raises(TypeError):
        _vector.region_create(4096.0, 1, 0)
    ring = ringkit.Ring(8)
    h = ring._h
    assert h.address and h.pins is ring._pins
    ring.close()
    assert h.address == 0
    region = ringkit.Region(4096, 1)
    rh = region._h
    assert rh.address and rh.pins is None
    region.close()
    assert rh.address == 0


def test_the_driver_takes_a_ring_handle_only(ring):
    region = ringkit.Region(4096, 1)
    try:
        for wrong in (ring._h.address, region._h, ring._pins):
            with pytest.raises(TypeError):
                _aioloop.Driver(wrong, 64, None, print, print)
    finally:
        region.close()
    closed = ringkit.Ring(8)
    closed.close()
    with pytest.raises(ValueError):
        _aioloop.Driver(closed._h, 64, None, print, print)
