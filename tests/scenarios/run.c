/*
 * The C runner of tests/scenarios: a straight interpreter of the step
 * vocabulary of tests/scenarios/README.md over the C ABI. Usage:
 *   run SCENARIO.json...
 * Exit 0 when every step of every scenario met its expectation; 1 with the
 * scenario, step and both values named otherwise.
 */
#include "../c/fd_count.h"
#include "json.h"
#include "runner.h"

#include <ringkit.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum kind { K_RING, K_REGION, K_OP, K_INT };

/* One name a step bound with "as" (socketpairs bind NAME.a and NAME.b). */
struct binding {
	char name[40];
	enum kind kind;
	int64_t v;        /* op id, fd, chunk */
	void *p;          /* rk_ring *, rk_region *; for an op: its read buffer */
};

static struct binding names[256];
static int nnames;
static const char *scenario;
static int step_no;
static const char *step_op;

void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "FAIL %s step %d (%s): ", scenario, step_no, step_op);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct binding *bind_name(const char *name, enum kind kind, int64_t v, void *p)
{
	if (nnames == (int)(sizeof names / sizeof names[0]) || strlen(name) >= sizeof names[0].name)
		fail("too many names or name too long: %s", name);
	struct binding *b = &names[nnames++];
	snprintf(b->name, sizeof b->name, "%s", name);
	b->kind = kind;
	b->v = v;
	b->p = p;
	return b;
}

static struct binding *lookup(const char *name, enum kind kind)
{
	for (int i = nnames - 1; i >= 0; i--)
		if (strcmp(names[i].name, name) == 0 && names[i].kind == kind)
			return &names[i];
	fail("unknown name '%s'", name);
	return NULL;
}

static jnode *arg(const jnode *step, const char *key)
{
	jnode *n = json_get(step, key);
	if (!n)
		fail("missing argument '%s'", key);
	return n;
}

static int64_t num_or(const jnode *step, const char *key, int64_t dflt)
{
	jnode *n = json_get(step, key);
	if (n && n->type != J_NUM)
		fail("argument '%s' must be an integer", key);
	return n ? n->num : dflt;
}

/* An integer argument: a literal, or the name of an fd, chunk or op. */
static int64_t int_arg(const jnode *step, const char *key)
{
	jnode *n = arg(step, key);
	if (n->type == J_NUM)
		return n->num;
	if (n->type == J_STR) {
		for (int i = nnames - 1; i >= 0; i--)
			if (strcmp(names[i].name, n->str) == 0 &&
			    (names[i].kind == K_INT || names[i].kind == K_OP))
				return names[i].v;
	}
	fail("argument '%s' is neither an integer nor a bound fd, chunk or op", key);
	return 0;
}

static rk_ring *ring_arg(const jnode *step)
{
	jnode *n = json_get(step, "ring");
	struct binding *b = lookup(n ? n->str : "r", K_RING);
	if (!b->p)
		fail("ring '%s' is closed", b->name);
	return b->p;
}

static int64_t constant(const char *name)
{
	int64_t v;
	if (rk_constant(name, &v) != 0)
		fail("ringkit has no constant %s", name);
	return v;
}

static uint32_t flags_arg(const jnode *step)
{
	uint32_t flags = 0;
	char buf[64];
	for (jnode *f = json_get(step, "flags") ? json_get(step, "flags")->child : NULL; f;
	     f = f->next) {
		snprintf(buf, sizeof buf, "RK_%s", f->str);
		flags |= (uint32_t)constant(buf);
	}
	return flags;
}

/* A result spec as text, for messages. */
static void spec_text(const jnode *spec, char *out, size_t cap)
{
	if (spec->type == J_NUM)
		snprintf(out, cap, "%lld", (long long)spec->num);
	else if (spec->type == J_STR)
		snprintf(out, cap, "%s", spec->str);
	else {
		size_t used = 0;
		for (jnode *c = spec->child; c && used < cap; c = c->next) {
			spec_text(c, out + used, cap - used);
			used = strlen(out);
			if (c->next && used + 4 < cap)
				strcat(out, " or "), used += 4;
		}
	}
}

static int matches(const jnode *spec, int64_t got)
{
	if (spec->type == J_NUM)
		return spec->num == got;
	if (spec->type == J_STR) {
		const char *s = spec->str;
		int neg = *s == '-';
		return got == (neg ? -1 : 1) * constant(s + neg);
	}
	for (jnode *c = spec->child; c; c = c->next)
		if (matches(c, got))
			return 1;
	return 0;
}

static void expect_res(const jnode *spec, int64_t got, const char *what)
{
	if (!spec || matches(spec, got))
		return;
	char want[128];
	spec_text(spec, want, sizeof want);
	fail("%s: expected %s, got %lld (%s)", what, want, (long long)got,
	     got < 0 ? rk_strerror((int)got) : "ok");
}

static rk_region *region_of(const jnode *step)
{
	return lookup(arg(step, "region")->str, K_REGION)->p;
}

/* A call's return against the step's "expect". */
static void expect_ret(const jnode *step, int64_t ret)
{
	expect_res(arg(step, "expect"), ret, step_op);
}

/* A prep's return: checked against "expect" when given; an id is bound to
 * "as" (with the read buffer the op keeps) when it is one. */
static void op_result(const jnode *step, int64_t ret, void *buf)
{
	jnode *want = json_get(step, "expect");
	if (want)
		expect_res(want, ret, "prep result");
	else if (ret < 0)
		fail("prep failed: %lld (%s)", (long long)ret, rk_strerror((int)ret));
	jnode *as = json_get(step, "as");
	if (ret >= 0) /* bound even without a name: the buffer lives until the end */
		bind_name(as ? as->str : "", K_OP, ret, buf);
	else
		free(buf);
}

/* Checks one completion against the expectations of a reap step. */
struct pending {
	jnode *exp;
	int64_t id;
	void *buf;
	int64_t seq; /* position in the ring's order of completions; -1: not yet */
};

static int64_t seq_counter;

static void check_completion(struct pending *p, int np, const rk_cqe *c)
{
	struct pending *hit = NULL;
	for (int i = 0; i < np; i++)
		if (p[i].id == c->id)
			hit = &p[i];
	if (!hit)
		fail("unexpected completion: id %lld res %d", (long long)c->id, c->res);
	const char *name = json_get(hit->exp, "id")->str;
	if (hit->seq >= 0)
		fail("op '%s' completed twice", name);
	hit->seq = seq_counter++;
	char what[96];
	snprintf(what, sizeof what, "res of '%s'", name);
	expect_res(arg(hit->exp, "res"), c->res, what);
	jnode *chunk_as = json_get(hit->exp, "chunk_as");
	const char *data = NULL;
	if (chunk_as) {
		if (!(c->flags & RK_CQE_F_BUFFER))
			fail("op '%s': expected a provided buffer, flags 0x%x", name, c->flags);
		int32_t chunk = (int32_t)(c->flags >> RK_CQE_BUFFER_SHIFT);
		bind_name(chunk_as->str, K_INT, chunk, NULL);
		data = rk_chunk_ptr(lookup(arg(hit->exp, "region")->str, K_REGION)->p, chunk);
	} else {
		data = hit->buf;
	}
	jnode *want = json_get(hit->exp, "data");
	if (want && (c->res != (int32_t)strlen(want->str) || !data ||
	             memcmp(data, want->str, (size_t)c->res) != 0))
		fail("data of '%s': expected \"%s\", got %d bytes \"%.*s\"", name, want->str, c->res,
		     c->res > 0 && data ? c->res : 0, data ? data : "");
}

static void step_reap(const jnode *step)
{
	rk_ring *ring = ring_arg(step);
	jnode *exp = arg(step, "expect");
	struct pending p[32];
	int np = 0;
	for (jnode *e = exp->child; e; e = e->next, np++) {
		struct binding *b = lookup(arg(e, "id")->str, K_OP);
		p[np] = (struct pending){e, b->v, b->p, -1};
	}
	int64_t deadline = now_ms() + num_or(step, "timeout_ms", 5000);
	int seen = 0;
	rk_cqe cqes[64];
	while (np == 0 || seen < np) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			break;
		int n = rk_reap(ring, cqes, 64, 1, left * 1000000);
		if (n == -EINTR)
			continue;
		if (n < 0)
			fail("rk_reap: %s", rk_strerror(n));
		for (int i = 0; i < n; i++, seen++)
			check_completion(p, np, &cqes[i]);
	}
	for (int i = 0; i < np; i++) {
		if (p[i].seq < 0)
			fail("op '%s' did not complete in time", json_get(p[i].exp, "id")->str);
		jnode *after = json_get(p[i].exp, "after");
		for (int j = 0; after && j < np; j++)
			if (strcmp(json_get(p[j].exp, "id")->str, after->str) == 0 && p[j].seq > p[i].seq)
				fail("op '%s' completed before '%s'", json_get(p[i].exp, "id")->str,
				     after->str);
	}
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* The wait is interrupted by SIGALRM (a handler that returns, no
 * SA_RESTART): rk_reap must return -EINTR, not go on waiting. */
static void step_interrupt_reap(const jnode *step)
{
	rk_ring *ring = ring_arg(step);
	struct sigaction sa = {.sa_handler = on_alarm}, old;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	int64_t after = num_or(step, "after_ms", 50);
	struct itimerval it = {.it_value = {after / 1000, (after % 1000) * 1000}};
	int64_t t0 = now_ms();
	setitimer(ITIMER_REAL, &it, NULL);
	rk_cqe cqes[8];
	int n = rk_reap(ring, cqes, 8, 1, 5000000000LL);
	int64_t took = now_ms() - t0;
	sigaction(SIGALRM, &old, NULL);
	if (n != -EINTR)
		fail("reap: expected -EINTR, got %d", n);
	if (took < after / 2)
		fail("reap ended after %lld ms, before the signal", (long long)took);
	if (took >= num_or(step, "expect_ms_below", 2000))
		fail("reap took %lld ms", (long long)took);
}

/* Open descriptors of this process (the directory stream's own excluded). */
static int64_t fd_count(void)
{
	int n = open_fd_count();
	if (n < 0)
		fail("cannot list /proc/self/fd: %s", strerror(-n));
	return n;
}

static void run_step(const jnode *step)
{
	const char *op = step_op;
	if (strcmp(op, "ring") == 0) {
		rk_ring *r;
		int ret = rk_ring_create((uint32_t)num_or(step, "entries", 8), 0, &r);
		if (ret < 0)
			fail("rk_ring_create: %s", rk_strerror(ret));
		bind_name(arg(step, "as")->str, K_RING, 0, r);
	} else if (strcmp(op, "close_ring") == 0) {
		jnode *n = json_get(step, "ring");
		struct binding *b = lookup(n ? n->str : "r", K_RING);
		int64_t t0 = now_ms();
		int ret = rk_ring_close(b->p);
		int64_t took = now_ms() - t0;
		b->p = NULL;
		if (ret != 0)
			fail("rk_ring_close: %s", rk_strerror(ret));
		if (took >= num_or(step, "expect_ms_below", 1000))
			fail("close took %lld ms", (long long)took);
	} else if (strcmp(op, "socketpair") == 0) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			fail("socketpair: %s", strerror(errno));
		char name[40];
		snprintf(name, sizeof name, "%s.a", arg(step, "as")->str);
		bind_name(name, K_INT, sv[0], NULL);
		snprintf(name, sizeof name, "%s.b", arg(step, "as")->str);
		bind_name(name, K_INT, sv[1], NULL);
	} else if (strcmp(op, "sleep") == 0) {
		int64_t ms = arg(step, "ms")->num;
		nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000}, NULL);
	} else if (strcmp(op, "region") == 0) {
		rk_region *g;
		int ret = rk_region_create((uint32_t)arg(step, "chunk_size")->num,
		                           (uint32_t)arg(step, "nchunks")->num, 0, &g);
		if (ret < 0)
			fail("rk_region_create: %s", rk_strerror(ret));
		bind_name(arg(step, "as")->str, K_REGION, 0, g);
	} else if (strcmp(op, "chunk") == 0) {
		int32_t c = rk_chunk_alloc(region_of(step));
		if (c < 0)
			fail("rk_chunk_alloc: %s", rk_strerror(c));
		bind_name(arg(step, "as")->str, K_INT, c, NULL);
	} else if (strcmp(op, "destroy_region") == 0) {
		struct binding *b = lookup(arg(step, "region")->str, K_REGION);
		/* The bindings' explicit close: refused while in use (on its own,
		 * rk_region_destroy would leave the region a zombie). */
		int ret = rk_region_busy(b->p) ? -EBUSY : rk_region_destroy(b->p);
		expect_ret(step, ret);
		if (ret == 0)
			b->kind = K_INT; /* gone */
	} else if (strcmp(op, "provide") == 0) {
		expect_ret(step, rk_ring_provide_region(ring_arg(step), region_of(step),
		                                        (uint16_t)arg(step, "group")->num));
	} else if (strcmp(op, "register_region") == 0) {
		expect_ret(step, rk_ring_register_region(ring_arg(step), region_of(step)));
	} else if (strcmp(op, "unregister_region") == 0) {
		expect_ret(step, rk_ring_unregister_region(ring_arg(step), region_of(step)));
	} else if (strcmp(op, "unprovide") == 0) {
		expect_ret(step, rk_ring_unprovide_region(ring_arg(step), region_of(step)));
	} else if (strcmp(op, "recycle") == 0) {
		expect_ret(step, rk_ring_recycle_chunk(ring_arg(step), region_of(step),
		                                       (int32_t)int_arg(step, "chunk")));
	} else if (strcmp(op, "nop") == 0) {
		op_result(step, rk_prep_nop(ring_arg(step), flags_arg(step)), NULL);
	} else if (strcmp(op, "read") == 0) {
		uint32_t len = (uint32_t)arg(step, "len")->num;
		char *buf = calloc(1, len + 1);
		op_result(step, rk_prep_read(ring_arg(step), (int)int_arg(step, "fd"), buf, len, -1,
		                             flags_arg(step)), buf);
	} else if (strcmp(op, "write") == 0) {
		char *data = strdup(arg(step, "data")->str);
		op_result(step, rk_prep_write(ring_arg(step), (int)int_arg(step, "fd"), data,
		                              (uint32_t)strlen(data), -1, flags_arg(step)), data);
	} else if (strcmp(op, "read_chunk") == 0) {
		op_result(step, rk_prep_read_chunk(ring_arg(step), (int)int_arg(step, "fd"),
		                                   region_of(step),
		                                   (int32_t)int_arg(step, "chunk"),
		                                   (uint32_t)arg(step, "len")->num, -1,
		                                   flags_arg(step)), NULL);
	} else if (strcmp(op, "recv_select") == 0) {
		op_result(step, rk_prep_recv_select(ring_arg(step), (int)int_arg(step, "fd"),
		                                    (uint16_t)arg(step, "group")->num,
		                                    (uint32_t)arg(step, "len")->num, 0,
		                                    flags_arg(step)), NULL);
	} else if (strcmp(op, "timeout") == 0) {
		op_result(step, rk_prep_timeout(ring_arg(step), arg(step, "ns")->num,
		                                (uint32_t)num_or(step, "count", 0), 0,
		                                flags_arg(step)), NULL);
	} else if (strcmp(op, "link_timeout") == 0) {
		op_result(step, rk_prep_link_timeout(ring_arg(step), arg(step, "ns")->num, 0,
		                                     flags_arg(step)), NULL);
	} else if (strcmp(op, "cancel") == 0) {
		op_result(step, rk_prep_cancel(ring_arg(step), int_arg(step, "target"),
		                               flags_arg(step)), NULL);
	} else if (strcmp(op, "submit") == 0) {
		int ret = rk_submit(ring_arg(step));
		if (ret < 0)
			fail("rk_submit: %s", rk_strerror(ret));
	} else if (strcmp(op, "reap") == 0) {
		step_reap(step);
	} else if (strcmp(op, "inflight") == 0) {
		uint64_t st[RK_STAT_COUNT];
		rk_ring_stats(ring_arg(step), st, RK_STAT_COUNT);
		expect_res(arg(step, "expect"), (int64_t)st[RK_STAT_INFLIGHT], "live ops");
	} else if (strcmp(op, "fd_count") == 0) {
		if (json_get(step, "as"))
			bind_name(json_get(step, "as")->str, K_INT, fd_count(), NULL);
		else
			expect_res(&(jnode){.type = J_NUM, .num = int_arg(step, "expect")}, fd_count(),
			           "open descriptors");
	} else if (strcmp(op, "interrupt_reap") == 0) {
		step_interrupt_reap(step);
	} else if (strcmp(op, "mixed") == 0) {
		run_mixed(ring_arg(step), arg(step, "count")->num, arg(step, "seed")->num);
	} else {
		fail("unknown step");
	}
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	rewind(f);
	char *text = malloc((size_t)len + 1);
	if (!text || fread(text, 1, (size_t)len, f) != (size_t)len)
		abort();
	text[len] = 0;
	fclose(f);
	return text;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		scenario = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
		step_no = 0;
		step_op = "load";
		char *text = slurp(argv[i]);
		const char *err = "cannot read the file";
		jnode *doc = text ? json_parse(text, &err) : NULL;
		if (!doc)
			fail("%s", err);
		nnames = 0;
		for (jnode *s = arg(doc, "steps")->child; s; s = s->next) {
			step_no++;
			step_op = arg(s, "op")->str;
			run_step(s);
		}
		/* What the scenario left open goes now, rings first. */
		for (int k = 0; k < nnames; k++)
			if (names[k].kind == K_RING && names[k].p)
				rk_ring_close(names[k].p);
		for (int k = 0; k < nnames; k++) {
			if (names[k].kind == K_REGION)
				rk_region_destroy(names[k].p);
			if (names[k].kind == K_OP)
				free(names[k].p);
			if (names[k].kind == K_INT && strchr(names[k].name, '.'))
				close((int)names[k].v);
		}
		json_free(doc);
		free(text);
		printf("ok %s\n", scenario);
	}
	return 0;
}
