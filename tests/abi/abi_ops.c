/* Prints the op table as rk_op_info_of gives it, as JSON: tools/abi.py puts
 * it in doc/abi.json as "ops", so the listing is what the library answers.
 * The names of fields, types, roles and results are the header's. */
#include <stddef.h>
#include <stdio.h>

#include "ringkit.h"

#define FIELD(f) {#f, offsetof(rk_op_desc, f)}
static const struct {
	const char *name;
	size_t offset;
} fields[] = {FIELD(fd), FIELD(len), FIELD(off), FIELD(addr), FIELD(addr2),
              FIELD(arg1), FIELD(arg2), FIELD(fd2)};

static const char *const types[] = {
	[RK_ARG_S32] = "s32", [RK_ARG_U32] = "u32", [RK_ARG_U16] = "u16",
	[RK_ARG_S64] = "s64", [RK_ARG_U64] = "u64", [RK_ARG_PTR] = "ptr",
};
static const char *const roles[] = {
	[RK_ROLE_VALUE] = "value",         [RK_ROLE_FD] = "fd",
	[RK_ROLE_ID] = "id",               [RK_ROLE_CHUNK] = "chunk",
	[RK_ROLE_GROUP] = "group",         [RK_ROLE_REGION] = "region",
	[RK_ROLE_LEN] = "len",             [RK_ROLE_PTR_READ] = "ptr_read",
	[RK_ROLE_PTR_WRITE] = "ptr_write", [RK_ROLE_PTR_COPIED] = "ptr_copied",
	[RK_ROLE_IOV_READ] = "iov_read",   [RK_ROLE_IOV_WRITE] = "iov_write",
	[RK_ROLE_FILE_INDEX] = "file_index",
};
static const char *const results[] = {
	[RK_RESULT_NONE] = "none",   [RK_RESULT_BYTES] = "bytes",
	[RK_RESULT_FD] = "fd",       [RK_RESULT_FILE_INDEX] = "file_index",
	[RK_RESULT_CHUNK] = "chunk", [RK_RESULT_MSG] = "msg",
	[RK_RESULT_MASK] = "mask",   [RK_RESULT_ZC] = "zc",
};

#define NAMED(table, v) ((v) < sizeof(table) / sizeof(table[0]) && table[v] ? table[v] : NULL)

/* How long the binding keeps what the argument names alive. */
static const char *keep(int role)
{
	switch (role) {
	case RK_ROLE_FD:
	case RK_ROLE_REGION:
	case RK_ROLE_PTR_READ:
	case RK_ROLE_PTR_WRITE:
	case RK_ROLE_IOV_READ:
	case RK_ROLE_IOV_WRITE:
		return "completion";
	case RK_ROLE_PTR_COPIED:
		return "prep";
	default:
		return NULL;
	}
}

int main(int argc, char **argv)
{
	FILE *out = argc > 1 ? fopen(argv[1], "w") : stdout;
	if (!out)
		return 1;
	int status = 0;
	fprintf(out, "[\n");
	for (uint32_t op = 0; op < RK_OP_COUNT; op++) {
		const rk_op_info *o = rk_op_info_of(op);
		if (!o || o->op != op || !NAMED(results, o->result)) {
			fprintf(stderr, "rk_op_info_of(%u) is missing or wrong\n", op);
			return 1;
		}
		fprintf(out,
		        "{\"name\": \"%s\", \"op\": %u, \"opcode\": %u, \"result\": \"%s\", "
		        "\"multishot\": %s, \"args\": [",
		        o->name, o->op, o->opcode, results[o->result], o->multishot ? "true" : "false");
		for (int i = 0; i < o->nargs; i++) {
			const rk_op_arg *a = &o->args[i];
			const char *field = NULL;
			for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
				if (fields[f].offset == a->offset)
					field = fields[f].name;
			if (!a->name || !field || !NAMED(types, a->type) || !NAMED(roles, a->role)) {
				fprintf(stderr, "%s: argument %d is not understood\n", o->name, i);
				status = 1;
				continue;
			}
			fprintf(out, "%s{\"name\": \"%s\", \"field\": \"%s\", \"offset\": %u, "
			             "\"width\": %u, \"type\": \"%s\", \"role\": \"%s\"",
			        i ? ", " : "", a->name, field, a->offset, a->width, types[a->type],
			        roles[a->role]);
			if (a->role == RK_ROLE_LEN) {
				if (a->of >= o->nargs || o->args[a->of].type != RK_ARG_PTR) {
					fprintf(stderr, "%s: %s measures no pointer\n", o->name, a->name);
					status = 1;
				} else {
					fprintf(out, ", \"of\": \"%s\"", o->args[a->of].name);
				}
			}
			if (keep(a->role))
				fprintf(out, ", \"keep\": \"%s\"", keep(a->role));
			fprintf(out, "}");
		}
		if (o->args[o->nargs].name) {
			fprintf(stderr, "%s: args does not end after nargs\n", o->name);
			status = 1;
		}
		fprintf(out, "]}%s\n", op + 1 < RK_OP_COUNT ? "," : "");
	}
	fprintf(out, "]\n");
	if (out != stdout && fclose(out) != 0)
		return 1;
	return status;
}
