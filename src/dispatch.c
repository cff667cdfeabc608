/*
 * Completion callbacks: rk_reap_dispatch calls a C function per completion.
 *
 * It is built on rk_reap alone, one record at a time: a completion leaves the
 * ring only right before its callback runs. That makes stopping early lossless
 * (the rest stay in the CQ) and lets the callback prepare ops, reap, or cancel
 * on the same ring without the dispatcher holding records that went stale
 * meanwhile. The price is one rk_reap call per completion, a few nanoseconds
 * inside the library, against the FFI crossing a callback costs anyway.
 */
#include <errno.h>

#include "internal.h"

int rk_reap_dispatch(rk_ring *ring, rk_cqe_fn fn, void *ctx, uint32_t max, uint32_t wait_nr,
                     int64_t timeout_ns)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	if (!fn)
		return -EINVAL;
	if (max == 0)
		return rk_reap(ring, NULL, 0, 0, 0);
	if (wait_nr > max)
		wait_nr = max;

	int64_t deadline = timeout_ns > 0 ? rk__time_add(rk__now_ns(), timeout_ns) : timeout_ns;
	uint32_t done = 0;
	int ret = 0;
	ring->dispatching++;
	while (done < max) {
		uint32_t wait = 0;
		int64_t left = 0;
		if (done < wait_nr && timeout_ns != 0) {
			wait = 1;
			left = -1;
			if (timeout_ns > 0) {
				left = deadline - rk__now_ns();
				if (left <= 0) {
					wait = 0;
					left = 0;
				}
			}
		}
		rk_cqe c;
		int n = rk_reap(ring, &c, 1, wait, left);
		if (n < 0) {
			ret = n;
			break;
		}
		if (n == 0)
			break;
		done++;
		if (fn(ctx, c.id, c.res, c.flags) != 0 || ring->closed)
			break;
	}
	/* A callback closed the ring (a runtime's `with` block or __close
	 * running inside it): everything but the handle is gone already; the
	 * outermost dispatch frees the handle on its way out. */
	if (--ring->dispatching == 0 && ring->closed) {
		if (!ring->close_leaked)
			rk__free(ring);
		return -EBADF;
	}
	if (ring->closed)
		return -EBADF;
	if (ret < 0 && done == 0)
		return ret;
	return (int)done;
}
