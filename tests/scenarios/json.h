/*
 * The smallest JSON reader the C scenario runner needs: objects, arrays,
 * strings (escapes \" \\ \/ \n \t only; the scenarios need no others),
 * integers, true/false/null, as one tree of nodes.
 */
#ifndef SCEN_JSON_H
#define SCEN_JSON_H

#include <stdint.h>

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jnode {
	enum jtype type;
	int64_t num;          /* J_NUM, J_BOOL */
	char *str;            /* J_STR */
	char *key;            /* set when the node is an object member */
	struct jnode *child;  /* first element / member (J_ARR, J_OBJ) */
	struct jnode *next;   /* next sibling */
} jnode;

/* Parses text; NULL with *err set on a syntax error. */
jnode *json_parse(const char *text, const char **err);
/* Frees a tree json_parse returned. */
void json_free(jnode *n);
/* The member `key` of an object, or NULL. */
jnode *json_get(const jnode *obj, const char *key);

#endif
