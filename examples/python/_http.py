"""What http_aio.py and http_asyncio.py share: their command line and the
reading of HTTP/1.x request heads (they differ only in how bytes move).

parse(buf) answers every complete request at the start of buf, as
examples/lua/http.lua does: 200 "Hello, world!\\n" to each; 400 Bad Request
and close for a request line that is not "METHOD TARGET HTTP/1.x"; close
after the answer to "Connection: close", and to HTTP/1.0 unless it says
"Connection: keep-alive"; 431 and close for a head over MAX_HEAD bytes.
Bodies are not supported.
"""
import argparse
import re

import _cli

BODY = b"Hello, world!\n"
OK = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
      % (len(BODY), BODY))
OK_CLOSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(BODY), BODY))
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
             b"Connection: close\r\n\r\n")
MAX_HEAD = 65536

_LINE = re.compile(rb"[!-~]+ [^ \r\n]+ HTTP/1\.([0-9])")
_CONNECTION = re.compile(rb"\r\nconnection:[ \t]*([a-z0-9-]+)")


# The head of the last request found to need nothing but a 200 (what a
# benchmark or a pipelining client sends again and again).
_plain = None


def parse(buf):
    """-> (answers, rest, close): the bytes to send for the complete requests
    at the start of buf, what is left of buf (an incomplete request), and
    whether to close the connection once the answers are sent."""
    global _plain
    find = buf.find
    # The hot path: every complete request in buf is that same head again,
    # checked with a few calls that each run over buf once, in C.
    e = find(b"\r\n\r\n")
    if e >= 0 and _plain is not None and buf.startswith(_plain):
        k = buf.count(b"\r\n\r\n")
        end = buf.rfind(b"\r\n\r\n") + 4
        if k == 1 or buf[:end] == _plain * k:
            return OK * k, buf[end:], False
    ok, pos, n = 0, 0, len(buf)
    while True:
        e = find(b"\r\n\r\n", pos)
        if e < 0:
            if n - pos > MAX_HEAD:
                return OK * ok + TOO_LARGE, b"", True
            return OK * ok, buf[pos:] if pos else buf, False
        le = find(b"\r\n", pos)
        # An HTTP/1.1 request line with a method and no header line starting
        # with C (so none is Connection, the only header that matters here).
        if (buf[le - 9:le] == b" HTTP/1.1" and find(b" ", pos, le - 9) > pos and
                find(b"\nC", le, e) < 0 and find(b"\nc", le, e) < 0):
            _plain = buf[pos:e + 4]
            ok += 1
            pos = e + 4
            continue
        if le == pos:  # an empty line before a request
            pos += 2
            continue
        line = _LINE.fullmatch(buf, pos, le)
        if not line:
            return OK * ok + BAD_REQUEST, b"", True
        conn = _CONNECTION.search(buf[le:e + 2].lower())
        token = conn.group(1) if conn else None
        pos = e + 4
        if token == b"close" or (line.group(1) == b"0" and token != b"keep-alive"):
            return OK * ok + OK_CLOSE, b"", True
        ok += 1


def command_line(doc):
    """-> (port, seconds or None), from sys.argv; exits 2 on bad input."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("port", type=_cli.port, metavar="PORT", help="0: a free port (printed)")
    ap.add_argument("seconds", type=_cli.seconds, metavar="SECONDS", nargs="?",
                    help="stop after this long (default: on SIGINT/SIGTERM)")
    a = ap.parse_args()
    return a.port, a.seconds
