"""The aiohttp hello app of bench/python/loops.sh: one route answering
"Hello, world!\\n" (text/plain), no access log, on the event loop named (see
eventloops.py). Exits with status 77 without aiohttp (Debian:
python3-aiohttp).

    python3 aiohttp_server.py LOOP PORT [SECONDS]   (until SIGINT/SIGTERM or SECONDS)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eventloops  # noqa: E402

try:
    from aiohttp import web
except ImportError as e:
    print("aiohttp_server.py: no aiohttp (%s)" % e, file=sys.stderr)
    sys.exit(77)


async def hello(request):
    return web.Response(text="Hello, world!\n")


async def start(port):
    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024, reuse_address=True)
    await site.start()
    return runner.addresses[0][1], runner.cleanup


if __name__ == "__main__":
    eventloops.main(sys.argv[0], start)
