"""Ring.restrict: a ring limited to the ops listed (rk_ring_restrict). The
binding only converts names and flags; the C core refuses the rest, with
OSError(EACCES), on both backends."""
import errno
import os

import pytest

import ringkit

from conftest import complete


def restrictable():
    return ringkit.Ring(8, restrictable=True)


def test_disabled_until_restricted():
    with restrictable() as r:
        with pytest.raises(OSError) as e:
            r.nop()
        assert e.value.errno == errno.EBADFD
        with pytest.raises(OSError) as e:
            r.submit()
        assert e.value.errno == errno.EBADFD
        with pytest.raises(OSError) as e:
            r.reap(wait=1)
        assert e.value.errno == errno.EBADFD
        r.restrict(["nop"])
        assert complete(r, r.nop())


def test_forbidden_ops_raise_eacces_and_allowed_ops_run(tmp_path):
    rd, wr = os.pipe()
    try:
        with restrictable() as r:
            r.restrict(["nop", "read", "write"])
            w = r.write(wr, b"hello")
            assert complete(r, w)[w][0] == 5
            buf = bytearray(8)
            i = r.read(rd, buf)
            assert complete(r, i)[i][0] == 5 and buf[:5] == b"hello"
            for call in (lambda: r.fsync(wr), lambda: r.timeout(0.001),
                         lambda: r.openat(str(tmp_path / "x"), os.O_RDONLY)):
                with pytest.raises(PermissionError) as e:
                    call()
                assert e.value.errno == errno.EACCES
            with pytest.raises(PermissionError):
                r.register_files(4)
            assert r.stats()["inflight"] == 0
            with pytest.raises(OSError) as e:
                r.restrict(["nop"])
            assert e.value.errno == errno.EPERM
    finally:
        os.close(rd)
        os.close(wr)


def test_batch_stops_at_a_forbidden_entry():
    with restrictable() as r:
        r.restrict([ringkit.constant("RK_OP_NOP")])
        b = ringkit.Batch()
        b.nop()
        b.timeout(0.001)
        with pytest.raises(PermissionError) as e:
            r.submit_batch(b)
        assert e.value.errno == errno.EACCES
        assert complete(r, *e.value.ids)


def test_fixed_files_only():
    rd, wr = os.pipe()
    try:
        with restrictable() as r:
            r.register_files(2)
            r.update_files(0, [rd, wr])
            r.restrict(["write", "read"], fixed_files_only=True)
            with pytest.raises(PermissionError):
                r.write(wr, b"raw")
            w = r.write(1, b"slot", flags=ringkit.FIXED_FILE)
            assert complete(r, w)[w][0] == 4
            assert os.read(rd, 4) == b"slot"
            with pytest.raises(PermissionError):
                r.update_files(0, [wr])
    finally:
        os.close(rd)
        os.close(wr)


def test_bad_arguments():
    with restrictable() as r:
        with pytest.raises(ValueError):
            r.restrict(["no_such_op"])
        with pytest.raises(TypeError):
            r.restrict("read")
    with ringkit.Ring(8) as r:
        with pytest.raises(OSError) as e:
            r.restrict(["nop"])
        assert e.value.errno == errno.EINVAL
    assert "read_chunk" in ringkit.op_names()
