"""Random sequences of ops, cancels, reaps, chunk alloc/free and closes,
checked against a model: exactly one final completion per id, no chunk freed
while in flight, stats agree, no fd leaked."""
import errno
import os

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, invariant, precondition, rule)

import ringkit

CAPACITY = 12
CHUNKS = 4


def fd_count():
    return len(os.listdir("/proc/self/fd"))


class RingModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.base_fds = fd_count()
        self.rfd, self.wfd = os.pipe()
        self.region = ringkit.Region(64, CHUNKS)
        self.ring = ringkit.Ring(4, capacity=CAPACITY)
        self.live = {}          # id -> kind
        self.done = set()       # ids whose final completion was reaped
        self.chunks = {}        # allocated chunk -> op id using it, or None
        self.buffers = {}       # id -> bytearray pinned by a read

    # -- ops ------------------------------------------------------------
    def _prep(self, fn, kind):
        if len(self.live) == CAPACITY:
            with pytest.raises(OSError) as e:
                fn()
            assert e.value.errno == errno.EBUSY
            return None
        op = fn()
        assert op not in self.live and op not in self.done
        self.live[op] = kind
        return op

    @rule()
    def nop(self):
        self._prep(self.ring.nop, "nop")

    @rule(size=st.integers(1, 32))
    def pipe_read(self, size):
        buf = bytearray(size)
        op = self._prep(lambda: self.ring.read(self.rfd, buf), "read")
        if op is not None:
            self.buffers[op] = buf

    @rule()
    def chunk_read(self):
        free = [c for c, user in self.chunks.items() if user is None]
        if not free:
            return
        c = free[0]
        op = self._prep(lambda: self.ring.read_chunk(self.rfd, self.region, c, length=16),
                        ("chunk", c))
        if op is not None:
            self.chunks[c] = op

    @rule(ms=st.integers(0, 3))
    def timeout(self, ms):
        self._prep(lambda: self.ring.timeout(ms / 1000), "timeout")

    @rule(n=st.integers(1, 64))
    def feed_pipe(self, n):
        os.write(self.wfd, b"d" * n)

    # Draws never depend on what has completed (timing): hypothesis replays
    # a draw sequence and must see the same shape, so a plain index is drawn
    # and mapped onto whatever the candidates are now.
    @rule(pick=st.integers(0, 1 << 16))
    def cancel(self, pick):
        candidates = sorted(self.live) + sorted(self.done)[-3:]
        if not candidates:
            return
        target = candidates[pick % len(candidates)]
        if target in self.done:
            with pytest.raises(FileNotFoundError):
                self.ring.cancel(target)
        else:
            self._prep(lambda: self.ring.cancel(target), "cancel")

    # -- completions ----------------------------------------------------
    @rule(wait=st.integers(0, 2))
    def reap(self, wait):
        # Only wait for what is sure to come (nops, timeouts, cancels).
        sure = sum(1 for k in self.live.values() if k in ("nop", "timeout", "cancel"))
        for op, res, flags in self.ring.reap(wait=min(wait, sure), timeout=2):
            assert not flags & ringkit.CQE_F_MORE
            assert op in self.live, "completion for an id that is not live: %d" % op
            assert op not in self.done, "second completion for %d" % op
            kind = self.live.pop(op)
            self.done.add(op)
            if isinstance(kind, tuple):
                self.chunks[kind[1]] = None
            buf = self.buffers.pop(op, None)
            if buf is not None:
                buf.append(0)  # released: resizable again
            if kind == "nop":
                assert res == 0

    # -- chunks ---------------------------------------------------------
    @rule()
    def alloc_chunk(self):
        if len(self.chunks) == CHUNKS:
            with pytest.raises(OSError):
                self.region.alloc()
        else:
            c = self.region.alloc()
            assert c not in self.chunks
            self.chunks[c] = None

    @rule(pick=st.integers(0, CHUNKS - 1))
    def free_chunk(self, pick):
        if not self.chunks:
            return
        c = sorted(self.chunks)[pick % len(self.chunks)]
        if self.chunks[c] is not None:
            with pytest.raises(OSError) as e:
                self.region.free(c)
            assert e.value.errno == errno.EBUSY
        else:
            self.region.free(c)
            del self.chunks[c]

    # -- close ------------------------------------------------------------
    @precondition(lambda self: len(self.live) > 0)
    @rule()
    def close_and_reopen(self):
        self.ring.close()
        for buf in self.buffers.values():
            buf.append(0)  # close released every pinned buffer
        self.buffers.clear()
        for c in self.chunks:
            self.chunks[c] = None
        self.done = set()  # ids are per ring: a new ring starts over
        self.live.clear()
        self.ring = ringkit.Ring(4, capacity=CAPACITY)

    @invariant()
    def stats_agree(self):
        assert self.ring.stats()["inflight"] == len(self.live)
        for buf in self.buffers.values():
            with pytest.raises(BufferError):
                buf.append(0)

    def teardown(self):
        self.ring.close()
        for c in list(self.chunks):
            self.region.free(c)
        self.region.close()
        os.close(self.rfd)
        os.close(self.wfd)
        assert fd_count() == self.base_fds


RingModel.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                                       database=None)
TestRingModel = RingModel.TestCase
