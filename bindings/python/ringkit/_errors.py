"""Negative errno results become OSError subclasses."""
import errno
import os
import re

from ._ringkit import ffi, lib


def error(res: int) -> OSError:
    """The OSError for a negative errno result (FileNotFoundError for -ENOENT,
    BlockingIOError for -EAGAIN, ...): OSError(errno, text) picks the
    subclass itself."""
    return OSError(-res, os.strerror(-res))


def prep_error(res: int) -> OSError:
    """As error(), for an op the C library refused to queue: there EBUSY
    means the op table (or its storage for paths and iovecs) is full, and
    the C library's words for it (rk_strerror) say to reap first."""
    if res == -errno.EBUSY:
        return OSError(errno.EBUSY, strerror(res))
    return error(res)


class paths:
    """``with paths(path[, path2]):`` an OSError raised inside, by a prep or
    an awaited completion, carries filename (and filename2, for two-path
    ops) as os.open and os.rename set them, unless it has one already. The
    one place every path op of Ring and ringkit.aio names its files."""

    __slots__ = ("path", "path2")

    def __init__(self, path, path2=None):
        self.path = path
        self.path2 = path2

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if isinstance(exc, OSError) and exc.filename is None and self.path is not None:
            exc.filename = _fspath(self.path)
            if self.path2 is not None:
                exc.filename2 = _fspath(self.path2)
        return False


def _fspath(p):
    try:
        return os.fspath(p)
    except TypeError:
        return p


class InvalidSetup(OSError, ValueError):
    """EINVAL from ring setup: the sizes are out of range, or the kernel lacks
    a requested setup mode. A ValueError (bad arguments) that is also the
    OSError the kernel reported (like io.UnsupportedOperation)."""


def setup_error(res: int) -> OSError:
    """As error(), with the C library's advice (seccomp, sysctl, memlock)."""
    return OSError(-res, strerror(res))


def check(res: int) -> int:
    """Returns a completion result unchanged, or raises its OSError when it
    is a negative errno."""
    if res < 0:
        raise error(res)
    return res


def strerror(res: int) -> str:
    """rk_strerror: what a negative errno means, with advice for setup errors."""
    return ffi.string(lib.rk_strerror(res)).decode("utf-8", "replace")


_INT64 = (1 << 63) - 1
# The C library names ring flags as RK_RING_*; a Python caller passed them as
# keyword arguments of Ring().
_RING_FLAG = re.compile(r"\bRK_RING_([A-Z][A-Z_]*)\b")


def create_error(res: int, entries: int, flags: int, cq_entries: int, capacity: int,
                 sq_thread_idle_ms: int) -> OSError:
    """The error for a Ring() the C library refused (or that could not even
    be passed to it: a negative size), in rk_ring_create_strerror's words,
    which say the cause first: InvalidSetup for EINVAL, else the OSError
    subclass of the errno (PermissionError, ...)."""
    sizes = [max(-_INT64 - 1, min(v, _INT64))
             for v in (entries, cq_entries, capacity, sq_thread_idle_ms)]
    text = ffi.string(lib.rk_ring_create_strerror(res, sizes[0], flags, *sizes[1:]))
    text = _RING_FLAG.sub(lambda m: m.group(1).lower() + "=True",
                          text.decode("utf-8", "replace"))
    if res != -errno.EINVAL:
        return OSError(-res, text)
    if text.startswith("RINGKIT_BACKEND"):
        text += " (RINGKIT_BACKEND=%r)" % os.environ.get("RINGKIT_BACKEND")
    elif "must be" in text:
        text += " (got entries=%r, cq_entries=%r, capacity=%r, sq_thread_idle_ms=%r)" % (
            entries, cq_entries, capacity, sq_thread_idle_ms)
    return InvalidSetup(errno.EINVAL, text)
