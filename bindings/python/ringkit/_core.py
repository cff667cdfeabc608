"""Ring: one io_uring instance, ops named by integer ids.

Every op method queues one op and returns its id; nothing reaches the kernel
until submit() or reap(). reap() returns (id, result, flags) tuples for the
completions that are ready, read from one preallocated array per crossing.

Buffers: a read-like op takes any writable buffer-protocol object, a
write-like op any buffer. The ring holds a buffer export (ffi.from_buffer)
from submission until the op's final completion is reaped (or the ring is
closed), so the object can be neither freed nor resized while the kernel
writes into it, even when the caller drops every reference to it.
"""
import array
import errno
import operator
import os
import struct
import sys
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import _sockaddr, _statx, _vector
from ._errors import create_error, error, paths, prep_error, setup_error, strerror
from ._region import Region
from ._ringkit import ffi, lib

Completion = Tuple[int, int, int]

CQE_F_BUFFER = lib.RK_CQE_F_BUFFER
CQE_F_MORE = lib.RK_CQE_F_MORE
CQE_BUFFER_SHIFT = lib.RK_CQE_BUFFER_SHIFT
CQE_F_NOTIF = lib.RK_CQE_F_NOTIF


def _const(name: str) -> int:
    value = ffi.new("int64_t *")
    if lib.rk_constant(name.encode(), value) != 0:
        raise KeyError(name)
    return value[0]


# Defined by expressions in the header, so cffi does not see them: by name.
FILE_INDEX_ALLOC = _const("RK_FILE_INDEX_ALLOC")
FILES_SKIP = lib.RK_FILES_SKIP
_MSG_VALUE_MAX = _const("RK_MSG_VALUE_MAX")
_MSG_VALUE_MASK = _const("RK_MSG_VALUE_MASK")
AT_FDCWD = -100

_CQE = struct.Struct("=qiI")
CQE_SIZE = _CQE.size
CQE_FORMAT = _CQE.format
# For numpy: numpy.dtype(ringkit.CQE_DTYPE) views a reap_into() buffer.
CQE_DTYPE = [("id", "=i8"), ("res", "=i4"), ("flags", "=u4")]
_EINTR = errno.EINTR
_MORE = lib.RK_CQE_F_MORE
_REAP_BATCH = 256
_NULL = ffi.NULL
_from_buffer = ffi.from_buffer
_BYTES = ffi.typeof("char[]")  # passing the type positionally is the fast path
_I32 = ffi.typeof("int32_t[]")
_I64 = ffi.typeof("int64_t[]")
_array = array.array


def _int_formats(size: int) -> frozenset:
    # Buffer formats (struct syntax) of signed integers `size` bytes wide in
    # native byte order: exactly the buffers C may read as intN_t. An
    # array.array's typecode is one of its own unprefixed formats.
    order = "<" if sys.byteorder == "little" else ">"
    out = set()
    for prefix in ("", "@", "=", order):
        for code in "bhilqn":
            try:
                if struct.calcsize(prefix + code) == size:
                    out.add(prefix + code)
            except struct.error:
                pass  # "n" exists in native mode only
    return frozenset(out)


_I32_FORMATS = _int_formats(4)
_I64_FORMATS = _int_formats(8)

# Memory the kernel may still write after a failed close must outlive us.
_leaked_pins: List[Any] = []


def _fileno(obj) -> int:
    try:
        fd = obj.fileno()
    except AttributeError:
        raise TypeError("expected an int fd or an object with fileno(), got %s"
                        % type(obj).__name__) from None
    if not isinstance(fd, int):
        raise TypeError("fileno() must return an int")
    return fd


def _wbuf(obj):
    try:
        return _from_buffer(_BYTES, obj, True)
    except BufferError:
        raise TypeError("a writable buffer is required (bytearray, memoryview, mmap, ...), "
                        "got %s" % type(obj).__name__) from None


def _ints(obj, ctype, formats, what: str, writable: bool = False):
    """`obj` as a C array of ctype without copying, when it is a buffer of
    that item type; None when it is no buffer at all (a plain sequence).
    Checked first, because ffi.from_buffer would read any bytes as ints."""
    cls = obj.__class__
    if cls is _array:
        if obj.typecode not in formats:
            raise TypeError("%s: array.array of typecode %r, expected one of %s"
                            % (what, obj.typecode, _codes(formats)))
    else:
        try:
            m = obj if cls is memoryview else memoryview(obj)
        except TypeError:
            return None
        if m.format not in formats:
            raise TypeError("%s: buffer of format %r (itemsize %d), expected signed %d-byte "
                            "native ints (%s)" % (what, m.format, m.itemsize,
                                                  8 if ctype is _I64 else 4, _codes(formats)))
        if m.ndim != 1:
            raise ValueError("%s: a 1-D buffer is required, got %d dimensions" % (what, m.ndim))
    try:
        return _from_buffer(ctype, obj, writable)
    except (BufferError, ValueError) as e:  # numpy says ValueError
        if writable and memoryview(obj).readonly:
            raise TypeError("%s: a writable buffer is required" % what) from None
        raise ValueError("%s: %s" % (what, e)) from None  # not contiguous


def _codes(formats) -> str:
    return "/".join(sorted(f for f in formats if len(f) == 1))


def _path(p) -> bytes:
    b = os.fsencode(p)
    if b"\0" in b:
        raise ValueError("embedded null byte in path")
    return b


def _size_arg(name: str, value) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError("%s must be an int, got %s" % (name, type(value).__name__)) from None


def _seconds_to_ns(seconds) -> int:
    if seconds is None:
        return -1
    if seconds < 0:
        raise ValueError("timeout must be >= 0")
    return int(seconds * 1_000_000_000)


def _ints_or_list(obj, ctype, formats, what):
    c = _ints(obj, ctype, formats, what)
    return list(obj) if c is None else c


_vector_prep = _vector.prep_chunks
_vector_reap = _vector.reap_into


class Ring:
    """``Ring(entries=256, ...)``: an io_uring with an op table of
    ``capacity`` slots (default 4x entries). A context manager; ``close()``
    is idempotent and cancels what is still in flight.

    Setup modes: sqpoll, single_issuer, defer_taskrun, coop_taskrun, clamp;
    msg_target: other rings send this one messages (msg_ring), so reap()
    waits for them even when no op of its own is in flight.

    Where io_uring is refused (a container's seccomp profile, a sysctl), the
    ring runs on ringkit's fallback backend: the same API on threads and
    epoll, slower. fallback=True forces it; no_fallback=True asks for the
    setup error instead (PermissionError, ...); the environment variable
    RINGKIT_BACKEND (fallback, uring, auto) sets the default. ``backend``
    says which one a ring got."""

    # A Ring whose __init__ failed (bad arguments, a refused setup), or was
    # never called, reads as closed through these: __del__, __repr__ and
    # close() never meet a missing attribute.
    _ring = _NULL
    _addr = 0  # the ring's address for ringkit._vector; 0 once closed
    _on_close: Optional[Callable[[], None]] = None

    def __init__(self, entries: int = 256, *, capacity: int = 0, cq_entries: int = 0,
                 sqpoll: bool = False, sq_thread_idle_ms: int = 0,
                 single_issuer: bool = False, defer_taskrun: bool = False,
                 coop_taskrun: bool = False, clamp: bool = False,
                 msg_target: bool = False, fallback: bool = False,
                 no_fallback: bool = False, reap_batch: int = _REAP_BATCH):
        """Creates the ring. Raises InvalidSetup (a ValueError and an OSError,
        EINVAL) naming the argument at fault and its range, or an unknown
        RINGKIT_BACKEND; with no_fallback=True, the OSError of a refused
        io_uring (PermissionError, ...); TypeError for a size that is no int."""
        sizes = [_size_arg(name, value) for name, value in
                 (("entries", entries), ("cq_entries", cq_entries), ("capacity", capacity),
                  ("sq_thread_idle_ms", sq_thread_idle_ms))]
        reap_batch = _size_arg("reap_batch", reap_batch)
        if reap_batch < 1:
            raise ValueError("reap_batch must be >= 1, got %r" % reap_batch)
        flags = ((lib.RK_RING_SQPOLL if sqpoll else 0)
                 | (lib.RK_RING_SINGLE_ISSUER if single_issuer else 0)
                 | (lib.RK_RING_DEFER_TASKRUN if defer_taskrun else 0)
                 | (lib.RK_RING_COOP_TASKRUN if coop_taskrun else 0)
                 | (lib.RK_RING_CLAMP if clamp else 0)
                 | (lib.RK_RING_MSG_TARGET if msg_target else 0)
                 | (lib.RK_RING_FALLBACK if fallback else 0)
                 | (lib.RK_RING_NO_FALLBACK if no_fallback else 0))
        # Everything that can fail in Python comes before the ring exists,
        # so a failed __init__ never leaves one behind for __del__.
        try:
            cqes = ffi.new("rk_cqe[]", reap_batch)
        except OverflowError:
            raise ValueError("reap_batch too large: %r" % reap_batch) from None
        cqview = memoryview(ffi.buffer(cqes))
        ids = ffi.new("int64_t[]", 64)
        pid = os.getpid()
        out = ffi.new("rk_ring **")
        if clamp:  # clamps what the kernel cannot take, and so what C cannot
            sizes[0], sizes[1] = min(sizes[0], 0xFFFFFFFF), min(sizes[1], 0xFFFFFFFF)
        if all(0 <= v <= 0xFFFFFFFF for v in sizes):
            r = lib.rk_ring_create_ex(sizes[0], flags, sizes[1], sizes[2], sizes[3], out)
        else:
            r = -errno.EINVAL  # not even a uint32_t: the C library words why
        if r < 0:
            raise create_error(r, sizes[0], flags, sizes[1], sizes[2], sizes[3])
        self._pins: Dict[int, Any] = {}
        self._pid = pid
        self._cqes = cqes
        self._cqview = cqview
        self._reap_max = reap_batch
        self._ids = ids
        self._ring = out[0]
        self._addr = int(ffi.cast("uintptr_t", self._ring))

    # -- lifetime ---------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether close() has run (or __init__ failed)."""
        return not self._ring

    def close(self) -> None:
        """Cancels every in-flight op, waits until the kernel is done with
        all of them, frees the ring and releases the buffers it held. Their
        completions are not delivered (use cancel_all() and reap() first to
        see them). Idempotent."""
        ring = self._ring
        if not ring:
            return
        self._ring = _NULL
        self._addr = 0
        r = lib.rk_ring_close(ring)
        if r == -errno.ETIMEDOUT:
            # The kernel may still write into these: never release them.
            _leaked_pins.append(dict(self._pins))
        # Cleared in place: ringkit.aio's driver shares this dict, and the
        # buffers must be free (resizable) as soon as close() returns.
        self._pins.clear()
        hook, self._on_close = self._on_close, None
        if hook is not None:
            hook()

    def __enter__(self) -> "Ring":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        # Never raises. A forked child's copy is freed without a warning: the
        # child inherited it rather than forgot to close it.
        if not getattr(self, "_ring", None):
            return
        try:
            if os.getpid() == self._pid:
                warnings.warn("unclosed ringkit.Ring %r" % self, ResourceWarning, source=self)
        finally:
            self.close()

    def __repr__(self):
        ring = getattr(self, "_ring", None)
        if not ring:
            return "<ringkit.Ring closed>"
        out = ffi.new("uint64_t[1]")
        r = lib.rk_ring_stats(ring, out, 1)
        if r < 0:  # e.g. the parent's ring, in a forked child
            return "<ringkit.Ring unusable: %s>" % strerror(r)
        return "<ringkit.Ring fd=%d in_flight=%d>" % (lib.rk_ring_fd(ring), out[0])

    def _fail(self, r: int):
        if not self._ring:
            raise ValueError("ring is closed")
        if r in (-errno.ECHILD, -errno.EPERM):
            # Ring-level refusals (inherited through fork(); SQPOLL after a
            # change of credentials): the C library's words say what to do.
            raise setup_error(r)
        raise error(r)

    def _prep_fail(self, r: int):
        # An op the C library would not queue. Its EBUSY means the op table
        # is full, which rk_strerror explains (reap first): a bare
        # "Device or resource busy" does not say what to do.
        if r == -errno.EBUSY and self._ring:
            raise prep_error(r)
        self._fail(r)

    def _pin(self, r: int, obj) -> int:
        if r < 0:
            self._prep_fail(r)
        self._pins[r] = obj
        return r

    # -- information ------------------------------------------------------

    @property
    def backend(self) -> str:
        """"uring", or "fallback" where io_uring is refused (or was switched
        off by fallback=True / RINGKIT_BACKEND=fallback)."""
        r = lib.rk_ring_backend(self._ring)
        if r < 0:
            self._fail(r)
        return "fallback" if r == lib.RK_BACKEND_FALLBACK else "uring"

    def fileno(self) -> int:
        """The ring's fd (owned by the ring): pollable, readable while
        completions wait to be reaped (an eventfd on the fallback)."""
        r = lib.rk_ring_fd(self._ring)
        return r if r >= 0 else self._fail(r)

    def probe(self, opcode) -> bool:
        """Whether the kernel supports an IORING_OP_* opcode (int, or a name
        such as "IORING_OP_SEND_ZC" / "SEND_ZC")."""
        if isinstance(opcode, str):
            from . import constant
            opcode = constant(opcode if opcode.startswith("IORING_OP_")
                              else "IORING_OP_" + opcode)
        try:
            r = lib.rk_ring_probe(self._ring, opcode)
        except OverflowError:
            raise ValueError("opcode out of range: %r" % opcode) from None
        return bool(r) if r >= 0 else self._fail(r)

    _STATS = ("inflight", "overflow_queue", "sq_entries", "cq_entries", "capacity",
              "submitted", "completed", "cq_overflow", "cqes", "features", "backend")

    def stats(self) -> Dict[str, int]:
        """Ops in flight and queued, ring sizes, totals, CQ overflows."""
        out = ffi.new("uint64_t[]", lib.RK_STAT_COUNT)
        n = lib.rk_ring_stats(self._ring, out, lib.RK_STAT_COUNT)
        if n < 0:
            self._fail(n)
        return {name: out[i] for i, name in enumerate(self._STATS[:n])}

    def register_eventfd(self, fd: int, *, async_only: bool = False) -> None:
        """Has the kernel signal eventfd `fd` for each completion (async_only: only those that
        did not complete inline). Returns None; OSError(EBUSY) when one is registered
        already."""
        r = lib.rk_ring_register_eventfd(self._ring, fd,
                                         lib.RK_EVENTFD_ASYNC if async_only else 0)
        if r < 0:
            self._fail(r)

    def unregister_eventfd(self) -> None:
        """Stops signalling the eventfd register_eventfd() set. Returns None; OSError(ENXIO)
        when none is registered."""
        r = lib.rk_ring_unregister_eventfd(self._ring)
        if r < 0:
            self._fail(r)

    # -- submission and completion ---------------------------------------

    def submit(self) -> int:
        """Hands queued ops to the kernel; returns how many it took."""
        while True:
            r = lib.rk_submit(self._ring)
            if r >= 0:
                return r
            if r != -_EINTR:
                self._fail(r)
            # The loop's backward jump lets Python run pending signal handlers.

    def reap(self, max: Optional[int] = None, wait: int = 0,
             timeout: Optional[float] = None) -> List[Completion]:
        """Submits queued ops, waits until `wait` completions are ready (or
        `timeout` seconds pass; None: no limit) and returns up to `max` of
        them as (id, result, flags) tuples. A negative result is the op's
        -errno (ringkit.check() raises it). One FFI crossing per call.

        A signal during the wait runs the Python handler (KeyboardInterrupt
        propagates); a handler that returns lets the wait go on."""
        cap = self._reap_max
        if max is None:
            max = cap
        elif max > cap:
            self._grow(max)
        elif max < 0:
            raise ValueError("max must be >= 0")
        if wait < 0:
            raise ValueError("wait must be >= 0")
        tns = -1 if timeout is None else _seconds_to_ns(timeout)
        n = lib.rk_reap(self._ring, self._cqes, max, wait, tns)
        if n <= 0:
            if n < 0:
                n = self._reap_again(
                    lambda t: lib.rk_reap(self._ring, self._cqes, max, wait, t), tns, n)
            if n == 0:
                return []
        out = list(_CQE.iter_unpack(self._cqview[:n * 16]))
        if self._pins:
            self._unpin(out)
        return out

    def reap_into(self, out, wait: int = 0, timeout: Optional[float] = None) -> int:
        """reap() without a Python object per completion: submits queued
        ops, waits as reap() does, and writes up to len(out) // 16
        completion records into the writable buffer `out`; returns how
        many. Each record is 16 bytes, native byte order:

            offset 0  int64   id      the op's id (negative: a msg_ring message)
            offset 8  int32   res     the result: bytes, fd, 0 or -errno
            offset 12 uint32  flags   CQE_F_MORE, CQE_F_BUFFER, ...

        struct format CQE_FORMAT ("=qiI"); numpy.dtype(ringkit.CQE_DTYPE)
        reads a bytearray `out` with numpy.frombuffer, or make `out` a numpy
        array of that dtype. `out` must hold at least one record (else
        ValueError) and start 8-byte aligned (bytearrays and numpy arrays
        do). Buffers held for completed ops are released as by reap()."""
        if wait < 0:
            raise ValueError("wait must be >= 0")
        tns = -1 if timeout is None else _seconds_to_ns(timeout)
        # One CPython call (ringkit._vector); the buffer is borrowed for the
        # call only, so the caller may resize it between calls.
        n = _vector_reap(self._addr, out, wait, tns)
        if n.__class__ is not int:
            self._refuse_reap_into(out)
        if n <= 0:
            if n < 0:
                n = self._reap_again(lambda t: _vector_reap(self._addr, out, wait, t), tns, n)
            if n == 0:
                return 0
        if self._pins:
            self._unpin(_CQE.iter_unpack(memoryview(out).cast("B")[:n * 16]))
        return n

    @staticmethod
    def _refuse_reap_into(out) -> None:
        # Says why ringkit._vector would not take `out`.
        try:
            buf = _from_buffer(_BYTES, out, True)
        except BufferError:
            buf = _wbuf(out)  # raises the TypeError
        if len(buf) < 16:
            raise ValueError("out holds no 16-byte completion record (%d bytes)" % len(buf))
        if int(ffi.cast("uintptr_t", buf)) % 8:
            raise ValueError("out must start 8-byte aligned for completion records")
        raise ValueError("wait out of range")

    def _unpin(self, records) -> None:
        # An op's final completion (no CQE_F_MORE) ends the ring's hold on
        # what the op pinned: buffers, fd owners.
        pop = self._pins.pop
        for rec in records:
            if not rec[2] & _MORE:
                pop(rec[0], None)

    def _reap_again(self, again, tns, n) -> int:
        # reap() and reap_into() come here when their call returned an
        # error, kept off their fast path. -EINTR is retried: returning to
        # the interpreter between attempts runs the signal handler that
        # interrupted the wait (KeyboardInterrupt propagates from here), and
        # a handler that returns lets the wait go on for what is left of the
        # timeout. again(timeout_ns) makes the call once more; returns the
        # count of the call that succeeds.
        deadline = None
        while n < 0:
            if n != -_EINTR:
                self._fail(n)
            if tns > 0:
                now = time.monotonic_ns()
                if deadline is None:
                    deadline = now + tns
                tns = max_0(deadline - now)
            n = again(tns)
        return n

    def _grow(self, n: int) -> None:
        self._cqes = ffi.new("rk_cqe[]", n)
        self._cqview = memoryview(ffi.buffer(self._cqes))
        self._reap_max = n

    def cancel_all(self) -> int:
        """Cancels every in-flight op; their completions (-ECANCELED) arrive
        through reap(). Returns how many ops it targeted."""
        r = lib.rk_ring_cancel_all(self._ring)
        return r if r >= 0 else self._fail(r)

    def cancel_sync(self, op_id: int, timeout: Optional[float] = None) -> None:
        """Cancels op_id now, without taking a slot (works with a full op
        table). The op's own completion still arrives through reap()."""
        try:
            r = lib.rk_cancel_sync(self._ring, op_id, _seconds_to_ns(timeout))
        except OverflowError:
            raise ValueError("op id out of range: %r" % op_id) from None
        if r < 0:
            self._fail(r)

    # -- batches ----------------------------------------------------------

    def submit_batch(self, batch: "Batch", *, clear: bool = True) -> List[int]:
        """Queues every op of `batch` and submits, in one FFI crossing.
        Returns their ids. If an op is refused, the ops before it stay
        queued (their ids in the error's `.ids`), the error is raised with
        the refused op's position in `.index`, and the batch is cleared."""
        n = batch._n
        r = lib.rk_submit_batch(self._ring, batch._descs, n, batch._ids)
        if r < 0:
            self._fail(r)
        ids = ffi.unpack(batch._ids, r)
        pins = batch._pins
        if pins:
            own = self._pins
            for i, obj in pins.items():
                # A region outlives its ops by itself (rk_region_destroy).
                if i < r and obj.__class__ is not Region:
                    own[ids[i]] = obj
        if r < n:
            err = prep_error(batch._ids[r])
            err.index = r
            err.ids = ids
            path = batch._paths.get(r)
            batch.clear()
            with paths(path):
                raise err
        if clear:
            batch.clear()
        return ids

    # -- ops --------------------------------------------------------------
    # Each returns the new op's id. flags: RK_LINK, RK_DRAIN, ... (ints).

    def nop(self, flags: int = 0) -> int:
        """Queues an op that does nothing and completes with 0. Returns the op's id; OSError
        (EBUSY: op table full, EBADF, ...) when it cannot be queued."""
        try:
            r = lib.rk_prep_nop(self._ring, flags)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        return r if r >= 0 else self._prep_fail(r)

    def read(self, fd, buf, offset: int = -1, *, length: Optional[int] = None,
             flags: int = 0) -> int:
        """Reads into `buf` (writable buffer) at `offset` (-1: current position)."""
        try:
            cbuf = _from_buffer(_BYTES, buf, True)
        except BufferError:
            cbuf = _wbuf(buf)  # raises the TypeError
        n = len(cbuf) if length is None else _length(length, cbuf)
        try:
            if fd.__class__ is int:
                r = lib.rk_prep_read(self._ring, fd, cbuf, n, offset, flags)
                pin = cbuf
            else:
                r = lib.rk_prep_read(self._ring, _fileno(fd), cbuf, n, offset, flags)
                pin = (cbuf, fd)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        if r < 0:
            self._prep_fail(r)
        self._pins[r] = pin
        return r

    def write(self, fd, data, offset: int = -1, *, length: Optional[int] = None,
              flags: int = 0) -> int:
        """Writes `data` (any buffer) at `offset` (-1: current position)."""
        cbuf = _from_buffer(_BYTES, data)
        n = len(cbuf) if length is None else _length(length, cbuf)
        try:
            if fd.__class__ is int:
                r = lib.rk_prep_write(self._ring, fd, cbuf, n, offset, flags)
                pin = cbuf
            else:
                r = lib.rk_prep_write(self._ring, _fileno(fd), cbuf, n, offset, flags)
                pin = (cbuf, fd)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        if r < 0:
            self._prep_fail(r)
        self._pins[r] = pin
        return r

    def _vector(self, prep, fd, bufs, offset, rw_flags, flags, writable):
        cbufs = [_wbuf(b) if writable else _from_buffer(_BYTES, b) for b in bufs]
        if not cbufs:
            raise ValueError("at least one buffer is required")
        iov = _iovec(cbufs)
        fdn = fd if fd.__class__ is int else _fileno(fd)
        try:
            r = prep(self._ring, fdn, iov, len(cbufs), offset, rw_flags, flags)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        return self._pin(r, (cbufs, fd))

    def readv(self, fd, bufs: Sequence, offset: int = -1, *, rw_flags: int = 0,
              flags: int = 0) -> int:
        """Scatter read into a sequence of writable buffers."""
        return self._vector(lib.rk_prep_readv, fd, bufs, offset, rw_flags, flags, True)

    def writev(self, fd, bufs: Sequence, offset: int = -1, *, rw_flags: int = 0,
               flags: int = 0) -> int:
        """Gather write from a sequence of buffers."""
        return self._vector(lib.rk_prep_writev, fd, bufs, offset, rw_flags, flags, False)

    def read_chunk(self, fd, region: Region, chunk: int, offset: int = -1, *,
                   length: Optional[int] = None, flags: int = 0) -> int:
        """Reads into a chunk of a region (fixed-buffer op when registered)."""
        return self._chunk_op(lib.rk_prep_read_chunk, fd, region, chunk, offset, length, flags)

    def write_chunk(self, fd, region: Region, chunk: int, offset: int = -1, *,
                    length: Optional[int] = None, flags: int = 0) -> int:
        """Writes a chunk of a region (its first `length` bytes)."""
        return self._chunk_op(lib.rk_prep_write_chunk, fd, region, chunk, offset, length, flags)

    def _chunk_op(self, prep, fd, region, chunk, offset, length, flags):
        handle = region._handle()
        n = region.chunk_size if length is None else length
        fdn = fd if fd.__class__ is int else _fileno(fd)
        try:
            r = prep(self._ring, fdn, handle, chunk, n, offset, flags)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        if r < 0:
            if r == -errno.EINVAL and self._ring:
                raise ValueError("chunk %r not allocated, or length %r over the chunk size %d"
                                 % (chunk, n, region.chunk_size))
            self._prep_fail(r)
        if fd.__class__ is not int:
            self._pins[r] = fd
        return r

    def read_chunks(self, fd, region: Region, chunks, offsets, *,
                    length: Optional[int] = None, flags: int = 0,
                    ids=None) -> Union[List[int], int]:
        """Queues one chunk read per (chunk, offset) pair in one FFI crossing:
        the vectorised read_chunk for high queue depths. Returns the ops'
        ids as a list; with `ids` (a writable buffer of int64, at least as
        long as `chunks`), writes them there and returns their count, so
        no Python int is made per op.

        `chunks` and `offsets` are sequences of ints, or buffers that C
        reads in place: int32 for chunks (array.array("i"), numpy.int32),
        int64 for offsets and ids (array.array("q"), numpy.int64),
        memoryviews of those. A buffer of another item type raises
        TypeError; lengths that differ, ValueError. If an op is refused,
        the ones before it stay queued (their ids in the error's `.ids`).
        With flags=FIXED_FILE, `fd` is a slot of the ring's file table."""
        return self._chunks(0, fd, region, chunks, offsets, length, flags, ids)

    def write_chunks(self, fd, region: Region, chunks, offsets, *,
                     length: Optional[int] = None, flags: int = 0,
                     ids=None) -> Union[List[int], int]:
        """write_chunk for many (chunk, offset) pairs in one FFI crossing;
        arguments and result as read_chunks."""
        return self._chunks(1, fd, region, chunks, offsets, length, flags, ids)

    def _chunks_done(self, region, chunks, k, ids):
        # After ringkit._vector queued k ops: what _chunks does after its call.
        if k < len(chunks):
            err = prep_error(int(ids[k]))
            err.ids = [int(i) for i in ids[:k]]
            raise err
        return k

    def _chunks(self, write, fd, region, chunks, offsets, length, flags, ids):
        if ids is not None and fd.__class__ is int:
            # int buffers and an ids buffer: one call into ringkit._vector,
            # which answers NotImplemented for anything the code below
            # handles (and words the errors of).
            k = _vector_prep(self._addr, write, fd, region._addr, chunks, offsets,
                             region.chunk_size if length is None else length, flags, ids)
            if k is not NotImplemented:
                return self._chunks_done(region, chunks, k, ids)
        # An array.array of the right typecode goes straight to
        # ffi.from_buffer (the cheapest check there is); other buffers take
        # _ints' complete checks, lists and tuples cffi's own conversion.
        cls = chunks.__class__
        if cls is _array and chunks.typecode in _I32_FORMATS:
            chunks = _from_buffer(_I32, chunks)
        elif cls is not list and cls is not tuple:
            chunks = _ints_or_list(chunks, _I32, _I32_FORMATS, "chunks")
        cls = offsets.__class__
        if cls is _array and offsets.typecode in _I64_FORMATS:
            offsets = _from_buffer(_I64, offsets)
        elif cls is not list and cls is not tuple:
            offsets = _ints_or_list(offsets, _I64, _I64_FORMATS, "offsets")
        n = len(chunks)
        if len(offsets) != n:
            raise ValueError("chunks and offsets differ in length (%d, %d)" % (n, len(offsets)))
        handle = region._handle()
        if ids is None:
            out = self._ids
            if len(out) < n:
                out = self._ids = ffi.new("int64_t[]", n)
        else:
            if ids.__class__ is _array and ids.typecode in _I64_FORMATS:
                out = _from_buffer(_I64, ids, True)
            else:
                out = _ints(ids, _I64, _I64_FORMATS, "ids", True)
                if out is None:
                    raise TypeError("ids: a writable int64 buffer is required, got %s"
                                    % type(ids).__name__)
            if len(out) < n:
                raise ValueError("ids holds %d ids, %d ops asked for" % (len(out), n))
        fd_is_int = fd.__class__ is int
        try:
            k = lib.rkpy_prep_chunks(self._ring, write, fd if fd_is_int else _fileno(fd), handle,
                                     chunks, offsets, n,
                                     region.chunk_size if length is None else length, flags, out)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        if k and not fd_is_int:
            self._pins.update(dict.fromkeys(ffi.unpack(out, k), fd))
        if k < n:
            err = prep_error(out[k]) if self._ring else ValueError("ring is closed")
            err.ids = ffi.unpack(out, k)
            raise err
        return k if ids is not None else ffi.unpack(out, k)

    def fsync(self, fd, *, datasync: bool = False, offset: int = 0, length: int = 0,
              flags: int = 0) -> int:
        """fsync(2) of fd (datasync: fdatasync), the range offset..+length (0: the whole file).
        Returns the op's id; OSError (EBUSY: op table full, EBADF, ...) when it cannot be
        queued."""
        prep = lib.rk_prep_fdatasync if datasync else lib.rk_prep_fsync
        return self._simple(prep, fd, (offset, length, flags))

    def _simple(self, prep, fd, args):
        fdn = fd if fd.__class__ is int else _fileno(fd)
        try:
            r = prep(self._ring, fdn, *args)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        if r < 0:
            self._prep_fail(r)
        if fd.__class__ is not int:
            self._pins[r] = fd
        return r

    def _call(self, prep, *args) -> int:
        try:
            r = prep(self._ring, *args)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        return r if r >= 0 else self._prep_fail(r)

    def openat(self, path, oflags: int = os.O_RDONLY, mode: int = 0o644, *,
               dir_fd: int = AT_FDCWD, flags: int = 0) -> int:
        """openat(2); the completion's result is the new fd. `path` is copied."""
        with paths(path):
            return self._call(lib.rk_prep_openat, dir_fd, _path(path), oflags, mode, flags)

    def openat2(self, path, oflags: int = os.O_RDONLY, mode: int = 0, resolve: int = 0, *,
                dir_fd: int = AT_FDCWD, flags: int = 0) -> int:
        """openat2(2) with RESOLVE_* bits."""
        with paths(path):
            return self._call(lib.rk_prep_openat2, dir_fd, _path(path), oflags, mode, resolve,
                              flags)

    def close_fd(self, fd: int, *, flags: int = 0) -> int:
        """close(2) of fd through the ring."""
        return self._call(lib.rk_prep_close, fd, flags)

    def statx(self, path, buf, *, mask: int = 0x7FF, at_flags: int = 0,
              dir_fd: int = AT_FDCWD, flags: int = 0) -> int:
        """statx(2) into `buf` (writable, >= 256 bytes); decode it with
        ringkit.parse_statx(buf) after the completion."""
        cbuf = _wbuf(buf)
        if len(cbuf) < _statx.SIZE:
            raise ValueError("statx buffer must be at least %d bytes" % _statx.SIZE)
        with paths(path):
            try:
                r = lib.rk_prep_statx(self._ring, dir_fd, _path(path), at_flags, mask, cbuf,
                                      flags)
            except OverflowError as e:
                raise ValueError(str(e)) from None
            return self._pin(r, cbuf)

    def unlinkat(self, path, *, at_flags: int = 0, dir_fd: int = AT_FDCWD,
                 flags: int = 0) -> int:
        """unlinkat(2) of path (at_flags=AT_REMOVEDIR removes a directory); the path is copied.
        Returns the op's id; OSError (EBUSY: op table full, EBADF, ...) when it cannot be
        queued. A refusal here carries filename."""
        with paths(path):
            return self._call(lib.rk_prep_unlinkat, dir_fd, _path(path), at_flags, flags)

    def mkdirat(self, path, mode: int = 0o777, *, dir_fd: int = AT_FDCWD,
                flags: int = 0) -> int:
        """mkdirat(2) of path with mode; the path is copied. Returns the op's id; OSError
        (EBUSY: op table full, EBADF, ...) when it cannot be queued."""
        with paths(path):
            return self._call(lib.rk_prep_mkdirat, dir_fd, _path(path), mode, flags)

    def renameat(self, old, new, *, rename_flags: int = 0, old_dir_fd: int = AT_FDCWD,
                 new_dir_fd: int = AT_FDCWD, flags: int = 0) -> int:
        """renameat2(2) of old to new (rename_flags: RENAME_NOREPLACE, ...); both paths are
        copied. Returns the op's id; OSError (EBUSY: op table full, EBADF, ...) when it
        cannot be queued."""
        with paths(old, new):
            return self._call(lib.rk_prep_renameat, old_dir_fd, _path(old), new_dir_fd,
                              _path(new), rename_flags, flags)

    def linkat(self, old, new, *, at_flags: int = 0, old_dir_fd: int = AT_FDCWD,
               new_dir_fd: int = AT_FDCWD, flags: int = 0) -> int:
        """linkat(2): a hard link new to old; both paths are copied. Returns the op's id;
        OSError (EBUSY: op table full, EBADF, ...) when it cannot be queued."""
        with paths(old, new):
            return self._call(lib.rk_prep_linkat, old_dir_fd, _path(old), new_dir_fd,
                              _path(new), at_flags, flags)

    def symlinkat(self, target, linkpath, *, new_dir_fd: int = AT_FDCWD,
                  flags: int = 0) -> int:
        """symlinkat(2): a symbolic link linkpath to target; both are copied. Returns the op's
        id; OSError (EBUSY: op table full, EBADF, ...) when it cannot be queued."""
        with paths(target, linkpath):
            return self._call(lib.rk_prep_symlinkat, _path(target), new_dir_fd,
                              _path(linkpath), flags)

    def fallocate(self, fd, offset: int, length: int, *, mode: int = 0,
                  flags: int = 0) -> int:
        """fallocate(2) of offset..+length with mode (FALLOC_FL_*). Returns the op's id; OSError
        (EBUSY: op table full, EBADF, ...) when it cannot be queued."""
        return self._simple(lib.rk_prep_fallocate, fd, (mode, offset, length, flags))

    def fadvise(self, fd, offset: int, length: int, advice: int, *, flags: int = 0) -> int:
        """posix_fadvise(2) of offset..+length (POSIX_FADV_*). Returns the op's id; OSError
        (EBUSY: op table full, EBADF, ...) when it cannot be queued."""
        return self._simple(lib.rk_prep_fadvise, fd, (offset, length, advice, flags))

    def splice(self, fd_in: int, off_in: int, fd_out: int, off_out: int, nbytes: int, *,
               splice_flags: int = 0, flags: int = 0) -> int:
        """splice(2) of nbytes from fd_in at off_in to fd_out at off_out (-1: the current
        position; one of the two must be a pipe). The result is the byte count. Returns the
        op's id; OSError (EBUSY: op table full, EBADF, ...) when it cannot be queued."""
        return self._call(lib.rk_prep_splice, fd_in, off_in, fd_out, off_out, nbytes,
                          splice_flags, flags)

    def tee(self, fd_in: int, fd_out: int, nbytes: int, *, splice_flags: int = 0,
            flags: int = 0) -> int:
        """tee(2): duplicates nbytes from pipe fd_in into pipe fd_out. The result is the byte
        count. Returns the op's id; OSError (EBUSY: op table full, EBADF, ...) when it cannot
        be queued."""
        return self._call(lib.rk_prep_tee, fd_in, fd_out, nbytes, splice_flags, flags)

    def poll_add(self, fd, mask: int, *, flags: int = 0) -> int:
        """One-shot poll; the result is the ready mask."""
        return self._simple(lib.rk_prep_poll_add, fd, (mask, flags))

    def poll_multishot(self, fd, mask: int, *, flags: int = 0) -> int:
        """A completion (with CQE_F_MORE) each time fd becomes ready."""
        return self._simple(lib.rk_prep_poll_multishot, fd, (mask, flags))

    def poll_remove(self, target: int, *, flags: int = 0) -> int:
        """Removes the poll op `target`: it completes with -ECANCELED, this op with 0 or
        -ENOENT. Returns the op's id; OSError (EBUSY: op table full, EBADF, ...) when it
        cannot be queued."""
        return self._call(lib.rk_prep_poll_remove, target, flags)

    def timeout(self, seconds: float, *, count: int = 0, timeout_flags: int = 0,
                flags: int = 0) -> int:
        """Completes with -ETIME after `seconds`, or 0 after `count` completions."""
        return self._call(lib.rk_prep_timeout, _seconds_to_ns(seconds), count, timeout_flags,
                          flags)

    def timeout_remove(self, target: int, *, flags: int = 0) -> int:
        """Removes the timeout op `target`: it completes with -ECANCELED, this op with 0 or
        -ENOENT. Returns the op's id; OSError (EBUSY: op table full, EBADF, ...) when it
        cannot be queued."""
        return self._call(lib.rk_prep_timeout_remove, target, flags)

    def link_timeout(self, seconds: float, *, timeout_flags: int = 0, flags: int = 0) -> int:
        """Bounds the previous op (which carries RK_LINK)."""
        return self._call(lib.rk_prep_link_timeout, _seconds_to_ns(seconds), timeout_flags,
                          flags)

    def cancel(self, target: int, *, flags: int = 0) -> int:
        """Queues a cancel of op `target`. FileNotFoundError (ENOENT) when the
        target is no longer live: a stale id never touches a newer op."""
        return self._call(lib.rk_prep_cancel, target, flags)

    # -- sockets ----------------------------------------------------------

    def socket(self, domain: int, type: int, protocol: int = 0, *, flags: int = 0) -> int:
        """socket(2); the result is the new fd."""
        return self._call(lib.rk_prep_socket, domain, type, protocol, flags)

    def bind(self, fd, address, *, flags: int = 0) -> int:
        """bind(2) to (host, port) or an AF_UNIX path; the address is copied."""
        raw = _sockaddr.encode(address)
        return self._simple(lib.rk_prep_bind, fd, (raw, len(raw), flags))

    def listen(self, fd, backlog: int = 128, *, flags: int = 0) -> int:
        """listen(2) on a bound socket. Returns the op's id; OSError (EBUSY: op table full,
        EBADF, ...) when it cannot be queued."""
        return self._simple(lib.rk_prep_listen, fd, (backlog, flags))

    def connect(self, fd, address, *, flags: int = 0) -> int:
        """connect(2) to (host, port) or an AF_UNIX path; the address is copied. Returns the
        op's id; OSError (EBUSY: op table full, EBADF, ...) when it cannot be queued."""
        raw = _sockaddr.encode(address)
        return self._simple(lib.rk_prep_connect, fd, (raw, len(raw), flags))

    def accept(self, fd, addrbuf=None, *, accept_flags: int = 0, flags: int = 0) -> int:
        """accept4(2); the result is the new fd. With `addrbuf` (writable,
        held until completion) the peer address lands there:
        ringkit.decode_address(addrbuf) reads it."""
        fdn = fd if fd.__class__ is int else _fileno(fd)
        if addrbuf is None:
            cbuf, n = _NULL, 0
        else:
            cbuf = _wbuf(addrbuf)
            n = len(cbuf)
        try:
            r = lib.rk_prep_accept(self._ring, fdn, cbuf, n, accept_flags, flags)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        return self._pin(r, (cbuf, fd))

    def accept_multishot(self, fd, *, accept_flags: int = 0, flags: int = 0) -> int:
        """One completion (result: fd, CQE_F_MORE) per connection until
        cancelled or an error ends it."""
        return self._simple(lib.rk_prep_accept_multishot, fd, (accept_flags, flags))

    def send(self, fd, data, *, msg_flags: int = 0, length: Optional[int] = None,
             flags: int = 0) -> int:
        """send(2) of `data` (any buffer, held until the completion; its first `length` bytes).
        The result is the byte count (may be short). Returns the op's id; OSError (EBUSY: op
        table full, EBADF, ...) when it cannot be queued."""
        cbuf = _from_buffer(_BYTES, data)
        n = len(cbuf) if length is None else _length(length, cbuf)
        fdn = fd if fd.__class__ is int else _fileno(fd)
        try:
            r = lib.rk_prep_send(self._ring, fdn, cbuf, n, msg_flags, flags)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        return self._pin(r, cbuf if fd.__class__ is int else (cbuf, fd))

    def recv(self, fd, buf, *, msg_flags: int = 0, length: Optional[int] = None,
             flags: int = 0) -> int:
        """recv(2) into `buf` (writable buffer, held until the completion). The result is the
        byte count, 0 at end of stream. Returns the op's id; OSError (EBUSY: op table full,
        EBADF, ...) when it cannot be queued."""
        cbuf = _wbuf(buf)
        n = len(cbuf) if length is None else _length(length, cbuf)
        fdn = fd if fd.__class__ is int else _fileno(fd)
        try:
            r = lib.rk_prep_recv(self._ring, fdn, cbuf, n, msg_flags, flags)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        return self._pin(r, cbuf if fd.__class__ is int else (cbuf, fd))

    def shutdown(self, fd, how: int, *, flags: int = 0) -> int:
        """shutdown(2) of a socket (how: socket.SHUT_RD/WR/RDWR). Returns the op's id; OSError
        (EBUSY: op table full, EBADF, ...) when it cannot be queued."""
        return self._simple(lib.rk_prep_shutdown, fd, (how, flags))

    # -- messages and zero-copy ------------------------------------------

    def send_zc(self, fd, data, *, msg_flags: int = 0, report_usage: bool = False,
                length: Optional[int] = None, flags: int = 0) -> int:
        """Zero-copy send: two completions, the result (with CQE_F_MORE), then
        the notification (CQE_F_NOTIF) once the kernel no longer reads
        `data`. The ring holds `data` until that final notification. With
        report_usage, the notification's result has NOTIF_USAGE_ZC_COPIED set
        when the kernel copied after all (loopback does)."""
        cbuf = _from_buffer(_BYTES, data)
        n = len(cbuf) if length is None else _length(length, cbuf)
        fdn = fd if fd.__class__ is int else _fileno(fd)
        zc = lib.RK_SEND_ZC_REPORT_USAGE if report_usage else 0
        try:
            r = lib.rk_prep_send_zc(self._ring, fdn, cbuf, n, msg_flags, zc, flags)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        return self._pin(r, (cbuf, fd))

    def sendmsg(self, fd, bufs: Sequence, address=None, fds: Sequence[int] = (), *,
                msg_flags: int = 0, zc: bool = False, flags: int = 0) -> int:
        """sendmsg(2): gather `bufs`, to `address` (None on a connected
        socket), passing the descriptors `fds` (SCM_RIGHTS; keep them open
        until the completion). zc=True: zero-copy, completions as send_zc."""
        cbufs = [_from_buffer(_BYTES, b) for b in bufs]
        iov = _iovec(cbufs)
        raw = b"" if address is None else _sockaddr.encode(address)
        fdn = fd if fd.__class__ is int else _fileno(fd)
        prep = lib.rk_prep_sendmsg_zc if zc else lib.rk_prep_sendmsg
        fds = list(fds)
        try:
            r = prep(self._ring, fdn, iov, len(cbufs), raw or _NULL, len(raw),
                     fds or _NULL, len(fds), msg_flags, flags)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        return self._pin(r, (cbufs, fd))

    def recvmsg(self, fd, bufs: Sequence, msg: "RecvMsg", *, msg_flags: int = 0,
                flags: int = 0) -> int:
        """recvmsg(2) into writable `bufs`; the source address, the returned
        msg flags and received descriptors land in `msg` (a RecvMsg, held
        until the completion) when the completion is reaped."""
        if not isinstance(msg, RecvMsg):
            raise TypeError("msg must be a ringkit.RecvMsg")
        cbufs = [_wbuf(b) for b in bufs]
        iov = _iovec(cbufs)
        fdn = fd if fd.__class__ is int else _fileno(fd)
        try:
            r = lib.rk_prep_recvmsg(self._ring, fdn, iov, len(cbufs), msg._name,
                                    len(msg._name), msg._out, msg.fds_cap, msg_flags, flags)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        return self._pin(r, (cbufs, msg, fd))

    def msg_ring(self, target, value: int, res: int = 0, *, flags: int = 0) -> int:
        """Posts a message to another ring (a Ring or its fd): the target's
        reap() returns (message_id(value), res, 0) — a negative id, never an
        op's. This op completes with 0 once posted."""
        tfd = target.fileno() if isinstance(target, Ring) else target
        if not isinstance(value, int) or value < 0 or value > _MSG_VALUE_MAX:
            raise ValueError("message value must be 0..%d" % _MSG_VALUE_MAX)
        return self._call(lib.rk_prep_msg_ring, tfd, value, res, flags)

    # -- registered files and direct descriptors --------------------------

    def register_files(self, nslots: int) -> None:
        """Creates the ring's file table with nslots empty slots."""
        self._ring_call(lib.rk_ring_register_files, nslots)

    def update_files(self, offset: int, fds: Sequence[int]) -> int:
        """Sets slots offset.. from fds (-1 empties a slot, FILES_SKIP keeps
        it); the fds may be closed afterwards. Returns how many were set."""
        fds = list(fds)
        return self._ring_call(lib.rk_ring_update_files, offset, fds or _NULL, len(fds))

    def unregister_files(self) -> None:
        """Removes the ring's file table (register_files). Returns None; OSError(ENXIO) when it
        has none."""
        self._ring_call(lib.rk_ring_unregister_files)

    def _ring_call(self, fn, *args) -> int:
        try:
            r = fn(self._ring, *args)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        return r if r >= 0 else self._fail(r)

    def openat_direct(self, path, oflags: int = os.O_RDONLY, mode: int = 0o644, *,
                      file_index: int = FILE_INDEX_ALLOC, dir_fd: int = AT_FDCWD,
                      flags: int = 0) -> int:
        """openat into a file-table slot (result: the slot with
        FILE_INDEX_ALLOC, else 0). Use the slot with flags=FIXED_FILE."""
        with paths(path):
            return self._call(lib.rk_prep_openat_direct, dir_fd, _path(path), oflags, mode,
                              file_index, flags)

    def accept_direct(self, fd, *, file_index: int = FILE_INDEX_ALLOC, accept_flags: int = 0,
                      flags: int = 0) -> int:
        """accept into a file-table slot (result: the slot with FILE_INDEX_ALLOC, else 0).
        Returns the op's id; OSError (EBUSY: op table full, EBADF, ...) when it cannot be
        queued."""
        return self._simple(lib.rk_prep_accept_direct, fd, (file_index, accept_flags, flags))

    def accept_multishot_direct(self, fd, *, accept_flags: int = 0, flags: int = 0) -> int:
        """Multishot accept into free file-table slots: one completion (the slot, CQE_F_MORE)
        per connection. Returns the op's id; OSError (EBUSY: op table full, EBADF, ...) when
        it cannot be queued."""
        return self._simple(lib.rk_prep_accept_multishot_direct, fd, (accept_flags, flags))

    def socket_direct(self, domain: int, type: int, protocol: int = 0, *,
                      file_index: int = FILE_INDEX_ALLOC, flags: int = 0) -> int:
        """socket(2) into a file-table slot (result: the slot with FILE_INDEX_ALLOC, else 0).
        Returns the op's id; OSError (EBUSY: op table full, EBADF, ...) when it cannot be
        queued."""
        return self._call(lib.rk_prep_socket_direct, domain, type, protocol, file_index, flags)

    def close_fixed(self, slot: int, *, flags: int = 0) -> int:
        """Closes a file-table slot. Returns the op's id; OSError (EBUSY: op table full, EBADF,
        ...) when it cannot be queued."""
        return self._call(lib.rk_prep_close_fixed, slot, flags)

    def fixed_fd_install(self, slot: int, *, cloexec: bool = True, flags: int = 0) -> int:
        """Installs a slot's file as a regular fd (the result)."""
        return self._call(lib.rk_prep_fixed_fd_install, slot,
                          0 if cloexec else lib.RK_FIXED_FD_NO_CLOEXEC, flags)

    # -- provided buffers -------------------------------------------------

    def provide_region(self, region: Region, group: int = lib.RK_GROUP_ANY) -> int:
        """Hands every free chunk of `region` to the kernel as buffer group
        `group` (by default the lowest id the ring does not use) and returns
        the group id: receives with that group pick a chunk themselves, and
        the completion's flags name it (chunk = flags >> CQE_BUFFER_SHIFT)."""
        return self._region_call(lib.rk_ring_provide_region, region, group)

    def recycle_chunk(self, region: Region, chunk: int) -> None:
        """Gives a chunk a completion handed over back to the kernel."""
        self._region_call(lib.rk_ring_recycle_chunk, region, chunk)

    def unprovide_region(self, region: Region) -> None:
        """Takes the region's chunks back from the kernel (provide_region).
        Returns None; OSError(ENOENT) when it is not provided."""
        self._region_call(lib.rk_ring_unprovide_region, region)

    def recv_select(self, fd, group: int, *, length: int = 0, msg_flags: int = 0,
                    flags: int = 0) -> int:
        """recv into a chunk the kernel picks from `group`."""
        return self._simple(lib.rk_prep_recv_select, fd, (group, length, msg_flags, flags))

    def recv_multishot(self, fd, group: int, *, msg_flags: int = 0, flags: int = 0) -> int:
        """One completion per message into chunks of `group`, CQE_F_MORE until
        the final one (0 at EOF, -ENOBUFS when the group ran dry)."""
        return self._simple(lib.rk_prep_recv_multishot, fd, (group, msg_flags, flags))

    # -- registered regions ------------------------------------------------

    def register_region(self, region: Region) -> None:
        """Registers the region as a fixed buffer (chunk ops skip per-op
        page pinning). OSError(ENOMEM) when RLIMIT_MEMLOCK is too low: the
        region stays usable without it."""
        self._region_call(lib.rk_ring_register_region, region)

    def unregister_region(self, region: Region) -> None:
        """Unregisters a region registered with register_region. Returns
        None; OSError(ENOENT) when it is not registered."""
        self._region_call(lib.rk_ring_unregister_region, region)

    def _region_call(self, fn, region, *args):
        if not isinstance(region, Region):
            raise TypeError("expected a ringkit.Region")
        try:
            r = fn(self._ring, region._handle(), *args)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        if r < 0:
            if not self._ring:
                raise ValueError("ring is closed")
            raise setup_error(r)
        return r


def _iovec(cbufs):
    # The core copies the array at prep; the buffers themselves stay pinned.
    iov = ffi.new("rk_iovec[]", max(len(cbufs), 1))
    for i, c in enumerate(cbufs):
        iov[i].base = int(ffi.cast("uintptr_t", c))
        iov[i].len = len(c)
    return iov


class RecvMsg:
    """Where a recvmsg op's results land: after its completion is reaped,
    `address` (the source, decoded; None when there was none), `flags`
    (MSG_TRUNC, MSG_CTRUNC, ...) and `fds` (received descriptors, now the
    caller's to close). At most fds_cap descriptors are taken; the core
    closes any beyond that and reports MSG_CTRUNC."""

    __slots__ = {"_name": None, "_out": None,
                 "fds_cap": "At most this many descriptors are taken from a message."}

    def __init__(self, fds_cap: int = 0, name_cap: int = _sockaddr.SOCKADDR_MAX):
        if not 0 <= fds_cap <= lib.RK_MSG_FDS_MAX:
            raise ValueError("fds_cap must be 0..%d" % lib.RK_MSG_FDS_MAX)
        if not 0 <= name_cap <= _sockaddr.SOCKADDR_MAX:
            raise ValueError("name_cap must be 0..%d" % _sockaddr.SOCKADDR_MAX)
        self.fds_cap = fds_cap
        self._name = ffi.new("char[]", max(name_cap, 1))
        self._out = ffi.new("int32_t[]", lib.RK_MSG_FDS + fds_cap)

    @property
    def address(self):
        """The source address (decoded), or None when there was none."""
        n = self._out[lib.RK_MSG_NAMELEN]
        if n <= 0:
            return None
        try:
            return _sockaddr.decode(ffi.buffer(self._name, n))
        except ValueError:
            return None

    @property
    def flags(self) -> int:
        """The msg flags recvmsg returned (MSG_TRUNC, MSG_CTRUNC, ...)."""
        return self._out[lib.RK_MSG_FLAGS]

    @property
    def fds(self) -> List[int]:
        """The descriptors received (SCM_RIGHTS): the caller's to close."""
        n = self._out[lib.RK_MSG_NFDS]
        return [self._out[lib.RK_MSG_FDS + i] for i in range(n)]


def message_value(record_id: int) -> int:
    """The value of a msg_ring message from its (negative) completion id."""
    if record_id >= 0:
        raise ValueError("not a message id: %d" % record_id)
    return record_id & _MSG_VALUE_MASK


def max_0(v: int) -> int:
    return v if v > 0 else 0


def _length(length: int, cbuf) -> int:
    if length < 0 or length > len(cbuf):
        raise ValueError("length %r outside the buffer (%d bytes)" % (length, len(cbuf)))
    return length


class Batch:
    """Ops described in a preallocated rk_op_desc array and queued with one
    FFI crossing by Ring.submit_batch(). A batch is reusable: submit it with
    clear=False to queue the same ops again (a NOP or fixed-read loop)."""

    def __init__(self, capacity: int = 64):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._descs = ffi.new("rk_op_desc[]", capacity)
        self._ids = ffi.new("int64_t[]", capacity)
        self._cap = capacity
        self._n = 0
        self._pins: Dict[int, Any] = {}
        self._paths: Dict[int, Any] = {}  # an op's path, for its error's filename

    def __len__(self) -> int:
        return self._n

    def clear(self) -> None:
        """Forgets every op added so far (and what they held)."""
        self._n = 0
        self._pins = {}
        self._paths = {}

    def _add(self, op: int, flags: int, pin=None, **fields) -> None:
        i = self._n
        if i == self._cap:
            raise ValueError("batch is full (%d ops)" % self._cap)
        d = self._descs[i]
        try:
            d.flags = flags
            for k, v in fields.items():
                setattr(d, k, v)
        except OverflowError as e:
            raise ValueError(str(e)) from None
        d.op = op
        if pin is not None:
            self._pins[i] = pin
        self._n = i + 1

    def nop(self, flags: int = 0) -> None:
        """Adds a nop. ValueError when the batch is full; so do the others."""
        self._add(lib.RK_OP_NOP, flags)

    def _rw(self, op, fd, buf, offset, length, flags, writable):
        cbuf = _wbuf(buf) if writable else _from_buffer(_BYTES, buf)
        n = len(cbuf) if length is None else _length(length, cbuf)
        fdn = fd if fd.__class__ is int else _fileno(fd)
        self._add(op, flags, (cbuf, fd), fd=fdn, len=n, off=offset,
                  addr=int(ffi.cast("uintptr_t", cbuf)))

    def read(self, fd, buf, offset: int = -1, *, length: Optional[int] = None,
             flags: int = 0) -> None:
        """Adds a read into `buf` (writable buffer) at offset, as Ring.read."""
        self._rw(lib.RK_OP_READ, fd, buf, offset, length, flags, True)

    def write(self, fd, data, offset: int = -1, *, length: Optional[int] = None,
              flags: int = 0) -> None:
        """Adds a write of `data` at offset, as Ring.write."""
        self._rw(lib.RK_OP_WRITE, fd, data, offset, length, flags, False)

    def _chunk(self, op, fd, region, chunk, offset, length, flags):
        handle = region._handle()
        fdn = fd if fd.__class__ is int else _fileno(fd)
        if fd.__class__ is not int:
            raise TypeError("batch chunk ops take an int fd")
        self._add(op, flags, region, fd=fdn,
                  len=region.chunk_size if length is None else length, off=offset, arg1=chunk,
                  addr=int(ffi.cast("uintptr_t", handle)))

    def read_chunk(self, fd, region: Region, chunk: int, offset: int = -1, *,
                   length: Optional[int] = None, flags: int = 0) -> None:
        """Adds a read into a region chunk, as Ring.read_chunk (int fd only)."""
        self._chunk(lib.RK_OP_READ_CHUNK, fd, region, chunk, offset, length, flags)

    def write_chunk(self, fd, region: Region, chunk: int, offset: int = -1, *,
                    length: Optional[int] = None, flags: int = 0) -> None:
        """Adds a write of a region chunk, as Ring.write_chunk (int fd only)."""
        self._chunk(lib.RK_OP_WRITE_CHUNK, fd, region, chunk, offset, length, flags)

    def fsync(self, fd: int, *, datasync: bool = False, flags: int = 0) -> None:
        """Adds an fsync (datasync: fdatasync) of fd."""
        self._add(lib.RK_OP_FDATASYNC if datasync else lib.RK_OP_FSYNC, flags,
                  fd=fd, len=0, off=0)

    def openat(self, path, oflags: int = os.O_RDONLY, mode: int = 0o644, *,
               dir_fd: int = AT_FDCWD, flags: int = 0) -> None:
        """Adds an openat of path, as Ring.openat; its refusal by submit_batch carries filename."""
        # The path only has to live until the prep copies it: the batch holds it.
        cpath = ffi.new("char[]", _path(path))
        self._add(lib.RK_OP_OPENAT, flags, cpath, fd=dir_fd,
                  addr=int(ffi.cast("uintptr_t", cpath)), arg1=oflags, arg2=mode)
        self._paths[self._n - 1] = path

    def close_fd(self, fd: int, *, flags: int = 0) -> None:
        """Adds a close(2) of fd."""
        self._add(lib.RK_OP_CLOSE, flags, fd=fd)

    def timeout(self, seconds: float, *, count: int = 0, timeout_flags: int = 0,
                flags: int = 0) -> None:
        """Adds a timeout, as Ring.timeout."""
        self._add(lib.RK_OP_TIMEOUT, flags, off=_seconds_to_ns(seconds), len=count,
                  arg1=timeout_flags)

    def cancel(self, target: int, *, flags: int = 0) -> None:
        """Adds a cancel of op `target`, as Ring.cancel; ValueError for a negative id."""
        if target < 0:
            raise ValueError("op ids are >= 0")
        self._add(lib.RK_OP_CANCEL, flags, addr=target)
