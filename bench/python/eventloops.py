"""What the loop benchmarks' servers share (bench/python/loops.sh,
bench/http/protocol_server.py): the event loop named on the command line,
and a server run until SIGINT/SIGTERM.

    LOOP: uvloop (the peer to beat), ringkit (ringkit.aio.EventLoop, from
          PYTHONPATH=<build>/bindings/python) or asyncio (the default loop)

A server exits with status 77 when its loop (or library) is not installed,
so a benchmark or test can skip it. 127.0.0.1 only.
"""
import asyncio
import os
import signal
import sys

LOOPS = ("uvloop", "ringkit", "asyncio")


def new_loop(name, prog):
    try:
        if name == "uvloop":
            import uvloop
            return uvloop.new_event_loop()
        if name == "ringkit":
            from ringkit import aio
            return aio.new_event_loop()
    except ImportError as e:
        print("%s: no %s (%s)" % (prog, name, e), file=sys.stderr)
        sys.exit(77)
    if name == "asyncio":
        return asyncio.new_event_loop()
    sys.exit("%s: LOOP is uvloop, ringkit or asyncio, not %r" % (prog, name))


async def _serve(prog, start, port, seconds):
    loop = asyncio.get_running_loop()
    bound, close = await start(port)
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.cancel)
    print("%s (%s) listening on 127.0.0.1:%d"
          % (prog, type(loop).__module__.split(".")[0], bound), flush=True)
    try:
        await asyncio.wait_for(stop, seconds)
    except (asyncio.CancelledError, asyncio.TimeoutError):
        pass
    await close()


def protocol_start(factory):
    """The start function of main() for a plain asyncio.Protocol server on
    127.0.0.1."""
    async def start(port):
        server = await asyncio.get_running_loop().create_server(
            factory, "127.0.0.1", port, backlog=1024, reuse_address=True)

        async def close():
            server.close()
        return server.sockets[0].getsockname()[1], close
    return start


def main(prog, start):
    """Runs `await start(port)` on the loop of argv[1] with the port of
    argv[2] (0: any), then waits for SIGINT, SIGTERM or argv[3] seconds.
    start returns (the port bound, an async function that closes the
    server)."""
    prog = os.path.basename(prog)
    if len(sys.argv) < 3:
        sys.exit("usage: %s uvloop|ringkit|asyncio PORT [SECONDS]" % prog)
    loop = new_loop(sys.argv[1], prog)
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(prog.rsplit(".", 1)[0], start, int(sys.argv[2]),
                                       float(sys.argv[3]) if len(sys.argv) > 3 else None))
    finally:
        loop.close()
