/*
 * yamltree.c - manifest (and policy) text as a jansson tree.
 *
 * JSON goes through jansson. YAML goes through libyaml's event parser with
 * anchors, aliases, tags other than the core str/seq/map ones and extra
 * documents refused, and nesting capped, so a small body stays a small tree.
 * YAML plain scalars enter the tree as strings and their nodes are kept in a
 * sorted set, so a validator can tell "1.10" (plain) from '1.10' (quoted) and
 * resolve only where it wants a typed value.
 */
#include "domain/yamltree.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define YAML_MAX_DEPTH 64
#define YAML_TAG_STR "tag:yaml.org,2002:str"
#define YAML_TAG_SEQ "tag:yaml.org,2002:seq"
#define YAML_TAG_MAP "tag:yaml.org,2002:map"

struct yframe {
	json_t *node; /* borrowed: owned by its parent, or the root */
	char *key;    /* pending mapping key; NULL when a key comes next */
};

struct yconv {
	yaml_parser_t parser;
	struct yframe frames[YAML_MAX_DEPTH];
	int depth;
	int ndocs;
	json_t *root;
	struct yamltree *tree;
	struct ramp_err *err;
};

/* ---- the set of plain scalars ---- */

static int plain_add(struct yamltree *t, const json_t *v)
{
	if (t->nplain == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		const json_t **nv = realloc(t->plain, cap * sizeof(*nv));

		if (nv == NULL)
			return RAMP_ENOMEM;
		t->plain = nv;
		t->cap = cap;
	}
	t->plain[t->nplain++] = v;
	return 0;
}

static int ptr_cmp(const void *a, const void *b)
{
	const json_t *const *pa = a, *const *pb = b;
	uintptr_t x = (uintptr_t)*pa, y = (uintptr_t)*pb;

	return x < y ? -1 : x > y;
}

bool yamltree_is_plain(const struct yamltree *t, const json_t *v)
{
	return t->nplain &&
	       bsearch(&v, t->plain, t->nplain, sizeof(*t->plain), ptr_cmp);
}

/* ---- YAML text to a jansson tree ---- */

static int yconv_fail(struct yconv *c, const yaml_event_t *ev, const char *what)
{
	return ramp_err_set(c->err, RAMP_EMALFORMED, "", "yaml: %s at line %lu",
			    what, (unsigned long)ev->start_mark.line + 1);
}

/* Anchors would allow aliases (billion laughs); tags change typing. */
static int yconv_check_node(struct yconv *c, const yaml_event_t *ev,
			    const yaml_char_t *anchor, const yaml_char_t *tag,
			    const char *own_tag)
{
	if (anchor != NULL)
		return yconv_fail(c, ev, "anchors and aliases are not supported");
	if (tag != NULL && strcmp((const char *)tag, "!") != 0 &&
	    strcmp((const char *)tag, own_tag) != 0)
		return yconv_fail(c, ev, "tags are not supported");
	return 0;
}

static bool yconv_want_key(const struct yconv *c)
{
	const struct yframe *f = c->depth ? &c->frames[c->depth - 1] : NULL;

	return f && json_is_object(f->node) && f->key == NULL;
}

/* Attaches v (stolen) to the open container, or makes it the root. */
static int yconv_attach(struct yconv *c, json_t *v)
{
	struct yframe *f;
	int rc;

	if (c->depth == 0) {
		c->root = v;
		return 0;
	}
	f = &c->frames[c->depth - 1];
	if (json_is_array(f->node)) {
		rc = json_array_append_new(f->node, v);
	} else {
		rc = json_object_set_new(f->node, f->key, v);
		free(f->key);
		f->key = NULL;
	}
	return rc ? RAMP_ENOMEM : 0;
}

static int yconv_key(struct yconv *c, const yaml_event_t *ev)
{
	struct yframe *f = &c->frames[c->depth - 1];
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;

	if (memchr(s, '\0', n) != NULL)
		return yconv_fail(c, ev, "mapping key contains a nul byte");
	if (json_object_get(f->node, s) != NULL)
		return ramp_err_set(c->err, RAMP_EMALFORMED, "",
				    "yaml: duplicate key \"%s\" at line %lu", s,
				    (unsigned long)ev->start_mark.line + 1);
	f->key = strdup(s);
	return f->key ? 0 : RAMP_ENOMEM;
}

static int yconv_scalar(struct yconv *c, const yaml_event_t *ev)
{
	const yaml_char_t *tag = ev->data.scalar.tag;
	json_t *v;
	int rc;

	rc = yconv_check_node(c, ev, ev->data.scalar.anchor, tag, YAML_TAG_STR);
	if (rc)
		return rc;
	if (yconv_want_key(c))
		return yconv_key(c, ev);
	v = json_stringn((const char *)ev->data.scalar.value,
			 ev->data.scalar.length);
	if (v == NULL) /* libyaml has checked the utf-8 already */
		return RAMP_ENOMEM;
	if (tag == NULL && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    plain_add(c->tree, v) != 0) {
		json_decref(v);
		return RAMP_ENOMEM;
	}
	return yconv_attach(c, v);
}

static int yconv_open(struct yconv *c, const yaml_event_t *ev, bool map)
{
	const yaml_char_t *anchor = map ? ev->data.mapping_start.anchor
					: ev->data.sequence_start.anchor;
	const yaml_char_t *tag = map ? ev->data.mapping_start.tag
				     : ev->data.sequence_start.tag;
	json_t *v;
	int rc;

	rc = yconv_check_node(c, ev, anchor, tag,
			      map ? YAML_TAG_MAP : YAML_TAG_SEQ);
	if (rc)
		return rc;
	if (yconv_want_key(c))
		return yconv_fail(c, ev, "mapping keys must be scalars");
	if (c->depth == YAML_MAX_DEPTH)
		return yconv_fail(c, ev, "nesting is too deep");
	v = map ? json_object() : json_array();
	if (v == NULL)
		return RAMP_ENOMEM;
	json_incref(v); /* the frame's borrow survives a failed attach */
	rc = yconv_attach(c, v);
	if (rc == 0)
		c->frames[c->depth++] = (struct yframe){v, NULL};
	json_decref(v);
	return rc;
}

static int yconv_event(struct yconv *c, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (c->ndocs++ > 0)
			return yconv_fail(c, ev, "more than one document");
		return 0;
	case YAML_ALIAS_EVENT:
		return yconv_fail(c, ev, "anchors and aliases are not supported");
	case YAML_SCALAR_EVENT:
		return yconv_scalar(c, ev);
	case YAML_SEQUENCE_START_EVENT:
		return yconv_open(c, ev, false);
	case YAML_MAPPING_START_EVENT:
		return yconv_open(c, ev, true);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		c->depth--;
		free(c->frames[c->depth].key);
		c->frames[c->depth].key = NULL;
		return 0;
	default:
		return 0;
	}
}

static int yaml_text_parse(const char *data, size_t len, struct yamltree *t,
			   struct ramp_err *err)
{
	struct yconv c = {.tree = t, .err = err};
	yaml_event_t ev;
	bool done = false;
	int rc = 0;

	if (!yaml_parser_initialize(&c.parser))
		return RAMP_ENOMEM;
	yaml_parser_set_input_string(&c.parser, (const unsigned char *)data,
				     len);
	while (rc == 0 && !done) {
		if (!yaml_parser_parse(&c.parser, &ev)) {
			if (c.parser.error == YAML_MEMORY_ERROR) {
				rc = RAMP_ENOMEM;
				break;
			}
			rc = ramp_err_set(err, RAMP_EMALFORMED, "",
					  "yaml: %s at line %lu column %lu",
					  c.parser.problem ? c.parser.problem
							   : "syntax error",
					  (unsigned long)c.parser.problem_mark.line + 1,
					  (unsigned long)c.parser.problem_mark.column + 1);
			break;
		}
		rc = yconv_event(&c, &ev);
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	while (c.depth > 0)
		free(c.frames[--c.depth].key);
	yaml_parser_delete(&c.parser);
	if (rc == 0 && c.root == NULL)
		rc = ramp_err_set(err, RAMP_EMALFORMED, "", "document is empty");
	if (rc == 0)
		t->root = c.root;
	else
		json_decref(c.root);
	return rc;
}

static int json_text_parse(const char *data, size_t len, json_t **out,
			   struct ramp_err *err)
{
	json_error_t je;

	*out = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	/* jansson leaves the text empty when it cannot allocate its lexer */
	if (*out == NULL && (json_error_code(&je) == json_error_out_of_memory ||
			     je.text[0] == '\0'))
		return ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	if (*out == NULL)
		return ramp_err_set(err, RAMP_EMALFORMED, "",
				    "json: %s at line %d column %d", je.text,
				    je.line, je.column);
	return 0;
}

/* ---- resolving YAML plain scalars (YAML 1.2 core schema, decimal only) ---- */

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return n > 0;
}

static bool looks_like_float(const char *s)
{
	size_t i = (*s == '-' || *s == '+'), lead, frac = 0;

	lead = strspn(s + i, "0123456789");
	i += lead;
	if (s[i] == '.') {
		frac = strspn(s + i + 1, "0123456789");
		i += 1 + frac;
	}
	if (lead + frac == 0)
		return false;
	if (s[i] == 'e' || s[i] == 'E') {
		size_t nd;

		i++;
		i += (s[i] == '-' || s[i] == '+');
		nd = strspn(s + i, "0123456789");
		if (nd == 0)
			return false;
		i += nd;
	}
	return s[i] == '\0';
}

static json_t *resolve_scalar(const char *s)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	size_t sign = (*s == '-' || *s == '+');
	char *end;

	for (size_t i = 0; i < sizeof(nulls) / sizeof(*nulls); i++)
		if (strcmp(s, nulls[i]) == 0)
			return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	errno = 0;
	if (all_digits(s + sign, strlen(s + sign))) {
		long long v = strtoll(s, &end, 10);

		if (errno == 0 && *end == '\0')
			return json_integer(v);
	} else if (looks_like_float(s)) {
		double d = strtod(s, &end);

		if (errno == 0 && *end == '\0' && isfinite(d))
			return json_real(d);
	}
	return json_string(s);
}

json_t *yamltree_resolve(const struct yamltree *t, json_t *v)
{
	const char *key;
	json_t *out, *item;
	size_t i;

	if (t->nplain == 0 || !(json_is_object(v) || json_is_array(v)))
		return yamltree_is_plain(t, v)
			       ? resolve_scalar(json_string_value(v))
			       : json_incref(v);
	out = json_is_object(v) ? json_object() : json_array();
	if (json_is_object(v)) {
		json_object_foreach(v, key, item)
			if (out && json_object_set_new(out, key, yamltree_resolve(t, item))) {
				json_decref(out);
				out = NULL;
			}
	} else {
		json_array_foreach(v, i, item)
			if (out && json_array_append_new(out, yamltree_resolve(t, item))) {
				json_decref(out);
				out = NULL;
			}
	}
	return out;
}

static bool looks_like_json(const char *data, size_t len)
{
	size_t i = 0;

	while (i < len && strchr(" \t\r\n", data[i]) != NULL && data[i] != '\0')
		i++;
	return i < len && data[i] == '{';
}

int yamltree_parse(const char *data, size_t len, struct yamltree *t,
		   struct ramp_err *err)
{
	int rc;

	memset(t, 0, sizeof(*t));
	if (data == NULL)
		len = 0;
	if (looks_like_json(data, len))
		return json_text_parse(data, len, &t->root, err);
	rc = yaml_text_parse(data ? data : "", len, t, err);
	if (rc) {
		yamltree_free(t);
		return rc == RAMP_ENOMEM
			       ? ramp_err_set(err, rc, "", "out of memory")
			       : rc;
	}
	if (t->nplain)
		qsort(t->plain, t->nplain, sizeof(*t->plain), ptr_cmp);
	return 0;
}

void yamltree_free(struct yamltree *t)
{
	if (t == NULL)
		return;
	json_decref(t->root);
	free(t->plain);
	memset(t, 0, sizeof(*t));
}
