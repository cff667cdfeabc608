/*
 * ringkit._vector: the handles of rings and regions, each ring's pin table,
 * and the vector path of ringkit.Ring (read_chunks/write_chunks with
 * buffers, reap_into) at the cost of one CPython call each.
 *
 * A Handle is made here by rk_ring_create_ex / rk_region_create: this module
 * holds the pointer, the cffi module borrows it (Handle.address) and the
 * Ring or Region detaches the handle when it gives the object up. Other C
 * extensions reach a ring and its pin table through the capsule of capi.h,
 * so no C code ever takes an address from a Python int.
 *
 * Through cffi each batch paid for four ffi.from_buffer objects and their
 * checks in Python: about a tenth of a cached 4 KiB read per op at queue
 * depth 32. Here the buffers are borrowed with PyObject_GetBuffer for the
 * duration of the call only, so the caller's arrays stay resizable between
 * calls. Anything unusual (lists, another item type, a closed ring, values
 * out of range) answers NotImplemented and ringkit.Ring takes its general
 * path, which owns every error message: no semantics live twice.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <ringkit.h>

#include "capi.h"

/* A ring's or a region's pointer; `pins` (rings only) maps an op id to
 * what the op holds until its final completion. */
typedef struct {
	PyObject_HEAD
	void *ptr; /* NULL once detached */
	PyObject *pins;
	int is_ring;
} Handle;

static PyTypeObject HandleType;

static Handle *handle_new(void *ptr, int ring)
{
	Handle *h = PyObject_GC_New(Handle, &HandleType);
	if (!h)
		return NULL;
	h->ptr = ptr;
	h->is_ring = ring;
	h->pins = ring ? PyDict_New() : NULL;
	if (ring && !h->pins) {
		h->ptr = NULL;
		Py_DECREF(h);
		return NULL;
	}
	PyObject_GC_Track(h);
	return h;
}

static int handle_traverse(Handle *h, visitproc visit, void *arg)
{
	Py_VISIT(h->pins);
	return 0;
}

static int handle_clear(Handle *h)
{
	Py_CLEAR(h->pins);
	return 0;
}

static void handle_dealloc(Handle *h)
{
	PyObject_GC_UnTrack(h);
	handle_clear(h);
	PyObject_GC_Del(h);
}

static PyObject *handle_address(Handle *h, void *unused)
{
	(void)unused;
	return PyLong_FromVoidPtr(h->ptr);
}

static PyObject *handle_detach(Handle *h, PyObject *unused)
{
	(void)unused;
	h->ptr = NULL;
	Py_RETURN_NONE;
}

static PyGetSetDef handle_getset[] = {
	{"address", (getter)handle_address, NULL,
	 "The pointer, for the cffi module to borrow (ffi.cast); 0 once detached.", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef handle_members[] = {
	{"pins", T_OBJECT, offsetof(Handle, pins), READONLY,
	 "A ring's pin table: op id -> what the op holds until its final completion."},
	{NULL, 0, 0, 0, NULL},
};

static PyMethodDef handle_methods[] = {
	{"detach", (PyCFunction)handle_detach, METH_NOARGS,
	 "detach($self, /)\n--\n\nForgets the pointer: the ring is closed, the region given up."},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject HandleType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ringkit._vector.Handle",
	.tp_basicsize = sizeof(Handle),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "A ring's or a region's pointer, made by ring_create or region_create.",
	.tp_traverse = (traverseproc)handle_traverse,
	.tp_clear = (inquiry)handle_clear,
	.tp_dealloc = (destructor)handle_dealloc,
	.tp_getset = handle_getset,
	.tp_members = handle_members,
	.tp_methods = handle_methods,
};

/* The pointer of a handle of the wanted kind (NULL once detached), or NULL
 * with *ok = 0 for anything else. */
static void *handle_ptr(PyObject *o, int ring, int *ok)
{
	*ok = Py_IS_TYPE(o, &HandleType) && ((Handle *)o)->is_ring == ring;
	return *ok ? ((Handle *)o)->ptr : NULL;
}

/* ------------------------------------------------------------------------ */
/* The C API (capi.h)                                                       */
/* ------------------------------------------------------------------------ */

static rk_ring *capi_ring(PyObject *o)
{
	int ok;
	rk_ring *r = handle_ptr(o, 1, &ok);
	if (!ok)
		PyErr_SetString(PyExc_TypeError, "expected a ringkit ring handle");
	return r;
}

static int capi_pin(PyObject *o, int64_t id, PyObject *obj)
{
	PyObject *key = PyLong_FromLongLong(id);
	if (!key)
		return -1;
	PyObject *pins = ((Handle *)o)->pins;
	int r = pins ? PyDict_SetItem(pins, key, obj) : 0;
	Py_DECREF(key);
	return r;
}

static int capi_settle(PyObject *o, const rk_cqe *c)
{
	PyObject *pins = ((Handle *)o)->pins;
	if (c->flags & RK_CQE_F_MORE || !pins || PyDict_GET_SIZE(pins) == 0)
		return 0;
	PyObject *key = PyLong_FromLongLong(c->id);
	if (!key)
		return -1;
	int r = PyDict_DelItem(pins, key);
	Py_DECREF(key);
	if (r < 0 && PyErr_ExceptionMatches(PyExc_KeyError)) {
		PyErr_Clear();
		r = 0;
	}
	return r;
}

static const rkpy_capi capi = {
	.version = RKPY_CAPI_VERSION,
	.ring = capi_ring,
	.pin = capi_pin,
	.settle = capi_settle,
};

/* ------------------------------------------------------------------------ */
/* Creation and the vector path                                             */
/* ------------------------------------------------------------------------ */

/* A signed native integer of `size` bytes: what array.array("i"/"q"/"l")
 * and numpy's int32/int64 export. */
static int is_native_int(const Py_buffer *b, Py_ssize_t size)
{
	const char *f = b->format ? b->format : "B";
	if (b->itemsize != size || b->ndim > 1)
		return 0;
	if (*f == '@' || *f == '=' || (*f == '<' && PY_LITTLE_ENDIAN) || (*f == '>' && PY_BIG_ENDIAN))
		f++;
	return (f[0] == 'i' || f[0] == 'l' || f[0] == 'q') && f[1] == '\0';
}

static int get_ints(PyObject *o, Py_buffer *b, Py_ssize_t size, int writable)
{
	int how = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
	if (PyObject_GetBuffer(o, b, how) < 0) {
		PyErr_Clear();
		return 0;
	}
	if (!is_native_int(b, size)) {
		PyBuffer_Release(b);
		return 0;
	}
	return 1;
}

static int as_u64(PyObject *o, uint64_t max, uint64_t *out)
{
	unsigned long long v = PyLong_AsUnsignedLongLong(o);
	if (v == (unsigned long long)-1 && PyErr_Occurred()) {
		PyErr_Clear();
		return 0;
	}
	*out = v;
	return v <= max;
}

/* The uint32_t arguments of a create call: -1 with TypeError for a non-int,
 * 0 when one is out of range (the call answers -EINVAL, as C would), 1. */
static int u32_args(PyObject *const *a, Py_ssize_t n, uint32_t *out)
{
	int in_range = 1;
	for (Py_ssize_t i = 0; i < n; i++) {
		if (!PyLong_Check(a[i])) {
			PyErr_Format(PyExc_TypeError, "expected an int, got %s", Py_TYPE(a[i])->tp_name);
			return -1;
		}
		uint64_t v = 0;
		if (!as_u64(a[i], UINT32_MAX, &v))
			in_range = 0;
		out[i] = (uint32_t)v;
	}
	return in_range;
}

/* ring_create(entries, flags, cq_entries, capacity, sq_thread_idle_ms)
 * -> a ring Handle, or rk_ring_create_ex's negative errno. */
static PyObject *ring_create(PyObject *m, PyObject *const *a, Py_ssize_t nargs)
{
	(void)m;
	uint32_t v[5];
	if (nargs != 5) {
		PyErr_SetString(PyExc_TypeError, "ring_create takes 5 arguments");
		return NULL;
	}
	int ok = u32_args(a, 5, v);
	if (ok < 0)
		return NULL;
	rk_ring *ring = NULL;
	int r = ok ? rk_ring_create_ex(v[0], v[1], v[2], v[3], v[4], &ring) : -EINVAL;
	if (r < 0)
		return PyLong_FromLong(r);
	Handle *h = handle_new(ring, 1);
	if (!h)
		rk_ring_close(ring);
	return (PyObject *)h;
}

/* region_create(chunk_size, count, flags) -> a region Handle, or
 * rk_region_create's negative errno. */
static PyObject *region_create(PyObject *m, PyObject *const *a, Py_ssize_t nargs)
{
	(void)m;
	uint32_t v[3];
	if (nargs != 3) {
		PyErr_SetString(PyExc_TypeError, "region_create takes 3 arguments");
		return NULL;
	}
	int ok = u32_args(a, 3, v);
	if (ok < 0)
		return NULL;
	rk_region *region = NULL;
	int r = ok ? rk_region_create(v[0], v[1], v[2], &region) : -EINVAL;
	if (r < 0)
		return PyLong_FromLong(r);
	Handle *h = handle_new(region, 0);
	if (!h)
		rk_region_destroy(region);
	return (PyObject *)h;
}

/* prep_chunks(ring, write, fd, region, chunks, offsets, length, flags, ids)
 * -> queued count k (<= len(chunks); ids[k] holds the refusal's -errno when
 * k is short), or NotImplemented. ring and region are Handles. */
static PyObject *prep_chunks(PyObject *m, PyObject *const *a, Py_ssize_t nargs)
{
	(void)m;
	uint64_t write, len, flags;
	long fd;
	int ok;
	rk_ring *r = nargs == 9 ? handle_ptr(a[0], 1, &ok) : NULL;
	rk_region *rg = r ? handle_ptr(a[3], 0, &ok) : NULL;
	if (!rg || !as_u64(a[1], 1, &write) || !PyLong_CheckExact(a[2]) ||
	    !as_u64(a[6], UINT32_MAX, &len) || !as_u64(a[7], UINT32_MAX, &flags))
		Py_RETURN_NOTIMPLEMENTED;
	fd = PyLong_AsLong(a[2]);
	if ((fd == -1 && PyErr_Occurred()) || fd < INT32_MIN || fd > INT32_MAX) {
		PyErr_Clear();
		Py_RETURN_NOTIMPLEMENTED;
	}
	Py_buffer ch, off, ids;
	if (!get_ints(a[4], &ch, 4, 0))
		Py_RETURN_NOTIMPLEMENTED;
	if (!get_ints(a[5], &off, 8, 0)) {
		PyBuffer_Release(&ch);
		Py_RETURN_NOTIMPLEMENTED;
	}
	if (!get_ints(a[8], &ids, 8, 1)) {
		PyBuffer_Release(&ch);
		PyBuffer_Release(&off);
		Py_RETURN_NOTIMPLEMENTED;
	}
	Py_ssize_t n = ch.len / 4;
	PyObject *ret;
	if (off.len / 8 != n || ids.len / 8 < n || n > UINT32_MAX) {
		ret = Py_NotImplemented; /* the general path words the error */
		Py_INCREF(ret);
	} else {
		const int32_t *c = ch.buf;
		const int64_t *o = off.buf;
		int64_t *out = ids.buf;
		Py_ssize_t k = 0;
		for (; k < n; k++) {
			out[k] = write ? rk_prep_write_chunk(r, (int)fd, rg, c[k], (uint32_t)len, o[k],
			                                     (uint32_t)flags)
			               : rk_prep_read_chunk(r, (int)fd, rg, c[k], (uint32_t)len, o[k],
			                                    (uint32_t)flags);
			if (out[k] < 0)
				break;
		}
		ret = PyLong_FromSsize_t(k);
	}
	PyBuffer_Release(&ch);
	PyBuffer_Release(&off);
	PyBuffer_Release(&ids);
	return ret;
}

/* reap_into(ring, out, wait, timeout_ns) -> records written, or rk_reap's
 * negative errno as is (a detached handle, a closed ring, gets rk_reap's
 * answer), or
 * NotImplemented when `out` or wait cannot be taken: Ring.reap_into then
 * says why. */
static PyObject *reap_into(PyObject *m, PyObject *const *a, Py_ssize_t nargs)
{
	(void)m;
	uint64_t wait;
	long long timeout_ns;
	int ok = 0;
	rk_ring *ring = nargs == 4 ? handle_ptr(a[0], 1, &ok) : NULL;
	if (!ok || !as_u64(a[2], UINT32_MAX, &wait))
		Py_RETURN_NOTIMPLEMENTED;
	timeout_ns = PyLong_AsLongLong(a[3]);
	if (timeout_ns == -1 && PyErr_Occurred()) {
		PyErr_Clear();
		Py_RETURN_NOTIMPLEMENTED;
	}
	Py_buffer b;
	if (PyObject_GetBuffer(a[1], &b, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
		PyErr_Clear();
		Py_RETURN_NOTIMPLEMENTED;
	}
	Py_ssize_t max = b.len / (Py_ssize_t)sizeof(rk_cqe);
	if (max < 1 || (uintptr_t)b.buf % _Alignof(rk_cqe)) {
		PyBuffer_Release(&b);
		Py_RETURN_NOTIMPLEMENTED;
	}
	if (max > INT32_MAX)
		max = INT32_MAX;
	int n;
	if (wait) {
		/* The wait may block: let other threads run meanwhile. */
		Py_BEGIN_ALLOW_THREADS
		n = rk_reap(ring, b.buf, (uint32_t)max, (uint32_t)wait, timeout_ns);
		Py_END_ALLOW_THREADS
	} else {
		n = rk_reap(ring, b.buf, (uint32_t)max, 0, timeout_ns);
	}
	PyBuffer_Release(&b);
	return PyLong_FromLong(n);
}

static PyMethodDef methods[] = {
	{"ring_create", (PyCFunction)(void (*)(void))ring_create, METH_FASTCALL,
	 "ring_create($module, entries, flags, cq_entries, capacity, sq_thread_idle_ms, /)\n--\n\n"
	 "rk_ring_create_ex: a ring Handle, or the negative errno."},
	{"region_create", (PyCFunction)(void (*)(void))region_create, METH_FASTCALL,
	 "region_create($module, chunk_size, count, flags, /)\n--\n\n"
	 "rk_region_create: a region Handle, or the negative errno."},
	{"prep_chunks", (PyCFunction)(void (*)(void))prep_chunks, METH_FASTCALL,
	 "prep_chunks($module, ring, write, fd, region, chunks, offsets, length, flags, ids, /)\n"
	 "--\n\nQueues one chunk op per (chunk, offset): how many were queued, or "
	 "NotImplemented for what Ring.read_chunks handles itself."},
	{"reap_into", (PyCFunction)(void (*)(void))reap_into, METH_FASTCALL,
	 "reap_into($module, ring, out, wait, timeout_ns, /)\n--\n\nrk_reap into the buffer out: "
	 "the record count or a negative errno."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef vector_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "ringkit._vector",
	.m_doc = "Ring and region handles, the pin tables, and ringkit.Ring's vector path.",
	.m_size = -1,
	.m_methods = methods,
};

PyMODINIT_FUNC PyInit__vector(void)
{
	if (PyType_Ready(&HandleType) < 0)
		return NULL;
	PyObject *m = PyModule_Create(&vector_module);
	if (!m)
		return NULL;
	PyObject *c = PyCapsule_New((void *)&capi, RKPY_CAPI_NAME, NULL);
	Py_INCREF(&HandleType);
	if (!c || PyModule_AddObject(m, "_C_API", c) < 0 ||
	    PyModule_AddObject(m, "Handle", (PyObject *)&HandleType) < 0) {
		Py_XDECREF(c);
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
