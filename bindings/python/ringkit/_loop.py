"""ringkit's asyncio event loop (ringkit.aio.EventLoop): asyncio's own Unix
event loop, with its selector replaced by the loop's ring.

The loop waits in rk_reap, not in epoll: one call per pass submits what the
pass queued, waits for the nearest timer, and reaps every completion — the
ringkit.aio ops' (their tasks resume right there, as on any loop) and the
readiness of the descriptors asyncio watches (its transports, the self-pipe,
add_reader/add_writer), which are one-shot poll ops re-armed after each
event, so readiness stays level-triggered as asyncio expects. No eventfd
round trip sits between the ring and the loop.

Stream sockets get ringkit's completion-based transport (_transport.py);
a child process is watched through its pidfd, a poll op of the ring, so no
SIGCHLD handler or watcher thread is involved. Servers, datagram and pipe
transports, subprocess transports and signals are asyncio's own code.
"""
import asyncio
import errno
import os
import warnings
import select
import selectors
from asyncio import format_helpers, unix_events
from asyncio.log import logger
from typing import Dict, List, Optional, Tuple

from . import _loopcore
from ._aioloop import flush_writes as _flush_writes
from ._transport import RingSocketTransport

_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
_POLL_IN = select.POLLIN | select.POLLPRI
_POLL_OUT = select.POLLOUT


def _mask(events: int) -> int:
    return (_POLL_IN if events & _READ else 0) | (_POLL_OUT if events & _WRITE else 0)


class RingSelector(selectors.BaseSelector):
    """A selectors.BaseSelector whose waits are the ring's: what the loop
    registers becomes a one-shot poll op, and select() reaps the ring."""

    def __init__(self, loop: "EventLoop"):
        self._loop = loop
        self._aio = None
        self._keys: Dict[int, selectors.SelectorKey] = {}
        self._polls: Dict[int, int] = {}   # poll op id -> fd
        self._armed: Dict[int, int] = {}   # fd -> its poll op id
        self._rearm: Dict[int, None] = {}  # fds to arm before the next wait

    # -- the ring -------------------------------------------------------------

    def _ring(self):
        if self._aio is None:
            from . import aio
            self._aio = aio._loop_ring(self._loop)
        return self._aio

    def _arm(self, fd: int) -> None:
        key = self._keys.get(fd)
        if key is None or fd in self._armed:
            return
        try:
            op_id = self._ring().ring.poll_add(fd, _mask(key.events))
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
            self._rearm[fd] = None  # no slot now: at the next pass
            return
        self._polls[op_id] = fd
        self._armed[fd] = op_id

    def _disarm(self, fd: int) -> None:
        op_id = self._armed.pop(fd, None)
        self._rearm.pop(fd, None)
        if op_id is None:
            return
        del self._polls[op_id]
        r = self._ring()
        if r.closed:
            return
        r.cancel_op(op_id)
        # Submitted now: asyncio closes a descriptor right after it stops
        # watching it, and the poll would otherwise still hold the file.
        r.submit()

    # -- selectors.BaseSelector -------------------------------------------------

    def register(self, fileobj, events, data=None):
        if not events or events & ~(_READ | _WRITE):
            raise ValueError("Invalid events: %r" % events)
        fd = selectors._fileobj_to_fd(fileobj)
        if fd in self._keys:
            raise KeyError("%r (FD %d) is already registered" % (fileobj, fd))
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fd] = key
        self._arm(fd)
        return key

    def unregister(self, fileobj):
        fd = selectors._fileobj_to_fd(fileobj) if not isinstance(fileobj, int) else fileobj
        key = self._keys.pop(fd, None)
        if key is None:
            raise KeyError("%r is not registered" % (fileobj,))
        self._disarm(fd)
        return key

    def modify(self, fileobj, events, data=None):
        fd = selectors._fileobj_to_fd(fileobj)
        key = self._keys.get(fd)
        if key is None:
            raise KeyError("%r is not registered" % (fileobj,))
        if events != key.events:
            self._disarm(fd)
            key = key._replace(events=events, data=data)
            self._keys[fd] = key
            self._arm(fd)
        elif data != key.data:
            key = key._replace(data=data)
            self._keys[fd] = key
        return key

    def select(self, timeout: Optional[float] = None) -> List[Tuple[selectors.SelectorKey, int]]:
        r = self._aio
        if r is None:
            r = self._ring()
        if self._rearm:
            for fd in list(self._rearm):
                del self._rearm[fd]
                self._arm(fd)
        if timeout is not None and timeout < 0:
            timeout = 0
        _flush_writes(self._loop._write_ready)
        fired = r._drv.select(timeout, self._polls)
        if not fired:
            return fired
        out = []
        for op_id, res in fired:
            fd = self._polls.pop(op_id, None)
            if fd is None:
                continue  # unregistered after a flush reaped it
            del self._armed[fd]
            key = self._keys.get(fd)
            if key is None:
                continue
            if res < 0:
                # The poll itself failed (EBADF: closed under us): report it
                # ready both ways so the callback meets the error.
                events = key.events
            else:
                events = 0
                if res & ~_POLL_OUT:
                    events |= _READ
                if res & ~_POLL_IN:
                    events |= _WRITE
                events &= key.events
            self._rearm[fd] = None
            if events:
                out.append((key, events))
        return out

    def get_key(self, fileobj):
        fd = selectors._fileobj_to_fd(fileobj)
        try:
            return self._keys[fd]
        except KeyError:
            raise KeyError("%r is not registered" % (fileobj,)) from None

    def get_map(self):
        return _KeyMap(self._keys)

    def close(self):
        self._keys.clear()
        self._polls.clear()
        self._armed.clear()
        self._rearm.clear()
        pool, self._loop._pool = self._loop._pool, None
        if pool is not None:
            pool.close()
        if self._aio is not None:
            self._aio.close(_loop_closing=True)
            self._aio = None


class _KeyMap(selectors.Mapping):
    def __init__(self, keys):
        self._keys = keys

    def __len__(self):
        return len(self._keys)

    def __getitem__(self, fileobj):
        try:
            return self._keys[selectors._fileobj_to_fd(fileobj)]
        except KeyError:
            raise KeyError("%r is not registered" % (fileobj,)) from None

    def __iter__(self):
        return iter(self._keys)


def _callback_failed(handle, exc):
    # What asyncio's Handle._run does when the callback raises, for the
    # handles _loopcore runs.
    cb = format_helpers._format_callback_source(handle._callback, handle._args)
    context = {"message": "Exception in callback %s" % cb, "exception": exc, "handle": handle}
    if handle._source_traceback:
        context["source_traceback"] = handle._source_traceback
    handle._loop.call_exception_handler(context)


_loopcore.setup(_callback_failed)


class EventLoop(_loopcore.LoopCore, unix_events._UnixSelectorEventLoop):
    """An asyncio event loop on a ringkit ring (see the module's doc). Its
    call_soon and the pass of the loop (_run_once) are _loopcore's, in C."""

    # The buffer pool stream transports receive into: chunks big enough
    # that a large message does not arrive in many small pieces.
    _POOL_CHUNK = 128 * 1024
    _POOL_COUNT = 64

    def __init__(self):
        self._pool = None
        # Transports with writes for this pass's sends (each holds the list).
        self._write_ready = []
        # Transports waiting for an op slot to read (see
        # _transport._start_reading).
        self._waiting_readers = {}
        # The selector (and its ring) first: when the ring cannot be made,
        # nothing of the loop exists yet for __del__ to close. Readers leave
        # an eighth of the ring's op slots free.
        selector = RingSelector(self)
        self._read_reserve = selector._ring().ring.stats()["capacity"] // 8
        super().__init__(selector)

    def __del__(self, _warn=warnings.warn):
        if not hasattr(self, "_signal_handlers"):
            return  # __init__ failed before asyncio's loop was made: nothing to close
        super().__del__(_warn)

    def _wait_to_read(self, transport):
        # A transport found no op slot to read with: it waits here, asleep,
        # in turn, until a connection goes (_reader_left).
        self._waiting_readers[transport] = None

    def _reader_left(self, transport):
        waiting = self._waiting_readers
        if waiting:
            waiting.pop(transport, None)
        if waiting:
            first = next(iter(waiting))
            del waiting[first]
            self.call_soon(first._start_reading)

    def _make_socket_transport(self, sock, protocol, waiter=None, *, extra=None, server=None):
        aio = self._selector._ring()
        if self._pool is None:
            from .aio import BufferPool
            self._pool = BufferPool(self._POOL_CHUNK, self._POOL_COUNT, _aio=aio)
        return RingSocketTransport(self, aio, self._pool, sock, protocol, waiter, extra, server)

    async def _sendfile_native(self, transp, file, offset, count):
        try:
            return await super()._sendfile_native(transp, file, offset, count)
        except ConnectionError as exc:
            # The connection died under the file (EPIPE, ECONNRESET). asyncio's
            # loop finds that in its next read of the socket, within the same
            # pass; our receive may report it a pass later (on the fallback its
            # service thread sees it), so the transport closes here, at once.
            if isinstance(transp, RingSocketTransport):
                transp._force_close(exc)
            raise

    async def _make_subprocess_transport(self, protocol, args, shell, stdin, stdout, stderr,
                                         bufsize, extra=None, **kwargs):
        # asyncio's own, with the child watched by this loop through its
        # pidfd instead of a child watcher, unless the program gave the
        # policy a watcher of its own (asyncio.set_child_watcher): that one
        # is used then, as on asyncio's loop.
        if getattr(asyncio.get_event_loop_policy(), "_watcher", None) is not None:
            return await super()._make_subprocess_transport(
                protocol, args, shell, stdin, stdout, stderr, bufsize, extra=extra, **kwargs)
        waiter = self.create_future()
        transp = unix_events._UnixSubprocessTransport(
            self, protocol, args, shell, stdin, stdout, stderr, bufsize,
            waiter=waiter, extra=extra, **kwargs)
        self._watch_child(transp.get_pid(), transp)
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            transp.close()
            await transp._wait()
            raise
        return transp

    def _watch_child(self, pid, transp):
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as e:
            if e.errno not in (errno.ENOSYS, errno.EPERM):
                raise
            # No pidfds here (kernel before 5.3, or seccomp): asyncio's
            # watcher, as its own loop would.
            with asyncio.get_child_watcher() as watcher:
                watcher.add_child_handler(pid, self._child_watcher_callback, transp)
            return
        self._add_reader(pidfd, self._child_exited, pid, pidfd, transp)

    def _child_exited(self, pid, pidfd, transp):
        self._remove_reader(pidfd)
        os.close(pidfd)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            # Reaped by someone else (a waitpid(-1) elsewhere): asyncio's
            # watchers report 255 in that case too.
            warnings.warn("child process pid %d exit status already read: will report "
                          "returncode 255" % pid, RuntimeWarning)
            code = 255
        else:
            code = os.waitstatus_to_exitcode(status)
        if self._debug:
            logger.debug("process %s exited with returncode %s", pid, code)
        transp._process_exited(code)

    @property
    def backend(self) -> str:
        """"uring" or "fallback": what the loop's ring runs on."""
        return self._selector._ring().ring.backend

    def __repr__(self):
        try:
            backend = self.backend if not self.is_closed() else "closed"
        except Exception:  # repr never raises
            backend = "?"
        return "<%s running=%s closed=%s debug=%s backend=%s>" % (
            type(self).__name__, self.is_running(), self.is_closed(), self.get_debug(), backend)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """asyncio's default policy, making ringkit event loops."""

    def _loop_factory(self):
        return EventLoop()


def new_event_loop() -> EventLoop:
    """A new ringkit EventLoop (asyncio's Unix loop waiting in a ring)."""
    return EventLoop()


def install() -> None:
    """Makes ringkit's loop asyncio's default (the policy), as uvloop.install()."""
    asyncio.set_event_loop_policy(EventLoopPolicy())


def run(main, *, debug=None):
    """asyncio.run(main) on a new ringkit loop, closed afterwards: returns
    main's result, raises what it raises (RuntimeError when called from a
    running loop)."""
    if not hasattr(asyncio, "Runner"):  # Python 3.10
        return _run_without_runner(main, debug)
    with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


def _run_without_runner(main, debug):
    # asyncio.run's own steps (3.10's asyncio.runners), on ringkit's loop:
    # 3.10 has no asyncio.Runner to hand a loop factory to.
    if asyncio._get_running_loop() is not None:
        raise RuntimeError("ringkit.aio.run() cannot be called from a running event loop")
    if not asyncio.iscoroutine(main):
        raise ValueError("a coroutine was expected, got %r" % (main,))
    loop = new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        if debug is not None:
            loop.set_debug(debug)
        return loop.run_until_complete(main)
    finally:
        try:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
