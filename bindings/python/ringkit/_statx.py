"""struct statx (what the statx op writes) decoded into a named tuple.

The one decoder of both Python bindings: bindings/ctypes loads this file by
itself, so it imports nothing from the package."""
import struct
from typing import NamedTuple

SIZE = 256
_HEAD = struct.Struct("=IIQIIIH2xQQQQ")
_TS = struct.Struct("=qIi")
_DEV = struct.Struct("=IIII")


class Statx(NamedTuple):
    mask: int
    blksize: int
    attributes: int
    nlink: int
    uid: int
    gid: int
    mode: int
    ino: int
    size: int
    blocks: int
    attributes_mask: int
    atime_ns: int
    btime_ns: int
    ctime_ns: int
    mtime_ns: int
    rdev_major: int
    rdev_minor: int
    dev_major: int
    dev_minor: int


def parse(buf) -> Statx:
    """Decodes the 256-byte buffer a completed statx op filled."""
    mv = memoryview(buf).cast("B")
    if len(mv) < SIZE:
        raise ValueError("statx buffer must be at least %d bytes" % SIZE)
    head = _HEAD.unpack_from(mv, 0)
    times = []
    for off in (64, 80, 96, 112):
        sec, nsec, _ = _TS.unpack_from(mv, off)
        times.append(sec * 1_000_000_000 + nsec)
    return Statx(*head, *times, *_DEV.unpack_from(mv, 128))
