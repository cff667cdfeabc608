"""Environment faults seen from Python.

- io_uring refused at setup: a child interpreter runs under a seccomp filter
  (tests/c/refuse_uring) that fails io_uring_setup with EPERM, ENOSYS, ENOMEM
  or EINVAL; ringkit.Ring(no_fallback=True) raises an OSError with that errno
  and the C library's advice for that case (rk_ring_create_strerror: why
  io_uring was refused and that no_fallback forbade the fallback, nothing
  about other contexts), ringkit.Ring() is a working ring
  on the fallback backend, and regions keep working.
- fork(): a ring created before os.fork() raises ChildProcessError (with the
  advice) in the child, closing it there frees only the child's copy, and the
  parent's ring, with an op in flight, carries on.
"""
import errno
import os
import subprocess
import sys
import textwrap

import pytest

import ringkit
from conftest import complete

REFUSE = os.path.join(os.environ.get("RINGKIT_BUILD", ""), "tests", "c", "refuse_uring")

CHILD = textwrap.dedent("""
    import errno, sys
    import ringkit
    want = getattr(errno, sys.argv[1])
    sqpoll = sys.argv[2] == "sqpoll"
    try:
        ringkit.Ring(8, sqpoll=sqpoll, no_fallback=True)
    except OSError as e:
        assert e.errno == want, e
        # Only what applies: why io_uring was refused, and that no_fallback
        # forbade the fallback; not rk_strerror's words for other contexts.
        assert str(e).startswith("[Errno %d] " % want), str(e)
        if want in (errno.EPERM, errno.ENOSYS, errno.EINVAL):
            assert "no_fallback=True forbade" in str(e), str(e)
            assert "RINGKIT_BACKEND" not in str(e), str(e)
        if want == errno.EPERM:
            assert "SQPOLL" not in str(e) and "credential" not in str(e), str(e)
        else:
            assert ringkit.strerror(-want).split(" (")[0] in str(e), str(e)
        print(type(e).__name__, "|", e)
    else:
        sys.exit("ringkit.Ring(no_fallback=True) did not raise")
    with ringkit.Ring(8, sqpoll=sqpoll) as ring:  # the fallback instead
        assert ring.backend == "fallback", ring.backend
        op = ring.nop()
        assert ring.reap(wait=1, timeout=5) == [(op, 0, 0)]
    with ringkit.Region(4096, 2) as rg:  # regions do not need io_uring
        assert rg.alloc() == 0
""")


@pytest.mark.parametrize("mode", ["plain", "sqpoll"])
@pytest.mark.parametrize("name,cls,advice", [
    ("EPERM", PermissionError, "seccomp"),
    ("ENOSYS", OSError, "Linux 5.19"),
    ("ENOMEM", OSError, "RLIMIT_MEMLOCK"),
    ("EINVAL", ValueError, "setup mode"),
])
def test_refused_setup_raises_oserror_with_advice(name, cls, advice, mode):
    if not os.access(REFUSE, os.X_OK):
        pytest.skip("refuse_uring not built")
    p = subprocess.run([REFUSE, name, sys.executable, "-c", CHILD, name, mode],
                       capture_output=True, text=True, timeout=60)
    if p.returncode == 77:
        pytest.skip("cannot install a seccomp filter here")
    assert p.returncode == 0, p.stderr
    kind, _, message = p.stdout.partition(" | ")
    assert kind == (cls.__name__ if cls is not ValueError else "InvalidSetup")
    assert advice in message


def test_invalid_setup_is_value_error_and_oserror():
    with pytest.raises(ValueError) as info:
        ringkit.Ring(0)
    assert isinstance(info.value, OSError) and info.value.errno == errno.EINVAL
    assert "entries must be 1..32768" in str(info.value)


@pytest.mark.parametrize("kw, words", [
    ({"entries": -1}, "entries must be 1..32768"),
    ({"entries": 1 << 40}, "entries must be 1..32768"),
    ({"entries": -(1 << 70)}, "entries must be 1..32768"),
    ({"entries": 40000}, "entries must be 1..32768"),
    ({"cq_entries": -1}, "cq_entries must be 0 (twice the SQ) or from entries to 65536"),
    ({"entries": 8, "cq_entries": 4}, "cq_entries must be 0"),
    ({"capacity": -3}, "capacity must be 0 (4x the SQ) or at most 16777216"),
    ({"capacity": 1 << 32}, "capacity must be 0"),
    ({"sq_thread_idle_ms": -1}, "sq_thread_idle_ms must be 0"),
    ({"fallback": True, "no_fallback": True}, "fallback=True and no_fallback=True exclude"),
])
def test_bad_sizes_name_the_argument_and_its_range(kw, words):
    # Sizes C cannot even take (negative, over 32 bits) are explained by the
    # C library as those it refuses; flags read as Python's keywords.
    with pytest.raises(ringkit._errors.InvalidSetup) as info:
        ringkit.Ring(**kw)
    e = info.value
    assert isinstance(e, ValueError) and e.errno == errno.EINVAL
    assert str(e).startswith("[Errno 22] " + words), str(e)
    assert "convert" not in str(e) and "RK_RING_" not in str(e)
    for name, value in kw.items():
        if name not in ("fallback", "no_fallback"):
            assert "%s=%r" % (name, value) in str(e)


def test_size_of_another_type_is_a_type_error():
    with pytest.raises(TypeError, match="capacity must be an int, got str"):
        ringkit.Ring(8, capacity="4")


def test_clamp_takes_sizes_over_32_bits():
    with ringkit.Ring(1 << 40, cq_entries=1 << 50, clamp=True, fallback=True) as ring:
        st = ring.stats()
        assert (st["sq_entries"], st["cq_entries"]) == (32768, 65536)


def test_unknown_backend_variable_is_said_first(monkeypatch):
    monkeypatch.setenv("RINGKIT_BACKEND", "bogus")
    with pytest.raises(ValueError) as info:
        ringkit.Ring(8)
    text = str(info.value)
    assert text.startswith("[Errno 22] RINGKIT_BACKEND must be auto, uring or fallback"), text
    assert "'bogus'" in text and "ring sizes" not in text and "entries" not in text
    # A flag overrides the variable, so it is not the cause then.
    with ringkit.Ring(8, fallback=True) as ring:
        assert ring.backend == "fallback"


def test_half_made_ring_prints_nothing_when_collected():
    # Each __init__ failure, the early ones included, leaves a Ring that
    # reads as closed: __del__ neither warns nor fails (which Python would
    # print as "Exception ignored in ... __del__").
    code = textwrap.dedent("""
        import gc, ringkit
        for kw in ({"bogus": 1}, {"entries": -1}, {"reap_batch": 0},
                   {"reap_batch": 1 << 62}, {"capacity": "x"}):
            try:
                ringkit.Ring(256, **kw) if "entries" not in kw else ringkit.Ring(**kw)
            except (TypeError, ValueError):
                pass
            else:
                raise SystemExit("no error for %r" % kw)
        class Late(ringkit.Ring):
            def __init__(self):
                raise RuntimeError("before Ring.__init__")
        try:
            Late()
        except RuntimeError:
            pass
        blank = ringkit.Ring.__new__(ringkit.Ring)
        assert blank.closed and repr(blank) == "<ringkit.Ring closed>"
        blank.close()
        del blank
        gc.collect()
        print("ok")
    """)
    p = subprocess.run([sys.executable, "-X", "dev", "-W", "always", "-c", code],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout == "ok\n", p.stdout + p.stderr
    assert p.stderr == "", p.stderr


def test_ring_inherited_through_fork():
    r, w = os.pipe()
    try:
        with ringkit.Ring(8) as ring:
            buf = bytearray(5)
            rd = ring.read(r, buf)
            ring.submit()
            queued = ring.nop()  # prepared, not yet submitted
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # the child: nothing may touch the parent's ring
                code = 1
                try:
                    for call in (ring.nop, ring.submit, ring.reap, ring.fileno, ring.stats,
                                 ring.cancel_all):
                        try:
                            call()
                        except ChildProcessError as e:
                            assert e.errno == errno.ECHILD and "fork()" in str(e), e
                        else:
                            raise AssertionError("%s did not raise" % call.__name__)
                    ring.close()  # frees the child's copy only
                    with ringkit.Ring(8) as own:  # a ring of its own works
                        assert complete(own, own.nop())
                    code = 0
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            os.write(w, b"hello")
            done = complete(ring, rd, queued)
            assert done[rd][0] == 5 and bytes(buf) == b"hello"
            assert done[queued][0] == 0
            assert ring.stats()["inflight"] == 0
    finally:
        os.close(r)
        os.close(w)
