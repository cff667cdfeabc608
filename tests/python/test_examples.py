"""The Python examples run and agree with each other and with hashlib."""
import hashlib
import os
import subprocess
import sys

SRC = os.environ.get("RINGKIT_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(SRC, "examples", "python")


def run(script, *args):
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *args],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_hash_examples_agree(tmp_path):
    expected = []
    for i in range(40):
        p = tmp_path / ("f%02d" % i)
        data = os.urandom(i * 3001 + (i % 3) * 262144)
        p.write_bytes(data)
        expected.append((str(p), "%s %s" % (hashlib.sha256(data).hexdigest(), p)))
    aio_out = run("hash_aio.py", "--chunk", "65536", str(tmp_path))
    thr_out = run("hash_threads.py", "--chunk", "65536", str(tmp_path))
    assert aio_out.splitlines() == [line for _, line in sorted(expected)]
    assert thr_out == aio_out


def test_hash_example_reports_missing_file(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, "hash_aio.py"),
                          str(tmp_path / "missing")], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "No such file" in out.stderr


def _http_roundtrips(script):
    import socket as _s
    p = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, script), "0", "30"],
                         stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert "listening on 127.0.0.1:" in line, line
        port = int(line.rsplit(":", 1)[1])
        conns = [_s.create_connection(("127.0.0.1", port)) for _ in range(20)]
        req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        for rnd in range(3):
            for c in conns:
                c.sendall(req * (rnd + 1))  # pipelined on later rounds
            for c in conns:
                want = rnd + 1  # one response per request, pipelined or not
                got = b""
                c.settimeout(10)
                while got.count(b"Hello, world!\n") < want:
                    chunk = c.recv(65536)
                    assert chunk, "server closed a keep-alive connection"
                    got += chunk
                assert got.count(b"HTTP/1.1 200 OK\r\n") == want
                assert got.count(b"Hello, world!\n") == want
        for c in conns:
            c.close()
    finally:
        p.send_signal(2)
        code = p.wait(timeout=20)
        p.stdout.close()
        assert code == 0


def test_http_aio_example_serves_keepalive_and_pipelined_requests():
    _http_roundtrips("http_aio.py")


def test_http_asyncio_reference_serves_the_same():
    _http_roundtrips("http_asyncio.py")


def test_ring_per_thread_example(tmp_path):
    import zlib
    from pathlib import Path
    paths = []
    for i in range(30):
        p = tmp_path / ("w%02d" % i)
        p.write_bytes(os.urandom(i * 7919 + 1))
        paths.append(str(p))
    out = run("ring_per_thread.py", "--threads", "3", *paths)
    want = ["%08x  %s" % (zlib.crc32(Path(p).read_bytes()), p) for p in paths]
    assert out.splitlines() == want
