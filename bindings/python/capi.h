/*
 * The C-level interface between ringkit's CPython extensions: ringkit._vector
 * owns the handles of rings and regions (it creates them; the cffi module
 * borrows their pointers) and each ring's pin table; ringkit._aioloop reaches
 * them through this table of functions, published as the capsule
 * "ringkit._vector._C_API" (the datetime CAPI pattern), never through an
 * address passed as a Python int or another object's private dict.
 */
#ifndef RINGKIT_PY_CAPI_H
#define RINGKIT_PY_CAPI_H

#include <Python.h>

#include <ringkit.h>

#define RKPY_CAPI_NAME "ringkit._vector._C_API"
#define RKPY_CAPI_VERSION 1

typedef struct rkpy_capi {
	unsigned version; /* RKPY_CAPI_VERSION */
	/* The ring of a ring handle: NULL once the Ring closed it (no exception
	 * set), or NULL with TypeError for an object that is no ring handle. */
	rk_ring *(*ring)(PyObject *handle);
	/* Holds obj for op `id` until its final completion is settled. */
	int (*pin)(PyObject *handle, int64_t id, PyObject *obj);
	/* A reaped completion: a final one releases what its op held. */
	int (*settle)(PyObject *handle, const rk_cqe *c);
} rkpy_capi;

#endif
