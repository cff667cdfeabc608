"""The stream socket transport of ringkit's EventLoop: completion-based.

Reading is one multishot receive into the loop's buffer pool for as long as
the transport reads: each completion carries a message in a chunk the
kernel picked, which the loop's driver (_aioloop, in C) turns into the bytes
given to _rx() and then to data_received (or copied into get_buffer() for a
BufferedProtocol); the chunk goes straight back to the pool. No readiness
poll, no recv call per message.

Writing keeps one send op in flight per transport, queued through the
driver, which holds the bytes until its completion and hands the result to
sent(); what is written meanwhile waits and goes out as the next single
send when that one completes. A large write with nothing in flight goes to
the socket at once instead. Flow control (pause_writing/resume_writing, the
water marks) is asyncio's, counted on the bytes not yet sent.

The per-message path — _rx into data_received, write, the pass's flush
into a send, and sent — is the C half, _aioloop.Stream (stream.c), which
holds the transport's state; this class is the rest, and what the C half
calls back for anything but the common case.

The semantics follow asyncio's selector socket transport: callbacks,
errors (OSError silent unless debug, anything else to the exception
handler), EOF handling, close after the buffer drained, abort.
"""
import errno
import socket
import warnings
from asyncio import constants, futures, protocols, trsock
from asyncio.log import logger

from . import _aioloop
from ._errors import error


class RingSocketTransport(_aioloop.Stream):
    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE

    def __init__(self, loop, aio, pool, sock, protocol, waiter=None, extra=None, server=None):
        super().__init__(extra, loop)
        self._extra["socket"] = trsock.TransportSocket(sock)
        try:
            self._extra["sockname"] = sock.getsockname()
        except OSError:
            self._extra["sockname"] = None
        if "peername" not in self._extra:
            try:
                self._extra["peername"] = sock.getpeername()
            except OSError:
                self._extra["peername"] = None
        self._aio = aio
        self._drv = aio._drv
        self._streams = aio._streams
        self._direct_size = pool._route[1]  # a pool chunk's size
        self._write_ready = loop._write_ready
        self._pool = pool
        self._sock = sock
        self._sock_fd = sock.fileno()
        self._protocol_connected = False
        self.set_protocol(protocol)
        self._server = server
        self._conn_lost = 0
        self._closing = False
        self._paused = False
        self._eof = False
        self._recv_op = None        # the multishot receive while armed
        self._held = []             # messages (bytes, then 0 for EOF or -errno) not yet delivered
        self._held_bytes = 0
        self._recv_cancelled = None  # the receive op already asked to stop
        self._send_op = None        # the send in flight
        self._queued = False        # in the loop's list of transports to flush
        self._empty_waiter = None   # loop.sendfile waits for the buffer to drain
        # What arrives before the task that awaited create_connection() has
        # run is held (it would not have its transport yet): on asyncio's
        # loop the first read callback comes after that task's wakeup, two
        # passes after this constructor.
        self._fresh = 2
        if server is not None:
            server._attach()
        loop._transports[self._sock_fd] = self
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not TCP (a unix socket)
        loop.call_soon(self._protocol.connection_made, self)
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)
        loop.call_soon(self._end_fresh)

    def __repr__(self):
        info = [self.__class__.__name__]
        if self._sock is None:
            info.append("closed")
        elif self._closing:
            info.append("closing")
        info.append("fd=%s" % self._sock_fd)
        if self._sock is not None:
            info.append("read=%s" % ("armed" if self._recv_op is not None else "idle"))
            info.append("write=<%s, bufsize=%d>" % ("sending" if self._send_op is not None
                                                    else "idle", self.get_write_buffer_size()))
        return "<%s>" % " ".join(info)

    def __del__(self, _warn=warnings.warn):
        if self._sock is not None:
            _warn("unclosed transport %r" % self, ResourceWarning, source=self)
            self._sock.close()

    # -- protocol ---------------------------------------------------------------

    def set_protocol(self, protocol):
        self._protocol = protocol
        self._protocol_connected = True
        self._buffered = isinstance(protocol, protocols.BufferedProtocol)

    def get_protocol(self):
        return self._protocol

    def is_closing(self):
        return self._closing

    def is_reading(self):
        return not self._paused and not self._closing

    # -- reading ------------------------------------------------------------------

    def _start_reading(self):
        if self._closing or self._paused or self._recv_op is not None or self._conn_lost:
            return
        aio = self._aio
        if aio.closed:
            return
        # Readers leave the last slots of the op table to sends and the
        # rest: with every slot held by a receive, no connection could
        # answer and none would close.
        if self._drv.free_slots() <= self._loop._read_reserve:
            self._loop._wait_to_read(self)
            return
        try:
            if self._direct:  # large messages: see stream.c
                self._arm_direct()
                return
            op_id = self._pool._arm(self._sock_fd)
        except OSError as e:
            if e.errno == errno.EBUSY:
                self._loop._wait_to_read(self)
                return
            self._fatal_error(e, "Fatal read error on socket transport")
            return
        self._recv_op = op_id
        aio._streams[op_id] = self
        aio._drv.route_recv(op_id, self, *self._pool._route)
        aio._schedule_flush()

    def _end_fresh(self):
        if self._loop is None:
            return  # lost meanwhile
        self._fresh -= 1
        if self._fresh:
            self._loop.call_soon(self._end_fresh)
            return
        if self._held and not self._paused:
            self._deliver_held()

    def _hold(self, item):
        self._held.append(item)
        if item.__class__ is bytes:
            self._held_bytes += len(item)
            # Paused past the mark: stop the kernel receiving for us, so the
            # sender meets TCP's back-pressure as with asyncio's transport.
            if self._paused and self._held_bytes > self._HELD_MAX and self._recv_op is not None:
                self._stop_reading()

    def _deliver_held(self):
        while self._held and not self._paused and not self._conn_lost:
            item = self._held.pop(0)
            if item.__class__ is int:
                self._loop.call_soon(self._end, item)  # after the data, as finish() does
                return
            self._held_bytes -= len(item)
            self._deliver(item)

    def _stop_reading(self):
        op_id = self._recv_op
        if op_id is not None and op_id != self._recv_cancelled:
            self._recv_cancelled = op_id
            self._aio.cancel_op(op_id)

    # What a paused transport keeps receiving before it cancels its
    # receive: a pause is often short (a stream reader's buffer over its
    # limit), and re-arming costs a pass.
    _HELD_MAX = 256 * 1024

    def pause_reading(self):
        if self._closing or self._paused:
            return
        self._paused = True
        if self._loop.get_debug():
            logger.debug("%r pauses reading", self)

    def resume_reading(self):
        if self._closing or not self._paused:
            return
        self._paused = False
        if not self._fresh:
            self._deliver_held()
            if self._paused or self._conn_lost:
                return
        if self._recv_op is None:
            self._start_reading()
        if self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    # The driver's calls (_aioloop.Driver.route_recv): each message the
    # receive got, with its chunk already back in the pool, goes to the C
    # half's _rx (to _hold or _deliver here unless data_received takes it);
    # the receive's end comes here.
    def _rx_end(self, op_id, res):
        self._aio._stream_ended(op_id, self, res)

    def finish(self, res):
        self._recv_op = None
        if self._conn_lost:
            return
        if res > 0 or res == -errno.ENOBUFS or res == -errno.ECANCELED:
            # The kernel ended the multishot (the pool ran dry, or it just
            # stopped), or pause_reading cancelled it: arm it again after
            # this pass unless the transport or the loop is going away.
            loop = self._loop
            if not (self._closing or self._paused or loop is None or loop.is_closed()):
                loop.call_soon(self._start_reading)
        elif self._paused or self._held or self._fresh:
            self._hold(res)  # EOF (0) or the error, after what is held
        else:
            self._loop.call_soon(self._end, res)

    def _end(self, res):
        # EOF (0) or a receive error ends the stream in a callback of its
        # own, as on asyncio's loop, which meets it in a later read than the
        # data: what data_received scheduled runs before eof_received and
        # connection_lost (aiohttp's request task relies on it).
        if self._conn_lost:
            return
        if self._paused or self._held or self._fresh:
            self._hold(res)
        elif res == 0:
            self._on_eof()
        else:
            self._fatal_error(error(res), "Fatal read error on socket transport")

    def _deliver(self, data):
        if not self._buffered:
            try:
                self._protocol.data_received(data)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")
            return
        view = memoryview(data)
        while view:
            try:
                buf = self._protocol.get_buffer(len(view))
                n = len(buf)
                if not n:
                    raise RuntimeError("get_buffer() returned an empty buffer")
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
                return
            n = min(n, len(view))
            memoryview(buf).cast("B")[:n] = view[:n]
            view = view[n:]
            try:
                self._protocol.buffer_updated(n)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")
                return

    def _on_eof(self):
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if not keep_open:
            self.close()

    # -- writing ------------------------------------------------------------------
    # write(), the flush into one send per pass and sent() are the C half's.

    def _may_write(self, data):
        # write()'s checks beyond the common case: asyncio's errors, and
        # False for what is dropped (nothing, or the connection is gone).
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data argument must be a bytes-like object, not %r"
                            % type(data).__name__)
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to write; sendfile is in progress")
        if not data:
            return False
        if self._conn_lost:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return False
        return True

    def writelines(self, list_of_data):
        self.write(b"".join(list_of_data))

    def _send_buffered(self):
        # The retry after EBUSY (no op slot): the transport is not queued
        # for a flush meanwhile (its _send_op is -1), so this is that flush.
        self._send_op = None
        self._flush()

    def _send_failed(self, res):
        # The C half's sent() for a failed send.
        self._drop_pending()
        exc = error(res)
        self._fatal_error(exc, "Fatal write error on socket transport")
        if self._empty_waiter is not None:
            self._empty_waiter.set_exception(exc)

    def write_eof(self):
        if self._closing or self._eof:
            return
        self._eof = True
        if not self.get_write_buffer_size():
            self._shutdown()

    def _shutdown(self):
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def can_write_eof(self):
        return True

    # loop.sendfile (asyncio's selector loop sends the file on the socket
    # itself, once what was written before has gone out)
    def _make_empty_waiter(self):
        if self._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        self._empty_waiter = self._loop.create_future()
        if not self.get_write_buffer_size():
            self._empty_waiter.set_result(None)
        return self._empty_waiter

    def _reset_empty_waiter(self):
        self._empty_waiter = None

    # -- closing ------------------------------------------------------------------

    def close(self):
        if self._closing:
            return
        self._closing = True
        self._stop_reading()
        if not self.get_write_buffer_size():
            self._lose(None)

    def abort(self):
        self._force_close(None)

    def _fatal_error(self, exc, message="Fatal error on transport"):
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({
                "message": message,
                "exception": exc,
                "transport": self,
                "protocol": self._protocol,
            })
        self._force_close(exc)

    def _force_close(self, exc):
        if self._conn_lost:
            return
        self._drop_pending()
        self._held.clear()
        self._held_bytes = 0
        if self._send_op is not None and self._send_op >= 0:
            self._aio.cancel_op(self._send_op)
        if not self._closing:
            self._closing = True
            self._stop_reading()
        self._lose(exc)

    def _lose(self, exc):
        if self._conn_lost:
            return
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc):
        self._loop._reader_left(self)
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            if self._empty_waiter is not None and not self._empty_waiter.done():
                self._empty_waiter.set_exception(ConnectionError("Connection is closed by peer"))
            # The socket closes once nothing of ours names its fd: what is
            # queued is submitted (each op then holds the file itself).
            if not self._aio.closed:
                self._aio.detach(self._sock_fd)
            self._loop._transports.pop(self._sock_fd, None)
            self._sock.close()
            self._sock = None
            self._protocol = None
            self._loop = None
            server = self._server
            if server is not None:
                server._detach()
                self._server = None
