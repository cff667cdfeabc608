"""Ring.resize: the queues change size with nothing lost (rk_ring_resize).
Both backends; on io_uring a kernel without IORING_REGISTER_RESIZE_RINGS
answers EOPNOTSUPP, which the first test checks is what feature() says."""
import errno
import os

import pytest

import ringkit

from conftest import complete


def deferred(entries=8):
    return ringkit.Ring(entries, defer_taskrun=True, single_issuer=True)


def test_resize_keeps_what_is_in_flight():
    with deferred() as r:
        if not r.feature("RESIZE"):
            with pytest.raises(OSError) as e:
                r.resize(16)
            assert e.value.errno == errno.EOPNOTSUPP
            pytest.skip("the kernel cannot resize rings")
        rfd, wfd = os.pipe()
        try:
            buf = bytearray(5)
            read = r.read(rfd, buf)
            nops = [r.nop() for _ in range(4)]
            r.submit()
            r.resize(16, 64)
            st = r.stats()
            assert (st["sq_entries"], st["cq_entries"]) == (16, 64)
            os.write(wfd, b"hello")
            got = complete(r, read, *nops)
            assert got[read][0] == 5 and bytes(buf) == b"hello"
            assert all(got[i][0] == 0 for i in nops)
            r.resize(2)  # cq 0: twice the SQ
            st = r.stats()
            assert (st["sq_entries"], st["cq_entries"]) == (2, 4)
        finally:
            os.close(rfd)
            os.close(wfd)


def test_resize_refusals():
    with deferred() as r:
        if not r.feature("RESIZE"):
            pytest.skip("the kernel cannot resize rings")
        ids = [r.nop() for _ in range(4)]
        with pytest.raises(OSError) as e:
            r.resize(1, 2)  # four ops may still complete into it
        assert e.value.errno == errno.EBUSY
        for bad in (0, -1, 1 << 32):
            with pytest.raises(OSError) as e:
                r.resize(bad)
            assert e.value.errno == errno.EINVAL
        with pytest.raises(TypeError):
            r.resize("16")
        done = complete(r, *ids)
        assert all(done[i][0] == 0 for i in ids)
    with ringkit.Ring(8) as plain:
        with pytest.raises(OSError) as e:
            plain.resize(16)
        assert e.value.errno == errno.EOPNOTSUPP
