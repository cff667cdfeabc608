"""Helpers shared by the Python benchmarks: a page-cached data file, best-of
rounds timing."""
import os
import random
import tempfile
import time

BLOCK = 4096


def cached_file(mib=64):
    """A temp file of `mib` MiB of random bytes, read once so it is cached."""
    fd, path = tempfile.mkstemp(prefix="ringkit-bench-", dir=os.environ.get("TMPDIR"))
    chunk = os.urandom(1 << 20)
    for _ in range(mib):
        os.write(fd, chunk)
    os.lseek(fd, 0, os.SEEK_SET)
    while os.read(fd, 1 << 20):
        pass
    os.close(fd)
    return path


def offsets(path, n, seed=1):
    blocks = os.path.getsize(path) // BLOCK
    rnd = random.Random(seed)
    return [rnd.randrange(blocks) * BLOCK for _ in range(n)]


def best_rate(fn, n, rounds=5):
    """Runs fn() `rounds` times; returns the best n / seconds."""
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        rate = n / (time.perf_counter() - t0)
        best = max(best, rate)
    return best
