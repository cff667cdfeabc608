"""Real libraries on ringkit's EventLoop, unchanged: an aiohttp server and
client, and the same program on uvloop for reference."""
import asyncio

import pytest

from ringkit import aio

aiohttp = pytest.importorskip("aiohttp")
from aiohttp import web  # noqa: E402


async def _hello_roundtrips(n=50):
    async def hello(request):
        body = await request.read()
        return web.Response(text="hello %s %d" % (request.match_info["name"], len(body)))

    app = web.Application()
    app.router.add_route("*", "/hi/{name}", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    got = []
    try:
        async with aiohttp.ClientSession() as session:
            for i in range(n):
                async with session.post("http://127.0.0.1:%d/hi/n%d" % (port, i),
                                        data=b"x" * (i * 1000)) as resp:
                    got.append((resp.status, await resp.text()))
            # Many at once, over several connections.
            async def one(i):
                async with session.get("http://127.0.0.1:%d/hi/g%d" % (port, i)) as resp:
                    return await resp.text()
            many = await asyncio.gather(*(one(i) for i in range(100)))
    finally:
        await runner.cleanup()
    return got, many, type(asyncio.get_running_loop()).__module__


def _expected(n=50):
    return ([(200, "hello n%d %d" % (i, i * 1000)) for i in range(n)],
            ["hello g%d 0" % i for i in range(100)])


def test_aiohttp_on_ringkit_loop():
    got, many, module = aio.run(_hello_roundtrips())
    assert (got, many) == _expected()
    assert module == "ringkit._loop"


def test_aiohttp_on_ringkit_policy():
    asyncio.set_event_loop_policy(aio.EventLoopPolicy())
    try:
        got, many, module = asyncio.run(_hello_roundtrips(10))
    finally:
        asyncio.set_event_loop_policy(None)
    assert (got, many) == _expected(10)
    assert module == "ringkit._loop"


def test_aiohttp_on_uvloop_for_reference():
    uvloop = pytest.importorskip("uvloop")
    loop = uvloop.new_event_loop()
    try:
        got, many, _ = loop.run_until_complete(_hello_roundtrips())
    finally:
        loop.close()
    assert (got, many) == _expected()
