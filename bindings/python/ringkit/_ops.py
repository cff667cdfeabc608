"""Ring and Batch op methods, made from the C library's op table.

rk_op_info_of(op) says, for every RK_OP_* op, its rk_prep_* parameters in
order, the rk_op_desc field each travels in, and each one's role: a
descriptor (whose owner is held until the op's final completion), memory the
op reads or writes until then, memory copied at prep (a path, an address),
an iovec array, a region, a length. Each method here is generated from its
row: the conversion of an argument is chosen by its role in one place
(_convert), a refusal is worded in one place (Ring._prep_fail), and what
the op must keep alive is held by that role. _SPECS gives a method only what
the row cannot: the Python signature (defaults, keyword-only arguments) and
arguments whose Python form differs (seconds for ns, a bool for flags). An
op with no entry there gets the C call's own parameters.

The methods are compiled source (exec, as dataclasses and namedtuple do),
so a generated read() runs the same bytecode a hand-written one would.
"""
import operator
import os
from types import SimpleNamespace

from . import _sockaddr, _statx
from ._errors import paths
from ._ringkit import ffi, lib

_from_buffer = ffi.from_buffer
_BYTES = ffi.typeof("char[]")  # passing the type positionally is the fast path
_NULL = ffi.NULL
AT_FDCWD = -100


def _const(name: str) -> int:
    value = ffi.new("int64_t *")
    if lib.rk_constant(name.encode(), value) != 0:
        raise KeyError(name)
    return value[0]


# Defined by an expression in the header, so cffi does not see it: by name.
FILE_INDEX_ALLOC = _const("RK_FILE_INDEX_ALLOC")

# -- argument conversion (every op method's, and Ring's other calls') -------

def _c(fn, *args):
    """fn(*args), cffi's OverflowError (a value outside its C type) as ValueError;
    generated op methods inline the same."""
    try:
        return fn(*args)
    except OverflowError as e:
        raise ValueError(str(e)) from None



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


def _length(length: int, cbuf) -> int:
    if length < 0 or length > len(cbuf):
        raise ValueError("length %r outside the buffer (%d bytes)" % (length, len(cbuf)))
    return length


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


def _iovec(cbufs):
    # The core copies the array at prep; the buffers themselves stay pinned.
    iov = ffi.new("rk_iovec[]", max(len(cbufs), 1))
    for i, c in enumerate(cbufs):
        iov[i].base = int(ffi.cast("uintptr_t", c))
        iov[i].len = len(c)
    return iov


def _addr(c) -> int:
    return int(ffi.cast("uintptr_t", c))


def _one_buffer(cbufs):
    if not cbufs:
        raise ValueError("at least one buffer is required")


def _statx_buffer(cbuf):
    if len(cbuf) < _statx.SIZE:
        raise ValueError("statx buffer must be at least %d bytes" % _statx.SIZE)


_MSG_VALUE_MAX = _const("RK_MSG_VALUE_MAX")


def _msg_value(value):
    if not isinstance(value, int) or value < 0 or value > _MSG_VALUE_MAX:
        raise ValueError("message value must be 0..%d" % _MSG_VALUE_MAX)


# -- the op table -----------------------------------------------------------

(VALUE, FD, ID, CHUNK, GROUP, REGION, LEN, PTR_READ, PTR_WRITE, PTR_COPIED, IOV_READ,
 IOV_WRITE, FILE_INDEX) = (getattr(lib, "RK_ROLE_" + n) for n in (
     "VALUE", "FD", "ID", "CHUNK", "GROUP", "REGION", "LEN", "PTR_READ", "PTR_WRITE",
     "PTR_COPIED", "IOV_READ", "IOV_WRITE", "FILE_INDEX"))
_PATHS = {"path", "oldpath", "newpath", "target", "linkpath"}  # PTR_COPIED: a path
_POINTERS = (PTR_READ, PTR_WRITE, PTR_COPIED, IOV_READ, IOV_WRITE)
_FIELDS = {f: n for n, f in (("fd", 8), ("len", 12), ("off", 16), ("addr", 24),
                              ("addr2", 32), ("arg1", 40), ("arg2", 48), ("fd2", 56))}
_RESULTS = {
    lib.RK_RESULT_NONE: "0", lib.RK_RESULT_BYTES: "the byte count",
    lib.RK_RESULT_FD: "the new fd", lib.RK_RESULT_FILE_INDEX:
    "0, or the slot with FILE_INDEX_ALLOC", lib.RK_RESULT_CHUNK:
    "the byte count, into the chunk the flags name (flags >> CQE_BUFFER_SHIFT)",
    lib.RK_RESULT_MSG: "the byte count (the rest lands in the RecvMsg)",
    lib.RK_RESULT_MASK: "the ready poll mask", lib.RK_RESULT_ZC:
    "the byte count (CQE_F_MORE), then the notification (CQE_F_NOTIF)"}


def rows():
    """Every op's row of rk_op_info_of, in RK_OP_* order: name, op, args
    (name, field, role, of), result (RK_RESULT_*), multishot."""
    out = []
    for op in range(lib.RK_OP_COUNT):
        i = lib.rk_op_info_of(op)
        args = [SimpleNamespace(name=ffi.string(a.name).decode(), field=_FIELDS[a.offset],
                                role=a.role, of=a.of) for a in i.args[0:i.nargs]]
        out.append(SimpleNamespace(name=ffi.string(i.name).decode(), op=i.op, args=args,
                                   result=i.result, multishot=i.multishot))
    return out


_CODES = None


def op_code(op) -> int:
    """An op's RK_OP_* code from its name in the op table, or the code itself."""
    global _CODES
    if isinstance(op, int) and not isinstance(op, bool):
        return op
    if _CODES is None:
        _CODES = {row.name: row.op for row in rows()}
    try:
        return _CODES[op]
    except (KeyError, TypeError):
        raise ValueError("unknown op %r (ringkit.op_names() lists them)" % (op,)) from None


def op_names() -> list:
    """The name of every op in the op table, in RK_OP_* order."""
    return [row.name for row in rows()]


# -- what the rows cannot say -----------------------------------------------
# method: (ops, Python parameters, {C parameter: Python expression}, doc, checks).
# ops is "name", or (name, name_if, condition) for a method that is two ops.
# An expression is converted by its parameter's role; "=expr" goes to C as it
# is. A C parameter not named takes the Python parameter of its own name.
_DIR = "dir_fd=AT_FDCWD"
_SPECS = {
    "nop": ("nop", "", {}, "Queues an op that does nothing.", ()),
    "read": ("read", "fd, buf, offset=-1, *, length=None", {"len": "length"},
             "Reads into `buf` (writable buffer) at `offset` (-1: current position).", ()),
    "write": ("write", "fd, data, offset=-1, *, length=None", {"buf": "data", "len": "length"},
              "Writes `data` (any buffer) at `offset` (-1: current position).", ()),
    "readv": ("readv", "fd, bufs, offset=-1, *, rw_flags=0", {"iov": "bufs"},
              "Scatter read into a sequence of writable buffers.", ("_one_buffer(b_iov)",)),
    "writev": ("writev", "fd, bufs, offset=-1, *, rw_flags=0", {"iov": "bufs"},
               "Gather write from a sequence of buffers.", ("_one_buffer(b_iov)",)),
    "read_chunk": ("read_chunk", "fd, region, chunk, offset=-1, *, length=None",
                   {"len": "=region.chunk_size if length is None else length"},
                   "Reads into a chunk of a region (fixed-buffer op when registered).", ()),
    "write_chunk": ("write_chunk", "fd, region, chunk, offset=-1, *, length=None",
                    {"len": "=region.chunk_size if length is None else length"},
                    "Writes a chunk of a region (its first `length` bytes).", ()),
    "fsync": (("fsync", "fdatasync", "datasync"), "fd, *, datasync=False, offset=0, length=0",
              {"len": "length"}, "fsync(2) of fd (datasync: fdatasync), the range "
              "offset..+length (0: the whole file).", ()),
    "openat": ("openat", "path, oflags=os.O_RDONLY, mode=0o644, *, " + _DIR, {"dfd": "dir_fd"},
               "openat(2); `path` is copied.", ()),
    "openat2": ("openat2", "path, oflags=os.O_RDONLY, mode=0, resolve=0, *, " + _DIR,
                {"dfd": "dir_fd"}, "openat2(2) with RESOLVE_* bits.", ()),
    "close_fd": ("close", "fd", {}, "close(2) of fd through the ring.", ()),
    "statx": ("statx", "path, buf, *, mask=0x7FF, at_flags=0, " + _DIR,
              {"dfd": "dir_fd", "statxbuf": "buf"}, "statx(2) into `buf` (writable, >= 256 "
              "bytes); decode it with ringkit.parse_statx(buf) after the completion.",
              ("_statx_buffer(c_statxbuf)",)),
    "unlinkat": ("unlinkat", "path, *, at_flags=0, " + _DIR, {"dfd": "dir_fd"},
                 "unlinkat(2) of path (at_flags=AT_REMOVEDIR: a directory); path is copied.",
                 ()),
    "mkdirat": ("mkdirat", "path, mode=0o777, *, " + _DIR, {"dfd": "dir_fd"},
                "mkdirat(2) of path with mode; the path is copied.", ()),
    "renameat": ("renameat", "old, new, *, rename_flags=0, old_dir_fd=AT_FDCWD, "
                 "new_dir_fd=AT_FDCWD", {"olddfd": "old_dir_fd", "oldpath": "old",
                                         "newdfd": "new_dir_fd", "newpath": "new"},
                 "renameat2(2) of old to new (rename_flags: RENAME_NOREPLACE, ...).", ()),
    "linkat": ("linkat", "old, new, *, at_flags=0, old_dir_fd=AT_FDCWD, new_dir_fd=AT_FDCWD",
               {"olddfd": "old_dir_fd", "oldpath": "old", "newdfd": "new_dir_fd",
                "newpath": "new"}, "linkat(2): a hard link new to old.", ()),
    "symlinkat": ("symlinkat", "target, linkpath, *, new_dir_fd=AT_FDCWD",
                  {"newdfd": "new_dir_fd"}, "symlinkat(2): a symbolic link linkpath to "
                  "target.", ()),
    "fallocate": ("fallocate", "fd, offset, length, *, mode=0", {"len": "length"},
                  "fallocate(2) of offset..+length with mode (FALLOC_FL_*).", ()),
    "fadvise": ("fadvise", "fd, offset, length, advice", {"len": "length"},
                "posix_fadvise(2) of offset..+length (POSIX_FADV_*).", ()),
    "splice": ("splice", "fd_in, off_in, fd_out, off_out, nbytes, *, splice_flags=0", {},
               "splice(2) of nbytes from fd_in at off_in to fd_out at off_out (-1: the "
               "current position; one of the two must be a pipe).", ()),
    "copy": ("copy", "fd_in, off_in, fd_out, off_out, length, *, copy_flags=0",
             {"len": "length"}, "Copies length bytes from fd_in at off_in to fd_out at "
             "off_out as one op (rk_prep_copy): the result is the bytes copied, fewer when "
             "the source ends first.", ()),
    "tee": ("tee", "fd_in, fd_out, nbytes, *, splice_flags=0", {},
            "tee(2): duplicates nbytes from pipe fd_in into pipe fd_out.", ()),
    "poll_add": ("poll_add", "fd, mask", {"poll_mask": "mask"}, "One-shot poll.", ()),
    "poll_multishot": ("poll_multishot", "fd, mask", {"poll_mask": "mask"},
                       "A completion (with CQE_F_MORE) each time fd becomes ready.", ()),
    "poll_remove": ("poll_remove", "target", {"target_id": "target"}, "Removes the poll op "
                    "`target`: it completes with -ECANCELED, this op with 0 or -ENOENT.", ()),
    "timeout": ("timeout", "seconds, *, count=0, timeout_flags=0",
                {"ns": "_seconds_to_ns(seconds)"},
                "Completes with -ETIME after `seconds`, or 0 after `count` completions.", ()),
    "timeout_remove": ("timeout_remove", "target", {"target_id": "target"},
                       "Removes the timeout op `target`: it completes with -ECANCELED, this "
                       "op with 0 or -ENOENT.", ()),
    "link_timeout": ("link_timeout", "seconds, *, timeout_flags=0",
                     {"ns": "_seconds_to_ns(seconds)"},
                     "Bounds the previous op (which carries RK_LINK).", ()),
    "cancel": ("cancel", "target", {"target_id": "target"}, "Queues a cancel of op `target`. "
               "FileNotFoundError (ENOENT) when the target is no longer live: a stale id "
               "never touches a newer op.", ()),
    "socket": ("socket", "domain, type, protocol=0", {}, "socket(2).", ()),
    "bind": ("bind", "fd, address", {"addr": "address"},
             "bind(2) to (host, port) or an AF_UNIX path; the address is copied.", ()),
    "listen": ("listen", "fd, backlog=128", {}, "listen(2) on a bound socket.", ()),
    "connect": ("connect", "fd, address", {"addr": "address"},
                "connect(2) to (host, port) or an AF_UNIX path; the address is copied.", ()),
    "accept": ("accept", "fd, addrbuf=None, *, accept_flags=0", {"addr": "addrbuf"},
               "accept4(2). With `addrbuf` (writable, held until completion) the peer "
               "address lands there: ringkit.decode_address(addrbuf) reads it.", ()),
    "accept_multishot": ("accept_multishot", "fd, *, accept_flags=0", {},
                         "One completion (CQE_F_MORE) per connection until cancelled or an "
                         "error ends it.", ()),
    "send": ("send", "fd, data, *, msg_flags=0, length=None", {"buf": "data", "len": "length"},
             "send(2) of `data` (any buffer, held until the completion; its first `length` "
             "bytes).", ()),
    "recv": ("recv", "fd, buf, *, msg_flags=0, length=None", {"len": "length"},
             "recv(2) into `buf` (writable buffer, held until the completion); 0 at end of "
             "stream.", ()),
    "shutdown": ("shutdown", "fd, how", {}, "shutdown(2) of a socket (socket.SHUT_*).", ()),
    "recv_select": ("recv_select", "fd, group, *, length=0, msg_flags=0", {"len": "length"},
                    "recv into a chunk the kernel picks from `group`.", ()),
    "recv_multishot": ("recv_multishot", "fd, group, *, msg_flags=0", {},
                       "One completion per message into chunks of `group`, CQE_F_MORE until "
                       "the final one (0 at EOF, -ENOBUFS when the group ran dry).", ()),
    "send_zc": ("send_zc", "fd, data, *, msg_flags=0, report_usage=False, length=None",
                {"buf": "data", "len": "length",
                 "zc_flags": "lib.RK_SEND_ZC_REPORT_USAGE if report_usage else 0"},
                "Zero-copy send of `data`, held until the final notification. With "
                "report_usage, the notification's result has NOTIF_USAGE_ZC_COPIED set "
                "when the kernel copied after all (loopback does).", ()),
    "sendmsg": (("sendmsg", "sendmsg_zc", "zc"), "fd, bufs, address=None, fds=(), *, "
                "msg_flags=0, zc=False", {"iov": "bufs", "addr": "address"},
                "sendmsg(2): gather `bufs`, to `address` (None on a connected socket), "
                "passing the descriptors `fds` (SCM_RIGHTS; keep them open until the "
                "completion). zc=True: zero-copy, completions as send_zc.", ()),
    "recvmsg": ("recvmsg", "fd, bufs, msg, *, msg_flags=0",
                {"iov": "bufs", "name": "=msg._name", "name_cap": "=len(msg._name)",
                 "out": "=msg._out", "fds_cap": "=msg.fds_cap"},
                "recvmsg(2) into writable `bufs`; the source address, the returned msg "
                "flags and received descriptors land in `msg` (a RecvMsg, held until the "
                "completion).", ("_recvmsg_record(msg)",)),
    "openat_direct": ("openat_direct", "path, oflags=os.O_RDONLY, mode=0o644, *, "
                      "file_index=FILE_INDEX_ALLOC, " + _DIR, {"dfd": "dir_fd"},
                      "openat into a file-table slot; use the slot with flags=FIXED_FILE.",
                      ()),
    "accept_direct": ("accept_direct", "fd, *, file_index=FILE_INDEX_ALLOC, accept_flags=0",
                      {}, "accept into a file-table slot.", ()),
    "accept_multishot_direct": ("accept_multishot_direct", "fd, *, accept_flags=0", {},
                                "Multishot accept into free file-table slots: one "
                                "completion (CQE_F_MORE) per connection.", ()),
    "socket_direct": ("socket_direct", "domain, type, protocol=0, *, "
                      "file_index=FILE_INDEX_ALLOC", {}, "socket(2) into a file-table slot.",
                      ()),
    "close_fixed": ("close_fixed", "slot", {}, "Closes a file-table slot.", ()),
    "fixed_fd_install": ("fixed_fd_install", "slot, *, cloexec=True",
                         {"install_flags": "0 if cloexec else lib.RK_FIXED_FD_NO_CLOEXEC"},
                         "Installs a slot's file as a regular fd.", ()),
    "msg_ring": ("msg_ring", "target, value, res=0", {"target_fd": "target"},
                 "Posts a message to another ring (a Ring or its fd): the target's reap() "
                 "returns (message_value(value), res, 0), a negative id, never an op's.",
                 ("_msg_value(value)",)),
    "msg_ring_fd": ("msg_ring_fd", "target, src_slot, value, *, dst_slot=FILE_INDEX_ALLOC, "
                    "skip_cqe=False", {"target_fd": "target",
                                       "msg_flags": "lib.RK_MSG_RING_CQE_SKIP if skip_cqe else 0"},
                    "Passes the file in this ring's slot `src_slot` to slot `dst_slot` of the "
                    "target ring (a Ring or its fd); the result is 0 or the slot chosen. "
                    "Unless skip_cqe, the target's reap() returns (message_value(value), "
                    "that result, 0).", ("_msg_value(value)",)),
    "recvmsg_multishot": ("recvmsg_multishot", "fd, group, name_cap, control_cap=0, *, "
                          "msg_flags=0", {},
                          "Multishot recvmsg into chunks of `group`: one completion per "
                          "datagram (CQE_F_MORE while armed); Region.recvmsg_out(chunk, res, "
                          "name_cap, control_cap) finds the sender's address and the payload "
                          "in the chunk.", ()),
}


# -- the generator ----------------------------------------------------------

def _methods(specs, table):
    """(method name, spec, [rows]) for every op: _SPECS' entries, then the
    ops none of them covers, with their C parameters as they are."""
    by_name = {r.name: r for r in table}
    out, covered = [], set()
    for method, spec in specs.items():
        ops = spec[0] if isinstance(spec[0], tuple) else (spec[0],)
        names = ops[:2]
        out.append((method, spec, [by_name[n] for n in names]))
        covered.update(names)
    for r in table:
        if r.name not in covered:
            # "len" would hide the builtin the generated code calls.
            params = ", ".join("length" if a.name == "len" else a.name
                               for a in r.args if a.role != LEN)
            out.append((r.name, (r.name, params, {"len": "length"}, "rk_prep_%s." % r.name,
                                 ()), [r]))
    return out


class _Gen:
    """The source of one method: Ring's (a prep call) or Batch's (a desc)."""

    def __init__(self, row, exprs, batch):
        self.row, self.exprs, self.batch = row, exprs, batch
        self.lines, self.pins, self.fds, self.regions, self.paths = [], [], [], [], []
        self.values = {}  # C parameter -> what goes to C (an expression)

    def expr(self, a):
        return self.exprs.get(a.name, a.name)

    def emit(self):
        for a in self.row.args:
            if a.role != LEN:
                self.values[a.name] = self.convert(a, self.expr(a))
        for a in self.row.args:
            if a.role == LEN:
                self.values[a.name] = self.length(a, self.row.args[a.of])
        return self

    def convert(self, a, e):
        if e.startswith("="):  # an object's own C memory: held, not converted
            e = e[1:]
            if a.role in _POINTERS:
                self.pins.append(e)
                return "_addr(%s)" % e if self.batch else e
            return e
        v = "c_" + a.name
        role, line = a.role, self.lines.append
        if role == FD:
            line("%s = %s if %s.__class__ is int else _fileno(%s)" % (v, e, e, e))
            self.fds.append(e)
            return v
        if role == REGION:
            line("%s = %s._handle()" % (v, e))
            self.regions.append(e)
            if not self.batch:  # a region outlives its ops by itself (rk_region_destroy)
                return v
            self.pins.append(e)  # but a descriptor's address only while the batch has it
            return "_addr(%s)" % v
        if role in (PTR_READ, PTR_WRITE):
            conv = "_wbuf(%s)" % e if role == PTR_WRITE else "_from_buffer(_BYTES, %s)" % e
            if self.nullable(e):
                line("%s = _NULL if %s is None else %s" % (v, e, conv))
            elif role == PTR_WRITE:  # the export inline, _wbuf only to word the TypeError
                self.lines += ["try:", "    %s = _from_buffer(_BYTES, %s, True)" % (v, e),
                               "except BufferError:", "    %s = %s" % (v, conv)]
            else:
                line("%s = %s" % (v, conv))
            self.pins.append(v)
        elif role in (IOV_READ, IOV_WRITE):
            conv = "_wbuf(b)" if role == IOV_WRITE else "_from_buffer(_BYTES, b)"
            line("b_%s = [%s for b in %s]" % (a.name, conv, e))
            line("%s = _iovec(b_%s)" % (v, a.name))
            self.pins.append("b_" + a.name)
            if self.batch:
                self.pins.append(v)
        elif role == PTR_COPIED:
            if a.name in _PATHS:
                self.paths.append(e)
                line("%s = _path(%s)" % (v, e))
            elif a.name == "fds":
                line("%s = list(%s)" % (v, e))
            else:
                line("%s = b\"\" if %s is None else _sockaddr.encode(%s)" % (v, e, e)
                     if self.nullable(e) else "%s = _sockaddr.encode(%s)" % (v, e))
            if not self.batch:
                return "%s or _NULL" % v if a.name not in _PATHS else v
            # The batch's descriptor points at it until submit_batch's prep.
            line("n_%s = len(%s)" % (a.name, v))
            if a.name in _PATHS:
                line("%s = ffi.new('char[]', %s)" % (v, v))
            else:
                line("%s = ffi.new(%r, %s) if %s else _NULL" % (
                    v, "int32_t[]" if a.name == "fds" else "char[]", v, v))
            self.pins.append(v)
        else:
            return e  # a number: cffi (or the core) checks its range
        return "_addr(%s)" % v if self.batch else v

    def nullable(self, e):
        return e in self.defaults and self.defaults[e] == "None"

    def length(self, a, of):
        n = a.name
        e = self.exprs.get(n)
        if e is not None and e.startswith("="):
            return e[1:]
        if of.role in (IOV_READ, IOV_WRITE):
            return "len(b_%s)" % of.name
        v = "c_" + of.name
        if of.role == PTR_COPIED:
            return ("n_%s" if self.batch else "len(c_%s)") % of.name
        if e is not None and self.defaults.get(e) == "None":
            return "len(%s) if %s is None else _length(%s, %s)" % (v, e, e, v)
        if self.nullable(self.expr(of)):
            return "0 if %s is _NULL else len(%s)" % (v, v)
        return "len(%s)" % v

    def pin_expr(self):
        """What the op holds until its final completion, or None."""
        keep, fds = self.pins, self.fds
        base = None if not keep else keep[0] if len(keep) == 1 else "(%s)" % ", ".join(keep)
        if not fds:
            return base, None
        if len(fds) == 1:
            f = fds[0]
            held = f if base is None else "(%s, %s)" % (base, f)
            return base, (f, held)
        objs = "[x for x in (%s) if x.__class__ is not int]" % ", ".join(fds)
        return base, (None, "(%s, %s)" % (base, objs) if base else objs)


def _source(method, spec, rows_, batch):
    ops, params, exprs, doc, checks = spec
    row = rows_[0]
    g = _Gen(row, exprs, batch)
    g.defaults = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
    g.emit()
    sig = "self, " + (params + (", flags=0" if "*" in params else ", *, flags=0")
                      if params else "flags=0")
    body = list(g.lines) + list(checks)
    select = None
    if len(rows_) == 2:
        select = ops[2]
    base, cond = g.pin_expr()
    if batch:
        op = "_OP1 if %s else _OP0" % select if select else "_OP0"
        fields = ", ".join("%s=%s" % (a.field, g.values[a.name]) for a in row.args)
        keep = base
        if cond is not None:
            f, held = cond
            keep = held if f is None else "%s if %s.__class__ is not int else %s" % (
                held, f, base)
        named = "(%s)" % ", ".join(g.paths) if len(g.paths) > 1 else \
            g.paths[0] if g.paths else "None"
        body.append("self._add(%s, flags, %s, %s%s)" % (
            op, keep, named, ", " + fields if fields else ""))
    else:
        prep = "(_P1 if %s else _P0)" % select if select else "_P0"
        call = ", ".join(["self._ring"] + [g.values[a.name] for a in row.args] + ["flags"])
        body += ["try:", "    r = %s(%s)" % (prep, call), "except OverflowError as e:",
                 "    raise ValueError(str(e)) from None",
                 "if r < 0:", "    self._prep_fail(r%s)" % (
                     ", %s, %s, %s" % (g.regions[0], g.values.get("chunk"), g.values.get("len"))
                     if g.regions else "")]
        if base is not None and cond is None:
            body.append("self._pins[r] = %s" % base)
        elif cond is not None:
            f, held = cond
            if f is None:
                body.append("keep = %s" % held)
                body.append("if keep:")
                body.append("    self._pins[r] = keep")
            elif base is None:
                body.append("if %s.__class__ is not int:" % f)
                body.append("    self._pins[r] = %s" % f)
            else:
                body.append("self._pins[r] = %s if %s.__class__ is int else %s" % (
                    base, f, held))
        body.append("return r")
    if g.paths:
        body = ["with paths(%s):" % ", ".join(g.paths)] + ["    " + x for x in body]
    return "def %s(%s):\n%s\n" % (method, sig, "\n".join("    " + x for x in body))


def _doc(method, spec, rows_, batch):
    row = rows_[0]
    if batch:
        return "Adds %s to the batch, as Ring.%s; ValueError when the batch is full." % (
            method, method)
    what = _RESULTS.get(row.result, "see rk_prep_%s" % row.name)
    return ("%s\n\nThe completion's result: %s%s. Returns the op's id; OSError (EBUSY: op "
            "table full, ...) when it cannot be queued." % (
                spec[3], what, ", once per completion (CQE_F_MORE until the final one)"
                if row.multishot else ""))


def install(ring_cls, batch_cls, env):
    """Adds every op's method to Ring and Batch; env: the names the
    generated code calls (Ring's module namespace)."""
    table = rows()
    made = {}
    for method, spec, rows_ in _methods(_SPECS, table):
        for cls, batch in ((ring_cls, False), (batch_cls, True)):
            src = _source(method, spec, rows_, batch)
            ns = dict(env, _P0=getattr(lib, "rk_prep_" + rows_[0].name, None),
                      _P1=getattr(lib, "rk_prep_" + rows_[-1].name, None),
                      _OP0=rows_[0].op, _OP1=rows_[-1].op)
            exec(compile(src, "<ringkit op %s>" % method, "exec"), ns)
            fn = ns[method]
            fn.__doc__ = _doc(method, spec, rows_, batch)
            fn.__qualname__ = "%s.%s" % (cls.__name__, method)
            setattr(cls, method, fn)
        made[method] = [r.op for r in rows_]
    return made


ENV = {name: obj for name, obj in globals().items()
       if name.startswith("_") and not name.startswith("__")}
ENV.update(os=os, ffi=ffi, lib=lib, paths=paths, AT_FDCWD=AT_FDCWD,
           FILE_INDEX_ALLOC=FILE_INDEX_ALLOC, __name__="ringkit._core")
