#include "json.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *p;
	const char *err;
};

static void skip_ws(struct parser *ps)
{
	while (isspace((unsigned char)*ps->p))
		ps->p++;
}

static jnode *node(enum jtype type)
{
	jnode *n = calloc(1, sizeof *n);
	if (!n)
		abort(); /* a test tool: out of memory ends it */
	n->type = type;
	return n;
}

static char *parse_string(struct parser *ps)
{
	const char *start = ++ps->p; /* past the opening quote */
	char *out = malloc(strlen(start) + 1), *o = out;
	if (!out)
		abort();
	while (*ps->p && *ps->p != '"') {
		char c = *ps->p++;
		if (c == '\\') {
			c = *ps->p++;
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
			if (!c || !strchr("\"\\/\n\t", c)) {
				ps->err = "unsupported string escape";
				free(out);
				return NULL;
			}
		}
		*o++ = c;
	}
	if (*ps->p != '"') {
		ps->err = "unterminated string";
		free(out);
		return NULL;
	}
	ps->p++;
	*o = 0;
	return out;
}

static jnode *parse_value(struct parser *ps);

/* Elements of an array or members of an object up to `close`. */
static jnode *parse_list(struct parser *ps, enum jtype type, char close)
{
	jnode *n = node(type), **tail = &n->child;
	ps->p++;
	skip_ws(ps);
	if (*ps->p == close) {
		ps->p++;
		return n;
	}
	for (;;) {
		char *key = NULL;
		skip_ws(ps);
		if (type == J_OBJ) {
			if (*ps->p != '"' || !(key = parse_string(ps))) {
				ps->err = ps->err ? ps->err : "expected a member name";
				json_free(n);
				return NULL;
			}
			skip_ws(ps);
			if (*ps->p++ != ':') {
				ps->err = "expected ':'";
				free(key);
				json_free(n);
				return NULL;
			}
		}
		jnode *v = parse_value(ps);
		if (!v) {
			free(key);
			json_free(n);
			return NULL;
		}
		v->key = key;
		*tail = v;
		tail = &v->next;
		skip_ws(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p++ == close)
			return n;
		ps->err = type == J_OBJ ? "expected ',' or '}'" : "expected ',' or ']'";
		json_free(n);
		return NULL;
	}
}

static jnode *parse_value(struct parser *ps)
{
	skip_ws(ps);
	const char *p = ps->p;
	if (*p == '{')
		return parse_list(ps, J_OBJ, '}');
	if (*p == '[')
		return parse_list(ps, J_ARR, ']');
	if (*p == '"') {
		jnode *n = node(J_STR);
		n->str = parse_string(ps);
		if (!n->str) {
			free(n);
			return NULL;
		}
		return n;
	}
	if (*p == '-' || isdigit((unsigned char)*p)) {
		jnode *n = node(J_NUM);
		char *end;
		n->num = strtoll(p, &end, 10);
		if (*end == '.' || *end == 'e' || *end == 'E') {
			ps->err = "only integers are supported";
			free(n);
			return NULL;
		}
		ps->p = end;
		return n;
	}
	static const struct { const char *word; enum jtype type; int64_t v; } words[] = {
		{"true", J_BOOL, 1}, {"false", J_BOOL, 0}, {"null", J_NULL, 0},
	};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		size_t len = strlen(words[i].word);
		if (strncmp(p, words[i].word, len) == 0) {
			jnode *n = node(words[i].type);
			n->num = words[i].v;
			ps->p += len;
			return n;
		}
	}
	ps->err = "unexpected character";
	return NULL;
}

jnode *json_parse(const char *text, const char **err)
{
	struct parser ps = {text, NULL};
	jnode *n = parse_value(&ps);
	skip_ws(&ps);
	if (n && *ps.p) {
		ps.err = "trailing characters";
		json_free(n);
		n = NULL;
	}
	*err = ps.err;
	return n;
}

void json_free(jnode *n)
{
	while (n) {
		jnode *next = n->next;
		json_free(n->child);
		free(n->str);
		free(n->key);
		free(n);
		n = next;
	}
}

jnode *json_get(const jnode *obj, const char *key)
{
	if (!obj || obj->type != J_OBJ)
		return NULL;
	for (jnode *c = obj->child; c; c = c->next)
		if (strcmp(c->key, key) == 0)
			return c;
	return NULL;
}
