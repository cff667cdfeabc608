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


if __name__ == "__main__":
    eventloops.main(sys.argv[0], eventloops.protocol_start(Echo))
