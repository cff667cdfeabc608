"""The scenario runner for the dlopen-only ctypes client
(bindings/ctypes/ringkit_ctypes.py):
    RINGKIT_LIB=<libringkit.so> PYTHONPATH=bindings/ctypes python3 run_ctypes.py SCENARIO.json...
The interpreter is scenario.py; this file is how each step's call is made
through ringkit_ctypes (errors are OSError with the errno)."""
import errno
import os
import signal
import sys

import ringkit_ctypes as rk

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenario  # noqa: E402


class Binding(scenario.RingObjects):
    def read(self, r, fd, buf, flags):
        return r.read(fd, buf, -1, flags)

    def write(self, r, fd, data, flags):
        return r.write(fd, data, -1, flags)

    def read_chunk(self, r, fd, g, chunk, length, flags):
        return r.read_chunk(fd, g, chunk, length, -1, flags)

    def recv_select(self, r, fd, group, length, flags):
        return r.recv_select(fd, group, length, 0, flags)

    def timeout(self, r, ns, count, flags):
        return r.timeout(ns / 1e9, count, 0, flags)

    def link_timeout(self, r, ns, flags):
        return r.link_timeout(ns / 1e9, 0, flags)

    def cancel(self, r, target, flags):
        return r.cancel(target, flags)

    def reap(self, r, wait, timeout):
        return r.reap(wait, timeout, 64)

    def inflight(self, r):
        return r.inflight()

    def interrupt_reap(self, r, after_ms):
        # ctypes drops the GIL around rk_reap; the signal interrupts the
        # kernel wait, rk_reap returns -EINTR and the client raises it as
        # OSError(EINTR). The handler itself returns (it runs after the call).
        old = signal.signal(signal.SIGALRM, lambda signo, frame: None)
        try:
            signal.setitimer(signal.ITIMER_REAL, after_ms / 1000)
            got = r.reap(1, 5.0, 8)
            return "returned %r" % (got,)
        except OSError as e:
            return errno.errorcode.get(e.errno, str(e.errno))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


if __name__ == "__main__":
    sys.exit(scenario.main(Binding(rk), sys.argv[1:]))
