"""ringkit's asyncio event loop (ringkit.aio.EventLoop): asyncio's own Unix
event loop, with its selector replaced by the loop's ring.

The loop waits in rk_reap, not in epoll: one call per pass submits what the
pass queued, waits for the nearest timer, and reaps every completion — the
ringkit.aio ops' (their tasks resume right there, as on any loop) and the
readiness of the descriptors asyncio watches (its transports, the self-pipe,
add_reader/add_writer), which are one-shot poll ops re-armed after each
event, so readiness stays level-triggered as asyncio expects. No eventfd
round trip sits between the ring and the loop.

Transports, servers, subprocesses and signals are asyncio's own code, so
their semantics are asyncio's exactly.
"""
import asyncio
import errno
import select
import selectors
from asyncio import unix_events
from typing import Dict, List, Optional, Tuple

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
        try:
            r.ring.cancel(op_id)
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
            r.submit()
            try:
                r.ring.cancel_sync(op_id)
            except OSError:
                pass  # it ended meanwhile
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
        r = self._ring()
        for fd in list(self._rearm):
            del self._rearm[fd]
            self._arm(fd)
        if timeout is not None and timeout < 0:
            timeout = 0
        fired = r._drv.select(timeout, self._polls)
        out = []
        for op_id, res in fired:
            fd = self._polls.pop(op_id)
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


class EventLoop(unix_events._UnixSelectorEventLoop):
    """An asyncio event loop on a ringkit ring (see the module's doc)."""

    def __init__(self):
        super().__init__(RingSelector(self))

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
