"""The scenario runner for the cffi package `ringkit`:
    python3 run.py SCENARIO.json...
(PYTHONPATH = <builddir>/bindings/python). The interpreter is scenario.py;
this file is how each step's call is made through the package."""
import errno
import os
import signal
import sys

import ringkit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenario  # noqa: E402


class Interrupted(Exception):
    pass


class Binding(scenario.RingObjects):
    def read(self, r, fd, buf, flags):
        return r.read(fd, buf, flags=flags)

    def write(self, r, fd, data, flags):
        return r.write(fd, data, flags=flags)

    def read_chunk(self, r, fd, g, chunk, length, flags):
        # The package raises the C library's -EINVAL for a chunk that is not
        # the caller's as a ValueError that says so (_core.py, _chunk_op).
        try:
            return r.read_chunk(fd, g, chunk, length=length, flags=flags)
        except ValueError:
            return -errno.EINVAL

    def recv_select(self, r, fd, group, length, flags):
        return r.recv_select(fd, group, length=length, flags=flags)

    def timeout(self, r, ns, count, flags):
        return r.timeout(ns / 1e9, count=count, flags=flags)

    def link_timeout(self, r, ns, flags):
        return r.link_timeout(ns / 1e9, flags=flags)

    def cancel(self, r, target, flags):
        return r.cancel(target, flags=flags)

    def reap(self, r, wait, timeout):
        return r.reap(64, wait, timeout)

    def inflight(self, r):
        return r.stats()["inflight"]

    def interrupt_reap(self, r, after_ms):
        # The package runs Python's handler inside the wait (a handler that
        # returns lets it go on, as documented): the handler's exception is
        # how EINTR surfaces here.
        def handler(signo, frame):
            raise Interrupted()
        old = signal.signal(signal.SIGALRM, handler)
        try:
            signal.setitimer(signal.ITIMER_REAL, after_ms / 1000)
            got = r.reap(8, 1, 5.0)
            return "returned %r" % (got,)
        except Interrupted:
            return "EINTR"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


if __name__ == "__main__":
    sys.exit(scenario.main(Binding(ringkit), sys.argv[1:]))
