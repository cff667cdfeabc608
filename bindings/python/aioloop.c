/*
 * ringkit._aioloop: the asyncio hot path of ringkit.aio, in C.
 *
 * Through asyncio.Future every op costs a call_soon (a Python Handle), a
 * pass of the event loop and a Python-level prep and dispatch: about three
 * times the kernel's own work for a cached 4 KiB read. Here an op's awaitable
 * is a Waiter, a future-compatible object (what asyncio.Task accepts from
 * any awaitable: _asyncio_future_blocking, get_loop, add_done_callback, ...)
 * that the Driver completes straight from the reaped completion, calling the
 * task's wakeup in the task's context. The contract of ringkit.aio is
 * unchanged: the buffer stays pinned in the ring's pin table until the op's
 * final completion, and a cancelled task resumes (with CancelledError) only
 * once that completion has arrived.
 *
 * Everything runs on the loop's thread, under the GIL. The Driver never owns
 * the rk_ring: ringkit.Ring does, and calls Driver.detach() when it closes.
 * It reaches the ring and its pin table through the ring's handle and the
 * C API of ringkit._vector (capi.h).
 */
#include "aioloop.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>

#include <ringkit.h>

#include "capi.h"

#define REAP_BATCH 256

enum { PENDING, DONE, CANCELLED };

typedef struct Driver Driver;

/* An op of an EventLoop stream transport (_transport.py, stream.c): its
 * multishot receive from the loop's buffer pool, the multishot poll it
 * receives large messages at, or its send. Their completions go straight to
 * the transport: the received bytes are made here and the chunk recycled; a
 * send's data is held here until the final completion. */
enum { ROUTE_POOL, ROUTE_SEND, ROUTE_READY };

typedef struct {
	int64_t id;
	PyObject *tr;          /* the transport; NULL: the slot routes nothing */
	PyObject *data;        /* a send's bytes */
	const char *base;      /* a pool receive's pool: its memory, chunk size, region */
	uint32_t chunk_size;
	rk_region *pool;
	unsigned char kind;
} RoutedOp;

typedef struct {
	PyObject_HEAD
	Driver *drv;        /* while pending: cancel() reaches the ring through it */
	PyObject *loop;
	PyObject *cb;       /* the first done callback (a task's wakeup) */
	PyObject *cb_ctx;   /* its context, or NULL */
	PyObject *more_cbs; /* list of (callback, context) beyond the first, or NULL */
	PyObject *cancel_msg; /* cancel(msg): what CancelledError carries, or NULL */
	int64_t id;
	int64_t res;
	unsigned char state;
	unsigned char has_res;
	unsigned char raw;    /* a negative result is a value, not an error */
	unsigned char blocking;
	unsigned char cancel_requested;
} Waiter;

struct Driver {
	PyObject_HEAD
	rk_ring *ring;       /* NULL once detached */
	PyObject *handle;    /* the ring's handle (ringkit._vector): its pin table */
	PyObject *loop_ref;  /* weakref: the loop's collection closes the ring */
	PyObject *on_other;  /* callable(list of (id, res, flags)) for the rest */
	PyObject *on_room;   /* callable(free slots), after a drain while backlog > 0 */
	PyObject *flush_cb;  /* this driver's _flush, bound once */
	/* An event loop's poll ops (dict keyed by op id, given by select) and
	 * the (id, res) of those that completed, kept across reaps: a flush
	 * between two selects may reap a poll, and select must still see it. */
	PyObject *polls, *ready;
	Waiter **table;      /* by op slot (the id's low 32 bits) */
	RoutedOp *routed;    /* by op slot too: transport ops */
	uint32_t cap;
	int flush_pending;
	/* Ops waiting in ringkit.aio for a free op slot, set from Python: while
	 * any wait, new ops queue behind them (fair), never ahead. */
	int backlog;
	/* An event loop reaps this ring in its selector every pass (ringkit's
	 * EventLoop): that select submits what was queued, so no flush. */
	int driven;
};

static PyTypeObject WaiterType;
static PyTypeObject DriverType;

/* Module state kept static: one interpreter per process is what the cffi
 * extension beside this one supports too. */
static PyObject *get_running_loop; /* asyncio.events._get_running_loop */
static PyObject *cancelled_error;  /* asyncio.CancelledError */
static PyObject *invalid_state;    /* asyncio.InvalidStateError */
static PyObject *factory;          /* callable(loop) -> Driver, set by ringkit.aio */
static PyObject *make_error;       /* callable(res) -> OSError, set by ringkit.aio */
static PyObject *busy_op;          /* callable(op, fd, buf, arg): the op once a slot is free */
static Driver *last_drv;           /* the driver the last lookup found */
/* The driver whose drain is resuming tasks on this thread: the ops those
 * tasks queue belong to its loop, found without asking asyncio (whose
 * running-loop lookup makes a getpid system call each time). */
static _Thread_local Driver *draining;
static PyObject *str_call_soon, *str_context;
static const rkpy_capi *capi;      /* ringkit._vector's handles and pin tables */

/* ------------------------------------------------------------------------ */
/* Waiter                                                                   */
/* ------------------------------------------------------------------------ */

static Waiter *waiter_new(Driver *d, PyObject *loop, int64_t id, int raw)
{
	Waiter *w = PyObject_GC_New(Waiter, &WaiterType);
	if (!w)
		return NULL;
	Py_INCREF(d);
	w->drv = d;
	Py_INCREF(loop);
	w->loop = loop;
	w->cb = w->cb_ctx = w->more_cbs = w->cancel_msg = NULL;
	w->id = id;
	w->res = 0;
	w->state = PENDING;
	w->has_res = 0;
	w->raw = (unsigned char)raw;
	w->blocking = 0;
	w->cancel_requested = 0;
	PyObject_GC_Track(w);
	return w;
}

static int waiter_traverse(Waiter *w, visitproc visit, void *arg)
{
	Py_VISIT(w->drv);
	Py_VISIT(w->loop);
	Py_VISIT(w->cb);
	Py_VISIT(w->cb_ctx);
	Py_VISIT(w->more_cbs);
	Py_VISIT(w->cancel_msg);
	return 0;
}

static int waiter_clear(Waiter *w)
{
	Py_CLEAR(w->drv);
	Py_CLEAR(w->loop);
	Py_CLEAR(w->cb);
	Py_CLEAR(w->cb_ctx);
	Py_CLEAR(w->more_cbs);
	Py_CLEAR(w->cancel_msg);
	return 0;
}

static void waiter_dealloc(Waiter *w)
{
	PyObject_GC_UnTrack(w);
	waiter_clear(w);
	PyObject_GC_Del(w);
}

/* loop.call_soon(cb, w, context=ctx): how a callback runs when no reaped
 * completion is calling it (cancellation after close, late registration). */
static int schedule_callback(PyObject *loop, PyObject *cb, PyObject *ctx, PyObject *w)
{
	PyObject *call_soon = PyObject_GetAttr(loop, str_call_soon);
	if (!call_soon)
		return -1;
	PyObject *args[3] = {cb, w, ctx};
	PyObject *kwnames = NULL;
	size_t nargs = 2;
	if (ctx) {
		kwnames = PyTuple_Pack(1, str_context);
		if (!kwnames) {
			Py_DECREF(call_soon);
			return -1;
		}
	}
	PyObject *r = PyObject_Vectorcall(call_soon, args, nargs, kwnames);
	Py_XDECREF(kwnames);
	Py_DECREF(call_soon);
	if (!r)
		return -1;
	Py_DECREF(r);
	return 0;
}

/* Runs cb(w) now, in ctx. The reaping driver calls the task's wakeup this
 * way: no Handle, no extra pass of the loop. */
static int run_callback(PyObject *cb, PyObject *ctx, PyObject *w)
{
	if (ctx && PyContext_Enter(ctx) < 0)
		return -1;
	PyObject *r = PyObject_CallOneArg(cb, w);
	if (ctx && PyContext_Exit(ctx) < 0) {
		Py_XDECREF(r);
		return -1;
	}
	if (!r)
		return -1;
	Py_DECREF(r);
	return 0;
}

/* The first of several errors, kept while the work that follows goes on
 * (a batch must be dispatched whole). */
typedef struct {
	PyObject *type, *value, *tb;
	int set;
} first_error;

/* Takes the current exception into e, or drops it if e has one already. */
static void first_error_keep(first_error *e)
{
	if (e->set) {
		PyErr_Clear();
		return;
	}
	PyErr_Fetch(&e->type, &e->value, &e->tb);
	e->set = 1;
}

/* Raises the kept exception again: -1, or 0 if there was none. */
static int first_error_raise(first_error *e)
{
	if (!e->set)
		return 0;
	PyErr_Restore(e->type, e->value, e->tb);
	return -1;
}

/* cb(w) now, or loop.call_soon(cb, w) when the caller cannot run it here. */
static int fire(Waiter *w, PyObject *cb, PyObject *ctx, int now)
{
	return now ? run_callback(cb, ctx, (PyObject *)w)
	           : schedule_callback(w->loop, cb, ctx, (PyObject *)w);
}

/* Marks w finished and runs (now) or schedules (soon) its callbacks. An
 * exception from a callback does not stop the others: the first is kept
 * for the caller. */
static int waiter_finish(Waiter *w, int state, int now)
{
	w->state = (unsigned char)state;
	Py_CLEAR(w->drv);
	PyObject *cb = w->cb, *ctx = w->cb_ctx, *more = w->more_cbs;
	w->cb = w->cb_ctx = w->more_cbs = NULL;
	first_error err = {0};
	Py_INCREF(w);
	if (cb && fire(w, cb, ctx, now) < 0)
		first_error_keep(&err);
	for (Py_ssize_t i = 0; more && i < PyList_GET_SIZE(more); i++) {
		PyObject *pair = PyList_GET_ITEM(more, i);
		PyObject *x = PyTuple_GET_ITEM(pair, 1);
		if (fire(w, PyTuple_GET_ITEM(pair, 0), x == Py_None ? NULL : x, now) < 0)
			first_error_keep(&err);
	}
	Py_XDECREF(cb);
	Py_XDECREF(ctx);
	Py_XDECREF(more);
	Py_DECREF(w);
	return first_error_raise(&err);
}

/* The OSError for a negative errno (ringkit.error), or NULL. */
static PyObject *errno_error(long long res)
{
	PyObject *r = PyLong_FromLongLong(res);
	if (!r)
		return NULL;
	PyObject *exc = PyObject_CallOneArg(make_error, r);
	Py_DECREF(r);
	return exc;
}

PyObject *rkpy_errno_error(long long res)
{
	return errno_error(res);
}

/* Raises errno_error(res); always returns -1. */
static int raise_errno(long long res)
{
	PyObject *exc = errno_error(res);
	if (exc) {
		PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
		Py_DECREF(exc);
	}
	return -1;
}

/* The CancelledError a cancelled waiter raises: with cancel()'s message,
 * as asyncio.Future._make_cancelled_error() makes it. */
static PyObject *waiter_make_cancelled_error(Waiter *w, PyObject *unused)
{
	(void)unused;
	if (w->cancel_msg)
		return PyObject_CallOneArg(cancelled_error, w->cancel_msg);
	return PyObject_CallNoArgs(cancelled_error);
}

/* Sets the exception a finished waiter raises and returns -1; 0 when it has
 * a value instead. */
static int waiter_set_error(Waiter *w)
{
	if (w->state == CANCELLED) {
		PyObject *exc = waiter_make_cancelled_error(w, NULL);
		if (exc) {
			PyErr_SetObject(cancelled_error, exc);
			Py_DECREF(exc);
		}
		return -1;
	}
	if (w->state == PENDING) {
		PyErr_SetString(invalid_state, "Result is not set.");
		return -1;
	}
	if (w->res < 0 && !w->raw)
		return raise_errno(w->res);
	return 0;
}

static PyObject *waiter_result(Waiter *w, PyObject *unused)
{
	(void)unused;
	if (waiter_set_error(w) < 0)
		return NULL;
	return PyLong_FromLongLong(w->res);
}

static PyObject *waiter_exception(Waiter *w, PyObject *unused)
{
	(void)unused;
	if (w->state != DONE || w->raw || w->res >= 0) {
		if (w->state == DONE)
			Py_RETURN_NONE;
		waiter_set_error(w);
		return NULL;
	}
	return errno_error(w->res);
}

static PyObject *waiter_done(Waiter *w, PyObject *unused)
{
	(void)unused;
	return PyBool_FromLong(w->state != PENDING);
}

static PyObject *waiter_cancelled(Waiter *w, PyObject *unused)
{
	(void)unused;
	return PyBool_FromLong(w->state == CANCELLED);
}

static PyObject *waiter_get_loop(Waiter *w, PyObject *unused)
{
	(void)unused;
	Py_INCREF(w->loop);
	return w->loop;
}

static PyObject *waiter_add_done_callback(Waiter *w, PyObject *const *args, Py_ssize_t nargs,
                                          PyObject *kwnames)
{
	PyObject *fn = NULL, *ctx = NULL;
	Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
	if (nargs != 1 || nkw > 1 ||
	    (nkw == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "context"))) {
		PyErr_SetString(PyExc_TypeError, "add_done_callback(fn, *, context=None)");
		return NULL;
	}
	fn = args[0];
	if (nkw == 1 && args[1] != Py_None)
		ctx = args[1];
	if (w->state != PENDING) {
		if (schedule_callback(w->loop, fn, ctx, (PyObject *)w) < 0)
			return NULL;
		Py_RETURN_NONE;
	}
	if (!w->cb) {
		Py_INCREF(fn);
		w->cb = fn;
		Py_XINCREF(ctx);
		w->cb_ctx = ctx;
		Py_RETURN_NONE;
	}
	if (!w->more_cbs && !(w->more_cbs = PyList_New(0)))
		return NULL;
	PyObject *pair = PyTuple_Pack(2, fn, ctx ? ctx : Py_None);
	if (!pair)
		return NULL;
	int r = PyList_Append(w->more_cbs, pair);
	Py_DECREF(pair);
	if (r < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *waiter_remove_done_callback(Waiter *w, PyObject *fn)
{
	long removed = 0;
	if (w->cb) {
		int eq = PyObject_RichCompareBool(w->cb, fn, Py_EQ);
		if (eq < 0)
			return NULL;
		if (eq) {
			Py_CLEAR(w->cb);
			Py_CLEAR(w->cb_ctx);
			removed++;
		}
	}
	for (Py_ssize_t i = w->more_cbs ? PyList_GET_SIZE(w->more_cbs) : 0; i-- > 0;) {
		PyObject *pair = PyList_GET_ITEM(w->more_cbs, i);
		int eq = PyObject_RichCompareBool(PyTuple_GET_ITEM(pair, 0), fn, Py_EQ);
		if (eq < 0)
			return NULL;
		if (eq) {
			if (PySequence_DelItem(w->more_cbs, i) < 0)
				return NULL;
			removed++;
		}
	}
	return PyLong_FromLong(removed);
}

static void driver_schedule_flush(Driver *d);

/* Asks the kernel to cancel w's op. With the op table full there is no
 * slot for a cancel op: rk_cancel_sync needs none (and cancels itself an op
 * the kernel has not taken yet). Either way the op's own completion ends
 * the waiter. */
static void waiter_send_cancel(Waiter *w)
{
	rk_ring *ring = w->drv->ring;
	if (rk_prep_cancel(ring, w->id, 0) == -EBUSY)
		rk_cancel_sync(ring, w->id, -1);
	driver_schedule_flush(w->drv);
}

/* Task.cancel() lands here. The op keeps its buffer until its final
 * completion, so the waiter finishes (as cancelled) only then. */
static PyObject *waiter_cancel(Waiter *w, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
	Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
	if (nargs + nkw > 1 ||
	    (nkw == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "msg"))) {
		PyErr_SetString(PyExc_TypeError, "cancel(msg=None)");
		return NULL;
	}
	if (w->state != PENDING)
		Py_RETURN_FALSE;
	PyObject *msg = nargs + nkw == 1 ? args[0] : Py_None;
	if (msg != Py_None) {
		Py_INCREF(msg);
		Py_XSETREF(w->cancel_msg, msg);
	}
	if (w->cancel_requested)
		Py_RETURN_TRUE;
	w->cancel_requested = 1;
	if (!w->drv || !w->drv->ring) {
		/* Detached: the ring is gone, nothing will complete this. */
		if (waiter_finish(w, CANCELLED, 0) < 0)
			return NULL;
		Py_RETURN_TRUE;
	}
	waiter_send_cancel(w);
	Py_RETURN_TRUE;
}

typedef enum { STEP_YIELD, STEP_RETURN, STEP_ERROR } step_t;

/* One step of the waiter as an iterator: yields itself while pending (the
 * task then waits on it like on a future), returns the result once done. */
static step_t waiter_step(Waiter *w, PyObject **out)
{
	if (w->state == PENDING) {
		w->blocking = 1;
		Py_INCREF(w);
		*out = (PyObject *)w;
		return STEP_YIELD;
	}
	if (waiter_set_error(w) < 0)
		return STEP_ERROR;
	*out = PyLong_FromLongLong(w->res);
	return *out ? STEP_RETURN : STEP_ERROR;
}

static PyObject *waiter_iternext(Waiter *w)
{
	PyObject *v;
	switch (waiter_step(w, &v)) {
	case STEP_YIELD:
		return v;
	case STEP_RETURN: {
		/* StopIteration(value): an int is never a tuple or an exception. */
		PyErr_SetObject(PyExc_StopIteration, v);
		Py_DECREF(v);
		return NULL;
	}
	default:
		return NULL;
	}
}

static PyObject *waiter_send(Waiter *w, PyObject *arg)
{
	(void)arg;
	return waiter_iternext(w);
}

#if PY_VERSION_HEX >= 0x030A0000
static PySendResult waiter_am_send(Waiter *w, PyObject *arg, PyObject **result)
{
	(void)arg;
	switch (waiter_step(w, result)) {
	case STEP_YIELD:
		return PYGEN_NEXT;
	case STEP_RETURN:
		return PYGEN_RETURN;
	default:
		*result = NULL;
		return PYGEN_ERROR;
	}
}
#endif

/* throw(exc) / throw(type[, value[, tb]]): raised at the await point. The
 * op itself is not affected: its buffer stays pinned by the ring. */
static PyObject *waiter_throw(Waiter *w, PyObject *const *args, Py_ssize_t nargs)
{
	(void)w;
	if (nargs < 1 || nargs > 3) {
		PyErr_SetString(PyExc_TypeError, "throw(exc) or throw(type, value, traceback)");
		return NULL;
	}
	PyObject *typ = args[0], *val = nargs > 1 ? args[1] : Py_None;
	if (PyExceptionInstance_Check(typ)) {
		PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
	} else if (PyExceptionClass_Check(typ)) {
		PyErr_SetObject(typ, val);
	} else {
		PyErr_SetString(PyExc_TypeError, "exceptions must derive from BaseException");
	}
	return NULL;
}

static PyObject *waiter_close(Waiter *w, PyObject *unused)
{
	(void)w;
	(void)unused;
	Py_RETURN_NONE;
}

static PyObject *waiter_await(Waiter *w)
{
	Py_INCREF(w);
	return (PyObject *)w;
}

static PyObject *waiter_get_blocking(Waiter *w, void *unused)
{
	(void)unused;
	return PyBool_FromLong(w->blocking);
}

static int waiter_set_blocking(Waiter *w, PyObject *v, void *unused)
{
	(void)unused;
	if (!v) {
		PyErr_SetString(PyExc_AttributeError, "cannot delete _asyncio_future_blocking");
		return -1;
	}
	int t = PyObject_IsTrue(v);
	if (t < 0)
		return -1;
	w->blocking = (unsigned char)t;
	return 0;
}

/* The raw result once the op has completed (also after a cancel that came
 * too late, so callers can close an fd the op produced); else None. */
static PyObject *waiter_get_res(Waiter *w, void *unused)
{
	(void)unused;
	if (!w->has_res)
		Py_RETURN_NONE;
	return PyLong_FromLongLong(w->res);
}

static PyObject *waiter_get_id(Waiter *w, void *unused)
{
	(void)unused;
	return PyLong_FromLongLong(w->id);
}

static PyObject *waiter_get_cancel_message(Waiter *w, void *unused)
{
	(void)unused;
	PyObject *m = w->cancel_msg ? w->cancel_msg : Py_None;
	Py_INCREF(m);
	return m;
}

static int waiter_set_cancel_message(Waiter *w, PyObject *v, void *unused)
{
	(void)unused;
	if (v == Py_None)
		v = NULL;
	Py_XINCREF(v);
	Py_XSETREF(w->cancel_msg, v);
	return 0;
}

/* asyncio sets fut._log_traceback = False once it has looked at a child's
 * exception; a waiter never logs one, so only False is stored. */
static PyObject *waiter_get_log_traceback(Waiter *w, void *unused)
{
	(void)w;
	(void)unused;
	Py_RETURN_FALSE;
}

static int waiter_set_log_traceback(Waiter *w, PyObject *v, void *unused)
{
	(void)w;
	(void)unused;
	int t = v ? PyObject_IsTrue(v) : 0;
	if (t < 0)
		return -1;
	if (t) {
		PyErr_SetString(PyExc_ValueError, "_log_traceback can only be set to False");
		return -1;
	}
	return 0;
}

static PyObject *waiter_get_none(Waiter *w, void *unused)
{
	(void)w;
	(void)unused;
	Py_RETURN_NONE;
}

static PyObject *waiter_repr(Waiter *w)
{
	static const char *names[] = {"pending", "done", "cancelled"};
	if (w->has_res)
		return PyUnicode_FromFormat("<ringkit.aio op %lld %s res=%lld>", (long long)w->id,
		                            names[w->state], (long long)w->res);
	return PyUnicode_FromFormat("<ringkit.aio op %lld %s>", (long long)w->id, names[w->state]);
}

static PyMethodDef waiter_methods[] = {
	{"result", (PyCFunction)waiter_result, METH_NOARGS,
	 "result($self, /)\n--\n\nThe op's result; raises its OSError, CancelledError when "
	 "cancelled, InvalidStateError while it is in flight."},
	{"exception", (PyCFunction)waiter_exception, METH_NOARGS,
	 "exception($self, /)\n--\n\nThe op's OSError, or None after a success; CancelledError "
	 "when cancelled, InvalidStateError while it is in flight."},
	{"done", (PyCFunction)waiter_done, METH_NOARGS,
	 "done($self, /)\n--\n\nWhether the op has finished (result, error or cancelled)."},
	{"cancelled", (PyCFunction)waiter_cancelled, METH_NOARGS,
	 "cancelled($self, /)\n--\n\nWhether the op finished as cancelled."},
	{"get_loop", (PyCFunction)waiter_get_loop, METH_NOARGS,
	 "get_loop($self, /)\n--\n\nThe event loop the op belongs to."},
	{"add_done_callback", (PyCFunction)(void (*)(void))waiter_add_done_callback,
	 METH_FASTCALL | METH_KEYWORDS,
	 "add_done_callback($self, fn, /, *, context=None)\n--\n\nCalls fn(waiter) (in context) "
	 "through the loop once the op has finished, as asyncio.Future does. Returns None."},
	{"remove_done_callback", (PyCFunction)waiter_remove_done_callback, METH_O,
	 "remove_done_callback($self, fn, /)\n--\n\nRemoves every registration of fn; returns "
	 "how many there were."},
	{"cancel", (PyCFunction)(void (*)(void))waiter_cancel, METH_FASTCALL | METH_KEYWORDS,
	 "cancel($self, /, msg=None)\n--\n\nSubmits an io_uring cancel of the op; it finishes as "
	 "cancelled once its final completion has arrived (the buffer stays pinned until then). "
	 "Returns False when it had finished already."},
	{"send", (PyCFunction)waiter_send, METH_O,
	 "send($self, value, /)\n--\n\nThe coroutine protocol (await drives it): not for users."},
	{"throw", (PyCFunction)(void (*)(void))waiter_throw, METH_FASTCALL,
	 "throw($self, typ, val=None, tb=None, /)\n--\n\nThe coroutine protocol (await drives "
	 "it): raises the exception given. Not for users."},
	{"close", (PyCFunction)waiter_close, METH_NOARGS,
	 "close($self, /)\n--\n\nThe coroutine protocol: nothing to release. Returns None."},
	{"_make_cancelled_error", (PyCFunction)waiter_make_cancelled_error, METH_NOARGS, NULL},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef waiter_getset[] = {
	{"_asyncio_future_blocking", (getter)waiter_get_blocking, (setter)waiter_set_blocking, NULL,
	 NULL},
	{"res", (getter)waiter_get_res, NULL, "the op's raw result once it completed, else None",
	 NULL},
	{"id", (getter)waiter_get_id, NULL, "the op id", NULL},
	/* What asyncio's own code reads or sets on the futures it is given
	 * (gather, shield, wait_for, futures._get_loop). */
	{"_cancel_message", (getter)waiter_get_cancel_message, (setter)waiter_set_cancel_message,
	 NULL, NULL},
	{"_log_traceback", (getter)waiter_get_log_traceback, (setter)waiter_set_log_traceback, NULL,
	 NULL},
	{"_source_traceback", (getter)waiter_get_none, NULL, NULL, NULL},
	{"_loop", (getter)waiter_get_loop, NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyAsyncMethods waiter_async = {
	.am_await = (unaryfunc)waiter_await,
#if PY_VERSION_HEX >= 0x030A0000
	.am_send = (sendfunc)waiter_am_send,
#endif
};

static PyTypeObject WaiterType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "ringkit._aioloop.Waiter",
	.tp_doc = "An in-flight op of ringkit.aio: awaitable, future-compatible.",
	.tp_basicsize = sizeof(Waiter),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_dealloc = (destructor)waiter_dealloc,
	.tp_traverse = (traverseproc)waiter_traverse,
	.tp_clear = (inquiry)waiter_clear,
	.tp_repr = (reprfunc)waiter_repr,
	.tp_as_async = &waiter_async,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)waiter_iternext,
	.tp_methods = waiter_methods,
	.tp_getset = waiter_getset,
};

/* ------------------------------------------------------------------------ */
/* Driver                                                                   */
/* ------------------------------------------------------------------------ */

/* The loop a weak reference names (a new reference), or NULL if it is gone. */
static PyObject *weak_target(PyObject *ref)
{
	if (!ref)
		return NULL;
#if PY_VERSION_HEX >= 0x030D0000
	PyObject *o;
	return PyWeakref_GetRef(ref, &o) > 0 ? o : NULL;
#else
	PyObject *o = PyWeakref_GetObject(ref);
	if (o == Py_None)
		return NULL;
	Py_INCREF(o);
	return o;
#endif
}

static PyObject *driver_loop(Driver *d)
{
	PyObject *loop = weak_target(d->loop_ref);
	if (!loop && !PyErr_Occurred())
		PyErr_SetString(PyExc_RuntimeError, "the ring's event loop is gone");
	return loop;
}

static int driver_request_flush(Driver *d)
{
	if (d->flush_pending || d->driven)
		return 0;
	PyObject *loop = driver_loop(d);
	if (!loop)
		return -1;
	PyObject *r = PyObject_CallMethodOneArg(loop, str_call_soon, d->flush_cb);
	Py_DECREF(loop);
	if (!r)
		return -1;
	Py_DECREF(r);
	d->flush_pending = 1;
	return 0;
}

static void driver_schedule_flush(Driver *d)
{
	/* From cancel(): a failure to schedule must not turn Task.cancel() into
	 * an exception; the next op or eventfd wakeup flushes anyway. */
	if (driver_request_flush(d) < 0)
		PyErr_WriteUnraisable((PyObject *)d);
}

static PyObject *driver_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *names[] = {"ring", "capacity", "loop", "on_other", "on_room", NULL};
	unsigned int cap;
	PyObject *handle, *loop, *on_other, *on_room;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OIOOO:Driver", names, &handle, &cap, &loop,
	                                 &on_other, &on_room))
		return NULL;
	rk_ring *ring = capi->ring(handle);
	if (!ring || !cap) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "Driver needs a live ring and its capacity");
		return NULL;
	}
	Driver *d = (Driver *)type->tp_alloc(type, 0);
	if (!d)
		return NULL;
	d->ring = ring;
	d->cap = cap;
	Py_INCREF(handle);
	d->handle = handle;
	Py_INCREF(on_other);
	d->on_other = on_other;
	Py_INCREF(on_room);
	d->on_room = on_room;
	d->table = PyMem_Calloc(cap, sizeof *d->table);
	d->routed = PyMem_Calloc(cap, sizeof *d->routed);
	d->loop_ref = PyWeakref_NewRef(loop, NULL);
	d->flush_cb = PyObject_GetAttrString((PyObject *)d, "_flush");
	if (!d->table || !d->routed || !d->loop_ref || !d->flush_cb) {
		if (!d->table || !d->routed)
			PyErr_NoMemory();
		Py_DECREF(d);
		return NULL;
	}
	return (PyObject *)d;
}

static int driver_traverse(Driver *d, visitproc visit, void *arg)
{
	Py_VISIT(d->handle);
	Py_VISIT(d->loop_ref);
	Py_VISIT(d->on_other);
	Py_VISIT(d->on_room);
	Py_VISIT(d->flush_cb);
	Py_VISIT(d->polls);
	Py_VISIT(d->ready);
	for (uint32_t i = 0; d->table && i < d->cap; i++)
		Py_VISIT(d->table[i]);
	for (uint32_t i = 0; d->routed && i < d->cap; i++) {
		Py_VISIT(d->routed[i].tr);
		Py_VISIT(d->routed[i].data);
	}
	return 0;
}

/* Drops every routed op's transport and data. */
static void routed_clear(Driver *d)
{
	for (uint32_t i = 0; d->routed && i < d->cap; i++) {
		Py_CLEAR(d->routed[i].tr);
		Py_CLEAR(d->routed[i].data);
	}
}

static int driver_clear(Driver *d)
{
	Py_CLEAR(d->handle);
	Py_CLEAR(d->loop_ref);
	Py_CLEAR(d->on_other);
	Py_CLEAR(d->on_room);
	Py_CLEAR(d->flush_cb);
	Py_CLEAR(d->polls);
	Py_CLEAR(d->ready);
	for (uint32_t i = 0; d->table && i < d->cap; i++)
		Py_CLEAR(d->table[i]);
	routed_clear(d);
	return 0;
}

static void driver_dealloc(Driver *d)
{
	PyObject_GC_UnTrack(d);
	if (last_drv == d)
		last_drv = NULL;
	driver_clear(d);
	PyMem_Free(d->table);
	PyMem_Free(d->routed);
	Py_TYPE(d)->tp_free((PyObject *)d);
}

/* Takes the waiter of a final completion out of the table, or NULL. */
static Waiter *driver_take(Driver *d, const rk_cqe *c)
{
	if (c->id < 0 || (c->flags & RK_CQE_F_MORE))
		return NULL;
	uint32_t slot = (uint32_t)c->id;
	if (slot >= d->cap)
		return NULL;
	Waiter *w = d->table[slot];
	if (!w || w->id != c->id)
		return NULL;
	d->table[slot] = NULL;
	return w; /* the table's reference, now the caller's */
}

static int driver_release_pin(Driver *d, const rk_cqe *c)
{
	return d->handle ? capi->settle(d->handle, c) : 0;
}

/* The routed op of a completion, copied out (with new references) so that
 * what the transport does while the batch is dispatched cannot change it;
 * a final completion takes the slot's entry itself. 0 when the completion
 * is not a routed op's. */
static int routed_take(Driver *d, const rk_cqe *c, RoutedOp *out)
{
	uint32_t slot = (uint32_t)c->id;
	if (c->id < 0 || slot >= d->cap)
		return 0;
	RoutedOp *r = &d->routed[slot];
	if (!r->tr || r->id != c->id)
		return 0;
	*out = *r;
	if (c->flags & RK_CQE_F_MORE) {
		Py_INCREF(out->tr);
		Py_XINCREF(out->data);
	} else {
		r->tr = r->data = NULL;
	}
	return 1;
}

static PyObject *str_rx, *str_sent;

/* Calls tr.<name>(arg), stealing arg (NULL: already failed). */
static int call_steal(PyObject *tr, PyObject *name, PyObject *arg)
{
	if (!arg)
		return -1;
	PyObject *x = PyObject_CallMethodOneArg(tr, name, arg);
	Py_DECREF(arg);
	if (!x)
		return -1;
	Py_DECREF(x);
	return 0;
}

/* tr._rx(data) for a message from the pool, stealing data; straight into C
 * for the loop's transport. */
static int deliver_pool_rx(PyObject *tr, PyObject *data)
{
	if (!data || !rkpy_is_stream(tr))
		return call_steal(tr, str_rx, data);
	int r = rkpy_stream_pool_rx(tr, data);
	Py_DECREF(data);
	return r;
}

/* tr.sent(res), likewise. */
static int deliver_sent(PyObject *tr, long res)
{
	if (rkpy_is_stream(tr))
		return rkpy_stream_sent(tr, res);
	return call_steal(tr, str_sent, PyLong_FromLong(res));
}

/* Hands a routed op's completion to its transport: a receive's message to
 * tr._rx(bytes) (the chunk back to the pool first) and its end to
 * tr._rx_end(id, res); a send's result to tr.sent(res). */
static int routed_dispatch(Driver *d, RoutedOp *op, const rk_cqe *c)
{
	int r = 0;
	if (op->kind == ROUTE_SEND) {
		Py_CLEAR(op->data); /* the kernel has read it: a final completion */
		r = deliver_sent(op->tr, c->res);
	} else if (op->kind == ROUTE_READY) {
		r = rkpy_stream_ready(op->tr, op->id, c->res, (c->flags & RK_CQE_F_MORE) != 0);
	} else {
		first_error err = {0};
		if (c->flags & RK_CQE_F_BUFFER) {
			int32_t chunk = (int32_t)(c->flags >> RK_CQE_BUFFER_SHIFT);
			PyObject *data = NULL;
			if (c->res > 0)
				data = PyBytes_FromStringAndSize(
					op->base + (size_t)chunk * op->chunk_size, c->res);
			int rc = d->ring ? rk_ring_recycle_chunk(d->ring, op->pool, chunk) : 0;
			if (rc < 0) {
				Py_XDECREF(data);
				raise_errno(rc);
				first_error_keep(&err);
			} else if (c->res > 0 && deliver_pool_rx(op->tr, data) < 0) {
				first_error_keep(&err);
			}
		}
		if (!(c->flags & RK_CQE_F_MORE)) {
			/* The receive ended: the transport's bookkeeping runs even
			 * when its last message raised. */
			PyObject *x = PyObject_CallMethod(op->tr, "_rx_end", "Li", (long long)c->id,
			                                  (int)c->res);
			if (x)
				Py_DECREF(x);
			else
				first_error_keep(&err);
		}
		r = first_error_raise(&err);
	}
	Py_CLEAR(op->tr);
	return r;
}

/* A completion of one of an event loop's poll ops: 1 when it was one (and
 * went to d->ready), 0 when not, -1 on error. */
static int poll_completion(Driver *d, const rk_cqe *c)
{
	PyObject *key = PyLong_FromLongLong(c->id);
	if (!key)
		return -1;
	int has = PyDict_Contains(d->polls, key);
	if (has <= 0) {
		Py_DECREF(key);
		return has;
	}
	if (!d->ready && !(d->ready = PyList_New(0))) {
		Py_DECREF(key);
		return -1;
	}
	PyObject *rec = Py_BuildValue("(Ni)", key, (int)c->res);
	int r = rec ? PyList_Append(d->ready, rec) : -1;
	Py_XDECREF(rec);
	return r < 0 ? -1 : 1;
}

/* Reaps every ready completion, first waiting up to timeout_ns (< 0: no
 * limit) for one when wait is set: waiters finish and their tasks run right
 * here; the completions of the event loop's poll ops (d->polls) are
 * appended to d->ready as (id, res) tuples; everything else goes to on_other
 * as (id, res, flags) tuples. When a callback raises (a task lets
 * KeyboardInterrupt out), the rest of the batch is still dispatched, then
 * the first exception propagates. A signal ends the wait early. */
static int driver_reap(Driver *d, int wait, int64_t timeout_ns)
{
	rk_cqe cqes[REAP_BATCH];
	PyObject *others = NULL;
	first_error err = {0};
	Py_INCREF(d); /* a task may drop the last other reference */
	Driver *outer = draining;
	draining = d;
	while (d->ring) {
		int n;
		if (wait) {
			Py_BEGIN_ALLOW_THREADS
			n = rk_reap(d->ring, cqes, REAP_BATCH, 1, timeout_ns);
			Py_END_ALLOW_THREADS
			wait = 0;
			if (n == -EINTR)
				break; /* the signal's Python handler runs next */
		} else {
			n = rk_reap(d->ring, cqes, REAP_BATCH, 0, 0);
			if (n == -EINTR)
				continue;
		}
		if (n < 0) {
			raise_errno(n);
			first_error_keep(&err);
			break;
		}
		/* Every waiter of the batch leaves the table before any task runs:
		 * rk_reap freed all their slots, and a task's next op may take one. */
		Waiter *done[REAP_BATCH];
		RoutedOp routed[REAP_BATCH];
		unsigned char is_routed[REAP_BATCH];
		for (int k = 0; k < n; k++) {
			const rk_cqe *c = &cqes[k];
			done[k] = driver_take(d, c);
			is_routed[k] = !done[k] && routed_take(d, c, &routed[k]);
			if (driver_release_pin(d, c) < 0)
				first_error_keep(&err);
		}
		for (int k = 0; k < n; k++) {
			const rk_cqe *c = &cqes[k];
			Waiter *w = done[k];
			int r;
			if (w) {
				w->res = c->res;
				w->has_res = 1;
				r = waiter_finish(w, w->cancel_requested ? CANCELLED : DONE, 1);
				Py_DECREF(w);
			} else if (is_routed[k]) {
				r = routed_dispatch(d, &routed[k], c);
			} else if (d->polls && (r = poll_completion(d, c)) != 0) {
				r = r < 0 ? -1 : 0;
			} else if (!others && !(others = PyList_New(0))) {
				r = -1;
			} else {
				PyObject *rec = Py_BuildValue("(LiI)", (long long)c->id, (int)c->res,
				                              (unsigned int)c->flags);
				r = rec ? PyList_Append(others, rec) : -1;
				Py_XDECREF(rec);
			}
			if (r < 0)
				first_error_keep(&err);
		}
		if (n < REAP_BATCH)
			break;
	}
	if (others) {
		PyObject *r = PyObject_CallOneArg(d->on_other, others);
		Py_DECREF(others);
		if (r)
			Py_DECREF(r);
		else
			first_error_keep(&err);
	}
	uint64_t st[RK_STAT_CAPACITY + 1];
	if (d->backlog > 0 && d->ring &&
	    rk_ring_stats(d->ring, st, RK_STAT_CAPACITY + 1) > RK_STAT_CAPACITY &&
	    st[RK_STAT_CAPACITY] > st[RK_STAT_INFLIGHT]) {
		PyObject *r = PyObject_CallFunction(d->on_room, "K",
		                                    (unsigned long long)(st[RK_STAT_CAPACITY] -
		                                                         st[RK_STAT_INFLIGHT]));
		if (r)
			Py_DECREF(r);
		else
			first_error_keep(&err);
	}
	draining = outer;
	Py_DECREF(d);
	return first_error_raise(&err);
}

static PyObject *driver_drain(Driver *d, PyObject *unused)
{
	(void)unused;
	if (driver_reap(d, 0, 0) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *driver_flush(Driver *d, PyObject *unused)
{
	d->flush_pending = 0;
	return driver_drain(d, unused);
}

/* select(timeout, polls): what an event loop's selector calls once per pass.
 * Waits up to timeout seconds (None: no limit) for a completion, reaps
 * everything ready as drain() does, and returns the (id, res) of the ops
 * whose ids are keys of polls, including those an earlier drain or flush
 * reaped (it then does not wait). polls stays the driver's: every later
 * reap sets such completions aside for the next select. */
static PyObject *driver_select(Driver *d, PyObject *args)
{
	PyObject *timeout, *polls;
	if (!PyArg_ParseTuple(args, "OO!:select", &timeout, &PyDict_Type, &polls))
		return NULL;
	int64_t ns = -1;
	if (timeout != Py_None) {
		double t = PyFloat_AsDouble(timeout);
		if (t == -1.0 && PyErr_Occurred())
			return NULL;
		ns = t <= 0 ? 0 : t >= 9e9 ? INT64_MAX : (int64_t)(t * 1e9);
	}
	if (d->polls != polls) {
		Py_INCREF(polls);
		Py_XSETREF(d->polls, polls);
	}
	int early = d->ready && PyList_GET_SIZE(d->ready) > 0;
	d->flush_pending = 0;
	if (driver_reap(d, ns != 0 && !early, ns) < 0)
		return NULL;
	PyObject *ready = d->ready;
	d->ready = NULL;
	return ready ? ready : PyList_New(0);
}

/* route_recv(op_id, transport, base, chunk_size, region): the completions
 * of op_id, a multishot receive from a buffer pool (memory at address base,
 * chunks of chunk_size, region the rk_region's address), go to the
 * transport (see routed_dispatch). */
static PyObject *driver_route_recv(Driver *d, PyObject *args)
{
	long long id;
	PyObject *tr;
	unsigned long long base, region;
	unsigned int chunk_size;
	if (!PyArg_ParseTuple(args, "LOKIK:route_recv", &id, &tr, &base, &chunk_size, &region))
		return NULL;
	uint32_t slot = (uint32_t)id;
	if (!d->ring || id < 0 || slot >= d->cap || d->routed[slot].tr || !base || !region) {
		PyErr_Format(PyExc_ValueError, "cannot route op %lld", id);
		return NULL;
	}
	RoutedOp *r = &d->routed[slot];
	Py_INCREF(tr);
	*r = (RoutedOp){.id = id, .tr = tr, .base = (const char *)(uintptr_t)base,
	                .chunk_size = chunk_size, .pool = (rk_region *)(uintptr_t)region,
	                .kind = ROUTE_POOL};
	Py_RETURN_NONE;
}

static int fd_arg(PyObject *o);

/* Routes the completion of op id, just queued, to transport tr, data held
 * with it; returns id (INT64_MIN if the flush could not be scheduled: the
 * op stays queued and routed). */
static int64_t route_op(Driver *d, int64_t id, PyObject *tr, PyObject *data, unsigned char kind)
{
	RoutedOp *r = &d->routed[(uint32_t)id];
	Py_XDECREF(r->tr); /* a stale entry of an op that ended unseen (cannot happen) */
	Py_XDECREF(r->data);
	Py_INCREF(tr);
	Py_XINCREF(data);
	*r = (RoutedOp){.id = id, .tr = tr, .data = data, .kind = kind};
	if (driver_request_flush(d) < 0)
		return INT64_MIN;
	return id;
}

int64_t rkpy_driver_send(PyObject *drv, int fd, PyObject *data, const char *p, Py_ssize_t n,
                         PyObject *tr, int msg_flags)
{
	Driver *d = (Driver *)drv;
	if (!PyObject_TypeCheck(drv, &DriverType)) {
		PyErr_SetString(PyExc_TypeError, "not a Driver");
		return INT64_MIN;
	}
	if (!d->ring)
		return -EBADF;
	if (n > UINT32_MAX) {
		PyErr_SetString(PyExc_ValueError, "send: data over 4 GiB");
		return INT64_MIN;
	}
	int64_t id = rk_prep_send(d->ring, fd, p, (uint32_t)n, msg_flags, 0);
	if (id < 0)
		return id;
	return route_op(d, id, tr, data, ROUTE_SEND);
}

int64_t rkpy_driver_poll_in(PyObject *drv, int fd, PyObject *tr)
{
	Driver *d = (Driver *)drv;
	if (!PyObject_TypeCheck(drv, &DriverType)) {
		PyErr_SetString(PyExc_TypeError, "poll: not a Driver");
		return INT64_MIN;
	}
	if (!d->ring)
		return -EBADF;
	int64_t id = rk_prep_poll_multishot(d->ring, fd, POLLIN | POLLRDHUP, 0);
	if (id < 0)
		return id;
	return route_op(d, id, tr, NULL, ROUTE_READY);
}

/* send(fd, data, transport, msg_flags): queues send(2) of the bytes data,
 * held here until the final completion, which goes to transport.sent(res).
 * Returns the op id; OSError as the ring answers (EBUSY: no free slot). */
static PyObject *driver_send(Driver *d, PyObject *const *args, Py_ssize_t nargs)
{
	if (nargs != 4 || !PyBytes_CheckExact(args[1])) {
		PyErr_SetString(PyExc_TypeError, "send(fd, data: bytes, transport, msg_flags)");
		return NULL;
	}
	if (!d->ring) {
		PyErr_SetString(PyExc_ValueError, "ring is closed");
		return NULL;
	}
	int fd = fd_arg(args[0]);
	if (fd == -1 && PyErr_Occurred())
		return NULL;
	long msg_flags = PyLong_AsLong(args[3]);
	if (msg_flags == -1 && PyErr_Occurred())
		return NULL;
	if (msg_flags < INT32_MIN || msg_flags > INT32_MAX) {
		PyErr_SetString(PyExc_ValueError, "send: msg_flags out of range");
		return NULL;
	}
	int64_t id = rkpy_driver_send((PyObject *)d, fd, args[1], PyBytes_AS_STRING(args[1]),
	                              PyBytes_GET_SIZE(args[1]), args[2], (int)msg_flags);
	if (id == INT64_MIN)
		return NULL;
	if (id < 0)
		return raise_errno(id), NULL;
	return PyLong_FromLongLong(id);
}

static PyObject *driver_schedule(Driver *d, PyObject *unused)
{
	(void)unused;
	if (!d->ring) {
		PyErr_SetString(PyExc_ValueError, "ring is closed");
		return NULL;
	}
	if (driver_request_flush(d) < 0)
		return NULL;
	Py_RETURN_NONE;
}

/* Registers a waiter for op id (queued through ringkit.Ring, whose pin
 * table holds the op's buffers) and queues the flush that submits it. */
static Waiter *driver_track(Driver *d, int64_t id, int raw)
{
	uint32_t slot = (uint32_t)id;
	if (id < 0 || slot >= d->cap) {
		PyErr_Format(PyExc_ValueError, "not an op id of this ring: %lld", (long long)id);
		return NULL;
	}
	if (d->table[slot]) {
		PyErr_Format(PyExc_ValueError, "op %lld already has a waiter", (long long)id);
		return NULL;
	}
	PyObject *loop = driver_loop(d);
	if (!loop)
		return NULL;
	Waiter *w = driver_request_flush(d) < 0 ? NULL : waiter_new(d, loop, id, raw);
	Py_DECREF(loop);
	if (!w)
		return NULL;
	Py_INCREF(w);
	d->table[slot] = w;
	return w;
}

static PyObject *driver_wait(Driver *d, PyObject *args, PyObject *kw)
{
	static char *names[] = {"op_id", "raw", NULL};
	long long id;
	int raw = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "L|p:wait", names, &id, &raw))
		return NULL;
	if (!d->ring) {
		PyErr_SetString(PyExc_ValueError, "ring is closed");
		return NULL;
	}
	return (PyObject *)driver_track(d, id, raw);
}

/* Called by ringkit.Ring.close() once the kernel is done with every op:
 * what still waits is cancelled (its callbacks run soon, not now: close()
 * may be called from inside a task). Closing never fails because a
 * callback could not be scheduled (a closed loop): that is reported as
 * unraisable. */
static PyObject *driver_detach(Driver *d, PyObject *unused)
{
	(void)unused;
	d->ring = NULL;
	for (uint32_t i = 0; i < d->cap; i++) {
		Waiter *w = d->table[i];
		if (!w)
			continue;
		d->table[i] = NULL;
		if (w->state == PENDING && waiter_finish(w, CANCELLED, 0) < 0)
			PyErr_WriteUnraisable((PyObject *)w);
		Py_DECREF(w);
	}
	routed_clear(d); /* the kernel is done with every op: what a send held can go */
	if (last_drv == d)
		Py_CLEAR(last_drv); /* it holds the ring's objects alive otherwise */
	Py_RETURN_NONE;
}

/* Submits what is queued now rather than at the end of the loop pass: from
 * then on each of those ops holds the file its fd named, so the caller may
 * close the fd. Nothing is reaped here (no task runs). */
static PyObject *driver_submit(Driver *d, PyObject *unused)
{
	(void)unused;
	if (!d->ring)
		Py_RETURN_NONE;
	int r;
	do
		r = rk_submit(d->ring);
	while (r == -EINTR);
	if (r < 0 && r != -EBUSY && r != -EAGAIN) {
		raise_errno(r);
		return NULL;
	}
	Py_RETURN_NONE;
}

/* free_slots(): the op slots the ring has free now (0 once closed). */
static PyObject *driver_free_slots(Driver *d, PyObject *unused)
{
	(void)unused;
	uint64_t live = 0;
	if (!d->ring || rk_ring_stats(d->ring, &live, 1) < 0 || live > d->cap)
		return PyLong_FromLong(0);
	return PyLong_FromUnsignedLongLong(d->cap - live);
}

static PyObject *driver_get_backlog(Driver *d, void *unused)
{
	(void)unused;
	return PyLong_FromLong(d->backlog);
}

static int driver_set_backlog(Driver *d, PyObject *v, void *unused)
{
	(void)unused;
	long n = v ? PyLong_AsLong(v) : 0;
	if (n == -1 && PyErr_Occurred())
		return -1;
	d->backlog = n > 0 ? (n > INT32_MAX ? INT32_MAX : (int)n) : 0;
	return 0;
}

static PyObject *driver_get_driven(Driver *d, void *unused)
{
	(void)unused;
	return PyBool_FromLong(d->driven);
}

static int driver_set_driven(Driver *d, PyObject *v, void *unused)
{
	(void)unused;
	int on = v ? PyObject_IsTrue(v) : 0;
	if (on < 0)
		return -1;
	d->driven = on;
	return 0;
}

static PyObject *driver_get_closed(Driver *d, void *unused)
{
	(void)unused;
	return PyBool_FromLong(!d->ring);
}

static PyObject *driver_get_pending(Driver *d, void *unused)
{
	(void)unused;
	long n = 0;
	for (uint32_t i = 0; i < d->cap; i++)
		n += d->table[i] != NULL;
	return PyLong_FromLong(n);
}

static PyMethodDef driver_methods[] = {
	{"drain", (PyCFunction)driver_drain, METH_NOARGS,
	 "Reaps ready completions, finishing waiters (their tasks run now)."},
	{"_flush", (PyCFunction)driver_flush, METH_NOARGS, "The flush queued by schedule_flush()."},
	{"free_slots", (PyCFunction)driver_free_slots, METH_NOARGS,
	 "free_slots($self, /)\n--\n\nThe op slots the ring has free now (0 once closed)."},
	{"route_recv", (PyCFunction)driver_route_recv, METH_VARARGS,
	 "route_recv(op_id, transport, base, chunk_size, region): op_id's completions (a "
	 "multishot receive from a buffer pool) go to transport._rx(bytes) and "
	 "transport._rx_end(op_id, res)"},
	{"send", (PyCFunction)(void (*)(void))driver_send, METH_FASTCALL,
	 "send(fd, data, transport, msg_flags): queues send(2) of the bytes data (held until "
	 "its completion, which goes to transport.sent(res)); returns the op id"},
	{"select", (PyCFunction)driver_select, METH_VARARGS,
	 "select(timeout, polls): waits up to timeout (None: forever) for completions, reaps them "
	 "all as drain() does and returns [(id, res)] of those whose id is a key of polls."},
	{"schedule_flush", (PyCFunction)driver_schedule, METH_NOARGS,
	 "Queues one flush (submit and reap) at the end of this loop pass."},
	{"wait", (PyCFunction)(void (*)(void))driver_wait, METH_VARARGS | METH_KEYWORDS,
	 "wait(op_id, raw=False): the awaitable of an op queued on the ring."},
	{"detach", (PyCFunction)driver_detach, METH_NOARGS,
	 "The ring closed: pending waiters finish as cancelled."},
	{"submit", (PyCFunction)driver_submit, METH_NOARGS,
	 "Submits the queued ops now (each then holds its file); reaps nothing."},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef driver_getset[] = {
	{"closed", (getter)driver_get_closed, NULL, "whether the ring has closed (detach())", NULL},
	{"pending", (getter)driver_get_pending, NULL, "waiters not yet completed", NULL},
	{"backlog", (getter)driver_get_backlog, (setter)driver_set_backlog,
	 "ops waiting for a free op slot (new ops queue behind them)", NULL},
	{"driven", (getter)driver_get_driven, (setter)driver_set_driven,
	 "an event loop's select() reaps (and submits) every pass: schedule_flush() does nothing",
	 NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject DriverType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "ringkit._aioloop.Driver",
	.tp_doc = "Driver(ring, capacity, loop, on_other, on_room): completes ringkit.aio "
	          "waiters.",
	.tp_basicsize = sizeof(Driver),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_new = driver_new,
	.tp_dealloc = (destructor)driver_dealloc,
	.tp_traverse = (traverseproc)driver_traverse,
	.tp_clear = (inquiry)driver_clear,
	.tp_methods = driver_methods,
	.tp_getset = driver_getset,
};

/* ------------------------------------------------------------------------ */
/* The hot ops                                                              */
/* ------------------------------------------------------------------------ */

/* The running loop's driver; made through the factory on first use. */
static Driver *current_driver(void)
{
	if (draining && draining->ring)
		return draining;
	PyObject *loop = PyObject_CallNoArgs(get_running_loop);
	if (!loop)
		return NULL;
	if (loop == Py_None) {
		Py_DECREF(loop);
		PyErr_SetString(PyExc_RuntimeError, "no running event loop");
		return NULL;
	}
	Driver *d = last_drv;
	PyObject *dloop = d && d->ring ? weak_target(d->loop_ref) : NULL;
	Py_XDECREF(dloop); /* only compared: loop itself is held */
	if (!dloop || dloop != loop) {
		PyErr_Clear();
		PyObject *r = PyObject_CallOneArg(factory, loop);
		if (!r) {
			Py_DECREF(loop);
			return NULL;
		}
		if (!PyObject_TypeCheck(r, &DriverType)) {
			Py_DECREF(r);
			Py_DECREF(loop);
			PyErr_SetString(PyExc_TypeError, "the aio factory must return a Driver");
			return NULL;
		}
		Py_XSETREF(last_drv, (Driver *)r);
		d = last_drv;
	}
	Py_DECREF(loop);
	return d; /* borrowed from last_drv */
}

enum { OP_READ, OP_WRITE, OP_RECV, OP_SEND };

/* An int fd as the C library sees it (a negative one gets its -EBADF from
 * the prep, as through ringkit.Ring), or an object's fileno(). */
static int fd_arg(PyObject *o)
{
	if (!PyLong_Check(o))
		return PyObject_AsFileDescriptor(o);
	long long v = PyLong_AsLongLong(o);
	if (v == -1 && PyErr_Occurred()) {
		if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
			PyErr_Clear();
			PyErr_SetString(PyExc_ValueError, "fd out of range");
		}
		return -1;
	}
	if (v < INT32_MIN || v > INT32_MAX) {
		PyErr_SetString(PyExc_ValueError, "fd out of range");
		return -1;
	}
	return (int)v;
}

/* The op table is full, or others wait for it: the op becomes a coroutine
 * of ringkit.aio that waits its turn for a slot, then queues it. */
static PyObject *busy(int op, PyObject *const *args, Py_ssize_t nargs)
{
	PyObject *a[4] = {NULL, args[0], args[1], nargs == 3 ? args[2] : Py_None};
	a[0] = PyLong_FromLong(op);
	if (!a[0])
		return NULL;
	PyObject *r = PyObject_Vectorcall(busy_op, a, 4, NULL);
	Py_DECREF(a[0]);
	return r;
}

/* read/write/recv/send: pins the buffer (a memoryview: a buffer export,
 * so the object can be neither freed nor resized) in the ring's pin table,
 * queues the op, returns its waiter. */
static PyObject *buffer_op(int op, PyObject *const *args, Py_ssize_t nargs, const char *usage)
{
	if (nargs < 2 || nargs > 3) {
		PyErr_SetString(PyExc_TypeError, usage);
		return NULL;
	}
	long long arg = op == OP_READ || op == OP_WRITE ? -1 : 0;
	if (nargs == 3) {
		arg = PyLong_AsLongLong(args[2]);
		if (arg == -1 && PyErr_Occurred())
			return NULL;
	}
	int fd = fd_arg(args[0]);
	if (fd == -1 && PyErr_Occurred())
		return NULL;
	Driver *d = current_driver();
	if (!d)
		return NULL;
	if (d->backlog > 0)
		return busy(op, args, nargs);
	PyObject *view = PyMemoryView_FromObject(args[1]);
	if (!view)
		return NULL;
	Py_buffer *b = PyMemoryView_GET_BUFFER(view);
	int64_t id;
	if ((op == OP_READ || op == OP_RECV) && b->readonly) {
		PyErr_SetString(PyExc_TypeError, "a writable buffer is needed");
		goto fail;
	}
	if (!PyBuffer_IsContiguous(b, 'C')) {
		PyErr_SetString(PyExc_TypeError, "the buffer must be contiguous");
		goto fail;
	}
	if ((size_t)b->len > UINT32_MAX) {
		PyErr_SetString(PyExc_ValueError, "buffer larger than 4 GiB - 1");
		goto fail;
	}
	if ((op == OP_RECV || op == OP_SEND) && (arg < INT32_MIN || arg > INT32_MAX)) {
		PyErr_SetString(PyExc_ValueError, "msg_flags out of range");
		goto fail;
	}
	switch (op) {
	case OP_READ:
		id = rk_prep_read(d->ring, fd, b->buf, (uint32_t)b->len, arg, 0);
		break;
	case OP_WRITE:
		id = rk_prep_write(d->ring, fd, b->buf, (uint32_t)b->len, arg, 0);
		break;
	case OP_RECV:
		id = rk_prep_recv(d->ring, fd, b->buf, (uint32_t)b->len, (int32_t)arg, 0);
		break;
	default:
		id = rk_prep_send(d->ring, fd, b->buf, (uint32_t)b->len, (int32_t)arg, 0);
		break;
	}
	if (id == -EBUSY) {
		Py_DECREF(view);
		return busy(op, args, nargs);
	}
	if (id < 0) {
		raise_errno(id);
		goto fail;
	}
	/* The op is queued: from here on its buffer must stay pinned whatever
	 * fails, so the pin goes in first. A file object (fileno()) is kept
	 * alive with it. */
	PyObject *pin = view;
	if (!PyLong_CheckExact(args[0])) {
		pin = PyTuple_Pack(2, view, args[0]);
		Py_DECREF(view);
	}
	view = NULL;
	if (!pin || capi->pin(d->handle, id, pin) < 0) {
		Py_XDECREF(pin);
		/* Unpinnable: cancel and wait it out rather than free the buffer. */
		rk_submit(d->ring);
		rk_cancel_sync(d->ring, id, -1);
		return NULL;
	}
	Py_DECREF(pin);
	return (PyObject *)driver_track(d, id, 0);
fail:
	Py_DECREF(view);
	return NULL;
}

static PyObject *aio_read(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
	(void)m;
	return buffer_op(OP_READ, args, nargs, "read(fd, buf, offset=-1)");
}

static PyObject *aio_write(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
	(void)m;
	return buffer_op(OP_WRITE, args, nargs, "write(fd, data, offset=-1)");
}

static PyObject *aio_recv(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
	(void)m;
	return buffer_op(OP_RECV, args, nargs, "recv(fd, buf, msg_flags=0)");
}

static PyObject *aio_send(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
	(void)m;
	return buffer_op(OP_SEND, args, nargs, "send(fd, data, msg_flags=0)");
}

static PyObject *aio_setup(PyObject *m, PyObject *args)
{
	(void)m;
	PyObject *f, *e, *b;
	if (!PyArg_ParseTuple(args, "OOO:setup", &f, &e, &b))
		return NULL;
	Py_INCREF(f);
	Py_XSETREF(factory, f);
	Py_INCREF(e);
	Py_XSETREF(make_error, e);
	Py_INCREF(b);
	Py_XSETREF(busy_op, b);
	Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
	{"read", (PyCFunction)(void (*)(void))aio_read, METH_FASTCALL,
	 "read($module, fd, buf, offset=-1, /)\n--\n\nReads into buf (a writable buffer, held "
	 "until the op completes) at offset (-1: the current position). Returns an awaitable of "
	 "the byte count; awaiting raises OSError on failure."},
	{"write", (PyCFunction)(void (*)(void))aio_write, METH_FASTCALL,
	 "write($module, fd, data, offset=-1, /)\n--\n\nWrites data (any buffer, held until the "
	 "op completes) at offset (-1: the current position). Returns an awaitable of the byte "
	 "count (may be short); awaiting raises OSError on failure."},
	{"recv", (PyCFunction)(void (*)(void))aio_recv, METH_FASTCALL,
	 "recv($module, fd, buf, msg_flags=0, /)\n--\n\nReceives into buf (a writable buffer, "
	 "held until the op completes). Returns an awaitable of the byte count, 0 at end of "
	 "stream; awaiting raises OSError (ConnectionResetError, ...) on failure."},
	{"send", (PyCFunction)(void (*)(void))aio_send, METH_FASTCALL,
	 "send($module, fd, data, msg_flags=0, /)\n--\n\nSends data (any buffer, held until the "
	 "op completes). Returns an awaitable of the byte count (may be short: see sendall); "
	 "awaiting raises OSError (BrokenPipeError, ...) on failure."},
	{"setup", aio_setup, METH_VARARGS,
	 "setup($module, factory, error, busy, /)\n--\n\nfactory(loop) -> Driver; error(res) -> OSError; "
	 "busy(op, fd, buf, arg) -> awaitable of an op that waits for a free slot."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef aioloop_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "ringkit._aioloop",
	.m_doc = "The asyncio hot path of ringkit.aio (waiters completed from reaped completions).",
	.m_size = -1,
	.m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__aioloop(void)
{
	if (PyType_Ready(&WaiterType) < 0 || PyType_Ready(&DriverType) < 0)
		return NULL;
	capi = PyCapsule_Import(RKPY_CAPI_NAME, 0);
	if (!capi)
		return NULL;
	if (capi->version != RKPY_CAPI_VERSION) {
		PyErr_SetString(PyExc_ImportError, "ringkit._vector's C API is another version");
		return NULL;
	}
	PyObject *events = PyImport_ImportModule("asyncio.events");
	PyObject *asyncio = events ? PyImport_ImportModule("asyncio") : NULL;
	if (!asyncio) {
		Py_XDECREF(events);
		return NULL;
	}
	get_running_loop = PyObject_GetAttrString(events, "_get_running_loop");
	cancelled_error = PyObject_GetAttrString(asyncio, "CancelledError");
	invalid_state = PyObject_GetAttrString(asyncio, "InvalidStateError");
	Py_DECREF(events);
	Py_DECREF(asyncio);
	str_call_soon = PyUnicode_InternFromString("call_soon");
	str_context = PyUnicode_InternFromString("context");
	str_rx = PyUnicode_InternFromString("_rx");
	str_sent = PyUnicode_InternFromString("sent");
	if (!get_running_loop || !cancelled_error || !invalid_state || !str_call_soon ||
	    !str_context || !str_rx || !str_sent)
		return NULL;
	PyObject *m = PyModule_Create(&aioloop_module);
	if (!m)
		return NULL;
	Py_INCREF(&WaiterType);
	Py_INCREF(&DriverType);
	if (PyModule_AddObject(m, "Waiter", (PyObject *)&WaiterType) < 0 ||
	    PyModule_AddObject(m, "Driver", (PyObject *)&DriverType) < 0 || rkpy_stream_setup(m) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
