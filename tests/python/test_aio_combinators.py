"""ringkit.aio's waiters inside asyncio's own combinators, with CPython's
semantics as the reference: every scenario runs once with a plain
asyncio.Future (completed by the selector when a pipe becomes readable) and
once with aio.read on the same kind of pipe, and both must end the same way:
same results, same exception types and messages, nothing logged.

A waiter is future-like where asyncio takes futures (gather, wait_for,
shield, as_completed, ensure_future) and coroutine-like where asyncio tells
the two apart: create_task() and TaskGroup take it, and asyncio.wait()
refuses it as it refuses a coroutine (wrap it in a task, as for a
coroutine). Pipe.waitable() makes that one difference explicit."""
import asyncio
import os
import sys

import pytest

from ringkit import aio


class Pipe:
    """An empty pipe and a pending read of it, as a Future or as a waiter."""

    def __init__(self, kind):
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        self.kind = kind
        self.buf = bytearray(8)

    def op(self):
        if self.kind == "aio":
            return aio.read(self.r, self.buf)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def ready():
            loop.remove_reader(self.r)
            if not fut.done():
                fut.set_result(os.readv(self.r, [self.buf]))
        loop.add_reader(self.r, ready)
        fut.add_done_callback(lambda f: loop.remove_reader(self.r))
        return fut

    def waitable(self, op):
        """What asyncio.wait() takes for op: the future itself; a task
        around a waiter, as around a coroutine."""
        return asyncio.ensure_future(op) if self.kind != "aio" else asyncio.create_task(op)

    def feed(self, data=b"data"):
        os.write(self.w, data)

    def close(self):
        os.close(self.r)
        os.close(self.w)


def outcome(x):
    """A comparable description of a result or an exception."""
    if isinstance(x, BaseException):
        if isinstance(x, BaseExceptionGroup):
            return ("group", sorted(outcome(e) for e in x.exceptions))
        return (type(x).__name__, str(x))
    if isinstance(x, (list, tuple)):
        return [outcome(e) for e in x]
    return ("value", x)


def run_both(scenario):
    """Runs scenario(pipe_factory) with Futures and with waiters; returns the
    two outcomes after checking that nothing was logged in either run."""
    results = {}
    for kind in ("future", "aio"):
        logged = []
        pipes = []

        def make():
            p = Pipe(kind)
            pipes.append(p)
            return p

        async def main():
            asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: logged.append(ctx))
            try:
                return outcome(await scenario(make))
            except BaseException as e:  # the scenario's own end, compared too
                return ("raised",) + outcome(e)
            finally:
                await asyncio.sleep(0.05)  # late callbacks would log here
        try:
            results[kind] = asyncio.run(main())
        finally:
            for p in pipes:
                p.close()
        assert not logged, "%s: the loop logged %r" % (kind, logged)
    return results["future"], results["aio"]


def same(scenario):
    ref, ours = run_both(scenario)
    assert ours == ref
    return ref


def test_wait_for_gather_times_out():
    async def sc(make):
        p = make()
        op = p.op()
        try:
            await asyncio.wait_for(asyncio.gather(op), 0.1)
        except asyncio.TimeoutError as e:
            return [e, op.cancelled()]
    assert same(sc)[1] == ("value", True)


def test_gather_return_exceptions_with_a_cancelled_child():
    async def sc(make):
        a, b = make(), make()
        op_a, op_b = a.op(), b.op()
        op_a.cancel("stop it")
        b.feed(b"xy")
        return await asyncio.gather(op_a, op_b, return_exceptions=True)
    assert same(sc) == [("CancelledError", "stop it"), ("value", 2)]


def test_gather_with_a_cancelled_child_raises():
    async def sc(make):
        p = make()
        op = p.op()
        t = asyncio.ensure_future(asyncio.gather(op))
        await asyncio.sleep(0.01)
        op.cancel()
        await t
    assert same(sc)[:2] == ("raised", "CancelledError")


def test_gather_cancelled_from_outside():
    async def sc(make):
        a, b = make(), make()
        g = asyncio.gather(a.op(), b.op())
        await asyncio.sleep(0.01)
        g.cancel("outer")
        try:
            await g
        except asyncio.CancelledError as e:
            return [e, g.cancelled()]
    same(sc)


def test_gather_first_error_others_keep_running():
    async def sc(make):
        p = make()
        op = p.op()
        bad = asyncio.get_running_loop().create_future()
        bad.set_exception(OSError(9, "boom"))
        try:
            await asyncio.gather(op, bad)
        except OSError as e:
            p.feed()
            return [e, await op]
    same(sc)


def test_wait_with_timeout_then_completion():
    async def sc(make):
        p = make()
        op = p.waitable(p.op())
        done, pending = await asyncio.wait([op], timeout=0.05)
        first = (len(done), len(pending))
        p.feed(b"abc")
        done, pending = await asyncio.wait([op])
        return [first, (len(done), len(pending)), op.result()]
    assert same(sc)[2] == ("value", 3)


def test_wait_first_completed():
    async def sc(make):
        a, b = make(), make()
        op_a, op_b = a.waitable(a.op()), b.waitable(b.op())
        b.feed(b"z")
        done, pending = await asyncio.wait([op_a, op_b], return_when=asyncio.FIRST_COMPLETED)
        res = [op_b in done, op_a in pending]
        op_a.cancel()
        await asyncio.wait([op_a])
        return res + [op_a.cancelled()]
    same(sc)


def test_wait_refuses_a_bare_waiter_as_a_coroutine():
    async def coro():
        pass

    async def main():
        p = Pipe("aio")
        op = p.op()
        c = coro()
        errors = []
        for x in (c, op):
            try:
                await asyncio.wait([x])
            except TypeError as e:
                errors.append(str(e))
        c.close()
        op.cancel()
        try:
            await op
        except asyncio.CancelledError:
            pass
        p.close()
        return errors
    errors = asyncio.run(main())
    assert len(errors) == 2 and errors[0] == errors[1]


def test_wait_for_times_out_and_cancels_the_op():
    async def sc(make):
        p = make()
        op = p.op()
        try:
            await asyncio.wait_for(op, 0.05)
        except asyncio.TimeoutError as e:
            return [e, op.done(), op.cancelled()]
    assert same(sc)[1:] == [("value", True), ("value", True)]


def test_wait_for_completes_in_time():
    async def sc(make):
        p = make()
        p.feed(b"12345")
        return await asyncio.wait_for(p.op(), 5)
    assert same(sc) == ("value", 5)


def test_shield_keeps_the_op_alive():
    async def sc(make):
        p = make()
        op = p.op()
        outer = asyncio.ensure_future(asyncio.shield(op))
        await asyncio.sleep(0.01)
        outer.cancel()
        try:
            await outer
        except asyncio.CancelledError:
            pass
        cancelled_inner = op.cancelled()
        p.feed(b"later")
        return [cancelled_inner, await op]
    assert same(sc) == [("value", False), ("value", 5)]


def test_as_completed_order():
    async def sc(make):
        a, b = make(), make()
        ops = [a.op(), b.op()]
        b.feed(b"1")
        order = []
        for i, fut in enumerate(asyncio.as_completed(ops, timeout=5)):
            order.append(await fut)
            if i == 0:
                a.feed(b"22")
        return order
    assert same(sc) == [("value", 1), ("value", 2)]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is 3.11+")
def test_timeout_context():
    async def sc(make):
        p = make()
        op = p.op()
        try:
            async with asyncio.timeout(0.05):
                await op
        except TimeoutError as e:
            return [e, op.cancelled()]
    same(sc)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TaskGroup is 3.11+")
def test_task_group_cancels_siblings_awaiting_ops():
    async def sc(make):
        a, b = make(), make()

        async def reader(p):
            return await p.op()

        async def failer():
            await asyncio.sleep(0.02)
            raise ValueError("bad")
        try:
            async with asyncio.TaskGroup() as tg:
                t1 = tg.create_task(reader(a))
                t2 = tg.create_task(reader(b))
                tg.create_task(failer())
        except BaseExceptionGroup as eg:
            return [eg, t1.cancelled(), t2.cancelled()]
    assert same(sc)[1:] == [("value", True), ("value", True)]


def test_task_cancel_message_reaches_the_awaiter():
    async def sc(make):
        p = make()

        async def reader():
            return await p.op()
        t = asyncio.ensure_future(reader())
        await asyncio.sleep(0.01)
        t.cancel("goodbye")
        try:
            await t
        except asyncio.CancelledError as e:
            return [e, t.cancelled()]
    same(sc)


def test_cancelled_op_result_and_exception():
    async def sc(make):
        p = make()
        op = p.op()
        op.cancel("why")
        await asyncio.gather(op, return_exceptions=True)
        out = [op.cancelled()]
        for call in (op.result, op.exception):
            try:
                call()
            except asyncio.CancelledError as e:
                out.append(e)
        return out
    assert same(sc) == [("value", True), ("CancelledError", "why"), ("CancelledError", "why")]


def test_ensure_future_and_isfuture():
    async def sc(make):
        p = make()
        op = p.op()
        res = [asyncio.isfuture(op), asyncio.ensure_future(op) is op,
               op.get_loop() is asyncio.get_running_loop()]
        p.feed()
        await op
        return res
    assert same(sc) == [("value", True)] * 3


def test_add_remove_done_callback():
    async def sc(make):
        p = make()
        op = p.op()
        seen = []
        cb = seen.append
        op.add_done_callback(cb)
        op.add_done_callback(lambda f: seen.append("second"))
        removed = op.remove_done_callback(cb)
        p.feed()
        await op
        await asyncio.sleep(0)
        return [removed, seen]
    assert same(sc) == [("value", 1), [("value", "second")]]
