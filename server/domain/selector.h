/*
 * selector.h - label selectors for devices and cohorts (API.md "Devices and
 * cohorts").
 *
 * Kubernetes label-selector syntax (k=v, k==v, k!=v, k in (a,b),
 * k notin (a,b), k, !k; comma means AND) plus numeric k>N, k<N, k>=N, k<=N.
 * Pure: the API layer parses `?selector=` and cohort selectors here, and the
 * store matches device labels through a lookup callback. A parsed selector
 * owns copies of all its strings and is immutable.
 */
#ifndef RAMP_SELECTOR_H
#define RAMP_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define SELECTOR_MAX_TEXT 4096  /* bytes of selector text */
#define SELECTOR_MAX_REQS 64    /* requirements per selector */
#define SELECTOR_MAX_VALUES 64  /* values per in/notin set */
#define SELECTOR_MAX_KEY 253    /* bytes of a label key, prefix included */
#define SELECTOR_MAX_NAME 63    /* bytes of a key's name part */
#define SELECTOR_MAX_VALUE 63   /* bytes of a label value */

enum selector_op {
	SELECTOR_EQ,
	SELECTOR_NE,
	SELECTOR_IN,
	SELECTOR_NOTIN,
	SELECTOR_EXISTS,
	SELECTOR_NOTEXISTS,
	SELECTOR_GT,
	SELECTOR_LT,
	SELECTOR_GE,
	SELECTOR_LE
};

struct selector_req {
	const char *key;
	enum selector_op op;
	const char *const *values; /* EQ/NE: 1 value; IN/NOTIN: nvalues; else 0 */
	size_t nvalues;
	double number;             /* GT/LT/GE/LE */
};

struct selector; /* opaque, owns all its strings */

/*
 * Parses NUL-terminated text; on success *out is a new selector the caller
 * frees with selector_free. On failure returns RAMP_EINVAL (bad syntax or a
 * limit exceeded) or RAMP_ENOMEM, fills *err with field "selector" and a
 * message naming the byte offset, and leaves *out NULL.
 */
int selector_parse(const char *text, struct selector **out,
		   struct ramp_err *err);

/* Frees s and every string it owns; selector_free(NULL) is a no-op. */
void selector_free(struct selector *s);

/* Number of requirements; 0 for the empty selector (or NULL). */
size_t selector_count(const struct selector *s);

/* Requirement i in text order, or NULL when i is out of range; owned by s. */
const struct selector_req *selector_get(const struct selector *s, size_t i);

/* Label lookup: returns the value of key, or NULL when the label is absent. */
typedef const char *(*selector_lookup_fn)(void *ctx, const char *key);

/*
 * True when every requirement holds for the labels seen through lookup.
 * Like Kubernetes, != and notin hold when the label is absent; numeric
 * comparisons need the label present and parsing entirely as a number.
 * A NULL or empty selector matches everything.
 */
bool selector_match(const struct selector *s, selector_lookup_fn lookup,
		    void *ctx);

/*
 * Writes the canonical text of s into buf (always NUL-terminated when
 * len > 0) and returns the length it needs without the NUL, like snprintf.
 * The text re-parses to an equivalent selector, is never longer than the
 * text s was parsed from, and formatting that re-parse gives the same text.
 */
int selector_format(const struct selector *s, char *buf, size_t len);

/* True when key is a valid label key: [dns-prefix/]name, as in selectors. */
bool selector_label_key_valid(const char *key);

/* True when value is a valid label value: [A-Za-z0-9._:-]{0,63}. */
bool selector_label_value_valid(const char *value);

#endif
