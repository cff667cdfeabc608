"""ringkit through ctypes: a dlopen-only backend.

This module binds libringkit with nothing but the standard library's ctypes:
no compiler, no cffi, no header parsing. It is the worked example of
doc/backend-guide.md, kept small enough to read in one sitting, and it shows
each thing a backend for any runtime has to get right:

  * declare every function's argument and return types from the ABI listing
    (doc/abi.json) -- ctypes assumes `int` otherwise, which truncates the
    int64 op ids;
  * import the constants at load time through rk_constant_at, never from a
    header;
  * keep the Python objects an op points into (buffers, iovec arrays) alive
    and unresizable until the op's final completion, in a list indexed by the
    op's slot (`id & 0xffffffff`), and drop them as the completion is reaped;
  * wrap every op from the op table (rk_op_info_of): each argument converted
    by its role, each held object kept by its lifetime, so a new op needs no
    code here;
  * move ops and completions in batches: one rk_submit_batch for many ops, one
    rk_reap for many completions;
  * turn negative errnos into OSError.

The library is found through $RINGKIT_LIB, then the linker's search path
(ctypes.util.find_library), then "libringkit.so.0".
"""
import ctypes
import ctypes.util
import errno
import importlib.util
import inspect
import os
import types

__all__ = ["lib", "C", "constant", "check", "Cqe", "Iovec", "OpDesc", "OpArg", "OpInfo",
           "CQE_FN", "Ring", "Region", "ABI_MAJOR", "op_rows", "encode_address",
           "decode_address", "parse_statx"]

ABI_MAJOR = 0  # the soname's major: libringkit.so.0


# --------------------------------------------------------------------------
# Loading and declaring
# --------------------------------------------------------------------------

def _load():
    path = os.environ.get("RINGKIT_LIB") or ctypes.util.find_library("ringkit") or \
        "libringkit.so.%d" % ABI_MAJOR
    # CDLL (not PyDLL): every call releases the GIL, so a blocking rk_reap
    # lets other Python threads run.
    return ctypes.CDLL(path)


lib = _load()

i32, u32, i64, u64, u16 = ctypes.c_int32, ctypes.c_uint32, ctypes.c_int64, ctypes.c_uint64, \
    ctypes.c_uint16
PTR = ctypes.c_void_p           # any pointer: a buffer address, byref(...), an array
RING = REGION = ctypes.c_void_p  # opaque handles
STR = ctypes.c_char_p           # const char * (bytes)


class Cqe(ctypes.Structure):
    """rk_cqe: one completion record, 16 bytes."""
    _fields_ = [("id", ctypes.c_int64), ("res", ctypes.c_int32), ("flags", ctypes.c_uint32)]


class Iovec(ctypes.Structure):
    """rk_iovec: same layout as struct iovec on 64-bit Linux."""
    _fields_ = [("base", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class OpDesc(ctypes.Structure):
    """rk_op_desc: one op of a batch, 64 bytes. Which field carries which
    argument is tabled in ringkit.h (and doc/api.md) for each RK_OP_*."""
    _fields_ = [("op", ctypes.c_uint8), ("reserved0", ctypes.c_uint8 * 3),
                ("flags", ctypes.c_uint32), ("fd", ctypes.c_int32), ("len", ctypes.c_uint32),
                ("off", ctypes.c_int64), ("addr", ctypes.c_uint64), ("addr2", ctypes.c_uint64),
                ("arg1", ctypes.c_int64), ("arg2", ctypes.c_int64), ("fd2", ctypes.c_int32),
                ("reserved1", ctypes.c_uint32)]


# rk_cqe_fn: int (*)(void *ctx, int64_t id, int32_t res, uint32_t flags)
CQE_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32,
                          ctypes.c_uint32)

class OpArg(ctypes.Structure):
    """rk_op_arg: how one argument of an rk_prep_* call travels."""
    _fields_ = [("name", ctypes.c_char_p), ("offset", ctypes.c_uint8),
                ("width", ctypes.c_uint8), ("type", ctypes.c_uint8), ("role", ctypes.c_uint8),
                ("of", ctypes.c_uint8), ("reserved", ctypes.c_uint8 * 3)]


class OpInfo(ctypes.Structure):
    """rk_op_info: one row of the op table (rk_op_info_of)."""
    _fields_ = [("name", ctypes.c_char_p), ("op", ctypes.c_uint8), ("nargs", ctypes.c_uint8),
                ("result", ctypes.c_uint8), ("multishot", ctypes.c_uint8),
                ("opcode", ctypes.c_uint8), ("reserved", ctypes.c_uint8 * 3),
                ("args", ctypes.POINTER(OpArg))]


# Every function of doc/abi.json: name -> (return type, argument types).
# tests/ctypes checks this table against the listing and each rk_prep_<op>
# against its row of the op table, tools/bindcheck.py reads it as text; a
# prep of a newer row missing here is declared from the row (OPS, below).
SIGNATURES = {
    "rk_version": (u32, []),
    "rk_strerror": (STR, [i32]),
    "rk_constant": (i32, [STR, PTR]),
    "rk_constant_at": (i32, [u32, PTR, PTR]),
    "rk_ring_create": (i32, [u32, u32, PTR]),
    "rk_ring_create_ex": (i32, [u32, u32, u32, u32, u32, PTR]),
    "rk_ring_create_strerror": (STR, [i32, i64, u32, i64, i64, i64]),
    "rk_ring_close": (i32, [RING]),
    "rk_ring_cancel_all": (i32, [RING]),
    "rk_ring_fd": (i32, [RING]),
    "rk_ring_probe": (i32, [RING, u32]),
    "rk_ring_backend": (i32, [RING]),
    "rk_ring_register_eventfd": (i32, [RING, i32, u32]),
    "rk_ring_unregister_eventfd": (i32, [RING]),
    "rk_ring_stats": (i32, [RING, PTR, u32]),
    "rk_prep_nop": (i64, [RING, u32]),
    "rk_prep_read": (i64, [RING, i32, PTR, u32, i64, u32]),
    "rk_prep_write": (i64, [RING, i32, PTR, u32, i64, u32]),
    "rk_prep_readv": (i64, [RING, i32, PTR, u32, i64, i32, u32]),
    "rk_prep_writev": (i64, [RING, i32, PTR, u32, i64, i32, u32]),
    "rk_prep_read_chunk": (i64, [RING, i32, REGION, i32, u32, i64, u32]),
    "rk_prep_write_chunk": (i64, [RING, i32, REGION, i32, u32, i64, u32]),
    "rk_prep_fsync": (i64, [RING, i32, i64, u32, u32]),
    "rk_prep_fdatasync": (i64, [RING, i32, i64, u32, u32]),
    "rk_prep_openat": (i64, [RING, i32, STR, i32, u32, u32]),
    "rk_prep_openat2": (i64, [RING, i32, STR, u64, u64, u64, u32]),
    "rk_prep_close": (i64, [RING, i32, u32]),
    "rk_prep_statx": (i64, [RING, i32, STR, i32, u32, PTR, u32]),
    "rk_prep_unlinkat": (i64, [RING, i32, STR, i32, u32]),
    "rk_prep_mkdirat": (i64, [RING, i32, STR, u32, u32]),
    "rk_prep_renameat": (i64, [RING, i32, STR, i32, STR, u32, u32]),
    "rk_prep_linkat": (i64, [RING, i32, STR, i32, STR, i32, u32]),
    "rk_prep_symlinkat": (i64, [RING, STR, i32, STR, u32]),
    "rk_prep_fallocate": (i64, [RING, i32, i32, i64, i64, u32]),
    "rk_prep_fadvise": (i64, [RING, i32, i64, u32, i32, u32]),
    "rk_prep_ftruncate": (i64, [RING, i32, i64, u32]),
    "rk_prep_splice": (i64, [RING, i32, i64, i32, i64, u32, u32, u32]),
    "rk_prep_copy": (i64, [RING, i32, i64, i32, i64, u64, u32, u32]),
    "rk_prep_tee": (i64, [RING, i32, i32, u32, u32, u32]),
    "rk_prep_poll_add": (i64, [RING, i32, u32, u32]),
    "rk_prep_poll_remove": (i64, [RING, i64, u32]),
    "rk_prep_timeout": (i64, [RING, i64, u32, u32, u32]),
    "rk_prep_timeout_remove": (i64, [RING, i64, u32]),
    "rk_prep_link_timeout": (i64, [RING, i64, u32, u32]),
    "rk_prep_cancel": (i64, [RING, i64, u32]),
    "rk_cancel_sync": (i32, [RING, i64, i64]),
    "rk_prep_socket": (i64, [RING, i32, i32, i32, u32]),
    "rk_prep_bind": (i64, [RING, i32, PTR, u32, u32]),
    "rk_prep_listen": (i64, [RING, i32, i32, u32]),
    "rk_prep_connect": (i64, [RING, i32, PTR, u32, u32]),
    "rk_prep_accept": (i64, [RING, i32, PTR, u32, i32, u32]),
    "rk_prep_send": (i64, [RING, i32, PTR, u32, i32, u32]),
    "rk_prep_recv": (i64, [RING, i32, PTR, u32, i32, u32]),
    "rk_prep_shutdown": (i64, [RING, i32, i32, u32]),
    "rk_prep_send_zc": (i64, [RING, i32, PTR, u32, i32, u32, u32]),
    "rk_prep_sendmsg": (i64, [RING, i32, PTR, u32, PTR, u32, PTR, u32, i32, u32]),
    "rk_prep_sendmsg_zc": (i64, [RING, i32, PTR, u32, PTR, u32, PTR, u32, i32, u32]),
    "rk_prep_recvmsg": (i64, [RING, i32, PTR, u32, PTR, u32, PTR, u32, i32, u32]),
    "rk_ring_provide_region": (i32, [RING, REGION, u16]),
    "rk_ring_recycle_chunk": (i32, [RING, REGION, i32]),
    "rk_ring_unprovide_region": (i32, [RING, REGION]),
    "rk_prep_recv_select": (i64, [RING, i32, u16, u32, i32, u32]),
    "rk_prep_recv_multishot": (i64, [RING, i32, u16, i32, u32]),
    "rk_prep_accept_multishot": (i64, [RING, i32, i32, u32]),
    "rk_prep_poll_multishot": (i64, [RING, i32, u32, u32]),
    "rk_ring_register_files": (i32, [RING, u32]),
    "rk_ring_update_files": (i32, [RING, u32, PTR, u32]),
    "rk_ring_unregister_files": (i32, [RING]),
    "rk_prep_openat_direct": (i64, [RING, i32, STR, i32, u32, u32, u32]),
    "rk_prep_accept_direct": (i64, [RING, i32, u32, i32, u32]),
    "rk_prep_accept_multishot_direct": (i64, [RING, i32, i32, u32]),
    "rk_prep_socket_direct": (i64, [RING, i32, i32, i32, u32, u32]),
    "rk_prep_close_fixed": (i64, [RING, u32, u32]),
    "rk_prep_fixed_fd_install": (i64, [RING, u32, u32, u32]),
    "rk_prep_msg_ring": (i64, [RING, i32, i64, i32, u32]),
    "rk_prep_batch": (i32, [RING, PTR, u32, PTR]),
    "rk_submit_batch": (i32, [RING, PTR, u32, PTR]),
    "rk_op_info_of": (PTR, [u32]),
    "rk_submit": (i32, [RING]),
    "rk_reap": (i32, [RING, PTR, u32, u32, i64]),
    "rk_reap_dispatch": (i32, [RING, CQE_FN, PTR, u32, u32, i64]),
    "rk_region_create": (i32, [u32, u32, u32, PTR]),
    "rk_region_destroy": (i32, [REGION]),
    "rk_chunk_alloc": (i32, [REGION]),
    "rk_chunk_free": (i32, [REGION, i32]),
    "rk_chunk_ptr": (PTR, [REGION, i32]),
    "rk_region_chunk_size": (i64, [REGION]),
    "rk_region_nchunks": (i64, [REGION]),
    "rk_region_chunks_free": (i64, [REGION]),
    "rk_region_busy": (i32, [REGION]),
    "rk_ring_register_region": (i32, [RING, REGION]),
    "rk_ring_unregister_region": (i32, [RING, REGION]),
    "rk_ring_feature": (i32, [RING, u32]),
    "rk_ring_file_alloc_range": (i32, [RING, u32, u32]),
    "rk_prep_msg_ring_fd": (i64, [RING, i32, u32, u32, i64, u32, u32]),
    "rk_prep_recvmsg_multishot": (i64, [RING, i32, u16, u32, u32, i32, u32]),
    "rk_recvmsg_out": (i32, [REGION, i32, u32, u32, u32, PTR, u32]),
    "rk_ring_restrict": (i32, [RING, PTR, u32, u32]),
    "rk_ring_resize": (i32, [RING, u32, u32]),
}


def _declare(names):
    missing = []
    for name in names:
        restype, argtypes = SIGNATURES[name]
        try:
            fn = getattr(lib, name)
        except AttributeError:
            missing.append(name)  # an older library: the function stays unset
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    return missing


MISSING = _declare(list(SIGNATURES))
if "rk_version" in MISSING or lib.rk_version() >> 16 != ABI_MAJOR:
    raise ImportError("%s is not a ringkit %d.x library" % (lib._name, ABI_MAJOR))


def strerror(err):
    return lib.rk_strerror(err).decode()


def check(ret):
    """ret, or OSError(errno) for a negative errno (InterruptedError for
    -EINTR, FileNotFoundError for -ENOENT, ... as the OSError constructor
    picks them)."""
    if ret < 0:
        raise OSError(-ret, strerror(ret))
    return ret


# --------------------------------------------------------------------------
# Constants: imported by name at load time
# --------------------------------------------------------------------------

def _import_constants():
    table = {}
    name, value = ctypes.c_char_p(), ctypes.c_int64()
    index = 0
    while True:
        r = lib.rk_constant_at(index, ctypes.byref(name), ctypes.byref(value))
        if r == -errno.ENOENT:
            return table
        check(r)
        table[name.value.decode()] = value.value
        index += 1


def constant(name):
    """One constant by name through rk_constant (KeyError when unknown)."""
    value = ctypes.c_int64()
    if lib.rk_constant(name.encode(), ctypes.byref(value)) != 0:
        raise KeyError(name)
    return value.value


CONSTANTS = _import_constants()
C = types.SimpleNamespace(**CONSTANTS)  # C.RK_LINK, C.O_RDONLY, C.IORING_OP_READ, ...

SLOT_MASK = 0xFFFFFFFF
_LEAKED = []  # buffers of rings whose close timed out (see Ring.close)


def _ns(seconds):
    """A timeout in seconds (None: no limit) as rk_reap's int64 ns."""
    return -1 if seconds is None else max(0, int(seconds * 1e9))


def _buffer(obj, writable):
    """(address, length, keepalive) of a buffer object's memory.

    Writable buffers (bytearray, memoryview, mmap, array, region chunk views)
    are shared, not copied: the ctypes array made from them holds a buffer
    export, so a bytearray cannot be resized while the op is in flight.
    bytes are shared too (immutable); other read-only buffers are copied
    once, and the copy is what the op points into."""
    if not writable and isinstance(obj, bytes):
        holder = ctypes.c_char_p(obj)  # points into obj itself
        return ctypes.cast(holder, ctypes.c_void_p).value or 0, len(obj), (obj, holder)
    mv = memoryview(obj).cast("B")
    if mv.readonly:
        if writable:
            raise TypeError("the kernel writes into this buffer: it must be writable")
        arr = (ctypes.c_char * mv.nbytes).from_buffer_copy(mv)
    else:
        arr = (ctypes.c_char * mv.nbytes).from_buffer(mv)
    return ctypes.addressof(arr), mv.nbytes, (obj, arr)


# --------------------------------------------------------------------------
# Socket addresses and statx: the cffi package's codecs, shared
# --------------------------------------------------------------------------

def _codec(name):
    """The cffi package's pure-Python module `name` (bindings/python/ringkit,
    or an installed ringkit), loaded by its file so that the cffi package
    itself is not imported; None when neither is there."""
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = [os.path.join(here, "..", "python", "ringkit")]
    spec = importlib.util.find_spec("ringkit")
    dirs += list(spec.submodule_search_locations or []) if spec else []
    for d in dirs:
        path = os.path.join(d, name + ".py")
        if os.path.exists(path):
            spec = importlib.util.spec_from_file_location("ringkit_ctypes." + name, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return mod
    return None


_sockaddr, _statx = _codec("_sockaddr"), _codec("_statx")


def encode_address(addr):
    """sockaddr bytes of (host, port), (host, port, flow, scope) or an AF_UNIX
    path; raw sockaddr bytes as they are when the codec is not installed."""
    return _sockaddr.encode(addr) if _sockaddr else bytes(addr)


decode_address = _sockaddr.decode if _sockaddr else None
parse_statx = _statx.parse if _statx else None


# --------------------------------------------------------------------------
# Regions: memory outside the Python heap, named by chunk index
# --------------------------------------------------------------------------

class Region:
    """A pinned region of `nchunks` chunks of `chunk_size` bytes. Chunks are
    named by index; view(chunk) is a zero-copy memoryview of one."""

    def __init__(self, chunk_size, nchunks, flags=0):
        h = ctypes.c_void_p()
        check(lib.rk_region_create(chunk_size, nchunks, flags, ctypes.byref(h)))
        self._h = h
        self.chunk_size = check(lib.rk_region_chunk_size(h))
        self.nchunks = check(lib.rk_region_nchunks(h))

    @property
    def handle(self):
        if self._h is None:
            raise ValueError("region is closed")
        return self._h

    def alloc(self):
        return check(lib.rk_chunk_alloc(self.handle))

    def free(self, chunk):
        check(lib.rk_chunk_free(self.handle, chunk))

    def chunks_free(self):
        return check(lib.rk_region_chunks_free(self.handle))

    def busy(self):
        return bool(check(lib.rk_region_busy(self.handle)))

    def view(self, chunk, length=None):
        """The chunk's memory, shared with the kernel: valid until close()."""
        ptr = lib.rk_chunk_ptr(self.handle, chunk)
        if not ptr:
            raise IndexError("no chunk %d" % chunk)
        n = self.chunk_size if length is None else length
        return memoryview((ctypes.c_ubyte * n).from_address(ptr)).cast("B")

    def close(self):
        """Frees the memory; OSError(EBUSY) while a ring still uses it (an
        explicit close does not give up memory the kernel may still write).
        Views taken earlier must not be used afterwards."""
        if self._h is not None:
            if check(lib.rk_region_busy(self._h)):
                check(-errno.EBUSY)
            lib.rk_region_destroy(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------
# Rings
# --------------------------------------------------------------------------

class Ring:
    """One io_uring. Ops return int ids; reap() returns (id, res, flags)
    tuples. Use from one thread at a time."""

    def __init__(self, entries=64, flags=0, reap_batch=256):
        h = ctypes.c_void_p()
        check(lib.rk_ring_create(entries, flags, ctypes.byref(h)))
        self._h = h
        self.capacity = self.stats()[C.RK_STAT_CAPACITY]
        # What each in-flight op points into, by slot: kept until the op's
        # final completion is reaped (or the ring is closed).
        self._keep = [None] * self.capacity
        self._cqes = (Cqe * reap_batch)()

    # -- plumbing ---------------------------------------------------------

    @property
    def handle(self):
        if self._h is None:
            raise ValueError("ring is closed")
        return self._h

    def _op(self, ret, keep=None):
        """An op id from a prep's return; keeps `keep` alive by slot."""
        check(ret)
        if keep is not None:
            self._keep[ret & SLOT_MASK] = keep
        return ret

    def _settle(self, op_id, flags):
        """Forgets what a finished op held: its slot is free from now on and
        the next prep may reuse it."""
        if op_id >= 0 and not flags & C.RK_CQE_F_MORE:
            self._keep[op_id & SLOT_MASK] = None

    def fd(self):
        return check(lib.rk_ring_fd(self.handle))

    def backend(self):
        """RK_BACKEND_URING or RK_BACKEND_FALLBACK (where io_uring is refused)."""
        return check(lib.rk_ring_backend(self.handle))

    def probe(self, opcode_name):
        return bool(check(lib.rk_ring_probe(self.handle, CONSTANTS[opcode_name])))

    def stats(self):
        out = (ctypes.c_uint64 * C.RK_STAT_COUNT)()
        n = check(lib.rk_ring_stats(self.handle, out, C.RK_STAT_COUNT))
        return list(out[:n])

    def inflight(self):
        return self.stats()[C.RK_STAT_INFLIGHT]

    # -- ops: one method per row of the op table, added by _op_method ------

    def cancel_sync(self, target, timeout=None):
        check(lib.rk_cancel_sync(self.handle, target, _ns(timeout)))

    def cancel_all(self):
        return check(lib.rk_ring_cancel_all(self.handle))

    def restrict(self, ops, flags=0):
        """rk_ring_restrict: ops are op-table names ("read") or RK_OP_*
        codes, flags RK_RESTRICT_*; the ring needs RK_RING_RESTRICTABLE."""
        codes = {row.name: row.op for row in op_rows()}
        ops = [op if isinstance(op, int) else codes[op] for op in ops]
        arr = (ctypes.c_uint32 * max(len(ops), 1))(*ops)
        check(lib.rk_ring_restrict(self.handle, arr, len(ops), flags))

    def resize(self, sq_entries, cq_entries=0):
        """rk_ring_resize: new SQ and CQ sizes (cq_entries 0: twice the SQ);
        the ring needs RK_RING_DEFER_TASKRUN."""
        check(lib.rk_ring_resize(self.handle, sq_entries, cq_entries))

    # -- provided buffers ---------------------------------------------------

    def register_region(self, region):
        check(lib.rk_ring_register_region(self.handle, region.handle))

    def unregister_region(self, region):
        check(lib.rk_ring_unregister_region(self.handle, region.handle))

    def provide_region(self, region, group=None):
        """The group id used (None: the ring picks, RK_GROUP_ANY)."""
        if group is None:
            group = C.RK_GROUP_ANY
        return check(lib.rk_ring_provide_region(self.handle, region.handle, group))

    def recycle_chunk(self, region, chunk):
        check(lib.rk_ring_recycle_chunk(self.handle, region.handle, chunk))

    def unprovide_region(self, region):
        check(lib.rk_ring_unprovide_region(self.handle, region.handle))

    @staticmethod
    def chunk_of(cqe_flags):
        """The chunk a provided-buffer completion filled, or None."""
        if not cqe_flags & C.RK_CQE_F_BUFFER:
            return None
        return cqe_flags >> C.RK_CQE_BUFFER_SHIFT

    # -- batches, submission, completion ---------------------------------

    def submit_batch(self, descs, keep=()):
        """Queues and submits an array of OpDesc in one call. keep[i] is held
        for op i until its completion (buffers its descriptor points to).
        Returns the ids; raises OSError for the first refused descriptor,
        after keeping the ops before it."""
        n = len(descs)
        arr = descs if isinstance(descs, ctypes.Array) else (OpDesc * n)(*descs)
        ids = (ctypes.c_int64 * n)()
        done = check(lib.rk_submit_batch(self.handle, arr, n, ids))
        for i in range(done):
            if i < len(keep) and keep[i] is not None:
                self._keep[ids[i] & SLOT_MASK] = keep[i]
        if done < n:
            check(ids[done])
        return list(ids)

    def submit(self):
        return check(lib.rk_submit(self.handle))

    def reap(self, wait=0, timeout=None, max=None):
        """Submits, waits for `wait` completions (at most `timeout` seconds)
        and returns up to `max` of them as (id, res, flags), in one call."""
        cap = len(self._cqes) if max is None else min(max, len(self._cqes))
        n = check(lib.rk_reap(self.handle, self._cqes, cap, wait, _ns(timeout)))
        out = []
        # Settle the whole batch before returning: a slot freed here may be
        # taken by the very next prep the caller makes while handling it.
        for i in range(n):
            c = self._cqes[i]
            out.append((c.id, c.res, c.flags))
            self._settle(c.id, c.flags)
        return out

    def dispatch(self, fn, wait=0, timeout=None, max=2 ** 31):
        """Calls fn(id, res, flags) per completion through rk_reap_dispatch
        and a ctypes callback. fn returning True stops after that completion
        (the rest stay queued). An exception in fn stops too and is raised
        here. Returns how many were dispatched."""
        raised = []

        def trampoline(ctx, op_id, res, flags):
            try:
                self._settle(op_id, flags)  # before fn can prep into the slot
                return 1 if fn(op_id, res, flags) else 0
            except BaseException as e:  # ctypes would print and drop it
                raised.append(e)
                return 1

        cb = CQE_FN(trampoline)  # referenced until the call returns
        n = lib.rk_reap_dispatch(self.handle, cb, None, max, wait, _ns(timeout))
        if raised:
            raise raised[0]
        return check(n)

    def close(self):
        """Cancels what is in flight, waits for the kernel, frees the ring.
        Held buffers are released only when it has returned."""
        if self._h is not None:
            r = lib.rk_ring_close(self._h)
            self._h = None
            if r == -errno.ETIMEDOUT:
                # The kernel may still write into what ops point to: keep
                # it alive for good rather than free memory under it.
                _LEAKED.append(self._keep)
                raise OSError(errno.ETIMEDOUT, strerror(r))
            self._keep = [None] * self.capacity
            check(r)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------
# The op table: every op's prep declared and wrapped from its row
# --------------------------------------------------------------------------

_ARG_CTYPE = {C.RK_ARG_S32: i32, C.RK_ARG_U32: u32, C.RK_ARG_U16: u16, C.RK_ARG_S64: i64,
              C.RK_ARG_U64: u64, C.RK_ARG_PTR: PTR}
_PATHS = {"path", "oldpath", "newpath", "target", "linkpath"}  # PTR_COPIED paths
_DIR_FDS = {"dfd", "olddfd", "newdfd"}  # moved last, AT_FDCWD by default
# Parameters a caller may leave out at the end of an op's list.
_DEFAULTS = {"offset": -1, "msg_flags": 0, "rw_flags": 0, "count": 0, "timeout_flags": 0,
             "mode": 0o644, "accept_flags": 0, "at_flags": 0, "protocol": 0, "res": 0,
             "splice_flags": 0, "rename_flags": 0, "zc_flags": 0, "install_flags": 0,
             "copy_flags": 0}


def op_rows():
    """Every row of rk_op_info_of, in RK_OP_* order: name, op, args (name,
    type, role, of), result (RK_RESULT_*), multishot."""
    rows = []
    for op in range(C.RK_OP_COUNT):
        info = ctypes.cast(lib.rk_op_info_of(op), ctypes.POINTER(OpInfo)).contents
        args = [types.SimpleNamespace(name=a.name.decode(), type=a.type, role=a.role, of=a.of)
                for a in info.args[:info.nargs]]
        rows.append(types.SimpleNamespace(name=info.name.decode(), op=info.op, args=args,
                                          result=info.result, multishot=info.multishot))
    return rows


def _convert(a, value, keep):
    """(what goes to C, its length) for one argument, by its role; what the
    op holds goes to `keep`."""
    role = a.role
    if role == C.RK_ROLE_REGION:
        keep.append(value)
        return value.handle, 0
    if role in (C.RK_ROLE_PTR_READ, C.RK_ROLE_PTR_WRITE):
        if value is None:
            return None, 0
        addr, n, k = _buffer(value, writable=role == C.RK_ROLE_PTR_WRITE)
        keep.append(k)
        return addr, n
    if role in (C.RK_ROLE_IOV_READ, C.RK_ROLE_IOV_WRITE):
        bufs = [_buffer(b, writable=role == C.RK_ROLE_IOV_WRITE) for b in value]
        keep.append(bufs)  # the iovec array itself is copied at prep
        return (Iovec * max(len(bufs), 1))(*[Iovec(b[0], b[1]) for b in bufs]), len(bufs)
    if role == C.RK_ROLE_PTR_COPIED:  # read during the call only: nothing held
        if a.name in _PATHS:
            return os.fsencode(value), 0
        if a.name == "fds":
            fds = list(value)
            return (i32 * max(len(fds), 1))(*fds), len(fds)
        raw = b"" if value is None else encode_address(value)
        return raw or None, len(raw)
    if a.name == "ns":
        return int(value * 1e9), 0  # given in seconds
    return value, 0


def _op_method(row):
    prep = getattr(lib, "rk_prep_" + row.name)
    params = [a for a in row.args if a.role != C.RK_ROLE_LEN]
    params = [a for a in params if a.name not in _DIR_FDS] + \
        [a for a in params if a.name in _DIR_FDS]
    required = len(params)
    while required and (params[required - 1].name in _DEFAULTS or
                        params[required - 1].name in _DIR_FDS):
        required -= 1
    defaults = [C.AT_FDCWD if a.name in _DIR_FDS else _DEFAULTS[a.name]
                for a in params[required:]]

    P = inspect.Parameter
    sig = inspect.Signature(
        [P("self", P.POSITIONAL_ONLY)] +
        [P(a.name, P.POSITIONAL_OR_KEYWORD,
           default=P.empty if i < required else defaults[i - required])
         for i, a in enumerate(params)] + [P("flags", P.POSITIONAL_OR_KEYWORD, default=0)])

    def method(self, *args, **kw):
        bound = sig.bind(self, *args, **kw)
        bound.apply_defaults()
        given = bound.arguments
        values, lengths, keep = {}, {}, []
        for a in params:
            values[a.name], lengths[a.name] = _convert(a, given[a.name], keep)
        call = [lengths[row.args[a.of].name] if a.role == C.RK_ROLE_LEN else values[a.name]
                for a in row.args]
        return self._op(prep(self.handle, *call, given["flags"]), keep or None)

    method.__name__ = "close_fd" if row.name == "close" else row.name
    method.__doc__ = "rk_prep_%s: queues the op, returns its id (OSError when refused)." % (
        row.name)
    method.__signature__ = sig
    return method


OPS = op_rows()
_NEW = ["rk_prep_" + r.name for r in OPS if "rk_prep_" + r.name not in SIGNATURES]
for _row in OPS:
    SIGNATURES.setdefault("rk_prep_" + _row.name, (i64, [RING] + [_ARG_CTYPE[a.type]
                                                                  for a in _row.args] + [u32]))
MISSING += _declare(_NEW)
for _row in OPS:
    if "rk_prep_" + _row.name not in MISSING:
        _m = _op_method(_row)
        setattr(Ring, _m.__name__, _m)
