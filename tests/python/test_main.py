"""``python3 -m ringkit`` (ringkit/__main__.py): what rings and the loop run
on here, and why io_uring is refused when it is. Run as a child interpreter,
normally and under a seccomp filter refusing io_uring_setup
(tests/c/refuse_uring), where it must say "fallback" and why."""
import errno
import os
import platform
import subprocess
import sys

import pytest

import ringkit
from ringkit import __main__ as main

REFUSE = os.path.join(os.environ.get("RINGKIT_BUILD", ""), "tests", "c", "refuse_uring")


def run(*prefix, env=None):
    p = subprocess.run(list(prefix) + [sys.executable, "-m", "ringkit"], capture_output=True,
                       text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stderr == "", p.stderr
    return p.stdout


def line(out, key):
    found = [ln for ln in out.splitlines() if ln.startswith(key + ":")]
    assert len(found) == 1, (key, out)
    return found[0][len(key) + 1:].strip()


def test_reports_what_runs_here():
    out = run()
    assert line(out, "kernel") == "Linux %s (%s)" % (platform.release(), platform.machine())
    env = os.environ.get("RINGKIT_BACKEND")
    assert line(out, "RINGKIT_BACKEND") == ("unset" if env is None else repr(env))
    with ringkit.Ring(8) as ring:
        want = "io_uring" if ring.backend == "uring" else "fallback"
    assert line(out, "rings") == want
    assert line(out, "asyncio loop (ringkit.aio.EventLoop)") == want
    assert ("the fallback runs every op" in out) == (want == "fallback")
    try:
        uring = ringkit.Ring(8, no_fallback=True)
    except OSError as e:
        assert line(out, "io_uring refused").startswith(errno.errorcode[e.errno]), out
        return
    with uring:
        assert line(out, "io_uring") == "available"
        assert line(out, "io_uring features") == main.features(uring.stats()["features"])
        missing = [k[len("IORING_OP_"):] for k, v in sorted(ringkit.constants.items(),
                                                             key=lambda kv: kv[1])
                   if k.startswith("IORING_OP_") and not uring.probe(v)]
        feats = ["%s=%s" % (k[len("RK_FEATURE_"):], "yes" if uring.feature(v) else "no")
                 for k, v in sorted(ringkit.constants.items(), key=lambda kv: kv[1])
                 if k.startswith("RK_FEATURE_")]
    assert line(out, "ops this kernel's io_uring lacks").split() == (missing or ["none"])
    assert line(out, "kernel features (Ring.feature)").split() == feats
    assert line(out, "ops the loop needs") == (
        "all present" if not set(main.LOOP_OPS) & set(missing)
        else "missing " + " ".join(op for op in main.LOOP_OPS if op in missing))
    shot = line(out, "multishot receive into provided buffers (the loop's reads)")
    assert shot == "yes" or shot.startswith("no: "), shot


def kernel_at_least(major, minor):
    parts = platform.release().split(".")
    return (int(parts[0]), int(parts[1].split("-")[0])) >= (major, minor)


def test_multishot_receive_check_cleans_up():
    try:
        ring = ringkit.Ring(8, no_fallback=True)
    except OSError:
        ring = ringkit.Ring(8, fallback=True)
    with ring:
        for _ in range(2):  # the group and the ring's slots are free again
            got = main.multishot_receive(ring)
            if ring.backend == "fallback" or kernel_at_least(6, 0):
                assert got == "yes", got
            assert ring.stats()["inflight"] == 0


def test_feature_names_are_the_kernels_bits():
    # The bits ringkit's constants table knows sit where the names say.
    known = {k[len("IORING_FEAT_"):]: v for k, v in ringkit.constants.items()
             if k.startswith("IORING_FEAT_")}
    assert known
    for name, bit in known.items():
        assert 1 << main.FEATURES.index(name) == bit, name
    assert main.features(0) == "none"
    assert main.features(0b11) == "SINGLE_MMAP NODROP"
    assert main.features(1 | 1 << 40) == "SINGLE_MMAP 0x%x" % (1 << 40)


@pytest.mark.parametrize("name,says", [
    ("EPERM", "seccomp filter on this process"),
    ("ENOMEM", "RLIMIT_MEMLOCK"),
    ("ENOSYS", "no io_uring"),
])
def test_refused_io_uring_says_fallback_and_why(name, says):
    if not os.access(REFUSE, os.X_OK):
        pytest.skip("refuse_uring not built")
    env = {k: v for k, v in os.environ.items() if k != "RINGKIT_BACKEND"}
    probe = subprocess.run([REFUSE, name, "true"], capture_output=True, timeout=30)
    if probe.returncode == 77:
        pytest.skip("cannot install a seccomp filter here")
    disabled = main._read("/proc/sys/kernel/io_uring_disabled")
    if name == "EPERM" and disabled not in (None, "0"):
        says = "kernel.io_uring_disabled = " + disabled
    out = run(REFUSE, name, env=env)
    assert line(out, "io_uring refused").startswith(name + " ("), out
    assert ringkit.strerror(-getattr(errno, name)) in out
    assert says in out, out
    assert line(out, "rings") == "fallback"
    assert line(out, "asyncio loop (ringkit.aio.EventLoop)") == "fallback"
    assert "the fallback runs every op" in out
    assert "io_uring features" not in out  # nothing to say of a kernel ring

    # RINGKIT_BACKEND=uring forbids the fallback: no ring at all, and why.
    out = run(REFUSE, name, env=dict(env, RINGKIT_BACKEND="uring"))
    assert line(out, "RINGKIT_BACKEND") == "'uring'"
    assert line(out, "rings").startswith("none: [Errno %d]" % getattr(errno, name)), out
    assert line(out, "asyncio loop (ringkit.aio.EventLoop)").startswith("none"), out


@pytest.mark.parametrize("disabled,says", [
    ("2", "kernel.io_uring_disabled = 2: io_uring is off for every process"),
    ("1", "only root and group 1234 may use io_uring"),
])
def test_sysctl_refusal_is_named(monkeypatch, disabled, says):
    files = {"/proc/sys/kernel/io_uring_disabled": disabled,
             "/proc/sys/kernel/io_uring_group": "1234", "/proc/self/status": "Seccomp:\t0"}
    monkeypatch.setattr(main, "_read", files.get)
    lines = main.why_refused(errno.EPERM)
    assert lines[0].startswith("io_uring refused: EPERM (")
    assert says in "\n".join(lines)
    files["/proc/sys/kernel/io_uring_disabled"] = "0"
    assert "seccomp mode 0" in "\n".join(main.why_refused(errno.EPERM))


def test_invalid_backend_variable_is_reported_not_raised():
    out = run(env=dict(os.environ, RINGKIT_BACKEND="bogus"))
    assert line(out, "RINGKIT_BACKEND") == "'bogus'"
    assert line(out, "rings").startswith("none: [Errno %d]" % errno.EINVAL)
    assert line(out, "asyncio loop (ringkit.aio.EventLoop)").startswith("none")
