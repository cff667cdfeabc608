/*
 * rk_op_info_of: the op table (ops.def) as data, for bindings that wrap
 * every op from it instead of from the header.
 */
#include <stddef.h>

#include "internal.h"

#define FIELD(f) offsetof(rk_op_desc, f), sizeof(((rk_op_desc *)0)->f)

/* Each op's arguments, then the NULL-named entry that ends them. */
#define A(n, f, t, r) {#n, FIELD(f), RK_ARG_##t, RK_ROLE_##r, 0xff, {0}},
#define L(n, f, t, o) {#n, FIELD(f), RK_ARG_##t, RK_ROLE_LEN, o, {0}},
#define OP(NAME, name, opcode, result, multishot, home, exec, args) \
	static const rk_op_arg args_##name[] = {args{NULL, 0, 0, 0, 0, 0xff, {0}}};
#include "ops.def"
#undef A
#undef L
#undef OP

#define A(...) +1
#define L(...) +1
#define OP(NAME, name, opcode, result, multishot, home, exec, args)                          \
	[RK_OP_##NAME] = {#name,           RK_OP_##NAME, 0 args, RK_RESULT_##result, multishot, \
	                  (uint8_t)opcode, {0},          args_##name},
static const rk_op_info infos[RK_OP_COUNT] = {
#include "ops.def"
};
#undef OP

/* A row for every code: a missing one would be a zeroed entry. */
#define OP(...) +1
_Static_assert(0
#include "ops.def"
               == RK_OP_COUNT, "src/ops.def needs one row per RK_OP_* code");
#undef OP
#undef A
#undef L

const rk_op_info *rk_op_info_of(uint32_t op)
{
	return op < RK_OP_COUNT ? &infos[op] : NULL;
}
