"""The pass of ringkit's EventLoop and its call_soon, time, create_future,
create_task, call_at and call_later, which _loopcore runs in C: asyncio's
semantics where CPython's suites do not pin them down (what a raising
callback reports, KeyboardInterrupt leaving the loop with the rest still
queued, cancelled handles, the pruning of cancelled timers, debug mode's
slow-callback warning, the task factory, errors of the timed calls)."""
import asyncio
import logging
import time

import pytest

from ringkit import aio


@pytest.fixture
def loop():
    loop = aio.new_event_loop()
    yield loop
    loop.close()


def test_call_soon_makes_asyncios_handle_and_runs_in_order(loop):
    seen = []
    h = loop.call_soon(seen.append, 1)
    assert type(h) is asyncio.Handle and not h.cancelled()
    loop.call_soon(seen.append, 2, context=None)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == [1, 2]
    with pytest.raises(TypeError):
        loop.call_soon(seen.append, 1, bogus=1)


def test_callback_context_is_the_one_given():
    import contextvars
    var = contextvars.ContextVar("v", default="none")
    ctx = contextvars.copy_context()
    ctx.run(var.set, "given")
    loop = aio.new_event_loop()
    try:
        got = []
        loop.call_soon(lambda: got.append(var.get()), context=ctx)
        var.set("outside")
        loop.call_soon(lambda: got.append(var.get()))  # a copy of the current one
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert got == ["given", "outside"]
    finally:
        loop.close()


def test_raising_callback_goes_to_the_exception_handler(loop):
    reports = []
    loop.set_exception_handler(lambda lp, ctx: reports.append(ctx))

    def boom(x):
        raise ValueError(x)
    h = loop.call_soon(boom, "bad")
    loop.call_soon(loop.stop)
    loop.run_forever()
    (ctx,) = reports
    assert ctx["message"].startswith("Exception in callback ")
    assert "boom" in ctx["message"]
    assert isinstance(ctx["exception"], ValueError) and ctx["handle"] is h


def test_keyboard_interrupt_leaves_the_loop_and_the_rest_runs_next(loop):
    seen = []

    def interrupt():
        raise KeyboardInterrupt
    loop.call_soon(interrupt)
    loop.call_soon(seen.append, "after")
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    assert seen == []
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["after"]


def test_cancelled_handles_and_timers_do_not_run(loop):
    seen = []
    loop.call_soon(seen.append, "soon").cancel()
    loop.call_later(0.001, seen.append, "later").cancel()
    loop.call_later(0.01, loop.stop)
    loop.run_forever()
    assert seen == []


def test_many_cancelled_timers_are_pruned(loop):
    timers = [loop.call_later(3600, print) for _ in range(300)]
    for t in timers[:200]:
        t.cancel()
    assert loop._timer_cancelled_count == 200
    loop.call_soon(loop.stop)
    loop.run_forever()
    # More than half of over 100 were cancelled: the heap was rebuilt.
    assert len(loop._scheduled) == 100 and loop._timer_cancelled_count == 0
    assert all(not t._scheduled for t in timers[:200])
    for t in timers[200:]:
        t.cancel()


def test_timers_fire_in_order_of_their_time(loop):
    seen = []
    for d in (0.03, 0.01, 0.02):
        loop.call_later(d, seen.append, d)
    loop.call_later(0.05, loop.stop)
    loop.run_forever()
    assert seen == [0.01, 0.02, 0.03]


def test_debug_mode_reports_slow_callbacks(loop, caplog):
    loop.set_debug(True)
    loop.slow_callback_duration = 0.01
    loop.call_soon(time.sleep, 0.03)
    loop.call_soon(loop.stop)
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.run_forever()
    assert any("took" in r.getMessage() and "sleep" in r.getMessage() for r in caplog.records)


def test_closed_loop_refuses_call_soon():
    loop = aio.new_event_loop()
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(print)


def test_closed_loop_refuses_the_timed_calls_and_tasks():
    loop = aio.new_event_loop()
    loop.close()
    coro = asyncio.sleep(0)
    for call in (lambda: loop.call_at(1.0, print), lambda: loop.call_later(1.0, print),
                 lambda: loop.create_task(coro)):
        with pytest.raises(RuntimeError, match="closed"):
            call()
    coro.close()
    assert loop.create_future().get_loop() is loop  # asyncio's does not check either


def test_timed_calls_as_asyncios(loop):
    now = loop.time()
    assert abs(now - time.monotonic()) < 0.1 and loop.time() >= now
    seen = []
    h = loop.call_later(0.02, seen.append, "later")
    t = loop.call_at(now + 0.01, seen.append, "at", context=None)
    assert type(h) is asyncio.TimerHandle and h.when() >= now + 0.02
    assert t.when() == now + 0.01 and t in loop._scheduled
    c = loop.call_later(0.001, seen.append, "cancelled")
    c.cancel()
    loop.call_later(0.05, loop.stop)
    loop.run_forever()
    assert seen == ["at", "later"]
    with pytest.raises(TypeError):
        loop.call_later(None, print)
    with pytest.raises(TypeError):
        loop.call_at(None, print)
    with pytest.raises(TypeError):
        loop.call_at(1.0, print, bogus=1)


def test_create_task_names_contexts_and_the_factory(loop):
    import contextvars
    var = contextvars.ContextVar("var", default="outer")

    async def get():
        return var.get()
    ctx = contextvars.copy_context()
    ctx.run(var.set, "inner")
    task = loop.create_task(get(), name="named", context=ctx)
    assert task.get_name() == "named" and task.get_loop() is loop
    assert loop.run_until_complete(task) == "inner"
    made = []

    def factory(lp, coro, **kw):
        made.append(kw)
        return asyncio.Task(coro, loop=lp, **kw)
    loop.set_task_factory(factory)
    task = loop.create_task(get(), name="via factory")
    assert loop.run_until_complete(task) == "outer"
    assert task.get_name() == "via factory" and made == [{}]
    coro = get()
    with pytest.raises(TypeError):
        loop.create_task(coro, bogus=1)
    coro.close()


def test_debug_mode_keeps_asyncios_checks(loop):
    loop.set_debug(True)
    with pytest.raises(TypeError, match="coroutines cannot be used"):
        loop.call_at(loop.time(), asyncio.sleep)
    task = loop.create_task(asyncio.sleep(0))
    assert task._source_traceback  # debug mode records where it was made
    loop.run_until_complete(task)
