"""The same job as hash_aio.py, the way it is done without ringkit: a thread
pool reads each file with blocking reads and feeds hashlib.

    python3 hash_threads.py [--concurrency N] [--chunk BYTES] FILE_OR_DIR...
"""
import argparse
import concurrent.futures
import hashlib
import sys
import time

import _cli
from hash_aio import files_of


def hash_file(path, chunk):
    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return path, h.hexdigest()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--concurrency", type=_cli.positive, default=64)
    ap.add_argument("--chunk", type=_cli.positive, default=256 * 1024)
    args = ap.parse_args()
    t0 = time.perf_counter()
    try:
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            results = sorted(pool.map(lambda p: hash_file(p, args.chunk), files_of(args.paths)))
    except OSError as e:
        sys.exit("hash_threads: cannot read '%s': %s" % (e.filename, e.strerror))
    for path, digest in results:
        print(digest, path)
    print("hash_threads: %d files in %.3f s" % (len(results), time.perf_counter() - t0),
          file=sys.stderr)
