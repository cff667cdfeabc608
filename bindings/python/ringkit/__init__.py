"""ringkit: io_uring for Python, over the ringkit C library.

    import ringkit
    with ringkit.Ring(256) as ring:
        buf = bytearray(4096)
        op = ring.read(fd, buf, 0)
        for op_id, res, flags in ring.reap(wait=1):
            ringkit.check(res)

Ops return integer ids; reap() returns (id, result, flags) completions
(reap_into() writes them as 16-byte records into a buffer instead); a
negative result is -errno (check() raises it as OSError). Buffers are held
until their op's final completion. ringkit.aio awaits ops from asyncio.
"""
from typing import Dict

from ._core import (AT_FDCWD, CQE_BUFFER_SHIFT, CQE_DTYPE, CQE_F_BUFFER, CQE_F_MORE,
                    CQE_F_NOTIF, CQE_FORMAT, CQE_SIZE, FILE_INDEX_ALLOC, FILES_SKIP, Batch,
                    Completion, RecvMsg, Ring, message_value)
from ._errors import check, error, strerror
from ._ops import op_names
from ._region import Region
from ._ringkit import ffi as _ffi, lib as _lib
from ._sockaddr import decode as decode_address, encode as encode_address
from ._statx import SIZE as STATX_SIZE, Statx, parse as parse_statx

# Per-op flags (the kernel's IOSQE_* bits).
FIXED_FILE = _lib.RK_FIXED_FILE
DRAIN = _lib.RK_DRAIN
LINK = _lib.RK_LINK
HARDLINK = _lib.RK_HARDLINK
ASYNC = _lib.RK_ASYNC
TIMEOUT_ABS = _lib.RK_TIMEOUT_ABS
TIMEOUT_BOOTTIME = _lib.RK_TIMEOUT_BOOTTIME
TIMEOUT_REALTIME = _lib.RK_TIMEOUT_REALTIME
NOTIF_USAGE_ZC_COPIED = _lib.RK_NOTIF_USAGE_ZC_COPIED
COPY_SPLICE = _lib.RK_COPY_SPLICE  # Ring.copy's copy_flags
COPY_READ_WRITE = _lib.RK_COPY_READ_WRITE
COPY_NO_PREALLOC = _lib.RK_COPY_NO_PREALLOC
COPY_DIRECT = _lib.RK_COPY_DIRECT
COPY_NO_DIRECT = _lib.RK_COPY_NO_DIRECT


def _load_constants() -> Dict[str, int]:
    table = {}
    name = _ffi.new("const char **")
    value = _ffi.new("int64_t *")
    i = 0
    while _lib.rk_constant_at(i, name, value) == 0:
        table[_ffi.string(name[0]).decode()] = value[0]
        i += 1
    return table


constants: Dict[str, int] = _load_constants()
"""Every constant the C library knows, by name (RK_*, IORING_OP_*, O_*, ...)."""


def constant(name: str) -> int:
    """One constant by name; KeyError when the library does not know it."""
    return constants[name]


def version() -> tuple:
    """The loaded C library's (major, minor, patch)."""
    v = _lib.rk_version()
    return (v >> 16, (v >> 8) & 0xFF, v & 0xFF)


__all__ = [
    "Ring", "Batch", "Region", "RecvMsg", "Completion", "Statx", "message_value",
    "CQE_F_NOTIF", "NOTIF_USAGE_ZC_COPIED", "FILE_INDEX_ALLOC", "FILES_SKIP", "check", "error", "strerror",
    "constant", "constants", "version", "parse_statx", "decode_address", "encode_address",
    "CQE_F_MORE", "CQE_F_BUFFER", "CQE_BUFFER_SHIFT", "CQE_SIZE", "CQE_FORMAT", "CQE_DTYPE",
    "STATX_SIZE", "AT_FDCWD", "op_names",
    "FIXED_FILE", "DRAIN", "LINK", "HARDLINK", "ASYNC",
    "TIMEOUT_ABS", "TIMEOUT_BOOTTIME", "TIMEOUT_REALTIME",
    "COPY_SPLICE", "COPY_READ_WRITE", "COPY_NO_PREALLOC", "COPY_DIRECT", "COPY_NO_DIRECT",
]
