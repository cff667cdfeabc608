/*
 * ringkit._loopcore: the pass of ringkit's EventLoop and its call_soon, in C.
 *
 * asyncio's loop is Python: every call_soon builds an asyncio.Handle through
 * three Python frames, and every pass runs each ready handle through
 * Handle._run, one more frame per callback. A task step, a future's done
 * callback and a transport's connection_made each cost that. LoopCore is a
 * base class of ringkit.aio.EventLoop (placed before asyncio's classes in
 * its MRO) whose call_soon and _run_once (and time, create_future,
 * create_task, call_at and call_later, each a Python frame or more per
 * request in a server) do the same work in C: the Handle
 * objects are asyncio's own (events.Handle, filled slot by slot as its
 * __init__ would), the ready queue and the timer heap are the loop's own
 * attributes, and a callback that raises goes to the same exception-handler
 * call as in Handle._run. In debug mode, and for a closed loop, both defer
 * to asyncio's Python methods, so its checks, warnings and slow-callback
 * reports are unchanged.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <time.h>

/* What asyncio provides, found once at import. */
static PyTypeObject *handle_type;     /* asyncio.events.Handle */
static PyTypeObject *timer_type;      /* asyncio.events.TimerHandle */
static PyObject *py_call_soon;        /* BaseEventLoop.call_soon */
static PyObject *py_call_at, *py_create_task; /* BaseEventLoop's, likewise */
static PyObject *future_type, *task_type;   /* asyncio.Future, asyncio.Task */
static PyObject *heappush;
static PyObject *py_run_once;         /* BaseEventLoop._run_once */
static PyObject *callback_failed;     /* callable(handle, exc), set by ringkit.aio */
static PyObject *heappop, *heapify;
static Py_ssize_t min_scheduled;      /* base_events._MIN_SCHEDULED_TIMER_HANDLES */
static double min_cancelled_fraction; /* base_events._MIN_CANCELLED_TIMER_HANDLES_FRACTION */
static double max_select_timeout;     /* base_events.MAXIMUM_SELECT_TIMEOUT */

/* The offsets of Handle's and TimerHandle's slots. */
static Py_ssize_t off_callback, off_args, off_cancelled, off_loop, off_tb, off_repr,
	off_context, off_when, off_scheduled;

static PyObject *s_debug, *s_closed, *s_ready, *s_scheduled, *s_stopping, *s_selector,
	*s_select, *s_process_events, *s_time, *s_clock_resolution, *s_timer_cancelled_count,
	*s_append, *s_popleft, *s_run, *s_cancelled, *s_task_factory, *s_loop, *s_name,
	*s_context, *kw_loop, *kw_name_context;

#define SLOT(o, off) (*(PyObject **)((char *)(o) + (off)))

/* Sets a slot, taking a new reference to v. */
static void slot_set(PyObject *o, Py_ssize_t off, PyObject *v)
{
	Py_XINCREF(v);
	Py_XSETREF(SLOT(o, off), v);
}

static int truthy_attr(PyObject *o, PyObject *name)
{
	PyObject *v = PyObject_GetAttr(o, name);
	if (!v)
		return -1;
	int r = PyObject_IsTrue(v);
	Py_DECREF(v);
	return r;
}

/* A Handle as Handle(callback, args, loop, context) makes it outside debug
 * mode (context None: a copy of the current one). */
static PyObject *handle_new(PyTypeObject *type, PyObject *callback, PyObject *args,
                            PyObject *loop, PyObject *context)
{
	PyObject *h = type->tp_alloc(type, 0);
	if (!h)
		return NULL;
	PyObject *ctx = context && context != Py_None ? (Py_INCREF(context), context)
	                                              : PyContext_CopyCurrent();
	if (!ctx) {
		Py_DECREF(h);
		return NULL;
	}
	SLOT(h, off_context) = ctx;
	slot_set(h, off_loop, loop);
	slot_set(h, off_callback, callback);
	slot_set(h, off_args, args);
	slot_set(h, off_cancelled, Py_False);
	slot_set(h, off_repr, Py_None);
	slot_set(h, off_tb, Py_None);
	return h;
}

/* The callback's arguments: a tuple of the n objects at args. */
static PyObject *tuple_of(PyObject *const *args, Py_ssize_t n)
{
	PyObject *t = PyTuple_New(n);
	for (Py_ssize_t i = 0; t && i < n; i++) {
		Py_INCREF(args[i]);
		PyTuple_SET_ITEM(t, i, args[i]);
	}
	return t;
}

/* Whether the keywords are none or context= alone (*context set to it):
 * otherwise asyncio's own method words the TypeError. */
static int context_keyword(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                           PyObject **context)
{
	if (!kwnames)
		return 1;
	if (PyTuple_GET_SIZE(kwnames) != 1 ||
	    PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "context") != 0)
		return 0;
	*context = args[nargs];
	return 1;
}

/* call_soon(callback, *args, context=None), as asyncio's. */
static PyObject *core_call_soon(PyObject *self, PyObject *const *args, size_t nargsf,
                                PyObject *kwnames)
{
	Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
	PyObject *context = NULL;
	int slow = nargs < 1 || !context_keyword(args, nargs, kwnames, &context);
	if (!slow) {
		int debug = truthy_attr(self, s_debug);
		int closed = debug < 0 ? -1 : truthy_attr(self, s_closed);
		if (closed < 0)
			return NULL;
		slow = debug || closed;
	}
	if (slow) {
		/* asyncio's: its checks (closed loop, thread, callback) and debug
		 * bookkeeping. */
		PyObject *method = PyMethod_New(py_call_soon, self);
		if (!method)
			return NULL;
		PyObject *r = PyObject_Vectorcall(method, args, (size_t)nargs, kwnames);
		Py_DECREF(method);
		return r;
	}
	PyObject *cb_args = tuple_of(args + 1, nargs - 1);
	if (!cb_args)
		return NULL;
	PyObject *h = handle_new(handle_type, args[0], cb_args, self, context);
	Py_DECREF(cb_args);
	if (!h)
		return NULL;
	PyObject *ready = PyObject_GetAttr(self, s_ready);
	PyObject *r = ready ? PyObject_CallMethodOneArg(ready, s_append, h) : NULL;
	Py_XDECREF(ready);
	if (!r) {
		Py_DECREF(h);
		return NULL;
	}
	Py_DECREF(r);
	return h;
}

/* Whether the loop is in debug mode or closed: asyncio's own Python methods
 * then run instead of the C ones, for their checks and warnings (1), 0
 * when neither, -1 on error. */
static int debug_or_closed(PyObject *self)
{
	int debug = truthy_attr(self, s_debug);
	if (debug)
		return debug;
	return truthy_attr(self, s_closed);
}

/* meth(self, *args, **kw) for the Python method meth of BaseEventLoop. */
static PyObject *call_python(PyObject *meth, PyObject *self, PyObject *const *args,
                             size_t nargsf, PyObject *kwnames)
{
	PyObject *method = PyMethod_New(meth, self);
	if (!method)
		return NULL;
	PyObject *r = PyObject_Vectorcall(method, args, nargsf, kwnames);
	Py_DECREF(method);
	return r;
}

/* time(): time.monotonic(), as asyncio's, without its Python frame. */
static PyObject *core_time(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return PyErr_SetFromErrno(PyExc_OSError);
	long long ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	return PyFloat_FromDouble((double)ns / 1e9);
}

/* create_future(): asyncio.Future(loop=self). */
static PyObject *core_create_future(PyObject *self, PyObject *unused)
{
	(void)unused;
	PyObject *args[1] = {self};
	return PyObject_Vectorcall(future_type, args, 0, kw_loop);
}

/* create_task(coro, *, name=None, context=None): asyncio.Task(coro,
 * loop=self, name=name, context=context) when there is no task factory. */
static PyObject *core_create_task(PyObject *self, PyObject *const *args, size_t nargsf,
                                  PyObject *kwnames)
{
	Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
	PyObject *name = Py_None, *context = Py_None;
	int slow = nargs != 1;
	for (Py_ssize_t i = 0; !slow && kwnames && i < PyTuple_GET_SIZE(kwnames); i++) {
		PyObject *k = PyTuple_GET_ITEM(kwnames, i);
		if (PyUnicode_Compare(k, s_name) == 0)
			name = args[nargs + i];
		else if (PyUnicode_Compare(k, s_context) == 0)
			context = args[nargs + i];
		else
			slow = 1;
	}
	if (!slow) {
		int r = debug_or_closed(self);
		if (r < 0)
			return NULL;
		PyObject *factory = r ? NULL : PyObject_GetAttr(self, s_task_factory);
		if (!r && !factory)
			return NULL;
		slow = r || factory != Py_None;
		Py_XDECREF(factory);
	}
	if (slow)
		return call_python(py_create_task, self, args, nargsf, kwnames);
	PyObject *a[4] = {args[0], self, name, context};
	return PyObject_Vectorcall(task_type, a, 1, kw_name_context);
}

/* call_at(when, callback, *args, context=None), as asyncio's: a TimerHandle
 * filled slot by slot, pushed on the loop's heap. */
static PyObject *core_call_at(PyObject *self, PyObject *const *args, size_t nargsf,
                              PyObject *kwnames)
{
	Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
	PyObject *context = NULL;
	int slow = nargs < 2 || args[0] == Py_None ||
	           !context_keyword(args, nargs, kwnames, &context);
	if (!slow) {
		int r = debug_or_closed(self);
		if (r < 0)
			return NULL;
		slow = r;
	}
	if (slow)
		return call_python(py_call_at, self, args, nargsf, kwnames);
	PyObject *cb_args = tuple_of(args + 2, nargs - 2);
	if (!cb_args)
		return NULL;
	PyObject *t = handle_new(timer_type, args[1], cb_args, self, context);
	Py_DECREF(cb_args);
	if (!t)
		return NULL;
	slot_set(t, off_when, args[0]);
	slot_set(t, off_scheduled, Py_False);
	PyObject *heap = PyObject_GetAttr(self, s_scheduled);
	PyObject *r = heap ? PyObject_CallFunctionObjArgs(heappush, heap, t, NULL) : NULL;
	Py_XDECREF(heap);
	if (!r) {
		Py_DECREF(t);
		return NULL;
	}
	Py_DECREF(r);
	slot_set(t, off_scheduled, Py_True);
	return t;
}

/* call_later(delay, callback, *args, context=None): call_at(time() + delay). */
static PyObject *core_call_later(PyObject *self, PyObject *const *args, size_t nargsf,
                                 PyObject *kwnames)
{
	Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
	if (nargs < 1 || args[0] == Py_None) {
		PyErr_SetString(PyExc_TypeError, nargs < 1 ? "call_later() needs a delay"
		                                           : "delay must not be None");
		return NULL;
	}
	PyObject *now = PyObject_CallMethodNoArgs(self, s_time);
	PyObject *when = now ? PyNumber_Add(now, args[0]) : NULL;
	Py_XDECREF(now);
	if (!when)
		return NULL;
	Py_ssize_t n = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
	PyObject *small[8], **a = n <= 8 ? small : PyMem_Malloc((size_t)n * sizeof *a);
	if (!a) {
		Py_DECREF(when);
		return PyErr_NoMemory();
	}
	a[0] = when;
	for (Py_ssize_t i = 1; i < n; i++)
		a[i] = args[i];
	PyObject *meth = PyObject_GetAttrString(self, "call_at");
	PyObject *r = meth ? PyObject_Vectorcall(meth, a, (size_t)nargs, kwnames) : NULL;
	Py_XDECREF(meth);
	if (a != small)
		PyMem_Free(a);
	Py_DECREF(when);
	return r;
}

/* Runs one ready handle as Handle._run does: -1 only for what must leave
 * the loop (SystemExit, KeyboardInterrupt, or a failure of the exception
 * handler call itself). */
static int run_handle(PyObject *h)
{
	PyTypeObject *t = Py_TYPE(h);
	if (t != handle_type && t != timer_type) {
		/* A subclass may run differently: its own _run. */
		PyObject *r = PyObject_CallMethodNoArgs(h, s_run);
		Py_XDECREF(r);
		return r ? 0 : -1;
	}
	PyObject *ctx = SLOT(h, off_context), *cb = SLOT(h, off_callback),
		 *args = SLOT(h, off_args);
	PyObject *r = NULL;
	if (ctx && cb && args && PyTuple_Check(args)) {
		Py_INCREF(ctx);
		Py_INCREF(cb);
		Py_INCREF(args);
		if (PyContext_Enter(ctx) == 0) {
			r = PyObject_Call(cb, args, NULL);
			if (PyContext_Exit(ctx) < 0)
				Py_CLEAR(r);
		}
		Py_DECREF(ctx);
		Py_DECREF(cb);
		Py_DECREF(args);
	} else {
		/* Not a handle asyncio's own code made: its own _run. */
		r = PyObject_CallMethodNoArgs(h, s_run);
	}
	if (r) {
		Py_DECREF(r);
		return 0;
	}
	if (PyErr_ExceptionMatches(PyExc_SystemExit) ||
	    PyErr_ExceptionMatches(PyExc_KeyboardInterrupt))
		return -1;
	PyObject *type, *value, *tb;
	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	if (tb)
		PyException_SetTraceback(value, tb);
	PyObject *x = PyObject_CallFunctionObjArgs(callback_failed, h, value, NULL);
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	Py_XDECREF(x);
	return x ? 0 : -1;
}

/* A timer's _when, or -1 with an exception set. */
static double timer_when(PyObject *h)
{
	if (!PyObject_TypeCheck(h, timer_type) || !SLOT(h, off_when)) {
		PyErr_SetString(PyExc_TypeError, "loop._scheduled holds what is not a TimerHandle");
		return -1.0;
	}
	return PyFloat_AsDouble(SLOT(h, off_when));
}

/* loop.time() as a double; -1 with an exception set on failure. */
static int loop_time(PyObject *self, double *out)
{
	PyObject *t = PyObject_CallMethodNoArgs(self, s_time);
	if (!t)
		return -1;
	*out = PyFloat_AsDouble(t);
	Py_DECREF(t);
	return *out == -1.0 && PyErr_Occurred() ? -1 : 0;
}

static int get_ssize(PyObject *o, PyObject *name, Py_ssize_t *out)
{
	PyObject *v = PyObject_GetAttr(o, name);
	if (!v)
		return -1;
	*out = PyLong_AsSsize_t(v);
	Py_DECREF(v);
	return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

static int set_ssize(PyObject *o, PyObject *name, Py_ssize_t v)
{
	PyObject *x = PyLong_FromSsize_t(v);
	if (!x)
		return -1;
	int r = PyObject_SetAttr(o, name, x);
	Py_DECREF(x);
	return r;
}

/* Drops the cancelled timers, as asyncio's _run_once does first: all of
 * them when they are many, otherwise those at the head of the heap. */
static int prune_timers(PyObject *self, PyObject **scheduled)
{
	Py_ssize_t n = PyList_GET_SIZE(*scheduled), cancelled;
	if (get_ssize(self, s_timer_cancelled_count, &cancelled) < 0)
		return -1;
	if (n > min_scheduled && (double)cancelled / (double)n > min_cancelled_fraction) {
		PyObject *keep = PyList_New(0);
		if (!keep)
			return -1;
		for (Py_ssize_t i = 0; i < n; i++) {
			PyObject *h = PyList_GET_ITEM(*scheduled, i);
			if (timer_when(h) == -1.0 && PyErr_Occurred()) {
				Py_DECREF(keep);
				return -1;
			}
			if (SLOT(h, off_cancelled) == Py_True)
				slot_set(h, off_scheduled, Py_False);
			else if (PyList_Append(keep, h) < 0) {
				Py_DECREF(keep);
				return -1;
			}
		}
		PyObject *r = PyObject_CallOneArg(heapify, keep);
		if (!r || PyObject_SetAttr(self, s_scheduled, keep) < 0 ||
		    set_ssize(self, s_timer_cancelled_count, 0) < 0) {
			Py_XDECREF(r);
			Py_DECREF(keep);
			return -1;
		}
		Py_DECREF(r);
		Py_SETREF(*scheduled, keep);
		return 0;
	}
	while (PyList_GET_SIZE(*scheduled)) {
		PyObject *head = PyList_GET_ITEM(*scheduled, 0);
		if (timer_when(head) == -1.0 && PyErr_Occurred())
			return -1;
		if (SLOT(head, off_cancelled) != Py_True)
			break;
		cancelled--;
		PyObject *h = PyObject_CallOneArg(heappop, *scheduled);
		if (!h)
			return -1;
		slot_set(h, off_scheduled, Py_False);
		Py_DECREF(h);
	}
	return set_ssize(self, s_timer_cancelled_count, cancelled);
}

/* One pass of the loop, as asyncio's BaseEventLoop._run_once. */
static PyObject *core_run_once(PyObject *self, PyObject *unused)
{
	(void)unused;
	int debug = truthy_attr(self, s_debug);
	if (debug < 0)
		return NULL;
	if (debug)
		return PyObject_CallOneArg(py_run_once, self);
	PyObject *scheduled = PyObject_GetAttr(self, s_scheduled);
	PyObject *ready = scheduled ? PyObject_GetAttr(self, s_ready) : NULL;
	PyObject *timeout = NULL, *events = NULL, *r = NULL;
	if (!ready)
		goto fail;
	if (!PyList_CheckExact(scheduled)) {
		PyErr_SetString(PyExc_TypeError, "loop._scheduled is not a list");
		goto fail;
	}
	if (prune_timers(self, &scheduled) < 0)
		goto fail;
	Py_ssize_t nready = PyObject_Length(ready);
	int stopping = nready < 0 ? -1 : truthy_attr(self, s_stopping);
	if (stopping < 0)
		goto fail;
	if (nready || stopping) {
		timeout = PyFloat_FromDouble(0);
	} else if (PyList_GET_SIZE(scheduled)) {
		double now, when = timer_when(PyList_GET_ITEM(scheduled, 0));
		if ((when == -1.0 && PyErr_Occurred()) || loop_time(self, &now) < 0)
			goto fail;
		double t = when - now;
		timeout = PyFloat_FromDouble(t < 0 ? 0 : t > max_select_timeout ? max_select_timeout : t);
	} else {
		timeout = Py_None;
		Py_INCREF(timeout);
	}
	if (!timeout)
		goto fail;
	PyObject *selector = PyObject_GetAttr(self, s_selector);
	events = selector ? PyObject_CallMethodOneArg(selector, s_select, timeout) : NULL;
	Py_XDECREF(selector);
	if (!events)
		goto fail;
	/* Nothing became ready (the common pass: completions went to their
	 * transports and waiters inside select): no _process_events call. */
	if (!PyList_CheckExact(events) || PyList_GET_SIZE(events) > 0) {
		r = PyObject_CallMethodOneArg(self, s_process_events, events);
		if (!r) {
			Py_CLEAR(events);
			goto fail;
		}
		Py_CLEAR(r);
	}
	Py_CLEAR(events);

	/* The timers that are due join the ready queue. The heap may have been
	 * replaced meanwhile (a callback cannot run here, but be exact). */
	Py_SETREF(scheduled, PyObject_GetAttr(self, s_scheduled));
	if (!scheduled)
		goto fail;
	double now, resolution;
	PyObject *res = PyObject_GetAttr(self, s_clock_resolution);
	if (!res || loop_time(self, &now) < 0) {
		Py_XDECREF(res);
		goto fail;
	}
	resolution = PyFloat_AsDouble(res);
	Py_DECREF(res);
	if (resolution == -1.0 && PyErr_Occurred())
		goto fail;
	double end = now + resolution;
	while (PyList_CheckExact(scheduled) && PyList_GET_SIZE(scheduled)) {
		double when = timer_when(PyList_GET_ITEM(scheduled, 0));
		if (when == -1.0 && PyErr_Occurred())
			goto fail;
		if (when >= end)
			break;
		PyObject *h = PyObject_CallOneArg(heappop, scheduled);
		if (!h)
			goto fail;
		slot_set(h, off_scheduled, Py_False);
		PyObject *x = PyObject_CallMethodOneArg(ready, s_append, h);
		Py_DECREF(h);
		if (!x)
			goto fail;
		Py_DECREF(x);
	}

	/* Only what is ready now runs: callbacks these schedule wait for the
	 * next pass. */
	Py_ssize_t ntodo = PyObject_Length(ready);
	if (ntodo < 0)
		goto fail;
	for (Py_ssize_t i = 0; i < ntodo; i++) {
		PyObject *h = PyObject_CallMethodNoArgs(ready, s_popleft);
		if (!h)
			goto fail;
		int cancelled = PyObject_TypeCheck(h, handle_type)
			? SLOT(h, off_cancelled) == Py_True
			: truthy_attr(h, s_cancelled);
		int rc = cancelled < 0 ? -1 : cancelled ? 0 : run_handle(h);
		Py_DECREF(h);
		if (rc < 0)
			goto fail;
	}
	Py_DECREF(scheduled);
	Py_DECREF(ready);
	Py_DECREF(timeout);
	Py_RETURN_NONE;
fail:
	Py_XDECREF(scheduled);
	Py_XDECREF(ready);
	Py_XDECREF(timeout);
	Py_XDECREF(events);
	return NULL;
}

static PyMethodDef core_methods[] = {
	{"call_soon", (PyCFunction)(void (*)(void))core_call_soon,
	 METH_FASTCALL | METH_KEYWORDS,
	 "call_soon(callback, *args, context=None): as asyncio's, the handle made in C"},
	{"_run_once", (PyCFunction)core_run_once, METH_NOARGS,
	 "one pass of the loop, as asyncio's _run_once, the ready handles run in C"},
	{"time", core_time, METH_NOARGS,
	 "time($self, /)\n--\n\nThe loop's clock: time.monotonic(), as asyncio's."},
	{"create_future", core_create_future, METH_NOARGS,
	 "create_future($self, /)\n--\n\nA new asyncio.Future of this loop."},
	{"create_task", (PyCFunction)(void (*)(void))core_create_task,
	 METH_FASTCALL | METH_KEYWORDS,
	 "create_task($self, coro, /, *, name=None, context=None)\n--\n\nSchedules the "
	 "coroutine as a task, as asyncio's (through the task factory if one is set)."},
	{"call_at", (PyCFunction)(void (*)(void))core_call_at, METH_FASTCALL | METH_KEYWORDS,
	 "call_at($self, when, callback, /, *args, context=None)\n--\n\nAs asyncio's: "
	 "callback(*args) at the loop's time when; returns its TimerHandle."},
	{"call_later", (PyCFunction)(void (*)(void))core_call_later,
	 METH_FASTCALL | METH_KEYWORDS,
	 "call_later($self, delay, callback, /, *args, context=None)\n--\n\nAs asyncio's: "
	 "callback(*args) after delay seconds; returns its TimerHandle."},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject LoopCoreType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "ringkit._loopcore.LoopCore",
	.tp_basicsize = sizeof(PyObject),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "The C parts of ringkit.aio.EventLoop (call_soon, _run_once, time, "
	          "create_future, create_task, call_at, call_later).",
	.tp_methods = core_methods,
	.tp_new = PyType_GenericNew,
};

/* setup(callback_failed): what a raising callback is handed to. */
static PyObject *core_setup(PyObject *m, PyObject *fn)
{
	(void)m;
	Py_INCREF(fn);
	Py_XSETREF(callback_failed, fn);
	Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
	{"setup", core_setup, METH_O, "setup(callback_failed(handle, exc))"},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef loopcore_module = {
	PyModuleDef_HEAD_INIT, "ringkit._loopcore",
	"The pass of ringkit's EventLoop and its call_soon, in C.", -1, module_methods,
	NULL, NULL, NULL, NULL,
};

/* The offset of slot name of type t: a member descriptor of an object slot. */
static int slot_offset(PyTypeObject *t, const char *name, Py_ssize_t *out)
{
	PyObject *d = PyDict_GetItemString(t->tp_dict, name);
	if (!d || Py_TYPE(d) != &PyMemberDescr_Type ||
	    ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX) {
		PyErr_Format(PyExc_ImportError, "asyncio's %s.%s is not the slot it was",
		             t->tp_name, name);
		return -1;
	}
	*out = ((PyMemberDescrObject *)d)->d_member->offset;
	return 0;
}

static PyObject *attr_of(const char *module, const char *name)
{
	PyObject *m = PyImport_ImportModule(module);
	if (!m)
		return NULL;
	PyObject *v = PyObject_GetAttrString(m, name);
	Py_DECREF(m);
	return v;
}

static int load_asyncio(void)
{
	handle_type = (PyTypeObject *)attr_of("asyncio.events", "Handle");
	timer_type = (PyTypeObject *)attr_of("asyncio.events", "TimerHandle");
	PyObject *base = attr_of("asyncio.base_events", "BaseEventLoop");
	if (!handle_type || !timer_type || !base || !PyType_Check(handle_type) ||
	    !PyType_Check(timer_type))
		goto fail;
	py_call_soon = PyObject_GetAttrString(base, "call_soon");
	py_call_at = PyObject_GetAttrString(base, "call_at");
	py_create_task = PyObject_GetAttrString(base, "create_task");
	future_type = attr_of("asyncio", "Future");
	task_type = attr_of("asyncio", "Task");
	heappush = attr_of("heapq", "heappush");
	py_run_once = PyObject_GetAttrString(base, "_run_once");
	heappop = attr_of("heapq", "heappop");
	heapify = attr_of("heapq", "heapify");
	PyObject *a = attr_of("asyncio.base_events", "_MIN_SCHEDULED_TIMER_HANDLES");
	PyObject *b = attr_of("asyncio.base_events", "_MIN_CANCELLED_TIMER_HANDLES_FRACTION");
	PyObject *c = attr_of("asyncio.base_events", "MAXIMUM_SELECT_TIMEOUT");
	if (a)
		min_scheduled = PyLong_AsSsize_t(a);
	if (b)
		min_cancelled_fraction = PyFloat_AsDouble(b);
	if (c)
		max_select_timeout = PyFloat_AsDouble(c);
	Py_XDECREF(a);
	Py_XDECREF(b);
	Py_XDECREF(c);
	Py_DECREF(base);
	base = NULL;
	if (!py_call_soon || !py_run_once || !py_call_at || !py_create_task || !future_type ||
	    !task_type || !heappush || !heappop || !heapify || PyErr_Occurred())
		goto fail;
	if (slot_offset(handle_type, "_callback", &off_callback) < 0 ||
	    slot_offset(handle_type, "_args", &off_args) < 0 ||
	    slot_offset(handle_type, "_cancelled", &off_cancelled) < 0 ||
	    slot_offset(handle_type, "_loop", &off_loop) < 0 ||
	    slot_offset(handle_type, "_source_traceback", &off_tb) < 0 ||
	    slot_offset(handle_type, "_repr", &off_repr) < 0 ||
	    slot_offset(handle_type, "_context", &off_context) < 0 ||
	    slot_offset(timer_type, "_when", &off_when) < 0 ||
	    slot_offset(timer_type, "_scheduled", &off_scheduled) < 0)
		goto fail;
	return 0;
fail:
	Py_XDECREF(base);
	if (!PyErr_Occurred())
		PyErr_SetString(PyExc_ImportError, "asyncio is not what ringkit._loopcore expects");
	return -1;
}

PyMODINIT_FUNC PyInit__loopcore(void)
{
	if (load_asyncio() < 0)
		return NULL;
#define INTERN(v, s) if (!((v) = PyUnicode_InternFromString(s))) return NULL
	INTERN(s_debug, "_debug");
	INTERN(s_closed, "_closed");
	INTERN(s_ready, "_ready");
	INTERN(s_scheduled, "_scheduled");
	INTERN(s_stopping, "_stopping");
	INTERN(s_selector, "_selector");
	INTERN(s_select, "select");
	INTERN(s_process_events, "_process_events");
	INTERN(s_time, "time");
	INTERN(s_clock_resolution, "_clock_resolution");
	INTERN(s_timer_cancelled_count, "_timer_cancelled_count");
	INTERN(s_append, "append");
	INTERN(s_popleft, "popleft");
	INTERN(s_run, "_run");
	INTERN(s_cancelled, "_cancelled");
	INTERN(s_task_factory, "_task_factory");
	INTERN(s_loop, "loop");
	INTERN(s_name, "name");
	INTERN(s_context, "context");
	if (!(kw_loop = PyTuple_Pack(1, s_loop)) ||
	    !(kw_name_context = PyTuple_Pack(3, s_loop, s_name, s_context)))
		return NULL;
#undef INTERN
	if (PyType_Ready(&LoopCoreType) < 0)
		return NULL;
	PyObject *m = PyModule_Create(&loopcore_module);
	if (!m)
		return NULL;
	Py_INCREF(&LoopCoreType);
	if (PyModule_AddObject(m, "LoopCore", (PyObject *)&LoopCoreType) < 0) {
		Py_DECREF(&LoopCoreType);
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
