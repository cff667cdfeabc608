"""Socket addresses as the kernel wants them, built and decoded in Python.

An address is (host, port) for IPv4/IPv6 (numeric hosts only: resolving a name
would block), (host, port, flowinfo, scope_id) for IPv6, or a str/bytes path
for AF_UNIX (a leading NUL names an abstract socket).

The one encoder and decoder of both Python bindings: bindings/ctypes loads
this file by itself, so it imports nothing from the package."""
import socket
import struct
from typing import Tuple, Union

Address = Union[Tuple[str, int], Tuple[str, int, int, int], str, bytes]

SOCKADDR_MAX = 128
_FAMILY = struct.Struct("=H")
_IN = struct.Struct("=HH4s8x")   # port in network order: htons
_IN6 = struct.Struct("=HHI16sI")  # port, flowinfo in network order


def encode(addr: Address) -> bytes:
    """The sockaddr bytes of an address: (host, port), (host, port, flow, scope) or an AF_UNIX
    path (str or bytes; a leading NUL: abstract). TypeError or ValueError for anything else."""
    if isinstance(addr, (str, bytes)):
        path = addr.encode() if isinstance(addr, str) else addr
        if not path or len(path) >= 108:
            raise ValueError("AF_UNIX path must be 1..107 bytes")
        tail = b"" if path[:1] == b"\0" else b"\0"
        return _FAMILY.pack(socket.AF_UNIX) + path + tail
    if not isinstance(addr, tuple) or len(addr) not in (2, 4):
        raise TypeError("address must be (host, port), (host, port, flow, scope) or a path")
    host, port = addr[0], addr[1]
    if not isinstance(host, str) or not isinstance(port, int):
        raise TypeError("address must be (str host, int port)")
    if not 0 <= port <= 65535:
        raise ValueError("port out of range: %d" % port)
    if ":" in host or len(addr) == 4:
        try:
            packed = socket.inet_pton(socket.AF_INET6, host)
        except OSError:
            raise ValueError("not a numeric IPv6 address: %r" % host) from None
        flow, scope = (addr[2], addr[3]) if len(addr) == 4 else (0, 0)
        return _IN6.pack(socket.AF_INET6, socket.htons(port), socket.htonl(flow), packed, scope)
    try:
        packed = socket.inet_pton(socket.AF_INET, host)
    except OSError:
        raise ValueError("not a numeric IPv4 address: %r" % host) from None
    return _IN.pack(socket.AF_INET, socket.htons(port), packed)


def decode(raw) -> Address:
    """The address in a sockaddr the kernel wrote (accept, recvmsg)."""
    raw = bytes(raw)
    if len(raw) < 2:
        raise ValueError("sockaddr too short")
    family = _FAMILY.unpack_from(raw)[0]
    if family == socket.AF_INET:
        _, port, packed = _IN.unpack_from(raw)
        return (socket.inet_ntop(socket.AF_INET, packed), socket.ntohs(port))
    if family == socket.AF_INET6:
        _, port, flow, packed, scope = _IN6.unpack_from(raw)
        return (socket.inet_ntop(socket.AF_INET6, packed), socket.ntohs(port), socket.ntohl(flow), scope)
    if family == socket.AF_UNIX:
        path = raw[2:]
        if path[:1] == b"\0":
            return path.rstrip(b"\0") if path.strip(b"\0") else ""
        return path.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    raise ValueError("unsupported address family %d" % family)
