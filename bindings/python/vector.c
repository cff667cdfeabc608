/*
 * ringkit._vector: the vector path of ringkit.Ring (read_chunks/write_chunks
 * with buffers, reap_into) at the cost of one CPython call each.
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

#include <stdint.h>
#include <string.h>

#include <ringkit.h>

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

/* prep_chunks(ring, write, fd, region, chunks, offsets, length, flags, ids)
 * -> queued count k (<= len(chunks); ids[k] holds the refusal's -errno when
 * k is short), or NotImplemented. ring and region are addresses. */
static PyObject *prep_chunks(PyObject *m, PyObject *const *a, Py_ssize_t nargs)
{
	(void)m;
	uint64_t ring, write, region, len, flags;
	long fd;
	if (nargs != 9 || !as_u64(a[0], UINTPTR_MAX, &ring) || !ring ||
	    !as_u64(a[1], 1, &write) || !PyLong_CheckExact(a[2]) ||
	    !as_u64(a[3], UINTPTR_MAX, &region) || !region || !as_u64(a[6], UINT32_MAX, &len) ||
	    !as_u64(a[7], UINT32_MAX, &flags))
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
		rk_ring *r = (rk_ring *)(uintptr_t)ring;
		rk_region *rg = (rk_region *)(uintptr_t)region;
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
 * negative errno as is (ring 0, a closed ring, gets rk_reap's answer), or
 * NotImplemented when `out` or wait cannot be taken: Ring.reap_into then
 * says why. */
static PyObject *reap_into(PyObject *m, PyObject *const *a, Py_ssize_t nargs)
{
	(void)m;
	uint64_t ring, wait;
	long long timeout_ns;
	if (nargs != 4 || !as_u64(a[0], UINTPTR_MAX, &ring) || !as_u64(a[2], UINT32_MAX, &wait))
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
		n = rk_reap((rk_ring *)(uintptr_t)ring, b.buf, (uint32_t)max, (uint32_t)wait,
		            timeout_ns);
		Py_END_ALLOW_THREADS
	} else {
		n = rk_reap((rk_ring *)(uintptr_t)ring, b.buf, (uint32_t)max, 0, timeout_ns);
	}
	PyBuffer_Release(&b);
	return PyLong_FromLong(n);
}

static PyMethodDef methods[] = {
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
	.m_doc = "ringkit.Ring's vector path in one CPython call per batch.",
	.m_size = -1,
	.m_methods = methods,
};

PyMODINIT_FUNC PyInit__vector(void)
{
	return PyModule_Create(&vector_module);
}
