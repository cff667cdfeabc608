"""pytest plugin: every test runs with ringkit's EventLoopPolicy installed,
so asyncio.run(), IsolatedAsyncioTestCase and asyncio.new_event_loop() give
ringkit's EventLoop. Prints how many such loops were made, so a caller can
tell the policy took effect. Used by test_loop_cpython_policy.py."""
import asyncio

import pytest

from ringkit import aio

_made = [0]
_init = aio.EventLoop.__init__


def _counting_init(self, *args, **kw):
    _made[0] += 1
    _init(self, *args, **kw)


aio.EventLoop.__init__ = _counting_init


@pytest.fixture(autouse=True)
def _ringkit_policy():
    asyncio.set_event_loop_policy(aio.EventLoopPolicy())
    yield


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line("ringkit EventLoops made: %d" % _made[0])
