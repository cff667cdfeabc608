"""One ring per thread, steered with msg_ring: the main thread hands out work
(file numbers) to worker threads by posting messages into their rings; each
worker reads its file through its own ring, computes a CRC-32 and posts the
result back into the main thread's ring. No locks, no queues: the rings'
completion queues are the mailboxes, and a message wakes a thread blocked in
reap().

    python3 ring_per_thread.py [--threads N] FILE...
Prints "crc32  path" per file, in order.
"""
import argparse
import os
import sys
import threading
import zlib

import _cli
import ringkit

STOP = ringkit.constants["RK_MSG_VALUE_MAX"]  # a value no file number takes


def worker(ring, main_ring, paths):
    buf = bytearray(1 << 20)
    while True:
        for op_id, res, flags in ring.reap(wait=1):
            if op_id >= 0:
                continue  # our own msg_ring sends completing
            index = ringkit.message_value(op_id)
            if index == STOP:
                return
            fd = os.open(paths[index], os.O_RDONLY)
            crc, offset = 0, 0
            while True:
                read_id = ring.read(fd, buf, offset)
                # Other messages may arrive meanwhile: keep them for later.
                n = None
                while n is None:
                    for rid, rres, _ in ring.reap(wait=1):
                        if rid == read_id:
                            n = ringkit.check(rres)
                        elif rid < 0:
                            ring.msg_ring(ring, ringkit.message_value(rid), rres)
                if n == 0:
                    break
                crc = zlib.crc32(memoryview(buf)[:n], crc)
                offset += n
            os.close(fd)
            # res is an int32: the CRC's low 31 bits travel in res, its top
            # bit in the value, next to the file number.
            ring.msg_ring(main_ring, index << 1 | (crc >> 31), crc & 0x7FFFFFFF)
            ring.submit()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--threads", type=_cli.positive, default=4)
    args = ap.parse_args()
    # A worker that fails would leave the main thread waiting for its
    # answer: what can be checked is checked before they start.
    for path in args.paths:
        try:
            os.close(os.open(path, os.O_RDONLY))
            if os.path.isdir(path):
                raise IsADirectoryError(21, "Is a directory", path)
        except OSError as e:
            sys.exit("ring_per_thread: cannot read '%s': %s" % (path, e.strerror))
    main_ring = ringkit.Ring(64, msg_target=True)
    rings = [ringkit.Ring(64, msg_target=True) for _ in range(args.threads)]
    threads = [threading.Thread(target=worker, args=(r, main_ring, args.paths))
               for r in rings]
    for t in threads:
        t.start()
    for i in range(len(args.paths)):
        main_ring.msg_ring(rings[i % len(rings)], i)
    main_ring.submit()
    crcs = {}
    while len(crcs) < len(args.paths):
        for op_id, res, flags in main_ring.reap(wait=1):
            if op_id < 0:
                value = ringkit.message_value(op_id)
                crcs[value >> 1] = (value & 1) << 31 | res
            elif res < 0:
                sys.exit("msg_ring: %s" % os.strerror(-res))
    for r in rings:
        main_ring.msg_ring(r, STOP)
    main_ring.submit()
    for t in threads:
        t.join()
    for i, path in enumerate(args.paths):
        print("%08x  %s" % (crcs[i], path))
    for r in rings + [main_ring]:
        r.close()


if __name__ == "__main__":
    main()
