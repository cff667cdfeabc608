"""Regions: chunks outside the Python heap, zero-copy views, busy rules."""
import errno
import gc
import os

import pytest
from hypothesis import given, settings, strategies as st

import ringkit
from conftest import result


def test_geometry_alloc_free():
    with ringkit.Region(4096, 3) as r:
        assert (r.chunk_size, r.count, r.free_chunks) == (4096, 3, 3)
        cs = [r.alloc() for _ in range(3)]
        assert sorted(cs) == [0, 1, 2]
        with pytest.raises(OSError) as e:
            r.alloc()
        assert e.value.errno == errno.ENOBUFS
        r.free(cs[1])
        with pytest.raises(ValueError):
            r.free(cs[1])  # double free
        with pytest.raises(ValueError):
            r.free(99)
        with pytest.raises(ValueError):
            r.free(-1)
        assert r.alloc() == cs[1]
    assert r.closed
    with pytest.raises(ValueError):
        r.alloc()


@pytest.mark.parametrize("size,count", [(0, 1), (4096, 0), (-1, 1), (1 << 31, 1)])
def test_bad_geometry(size, count):
    with pytest.raises(ValueError):
        ringkit.Region(size, count)


def test_views_are_zero_copy(ring, tmp_path):
    with ringkit.Region(4096, 2) as r:
        c = r.alloc()
        v = r.view(c)
        assert len(v) == 4096 and not v.readonly
        v[:4] = b"abcd"
        assert bytes(r.view(c, 4)) == b"abcd"
        fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o600)
        assert result(ring, ring.write_chunk(fd, r, c, 0, length=4)) == 4
        os.pwrite(fd, b"WXYZ", 0)
        assert result(ring, ring.read_chunk(fd, r, c, 0, length=4)) == 4
        assert bytes(v[:4]) == b"WXYZ"  # the same memory the kernel wrote
        os.close(fd)
        with pytest.raises(ValueError):
            r.view(2)
        with pytest.raises(TypeError):
            r.view("0")
        del v
        r.free(c)


def test_freeing_in_flight_chunk_raises(ring):
    rfd, wfd = os.pipe()
    r = ringkit.Region(64, 2)
    c = r.alloc()
    op = ring.read_chunk(rfd, r, c, length=8)
    ring.submit()
    with pytest.raises(OSError) as e:
        r.free(c)
    assert e.value.errno == errno.EBUSY
    with pytest.raises(OSError) as e:
        r.close()
    assert e.value.errno == errno.EBUSY
    os.write(wfd, b"8 bytes!")
    assert result(ring, op) == 8
    assert bytes(r.view(c, 8)) == b"8 bytes!"
    r.free(c)
    r.close()
    os.close(rfd)
    os.close(wfd)


def test_close_refused_while_registered():
    ring = ringkit.Ring(8)
    r = ringkit.Region(4096, 1)
    try:
        ring.register_region(r)
    except OSError:
        ring.close()
        r.close()
        pytest.skip("RLIMIT_MEMLOCK too low to register")
    with pytest.raises(OSError):
        r.close()
    ring.close()  # unregisters everything
    r.close()


def test_views_outlive_close_safely():
    r = ringkit.Region(4096, 2)
    v = r.view(1)
    v[:2] = b"ok"
    r.close()
    # The mapping stays until the last view goes: no use after free.
    assert bytes(v[:2]) == b"ok"
    s = v[1:3]
    del v
    gc.collect()
    assert bytes(s[:1]) == b"k"
    del s


def test_close_while_ring_holds_a_chunk_op_then_ring_closes():
    ring = ringkit.Ring(8)
    rfd, wfd = os.pipe()
    r = ringkit.Region(64, 1)
    c = r.alloc()
    ring.read_chunk(rfd, r, c)
    ring.submit()
    with pytest.raises(OSError):
        r.close()
    ring.close()  # cancels and waits: the chunk is no longer in flight
    r.free(c)
    r.close()
    os.close(rfd)
    os.close(wfd)


@settings(max_examples=60, deadline=None, database=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 7)), max_size=60))
def test_alloc_free_matches_a_model(steps):
    with ringkit.Region(256, 8) as r:
        held = set()
        for do_alloc, idx in steps:
            if do_alloc:
                if len(held) == 8:
                    with pytest.raises(OSError):
                        r.alloc()
                else:
                    c = r.alloc()
                    assert c not in held and 0 <= c < 8
                    held.add(c)
            elif idx in held:
                r.free(idx)
                held.discard(idx)
            else:
                with pytest.raises(ValueError):
                    r.free(idx)
            assert r.free_chunks == 8 - len(held)
        for c in held:
            r.free(c)


def test_region_collected_with_an_op_in_flight():
    # The C library keeps the memory until the op is reaped (rk_region_destroy
    # leaves a zombie): the kernel still writes into it.
    ring = ringkit.Ring(8)
    rfd, wfd = os.pipe()
    r = ringkit.Region(64, 2)
    op = ring.read_chunk(rfd, r, r.alloc(), length=4)
    ring.submit()
    del r
    gc.collect()
    os.write(wfd, b"late")
    assert result(ring, op) == 4
    ring.close()
    os.close(rfd)
    os.close(wfd)


def test_group_ids_chosen_by_the_ring(ring):
    regions = [ringkit.Region(64, 1) for _ in range(3)]
    assert ring.provide_region(regions[0], 1) == 1
    assert ring.provide_region(regions[1]) == 0
    assert ring.provide_region(regions[2]) == 2
    ring.unprovide_region(regions[1])
    assert ring.provide_region(regions[1]) == 0
    for r in regions:
        ring.unprovide_region(r)
        r.close()
