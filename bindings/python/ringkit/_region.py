"""Pinned regions: memory outside the Python heap, carved into chunks."""
import errno
from . import _vector
from ._errors import error
from ._ringkit import ffi, lib


def _destroy_later(region):
    # Runs when the last memoryview over the region is gone (see Region.close).
    def destroy(_cdata):
        lib.rk_region_destroy(region)
    return destroy


class Region:
    """``Region(chunk_size, count)``: count chunks of chunk_size bytes in
    page-aligned anonymous memory the garbage collector never moves.

    Chunks are named by index: ``alloc()`` gives one, ``view(i)`` is a
    zero-copy writable memoryview of it, ``free(i)`` returns it (OSError EBUSY
    while an op uses it). Chunk ops on a Ring read into / write from chunks
    without touching Python buffers at all.

    The memory stays mapped while any view of it exists: ``close()`` refuses
    while chunks are in flight or the region is registered/provided with an
    open ring, and otherwise unmaps as soon as the last view is dropped, so a
    view can never point at freed memory."""

    __slots__ = {"_region": None, "_h": None, "_mv": None, "__weakref__": None,
                 "chunk_size": "The size of each chunk in bytes.",
                 "count": "How many chunks the region has."}

    def __init__(self, chunk_size: int, count: int, *, locked: bool = False, huge: bool = False,
                 incremental: bool = False):
        # incremental: as a buffer group, chunks are consumed a receive at a
        # time (RK_REGION_INCREMENTAL; completions carry CQE_F_BUF_MORE).
        flags = ((lib.RK_REGION_LOCKED if locked else 0) | (lib.RK_REGION_HUGE if huge else 0)
                 | (lib.RK_REGION_INCREMENTAL if incremental else 0))
        h = _vector.region_create(chunk_size, count, flags)  # -EINVAL: not a uint32_t
        if h.__class__ is int:
            if h == -errno.EINVAL:
                raise ValueError("invalid region geometry: chunk_size %r, count %r"
                                 % (chunk_size, count))
            raise error(h)
        region = ffi.cast("rk_region *", h.address)
        self._region = region
        self._h = h  # the handle ringkit._vector takes; detached by close()
        self.chunk_size = chunk_size
        self.count = count
        base = ffi.gc(ffi.cast("char *", lib.rk_chunk_ptr(region, 0)), _destroy_later(region))
        # Chunk views are slices of this one view; each keeps `base` (and so
        # the mapping) alive through the buffer object it came from.
        self._mv = memoryview(ffi.buffer(base, chunk_size * count))

    @property
    def closed(self) -> bool:
        """Whether close() has given the region up."""
        return self._region is None

    def _handle(self):
        if self._region is None:
            raise ValueError("region is closed")
        return self._region

    def alloc(self) -> int:
        """A free chunk's index; BlockingIOError-free: raises OSError(ENOBUFS)
        when every chunk is taken."""
        r = lib.rk_chunk_alloc(self._handle())
        if r < 0:
            raise error(r)
        return r

    def free(self, chunk: int) -> None:
        """Returns a chunk. OSError(EBUSY) while an op uses it, ValueError for
        an index out of range or a chunk that is not allocated."""
        try:
            r = lib.rk_chunk_free(self._handle(), chunk)
        except OverflowError:
            raise ValueError("chunk index out of range: %r" % chunk) from None
        if r < 0:
            if r == -errno.EINVAL:
                raise ValueError("chunk %r is out of range or not allocated" % chunk)
            raise error(r)

    def view(self, chunk: int, length: int = -1) -> memoryview:
        """A writable zero-copy view of the chunk (its first `length` bytes)."""
        self._handle()
        if not isinstance(chunk, int):
            raise TypeError("chunk index must be an int")
        if not 0 <= chunk < self.count:
            raise ValueError("chunk index out of range: %d" % chunk)
        size = self.chunk_size
        if length < 0 or length > size:
            length = size
        start = chunk * size
        return self._mv[start:start + length]

    _RECVMSG_OUT = ("name", "name_len", "control", "control_len", "payload", "payload_len",
                    "flags", "name_total", "payload_total")

    def recvmsg_out(self, chunk: int, length: int, name_cap: int, control_cap: int = 0) -> dict:
        """Decodes a recvmsg_multishot completion's chunk (length: its res;
        the caps as given to the op): offsets and lengths of the address,
        control messages and payload in the chunk, recvmsg's flags
        (MSG_TRUNC), the address's and the payload's whole lengths."""
        out = ffi.new("uint32_t[]", len(self._RECVMSG_OUT))
        try:
            r = lib.rk_recvmsg_out(self._handle(), chunk, length, name_cap, control_cap, out,
                                   len(self._RECVMSG_OUT))
        except OverflowError:
            raise ValueError("argument out of range") from None
        if r < 0:
            raise ValueError("not a recvmsg_multishot chunk of this region: chunk %r, length %r"
                             % (chunk, length))
        return dict(zip(self._RECVMSG_OUT, out))

    @property
    def free_chunks(self) -> int:
        """How many chunks alloc() can still give."""
        return lib.rk_region_chunks_free(self._handle())

    def close(self) -> None:
        """Gives the region up. OSError(EBUSY) while a chunk is in flight or a
        ring still has it registered or provided; idempotent."""
        if self._region is None:
            return
        if lib.rk_region_busy(self._region):
            raise error(-errno.EBUSY)
        self._region = None
        self._h.detach()
        self._mv.release()  # fails only with live exports of the top view itself
        self._mv = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self._region is None else "%d free" % self.free_chunks
        return "<ringkit.Region %d x %d bytes, %s>" % (self.count, self.chunk_size, state)
