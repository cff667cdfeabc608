"""The tour (tools/tour.sh, tour-python.sh, tour-lua.sh), cut short, leaves no
temporary files behind: its stdout pipe closed early (`sh tools/tour.sh |
head -3`), or a HUP, INT or TERM. It runs on the test build with tiny sizes
(RK_TOUR_MIB=1), without installing anything (RK_TOUR_NO_DEPS) or building
(RK_TOUR_BUILT says the build is done). The build step reports progress and
shows ninja's log only on failure. And ringkit-backend, which the tour prints
its backend line with, names the backend and the reason for a fallback."""
import os
import signal
import subprocess

import pytest

SRC = os.path.abspath(os.environ.get("RINGKIT_SRC",
                                     os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("RINGKIT_BUILD")

pytestmark = pytest.mark.skipif(not BUILD, reason="needs RINGKIT_BUILD (set by meson test)")

# script, the line printed once its temporary files exist, where they are
# (a name prefix, in TMPDIR or the build directory).
TOURS = [
    ("tour.sh", "   generating 1 MiB of random data", "build:tour."),
    ("tour-python.sh", "   writing the files to", "tmp:rk-tour-py."),
    ("tour-lua.sh", "   generating 1 MiB of random data", "tmp:rk-tour-lua."),
]


def _restore_signals():
    # Whatever the test runner ignores, the tour must see as a user's shell
    # would (a non-interactive sh cannot trap a signal ignored at entry).
    for s in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(s, signal.SIG_DFL)


# TMPDIR holds a space, and a decoy named like its first word: a cleanup
# that split paths at spaces would remove the decoy.
SPACED = "tmp dir"


def _leftovers(where, tmp):
    kind, prefix = where.split(":")
    d = os.path.abspath(BUILD) if kind == "build" else str(tmp / SPACED)
    assert (tmp / "tmp" / "decoy").exists()
    return sorted(f for f in os.listdir(d) if f.startswith(prefix))


def _start(script, tmp_path):
    build = os.path.abspath(BUILD)
    env = dict(os.environ, RK_TOUR_BUILD=build, RK_TOUR_BUILT=build, RK_TOUR_MIB="1",
               RK_TOUR_NO_DEPS="1", TMPDIR=str(tmp_path / SPACED))
    # tour.sh reads RK_TOUR_BUILD, the binding tours their first argument.
    cmd = ["sh", os.path.join(SRC, "tools", script), build]
    err = open(tmp_path / "stderr", "w")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, text=True,
                         preexec_fn=_restore_signals)
    return p


def _read_until(p, marker):
    seen = []
    for line in p.stdout:
        seen.append(line)
        if line.startswith(marker):
            return seen
    p.wait(timeout=60)
    pytest.fail("the tour ended (%s) before %r:\n%s" % (p.returncode, marker, "".join(seen)))


@pytest.fixture
def tmp_path(tmp_path):
    (tmp_path / SPACED).mkdir()
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "decoy").write_text("")
    return tmp_path


@pytest.mark.parametrize("script,marker,where", TOURS, ids=[t[0] for t in TOURS])
def test_tour_cleans_up_when_its_output_closes(script, marker, where, tmp_path):
    before = _leftovers(where, tmp_path)
    p = _start(script, tmp_path)
    try:
        seen = _read_until(p, marker)
        assert any(ln.startswith("   backend: ") for ln in seen), seen
        assert _leftovers(where, tmp_path) != before  # its files exist now
        p.stdout.close()  # as `| head` does: the tour's next write fails
        rc = p.wait(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rc != 0  # cut short, not finished
    assert _leftovers(where, tmp_path) == before, (tmp_path / "stderr").read_text()


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT, signal.SIGTERM],
                         ids=["HUP", "INT", "TERM"])
def test_tour_cleans_up_on_a_signal(sig, tmp_path):
    script, marker, where = TOURS[0]
    before = _leftovers(where, tmp_path)
    p = _start(script, tmp_path)
    try:
        _read_until(p, marker)
        p.send_signal(sig)  # to the shell only: it ends once its current command has
        p.stdout.read()
        rc = p.wait(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rc == 128 + sig
    assert _leftovers(where, tmp_path) == before, (tmp_path / "stderr").read_text()


def _backend(*prefix, **env):
    tool = os.path.join(BUILD, "tools", "ringkit-backend")
    p = subprocess.run(list(prefix) + [tool], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **env))
    return p.returncode, p.stdout.strip(), p.stderr


def test_backend_tool_names_the_backend_and_why():
    rc, out, _ = _backend(RINGKIT_BACKEND="fallback")
    assert (rc, out) == (0, "fallback (RINGKIT_BACKEND=fallback)")
    rc, out, _ = _backend(RINGKIT_BACKEND="auto")
    assert rc == 0 and out in ("io_uring", "fallback (io_uring refused: Operation not permitted)",
                               "fallback (io_uring refused: Function not implemented)"), out
    rc, out, err = _backend(RINGKIT_BACKEND="bogus")
    assert rc == 1 and out == "" and "RINGKIT_BACKEND" in err
    refuse = os.path.join(BUILD, "tests", "c", "refuse_uring")
    if os.access(refuse, os.X_OK):
        rc, out, _ = _backend(refuse, "EPERM", RINGKIT_BACKEND="auto")
        if rc != 77:
            assert (rc, out) == (0, "fallback (io_uring refused: Operation not permitted)")


@pytest.mark.parametrize("status", [0, 1])
def test_build_step_reports_progress_and_shows_the_log_on_failure(status, tmp_path):
    """tour_build speaks while ninja works (a line per quarter of the targets)
    and prints ninja's whole output only when the build fails. A stand-in
    ninja first on PATH plays the build."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "ninja"
    fake.write_text("#!/bin/sh\n"
                    "i=1\n"
                    "while [ $i -le 8 ]; do echo \"[$i/8] Compiling C object f$i.o\"; "
                    "i=$((i + 1)); done\n"
                    "[ %d = 0 ] || echo 'f8.c:1: error: expected expression'\n"
                    "exit %d\n" % (status, status))
    fake.chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]))
    env.pop("RK_TOUR_BUILT", None)
    p = subprocess.run(["sh", "-c", ". tools/tour-common.sh; tour_build \"$1\"; echo built-ok",
                        "sh", os.path.abspath(BUILD)], cwd=SRC, env=env,
                       capture_output=True, text=True, timeout=60)
    lines = p.stdout.splitlines()
    assert lines[0].startswith("== building the library, the examples and the bindings in ")
    progress = [ln for ln in lines if ln.startswith("   built ")]
    assert progress == ["   built %d of 8 targets" % k for k in (2, 4, 6, 8)], lines
    if status == 0:
        assert p.returncode == 0 and lines[-1] == "built-ok"
        assert "Compiling" not in p.stdout
    else:
        assert p.returncode == 1 and "built-ok" not in p.stdout
        assert "[3/8] Compiling C object f3.o" in lines and "error: expected" in p.stdout
