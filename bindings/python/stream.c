/*
 * ringkit._aioloop.Stream: the per-message path of the event loop's stream
 * transport (ringkit/_transport.py, RingSocketTransport, subclasses it).
 *
 * A message costs the transport a receive (_rx to data_received), a write
 * and, once per pass, a flush into one send and that send's completion
 * (sent). Written in Python these are a frame each and several attribute
 * lookups per message, as much as the protocol's own code; uvloop's are C.
 * Here they are C, on the transport's state kept in C fields, which the
 * Python half (connection set-up, EOF, errors, close, flow control's
 * callbacks, BufferedProtocol) reads and writes as ordinary attributes.
 * Whatever is not the common case calls back into the Python half, so
 * asyncio's semantics live in one place.
 *
 * The type derives from asyncio's transports._FlowControlMixin, so the
 * transport is an asyncio.Transport. That base keeps its state in
 * __slots__ (BaseTransport's _extra, then _FlowControlMixin's four, which
 * Python lays out in sorted order); the C fields follow them, and rkpy_stream_setup checks the
 * base's layout is the one this struct assumes before making the type.
 */
#include "aioloop.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include <structmember.h>

typedef struct {
	PyObject_HEAD
	/* asyncio's slots, as the base classes lay them out */
	PyObject *extra;
	PyObject *high_water;
	PyObject *loop;
	PyObject *low_water;
	PyObject *protocol_paused;
	/* ours */
	PyObject *protocol;
	PyObject *drv;          /* the loop ring's Driver */
	PyObject *sock;
	PyObject *held;         /* list: what arrived while it could not be delivered */
	PyObject *send_op;      /* the send in flight: its id, -1 (waiting for a slot) or None */
	PyObject *empty_waiter; /* loop.sendfile waits for the buffer to drain */
	PyObject *write_ready;  /* the loop's list of transports to flush this pass */
	PyObject *pending;      /* written, not yet in a send: NULL, bytes (one write) or bytearray */
	PyObject *recv_op;      /* the receive in flight: its id, or None */
	PyObject *streams;      /* the ring's dict of receives (id -> transport) */
	Py_ssize_t inflight;    /* bytes of the send in flight */
	Py_ssize_t direct_size; /* a direct receive's buffer (0: never receive directly) */
	int sock_fd;
	int fresh;
	int conn_lost;
	int runs;               /* messages in a row that say the mode should change */
	char buffered, paused, closing, eof, queued;
	char direct;            /* receiving into bytes objects, not from the pool */
} Stream;

static const char *const base_slots[] = {"_extra", "_loop", "_protocol_paused", "_high_water",
                                         "_low_water"};
static const Py_ssize_t base_offsets[] = {
	offsetof(Stream, extra), offsetof(Stream, loop), offsetof(Stream, protocol_paused),
	offsetof(Stream, high_water), offsetof(Stream, low_water)};

static PyTypeObject *stream_type;
static PyObject *str_may_write, *str_hold, *str_deliver, *str_data_received, *str_fatal_error,
	*str_maybe_pause, *str_maybe_resume, *str_send_failed, *str_send_buffered, *str_lose,
	*str_shutdown, *str_set_result, *str_call_soon, *str_flush, *str_start_reading,
	*str_stop_reading, *str_finish;

/* Writes from this size on try the socket at once when nothing waits to be
 * sent: the bytes are then free when the protocol drops them. Held by a
 * send op until its completion instead, a pass's worth of large messages is
 * freed at once, and the allocator gives the pages back to the kernel and
 * faults them in again for the next pass's. */
#define SEND_NOW_MIN (16 * 1024)
#define SEND_FLAGS (MSG_NOSIGNAL | MSG_WAITALL)

/* Receiving. From the pool, each message costs two copies: the kernel's into
 * a chunk and ours into the bytes; and with many connections the pool's
 * chunks are cold by the time each is reused. A connection whose messages
 * fill half a chunk SWITCH_RUNS times in a row therefore switches to
 * receiving straight into a new bytes object of the chunk's size (shrunk in
 * place to what arrived): one copy, into memory just allocated. It switches
 * back after SWITCH_RUNS messages under half, since such a receive holds its
 * buffer while the connection is idle. */
#define SWITCH_RUNS 4

int rkpy_is_stream(PyObject *tr)
{
	return stream_type && PyObject_TypeCheck(tr, stream_type);
}

static int send_idle(const Stream *s)
{
	return !s->send_op || s->send_op == Py_None;
}

static int has_held(const Stream *s)
{
	if (!s->held)
		return 0;
	if (PyList_CheckExact(s->held))
		return PyList_GET_SIZE(s->held) > 0;
	return PyObject_IsTrue(s->held);
}

/* What a pending object (bytes or our bytearray) holds: *p and its length. */
static Py_ssize_t bytes_of(PyObject *o, const char **p)
{
	if (PyBytes_CheckExact(o)) {
		*p = PyBytes_AS_STRING(o);
		return PyBytes_GET_SIZE(o);
	}
	*p = PyByteArray_AS_STRING(o);
	return PyByteArray_GET_SIZE(o);
}

static Py_ssize_t pending_len(const Stream *s)
{
	const char *p;
	return s->pending ? bytes_of(s->pending, &p) : 0;
}

/* self.<name>(arg) (arg NULL: no argument), the result dropped: 0 or -1. */
static int call_self(Stream *s, PyObject *name, PyObject *arg)
{
	PyObject *r = arg ? PyObject_CallMethodOneArg((PyObject *)s, name, arg)
	                  : PyObject_CallMethodNoArgs((PyObject *)s, name);
	if (!r)
		return -1;
	Py_DECREF(r);
	return 0;
}

/* The current exception as one object (its traceback on it), cleared. */
static PyObject *take_exception(void)
{
	PyObject *type, *value, *tb;
	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	if (value && tb)
		PyException_SetTraceback(value, tb);
	Py_XDECREF(type);
	Py_XDECREF(tb);
	return value;
}

/* self._fatal_error(exc, message), stealing exc (NULL: already failed). */
static int fatal(Stream *s, PyObject *exc, const char *message)
{
	if (!exc)
		return -1;
	PyObject *msg = PyUnicode_FromString(message);
	PyObject *r = msg ? PyObject_CallMethodObjArgs((PyObject *)s, str_fatal_error, exc, msg, NULL)
	                  : NULL;
	Py_XDECREF(msg);
	Py_DECREF(exc);
	if (!r)
		return -1;
	Py_DECREF(r);
	return 0;
}

/* A protocol callback raised: SystemExit and KeyboardInterrupt go on up,
 * anything else ends the transport through _fatal_error, as in asyncio's
 * transports. */
static int protocol_failed(Stream *s, const char *message)
{
	if (PyErr_ExceptionMatches(PyExc_SystemExit) || PyErr_ExceptionMatches(PyExc_KeyboardInterrupt))
		return -1;
	return fatal(s, take_exception(), message);
}

/* Into the loop's list of transports to flush before it waits, unless a
 * send is in flight (its completion queues what is left) or it is there. */
static int queue_flush(Stream *s)
{
	if (!send_idle(s) || s->queued)
		return 0;
	if (!s->write_ready || !PyList_Check(s->write_ready)) {
		PyErr_SetString(PyExc_RuntimeError, "the transport has no loop to flush it");
		return -1;
	}
	if (PyList_Append(s->write_ready, (PyObject *)s) < 0)
		return -1;
	s->queued = 1;
	return 0;
}

/* Appends n bytes at p to what is pending. whole: the bytes object they are
 * all of, kept as it is when nothing else is pending (no copy). */
static int pending_add(Stream *s, PyObject *whole, const char *p, Py_ssize_t n)
{
	if (!s->pending) {
		if (whole) {
			Py_INCREF(whole);
			s->pending = whole;
			return 0;
		}
		s->pending = PyByteArray_FromStringAndSize(p, n);
		return s->pending ? 0 : -1;
	}
	if (!PyByteArray_CheckExact(s->pending)) {
		PyObject *ba = PyByteArray_FromObject(s->pending);
		if (!ba)
			return -1;
		Py_SETREF(s->pending, ba);
	}
	Py_ssize_t old = PyByteArray_GET_SIZE(s->pending);
	if (PyByteArray_Resize(s->pending, old + n) < 0)
		return -1;
	memcpy(PyByteArray_AS_STRING(s->pending) + old, p, (size_t)n);
	return 0;
}

/* Queues data (bytes or the private bytearray of pending, stolen) as the
 * transport's one send in flight. */
static int stream_send(Stream *s, PyObject *data)
{
	const char *p;
	Py_ssize_t n = bytes_of(data, &p);
	int64_t id = s->drv ? rkpy_driver_send(s->drv, s->sock_fd, data, p, n, (PyObject *)s,
	                                       SEND_FLAGS)
	                    : -EBADF;
	if (id == INT64_MIN) {
		Py_DECREF(data);
		return -1;
	}
	if (id == -EBUSY) {
		/* No op slot: back in front of anything written since, and a
		 * callback of the next pass (_send_buffered) is the flush. */
		PyObject *rest = s->pending;
		s->pending = data;
		if (rest) {
			const char *q;
			Py_ssize_t k = bytes_of(rest, &q);
			int r = pending_add(s, NULL, q, k);
			Py_DECREF(rest);
			if (r < 0)
				return -1;
		}
		PyObject *waiting = PyLong_FromLong(-1);
		if (!waiting)
			return -1;
		Py_XSETREF(s->send_op, waiting);
		PyObject *cb = PyObject_GetAttr((PyObject *)s, str_send_buffered);
		PyObject *r = cb && s->loop ? PyObject_CallMethodOneArg(s->loop, str_call_soon, cb) : NULL;
		Py_XDECREF(cb);
		if (!r)
			return -1;
		Py_DECREF(r);
		return 0;
	}
	Py_DECREF(data); /* the driver holds it until the completion */
	if (id < 0)
		return fatal(s, rkpy_errno_error(id), "Fatal write error on socket transport");
	PyObject *op = PyLong_FromLongLong(id);
	if (!op)
		return -1;
	Py_XSETREF(s->send_op, op);
	s->inflight = n;
	return 0;
}

/* What a pass wrote goes out as one send (when none is in flight). */
static int stream_flush(Stream *s)
{
	s->queued = 0;
	if (!send_idle(s) || !s->pending || s->conn_lost)
		return 0;
	PyObject *data = s->pending;
	s->pending = NULL;
	return stream_send(s, data);
}

static int over_high_water(Stream *s)
{
	if (!s->high_water)
		return 0;
	Py_ssize_t high = PyLong_AsSsize_t(s->high_water);
	if (high == -1 && PyErr_Occurred())
		return -1;
	return pending_len(s) + s->inflight > high;
}

static PyObject *stream_write(Stream *s, PyObject *data)
{
	if (!PyBytes_CheckExact(data) || s->eof || (s->empty_waiter && s->empty_waiter != Py_None) ||
	    s->conn_lost || !PyBytes_GET_SIZE(data)) {
		/* asyncio's checks and errors, in the Python half: False when the
		 * write is dropped (nothing to write, the connection is gone) */
		PyObject *ok = PyObject_CallMethodOneArg((PyObject *)s, str_may_write, data);
		if (!ok)
			return NULL;
		int t = PyObject_IsTrue(ok);
		Py_DECREF(ok);
		if (t <= 0)
			return t < 0 ? NULL : Py_NewRef(Py_None);
	}
	Py_buffer view;
	if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
		return NULL;
	const char *p = view.buf;
	Py_ssize_t n = view.len;
	PyObject *whole = PyBytes_CheckExact(data) ? data : NULL;
	if (!s->pending && send_idle(s) && n >= SEND_NOW_MIN) {
		ssize_t k = send(s->sock_fd, p, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				PyErr_SetFromErrno(PyExc_OSError);
				PyBuffer_Release(&view);
				if (fatal(s, take_exception(), "Fatal write error on socket transport") < 0)
					return NULL;
				Py_RETURN_NONE;
			}
			k = 0;
		}
		if (k == n) {
			PyBuffer_Release(&view);
			Py_RETURN_NONE;
		}
		if (k > 0) {
			p += k;
			n -= k;
			whole = NULL;
		}
	}
	int r = pending_add(s, whole, p, n);
	PyBuffer_Release(&view);
	if (r < 0 || queue_flush(s) < 0)
		return NULL;
	int over = over_high_water(s);
	if (over < 0 || (over && call_self(s, str_maybe_pause, NULL) < 0))
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *stream_flush_method(Stream *s, PyObject *unused)
{
	(void)unused;
	if (stream_flush(s) < 0)
		return NULL;
	Py_RETURN_NONE;
}

int rkpy_stream_sent(PyObject *tr, long res)
{
	Stream *s = (Stream *)tr;
	Py_XSETREF(s->send_op, Py_NewRef(Py_None));
	s->inflight = 0;
	if (s->conn_lost)
		return 0;
	if (res < 0) {
		PyObject *r = PyLong_FromLong(res);
		int rc = r ? call_self(s, str_send_failed, r) : -1;
		Py_XDECREF(r);
		return rc;
	}
	if (s->pending && queue_flush(s) < 0)
		return -1;
	if (s->protocol_paused) {
		int paused = PyObject_IsTrue(s->protocol_paused);
		if (paused < 0 || (paused && call_self(s, str_maybe_resume, NULL) < 0))
			return -1;
	}
	if (!send_idle(s) || s->pending)
		return 0;
	if (s->empty_waiter && s->empty_waiter != Py_None) {
		PyObject *r = PyObject_CallMethodOneArg(s->empty_waiter, str_set_result, Py_None);
		if (!r)
			return -1;
		Py_DECREF(r);
	}
	if (s->closing)
		return call_self(s, str_lose, Py_None);
	if (s->eof)
		return call_self(s, str_shutdown, NULL);
	return 0;
}

static PyObject *stream_sent_method(Stream *s, PyObject *arg)
{
	long res = PyLong_AsLong(arg);
	if (res == -1 && PyErr_Occurred())
		return NULL;
	if (rkpy_stream_sent((PyObject *)s, res) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static int stream_rx(Stream *s, PyObject *data)
{
	int held = has_held(s);
	if (held < 0)
		return -1;
	if (s->paused || held || s->fresh)
		return call_self(s, str_hold, data);
	if (s->conn_lost)
		return 0;
	if (s->buffered || !s->protocol)
		return call_self(s, str_deliver, data);
	PyObject *r = PyObject_CallMethodOneArg(s->protocol, str_data_received, data);
	if (!r)
		return protocol_failed(s, "Fatal error: protocol.data_received() call failed.");
	Py_DECREF(r);
	return 0;
}

static PyObject *stream_rx_method(Stream *s, PyObject *data)
{
	if (stream_rx(s, data) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static int reading(const Stream *s)
{
	return !s->paused && !s->closing && !s->conn_lost && s->loop && s->loop != Py_None;
}

/* One message's vote on the receive mode: other, when its size suits the
 * mode the stream is not in. SWITCH_RUNS such messages in a row switch it,
 * and the receive in flight (the pool's multishot or the readiness poll)
 * is stopped: its final completion re-arms through _start_reading, in the
 * new mode. 0, or -1 with an exception set. */
static int vote_mode(Stream *s, int other)
{
	if (!other) {
		s->runs = 0;
		return 0;
	}
	if (++s->runs < SWITCH_RUNS)
		return 0;
	s->runs = 0;
	s->direct = !s->direct;
	return call_self(s, str_stop_reading, NULL);
}

int rkpy_stream_pool_rx(PyObject *tr, PyObject *data)
{
	Stream *s = (Stream *)tr;
	if (s->direct_size && !s->direct &&
	    vote_mode(s, PyBytes_GET_SIZE(data) >= s->direct_size / 2) < 0)
		return -1;
	return stream_rx(s, data);
}

/* Large messages are received at readiness, as asyncio's and uvloop's
 * loops do, not by a receive queued ahead with its buffer: a buffer given
 * to the kernel before the data comes sits cold in memory until it does,
 * and with many connections the kernel's copy into it is the server's
 * largest cost. A multishot poll says when the socket is readable; the
 * receive then goes into a bytes object just allocated, which the
 * allocator takes from what the previous message just freed, still in the
 * cache. Queues that poll: 0, the ring's -errno (-EBUSY: no slot), or -1
 * with an exception set. */
static int direct_arm(Stream *s)
{
	if (!s->streams || !PyDict_Check(s->streams)) {
		PyErr_SetString(PyExc_RuntimeError, "the transport has no ring to read with");
		return -1;
	}
	int64_t id = s->drv ? rkpy_driver_poll_in(s->drv, s->sock_fd, (PyObject *)s) : -EBADF;
	if (id == INT64_MIN)
		return -1;
	if (id < 0)
		return (int)id;
	PyObject *key = PyLong_FromLongLong(id);
	if (!key || PyDict_SetItem(s->streams, key, (PyObject *)s) < 0) {
		Py_XDECREF(key);
		return -1;
	}
	Py_XSETREF(s->recv_op, key);
	return 0;
}

static PyObject *stream_arm_direct(Stream *s, PyObject *unused)
{
	(void)unused;
	if (s->direct_size <= 0) {
		PyErr_SetString(PyExc_ValueError, "the transport has no direct receive size");
		return NULL;
	}
	int r = direct_arm(s);
	if (r == -1 && PyErr_Occurred())
		return NULL;
	if (r < 0) {
		PyObject *exc = rkpy_errno_error(r);
		if (exc) {
			PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
			Py_DECREF(exc);
		}
		return NULL;
	}
	return Py_NewRef(s->recv_op);
}

/* self.finish(res): what the Python half does at any receive's end. */
static int call_finish(Stream *s, long res)
{
	PyObject *r = PyLong_FromLong(res);
	int rc = r ? call_self(s, str_finish, r) : -1;
	Py_XDECREF(r);
	return rc;
}

/* The stream's receiving ends with res (0: EOF, or -errno): the poll is
 * cancelled (its last completion is then no longer the stream's) and
 * finish() does what it does for any receive's end. */
static int direct_end(Stream *s, long res)
{
	if (call_self(s, str_stop_reading, NULL) < 0)
		return -1;
	return call_finish(s, res);
}

/* Receives what the socket holds, a bytes object at a time, until a short
 * receive says it is drained: the poll fires again only for what arrives
 * after it looked. Except the peer's FIN, which a short receive does not
 * reveal: events with POLLRDHUP (the peer shut down before the poll
 * looked) read on until EOF or EAGAIN. A stream that stops reading
 * meanwhile (paused, closing) cancels its poll: resuming arms a new one,
 * which fires at once for what is waiting. */
static int direct_read(Stream *s, int events)
{
	int to_end = (events & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
	for (;;) {
		if (!reading(s))
			return call_self(s, str_stop_reading, NULL);
		PyObject *data = PyBytes_FromStringAndSize(NULL, s->direct_size);
		if (!data)
			return -1;
		ssize_t n = recv(s->sock_fd, PyBytes_AS_STRING(data), (size_t)s->direct_size,
		                 MSG_DONTWAIT);
		if (n <= 0) {
			int e = errno;
			Py_DECREF(data);
			if (n < 0 && e == EINTR)
				continue;
			if (n < 0 && (e == EAGAIN || e == EWOULDBLOCK))
				return 0;
			return direct_end(s, n < 0 ? -e : 0);
		}
		if (n < s->direct_size && _PyBytes_Resize(&data, n) < 0)
			return -1;
		if (vote_mode(s, n < s->direct_size / 2) < 0) {
			Py_DECREF(data);
			return -1;
		}
		int rc = stream_rx(s, data);
		Py_DECREF(data);
		if (rc < 0 || (n < s->direct_size && !to_end) || !s->direct)
			return rc;
	}
}

int rkpy_stream_ready(PyObject *tr, int64_t id, int res, int more)
{
	Stream *s = (Stream *)tr;
	PyObject *key = PyLong_FromLongLong(id);
	if (!key)
		return -1;
	int mine = s->recv_op && PyObject_RichCompareBool(s->recv_op, key, Py_EQ) == 1;
	if (!more && s->streams && PyDict_Check(s->streams) && PyDict_DelItem(s->streams, key) < 0)
		PyErr_Clear(); /* off the books already (the ring closed) */
	Py_DECREF(key);
	if (!mine)
		return 0; /* a poll already cancelled */
	if (more)
		return direct_read(s, res);
	/* The poll ended: cancelled (paused, back to the pool), or by the
	 * kernel (with an event: re-armed, and the new poll sees the data). */
	return call_finish(s, res > 0 ? res : res == 0 ? -ECANCELED : res);
}

static PyObject *stream_get_write_buffer_size(Stream *s, PyObject *unused)
{
	(void)unused;
	return PyLong_FromSsize_t(pending_len(s) + s->inflight);
}

static PyObject *stream_drop_pending(Stream *s, PyObject *unused)
{
	(void)unused;
	Py_CLEAR(s->pending);
	Py_RETURN_NONE;
}

/* flush_writes(transports): what EventLoop's selector does before it
 * waits: flushes each transport of the list (emptied first: what a flush
 * queues is for the next pass). Every transport is flushed even when one
 * raises; the first exception is raised after. */
static PyObject *flush_writes(PyObject *m, PyObject *list)
{
	(void)m;
	if (!PyList_Check(list)) {
		PyErr_SetString(PyExc_TypeError, "flush_writes needs a list");
		return NULL;
	}
	Py_ssize_t n = PyList_GET_SIZE(list);
	if (!n)
		Py_RETURN_NONE;
	PyObject *batch = PyList_GetSlice(list, 0, n);
	if (!batch || PyList_SetSlice(list, 0, n, NULL) < 0) {
		Py_XDECREF(batch);
		return NULL;
	}
	PyObject *type = NULL, *value = NULL, *tb = NULL;
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *tr = PyList_GET_ITEM(batch, i);
		int r;
		if (rkpy_is_stream(tr)) {
			r = stream_flush((Stream *)tr);
		} else {
			PyObject *x = PyObject_CallMethodNoArgs(tr, str_flush);
			r = x ? 0 : -1;
			Py_XDECREF(x);
		}
		if (r < 0) {
			if (type)
				PyErr_Clear();
			else
				PyErr_Fetch(&type, &value, &tb);
		}
	}
	Py_DECREF(batch);
	if (type) {
		PyErr_Restore(type, value, tb);
		return NULL;
	}
	Py_RETURN_NONE;
}

static int stream_traverse(Stream *s, visitproc visit, void *arg)
{
	Py_VISIT(Py_TYPE(s));
	Py_VISIT(s->extra);
	Py_VISIT(s->loop);
	Py_VISIT(s->protocol_paused);
	Py_VISIT(s->high_water);
	Py_VISIT(s->low_water);
	Py_VISIT(s->protocol);
	Py_VISIT(s->drv);
	Py_VISIT(s->sock);
	Py_VISIT(s->held);
	Py_VISIT(s->send_op);
	Py_VISIT(s->empty_waiter);
	Py_VISIT(s->write_ready);
	Py_VISIT(s->pending);
	Py_VISIT(s->recv_op);
	Py_VISIT(s->streams);
	return 0;
}

static int stream_clear(Stream *s)
{
	Py_CLEAR(s->extra);
	Py_CLEAR(s->loop);
	Py_CLEAR(s->protocol_paused);
	Py_CLEAR(s->high_water);
	Py_CLEAR(s->low_water);
	Py_CLEAR(s->protocol);
	Py_CLEAR(s->drv);
	Py_CLEAR(s->sock);
	Py_CLEAR(s->held);
	Py_CLEAR(s->send_op);
	Py_CLEAR(s->empty_waiter);
	Py_CLEAR(s->write_ready);
	Py_CLEAR(s->pending);
	Py_CLEAR(s->recv_op);
	Py_CLEAR(s->streams);
	return 0;
}

static void stream_dealloc(Stream *s)
{
	PyTypeObject *tp = Py_TYPE(s);
	PyObject_GC_UnTrack(s);
	stream_clear(s);
	tp->tp_free((PyObject *)s);
	Py_DECREF(tp);
}

static PyMethodDef stream_methods[] = {
	{"write", (PyCFunction)stream_write, METH_O,
	 "write($self, data, /)\n--\n\nWrites data (a bytes-like object) to the transport: what a "
	 "pass of the loop writes goes out as one send. Does not block."},
	{"get_write_buffer_size", (PyCFunction)stream_get_write_buffer_size, METH_NOARGS,
	 "get_write_buffer_size($self, /)\n--\n\nThe bytes written and not yet sent."},
	{"_flush", (PyCFunction)stream_flush_method, METH_NOARGS,
	 "_flush($self, /)\n--\n\nWhat was written goes out as one send, unless one is in flight."},
	{"sent", (PyCFunction)stream_sent_method, METH_O,
	 "sent($self, res, /)\n--\n\nThe result of the transport's send (the driver calls it)."},
	{"_rx", (PyCFunction)stream_rx_method, METH_O,
	 "_rx($self, data, /)\n--\n\nA message the transport's receive got (the driver calls it)."},
	{"_arm_direct", (PyCFunction)stream_arm_direct, METH_NOARGS,
	 "_arm_direct($self, /)\n--\n\nQueues a receive straight into a new bytes object; "
	 "returns its op id (OSError as the ring answers: EBUSY, no free slot)."},
	{"_drop_pending", (PyCFunction)stream_drop_pending, METH_NOARGS,
	 "_drop_pending($self, /)\n--\n\nForgets what was written and not yet sent."},
	{NULL, NULL, 0, NULL},
};

static PyMemberDef stream_members[] = {
	{"_protocol", T_OBJECT, offsetof(Stream, protocol), 0, NULL},
	{"_drv", T_OBJECT, offsetof(Stream, drv), 0, NULL},
	{"_sock", T_OBJECT, offsetof(Stream, sock), 0, NULL},
	{"_held", T_OBJECT, offsetof(Stream, held), 0, NULL},
	{"_send_op", T_OBJECT, offsetof(Stream, send_op), 0, NULL},
	{"_empty_waiter", T_OBJECT, offsetof(Stream, empty_waiter), 0, NULL},
	{"_write_ready", T_OBJECT, offsetof(Stream, write_ready), 0, NULL},
	{"_recv_op", T_OBJECT, offsetof(Stream, recv_op), 0, NULL},
	{"_streams", T_OBJECT, offsetof(Stream, streams), 0, NULL},
	{"_inflight", T_PYSSIZET, offsetof(Stream, inflight), READONLY, NULL},
	{"_direct_size", T_PYSSIZET, offsetof(Stream, direct_size), 0, NULL},
	{"_direct", T_BOOL, offsetof(Stream, direct), 0, NULL},
	{"_sock_fd", T_INT, offsetof(Stream, sock_fd), 0, NULL},
	{"_fresh", T_INT, offsetof(Stream, fresh), 0, NULL},
	{"_conn_lost", T_INT, offsetof(Stream, conn_lost), 0, NULL},
	{"_buffered", T_BOOL, offsetof(Stream, buffered), 0, NULL},
	{"_paused", T_BOOL, offsetof(Stream, paused), 0, NULL},
	{"_closing", T_BOOL, offsetof(Stream, closing), 0, NULL},
	{"_eof", T_BOOL, offsetof(Stream, eof), 0, NULL},
	{"_queued", T_BOOL, offsetof(Stream, queued), 0, NULL},
	{NULL, 0, 0, 0, NULL},
};

static PyType_Slot stream_slots[] = {
	{Py_tp_doc, "The C half of ringkit's stream transport (see ringkit._transport)."},
	{Py_tp_dealloc, stream_dealloc},
	{Py_tp_traverse, stream_traverse},
	{Py_tp_clear, stream_clear},
	{Py_tp_methods, stream_methods},
	{Py_tp_members, stream_members},
	{0, NULL},
};

static PyType_Spec stream_spec = {
	.name = "ringkit._aioloop.Stream",
	.basicsize = sizeof(Stream),
	.flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.slots = stream_slots,
};

/* Whether base lays out asyncio's slots where Stream's fields are. */
static int base_layout_ok(PyTypeObject *base)
{
	if (base->tp_basicsize != (Py_ssize_t)offsetof(Stream, protocol) || base->tp_dictoffset ||
	    base->tp_weaklistoffset)
		return 0;
	for (size_t i = 0; i < sizeof base_slots / sizeof *base_slots; i++) {
		PyObject *d = PyObject_GetAttrString((PyObject *)base, base_slots[i]);
		if (!d) {
			PyErr_Clear();
			return 0;
		}
		int ok = Py_IS_TYPE(d, &PyMemberDescr_Type) &&
		         ((PyMemberDescrObject *)d)->d_member->offset == base_offsets[i];
		Py_DECREF(d);
		if (!ok)
			return 0;
	}
	return 1;
}

static PyMethodDef flush_def = {
	"flush_writes", (PyCFunction)flush_writes, METH_O,
	"flush_writes($module, transports, /)\n--\n\nFlushes each transport of the list, emptied "
	"first: what the event loop does before it waits."};

int rkpy_stream_setup(PyObject *m)
{
	struct { PyObject **s; const char *v; } names[] = {
		{&str_may_write, "_may_write"}, {&str_hold, "_hold"}, {&str_deliver, "_deliver"},
		{&str_data_received, "data_received"}, {&str_fatal_error, "_fatal_error"},
		{&str_maybe_pause, "_maybe_pause_protocol"},
		{&str_maybe_resume, "_maybe_resume_protocol"}, {&str_send_failed, "_send_failed"},
		{&str_send_buffered, "_send_buffered"}, {&str_lose, "_lose"},
		{&str_shutdown, "_shutdown"}, {&str_set_result, "set_result"},
		{&str_call_soon, "call_soon"}, {&str_flush, "_flush"},
		{&str_start_reading, "_start_reading"}, {&str_stop_reading, "_stop_reading"},
		{&str_finish, "finish"}};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (!(*names[i].s = PyUnicode_InternFromString(names[i].v)))
			return -1;
	PyObject *mod = PyImport_ImportModule("asyncio.transports");
	PyObject *base = mod ? PyObject_GetAttrString(mod, "_FlowControlMixin") : NULL;
	Py_XDECREF(mod);
	if (!base)
		return -1;
	if (!PyType_Check(base) || !base_layout_ok((PyTypeObject *)base)) {
		Py_DECREF(base);
		PyErr_SetString(PyExc_ImportError,
		                "ringkit._aioloop: asyncio.transports._FlowControlMixin is not laid "
		                "out as this build expects (another Python version?)");
		return -1;
	}
	PyObject *bases = PyTuple_Pack(1, base);
	Py_DECREF(base);
	if (!bases)
		return -1;
	stream_type = (PyTypeObject *)PyType_FromSpecWithBases(&stream_spec, bases);
	Py_DECREF(bases);
	if (!stream_type)
		return -1;
	PyObject *fn = PyCFunction_NewEx(&flush_def, NULL, NULL);
	if (!fn)
		return -1;
	Py_INCREF(stream_type);
	if (PyModule_AddObject(m, "Stream", (PyObject *)stream_type) < 0) {
		Py_DECREF(stream_type);
		Py_DECREF(fn);
		return -1;
	}
	if (PyModule_AddObject(m, "flush_writes", fn) < 0) {
		Py_DECREF(fn);
		return -1;
	}
	return 0;
}
