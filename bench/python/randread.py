"""4 KiB random reads of a page-cached file at queue depth 32 from Python,
against an os.pread loop measured in the same run. Target: >= 1.1x pread.

ringkit paths: read_chunks into a registered region (one crossing per 32
reads), and read() into 32 bytearrays (one call per read, buffers pinned).

    PYTHONPATH=<build>/bindings/python python3 bench/python/randread.py [MiB]
"""
import os
import sys

import ringkit
from common import BLOCK, best_rate, cached_file, offsets

QD = 32
N = 32 * 8000


def main():
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    path = cached_file(mib)
    try:
        fd = os.open(path, os.O_RDONLY)
        offs = offsets(path, N)
        ring = ringkit.Ring(QD * 2, capacity=QD * 4)
        region = ringkit.Region(BLOCK, QD)
        chunks = [region.alloc() for _ in range(QD)]
        try:
            ring.register_region(region)
            fixed = "registered"
        except OSError:
            fixed = "unregistered (RLIMIT_MEMLOCK)"
        bufs = [bytearray(BLOCK) for _ in range(QD)]

        def rk_chunks():
            read_chunks, reap = ring.read_chunks, ring.reap
            for i in range(0, N, QD):
                read_chunks(fd, region, chunks, offs[i:i + QD])
                got = 0
                while got < QD:
                    got += len(reap(QD, QD - got))

        def rk_read():
            read, reap = ring.read, ring.reap
            for i in range(0, N, QD):
                for j in range(QD):
                    read(fd, bufs[j], offs[i + j])
                got = 0
                while got < QD:
                    got += len(reap(QD, QD - got))

        def pread():
            pr = os.pread
            for o in offs:
                pr(fd, BLOCK, o)

        # Alternate so drift in machine speed hits every variant alike.
        results = {"pread": 0.0, "chunks": 0.0, "read": 0.0}
        for _ in range(3):
            results["pread"] = max(results["pread"], best_rate(pread, N, 2))
            results["chunks"] = max(results["chunks"], best_rate(rk_chunks, N, 2))
            results["read"] = max(results["read"], best_rate(rk_read, N, 2))
        p = results["pread"]
        print("4 KiB random reads of a cached %d MiB file, reads/s (best of 6)" % mib)
        print("os.pread loop                          %9.0f" % p)
        print("ringkit read_chunks qd %d, %s  %9.0f   %.2fx pread (target >= 1.1x)"
              % (QD, fixed, results["chunks"], results["chunks"] / p))
        print("ringkit read() qd %d, bytearrays        %9.0f   %.2fx pread"
              % (QD, results["read"], results["read"] / p))
        ring.close()
        region.close()
        os.close(fd)
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
