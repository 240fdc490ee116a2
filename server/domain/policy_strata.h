/*
 * policy_strata.h - a stage's stratification block (docs/strata.md):
 *
 *   - name: canary
 *     size: 0.05
 *     stratify_by: [platform, site]   # 1..4 keys: platform or a label name
 *     min_per_stratum: 2              # 1..1000, default 1
 *
 * The stage's canary then holds at least min_per_stratum devices of every
 * combination of those keys' values present in its target set (all of a
 * smaller stratum), on top of its size. Kept apart from policy.c so the
 * block parses, prints and compares on its own; domain/strata.h chooses.
 */
#ifndef RAMP_POLICY_STRATA_H
#define RAMP_POLICY_STRATA_H

#include "common/err.h"
#include "domain/selector.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define STRATA_MAX_KEYS 4
#define STRATA_MAX_MIN 1000

struct policy_strata {
	size_t nkeys; /* 0: the stage is not stratified */
	int min_per_stratum; /* 0 when not stratified */
	char keys[STRATA_MAX_KEYS][SELECTOR_MAX_KEY + 1];
};

/* The stage object's keys this block owns, for the unknown-field check. */
#define POLICY_STRATA_KEYS "stratify_by", "min_per_stratum"

/* Reads the block of stage object js at path (e.g. "stages[0]"). 0, or
 * RAMP_EINVAL with err naming the field ("stages[0].stratify_by[1]"). */
int policy_strata_parse(const json_t *js, const char *path, struct policy_strata *out,
			struct ramp_err *err);

/* Adds the block's keys to the stage object (nothing when not stratified).
 * 0, or -1 when out of memory. */
int policy_strata_to_json(const struct policy_strata *s, json_t *stage);

bool policy_strata_equal(const struct policy_strata *a, const struct policy_strata *b);

#endif
