"""ringkit.aio's fire-and-forget sends (send_nowait) and the fd bookkeeping
that keeps one connection's sends, and their errors, off the next one.

Per connection, one send is in flight at a time and the others wait behind
it in order: the kernel does not order two sends on a socket that both wait
for room, so their bytes could interleave. What waits behind is joined into
one send when the one in flight completes.

An fd number's generation goes up whenever aio hands out a new file with
that number (accept, open, socket) or its user says aio is done with it
(detach: RecvStream.close(), aio.close_fd()). A send's failure is kept for
its own generation only. Sends still waiting when their fd is detached move
to a duplicate of it, so closing the fd loses nothing and sends nothing to
the file that gets the number next.
"""
import collections
import errno
import os
import socket
from typing import Deque, Dict, Tuple

from ._errors import error

SEND_ALL = socket.MSG_WAITALL | socket.MSG_NOSIGNAL


class _Queue:
    __slots__ = ("key", "fd", "gen", "dup", "items", "busy")

    def __init__(self, key: int, gen: int):
        self.key = key      # the fd number the user knows
        self.fd = key       # where the sends go: key, or dup once detached
        self.gen = gen
        self.dup = -1       # a duplicate of key this queue owns, or -1
        self.items: Deque[object] = collections.deque()
        self.busy = False   # a send in flight, or waiting for an op slot


def close_quietly(fd: int) -> None:
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


class Sends:
    def __init__(self, aio):
        self._aio = aio
        self._ring = aio.ring
        self._gen: Dict[int, int] = {}
        self._errors: Dict[int, Tuple[int, int]] = {}  # fd -> (generation, res)
        self._queues: Dict[int, _Queue] = {}           # fd -> its busy queue
        self._ops: Dict[int, _Queue] = {}              # op id in flight -> queue
        self.waiting: Deque[_Queue] = collections.deque()  # queues without a slot

    def send(self, fd, data) -> None:
        if type(fd) is not int:
            fd = fd.fileno()
        gen = self._gen.get(fd, 0)
        err = self._errors.pop(fd, None)
        if err is not None and err[0] == gen:
            raise error(err[1])
        q = self._queues.get(fd)
        if q is not None:
            q.items.append(data)
            return
        q = _Queue(fd, gen)
        aio = self._aio
        if not self.waiting and not aio._backlog:
            try:
                op_id = self._ring.send(fd, data, msg_flags=SEND_ALL)
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
            else:
                q.busy = True
                self._queues[fd] = q
                self._ops[op_id] = q
                aio._schedule_flush()
                return
        q.items.append(data)
        self._queues[fd] = q
        self._wait_for_slot(q)

    def _wait_for_slot(self, q: _Queue) -> None:
        q.busy = True
        self.waiting.append(q)
        self._aio._set_backlog()
        self._aio._schedule_flush()

    def _start(self, q: _Queue) -> bool:
        """Sends what q holds as one op: False when there is no slot."""
        data = q.items.popleft() if len(q.items) == 1 else b"".join(q.items)
        try:
            op_id = self._ring.send(q.fd, data, msg_flags=SEND_ALL)
        except OSError as e:
            if e.errno == errno.EBUSY:
                if len(q.items) != 1:
                    q.items.clear()
                    q.items.append(data)
                else:
                    q.items.appendleft(data)
                return False
            q.items.clear()
            self._failed(q, -e.errno)
            return True
        q.items.clear()
        q.busy = True
        self._ops[op_id] = q
        return True

    def _failed(self, q: _Queue, res: int) -> None:
        if self._gen.get(q.key, 0) == q.gen:
            self._errors[q.key] = (q.gen, res)
        self._idle(q)

    def _idle(self, q: _Queue) -> None:
        q.busy = False
        if self._queues.get(q.key) is q:
            del self._queues[q.key]
        close_quietly(q.dup)
        q.dup = -1

    def completed(self, op_id: int, res: int) -> bool:
        """A completion of ours? Then it is handled: the next send goes."""
        q = self._ops.pop(op_id, None)
        if q is None:
            return False
        q.busy = False
        if res < 0:
            q.items.clear()
            self._failed(q, res)
        elif not q.items:
            self._idle(q)
        elif not self._start(q):
            self._wait_for_slot(q)
        return True

    def on_room(self, free: int) -> int:
        """Starts waiting queues while slots are free: the slots left."""
        waiting = self.waiting
        while free > 0 and waiting:
            q = waiting[0]
            if not self._start(q):
                break
            waiting.popleft()
            free -= 1
        return free

    def fresh(self, fd: int) -> None:
        """aio made a new file with number fd. Sends still queued under the
        number belong to a file closed without detach(): they are dropped
        (the number is another file's now)."""
        self._gen[fd] = self._gen.get(fd, 0) + 1
        self._errors.pop(fd, None)
        q = self._queues.pop(fd, None)
        if q is not None and q.dup < 0:
            q.items.clear()
            if q in self.waiting:
                self.waiting.remove(q)
                self._aio._set_backlog()
                q.busy = False

    def detach(self, fd: int) -> None:
        """The user is done with fd (and may close it next): what is queued
        on it goes on through a duplicate; its later errors are dropped."""
        self._gen[fd] = self._gen.get(fd, 0) + 1
        self._errors.pop(fd, None)
        q = self._queues.pop(fd, None)
        if q is not None and q.items and q.dup < 0:
            q.dup = q.fd = os.dup(fd)

    def close(self) -> None:
        """The ring closed: nothing more goes out."""
        for q in list(self._queues.values()) + list(self._ops.values()) + list(self.waiting):
            q.items.clear()
            close_quietly(q.dup)
            q.dup = -1
        self._queues.clear()
        self._ops.clear()
        self.waiting.clear()

    def __len__(self) -> int:
        return len(self.waiting)
