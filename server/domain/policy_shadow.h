/*
 * policy_shadow.h - a stage's shadow block (docs/judge.md "Shadow runs"):
 *
 *   - name: shadow
 *     size: 0.05
 *     validation_window: 30m
 *     shadow: true          # the stage's devices run the candidate beside
 *     shadow_fraction: 0.1  # their current model on this share of live
 *                           # requests, in (0, 1]; default 0.1
 *     metrics:
 *       - name: shadow_agreement
 *         threshold: ">= 98%"
 *
 * No device of a shadow stage serves the candidate, so its gates are the
 * shadow_* metrics alone, and those gate nothing else. Kept apart from
 * policy.c so the block parses, prints and compares on its own.
 */
#ifndef RAMP_POLICY_SHADOW_H
#define RAMP_POLICY_SHADOW_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>

#define POLICY_SHADOW_FRACTION_DEFAULT 0.1

/* The stage object's keys this block owns, for the unknown-field check. */
#define POLICY_SHADOW_KEYS "shadow", "shadow_fraction"

struct policy;

/*
 * Reads every stage's "shadow" and "shadow_fraction" from root (the policy
 * document) into p, whose stages (metrics inherited) are already parsed,
 * and checks the rules above: shadow_* metrics only on shadow stages and
 * only there, absolute thresholds, never on the last stage. 0, or
 * RAMP_EINVAL with err naming the field.
 */
int policy_shadow_parse(const json_t *root, struct policy *p, struct ramp_err *err);

/* Adds "shadow" and "shadow_fraction" to each stage object of j (the
 * canonical JSON) whose stage is a shadow stage. 0 or RAMP_ENOMEM. */
int policy_shadow_to_json(const struct policy *p, json_t *j);

bool policy_shadow_equal(const struct policy *a, const struct policy *b);

#endif
