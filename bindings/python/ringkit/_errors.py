"""Negative errno results become OSError subclasses."""
import os

from ._ringkit import ffi, lib


def error(res: int) -> OSError:
    """The OSError for a negative errno result (FileNotFoundError for -ENOENT,
    BlockingIOError for -EAGAIN, ...): OSError(errno, text) picks the
    subclass itself."""
    return OSError(-res, os.strerror(-res))


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
