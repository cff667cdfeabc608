"""Environment faults seen from Python.

- io_uring refused at setup: a child interpreter runs under a seccomp filter
  (tests/c/refuse_uring) that fails io_uring_setup with EPERM, ENOSYS, ENOMEM
  or EINVAL; ringkit.Ring(no_fallback=True) raises an OSError with that errno
  and the C library's advice (rk_strerror), ringkit.Ring() is a working ring
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
        assert ringkit.strerror(-want) in str(e), str(e)
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
    assert ringkit.strerror(-errno.EINVAL) in str(info.value)


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
