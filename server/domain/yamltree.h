/*
 * yamltree.h - document text (YAML, or JSON) as a jansson tree, for the
 * domain parsers (manifest now; policies can use it too).
 *
 * YAML plain scalars stay strings in the tree, so "version: 1.10" keeps its
 * text; yamltree_resolve() types them (null, bool, integer, real) where a
 * caller wants a typed value. Anchors, aliases, tags and multi-document
 * streams are refused: RAMP_EMALFORMED.
 */
#ifndef RAMP_YAMLTREE_H
#define RAMP_YAMLTREE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct yamltree {
	json_t *root;		/* owned */
	const json_t **plain;	/* YAML plain scalar nodes, sorted by address */
	size_t nplain, cap;
};

/*
 * Parses data (JSON when the first non-blank byte is '{', else YAML) into *t.
 * Returns 0 (free with yamltree_free), or RAMP_EMALFORMED / RAMP_ENOMEM with
 * *err filled and *t empty.
 */
int yamltree_parse(const char *data, size_t len, struct yamltree *t,
		   struct ramp_err *err);

/* True when v (a node of t) was written as a YAML plain (unquoted) scalar. */
bool yamltree_is_plain(const struct yamltree *t, const json_t *v);

/*
 * A new reference to v (a node of t), with every plain scalar inside typed
 * by the YAML 1.2 core schema (decimal numbers only); NULL when out of memory.
 */
json_t *yamltree_resolve(const struct yamltree *t, json_t *v);

/* Frees what *t holds and empties it; NULL is a no-op. */
void yamltree_free(struct yamltree *t);

#endif
