/*
 * Descriptor batches: a runtime fills an array of 64-byte rk_op_desc records
 * and queues them all with one FFI crossing. Each record is dispatched to the
 * same prep function a direct call would use, so the two paths cannot drift.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "internal.h"


/* A field wider than its argument's type (a 64-bit arg1 carrying an
 * int32_t chunk, off carrying a uint32_t nfds) must hold a value of that
 * type: it is refused, never truncated into another valid value (a chunk of
 * 2^32 + 3 must not become chunk 3). Fields as wide as their argument are
 * taken as the bits they hold. */
#define WIDTH_S32 4
#define WIDTH_U32 4
#define WIDTH_U16 2
#define WIDTH_S64 8
#define WIDTH_U64 8
#define WIDTH_PTR 8
#define FITS_S32(v) ((v) >= INT32_MIN && (v) <= INT32_MAX)
#define FITS_U32(v) ((v) >= 0 && (v) <= UINT32_MAX)
#define FITS_U16(v) ((v) >= 0 && (v) <= UINT16_MAX)
#define FITS_S64(v) true
#define FITS_U64(v) true
#define FITS_PTR(v) true
#define CONV_S32(v) ((int32_t)(v))
#define CONV_U32(v) ((uint32_t)(v))
#define CONV_U16(v) ((uint16_t)(v))
#define CONV_S64(v) ((int64_t)(v))
#define CONV_U64(v) ((uint64_t)(v))
#define CONV_PTR(v) PTR(v)

/* One function per op, from its row: the range checks, then its prep with
 * the arguments taken from their fields. */
#define CHECK(f, t) &&(sizeof(d->f) <= WIDTH_##t || FITS_##t((int64_t)d->f))
#define A(n, f, t, r) CHECK(f, t)
#define L(n, f, t, o) CHECK(f, t)
#define OP(NAME, name, opcode, result, multishot, home, exec, args) \
	static inline bool fits_##name(const rk_op_desc *d)          \
	{                                                            \
		(void)d;                                                 \
		return true args;                                        \
	}
#include "ops.def"
#undef A
#undef L
#undef OP

#define A(n, f, t, r) , CONV_##t(d->f)
#define L(n, f, t, o) , CONV_##t(d->f)
#define OP(NAME, name, opcode, result, multishot, home, exec, args)  \
	static int64_t batch_##name(rk_ring *ring, const rk_op_desc *d) \
	{                                                               \
		if (!fits_##name(d))                                        \
			return -EINVAL;                                         \
		return rk_prep_##name(ring args, d->flags);                 \
	}
#include "ops.def"
#undef OP

typedef int64_t (*batch_fn)(rk_ring *ring, const rk_op_desc *d);

#define OP(NAME, name, ...) [RK_OP_##NAME] = batch_##name,
static const batch_fn batch_prep[RK_OP_COUNT] = {
#include "ops.def"
};
#undef OP
#undef A
#undef L

static inline int64_t prep_one(rk_ring *ring, const rk_op_desc *d)
{
	if (d->reserved0[0] || d->reserved0[1] || d->reserved0[2] || d->reserved1)
		return -EINVAL;
	if (d->op >= RK_OP_COUNT)
		return -EINVAL;
	return batch_prep[d->op](ring, d);
}

int rk_prep_batch(rk_ring *ring, const rk_op_desc *descs, uint32_t n, int64_t *ids)
{
	int err = rk__check_ring(ring);
	if (err)
		return err;
	if (n && (!descs || !ids))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		ids[i] = prep_one(ring, &descs[i]);
		if (ids[i] < 0)
			return (int)i;
	}
	return (int)n;
}

int rk_submit_batch(rk_ring *ring, const rk_op_desc *descs, uint32_t n, int64_t *ids)
{
	int ret = rk_prep_batch(ring, descs, n, ids);
	if (ret > 0)
		ring->be->submit(ring, true);
	return ret;
}
