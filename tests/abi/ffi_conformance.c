/* The flat ABI through libffi alone.
 *
 * This program does not include ringkit.h and does not link libringkit. It
 * dlopens the library, and for every function of the ABI listing
 * (doc/abi.json, here as the generated abi_table.h) it looks the symbol up in
 * its listed version node and builds an ffi_cif from the listed types. Then it
 * runs a whole scenario — rings, regions, file, pipe, timeout and socket ops,
 * provided buffers and multishot receives, descriptor batches, cancellation,
 * sendmsg/recvmsg with fd passing, zero-copy sends, registered files and
 * direct descriptors, messages between rings, completion callbacks through a
 * libffi closure — calling only through
 * ffi_call, reading and writing rk_cqe and rk_op_desc records at the offsets
 * the listing gives, and constants through rk_constant. It fails when a
 * listed function was never called, so a function added to the header must be
 * added to the scenario too.
 *
 * What it proves: a runtime with nothing but a generic FFI and the listing can
 * use every function; nothing needs an inline function, a macro or a struct
 * passed by value. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ffi.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abi_table.h"

#ifdef ABI_ERROR /* the listing could not be made from the header */
int main(void)
{
	fprintf(stderr, "%s\n", ABI_ERROR);
	return 1;
}
#else

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			exit(1);                                                         \
		}                                                                        \
	} while (0)

#define CHECK_EQ(a, b)                                                                   \
	do {                                                                             \
		long long a_ = (long long)(a), b_ = (long long)(b);                      \
		if (a_ != b_) {                                                          \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, \
			        __LINE__, #a, #b, a_, b_);                               \
			exit(1);                                                         \
		}                                                                        \
	} while (0)

static void fail(const char *what, const char *name)
{
	fprintf(stderr, "%s: %s\n", what, name);
	exit(1);
}

/* ------------------------------------------------------------------------ */
/* The listing, bound through libffi                                        */
/* ------------------------------------------------------------------------ */

static ffi_type *ffi_type_named(const char *n)
{
	static const struct {
		const char *name;
		ffi_type *type;
	} types[] = {
		{"void", &ffi_type_void},     {"sint8", &ffi_type_sint8},
		{"uint8", &ffi_type_uint8},   {"sint16", &ffi_type_sint16},
		{"uint16", &ffi_type_uint16}, {"sint32", &ffi_type_sint32},
		{"uint32", &ffi_type_uint32}, {"sint64", &ffi_type_sint64},
		{"uint64", &ffi_type_uint64}, {"pointer", &ffi_type_pointer},
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(types[i].name, n) == 0)
			return types[i].type;
	fail("the listing names an unknown ffi type", n);
	return NULL;
}

struct bound {
	ffi_cif cif;
	ffi_type *args[ABI_MAXP];
	void (*fn)(void);
	int calls;
};

static void *lib;
static struct bound bound[ABI_NFUNCTIONS];

static void bind_all(const char *path)
{
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		fail("dlopen", dlerror());
	for (int i = 0; i < ABI_NFUNCTIONS; i++) {
		const struct abi_fn *f = &abi_functions[i];
		void *sym = dlvsym(lib, f->name, f->since);
		if (!sym)
			fail("not exported in its listed version node", f->name);
		if (dlsym(lib, f->name) != sym)
			fail("the listed version node is not the default one", f->name);
		for (int k = 0; k < f->nparams; k++)
			bound[i].args[k] = ffi_type_named(f->params[k].ffi);
		if (ffi_prep_cif(&bound[i].cif, FFI_DEFAULT_ABI, (unsigned)f->nparams,
		                 ffi_type_named(f->ret.ffi), bound[i].args) != FFI_OK)
			fail("ffi_prep_cif", f->name);
		memcpy(&bound[i].fn, &sym, sizeof(sym));
	}
}

/* One argument value, whatever its listed type. */
typedef union {
	int64_t i;
	void *p;
} val;
#define I(x) ((val){.i = (int64_t)(x)})
#define P(x) ((val){.p = (void *)(x)})

union slot {
	int8_t s8;
	uint8_t u8;
	int16_t s16;
	uint16_t u16;
	int32_t s32;
	uint32_t u32;
	int64_t s64;
	uint64_t u64;
	void *p;
	ffi_arg ret;
	ffi_sarg sret;
};

static int find_fn(const char *name)
{
	for (int i = 0; i < ABI_NFUNCTIONS; i++)
		if (strcmp(abi_functions[i].name, name) == 0)
			return i;
	fail("not in the listing", name);
	return -1;
}

/* Stores v as listed type t, refusing values the type cannot hold (so a
 * mistake in this test cannot pass silently as a truncated argument). */
static void store(union slot *s, const char *t, val v, const char *fn, const char *param)
{
	int64_t x = v.i;
	int ok = 1;
	if (strcmp(t, "pointer") == 0)
		s->p = v.p;
	else if (strcmp(t, "sint8") == 0)
		ok = x >= INT8_MIN && x <= INT8_MAX, s->s8 = (int8_t)x;
	else if (strcmp(t, "uint8") == 0)
		ok = x >= 0 && x <= UINT8_MAX, s->u8 = (uint8_t)x;
	else if (strcmp(t, "sint16") == 0)
		ok = x >= INT16_MIN && x <= INT16_MAX, s->s16 = (int16_t)x;
	else if (strcmp(t, "uint16") == 0)
		ok = x >= 0 && x <= UINT16_MAX, s->u16 = (uint16_t)x;
	else if (strcmp(t, "sint32") == 0)
		ok = x >= INT32_MIN && x <= INT32_MAX, s->s32 = (int32_t)x;
	else if (strcmp(t, "uint32") == 0)
		ok = x >= 0 && x <= UINT32_MAX, s->u32 = (uint32_t)x;
	else if (strcmp(t, "sint64") == 0)
		s->s64 = x;
	else if (strcmp(t, "uint64") == 0)
		s->u64 = (uint64_t)x;
	else
		fail("unknown type", t);
	if (!ok) {
		fprintf(stderr, "%s: %lld does not fit parameter %s (%s)\n", fn, (long long)x, param, t);
		exit(1);
	}
}

/* Widens a value of listed type t (libffi's return slot rules: integers
 * narrower than a word come back as a whole ffi_arg). */
static int64_t widen(const union slot *s, const char *t, int is_return)
{
	if (strcmp(t, "void") == 0)
		return 0;
	if (strcmp(t, "pointer") == 0)
		return (int64_t)(intptr_t)s->p;
	if (strcmp(t, "sint64") == 0)
		return s->s64;
	if (strcmp(t, "uint64") == 0)
		return (int64_t)s->u64;
	if (is_return) {
		if (t[0] == 's')
			return (int64_t)s->sret;
		return (int64_t)s->ret;
	}
	if (strcmp(t, "sint32") == 0)
		return s->s32;
	if (strcmp(t, "uint32") == 0)
		return s->u32;
	if (strcmp(t, "sint16") == 0)
		return s->s16;
	if (strcmp(t, "uint16") == 0)
		return s->u16;
	if (strcmp(t, "sint8") == 0)
		return s->s8;
	if (strcmp(t, "uint8") == 0)
		return s->u8;
	fail("unknown type", t);
	return 0;
}

static int64_t callv(const char *name, int n, const val *a)
{
	int i = find_fn(name);
	const struct abi_fn *f = &abi_functions[i];
	if (n != f->nparams) {
		fprintf(stderr, "%s takes %d arguments, the test passed %d\n", name, f->nparams, n);
		exit(1);
	}
	union slot args[ABI_MAXP], ret;
	void *avalues[ABI_MAXP];
	for (int k = 0; k < n; k++) {
		store(&args[k], f->params[k].ffi, a[k], name, f->params[k].name);
		avalues[k] = &args[k];
	}
	memset(&ret, 0, sizeof(ret));
	ffi_call(&bound[i].cif, bound[i].fn, &ret, avalues);
	bound[i].calls++;
	return widen(&ret, f->ret.ffi, 1);
}

#define CALL(name, ...) \
	callv(name, (int)(sizeof((val[]){__VA_ARGS__}) / sizeof(val)), (val[]){__VA_ARGS__})
#define CALL0(name) callv(name, 0, NULL)
#define CALLP(name, ...) ((void *)(intptr_t)CALL(name, __VA_ARGS__))

/* ------------------------------------------------------------------------ */
/* Records at the listed offsets                                            */
/* ------------------------------------------------------------------------ */

static const struct abi_struct *struct_named(const char *s)
{
	for (int i = 0; i < ABI_NSTRUCTS; i++)
		if (strcmp(abi_structs[i].name, s) == 0)
			return &abi_structs[i];
	fail("struct not in the listing", s);
	return NULL;
}

static const struct abi_field *field_named(const char *s, const char *f)
{
	const struct abi_struct *st = struct_named(s);
	for (int i = 0; i < st->nfields; i++)
		if (strcmp(st->fields[i].name, f) == 0)
			return &st->fields[i];
	fail("field not in the listing", f);
	return NULL;
}

static size_t sizeof_rec(const char *s)
{
	return struct_named(s)->size;
}

static void put(void *rec, const char *s, const char *f, int64_t v)
{
	const struct abi_field *fl = field_named(s, f);
	union slot x;
	store(&x, fl->ffi, I(v), s, f);
	memcpy((unsigned char *)rec + fl->offset, &x, fl->size / fl->count);
}

static int64_t get(const void *rec, const char *s, const char *f)
{
	const struct abi_field *fl = field_named(s, f);
	union slot x;
	memset(&x, 0, sizeof(x));
	memcpy(&x, (const unsigned char *)rec + fl->offset, fl->size / fl->count);
	return widen(&x, fl->ffi, 0);
}

/* A constant by name, through rk_constant. */
static int64_t K(const char *name)
{
	int64_t v = 0;
	int64_t r = CALL("rk_constant", P(name), P(&v));
	if (r != 0)
		fail("rk_constant does not know", name);
	return v;
}

/* ------------------------------------------------------------------------ */
/* Reaping through the listing's rk_cqe layout                               */
/* ------------------------------------------------------------------------ */

struct rec {
	int64_t id;
	int32_t res;
	uint32_t flags;
};

static struct rec stash[512];
static int nstash;

static int reap_into_stash(void *ring, uint32_t wait_nr, int64_t timeout_ns)
{
	size_t sz = sizeof_rec("rk_cqe");
	unsigned char buf[32 * 64];
	CHECK(sz * 32 <= sizeof(buf));
	int64_t n = CALL("rk_reap", P(ring), P(buf), I(32), I(wait_nr), I(timeout_ns));
	CHECK(n >= 0 && n <= 32);
	for (int64_t i = 0; i < n; i++) {
		CHECK(nstash < (int)(sizeof(stash) / sizeof(stash[0])));
		const unsigned char *r = buf + i * sz;
		stash[nstash++] = (struct rec){get(r, "rk_cqe", "id"), (int32_t)get(r, "rk_cqe", "res"),
		                               (uint32_t)get(r, "rk_cqe", "flags")};
	}
	return (int)n;
}

/* The next record named id (reaping as needed, at most ~10 s): an op id, or
 * the negative id of a message from rk_prep_msg_ring. */
static struct rec take(void *ring, int64_t id)
{
	for (int tries = 0; tries < 100; tries++) {
		for (int i = 0; i < nstash; i++) {
			if (stash[i].id == id) {
				struct rec r = stash[i];
				memmove(&stash[i], &stash[i + 1], (size_t)(nstash - i - 1) * sizeof(stash[0]));
				nstash--;
				return r;
			}
		}
		reap_into_stash(ring, 1, 100000000);
	}
	fprintf(stderr, "no completion for op %lld\n", (long long)id);
	exit(1);
}

static int32_t result(void *ring, int64_t id)
{
	struct rec r = take(ring, id);
	CHECK(!(r.flags & (uint32_t)K("RK_CQE_F_MORE")));
	return r.res;
}

/* ------------------------------------------------------------------------ */
/* The completion callback, as a libffi closure built from the listing       */
/* ------------------------------------------------------------------------ */

struct dispatch_ctx {
	struct rec got[16];
	int n;
	int stop_after;   /* return non-zero on this callback */
	void *ring;       /* prep a NOP from the first callback when set */
	int64_t prepped;
};

static const struct abi_fn *cqe_fn_listing;

static int param_index(const struct abi_fn *f, const char *name)
{
	for (int i = 0; i < f->nparams; i++)
		if (strcmp(f->params[i].name, name) == 0)
			return i;
	fail("callback parameter not in the listing", name);
	return -1;
}

static void on_cqe(ffi_cif *cif, void *ret, void **args, void *user)
{
	(void)cif;
	(void)user;
	const struct abi_fn *f = cqe_fn_listing;
	union slot s;
	int64_t v[4];
	const char *names[4] = {"ctx", "id", "res", "flags"};
	for (int k = 0; k < 4; k++) {
		int i = param_index(f, names[k]);
		memset(&s, 0, sizeof(s));
		memcpy(&s, args[i], ffi_type_named(f->params[i].ffi)->size);
		v[k] = widen(&s, f->params[i].ffi, 0);
	}
	struct dispatch_ctx *c = (struct dispatch_ctx *)(intptr_t)v[0];
	CHECK(c->n < 16);
	c->got[c->n++] = (struct rec){v[1], (int32_t)v[2], (uint32_t)v[3]};
	if (c->ring && c->n == 1)
		c->prepped = CALL("rk_prep_nop", P(c->ring), I(0)); /* reentrant call */
	union slot r;
	memset(&r, 0, sizeof(r));
	r.sret = c->n == c->stop_after;
	memcpy(ret, &r, sizeof(ffi_arg));
}

/* ------------------------------------------------------------------------ */
/* The scenario                                                             */
/* ------------------------------------------------------------------------ */

static char tmpdir[64];

static void cleanup_tmp(void)
{
	char cmd[128];
	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
}

static void versions_and_constants(void)
{
	unsigned maj, min, pat;
	CHECK_EQ(sscanf(ABI_VERSION, "%u.%u.%u", &maj, &min, &pat), 3);
	CHECK_EQ(CALL0("rk_version"), (maj << 16) | (min << 8) | pat);
	CHECK_EQ(K("RK_VERSION_MINOR"), min);

	const char *s = CALLP("rk_strerror", I(-EBUSY));
	CHECK(s && strlen(s) > 0);
	s = CALLP("rk_strerror", I(-123456));
	CHECK(s != NULL);
	s = CALLP("rk_ring_create_strerror", I(-EINVAL), I(-1), I(0), I(0), I(0), I(0));
	CHECK(s && strstr(s, "entries"));

	int64_t v;
	CHECK_EQ(CALL("rk_constant", P("NO_SUCH_CONSTANT"), P(&v)), -ENOENT);
	CHECK_EQ(CALL("rk_constant", P(NULL), P(&v)), -EINVAL);
	/* Walk the whole table: every constant of the header is in it, with the
	 * value rk_constant gives. */
	int found[ABI_NCONSTANTS] = {0};
	uint32_t idx = 0;
	for (;; idx++) {
		const char *name = NULL;
		int64_t r = CALL("rk_constant_at", I(idx), P(&name), P(&v));
		if (r == -ENOENT)
			break;
		CHECK_EQ(r, 0);
		for (int i = 0; i < ABI_NCONSTANTS; i++)
			if (strcmp(abi_constants[i], name) == 0) {
				CHECK_EQ(K(name), v);
				found[i] = 1;
			}
	}
	CHECK(idx >= ABI_NCONSTANTS);
	for (int i = 0; i < ABI_NCONSTANTS; i++)
		if (!found[i])
			fail("rk_constant_at never names", abi_constants[i]);
	CHECK_EQ(CALL("rk_constant_at", I(idx), P(NULL), P(&v)), -EINVAL);

	/* The op table's rows, read at the listed offsets. */
	for (int64_t op = 0; op < K("RK_OP_COUNT"); op++) {
		const void *info = CALLP("rk_op_info_of", I(op));
		CHECK(info != NULL);
		CHECK_EQ(get(info, "rk_op_info", "op"), op);
		const char *arg = (const char *)(intptr_t)get(info, "rk_op_info", "args");
		int64_t nargs = get(info, "rk_op_info", "nargs");
		CHECK(arg != NULL);
		for (const char *a = arg; a && get(a, "rk_op_arg", "name"); a += sizeof_rec("rk_op_arg"))
			nargs--;
		CHECK_EQ(nargs, 0);
	}
	CHECK(CALLP("rk_op_info_of", I(K("RK_OP_COUNT"))) == NULL);
}

static void rings(void)
{
	void *r = NULL;
	CHECK_EQ(CALL("rk_ring_create", I(8), I(0), P(NULL)), -EINVAL);
	CHECK_EQ(CALL("rk_ring_create_ex", I(8), I(0), I(32), I(64), I(0), P(&r)), 0);
	uint64_t st[64];
	int64_t nstat = K("RK_STAT_COUNT");
	CHECK(nstat <= 64);
	CHECK_EQ(CALL("rk_ring_stats", P(r), P(st), I(nstat)), nstat);
	CHECK_EQ(st[K("RK_STAT_CAPACITY")], 64);
	CHECK_EQ(st[K("RK_STAT_CQ_ENTRIES")], 32);
	CHECK(CALL("rk_ring_fd", P(r)) >= 0);
	CHECK_EQ(CALL("rk_ring_fd", P(NULL)), -EINVAL);
	CHECK_EQ(CALL("rk_ring_probe", P(r), I(K("IORING_OP_NOP"))), 1);
	CHECK_EQ(CALL("rk_ring_probe", P(NULL), I(0)), -EINVAL);
	int have_range = (int)CALL("rk_ring_feature", P(r), I(K("RK_FEATURE_FILE_ALLOC_RANGE")));
	CHECK(have_range == 0 || have_range == 1);
	CHECK_EQ(CALL("rk_ring_feature", P(r), I(UINT32_MAX)), 0);
	int64_t be = CALL("rk_ring_backend", P(r));
	CHECK(be == K("RK_BACKEND_URING") || be == K("RK_BACKEND_FALLBACK"));
	CHECK_EQ(CALL("rk_ring_backend", P(NULL)), -EINVAL);

	int efd = eventfd(0, EFD_CLOEXEC);
	CHECK(efd >= 0);
	CHECK_EQ(CALL("rk_ring_register_eventfd", P(r), I(efd), I(0)), 0);
	CHECK_EQ(CALL("rk_ring_register_eventfd", P(r), I(efd), I(0)), -EBUSY);
	int64_t id = CALL("rk_prep_nop", P(r), I(0));
	CHECK_EQ(result(r, id), 0);
	uint64_t count = 0;
	CHECK_EQ(read(efd, &count, sizeof(count)), sizeof(count));
	CHECK(count >= 1);
	CHECK_EQ(CALL("rk_ring_unregister_eventfd", P(r)), 0);
	CHECK_EQ(CALL("rk_ring_unregister_eventfd", P(r)), -ENXIO);
	close(efd);

	/* cancel_all settles what is in flight, with completions delivered. */
	int64_t t = CALL("rk_prep_timeout", P(r), I(10000000000LL), I(0), I(0), I(0));
	CHECK(t >= 0);
	CHECK_EQ(CALL("rk_submit", P(r)), 1);
	CHECK_EQ(CALL("rk_ring_cancel_all", P(r)), 1);
	CHECK_EQ(result(r, t), -ECANCELED);
	CHECK_EQ(CALL("rk_ring_cancel_all", P(NULL)), -EINVAL);
	CHECK_EQ(CALL("rk_ring_close", P(r)), 0);
	CHECK_EQ(CALL("rk_ring_close", P(NULL)), -EINVAL);

	/* A restricted ring: the op codes through a uint32_t array. */
	CHECK_EQ(CALL("rk_ring_create", I(8), I(K("RK_RING_RESTRICTABLE")), P(&r)), 0);
	CHECK_EQ(CALL("rk_prep_nop", P(r), I(0)), -EBADFD);
	uint32_t ops[2] = {(uint32_t)K("RK_OP_NOP"), (uint32_t)K("RK_OP_WRITE")};
	CHECK_EQ(CALL("rk_ring_restrict", P(NULL), P(ops), I(2), I(0)), -EINVAL);
	CHECK_EQ(CALL("rk_ring_restrict", P(r), P(ops), I(2), I(0)), 0);
	CHECK_EQ(CALL("rk_ring_restrict", P(r), P(ops), I(2), I(0)), -EPERM);
	CHECK_EQ(result(r, CALL("rk_prep_nop", P(r), I(0))), 0);
	CHECK_EQ(CALL("rk_prep_timeout", P(r), I(1000), I(0), I(0), I(0)), -EACCES);
	CHECK_EQ(CALL("rk_ring_close", P(r)), 0);

	/* Resizing: a DEFER_TASKRUN ring only, sizes as uint32_t. */
	CHECK_EQ(CALL("rk_ring_create", I(8), I(K("RK_RING_DEFER_TASKRUN")), P(&r)), 0);
	CHECK_EQ(CALL("rk_ring_resize", P(NULL), I(16), I(0)), -EINVAL);
	CHECK_EQ(CALL("rk_ring_resize", P(r), I(0), I(0)), -EINVAL);
	if (CALL("rk_ring_feature", P(r), I(K("RK_FEATURE_RESIZE"))) == 1) {
		CHECK_EQ(CALL("rk_ring_resize", P(r), I(16), I(64)), 0);
		CHECK_EQ(CALL("rk_ring_stats", P(r), P(st), I(nstat)), nstat);
		CHECK_EQ(st[K("RK_STAT_SQ_ENTRIES")], 16);
		CHECK_EQ(st[K("RK_STAT_CQ_ENTRIES")], 64);
		CHECK_EQ(result(r, CALL("rk_prep_nop", P(r), I(0))), 0);
	} else {
		CHECK_EQ(CALL("rk_ring_resize", P(r), I(16), I(64)), -EOPNOTSUPP);
	}
	CHECK_EQ(CALL("rk_ring_close", P(r)), 0);
}

static void file_ops(void *ring)
{
	int dfd = open(tmpdir, O_DIRECTORY | O_RDONLY);
	CHECK(dfd >= 0);
	int64_t oflags = K("O_RDWR") | K("O_CREAT") | K("O_TRUNC");
	int64_t id = CALL("rk_prep_openat", P(ring), I(dfd), P("data"), I(oflags), I(0600), I(0));
	int fd = result(ring, id);
	CHECK(fd >= 0);

	char out[8192], in[8192];
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)(i * 7 + 3);
	id = CALL("rk_prep_write", P(ring), I(fd), P(out), I(4096), I(0), I(0));
	CHECK_EQ(result(ring, id), 4096);
	unsigned char iovs[2 * 64];
	size_t isz = sizeof_rec("rk_iovec");
	CHECK(2 * isz <= sizeof(iovs));
	put(iovs, "rk_iovec", "base", (int64_t)(intptr_t)(out + 4096));
	put(iovs, "rk_iovec", "len", 1000);
	put(iovs + isz, "rk_iovec", "base", (int64_t)(intptr_t)(out + 5096));
	put(iovs + isz, "rk_iovec", "len", 3096);
	id = CALL("rk_prep_writev", P(ring), I(fd), P(iovs), I(2), I(4096), I(0), I(0));
	CHECK_EQ(result(ring, id), 4096);
	CHECK_EQ(result(ring, CALL("rk_prep_fsync", P(ring), I(fd), I(0), I(0), I(0))), 0);
	CHECK_EQ(result(ring, CALL("rk_prep_fdatasync", P(ring), I(fd), I(0), I(0), I(0))), 0);

	memset(in, 0, sizeof(in));
	id = CALL("rk_prep_read", P(ring), I(fd), P(in), I(4096), I(0), I(0));
	CHECK_EQ(result(ring, id), 4096);
	put(iovs, "rk_iovec", "base", (int64_t)(intptr_t)(in + 4096));
	put(iovs, "rk_iovec", "len", 4096);
	id = CALL("rk_prep_readv", P(ring), I(fd), P(iovs), I(1), I(4096), I(0), I(0));
	CHECK_EQ(result(ring, id), 4096);
	CHECK(memcmp(in, out, sizeof(out)) == 0);

	unsigned char stx[512];
	CHECK(K("RK_STATX_SIZE") <= (int64_t)sizeof(stx));
	id = CALL("rk_prep_statx", P(ring), I(dfd), P("data"), I(0), I(K("STATX_SIZE")), P(stx),
	          I(0));
	CHECK_EQ(result(ring, id), 0);
	uint64_t size;
	memcpy(&size, stx + 40, 8); /* struct statx: stx_size at 40, kernel ABI */
	CHECK_EQ(size, 8192);

	id = CALL("rk_prep_fallocate", P(ring), I(fd), I(0), I(0), I(16384), I(0));
	CHECK_EQ(result(ring, id), 0);
	id = CALL("rk_prep_fadvise", P(ring), I(fd), I(0), I(0), I(K("POSIX_FADV_SEQUENTIAL")),
	          I(0));
	CHECK_EQ(result(ring, id), 0);
	/* 6.9+: -EOPNOTSUPP from the prep on an older kernel. */
	id = CALL("rk_prep_ftruncate", P(ring), I(fd), I(16384), I(0));
	if (id != -EOPNOTSUPP)
		CHECK_EQ(result(ring, id), 0);

	id = CALL("rk_prep_mkdirat", P(ring), I(dfd), P("sub"), I(0700), I(0));
	CHECK_EQ(result(ring, id), 0);
	id = CALL("rk_prep_renameat", P(ring), I(dfd), P("sub"), I(dfd), P("sub2"), I(0), I(0));
	CHECK_EQ(result(ring, id), 0);
	id = CALL("rk_prep_linkat", P(ring), I(dfd), P("data"), I(dfd), P("hard"), I(0), I(0));
	CHECK_EQ(result(ring, id), 0);
	id = CALL("rk_prep_symlinkat", P(ring), P("data"), I(dfd), P("soft"), I(0));
	CHECK_EQ(result(ring, id), 0);
	struct stat sb;
	CHECK_EQ(fstatat(dfd, "hard", &sb, 0), 0);
	CHECK_EQ(sb.st_size, 16384);
	CHECK_EQ(fstatat(dfd, "soft", &sb, 0), 0);
	id = CALL("rk_prep_unlinkat", P(ring), I(dfd), P("sub2"), I(K("AT_REMOVEDIR")), I(0));
	CHECK_EQ(result(ring, id), 0);
	id = CALL("rk_prep_unlinkat", P(ring), I(dfd), P("hard"), I(0), I(0));
	CHECK_EQ(result(ring, id), 0);
	id = CALL("rk_prep_unlinkat", P(ring), I(dfd), P("nothing"), I(0), I(0));
	CHECK_EQ(result(ring, id), -ENOENT);

	/* openat2 with RESOLVE_BENEATH refuses to leave the directory. */
	id = CALL("rk_prep_openat2", P(ring), I(dfd), P("../x"), I(K("O_RDONLY")), I(0),
	          I(K("RESOLVE_BENEATH")), I(0));
	CHECK_EQ(result(ring, id), -EXDEV);
	id = CALL("rk_prep_openat2", P(ring), I(dfd), P("soft"), I(K("O_RDONLY")), I(0), I(0), I(0));
	int fd2 = result(ring, id);
	CHECK(fd2 >= 0);

	/* splice file -> pipe, tee pipe -> pipe. */
	int p1[2], p2[2];
	CHECK_EQ(pipe(p1), 0);
	CHECK_EQ(pipe(p2), 0);
	id = CALL("rk_prep_splice", P(ring), I(fd2), I(100), I(p1[1]), I(-1), I(50), I(0), I(0));
	CHECK_EQ(result(ring, id), 50);
	id = CALL("rk_prep_tee", P(ring), I(p1[0]), I(p2[1]), I(50), I(0), I(0));
	CHECK_EQ(result(ring, id), 50);
	char a[50], b[50];
	CHECK_EQ(read(p1[0], a, 50), 50);
	CHECK_EQ(read(p2[0], b, 50), 50);
	CHECK(memcmp(a, out + 100, 50) == 0 && memcmp(b, out + 100, 50) == 0);
	/* copy file -> file, one op. */
	int cfd = openat(dfd, "copied", O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(cfd >= 0);
	id = CALL("rk_prep_copy", P(ring), I(fd2), I(100), I(cfd), I(7), I(50), I(0), I(0));
	CHECK_EQ(result(ring, id), 50);
	CHECK_EQ(pread(cfd, a, 50, 7), 50);
	CHECK(memcmp(a, out + 100, 50) == 0);
	close(cfd);

	CHECK_EQ(result(ring, CALL("rk_prep_close", P(ring), I(fd2), I(0))), 0);
	CHECK_EQ(result(ring, CALL("rk_prep_close", P(ring), I(fd), I(0))), 0);
	CHECK_EQ(fcntl(fd, F_GETFD), -1);
	CHECK_EQ(CALL("rk_prep_close", P(ring), I(-1), I(0)), -EBADF);
	close(p1[0]), close(p1[1]), close(p2[0]), close(p2[1]);
	close(dfd);
}

/* Pipe reads, timeouts, links and every way of cancelling. */
static void pipes_and_timeouts(void *ring)
{
	int p[2];
	CHECK_EQ(pipe(p), 0);
	char buf[64];

	/* A read waits for the write the ring itself does. */
	int64_t rd = CALL("rk_prep_read", P(ring), I(p[0]), P(buf), I(sizeof(buf)), I(-1), I(0));
	CHECK_EQ(CALL("rk_submit", P(ring)), 1);
	int64_t wr = CALL("rk_prep_write", P(ring), I(p[1]), P("through the pipe"), I(16), I(-1),
	                  I(0));
	CHECK_EQ(result(ring, wr), 16);
	CHECK_EQ(result(ring, rd), 16);
	CHECK(memcmp(buf, "through the pipe", 16) == 0);

	int64_t t = CALL("rk_prep_timeout", P(ring), I(5000000), I(0), I(0), I(0));
	CHECK_EQ(result(ring, t), -ETIME);
	CHECK_EQ(CALL("rk_prep_timeout", P(ring), I(-1), I(0), I(0), I(0)), -EINVAL);

	/* A linked timeout bounds a read that never gets data. */
	rd = CALL("rk_prep_read", P(ring), I(p[0]), P(buf), I(sizeof(buf)), I(-1), I(K("RK_LINK")));
	int64_t lt = CALL("rk_prep_link_timeout", P(ring), I(5000000), I(0), I(0));
	CHECK(lt >= 0);
	int32_t r = result(ring, rd);
	CHECK(r == -ECANCELED || r == -EINTR);
	CHECK_EQ(result(ring, lt), -ETIME);

	/* timeout_remove */
	t = CALL("rk_prep_timeout", P(ring), I(10000000000LL), I(0), I(0), I(0));
	CHECK_EQ(CALL("rk_submit", P(ring)), 1);
	int64_t tr = CALL("rk_prep_timeout_remove", P(ring), I(t), I(0));
	CHECK_EQ(result(ring, tr), 0);
	CHECK_EQ(result(ring, t), -ECANCELED);
	CHECK_EQ(CALL("rk_prep_timeout_remove", P(ring), I(t), I(0)), -ENOENT); /* stale */

	/* poll_add / poll_remove */
	int64_t pa = CALL("rk_prep_poll_add", P(ring), I(p[0]), I(POLLIN), I(0));
	CHECK_EQ(CALL("rk_submit", P(ring)), 1);
	int64_t pr = CALL("rk_prep_poll_remove", P(ring), I(pa), I(0));
	CHECK_EQ(result(ring, pr), 0);
	CHECK_EQ(result(ring, pa), -ECANCELED);
	CHECK_EQ(write(p[1], "x", 1), 1);
	pa = CALL("rk_prep_poll_add", P(ring), I(p[0]), I(POLLIN), I(0));
	CHECK(result(ring, pa) & POLLIN);

	/* A multishot poll stays armed (MORE) until removed. */
	int64_t pm = CALL("rk_prep_poll_multishot", P(ring), I(p[0]), I(POLLIN), I(0));
	struct rec m = take(ring, pm);
	CHECK(m.flags & (uint32_t)K("RK_CQE_F_MORE"));
	CHECK(m.res & POLLIN);
	CHECK_EQ(read(p[0], buf, 1), 1);
	pr = CALL("rk_prep_poll_remove", P(ring), I(pm), I(0));
	CHECK_EQ(result(ring, pr), 0);
	for (;;) { /* more readiness records may precede the final one */
		m = take(ring, pm);
		if (!(m.flags & (uint32_t)K("RK_CQE_F_MORE")))
			break;
	}
	CHECK_EQ(m.res, -ECANCELED);

	/* rk_prep_cancel: the pair of results. */
	rd = CALL("rk_prep_read", P(ring), I(p[0]), P(buf), I(sizeof(buf)), I(-1), I(0));
	CHECK_EQ(CALL("rk_submit", P(ring)), 1);
	int64_t c = CALL("rk_prep_cancel", P(ring), I(rd), I(0));
	CHECK_EQ(result(ring, c), 0);
	r = result(ring, rd);
	CHECK(r == -ECANCELED || r == -EINTR);
	CHECK_EQ(CALL("rk_prep_cancel", P(ring), I(rd), I(0)), -ENOENT);

	/* rk_cancel_sync needs no slot. */
	rd = CALL("rk_prep_read", P(ring), I(p[0]), P(buf), I(sizeof(buf)), I(-1), I(0));
	CHECK_EQ(CALL("rk_submit", P(ring)), 1);
	CHECK_EQ(CALL("rk_cancel_sync", P(ring), I(rd), I(1000000000)), 0);
	r = result(ring, rd);
	CHECK(r == -ECANCELED || r == -EINTR);
	CHECK_EQ(CALL("rk_cancel_sync", P(ring), I(rd), I(0)), -ENOENT);
	close(p[0]), close(p[1]);
}

/* Chunk ops through a region registered as fixed buffers when memlock
 * allows it. */
static void regions(void *ring)
{
	void *rg = NULL;
	CHECK_EQ(CALL("rk_region_create", I(4096), I(4), I(0), P(NULL)), -EINVAL);
	CHECK_EQ(CALL("rk_region_create", I(0), I(4), I(0), P(&rg)), -EINVAL);
	CHECK_EQ(CALL("rk_region_create", I(4096), I(4), I(0), P(&rg)), 0);
	CHECK_EQ(CALL("rk_region_chunk_size", P(rg)), 4096);
	CHECK_EQ(CALL("rk_region_nchunks", P(rg)), 4);
	CHECK_EQ(CALL("rk_region_chunks_free", P(rg)), 4);
	CHECK_EQ(CALL("rk_region_chunk_size", P(NULL)), -EINVAL);
	int64_t reg = CALL("rk_ring_register_region", P(ring), P(rg));
	CHECK(reg == 0 || reg == -ENOMEM);

	int32_t c0 = (int32_t)CALL("rk_chunk_alloc", P(rg));
	int32_t c1 = (int32_t)CALL("rk_chunk_alloc", P(rg));
	CHECK(c0 >= 0 && c1 >= 0 && c0 != c1);
	CHECK_EQ(CALL("rk_region_chunks_free", P(rg)), 2);
	unsigned char *p0 = CALLP("rk_chunk_ptr", P(rg), I(c0));
	unsigned char *p1 = CALLP("rk_chunk_ptr", P(rg), I(c1));
	CHECK(p0 && p1);
	CHECK(((uintptr_t)p0 & 4095) == 0);
	CHECK(CALLP("rk_chunk_ptr", P(rg), I(99)) == NULL);
	for (int i = 0; i < 4096; i++)
		p0[i] = (unsigned char)(i * 13);

	char path[96];
	snprintf(path, sizeof(path), "%s/chunks", tmpdir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	int64_t w = CALL("rk_prep_write_chunk", P(ring), I(fd), P(rg), I(c0), I(4096), I(0), I(0));
	CHECK(w >= 0);
	CHECK_EQ(CALL("rk_region_busy", P(rg)), 1);
	CHECK_EQ(CALL("rk_chunk_free", P(rg), I(c0)), -EBUSY);
	CHECK_EQ(result(ring, w), 4096);
	int64_t rd = CALL("rk_prep_read_chunk", P(ring), I(fd), P(rg), I(c1), I(4096), I(0), I(0));
	CHECK_EQ(result(ring, rd), 4096);
	CHECK(memcmp(p0, p1, 4096) == 0);
	CHECK_EQ(CALL("rk_prep_read_chunk", P(ring), I(fd), P(rg), I(c1), I(8192), I(0), I(0)),
	         -EINVAL);
	close(fd);

	CHECK_EQ(CALL("rk_chunk_free", P(rg), I(c0)), 0);
	CHECK_EQ(CALL("rk_chunk_free", P(rg), I(c0)), -EINVAL);
	CHECK_EQ(CALL("rk_chunk_free", P(rg), I(c1)), 0);
	if (reg == 0) {
		CHECK_EQ(CALL("rk_region_busy", P(rg)), 1); /* registered with an open ring */
		CHECK_EQ(CALL("rk_ring_unregister_region", P(ring), P(rg)), 0);
	}
	CHECK_EQ(CALL("rk_ring_unregister_region", P(ring), P(rg)), -ENOENT);
	CHECK_EQ(CALL("rk_region_busy", P(rg)), 0);
	CHECK_EQ(CALL("rk_region_destroy", P(rg)), 0);
	CHECK_EQ(CALL("rk_region_destroy", P(NULL)), -EINVAL);
	CHECK_EQ(CALL("rk_chunk_alloc", P(NULL)), -EINVAL);
}

static void sockets(void *ring)
{
	int64_t af_inet = K("AF_INET"), stream = K("SOCK_STREAM");
	int64_t id = CALL("rk_prep_socket", P(ring), I(af_inet), I(stream), I(0), I(0));
	int lfd = result(ring, id);
	CHECK(lfd >= 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* bind and listen ops exist from Linux 6.11; elsewhere the prep says so
	 * and the syscalls stand in. */
	int have_bind = (int)CALL("rk_ring_probe", P(ring), I(K("IORING_OP_BIND")));
	int have_listen = (int)CALL("rk_ring_probe", P(ring), I(K("IORING_OP_LISTEN")));
	id = CALL("rk_prep_bind", P(ring), I(lfd), P(&sa), I(sizeof(sa)), I(0));
	if (have_bind == 1) {
		CHECK_EQ(result(ring, id), 0);
	} else {
		CHECK_EQ(id, -EOPNOTSUPP);
		CHECK_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	id = CALL("rk_prep_listen", P(ring), I(lfd), I(16), I(0));
	if (have_listen == 1) {
		CHECK_EQ(result(ring, id), 0);
	} else {
		CHECK_EQ(id, -EOPNOTSUPP);
		CHECK_EQ(listen(lfd, 16), 0);
	}
	socklen_t alen = sizeof(sa);
	CHECK_EQ(getsockname(lfd, (struct sockaddr *)&sa, &alen), 0);

	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in peer;
	int64_t acc = CALL("rk_prep_accept", P(ring), I(lfd), P(&peer), I(sizeof(peer)),
	                   I(K("SOCK_CLOEXEC")), I(0));
	int64_t con = CALL("rk_prep_connect", P(ring), I(cfd), P(&sa), I(sizeof(sa)), I(0));
	CHECK_EQ(result(ring, con), 0);
	int afd = result(ring, acc);
	CHECK(afd >= 0);
	CHECK_EQ(peer.sin_family, AF_INET);

	char buf[16];
	int64_t rv = CALL("rk_prep_recv", P(ring), I(afd), P(buf), I(sizeof(buf)), I(0), I(0));
	int64_t sd = CALL("rk_prep_send", P(ring), I(cfd), P("hello"), I(5), I(0), I(0));
	CHECK_EQ(result(ring, sd), 5);
	CHECK_EQ(result(ring, rv), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	id = CALL("rk_prep_shutdown", P(ring), I(cfd), I(K("SHUT_WR")), I(0));
	CHECK_EQ(result(ring, id), 0);
	rv = CALL("rk_prep_recv", P(ring), I(afd), P(buf), I(sizeof(buf)), I(0), I(0));
	CHECK_EQ(result(ring, rv), 0); /* end of stream */
	close(afd);
	close(cfd);

	/* Multishot accept: one record (MORE) per connection, until cancelled. */
	int64_t am = CALL("rk_prep_accept_multishot", P(ring), I(lfd), I(K("SOCK_CLOEXEC")), I(0));
	CHECK_EQ(CALL("rk_submit", P(ring)), 1);
	int c1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ(connect(c1, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct rec m = take(ring, am);
	CHECK(m.flags & (uint32_t)K("RK_CQE_F_MORE"));
	CHECK(m.res >= 0);
	close(m.res);
	close(c1);
	int64_t c = CALL("rk_prep_cancel", P(ring), I(am), I(0));
	CHECK_EQ(result(ring, c), 0);
	CHECK_EQ(result(ring, am), -ECANCELED);
	close(lfd);
}

/* A region as a provided-buffer group: recv_select and a multishot recv. */
static void provided_buffers(void *ring)
{
	void *rg = NULL;
	CHECK_EQ(CALL("rk_region_create", I(64), I(8), I(0), P(&rg)), 0);
	CHECK_EQ(CALL("rk_ring_provide_region", P(ring), P(rg), I(7)), 7);
	CHECK_EQ(CALL("rk_ring_provide_region", P(ring), P(rg), I(8)), -EBUSY);
	CHECK_EQ(CALL("rk_region_chunks_free", P(rg)), 0); /* the kernel holds them */
	int sv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	uint32_t fbuf = (uint32_t)K("RK_CQE_F_BUFFER"), fmore = (uint32_t)K("RK_CQE_F_MORE");
	int shift = (int)K("RK_CQE_BUFFER_SHIFT");

	CHECK_EQ(write(sv[1], "abc", 3), 3);
	int64_t id = CALL("rk_prep_recv_select", P(ring), I(sv[0]), I(7), I(0), I(0), I(0));
	struct rec r = take(ring, id);
	CHECK_EQ(r.res, 3);
	CHECK(r.flags & fbuf);
	int32_t chunk = (int32_t)(r.flags >> shift);
	CHECK(memcmp(CALLP("rk_chunk_ptr", P(rg), I(chunk)), "abc", 3) == 0);
	CHECK_EQ(CALL("rk_ring_recycle_chunk", P(ring), P(rg), I(chunk)), 0);
	CHECK_EQ(CALL("rk_ring_recycle_chunk", P(ring), P(rg), I(chunk)), -EINVAL);
	CHECK_EQ(CALL("rk_prep_recv_select", P(ring), I(sv[0]), I(9), I(0), I(0), I(0)), -ENOENT);

	/* Multishot: a record per message, MORE while armed; end of stream ends
	 * it with res 0. */
	int64_t ms = CALL("rk_prep_recv_multishot", P(ring), I(sv[0]), I(7), I(0), I(0));
	CHECK_EQ(CALL("rk_submit", P(ring)), 1);
	const char *msgs[3] = {"one", "two!", "three"};
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(write(sv[1], msgs[i], strlen(msgs[i])), (ssize_t)strlen(msgs[i]));
		r = take(ring, ms);
		CHECK(r.flags & fmore);
		CHECK(r.flags & fbuf);
		CHECK_EQ(r.res, (int32_t)strlen(msgs[i]));
		chunk = (int32_t)(r.flags >> shift);
		CHECK(memcmp(CALLP("rk_chunk_ptr", P(rg), I(chunk)), msgs[i], strlen(msgs[i])) == 0);
		CHECK_EQ(CALL("rk_ring_recycle_chunk", P(ring), P(rg), I(chunk)), 0);
	}
	CHECK_EQ(CALL("rk_ring_unprovide_region", P(ring), P(rg)), -EBUSY);

	/* Multishot recvmsg on a datagram pair, decoded flat. */
	int dv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dv), 0);
	if (CALL("rk_ring_feature", P(ring), I(K("RK_FEATURE_RECVMSG_MULTISHOT"))) == 1) {
		int64_t rm = CALL("rk_prep_recvmsg_multishot", P(ring), I(dv[0]), I(7), I(16), I(0),
		                  I(0), I(0));
		CHECK_EQ(CALL("rk_submit", P(ring)), 1);
		CHECK_EQ(write(dv[1], "dgram", 5), 5);
		r = take(ring, rm);
		CHECK(r.flags & fmore);
		chunk = (int32_t)(r.flags >> shift);
		uint32_t v[16];
		int64_t nv = K("RK_RECVMSG_OUT_COUNT");
		CHECK_EQ(CALL("rk_recvmsg_out", P(rg), I(chunk), I(r.res), I(16), I(0), P(v), I(nv)),
		         nv);
		CHECK_EQ(v[K("RK_RECVMSG_OUT_PAYLOAD_LEN")], 5);
		const char *cp = CALLP("rk_chunk_ptr", P(rg), I(chunk));
		CHECK(memcmp(cp + v[K("RK_RECVMSG_OUT_PAYLOAD")], "dgram", 5) == 0);
		CHECK_EQ(CALL("rk_ring_recycle_chunk", P(ring), P(rg), I(chunk)), 0);
		CHECK_EQ(CALL("rk_cancel_sync", P(ring), I(rm), I(-1)), 0);
		CHECK_EQ(take(ring, rm).res, -ECANCELED);
	} else {
		CHECK_EQ(CALL("rk_prep_recvmsg_multishot", P(ring), I(dv[0]), I(7), I(16), I(0), I(0),
		              I(0)), -EOPNOTSUPP);
	}
	CHECK_EQ(CALL("rk_recvmsg_out", P(NULL), I(0), I(16), I(0), I(0), P(NULL), I(0)), -EINVAL);
	close(dv[0]), close(dv[1]);
	shutdown(sv[1], SHUT_WR);
	r = take(ring, ms);
	CHECK(!(r.flags & fmore));
	CHECK_EQ(r.res, 0);
	CHECK_EQ(CALL("rk_ring_unprovide_region", P(ring), P(rg)), 0);
	CHECK_EQ(CALL("rk_ring_unprovide_region", P(ring), P(rg)), -ENOENT);
	CHECK_EQ(CALL("rk_region_chunks_free", P(rg)), 8);
	CHECK_EQ(CALL("rk_region_destroy", P(rg)), 0);
	close(sv[0]), close(sv[1]);
}

/* rk_op_desc records built at the listed offsets: a pipe read, the write
 * that feeds it, a timeout and a NOP in one crossing. */
static void batches(void *ring)
{
	size_t dsz = sizeof_rec("rk_op_desc");
	unsigned char descs[4 * 128];
	CHECK(4 * dsz <= sizeof(descs));
	memset(descs, 0, sizeof(descs));
	int p[2];
	CHECK_EQ(pipe(p), 0);
	char in[32];
	unsigned char *d = descs;
	put(d, "rk_op_desc", "op", K("RK_OP_READ"));
	put(d, "rk_op_desc", "fd", p[0]);
	put(d, "rk_op_desc", "len", sizeof(in));
	put(d, "rk_op_desc", "off", -1);
	put(d, "rk_op_desc", "addr", (int64_t)(intptr_t)in);
	d += dsz;
	put(d, "rk_op_desc", "op", K("RK_OP_WRITE"));
	put(d, "rk_op_desc", "fd", p[1]);
	put(d, "rk_op_desc", "len", 7);
	put(d, "rk_op_desc", "off", -1);
	put(d, "rk_op_desc", "addr", (int64_t)(intptr_t)"batched");
	d += dsz;
	put(d, "rk_op_desc", "op", K("RK_OP_TIMEOUT"));
	put(d, "rk_op_desc", "off", 1000000);
	d += dsz;
	put(d, "rk_op_desc", "op", K("RK_OP_NOP"));
	int64_t ids[4];
	CHECK_EQ(CALL("rk_submit_batch", P(ring), P(descs), I(4), P(ids)), 4);
	CHECK_EQ(result(ring, ids[0]), 7);
	CHECK(memcmp(in, "batched", 7) == 0);
	CHECK_EQ(result(ring, ids[1]), 7);
	CHECK_EQ(result(ring, ids[2]), -ETIME);
	CHECK_EQ(result(ring, ids[3]), 0);

	/* prep_batch stops at a bad record with its errno in ids. */
	memset(descs, 0, sizeof(descs));
	put(descs + dsz, "rk_op_desc", "op", K("RK_OP_COUNT"));
	CHECK_EQ(CALL("rk_prep_batch", P(ring), P(descs), I(2), P(ids)), 1);
	CHECK_EQ(ids[1], -EINVAL);
	CHECK_EQ(CALL("rk_submit", P(ring)), 1);
	CHECK_EQ(result(ring, ids[0]), 0);
	CHECK_EQ(CALL("rk_prep_batch", P(NULL), P(descs), I(1), P(ids)), -EINVAL);
	close(p[0]), close(p[1]);
}

static void tcp_pair(int *client, int *server)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(lfd, 1), 0);
	socklen_t sl = sizeof(sa);
	CHECK_EQ(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ(connect(*client, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	CHECK(*server >= 0);
	close(lfd);
}

/* A zero-copy send's two records: the result (MORE), then the final
 * notification (NOTIF). Returns the result. */
static int32_t zc_result(void *ring, int64_t id)
{
	struct rec r = take(ring, id);
	CHECK(r.flags & (uint32_t)K("RK_CQE_F_MORE"));
	struct rec n = take(ring, id);
	CHECK(n.flags & (uint32_t)K("RK_CQE_F_NOTIF"));
	CHECK(!(n.flags & (uint32_t)K("RK_CQE_F_MORE")));
	return r.res;
}

/* sendmsg/recvmsg with a descriptor passed, zero-copy sends, the registered
 * file table and direct descriptors, a message between rings. */
static void messages_and_files(void *ring)
{
	size_t isz = sizeof_rec("rk_iovec");
	unsigned char iov[2 * 64];
	CHECK(2 * isz <= sizeof(iov));
	int sv[2], p[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CHECK_EQ(pipe(p), 0);

	char rbuf[16];
	int32_t out[8];
	memset(out, 0, sizeof(out));
	put(iov, "rk_iovec", "base", (int64_t)(intptr_t)rbuf);
	put(iov, "rk_iovec", "len", sizeof(rbuf));
	int64_t rid = CALL("rk_prep_recvmsg", P(ring), I(sv[1]), P(iov), I(1), P(NULL), I(0), P(out),
	                   I(2), I(K("MSG_CMSG_CLOEXEC")), I(0));
	CHECK_EQ(CALL("rk_submit", P(ring)), 1);
	put(iov + isz, "rk_iovec", "base", (int64_t)(intptr_t)"an fd:");
	put(iov + isz, "rk_iovec", "len", 6);
	int32_t fds[1] = {p[1]};
	int64_t sid = CALL("rk_prep_sendmsg", P(ring), I(sv[0]), P(iov + isz), I(1), P(NULL), I(0),
	                   P(fds), I(1), I(0), I(0));
	CHECK_EQ(result(ring, sid), 6);
	CHECK_EQ(result(ring, rid), 6);
	CHECK(memcmp(rbuf, "an fd:", 6) == 0);
	CHECK_EQ(out[K("RK_MSG_NFDS")], 1);
	int wfd = out[K("RK_MSG_FDS")];
	CHECK(wfd >= 0 && wfd != p[1]);
	CHECK_EQ(write(wfd, "z", 1), 1); /* the same pipe, through the received fd */
	CHECK_EQ(read(p[0], rbuf, 1), 1);
	CHECK_EQ(rbuf[0], 'z');
	close(wfd);

	/* Zero-copy sends over TCP: result, then notification. */
	int c, s;
	tcp_pair(&c, &s);
	int have_zc = (int)CALL("rk_ring_probe", P(ring), I(K("IORING_OP_SEND_ZC")));
	int have_mzc = (int)CALL("rk_ring_probe", P(ring), I(K("IORING_OP_SENDMSG_ZC")));
	int64_t z = CALL("rk_prep_send_zc", P(ring), I(c), P("zero"), I(4), I(0), I(0), I(0));
	if (have_zc == 1)
		CHECK_EQ(zc_result(ring, z), 4);
	else
		CHECK_EQ(z, -EOPNOTSUPP);
	put(iov, "rk_iovec", "base", (int64_t)(intptr_t)"copy");
	put(iov, "rk_iovec", "len", 4);
	z = CALL("rk_prep_sendmsg_zc", P(ring), I(c), P(iov), I(1), P(NULL), I(0), P(NULL), I(0),
	         I(0), I(0));
	if (have_mzc == 1)
		CHECK_EQ(zc_result(ring, z), 4);
	else
		CHECK_EQ(z, -EOPNOTSUPP);
	char got[8];
	size_t want = (have_zc == 1 ? 4 : 0) + (have_mzc == 1 ? 4 : 0), n = 0;
	while (n < want) {
		ssize_t k = read(s, got + n, want - n);
		CHECK(k > 0);
		n += (size_t)k;
	}
	if (want == 8)
		CHECK(memcmp(got, "zerocopy", 8) == 0);
	close(c);
	close(s);

	/* The registered file table and direct descriptors. */
	CHECK_EQ(CALL("rk_ring_unregister_files", P(ring)), -ENXIO);
	CHECK_EQ(CALL("rk_ring_register_files", P(ring), I(4)), 0);
	CHECK_EQ(CALL("rk_ring_update_files", P(ring), I(0), P(fds), I(1)), 1); /* slot 0: p[1] */
	int64_t w = CALL("rk_prep_write", P(ring), I(0), P("slot"), I(4), I(-1), I(K("RK_FIXED_FILE")));
	CHECK_EQ(result(ring, w), 4);
	CHECK_EQ(read(p[0], rbuf, 4), 4);
	CHECK(memcmp(rbuf, "slot", 4) == 0);

	char path[96];
	snprintf(path, sizeof(path), "%s/direct", tmpdir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK_EQ(write(fd, "direct", 6), 6);
	close(fd);
	int64_t o = CALL("rk_prep_openat_direct", P(ring), I(K("AT_FDCWD")), P(path),
	                 I(K("O_RDONLY")), I(0), I(1), I(0));
	CHECK_EQ(result(ring, o), 0);
	int64_t r = CALL("rk_prep_read", P(ring), I(1), P(rbuf), I(6), I(0), I(K("RK_FIXED_FILE")));
	CHECK_EQ(result(ring, r), 6);
	CHECK(memcmp(rbuf, "direct", 6) == 0);
	int64_t inst = CALL("rk_prep_fixed_fd_install", P(ring), I(1), I(0), I(0));
	if (CALL("rk_ring_probe", P(ring), I(K("IORING_OP_FIXED_FD_INSTALL"))) == 1) {
		int nfd = result(ring, inst);
		CHECK(nfd >= 0);
		CHECK_EQ(pread(nfd, rbuf, 6, 0), 6);
		close(nfd);
	} else {
		CHECK_EQ(inst, -EOPNOTSUPP);
	}
	int64_t sock = CALL("rk_prep_socket_direct", P(ring), I(K("AF_INET")), I(K("SOCK_STREAM")),
	                    I(0), I(K("RK_FILE_INDEX_ALLOC")), I(0));
	int32_t sslot = result(ring, sock);
	CHECK(sslot >= 0 && sslot < 4);
	CHECK_EQ(result(ring, CALL("rk_prep_close_fixed", P(ring), I(sslot), I(0))), 0);
	if (CALL("rk_ring_feature", P(ring), I(K("RK_FEATURE_FILE_ALLOC_RANGE"))) == 1) {
		CHECK_EQ(CALL("rk_ring_file_alloc_range", P(ring), I(3), I(1)), 0);
		sock = CALL("rk_prep_socket_direct", P(ring), I(K("AF_INET")), I(K("SOCK_STREAM")),
		            I(0), I(K("RK_FILE_INDEX_ALLOC")), I(0));
		sslot = result(ring, sock);
		CHECK_EQ(sslot, 3);
		CHECK_EQ(CALL("rk_ring_file_alloc_range", P(ring), I(0), I(4)), 0);
	} else {
		CHECK_EQ(CALL("rk_ring_file_alloc_range", P(ring), I(3), I(1)), -EOPNOTSUPP);
		sock = CALL("rk_prep_socket_direct", P(ring), I(K("AF_INET")), I(K("SOCK_STREAM")),
		            I(0), I(K("RK_FILE_INDEX_ALLOC")), I(0));
		sslot = result(ring, sock);
	}
	CHECK_EQ(CALL("rk_ring_file_alloc_range", P(ring), I(4), I(1)), -EINVAL);
	CHECK_EQ(result(ring, CALL("rk_prep_close_fixed", P(ring), I(sslot), I(0))), 0);

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(lfd, 4), 0);
	socklen_t sl = sizeof(sa);
	CHECK_EQ(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	int c1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ(connect(c1, (struct sockaddr *)&sa, sizeof(sa)), 0);
	int64_t a = CALL("rk_prep_accept_direct", P(ring), I(lfd), I(2), I(0), I(0));
	CHECK_EQ(result(ring, a), 0);
	CHECK_EQ(result(ring, CALL("rk_prep_close_fixed", P(ring), I(2), I(0))), 0);
	CHECK_EQ(read(c1, rbuf, 1), 0); /* the accepted side is closed */
	close(c1);
	int64_t am = CALL("rk_prep_accept_multishot_direct", P(ring), I(lfd), I(0), I(0));
	CHECK_EQ(CALL("rk_submit", P(ring)), 1);
	c1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ(connect(c1, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct rec m = take(ring, am);
	CHECK(m.flags & (uint32_t)K("RK_CQE_F_MORE"));
	CHECK(m.res >= 0 && m.res < 4);
	CHECK_EQ(CALL("rk_cancel_sync", P(ring), I(am), I(-1)), 0);
	CHECK_EQ(result(ring, am), -ECANCELED);
	CHECK_EQ(result(ring, CALL("rk_prep_close_fixed", P(ring), I(m.res), I(0))), 0);
	close(c1);
	close(lfd);
	CHECK_EQ(result(ring, CALL("rk_prep_close_fixed", P(ring), I(1), I(0))), 0);
	/* A file passed to another ring's slot, read there. */
	if (CALL("rk_ring_feature", P(ring), I(K("RK_FEATURE_MSG_SEND_FD"))) == 1) {
		void *to = NULL;
		CHECK_EQ(CALL("rk_ring_create", I(8), I(0), P(&to)), 0);
		CHECK_EQ(CALL("rk_ring_register_files", P(to), I(2)), 0);
		int fdw = open(path, O_RDONLY | O_CLOEXEC);
		int32_t one[1] = {fdw};
		CHECK_EQ(CALL("rk_ring_update_files", P(ring), I(3), P(one), I(1)), 1);
		close(fdw);
		int64_t sf = CALL("rk_prep_msg_ring_fd", P(ring), I(CALL("rk_ring_fd", P(to))), I(3),
		                  I(1), I(5), I(K("RK_MSG_RING_CQE_SKIP")), I(0));
		CHECK_EQ(result(ring, sf), 0);
		int64_t rd2 = CALL("rk_prep_read", P(to), I(1), P(rbuf), I(6), I(0),
		                   I(K("RK_FIXED_FILE")));
		CHECK_EQ(result(to, rd2), 6);
		CHECK(memcmp(rbuf, "direct", 6) == 0);
		CHECK_EQ(CALL("rk_ring_close", P(to)), 0);
	} else {
		CHECK_EQ(CALL("rk_prep_msg_ring_fd", P(ring), I(0), I(0), I(0), I(1), I(0), I(0)),
		         -EOPNOTSUPP);
	}
	CHECK_EQ(CALL("rk_ring_unregister_files", P(ring)), 0);
	CHECK_EQ(CALL("rk_prep_close_fixed", P(ring), I(0), I(0)), -ENXIO);

	/* A message to this very ring: the sender's completion, and a record
	 * with a negative id carrying value and res. */
	int rfd = (int)CALL("rk_ring_fd", P(ring));
	int64_t mr = CALL("rk_prep_msg_ring", P(ring), I(rfd), I(42), I(-7), I(0));
	CHECK_EQ(result(ring, mr), 0);
	struct rec msg = take(ring, 42 | INT64_MIN);
	CHECK_EQ(msg.id & K("RK_MSG_VALUE_MASK"), 42);
	CHECK_EQ(msg.res, -7);
	CHECK_EQ(CALL("rk_prep_msg_ring", P(ring), I(rfd), I(-1), I(0), I(0)), -EINVAL);

	close(sv[0]), close(sv[1]), close(p[0]), close(p[1]);
}

/* rk_reap_dispatch with a libffi closure as the rk_cqe_fn callback. */
static void dispatch(void *ring)
{
	cqe_fn_listing = NULL;
	for (int i = 0; i < ABI_NCALLBACKS; i++)
		if (strcmp(abi_callbacks[i].name, "rk_cqe_fn") == 0)
			cqe_fn_listing = &abi_callbacks[i];
	if (!cqe_fn_listing)
		fail("callback not in the listing", "rk_cqe_fn");
	const struct abi_fn *f = cqe_fn_listing;
	ffi_type *args[ABI_MAXP];
	for (int k = 0; k < f->nparams; k++)
		args[k] = ffi_type_named(f->params[k].ffi);
	ffi_cif cif;
	CHECK_EQ(ffi_prep_cif(&cif, FFI_DEFAULT_ABI, (unsigned)f->nparams,
	                      ffi_type_named(f->ret.ffi), args), FFI_OK);
	void *code = NULL;
	ffi_closure *closure = ffi_closure_alloc(sizeof(ffi_closure), &code);
	CHECK(closure && code);
	CHECK_EQ(ffi_prep_closure_loc(closure, &cif, on_cqe, NULL, code), FFI_OK);

	struct dispatch_ctx ctx;
	memset(&ctx, 0, sizeof(ctx));
	CHECK_EQ(CALL("rk_reap_dispatch", P(NULL), P(code), P(&ctx), I(8), I(0), I(0)), -EINVAL);
	CHECK_EQ(CALL("rk_reap_dispatch", P(ring), P(NULL), P(&ctx), I(8), I(0), I(0)), -EINVAL);

	int64_t ids[3];
	for (int i = 0; i < 3; i++)
		ids[i] = CALL("rk_prep_nop", P(ring), I(0));
	CHECK_EQ(CALL("rk_submit", P(ring)), 3);
	/* Stop after the second: the third stays queued. */
	ctx.stop_after = 2;
	CHECK_EQ(CALL("rk_reap_dispatch", P(ring), P(code), P(&ctx), I(8), I(3), I(1000000000)), 2);
	CHECK_EQ(ctx.n, 2);
	CHECK_EQ(CALL("rk_reap_dispatch", P(ring), P(code), P(&ctx), I(8), I(1), I(1000000000)), 1);
	CHECK_EQ(ctx.n, 3);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(ctx.got[i].res, 0);
		int seen = 0;
		for (int j = 0; j < 3; j++)
			seen += ctx.got[j].id == ids[i];
		CHECK_EQ(seen, 1);
	}

	/* The callback prepares an op through libffi; the same call delivers it. */
	memset(&ctx, 0, sizeof(ctx));
	ctx.ring = ring;
	int64_t t = CALL("rk_prep_timeout", P(ring), I(1000000), I(0), I(0), I(0));
	CHECK_EQ(CALL("rk_reap_dispatch", P(ring), P(code), P(&ctx), I(8), I(2), I(1000000000)), 2);
	CHECK_EQ(ctx.got[0].id, t);
	CHECK_EQ(ctx.got[0].res, -ETIME);
	CHECK(ctx.prepped >= 0);
	CHECK_EQ(ctx.got[1].id, ctx.prepped);
	ffi_closure_free(closure);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s path/to/libringkit.so\n", argv[0]);
		return 2;
	}
	bind_all(argv[1]);
	strcpy(tmpdir, "/tmp/ringkit-ffi.XXXXXX");
	CHECK(mkdtemp(tmpdir) != NULL);
	atexit(cleanup_tmp);

	versions_and_constants();
	rings();
	void *ring = NULL;
	int64_t r = CALL("rk_ring_create", I(32), I(0), P(&ring));
	if (r == -EPERM || r == -ENOSYS) {
		fprintf(stderr, "skipped: io_uring unavailable (%s)\n", (char *)CALLP("rk_strerror", I(r)));
		return 77;
	}
	CHECK_EQ(r, 0);
	file_ops(ring);
	pipes_and_timeouts(ring);
	regions(ring);
	sockets(ring);
	provided_buffers(ring);
	batches(ring);
	messages_and_files(ring);
	dispatch(ring);
	CHECK_EQ(nstash, 0); /* every completion was accounted for */
	CHECK_EQ(CALL("rk_reap", P(NULL), P(NULL), I(0), I(0), I(0)), -EINVAL);
	CHECK_EQ(CALL("rk_submit", P(NULL)), -EINVAL);
	CHECK_EQ(CALL("rk_submit_batch", P(NULL), P(NULL), I(0), P(NULL)), -EINVAL);
	CHECK_EQ(CALL("rk_ring_close", P(ring)), 0);

	int missing = 0;
	for (int i = 0; i < ABI_NCALLBACKS; i++) {
		if (strcmp(abi_callbacks[i].name, "rk_cqe_fn") != 0) {
			fprintf(stderr, "callback type never made a closure: %s\n", abi_callbacks[i].name);
			missing++;
		}
	}
	for (int i = 0; i < ABI_NFUNCTIONS; i++) {
		if (bound[i].calls == 0) {
			fprintf(stderr, "never called through libffi: %s\n", abi_functions[i].name);
			missing++;
		}
	}
	if (missing) {
		fprintf(stderr, "%d of %d listed functions not exercised: add them to %s\n", missing,
		        ABI_NFUNCTIONS, __FILE__);
		return 1;
	}
	printf("%d functions called through libffi, %d callback type(s) as closures\n",
	       ABI_NFUNCTIONS, ABI_NCALLBACKS);
	dlclose(lib);
	return 0;
}
#endif
