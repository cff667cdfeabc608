"""asyncio on ringkit: awaitable io_uring ops for any running event loop.

    from ringkit import aio
    n = await aio.read(fd, buf, 0)

One ring per event loop, created on first use. The ring's eventfd sits in the
loop's selector (loop.add_reader), so completions wake the loop like any
other IO; ops queued during one loop iteration are submitted together at its
end. Errors raise OSError subclasses (FileNotFoundError, ...).

Cancelling a task that awaits an op submits an io_uring cancel for it; the
op's buffer stays pinned and the task does not finish until the op's final
completion has arrived, then CancelledError is raised. Should the op have
produced a file descriptor after all (open, accept, socket), it is closed.

An op's awaitable is a future-compatible waiter (ringkit._aioloop, in C)
that the reaped completion finishes directly, resuming the awaiting task in
the same pass: no asyncio.Future, Handle or extra loop iteration per op.
read, write, recv and send are that C code end to end; they return the
waiter itself. It is future-like where asyncio takes futures (gather,
wait_for, shield, as_completed, ensure_future; cancel messages included) and
coroutine-like where asyncio tells the two apart: create_task() and TaskGroup
take it, and asyncio.wait() wants it wrapped in a task, as a coroutine.

The loop's ring has a fixed op table (`aio.ring().ring.stats()["capacity"]`,
four times its entries). When every slot is taken, a new op waits its turn
(first come, first served) until completions free one, instead of failing
with EBUSY; it holds only its own arguments meanwhile.

File descriptors. An op names its fd by number until it is submitted, which
happens at the end of the loop pass that queued it; from then on it holds
the file itself, as the kernel does, until its final completion. So an fd
must not be closed with os.close() in the same pass as an op on it was
queued (aio.send_nowait, a RecvStream's cancel...): the op could otherwise
find the next file that gets the number. RecvStream.close() and aio.submit()
submit what is queued at once, so ``stream.close(); os.close(fd)`` is safe;
``await aio.close_fd(fd)`` is always ordered after the fd's queued ops.
"""
import asyncio
import collections
import errno
import os
import socket as _socket
import weakref
from typing import AsyncIterator, Awaitable, Callable, Dict, Optional, Sequence, Tuple

from . import _aiosend, _aioloop, _sockaddr, _statx
from ._core import _MSG_VALUE_MASK, AT_FDCWD, CQE_BUFFER_SHIFT, CQE_F_BUFFER, CQE_F_MORE, RecvMsg, Ring
from ._aiosend import close_quietly as _close_quietly
from ._errors import error, paths as _paths
from ._region import Region
from ._ringkit import ffi as _ffi, lib as _lib

_unpack = _ffi.unpack

_rings: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AioRing]" = \
    weakref.WeakKeyDictionary()


class AioRing:
    """The ring of one event loop. Get it with ringkit.aio.ring().

    Messages other rings post to it (msg_ring) go to `on_message(value, res)`
    when set; create the loop's ring with aio.ring(msg_target=True) first if
    it may be idle while they come (the eventfd wakes the loop either way)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, entries: int = 256, *,
                 driven: bool = False, **ring_kw):
        # driven: the loop itself reaps this ring (ringkit's EventLoop, whose
        # selector waits in rk_reap); otherwise an eventfd in the loop's
        # selector says when to.
        if not ring_kw:
            ring_kw = _default_flags()
        self.ring = Ring(entries, **ring_kw)
        self._driven = driven
        self._loop_ref = weakref.ref(loop)
        self._streams: Dict[int, "_Stream"] = {}
        self._drv = _aioloop.Driver(self.ring._h, self.ring.stats()["capacity"], loop,
                                    self._on_other, self._on_room)
        # Waiters still pending when the ring closes finish as cancelled.
        self.ring._on_close = self._drv.detach
        # Multishot receives from a BufferPool: op id -> the pool, so that a
        # closing pool is released once the last of them has ended.
        self._pool_ops: Dict[int, "BufferPool"] = {}
        # Back-pressure: futures of ops waiting for a free op slot, in turn.
        self._backlog: "collections.deque[asyncio.Future]" = collections.deque()
        self._sends = _aiosend.Sends(self)
        self.on_message = None  # callable(value, res) for msg_ring messages
        self._efd = -1
        self._drv.driven = driven
        if not driven:
            self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self.ring.register_eventfd(self._efd)
            loop.add_reader(self._efd, self._on_event)
        # The loop's own collection closes the ring, so asyncio.run() needs no
        # extra call; close() does it deterministically.
        self._finalizer = weakref.finalize(loop, _close_ring, self.ring, self._efd)

    @property
    def closed(self) -> bool:
        """Whether the ring is closed (aio.ring() then makes a new one)."""
        return self.ring.closed

    def close(self, *, _loop_closing: bool = False) -> None:
        """Fails every pending await with CancelledError, cancels the ops and
        closes the ring (which waits until the kernel is done with them).
        On ringkit's EventLoop the ring is the loop's own and closes with
        the loop: this does nothing there."""
        if self.ring.closed or (self._driven and not _loop_closing):
            return
        loop = self._loop_ref()
        if loop is not None and not loop.is_closed() and self._efd >= 0:
            loop.remove_reader(self._efd)
        for stream in self._streams.values():
            stream.finish(-errno.ECANCELED)
        self._streams.clear()
        for fut in self._backlog:
            fut.cancel()
        self._backlog.clear()
        self._finalizer()
        for pool in set(self._pool_ops.values()):
            pool._release()
        self._pool_ops.clear()
        self._sends.close()
        if _rings.get(loop) is self:
            del _rings[loop]

    # -- plumbing -----------------------------------------------------------

    def _schedule_flush(self) -> None:
        self._drv.schedule_flush()

    def _on_event(self) -> None:
        try:
            os.eventfd_read(self._efd)
        except BlockingIOError:
            pass
        self._drv.drain()

    def _on_other(self, recs) -> None:
        # Completions that are not a waiter's: multishot streams, sends
        # nobody awaits, messages from other rings, cancel ops' own results.
        streams = self._streams
        for op_id, res, flags in recs:
            stream = streams.get(op_id)
            if stream is not None:
                stream.push(res, flags)
                if not flags & CQE_F_MORE:
                    self._stream_ended(op_id, stream, res)
                continue
            if self._sends.completed(op_id, res):
                continue
            if op_id < 0 and self.on_message is not None:
                self.on_message(op_id & _MSG_VALUE_MASK, res)

    def _stream_ended(self, op_id: int, stream, res: int) -> None:
        # The final completion of a multishot stream (a _Stream, a RecvStream
        # or an EventLoop transport's receive): off the books, the stream
        # told, and its pool released if it was waiting for this last op.
        self._streams.pop(op_id, None)
        stream.finish(res)
        pool = self._pool_ops.pop(op_id, None)
        if pool is not None:
            pool._op_ended(op_id)

    # -- file descriptors and back-pressure ----------------------------------

    def cancel_op(self, op_id: int) -> None:
        """Asks the kernel to end op_id; its final completion still comes
        (-ECANCELED, or its own result if it ended first). An op that has
        ended already — its completion reaped in this very pass — is not an
        error. With no op slot free for the cancel, cancels synchronously, so
        the op never outlives a descriptor its owner is about to close."""
        if self.ring.closed:
            return
        try:
            self.ring.cancel(op_id)
        except OSError as e:
            if e.errno == errno.ENOENT:
                return
            if e.errno != errno.EBUSY:
                raise
            try:
                self.ring.cancel_sync(op_id)
            except OSError:
                pass  # it ended meanwhile
            return
        self._schedule_flush()

    def detach(self, fd: int) -> None:
        """aio is done with fd: the ops queued on it are submitted (each then
        holds its file), sends still waiting go on through a duplicate of
        it, and what its sends report later is dropped. The fd may be closed
        right after."""
        self.submit()
        self._sends.detach(fd)

    def _set_backlog(self) -> None:
        self._drv.backlog = len(self._backlog) + len(self._sends)

    def _on_room(self, free: int) -> None:
        # After a drain freed op slots while ops wait: deferred sends first
        # (their order on a connection is the data's order), then waiters in
        # turn. A waiter that finds the table full again queues at the front.
        free = self._sends.on_room(free)
        backlog = self._backlog
        while free > 0 and backlog:
            fut = backlog.popleft()
            if not fut.done():
                fut.set_result(None)
                free -= 1
        self._set_backlog()
        self._schedule_flush()

    async def _room(self, first: bool = False) -> None:
        """Waits in turn for a free op slot (first: at the head of the line,
        for an op that was granted one and lost it)."""
        fut = self._loop_ref().create_future()
        if first:
            self._backlog.appendleft(fut)
        else:
            self._backlog.append(fut)
        self._set_backlog()
        self._schedule_flush()
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._on_room(1)  # granted, then cancelled: the next one's turn
            else:
                try:
                    self._backlog.remove(fut)
                except ValueError:
                    pass
            raise
        finally:
            self._set_backlog()

    async def prep(self, prep: Callable[..., int], *args, **kw) -> int:
        """prep(*args, **kw) (a ringkit.Ring method of self.ring) once the op
        table has room for it, in turn with the other ops waiting: its op
        id. Raises what prep raises, except the EBUSY of a full table."""
        first = False
        if self._backlog or self._sends.waiting:
            await self._room()
            first = True
        while True:
            try:
                return prep(*args, **kw)
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
            await self._room(first)
            first = True

    async def op(self, prep: Callable[..., int], *args, fd_result: bool = False, **kw) -> int:
        """Queues prep(*args, **kw) as prep() does and awaits its final
        completion as run() does."""
        return await self.run(await self.prep(prep, *args, **kw), fd_result)

    def submit(self) -> None:
        """Submits the ops queued so far now instead of at the end of the
        loop pass; each then holds the file its fd names."""
        self._drv.submit()

    def wait(self, op_id: int, *, raw: bool = False):
        """The awaitable of op_id, queued on this ring through self.ring: its
        result, or OSError (raw: the negative errno as a value)."""
        return self._drv.wait(op_id, raw=raw)

    async def run(self, op_id: int, fd_result: bool = False) -> int:
        """Awaits op_id's final completion: its result, or OSError. With
        fd_result, an fd the op produced although the task was cancelled is
        closed."""
        w = self._drv.wait(op_id)
        try:
            res = await w
        except asyncio.CancelledError:
            res = w.res
            if fd_result and res is not None and res >= 0:
                os.close(res)
            raise
        if fd_result:
            self._sends.fresh(res)
        return res


def _default_flags() -> Dict[str, bool]:
    # COOP_TASKRUN: completion work runs when the loop next enters the
    # kernel rather than by interrupting Python, and the eventfd is signalled
    # as each completion is posted. Not DEFER_TASKRUN, although it is the
    # cheaper mode when a loop waits in io_uring_enter itself: this loop
    # sleeps in its selector on the eventfd, and with DEFER_TASKRUN the
    # kernel signals that eventfd for deferred work late (through RCU), so an
    # idle loop slept on ready connections for milliseconds at a time, and
    # each of its own reaps signalled the eventfd again (a wasted pass).
    return {"coop_taskrun": True}


class _Stream:
    """Completions of one multishot op, consumed by an async iterator."""

    def __init__(self, loop):
        self.items = []
        self.final: Optional[int] = None
        self.wakeup: Optional[asyncio.Future] = None
        self._loop = loop

    def push(self, res, flags):
        self.items.append((res, flags))
        self._wake()

    def finish(self, res):
        if self.final is None:
            self.final = res
        self._wake()

    def _wake(self):
        w = self.wakeup
        if w is not None and not w.done():
            w.set_result(None)

    async def next_batch(self):
        while not self.items and self.final is None:
            self.wakeup = self._loop.create_future()
            await self.wakeup
        items, self.items = self.items, []
        return items


_get_running_loop = asyncio.get_running_loop
# Weak references to the latest loop and its AioRing: nearly every call hits
# them, and neither keeps the loop from being collected (which closes the ring).
_last = [lambda: None, lambda: None]


def ring(loop: Optional[asyncio.AbstractEventLoop] = None, **ring_kw) -> AioRing:
    """The running loop's ring (made on first use; ring_kw go to ringkit.Ring)."""
    loop = loop or _get_running_loop()
    if _last[0]() is loop:
        r = _last[1]()
        if r is not None and not r.ring.closed:
            return r
    r = _rings.get(loop)
    if r is None or r.closed:
        r = _rings[loop] = AioRing(loop, **ring_kw)
    _last[1] = weakref.ref(r)
    _last[0] = weakref.ref(loop)
    return r


async def _busy(op: int, fd, buf, arg):
    # A C op (read, write, recv, send) that found the op table full or others
    # waiting for it: the same op through the ring's methods, in turn.
    r = ring()
    if op == 0:
        return await r.op(r.ring.read, fd, buf, -1 if arg is None else arg)
    if op == 1:
        return await r.op(r.ring.write, fd, buf, -1 if arg is None else arg)
    flags = 0 if arg is None else arg
    return await r.op(r.ring.recv if op == 2 else r.ring.send, fd, buf, msg_flags=flags)


# The C ops find the running loop's driver themselves; a loop without a ring
# yet gets one through this.
_aioloop.setup(lambda loop: ring(loop)._drv, error, _busy)



def _loop_ring(loop) -> AioRing:
    # The ring of ringkit's own EventLoop, which reaps it itself.
    r = _rings.get(loop)
    if r is None or r.closed:
        r = _rings[loop] = AioRing(loop, driven=True, capacity=_LOOP_CAPACITY,
                                   **_default_flags())
    return r


# The op table of an EventLoop's ring: each stream transport holds a slot
# while it reads (its multishot receive) and one per send in flight, so the
# table bounds the connections a server serves at once; beyond it a
# transport waits for a slot to read.
_LOOP_CAPACITY = 8192


def close(loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
    """Closes the loop's ring now (otherwise it closes with the loop)."""
    r = _rings.get(loop or asyncio.get_running_loop())
    if r is not None:
        r.close()


def _close_ring(ring_obj: Ring, efd: int) -> None:
    ring_obj.close()
    _close_quietly(efd)


# -- files -------------------------------------------------------------------

async def nop() -> int:
    """Awaits a nop through the ring; returns 0."""
    r = ring()
    return await r.op(r.ring.nop)


# The buffer ops are C end to end (ringkit/_aioloop): pin, prep, waiter.
read: Callable[..., Awaitable[int]] = _aioloop.read
write: Callable[..., Awaitable[int]] = _aioloop.write


async def pread(fd, n: int, offset: int = -1) -> bytes:
    """Reads up to n bytes and returns them."""
    buf = bytearray(n)
    got = await read(fd, buf, offset)
    del buf[got:]
    return bytes(buf)


async def readv(fd, bufs: Sequence, offset: int = -1) -> int:
    """Scatter read into writable `bufs` at offset (-1: current position); returns the byte
    count. OSError on failure."""
    r = ring()
    return await r.op(r.ring.readv, fd, bufs, offset)


async def writev(fd, bufs: Sequence, offset: int = -1) -> int:
    """Gather write of `bufs` at offset (-1: current position); returns the byte count. OSError
    on failure."""
    r = ring()
    return await r.op(r.ring.writev, fd, bufs, offset)


async def read_chunk(fd, region: Region, chunk: int, offset: int = -1,
                     length: Optional[int] = None) -> int:
    """Reads into a chunk of `region` (see Ring.read_chunk); returns the byte count. OSError on
    failure."""
    r = ring()
    return await r.op(r.ring.read_chunk, fd, region, chunk, offset, length=length)


async def write_chunk(fd, region: Region, chunk: int, offset: int = -1,
                      length: Optional[int] = None) -> int:
    """Writes a chunk of `region` (its first `length` bytes); returns the byte count. OSError on
    failure."""
    r = ring()
    return await r.op(r.ring.write_chunk, fd, region, chunk, offset, length=length)


async def open(path, flags: int = os.O_RDONLY, mode: int = 0o644, *,
               dir_fd: int = AT_FDCWD) -> int:
    """openat(2); returns the fd (closed again if the task is cancelled)."""
    r = ring()
    with _paths(path):
        return await r.op(r.ring.openat, path, flags | os.O_CLOEXEC, mode, dir_fd=dir_fd,
                          fd_result=True)


async def close_fd(fd: int) -> None:
    """close(2) through the ring, after every op already queued on fd (which
    each keep the file they name until they complete)."""
    r = ring()
    r.detach(fd)
    await r.op(r.ring.close_fd, fd)


def submit() -> None:
    """Submits the ops the running loop's ring has queued so far, now rather
    than at the end of this loop pass. From then on each holds the file its
    fd named, so the fd may be closed (os.close) right after."""
    ring().submit()


async def statx(path, *, mask: int = 0x7FF, at_flags: int = 0,
                dir_fd: int = AT_FDCWD) -> _statx.Statx:
    """statx(2) of path: a ringkit.Statx. OSError (with filename) on failure."""
    buf = bytearray(_statx.SIZE)
    r = ring()
    with _paths(path):
        await r.op(r.ring.statx, path, buf, mask=mask, at_flags=at_flags, dir_fd=dir_fd)
    return _statx.parse(buf)


async def fsync(fd, *, datasync: bool = False) -> None:
    """fsync(2) of fd (datasync: fdatasync). OSError on failure."""
    r = ring()
    await r.op(r.ring.fsync, fd, datasync=datasync)


async def unlink(path, *, dir_fd: int = AT_FDCWD, rmdir: bool = False) -> None:
    """Removes path (rmdir=True: an empty directory). OSError (with filename) on failure."""
    r = ring()
    with _paths(path):
        await r.op(r.ring.unlinkat, path, at_flags=0x200 if rmdir else 0, dir_fd=dir_fd)


async def mkdir(path, mode: int = 0o777, *, dir_fd: int = AT_FDCWD) -> None:
    """Creates directory path with mode. OSError (with filename) on failure."""
    r = ring()
    with _paths(path):
        await r.op(r.ring.mkdirat, path, mode, dir_fd=dir_fd)


async def rename(old, new, *, rename_flags: int = 0) -> None:
    """Renames old to new (rename_flags: RENAME_NOREPLACE, ...). OSError (with filename and
    filename2) on failure."""
    r = ring()
    with _paths(old, new):
        await r.op(r.ring.renameat, old, new, rename_flags=rename_flags)


async def link(old, new) -> None:
    """Makes new a hard link to old. OSError (with filename and filename2) on failure."""
    r = ring()
    with _paths(old, new):
        await r.op(r.ring.linkat, old, new)


async def symlink(target, linkpath) -> None:
    """Makes linkpath a symbolic link to target. OSError (with filename and filename2) on
    failure."""
    r = ring()
    with _paths(target, linkpath):
        await r.op(r.ring.symlinkat, target, linkpath)


async def fallocate(fd, offset: int, length: int, mode: int = 0) -> None:
    """fallocate(2) of offset..+length with mode. OSError on failure."""
    r = ring()
    await r.op(r.ring.fallocate, fd, offset, length, mode=mode)


async def fadvise(fd, offset: int, length: int, advice: int) -> None:
    """posix_fadvise(2) of offset..+length. OSError on failure."""
    r = ring()
    await r.op(r.ring.fadvise, fd, offset, length, advice)


async def splice(fd_in: int, off_in: int, fd_out: int, off_out: int, nbytes: int,
                 splice_flags: int = 0) -> int:
    """splice(2) of nbytes from fd_in to fd_out (one a pipe); returns the byte count. OSError on
    failure."""
    r = ring()
    return await r.op(r.ring.splice, fd_in, off_in, fd_out, off_out, nbytes,
                                     splice_flags=splice_flags)


async def tee(fd_in: int, fd_out: int, nbytes: int, splice_flags: int = 0) -> int:
    """tee(2) of nbytes from pipe fd_in to pipe fd_out; returns the byte count. OSError on
    failure."""
    r = ring()
    return await r.op(r.ring.tee, fd_in, fd_out, nbytes, splice_flags=splice_flags)


async def poll(fd, mask: int) -> int:
    """Waits until fd is ready for `mask` (select.POLLIN, ...); the ready mask."""
    r = ring()
    return await r.op(r.ring.poll_add, fd, mask)


async def sleep(seconds: float) -> None:
    """Sleeps on an io_uring timeout."""
    r = ring()
    try:
        await r.op(r.ring.timeout, seconds)
    except OSError as e:
        if e.errno != errno.ETIME:  # -ETIME is how a timeout completes
            raise


# -- sockets -------------------------------------------------------------------

async def socket(family: int = _socket.AF_INET, type: int = _socket.SOCK_STREAM,
                 proto: int = 0) -> int:
    """socket(2) through the ring: a raw fd (wrap with socket.socket(fileno=fd))."""
    r = ring()
    return await r.op(r.ring.socket, family, type | _socket.SOCK_CLOEXEC, proto, fd_result=True)


async def bind(fd, address) -> None:
    """bind(2) of socket fd to (host, port) or an AF_UNIX path. OSError on failure."""
    r = ring()
    await r.op(r.ring.bind, fd, address)


async def listen(fd, backlog: int = 128) -> None:
    """listen(2) on socket fd. OSError on failure."""
    r = ring()
    await r.op(r.ring.listen, fd, backlog)


async def connect(fd, address) -> None:
    """connect(2) of socket fd to (host, port) or an AF_UNIX path. OSError
    (ConnectionRefusedError, ...) on failure."""
    r = ring()
    await r.op(r.ring.connect, fd, address)


async def accept(fd) -> Tuple[int, object]:
    """Accepts a connection: (new fd, peer address)."""
    r = ring()
    addr = bytearray(_sockaddr.SOCKADDR_MAX)
    new_fd = await r.op(r.ring.accept, fd, addr, accept_flags=_socket.SOCK_CLOEXEC,
                        fd_result=True)
    try:
        return new_fd, _sockaddr.decode(addr)
    except ValueError:
        return new_fd, None


send: Callable[..., Awaitable[int]] = _aioloop.send
recv: Callable[..., Awaitable[int]] = _aioloop.recv


async def sendall(fd, data) -> None:
    """Sends all of `data`, resubmitting after short sends."""
    view = memoryview(data).cast("B")
    while view:
        n = await send(fd, view, _socket.MSG_NOSIGNAL)
        view = view[n:]


def send_nowait(fd: int, data) -> None:
    """Queues a send of all of `data` and returns at once, like asyncio's
    writer.write(). The ring holds `data` until the kernel is done with it.
    Sends on one fd go out in order, one op at a time (what waits is joined
    into the next). A failure is raised by the next send_nowait on the same
    connection (usually finished by then anyway); once aio has given the fd
    number to another file (accept, open, socket) or was told it is done
    with it (RecvStream.close(), aio.detach(), aio.close_fd()), it is
    dropped, and what still waits goes out on a duplicate of the fd."""
    ring()._sends.send(fd, data)


def detach(fd: int) -> None:
    """Tells aio you are done with fd and will close it yourself: see
    AioRing.detach (RecvStream.close() does this for its fd)."""
    ring().detach(fd)


async def sendmsg(fd, bufs: Sequence, address=None, fds: Sequence[int] = (),
                  msg_flags: int = 0) -> int:
    """sendmsg(2): gather bufs, optionally to `address`, passing `fds`
    (SCM_RIGHTS). Returns the bytes sent."""
    r = ring()
    return await r.op(r.ring.sendmsg, fd, bufs, address, fds,
                                      msg_flags=msg_flags | _socket.MSG_NOSIGNAL)


async def recvmsg(fd, bufsize: int, fds_cap: int = 0,
                  msg_flags: int = 0) -> Tuple[bytes, object, list, int]:
    """recvmsg(2) of up to bufsize bytes: (data, source address or None,
    received fds — now the caller's, msg flags). Received descriptors are
    close-on-exec. If the task is cancelled after they arrived, they are
    closed."""
    r = ring()
    buf = bytearray(bufsize)
    msg = RecvMsg(fds_cap)
    op_id = await r.prep(r.ring.recvmsg, fd, [buf], msg,
                         msg_flags=msg_flags | _socket.MSG_CMSG_CLOEXEC)
    try:
        n = await r.run(op_id)
    except asyncio.CancelledError:
        for received in msg.fds:
            os.close(received)
        raise
    for received in msg.fds:
        r._sends.fresh(received)
    del buf[n:]
    return bytes(buf), msg.address, msg.fds, msg.flags


async def send_zc(fd, data, msg_flags: int = 0) -> int:
    """Zero-copy send; returns the byte count once the kernel no longer
    needs `data` (the final notification), so `data` may be reused then."""
    r = ring()
    op_id = await r.prep(r.ring.send_zc, fd, data, msg_flags=msg_flags | _socket.MSG_NOSIGNAL)
    result = []
    stream = _Stream(r._loop_ref())
    r._streams[op_id] = stream
    r._schedule_flush()
    while stream.final is None or stream.items:
        for res, flags in await stream.next_batch():
            if flags & CQE_F_MORE:
                result.append(res)
    res = result[0] if result else stream.final
    if res < 0:
        raise error(res)
    return res


async def msg_ring(target, value: int, res: int = 0) -> None:
    """Posts (value, res) to another ring (a ringkit.Ring, or another loop's
    aio ring) as a message completion."""
    r = ring()
    await r.op(r.ring.msg_ring, target.ring if isinstance(target, AioRing) else target,
                                value, res)


async def shutdown(fd, how: int = _socket.SHUT_WR) -> None:
    """shutdown(2) of socket fd (how: socket.SHUT_WR by default). OSError on failure."""
    r = ring()
    await r.op(r.ring.shutdown, fd, how)


async def _multishot(r: AioRing, op_id: int, fd_results: bool):
    stream = _Stream(r._loop_ref())
    r._streams[op_id] = stream
    r._schedule_flush()
    try:
        while True:
            for item in await stream.next_batch():
                yield item
            if stream.final is not None and not stream.items:
                return
    finally:
        if stream.final is None and not r.closed:
            # Left early (break, cancel): stop the op and drop what it yields.
            r.cancel_op(op_id)
            while stream.final is None and not r.closed:
                try:
                    await stream.next_batch()
                except asyncio.CancelledError:
                    continue
            for res, flags in stream.items:
                if fd_results and res >= 0:
                    os.close(res)


async def accept_iter(fd) -> AsyncIterator[int]:
    """Multishot accept: yields each new connection's fd until an error
    (raised) or the caller leaves the loop (the op is then cancelled and
    connections it accepted meanwhile are closed). Re-arms by itself when the
    kernel ends the multishot without an error."""
    r = ring()
    while True:
        op_id = await r.prep(r.ring.accept_multishot, fd, accept_flags=_socket.SOCK_CLOEXEC)
        async for res, flags in _multishot(r, op_id, True):
            if res >= 0:
                r._sends.fresh(res)
                yield res
            elif res == -errno.ECANCELED:
                return
            else:
                raise error(res)


class BufferPool:
    """A region of provided buffers shared by many multishot receives on the
    loop's ring (one buffer group; a ring has at most 16). The kernel picks a
    chunk for each message, so idle connections hold no memory.

        pool = aio.BufferPool(4096, 256)
        async for data in pool.recv(fd):   # bytes per message, until EOF
            ...
        pool.close()

    close() never fails nor blocks: it cancels the receives still using the
    pool, and the region goes back once the kernel has ended them
    (``await pool.aclose()`` waits for that)."""

    def __init__(self, chunk_size: int = 4096, count: int = 256, *, _aio=None):
        self._aio = _aio or ring()
        self.region = Region(chunk_size, count)
        try:
            self.group = self._aio.ring.provide_region(self.region)  # the ring picks the id
        except BaseException:
            self.region.close()
            raise
        self._provided = True
        self._handle = self.region._handle()
        self._base = _ffi.cast("char *", _lib.rk_chunk_ptr(self._handle, 0))
        self._chunk_size = chunk_size
        # What the driver needs to take a message out of a chunk and give the
        # chunk back (_aioloop.Driver.route_recv).
        self._route = (int(_ffi.cast("uintptr_t", self._base)), chunk_size,
                       int(_ffi.cast("uintptr_t", self._handle)))
        self._ops = set()  # live multishot receives from this pool
        self._closing = False
        self._released: Optional[asyncio.Future] = None

    def _arm(self, fd) -> int:
        # recv_multishot from this pool: its op id (EBUSY as the ring says).
        if self._closing:
            raise ValueError("the BufferPool is closed")
        r = self._aio
        op_id = r.ring.recv_multishot(fd, self.group)
        self._ops.add(op_id)
        r._pool_ops[op_id] = self
        return op_id

    def _op_ended(self, op_id: int) -> None:
        self._ops.discard(op_id)
        if self._closing and not self._ops:
            self._release()

    def _release(self) -> None:
        self._ops.clear()
        if self._provided:
            if not self._aio.closed:
                self._aio.ring.unprovide_region(self.region)
            self._provided = False
        self.region.close()
        fut = self._released
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def recv(self, fd) -> AsyncIterator[bytes]:
        """Yields each message received on fd as bytes until end of stream;
        raises OSError (ConnectionResetError, ...) on errors. Chunks go back
        to the kernel as soon as their bytes are copied out; when the pool ran
        dry (ENOBUFS) the receive is armed again by itself."""
        r, region = self._aio, self.region
        while True:
            op_id = await r.prep(self._arm, fd)
            rearm = False
            async for res, flags in _multishot(r, op_id, False):
                if flags & CQE_F_BUFFER:
                    chunk = flags >> CQE_BUFFER_SHIFT
                    data = bytes(region.view(chunk, res)) if res > 0 else b""
                    r.ring.recycle_chunk(region, chunk)
                    if data:
                        yield data
                elif res == -errno.ENOBUFS:
                    rearm = True
                elif res < 0 and res != -errno.ECANCELED:
                    raise error(res)
            if not rearm:
                return

    def close(self) -> None:
        """Cancels the receives still using the pool; once the kernel has
        ended them, takes the chunks back and frees the region (at once when
        none is left). Idempotent."""
        if self._closing:
            return
        self._closing = True
        r = self._aio
        if self._ops and not r.closed:
            for op_id in list(self._ops):
                r.cancel_op(op_id)
            r.submit()
            r._schedule_flush()
        else:
            self._release()

    async def aclose(self) -> None:
        """close(), then waits until the region is back."""
        self.close()
        if self.region.closed:
            return
        if self._released is None:
            self._released = self._aio._loop_ref().create_future()
        await self._released

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def stream(self, fd: int) -> "RecvStream":
        """A multishot receive on fd from this pool, read with
        ``await stream.recv()`` (cheaper than iterating recv())."""
        return RecvStream(self, fd)


class RecvStream:
    """One connection's multishot receive from a BufferPool. ``await
    recv()`` returns the next message as bytes, b"" at end of stream, or
    raises OSError. Messages are copied out and their chunks recycled as
    they arrive; an empty pool (ENOBUFS) re-arms the receive by itself.
    close() ends it and submits what is queued on the ring, so the fd may
    be closed right after."""

    def __init__(self, pool: BufferPool, fd: int):
        self._aio = pool._aio
        self._pool = pool
        self.fd = fd
        self._items: "collections.deque[bytes]" = collections.deque()
        self._final: Optional[int] = None
        self._wakeup: Optional[asyncio.Future] = None
        self._op: Optional[int] = None
        self._closed = False
        if not self._arm():
            self._final = -errno.ENOBUFS  # the first recv() arms it, in turn

    def _arm(self) -> bool:
        # False when the op table is full (or others wait for it): recv()
        # then waits its turn and arms again.
        r = self._aio
        if r._backlog or r._sends.waiting:
            return False
        try:
            self._op = self._pool._arm(self.fd)
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
            return False
        r._streams[self._op] = self
        r._schedule_flush()
        return True

    # called by AioRing._drain
    def push(self, res: int, flags: int) -> None:
        """Called by the loop's ring for each completion of the receive (not for users): copies
        the message out and recycles its chunk."""
        if flags & CQE_F_BUFFER:
            # Per message, so straight to the C calls: copy out, give back.
            pool = self._pool
            chunk = flags >> CQE_BUFFER_SHIFT
            if res > 0:
                self._items.append(_unpack(pool._base + chunk * pool._chunk_size, res))
            r = _lib.rk_ring_recycle_chunk(self._aio.ring._ring, pool._handle, chunk)
            if r < 0:
                raise error(r)
        w = self._wakeup
        if w is not None and not w.done():
            w.set_result(None)

    def finish(self, res: int) -> None:
        """Called by the loop's ring for the receive's final completion (not for users): recv()
        re-arms it or ends."""
        self._op = None
        # A final completion that carried data, or ENOBUFS, only means the
        # kernel stopped this multishot: recv() arms it again.
        self._final = -errno.ENOBUFS if res > 0 else res
        w = self._wakeup
        if w is not None and not w.done():
            w.set_result(None)

    async def recv(self) -> bytes:
        """The next message as bytes; b"" at end of stream (or once closed); OSError
        (ConnectionResetError, ...) on an error."""
        while True:
            if self._items:
                return self._items.popleft()
            final = self._final
            if final is not None:
                if final == -errno.ENOBUFS and not self._aio.closed and not self._closed:
                    self._final = None
                    while not self._arm():
                        await self._aio._room()
                        if self._closed or self._aio.closed:
                            return b""
                    continue
                if final >= 0 or final == -errno.ECANCELED or final == -errno.ENOBUFS:
                    return b""
                raise error(final)
            self._wakeup = fut = self._aio._loop_ref().create_future()
            await fut

    def close(self) -> None:
        """Stops the receive (chunks still arriving are recycled) and submits
        it and every op queued before it: the fd may be closed right after.
        What a send_nowait on the fd reports from then on is dropped."""
        r = self._aio
        if self._closed:
            return
        self._closed = True
        if not r.closed:
            if self._op is not None:
                r.cancel_op(self._op)
        r.detach(self.fd)
        self._final = -errno.ECANCELED if self._final is None else self._final


# ringkit's own event loop (asyncio's, waiting in the ring): see _loop.py.
from ._loop import EventLoop, EventLoopPolicy, install, new_event_loop, run  # noqa: E402
