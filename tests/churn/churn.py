"""Connection churn against one example server, as real clients make it.

    churn.py http|echo [--rounds N] [--conns N] [--workers N] [--seed N]
             [--no-rss] [--halfclose-cuts] [--only SCENARIO,...] -- COMMAND [ARG...]

Starts COMMAND (a server told to listen on port 0: the command line ends
with its port argument 0), reads the port from the first line it prints
("listening on ...127.0.0.1:PORT"), then runs ROUNDS rounds of CONNS fresh
connections, WORKERS at a time from threads (server and client not pinned:
they share the CPUs). Each connection does one of:
  keepalive       batches of pipelined requests (or echo messages), each
                  batch written in pieces split at random bytes, read back
                  whole; then a close
  halfclose       the same, then shutdown(SHUT_WR): the server must end the
                  connection with nothing more (EOF)
  halfclose-live  requests still unanswered when it half-closes: every
                  answer must come back, then EOF (with --halfclose-cuts:
                  a byte prefix of the answers will do)
  reset           requests sent, maybe part of an answer read, then a close
                  with SO_LINGER 0 (RST)
  close-mid       many requests sent, part of the answers read, then a close
                  with answers unread (the kernel resets)
  idle / partial  connect and close; or half a request (a message whose
                  echo is not read), then close
Then it checks: no connection failed (every answer byte as expected: HTTP
responses parsed exactly and byte-identical to the first, echoes byte for
byte; timeouts and resets where none was asked for count as failures), the
server's open fds (/proc/PID/fd) back to what they were after the first
round and its RSS within a margin of it, a SIGINT stops it with status 0,
and nothing on its stderr or stdout looks like a traceback, an ignored
exception, an unretrieved task exception, a warning or a sanitizer report.
Exit status 0 when all holds; every failure is printed. A server that exits
with status 77 before listening (something it needs is missing) makes this
exit 77 too: a skip for meson.

Only behaviour every shipped server has is relied on: GET / HTTP/1.1 with a
Host header, keep-alive, pipelining, no bodies; the same response to each
(and, without --halfclose-cuts, answers owed at a half-close still sent).
"""
import argparse
import concurrent.futures
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: churn\r\n\r\n"
BODY = b"Hello, world!\n"
TIMEOUT = 5.0  # any single read or write; a server stuck this long has failed
# What must not appear in a server's output (case-insensitive).
BAD_OUTPUT = re.compile(
    r"traceback|exception ignored|never retrieved|unraisable|warning|"
    r"addresssanitizer|leaksanitizer|runtime error:|panic|segmentation|core dumped",
    re.IGNORECASE)


class Failure(Exception):
    pass


class Skip(Exception):
    """The server exited with status 77 before listening: it cannot run here."""


def parse_response(buf):
    """The first complete HTTP/1.1 response in buf, or None while incomplete.
    Raises Failure unless it is a well-formed 200 carrying BODY and keeping
    the connection open."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 8192:
            raise Failure("no end of headers in %r" % bytes(buf[:200]))
        return None
    lines = bytes(buf[:end]).split(b"\r\n")
    if lines[0] != b"HTTP/1.1 200 OK":
        raise Failure("status line %r" % lines[0])
    length = None
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise Failure("malformed header line %r" % line)
        name, value = name.lower(), value.strip()
        if name == b"content-length":
            if length is not None or not value.isdigit():
                raise Failure("Content-Length %r" % value)
            length = int(value)
        elif name == b"connection" and value.lower() == b"close":
            raise Failure("Connection: close on a keep-alive request")
        elif name == b"transfer-encoding":
            raise Failure("Transfer-Encoding %r" % value)
    if length is None:
        raise Failure("no Content-Length")
    total = end + 4 + length
    if len(buf) < total:
        return None
    if bytes(buf[end + 4:total]) != BODY:
        raise Failure("body %r" % bytes(buf[end + 4:total]))
    return bytes(buf[:total])


class Server:
    def __init__(self, command):
        self.command = command
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        self.out, self.err = [], []
        first = self.proc.stdout.readline().decode(errors="replace")
        self.out.append(first)
        m = re.search(r"listening on \S*?127\.0\.0\.1:(\d+)", first)
        self._drains = [threading.Thread(target=self._drain, args=(f, lst), daemon=True)
                        for f, lst in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self._drains:
            t.start()
        if not m:
            try:
                code = self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
            for t in self._drains:
                t.join(5)
            if code == 77:
                raise Skip("".join(self.err).strip())
            raise Failure("the server did not say where it listens: %r%s"
                          % (first, "".join(self.err)))
        self.port = int(m.group(1))

    @staticmethod
    def _drain(f, lst):
        for line in iter(f.readline, b""):
            lst.append(line.decode(errors="replace"))

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def rss_kib(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise Failure("no VmRSS")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGINT; the exit status (None when it had to be killed)."""
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        for t in self._drains:
            t.join(5)
        return code


class Client:
    """One connection's scenario. Every unexpected outcome raises."""

    def __init__(self, kind, port, rng, canonical, cuts_ok):
        self.kind, self.port, self.rng, self.cuts_ok = kind, port, rng, cuts_ok
        self.canonical = canonical  # the first HTTP response seen, bytes

    def dial(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def write_split(self, s, data):
        """data in one to four writes cut at random bytes."""
        cuts = sorted(self.rng.randrange(len(data) + 1) for _ in range(self.rng.randrange(4)))
        start = 0
        for cut in cuts + [len(data)]:
            if cut > start:
                s.sendall(data[start:cut])
            start = max(start, cut)

    def message(self):
        """A request batch (http) or an echo message, and the expected answer."""
        if self.kind == "http":
            n = self.rng.choice((1, 1, 2, 3, 8, 16, 32))
            return REQUEST * n, self.canonical * n
        data = self.rng.randbytes(self.rng.choice((1, 7, 100, 1500, 4096, 9000, 16384)))
        return data, data

    def read_exact(self, s, want):
        got = bytearray()
        while len(got) < len(want):
            chunk = s.recv(65536)
            if not chunk:
                raise Failure("EOF after %d of %d answer bytes" % (len(got), len(want)))
            got += chunk
            if not want.startswith(got[:len(want)]):
                raise Failure(self.diff(got, want))
        if len(got) > len(want):
            raise Failure("%d bytes more than asked for" % (len(got) - len(want)))

    def read_prefix(self, s, want, n):
        """At least n bytes, all a prefix of want (more may have come)."""
        got = bytearray()
        while len(got) < n:
            chunk = s.recv(65536)
            if not chunk:
                raise Failure("EOF after %d of %d answer bytes" % (len(got), len(want)))
            got += chunk
            if len(got) > len(want) or not want.startswith(got):
                raise Failure(self.diff(got, want))

    def read_to_eof(self, s, want):
        """Bytes until EOF, which must be a prefix of want; their count."""
        got = bytearray()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return len(got)
            got += chunk
            if len(got) > len(want) or not want.startswith(got):
                raise Failure(self.diff(got, want))

    def diff(self, got, want):
        i = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got),
                                                                               len(want)))
        where = ""
        piece = bytes(got[i:i + 16])
        if len(piece) == 16:  # reordered, or another connection's bytes?
            at = bytes(want).find(piece)
            where = (" (what came is at byte %d of the answer: reordered)" % at if at >= 0 else
                     " (what came is nowhere in the answer)")
        return "answer differs at byte %d of %d%s: got %r, want %r" % (
            i, len(want), where, bytes(got[max(0, i - 20):i + 40]),
            bytes(want[max(0, i - 20):i + 40]))

    def exchange(self, s):
        for _ in range(self.rng.randrange(1, 5)):
            data, want = self.message()
            if self.kind == "echo" and self.rng.random() < 0.3:
                more, more_want = self.message()  # two messages before reading
                data, want = data + more, want + more_want
            self.write_split(s, data)
            self.read_exact(s, want)

    def run(self, scenario):
        s = self.dial()
        try:
            return getattr(self, "do_" + scenario.replace("-", "_"))(s)
        finally:
            s.close()

    def do_keepalive(self, s):
        self.exchange(s)

    def do_halfclose(self, s):
        self.exchange(s)
        s.shutdown(socket.SHUT_WR)
        extra = s.recv(65536)
        if extra:
            raise Failure("%d bytes after a half-close: %r" % (len(extra), extra[:60]))

    def do_halfclose_live(self, s):
        if self.rng.random() < 0.5:
            self.exchange(s)
        data, want = self.message()
        self.write_split(s, data)
        s.shutdown(socket.SHUT_WR)
        got = self.read_to_eof(s, want)
        if got == len(want):
            return None
        if not self.cuts_ok:
            raise Failure("EOF after %d of %d answer bytes: the server dropped what it owed "
                          "when the client half-closed" % (got, len(want)))
        return "short"

    def do_reset(self, s):
        data, want = self.message()
        s.sendall(data)
        if self.rng.random() < 0.5:
            self.read_prefix(s, want, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def do_close_mid(self, s):
        if self.kind == "http":
            n = self.rng.randrange(64, 256)
            data, want = REQUEST * n, self.canonical * n
        else:
            data = self.rng.randbytes(32768)
            data, want = data, data
        s.sendall(data)
        self.read_prefix(s, want, self.rng.randrange(1, len(want) // 2))

    def do_idle(self, s):
        if self.rng.random() < 0.5:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def do_partial(self, s):
        """Half a request (http), or a message whose echo is never read."""
        data, _ = self.message()
        s.sendall(data[:max(1, len(data) // 2)] if self.kind == "http" else data)


SCENARIOS = (["keepalive"] * 6 + ["halfclose"] * 3 + ["halfclose-live"] * 3 + ["reset"] * 3 +
             ["close-mid"] * 3 + ["idle", "partial"])


def first_echo(port):
    """One echo before the counting starts (what the server sets up lazily)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        s.sendall(b"ping")
        got = b""
        while len(got) < 4:
            chunk = s.recv(64)
            if not chunk:
                raise Failure("EOF before the first echo: %r" % got)
            got += chunk
        if got != b"ping":
            raise Failure("first echo %r" % got)
    finally:
        s.close()


def first_response(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        s.sendall(REQUEST)
        buf = bytearray()
        while True:
            r = parse_response(buf)
            if r is not None:
                if len(buf) != len(r):
                    raise Failure("bytes after the one response: %r" % bytes(buf[len(r):]))
                return r
            chunk = s.recv(65536)
            if not chunk:
                raise Failure("EOF before a whole response: %r" % bytes(buf))
            buf += chunk
    finally:
        s.close()


def churn_round(kind, port, canonical, conns, workers, rng, cuts_ok, seconds, scenarios):
    jobs = [(rng.choice(scenarios), rng.getrandbits(64)) for _ in range(conns)]

    deadline = time.monotonic() + seconds

    def one(job):
        scenario, seed = job
        if time.monotonic() > deadline:
            return "%s (seed %d): not run, the round took over %g s" % (scenario, seed,
                                                                         seconds), None
        try:
            return None, Client(kind, port, random.Random(seed), canonical,
                                cuts_ok).run(scenario)
        except (Failure, OSError) as e:
            return "%s (seed %d): %s: %s" % (scenario, seed, type(e).__name__, e), None

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, jobs))
    return [e for e, _ in results if e], sum(note == "short" for _, note in results)


def settle(server, want_fds, seconds):
    """Waits for the server's fd count to drop to want_fds; the last count."""
    deadline = time.monotonic() + seconds
    while True:
        n = server.fds()
        if n <= want_fds or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=("http", "echo"))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--conns", type=int, default=500, help="connections per round")
    ap.add_argument("--workers", type=int, default=16, help="connections at a time")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--no-rss", action="store_true",
                    help="skip the RSS check (sanitizer builds: their allocator keeps freed memory)")
    ap.add_argument("--halfclose-cuts", action="store_true",
                    help="accept answers cut short after the client half-closes")
    ap.add_argument("--round-seconds", type=float, default=30,
                    help="connections not started by then fail")
    ap.add_argument("--only", help="comma-separated scenarios to run (to narrow a failure down)")
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        ap.error("no server command after --")
    a = ap.parse_args(argv[:argv.index("--")])
    command = argv[argv.index("--") + 1:]
    scenarios = SCENARIOS
    if a.only:
        scenarios = a.only.split(",")
        if not set(scenarios) <= set(SCENARIOS):
            ap.error("scenarios: %s" % ", ".join(sorted(set(SCENARIOS))))
    seed = a.seed if a.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    print("churn: %s server %s, seed %d, %d rounds of %d connections, %d at a time"
          % (a.kind, " ".join(command), seed, a.rounds, a.conns, a.workers), flush=True)

    failures = []
    try:
        server = Server(command)
    except Skip as e:
        print("churn: skipped: %s" % e)
        return 77
    except (Failure, OSError) as e:
        print("churn: FAILED: %s: %s" % (type(e).__name__, e))
        return 1
    try:
        canonical = first_response(server.port) if a.kind == "http" else first_echo(server.port)
        start_fds = server.fds()
        print("churn: server fds %d before the rounds" % start_fds, flush=True)
        base_fds = base_rss = None
        for rnd in range(a.rounds):
            t0 = time.monotonic()
            errors, short = churn_round(a.kind, server.port, canonical, a.conns, a.workers, rng,
                                        a.halfclose_cuts, a.round_seconds, scenarios)
            took = time.monotonic() - t0
            for e in errors[:10]:
                failures.append("round %d: %s" % (rnd + 1, e))
            if len(errors) > 10:
                failures.append("round %d: %d more failed connections" % (rnd + 1,
                                                                          len(errors) - 10))
            if not server.alive():
                failures.append("round %d: the server died (status %s)"
                                % (rnd + 1, server.proc.returncode))
                break
            fds = settle(server, start_fds if base_fds is None else base_fds, 3)
            rss = server.rss_kib()
            print("churn: round %d: %d connections in %.2f s, %d failed, %d half-closed with "
                  "answers cut short; server fds %d, RSS %d KiB"
                  % (rnd + 1, a.conns, took, len(errors), short, fds, rss), flush=True)
            if base_fds is None:  # after the first round: what lazy setup holds is held
                base_fds, base_rss = fds, rss
        if server.alive() and base_fds is not None:
            fds = settle(server, base_fds, 5)
            if fds > base_fds:
                failures.append("server fds %d after the rounds, %d after the first" % (fds,
                                                                                      base_fds))
            rss = server.rss_kib()
            limit = base_rss + max(8192, base_rss // 4)
            if not a.no_rss and rss > limit:
                failures.append("server RSS %d KiB after the rounds, %d after the first "
                                "(limit %d)" % (rss, base_rss, limit))
    except (Failure, OSError) as e:
        failures.append("%s: %s" % (type(e).__name__, e))
    finally:
        code = server.stop()
    if code != 0:
        failures.append("the server ended with status %s after SIGINT" % code)
    output = "".join(server.out) + "".join(server.err)
    bad = [line for line in output.splitlines() if BAD_OUTPUT.search(line)]
    if bad:
        failures.append("server output has %d suspicious lines, the first: %s"
                        % (len(bad), " | ".join(bad[:5])))
    if failures:
        print("churn: FAILED (seed %d)" % seed)
        for f in failures:
            print("  " + f)
        print("--- server stderr (last 40 lines):")
        print("".join(server.err[-40:]), end="")
        return 1
    print("churn: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
