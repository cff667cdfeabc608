"""NOP ops/s from Python: a reused Batch (one crossing per 256 ops) and one
nop() call per op, each reaped in batches of 256. Target: >= 2 M ops/s.

    PYTHONPATH=<build>/bindings/python python3 bench/python/nop.py
"""
import ringkit
from common import best_rate

N = 256 * 2000


def batched(ring, batch):
    def run():
        submit, reap = ring.submit_batch, ring.reap
        for _ in range(N // 256):
            submit(batch, clear=False)
            got = 0
            while got < 256:
                got += len(reap(256, 256 - got))
    return run


def single(ring):
    def run():
        nop, reap = ring.nop, ring.reap
        for _ in range(N // 256):
            for _ in range(256):
                nop()
            got = 0
            while got < 256:
                got += len(reap(256, 256 - got))
    return run


def main():
    with ringkit.Ring(256, capacity=1024) as ring:
        batch = ringkit.Batch(256)
        for _ in range(256):
            batch.nop()
        b = best_rate(batched(ring, batch), N)
        s = best_rate(single(ring), N)
    print("NOP ops/s from Python (best of 5 rounds of %d ops)" % N)
    print("batched, 256 per submit_batch   %10.0f   (%.2f M/s; target >= 2 M/s)" % (b, b / 1e6))
    print("one nop() call per op           %10.0f   (%.2f M/s)" % (s, s / 1e6))


if __name__ == "__main__":
    main()
