"""CPython's own asyncio tests (Debian's libpython3.X-testsuite) run against
ringkit's EventLoop: the loop-agnostic mixins of test_events,
test_sock_lowlevel, test_sendfile, test_buffered_proto and test_server, each given our
loop where they make asyncio's. What is skipped here, and why, is listed in
SKIPPED below and in doc/python-guide.md."""
import sys
import unittest

import pytest

from ringkit import aio

try:
    from test.test_asyncio import test_buffered_proto, test_events, test_sendfile, test_server
    from test.test_asyncio import test_sock_lowlevel
    from test.test_asyncio import utils as test_utils
except ImportError:  # pragma: no cover - the package is what tools/deps.sh installs
    pytest.skip("CPython's test suite is not installed (libpython3-testsuite)",
                allow_module_level=True)

# Tests of the default loop's internals rather than of asyncio's behaviour.
SKIPPED = {
}


def _skip(cls):
    for name, why in SKIPPED.items():
        if hasattr(cls, name):
            setattr(cls, name, unittest.skip(why)(getattr(cls, name)))
    return cls


@_skip
class RingkitEventLoopTests(test_events.UnixEventLoopTestsMixin,
                            test_events.SubprocessTestsMixin,
                            test_utils.TestCase):
    def create_event_loop(self):
        return aio.new_event_loop()


@_skip
class RingkitSockTests(test_sock_lowlevel.BaseSockTestsMixin, test_utils.TestCase):
    def create_event_loop(self):
        return aio.new_event_loop()


@_skip
class RingkitSendfileTests(test_sendfile.SendfileTestsBase, test_utils.TestCase):
    def create_event_loop(self):
        return aio.new_event_loop()


@_skip
class RingkitBufferedProtocolTests(test_buffered_proto.BaseTestBufferedProtocol,
                                   unittest.TestCase):
    def new_loop(self):
        return aio.new_event_loop()


@_skip
class RingkitStartServerTests(test_server.BaseStartServer, unittest.TestCase):
    def new_loop(self):
        return aio.new_event_loop()


def teardown_module():
    # CPython's tests leave the policy's loop set; ours must not leak on.
    import asyncio
    asyncio.set_event_loop_policy(None)
    sys.modules.pop("test.test_asyncio.test_events", None)
