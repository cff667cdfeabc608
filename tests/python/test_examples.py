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
