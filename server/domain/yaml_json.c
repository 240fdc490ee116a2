/*
 * yaml_json.c - libyaml events to a jansson tree (see yaml_json.h).
 *
 * An explicit stack of open sequences and mappings, so hostile nesting
 * costs no C stack. An anchor is registered when its node is complete, so
 * an alias can never refer to an ancestor and the tree stays acyclic.
 */
#include "domain/yaml_json.h"

#include "domain/units.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct frame {
	json_t *node;	/* array or object being filled */
	char *anchor;	/* owned; registered when the node closes */
	char *key;	/* owned pending key of an object, or NULL */
	size_t keylen;
};

struct builder {
	struct frame stack[YAML_JSON_MAX_DEPTH];
	int depth;
	json_t *anchors; /* anchor name -> completed node */
	json_t *root;
	int docs;
	struct ramp_err *err;
};

static int fail_at(struct builder *b, int code, const yaml_mark_t *m,
		   const char *what)
{
	return ramp_err_set(b->err, code, "",
			    "could not parse yaml: %s at line %zu, column %zu",
			    what, m->line + 1, m->column + 1);
}

static bool all_digits(const char *s)
{
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Whether the text is a core-schema number (finite); if so *num is its
 * value, NULL when out of memory. */
static bool resolve_number(const char *v, json_t **num)
{
	const char *p = v + (*v == '-' || *v == '+');
	size_t n = units_scan_number(p);
	char *end;

	if (n == 0 || p[n] != '\0')
		return false;
	if (all_digits(p)) {
		long long i;

		errno = 0;
		i = strtoll(v, &end, 10);
		if (errno == 0 && *end == '\0') {
			*num = json_integer(i);
			return true;
		}
	}
	errno = 0;
	double d = strtod(v, &end);
	if (*end != '\0' || !isfinite(d))
		return false;
	*num = json_real(d);
	return true;
}

/* The scalar as a jansson value, NULL when out of memory. */
static json_t *resolve_scalar(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	json_t *num;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	    (tag && (strcmp(tag, "!") == 0 || strcmp(tag, YAML_STR_TAG) == 0)) ||
	    strlen(v) != len)
		return json_stringn(v, len);
	if (len == 0 || !strcmp(v, "~") || !strcmp(v, "null") ||
	    !strcmp(v, "Null") || !strcmp(v, "NULL"))
		return json_null();
	if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
		return json_true();
	if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
		return json_false();
	return resolve_number(v, &num) ? num : json_stringn(v, len);
}

static int register_anchor(struct builder *b, const char *anchor,
			   json_t *value)
{
	if (anchor == NULL)
		return 0;
	return json_object_set(b->anchors, anchor, value) ? RAMP_ENOMEM : 0;
}

/*
 * Hands value (a reference we own) to the open container, or makes it the
 * root. key is the scalar's text when value came from a scalar: an object
 * waiting for a key takes that text as the key.
 */
static int add_value(struct builder *b, json_t *value, const char *key,
		     size_t keylen, const yaml_mark_t *m)
{
	struct frame *f;
	int rc = 0;

	if (b->depth == 0) {
		b->root = value;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	if (json_is_array(f->node))
		return json_array_append_new(f->node, value) ? RAMP_ENOMEM : 0;
	if (f->key == NULL) {
		json_decref(value);
		if (key == NULL)
			return fail_at(b, RAMP_EMALFORMED, m,
				       "mapping keys must be scalars");
		f->key = malloc(keylen + 1);
		if (f->key == NULL)
			return RAMP_ENOMEM;
		memcpy(f->key, key, keylen + 1);
		f->keylen = keylen;
		return 0;
	}
	if (json_object_getn(f->node, f->key, f->keylen) != NULL) {
		json_decref(value);
		rc = fail_at(b, RAMP_EMALFORMED, m, "duplicate mapping key");
	} else if (json_object_setn_new(f->node, f->key, f->keylen, value)) {
		rc = RAMP_ENOMEM;
	}
	free(f->key);
	f->key = NULL;
	return rc;
}

static int open_container(struct builder *b, const yaml_event_t *ev,
			  json_t *node, const yaml_char_t *anchor)
{
	struct frame *f;

	if (node == NULL)
		return RAMP_ENOMEM;
	if (b->depth > 0 && json_is_object(b->stack[b->depth - 1].node) &&
	    b->stack[b->depth - 1].key == NULL) {
		json_decref(node);
		return fail_at(b, RAMP_EMALFORMED, &ev->start_mark,
			       "mapping keys must be scalars");
	}
	if (b->depth == YAML_JSON_MAX_DEPTH) {
		json_decref(node);
		return fail_at(b, RAMP_EMALFORMED, &ev->start_mark,
			       "nesting is too deep");
	}
	f = &b->stack[b->depth++];
	memset(f, 0, sizeof(*f));
	f->node = node;
	if (anchor != NULL && (f->anchor = strdup((const char *)anchor)) == NULL)
		return RAMP_ENOMEM;
	return 0;
}

static int close_container(struct builder *b, const yaml_event_t *ev)
{
	struct frame f = b->stack[--b->depth];
	int rc;

	free(f.key);
	rc = register_anchor(b, f.anchor, f.node);
	free(f.anchor);
	if (rc < 0) {
		json_decref(f.node);
		return rc;
	}
	return add_value(b, f.node, NULL, 0, &ev->start_mark);
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
	json_t *v = resolve_scalar(ev);
	int rc;

	if (v == NULL) /* libyaml has checked the utf-8 already */
		return RAMP_ENOMEM;
	rc = register_anchor(b, (const char *)ev->data.scalar.anchor, v);
	if (rc < 0) {
		json_decref(v);
		return rc;
	}
	return add_value(b, v, (const char *)ev->data.scalar.value,
			 ev->data.scalar.length, &ev->start_mark);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
	json_t *v = json_object_get(b->anchors,
				    (const char *)ev->data.alias.anchor);

	if (v == NULL)
		return fail_at(b, RAMP_EMALFORMED, &ev->start_mark,
			       "unknown alias");
	return add_value(b, json_incref(v), NULL, 0, &ev->start_mark);
}

static int on_event(struct builder *b, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++b->docs > 1)
			return fail_at(b, RAMP_EMALFORMED, &ev->start_mark,
				       "expected a single document");
		return 0;
	case YAML_SCALAR_EVENT:
		return on_scalar(b, ev);
	case YAML_ALIAS_EVENT:
		return on_alias(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return open_container(b, ev, json_array(),
				      ev->data.sequence_start.anchor);
	case YAML_MAPPING_START_EVENT:
		return open_container(b, ev, json_object(),
				      ev->data.mapping_start.anchor);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return close_container(b, ev);
	default:
		return 0;
	}
}

static void builder_free(struct builder *b)
{
	while (b->depth > 0) {
		struct frame *f = &b->stack[--b->depth];

		json_decref(f->node);
		free(f->anchor);
		free(f->key);
	}
	json_decref(b->anchors);
	json_decref(b->root);
}

static int run_parser(struct builder *b, yaml_parser_t *parser)
{
	yaml_event_t ev;
	int rc = 0;
	bool done = false;

	while (!done && rc == 0) {
		if (!yaml_parser_parse(parser, &ev)) {
			if (parser->error == YAML_MEMORY_ERROR)
				return RAMP_ENOMEM;
			return fail_at(b, RAMP_EMALFORMED,
				       &parser->problem_mark,
				       parser->problem ? parser->problem
						       : "syntax error");
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		rc = on_event(b, &ev);
		yaml_event_delete(&ev);
	}
	return rc;
}

int yaml_json_load(const char *data, size_t len, json_t **out,
		   struct ramp_err *err)
{
	struct builder b;
	yaml_parser_t parser;
	int rc;

	*out = NULL;
	memset(&b, 0, sizeof(b));
	b.err = err;
	b.anchors = json_object();
	if (b.anchors == NULL || !yaml_parser_initialize(&parser)) {
		json_decref(b.anchors);
		return ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	rc = run_parser(&b, &parser);
	if (rc == 0 && b.root == NULL)
		rc = ramp_err_set(err, RAMP_EMALFORMED, "",
				  "could not parse yaml: empty document");
	if (rc == RAMP_ENOMEM)
		ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	if (rc == 0) {
		*out = b.root;
		b.root = NULL;
	}
	yaml_parser_delete(&parser);
	builder_free(&b);
	return rc;
}
