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
import os
import struct
import sys
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import _ops, _sockaddr, _vector
from ._errors import create_error, error, paths, prep_error, setup_error, strerror
from ._ops import (AT_FDCWD, FILE_INDEX_ALLOC, _BYTES, _NULL, _c, _const, _fileno,
                   _from_buffer, _seconds_to_ns, _size_arg, _wbuf)
from ._region import Region
from ._ringkit import ffi, lib

Completion = Tuple[int, int, int]

CQE_F_BUFFER = lib.RK_CQE_F_BUFFER
CQE_F_MORE = lib.RK_CQE_F_MORE
CQE_BUFFER_SHIFT = lib.RK_CQE_BUFFER_SHIFT
CQE_F_NOTIF = lib.RK_CQE_F_NOTIF


FILES_SKIP = lib.RK_FILES_SKIP
_MSG_VALUE_MASK = _const("RK_MSG_VALUE_MASK")  # an expression in the header: by name

_CQE = struct.Struct("=qiI")
CQE_SIZE = _CQE.size
CQE_FORMAT = _CQE.format
# For numpy: numpy.dtype(ringkit.CQE_DTYPE) views a reap_into() buffer.
CQE_DTYPE = [("id", "=i8"), ("res", "=i4"), ("flags", "=u4")]
_EINTR = errno.EINTR
_MORE = lib.RK_CQE_F_MORE
_REAP_BATCH = 256
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
    says which one a ring got.

    restrictable=True: the ring waits, disabled, for restrict(): until then
    every op, submit() and reap() raise OSError(EBADFD), while the file
    table, regions and eventfd can be set up."""

    # A Ring whose __init__ failed (bad arguments, a refused setup), or was
    # never called, reads as closed through these: __del__, __repr__ and
    # close() never meet a missing attribute.
    _ring = _NULL
    _h = None  # the ring's handle (ringkit._vector): its pointer and pin table
    _on_close: Optional[Callable[[], None]] = None

    def __init__(self, entries: int = 256, *, capacity: int = 0, cq_entries: int = 0,
                 sqpoll: bool = False, sq_thread_idle_ms: int = 0,
                 single_issuer: bool = False, defer_taskrun: bool = False,
                 coop_taskrun: bool = False, clamp: bool = False,
                 msg_target: bool = False, fallback: bool = False,
                 no_fallback: bool = False, restrictable: bool = False,
                 reap_batch: int = _REAP_BATCH):
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
                 | (lib.RK_RING_NO_FALLBACK if no_fallback else 0)
                 | (lib.RK_RING_RESTRICTABLE if restrictable else 0))
        # Everything that can fail in Python comes before the ring exists,
        # so a failed __init__ never leaves one behind for __del__.
        try:
            cqes = ffi.new("rk_cqe[]", reap_batch)
        except OverflowError:
            raise ValueError("reap_batch too large: %r" % reap_batch) from None
        cqview = memoryview(ffi.buffer(cqes))
        ids = ffi.new("int64_t[]", 64)
        pid = os.getpid()
        if clamp:  # clamps what the kernel cannot take, and so what C cannot
            sizes[0], sizes[1] = min(sizes[0], 0xFFFFFFFF), min(sizes[1], 0xFFFFFFFF)
        # -EINVAL for a size that is not even a uint32_t: the C library words why.
        h = _vector.ring_create(sizes[0], flags, sizes[1], sizes[2], sizes[3])
        if h.__class__ is int:
            raise create_error(h, sizes[0], flags, sizes[1], sizes[2], sizes[3])
        self._h = h
        # The handle's pin table: op id -> what the op holds (buffers, fd
        # owners) until its final completion; ringkit.aio's driver pins there too.
        self._pins: Dict[int, Any] = h.pins
        self._pid = pid
        self._cqes = cqes
        self._cqview = cqview
        self._reap_max = reap_batch
        self._ids = ids
        self._ring = ffi.cast("rk_ring *", h.address)

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
        self._h.detach()
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

    def _prep_fail(self, r: int, region=None, chunk=None, length=None):
        # An op the C library would not queue. Its EBUSY means the op table
        # is full, which rk_strerror explains (reap first): a bare
        # "Device or resource busy" does not say what to do. A chunk op's
        # EINVAL is about its chunk or length.
        if r == -errno.EINVAL and region is not None and self._ring:
            raise ValueError("chunk %r not allocated, or length %r over the chunk size %d"
                             % (chunk, length, region.chunk_size))
        if r == -errno.EBUSY and self._ring:
            raise prep_error(r)
        self._fail(r)

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
        return self._ask(lib.rk_ring_probe, opcode, "IORING_OP_", "opcode")

    def feature(self, feature) -> bool:
        """Whether the ring can use a kernel feature that is no opcode (int, or
        a name such as "RK_FEATURE_FILE_ALLOC_RANGE" / "FILE_ALLOC_RANGE")."""
        return self._ask(lib.rk_ring_feature, feature, "RK_FEATURE_", "feature")

    def _ask(self, call, what, prefix, kind) -> bool:
        # probe() and feature(): a yes/no question by number or by name.
        if isinstance(what, str):
            from . import constant
            what = constant(what if what.startswith(prefix) else prefix + what)
        try:
            r = call(self._ring, what)
        except OverflowError:
            raise ValueError("%s out of range: %r" % (kind, what)) from None
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

    def resize(self, sq_entries: int, cq_entries: int = 0) -> None:
        """Resizes the submission and completion queues (rk_ring_resize:
        rounded up to powers of two; cq_entries 0 is twice the SQ). Nothing
        in flight or waiting to be reaped is lost. Only a ring made with
        defer_taskrun=True, from its own thread. Returns None; OSError:
        EOPNOTSUPP without defer_taskrun or where the kernel cannot resize
        (feature("RESIZE")), EBUSY when more ops may still complete than the
        new CQ holds or a linked chain is being prepared, EINVAL for sizes
        out of range, EACCES on a restricted ring, ECHILD after fork()."""
        sq = _ops._size_arg("sq_entries", sq_entries)
        cq = _ops._size_arg("cq_entries", cq_entries)
        if not (0 <= sq <= 0xFFFFFFFF and 0 <= cq <= 0xFFFFFFFF):
            self._fail(-errno.EINVAL)
        r = lib.rk_ring_resize(self._ring, sq, cq)
        if r < 0:
            self._fail(r)

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
        n = _vector_reap(self._h, out, wait, tns)
        if n.__class__ is not int:
            self._refuse_reap_into(out)
        if n <= 0:
            if n < 0:
                n = self._reap_again(lambda t: _vector_reap(self._h, out, wait, t), tns, n)
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
        if batch._pins:
            own = self._pins
            for i, obj in batch._pins.items():
                if i < r:
                    own[ids[i]] = obj
        if r < n:
            err = prep_error(batch._ids[r])
            err.index = r
            err.ids = ids
            named = batch._paths.get(r)
            batch.clear()
            with paths(*named if named.__class__ is tuple else (named,)):
                raise err
        if clear:
            batch.clear()
        return ids

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
            k = _vector_prep(self._h, write, fd, region._h, chunks, offsets,
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
        k = _c(lib.rkpy_prep_chunks, self._ring, write, fd if fd_is_int else _fileno(fd),
               handle, chunks, offsets, n, region.chunk_size if length is None else length,
               flags, out)
        if k and not fd_is_int:
            self._pins.update(dict.fromkeys(ffi.unpack(out, k), fd))
        if k < n:
            err = prep_error(out[k]) if self._ring else ValueError("ring is closed")
            err.ids = ffi.unpack(out, k)
            raise err
        return k if ids is not None else ffi.unpack(out, k)

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

    def file_alloc_range(self, offset: int, length: int) -> None:
        """Confines the slots FILE_INDEX_ALLOC picks to offset..offset+length-1."""
        self._ring_call(lib.rk_ring_file_alloc_range, offset, length)

    def _ring_call(self, fn, *args) -> int:
        r = _c(fn, self._ring, *args)
        return r if r >= 0 else self._fail(r)

    # -- restriction ------------------------------------------------------

    def restrict(self, ops: Sequence[Union[str, int]], *, fixed_files_only: bool = False,
                 allow_files: bool = False, allow_regions: bool = False,
                 allow_eventfd: bool = False) -> None:
        """Limits the ring, for good, to the ops listed: their names in the
        op table ("read", "write", "read_chunk", ...: ringkit.op_names()) or
        RK_OP_* codes. The ring must have been made with restrictable=True.
        Afterwards an op not listed raises OSError(EACCES) (a PermissionError)
        when prepared, and so do register_files/update_files/unregister_files
        unless allow_files, the region and buffer-group calls unless
        allow_regions, the eventfd calls unless allow_eventfd.
        fixed_files_only: every op must carry FIXED_FILE (its fd is a slot of
        the file table set up before). On io_uring the kernel enforces the
        same (rk_ring_restrict in ringkit.h). Raises OSError(EPERM) on a
        second call, OSError(EINVAL) for a ring made without restrictable,
        ValueError for an unknown op name."""
        if isinstance(ops, (str, bytes)):
            raise TypeError("restrict() takes a list of ops, not one string")
        codes = [_ops.op_code(op) for op in ops]
        flags = ((lib.RK_RESTRICT_FIXED_FILES if fixed_files_only else 0)
                 | (lib.RK_RESTRICT_FILES if allow_files else 0)
                 | (lib.RK_RESTRICT_REGIONS if allow_regions else 0)
                 | (lib.RK_RESTRICT_EVENTFD if allow_eventfd else 0))
        arr = ffi.new("uint32_t[]", codes) if codes else _NULL
        r = _c(lib.rk_ring_restrict, self._ring, arr, len(codes), flags)
        if r < 0:
            if not self._ring:
                raise ValueError("ring is closed")
            raise error(r)


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
        r = _c(fn, self._ring, region._handle(), *args)
        if r < 0:
            if not self._ring:
                raise ValueError("ring is closed")
            raise setup_error(r)
        return r


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
        self._pins: Dict[int, Any] = {}  # what an op's descriptor points into
        self._paths: Dict[int, Any] = {}  # an op's path(s), for its error's filename

    def __len__(self) -> int:
        return self._n

    def clear(self) -> None:
        """Forgets every op added so far (and what they held)."""
        self._n = 0
        self._pins = {}
        self._paths = {}

    def _add(self, op: int, flags: int, pin, named, **fields) -> None:
        # The one place a generated Batch method (_ops) writes its descriptor.
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
        if named is not None:
            self._paths[i] = named
        self._n = i + 1


def _recvmsg_record(msg):
    if not isinstance(msg, RecvMsg):
        raise TypeError("msg must be a ringkit.RecvMsg")


# Every op's Ring and Batch method, from the C library's op table.
OPS = _ops.install(Ring, Batch, dict(_ops.ENV, _recvmsg_record=_recvmsg_record))

