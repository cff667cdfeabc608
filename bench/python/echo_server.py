"""The TCP echo server of bench/python/loops.sh: an asyncio.Protocol that
writes back every chunk it receives, on the event loop named (see
eventloops.py). Loaded by ringkit-echo-load (bench/python/echo_load.c).

    python3 echo_server.py LOOP PORT [SECONDS]   (until SIGINT/SIGTERM or SECONDS)
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eventloops  # noqa: E402


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def eof_received(self):
        return False  # the transport closes once what was written has left


async def start(port):
    server = await asyncio.get_running_loop().create_server(
        Echo, "127.0.0.1", port, backlog=1024, reuse_address=True)

    async def close():
        server.close()
    return server.sockets[0].getsockname()[1], close


if __name__ == "__main__":
    eventloops.main(sys.argv[0], start)
