"""Soak through the Python binding: the mixed workload of soak.c driven from
Python, with a 1 kHz SIGALRM (its handler runs between bytecodes, so every
wait is interrupted and resumed) and gc.collect() forced every 100 ms while
the ring holds buffers of objects that become garbage as ops complete.

    python3 soak.py [SECONDS] [--max-rss-growth PCT]

Workload: files (chunks of a registered region and plain bytearrays written,
read back and verified), sockets on 127.0.0.1 (connect, send, echo through
provided chunks, verify, close), short and removed timeouts, pipe reads
ended by link timeouts, cancel ops and cancel_sync, and a new ring every few
seconds (the old one closed with everything in flight, or after cancel_all
and a drain). Prints ops done, RSS, open fds, chunks in use and live Python
objects at the start and the end; after the teardown fds, chunks in use and
objects must be back where they started (RSS growth bounded when asked).
Exit status 0 when all holds.
"""
import errno
import gc
import os
import random
import signal
import socket
import sys
import tempfile
import time

import ringkit

CHUNK = 4096
GCHUNK = 2048
GROUP = 5
NFILE, NCLIENT, NTIMER, NCANCEL = 6, 6, 3, 3
ROUND_TRIPS = 16

ticks = 0


def on_tick(signum, frame):
    global ticks
    ticks += 1


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def open_fds():
    return len(os.listdir("/proc/self/fd")) - 1  # listdir's own fd


def pattern(seed, n):
    return bytes((seed * 131 + i * 7) & 0xFF for i in range(n))


class Soak:
    def __init__(self):
        self.ops = self.verified = self.rings = 0
        self.pending = {}  # op id -> (handler, argument)
        fd, path = tempfile.mkstemp(prefix="ringkit-soak-py.")
        os.unlink(path)
        os.ftruncate(fd, NFILE * 16 * CHUNK)
        self.file = fd
        self.pipe = os.pipe()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.addr = self.listener.getsockname()
        self.fixed = ringkit.Region(CHUNK, 2 * NFILE)
        self.group = ringkit.Region(GCHUNK, 64)
        self.ring = None

    def chunks_in_use(self):
        return (self.fixed.count - self.fixed.free_chunks
                + self.group.count - self.group.free_chunks)

    # -- the ring ---------------------------------------------------------

    def new_ring(self):
        self.ring = ringkit.Ring(64, capacity=512)
        try:
            self.ring.register_region(self.fixed)
        except OSError as e:
            if e.errno != errno.ENOMEM:  # RLIMIT_MEMLOCK: plain reads then
                raise
        self.ring.provide_region(self.group, GROUP)
        self.rings += 1
        self.files = [dict(busy=False, seq=0, block=0, w=self.w_chunks[i], r=self.r_chunks[i])
                      for i in range(NFILE)]
        self.clients = [dict(sock=None, state="idle") for _ in range(NCLIENT)]
        self.servers = {}  # fd -> state
        self.accepting = False
        self.timers = [dict(busy=False, long=None, n=0) for _ in range(NTIMER)]
        self.cancels = [dict(live=0, n=0) for _ in range(NCANCEL)]
        self.stopping = False

    def drop_ring(self, abrupt):
        if not abrupt:
            self.stopping = True
            tries = 0
            while self.pending:
                if tries % 50 == 0:
                    self.ring.cancel_all()
                tries += 1
                if tries > 5000:
                    raise AssertionError("%d ops never completed" % len(self.pending))
                self.reap(0.01)
        self.ring.close()
        self.ring = None
        self.pending.clear()
        for c in self.clients:
            if c["sock"] is not None:
                fd = c["sock"]
                if c["state"] == "closing":
                    try:
                        os.close(fd)  # its close op may not have run
                    except OSError:
                        pass
                else:
                    os.close(fd)
        for fd, s in self.servers.items():
            try:
                os.close(fd)
            except OSError:
                if not s["closing"]:
                    raise

    def queue(self, op_id, handler, arg):
        self.pending[op_id] = (handler, arg)

    # -- files ------------------------------------------------------------

    def file_start(self, i):
        w = self.files[i]
        w["block"] = (w["block"] + 1) % 16
        w["seq"] += 1
        seed = w["seq"] * 16 + i
        w["data"] = pattern(seed, 64)
        self.fixed.view(w["w"])[:64] = w["data"]
        off = (i * 16 + w["block"]) * CHUNK
        self.queue(self.ring.write_chunk(self.file, self.fixed, w["w"], off), self.file_written, i)
        w["busy"] = True

    def file_written(self, i, res, flags):
        w = self.files[i]
        if res == -errno.ECANCELED:
            w["busy"] = False
            return
        assert res == CHUNK, res
        off = (i * 16 + w["block"]) * CHUNK
        if w["seq"] % 4 == 0:
            w["plain"] = bytearray(CHUNK)  # garbage once read: the GC's to free
            op = self.ring.read(self.file, w["plain"], off)
        else:
            op = self.ring.read_chunk(self.file, self.fixed, w["r"], off)
        self.queue(op, self.file_read, i)

    def file_read(self, i, res, flags):
        w = self.files[i]
        w["busy"] = False
        if res == -errno.ECANCELED:
            return
        assert res == CHUNK, res
        got = w.pop("plain") if w["seq"] % 4 == 0 else self.fixed.view(w["r"])
        assert bytes(got[:64]) == w["data"], "file worker %d read back other bytes" % i
        self.verified += 1

    # -- sockets ----------------------------------------------------------

    def client_start(self, i):
        c = self.clients[i]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c["sock"] = s.detach()
        c["state"] = "connecting"
        c["round"] = 0
        self.queue(self.ring.connect(c["sock"], self.addr), self.client_connected, i)

    def client_send(self, i):
        c = self.clients[i]
        c["seq"] = c.get("seq", 0) + 1
        c["out"] = pattern(c["seq"] + i * 1000, random.randint(1, 2048))
        c["in"] = bytearray(len(c["out"]))
        c["got"] = 0
        c["state"] = "sending"
        self.queue(self.ring.send(c["sock"], c["out"], msg_flags=socket.MSG_NOSIGNAL),
                   self.client_sent, i)

    def client_recv(self, i):
        c = self.clients[i]
        c["state"] = "receiving"
        view = memoryview(c["in"])[c["got"]:]
        self.queue(self.ring.recv(c["sock"], view), self.client_received, i)

    def client_close(self, i):
        c = self.clients[i]
        c["state"] = "closing"
        self.queue(self.ring.close_fd(c["sock"]), self.client_closed, i)

    def client_connected(self, i, res, flags):
        if res == -errno.ECANCELED:
            return self.client_close(i)
        assert res == 0, os.strerror(-res)
        self.client_send(i)

    def client_sent(self, i, res, flags):
        if res == -errno.ECANCELED:
            return self.client_close(i)
        assert res == len(self.clients[i]["out"]), res
        self.client_recv(i)

    def client_received(self, i, res, flags):
        c = self.clients[i]
        if res == -errno.ECANCELED:
            return self.client_close(i)
        assert res > 0, res
        c["got"] += res
        if c["got"] < len(c["out"]):
            return self.client_recv(i)
        assert bytes(c["in"]) == c["out"], "client %d: the echo differs" % i
        self.verified += 1
        c["round"] += 1
        if c["round"] < ROUND_TRIPS and not self.stopping:
            self.client_send(i)
        else:
            self.client_close(i)

    def client_closed(self, i, res, flags):
        c = self.clients[i]
        if res < 0:
            try:
                os.close(c["sock"])
            except OSError:
                pass
        c["sock"] = None
        c["state"] = "idle"

    def accepted(self, _, res, flags):
        if not flags & ringkit.CQE_F_MORE:
            self.accepting = False
        if res < 0:
            assert res in (-errno.ECANCELED, -errno.EINTR), res
            return
        self.servers[res] = dict(closing=False)
        self.server_recv(res)

    def server_recv(self, fd):
        self.queue(self.ring.recv_select(fd, GROUP), self.server_received, fd)

    def server_received(self, fd, res, flags):
        if res == 0 or res in (-errno.ECONNRESET, -errno.ECANCELED):
            return self.server_close(fd)
        assert res > 0, os.strerror(-res)
        assert flags & ringkit.CQE_F_BUFFER
        chunk = flags >> ringkit.CQE_BUFFER_SHIFT
        data = bytes(self.group.view(chunk, res))
        self.ring.recycle_chunk(self.group, chunk)
        self.queue(self.ring.send(fd, data, msg_flags=socket.MSG_NOSIGNAL), self.server_sent,
                   (fd, data))

    def server_sent(self, arg, res, flags):
        fd, data = arg
        if res < 0:
            assert res in (-errno.ECANCELED, -errno.EPIPE, -errno.ECONNRESET), res
            return self.server_close(fd)
        if res < len(data):
            rest = data[res:]
            return self.queue(self.ring.send(fd, rest, msg_flags=socket.MSG_NOSIGNAL),
                              self.server_sent, (fd, rest))
        self.server_recv(fd)

    def server_close(self, fd):
        self.servers[fd]["closing"] = True
        self.queue(self.ring.close_fd(fd), self.server_closed, fd)

    def server_closed(self, fd, res, flags):
        if res < 0:
            try:
                os.close(fd)
            except OSError:
                pass
        del self.servers[fd]

    # -- timeouts and cancels -----------------------------------------------

    def timer_start(self, i):
        t = self.timers[i]
        t["n"] += 1
        if t["n"] % 8 == 0 and t["long"] is None:
            t["long"] = self.ring.timeout(10.0)
            self.queue(t["long"], self.long_done, i)
        self.queue(self.ring.timeout(random.uniform(0.0001, 0.002)), self.timer_done, i)
        t["busy"] = True

    def timer_done(self, i, res, flags):
        assert res in (-errno.ETIME, -errno.ECANCELED), res
        t = self.timers[i]
        t["busy"] = False
        if t["long"] is not None and t["n"] % 8 == 4:
            try:
                self.queue(self.ring.timeout_remove(t["long"]), self.removed, i)
            except FileNotFoundError:
                pass

    def long_done(self, i, res, flags):
        assert res == -errno.ECANCELED, res
        self.timers[i]["long"] = None

    def removed(self, i, res, flags):
        assert res in (0, -errno.ENOENT, -errno.ECANCELED), res

    def cancel_start(self, i):
        x = self.cancels[i]
        x["n"] += 1
        buf = bytearray(8)
        mode = x["n"] % 3
        if mode == 0:
            self.queue(self.ring.read(self.pipe[0], buf, flags=ringkit.LINK), self.cancel_part, i)
            self.queue(self.ring.link_timeout(0.0002), self.cancel_part, i)
            x["live"] = 2
        elif mode == 1:
            r = self.ring.read(self.pipe[0], buf)
            self.queue(r, self.cancel_part, i)
            self.queue(self.ring.cancel(r), self.cancel_part, i)
            x["live"] = 2
        else:
            r = self.ring.read(self.pipe[0], buf)
            self.queue(r, self.cancel_part, i)
            x["live"] = 1
            try:
                self.ring.cancel_sync(r, 1.0)
            except (FileNotFoundError, BlockingIOError, OSError) as e:
                if e.errno not in (errno.ENOENT, errno.EALREADY, errno.EAGAIN):
                    raise

    def cancel_part(self, i, res, flags):
        assert res in (-errno.ECANCELED, -errno.ETIME, -errno.EALREADY, -errno.ENOENT, 0), res
        self.cancels[i]["live"] -= 1

    # -- the loop ---------------------------------------------------------

    def kick(self):
        if self.stopping:
            return
        for i, w in enumerate(self.files):
            if not w["busy"]:
                self.file_start(i)
        for i, c in enumerate(self.clients):
            if c["state"] == "idle":
                self.client_start(i)
        if not self.accepting:
            self.queue(self.ring.accept_multishot(self.listener.fileno(),
                                                  accept_flags=socket.SOCK_CLOEXEC),
                       self.accepted, None)
            self.accepting = True
        for i, t in enumerate(self.timers):
            if not t["busy"]:
                self.timer_start(i)
        for i, x in enumerate(self.cancels):
            if not x["live"]:
                self.cancel_start(i)

    def reap(self, timeout):
        for op_id, res, flags in self.ring.reap(wait=1, timeout=timeout):
            self.ops += 1
            if flags & ringkit.CQE_F_MORE:
                handler, arg = self.pending[op_id]
            else:
                handler, arg = self.pending.pop(op_id)
            handler(arg, res, flags)

    def line(self, what, t):
        print("%-6s t=%6.1fs ops=%d verified=%d rss=%dKiB fds=%d chunks=%d objects=%d rings=%d "
              "ticks=%d" % (what, t, self.ops, self.verified, rss_kib(), open_fds(),
                            self.chunks_in_use(), len(gc.get_objects()), self.rings, ticks),
              flush=True)


def main():
    seconds, max_growth = 20.0, None
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--max-rss-growth":
            max_growth = float(args.pop(0))
        else:
            seconds = float(a)
    random.seed(7)
    soak = Soak()
    gc.collect()
    fds0, chunks0, objects0 = open_fds(), soak.chunks_in_use(), len(gc.get_objects())
    t0 = time.monotonic()
    soak.line("start", 0)
    soak.w_chunks = [soak.fixed.alloc() for _ in range(NFILE)]
    soak.r_chunks = [soak.fixed.alloc() for _ in range(NFILE)]
    soak.new_ring()
    signal.signal(signal.SIGALRM, on_tick)
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)

    warm = min(max(10.0, seconds / 10), seconds / 2)
    rss_warm = None
    next_print, next_recycle, next_gc = 10.0, 2.5, 0.1
    recycles = 0
    while True:
        t = time.monotonic() - t0
        if t >= seconds:
            break
        if rss_warm is None and t >= warm:
            gc.collect()
            rss_warm = rss_kib()
            soak.line("warm", t)
        if t >= next_print:
            soak.line("run", t)
            next_print += 10
        if t >= next_gc:
            gc.collect()
            next_gc += 0.1
        if t >= next_recycle:
            soak.drop_ring(recycles % 2 == 0)
            recycles += 1
            soak.new_ring()
            next_recycle += 2.5
        soak.kick()
        soak.reap(0.005)
    gc.collect()
    rss_end = rss_kib()
    soak.line("end", time.monotonic() - t0)

    soak.drop_ring(False)
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    for c in soak.w_chunks + soak.r_chunks:
        soak.fixed.free(c)
    del soak.files, soak.clients, soak.servers, soak.timers, soak.cancels
    gc.collect()
    soak.line("after", time.monotonic() - t0)
    fds1, chunks1, objects1 = open_fds(), soak.chunks_in_use(), len(gc.get_objects())
    growth = 100.0 * (rss_end - rss_warm) / rss_warm if rss_warm else 0.0
    print("summary: %.0f s, %d ops (%.0f/s), %d verified, %d rings, %d ticks; fds %d -> %d, "
          "chunks in use %d -> %d, objects %d -> %d, RSS %s KiB after warm-up -> %d KiB (%+.2f%%)"
          % (seconds, soak.ops, soak.ops / seconds, soak.verified, soak.rings, ticks, fds0,
             fds1, chunks0, chunks1, objects0, objects1, rss_warm, rss_end, growth))
    status = 0
    if fds1 != fds0:
        print("FAIL: %d fds more than at the start" % (fds1 - fds0))
        status = 1
    if chunks1 != chunks0:
        print("FAIL: %d chunks in use more than at the start" % (chunks1 - chunks0))
        status = 1
    if objects1 > objects0 + 200:  # a few caches (re, tempfile) are fine
        print("FAIL: %d more live Python objects than at the start" % (objects1 - objects0))
        status = 1
    if max_growth is not None and growth > max_growth:
        print("FAIL: RSS grew %.2f%% (limit %.2f%%)" % (growth, max_growth))
        status = 1
    soak.fixed.close()
    soak.group.close()
    soak.listener.close()
    os.close(soak.file)
    os.close(soak.pipe[0])
    os.close(soak.pipe[1])
    return status


if __name__ == "__main__":
    sys.exit(main())
