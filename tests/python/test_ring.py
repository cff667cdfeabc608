"""Ring lifetime, setup modes, information calls."""
import gc
import os

import pytest

import ringkit
from conftest import complete, result


def test_context_manager_and_idempotent_close():
    with ringkit.Ring(8) as r:
        assert not r.closed
        assert r.fileno() >= 0
    assert r.closed
    r.close()
    r.close()


def test_closed_ring_raises_value_error():
    r = ringkit.Ring(8)
    r.close()
    with pytest.raises(ValueError):
        r.nop()
    with pytest.raises(ValueError):
        r.reap()
    with pytest.raises(ValueError):
        r.fileno()


def test_unclosed_ring_warns_when_collected():
    r = ringkit.Ring(8)
    r.nop()
    with pytest.warns(ResourceWarning):
        del r
        gc.collect()


@pytest.mark.parametrize("entries", [0, -1, 1 << 40])
def test_bad_sizes_raise_value_error(entries):
    with pytest.raises(ValueError):
        ringkit.Ring(entries)


def test_bad_reap_arguments():
    with ringkit.Ring(8) as r:
        with pytest.raises(ValueError):
            r.reap(max=-1)
        with pytest.raises(ValueError):
            r.reap(wait=-1)
        with pytest.raises(ValueError):
            r.reap(timeout=-1)
        with pytest.raises(ValueError):
            ringkit.Ring(8, reap_batch=0)


@pytest.mark.parametrize("mode", ["single_issuer", "defer_taskrun", "coop_taskrun", "clamp",
                                  "sqpoll"])
def test_setup_modes_run_ops(mode):
    with ringkit.Ring(16, **{mode: True}) as r:
        ids = [r.nop() for _ in range(40)]  # more than the SQ: overflow queue
        done = complete(r, *ids)
        assert all(done[i] == (0, 0) for i in ids)


def test_sizes_and_stats():
    with ringkit.Ring(16, cq_entries=128, capacity=100) as r:
        st = r.stats()
        assert st["sq_entries"] == 16
        assert st["cq_entries"] == 128
        assert st["capacity"] == 100
        ids = [r.nop() for _ in range(20)]
        st = r.stats()
        assert st["inflight"] == 20
        assert st["overflow_queue"] == 4
        complete(r, *ids)
        st = r.stats()
        assert st["inflight"] == 0 and st["completed"] == 20 and st["submitted"] == 20
        assert st["cq_overflow"] == 0


def test_probe_by_number_and_name():
    with ringkit.Ring(8) as r:
        assert r.probe(0) is True  # IORING_OP_NOP
        assert r.probe("READ") is True
        assert r.probe("IORING_OP_READ") is True
        assert r.probe(250) is False
        with pytest.raises(KeyError):
            r.probe("NO_SUCH_OP")
        with pytest.raises(ValueError):
            r.probe(-1)


def test_eventfd_signals_completions():
    efd = os.eventfd(0, os.EFD_NONBLOCK)
    try:
        with ringkit.Ring(8) as r:
            r.register_eventfd(efd)
            with pytest.raises(OSError) as e:
                r.register_eventfd(efd)
            assert e.value.errno == 16  # EBUSY
            op = r.nop()
            r.submit()
            assert os.eventfd_read(efd) >= 1
            assert result(r, op) == 0
            r.unregister_eventfd()
            with pytest.raises(OSError) as e:
                r.unregister_eventfd()
            assert e.value.errno == 6  # ENXIO
    finally:
        os.close(efd)


def test_cancel_all_delivers_completions():
    with ringkit.Ring(8) as r:
        rfd, wfd = os.pipe()
        try:
            ids = [r.poll_add(rfd, 1) for _ in range(3)]
            r.submit()
            assert r.cancel_all() == 3
            done = complete(r, *ids)
            assert all(done[i][0] == -125 for i in ids)  # ECANCELED
        finally:
            os.close(rfd)
            os.close(wfd)


def test_close_with_pending_ops_releases_buffers():
    rfd, wfd = os.pipe()
    bufs = [bytearray(64) for _ in range(4)]
    r = ringkit.Ring(8)
    for b in bufs:
        r.read(rfd, b)
    r.submit()
    with pytest.raises(BufferError):
        bufs[0].append(1)
    r.close()
    for b in bufs:
        b.append(1)  # released: resizable again
    os.close(rfd)
    os.close(wfd)


def test_version_and_constants():
    assert ringkit.version() >= (0, 1, 0)
    assert ringkit.constant("RK_LINK") == ringkit.LINK
    assert ringkit.constant("IORING_OP_NOP") == 0
    assert ringkit.constants["O_RDONLY"] == os.O_RDONLY
    with pytest.raises(KeyError):
        ringkit.constant("NOPE")
    assert "io_uring" in ringkit.strerror(-1) or ringkit.strerror(-1)


def test_reap_timeout_returns_empty():
    with ringkit.Ring(8) as r:
        rfd, wfd = os.pipe()
        op = r.poll_add(rfd, 1)
        assert r.reap(wait=1, timeout=0.01) == []
        r.cancel_sync(op)
        assert result(r, op) == -125
        os.close(rfd)
        os.close(wfd)
