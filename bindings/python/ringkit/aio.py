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
waiter itself, which is awaitable and also accepted by create_task().
"""
import asyncio
import collections
import errno
import os
import socket as _socket
import weakref
from typing import AsyncIterator, Awaitable, Callable, Dict, Optional, Sequence, Tuple

from . import _aioloop, _sockaddr, _statx
from ._core import _MSG_VALUE_MASK, AT_FDCWD, CQE_BUFFER_SHIFT, CQE_F_BUFFER, CQE_F_MORE, RecvMsg, Ring
from ._errors import error
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

    def __init__(self, loop: asyncio.AbstractEventLoop, entries: int = 256, **ring_kw):
        if not ring_kw:
            ring_kw = _default_flags()
        self.ring = Ring(entries, **ring_kw)
        self._loop_ref = weakref.ref(loop)
        self._streams: Dict[int, "_Stream"] = {}
        self._drv = _aioloop.Driver(self.ring._addr,
                                    self.ring.stats()["capacity"], self.ring._pins, loop,
                                    self._on_other)
        # Waiters still pending when the ring closes finish as cancelled.
        self.ring._on_close = self._drv.detach
        self._groups = set()
        self._send_errors: Dict[int, int] = {}
        self._quiet: Dict[int, int] = {}  # fire-and-forget op id -> fd
        self.on_message = None  # callable(value, res) for msg_ring messages
        self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.ring.register_eventfd(self._efd)
        loop.add_reader(self._efd, self._on_event)
        # The loop's own collection closes the ring, so asyncio.run() needs no
        # extra call; close() does it deterministically.
        self._finalizer = weakref.finalize(loop, _close_ring, self.ring, self._efd)

    @property
    def closed(self) -> bool:
        return self.ring.closed

    def close(self) -> None:
        """Fails every pending await with CancelledError, cancels the ops and
        closes the ring (which waits until the kernel is done with them)."""
        if self.ring.closed:
            return
        loop = self._loop_ref()
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._efd)
        for stream in self._streams.values():
            stream.finish(-errno.ECANCELED)
        self._streams.clear()
        self._finalizer()
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
                    del streams[op_id]
                    stream.finish(res)
                continue
            fd = self._quiet.pop(op_id, None)
            if fd is not None:
                if res < 0:
                    self._send_errors[fd] = res
            elif op_id < 0 and self.on_message is not None:
                self.on_message(op_id & _MSG_VALUE_MASK, res)

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
            return await w
        except asyncio.CancelledError:
            res = w.res
            if fd_result and res is not None and res >= 0:
                os.close(res)
            raise


def _default_flags() -> Dict[str, bool]:
    # A loop's ring is only ever driven from the loop's thread, so completions
    # can wait until the loop reaps them (DEFER_TASKRUN): no interrupts while
    # Python runs, about half the kernel time per socket op. The kernel
    # signals the eventfd for such deferred work from 6.2 on; before that,
    # COOP_TASKRUN is the next best thing.
    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    except ValueError:
        major, minor = 0, 0
    if (major, minor) >= (6, 2):
        return {"single_issuer": True, "defer_taskrun": True}
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


# The C ops find the running loop's driver themselves; a loop without a ring
# yet gets one through this.
_aioloop.setup(lambda loop: ring(loop)._drv, error)


def close(loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
    """Closes the loop's ring now (otherwise it closes with the loop)."""
    r = _rings.get(loop or asyncio.get_running_loop())
    if r is not None:
        r.close()


def _close_ring(ring_obj: Ring, efd: int) -> None:
    ring_obj.close()
    try:
        os.close(efd)
    except OSError:
        pass


# -- files -------------------------------------------------------------------

async def nop() -> int:
    r = ring()
    return await r.run(r.ring.nop())


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
    r = ring()
    return await r.run(r.ring.readv(fd, bufs, offset))


async def writev(fd, bufs: Sequence, offset: int = -1) -> int:
    r = ring()
    return await r.run(r.ring.writev(fd, bufs, offset))


async def read_chunk(fd, region: Region, chunk: int, offset: int = -1,
                     length: Optional[int] = None) -> int:
    r = ring()
    return await r.run(r.ring.read_chunk(fd, region, chunk, offset, length=length))


async def write_chunk(fd, region: Region, chunk: int, offset: int = -1,
                      length: Optional[int] = None) -> int:
    r = ring()
    return await r.run(r.ring.write_chunk(fd, region, chunk, offset, length=length))


async def open(path, flags: int = os.O_RDONLY, mode: int = 0o644, *,
               dir_fd: int = AT_FDCWD) -> int:
    """openat(2); returns the fd (closed again if the task is cancelled)."""
    r = ring()
    return await r.run(r.ring.openat(path, flags | os.O_CLOEXEC, mode, dir_fd=dir_fd), True)


async def close_fd(fd: int) -> None:
    r = ring()
    await r.run(r.ring.close_fd(fd))


async def statx(path, *, mask: int = 0x7FF, at_flags: int = 0,
                dir_fd: int = AT_FDCWD) -> _statx.Statx:
    buf = bytearray(_statx.SIZE)
    r = ring()
    await r.run(r.ring.statx(path, buf, mask=mask, at_flags=at_flags, dir_fd=dir_fd))
    return _statx.parse(buf)


async def fsync(fd, *, datasync: bool = False) -> None:
    r = ring()
    await r.run(r.ring.fsync(fd, datasync=datasync))


async def unlink(path, *, dir_fd: int = AT_FDCWD, rmdir: bool = False) -> None:
    r = ring()
    await r.run(r.ring.unlinkat(path, at_flags=0x200 if rmdir else 0, dir_fd=dir_fd))


async def mkdir(path, mode: int = 0o777, *, dir_fd: int = AT_FDCWD) -> None:
    r = ring()
    await r.run(r.ring.mkdirat(path, mode, dir_fd=dir_fd))


async def rename(old, new, *, rename_flags: int = 0) -> None:
    r = ring()
    await r.run(r.ring.renameat(old, new, rename_flags=rename_flags))


async def link(old, new) -> None:
    r = ring()
    await r.run(r.ring.linkat(old, new))


async def symlink(target, linkpath) -> None:
    r = ring()
    await r.run(r.ring.symlinkat(target, linkpath))


async def fallocate(fd, offset: int, length: int, mode: int = 0) -> None:
    r = ring()
    await r.run(r.ring.fallocate(fd, offset, length, mode=mode))


async def fadvise(fd, offset: int, length: int, advice: int) -> None:
    r = ring()
    await r.run(r.ring.fadvise(fd, offset, length, advice))


async def splice(fd_in: int, off_in: int, fd_out: int, off_out: int, nbytes: int,
                 splice_flags: int = 0) -> int:
    r = ring()
    return await r.run(r.ring.splice(fd_in, off_in, fd_out, off_out, nbytes,
                                     splice_flags=splice_flags))


async def tee(fd_in: int, fd_out: int, nbytes: int, splice_flags: int = 0) -> int:
    r = ring()
    return await r.run(r.ring.tee(fd_in, fd_out, nbytes, splice_flags=splice_flags))


async def poll(fd, mask: int) -> int:
    """Waits until fd is ready for `mask` (select.POLLIN, ...); the ready mask."""
    r = ring()
    return await r.run(r.ring.poll_add(fd, mask))


async def sleep(seconds: float) -> None:
    """Sleeps on an io_uring timeout."""
    r = ring()
    try:
        await r.run(r.ring.timeout(seconds))
    except OSError as e:
        if e.errno != errno.ETIME:  # -ETIME is how a timeout completes
            raise


# -- sockets -------------------------------------------------------------------

async def socket(family: int = _socket.AF_INET, type: int = _socket.SOCK_STREAM,
                 proto: int = 0) -> int:
    """socket(2) through the ring: a raw fd (wrap with socket.socket(fileno=fd))."""
    r = ring()
    return await r.run(r.ring.socket(family, type | _socket.SOCK_CLOEXEC, proto), True)


async def bind(fd, address) -> None:
    r = ring()
    await r.run(r.ring.bind(fd, address))


async def listen(fd, backlog: int = 128) -> None:
    r = ring()
    await r.run(r.ring.listen(fd, backlog))


async def connect(fd, address) -> None:
    r = ring()
    await r.run(r.ring.connect(fd, address))


async def accept(fd) -> Tuple[int, object]:
    """Accepts a connection: (new fd, peer address)."""
    r = ring()
    addr = bytearray(_sockaddr.SOCKADDR_MAX)
    new_fd = await r.run(r.ring.accept(fd, addr, accept_flags=_socket.SOCK_CLOEXEC), True)
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
    """Queues a send of all of `data` (MSG_WAITALL: never short) and returns
    at once, like asyncio's writer.write(). The ring holds `data` until the
    kernel is done with it. A failure is raised by the next send_nowait on
    the same fd (the connection is usually finished by then anyway)."""
    r = ring()
    err = r._send_errors.pop(fd, None)
    if err is not None:
        raise error(err)
    op_id = r.ring.send(fd, data, msg_flags=_socket.MSG_WAITALL | _socket.MSG_NOSIGNAL)
    r._quiet[op_id] = fd
    r._schedule_flush()


async def sendmsg(fd, bufs: Sequence, address=None, fds: Sequence[int] = (),
                  msg_flags: int = 0) -> int:
    """sendmsg(2): gather bufs, optionally to `address`, passing `fds`
    (SCM_RIGHTS). Returns the bytes sent."""
    r = ring()
    return await r.run(r.ring.sendmsg(fd, bufs, address, fds,
                                      msg_flags=msg_flags | _socket.MSG_NOSIGNAL))


async def recvmsg(fd, bufsize: int, fds_cap: int = 0,
                  msg_flags: int = 0) -> Tuple[bytes, object, list, int]:
    """recvmsg(2) of up to bufsize bytes: (data, source address or None,
    received fds — now the caller's, msg flags). Received descriptors are
    close-on-exec. If the task is cancelled after they arrived, they are
    closed."""
    r = ring()
    buf = bytearray(bufsize)
    msg = RecvMsg(fds_cap)
    op_id = r.ring.recvmsg(fd, [buf], msg, msg_flags=msg_flags | _socket.MSG_CMSG_CLOEXEC)
    try:
        n = await r.run(op_id)
    except asyncio.CancelledError:
        for received in msg.fds:
            os.close(received)
        raise
    del buf[n:]
    return bytes(buf), msg.address, msg.fds, msg.flags


async def send_zc(fd, data, msg_flags: int = 0) -> int:
    """Zero-copy send; returns the byte count once the kernel no longer
    needs `data` (the final notification), so `data` may be reused then."""
    r = ring()
    op_id = r.ring.send_zc(fd, data, msg_flags=msg_flags | _socket.MSG_NOSIGNAL)
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
    await r.run(r.ring.msg_ring(target.ring if isinstance(target, AioRing) else target,
                                value, res))


async def shutdown(fd, how: int = _socket.SHUT_WR) -> None:
    r = ring()
    await r.run(r.ring.shutdown(fd, how))


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
            try:
                r.ring.cancel(op_id)
                r._schedule_flush()
            except OSError:
                pass
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
        op_id = r.ring.accept_multishot(fd, accept_flags=_socket.SOCK_CLOEXEC)
        async for res, flags in _multishot(r, op_id, True):
            if res >= 0:
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
    """

    def __init__(self, chunk_size: int = 4096, count: int = 256):
        self._aio = ring()
        free = [g for g in range(16) if g not in self._aio._groups]
        if not free:
            raise error(-errno.ENOSPC)
        self.group = free[0]
        self.region = Region(chunk_size, count)
        try:
            self._aio.ring.provide_region(self.region, self.group)
        except BaseException:
            self.region.close()
            raise
        self._aio._groups.add(self.group)
        self._handle = self.region._handle()
        self._base = _ffi.cast("char *", _lib.rk_chunk_ptr(self._handle, 0))
        self._chunk_size = chunk_size

    async def recv(self, fd) -> AsyncIterator[bytes]:
        """Yields each message received on fd as bytes until end of stream;
        raises OSError (ConnectionResetError, ...) on errors. Chunks go back
        to the kernel as soon as their bytes are copied out; when the pool ran
        dry (ENOBUFS) the receive is armed again by itself."""
        r, region = self._aio, self.region
        while True:
            op_id = r.ring.recv_multishot(fd, self.group)
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
        """Takes the chunks back from the kernel and frees the region."""
        if self.group in self._aio._groups:
            if not self._aio.closed:
                self._aio.ring.unprovide_region(self.region)
            self._aio._groups.discard(self.group)
        self.region.close()

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
    they arrive; an empty pool (ENOBUFS) re-arms the receive by itself."""

    def __init__(self, pool: BufferPool, fd: int):
        self._aio = pool._aio
        self._pool = pool
        self.fd = fd
        self._items: "collections.deque[bytes]" = collections.deque()
        self._final: Optional[int] = None
        self._wakeup: Optional[asyncio.Future] = None
        self._op: Optional[int] = None
        self._arm()

    def _arm(self) -> None:
        r = self._aio
        self._op = r.ring.recv_multishot(self.fd, self._pool.group)
        r._streams[self._op] = self
        r._schedule_flush()

    # called by AioRing._drain
    def push(self, res: int, flags: int) -> None:
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
        self._op = None
        # A final completion that carried data, or ENOBUFS, only means the
        # kernel stopped this multishot: recv() arms it again.
        self._final = -errno.ENOBUFS if res > 0 else res
        w = self._wakeup
        if w is not None and not w.done():
            w.set_result(None)

    async def recv(self) -> bytes:
        while True:
            if self._items:
                return self._items.popleft()
            final = self._final
            if final is not None:
                if final == -errno.ENOBUFS and not self._aio.closed:
                    self._final = None
                    self._arm()
                    continue
                if final >= 0 or final == -errno.ECANCELED or final == -errno.ENOBUFS:
                    return b""
                raise error(final)
            self._wakeup = fut = self._aio._loop_ref().create_future()
            await fut

    def close(self) -> None:
        """Stops the receive (chunks still arriving are recycled)."""
        if self._op is not None and not self._aio.closed:
            try:
                self._aio.ring.cancel(self._op)
                self._aio._schedule_flush()
            except OSError:
                pass
        self._final = -errno.ECANCELED if self._final is None else self._final
