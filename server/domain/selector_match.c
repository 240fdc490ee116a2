/*
 * selector_match.c - label selectors at work: whether a device's labels
 * satisfy a parsed selector (selector_match, for the snapshot and the API),
 * and the selector's canonical text (selector_format, what is stored and
 * shown). Pure: takes a selector built by selector.c and values, no I/O.
 * A label value compares as a number only when all of it is one.
 */
#include "domain/selector_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- matching ---- */

static bool in_set(const struct selector_req *r, const char *v)
{
	for (size_t k = 0; k < r->nvalues; k++)
		if (strcmp(r->values[k], v) == 0)
			return true;
	return false;
}

/* A label value compares as a number only when strtod takes all of it. */
static bool compare_number(const struct selector_req *r, const char *v)
{
	char *end;
	double x;

	if (v == NULL || v[0] == '\0' || is_space(v[0]))
		return false;
	x = strtod(v, &end);
	if (*end != '\0' || isnan(x))
		return false;
	switch (r->op) {
	case SELECTOR_GT:
		return x > r->number;
	case SELECTOR_GE:
		return x >= r->number;
	case SELECTOR_LT:
		return x < r->number;
	case SELECTOR_LE:
		return x <= r->number;
	default:
		return false;
	}
}

static bool req_match(const struct selector_req *r, const char *v)
{
	switch (r->op) {
	case SELECTOR_EQ:
		return v != NULL && strcmp(v, r->values[0]) == 0;
	case SELECTOR_NE:
		return v == NULL || strcmp(v, r->values[0]) != 0;
	case SELECTOR_IN:
		return v != NULL && in_set(r, v);
	case SELECTOR_NOTIN:
		return v == NULL || !in_set(r, v);
	case SELECTOR_EXISTS:
		return v != NULL;
	case SELECTOR_NOTEXISTS:
		return v == NULL;
	default:
		return compare_number(r, v);
	}
}

bool selector_match(const struct selector *s, selector_lookup_fn lookup,
		    void *ctx)
{
	size_t n = selector_count(s);

	for (size_t i = 0; i < n; i++)
		if (!req_match(&s->req[i], lookup(ctx, s->req[i].key)))
			return false;
	return true;
}

/* ---- formatting ---- */

struct out {
	char *buf;
	size_t len;
	size_t pos;
};

static void put(struct out *o, const char *s)
{
	for (; *s != '\0'; s++, o->pos++)
		if (o->pos + 1 < o->len)
			o->buf[o->pos] = *s;
}

static const char *op_text(enum selector_op op)
{
	switch (op) {
	case SELECTOR_EQ:
		return "=";
	case SELECTOR_NE:
		return "!=";
	case SELECTOR_IN:
		return " in(";
	case SELECTOR_NOTIN:
		return " notin(";
	case SELECTOR_GT:
		return ">";
	case SELECTOR_LT:
		return "<";
	case SELECTOR_GE:
		return ">=";
	case SELECTOR_LE:
		return "<=";
	default:
		return "";
	}
}

static void format_req(const struct selector *s, size_t i, struct out *o)
{
	const struct selector_req *r = &s->req[i];

	if (r->op == SELECTOR_NOTEXISTS)
		put(o, "!");
	put(o, r->key);
	put(o, op_text(r->op));
	if (r->op == SELECTOR_EQ || r->op == SELECTOR_NE) {
		put(o, r->values[0]);
	} else if (r->op == SELECTOR_IN || r->op == SELECTOR_NOTIN) {
		for (size_t k = 0; k < r->nvalues; k++) {
			put(o, k > 0 ? "," : "");
			put(o, r->values[k]);
		}
		/* a lone empty value needs "(,)": "()" would not parse */
		put(o, r->nvalues == 1 && r->values[0][0] == '\0' ? ",)" : ")");
	} else if (s->num[i] != NULL) {
		put(o, s->num[i]);
	}
}

int selector_format(const struct selector *s, char *buf, size_t len)
{
	struct out o = {.buf = buf, .len = len};
	size_t n = selector_count(s);

	for (size_t i = 0; i < n; i++) {
		put(&o, i > 0 ? "," : "");
		format_req(s, i, &o);
	}
	if (len > 0)
		buf[o.pos < len ? o.pos : len - 1] = '\0';
	return (int)o.pos;
}
