"""The servers of bench/python/loops.sh start and answer correctly on every
loop (asyncio's default, uvloop, ringkit's EventLoop), and its echo load
client (ringkit-echo-load) counts what is wrong, and the table of
bench/lib.sh (medians, ratios, "invalid" for a row with errors) says what
its input says. Functional checks with a tiny load, no timing: the figures
are the benchmark's.

A server whose loop or library is missing here (uvloop, aiohttp) exits with
status 77 and its test is skipped.
"""
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest


SRC = os.environ.get("RINGKIT_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("RINGKIT_BUILD", "")
ECHO_LOAD = os.path.join(BUILD, "bench", "ringkit-echo-load")
ECHO = os.path.join(SRC, "bench", "python", "echo_server.py")
HTTP = os.path.join(SRC, "bench", "http", "protocol_server.py")
AIOHTTP = os.path.join(SRC, "bench", "python", "aiohttp_server.py")
LOOPS = ["asyncio", "uvloop", "ringkit"]
BAD_OUTPUT = re.compile(r"traceback|exception|never retrieved|warning", re.IGNORECASE)


class Server:
    def __init__(self, script, loop):
        self.p = subprocess.Popen([sys.executable, script, loop, "0"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        first = self.p.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", first)
        if not m:
            # It said why before exiting 77 (its loop or library is missing
            # for this interpreter): a skip, not a failure.
            try:
                status = self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                status = None
            if status == 77:
                pytest.skip("%s on %s cannot run here: %s"
                            % (os.path.basename(script), loop, first.strip()))
            raise AssertionError("no port in %r: %s" % (first, self.p.stdout.read()))
        assert "(%s)" % loop in first, first
        self.port = int(m.group(1))

    def stop(self):
        """SIGINT: the server must stop with status 0 and have logged
        nothing that looks like an error."""
        self.p.send_signal(signal.SIGINT)
        out, _ = self.p.communicate(timeout=30)
        assert self.p.returncode == 0, out
        assert not BAD_OUTPUT.search(out), out

    def check_alive(self, timeout=0.5):
        """Raises AssertionError, with the server's output, when it exits
        within `timeout` seconds."""
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return
        raise AssertionError("the server died (status %d): %s"
                             % (self.p.returncode, self.p.stdout.read()))

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.communicate()  # reaps it and closes its pipe


@pytest.fixture
def server(request):
    made = []

    def start(script, loop):
        s = Server(script, loop)
        made.append(s)
        return s
    yield start
    for s in made:
        s.kill()


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        assert chunk, "closed after %d of %d bytes" % (len(buf), n)
        buf += chunk
    return bytes(buf)


def echo_load(port, conns, size, seconds=1):
    """Runs ringkit-echo-load; returns (exit status, its key: value figures,
    its whole output)."""
    p = subprocess.run([ECHO_LOAD, "127.0.0.1", str(port), str(conns), str(size), str(seconds)],
                       capture_output=True, text=True, timeout=60)
    figures = dict(line.split(" ", 1) for line in p.stdout.splitlines())
    return p.returncode, figures, p.stdout + p.stderr


def need_echo_load():
    if not os.access(ECHO_LOAD, os.X_OK):
        pytest.skip("ringkit-echo-load not built")


@pytest.mark.parametrize("loop", LOOPS)
def test_echo_server(server, loop):
    need_echo_load()
    srv = server(ECHO, loop)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        for size in (1, 1024, 100 * 1024):
            data = os.urandom(size)
            s.sendall(data)
            assert recv_exact(s, size) == data
    # The benchmark's load: every echoed byte checked, a second run on fresh
    # connections, at both message sizes.
    for size in (1024, 100 * 1024, 1024, 100 * 1024):
        status, figures, out = echo_load(srv.port, 4, size)
        assert status == 0 and figures["errors"] == "0", out
        assert int(figures["messages"]) > 0, out
    srv.stop()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop", "ringkit"])
def test_echo_server_survives_peers_that_reset_mid_echo(server, loop):
    """Clients that leave with echoes unread, by RST (as the load client's
    connections may at the end of each run): the server's sends then fail,
    which must end only those connections."""
    srv = server(ECHO, loop)
    try:
        reset_rounds(srv.port)
        srv.check_alive()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(b"still here")
            assert recv_exact(s, 10) == b"still here"
    except OSError:
        srv.check_alive(timeout=10)  # a refused or reset connection: did it die?
        raise
    srv.stop()


def reset_rounds(port):
    data = os.urandom(100 * 1024)
    for _ in range(10):
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(32)]
        for s in socks:
            s.setblocking(False)
            try:
                s.send(data)
            except OSError:
                pass  # the server may already have reset an earlier one
        time.sleep(0.01)
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()


def http_exchange(port, requests):
    """Sends the requests pipelined on one connection; returns the raw
    answer bytes once as many responses as requests have come."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"".join(requests))
        buf = b""
        while buf.count(b"Hello, world!\n") < len(requests):
            chunk = s.recv(65536)
            assert chunk, buf
            buf += chunk
        return buf


GET = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.mark.parametrize("loop", LOOPS)
def test_http_protocol_server(server, loop):
    srv = server(HTTP, loop)
    one = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"
           b"Hello, world!\n")
    assert http_exchange(srv.port, [GET]) == one
    assert http_exchange(srv.port, [GET] * 3) == one * 3
    srv.stop()


@pytest.mark.parametrize("loop", LOOPS)
def test_aiohttp_server(server, loop):
    pytest.importorskip("aiohttp")
    srv = server(AIOHTTP, loop)
    for n in (1, 3):
        answer = http_exchange(srv.port, [GET] * n)
        responses = answer.split(b"HTTP/1.1 ")[1:]
        assert len(responses) == n, answer
        for r in responses:
            head, _, body = r.partition(b"\r\n\r\n")
            assert head.startswith(b"200 OK\r\n"), answer
            assert b"Content-Length: 14" in head and body == b"Hello, world!\n", answer
    srv.stop()


class BadEcho:
    """A server for the load client: echoes, with byte `flip` of each
    connection's stream changed (None: intact), or closing after `close_after`
    bytes."""

    def __init__(self, flip=None, close_after=None):
        self.flip, self.close_after = flip, close_after
        self.ls = socket.create_server(("127.0.0.1", 0))
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        seen = 0
        with c:
            while True:
                try:
                    data = bytearray(c.recv(65536))
                except OSError:
                    return
                if not data:
                    return
                if self.flip is not None and seen <= self.flip < seen + len(data):
                    data[self.flip - seen] ^= 0xFF
                seen += len(data)
                if self.close_after is not None and seen >= self.close_after:
                    return
                try:
                    c.sendall(data)
                except OSError:
                    return

    def close(self):
        self.ls.close()


@pytest.mark.parametrize("size", [1024, 100 * 1024])
def test_echo_load_checks_every_byte(size):
    need_echo_load()
    good = BadEcho()
    try:
        status, figures, out = echo_load(good.port, 2, size)
        assert status == 0 and figures["errors"] == "0" and int(figures["messages"]) > 0, out
    finally:
        good.close()
    # One changed byte, late in the stream (the third message's middle).
    bad = BadEcho(flip=2 * size + size // 2)
    try:
        status, figures, out = echo_load(bad.port, 2, size)
        assert status == 1 and figures["errors"] == "2", out
        assert "echoed bytes differ" in out
    finally:
        bad.close()


def test_echo_load_counts_closed_and_refused_connections():
    need_echo_load()
    closing = BadEcho(close_after=1024 * 3)
    try:
        status, figures, out = echo_load(closing.port, 3, 1024)
        assert status == 1 and figures["errors"] == "3", out
        assert "closed by the server" in out
    finally:
        closing.close()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: refused
        status, figures, out = echo_load(port, 2, 1024)
    assert status == 1 and figures["errors"] == "2" and figures["messages"] == "0", out
    assert "connect" in out


def test_echo_load_rejects_bad_arguments():
    need_echo_load()
    for args in ([], ["127.0.0.1", "1", "1", "1"], ["::1", "1", "1", "1", "1"],
                 ["127.0.0.1", "0", "1", "1", "1"], ["127.0.0.1", "1", "1", "0", "1"],
                 ["127.0.0.1", "1", "x", "1", "1"]):
        p = subprocess.run([ECHO_LOAD] + args, capture_output=True, text=True, timeout=10)
        assert p.returncode == 2 and "usage" in p.stderr, (args, p.stderr)


def bench_table(tmp_path, rows, *bases):
    """bench/lib.sh's bench_table over a results file of `rows`."""
    results = tmp_path / "results"
    results.write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    p = subprocess.run(["sh", "-c", '. bench/lib.sh; results="$1"; shift; bench_table "$@"',
                        "sh", str(results), "pinned"] + list(bases),
                       cwd=SRC, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    table = {}
    for ln in p.stdout.splitlines():
        cells = ln.split()
        if cells and cells[0] in ("asyncio", "uvloop", "ringkit"):
            table[cells[0]] = cells[1:]
    return p.stdout, table


def test_table_medians_ratios_and_invalid_rows(tmp_path):
    g = "echo, 1 KiB"
    rows = [("pinned", g, "asyncio", r, c, 0, "message", 1000)
            for r, c in ((100, 4), (300, 2), (200, 3))]
    rows += [("pinned", g, "uvloop", 400, 2, 0, "message", 1000),
             ("pinned", g, "ringkit", 800, 1, 0, "message", 1000),
             ("pinned", g, "ringkit", 600, 1, 1, "message", 1000),   # one run with an error
             ("unpinned", g, "ringkit", 1, 1, 0, "message", 1000)]   # another placement
    out, t = bench_table(tmp_path, rows, "uvloop", "asyncio")
    assert "-- echo, 1 KiB" in out and "messages/s" in out and "CPU us/message" in out
    # rate, range, cpu, errors, MB/s, rate/uvloop, cpu/uvloop, rate/asyncio, cpu/asyncio
    # (no pcpu/uvloop: these rows name no round and run to pair)
    assert "pcpu" not in out
    assert t["asyncio"] == ["200", "100-300", "3.00", "0", "0.2", "0.50", "1.50", "1.00", "1.00"]
    assert t["uvloop"] == ["400", "400-400", "2.00", "0", "0.4", "1.00", "1.00", "2.00", "0.67"]
    assert t["ringkit"] == ["invalid", "-", "invalid", "1", "-", "-", "-", "-", "-"]
    # Ratios against an invalid or absent base are "-".
    rows = [("pinned", "-", "asyncio", 100, 2, 0, "request", 0),
            ("pinned", "-", "uvloop", 100, 2, 3, "request", 0)]
    out, t = bench_table(tmp_path, rows, "uvloop", "nginx")
    assert "MB/s" not in out and "--" not in out
    assert t["asyncio"] == ["100", "100-100", "2.00", "0", "-", "-", "-", "-"]


def test_table_pairs_runs_of_the_same_round_and_number(tmp_path):
    # pcpu/uvloop: the median of per-run ratios, each against uvloop's run of
    # the same round and number; a run uvloop lacks pairs with nothing.
    g = "HTTP"
    rows = []
    for rnd, run, uv, rk in ((1, 1, 10, 8), (1, 2, 20, 10), (2, 1, 10, 9), (2, 2, 40, 20)):
        rows.append(("pinned", g, "uvloop", 100, uv, 0, "request", 0, rnd, run))
        rows.append(("pinned", g, "ringkit", 100, rk, 0, "request", 0, rnd, run))
    rows.append(("pinned", g, "ringkit", 100, 1, 0, "request", 0, 3, 1))
    out, t = bench_table(tmp_path, rows, "uvloop")
    assert "pcpu/uvloop" in out
    # Ratios 0.8, 0.5, 0.9, 0.5 (round 3 unpaired): median 0.65. The medians'
    # ratio, cpu/uvloop, is 9 / 15 = 0.60.
    assert t["ringkit"][-3:] == ["1.00", "0.60", "0.65"], out
    assert t["uvloop"][-1] == "1.00"
    # An invalid base pairs with nothing.
    rows.append(("pinned", g, "uvloop", 100, 10, 2, "request", 0, 3, 2))
    out, t = bench_table(tmp_path, rows, "uvloop")
    assert t["ringkit"][-1] == "-", out
