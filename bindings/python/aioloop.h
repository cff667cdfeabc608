/*
 * What the two halves of ringkit._aioloop share: the Driver (aioloop.c,
 * completions to waiters and transports) and the stream transport's hot
 * path (stream.c). Internal to the extension module.
 */
#ifndef RKPY_AIOLOOP_H
#define RKPY_AIOLOOP_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

/* Driver side (aioloop.c). */

/* Queues send(2) of the n bytes at p on fd for tr; data, the object they
 * are in (which nothing may resize), is held until the final completion,
 * which goes to tr's sent(). Returns the op id, the ring's -errno (no
 * exception set: -EBUSY is no free slot), or INT64_MIN with a Python
 * exception set. */
int64_t rkpy_driver_send(PyObject *drv, int fd, PyObject *data, const char *p, Py_ssize_t n,
                         PyObject *tr, int msg_flags);

/* Queues a multishot poll for POLLIN and POLLRDHUP on fd; each completion goes to
 * rkpy_stream_ready. Returns as rkpy_driver_send does. */
int64_t rkpy_driver_poll_in(PyObject *drv, int fd, PyObject *tr);

/* The OSError ringkit.error makes for a negative errno, or NULL. */
PyObject *rkpy_errno_error(long long res);

/* Stream side (stream.c). */

/* Makes the type _aioloop.Stream (a subclass of asyncio's
 * transports._FlowControlMixin) and adds it and flush_writes to module m:
 * 0, or -1 with an exception set. */
int rkpy_stream_setup(PyObject *m);

/* Whether tr is a Stream (then the two calls below apply). */
int rkpy_is_stream(PyObject *tr);

/* A message of the stream's pool receive (its _rx), and a send's result
 * (its sent): 0, or -1 with the exception the protocol let out. */
int rkpy_stream_pool_rx(PyObject *tr, PyObject *data);
int rkpy_stream_sent(PyObject *tr, long res);

/* A completion of the stream's poll op id: res its events or -errno, more
 * whether the poll goes on. */
int rkpy_stream_ready(PyObject *tr, int64_t id, int res, int more);

#endif
