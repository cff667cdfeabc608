"""Ctrl-C during a blocking reap: the wait returns -EINTR inside, Python runs
its handler and KeyboardInterrupt propagates; a handler that returns lets the
wait go on."""
import os
import signal
import subprocess
import sys
import textwrap
import time

CHILD = textwrap.dedent("""
    import os, signal, sys, time, ringkit
    ring = ringkit.Ring(8)
    rfd, wfd = os.pipe()
    op = ring.poll_add(rfd, 1)          # never completes on its own
    mode = sys.argv[1]
    if mode == "handler":
        hits = []
        signal.signal(signal.SIGUSR1, lambda *a: hits.append(1))
    print("ready", flush=True)
    try:
        if mode == "handler":
            got = ring.reap(wait=1, timeout=1.0)   # SIGUSR1 arrives meanwhile
            print("hits", len(hits), "got", len(got), flush=True)
        else:
            ring.reap(wait=1)
            print("reap returned", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    ring.close()
""")


def run_child(mode, sig):
    env = dict(os.environ)
    p = subprocess.Popen([sys.executable, "-c", CHILD, mode], stdout=subprocess.PIPE,
                         text=True, env=env)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.2)  # let it block in io_uring_enter
    p.send_signal(sig)
    out, _ = p.communicate(timeout=20)
    return p.returncode, out


def test_keyboard_interrupt_during_blocking_reap():
    code, out = run_child("int", signal.SIGINT)
    assert "interrupted" in out, out
    assert code == 0


def test_handler_that_returns_lets_the_timed_wait_finish():
    t0 = time.monotonic()
    code, out = run_child("handler", signal.SIGUSR1)
    assert "hits 1 got 0" in out, out
    assert code == 0
    assert time.monotonic() - t0 >= 1.0  # the wait kept its deadline
